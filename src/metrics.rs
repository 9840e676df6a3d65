//! Counters and gauges for `GET /metrics` on the admin server, in Prometheus text format.
//!
//! One [`Metrics`] lives in Postgres shared memory (requested in `_PG_init`), so the listener
//! and every executor add to the same numbers: plain atomics, no lock, a handful of relaxed
//! increments per request. Names follow PostgREST's metrics where it has one (`pgrst_*`);
//! ours are `serendb_data_api_*`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Request methods counted separately; anything else is "OTHER".
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "OTHER",
];

/// Upper bounds (seconds) of the request-duration histogram's buckets; +Inf is implied.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

const FIRST_STATUS: usize = 100;
const STATUSES: usize = 500;

#[repr(C)]
pub struct Metrics {
    requests: [[AtomicU64; STATUSES]; METHODS.len()],
    duration_buckets: [AtomicU64; BUCKETS.len() + 1],
    duration_sum_us: AtomicU64,
    schema_cache_query_time_us: AtomicU64,
    schema_cache_loads_ok: AtomicU64,
    schema_cache_loads_failed: AtomicU64,
    schema_cache_introspections: AtomicU64,
    schema_cache_shared_loads: AtomicU64,
    schema_cache_shared_load_us: AtomicU64,
    schema_cache_load_wait_us: AtomicU64,
    schema_cache_kept: AtomicU64,
    pub pool_available: AtomicI64,
    pub pool_waiting: AtomicI64,
    pub pool_max: AtomicI64,
    pool_timeouts: AtomicU64,
    jwt_cache_requests: AtomicU64,
    jwt_cache_hits: AtomicU64,
    executor_busy_us: AtomicU64,
    pub connections_open: AtomicI64,
    connections_total: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// Zero-initialised atomics (a `Default` impl cannot be derived for arrays this long).
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_ROW: [AtomicU64; STATUSES] = [ZERO; STATUSES];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn method_index(method: &str) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

impl Metrics {
    pub const fn new() -> Metrics {
        Metrics {
            requests: [ZERO_ROW; METHODS.len()],
            duration_buckets: [ZERO; BUCKETS.len() + 1],
            duration_sum_us: ZERO,
            schema_cache_query_time_us: ZERO,
            schema_cache_loads_ok: ZERO,
            schema_cache_loads_failed: ZERO,
            schema_cache_introspections: ZERO,
            schema_cache_shared_loads: ZERO,
            schema_cache_shared_load_us: ZERO,
            schema_cache_load_wait_us: ZERO,
            schema_cache_kept: ZERO,
            pool_available: AtomicI64::new(0),
            pool_waiting: AtomicI64::new(0),
            pool_max: AtomicI64::new(0),
            pool_timeouts: ZERO,
            jwt_cache_requests: ZERO,
            jwt_cache_hits: ZERO,
            executor_busy_us: ZERO,
            connections_open: AtomicI64::new(0),
            connections_total: ZERO,
            bytes_in: ZERO,
            bytes_out: ZERO,
        }
    }

    /// One answered request: its method, status, wall time and body sizes.
    pub fn request(&self, method: &str, status: u16, seconds: f64, bytes_in: u64, bytes_out: u64) {
        let s = (status as usize).clamp(FIRST_STATUS, FIRST_STATUS + STATUSES - 1) - FIRST_STATUS;
        self.requests[method_index(method)][s].fetch_add(1, Relaxed);
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.duration_buckets[bucket].fetch_add(1, Relaxed);
        self.duration_sum_us
            .fetch_add((seconds * 1e6) as u64, Relaxed);
        self.bytes_in.fetch_add(bytes_in, Relaxed);
        self.bytes_out.fetch_add(bytes_out, Relaxed);
    }

    /// A load by introspection (the query's time).
    pub fn schema_cache_load(&self, seconds: f64, ok: bool) {
        if ok {
            self.schema_cache_query_time_us
                .store((seconds * 1e6) as u64, Relaxed);
            self.schema_cache_loads_ok.fetch_add(1, Relaxed);
            self.schema_cache_introspections.fetch_add(1, Relaxed);
        } else {
            self.schema_cache_loads_failed.fetch_add(1, Relaxed);
        }
    }

    /// A load from the document another executor published (reading and parsing it).
    pub fn schema_cache_shared_load(&self, seconds: f64) {
        self.schema_cache_loads_ok.fetch_add(1, Relaxed);
        self.schema_cache_shared_loads.fetch_add(1, Relaxed);
        self.schema_cache_shared_load_us
            .fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// Time an executor waited for another one's introspection of the same catalog state.
    pub fn schema_cache_load_wait(&self, seconds: f64) {
        self.schema_cache_load_wait_us
            .fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    /// A request planned with a cache loaded before a catalog change that did not concern it.
    pub fn schema_cache_kept(&self) {
        self.schema_cache_kept.fetch_add(1, Relaxed);
    }

    pub fn pool_timeout(&self) {
        self.pool_timeouts.fetch_add(1, Relaxed);
    }

    /// For the JWT cache (owned by `auth`): one lookup, hit or miss.
    pub fn jwt_cache_lookup(&self, hit: bool) {
        self.jwt_cache_requests.fetch_add(1, Relaxed);
        if hit {
            self.jwt_cache_hits.fetch_add(1, Relaxed);
        }
    }

    pub fn executor_busy(&self, seconds: f64) {
        self.executor_busy_us
            .fetch_add((seconds * 1e6) as u64, Relaxed);
    }

    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let us = |a: &AtomicU64| a.load(Relaxed) as f64 / 1e6;
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "pgrst_schema_cache_query_time_seconds",
            "gauge",
            "The query time in seconds of the last schema cache load",
        );
        let _ = writeln!(
            out,
            "pgrst_schema_cache_query_time_seconds {}",
            us(&self.schema_cache_query_time_us)
        );
        head(
            &mut out,
            "pgrst_schema_cache_loads_total",
            "counter",
            "The total number of times the schema cache was loaded",
        );
        let _ = writeln!(
            out,
            "pgrst_schema_cache_loads_total{{status=\"SUCCESS\"}} {}\n\
             pgrst_schema_cache_loads_total{{status=\"FAIL\"}} {}",
            self.schema_cache_loads_ok.load(Relaxed),
            self.schema_cache_loads_failed.load(Relaxed)
        );
        for (name, kind, help, value) in [
            (
                "serendb_data_api_schema_cache_introspections_total",
                "counter",
                "Schema cache loads that ran the introspection query",
                self.schema_cache_introspections.load(Relaxed) as f64,
            ),
            (
                "serendb_data_api_schema_cache_shared_loads_total",
                "counter",
                "Schema cache loads that read the document another executor published",
                self.schema_cache_shared_loads.load(Relaxed) as f64,
            ),
            (
                "serendb_data_api_schema_cache_shared_load_seconds_total",
                "counter",
                "Time spent reading and parsing published schema cache documents",
                us(&self.schema_cache_shared_load_us),
            ),
            (
                "serendb_data_api_schema_cache_load_wait_seconds_total",
                "counter",
                "Time executors waited for another executor's introspection of the same catalog",
                us(&self.schema_cache_load_wait_us),
            ),
            (
                "serendb_data_api_schema_cache_kept_total",
                "counter",
                "Requests planned with a cache loaded before a catalog change that did not concern them",
                self.schema_cache_kept.load(Relaxed) as f64,
            ),
        ] {
            head(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        let simple: [(&str, &str, &str, i64); 11] = [
            (
                "pgrst_db_pool_timeouts_total",
                "counter",
                "The total number of pool connection timeouts",
                self.pool_timeouts.load(Relaxed) as i64,
            ),
            (
                "pgrst_db_pool_available",
                "gauge",
                "Available connections in the pool (idle executors)",
                self.pool_available.load(Relaxed),
            ),
            (
                "pgrst_db_pool_waiting",
                "gauge",
                "Requests waiting to acquire a pool connection (queued for an executor)",
                self.pool_waiting.load(Relaxed),
            ),
            (
                "pgrst_db_pool_max",
                "gauge",
                "Max pool connections (executors)",
                self.pool_max.load(Relaxed),
            ),
            (
                "pgrst_jwt_cache_requests_total",
                "counter",
                "The total number of JWT cache lookups",
                self.jwt_cache_requests.load(Relaxed) as i64,
            ),
            (
                "pgrst_jwt_cache_hits_total",
                "counter",
                "The total number of JWT cache hits",
                self.jwt_cache_hits.load(Relaxed) as i64,
            ),
            (
                "serendb_data_api_queue_depth",
                "gauge",
                "Requests waiting for an executor",
                self.pool_waiting.load(Relaxed),
            ),
            (
                "serendb_data_api_http_connections_open",
                "gauge",
                "HTTP connections currently open on the API port",
                self.connections_open.load(Relaxed),
            ),
            (
                "serendb_data_api_http_connections_total",
                "counter",
                "HTTP connections accepted on the API port",
                self.connections_total.load(Relaxed) as i64,
            ),
            (
                "serendb_data_api_request_bytes_total",
                "counter",
                "Request body bytes received",
                self.bytes_in.load(Relaxed) as i64,
            ),
            (
                "serendb_data_api_response_bytes_total",
                "counter",
                "Response body bytes sent",
                self.bytes_out.load(Relaxed) as i64,
            ),
        ];
        for (name, kind, help, value) in simple {
            head(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        head(
            &mut out,
            "serendb_data_api_executor_busy_seconds_total",
            "counter",
            "Time executors spent serving requests, summed over all executors",
        );
        let _ = writeln!(
            out,
            "serendb_data_api_executor_busy_seconds_total {}",
            us(&self.executor_busy_us)
        );
        head(
            &mut out,
            "serendb_data_api_requests_total",
            "counter",
            "Requests answered, by method and status",
        );
        for (m, row) in METHODS.iter().zip(self.requests.iter()) {
            for (i, n) in row.iter().enumerate() {
                let n = n.load(Relaxed);
                if n > 0 {
                    let status = i + FIRST_STATUS;
                    let _ = writeln!(
                        out,
                        "serendb_data_api_requests_total{{method=\"{m}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        let name = "serendb_data_api_request_duration_seconds";
        head(
            &mut out,
            name,
            "histogram",
            "Time from a request read to its response ready, in the listener",
        );
        let mut cumulative = 0;
        for (i, n) in self.duration_buckets.iter().enumerate() {
            cumulative += n.load(Relaxed);
            match BUCKETS.get(i) {
                Some(le) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(out, "{name}_sum {}", us(&self.duration_sum_us));
        let _ = writeln!(out, "{name}_count {cumulative}");
        out
    }
}

#[cfg(feature = "pg15")]
mod shared {
    use super::Metrics;
    use std::sync::atomic::{AtomicBool, Ordering};

    static SHARED: pgrx::PgAtomic<Metrics> =
        unsafe { pgrx::PgAtomic::new(c"serendb_data_api metrics") };
    static IN_SHMEM: AtomicBool = AtomicBool::new(false);
    /// Used where the library was not preloaded (no shared memory was requested): the
    /// numbers are then this process's own.
    static LOCAL: Metrics = Metrics::new();

    // SAFETY: only atomics, valid when zeroed, and no pointers.
    unsafe impl pgrx::PGRXSharedMemory for Metrics {}

    /// Requests the shared memory; call from `_PG_init` while preloading.
    // The macro tests pgrx's own pg13..pg18 features, which this crate does not declare.
    #[allow(unexpected_cfgs)]
    pub fn init() {
        use pgrx::{pg_guard, pg_sys};
        pgrx::pg_shmem_init!(SHARED = Metrics::new());
        IN_SHMEM.store(true, Ordering::Relaxed);
    }

    pub fn get() -> &'static Metrics {
        if IN_SHMEM.load(Ordering::Relaxed) {
            SHARED.get()
        } else {
            &LOCAL
        }
    }
}

#[cfg(feature = "pg15")]
pub use shared::{get, init};

/// Without Postgres (unit tests) the numbers are the process's own.
#[cfg(not(feature = "pg15"))]
pub fn get() -> &'static Metrics {
    static LOCAL: Metrics = Metrics::new();
    &LOCAL
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l[series.len() + 1..].parse().ok())
    }

    #[test]
    fn requests_are_counted_by_method_status_and_duration() {
        let m = Metrics::new();
        m.request("GET", 200, 0.003, 0, 10);
        m.request("GET", 200, 0.2, 0, 10);
        m.request("BREW", 418, 20.0, 5, 0);
        let t = m.render();
        assert_eq!(
            value(
                &t,
                "serendb_data_api_requests_total{method=\"GET\",status=\"200\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &t,
                "serendb_data_api_requests_total{method=\"OTHER\",status=\"418\"}"
            ),
            Some(1.0)
        );
        let b = "serendb_data_api_request_duration_seconds_bucket";
        assert_eq!(value(&t, &format!("{b}{{le=\"0.001\"}}")), Some(0.0));
        assert_eq!(value(&t, &format!("{b}{{le=\"0.005\"}}")), Some(1.0));
        assert_eq!(value(&t, &format!("{b}{{le=\"0.25\"}}")), Some(2.0));
        assert_eq!(value(&t, &format!("{b}{{le=\"10\"}}")), Some(2.0));
        assert_eq!(value(&t, &format!("{b}{{le=\"+Inf\"}}")), Some(3.0));
        assert_eq!(
            value(&t, "serendb_data_api_request_duration_seconds_count"),
            Some(3.0)
        );
        assert_eq!(
            value(&t, "serendb_data_api_response_bytes_total"),
            Some(20.0)
        );
        assert_eq!(value(&t, "serendb_data_api_request_bytes_total"), Some(5.0));
    }

    #[test]
    fn postgrest_names_are_present() {
        let m = Metrics::new();
        m.schema_cache_load(0.015, true);
        m.schema_cache_load(0.0, false);
        m.schema_cache_shared_load(0.002);
        m.schema_cache_shared_load(0.001);
        m.schema_cache_load_wait(0.5);
        m.schema_cache_kept();
        m.jwt_cache_lookup(true);
        m.jwt_cache_lookup(false);
        m.pool_timeout();
        let t = m.render();
        assert_eq!(
            value(&t, "pgrst_schema_cache_query_time_seconds"),
            Some(0.015)
        );
        assert_eq!(
            value(&t, "pgrst_schema_cache_loads_total{status=\"SUCCESS\"}"),
            Some(3.0)
        );
        assert_eq!(
            value(&t, "serendb_data_api_schema_cache_introspections_total"),
            Some(1.0)
        );
        assert_eq!(
            value(&t, "serendb_data_api_schema_cache_shared_loads_total"),
            Some(2.0)
        );
        assert_eq!(
            value(
                &t,
                "serendb_data_api_schema_cache_shared_load_seconds_total"
            ),
            Some(0.003)
        );
        assert_eq!(
            value(&t, "serendb_data_api_schema_cache_load_wait_seconds_total"),
            Some(0.5)
        );
        assert_eq!(
            value(&t, "serendb_data_api_schema_cache_kept_total"),
            Some(1.0)
        );
        assert_eq!(
            value(&t, "pgrst_schema_cache_loads_total{status=\"FAIL\"}"),
            Some(1.0)
        );
        assert_eq!(value(&t, "pgrst_jwt_cache_requests_total"), Some(2.0));
        assert_eq!(value(&t, "pgrst_jwt_cache_hits_total"), Some(1.0));
        assert_eq!(value(&t, "pgrst_db_pool_timeouts_total"), Some(1.0));
        for name in [
            "pgrst_db_pool_available",
            "pgrst_db_pool_waiting",
            "pgrst_db_pool_max",
        ] {
            assert!(t.contains(&format!("# TYPE {name} gauge")), "{name}");
        }
    }

    #[test]
    fn odd_statuses_do_not_panic() {
        let m = Metrics::new();
        m.request("GET", 0, -1.0, 0, 0);
        m.request("GET", 999, f64::NAN, 0, 0);
        assert!(m.render().contains("status=\"100\""));
        assert!(m.render().contains("status=\"599\""));
    }
}
