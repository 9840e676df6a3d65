//! Every error the API answers with, in PostgREST's shape: an HTTP status plus the JSON body
//! `{"code","message","details","hint"}` and, for some, extra headers.
//!
//! One struct, with one constructor per error kind, so the mapping to HTTP lives here only.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
    pub headers: Vec<(String, String)>,
    /// A body that replaces the standard one (raised with SQLSTATE 'PGRST').
    pub raw_body: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: None,
            hint: None,
            headers: vec![],
            raw_body: None,
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> ApiError {
        self.details = Some(details.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiError {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The JSON body PostgREST sends for this error.
    pub fn body(&self) -> String {
        if let Some(raw) = &self.raw_body {
            return raw.clone();
        }
        let v: Value = json!({
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        });
        v.to_string()
    }

    // ---- PGRST errors raised by the API itself -------------------------------------------

    /// PGRST100: the query string does not parse.
    pub fn parse_error(message: impl Into<String>, details: impl Into<String>) -> ApiError {
        ApiError::new(400, "PGRST100", message).with_details(details)
    }

    /// PGRST102: the request body is not valid JSON (or not what the endpoint expects).
    pub fn invalid_body(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "PGRST102", message)
    }

    /// PGRST205: no such table or view in the schema cache.
    pub fn table_not_found(schema: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            "PGRST205",
            format!("Could not find the table '{schema}.{name}' in the schema cache"),
        )
    }

    /// 503 while the configured database or the extension is not there yet.
    pub fn not_ready(message: impl Into<String>) -> ApiError {
        ApiError::new(503, "PGRST002", message)
    }

    /// 500 for a failure of the API itself (never a Postgres error: those keep their SQLSTATE).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "PGRSTX00", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_all_four_keys() {
        let e = ApiError::new(404, "PGRST205", "nope");
        let v: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["code"], "PGRST205");
        assert_eq!(v["message"], "nope");
        assert!(v["details"].is_null());
        assert!(v["hint"].is_null());
    }
}
