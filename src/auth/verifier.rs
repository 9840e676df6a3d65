//! An executor's token verification: the keys of `jwt_secret` and of the JWKS file (re-parsed
//! only when they change), the verified-token cache, and the early refetch on an unknown `kid`.
//! No Postgres here: a waiting request sleeps at most [`REFETCH_WAIT`].

use super::jwks_file::{self, Watcher};
use super::jwt::{self, ClaimChecks, Refusal};
use super::keys::{self, KeySet};
use super::token_cache::TokenCache;
use crate::error::ApiError;
use crate::settings::Settings;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

thread_local! {
    /// An executor's verifier; its paths are relative to the data directory (the cwd).
    static VERIFIER: RefCell<Verifier> = RefCell::new(Verifier::new("."));
}

/// [`super::authenticate_with`] with this thread's verifier (keys, JWKS file, token cache).
pub fn authenticate_request(
    authorization: Option<&str>,
    settings: &Settings,
    now: u64,
) -> Result<super::AuthResult, ApiError> {
    super::authenticate_with(authorization, settings, |token| {
        VERIFIER.with(|v| v.borrow_mut().verify(token, settings, now as i64))
    })
}

/// How long a request with an unknown `kid` waits for the refetch it triggered.
pub const REFETCH_WAIT: Duration = Duration::from_millis(2500);

#[derive(PartialEq)]
struct Fingerprint {
    secret: Option<String>,
    secret_is_base64: bool,
    jwks_url: Option<String>,
    jwks_version: Option<(u64, i64, i64, u64)>,
    checks: ClaimChecks,
}

pub struct Verifier {
    dir: PathBuf,
    secret: Option<(Option<String>, bool)>,
    secret_keys: Option<KeySet>,
    watcher: Watcher,
    /// keys of the JWKS file, when it is for the configured URL and holds a good document
    jwks_keys: Option<KeySet>,
    jwks_keys_for: Option<String>,
    cache: TokenCache,
    fingerprint: Option<Fingerprint>,
}

impl Verifier {
    /// `dir`: where the JWKS state file lives (the data directory, a backend's cwd).
    pub fn new(dir: impl AsRef<Path>) -> Verifier {
        Verifier {
            dir: dir.as_ref().to_path_buf(),
            secret: None,
            secret_keys: None,
            watcher: Watcher::default(),
            jwks_keys: None,
            jwks_keys_for: None,
            cache: TokenCache::default(),
            fingerprint: None,
        }
    }

    /// The token's verified claims, or why not.
    pub fn verify(
        &mut self,
        token: &str,
        settings: &Settings,
        now: i64,
    ) -> Result<Map<String, Value>, ApiError> {
        if token.is_empty() {
            // PostgREST checks this first, before the secret.
            jwt::parse(token)?;
        }
        self.refresh(settings);
        if self.secret_keys.is_none() && settings.jwks_url.is_none() {
            return Err(ApiError::jwt_secret_missing());
        }
        let cached = self.cache.get(token, now);
        crate::metrics::get().jwt_cache_lookup(cached.is_some());
        if let Some(claims) = cached {
            return Ok(claims.clone());
        }
        let parsed = jwt::parse(token)?;
        let checks = claim_checks(settings);
        let claims = match self.try_keys(&parsed, &checks, now) {
            // JWKS documents hold public keys: an HS token is no reason to refetch.
            Err(Refusal::NoCandidateKey)
                if settings.jwks_url.is_some()
                    && parsed.alg.family() != jsonwebtoken::AlgorithmFamily::Hmac =>
            {
                if self.refetch_allowed(settings, now) && self.refetch_and_wait(settings) {
                    self.try_keys(&parsed, &checks, now)
                } else {
                    Err(Refusal::NoCandidateKey)
                }
            }
            other => other,
        };
        match claims {
            Ok(claims) => {
                let until = jwt::valid_until(&claims, checks.leeway);
                self.cache.insert(
                    token,
                    claims.clone(),
                    until,
                    settings.jwt_cache_max_lifetime,
                    now,
                );
                Ok(claims)
            }
            Err(Refusal::Invalid(e)) => Err(e),
            Err(Refusal::NoCandidateKey) => match (&settings.jwks_url, &self.jwks_keys) {
                (Some(url), None) => Err(keys_unavailable(url, self.watcher_state_for(url))),
                _ => Err(jwt::no_suitable_key()),
            },
        }
    }

    fn try_keys(
        &self,
        parsed: &jwt::Parsed<'_>,
        checks: &ClaimChecks,
        now: i64,
    ) -> Result<Map<String, Value>, Refusal> {
        let sets: Vec<&KeySet> = [self.secret_keys.as_ref(), self.jwks_keys.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        jwt::verify(parsed, &sets, checks, now)
    }

    fn watcher_state_for(&self, url: &str) -> Option<&jwks_file::JwksState> {
        self.watcher.state().filter(|s| s.url == url)
    }

    /// Re-reads what changed (secret, JWKS file) and drops the token cache when the keys or
    /// the checks are no longer those the cached tokens were verified with.
    fn refresh(&mut self, settings: &Settings) {
        let secret = (settings.jwt_secret.clone(), settings.jwt_secret_is_base64);
        if self.secret.as_ref() != Some(&secret) {
            self.secret_keys = keys::from_secret(secret.0.as_deref(), secret.1);
            self.secret = Some(secret);
        }
        match &settings.jwks_url {
            Some(url) => {
                let changed = self.watcher.refresh(&self.dir);
                if changed || self.jwks_keys_for.as_deref() != Some(url) {
                    self.jwks_keys = self
                        .watcher_state_for(url)
                        .and_then(|s| s.jwks.as_ref())
                        .map(keys::from_jwk_document);
                    self.jwks_keys_for = Some(url.clone());
                }
            }
            None => {
                self.jwks_keys = None;
                self.jwks_keys_for = None;
            }
        }
        let fingerprint = Fingerprint {
            secret: settings.jwt_secret.clone(),
            secret_is_base64: settings.jwt_secret_is_base64,
            jwks_url: settings.jwks_url.clone(),
            jwks_version: settings
                .jwks_url
                .as_ref()
                .and_then(|_| self.watcher.version()),
            checks: claim_checks(settings),
        };
        if self.fingerprint.as_ref() != Some(&fingerprint) {
            self.cache.clear();
            self.fingerprint = Some(fingerprint);
        }
    }

    /// The fetcher honours a request only this often, so waiting for one it would ignore is
    /// pointless (and an attacker sending random `kid`s costs one fetch per interval).
    fn refetch_allowed(&self, settings: &Settings, now: i64) -> bool {
        let Some(url) = &settings.jwks_url else {
            return false;
        };
        match self.watcher_state_for(url) {
            None => true,
            Some(s) => now - s.attempted_at >= settings.jwks_refetch_min_interval.max(1),
        }
    }

    /// Asks the fetcher and waits (briefly) for the file to change; true when it did.
    fn refetch_and_wait(&mut self, settings: &Settings) -> bool {
        jwks_file::request_refetch(&self.dir);
        let deadline = Instant::now() + REFETCH_WAIT;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            if self.watcher.refresh(&self.dir) {
                // make refresh() re-parse the keys
                self.jwks_keys_for = None;
                self.refresh(settings);
                return true;
            }
        }
        false
    }
}

fn claim_checks(settings: &Settings) -> ClaimChecks {
    ClaimChecks {
        aud: settings.jwt_aud.clone(),
        iss: settings.jwt_iss.clone(),
        leeway: settings.jwt_leeway.max(0),
    }
}

/// 503: a JWKS URL is configured but no keys could be fetched from it yet. Not 401: the token
/// may be fine, the server is not ready to tell.
fn keys_unavailable(url: &str, state: Option<&jwks_file::JwksState>) -> ApiError {
    let why = state
        .and_then(|s| s.error.clone())
        .unwrap_or_else(|| "no fetch has completed yet".into());
    ApiError::jwks_unavailable(url, &why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;
    const URL: &str = "https://idp.test/.well-known/jwks.json";
    // base64url of 32 bytes of 'k' and of 'j'
    const K1: &str = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s";
    const K2: &str = "ampqampqampqampqampqampqampqampqampqampqamo";

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("verifier-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn settings() -> Settings {
        Settings {
            jwks_url: Some(URL.into()),
            ..Settings::default()
        }
    }

    fn publish(dir: &Path, keys: &[(&str, &str)], error: Option<&str>) {
        let jwks = (!keys.is_empty()).then(|| {
            json!({"keys": keys.iter().map(|(kid, k)| json!({"kty": "oct", "kid": kid, "k": k}))
                .collect::<Vec<_>>()})
        });
        jwks_file::write(
            dir,
            &jwks_file::JwksState {
                url: URL.into(),
                attempted_at: NOW,
                fetched_at: jwks.as_ref().map(|_| NOW),
                error: error.map(str::to_string),
                jwks,
            },
        )
        .unwrap();
        // a rename within the same clock tick may keep the stamp: make the change visible
        std::thread::sleep(Duration::from_millis(20));
    }

    fn token(kid: &str, secret: &[u8]) -> String {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.into());
        encode(
            &h,
            &json!({"sub": "u", "exp": NOW + 60}),
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn keys_come_from_the_jwks_file_and_follow_it() {
        let d = dir("follow");
        let mut v = Verifier::new(&d);
        publish(&d, &[("one", K1)], None);
        let t1 = token("one", &[b'k'; 32]);
        assert_eq!(v.verify(&t1, &settings(), NOW).unwrap()["sub"], "u");
        assert_eq!(v.cache.len(), 1);
        // rotation: key one withdrawn, two published; the cached token is dropped with it
        publish(&d, &[("two", K2)], None);
        let e = v.verify(&t1, &settings(), NOW).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (401, "PGRST301"));
        assert!(v
            .verify(&token("two", &[b'j'; 32]), &settings(), NOW)
            .is_ok());
        // a forged token with a known kid is refused without any refetch
        let e = v
            .verify(&token("two", &[b'x'; 32]), &settings(), NOW)
            .unwrap_err();
        assert_eq!(e.message, "No suitable key or wrong key type");
        assert!(!d.join(jwks_file::REFETCH_FILE).exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn no_keys_yet_is_503_and_failed_fetches_keep_the_last_keys() {
        let d = dir("pending");
        let mut v = Verifier::new(&d);
        // attempted just now (no refetch allowed, so no waiting), failed, no keys ever
        publish(&d, &[], Some("connection refused"));
        let t1 = token("one", &[b'k'; 32]);
        let e = v.verify(&t1, &settings(), NOW).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (503, "PGRST300"));
        assert!(e.details.unwrap().contains("connection refused"));
        publish(&d, &[("one", K1)], None);
        assert!(v.verify(&t1, &settings(), NOW).is_ok());
        // a document fetched from another URL is not used (jwks_url just changed)
        let other = Settings {
            jwks_url: Some("https://elsewhere.test/jwks".into()),
            ..settings()
        };
        assert_eq!(v.verify(&t1, &other, NOW).unwrap_err().status, 503);
        // a later failed attempt keeps the keys it had
        let s = jwks_file::read(&d).unwrap();
        jwks_file::write(
            &d,
            &jwks_file::JwksState {
                error: Some("timeout".into()),
                attempted_at: NOW + 1,
                ..s
            },
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(v
            .verify(&token("one", &[b'k'; 32]), &settings(), NOW + 2)
            .is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn unknown_kid_refetch_respects_the_interval() {
        let d = dir("interval");
        let mut v = Verifier::new(&d);
        publish(&d, &[("one", K1)], None);
        let stray = token("stray", &[b'k'; 32]);
        // attempted at NOW: within the interval no refetch is asked for
        let e = v.verify(&stray, &settings(), NOW + 5).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(!d.join(jwks_file::REFETCH_FILE).exists());
        // HS tokens never ask (JWK Sets hold public keys)...
        // ...but an asymmetric unknown kid after the interval does (and waits in vain here)
        // {"alg":"ES256","kid":"stray"}
        let es = "eyJhbGciOiJFUzI1NiIsImtpZCI6InN0cmF5In0.e30.c2ln";
        let started = Instant::now();
        let e = v.verify(es, &settings(), NOW + 31).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(d.join(jwks_file::REFETCH_FILE).exists());
        assert!(started.elapsed() >= REFETCH_WAIT);
        let _ = std::fs::remove_dir_all(&d);
    }
}
