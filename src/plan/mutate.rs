//! POST / PATCH / PUT / DELETE on a table or view -> one statement.
//!
//! Shape (as PostgREST builds it): the write runs in a CTE and the outer query turns its
//! `RETURNING` rows into the response row:
//! `WITH pgrst_source AS (INSERT ... SELECT ... FROM json_to_recordset($1) ... RETURNING ...)
//!  SELECT <the result row> ...` (see [`super::result_row`])
//! The request body is one bind parameter (`$1::json`); Rust only checks it (valid JSON, the
//! keys of its objects) and Postgres converts the values to the column types.

// ApiError is large by design (PostgREST's error body); boxing it everywhere buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;

use serde_json::Value;

use super::filter::Scope;
use super::read::{order_sql, ReadBody};
use super::result_row::ResultRow;
use super::sql::{cast_type, ident, qualified, Params};
use super::Statement;
use crate::api_request::{
    ApiRequest, JsonPayload, Method, Payload, Resolution, Resource, ReturnPref,
};
use crate::error::ApiError;
use crate::parse::ast::{at_path, Filter, Operation, QueryParams, SelectItem, SimpleOp};
use crate::schema_cache::model::{Column, Table};
use crate::schema_cache::SchemaCache;

pub fn plan_mutation(req: &ApiRequest, schema: &SchemaCache) -> Result<Statement, ApiError> {
    let name = match &req.resource {
        Resource::Relation(name) => name,
        _ => {
            return Err(ApiError::internal(
                "plan_mutation called without a relation",
            ))
        }
    };
    let table = schema
        .table(&req.schema, name)
        .ok_or_else(|| ApiError::table_not_found(&req.schema, name))?;
    let mut p = Params::new();
    let write = match req.method {
        Method::Post => insert_sql(&mut p, req, table)?,
        Method::Put => put_sql(&mut p, req, table)?,
        Method::Patch => update_sql(&mut p, req, table)?,
        Method::Delete => delete_sql(&mut p, req, table)?,
        _ => return Err(ApiError::unsupported_method(req.method.as_str())),
    };
    let sql = wrap(&mut p, req, schema, table, &write)?;
    Ok(Statement {
        sql,
        params: p.values,
        read_only: false,
        estimate: None,
        resolution_ignored: write.resolution_ignored,
        explain: None,
    })
}

/// The write statement, minus its RETURNING clause, plus what the outer query needs to know.
struct Write {
    sql: String,
    /// a PUT or an upsert with merge-duplicates: the statement counts inserted rows in the
    /// `pgrst.inserted` setting (201 vs 200)
    tracks_inserted: bool,
    is_insert: bool,
    /// a PATCH without columns: nothing is written, `sql` is unused
    empty_update: bool,
    /// `resolution=` without a conflict target (no primary key, no `on_conflict`)
    resolution_ignored: bool,
}

impl Write {
    /// The CTE body: the write with its RETURNING, or a query for no rows.
    fn with_returning(&self, tbl: &str, returning: &str) -> String {
        if self.empty_update {
            format!("SELECT {returning} FROM {tbl} WHERE false")
        } else {
            format!("{} RETURNING {returning}", self.sql)
        }
    }
}

/// `WITH pgrst_source AS (<write> RETURNING ...) SELECT <the result row>`.
fn wrap(
    p: &mut Params,
    req: &ApiRequest,
    schema: &SchemaCache,
    table: &Table,
    w: &Write,
) -> Result<String, ApiError> {
    let tbl = qualified(&table.schema, &table.name);
    let ret = req.prefer.return_;
    let counted = req.prefer.count.is_some();
    // read after the write's rows: `respond` answers 200 instead of 201 when none was inserted
    let inserted = w
        .tracks_inserted
        .then_some("coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0)::bigint");
    if ret == Some(ReturnPref::Representation) {
        let body =
            ReadBody::new(schema, table, "pgrst_source", &req.query, req.accept).body_sql(p)?;
        let row = ResultRow {
            total: counted.then_some("_b.page_total"),
            page_total: "_b.page_total::bigint",
            body: Some("_b.body::text"),
            inserted,
            ..ResultRow::default()
        };
        return Ok(format!(
            "WITH pgrst_source AS ({}) {} FROM ({body}) _b",
            w.with_returning(&tbl, &returning_columns(schema, table, &req.query, &tbl)),
            row.select(),
        ));
    }
    let headers_only = ret == Some(ReturnPref::HeadersOnly) && w.is_insert && !table.pk.is_empty();
    let returning = if headers_only {
        table
            .pk
            .iter()
            .map(|c| format!("{tbl}.{}", ident(c)))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        // the rows are only counted: RETURNING 1 needs no SELECT privilege on the columns
        "1".to_string()
    };
    let location = headers_only.then(|| location_sql(p, table));
    let row = ResultRow {
        total: counted.then_some("pg_catalog.count(*)"),
        page_total: "pg_catalog.count(*)",
        location: location.as_deref(),
        inserted,
        ..ResultRow::default()
    };
    Ok(format!(
        "WITH pgrst_source AS ({}) {} FROM pgrst_source",
        w.with_returning(&tbl, &returning),
        row.select()
    ))
}

/// What a representation needs back from the write: the selected columns, the columns the
/// embeds join on, the primary key and the root order columns (PostgREST's
/// `inferColsEmbedNeeds`), so that column privileges on the others do not matter. `tbl.*`
/// for `*`, aggregates or anything that is not a plain column.
fn returning_columns(schema: &SchemaCache, table: &Table, q: &QueryParams, tbl: &str) -> String {
    let all = format!("{tbl}.*");
    if q.select.is_empty() {
        return all;
    }
    let mut cols: Vec<String> = vec![];
    for item in &q.select {
        match item {
            SelectItem::Star => return all,
            SelectItem::Field {
                field, aggregate, ..
            } => {
                if aggregate.is_some() || table.column(&field.name).is_none() {
                    return all;
                }
                cols.push(field.name.clone());
            }
            SelectItem::Embed { name, hint, .. } => {
                let Ok(rel) = super::relationships::find(schema, table, name, hint.as_deref())
                else {
                    return all;
                };
                match &rel.junction {
                    Some(j) => cols.extend(j.source_pairs().into_iter().map(|(c, _)| c)),
                    None => cols.extend(rel.columns.iter().map(|(c, _)| c.clone())),
                }
            }
        }
    }
    cols.extend(table.pk.iter().cloned());
    for (path, terms) in &q.order {
        if path.is_empty() {
            for t in terms.iter().filter(|t| t.relation.is_none()) {
                if table.column(&t.field.name).is_none() {
                    return all;
                }
                cols.push(t.field.name.clone());
            }
        }
    }
    let mut seen = BTreeSet::new();
    cols.retain(|c| seen.insert(c.clone()));
    cols.iter()
        .map(|c| format!("{tbl}.{}", ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/table?pk1=eq.v1&pk2=eq.v2` of the single inserted row (PostgREST's Location), values
/// percent-encoded; NULL unless exactly one row was written.
fn location_sql(p: &mut Params, table: &Table) -> String {
    let mut pk: Vec<&Column> = table.pk.iter().filter_map(|c| table.column(c)).collect();
    pk.sort_by_key(|c| c.position);
    let path = p.cast(&format!("/{}?", table.name), "text");
    let parts: Vec<String> = pk
        .iter()
        .map(|c| {
            let key = p.cast(&format!("{}=", c.name), "text");
            format!(
                "{key} || coalesce('eq.' || {}, 'is.null')",
                url_encode_sql(&format!("_l.{}::text", ident(&c.name)))
            )
        })
        .collect();
    format!(
        "CASE WHEN pg_catalog.count(*) = 1 THEN (SELECT {path} || {} FROM pgrst_source _l LIMIT 1) END",
        parts.join(" || '&' || ")
    )
}

/// Percent-encodes a text expression (RFC 3986 unreserved characters stay).
fn url_encode_sql(expr: &str) -> String {
    format!(
        "(SELECT string_agg(CASE WHEN _c.ch ~ '^[A-Za-z0-9_.~-]$' THEN _c.ch \
         ELSE upper(regexp_replace(encode(convert_to(_c.ch, 'UTF8'), 'hex'), '(..)', '%\\1', 'g')) END, \
         '' ORDER BY _c.i) FROM regexp_split_to_table({expr}, '') WITH ORDINALITY AS _c(ch, i))"
    )
}

/// The body of a table write, decoded by `api_request` (POST, PUT and PATCH have one).
fn table_payload(req: &ApiRequest) -> Result<&JsonPayload, ApiError> {
    match &req.payload {
        Some(Payload::Json(payload)) => Ok(payload),
        _ => Err(ApiError::internal("a table write without a decoded body")),
    }
}

/// The table columns named by the payload keys, or PGRST204 for the first unknown one (in
/// name order, as PostgREST reports it).
fn resolve_columns<'a>(table: &'a Table, keys: &[String]) -> Result<Vec<&'a Column>, ApiError> {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    if let Some(missing) = sorted.iter().find(|k| table.column(k).is_none()) {
        return Err(ApiError::column_not_found(&table.name, missing));
    }
    Ok(keys.iter().filter_map(|k| table.column(k)).collect())
}

/// `FROM (SELECT $1::json AS json_data) pgrst_payload, LATERAL (SELECT cols FROM
/// json_to_recordset(...) AS _(typed cols)) pgrst_body`: the body's rows, typed. With
/// `missing=default` the column defaults fill absent keys first (jsonb `||`).
pub(super) fn body_from_sql(
    p: &mut Params,
    payload: &JsonPayload,
    cols: &[(String, String, Option<String>)],
    apply_defaults: bool,
    limit_one: bool,
) -> String {
    let is_object = payload.is_object();
    let json_ty = if apply_defaults { "jsonb" } else { "json" };
    let body = p.cast(&payload.json, json_ty);
    let mut sql = format!("FROM (SELECT {body} AS json_data) pgrst_payload, ");
    let source = if apply_defaults {
        let defs: Vec<String> = cols
            .iter()
            .filter_map(|(name, _, def)| {
                def.as_ref()
                    .map(|d| format!("{}, {d}", p.cast(name, "text")))
            })
            .collect();
        let defs = format!("jsonb_build_object({})", defs.join(", "));
        if is_object {
            sql.push_str(&format!(
                "LATERAL (SELECT {defs} || pgrst_payload.json_data AS val) pgrst_json_defs, "
            ));
        } else {
            sql.push_str(&format!(
                "LATERAL (SELECT jsonb_agg({defs} || elem) AS val \
                 FROM jsonb_array_elements(pgrst_payload.json_data) elem) pgrst_json_defs, "
            ));
        }
        "pgrst_json_defs.val"
    } else {
        "pgrst_payload.json_data"
    };
    let limit = if limit_one { " LIMIT 1" } else { "" };
    if cols.is_empty() {
        let rows = if is_object {
            "(VALUES (1)) _".to_string()
        } else {
            format!("{json_ty}_array_elements({source}) _")
        };
        sql.push_str(&format!("LATERAL (SELECT FROM {rows}{limit}) pgrst_body"));
    } else {
        let names: Vec<String> = cols.iter().map(|(n, _, _)| ident(n)).collect();
        let typed: Vec<String> = cols
            .iter()
            .map(|(n, t, _)| format!("{} {}", ident(n), cast_type(t)))
            .collect();
        let func = match (is_object, apply_defaults) {
            (true, false) => "json_to_record",
            (false, false) => "json_to_recordset",
            (true, true) => "jsonb_to_record",
            (false, true) => "jsonb_to_recordset",
        };
        sql.push_str(&format!(
            "LATERAL (SELECT {} FROM {func}({source}) AS _({}){limit}) pgrst_body",
            names.join(", "),
            typed.join(", ")
        ));
    }
    sql
}

fn col_specs(cols: &[&Column]) -> Vec<(String, String, Option<String>)> {
    cols.iter()
        .map(|c| (c.name.clone(), c.data_type.clone(), c.default.clone()))
        .collect()
}

/// `set_config('pgrst.inserted', n +/- 1)` as an always-true condition: counts inserted rows
/// (+1 per candidate row, -1 per row the ON CONFLICT branch updated).
fn count_inserted(delta: i32) -> String {
    let (op, never) = if delta > 0 { ("+", "0") } else { ("-", "-1") };
    format!(
        "set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) {op} 1)::text, true) <> '{never}'"
    )
}

// ---- INSERT / upsert ------------------------------------------------------------------------

fn insert_sql(p: &mut Params, req: &ApiRequest, table: &Table) -> Result<Write, ApiError> {
    let payload = table_payload(req)?;
    let cols = resolve_columns(table, &payload.keys)?;
    let merge = req.prefer.resolution == Some(Resolution::MergeDuplicates);
    let conflict_cols: Vec<String> = match (&req.prefer.resolution, &req.query.on_conflict) {
        (None, _) => vec![],
        (Some(_), Some(cols)) => cols.clone(),
        (Some(_), None) => table.pk.clone(),
    };
    for c in &conflict_cols {
        if table.column(c).is_none() {
            return Err(ApiError::column_not_found(&table.name, c));
        }
    }
    let on_conflict = if conflict_cols.is_empty() {
        String::new()
    } else {
        let target = conflict_cols
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        if merge && !cols.is_empty() {
            let sets = cols
                .iter()
                .map(|c| format!("{0} = EXCLUDED.{0}", ident(&c.name)))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                " ON CONFLICT ({target}) DO UPDATE SET {sets} WHERE {}",
                count_inserted(-1)
            )
        } else {
            format!(" ON CONFLICT ({target}) DO NOTHING")
        }
    };
    let tracks = merge && !conflict_cols.is_empty();
    let from = body_from_sql(
        p,
        payload,
        &col_specs(&cols),
        req.prefer.missing_default,
        false,
    );
    let where_ = if tracks {
        format!(" WHERE {}", count_inserted(1))
    } else {
        String::new()
    };
    Ok(Write {
        sql: format!(
            "INSERT INTO {}{} SELECT {} {from}{where_}{on_conflict}",
            qualified(&table.schema, &table.name),
            column_list(&cols),
            body_columns(&cols),
        ),
        tracks_inserted: tracks,
        is_insert: true,
        empty_update: false,
        resolution_ignored: req.prefer.resolution.is_some() && conflict_cols.is_empty(),
    })
}

fn column_list(cols: &[&Column]) -> String {
    if cols.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = cols.iter().map(|c| ident(&c.name)).collect();
        format!(" ({})", names.join(", "))
    }
}

fn body_columns(cols: &[&Column]) -> String {
    cols.iter()
        .map(|c| format!("pgrst_body.{}", ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// PUT: a single-row upsert keyed by the whole primary key, given as `pk=eq.value` filters.
fn put_sql(p: &mut Params, req: &ApiRequest, table: &Table) -> Result<Write, ApiError> {
    let q = &req.query;
    if at_path(&q.limit, &[]).next().is_some() || at_path(&q.offset, &[]).next().is_some() {
        return Err(ApiError::put_limit_not_allowed());
    }
    let root: Vec<&Filter> = at_path(&q.filters, &[]).collect();
    let has_root_logic = at_path(&q.logic, &[]).next().is_some();
    let filter_cols: BTreeSet<&str> = root.iter().map(|f| f.field.name.as_str()).collect();
    let pk_cols: BTreeSet<&str> = table.pk.iter().map(String::as_str).collect();
    let all_eq = root.iter().all(|f| {
        !f.negated
            && f.field.json_path.is_empty()
            && matches!(
                f.operation,
                Operation::Simple {
                    op: SimpleOp::Eq,
                    quantifier: None,
                    ..
                }
            )
    });
    if has_root_logic || pk_cols.is_empty() || filter_cols != pk_cols || !all_eq {
        return Err(ApiError::invalid_filters());
    }
    let payload = table_payload(req)?;
    let cols = resolve_columns(table, &payload.keys)?;
    // PostgREST runs the insert with `WHERE pk = url value` and fails when not exactly one row
    // came out; the payload is at hand here, so check it first.
    let url_value = |f: &Filter| match &f.operation {
        Operation::Simple { value, .. } => value.clone(),
        _ => String::new(),
    };
    // An array body: PostgREST's WHERE keeps only the elements matching the URL, and exactly
    // one must be left (UpsertSpec: "it only puts the first element").
    if let Some(rows) = &payload.rows {
        let matching = rows
            .iter()
            .filter(|row| {
                root.iter().all(|f| {
                    row.get(&f.field.name)
                        .is_some_and(|v| json_matches_text(v, &url_value(f)))
                })
            })
            .count();
        if matching != 1 {
            return Err(ApiError::put_matching_pk());
        }
    }
    let conds: Vec<String> = root
        .iter()
        .filter_map(|f| {
            table.column(&f.field.name).map(|c| {
                format!(
                    "pgrst_body.{} = {}",
                    ident(&c.name),
                    p.cast(&url_value(f), &c.data_type)
                )
            })
        })
        .collect();
    let target = table
        .pk
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let on_conflict = if cols.is_empty() {
        format!(" ON CONFLICT ({target}) DO NOTHING")
    } else {
        let sets = cols
            .iter()
            .map(|c| format!("{0} = EXCLUDED.{0}", ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            " ON CONFLICT ({target}) DO UPDATE SET {sets} WHERE {}",
            count_inserted(-1)
        )
    };
    let from = body_from_sql(p, payload, &col_specs(&cols), false, false);
    Ok(Write {
        sql: format!(
            "INSERT INTO {}{} SELECT {} {from} WHERE {} AND {}{on_conflict}",
            qualified(&table.schema, &table.name),
            column_list(&cols),
            body_columns(&cols),
            // the URL's key first: elements it drops must not count as inserted
            conds.join(" AND "),
            count_inserted(1),
        ),
        tracks_inserted: true,
        is_insert: true,
        empty_update: false,
        resolution_ignored: false,
    })
}

/// Does a JSON payload value stand for the same value as a URL filter's text?
fn json_matches_text(v: &Value, text: &str) -> bool {
    match v {
        Value::String(s) => s == text,
        Value::Number(n) => {
            n.to_string() == text
                || matches!((n.as_f64(), text.parse::<f64>()), (Some(a), Ok(b)) if a == b)
        }
        Value::Bool(b) => b.to_string() == text,
        Value::Null => false,
        other => *other == text,
    }
}

// ---- UPDATE / DELETE ------------------------------------------------------------------------

fn update_sql(p: &mut Params, req: &ApiRequest, table: &Table) -> Result<Write, ApiError> {
    let payload = table_payload(req)?;
    let cols = resolve_columns(table, &payload.keys)?;
    let tbl = qualified(&table.schema, &table.name);
    if cols.is_empty() {
        // nothing to set: PostgREST answers as if no row matched
        return Ok(Write {
            sql: String::new(),
            tracks_inserted: false,
            is_insert: false,
            empty_update: true,
            resolution_ignored: false,
        });
    }
    let conds = root_conditions(p, table, &tbl, &req.query)?;
    let sets = cols
        .iter()
        .map(|c| format!("{0} = pgrst_body.{0}", ident(&c.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let from = body_from_sql(
        p,
        payload,
        &col_specs(&cols),
        req.prefer.missing_default,
        true,
    );
    let sql = match limited_rows(p, req, table, &tbl, &conds)? {
        Some(cte) => format!(
            "WITH {cte} UPDATE {tbl} SET {sets} {from}, pgrst_affected_rows \
             WHERE {tbl}.ctid = pgrst_affected_rows.ctid"
        ),
        None => format!("UPDATE {tbl} SET {sets} {from}{}", where_clause(&conds)),
    };
    Ok(Write {
        sql,
        tracks_inserted: false,
        is_insert: false,
        empty_update: false,
        resolution_ignored: false,
    })
}

fn delete_sql(p: &mut Params, req: &ApiRequest, table: &Table) -> Result<Write, ApiError> {
    let tbl = qualified(&table.schema, &table.name);
    let conds = root_conditions(p, table, &tbl, &req.query)?;
    let sql = match limited_rows(p, req, table, &tbl, &conds)? {
        Some(cte) => format!(
            "WITH {cte} DELETE FROM {tbl} USING pgrst_affected_rows \
             WHERE {tbl}.ctid = pgrst_affected_rows.ctid"
        ),
        None => format!("DELETE FROM {tbl}{}", where_clause(&conds)),
    };
    Ok(Write {
        sql,
        tracks_inserted: false,
        is_insert: false,
        empty_update: false,
        resolution_ignored: false,
    })
}

fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// `?limit=`/`?offset=` on PATCH/DELETE: the affected rows are picked first (by `ctid`, in the
/// requested order), as PostgREST does.
fn limited_rows(
    p: &mut Params,
    req: &ApiRequest,
    table: &Table,
    tbl: &str,
    conds: &[String],
) -> Result<Option<String>, ApiError> {
    let q = &req.query;
    let limit = at_path(&q.limit, &[]).next().copied();
    let offset = at_path(&q.offset, &[]).next().copied();
    if limit.is_none() && offset.is_none() {
        return Ok(None);
    }
    let mut order = vec![];
    for terms in at_path(&q.order, &[]) {
        for t in terms {
            if t.relation.is_some() {
                continue;
            }
            let (expr, _) = Scope {
                table,
                qual: tbl,
                schema: None,
            }
            .field(p, &t.field);
            order.push(order_sql(expr, t));
        }
    }
    let order = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", order.join(", "))
    };
    let limit = limit
        .map(|n| format!(" LIMIT {}", p.cast(&n.to_string(), "bigint")))
        .unwrap_or_default();
    let offset = offset
        .map(|n| format!(" OFFSET {}", p.cast(&n.to_string(), "bigint")))
        .unwrap_or_default();
    Ok(Some(format!(
        "pgrst_affected_rows AS (SELECT {tbl}.ctid FROM {tbl}{}{order}{limit}{offset})",
        where_clause(conds)
    )))
}

// ---- filters --------------------------------------------------------------------------------

/// The root filters and logic trees as SQL conditions (ANDed by the caller), on `qual` = the
/// table's qualified name (the body's columns are in scope too, so names must be qualified).
pub(super) fn root_conditions(
    p: &mut Params,
    table: &Table,
    qual: &str,
    q: &QueryParams,
) -> Result<Vec<String>, ApiError> {
    let scope = Scope {
        table,
        qual,
        schema: None,
    };
    let mut out = vec![];
    for f in at_path(&q.filters, &[]) {
        out.push(scope.filter(p, f)?);
    }
    for tree in at_path(&q.logic, &[]) {
        out.push(scope.logic(p, tree)?);
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::api_request::{parse_request, RawRequest};
    use crate::settings::Settings;

    /// method, target, headers, body
    pub type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

    pub fn cache() -> SchemaCache {
        SchemaCache::from_json(include_str!("../schema_cache/testdata/conformance.json"))
            .expect("conformance schema cache")
    }

    pub fn settings() -> Settings {
        Settings {
            schemas: vec!["public".into(), "v2".into()],
            ..Settings::default()
        }
    }

    /// A request as it would come off the wire; JSON bodies default to application/json.
    pub fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> ApiRequest {
        parse(method, target, headers, body).expect("request parses")
    }

    /// The request step: `parse_request` (which decodes the body).
    fn parse(
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<ApiRequest, ApiError> {
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        if !hs.iter().any(|(k, _)| k == "content-type") {
            hs.push(("content-type".into(), "application/json".into()));
        }
        let raw = RawRequest {
            method: method.into(),
            target: target.into(),
            headers: hs,
            body: body.as_bytes().to_vec(),
        };
        parse_request(&raw, &settings())
    }

    pub fn plan(
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Statement, ApiError> {
        let req = parse(method, target, headers, body)?;
        let sc = cache();
        match req.resource {
            Resource::Rpc(_) => crate::plan::rpc::plan_rpc(&req, &sc, &settings()),
            _ => plan_mutation(&req, &sc),
        }
    }

    /// Every case plans: a statement, not an error (the conformance suite runs such
    /// statements against Postgres; this pins that the planner accepts them all).
    #[track_caller]
    pub fn assert_all_plan(cases: &[Case]) {
        let failed: Vec<String> = cases
            .iter()
            .filter_map(|(method, target, headers, body)| {
                plan(method, target, headers, body)
                    .err()
                    .map(|e| format!("{method} {target} {headers:?}: {}", e.body()))
            })
            .collect();
        assert!(
            failed.is_empty(),
            "cases that did not plan:\n{}",
            failed.join("\n")
        );
    }

    #[test]
    fn writes_plan() {
        let cases: &[Case] = &[
            (
                "POST",
                "/projects",
                &[],
                r#"{"id": 10, "name": "Europa", "owner_id": "user-1"}"#,
            ),
            (
                "POST",
                "/tags",
                &[],
                r#"[{"slug": "json", "label": "JSON"}, {"slug": "yaml", "label": "YAML"}]"#,
            ),
            (
                "POST",
                "/projects",
                &[("Prefer", "return=headers-only")],
                r#"{"id": 16, "name": "Kepler"}"#,
            ),
            (
                "POST",
                "/memberships",
                &[("Prefer", "return=headers-only")],
                r#"{"project_id": 2, "user_id": "user 2/x", "role": "member"}"#,
            ),
            (
                "POST",
                "/tags?select=slug",
                &[("Prefer", "count=exact")],
                r#"[{"slug": "toml", "label": "TOML"}, {"slug": "ini", "label": "INI"}]"#,
            ),
            (
                "POST",
                "/gadgets?columns=name,color",
                &[],
                r#"[{"name": "Doohickey"}]"#,
            ),
            (
                "POST",
                "/gadgets?columns=name,color,qty",
                &[("Prefer", "missing=default")],
                r#"[{"name": "Doohickey"}, {"name": "Thingamajig", "color": "green", "qty": 3}]"#,
            ),
            ("POST", "/gadgets", &[], r#"{"name": "Bad", "total": 1}"#),
            ("POST", "/tags", &[], "[]"),
            (
                "POST",
                "/tags",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                "slug=form&label=Form+Data",
            ),
            (
                "POST",
                "/tags",
                &[("Content-Type", "text/csv")],
                "slug,label,uses\ncsv,CSV,7\ntsv,TSV,0",
            ),
            (
                "POST",
                "/projects",
                &[("Content-Type", "text/csv")],
                "id,name,owner_id\n21,Nix,NULL",
            ),
            (
                "POST",
                "/tags",
                &[("Prefer", "resolution=merge-duplicates")],
                r#"[{"slug": "sql", "label": "SQL!"}, {"slug": "new", "label": "New"}]"#,
            ),
            (
                "POST",
                "/tags",
                &[("Prefer", "resolution=merge-duplicates")],
                r#"[{"slug": "sql", "label": "SQL!"}]"#,
            ),
            (
                "POST",
                "/tags",
                &[("Prefer", "resolution=ignore-duplicates")],
                r#"[{"slug": "sql", "label": "SQL!"}]"#,
            ),
            (
                "POST",
                "/contacts?on_conflict=email",
                &[("Prefer", "resolution=merge-duplicates")],
                r#"{"email": "a@b.c", "first_name": "A", "last_name": "B"}"#,
            ),
            (
                "POST",
                "/project_task_counts",
                &[],
                r#"{"project_id": 1, "task_count": 1}"#,
            ),
            (
                "PUT",
                "/tags?slug=eq.sql",
                &[],
                r#"{"slug": "sql", "label": "S"}"#,
            ),
            (
                "PUT",
                "/tags?slug=eq.zzz",
                &[],
                r#"{"slug": "zzz", "label": "Z"}"#,
            ),
            (
                "PUT",
                "/memberships?project_id=eq.2&user_id=eq.user-9",
                &[],
                r#"{"project_id": 2, "user_id": "user-9"}"#,
            ),
            (
                "PATCH",
                "/tasks?project_id=eq.1&done=is.false",
                &[],
                r#"{"priority": 5}"#,
            ),
            (
                "PATCH",
                "/tasks?project_id=eq.4",
                &[("Prefer", "count=exact")],
                r#"{"priority": 2}"#,
            ),
            ("PATCH", "/projects?id=eq.3", &[], "{}"),
            (
                "PATCH",
                "/gadgets?id=eq.1&columns=name,color",
                &[("Prefer", "missing=default")],
                r#"{"name": "Widget"}"#,
            ),
            (
                "PATCH",
                "/tasks?or=(id.eq.1,id.eq.2)&title=like.*e*",
                &[],
                r#"{"priority": 4}"#,
            ),
            (
                "PATCH",
                "/tasks?order=id.desc&limit=2",
                &[],
                r#"{"priority": 4}"#,
            ),
            ("DELETE", "/tasks?id=eq.8", &[], ""),
            ("DELETE", "/tags?slug=in.(rest,http)", &[], ""),
            (
                "DELETE",
                "/tasks?project_id=eq.2",
                &[("Prefer", "count=exact")],
                "",
            ),
            ("DELETE", "/tasks?order=id&limit=1&offset=1", &[], ""),
            (
                "POST",
                "/projects?select=id,name",
                &[("Prefer", "return=representation")],
                r#"{"id": 12, "name": "Ganymede", "owner_id": "user-1"}"#,
            ),
            (
                "POST",
                "/tasks?select=title,priority,project:projects(name)",
                &[("Prefer", "return=representation")],
                r#"{"project_id": 2, "title": "Publish", "priority": 2}"#,
            ),
            (
                "POST",
                "/projects?select=id,tasks(title)",
                &[("Prefer", "return=representation")],
                r#"{"id": 13, "name": "Hyperion"}"#,
            ),
            (
                "POST",
                "/tags?select=slug,uses",
                &[
                    ("Prefer", "return=representation"),
                    ("Content-Type", "text/csv"),
                    ("Accept", "text/csv"),
                ],
                "slug,label\nxml,XML\nsvg,SVG",
            ),
            (
                "POST",
                "/tags",
                &[
                    ("Prefer", "return=representation"),
                    ("Accept", "application/vnd.pgrst.object+json"),
                ],
                r#"[{"slug": "one", "label": "One"}]"#,
            ),
            (
                "POST",
                "/tags",
                &[("Prefer", "return=representation")],
                "[]",
            ),
            (
                "POST",
                "/gadgets?select=name,qty,total",
                &[("Prefer", "return=representation")],
                r#"{"name": "Cog", "qty": 4, "unit_price": 2.5}"#,
            ),
            (
                "PATCH",
                "/tasks?id=eq.5&select=id,title,project:projects(name)",
                &[("Prefer", "return=representation")],
                r#"{"done": true}"#,
            ),
            (
                "PATCH",
                "/projects?id=eq.1&select=name,tasks(title)&tasks.order=id.asc",
                &[("Prefer", "return=representation")],
                r#"{"name": "Apollo II"}"#,
            ),
            (
                "PATCH",
                "/tasks?project_id=eq.1&done=is.false",
                &[("Prefer", "return=representation")],
                r#"{"done": true}"#,
            ),
            (
                "PATCH",
                "/tasks?id=eq.999",
                &[("Prefer", "return=representation")],
                r#"{"done": true}"#,
            ),
            (
                "PATCH",
                "/projects?id=eq.3",
                &[("Prefer", "return=representation")],
                "{}",
            ),
            (
                "DELETE",
                "/tasks?id=eq.6&select=id,title,project:projects(id,name)",
                &[("Prefer", "return=representation")],
                "",
            ),
            (
                "PUT",
                "/tags?slug=eq.sql",
                &[("Prefer", "return=representation")],
                r#"{"slug": "sql", "label": "S"}"#,
            ),
            (
                "PUT",
                "/tags?slug=eq.zzz",
                &[("Prefer", "return=representation")],
                r#"{"slug": "zzz", "label": "Z"}"#,
            ),
            (
                "POST",
                "/tags",
                &[(
                    "Prefer",
                    "resolution=merge-duplicates,return=representation",
                )],
                r#"[{"slug": "sql", "label": "SQL!"}]"#,
            ),
        ];
        assert_all_plan(cases);
    }

    pub fn err(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> ApiError {
        plan(method, target, headers, body).expect_err("planning fails")
    }

    pub fn sql(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Statement {
        plan(method, target, headers, body).expect("planning succeeds")
    }

    #[test]
    fn resolution_without_a_conflict_target_is_ignored() {
        let body = r#"{"id": 10, "name": "Europa"}"#;
        let prefer = [("prefer", "resolution=merge-duplicates")];
        let st = sql("POST", "/event_log", &prefer, "{}");
        assert!(st.resolution_ignored && !st.sql.contains("ON CONFLICT"));
        assert!(!sql("POST", "/projects", &prefer, body).resolution_ignored);
        let st = sql("POST", "/projects?on_conflict=name", &prefer, body);
        assert!(!st.resolution_ignored && st.sql.contains("ON CONFLICT (\"name\")"));
        assert!(!sql("POST", "/projects", &[], body).resolution_ignored);
    }

    #[test]
    fn insert_reads_the_body_as_one_json_param() {
        let st = sql("POST", "/projects", &[], r#"{"id": 10, "name": "Europa"}"#);
        assert!(st.sql.starts_with(
            "WITH pgrst_source AS (INSERT INTO \"public\".\"projects\" (\"id\", \"name\") SELECT"
        ));
        assert!(st.sql.contains(
            "json_to_record(pgrst_payload.json_data) AS _(\"id\" integer, \"name\" text)"
        ));
        assert!(st.sql.contains("RETURNING 1"));
        assert_eq!(
            st.params,
            vec![Some(r#"{"id":10,"name":"Europa"}"#.to_string())]
        );
        assert!(!st.read_only);
    }

    #[test]
    fn bulk_insert_uses_a_recordset_and_keys_must_match() {
        let st = sql("POST", "/tags", &[], r#"[{"slug": "a", "label": "A"}]"#);
        assert!(st.sql.contains("json_to_recordset("));
        let e = err(
            "POST",
            "/tags",
            &[],
            r#"[{"slug": "k1", "label": "K1"}, {"slug": "k2"}]"#,
        );
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (400, "PGRST102", "All object keys must match")
        );
    }

    #[test]
    fn bad_bodies_are_pgrst102() {
        for body in ["}{ x = 2", ""] {
            let e = err("POST", "/projects", &[], body);
            assert_eq!(
                (e.code.as_str(), e.message.as_str()),
                ("PGRST102", "Empty or invalid json")
            );
        }
        let e = err(
            "POST",
            "/projects",
            &[("Content-Type", "text/plain")],
            "id=20",
        );
        assert_eq!(e.message, "Content-Type not acceptable: text/plain");
        let e = err(
            "POST",
            "/tags",
            &[("Content-Type", "text/csv")],
            "slug,label\nc1,C1\nc2",
        );
        assert_eq!(e.message, "All lines must have same number of fields");
    }

    #[test]
    fn unknown_columns_are_pgrst204() {
        let e = err(
            "POST",
            "/projects?columns=id,nickname",
            &[],
            r#"{"id": 18}"#,
        );
        assert_eq!(e.status, 400);
        assert_eq!(e.code, "PGRST204");
        assert_eq!(
            e.message,
            "Could not find the 'nickname' column of 'projects' in the schema cache"
        );
        let e = err("PATCH", "/projects?id=eq.3", &[], r#"{"nickname": "C"}"#);
        assert_eq!(e.code, "PGRST204");
    }

    #[test]
    fn columns_param_restricts_the_keys() {
        let st = sql(
            "POST",
            "/projects?columns=id,name",
            &[],
            r#"{"id": 17, "name": "Luna", "not_a_column": 1}"#,
        );
        assert!(st
            .sql
            .contains("INSERT INTO \"public\".\"projects\" (\"id\", \"name\")"));
    }

    #[test]
    fn csv_and_form_bodies_become_json() {
        let st = sql(
            "POST",
            "/projects",
            &[("Content-Type", "text/csv")],
            "id,name,owner_id\n21,Nix,NULL",
        );
        assert_eq!(
            st.params[0].as_deref(),
            Some(r#"[{"id":"21","name":"Nix","owner_id":null}]"#)
        );
        let st = sql(
            "POST",
            "/tags",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "slug=form&label=Form+Data",
        );
        assert_eq!(
            st.params[0].as_deref(),
            Some(r#"{"slug":"form","label":"Form Data"}"#)
        );
    }

    #[test]
    fn missing_default_merges_the_column_defaults() {
        let st = sql(
            "POST",
            "/gadgets?columns=name,color",
            &[("Prefer", "missing=default")],
            r#"[{"name": "D"}]"#,
        );
        assert!(st.sql.contains("jsonb_build_object("));
        assert!(st.sql.contains("jsonb_to_recordset(pgrst_json_defs.val)"));
    }

    #[test]
    fn upserts() {
        let st = sql(
            "POST",
            "/tags",
            &[("Prefer", "resolution=merge-duplicates")],
            r#"{"slug": "a", "label": "A"}"#,
        );
        assert!(st.sql.contains("ON CONFLICT (\"slug\") DO UPDATE SET \"slug\" = EXCLUDED.\"slug\", \"label\" = EXCLUDED.\"label\""));
        assert!(st.sql.contains("pgrst.inserted"));
        let st = sql(
            "POST",
            "/contacts?on_conflict=email",
            &[("Prefer", "resolution=ignore-duplicates")],
            r#"{"email": "a"}"#,
        );
        assert!(st.sql.contains("ON CONFLICT (\"email\") DO NOTHING"));
        // no key at all: the preference has nothing to act on
        let st = sql(
            "POST",
            "/event_log",
            &[("Prefer", "resolution=merge-duplicates")],
            r#"{"kind": "x"}"#,
        );
        assert!(!st.sql.contains("ON CONFLICT"));
    }

    #[test]
    fn put_checks_filters_and_payload() {
        let st = sql(
            "PUT",
            "/memberships?project_id=eq.2&user_id=eq.user-2",
            &[],
            r#"{"project_id": 2, "user_id": "user-2", "role": "owner"}"#,
        );
        assert!(st
            .sql
            .contains("ON CONFLICT (\"project_id\", \"user_id\") DO UPDATE SET"));
        assert!(st.sql.contains("pgrst_body.\"project_id\" = $"));
        let e = err(
            "PUT",
            "/memberships?project_id=eq.2",
            &[],
            r#"{"project_id": 2}"#,
        );
        assert_eq!((e.status, e.code.as_str()), (405, "PGRST105"));
        let e = err("PUT", "/tags?slug=neq.a", &[], r#"{"slug": "a"}"#);
        assert_eq!(e.code, "PGRST105");
        let e = err("PUT", "/event_log?kind=eq.a", &[], r#"{"kind": "a"}"#);
        assert_eq!(e.code, "PGRST105");
        let e = err(
            "PUT",
            "/tags?slug=eq.a",
            &[],
            r#"{"slug": "b", "label": "B"}"#,
        );
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST115"));
        let e = err(
            "PUT",
            "/tags?slug=eq.a",
            &[],
            r#"[{"slug": "a"}, {"slug": "a"}]"#,
        );
        assert_eq!(e.code, "PGRST115");
        let st = sql(
            "PUT",
            "/tags?slug=eq.a",
            &[],
            r#"[{"slug": "a", "label": "A"}, {"slug": "b", "label": "B"}]"#,
        );
        assert!(st.sql.contains("WHERE pgrst_body.\"slug\" = $"));
        let e = err(
            "PUT",
            "/tags?slug=eq.a",
            &[],
            r#"[{"slug": "b", "label": "B"}, {"slug": "c", "label": "C"}]"#,
        );
        assert_eq!(e.code, "PGRST115");
        // numbers match their text form
        assert!(plan("PUT", "/projects?id=eq.5", &[], r#"{"id": 5, "name": "x"}"#).is_ok());
    }

    #[test]
    fn update_and_delete_filter_on_the_table() {
        let st = sql(
            "PATCH",
            "/tasks?project_id=eq.1&done=is.false",
            &[],
            r#"{"priority": 5}"#,
        );
        assert!(st
            .sql
            .contains("UPDATE \"public\".\"tasks\" SET \"priority\" = pgrst_body.\"priority\""));
        assert!(st.sql.contains("\"public\".\"tasks\".\"project_id\" = $"));
        assert!(st.sql.contains("\"public\".\"tasks\".\"done\" IS FALSE"));
        let st = sql("PATCH", "/projects?id=eq.3", &[], "{}");
        assert!(st
            .sql
            .contains("SELECT 1 FROM \"public\".\"projects\" WHERE false"));
        let st = sql("DELETE", "/tasks?id=eq.8", &[("Prefer", "count=exact")], "");
        assert!(st.sql.contains("DELETE FROM \"public\".\"tasks\" WHERE"));
        assert!(st.sql.contains("pg_catalog.count(*) AS total_result_set"));
        let st = sql("DELETE", "/tasks?order=id&limit=1", &[], "");
        assert!(st.sql.contains("USING pgrst_affected_rows"));
    }

    #[test]
    fn headers_only_builds_a_location() {
        let st = sql(
            "POST",
            "/memberships",
            &[("Prefer", "return=headers-only")],
            r#"{"project_id": 2, "user_id": "u"}"#,
        );
        assert!(st.sql.contains("RETURNING \"public\".\"memberships\".\"project_id\", \"public\".\"memberships\".\"user_id\""));
        assert!(st.params.contains(&Some("/memberships?".to_string())));
        assert!(st.params.contains(&Some("user_id=".to_string())));
    }

    #[test]
    fn unknown_table_is_pgrst205() {
        let e = err("POST", "/nope", &[], "{}");
        assert_eq!(e.code, "PGRST205");
    }

    #[test]
    fn representation_returns_only_the_needed_columns() {
        let rep = [("Prefer", "return=representation")];
        let st = sql(
            "PATCH",
            "/tasks?id=eq.5&select=id,title,project:projects(name)",
            &rep,
            r#"{"done": true}"#,
        );
        assert!(st.sql.contains(
            "RETURNING \"public\".\"tasks\".\"id\", \"public\".\"tasks\".\"title\", \"public\".\"tasks\".\"project_id\")"
        ));
        let st = sql(
            "POST",
            "/projects?select=id,tasks(title)",
            &rep,
            r#"{"id": 13, "name": "H"}"#,
        );
        assert!(st.sql.contains("RETURNING \"public\".\"projects\".\"id\")"));
        let st = sql("POST", "/projects", &rep, r#"{"id": 13, "name": "H"}"#);
        assert!(st.sql.contains("RETURNING \"public\".\"projects\".*)"));
    }
}
