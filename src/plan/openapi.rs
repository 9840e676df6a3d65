//! `GET /`: an OpenAPI 2.0 (Swagger) description of the exposed schema, shaped like
//! PostgREST's: paths per table/view and function, definitions per relation, shared parameters.
//!
//! The document is built here from the schema cache and passed as one bind parameter; the
//! statement drops what the current role may not use (PostgREST's `follow-privileges` mode).

use super::result_row::ResultRow;
use super::sql::{qualified, Params};
use super::Statement;
use crate::api_request::ApiRequest;
use crate::error::ApiError;
use crate::schema_cache::model::{Column, Function, Table};
use crate::schema_cache::SchemaCache;
use serde_json::{json, Map, Value};

const MEDIA: [&str; 4] = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
    "text/csv",
];

/// PostgREST's mapping of Postgres types to Swagger types (json/jsonb: no type).
fn swagger_type(data_type: &str) -> Option<&'static str> {
    match data_type {
        "character varying" | "character" | "text" => Some("string"),
        "boolean" => Some("boolean"),
        "smallint" | "integer" | "bigint" => Some("integer"),
        "numeric" | "real" | "double precision" => Some("number"),
        "json" | "jsonb" => None,
        t if t.ends_with("[]") => Some("array"),
        _ => Some("string"),
    }
}

fn property(c: &Column, table: &Table, schema: &SchemaCache) -> Value {
    let mut p = Map::new();
    let mut notes = vec![];
    if table.pk.contains(&c.name) {
        notes.push("This is a Primary Key.<pk/>".to_string());
    }
    for fk in &schema.foreign_keys {
        // foreign keys seen through views repeat the tables' ones
        let to_view = schema
            .table(&fk.ref_schema, &fk.ref_table)
            .is_some_and(|t| t.is_view());
        if fk.schema != table.schema || fk.table != table.name || to_view {
            continue;
        }
        if let ([col], [ref_col]) = (fk.columns.as_slice(), fk.ref_columns.as_slice()) {
            if *col == c.name {
                notes.push(format!(
                    "This is a Foreign Key to `{}.{ref_col}`.<fk table='{}' column='{ref_col}'/>",
                    fk.ref_table, fk.ref_table
                ));
            }
        }
    }
    if !notes.is_empty() {
        p.insert(
            "description".into(),
            json!(format!("Note:\n{}", notes.join("\n"))),
        );
    }
    if let Some(d) = &c.default {
        p.insert("default".into(), json!(d));
    }
    p.insert("format".into(), json!(c.data_type));
    if let Some(t) = swagger_type(&c.data_type) {
        p.insert("type".into(), json!(t));
        if t == "array" {
            let elem = c.data_type.trim_end_matches("[]");
            p.insert(
                "items".into(),
                json!({ "type": swagger_type(elem).unwrap_or("string") }),
            );
        }
    }
    Value::Object(p)
}

fn definition(t: &Table, schema: &SchemaCache) -> Value {
    let props: Map<String, Value> = t
        .columns
        .iter()
        .map(|c| (c.name.clone(), property(c, t, schema)))
        .collect();
    let required: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| !c.nullable && c.default.is_none() && !c.generated)
        .map(|c| c.name.as_str())
        .collect();
    let mut d = Map::new();
    if !required.is_empty() {
        d.insert("required".into(), json!(required));
    }
    d.insert("properties".into(), Value::Object(props));
    d.insert("type".into(), json!("object"));
    Value::Object(d)
}

fn refp(name: &str) -> Value {
    json!({ "$ref": format!("#/parameters/{name}") })
}

fn table_path(t: &Table) -> Value {
    let mut filters: Vec<Value> = t
        .columns
        .iter()
        .map(|c| refp(&format!("rowFilter.{}.{}", t.name, c.name)))
        .collect();
    let mut get_params = filters.clone();
    get_params.extend(
        [
            "select",
            "order",
            "range",
            "rangeUnit",
            "offset",
            "limit",
            "preferCount",
        ]
        .iter()
        .map(|p| refp(p)),
    );
    let ok = json!({
        "200": {"description": "OK", "schema": {"items": {"$ref": format!("#/definitions/{}", t.name)}, "type": "array"}},
        "206": {"description": "Partial Content"}
    });
    let mut path = Map::new();
    path.insert(
        "get".into(),
        json!({"parameters": get_params, "responses": ok, "tags": [t.name]}),
    );
    let body = refp(&format!("body.{}", t.name));
    if t.insertable {
        path.insert(
            "post".into(),
            json!({
                "parameters": [body, refp("select"), refp("preferPost")],
                "responses": {"201": {"description": "Created"}},
                "tags": [t.name]
            }),
        );
    }
    if t.deletable {
        let mut p = filters.clone();
        p.push(refp("preferReturn"));
        path.insert(
            "delete".into(),
            json!({
                "parameters": p,
                "responses": {"204": {"description": "No Content"}},
                "tags": [t.name]
            }),
        );
    }
    if t.updatable {
        filters.push(body);
        filters.push(refp("preferReturn"));
        path.insert(
            "patch".into(),
            json!({
                "parameters": filters,
                "responses": {"204": {"description": "No Content"}},
                "tags": [t.name]
            }),
        );
    }
    Value::Object(path)
}

fn function_path(f: &Function) -> Value {
    let props: Map<String, Value> = f
        .args
        .iter()
        .filter(|a| !a.name.is_empty())
        .map(|a| {
            let mut p = Map::new();
            p.insert("format".into(), json!(a.data_type));
            if let Some(t) = swagger_type(&a.data_type) {
                p.insert("type".into(), json!(t));
            }
            (a.name.clone(), Value::Object(p))
        })
        .collect();
    let required: Vec<&str> = f
        .args
        .iter()
        .filter(|a| !a.has_default && !a.name.is_empty())
        .map(|a| a.name.as_str())
        .collect();
    let query_args: Vec<Value> = f
        .args
        .iter()
        .filter(|a| !a.name.is_empty())
        .map(|a| {
            json!({"format": a.data_type, "in": "query", "name": a.name,
                   "required": !a.has_default, "type": swagger_type(&a.data_type).unwrap_or("string")})
        })
        .collect();
    let ok = json!({"200": {"description": "OK"}});
    let mut path = Map::new();
    if f.volatility != "v" {
        path.insert(
            "get".into(),
            json!({"parameters": query_args, "responses": ok, "tags": ["(rpc) ".to_string() + &f.name]}),
        );
    }
    path.insert("post".into(), json!({
        "parameters": [
            {"in": "body", "name": "args", "required": true,
             "schema": {"properties": props, "required": required, "type": "object"}},
            refp("preferParams")
        ],
        "produces": ["application/json", "application/vnd.pgrst.object+json;nulls=stripped", "application/vnd.pgrst.object+json"],
        "responses": ok,
        "tags": ["(rpc) ".to_string() + &f.name]
    }));
    Value::Object(path)
}

fn common_parameters(tables: &[&Table]) -> Map<String, Value> {
    let mut p = Map::new();
    let q = |name: &str, desc: &str| json!({"name": name, "description": desc, "required": false, "in": "query", "type": "string"});
    let h = |name: &str, desc: &str| json!({"name": name, "description": desc, "required": false, "in": "header", "type": "string"});
    p.insert("preferParams".into(), json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["params=single-object"], "in": "header", "type": "string"}));
    p.insert("preferReturn".into(), json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["return=representation", "return=minimal", "return=none"], "in": "header", "type": "string"}));
    p.insert("preferCount".into(), json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["count=none"], "in": "header", "type": "string"}));
    p.insert("preferPost".into(), json!({"name": "Prefer", "description": "Preference", "required": false, "enum": ["return=representation", "return=minimal", "return=none", "resolution=ignore-duplicates", "resolution=merge-duplicates"], "in": "header", "type": "string"}));
    p.insert("select".into(), q("select", "Filtering Columns"));
    p.insert("on_conflict".into(), q("on_conflict", "On Conflict"));
    p.insert("order".into(), q("order", "Ordering"));
    p.insert("range".into(), h("Range", "Limiting and Pagination"));
    p.insert("rangeUnit".into(), json!({"name": "Range-Unit", "description": "Limiting and Pagination", "required": false, "default": "items", "in": "header", "type": "string"}));
    p.insert("offset".into(), q("offset", "Limiting and Pagination"));
    p.insert("limit".into(), q("limit", "Limiting and Pagination"));
    for t in tables {
        p.insert(
            format!("body.{}", t.name),
            json!({
                "name": t.name, "description": t.name, "required": false, "in": "body",
                "schema": {"$ref": format!("#/definitions/{}", t.name)}
            }),
        );
        for c in &t.columns {
            p.insert(format!("rowFilter.{}.{}", t.name, c.name), json!({
                "name": c.name, "required": false, "format": c.data_type, "in": "query", "type": "string"
            }));
        }
    }
    p
}

/// The statement for `GET /` (HEAD too): body = the document, minus what the role cannot use.
pub fn plan_root(req: &ApiRequest, schema: &SchemaCache) -> Result<Statement, ApiError> {
    let tables: Vec<&Table> = schema
        .tables
        .iter()
        .filter(|t| t.schema == req.schema)
        .collect();
    let functions: Vec<&Function> = schema
        .functions
        .iter()
        .filter(|f| f.schema == req.schema)
        .collect();
    let mut paths = Map::new();
    paths.insert(
        "/".into(),
        json!({"get": {
            "produces": ["application/openapi+json", "application/json"],
            "responses": {"200": {"description": "OK"}},
            "summary": "OpenAPI description (this document)",
            "tags": ["Introspection"]
        }}),
    );
    let mut definitions = Map::new();
    // what the statement checks: (path key, definition key, relation or function oid)
    let mut items: Vec<Value> = vec![];
    for t in &tables {
        let path = format!("/{}", t.name);
        paths.insert(path.clone(), table_path(t));
        definitions.insert(t.name.clone(), definition(t, schema));
        items.push(json!({"path": path, "def": t.name, "rel": qualified(&t.schema, &t.name)}));
    }
    for f in &functions {
        let path = format!("/rpc/{}", f.name);
        paths.insert(path.clone(), function_path(f));
        items.push(json!({"path": path, "oid": f.oid.to_string()}));
    }
    let doc = json!({
        "swagger": "2.0",
        "info": {
            "description": "",
            "title": "standard public schema",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "basePath": "/",
        "schemes": ["http"],
        "consumes": MEDIA,
        "produces": MEDIA,
        "paths": paths,
        "definitions": definitions,
        "parameters": common_parameters(&tables),
        "externalDocs": {
            "description": "PostgREST Documentation",
            "url": "https://postgrest.org/en/latest/references/api.html"
        }
    });
    let mut p = Params::new();
    let doc_p = p.cast(&doc.to_string(), "jsonb");
    let items_p = p.cast(&Value::Array(items).to_string(), "jsonb");
    // the document minus the paths and definitions the request's role may not use
    let body = format!(
        "pg_catalog.jsonb_set(pg_catalog.jsonb_set({doc_p}, '{{paths}}', \
           ({doc_p}->'paths') - coalesce((SELECT pg_catalog.array_agg(path) FROM _pgrst_denied), '{{}}')), \
           '{{definitions}}', \
           ({doc_p}->'definitions') - coalesce((SELECT pg_catalog.array_agg(def) FROM _pgrst_denied WHERE def IS NOT NULL), '{{}}'))::text"
    );
    let sql = format!(
        "WITH _pgrst_denied AS (\
           SELECT e->>'path' AS path, e->>'def' AS def \
           FROM pg_catalog.jsonb_array_elements({items_p}) AS e \
           WHERE CASE WHEN e ? 'rel' \
             THEN NOT pg_catalog.has_table_privilege(e->>'rel', 'SELECT,INSERT,UPDATE,DELETE') \
             ELSE NOT pg_catalog.has_function_privilege((e->>'oid')::oid, 'EXECUTE') END) \
         {}",
        ResultRow {
            page_total: "1::bigint",
            body: Some(&body),
            ..ResultRow::default()
        }
        .select()
    );
    Ok(Statement {
        sql,
        params: p.values,
        read_only: true,
        estimate: None,
        resolution_ignored: false,
        explain: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_request::{Method, Resource};

    #[test]
    fn describes_tables_views_and_functions() {
        let sc = crate::plan::mutate::tests::cache();
        let req = ApiRequest {
            method: Method::Get,
            resource: Resource::Root,
            schema: "public".into(),
            ..ApiRequest::default()
        };
        let st = plan_root(&req, &sc).unwrap();
        assert!(st.read_only);
        let doc: Value = serde_json::from_str(st.params[0].as_deref().unwrap()).unwrap();
        assert_eq!(doc["swagger"], "2.0");
        let books = &doc["definitions"]["books"];
        assert_eq!(books["properties"]["id"]["type"], "integer");
        assert_eq!(books["properties"]["tags"]["type"], "array");
        assert!(books["properties"]["metadata"].get("type").is_none());
        assert!(books["required"]
            .as_array()
            .unwrap()
            .contains(&json!("title")));
        assert!(doc["paths"]["/books"]["post"].is_object());
        // a view that is not updatable only reads
        assert!(doc["paths"]["/project_task_counts"]["post"].is_null());
        assert!(doc["paths"]["/rpc/add_them"]["get"].is_object());
        assert!(doc["paths"]["/rpc/bump_hits"]["get"].is_null());
        assert!(doc["paths"].get("/releases").is_none(), "v2 only");
        let note = books["properties"]["author_id"]["description"]
            .as_str()
            .unwrap();
        assert!(note.contains("Foreign Key to `authors.id`"));
        let note = doc["definitions"]["reviews"]["properties"]["book_id"]["description"]
            .as_str()
            .unwrap();
        assert!(!note.contains("book_catalog"));
        let items: Value = serde_json::from_str(st.params[1].as_deref().unwrap()).unwrap();
        assert!(items
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["rel"] == "\"public\".\"books\""));
    }
}
