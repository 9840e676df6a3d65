//! `/rpc/fn` (GET, HEAD, POST) -> one statement calling the function.
//!
//! The function is picked among the overloads named `fn` in the request's schema by the names
//! of the arguments given (PostgREST's rules), then called with named notation
//! (`"s"."fn"("a" := ...)`). Its rows go into a `pgrst_source` CTE; the response body is built
//! from them: a bare JSON value for scalars, an object for a single composite, an array with
//! every read feature (filters, order, paging, select, embeds) for sets.

// ApiError is large by design (PostgREST's error body); boxing it everywhere buys nothing here.
#![allow(clippy::result_large_err)]

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::mutate::body_from_sql;
use super::read::{json_body, ReadBody, RootOptions};
use super::result_row::ResultRow;
use super::sql::{array_literal, ident, qualified, Params};
use super::Statement;
use crate::api_request::{ApiRequest, BodyType, MediaType, Method, Payload, Resource};
use crate::error::ApiError;
use crate::parse::ast::QueryParams;
use crate::schema_cache::model::{Column, Function, FunctionArg, Table};
use crate::schema_cache::SchemaCache;
use crate::settings::Settings;

pub fn plan_rpc(
    req: &ApiRequest,
    schema: &SchemaCache,
    settings: &Settings,
) -> Result<Statement, ApiError> {
    let name = match &req.resource {
        Resource::Rpc(name) => name,
        _ => return Err(ApiError::internal("plan_rpc called without a function")),
    };
    let is_read = match req.method {
        // OPTIONS finds the function as GET does (PostgREST's RoutineInfoPlan)
        Method::Get | Method::Head | Method::Options => true,
        Method::Post => false,
        other => return Err(ApiError::invalid_rpc_method(other.as_str())),
    };
    let overloads: Vec<&Function> = schema.functions_named(&req.schema, name).collect();
    let (args, query) = request_args(req, is_read, &overloads)?;
    let kind = if is_read {
        BodyKind::Other
    } else {
        body_kind(req)
    };
    let keys = arg_names(&args);
    let func = find_function(schema, &req.schema, name, &overloads, &keys, kind, !is_read)?;
    if req.method == Method::Options {
        return Ok(super::allow_statement(if func.volatility == "v" {
            "OPTIONS,POST"
        } else {
            "OPTIONS,GET,HEAD,POST"
        }));
    }
    // PostgREST refuses before the call: a single value has no rows for max-affected to limit
    if req.prefer.strict && req.prefer.max_affected.is_some() && !func.returns_set {
        return Err(ApiError::max_affected_rpc_violation());
    }

    let mut p = Params::new();
    let call = call_sql(&mut p, func, &args, &keys)?;
    let counted = req.prefer.count.is_some();
    let sql = if func.returns_composite {
        let source = format!("SELECT pgrst_call.* FROM {}", call.from("pgrst_call"));
        let table = result_table(schema, func);
        // a single composite is an object, like a singular read
        let accept = match (func.returns_set, req.accept) {
            (false, MediaType::Json) => MediaType::SingleObject,
            (false, MediaType::ArrayStripped) => MediaType::SingleObjectStripped,
            (_, a) => a,
        };
        let read = ReadBody {
            root: RootOptions {
                filters: true,
                page: req.page(settings.max_rows),
            },
            aggregates_enabled: settings.aggregates_enabled,
            max_rows: settings.max_rows,
            ..ReadBody::new(schema, &table, "pgrst_source", &query, accept)
        };
        let body = read.body_sql(&mut p)?;
        let total = if counted {
            Some(format!("({})", read.count_sql(&mut p)?))
        } else {
            None
        };
        let row = ResultRow {
            total: total.as_deref(),
            page_total: "_b.page_total::bigint",
            body: Some("_b.body::text"),
            ..ResultRow::default()
        };
        format!(
            "WITH pgrst_source AS ({source}) {} FROM ({body}) _b",
            row.select()
        )
    } else {
        // a scalar has no row for ST_AsGeoJSON(record) to make a Feature of
        if req.accept == MediaType::GeoJson {
            return Err(ApiError::media_type_error(&[req.accept.mime()]));
        }
        let source = format!("SELECT pgrst_call.pgrst_scalar FROM {}", call.scalar_from());
        let rows = if func.returns_set {
            paged_scalars(&mut p, req.page(settings.max_rows))
        } else {
            "pgrst_source".to_string()
        };
        let body = if func.return_type == "void" {
            // NULL (no body), but the call must stay referenced: an unused column of an
            // inlined CTE is dropped, and a stable function would then never run
            "(CASE WHEN pg_catalog.count(_t.pgrst_scalar) < 0 THEN '' END)::text".to_string()
        } else if matches!(req.accept, MediaType::TextPlain | MediaType::OctetStream) {
            "string_agg(_t.pgrst_scalar::text, '')".to_string()
        } else {
            // a single value is the value itself, not an array of one
            json_body(
                "_t.pgrst_scalar",
                !func.returns_set || req.accept.is_singular(),
                req.accept.strips_nulls(),
            )
        };
        let row = ResultRow {
            total: counted.then_some("(SELECT pg_catalog.count(*) FROM pgrst_source)"),
            page_total: "pg_catalog.count(*)",
            body: Some(&body),
            ..ResultRow::default()
        };
        format!(
            "WITH pgrst_source AS ({source}) {} FROM {rows} _t",
            row.select()
        )
    };
    Ok(Statement {
        sql,
        params: p.values,
        // PostgREST: GET/HEAD always read-only; POST read-only unless the function is volatile
        read_only: is_read || func.volatility != "v",
        estimate: None,
        resolution_ignored: false,
        explain: None,
    })
}

/// The table whose rows the function returns (so select/embeds work), or a stand-in named
/// after the function for `RETURNS TABLE (...)` / other composite types.
fn result_table(schema: &SchemaCache, func: &Function) -> Table {
    if let Some((s, n)) = &func.return_table {
        if let Some(t) = schema.table(s, n) {
            return t.clone();
        }
    }
    Table {
        schema: func.schema.clone(),
        name: func.name.clone(),
        kind: "f".to_string(),
        insertable: false,
        updatable: false,
        deletable: false,
        columns: func
            .out_args
            .iter()
            .enumerate()
            .map(|(i, a)| Column {
                name: a.name.clone(),
                data_type: a.data_type.clone(),
                nominal_type: String::new(),
                nullable: true,
                default: None,
                generated: false,
                position: i as i32 + 1,
                ..Column::default()
            })
            .collect(),
        pk: vec![],
        uniques: vec![],
        ..Table::default()
    }
}

fn paged_scalars(p: &mut Params, page: Option<(i64, Option<i64>)>) -> String {
    match page {
        None => "pgrst_source".to_string(),
        Some((offset, limit)) => {
            let limit = limit
                .map(|n| format!(" LIMIT {}", p.cast(&n.to_string(), "bigint")))
                .unwrap_or_default();
            let offset = p.cast(&offset.to_string(), "bigint");
            format!("(SELECT * FROM pgrst_source{limit} OFFSET {offset})")
        }
    }
}

// ---- arguments ------------------------------------------------------------------------------

/// The names of the arguments the request gives.
fn arg_names(args: &Payload) -> BTreeSet<String> {
    match args {
        Payload::Pairs(pairs) => pairs.iter().map(|(k, _)| k.clone()).collect(),
        Payload::Json(payload) => payload.keys.iter().cloned().collect(),
        Payload::Raw(_) => BTreeSet::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Text,
    Bytes,
    Other,
}

fn body_kind(req: &ApiRequest) -> BodyKind {
    match req.content_type {
        BodyType::Json => BodyKind::Json,
        BodyType::TextPlain => BodyKind::Text,
        BodyType::OctetStream => BodyKind::Bytes,
        _ => BodyKind::Other,
    }
}

/// The call's arguments, and the query with the GET parameters that are filters added to it.
///
/// GET/HEAD: a parameter named like an argument of one of the overloads is an argument; any
/// other one is a filter on the result when it parses as one, else an (unknown) argument.
/// POST: the body, as `api_request` decoded it (its query string holds filters only).
fn request_args<'r>(
    req: &'r ApiRequest,
    is_read: bool,
    overloads: &[&Function],
) -> Result<(Cow<'r, Payload>, Cow<'r, QueryParams>), ApiError> {
    if !is_read {
        return match &req.payload {
            Some(payload) => Ok((Cow::Borrowed(payload), Cow::Borrowed(&req.query))),
            None => Err(ApiError::internal("a call without a decoded body")),
        };
    }
    let arg_names: BTreeSet<&str> = overloads
        .iter()
        .flat_map(|f| f.args.iter().map(|a| a.name.as_str()))
        .collect();
    let mut query = req.query.clone();
    let mut args = vec![];
    for (k, v) in &req.query.rpc_args {
        if arg_names.contains(k.as_str()) {
            args.push((k.clone(), v.clone()));
        } else {
            match crate::parse::parse_filter(k, v) {
                Ok(f) => query.filters.push(f),
                Err(_) => args.push((k.clone(), v.clone())),
            }
        }
    }
    query.rpc_args.clear();
    Ok((Cow::Owned(Payload::Pairs(args)), Cow::Owned(query)))
}

// ---- overload resolution --------------------------------------------------------------------

fn find_function<'a>(
    schema: &SchemaCache,
    schema_name: &str,
    name: &str,
    overloads: &[&'a Function],
    keys: &BTreeSet<String>,
    kind: BodyKind,
    is_post: bool,
) -> Result<&'a Function, ApiError> {
    let mut matching = vec![];
    let mut fallback = vec![];
    for f in overloads {
        if matches_args(f, keys, kind, is_post) {
            matching.push(*f);
        } else if single_unnamed_fits(f, kind, is_post) {
            fallback.push(*f);
        }
    }
    match (matching.as_slice(), fallback.as_slice()) {
        ([f], _) => Ok(f),
        ([], [f]) => Ok(f),
        ([], []) => Err(no_function(
            schema,
            schema_name,
            name,
            keys,
            kind,
            is_post,
            overloads,
        )),
        ([], many) | (many, _) => Err(ambiguous(many)),
    }
}

fn matches_args(f: &Function, keys: &BTreeSet<String>, kind: BodyKind, is_post: bool) -> bool {
    if f.args.is_empty() {
        return keys.is_empty() && !(is_post && matches!(kind, BodyKind::Text | BodyKind::Bytes));
    }
    let required: BTreeSet<String> = f
        .args
        .iter()
        .filter(|a| !a.has_default)
        .map(|a| a.name.clone())
        .collect();
    let optional: BTreeSet<String> = f
        .args
        .iter()
        .filter(|a| a.has_default)
        .map(|a| a.name.clone())
        .collect();
    let rest: BTreeSet<String> = keys.difference(&optional).cloned().collect();
    rest == required
}

fn single_unnamed_fits(f: &Function, kind: BodyKind, is_post: bool) -> bool {
    match f.args.as_slice() {
        [a] if is_post && a.name.is_empty() => matches!(
            (kind, a.data_type.as_str()),
            (BodyKind::Json, "json" | "jsonb")
                | (BodyKind::Text, "text")
                | (BodyKind::Bytes, "bytea")
        ),
        _ => false,
    }
}

fn ambiguous(fs: &[&Function]) -> ApiError {
    let list: Vec<String> = fs
        .iter()
        .map(|f| {
            let args: Vec<String> = f
                .args
                .iter()
                .map(|a| format!("{} => {}", a.name, a.data_type))
                .collect();
            format!("{}.{}({})", f.schema, f.name, args.join(", "))
        })
        .collect();
    ApiError::ambiguous_function(&list)
}

/// PGRST202 with PostgREST's message, details and "Perhaps you meant" hint.
fn no_function(
    schema: &SchemaCache,
    schema_name: &str,
    name: &str,
    keys: &BTreeSet<String>,
    kind: BodyKind,
    is_post: bool,
    overloads: &[&Function],
) -> ApiError {
    let func = format!("{schema_name}.{name}");
    let only_single = is_post && matches!(kind, BodyKind::Text | BodyKind::Bytes);
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    let listed = names.join(", ");
    let call = if only_single {
        String::new()
    } else if keys.is_empty() {
        " without parameters".to_string()
    } else {
        format!("({listed})")
    };
    let with_params = if keys.is_empty() {
        " without parameters".to_string()
    } else {
        format!(
            " with parameter{} {listed}",
            if keys.len() > 1 { "s" } else { "" }
        )
    };
    let searched = match (is_post, kind) {
        (true, BodyKind::Text) => " with a single unnamed text parameter".to_string(),
        (true, BodyKind::Bytes) => " with a single unnamed bytea parameter".to_string(),
        (true, BodyKind::Json) => {
            format!("{with_params} or with a single unnamed json/jsonb parameter")
        }
        _ => with_params,
    };
    let mut err = ApiError::function_not_found(&func, &call, &searched);
    if !only_single {
        let hint = if overloads.is_empty() {
            let candidates: Vec<&str> = schema
                .functions
                .iter()
                .filter(|f| f.schema == schema_name)
                .map(|f| f.name.as_str())
                .collect();
            best_match(name, &candidates).map(|n| format!("{schema_name}.{n}"))
        } else {
            let lists: Vec<String> = overloads
                .iter()
                .map(|f| {
                    let mut a: Vec<&str> = f.args.iter().map(|a| a.name.as_str()).collect();
                    a.sort();
                    format!("({})", a.join(", "))
                })
                .collect();
            let given = format!("({listed})");
            let refs: Vec<&str> = lists.iter().map(String::as_str).collect();
            best_match(&given, &refs).map(|l| format!("{schema_name}.{name}{l}"))
        };
        if let Some(h) = hint {
            err = err.with_hint(format!("Perhaps you meant to call the function {h}"));
        }
    }
    err
}

/// The most similar candidate (cosine similarity of 2- and 3-grams, like a fuzzy set),
/// if similar enough; an exact match is no suggestion.
fn best_match<'a>(needle: &str, candidates: &[&'a str]) -> Option<&'a str> {
    fn grams(s: &str) -> std::collections::HashMap<String, f64> {
        let padded: Vec<char> = format!("-{}-", s.to_lowercase()).chars().collect();
        let mut m = std::collections::HashMap::new();
        for n in 2..=3 {
            for w in padded.windows(n) {
                *m.entry(w.iter().collect::<String>()).or_insert(0.0) += 1.0;
            }
        }
        m
    }
    fn cosine(
        a: &std::collections::HashMap<String, f64>,
        b: &std::collections::HashMap<String, f64>,
    ) -> f64 {
        let dot: f64 = a.iter().map(|(k, v)| v * b.get(k).unwrap_or(&0.0)).sum();
        let na: f64 = a.values().map(|v| v * v).sum::<f64>().sqrt();
        let nb: f64 = b.values().map(|v| v * v).sum::<f64>().sqrt();
        if na == 0.0 || nb == 0.0 {
            0.0
        } else {
            dot / (na * nb)
        }
    }
    let g = grams(needle);
    candidates
        .iter()
        .filter(|c| **c != needle)
        .map(|c| (cosine(&g, &grams(c)), *c))
        .filter(|(score, _)| *score >= 0.33)
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, c)| c)
}

// ---- the call -------------------------------------------------------------------------------

/// The function call: `"s"."fn"(<args>)` and, for JSON arguments, the FROM items that read
/// them (`pgrst_payload`, `pgrst_body`), which precede the call as LATERAL.
struct Call {
    func: String,
    args: String,
    /// `FROM (SELECT $1::json ...) pgrst_payload, LATERAL (...) pgrst_body` without `FROM`
    json_from: Option<String>,
}

impl Call {
    /// FROM items yielding the function's rows as `alias` (composite results).
    fn from(&self, alias: &str) -> String {
        match &self.json_from {
            Some(from) => format!("{from}, LATERAL {}({}) {alias}", self.func, self.args),
            None => format!("{}({}) {alias}", self.func, self.args),
        }
    }

    /// FROM items yielding `pgrst_call.pgrst_scalar` (scalar and set-of-scalar results).
    fn scalar_from(&self) -> String {
        let call = format!(
            "(SELECT {}({}) pgrst_scalar) pgrst_call",
            self.func, self.args
        );
        match &self.json_from {
            Some(from) => format!("{from}, LATERAL {call}"),
            None => call,
        }
    }
}

fn call_sql(
    p: &mut Params,
    f: &Function,
    args: &Payload,
    keys: &BTreeSet<String>,
) -> Result<Call, ApiError> {
    let func = qualified(&f.schema, &f.name);
    // a single unnamed parameter takes the whole body (positional)
    if let [a] = f.args.as_slice() {
        if a.name.is_empty() {
            let value = match args {
                Payload::Json(payload) => payload.raw().to_string(),
                Payload::Raw(bytes) if a.data_type == "bytea" => {
                    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    format!("\\x{hex}")
                }
                Payload::Raw(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Payload::Pairs(pairs) => {
                    let mut obj = Map::new();
                    for (k, v) in pairs {
                        obj.insert(k.clone(), Value::String(v.clone()));
                    }
                    Value::Object(obj).to_string()
                }
            };
            return Ok(Call {
                func,
                args: p.cast(&value, &a.data_type),
                json_from: None,
            });
        }
    }
    let given: Vec<&FunctionArg> = f.args.iter().filter(|a| keys.contains(&a.name)).collect();
    if given.is_empty() {
        return Ok(Call {
            func,
            args: String::new(),
            json_from: None,
        });
    }
    match args {
        Payload::Pairs(pairs) => {
            let mut out = vec![];
            for a in &given {
                let values: Vec<String> = pairs
                    .iter()
                    .filter(|(k, _)| *k == a.name)
                    .map(|(_, v)| v.clone())
                    .collect();
                if a.variadic {
                    let ty = if a.data_type.ends_with("[]") {
                        a.data_type.clone()
                    } else {
                        format!("{}[]", a.data_type)
                    };
                    out.push(format!(
                        "VARIADIC {} := {}",
                        ident(&a.name),
                        p.cast(&array_literal(&values), &ty)
                    ));
                } else {
                    // a repeated name: the last value wins (PostgREST)
                    let v = values.last().cloned().unwrap_or_default();
                    out.push(format!(
                        "{} := {}",
                        ident(&a.name),
                        p.cast(&v, &a.data_type)
                    ));
                }
            }
            Ok(Call {
                func,
                args: out.join(", "),
                json_from: None,
            })
        }
        Payload::Json(payload) => {
            let cols: Vec<(String, String, Option<String>)> = given
                .iter()
                .map(|a| (a.name.clone(), a.data_type.clone(), None))
                .collect();
            let from = body_from_sql(p, payload, &cols, false, true);
            let from = from.strip_prefix("FROM ").unwrap_or(&from).to_string();
            let args: Vec<String> = given
                .iter()
                .map(|a| {
                    format!(
                        "{}{} := pgrst_body.{}",
                        if a.variadic { "VARIADIC " } else { "" },
                        ident(&a.name),
                        ident(&a.name)
                    )
                })
                .collect();
            Ok(Call {
                func,
                args: args.join(", "),
                json_from: Some(from),
            })
        }
        Payload::Raw(_) => Ok(Call {
            func,
            args: String::new(),
            json_from: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::mutate::tests::{assert_all_plan, err, sql, Case};

    #[test]
    fn calls_plan() {
        let cases: &[Case] = &[
            ("POST", "/rpc/add_them", &[], r#"{"a": 2, "b": 3}"#),
            ("GET", "/rpc/add_them?a=2&b=3", &[], ""),
            (
                "GET",
                "/rpc/add_them?a=3&b=4",
                &[("Prefer", "count=exact")],
                "",
            ),
            (
                "POST",
                "/rpc/add_them",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                "a=4&b=5",
            ),
            (
                "POST",
                "/rpc/add_them",
                &[],
                r#"[{"a": 1, "b": 2}, {"a": 10, "b": 20}]"#,
            ),
            ("GET", "/rpc/small_primes", &[], ""),
            ("GET", "/rpc/small_primes?limit=2&offset=1", &[], ""),
            ("POST", "/rpc/small_primes", &[], ""),
            ("GET", "/rpc/project_summary?p_id=1", &[], ""),
            ("POST", "/rpc/do_nothing", &[], "{}"),
            (
                "POST",
                "/rpc/echo_body",
                &[],
                r#"{"x": 1, "y": ["a", "b"], "z": {"n": null}}"#,
            ),
            (
                "POST",
                "/rpc/json_kind",
                &[],
                r#"{"doc": "{ \"key\": 3 }"}"#,
            ),
            (
                "POST",
                "/rpc/echo_doc",
                &[],
                r#"{"doc": {"a": [1, {"b": null}], "c": true}}"#,
            ),
            (
                "POST",
                "/rpc/join_words",
                &[],
                r#"{"words": ["ready", "set", "go"]}"#,
            ),
            ("GET", "/rpc/join_words?words=ready&words=go", &[], ""),
            ("GET", "/rpc/greet", &[], ""),
            ("GET", "/rpc/greet?name=Ada", &[], ""),
            ("GET", "/rpc/area?side=3", &[], ""),
            ("POST", "/rpc/area", &[], r#"{"w": 2, "h": 5}"#),
            ("GET", "/rpc/bump_hits", &[], ""),
            ("POST", "/rpc/bump_hits", &[], "{}"),
            ("GET", "/rpc/with_headers", &[], ""),
            ("GET", "/rpc/req_header?name=x-trace-id", &[], ""),
            (
                "GET",
                "/rpc/all_tasks?done=is.false&priority=lte.3&select=id,title&order=id",
                &[],
                "",
            ),
            (
                "GET",
                "/rpc/all_tasks?select=id,priority&order=priority.desc,id.asc&limit=3&offset=1",
                &[],
                "",
            ),
            (
                "GET",
                "/rpc/all_tasks?select=id&order=id&limit=2",
                &[("Prefer", "count=exact")],
                "",
            ),
            (
                "POST",
                "/rpc/project_tasks?select=id,title&done=is.false&order=id",
                &[],
                r#"{"p_project": 1}"#,
            ),
            (
                "GET",
                "/rpc/project_tasks?p_project=4&select=title,project:projects(name)&order=id",
                &[],
                "",
            ),
            ("GET", "/rpc/project_stats?order=project_id", &[], ""),
            ("GET", "/rpc/project_stats?task_count=gt.1", &[], ""),
            ("GET", "/rpc/get_project?p_id=2", &[], ""),
            (
                "POST",
                "/rpc/tasks_by_ids?select=id&order=id",
                &[],
                r#"{"ids": [2, 4]}"#,
            ),
            (
                "GET",
                "/rpc/tasks_by_ids?ids=%7B2,4%7D&select=id&order=id",
                &[],
                "",
            ),
            (
                "POST",
                "/rpc/archive_done_tasks?select=id,title",
                &[],
                r#"{"p_project": 1}"#,
            ),
            ("GET", "/rpc/teapot", &[], ""),
        ];
        assert_all_plan(cases);
    }

    #[test]
    fn aggregates_on_set_results_follow_db_aggregates_enabled() {
        use crate::plan::mutate::tests::{cache, request, settings};
        let req = request("GET", "/rpc/project_stats?select=task_count.sum()", &[], "");
        let e = super::plan_rpc(&req, &cache(), &settings()).unwrap_err();
        assert_eq!(e.code, "PGRST123");
        let on = crate::settings::Settings {
            aggregates_enabled: true,
            ..settings()
        };
        let st = super::plan_rpc(&req, &cache(), &on).unwrap();
        assert!(st.sql.contains("pg_catalog.sum("), "{}", st.sql);
    }

    #[test]
    fn strict_max_affected_needs_a_set_returning_function() {
        let prefer = [("Prefer", "handling=strict, max-affected=5")];
        let e = err("POST", "/rpc/do_nothing", &prefer, "{}");
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST128"));
        assert_eq!(
            err("GET", "/rpc/add_them?a=1&b=2", &prefer, "").code,
            "PGRST128"
        );
        sql("GET", "/rpc/small_primes", &prefer, "");
        let lenient = [("Prefer", "max-affected=5")];
        sql("POST", "/rpc/do_nothing", &lenient, "{}");
    }

    #[test]
    fn named_arguments_from_the_query_string() {
        let st = sql("GET", "/rpc/add_them?a=2&b=3", &[], "");
        assert!(st.sql.contains(
            "(SELECT \"public\".\"add_them\"(\"a\" := $1::integer, \"b\" := $2::integer) pgrst_scalar) pgrst_call"
        ));
        assert_eq!(st.params, vec![Some("2".into()), Some("3".into())]);
        assert!(st.read_only);
    }

    #[test]
    fn json_arguments_are_read_from_the_body() {
        let st = sql("POST", "/rpc/add_them", &[], r#"{"a": 2, "b": 3}"#);
        assert!(st.sql.contains(
            "json_to_record(pgrst_payload.json_data) AS _(\"a\" integer, \"b\" integer) LIMIT 1"
        ));
        assert!(st.sql.contains("\"a\" := pgrst_body.\"a\""));
        // immutable: read-only even on POST, like PostgREST
        assert!(st.read_only);
        assert!(!sql("POST", "/rpc/bump_hits", &[], "{}").read_only);
    }

    #[test]
    fn variadic_arguments() {
        let st = sql("GET", "/rpc/join_words?words=ready&words=go", &[], "");
        assert!(st.sql.contains("VARIADIC \"words\" := $1::text[]"));
        assert_eq!(st.params[0].as_deref(), Some(r#"{"ready","go"}"#));
        let st = sql("POST", "/rpc/join_words", &[], r#"{"words": ["a", "b"]}"#);
        assert!(st
            .sql
            .contains("VARIADIC \"words\" := pgrst_body.\"words\""));
    }

    #[test]
    fn single_unnamed_json_param_takes_the_body() {
        let body = r#"{"x": 1, "y": [1]}"#;
        let st = sql("POST", "/rpc/echo_body", &[], body);
        assert!(st.sql.contains("\"public\".\"echo_body\"($1::json)"));
        assert_eq!(st.params, vec![Some(body.to_string())]);
    }

    #[test]
    fn defaults_may_be_omitted() {
        let st = sql("GET", "/rpc/greet", &[], "");
        assert!(st.sql.contains("\"public\".\"greet\"()"));
        let st = sql("GET", "/rpc/greet?name=Ada", &[], "");
        assert!(st.sql.contains("\"greet\"(\"name\" := $1::text)"));
    }

    #[test]
    fn overloads() {
        assert!(sql("GET", "/rpc/area?side=3", &[], "")
            .sql
            .contains("\"side\" :="));
        assert!(sql("POST", "/rpc/area", &[], r#"{"w": 2, "h": 5}"#)
            .sql
            .contains("\"h\" :="));
        let e = err("GET", "/rpc/describe_val?v=1", &[], "");
        assert_eq!((e.status, e.code.as_str()), (300, "PGRST203"));
        assert!(e.message.starts_with(
            "Could not choose the best candidate function between: public.describe_val(v => "
        ));
    }

    #[test]
    fn no_match_is_pgrst202() {
        let e = err("GET", "/rpc/add_them?a=1&c=2", &[], "");
        assert_eq!((e.status, e.code.as_str()), (404, "PGRST202"));
        assert_eq!(
            e.message,
            "Could not find the function public.add_them(a, c) in the schema cache"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("Searched for the function public.add_them with parameters a, c, but no matches were found in the schema cache.")
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("Perhaps you meant to call the function public.add_them(a, b)")
        );
        let e = err("GET", "/rpc/add_them?a=1&b=2&smthelse=blabla", &[], "");
        assert_eq!(e.code, "PGRST202");
        let e = err("POST", "/rpc/no_such_function", &[], "{}");
        assert_eq!(e.message, "Could not find the function public.no_such_function without parameters in the schema cache");
        assert_eq!(
            e.details.as_deref(),
            Some("Searched for the function public.no_such_function without parameters or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.")
        );
        let e = err("POST", "/rpc/add_thme", &[], r#"{"a": 1, "b": 2}"#);
        assert_eq!(
            e.hint.as_deref(),
            Some("Perhaps you meant to call the function public.add_them")
        );
    }

    #[test]
    fn methods() {
        // parse_request refuses these already; the planner does too
        let mut req = crate::plan::mutate::tests::request("GET", "/rpc/add_them", &[], "");
        req.method = crate::api_request::Method::Delete;
        let sc = crate::plan::mutate::tests::cache();
        let e = super::plan_rpc(&req, &sc, &crate::plan::mutate::tests::settings()).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (405, "PGRST101"));
        assert_eq!(e.message, "Cannot use the DELETE method on RPC");
    }

    #[test]
    fn get_params_that_are_no_arguments_filter_the_result() {
        let st = sql("GET", "/rpc/all_tasks?done=is.false&select=id", &[], "");
        assert!(st.sql.contains("\"public\".\"all_tasks\"() pgrst_call"));
        let e = err("GET", "/rpc/all_tasks?nope=blabla", &[], "");
        assert_eq!(e.code, "PGRST202");
    }

    #[test]
    fn result_shapes() {
        let st = sql("GET", "/rpc/small_primes", &[], "");
        assert!(st
            .sql
            .contains("coalesce(pg_catalog.json_agg(_t.pgrst_scalar), '[]')"));
        let st = sql("GET", "/rpc/add_them?a=1&b=2", &[], "");
        assert!(st
            .sql
            .contains("coalesce(pg_catalog.json_agg(_t.pgrst_scalar)->0, 'null')"));
        let st = sql("POST", "/rpc/do_nothing", &[], "{}");
        assert!(st
            .sql
            .contains("count(_t.pgrst_scalar) < 0 THEN '' END)::text AS body"));
    }

    #[test]
    fn raw_bodies_go_to_a_single_unnamed_text_or_bytea_param() {
        let mut sc = crate::plan::mutate::tests::cache();
        let f = |name: &str, ty: &str| {
            serde_json::from_value::<crate::schema_cache::model::Function>(serde_json::json!({
                "schema": "public", "name": name, "oid": 1,
                "args": [{"name": "", "data_type": ty, "has_default": false}],
                "return_type": "integer", "returns_set": false, "returns_composite": false,
                "volatility": "i"
            }))
            .unwrap()
        };
        sc.functions.push(f("echo_text", "text"));
        sc.functions.push(f("bytes_len", "bytea"));
        let settings = crate::plan::mutate::tests::settings();
        let req = |name: &str, ct: &str, body: &[u8]| {
            let mut r = crate::plan::mutate::tests::request(
                "POST",
                &format!("/rpc/{name}"),
                &[("Content-Type", ct)],
                "",
            );
            r.payload = Some(crate::api_request::Payload::Raw(body.to_vec()));
            r
        };
        let st =
            super::plan_rpc(&req("echo_text", "text/plain", b"hi there"), &sc, &settings).unwrap();
        assert!(st.sql.contains("\"public\".\"echo_text\"($1::text)"));
        assert_eq!(st.params, vec![Some("hi there".to_string())]);
        let st = super::plan_rpc(
            &req("bytes_len", "application/octet-stream", &[0, 1, 2, 255]),
            &sc,
            &settings,
        )
        .unwrap();
        assert!(st.sql.contains("($1::bytea)"));
        assert_eq!(st.params, vec![Some("\\x000102ff".to_string())]);
        // a text body does not reach a bytea function
        let e = super::plan_rpc(&req("bytes_len", "text/plain", b"x"), &sc, &settings).unwrap_err();
        assert_eq!(e.code, "PGRST202");
        assert_eq!(
            e.message,
            "Could not find the function public.bytes_len in the schema cache"
        );
        assert!(e.hint.is_none());
    }
}
