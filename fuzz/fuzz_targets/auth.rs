//! JWT verification and role selection.
//!
//! Byte 0 picks the mode and settings; the rest are lines:
//! `role-claim-key`, then in raw mode the `Authorization` value, in signed mode a JWT header
//! and a claims JSON that the target signs with the configured secret, so the fuzzer gets past
//! the signature check to the claims (`exp`, `nbf`, `iat`, `aud`, the role path).
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serendb_data_api::authenticate_with_secret as authenticate;
use serendb_data_api_fuzz::settings;

const SECRET: &str = "reallyreallyreallyreallyverysafe";
const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let claim_key = lines.next().unwrap_or_default();
    let mut s = settings();
    let set = |s: &mut serendb_data_api::Settings, name: &str, value: &str| {
        s.set(name, value).expect("a request-time setting");
    };
    set(&mut s, "jwt_role_claim_key", claim_key);
    set(
        &mut s,
        "db_anon_role",
        if mode & 2 != 0 { "anon" } else { "" },
    );
    set(
        &mut s,
        "jwt_aud",
        if mode & 4 != 0 { "fuzz-aud" } else { "" },
    );
    let secret = if mode & 16 != 0 {
        String::new()
    } else if mode & 8 != 0 {
        format!(
            r#"{{"keys":[{{"kty":"oct","k":"{}","alg":"HS256"}}]}}"#,
            URL_SAFE_NO_PAD.encode(SECRET)
        )
    } else {
        SECRET.into()
    };
    set(&mut s, "jwt_secret", &secret);

    let authorization = if mode & 1 == 0 {
        lines.next().map(str::to_string)
    } else {
        let header = lines.next().unwrap_or_default();
        let claims = lines.next().unwrap_or_default();
        let alg = match mode >> 5 {
            1 => Algorithm::HS384,
            2 => Algorithm::HS512,
            _ => Algorithm::HS256,
        };
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let Ok(sig) = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg) else {
            return;
        };
        Some(format!("Bearer {message}.{sig}"))
    };
    let _ = authenticate(authorization.as_deref(), &s, NOW);
});
