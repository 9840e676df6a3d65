//! The query-string grammar: `parse_query` and, on the same string split at the first `=`,
//! `parse_filter`. Byte 0's low bit is the `is_rpc` flag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serendb_data_api::{parse_filter, parse_query};

fuzz_target!(|data: &[u8]| {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let query = String::from_utf8_lossy(rest);
    let _ = parse_query(&query, flag & 1 == 1);
    let (key, value) = query.split_once('=').unwrap_or((&query, ""));
    let _ = parse_filter(key, value);
});
