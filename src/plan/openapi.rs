//! `GET /`: the OpenAPI description of the exposed schema. The Swagger 2.0 document is shaped
//! like PostgREST's (`Response/OpenAPI.hs`): paths per table/view and function, definitions per
//! relation, the shared `rowFilter`/`select`/`order`/`range`/`prefer*` parameters, SQL comments
//! as summaries and descriptions. [`super::openapi31`] turns it into OpenAPI 3.1 (our addition).
//!
//! The document is built here from the schema cache and passed as one bind parameter; the
//! statement drops what the request's role may not use (`openapi_mode = follow-privileges`,
//! PostgREST's privilege tests) and puts the schema's comment into `info`.

use super::result_row::ResultRow;
use super::sql::{qualified, Params};
use super::Statement;
use crate::api_request::media_types::OpenApiVersion;
use crate::api_request::ApiRequest;
use crate::error::ApiError;
use crate::schema_cache::model::{Column, Function, FunctionArg, Table};
use crate::schema_cache::SchemaCache;
use crate::settings::{OpenApiMode, Settings};
use serde_json::{json, Map, Value};

/// What the document's top level and operations say they consume and produce.
pub(super) const MEDIA: [&str; 4] = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
    "text/csv",
];
pub(super) const RPC_MEDIA: [&str; 3] = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
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

fn swagger_format(data_type: &str) -> &str {
    match data_type {
        "smallint" | "integer" => "int32",
        "bigint" => "int64",
        t => t,
    }
}

fn element_type(data_type: &str) -> &str {
    data_type.strip_suffix("[]").unwrap_or(data_type)
}

/// `{"type": ...}` of an array's elements (`{}` for json[]).
fn items(data_type: &str) -> Value {
    match swagger_type(element_type(data_type)) {
        Some(t) => json!({ "type": t }),
        None => json!({}),
    }
}

/// A column default as a JSON value, as PostgREST reads it: string types lose their cast and
/// quotes (`'x'::text` -> "x"), other defaults count only when they are JSON (`42`, `false`).
fn parse_default(data_type: &str, default: &str) -> Option<Value> {
    let text = if swagger_type(data_type) == Some("string") {
        let d = default
            .strip_suffix(&format!("::{data_type}"))
            .map(|d| d.trim_matches('\''))
            .unwrap_or(default);
        format!("\"{d}\"")
    } else {
        default.to_string()
    };
    serde_json::from_str(&text).ok()
}

/// `(summary, description)` of a comment: its first line, and the rest without leading newlines
/// (omitted when empty).
fn summary_description(comment: Option<&str>) -> (Option<String>, Option<String>) {
    match comment {
        None => (None, None),
        Some(c) => match c.split_once('\n') {
            None => (Some(c.to_string()), None),
            Some((first, rest)) => {
                let rest = rest.trim_start_matches('\n');
                (
                    Some(first.to_string()),
                    (!rest.is_empty()).then(|| rest.to_string()),
                )
            }
        },
    }
}

/// The single-column foreign key of `c`, tables before views (PostgREST's note).
fn foreign_key_note(c: &Column, table: &Table, schema: &SchemaCache) -> Option<String> {
    let mut candidates: Vec<(bool, &str, &str)> = schema
        .foreign_keys
        .iter()
        .filter(|fk| fk.schema == table.schema && fk.table == table.name)
        .filter(|fk| fk.columns.len() == 1 && fk.columns[0] == c.name)
        .map(|fk| {
            let to_view = schema
                .table(&fk.ref_schema, &fk.ref_table)
                .is_some_and(|t| t.is_view());
            (to_view, fk.ref_table.as_str(), fk.ref_columns[0].as_str())
        })
        .collect();
    candidates.sort_by_key(|(to_view, ..)| *to_view);
    let (_, t, col) = candidates.first()?;
    Some(format!(
        "This is a Foreign Key to `{t}.{col}`.<fk table='{t}' column='{col}'/>"
    ))
}

fn property(c: &Column, table: &Table, schema: &SchemaCache) -> Value {
    let mut p = Map::new();
    if let Some(d) = c
        .default
        .as_deref()
        .and_then(|d| parse_default(&c.data_type, d))
    {
        p.insert("default".into(), d);
    }
    let mut notes = vec!["Note:".to_string()];
    if table.pk.contains(&c.name) {
        notes.push("This is a Primary Key.<pk/>".to_string());
    }
    notes.extend(foreign_key_note(c, table, schema));
    let description = if notes.len() > 1 {
        let comment = c
            .description
            .as_deref()
            .map(|d| format!("{d}\n\n"))
            .unwrap_or_default();
        Some(comment + &notes.join("\n"))
    } else {
        c.description.clone()
    };
    if let Some(d) = description {
        p.insert("description".into(), json!(d));
    }
    if let Some(e) = c.r#enum.as_ref().filter(|e| !e.is_empty()) {
        p.insert("enum".into(), json!(e));
    }
    p.insert("format".into(), json!(swagger_format(&c.data_type)));
    if let Some(n) = c.max_length {
        p.insert("maxLength".into(), json!(n));
    }
    if let Some(t) = swagger_type(&c.data_type) {
        p.insert("type".into(), json!(t));
        if t == "array" {
            p.insert("items".into(), items(&c.data_type));
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
        .filter(|c| !c.nullable)
        .map(|c| c.name.as_str())
        .collect();
    let mut d = Map::new();
    if let Some(desc) = &t.description {
        d.insert("description".into(), json!(desc));
    }
    d.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        d.insert("required".into(), json!(required));
    }
    d.insert("type".into(), json!("object"));
    Value::Object(d)
}

fn refp(name: &str) -> Value {
    json!({ "$ref": format!("#/parameters/{name}") })
}

/// tags, summary and description of an operation.
fn operation(tag: &str, comment: Option<&str>) -> Map<String, Value> {
    let mut op = Map::new();
    let (summary, description) = summary_description(comment);
    if let Some(d) = description {
        op.insert("description".into(), json!(d));
    }
    if let Some(s) = summary {
        op.insert("summary".into(), json!(s));
    }
    op.insert("tags".into(), json!([tag]));
    op
}

fn with(mut op: Map<String, Value>, parameters: Vec<Value>, responses: Value) -> Value {
    op.insert("parameters".into(), Value::Array(parameters));
    op.insert("responses".into(), responses);
    Value::Object(op)
}

fn table_path(t: &Table) -> Value {
    let filters: Vec<Value> = t
        .columns
        .iter()
        .map(|c| refp(&format!("rowFilter.{}.{}", t.name, c.name)))
        .collect();
    let op = || operation(&t.name, t.description.as_deref());
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
        .map(refp),
    );
    let mut path = Map::new();
    path.insert(
        "get".into(),
        with(
            op(),
            get_params,
            json!({
                "200": {"description": "OK", "schema": {"items": {"$ref": format!("#/definitions/{}", t.name)}, "type": "array"}},
                "206": {"description": "Partial Content"}
            }),
        ),
    );
    // as PostgREST: a relation that takes any write is described with all of them
    if t.insertable || t.updatable || t.deletable {
        let body = refp(&format!("body.{}", t.name));
        let no_content = json!({"204": {"description": "No Content"}});
        path.insert(
            "post".into(),
            with(
                op(),
                vec![body.clone(), refp("select"), refp("preferPost")],
                json!({"201": {"description": "Created"}}),
            ),
        );
        let mut delete_params = filters.clone();
        delete_params.push(refp("preferReturn"));
        path.insert(
            "delete".into(),
            with(op(), delete_params, no_content.clone()),
        );
        let mut patch_params = filters;
        patch_params.push(body);
        patch_params.push(refp("preferReturn"));
        path.insert("patch".into(), with(op(), patch_params, no_content));
    }
    Value::Object(path)
}

fn proc_property(a: &FunctionArg) -> Value {
    let mut p = Map::new();
    p.insert("format".into(), json!(swagger_format(&a.data_type)));
    if let Some(t) = swagger_type(&a.data_type) {
        p.insert("type".into(), json!(t));
        if t == "array" {
            p.insert("items".into(), items(&a.data_type));
        }
    }
    Value::Object(p)
}

fn proc_get_param(a: &FunctionArg) -> Value {
    if a.variadic {
        let elem = element_type(&a.data_type);
        let mut item = Map::new();
        item.insert("format".into(), json!(swagger_format(elem)));
        if let Some(t) = swagger_type(elem) {
            item.insert("type".into(), json!(t));
        }
        return json!({
            "collectionFormat": "multi", "in": "query", "items": item, "name": a.name,
            "required": !a.has_default,
            "type": swagger_type(&a.data_type).unwrap_or("string")
        });
    }
    // arrays go in a query string as `{a,b}`, json as text: both are strings there
    let ty = match swagger_type(&a.data_type) {
        Some("array") | None => "string",
        Some(t) => t,
    };
    json!({"format": swagger_format(&a.data_type), "in": "query", "name": a.name,
           "required": !a.has_default, "type": ty})
}

fn function_path(f: &Function) -> Value {
    let args: Vec<&FunctionArg> = f.args.iter().filter(|a| !a.name.is_empty()).collect();
    let props: Map<String, Value> = args
        .iter()
        .map(|a| (a.name.clone(), proc_property(a)))
        .collect();
    let required: Vec<&str> = args
        .iter()
        .filter(|a| !a.has_default)
        .map(|a| a.name.as_str())
        .collect();
    let mut schema = Map::new();
    if let Some(d) = &f.description {
        schema.insert("description".into(), json!(d));
    }
    schema.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema.insert("type".into(), json!("object"));
    let op = || {
        let mut op = operation(&format!("(rpc) {}", f.name), f.description.as_deref());
        op.insert("produces".into(), json!(RPC_MEDIA));
        op
    };
    let ok = json!({"200": {"description": "OK"}});
    let mut path = Map::new();
    if f.volatility != "v" {
        path.insert(
            "get".into(),
            with(
                op(),
                args.iter().map(|a| proc_get_param(a)).collect(),
                ok.clone(),
            ),
        );
    }
    path.insert(
        "post".into(),
        with(
            op(),
            vec![
                json!({"in": "body", "name": "args", "required": true, "schema": schema}),
                refp("preferParams"),
            ],
            ok,
        ),
    );
    Value::Object(path)
}

fn prefer(values: &[&str]) -> Value {
    let mut p = json!({"description": "Preference", "in": "header", "name": "Prefer",
                       "required": false, "type": "string"});
    if !values.is_empty() {
        p["enum"] = json!(values);
    }
    p
}

fn common_parameters(tables: &[&Table]) -> Map<String, Value> {
    let mut p = Map::new();
    let q = |name: &str, desc: &str| json!({"description": desc, "in": "query", "name": name, "required": false, "type": "string"});
    p.insert("preferParams".into(), prefer(&[]));
    p.insert(
        "preferReturn".into(),
        prefer(&["return=representation", "return=minimal", "return=none"]),
    );
    p.insert("preferCount".into(), prefer(&["count=none"]));
    p.insert(
        "preferPost".into(),
        prefer(&[
            "return=representation",
            "return=minimal",
            "return=none",
            "resolution=ignore-duplicates",
            "resolution=merge-duplicates",
        ]),
    );
    p.insert("select".into(), q("select", "Filtering Columns"));
    p.insert("on_conflict".into(), q("on_conflict", "On Conflict"));
    p.insert("order".into(), q("order", "Ordering"));
    p.insert("range".into(), json!({"description": "Limiting and Pagination", "in": "header", "name": "Range", "required": false, "type": "string"}));
    p.insert("rangeUnit".into(), json!({"default": "items", "description": "Limiting and Pagination", "in": "header", "name": "Range-Unit", "required": false, "type": "string"}));
    p.insert("offset".into(), q("offset", "Limiting and Pagination"));
    p.insert("limit".into(), q("limit", "Limiting and Pagination"));
    for t in tables {
        p.insert(
            format!("body.{}", t.name),
            json!({
                "description": t.name, "in": "body", "name": t.name, "required": false,
                "schema": {"$ref": format!("#/definitions/{}", t.name)}
            }),
        );
        for c in &t.columns {
            let mut f = json!({"in": "query", "name": c.name, "required": false, "type": "string"});
            if let Some(d) = &c.description {
                f["description"] = json!(d);
            }
            p.insert(format!("rowFilter.{}.{}", t.name, c.name), f);
        }
    }
    p
}

/// `(scheme, host:port, base path)` the document names: `openapi_server_proxy_uri` when it
/// is a usable http(s) URL, else the server's own address.
fn server(settings: &Settings) -> (String, String, String) {
    if let Some(uri) = settings.openapi_server_proxy_uri.as_deref() {
        if let Some((scheme, rest)) = uri.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let default_port = match scheme.as_str() {
                "http" => Some(80),
                "https" => Some(443),
                _ => None,
            };
            let has_port = authority
                .rsplit_once(':')
                .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if let (Some(port), false) = (default_port, authority.is_empty()) {
                let host = if has_port {
                    authority.to_string()
                } else {
                    format!("{authority}:{port}")
                };
                return (scheme, host, path.to_string());
            }
        }
    }
    let host = if settings.server_host.contains(':') {
        format!("[{}]", settings.server_host)
    } else {
        settings.server_host.clone()
    };
    (
        "http".into(),
        format!("{host}:{}", settings.server_port),
        "/".into(),
    )
}

/// PostgREST lists only functions a client can call: not trigger functions, and unnamed
/// arguments only as the single json/jsonb/text/xml/bytea body.
fn callable(f: &Function) -> bool {
    let unnamed: Vec<&FunctionArg> = f.args.iter().filter(|a| a.name.is_empty()).collect();
    f.return_type != "trigger"
        && match unnamed.as_slice() {
            [] => true,
            [a] => ["json", "jsonb", "text", "xml", "bytea"].contains(&a.data_type.as_str()),
            _ => false,
        }
}

/// The Swagger 2.0 document of the request's schema (before the privilege filter).
pub fn swagger(req: &ApiRequest, schema: &SchemaCache, settings: &Settings) -> Value {
    let tables: Vec<&Table> = schema
        .tables
        .iter()
        .filter(|t| t.schema == req.schema)
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
    for t in &tables {
        paths.insert(format!("/{}", t.name), table_path(t));
        definitions.insert(t.name.clone(), definition(t, schema));
    }
    for f in functions(req, schema) {
        paths.insert(format!("/rpc/{}", f.name), function_path(f));
    }
    let (scheme, host, base_path) = server(settings);
    let mut doc = json!({
        "swagger": "2.0",
        "info": {
            "description": DEFAULT_DESCRIPTION,
            "title": DEFAULT_TITLE,
            "version": env!("CARGO_PKG_VERSION"),
        },
        "host": host,
        "basePath": base_path,
        "schemes": [scheme],
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
    if settings.openapi_security_active {
        doc["securityDefinitions"] = json!({"JWT": {
            "description": "Add the token prepending \"Bearer \" (without quotes) to it",
            "in": "header", "name": "Authorization", "type": "apiKey"
        }});
        doc["security"] = json!([{"JWT": []}]);
    }
    doc
}

const DEFAULT_TITLE: &str = "serendb_data_api";
const DEFAULT_DESCRIPTION: &str =
    "This is a dynamic API generated by serendb_data_api (PostgREST-compatible)";

/// The schema's callable functions; of overloads sharing a name, the last one describes the
/// path (as PostgREST's map of paths keeps the last).
fn functions<'a>(req: &ApiRequest, schema: &'a SchemaCache) -> Vec<&'a Function> {
    schema
        .functions
        .iter()
        .filter(|f| f.schema == req.schema && callable(f))
        .collect()
}

/// What a role that may not use an object loses: `(container, key)` pairs of the document.
fn removals(version: OpenApiVersion, t: &Table) -> Vec<(&'static str, String)> {
    let (schemas, parameters) = match version {
        OpenApiVersion::Swagger2 => ("definitions", "parameters"),
        OpenApiVersion::V31 => ("components.schemas", "components.parameters"),
    };
    let mut out = vec![("paths", format!("/{}", t.name)), (schemas, t.name.clone())];
    match version {
        OpenApiVersion::Swagger2 => out.push(("parameters", format!("body.{}", t.name))),
        OpenApiVersion::V31 => out.push(("components.requestBodies", t.name.clone())),
    }
    out.extend(
        t.columns
            .iter()
            .map(|c| (parameters, format!("rowFilter.{}.{}", t.name, c.name))),
    );
    out
}

/// The containers [`removals`] names, in the order the statement prunes them.
fn containers(version: OpenApiVersion) -> &'static [&'static str] {
    match version {
        OpenApiVersion::Swagger2 => &["paths", "definitions", "parameters"],
        OpenApiVersion::V31 => &[
            "paths",
            "components.schemas",
            "components.parameters",
            "components.requestBodies",
        ],
    }
}

/// The statement for `GET /` (HEAD too): body = the document, minus what the role cannot use.
pub fn plan_root(
    req: &ApiRequest,
    schema: &SchemaCache,
    settings: &Settings,
) -> Result<Statement, ApiError> {
    let version = req.openapi_version.unwrap_or(settings.openapi_version);
    let swagger = swagger(req, schema, settings);
    let doc = match version {
        OpenApiVersion::Swagger2 => swagger,
        OpenApiVersion::V31 => super::openapi31::convert(&swagger),
    };
    // what the statement checks: the relation or function, and what goes when it is denied
    let mut items: Vec<Value> = vec![];
    if settings.openapi_mode == OpenApiMode::FollowPrivileges {
        for t in schema.tables.iter().filter(|t| t.schema == req.schema) {
            let del: Vec<Value> = removals(version, t)
                .into_iter()
                .map(|(c, k)| json!([c, k]))
                .collect();
            items.push(json!({"rel": qualified(&t.schema, &t.name), "del": del}));
        }
        let mut last: Map<String, Value> = Map::new();
        for f in functions(req, schema) {
            last.insert(format!("/rpc/{}", f.name), json!(f.oid.to_string()));
        }
        for (path, oid) in last {
            items.push(json!({"oid": oid, "del": [["paths", path]]}));
        }
    }
    let mut p = Params::new();
    let doc_p = p.cast(&doc.to_string(), "jsonb");
    let items_p = p.cast(&Value::Array(items).to_string(), "jsonb");
    let schema_p = p.push(&req.schema);
    let mut ctes = vec![
        // PostgREST's follow-privileges tests (`accessibleTables`, `accessibleFuncs`)
        format!(
            "_pgrst_denied AS (\
               SELECT d->>0 AS container, d->>1 AS key \
               FROM pg_catalog.jsonb_array_elements({items_p}) AS e, \
                 pg_catalog.jsonb_array_elements(e->'del') AS d \
               WHERE NOT coalesce(CASE WHEN e ? 'rel' THEN (\
                   SELECT pg_catalog.pg_has_role(c.relowner, 'USAGE') \
                     OR pg_catalog.has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') \
                     OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES') \
                   FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass(e->>'rel')) \
                 ELSE pg_catalog.has_function_privilege((e->>'oid')::oid, 'EXECUTE') END, false))"
        ),
        format!("_pgrst_doc0 AS (SELECT {doc_p} AS d)"),
    ];
    let mut last = 0;
    for (i, c) in containers(version).iter().enumerate() {
        let path = format!("{{{}}}", c.replace('.', ","));
        ctes.push(format!(
            "_pgrst_doc{n} AS (SELECT CASE WHEN d #> '{path}' IS NULL THEN d ELSE \
               pg_catalog.jsonb_set(d, '{path}', (d #> '{path}') - coalesce(\
                 (SELECT pg_catalog.array_agg(key) FROM _pgrst_denied WHERE container = '{c}'), '{{}}')) END AS d \
             FROM _pgrst_doc{i})",
            n = i + 1
        ));
        last = i + 1;
    }
    // the schema's comment: its first line is the title, the rest the description
    ctes.push(format!(
        "_pgrst_comment AS (SELECT pg_catalog.obj_description(n.oid, 'pg_namespace') AS c \
           FROM pg_catalog.pg_namespace n WHERE n.nspname = {schema_p}), \
         _pgrst_final AS (SELECT CASE WHEN m.c IS NULL THEN d ELSE \
             pg_catalog.jsonb_set(pg_catalog.jsonb_set(d, '{{info,title}}', \
               pg_catalog.to_jsonb(pg_catalog.split_part(m.c, E'\\n', 1))), '{{info,description}}', \
               pg_catalog.to_jsonb(CASE WHEN pg_catalog.strpos(m.c, E'\\n') = 0 THEN '' \
                 ELSE pg_catalog.ltrim(pg_catalog.substr(m.c, pg_catalog.strpos(m.c, E'\\n') + 1), E'\\n') END)) \
           END AS d \
           FROM _pgrst_doc{last} LEFT JOIN _pgrst_comment m ON true)"
    ));
    let sql = format!(
        "WITH {} {} FROM _pgrst_final",
        ctes.join(", "),
        ResultRow {
            page_total: "1::bigint",
            body: Some("_pgrst_final.d::text"),
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

    fn req() -> ApiRequest {
        ApiRequest {
            method: Method::Get,
            resource: Resource::Root,
            schema: "public".into(),
            ..ApiRequest::default()
        }
    }

    #[test]
    fn describes_tables_views_and_functions() {
        let sc = crate::plan::mutate::tests::cache();
        let st = plan_root(&req(), &sc, &Settings::default()).unwrap();
        assert!(st.read_only);
        let doc: Value = serde_json::from_str(st.params[0].as_deref().unwrap()).unwrap();
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["host"], "127.0.0.1:3000");
        let books = &doc["definitions"]["books"];
        assert_eq!(books["properties"]["id"]["type"], "integer");
        assert_eq!(books["properties"]["id"]["format"], "int32");
        assert_eq!(books["properties"]["tags"]["type"], "array");
        assert_eq!(
            books["properties"]["tags"]["items"],
            json!({"type": "string"})
        );
        assert!(books["properties"]["metadata"].get("type").is_none());
        assert!(books["required"]
            .as_array()
            .unwrap()
            .contains(&json!("title")));
        assert!(doc["paths"]["/books"]["post"].is_object());
        // a view that takes no writes only reads
        assert!(doc["paths"]["/project_task_counts"]["post"].is_null());
        assert!(doc["paths"]["/rpc/add_them"]["get"].is_object());
        assert!(doc["paths"]["/rpc/bump_hits"]["get"].is_null());
        assert!(doc["paths"].get("/releases").is_none(), "v2 only");
        let note = books["properties"]["author_id"]["description"]
            .as_str()
            .unwrap();
        assert_eq!(
            note,
            "Note:\nThis is a Foreign Key to `authors.id`.<fk table='authors' column='id'/>"
        );
        assert_eq!(
            books["properties"]["id"]["description"],
            "Note:\nThis is a Primary Key.<pk/>"
        );
        assert!(doc["parameters"]["preferParams"].get("enum").is_none());
        assert!(doc["parameters"]["rowFilter.books.id"]
            .get("format")
            .is_none());
        assert!(doc.get("security").is_none());
        let items: Value = serde_json::from_str(st.params[1].as_deref().unwrap()).unwrap();
        let books_item = items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["rel"] == "\"public\".\"books\"")
            .unwrap();
        assert!(books_item["del"]
            .as_array()
            .unwrap()
            .contains(&json!(["parameters", "rowFilter.books.id"])));
    }

    #[test]
    fn comments_become_summaries_and_descriptions() {
        let mut sc = crate::plan::mutate::tests::cache();
        let books = sc.tables.iter_mut().find(|t| t.name == "books").unwrap();
        books.description = Some("Books\n\nAll of them\nreally".into());
        books.columns[0].description = Some("the id".into());
        let doc = swagger(&req(), &sc, &Settings::default());
        let get = &doc["paths"]["/books"]["get"];
        assert_eq!(get["summary"], "Books");
        assert_eq!(get["description"], "All of them\nreally");
        assert_eq!(
            doc["definitions"]["books"]["description"],
            "Books\n\nAll of them\nreally"
        );
        assert_eq!(
            doc["definitions"]["books"]["properties"]["id"]["description"],
            "the id\n\nNote:\nThis is a Primary Key.<pk/>"
        );
        assert_eq!(
            doc["parameters"]["rowFilter.books.id"]["description"],
            "the id"
        );
    }

    #[test]
    fn defaults_as_postgrest_reads_them() {
        assert_eq!(
            parse_default("text", "'default'::text"),
            Some(json!("default"))
        );
        assert_eq!(parse_default("boolean", "false"), Some(json!(false)));
        assert_eq!(parse_default("integer", "42"), Some(json!(42)));
        assert_eq!(
            parse_default("date", "'1900-01-01'::date"),
            Some(json!("1900-01-01"))
        );
        assert_eq!(parse_default("bigint", "nextval('s'::regclass)"), None);
    }

    #[test]
    fn proxy_uri_and_security() {
        let settings = Settings {
            openapi_server_proxy_uri: Some("https://postgrest.com/openapi.json".into()),
            openapi_security_active: true,
            ..Settings::default()
        };
        let doc = swagger(&req(), &crate::plan::mutate::tests::cache(), &settings);
        assert_eq!(doc["host"], "postgrest.com:443");
        assert_eq!(doc["basePath"], "/openapi.json");
        assert_eq!(doc["schemes"], json!(["https"]));
        assert_eq!(doc["security"], json!([{"JWT": []}]));
        assert_eq!(doc["securityDefinitions"]["JWT"]["type"], "apiKey");
    }

    #[test]
    fn ignore_privileges_checks_nothing() {
        let settings = Settings {
            openapi_mode: OpenApiMode::IgnorePrivileges,
            ..Settings::default()
        };
        let st = plan_root(&req(), &crate::plan::mutate::tests::cache(), &settings).unwrap();
        assert_eq!(st.params[1].as_deref(), Some("[]"));
    }
}
