//! Request -> SQL statement against the conformance fixture's schema cache; the planner must
//! answer with an `ApiError`, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serendb_data_api::parse_request;
use serendb_data_api::plan;
use serendb_data_api::SchemaCache;
use serendb_data_api_fuzz::{raw_request, settings_for};
use std::sync::OnceLock;

static SCHEMA: OnceLock<SchemaCache> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let schema = SCHEMA.get_or_init(|| {
        SchemaCache::from_json(include_str!(
            "../../src/schema_cache/testdata/conformance.json"
        ))
        .expect("testdata schema cache")
    });
    let raw = raw_request(data);
    let settings = settings_for(&raw);
    if let Ok(req) = parse_request(&raw, &settings) {
        let _ = plan(&req, schema, &settings);
    }
});
