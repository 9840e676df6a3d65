//! [`ApiRequest`] + [`SchemaCache`] -> one parameterized SQL [`Statement`].
//!
//! Every statement returns exactly one row with these columns, in this order:
//! `total_result_set bigint` (NULL unless a count was asked for), `page_total bigint` (rows in
//! the response), `body text` (the response body, built by Postgres), `response_headers text`
//! and `response_status text` (the `response.*` settings, read at the end of the statement),
//! `location text` (for `Prefer: return=headers-only` inserts, else NULL).
//! Values are always bind parameters (`$n`, all of type text); identifiers are always quoted.
//!
//! Layout: `sql` (quoting, params), `filter` (filters/logic -> SQL), `relationships` (embed
//! resolution), `read` (GET/HEAD and the shared read-body builder used by mutations and RPC).

// ApiError is large by design (PostgREST's four fields + headers); it is only built on the
// error path.
#![allow(clippy::result_large_err)]

pub mod filter;
pub mod mutate;
pub mod read;
pub mod relationships;
pub mod rpc;
pub mod sql;

use crate::error::ApiError;
use crate::http::{ApiRequest, Method, Resource};
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
    match (&req.resource, req.method) {
        (Resource::Relation(name), Method::Get | Method::Head) => {
            read::plan_read(req, name, schema, settings)
        }
        (Resource::Relation(_), Method::Options) | (Resource::Root, _) => Err(ApiError::new(
            405,
            "PGRST117",
            "OPTIONS and the root endpoint are not supported yet",
        )),
        (Resource::Relation(_), _) => mutate::plan_mutation(req, schema, settings),
        (Resource::Rpc(_), _) => rpc::plan_rpc(req, schema, settings),
    }
}
