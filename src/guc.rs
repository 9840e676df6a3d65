//! The `serendb_data_api.*` settings (PostgREST config key `a-b` = GUC `serendb_data_api.a_b`).
//!
//! Server address, port, worker count and database are fixed at postmaster start; everything
//! else is reloadable (SIGHUP / `pg_reload_conf()`) and read fresh for every request.

use crate::api_request::media_types::OpenApiVersion;
use crate::settings::defaults as d;
use crate::settings::{OpenApiMode, ServerLimits, Settings, TxEnd};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::{CStr, CString};

const DEFAULT_DATABASE: &CStr = c"postgres";

pub static DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(DEFAULT_DATABASE));
pub static SERVER_HOST: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::SERVER_HOST));
pub static SERVER_PORT: GucSetting<i32> = GucSetting::<i32>::new(d::SERVER_PORT);
pub static WORKERS: GucSetting<i32> = GucSetting::<i32>::new(2);

/// Seconds a request may wait for a free executor before 504 PGRST003.
pub static POOL_ACQUISITION_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(10);

// The HTTP edge (read by the listener per connection; the response limit by the executors).
static SERVER_MAX_CONNECTIONS: GucSetting<i32> = GucSetting::<i32>::new(d::SERVER_MAX_CONNECTIONS);
static SERVER_MAX_BODY_SIZE: GucSetting<i32> = GucSetting::<i32>::new(d::SERVER_MAX_BODY_SIZE);
static SERVER_MAX_RESPONSE_SIZE: GucSetting<i32> =
    GucSetting::<i32>::new(crate::ipc::MAX_RESPONSE_BODY as i32);
static SERVER_HEADER_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(d::SERVER_HEADER_TIMEOUT_MS);
static SERVER_BODY_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(d::SERVER_BODY_TIMEOUT_MS);
static SERVER_KEEPALIVE_TIMEOUT: GucSetting<i32> =
    GucSetting::<i32>::new(d::SERVER_KEEPALIVE_TIMEOUT_MS);
/// Per executor, in kB: prepared plans beyond it are evicted, least recently used first.
static PLAN_CACHE_SIZE: GucSetting<i32> = GucSetting::<i32>::new(16 * 1024);

static JWT_SECRET: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static JWT_AUD: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static JWT_ROLE_CLAIM_KEY: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::JWT_ROLE_CLAIM_KEY));
static DEFAULT_ROLE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::DEFAULT_ROLE));
static DB_ANON_ROLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static DB_AUTHENTICATOR_ROLE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::DB_AUTHENTICATOR_ROLE));
static DB_SCHEMAS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::DB_SCHEMAS));
static DB_MAX_ROWS: GucSetting<i32> = GucSetting::<i32>::new(d::DB_MAX_ROWS);
static DB_TX_END: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::DB_TX_END));
static DB_AGGREGATES_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
static DB_PLAN_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
static DB_EXTRA_SEARCH_PATH: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::DB_EXTRA_SEARCH_PATH));

// JWT and JWKS settings (issue 10); the JWKS ones are read by the listener's fetcher too.
static JWT_SECRET_IS_BASE64: GucSetting<bool> = GucSetting::<bool>::new(false);
static JWT_ISS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static JWT_LEEWAY: GucSetting<i32> = GucSetting::<i32>::new(d::JWT_LEEWAY_S);
static JWT_CACHE_MAX_LIFETIME: GucSetting<i32> =
    GucSetting::<i32>::new(d::JWT_CACHE_MAX_LIFETIME_S);
static JWKS_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static JWKS_REFRESH_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(300);
pub static JWKS_REFETCH_MIN_INTERVAL: GucSetting<i32> =
    GucSetting::<i32>::new(d::JWKS_REFETCH_MIN_INTERVAL_S);
pub static JWKS_FETCH_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(5);
static DB_PRE_REQUEST: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

static SERVER_CORS_ALLOWED_ORIGINS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
static OPENAPI_MODE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::OPENAPI_MODE));
static OPENAPI_VERSION: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(d::OPENAPI_VERSION));
static OPENAPI_SERVER_PROXY_URI: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
static OPENAPI_SECURITY_ACTIVE: GucSetting<bool> = GucSetting::<bool>::new(false);

/// Reloadable (`pg_reload_conf()`) settings: every one but the few fixed at postmaster start.
fn sighup_string(
    name: &'static CStr,
    desc: &'static CStr,
    setting: &'static GucSetting<Option<CString>>,
    flags: GucFlags,
) {
    GucRegistry::define_string_guc(name, desc, c"", setting, GucContext::Sighup, flags);
}

fn sighup_int(
    name: &'static CStr,
    desc: &'static CStr,
    setting: &'static GucSetting<i32>,
    min: i32,
    max: i32,
    flags: GucFlags,
) {
    GucRegistry::define_int_guc(
        name,
        desc,
        c"",
        setting,
        min,
        max,
        GucContext::Sighup,
        flags,
    );
}

fn sighup_bool(name: &'static CStr, desc: &'static CStr, setting: &'static GucSetting<bool>) {
    GucRegistry::define_bool_guc(
        name,
        desc,
        c"",
        setting,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

pub fn register() {
    // PGC_POSTMASTER settings can only be defined while the library is preloaded; a plain
    // `LOAD` or CREATE EXTENSION in a session would fail otherwise.
    if unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress } {
        GucRegistry::define_string_guc(
            c"serendb_data_api.database",
            c"Database the API serves.",
            c"",
            &DATABASE,
            GucContext::Postmaster,
            GucFlags::default(),
        );
        GucRegistry::define_string_guc(
            c"serendb_data_api.server_host",
            c"Address the HTTP server listens on.",
            c"",
            &SERVER_HOST,
            GucContext::Postmaster,
            GucFlags::default(),
        );
        GucRegistry::define_int_guc(
            c"serendb_data_api.server_port",
            c"Port the HTTP server listens on.",
            c"",
            &SERVER_PORT,
            1,
            65535,
            GucContext::Postmaster,
            GucFlags::default(),
        );
        GucRegistry::define_int_guc(
            c"serendb_data_api.workers",
            c"Number of executor background workers (requests run concurrently).",
            c"",
            &WORKERS,
            1,
            64,
            GucContext::Postmaster,
            GucFlags::default(),
        );
        GucRegistry::define_int_guc(
            c"serendb_data_api.admin_server_port",
            c"Port of the admin server (/live, /ready, /schema_cache, /metrics); 0: off.",
            c"",
            &ADMIN_SERVER_PORT,
            0,
            65535,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    register_operations();
    sighup_int(
        c"serendb_data_api.db_pool_acquisition_timeout",
        c"Seconds a request waits for a free executor before 504 PGRST003.",
        &POOL_ACQUISITION_TIMEOUT,
        1,
        3600,
        GucFlags::UNIT_S,
    );
    register_server_limits();
    sighup_int(
        c"serendb_data_api.plan_cache_size",
        c"Memory for cached prepared plans, per executor (least recently used evicted).",
        &PLAN_CACHE_SIZE,
        0,
        1024 * 1024,
        GucFlags::UNIT_KB,
    );
    sighup_string(
        c"serendb_data_api.jwt_secret",
        c"Secret for HS256/384/512 JWT verification (at least 32 characters).",
        &JWT_SECRET,
        GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
    );
    sighup_string(
        c"serendb_data_api.jwt_aud",
        c"Expected aud claim (checked when set).",
        &JWT_AUD,
        GucFlags::default(),
    );
    sighup_string(
        c"serendb_data_api.jwt_role_claim_key",
        c"JSPath of the role claim.",
        &JWT_ROLE_CLAIM_KEY,
        GucFlags::default(),
    );
    sighup_string(
        c"serendb_data_api.default_role",
        c"Role of a valid JWT without a role claim.",
        &DEFAULT_ROLE,
        GucFlags::default(),
    );
    sighup_string(
        c"serendb_data_api.db_anon_role",
        c"Role of requests without a JWT; empty: such requests get 401.",
        &DB_ANON_ROLE,
        GucFlags::default(),
    );
    sighup_string(
        c"serendb_data_api.db_authenticator_role",
        c"Requests may only assume roles granted to this role.",
        &DB_AUTHENTICATOR_ROLE,
        GucFlags::default(),
    );
    sighup_string(
        c"serendb_data_api.db_schemas",
        c"Exposed schemas, comma separated; the first is the default.",
        &DB_SCHEMAS,
        GucFlags::default(),
    );
    sighup_int(
        c"serendb_data_api.db_max_rows",
        c"Upper bound of rows in any response; -1: unlimited.",
        &DB_MAX_ROWS,
        -1,
        i32::MAX,
        GucFlags::default(),
    );
    sighup_string(
        c"serendb_data_api.db_tx_end",
        c"commit, commit-allow-override, rollback or rollback-allow-override.",
        &DB_TX_END,
        GucFlags::default(),
    );
    sighup_bool(
        c"serendb_data_api.db_aggregates_enabled",
        c"Allow aggregate functions in select.",
        &DB_AGGREGATES_ENABLED,
    );
    sighup_bool(
        c"serendb_data_api.db_plan_enabled",
        c"Answer Accept: application/vnd.pgrst.plan with the request's EXPLAIN output.",
        &DB_PLAN_ENABLED,
    );
    sighup_string(
        c"serendb_data_api.db_extra_search_path",
        c"Schemas put on the search_path after the request's schema, comma separated.",
        &DB_EXTRA_SEARCH_PATH,
        GucFlags::default(),
    );
    register_jwt();
    register_web();
}

fn register_jwt() {
    sighup_bool(
        c"serendb_data_api.jwt_secret_is_base64",
        c"jwt_secret is base64-encoded.",
        &JWT_SECRET_IS_BASE64,
    );
    for (name, desc, setting) in [
        (
            c"serendb_data_api.jwt_iss",
            c"Accepted iss claims, comma separated (checked when set).",
            &JWT_ISS,
        ),
        (
            c"serendb_data_api.jwks_url",
            c"URL of the JWK Set with the token signing keys (https, or http to loopback).",
            &JWKS_URL,
        ),
        (
            c"serendb_data_api.db_pre_request",
            c"Function called before the main query of every request.",
            &DB_PRE_REQUEST,
        ),
    ] {
        sighup_string(name, desc, setting, GucFlags::default());
    }
    sighup_int(
        c"serendb_data_api.jwt_leeway",
        c"Clock skew tolerated on exp, nbf and iat.",
        &JWT_LEEWAY,
        0,
        3600,
        GucFlags::UNIT_S,
    );
    sighup_int(
        c"serendb_data_api.jwt_cache_max_lifetime",
        c"Seconds a verified JWT stays cached (at most until exp); 0 disables the cache.",
        &JWT_CACHE_MAX_LIFETIME,
        0,
        86400,
        GucFlags::UNIT_S,
    );
    sighup_int(
        c"serendb_data_api.jwks_refresh_interval",
        c"Seconds between background refreshes of the JWKS.",
        &JWKS_REFRESH_INTERVAL,
        10,
        86400,
        GucFlags::UNIT_S,
    );
    sighup_int(
        c"serendb_data_api.jwks_refetch_min_interval",
        c"Minimum seconds between JWKS fetches triggered by unknown kids or failures.",
        &JWKS_REFETCH_MIN_INTERVAL,
        1,
        3600,
        GucFlags::UNIT_S,
    );
    sighup_int(
        c"serendb_data_api.jwks_fetch_timeout",
        c"Seconds a JWKS fetch may take.",
        &JWKS_FETCH_TIMEOUT,
        1,
        60,
        GucFlags::UNIT_S,
    );
}

/// The configured JWKS URL (the fetcher reads it after each reload).
pub fn jwks_url() -> Option<String> {
    string(&JWKS_URL)
}

fn register_server_limits() {
    sighup_int(
        c"serendb_data_api.server_max_connections",
        c"Open client connections; more get 503 at once.",
        &SERVER_MAX_CONNECTIONS,
        1,
        1_000_000,
        GucFlags::default(),
    );
    sighup_int(
        c"serendb_data_api.server_max_body_size",
        c"Largest request body; larger ones get 413 before they are read.",
        &SERVER_MAX_BODY_SIZE,
        0,
        crate::http_server::MAX_BODY as i32,
        GucFlags::UNIT_BYTE,
    );
    sighup_int(
        c"serendb_data_api.server_max_response_size",
        c"Largest response body; larger responses become a 500 error.",
        &SERVER_MAX_RESPONSE_SIZE,
        0,
        crate::ipc::MAX_RESPONSE_BODY as i32,
        GucFlags::UNIT_BYTE,
    );
    sighup_int(
        c"serendb_data_api.server_header_timeout",
        c"Time a client has to send a request's headers (408 after).",
        &SERVER_HEADER_TIMEOUT,
        1,
        3_600_000,
        GucFlags::UNIT_MS,
    );
    sighup_int(
        c"serendb_data_api.server_body_timeout",
        c"Time a client has to send a request body, or to take part of a response.",
        &SERVER_BODY_TIMEOUT,
        1,
        3_600_000,
        GucFlags::UNIT_MS,
    );
    sighup_int(
        c"serendb_data_api.server_keepalive_timeout",
        c"Time an idle keep-alive connection stays open.",
        &SERVER_KEEPALIVE_TIMEOUT,
        1,
        3_600_000,
        GucFlags::UNIT_MS,
    );
}

/// The limits for a newly accepted connection.
pub fn server_limits() -> ServerLimits {
    ServerLimits::from_values(
        SERVER_MAX_CONNECTIONS.get(),
        SERVER_MAX_BODY_SIZE.get(),
        [
            SERVER_HEADER_TIMEOUT.get(),
            SERVER_BODY_TIMEOUT.get(),
            SERVER_KEEPALIVE_TIMEOUT.get(),
        ],
    )
}

/// The largest response body an executor sends back.
pub fn max_response_size() -> usize {
    SERVER_MAX_RESPONSE_SIZE.get().max(0) as usize
}

/// Browser origins / OpenAPI settings (PostgREST's `server-cors-allowed-origins`,
/// `openapi-*`; `openapi_version` is ours).
fn register_web() {
    for (name, desc, setting) in [
        (
            c"serendb_data_api.server_cors_allowed_origins",
            c"Origins allowed by CORS, comma separated; empty: any origin.",
            &SERVER_CORS_ALLOWED_ORIGINS,
        ),
        (
            c"serendb_data_api.openapi_mode",
            c"follow-privileges, ignore-privileges or disabled.",
            &OPENAPI_MODE,
        ),
        (
            c"serendb_data_api.openapi_version",
            c"OpenAPI document GET / serves by default: 2.0 (Swagger, as PostgREST) or 3.1.",
            &OPENAPI_VERSION,
        ),
        (
            c"serendb_data_api.openapi_server_proxy_uri",
            c"Public URL of the API named in the OpenAPI document.",
            &OPENAPI_SERVER_PROXY_URI,
        ),
    ] {
        sighup_string(name, desc, setting, GucFlags::default());
    }
    sighup_bool(
        c"serendb_data_api.openapi_security_active",
        c"Declare the JWT security scheme in the OpenAPI document.",
        &OPENAPI_SECURITY_ACTIVE,
    );
}

/// `server_cors_allowed_origins`, split at commas; empty: any origin.
pub fn cors_allowed_origins() -> Vec<String> {
    string(&SERVER_CORS_ALLOWED_ORIGINS)
        .map(|s| crate::cors::parse_origins(&s))
        .unwrap_or_default()
}

fn string(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting
        .get()
        .map(|c| c.to_string_lossy().trim().to_string())
        .filter(|s| !s.is_empty())
}

pub fn database() -> String {
    string(&DATABASE).unwrap_or_else(|| DEFAULT_DATABASE.to_string_lossy().into_owned())
}

pub fn plan_cache_bytes() -> usize {
    PLAN_CACHE_SIZE.get().max(0) as usize * 1024
}

pub fn server_host() -> String {
    string(&SERVER_HOST).unwrap_or_else(|| d::SERVER_HOST.to_string_lossy().into_owned())
}

/// The request-time settings, read from the current GUC values.
pub fn snapshot() -> Settings {
    // an emptied setting means its default (the same as the GUC's boot value)
    let defaults = Settings::default();
    Settings {
        jwt_secret: JWT_SECRET
            .get()
            .map(|c| c.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty()),
        jwt_aud: string(&JWT_AUD),
        jwt_role_claim_key: string(&JWT_ROLE_CLAIM_KEY).unwrap_or(defaults.jwt_role_claim_key),
        default_role: string(&DEFAULT_ROLE).unwrap_or(defaults.default_role),
        anon_role: string(&DB_ANON_ROLE),
        authenticator_role: string(&DB_AUTHENTICATOR_ROLE).unwrap_or(defaults.authenticator_role),
        schemas: Settings::parse_schemas(&string(&DB_SCHEMAS).unwrap_or_default()),
        max_rows: Settings::parse_max_rows(DB_MAX_ROWS.get()),
        tx_end: TxEnd::parse(&string(&DB_TX_END).unwrap_or_default()),
        aggregates_enabled: DB_AGGREGATES_ENABLED.get(),
        jwt_secret_is_base64: JWT_SECRET_IS_BASE64.get(),
        jwt_iss: Settings::parse_list(&string(&JWT_ISS).unwrap_or_default()),
        jwt_leeway: JWT_LEEWAY.get() as i64,
        jwt_cache_max_lifetime: JWT_CACHE_MAX_LIFETIME.get() as i64,
        jwks_url: jwks_url(),
        jwks_refetch_min_interval: JWKS_REFETCH_MIN_INTERVAL.get() as i64,
        pre_request: string(&DB_PRE_REQUEST),
        plan_enabled: DB_PLAN_ENABLED.get(),
        extra_search_path: Settings::parse_list(&string(&DB_EXTRA_SEARCH_PATH).unwrap_or_default()),
        openapi_mode: OpenApiMode::parse(&string(&OPENAPI_MODE).unwrap_or_default()),
        openapi_version: string(&OPENAPI_VERSION)
            .and_then(|v| OpenApiVersion::parse(&v))
            .unwrap_or_default(),
        openapi_server_proxy_uri: string(&OPENAPI_SERVER_PROXY_URI),
        openapi_security_active: OPENAPI_SECURITY_ACTIVE.get(),
        server_host: server_host(),
        server_port: SERVER_PORT.get() as u16,
    }
}

// ---- operating: admin server, timing, request logs, read replicas -------------------------

/// 0: no admin server.
pub static ADMIN_SERVER_PORT: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static SERVER_TIMING_ENABLED: GucSetting<bool> = GucSetting::<bool>::new(false);
static LOG_LEVEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"error"));
static SERVER_TRACE_HEADER: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static PRIMARY_URL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

fn register_operations() {
    sighup_bool(
        c"serendb_data_api.server_timing_enabled",
        c"Add a Server-Timing header (jwt, parse, plan, transaction, response) to responses.",
        &SERVER_TIMING_ENABLED,
    );
    for (name, desc, setting) in [
        (
            c"serendb_data_api.log_level",
            c"crit, error (5xx), warn (4xx and 5xx) or info/debug (every request): request log lines.",
            &LOG_LEVEL,
        ),
        (
            c"serendb_data_api.server_trace_header",
            c"Request header (e.g. X-Request-Id) echoed back in the response and logged.",
            &SERVER_TRACE_HEADER,
        ),
        (
            c"serendb_data_api.primary_url",
            c"On a read replica: base URL of the primary's API; writes get 307 to it.",
            &PRIMARY_URL,
        ),
    ] {
        sighup_string(name, desc, setting, GucFlags::default());
    }
}

pub fn log_level() -> crate::observe::LogLevel {
    crate::observe::LogLevel::parse(&string(&LOG_LEVEL).unwrap_or_default())
}

/// As configured (it is echoed with this spelling); request headers are matched lower-cased.
pub fn server_trace_header() -> Option<String> {
    string(&SERVER_TRACE_HEADER)
}

pub fn primary_url() -> Option<String> {
    string(&PRIMARY_URL)
}
