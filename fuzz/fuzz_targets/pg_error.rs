//! A Postgres error -> `ApiError` -> error response -> wire bytes. Functions choose these
//! texts (`RAISE SQLSTATE 'PGRST' USING MESSAGE = '{json}', DETAIL = '{json}'`, `PTxxx`), so
//! they are untrusted input.
//!
//! Byte 0: bit 0 = anonymous, bit 1 = has detail, bit 2 = has hint. Then lines: sqlstate,
//! message, detail, hint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serendb_data_api::encode_response;
use serendb_data_api::error_response;
use serendb_data_api::ApiError;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let sqlstate = lines.next().unwrap_or_default();
    let message = lines.next().unwrap_or_default();
    let detail = lines.next().filter(|_| flags & 2 != 0);
    let hint = lines.next().filter(|_| flags & 4 != 0);
    let err = ApiError::from_postgres(sqlstate, message, detail, hint, flags & 1 != 0);
    let _ = encode_response(&error_response(&err), false, true);
});
