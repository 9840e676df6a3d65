//! Raw request (method, target, headers, body) -> `ApiRequest`; see `raw_request` for the
//! input format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serendb_data_api::parse_request;
use serendb_data_api_fuzz::{raw_request, settings_for};

fuzz_target!(|data: &[u8]| {
    let raw = raw_request(data);
    if let Ok(req) = parse_request(&raw, &settings_for(&raw)) {
        // used by `respond` and the planner on every request
        let _ = req.top_level_range();
    }
});
