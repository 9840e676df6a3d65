//! Request + result row -> HTTP response -> wire bytes. The result row's fields come from
//! fuzz-only headers (`x-fuzz-total`, `x-fuzz-page-total`, `x-fuzz-inserted`,
//! `x-fuzz-result-body`, `x-fuzz-response-headers`, `x-fuzz-response-status`,
//! `x-fuzz-location`): in production they come from Postgres, partly from user functions
//! (`response.headers`/`response.status`), so they are not trusted either. The response must
//! also survive the executor -> listener ipc frame unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serendb_data_api::encode_response;
use serendb_data_api::frames as ipc;
use serendb_data_api::parse_request;
use serendb_data_api::{error_response, respond, QueryResult};
use serendb_data_api_fuzz::{raw_request, settings_for};

fuzz_target!(|data: &[u8]| {
    let raw = raw_request(data);
    let settings = settings_for(&raw);
    // row counts from Postgres are never negative
    let num = |name: &str| {
        raw.header(name)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|n| *n >= 0)
    };
    let text = |name: &str| raw.header(name).map(str::to_string);
    let resp = match parse_request(&raw, &settings) {
        Ok(req) => {
            // the result row's columns, as text, in the order the statement returns them
            let int = |name: &str| num(name).map(|n| n.to_string());
            let row = [
                int("x-fuzz-total"),
                Some(num("x-fuzz-page-total").unwrap_or(0).to_string()),
                text("x-fuzz-result-body"),
                text("x-fuzz-response-headers"),
                text("x-fuzz-response-status"),
                text("x-fuzz-location"),
                int("x-fuzz-inserted"),
            ];
            let result = QueryResult::from_row(&row)
                .with_resolution_ignored(raw.header("x-fuzz-resolution-ignored").is_some());
            match respond(&req, result) {
                Ok(r) => r,
                Err(e) => error_response(&e),
            }
        }
        Err(e) => error_response(&e),
    };
    let _ = encode_response(&resp, raw.method == "HEAD", true);
    // the executor sends it back to the listener as an ipc frame
    let frame = ipc::encode_response(&resp);
    assert_eq!(ipc::decode_response(&frame[4..]).ok().as_ref(), Some(&resp));
});
