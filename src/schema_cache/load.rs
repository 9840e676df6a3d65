//! Loads the schema cache through SPI (inside the request's transaction, before the role switch).

use super::{FINGERPRINT_SQL, INTROSPECTION_SQL, RELATION_HASHES_SQL};
use crate::error::ApiError;
use crate::spi::{query_row, Param};
use pgrx::pg_sys;

/// The introspection document, the catalog fingerprint and the relation hashes it was read at.
pub struct Introspected {
    pub fingerprint: String,
    pub doc: super::shared::Document,
}

/// The three queries as one statement: one snapshot, so the document is exactly the catalog
/// state the fingerprint and the hashes name (two statements could straddle a DDL commit, and a
/// document newer than its fingerprint would be kept, and shared, when the catalog later
/// returns to that fingerprint, e.g. GRANT then REVOKE).
fn combined_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        // all relations: its parameters become NULLs ($1 is the introspection's)
        let hashes = RELATION_HASHES_SQL
            .replace("$1::", "NULL::")
            .replace("$2::", "NULL::")
            .replace("$3::", "NULL::");
        format!("SELECT ({FINGERPRINT_SQL}\n), ({INTROSPECTION_SQL}\n), ({hashes}\n)")
    })
}

/// The current hashes of the relations whose name occurs in `strings` and of `pairs`.
pub fn relation_hashes(
    strings: &[String],
    pairs: &[(String, String)],
) -> Result<super::unchanged::Hashes, ApiError> {
    let array = |v: Vec<&String>| {
        Param::Typed(
            pg_sys::TEXTARRAYOID,
            Some(crate::plan::sql::array_literal(
                &v.into_iter().cloned().collect::<Vec<_>>(),
            )),
        )
    };
    let row = query_row(
        RELATION_HASHES_SQL,
        &[
            array(strings.iter().collect()),
            array(pairs.iter().map(|p| &p.0).collect()),
            array(pairs.iter().map(|p| &p.1).collect()),
        ],
    )?;
    let json = row
        .first()
        .cloned()
        .flatten()
        .ok_or_else(|| ApiError::internal("the relation hashes query returned nothing"))?;
    super::unchanged::Hashes::from_json(&json)
        .map_err(|e| ApiError::internal(format!("cannot read the relation hashes: {e}")))
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
    match (
        row.next().flatten(),
        row.next().flatten(),
        row.next().flatten(),
    ) {
        (Some(fingerprint), Some(json), Some(hashes)) => Ok(Some(Introspected {
            fingerprint,
            doc: super::shared::Document { json, hashes },
        })),
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
