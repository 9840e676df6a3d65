//! Loads the schema cache through SPI (inside the request's transaction, before the role switch).

use super::{FINGERPRINT_SQL, INTROSPECTION_SQL};
use crate::error::ApiError;
use crate::spi::{query_row, Param};
use pgrx::pg_sys;

/// The introspection document and the catalog fingerprint it was read at.
pub struct Introspected {
    pub fingerprint: String,
    pub json: String,
}

/// Both queries as one statement: one snapshot, so the document is exactly the catalog state
/// the fingerprint names (two statements could straddle a DDL commit, and a document newer than
/// its fingerprint would be kept, and shared, when the catalog later returns to that
/// fingerprint, e.g. GRANT then REVOKE).
fn combined_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| format!("SELECT ({FINGERPRINT_SQL}\n), ({INTROSPECTION_SQL}\n)"))
}

/// `Ok(None)` when the extension is not installed in this database (the API then answers 503).
pub fn introspect(schemas: &[String]) -> Result<Option<Introspected>, ApiError> {
    let installed = query_row(
        "SELECT pg_catalog.count(*)::pg_catalog.text FROM pg_catalog.pg_extension WHERE extname = 'serendb_data_api'",
        &[],
    )?;
    if installed.first().cloned().flatten().as_deref() != Some("1") {
        return Ok(None);
    }
    let array_literal = crate::plan::sql::array_literal(schemas);
    let mut row = query_row(
        combined_sql(),
        &[Param::Typed(pg_sys::TEXTARRAYOID, Some(array_literal))],
    )?
    .into_iter();
    match (row.next().flatten(), row.next().flatten()) {
        (Some(fingerprint), Some(json)) => Ok(Some(Introspected { fingerprint, json })),
        _ => Err(ApiError::internal("schema introspection returned nothing")),
    }
}

thread_local! {
    /// The document the current schema cache was built from (the admin server's
    /// `/schema_cache`).
    static LAST_JSON: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

pub fn set_last_json(json: String) {
    LAST_JSON.with(|j| *j.borrow_mut() = json);
}

pub fn last_json() -> String {
    LAST_JSON.with(|j| j.borrow().clone())
}
