//! The PostgREST query grammar: query string -> [`ast::QueryParams`].
//!
//! Pure Rust (nom), no Postgres: a malformed query never reaches the database.

pub mod ast;

use crate::error::ApiError;
use ast::QueryParams;

/// Parses a raw (still percent-encoded) query string.
///
/// `is_rpc` changes how unknown keys are treated: for RPC they may be function arguments.
pub fn parse_query(query: &str, is_rpc: bool) -> Result<QueryParams, ApiError> {
    let _ = (query, is_rpc);
    Ok(QueryParams::default())
}
