//! An executor on a hot standby: writes are refused (or redirected to the primary) before they
//! run, and a read-only RPC that tried to write gets the same answer.

use crate::api_request::RawRequest;
use crate::guc;
use crate::replica;
use crate::respond::{error_response, HttpResponse};
use pgrx::pg_sys;

/// True on a hot standby until it is promoted.
pub fn in_recovery() -> bool {
    unsafe { pg_sys::RecoveryInProgress() }
}

fn path(raw: &RawRequest) -> &str {
    raw.target.split('?').next().unwrap_or("")
}

fn answer(raw: &RawRequest, message: Option<&str>) -> HttpResponse {
    match guc::primary_url() {
        Some(url) => replica::redirect(&url, &raw.target),
        None => error_response(&replica::refused(message)),
    }
}

/// A table write on a standby, answered without running anything.
pub fn refuse_early(raw: &RawRequest) -> Option<HttpResponse> {
    if replica::is_table_write(&raw.method) && !path(raw).starts_with("/rpc/") {
        Some(answer(raw, None))
    } else {
        None
    }
}

/// A request that failed with 25006 (a write in the standby's read-only transaction, e.g. a
/// VOLATILE function that inserts): the replica's answer instead.
pub fn after(raw: &RawRequest, resp: HttpResponse) -> HttpResponse {
    if resp.status != 405 {
        return resp;
    }
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    if body.get("code").and_then(|c| c.as_str()) != Some("25006") {
        return resp;
    }
    answer(raw, body.get("message").and_then(|m| m.as_str()))
}
