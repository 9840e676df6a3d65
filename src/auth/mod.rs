//! JWT verification and role selection (PostgREST's authenticator model, pure part).
//!
//! Whether the chosen role may actually be assumed (granted to the authenticator role, not a
//! superuser) needs the catalog and is checked in `execute`.
//!
//! Errors, their order and their texts follow PostgREST (`Auth.hs`, `Error.hs`): an empty
//! token, then a missing secret, then the token's shape, its signature, and last the
//! `exp`/`nbf`/`iat`/`aud`/`iss` claims (`jwt_leeway` seconds of clock skew allowed).
//!
//! Layout: `keys` (secret / JWK / JWKS -> keys), `jwt` (one token against keys), `role_path`
//! (`jwt_role_claim_key`), `token_cache`, `jwks_file` (keys shared by the JWKS fetcher), and
//! `verifier` (an executor's keys + cache + refetch, tying the others together).
#![allow(clippy::result_large_err)]

pub mod jwks_file;
pub mod jwt;
pub mod keys;
pub mod role_path;
pub mod token_cache;
pub mod verifier;

use crate::error::ApiError;
use crate::settings::Settings;
use serde_json::{Map, Value};

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

/// Verifies the `Authorization` header value (if any) with `verify` (token -> claims) and
/// picks the role.
pub fn authenticate_with(
    authorization: Option<&str>,
    settings: &Settings,
    verify: impl FnOnce(&str) -> Result<Map<String, Value>, ApiError>,
) -> Result<AuthResult, ApiError> {
    // A scheme other than Bearer is no token at all (WAI's extractBearerAuth).
    let token = authorization.and_then(bearer_token);
    let claims_value = match token {
        None => Value::Object(Map::new()),
        Some(token) => Value::Object(verify(token)?),
    };
    let path = role_path::parse(&settings.jwt_role_claim_key).map_err(|e| {
        ApiError::internal(format!(
            "failed to parse role-claim-key value ({}): {e}",
            settings.jwt_role_claim_key
        ))
    })?;
    let role = match role_path::walk(&claims_value, &path) {
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

pub use verifier::authenticate_request as authenticate;

/// [`authenticate_with`] checking tokens against `jwt_secret` only, without a cache and
/// without the JWKS URL ([`authenticate`] is the executor's, with both).
pub fn authenticate_with_secret(
    authorization: Option<&str>,
    settings: &Settings,
    now: u64,
) -> Result<AuthResult, ApiError> {
    authenticate_with(authorization, settings, |token| {
        if token.is_empty() {
            jwt::parse(token)?;
        }
        let keys = keys::from_secret(
            settings.jwt_secret.as_deref(),
            settings.jwt_secret_is_base64,
        )
        .ok_or_else(ApiError::jwt_secret_missing)?;
        let parsed = jwt::parse(token)?;
        let checks = jwt::ClaimChecks {
            aud: settings.jwt_aud.clone(),
            iss: settings.jwt_iss.clone(),
            leeway: settings.jwt_leeway.max(0),
        };
        jwt::verify(&parsed, &[&keys], &checks, now as i64).map_err(|r| match r {
            jwt::Refusal::Invalid(e) => e,
            jwt::Refusal::NoCandidateKey => jwt::no_suitable_key(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
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
        authenticate_with_secret(Some(header), s, NOW)
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
        let r = authenticate_with_secret(None, &settings(), NOW).unwrap();
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
        let e = authenticate_with_secret(None, &s, NOW).unwrap_err();
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
        assert!(authenticate_with_secret(None, &s, NOW).is_ok());
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
}
