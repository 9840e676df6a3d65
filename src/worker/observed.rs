//! The listener's per-request bookkeeping around forwarding to an executor: metrics, the
//! `server_trace_header` echo and the request log line (`log_level`).

use crate::api_request::RawRequest;
use crate::error::ApiError;
use crate::guc;
use crate::metrics;
use crate::observe::{RequestLog, ROLE_HEADER};
use crate::respond::{error_response, HttpResponse};
use std::future::Future;
use std::time::Instant;

/// Answers `raw` with `run`, counting and logging it.
pub async fn answer<Fut>(raw: RawRequest, run: impl FnOnce(RawRequest) -> Fut) -> HttpResponse
where
    Fut: Future<Output = Result<HttpResponse, ApiError>>,
{
    let t0 = Instant::now();
    let method = raw.method.clone();
    let target = raw.target.clone();
    let bytes_in = raw.body.len() as u64;
    let trace = guc::server_trace_header().and_then(|name| {
        raw.header(&name.to_ascii_lowercase())
            .map(|v| (name.clone(), v.to_string()))
    });
    let mut resp = run(raw).await.unwrap_or_else(|e| error_response(&e));
    let role = match resp.headers.iter().position(|(k, _)| k == ROLE_HEADER) {
        Some(i) => resp.headers.remove(i).1,
        None => String::new(),
    };
    if let Some((name, value)) = &trace {
        resp.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        resp.headers.push((name.clone(), value.clone()));
    }
    let seconds = t0.elapsed().as_secs_f64();
    metrics::get().request(
        &method,
        resp.status,
        seconds,
        bytes_in,
        resp.body.len() as u64,
    );
    if guc::log_level().logs_request(resp.status) {
        let line = RequestLog {
            method: &method,
            target: &target,
            status: resp.status,
            bytes_out: resp.body.len(),
            seconds,
            role: &role,
            trace: trace.as_ref().map(|(n, v)| (n.as_str(), v.as_str())),
        }
        .line();
        pgrx::log!("serendb_data_api: {line}");
    }
    resp
}

/// Runs a connection's future, counting it as open meanwhile.
pub async fn counted(connection: impl Future<Output = ()>) {
    let m = metrics::get();
    m.connection_opened();
    connection.await;
    m.connection_closed();
}
