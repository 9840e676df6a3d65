//! serendb_data_api: a PostgREST-compatible REST API served from inside PostgreSQL.
//!
//! The request pipeline, one module per step:
//! worker (listener + executors) -> api_request -> auth -> parse -> schema_cache -> plan -> execute -> respond.
//! Everything except `worker`, `execute`, `spi`, `caches`, `guc` and `schema_cache::load` is
//! pure Rust and unit-tested without Postgres (`cargo test --no-default-features`).

// ApiError carries a status, four strings and headers; requests fail rarely and once, so the
// size of Result<_, ApiError> costs nothing measurable and boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod api_request;
pub mod auth;
pub mod error;
pub mod http_server;
pub mod ipc;
pub mod metrics;
pub mod observe;
pub mod parse;
pub mod plan;
pub mod replica;
pub mod respond;
pub mod schema_cache;
pub mod settings;

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

#[cfg(all(test, feature = "pg15"))]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
