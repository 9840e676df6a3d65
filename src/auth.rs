//! JWT verification and role selection (PostgREST's authenticator model, pure part).
//!
//! Whether the chosen role may actually be assumed (granted to the authenticator role, not a
//! superuser) needs the catalog and is checked in `execute`.
//!
//! Errors, their order and their texts follow PostgREST (`Auth.hs`, `Error.hs`): an empty
//! token, then a missing secret, then the token's shape, its signature, and last the
//! `exp`/`nbf`/`iat`/`aud` claims (30 s of clock skew allowed).
#![allow(clippy::result_large_err)]

use crate::error::ApiError;
use crate::settings::Settings;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq)]
pub struct AuthResult {
    /// the role the request runs as
    pub role: String,
    /// All claims as a JSON object, with `role` set to the chosen role (PostgREST does the
    /// same), so `request.jwt.claims` can be set from it. Without a JWT: `{"role": anon}`.
    pub claims: Value,
    /// The request runs as the anon role (no JWT, or a JWT naming the anon role): PostgREST
    /// then answers 42501 with 401 instead of 403.
    pub anonymous: bool,
}

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const ALLOWED_SKEW: i64 = 30;

/// PostgREST refuses shorter secrets.
const MIN_SECRET_LEN: usize = 32;

/// Verifies the `Authorization` header value (if any) and picks the role.
/// `now` is the current UNIX time in seconds.
pub fn authenticate(
    authorization: Option<&str>,
    settings: &Settings,
    now: u64,
) -> Result<AuthResult, ApiError> {
    // A scheme other than Bearer is no token at all (WAI's extractBearerAuth).
    let token = authorization.and_then(bearer_token);
    let claims_value = match token {
        None => Value::Object(Map::new()),
        Some(token) => Value::Object(verify_token(token, settings, now)?),
    };
    let path = parse_role_claim_key(&settings.jwt_role_claim_key).map_err(|e| {
        ApiError::internal(format!(
            "failed to parse role-claim-key value ({}): {e}",
            settings.jwt_role_claim_key
        ))
    })?;
    let role = match walk(&claims_value, &path) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None if token.is_some() => settings.default_role.clone(),
        None => match &settings.anon_role {
            Some(r) => r.clone(),
            None => return Err(ApiError::jwt_token_required()),
        },
    };
    let mut claims = match claims_value {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    claims.insert("role".into(), Value::String(role.clone()));
    let anonymous = settings.anon_role.as_deref() == Some(role.as_str());
    Ok(AuthResult {
        role,
        claims: Value::Object(claims),
        anonymous,
    })
}

/// `Bearer <token>`, scheme case-insensitive; `Bearer` alone is an empty token.
fn bearer_token(header: &str) -> Option<&str> {
    let header = header.trim_start();
    let (scheme, rest) = match header.find(char::is_whitespace) {
        Some(i) => header.split_at(i),
        None => (header, ""),
    };
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn decode_error(message: &str) -> ApiError {
    ApiError::jwt_decode(message, None)
}

fn bad_crypto() -> ApiError {
    decode_error("JWT cryptographic operation failed")
}

/// Checks the token and returns its claims.
fn verify_token(
    token: &str,
    settings: &Settings,
    now: u64,
) -> Result<Map<String, Value>, ApiError> {
    if token.is_empty() {
        return Err(decode_error("Empty JWT is sent in Authorization header"));
    }
    let keys =
        decoding_keys(settings.jwt_secret.as_deref()).ok_or_else(ApiError::jwt_secret_missing)?;
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature] = parts.as_slice() else {
        return Err(decode_error(&format!(
            "Expected 3 parts in JWT; got {}",
            parts.len()
        )));
    };

    let header: Value = b64url_decode(header_b64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .ok_or_else(bad_crypto)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg == "none" {
        return Err(ApiError::jwt_decode(
            "Wrong or unsupported encoding algorithm",
            Some("JWT is unsecured but expected 'alg' was not 'none'"),
        ));
    }
    let alg = Algorithm::from_str(alg)
        .map_err(|_| decode_error("Wrong or unsupported encoding algorithm"))?;
    let message = &token[..header_b64.len() + 1 + payload_b64.len()];
    let mut verified = false;
    for key in keys.iter().filter(|k| k.family() == alg.family()) {
        match jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg) {
            Ok(true) => {
                verified = true;
                break;
            }
            Ok(false) => {}
            Err(_) => return Err(bad_crypto()),
        }
    }
    if !verified {
        return Err(ApiError::jwt_decode(
            "No suitable key or wrong key type",
            Some("None of the keys was able to decode the JWT"),
        ));
    }

    let payload = b64url_decode(payload_b64).ok_or_else(bad_crypto)?;
    let claims = match serde_json::from_slice::<Value>(&payload) {
        Ok(Value::Object(o)) => o,
        _ => return Err(ApiError::jwt_claims("Parsing claims failed")),
    };
    check_claims(&claims, settings.jwt_aud.as_deref(), now as i64)?;
    Ok(claims)
}

/// The configured secret as decoding keys: a JWK or JWK Set (JSON), else a shared HMAC
/// secret of at least 32 characters. `None` when there is no usable secret.
fn decoding_keys(secret: Option<&str>) -> Option<Vec<DecodingKey>> {
    let secret = secret?;
    if secret.trim_start().starts_with('{') {
        let jwks: Vec<Jwk> = if let Ok(set) = serde_json::from_str::<JwkSet>(secret) {
            set.keys
        } else {
            vec![serde_json::from_str::<Jwk>(secret).ok()?]
        };
        let keys: Vec<DecodingKey> = jwks
            .iter()
            .filter_map(|k| DecodingKey::from_jwk(k).ok())
            .collect();
        return (!keys.is_empty()).then_some(keys);
    }
    if secret.chars().count() < MIN_SECRET_LEN {
        return None;
    }
    Some(vec![DecodingKey::from_secret(secret.as_bytes())])
}

/// `exp`, `nbf`, `iat` and `aud`, in PostgREST's order and with its messages.
fn check_claims(claims: &Map<String, Value>, aud: Option<&str>, now: i64) -> Result<(), ApiError> {
    let fail = ApiError::jwt_claims;
    if let Some(v) = claims.get("exp") {
        let exp = numeric_date(v).ok_or_else(|| fail("The JWT 'exp' claim must be a number"))?;
        if now > exp.saturating_add(ALLOWED_SKEW) {
            return Err(fail("JWT expired"));
        }
    }
    if let Some(v) = claims.get("nbf") {
        let nbf = numeric_date(v).ok_or_else(|| fail("The JWT 'nbf' claim must be a number"))?;
        if now < nbf.saturating_sub(ALLOWED_SKEW) {
            return Err(fail("JWT not yet valid"));
        }
    }
    if let Some(v) = claims.get("iat") {
        let iat = numeric_date(v).ok_or_else(|| fail("The JWT 'iat' claim must be a number"))?;
        if now < iat.saturating_sub(ALLOWED_SKEW) {
            return Err(fail("JWT issued at future"));
        }
    }
    if let Some(v) = claims.get("aud") {
        let not_string_or_array =
            || fail("The JWT 'aud' claim must be a string or an array of strings");
        let ok = match v {
            Value::Null => true,
            Value::String(s) => aud.is_none_or(|a| a == s),
            Value::Array(items) if items.is_empty() => true,
            Value::Array(items) if items.iter().all(Value::is_string) => {
                aud.is_none_or(|a| items.iter().any(|i| i.as_str() == Some(a)))
            }
            _ => return Err(not_string_or_array()),
        };
        if !ok {
            return Err(fail("JWT not in audience"));
        }
    }
    Ok(())
}

/// A JSON number as whole seconds; a fractional or out-of-range number counts as 0
/// (PostgREST's `toBoundedInteger` fallback). Non-numbers are `None`.
fn numeric_date(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f >= i64::MIN as f64 && f <= i64::MAX as f64 {
        Some(f as i64)
    } else {
        Some(0)
    }
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // a single leftover character cannot encode a byte
    if s.len() % 4 == 1 {
        return None;
    }
    Some(out)
}

// ---- the role claim path -------------------------------------------------------------------

/// One step of PostgREST's `jwt-role-claim-key` path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathStep {
    /// `.key` or `."key with chars"`
    Key(String),
    /// `[0]`
    Index(usize),
    /// `[?(@ == "x")]` and friends: the first string element of an array that matches
    Filter(FilterOp, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterOp {
    Equals,
    NotEquals,
    StartsWith,
    EndsWith,
    Contains,
}

fn parse_role_claim_key(s: &str) -> Result<Vec<PathStep>, String> {
    let mut steps = vec![];
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("empty path".into());
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if let Some(r) = r.strip_prefix('"') {
                let end = r.find('"').ok_or("unterminated quoted key")?;
                steps.push(PathStep::Key(r[..end].to_string()));
                rest = &r[end + 1..];
            } else {
                let end = r
                    .find(|c: char| !(c.is_alphanumeric() || "_$@".contains(c)))
                    .unwrap_or(r.len());
                if end == 0 {
                    return Err("expected a key after '.'".into());
                }
                steps.push(PathStep::Key(r[..end].to_string()));
                rest = &r[end..];
            }
        } else if let Some(r) = rest.strip_prefix("[?(") {
            let r = r
                .strip_prefix('@')
                .ok_or("expected '@' in filter")?
                .trim_start();
            let (op, r) = [
                ("==^", FilterOp::EndsWith),
                ("==", FilterOp::Equals),
                ("!=", FilterOp::NotEquals),
                ("^==", FilterOp::StartsWith),
                ("*==", FilterOp::Contains),
            ]
            .iter()
            .find_map(|(t, op)| r.strip_prefix(t).map(|r| (*op, r)))
            .ok_or("unknown filter operator")?;
            let r = r
                .trim_start()
                .strip_prefix('"')
                .ok_or("expected a quoted value")?;
            let end = r.find('"').ok_or("unterminated quoted value")?;
            let value = r[..end].to_string();
            let r = r[end + 1..].strip_prefix(")]").ok_or("expected ')]'")?;
            if !r.is_empty() {
                return Err("a filter must be the last step".into());
            }
            steps.push(PathStep::Filter(op, value));
            rest = r;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("unterminated index")?;
            let idx = r[..end]
                .parse::<usize>()
                .map_err(|_| "index must be a number")?;
            steps.push(PathStep::Index(idx));
            rest = &r[end + 1..];
        } else {
            return Err(format!("unexpected '{rest}'"));
        }
    }
    Ok(steps)
}

fn walk<'a>(v: &'a Value, path: &[PathStep]) -> Option<&'a Value> {
    let Some((step, rest)) = path.split_first() else {
        return Some(v);
    };
    match (step, v) {
        (PathStep::Key(k), Value::Object(o)) => walk(o.get(k)?, rest),
        (PathStep::Index(i), Value::Array(a)) => walk(a.get(*i)?, rest),
        (PathStep::Filter(op, pattern), Value::Array(a)) => a.iter().find(|item| {
            item.as_str().is_some_and(|s| match op {
                FilterOp::Equals => s == pattern,
                FilterOp::NotEquals => s != pattern,
                FilterOp::StartsWith => s.starts_with(pattern.as_str()),
                FilterOp::EndsWith => s.ends_with(pattern.as_str()),
                FilterOp::Contains => s.contains(pattern.as_str()),
            })
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "reallyreallyreallyreallyverysafe";
    const NOW: u64 = 1_700_000_000;

    fn settings() -> Settings {
        Settings {
            jwt_secret: Some(SECRET.into()),
            anon_role: Some("anonymous".into()),
            ..Settings::default()
        }
    }

    fn mint(claims: Value, alg: Algorithm, secret: &str) -> String {
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn bearer(claims: Value) -> String {
        format!("Bearer {}", mint(claims, Algorithm::HS256, SECRET))
    }

    fn auth(header: &str, s: &Settings) -> Result<AuthResult, ApiError> {
        authenticate(Some(header), s, NOW)
    }

    fn err(header: &str, s: &Settings) -> (u16, String, String) {
        let e = auth(header, s).unwrap_err();
        (e.status, e.code, e.message)
    }

    fn www(e: &ApiError) -> Option<&str> {
        e.headers
            .iter()
            .find(|(k, _)| k == "WWW-Authenticate")
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn no_header_is_the_anon_role() {
        let r = authenticate(None, &settings(), NOW).unwrap();
        assert_eq!(r.role, "anonymous");
        assert!(r.anonymous);
        assert_eq!(r.claims, json!({"role": "anonymous"}));
        // another scheme is no token either
        let r = auth("Basic dXNlcjpwYXNz", &settings()).unwrap();
        assert_eq!(r.role, "anonymous");
    }

    #[test]
    fn no_header_without_anon_role_is_pgrst302() {
        let s = Settings {
            anon_role: None,
            ..settings()
        };
        let e = authenticate(None, &s, NOW).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (401, "PGRST302"));
        assert_eq!(e.message, "Anonymous access is disabled");
        assert_eq!(www(&e), Some("Bearer"));
    }

    #[test]
    fn valid_tokens_pick_the_role_claim() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let token = mint(
                json!({"role": "authenticated", "sub": "user-1", "exp": NOW + 3600}),
                alg,
                SECRET,
            );
            let r = auth(&format!("Bearer {token}"), &settings()).unwrap();
            assert_eq!(r.role, "authenticated");
            assert!(!r.anonymous);
            assert_eq!(r.claims["sub"], "user-1");
            assert_eq!(r.claims["role"], "authenticated");
        }
        // scheme is case-insensitive
        let token = mint(json!({"role": "authenticated"}), Algorithm::HS256, SECRET);
        assert_eq!(
            auth(&format!("bearer {token}"), &settings()).unwrap().role,
            "authenticated"
        );
        assert_eq!(
            auth(&format!("BEARER  {token}"), &settings()).unwrap().role,
            "authenticated"
        );
    }

    #[test]
    fn missing_role_claim_uses_the_default_role() {
        let r = auth(&bearer(json!({"sub": "x"})), &settings()).unwrap();
        assert_eq!(r.role, "authenticated");
        assert_eq!(r.claims, json!({"sub": "x", "role": "authenticated"}));
        // an empty claims set too
        let r = auth(&bearer(json!({})), &settings()).unwrap();
        assert_eq!(r.role, "authenticated");
    }

    #[test]
    fn a_jwt_for_the_anon_role_counts_as_anonymous() {
        let r = auth(&bearer(json!({"role": "anonymous"})), &settings()).unwrap();
        assert!(r.anonymous);
    }

    #[test]
    fn role_claim_paths() {
        let claims = json!({
            "role": "top",
            "app_metadata": {"role": "nested", "roles": ["reader", "admin-x", "writer"]},
            "https://x.io/claims": {"role": "quoted"},
            "n": 5
        });
        let role = |key: &str| {
            let s = Settings {
                jwt_role_claim_key: key.into(),
                ..settings()
            };
            auth(&bearer(claims.clone()), &s).map(|r| r.role)
        };
        assert_eq!(role(".role").unwrap(), "top");
        assert_eq!(role(".app_metadata.role").unwrap(), "nested");
        assert_eq!(role(".\"https://x.io/claims\".role").unwrap(), "quoted");
        assert_eq!(role(".app_metadata.roles[1]").unwrap(), "admin-x");
        assert_eq!(
            role(".app_metadata.roles[?(@ == \"writer\")]").unwrap(),
            "writer"
        );
        assert_eq!(
            role(".app_metadata.roles[?(@ ^== \"adm\")]").unwrap(),
            "admin-x"
        );
        assert_eq!(
            role(".app_metadata.roles[?(@ ==^ \"ter\")]").unwrap(),
            "writer"
        );
        assert_eq!(
            role(".app_metadata.roles[?(@ *== \"min\")]").unwrap(),
            "admin-x"
        );
        assert_eq!(
            role(".app_metadata.roles[?(@ != \"reader\")]").unwrap(),
            "admin-x"
        );
        // non-strings are used as their JSON text
        assert_eq!(role(".n").unwrap(), "5");
        // not found: the default role
        assert_eq!(role(".app_metadata.roles[9]").unwrap(), "authenticated");
        assert_eq!(role(".nope.role").unwrap(), "authenticated");
        // unparsable path: a server error
        assert_eq!(role("role").unwrap_err().status, 500);
    }

    #[test]
    fn expired_and_not_yet_valid_tokens() {
        let s = settings();
        let e = auth(&bearer(json!({"exp": NOW - 31})), &s).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (401, "PGRST303", "JWT expired")
        );
        assert_eq!(
            www(&e),
            Some("Bearer error=\"invalid_token\", error_description=\"JWT expired\"")
        );
        // within the 30 s leeway
        assert!(auth(&bearer(json!({"exp": NOW - 30})), &s).is_ok());
        assert_eq!(
            err(&bearer(json!({"nbf": NOW + 31})), &s).2,
            "JWT not yet valid"
        );
        assert!(auth(&bearer(json!({"nbf": NOW + 30})), &s).is_ok());
        assert_eq!(
            err(&bearer(json!({"iat": NOW + 31})), &s).2,
            "JWT issued at future"
        );
        assert!(auth(&bearer(json!({"iat": NOW + 30})), &s).is_ok());
        assert_eq!(
            err(&bearer(json!({"exp": "soon"})), &s),
            (
                401,
                "PGRST303".into(),
                "The JWT 'exp' claim must be a number".into()
            )
        );
        assert_eq!(
            err(&bearer(json!({"nbf": "x"})), &s).2,
            "The JWT 'nbf' claim must be a number"
        );
        assert_eq!(
            err(&bearer(json!({"iat": "x"})), &s).2,
            "The JWT 'iat' claim must be a number"
        );
    }

    #[test]
    fn audience() {
        let s = Settings {
            jwt_aud: Some("io tests".into()),
            ..settings()
        };
        assert!(auth(&bearer(json!({"aud": "io tests"})), &s).is_ok());
        assert!(auth(&bearer(json!({"aud": ["x", "io tests"]})), &s).is_ok());
        assert!(auth(&bearer(json!({"aud": []})), &s).is_ok());
        assert!(auth(&bearer(json!({"aud": null})), &s).is_ok());
        assert!(auth(&bearer(json!({})), &s).is_ok());
        assert_eq!(
            err(&bearer(json!({"aud": "not set"})), &s).2,
            "JWT not in audience"
        );
        assert_eq!(
            err(&bearer(json!({"aud": ["x"]})), &s).2,
            "JWT not in audience"
        );
        let bad = "The JWT 'aud' claim must be a string or an array of strings";
        assert_eq!(err(&bearer(json!({"aud": {"a": 1}})), &s).2, bad);
        assert_eq!(
            err(&bearer(json!({"aud": [{"a": 1}, "io tests"]})), &s).2,
            bad
        );
        // no configured audience: any string or string array is fine
        assert!(auth(&bearer(json!({"aud": "whatever"})), &settings()).is_ok());
        assert_eq!(err(&bearer(json!({"aud": 5})), &settings()).2, bad);
    }

    #[test]
    fn malformed_tokens() {
        let s = settings();
        let e = auth("Bearer", &s).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (401, "PGRST301", "Empty JWT is sent in Authorization header")
        );
        assert_eq!(
            www(&e),
            Some("Bearer error=\"invalid_token\", error_description=\"Empty JWT is sent in Authorization header\"")
        );
        assert_eq!(
            err("Bearer ", &s).2,
            "Empty JWT is sent in Authorization header"
        );
        assert_eq!(
            err(
                "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.bm90IGFuIG9iamVjdA",
                &s
            )
            .2,
            "Expected 3 parts in JWT; got 2"
        );
        assert_eq!(
            err("Bearer quifquirndsjagnrgniur.fonvoienqhhdj.iuqvnvhojah", &s),
            (
                401,
                "PGRST301".into(),
                "JWT cryptographic operation failed".into()
            )
        );
        let e = auth(
            "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30.yOBhlOIqn56T-4NvyEXCjfi3UmyQZ-BzXtePMO2NgRI",
            &s,
        )
        .unwrap_err();
        assert_eq!(e.message, "Wrong or unsupported encoding algorithm");
        assert_eq!(
            e.details.as_deref(),
            Some("JWT is unsecured but expected 'alg' was not 'none'")
        );
    }

    #[test]
    fn wrong_secret() {
        let token = mint(
            json!({"role": "authenticated"}),
            Algorithm::HS256,
            "another secret that is long enough!!",
        );
        let e = auth(&format!("Bearer {token}"), &settings()).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (401, "PGRST301"));
        assert_eq!(e.message, "No suitable key or wrong key type");
        assert_eq!(
            e.details.as_deref(),
            Some("None of the keys was able to decode the JWT")
        );
        // tampered payload
        let good = mint(json!({"role": "authenticated"}), Algorithm::HS256, SECRET);
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "Bearer {}.eyJyb2xlIjoicG9zdGdyZXMifQ.{}",
            parts[0], parts[2]
        );
        assert_eq!(
            err(&forged, &settings()).2,
            "No suitable key or wrong key type"
        );
    }

    #[test]
    fn claims_that_are_not_an_object() {
        let token = mint(json!([1, 2]), Algorithm::HS256, SECRET);
        assert_eq!(
            err(&format!("Bearer {token}"), &settings()),
            (401, "PGRST303".into(), "Parsing claims failed".into())
        );
    }

    #[test]
    fn missing_or_short_secret_is_pgrst300() {
        let token = bearer(json!({"role": "authenticated"}));
        for secret in [None, Some("short_secret".to_string())] {
            let s = Settings {
                jwt_secret: secret,
                ..settings()
            };
            let e = auth(&token, &s).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (500, "PGRST300"));
            assert_eq!(e.message, "Server lacks JWT secret");
        }
        // without a token the secret does not matter
        let s = Settings {
            jwt_secret: None,
            ..settings()
        };
        assert!(authenticate(None, &s, NOW).is_ok());
    }

    #[test]
    fn jwk_secret() {
        // "reallyreallyreallyreallyverysafe" base64url-encoded, as an oct JWK and a JWK Set
        let k = "cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU";
        let token = bearer(json!({"role": "authenticated"}));
        for secret in [
            format!(r#"{{"kty":"oct","k":"{k}"}}"#),
            format!(r#"{{"keys":[{{"kty":"oct","k":"{k}"}}]}}"#),
        ] {
            let s = Settings {
                jwt_secret: Some(secret),
                ..settings()
            };
            assert_eq!(auth(&token, &s).unwrap().role, "authenticated");
        }
    }

    #[test]
    fn base64url() {
        assert_eq!(b64url_decode("e30").unwrap(), b"{}");
        assert_eq!(b64url_decode("e30=").unwrap(), b"{}");
        assert!(b64url_decode("a").is_none());
        assert!(b64url_decode("a*b").is_none());
    }
}
