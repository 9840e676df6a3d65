//! GET/HEAD on tables and views, and the read-body builder shared with the mutation and RPC
//! planners (`return=representation`, set-returning functions).

use super::sql::Params;
use super::Statement;
use crate::error::ApiError;
use crate::http::{ApiRequest, MediaType};
use crate::parse::ast::QueryParams;
use crate::schema_cache::model::Table;
use crate::schema_cache::SchemaCache;
use crate::settings::Settings;

/// Which parts of the query string apply to the root rows of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RootOptions {
    /// apply the root filters and logic trees (`id=eq.1`, `or=(...)`): true for RPC rows,
    /// false for mutation results (the mutation already filtered them)
    pub filters: bool,
    /// `LIMIT`/`OFFSET` for the root rows: `(offset, limit)`
    pub page: Option<(i64, Option<i64>)>,
}

/// Builds `SELECT <page_total>, <body> FROM (...)`: a query yielding exactly one row with two
/// columns, `page_total bigint` and `body text`, built from the rows of `source`.
///
/// - `source`: a FROM item whose rows have the columns of `table` (e.g. the CTE name
///   `pgrst_source` holding `INSERT ... RETURNING *`, or `"public"."tasks"`). It is aliased to
///   the table's name inside.
/// - Applies `query.select` (columns, aliases, casts, JSON paths, embeds through foreign keys of
///   `table`, spreads), embedded filters/order/limit (`rel.col=...`), and the root `order`.
///   Root filters and root limit/offset are NOT applied (see [`read_body_sql_with`]).
/// - `accept` picks the body: JSON array, single object, nulls-stripped variants, CSV.
///   `TextPlain`/`OctetStream` give 406 PGRST107.
/// - Values go into `ctx` as bind parameters; use the same `Params` for the whole statement.
///
/// Usage (mutation): `WITH pgrst_source AS (INSERT ... RETURNING *) SELECT NULL::bigint AS
/// total_result_set, _b.page_total, _b.body, ... FROM (<this>) _b`.
pub fn read_body_sql(
    ctx: &mut Params,
    schema: &SchemaCache,
    table: &Table,
    source: &str,
    query: &QueryParams,
    accept: MediaType,
) -> Result<String, ApiError> {
    read_body_sql_with(ctx, schema, table, source, query, accept, RootOptions::default())
}

/// [`read_body_sql`] with control over root filters and paging (for set-returning functions:
/// `RootOptions { filters: true, page: ... }`).
pub fn read_body_sql_with(
    ctx: &mut Params,
    schema: &SchemaCache,
    table: &Table,
    source: &str,
    query: &QueryParams,
    accept: MediaType,
    root: RootOptions,
) -> Result<String, ApiError> {
    let _ = (ctx, schema, table, source, query, accept, root);
    Err(ApiError::internal("read planner not implemented"))
}

/// `SELECT pg_catalog.count(*) FROM source WHERE <root filters>` (with the joins that inner
/// embeds and embed null-filters need): the `total_result_set` for `Prefer: count=exact`.
pub fn count_sql(
    ctx: &mut Params,
    schema: &SchemaCache,
    table: &Table,
    source: &str,
    query: &QueryParams,
) -> Result<String, ApiError> {
    let _ = (ctx, schema, table, source, query);
    Err(ApiError::internal("read planner not implemented"))
}

pub(crate) fn plan_read(
    req: &ApiRequest,
    name: &str,
    schema: &SchemaCache,
    settings: &Settings,
) -> Result<Statement, ApiError> {
    let _ = (req, name, schema, settings);
    Err(ApiError::internal("read planner not implemented"))
}
