//! Verification keys: what `jwt_secret` holds (an HS secret, a JWK or a JWK Set, optionally
//! base64-encoded) and what a JWKS URL serves, and which of them may check a given token.
//!
//! A key is only tried for a token whose algorithm it can serve: same family (so an HS token is
//! never checked against an RSA public key used as an HMAC secret, the classic confusion
//! attack), the JWK's own `alg` if it names one, the curve the algorithm needs, and not a key
//! marked for encryption. With a `kid` in the token only keys with that `kid` are tried.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::str::FromStr;

/// PostgREST refuses shorter HS secrets.
pub const MIN_SECRET_LEN: usize = 32;

pub struct Key {
    pub kid: Option<String>,
    /// the JWK's `alg`, when it names one
    pub alg: Option<Algorithm>,
    /// `crv` of EC and OKP keys
    pub curve: Option<String>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("curve", &self.curve)
            .finish()
    }
}

#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<Key>,
}

impl KeySet {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys that may verify a token signed with `alg` (and naming `kid`, if it does).
    pub fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        self.keys.iter().filter(move |k| {
            k.key.family() == alg.family()
                && k.alg.is_none_or(|a| a == alg)
                && curve_fits(alg, k.curve.as_deref())
                && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid))
        })
    }

    /// Whether any key carries this `kid`.
    #[cfg(test)]
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// ES256 needs P-256, ES384 P-384, EdDSA Ed25519 (the only OKP curve supported).
fn curve_fits(alg: Algorithm, curve: Option<&str>) -> bool {
    match alg {
        Algorithm::ES256 => curve == Some("P-256"),
        Algorithm::ES384 => curve == Some("P-384"),
        Algorithm::EdDSA => curve == Some("Ed25519"),
        _ => true,
    }
}

/// `jwt_secret` as keys. `None`: no usable secret (absent, too short, undecodable, or a JWK
/// document without a single usable key), which PostgREST reports as PGRST300.
pub fn from_secret(secret: Option<&str>, is_base64: bool) -> Option<KeySet> {
    let secret = secret?;
    let bytes = if is_base64 {
        decode_base64(secret.trim())?
    } else {
        secret.as_bytes().to_vec()
    };
    let text = std::str::from_utf8(&bytes).unwrap_or("");
    if text.trim_start().starts_with('{') {
        let doc: Value = serde_json::from_str(text).ok()?;
        let set = from_jwk_document(&doc);
        return (!set.is_empty()).then_some(set);
    }
    let long_enough = if is_base64 {
        bytes.len() >= MIN_SECRET_LEN
    } else {
        secret.chars().count() >= MIN_SECRET_LEN
    };
    if !long_enough {
        return None;
    }
    Some(KeySet {
        keys: vec![Key {
            kid: None,
            alg: None,
            curve: None,
            key: DecodingKey::from_secret(&bytes),
        }],
    })
}

/// A JWK Set (`{"keys": [...]}`) or a single JWK. Keys that cannot verify signatures (unknown
/// types, curves or algorithms, `use: enc`, malformed) are skipped, not fatal: providers
/// publish encryption keys and newer algorithms next to the signing keys.
pub fn from_jwk_document(doc: &Value) -> KeySet {
    let jwks: Vec<&Value> = match doc.get("keys") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(_) => vec![],
        None => vec![doc],
    };
    KeySet {
        keys: jwks.into_iter().filter_map(key_from_jwk).collect(),
    }
}

fn key_from_jwk(v: &Value) -> Option<Key> {
    let obj = v.as_object()?;
    let text = |name: &str| obj.get(name).and_then(Value::as_str);
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(Value::Array(ops)) = obj.get("key_ops") {
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return None;
        }
    }
    let alg = match text("alg") {
        Some(a) => Some(Algorithm::from_str(a).ok()?),
        None => None,
    };
    let jwk: Jwk = serde_json::from_value(v.clone()).ok()?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    if alg.is_some_and(|a| a.family() != key.family()) {
        return None;
    }
    Some(Key {
        kid: text("kid").map(str::to_string),
        alg,
        curve: text("crv").map(str::to_string),
        key,
    })
}

/// Standard or URL-safe base64, padding optional (PostgREST's `jwt-secret-is-base64`).
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    if s.len() % 4 == 1 {
        return None;
    }
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
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // An Ed25519 public key, a P-256 one and a small RSA one (public parts only).
    pub const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    pub const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    pub const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    pub const RSA_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn hs_secret_needs_32_characters() {
        assert!(from_secret(Some("short"), false).is_none());
        assert!(from_secret(None, false).is_none());
        let set = from_secret(Some(&"x".repeat(32)), false).unwrap();
        assert_eq!(set.candidates(Algorithm::HS256, None).count(), 1);
        assert_eq!(set.candidates(Algorithm::RS256, None).count(), 0);
        assert_eq!(set.candidates(Algorithm::EdDSA, None).count(), 0);
    }

    #[test]
    fn base64_secrets() {
        // 32 bytes of 'a' in standard base64
        let b64 = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=";
        assert!(from_secret(Some(b64), true).is_some());
        // decodes to fewer than 32 bytes
        assert!(from_secret(Some("YWFhYQ=="), true).is_none());
        assert!(from_secret(Some("not base64!"), true).is_none());
        // a base64-encoded JWK
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X}).to_string();
        let enc: String = {
            // tiny encoder for the test
            const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let b = jwk.as_bytes();
            let mut s = String::new();
            for chunk in b.chunks(3) {
                let n =
                    chunk.iter().fold(0u32, |a, &c| (a << 8) | c as u32) << (8 * (3 - chunk.len()));
                for i in 0..=chunk.len() {
                    s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            s
        };
        let set = from_secret(Some(&enc), true).unwrap();
        assert_eq!(set.candidates(Algorithm::EdDSA, None).count(), 1);
    }

    #[test]
    fn jwks_keys_are_matched_by_family_alg_curve_and_kid() {
        let doc = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "ed"},
            {"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "ec", "alg": "ES256", "use": "sig"},
            {"kty": "RSA", "n": RSA_N, "e": "AQAB", "kid": "rsa"},
            {"kty": "RSA", "n": RSA_N, "e": "AQAB", "kid": "enc", "use": "enc"},
            {"kty": "EC", "crv": "P-521", "x": EC_X, "y": EC_Y, "kid": "p521"},
            {"kty": "weird", "kid": "w"},
            "not an object"
        ]});
        let set = from_jwk_document(&doc);
        let kids = |alg, kid| {
            set.candidates(alg, kid)
                .map(|k| k.kid.clone().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(kids(Algorithm::EdDSA, None), ["ed"]);
        assert_eq!(kids(Algorithm::ES256, None), ["ec"]);
        // the EC key is P-256 and says ES256
        assert!(kids(Algorithm::ES384, None).is_empty());
        assert_eq!(kids(Algorithm::RS256, None), ["rsa"]);
        assert_eq!(kids(Algorithm::PS512, None), ["rsa"]);
        assert_eq!(kids(Algorithm::RS256, Some("rsa")), ["rsa"]);
        assert!(kids(Algorithm::RS256, Some("ed")).is_empty());
        assert!(kids(Algorithm::RS256, Some("enc")).is_empty());
        assert!(kids(Algorithm::HS256, None).is_empty());
        assert!(set.has_kid("ed") && !set.has_kid("enc") && !set.has_kid("nope"));
    }

    #[test]
    fn a_single_jwk_and_oct_keys() {
        let k = "cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU";
        let set = from_secret(Some(&format!(r#"{{"kty":"oct","k":"{k}"}}"#)), false).unwrap();
        assert_eq!(set.candidates(Algorithm::HS512, None).count(), 1);
        // a JWK document without usable keys is no secret
        assert!(from_secret(Some(r#"{"keys":[]}"#), false).is_none());
        assert!(from_secret(Some(r#"{"kty":"nope"}"#), false).is_none());
        // an `alg` the key type cannot serve drops the key
        let doc = json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "alg": "RS256"});
        assert!(from_jwk_document(&doc).is_empty());
    }

    #[test]
    fn base64_decoding() {
        assert_eq!(decode_base64("e30").unwrap(), b"{}");
        assert_eq!(decode_base64("e30=").unwrap(), b"{}");
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("a*b").is_none());
    }
}
