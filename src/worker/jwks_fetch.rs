//! The JWKS fetcher: a task on the listener's runtime (never an executor, so no request and no
//! Postgres backend ever waits on the network). It fetches `serendb_data_api.jwks_url` at
//! start, every `jwks_refresh_interval`, after a failure every `jwks_refetch_min_interval`,
//! and early when an executor meets an unknown `kid` (at most once per
//! `jwks_refetch_min_interval`), and shares the result through `auth::jwks_file`.
//!
//! The HTTP request itself runs on tokio's blocking pool (ureq, rustls with the webpki roots):
//! it never calls Postgres, and the listener keeps serving meanwhile. A failed fetch keeps the
//! last good keys and is logged once, until a fetch succeeds again.

use crate::auth::jwks_file::{self, JwksState};
use crate::auth::keys;
use crate::guc;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Larger JWKS documents are refused (real ones are a few KB).
const MAX_BODY: u64 = 1024 * 1024;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn seconds(setting: &pgrx::guc::GucSetting<i32>) -> i64 {
    setting.get().max(1) as i64
}

pub async fn run() {
    // The data directory: every backend's working directory.
    let dir = Path::new(".");
    // A restarted listener keeps serving the previous listener's keys until it has new ones.
    let mut state: Option<JwksState> = jwks_file::read(dir);
    let mut next_due = Instant::now();
    let mut failure_logged = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let Some(url) = guc::jwks_url() else {
            // Not configured: drop stale requests so a later configuration starts clean.
            jwks_file::take_refetch_request(dir);
            continue;
        };
        let now = unix_now();
        let same_url = state.as_ref().filter(|s| s.url == url);
        let requested = jwks_file::take_refetch_request(dir);
        let min_gap = seconds(&guc::JWKS_REFETCH_MIN_INTERVAL);
        let early_allowed = same_url.is_none_or(|s| now - s.attempted_at >= min_gap);
        if same_url.is_some() && Instant::now() < next_due && !(requested && early_allowed) {
            continue;
        }
        let timeout = Duration::from_secs(seconds(&guc::JWKS_FETCH_TIMEOUT) as u64);
        let fetched = {
            let url = url.clone();
            // A new pool thread inherits the mask in force when it is spawned.
            let previous = block_signals();
            let task = tokio::task::spawn_blocking(move || fetch(&url, timeout));
            restore_signals(&previous);
            task.await
                .unwrap_or_else(|e| Err(format!("fetch task failed: {e}")))
        };
        let previous = state.take().filter(|s| s.url == url);
        let now = unix_now();
        let next = match fetched {
            Ok(doc) => {
                if failure_logged {
                    pgrx::log!("serendb_data_api: fetched the JWKS from {url} again");
                    failure_logged = false;
                }
                next_due = Instant::now()
                    + Duration::from_secs(seconds(&guc::JWKS_REFRESH_INTERVAL) as u64);
                JwksState {
                    url: url.clone(),
                    attempted_at: now,
                    fetched_at: Some(now),
                    error: None,
                    jwks: Some(doc),
                }
            }
            Err(error) => {
                if !failure_logged {
                    let keeping = if previous.as_ref().is_some_and(|p| p.jwks.is_some()) {
                        "keeping the last good keys"
                    } else {
                        "requests with a JWT get 503 until a fetch succeeds"
                    };
                    pgrx::log!(
                        "serendb_data_api: cannot fetch the JWKS from {url}: {error}; {keeping} \
                         (logged once until a fetch succeeds)"
                    );
                    failure_logged = true;
                }
                next_due = Instant::now() + Duration::from_secs(min_gap as u64);
                JwksState {
                    url: url.clone(),
                    attempted_at: now,
                    fetched_at: previous.as_ref().and_then(|p| p.fetched_at),
                    error: Some(error),
                    jwks: previous.and_then(|p| p.jwks),
                }
            }
        };
        if let Err(e) = jwks_file::write(dir, &next) {
            pgrx::log!(
                "serendb_data_api: cannot write {}: {e}",
                jwks_file::STATE_FILE
            );
        }
        state = Some(next);
    }
}

/// Postgres's signal handlers (latch, SIGHUP, SIGTERM) must run on the worker's main thread,
/// never on the pool thread that fetches: signals are blocked while that thread is spawned,
/// and stay pending for the main thread meanwhile.
fn block_signals() -> libc::sigset_t {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut previous);
        previous
    }
}

fn restore_signals(previous: &libc::sigset_t) {
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, previous, std::ptr::null_mut());
    }
}

/// Plain HTTP only to this machine: keys fetched in clear text over a network could be
/// swapped by anyone on the path.
fn check_url(url: &str) -> Result<ureq::http::Uri, String> {
    let uri: ureq::http::Uri = url.parse().map_err(|e| format!("invalid jwks_url: {e}"))?;
    let host = uri.host().ok_or("jwks_url has no host")?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => Err("jwks_url must use https (plain http only to loopback)".into()),
        _ => Err("jwks_url must be an https URL".into()),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One GET with a timeout and a body limit; the document must be a JWK Set with at least one
/// key that can verify signatures.
fn fetch(url: &str, timeout: Duration) -> Result<Value, String> {
    let uri = check_url(url)?;
    let loopback = uri.host().is_some_and(is_loopback);
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .https_only(!loopback)
        .user_agent("serendb_data_api");
    if loopback {
        config = config.proxy(None);
    }
    let agent = ureq::Agent::new_with_config(config.build());
    let mut resp = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP status {}", resp.status()));
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let doc: Value =
        serde_json::from_slice(&body).map_err(|e| format!("the body is not JSON: {e}"))?;
    if !doc.get("keys").is_some_and(Value::is_array) {
        return Err("the body is not a JWK Set (no \"keys\" array)".into());
    }
    if keys::from_jwk_document(&doc).is_empty() {
        return Err("the JWK Set has no key that can verify signatures".into());
    }
    Ok(doc)
}
