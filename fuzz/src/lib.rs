//! Helpers shared by the fuzz targets: turning fuzz bytes into requests.
#![allow(clippy::result_large_err)]

use serendb_data_api::RawRequest;
use serendb_data_api::Settings;

/// Settings like a deployment exposing two schemas.
pub fn settings() -> Settings {
    let mut s = Settings::default();
    s.set("db_schemas", "public, v2").expect("db_schemas");
    s
}

/// Reads a request written like an HTTP/1.1 head, but leniently, so that the fuzzer can reach
/// every header value and the body:
///
/// ```text
/// METHOD TARGET
/// name: value
/// ...
///
/// body
/// ```
///
/// Bytes that are not UTF-8 are replaced; header names are lower-cased like the server does.
pub fn raw_request(data: &[u8]) -> RawRequest {
    let (head, body) = match find(data, b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or((first, "/"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    RawRequest {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: body.to_vec(),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Fuzz-only headers that vary the settings, so the planner's setting-dependent paths are
/// reached too: `x-fuzz-max-rows: N`, `x-fuzz-aggregates: 1`, `x-fuzz-tx-end: ...`.
pub fn settings_for(raw: &RawRequest) -> Settings {
    let mut s = settings();
    if let Some(n) = raw.header("x-fuzz-max-rows") {
        // a value the setting refuses is not set, as Postgres would refuse it
        let _ = s.set("db_max_rows", n);
    }
    let aggregates = raw.header("x-fuzz-aggregates").is_some();
    s.set(
        "db_aggregates_enabled",
        if aggregates { "on" } else { "off" },
    )
    .expect("a boolean");
    if let Some(t) = raw.header("x-fuzz-tx-end") {
        s.set("db_tx_end", t).expect("db_tx_end takes any text");
    }
    s
}
