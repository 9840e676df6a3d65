//! One JWT checked against a key set: its shape, its signature, then its registered claims
//! (`exp`, `nbf`, `iat`, `aud`, `iss`), in PostgREST's order and with its messages.

use super::keys::KeySet;
use crate::error::ApiError;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use std::str::FromStr;

/// What the claims are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimChecks {
    /// `jwt_aud`: when set, a token's `aud` must contain it (a token without `aud` passes, as
    /// in PostgREST)
    pub aud: Option<String>,
    /// `jwt_iss`: when non-empty, the token's `iss` must be one of these (and present)
    pub iss: Vec<String>,
    /// clock skew tolerated on `exp`, `nbf` and `iat`, in seconds
    pub leeway: i64,
}

#[derive(Debug)]
pub enum Refusal {
    /// No key could even be tried: the token names a `kid` the set lacks, or the set has no
    /// key for its algorithm. With a JWKS URL this is worth a refetch.
    NoCandidateKey,
    Invalid(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal::Invalid(e)
    }
}

/// PostgREST's answer when no key verifies the token.
pub fn no_suitable_key() -> ApiError {
    ApiError::jwt_decode(
        "No suitable key or wrong key type",
        Some("None of the keys was able to decode the JWT"),
    )
}

fn decode_error(message: &str) -> ApiError {
    ApiError::jwt_decode(message, None)
}

fn bad_crypto() -> ApiError {
    decode_error("JWT cryptographic operation failed")
}

/// The parts of a token needed before its signature is checked.
pub struct Parsed<'a> {
    pub alg: Algorithm,
    pub kid: Option<String>,
    message: &'a str,
    signature: &'a str,
    payload_b64: &'a str,
}

/// Splits and decodes the header; refuses what is no JWT or uses `alg: none`.
pub fn parse(token: &str) -> Result<Parsed<'_>, ApiError> {
    if token.is_empty() {
        return Err(decode_error("Empty JWT is sent in Authorization header"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature] = parts.as_slice() else {
        return Err(decode_error(&format!(
            "Expected 3 parts in JWT; got {}",
            parts.len()
        )));
    };
    let header: Value = super::keys::decode_base64(header_b64)
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
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(decode_error("The JWT 'kid' header must be a string")),
    };
    Ok(Parsed {
        alg,
        kid,
        message: &token[..header_b64.len() + 1 + payload_b64.len()],
        signature,
        payload_b64,
    })
}

/// Checks the signature with the candidate keys, then the claims; returns the claims.
pub fn verify(
    token: &Parsed<'_>,
    keys: &[&KeySet],
    checks: &ClaimChecks,
    now: i64,
) -> Result<Map<String, Value>, Refusal> {
    let mut tried = false;
    let mut verified = false;
    let candidates = keys
        .iter()
        .flat_map(|set| set.candidates(token.alg, token.kid.as_deref()));
    for key in candidates {
        tried = true;
        // An error here is a key that cannot serve this token (e.g. a malformed RSA modulus);
        // another key may still verify it.
        if let Ok(true) = jsonwebtoken::crypto::verify(
            token.signature,
            token.message.as_bytes(),
            &key.key,
            token.alg,
        ) {
            verified = true;
            break;
        }
    }
    if !tried {
        return Err(Refusal::NoCandidateKey);
    }
    if !verified {
        return Err(no_suitable_key().into());
    }
    let payload = super::keys::decode_base64(token.payload_b64).ok_or_else(bad_crypto)?;
    let claims = match serde_json::from_slice::<Value>(&payload) {
        Ok(Value::Object(o)) => o,
        _ => return Err(ApiError::jwt_claims("Parsing claims failed").into()),
    };
    check_claims(&claims, checks, now)?;
    Ok(claims)
}

/// RFC 3339's last second (9999-12-31T23:59:59Z): later dates are no dates.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// A NumericDate claim: a JSON number of seconds (fractions allowed, as RFC 7519 says),
/// between 0 and year 9999. Anything else refuses the token: a claim that cannot be read is
/// never skipped.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    let n = v
        .as_f64()
        .filter(|_| v.is_number())
        .ok_or_else(|| ApiError::jwt_claims(&format!("The JWT '{name}' claim must be a number")))?;
    if !(0.0..=MAX_NUMERIC_DATE).contains(&n) {
        return Err(ApiError::jwt_claims(&format!(
            "The JWT '{name}' claim is out of range"
        )));
    }
    Ok(Some(n.floor() as i64))
}

fn check_claims(
    claims: &Map<String, Value>,
    checks: &ClaimChecks,
    now: i64,
) -> Result<(), ApiError> {
    let fail = ApiError::jwt_claims;
    let leeway = checks.leeway;
    if let Some(exp) = numeric_date(claims, "exp")? {
        if now > exp.saturating_add(leeway) {
            return Err(fail("JWT expired"));
        }
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now < nbf.saturating_sub(leeway) {
            return Err(fail("JWT not yet valid"));
        }
    }
    if let Some(iat) = numeric_date(claims, "iat")? {
        if now < iat.saturating_sub(leeway) {
            return Err(fail("JWT issued at future"));
        }
    }
    if let Some(v) = claims.get("aud") {
        let aud = checks.aud.as_deref();
        let ok = match v {
            Value::Null => true,
            Value::String(s) => aud.is_none_or(|a| a == s),
            Value::Array(items) if items.is_empty() => true,
            Value::Array(items) if items.iter().all(Value::is_string) => {
                aud.is_none_or(|a| items.iter().any(|i| i.as_str() == Some(a)))
            }
            _ => {
                return Err(fail(
                    "The JWT 'aud' claim must be a string or an array of strings",
                ))
            }
        };
        if !ok {
            return Err(fail("JWT not in audience"));
        }
    }
    if !checks.iss.is_empty() {
        match claims.get("iss") {
            Some(Value::String(s)) if checks.iss.iter().any(|i| i == s) => {}
            Some(Value::String(_)) | None => return Err(fail("JWT issuer not allowed")),
            Some(_) => return Err(fail("The JWT 'iss' claim must be a string")),
        }
    } else if claims.get("iss").is_some_and(|v| !v.is_string()) {
        return Err(fail("The JWT 'iss' claim must be a string"));
    }
    Ok(())
}

/// When a verified token stops being valid (its `exp` plus the leeway), if it says.
pub fn valid_until(claims: &Map<String, Value>, leeway: i64) -> Option<i64> {
    numeric_date(claims, "exp")
        .ok()
        .flatten()
        .map(|e| e.saturating_add(leeway))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn checks() -> ClaimChecks {
        ClaimChecks {
            aud: None,
            iss: vec![],
            leeway: 30,
        }
    }

    fn check(claims: Value, c: &ClaimChecks) -> Result<(), String> {
        check_claims(claims.as_object().unwrap(), c, NOW).map_err(|e| e.message)
    }

    #[test]
    fn time_claims_with_leeway() {
        let c = checks();
        assert_eq!(
            check(json!({"exp": NOW - 31}), &c).unwrap_err(),
            "JWT expired"
        );
        assert!(check(json!({"exp": NOW - 30}), &c).is_ok());
        assert!(check(json!({"exp": NOW as f64 - 0.5}), &c).is_ok());
        let strict = ClaimChecks {
            leeway: 0,
            ..checks()
        };
        assert_eq!(
            check(json!({"exp": NOW - 1}), &strict).unwrap_err(),
            "JWT expired"
        );
        assert_eq!(
            check(json!({"nbf": NOW + 31}), &c).unwrap_err(),
            "JWT not yet valid"
        );
        assert!(check(json!({"nbf": NOW + 30}), &c).is_ok());
        assert_eq!(
            check(json!({"iat": NOW + 31}), &c).unwrap_err(),
            "JWT issued at future"
        );
    }

    #[test]
    fn malformed_time_claims_are_refused_not_skipped() {
        let c = checks();
        for (claims, msg) in [
            (
                json!({"exp": "soon"}),
                "The JWT 'exp' claim must be a number",
            ),
            (json!({"exp": null}), "The JWT 'exp' claim must be a number"),
            (json!({"exp": [1]}), "The JWT 'exp' claim must be a number"),
            (json!({"nbf": true}), "The JWT 'nbf' claim must be a number"),
            (json!({"iat": {}}), "The JWT 'iat' claim must be a number"),
            (json!({"exp": 1e300}), "The JWT 'exp' claim is out of range"),
            (json!({"exp": -5}), "The JWT 'exp' claim is out of range"),
            (
                json!({"nbf": 99999999999999i64}),
                "The JWT 'nbf' claim is out of range",
            ),
        ] {
            assert_eq!(check(claims.clone(), &c).unwrap_err(), msg, "{claims}");
        }
    }

    #[test]
    fn issuer() {
        let c = ClaimChecks {
            iss: vec!["https://a".into(), "https://b".into()],
            ..checks()
        };
        assert!(check(json!({"iss": "https://b"}), &c).is_ok());
        assert_eq!(
            check(json!({"iss": "https://c"}), &c).unwrap_err(),
            "JWT issuer not allowed"
        );
        assert_eq!(check(json!({}), &c).unwrap_err(), "JWT issuer not allowed");
        assert_eq!(
            check(json!({"iss": 5}), &c).unwrap_err(),
            "The JWT 'iss' claim must be a string"
        );
        assert!(check(json!({"iss": "anything"}), &checks()).is_ok());
    }

    #[test]
    fn audience_without_aud_claim_passes() {
        let c = ClaimChecks {
            aud: Some("project".into()),
            ..checks()
        };
        assert!(check(json!({}), &c).is_ok());
        assert!(check(json!({"aud": ["x", "project"]}), &c).is_ok());
        assert_eq!(
            check(json!({"aud": "x"}), &c).unwrap_err(),
            "JWT not in audience"
        );
    }

    #[test]
    fn kid_must_be_a_string() {
        // {"alg":"HS256","kid":5}
        let e = parse("eyJhbGciOiJIUzI1NiIsImtpZCI6NX0.e30.x")
            .err()
            .unwrap();
        assert_eq!(e.message, "The JWT 'kid' header must be a string");
    }
}
