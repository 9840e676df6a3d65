//! [`ApiRequest`] + [`SchemaCache`] -> one parameterized SQL [`Statement`].
//!
//! Every statement returns exactly one row with these columns, in this order:
//! `total_result_set bigint` (NULL unless a count was asked for), `page_total bigint` (rows in
//! the response), `body text` (the response body, built by Postgres), `response_headers text`
//! and `response_status text` (the `response.*` settings, read at the end of the statement),
//! `location text` (for `Prefer: return=headers-only` inserts, else NULL).
//! Values are always bind parameters (`$n`, all of type text); identifiers are always quoted.

use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::schema_cache::SchemaCache;
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    /// `$1..$n`, all passed as text (NULL when `None`)
    pub params: Vec<Option<String>>,
    /// run in a read-only transaction (GET/HEAD)
    pub read_only: bool,
}

pub fn plan(
    req: &ApiRequest,
    schema: &SchemaCache,
    settings: &Settings,
) -> Result<Statement, ApiError> {
    let _ = (req, schema, settings);
    Err(ApiError::internal("planner not implemented"))
}
