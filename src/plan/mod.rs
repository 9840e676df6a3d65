//! [`ApiRequest`] + [`SchemaCache`] -> one parameterized SQL [`Statement`].
//!
//! Every statement returns exactly one row, the same columns for all: see [`result_row`].
//! Values are always bind parameters (`$n`, all of type text); identifiers are always quoted.
//!
//! Layout: `sql` (quoting, params), `filter` (filters/logic -> SQL), `relationships` (embed
//! resolution), `read` (GET/HEAD and the shared read-body builder used by mutations and RPC),
//! `mutate` (POST/PATCH/PUT/DELETE), `rpc` (`/rpc/name`: overloads, arguments, the call),
//! `openapi` (`/`: the schema description), `result_row` (the row every statement returns).

// ApiError is large by design (PostgREST's four fields + headers); it is only built on the
// error path.
#![allow(clippy::result_large_err)]

pub mod filter;
pub mod mutate;
pub mod openapi;
pub mod openapi31;
pub mod read;
pub mod relationships;
pub mod result_row;
pub mod rpc;
pub mod sql;

use crate::api_request::{ApiRequest, Explain, Method, Resource};
use crate::error::ApiError;
use crate::schema_cache::SchemaCache;
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    /// `$1..$n`, all passed as text (NULL when `None`)
    pub params: Vec<Option<String>>,
    /// run in a read-only transaction (GET/HEAD)
    pub(crate) read_only: bool,
    /// `Prefer: count=planned|estimated` on reads: the planner's row estimate enters the total
    pub(crate) estimate: Option<Estimate>,
    /// `Prefer: resolution=` was given but has nothing to resolve on (an insert into a table
    /// without a primary key and no `on_conflict`): not reported in Preference-Applied
    pub(crate) resolution_ignored: bool,
    /// `sql` is `EXPLAIN (...) <the statement>` (`Accept: application/vnd.pgrst.plan`): its
    /// rows are the plan, the response body (see [`explained`])
    pub(crate) explain: Option<Explain>,
}

/// The planner's estimate of a read's total (PostgREST's planned and estimated counts). An
/// `EXPLAIN` cannot run inside the statement, so the executor runs it after the statement, with
/// the same params, and combines its top plan's "Plan Rows" with the statement's own total.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// the rows to count (the root filters, no paging); `EXPLAIN (FORMAT JSON)` of it
    pub sql: String,
    pub kind: EstimateKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimateKind {
    /// the estimate is the total (the statement counts nothing)
    Planned,
    /// the statement counts at most `max_rows + 1` rows exactly; beyond `max_rows` (and always
    /// without a `db_max_rows`, as PostgREST compares with an absent limit) the larger of that
    /// count and the estimate
    Estimated { max_rows: Option<i64> },
}

impl Estimate {
    /// Does the statement's own total need the planner's estimate?
    pub fn needed(&self, counted: Option<i64>) -> bool {
        match self.kind {
            EstimateKind::Planned => true,
            EstimateKind::Estimated { max_rows } => match (counted, max_rows) {
                (Some(n), Some(max)) => n > max,
                (Some(_), None) => true,
                (None, _) => false,
            },
        }
    }

    /// The total, given the statement's own total and the planner's estimate.
    pub fn total(&self, counted: Option<i64>, planned: i64) -> Option<i64> {
        match self.kind {
            EstimateKind::Planned => Some(planned),
            EstimateKind::Estimated { .. } => counted.map(|n| n.max(planned)),
        }
    }

    /// The top plan's "Plan Rows" from `EXPLAIN (FORMAT JSON)` output.
    pub fn plan_rows(explain_json: &str) -> Option<i64> {
        let v: serde_json::Value = serde_json::from_str(explain_json).ok()?;
        let rows = v.get(0)?.get("Plan")?.get("Plan Rows")?;
        rows.as_i64()
            .or_else(|| rows.as_f64().map(|f| f.round() as i64))
    }
}

pub fn plan(
    req: &ApiRequest,
    schema: &SchemaCache,
    settings: &Settings,
) -> Result<Statement, ApiError> {
    let stmt = plan_statement(req, schema, settings)?;
    // as PostgREST, only the reads, writes and calls have a plan to show (not OPTIONS, not the
    // OpenAPI root)
    match (&req.resource, req.method, req.explain) {
        (Resource::Relation(_) | Resource::Rpc(_), m, Some(explain)) if m != Method::Options => {
            Ok(explained(stmt, explain))
        }
        // the OpenAPI description has no plan: the plan media type is not available there
        (Resource::Root, Method::Get | Method::Head, Some(explain)) => {
            Err(ApiError::media_type_error(&[explain.mime(req.accept)]))
        }
        _ => Ok(stmt),
    }
}

/// The statement's EXPLAIN instead of its result: same params, same read-only mode. The
/// executor answers its rows as the body. Like EXPLAIN itself, `options=analyze` runs the
/// statement, and its writes are committed unless `Prefer: tx=rollback` (or `db_tx_end`) rolls
/// the transaction back, as in PostgREST.
fn explained(stmt: Statement, explain: Explain) -> Statement {
    Statement {
        sql: format!("EXPLAIN ({}) {}", explain.sql_options(), stmt.sql),
        estimate: None,
        explain: Some(explain),
        ..stmt
    }
}

fn plan_statement(
    req: &ApiRequest,
    schema: &SchemaCache,
    settings: &Settings,
) -> Result<Statement, ApiError> {
    match (&req.resource, req.method) {
        (Resource::Relation(name), Method::Get | Method::Head) => {
            read::plan_read(req, name, schema, settings)
        }
        (Resource::Relation(name), Method::Options) => options(req, name, schema),
        (Resource::Root, Method::Get | Method::Head) => openapi::plan_root(req, schema, settings),
        (Resource::Root, Method::Options) => Ok(allow_statement("OPTIONS,GET,HEAD")),
        (Resource::Root, m) => Err(ApiError::unsupported_method(m.as_str())),
        (Resource::Relation(_), _) => mutate::plan_mutation(req, schema),
        (Resource::Rpc(_), _) => rpc::plan_rpc(req, schema, settings),
    }
}

/// OPTIONS `/name`: the body is the `Allow` header value (`respond` turns it into the header).
fn options(req: &ApiRequest, name: &str, schema: &SchemaCache) -> Result<Statement, ApiError> {
    let table = schema
        .table(&req.schema, name)
        .ok_or_else(|| ApiError::table_not_found(&req.schema, name))?;
    let mut allow = vec!["OPTIONS", "GET", "HEAD"];
    if table.insertable {
        allow.push("POST");
    }
    if table.insertable && table.updatable && !table.pk.is_empty() {
        allow.push("PUT");
    }
    if table.updatable {
        allow.push("PATCH");
    }
    if table.deletable {
        allow.push("DELETE");
    }
    Ok(allow_statement(&allow.join(",")))
}

/// A statement whose body is an `Allow` header value (`respond` answers OPTIONS with it).
fn allow_statement(allow: &str) -> Statement {
    Statement {
        sql: result_row::ResultRow {
            page_total: "0::bigint",
            body: Some("$1::text"),
            ..Default::default()
        }
        .select(),
        params: vec![Some(allow.to_string())],
        read_only: true,
        estimate: None,
        resolution_ignored: false,
        explain: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, resource: Resource) -> ApiRequest {
        ApiRequest {
            method,
            resource,
            schema: "public".into(),
            ..ApiRequest::default()
        }
    }

    #[test]
    fn options_lists_the_allowed_methods() {
        let sc = crate::plan::mutate::tests::cache();
        let settings = Settings::default();
        let st = plan(
            &req(Method::Options, Resource::Relation("books".into())),
            &sc,
            &settings,
        )
        .unwrap();
        assert_eq!(
            st.params,
            vec![Some("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE".to_string())]
        );
        let st = plan(
            &req(
                Method::Options,
                Resource::Relation("project_task_counts".into()),
            ),
            &sc,
            &settings,
        )
        .unwrap();
        assert_eq!(st.params, vec![Some("OPTIONS,GET,HEAD".to_string())]);
        // without a primary key there is no PUT
        let mut no_pk = sc.clone();
        no_pk
            .tables
            .iter_mut()
            .filter(|t| t.name == "books")
            .for_each(|t| t.pk.clear());
        let st = plan(
            &req(Method::Options, Resource::Relation("books".into())),
            &no_pk,
            &settings,
        )
        .unwrap();
        assert_eq!(
            st.params,
            vec![Some("OPTIONS,GET,HEAD,POST,PATCH,DELETE".to_string())]
        );
        let e = plan(
            &req(Method::Get, Resource::Relation("nope".into())),
            &sc,
            &settings,
        )
        .unwrap_err();
        assert_eq!(e.code, "PGRST205");
    }

    #[test]
    fn plan_media_types_explain_the_statement() {
        let sc = crate::plan::mutate::tests::cache();
        let settings = Settings::default();
        let explain = Explain {
            json: true,
            analyze: true,
            wal: true,
            ..Explain::default()
        };
        let mut r = req(Method::Get, Resource::Relation("books".into()));
        let plain = plan(&r, &sc, &settings).unwrap();
        r.explain = Some(explain);
        let st = plan(&r, &sc, &settings).unwrap();
        assert_eq!(
            st.sql,
            format!("EXPLAIN (FORMAT JSON, ANALYZE, WAL) {}", plain.sql)
        );
        assert_eq!((st.params, st.read_only), (plain.params, true));
        assert_eq!(st.explain, Some(explain));
        let mut r = req(Method::Delete, Resource::Relation("books".into()));
        r.explain = Some(Explain::default());
        let st = plan(&r, &sc, &settings).unwrap();
        assert!(st
            .sql
            .starts_with("EXPLAIN (FORMAT TEXT) WITH pgrst_source AS (DELETE"));
        assert!(!st.read_only);
        let mut r = req(Method::Options, Resource::Relation("books".into()));
        r.explain = Some(explain);
        assert_eq!(plan(&r, &sc, &settings).unwrap().explain, None);
        let mut r = req(Method::Get, Resource::Root);
        r.explain = Some(explain);
        let e = plan(&r, &sc, &settings).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST107"));
    }

    #[test]
    fn estimates_combine_like_postgrest() {
        let planned = Estimate {
            sql: String::new(),
            kind: EstimateKind::Planned,
        };
        assert!(planned.needed(None));
        assert_eq!(planned.total(None, 7), Some(7));
        let est = |max_rows| Estimate {
            sql: String::new(),
            kind: EstimateKind::Estimated { max_rows },
        };
        assert!(!est(Some(2)).needed(Some(2)));
        assert!(est(Some(2)).needed(Some(3)));
        assert!(est(None).needed(Some(3)));
        assert_eq!(est(Some(2)).total(Some(3), 40), Some(40));
        assert_eq!(est(Some(2)).total(Some(3), 1), Some(3));
        assert_eq!(
            Estimate::plan_rows(r#"[{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 12}}]"#),
            Some(12)
        );
        assert_eq!(Estimate::plan_rows("[]"), None);
    }
}
