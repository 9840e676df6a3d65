//! What the API knows about the database: tables, views, columns, keys, relationships,
//! functions. Loaded by one introspection query (`introspect.sql`) returning one JSON document,
//! deserialized into [`model::SchemaCache`].

pub mod model;
pub mod shared;
pub mod unchanged;

#[cfg(feature = "pg15")]
pub mod load;

pub use model::{Names, SchemaCache};

/// The introspection query. Takes `$1` = text[] of exposed schemas; returns one json value.
pub const INTROSPECTION_SQL: &str = include_str!("introspect.sql");

/// A cheap fingerprint of the catalog rows the introspection reads (no parameters; returns
/// one text value): unchanged means a reload would load the same cache.
pub const FINGERPRINT_SQL: &str = include_str!("fingerprint.sql");

/// The fingerprint split by relation (`$1` text[] strings a relation's name must occur in, or
/// NULL for all; `$2`/`$3` text[] (schema, name) pairs; returns one json value).
pub const RELATION_HASHES_SQL: &str = include_str!("relation_hashes.sql");
