//! Loads the schema cache through SPI (inside the request's transaction, before the role switch).

use super::{SchemaCache, INTROSPECTION_SQL};
use crate::error::ApiError;
use crate::spi::{query_row, Param};
use pgrx::pg_sys;

/// `Ok(None)` when the extension is not installed in this database (the API then answers 503).
pub fn load(schemas: &[String]) -> Result<Option<SchemaCache>, ApiError> {
    let installed = query_row(
        "SELECT pg_catalog.count(*)::pg_catalog.text FROM pg_catalog.pg_extension WHERE extname = 'serendb_data_api'",
        &[],
    )?;
    if installed.first().cloned().flatten().as_deref() != Some("1") {
        return Ok(None);
    }
    let array_literal = crate::plan::sql::array_literal(schemas);
    let row = query_row(
        INTROSPECTION_SQL,
        &[Param::Typed(pg_sys::TEXTARRAYOID, Some(array_literal))],
    )?;
    let json = row
        .first()
        .cloned()
        .flatten()
        .ok_or_else(|| ApiError::internal("schema introspection returned nothing"))?;
    let sc = SchemaCache::from_json(&json)
        .map_err(|e| ApiError::internal(format!("cannot read the schema cache: {e}")))?;
    LAST_JSON.with(|j| *j.borrow_mut() = json);
    Ok(Some(sc))
}

thread_local! {
    /// The document the current schema cache was built from (the admin server's
    /// `/schema_cache`).
    static LAST_JSON: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

pub fn last_json() -> String {
    LAST_JSON.with(|j| j.borrow().clone())
}
