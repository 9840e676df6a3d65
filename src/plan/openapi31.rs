//! OpenAPI 3.1 from the Swagger 2.0 document (no PostgREST serves 3.1; this is our addition).
//!
//! The same content, moved where 3.1 wants it: `definitions` -> `components.schemas`, the
//! shared query/header parameters -> `components.parameters`, the `body.<table>` parameters
//! -> `components.requestBodies.<table>`, inline body parameters -> `requestBody`, response
//! schemas under `content` per media type, `host`/`basePath`/`schemes` -> `servers`, the JWT
//! apiKey scheme -> an HTTP bearer scheme.

use super::openapi::{MEDIA, RPC_MEDIA};
use serde_json::{json, Map, Value};

/// `#/definitions/x` -> `#/components/schemas/x`, everywhere in `v`.
fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/definitions/") {
                    *r = format!("#/components/schemas/{name}");
                }
            }
            m.values_mut().for_each(rewrite_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// A 2.0 non-body parameter -> a 3.1 parameter: the type keywords go into `schema`.
fn parameter(p: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    let mut schema = Map::new();
    for (k, v) in p {
        match k.as_str() {
            "name" | "in" | "required" | "description" => {
                out.insert(k.clone(), v.clone());
            }
            "collectionFormat" => {
                if v == "multi" {
                    out.insert("style".into(), json!("form"));
                    out.insert("explode".into(), json!(true));
                }
            }
            _ => {
                schema.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("schema".into(), Value::Object(schema));
    Value::Object(out)
}

fn content(schema: Option<&Value>, media: &[&str]) -> Value {
    let one = match schema {
        Some(s) => json!({ "schema": s }),
        None => json!({}),
    };
    Value::Object(media.iter().map(|m| (m.to_string(), one.clone())).collect())
}

/// The body parameters of 2.0 (`body.<table>`, keyed by the table's name).
fn request_bodies(params: &Map<String, Value>) -> Map<String, Value> {
    params
        .iter()
        .filter(|(_, p)| p["in"] == "body")
        .filter_map(|(k, p)| {
            let table = k.strip_prefix("body.")?;
            Some((
                table.to_string(),
                json!({
                    "content": content(Some(&p["schema"]), &MEDIA),
                    "description": p["description"],
                    "required": p["required"],
                }),
            ))
        })
        .collect()
}

fn operation(op: &Map<String, Value>) -> Value {
    let media: Vec<&str> = match op.get("produces").and_then(Value::as_array) {
        Some(list) => list.iter().filter_map(Value::as_str).collect(),
        None => MEDIA.to_vec(),
    };
    let mut out = Map::new();
    for (k, v) in op {
        match k.as_str() {
            "produces" => {}
            "parameters" => {
                let mut params = vec![];
                for p in v.as_array().into_iter().flatten() {
                    if let Some(r) = p["$ref"].as_str() {
                        let name = r.trim_start_matches("#/parameters/");
                        match name.strip_prefix("body.") {
                            Some(table) => {
                                out.insert(
                                    "requestBody".into(),
                                    json!({"$ref": format!("#/components/requestBodies/{table}")}),
                                );
                            }
                            None => params
                                .push(json!({"$ref": format!("#/components/parameters/{name}")})),
                        }
                    } else if p["in"] == "body" {
                        out.insert(
                            "requestBody".into(),
                            json!({"content": content(Some(&p["schema"]), &RPC_MEDIA[..1]),
                                   "required": p["required"]}),
                        );
                    } else if let Some(m) = p.as_object() {
                        params.push(parameter(m));
                    }
                }
                out.insert("parameters".into(), Value::Array(params));
            }
            "responses" => {
                let mut responses = Map::new();
                for (status, r) in v.as_object().into_iter().flatten() {
                    let mut resp = json!({"description": r["description"]});
                    if let Some(s) = r.get("schema") {
                        resp["content"] = content(Some(s), &media);
                    }
                    responses.insert(status.clone(), resp);
                }
                out.insert("responses".into(), Value::Object(responses));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The 3.1 document for a Swagger 2.0 one built by [`super::openapi::swagger`].
pub fn convert(swagger: &Value) -> Value {
    let mut doc = swagger.clone();
    rewrite_refs(&mut doc);
    let empty = Map::new();
    let params = doc["parameters"].as_object().unwrap_or(&empty);
    let shared: Map<String, Value> = params
        .iter()
        .filter(|(_, p)| p["in"] != "body")
        .filter_map(|(k, p)| Some((k.clone(), parameter(p.as_object()?))))
        .collect();
    let paths: Map<String, Value> = doc["paths"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .map(|(path, item)| {
            let ops: Map<String, Value> = item
                .as_object()
                .unwrap_or(&empty)
                .iter()
                .map(|(m, op)| (m.clone(), operation(op.as_object().unwrap_or(&empty))))
                .collect();
            (path.clone(), Value::Object(ops))
        })
        .collect();
    let scheme = doc["schemes"][0].as_str().unwrap_or("http");
    let host = doc["host"].as_str().unwrap_or("");
    let base = doc["basePath"].as_str().unwrap_or("/");
    let mut components = json!({
        "schemas": doc["definitions"],
        "parameters": shared,
        "requestBodies": request_bodies(params),
    });
    let mut out = json!({
        "openapi": "3.1.0",
        "info": doc["info"],
        "servers": [{"url": format!("{scheme}://{host}{base}")}],
        "externalDocs": doc["externalDocs"],
        "paths": paths,
    });
    if let Some(sec) = doc.get("security") {
        components["securitySchemes"] = json!({"JWT": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": doc["securityDefinitions"]["JWT"]["description"],
        }});
        out["security"] = sec.clone();
    }
    out["components"] = components;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_request::{ApiRequest, Method, Resource};
    use crate::settings::Settings;

    fn doc() -> Value {
        let req = ApiRequest {
            method: Method::Get,
            resource: Resource::Root,
            schema: "public".into(),
            ..ApiRequest::default()
        };
        let sc = crate::plan::mutate::tests::cache();
        convert(&super::super::openapi::swagger(
            &req,
            &sc,
            &Settings::default(),
        ))
    }

    #[test]
    fn moves_everything_where_3_1_wants_it() {
        let d = doc();
        assert_eq!(d["openapi"], "3.1.0");
        assert!(d.get("swagger").is_none() && d.get("definitions").is_none());
        assert_eq!(d["servers"][0]["url"], "http://127.0.0.1:3000/");
        assert_eq!(
            d["components"]["schemas"]["books"]["properties"]["id"]["type"],
            "integer"
        );
        let get = &d["paths"]["/books"]["get"];
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"],
            "#/components/schemas/books"
        );
        assert_eq!(
            get["parameters"][0]["$ref"],
            "#/components/parameters/rowFilter.books.id"
        );
        let post = &d["paths"]["/books"]["post"];
        assert_eq!(
            post["requestBody"]["$ref"],
            "#/components/requestBodies/books"
        );
        assert_eq!(
            d["components"]["requestBodies"]["books"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/books"
        );
        let select = &d["components"]["parameters"]["select"];
        assert_eq!(select["in"], "query");
        assert_eq!(select["schema"]["type"], "string");
        assert!(d["components"]["parameters"].get("body.books").is_none());
        let rpc = &d["paths"]["/rpc/add_them"];
        assert!(
            rpc["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
                .is_object()
        );
        assert_eq!(rpc["get"]["parameters"][0]["in"], "query");
        assert!(rpc["get"]["parameters"][0]["schema"]["type"].is_string());
        assert!(rpc["get"].get("produces").is_none());
    }
}
