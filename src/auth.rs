//! JWT verification and role selection (PostgREST's authenticator model, pure part).
//!
//! Whether the chosen role may actually be assumed (granted to the authenticator role, not a
//! superuser) needs the catalog and is checked in `execute`.

use crate::error::ApiError;
use crate::settings::Settings;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct AuthResult {
    /// the role the request runs as
    pub role: String,
    /// all claims (a JSON object), or `Value::Null` for an anonymous request
    pub claims: Value,
    /// no JWT was given: the request runs as the anon role (42501 maps to 401)
    pub anonymous: bool,
}

/// Verifies the `Authorization` header value (if any) and picks the role.
/// `now` is the current UNIX time in seconds.
pub fn authenticate(
    authorization: Option<&str>,
    settings: &Settings,
    now: u64,
) -> Result<AuthResult, ApiError> {
    let _ = now;
    match authorization {
        None => match &settings.anon_role {
            Some(r) => Ok(AuthResult {
                role: r.clone(),
                claims: Value::Null,
                anonymous: true,
            }),
            None => Err(ApiError::new(401, "PGRST302", "Anonymous access is disabled")),
        },
        Some(_) => Err(ApiError::internal("JWT verification not implemented")),
    }
}
