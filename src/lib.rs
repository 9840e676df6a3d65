//! serendb_data_api: a PostgREST-compatible REST API served from inside PostgreSQL.
//!
//! The request pipeline, one module per step:
//! worker (listener + executors) -> api_request -> auth -> parse -> schema_cache -> plan -> execute -> respond.
//! Everything except `worker`, `execute`, `spi`, `caches`, `session`, `guc` and
//! `schema_cache::load` is pure Rust and unit-tested without Postgres (`cargo test
//! --no-default-features`). docs/ARCHITECTURE.md has each module's one job.

// ApiError carries a status, four strings and headers; requests fail rarely and once, so the
// size of Result<_, ApiError> costs nothing measurable and boxing it would only add noise.
#![allow(clippy::result_large_err)]
// The modules are crate-private, so the compiler reports what nothing uses (in the `pg15`
// build: without it the Postgres side that uses much of the pure code is missing, so that
// build does not count dead code).
#![cfg_attr(not(feature = "pg15"), allow(dead_code, unused_imports))]

mod api_request;
mod auth;
mod cors;
mod error;
mod http_server;
mod ipc;
mod metrics;
mod observe;
mod parse;
mod plan;
mod replica;
mod request_settings;
mod respond;
mod schema_cache;
mod settings;

// The public surface: what `fuzz/` and `examples/` drive, the pure pipeline steps. The
// pipeline's own types keep their fields crate-private (so the compiler sees unused ones);
// callers outside use these functions: `Settings::set`, `ServerLimits::with_max_body`,
// `SchemaCache::{from_json, names}`, `QueryResult::{from_row, with_resolution_ignored}`,
// `ApiRequest::top_level_range`, and a `Statement`'s `sql` and `params`. Only the wire records
// (`RawRequest` in, `HttpResponse` out) are plain data.
pub use api_request::{parse_request, ApiRequest, RawRequest};
pub use auth::authenticate_with_secret;
pub use error::ApiError;
pub use http_server::{encode_response, serve_connection};
pub use metrics::Metrics;
pub use parse::{parse_filter, parse_query};
pub use plan::{plan, Statement};
pub use respond::{error_response, respond, HttpResponse, QueryResult};
pub use schema_cache::{Names as SchemaNames, SchemaCache};
pub use settings::{ServerLimits, Settings, TxEnd};

/// The executor <-> listener frames (fuzzed for lossless round trips).
pub mod frames {
    pub use crate::ipc::{decode_request, decode_response, encode_request, encode_response};
}

#[cfg(feature = "pg15")]
mod caches;
#[cfg(feature = "pg15")]
mod execute;
#[cfg(feature = "pg15")]
mod guc;
#[cfg(feature = "pg15")]
mod session;
#[cfg(feature = "pg15")]
mod spi;
#[cfg(feature = "pg15")]
mod worker;

#[cfg(feature = "pg15")]
pgrx::pg_module_magic!();

#[cfg(feature = "pg15")]
pgrx::extension_sql_file!("../sql/serendb_data_api.sql", name = "bootstrap", bootstrap);

/// Registers the settings and, when loaded through `shared_preload_libraries`, the HTTP listener.
#[cfg(feature = "pg15")]
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::register();
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        worker::register_listener();
        metrics::init();
    }
}
