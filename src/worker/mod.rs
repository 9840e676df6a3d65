//! The background workers.
//!
//! One *listener* (static worker, started with the postmaster) owns the HTTP port. It never runs
//! SQL on behalf of a client: it speaks HTTP/1.1 (`http_server`: httparse on tokio) and hands
//! each request to an idle *executor* over a Unix socket (`ipc` frames). Executors (dynamic
//! workers, `serendb_data_api.workers` of them) are ordinary Postgres backends connected to the
//! served database; each runs one request at a time. Because requests, not connections, are
//! queued, a slow query on one executor never holds up a keep-alive connection whose next
//! request could go to another, idle executor.

pub mod admin;
pub mod executor;
pub mod jwks_fetch;
pub mod listener;
mod observed;
mod standby;

use pgrx::bgworkers::{BackgroundWorkerBuilder, BgWorkerStartTime};
use std::time::Duration;

/// Relative to the data directory (a backend's working directory): short, and private to the
/// cluster.
pub fn socket_path(port: i32) -> String {
    format!("serendb_data_api.{port}.sock")
}

/// The argument the supervisor gives executor `slot`: its number, and whether a failed
/// connection may be logged (bit 16).
pub fn executor_arg(slot: usize, verbose: bool) -> pgrx::pg_sys::Datum {
    pgrx::pg_sys::Datum::from(slot as i64 | if verbose { 1 << 16 } else { 0 })
}

pub fn probe_is_verbose(arg: pgrx::pg_sys::Datum) -> bool {
    arg.value() & (1 << 16) != 0
}

pub fn register_listener() {
    BackgroundWorkerBuilder::new("serendb_data_api listener")
        .set_type("serendb_data_api listener")
        .set_function("serendb_data_api_listener_main")
        .set_library("serendb_data_api")
        .enable_spi_access()
        // On a hot standby the API serves reads during recovery (no writes, no LISTEN).
        .set_start_time(BgWorkerStartTime::ConsistentState)
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
}
