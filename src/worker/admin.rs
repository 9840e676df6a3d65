//! PostgREST's admin server (`serendb_data_api.admin_server_port`, off by default), served by
//! the listener on its own port: `GET /live`, `GET /ready`, `GET /schema_cache`, `GET /metrics`.
//!
//! `/ready` and `/schema_cache` go through the executors' queue like any request (as internal
//! probes no HTTP client can send), so "ready" means what a request would find: the database,
//! the extension and the schema cache are there and an executor answers.

use super::listener::{forward, Shared};
use crate::api_request::RawRequest;
use crate::guc;
use crate::metrics;
use crate::respond::{error_response, HttpResponse};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::net::TcpListener;

/// Probe methods: a leading space is not a valid HTTP method token, so only the listener can
/// send these to an executor.
pub const PROBE_READY: &str = " ready";
pub const PROBE_SCHEMA_CACHE: &str = " schema_cache";

fn plain(status: u16, content_type: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type".into(), content_type.into())],
        body,
        reason: None,
    }
}

/// Executor side: answers a probe, or `None` for an ordinary request.
pub fn probe(raw: &RawRequest) -> Option<HttpResponse> {
    let json = match raw.method.as_str() {
        PROBE_READY => false,
        PROBE_SCHEMA_CACHE => true,
        _ => return None,
    };
    Some(match crate::caches::schema_json(&guc::snapshot().schemas) {
        Ok(doc) if json => plain(200, "application/json; charset=utf-8", doc.into_bytes()),
        Ok(_) => plain(200, "text/plain; charset=utf-8", vec![]),
        Err(e) => error_response(&e),
    })
}

/// Listener side: binds the admin port (retrying while it is taken) and serves it.
pub(super) fn spawn(host: String, port: i32, shared: Shared) {
    tokio::task::spawn_local(async move {
        let mut logged = false;
        let listener = loop {
            match super::listener::bind_tcp(&host, port).and_then(TcpListener::from_std) {
                Ok(l) => break l,
                Err(e) => {
                    if !logged {
                        pgrx::log!("serendb_data_api: cannot listen on admin port {host}:{port}: {e}; retrying");
                        logged = true;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        pgrx::log!("serendb_data_api: admin server on http://{host}:{port}");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // EMFILE and the like: back off instead of spinning
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let shared = shared.clone();
            tokio::task::spawn_local(crate::http_server::serve_connection(
                stream,
                crate::guc::server_limits(),
                move |raw| {
                    let shared = shared.clone();
                    async move { route(raw, &shared).await }
                },
            ));
        }
    });
}

async fn route(raw: RawRequest, shared: &Shared) -> HttpResponse {
    if raw.method != "GET" && raw.method != "HEAD" {
        return plain(405, "text/plain; charset=utf-8", vec![]);
    }
    match raw.target.split('?').next().unwrap_or("") {
        "/live" => plain(200, "text/plain; charset=utf-8", vec![]),
        "/ready" => {
            let ok =
                matches!(probe_executor(PROBE_READY, shared).await, Some(r) if r.status == 200);
            plain(
                if ok { 200 } else { 503 },
                "text/plain; charset=utf-8",
                vec![],
            )
        }
        "/schema_cache" => match probe_executor(PROBE_SCHEMA_CACHE, shared).await {
            Some(r) => r,
            None => plain(503, "text/plain; charset=utf-8", vec![]),
        },
        "/metrics" => {
            let m = metrics::get();
            m.pool_waiting.store(shared.waiting() as i64, Relaxed);
            m.pool_max.store(guc::WORKERS.get().max(1) as i64, Relaxed);
            plain(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                m.render().into_bytes(),
            )
        }
        _ => plain(404, "text/plain; charset=utf-8", vec![]),
    }
}

async fn probe_executor(method: &str, shared: &Shared) -> Option<HttpResponse> {
    let raw = RawRequest {
        method: method.into(),
        target: "/".into(),
        ..RawRequest::default()
    };
    forward(raw, shared).await.ok()
}
