//! A snapshot of the `serendb_data_api.*` settings taken for one request.
//!
//! Pure data: the `guc` module fills it from Postgres, tests build it by hand. The default
//! values live once, in [`defaults`]: the GUCs' boot values and `Settings::default()` both
//! read them.

use std::ffi::CStr;

/// Every setting's default, as the GUC boot value (`guc.rs`) and in [`Settings::default`] /
/// [`ServerLimits::default`]. Strings are C strings because a GUC's boot value must be one.
pub(crate) mod defaults {
    use std::ffi::CStr;

    pub(crate) const JWT_ROLE_CLAIM_KEY: &CStr = c".role";
    pub(crate) const DEFAULT_ROLE: &CStr = c"authenticated";
    pub(crate) const DB_AUTHENTICATOR_ROLE: &CStr = c"authenticator";
    pub(crate) const DB_SCHEMAS: &CStr = c"public";
    /// `-1`: unlimited
    pub(crate) const DB_MAX_ROWS: i32 = -1;
    pub(crate) const DB_TX_END: &CStr = c"commit";
    pub(crate) const DB_EXTRA_SEARCH_PATH: &CStr = c"public";
    pub(crate) const JWT_LEEWAY_S: i32 = 30;
    pub(crate) const JWT_CACHE_MAX_LIFETIME_S: i32 = 3600;
    pub(crate) const JWKS_REFETCH_MIN_INTERVAL_S: i32 = 30;
    pub(crate) const OPENAPI_MODE: &CStr = c"follow-privileges";
    pub(crate) const OPENAPI_VERSION: &CStr = c"2.0";
    pub(crate) const SERVER_HOST: &CStr = c"127.0.0.1";
    pub(crate) const SERVER_PORT: i32 = 3000;
    pub(crate) const SERVER_MAX_CONNECTIONS: i32 = 1000;
    pub(crate) const SERVER_MAX_BODY_SIZE: i32 = 10 * 1024 * 1024;
    pub(crate) const SERVER_HEADER_TIMEOUT_MS: i32 = 10_000;
    pub(crate) const SERVER_BODY_TIMEOUT_MS: i32 = 60_000;
    pub(crate) const SERVER_KEEPALIVE_TIMEOUT_MS: i32 = 60_000;
}

fn text(c: &CStr) -> String {
    c.to_string_lossy().into_owned()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEnd {
    Commit,
    CommitAllowOverride,
    Rollback,
    RollbackAllowOverride,
}

impl TxEnd {
    pub fn parse(s: &str) -> TxEnd {
        match s.trim() {
            "commit-allow-override" => TxEnd::CommitAllowOverride,
            "rollback" => TxEnd::Rollback,
            "rollback-allow-override" => TxEnd::RollbackAllowOverride,
            _ => TxEnd::Commit,
        }
    }
    pub(crate) fn allows_override(&self) -> bool {
        matches!(
            self,
            TxEnd::CommitAllowOverride | TxEnd::RollbackAllowOverride
        )
    }
    pub(crate) fn default_rollback(&self) -> bool {
        matches!(self, TxEnd::Rollback | TxEnd::RollbackAllowOverride)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) jwt_secret: Option<String>,
    pub(crate) jwt_aud: Option<String>,
    /// PostgREST's role claim path, e.g. `.role` or `.app_metadata.role`.
    pub(crate) jwt_role_claim_key: String,
    /// Role for a valid JWT without a role claim.
    pub(crate) default_role: String,
    /// Role for requests without a JWT; `None` means such requests get 401.
    pub(crate) anon_role: Option<String>,
    pub(crate) authenticator_role: String,
    /// Exposed schemas; the first is the default.
    pub(crate) schemas: Vec<String>,
    pub(crate) max_rows: Option<i64>,
    pub(crate) tx_end: TxEnd,
    pub(crate) aggregates_enabled: bool,
    /// `jwt_secret` is base64-encoded (PostgREST's `jwt-secret-is-base64`)
    pub(crate) jwt_secret_is_base64: bool,
    /// accepted `iss` values; empty: not checked
    pub(crate) jwt_iss: Vec<String>,
    /// clock skew tolerated on `exp`, `nbf`, `iat` (seconds)
    pub(crate) jwt_leeway: i64,
    /// seconds a verified token stays cached (at most until its `exp`); 0: no cache
    pub(crate) jwt_cache_max_lifetime: i64,
    /// where signing keys are fetched from (by the listener)
    pub(crate) jwks_url: Option<String>,
    /// an unknown `kid` triggers a refetch at most this often (seconds)
    pub(crate) jwks_refetch_min_interval: i64,
    /// function called before the main query (`db_pre_request`)
    pub(crate) pre_request: Option<String>,
    /// `db_plan_enabled`: `Accept: application/vnd.pgrst.plan` answers the EXPLAIN output
    pub(crate) plan_enabled: bool,
    /// `db_extra_search_path`: schemas after the request's own on its search_path (PostgREST's
    /// default `public`; e.g. `extensions` where PostGIS lives)
    pub(crate) extra_search_path: Vec<String>,
    /// `GET /`: what the OpenAPI description shows (PostgREST's `openapi-mode`).
    pub(crate) openapi_mode: OpenApiMode,
    /// `GET /`: the document served when the Accept header does not ask for a version.
    pub(crate) openapi_version: crate::api_request::media_types::OpenApiVersion,
    /// `openapi-server-proxy-uri`: the public URL the document names instead of the server's.
    pub(crate) openapi_server_proxy_uri: Option<String>,
    /// `openapi-security-active`: the document declares the JWT bearer security scheme.
    pub(crate) openapi_security_active: bool,
    /// the listener's address, named in the document when no proxy URI is set
    pub(crate) server_host: String,
    pub(crate) server_port: u16,
}

/// PostgREST's `openapi-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenApiMode {
    /// only the tables and functions the request's role may use
    #[default]
    FollowPrivileges,
    /// every table and function of the schema
    IgnorePrivileges,
    /// `GET /` answers 404 PGRST126
    Disabled,
}

impl OpenApiMode {
    pub fn parse(s: &str) -> OpenApiMode {
        match s.trim() {
            "ignore-privileges" => OpenApiMode::IgnorePrivileges,
            "disabled" => OpenApiMode::Disabled,
            _ => OpenApiMode::FollowPrivileges,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        use defaults as d;
        Settings {
            jwt_secret: None,
            jwt_aud: None,
            jwt_role_claim_key: text(d::JWT_ROLE_CLAIM_KEY),
            default_role: text(d::DEFAULT_ROLE),
            anon_role: None,
            authenticator_role: text(d::DB_AUTHENTICATOR_ROLE),
            schemas: Settings::parse_schemas(&text(d::DB_SCHEMAS)),
            max_rows: Settings::parse_max_rows(d::DB_MAX_ROWS),
            tx_end: TxEnd::parse(&text(d::DB_TX_END)),
            aggregates_enabled: false,
            jwt_secret_is_base64: false,
            jwt_iss: vec![],
            jwt_leeway: d::JWT_LEEWAY_S.into(),
            jwt_cache_max_lifetime: d::JWT_CACHE_MAX_LIFETIME_S.into(),
            jwks_url: None,
            jwks_refetch_min_interval: d::JWKS_REFETCH_MIN_INTERVAL_S.into(),
            pre_request: None,
            plan_enabled: false,
            extra_search_path: Settings::parse_list(&text(d::DB_EXTRA_SEARCH_PATH)),
            openapi_mode: OpenApiMode::parse(&text(d::OPENAPI_MODE)),
            openapi_version: crate::api_request::media_types::OpenApiVersion::parse(&text(
                d::OPENAPI_VERSION,
            ))
            .unwrap_or_default(),
            openapi_server_proxy_uri: None,
            openapi_security_active: false,
            server_host: text(d::SERVER_HOST),
            server_port: d::SERVER_PORT as u16,
        }
    }
}

impl Settings {
    /// Sets one setting by its name (PostgREST's config key with `_`, as the GUC
    /// `serendb_data_api.<name>` without the prefix), parsed as the GUC's value is: the way
    /// `fuzz/` and `examples/` configure a snapshot. Only request-time settings.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let opt = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
        let int = |v: &str| v.trim().parse::<i64>().map_err(|e| format!("{name}: {e}"));
        let flag = |v: &str| match v.trim() {
            "on" | "true" | "1" => Ok(true),
            "off" | "false" | "0" => Ok(false),
            other => Err(format!("{name}: not a boolean: {other}")),
        };
        match name {
            "jwt_secret" => self.jwt_secret = opt(value),
            "jwt_aud" => self.jwt_aud = opt(value),
            "jwt_role_claim_key" => self.jwt_role_claim_key = value.trim().to_string(),
            "default_role" => self.default_role = value.trim().to_string(),
            "db_anon_role" => self.anon_role = opt(value),
            "db_schemas" => self.schemas = Settings::parse_schemas(value),
            "db_max_rows" => {
                let n = i32::try_from(int(value)?).map_err(|e| format!("{name}: {e}"))?;
                self.max_rows = Settings::parse_max_rows(n);
            }
            "db_tx_end" => self.tx_end = TxEnd::parse(value),
            "db_aggregates_enabled" => self.aggregates_enabled = flag(value)?,
            "db_plan_enabled" => self.plan_enabled = flag(value)?,
            "db_extra_search_path" => self.extra_search_path = Settings::parse_list(value),
            "jwt_secret_is_base64" => self.jwt_secret_is_base64 = flag(value)?,
            "jwt_iss" => self.jwt_iss = Settings::parse_list(value),
            "jwt_leeway" => self.jwt_leeway = int(value)?,
            "openapi_mode" => self.openapi_mode = OpenApiMode::parse(value),
            _ => return Err(format!("not a request-time setting: {name}")),
        }
        Ok(())
    }

    /// The request's search_path: its schema, then `db_extra_search_path`, each quoted (as
    /// PostgREST sets it).
    pub fn search_path(&self, schema: &str) -> String {
        std::iter::once(schema)
            .chain(self.extra_search_path.iter().map(String::as_str))
            .map(|s| format!("\"{}\"", s.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Splits a comma-separated list (`jwt_iss`), dropping empty items.
    pub(crate) fn parse_list(s: &str) -> Vec<String> {
        s.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Splits a `db_schemas` value such as `public, v2`; an empty one is the default.
    pub(crate) fn parse_schemas(s: &str) -> Vec<String> {
        let v = Settings::parse_list(s);
        if v.is_empty() {
            Settings::parse_list(&text(defaults::DB_SCHEMAS))
        } else {
            v
        }
    }

    /// `db_max_rows`: a negative value is no limit.
    pub(crate) fn parse_max_rows(n: i32) -> Option<i64> {
        (n >= 0).then_some(n.into())
    }
}

/// What one client connection may cost the listener (the `server_*` settings): read when a
/// connection is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// open client connections; more get 503 at once
    pub(crate) max_connections: usize,
    /// request bodies larger than this get 413 before they are read
    pub(crate) max_body: usize,
    /// from a request's first byte (or the connection's start) until its headers are complete
    pub(crate) header_timeout: std::time::Duration,
    /// for the whole body, once the headers are in; also the longest a client may take to
    /// accept any part of a response
    pub(crate) body_timeout: std::time::Duration,
    /// how long a keep-alive connection may sit idle between requests
    pub(crate) keepalive_timeout: std::time::Duration,
}

impl ServerLimits {
    /// These limits with another largest request body (bytes).
    pub fn with_max_body(self, max_body: usize) -> Self {
        ServerLimits { max_body, ..self }
    }

    /// From the settings' values: connections, body bytes, and the header, body and
    /// keep-alive timeouts in ms (out-of-range values clamped, as the GUCs' minimums).
    pub(crate) fn from_values(max_connections: i32, max_body: i32, timeouts_ms: [i32; 3]) -> Self {
        let ms = |v: i32| std::time::Duration::from_millis(v.max(1) as u64);
        let [header, body, keepalive] = timeouts_ms;
        ServerLimits {
            max_connections: max_connections.max(1) as usize,
            max_body: max_body.max(0) as usize,
            header_timeout: ms(header),
            body_timeout: ms(body),
            keepalive_timeout: ms(keepalive),
        }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits::from_values(
            defaults::SERVER_MAX_CONNECTIONS,
            defaults::SERVER_MAX_BODY_SIZE,
            [
                defaults::SERVER_HEADER_TIMEOUT_MS,
                defaults::SERVER_BODY_TIMEOUT_MS,
                defaults::SERVER_KEEPALIVE_TIMEOUT_MS,
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_is_the_schema_then_the_extra_ones_quoted() {
        let mut s = Settings::default();
        assert_eq!(s.search_path("api"), "\"api\", \"public\"");
        s.extra_search_path = Settings::parse_list("extensions, x\"y");
        assert_eq!(
            s.search_path("public"),
            "\"public\", \"extensions\", \"x\"\"y\""
        );
        s.extra_search_path = Settings::parse_list("");
        assert_eq!(s.search_path("public"), "\"public\"");
    }

    #[test]
    fn schemas_are_split_and_trimmed() {
        assert_eq!(Settings::parse_schemas("public, v2"), vec!["public", "v2"]);
        assert_eq!(Settings::parse_schemas(" "), vec!["public"]);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = Settings::default();
        assert_eq!(
            (s.jwt_role_claim_key.as_str(), s.schemas.clone(), s.max_rows),
            (".role", vec!["public".to_string()], None)
        );
        assert_eq!(
            (s.tx_end, s.openapi_mode),
            (TxEnd::Commit, OpenApiMode::FollowPrivileges)
        );
        let l = ServerLimits::default();
        assert_eq!((l.max_connections, l.max_body), (1000, 10 * 1024 * 1024));
        assert_eq!(l.header_timeout, std::time::Duration::from_secs(10));
        assert_eq!(l.keepalive_timeout, std::time::Duration::from_secs(60));
    }

    #[test]
    fn set_parses_as_the_gucs_do() {
        let mut s = Settings::default();
        s.set("db_schemas", "public, v2").unwrap();
        s.set("db_max_rows", "-1").unwrap();
        s.set("db_anon_role", " ").unwrap();
        s.set("db_aggregates_enabled", "on").unwrap();
        assert_eq!(
            (s.schemas.len(), s.max_rows, s.anon_role.is_none()),
            (2, None, true)
        );
        assert!(s.aggregates_enabled);
        s.set("db_max_rows", "5").unwrap();
        assert_eq!(s.max_rows, Some(5));
        assert!(s.set("db_max_rows", "x").is_err());
        assert!(s.set("server_port", "1").is_err());
    }

    #[test]
    fn tx_end_values() {
        assert!(TxEnd::parse("commit-allow-override").allows_override());
        assert!(!TxEnd::parse("commit").allows_override());
        assert!(TxEnd::parse("rollback").default_rollback());
        assert_eq!(TxEnd::parse("junk"), TxEnd::Commit);
    }
}
