//! Runs one request inside an executor: one transaction, `SET LOCAL ROLE` to the request's
//! role, the `request.*` settings, the planned statement through SPI, then commit or roll back.
//! Every Postgres error is caught here, the transaction rolled back and the error mapped to
//! PostgREST's JSON; nothing escapes to take the worker down.

use crate::api_request::{self, ApiRequest, RawRequest, TxPref};
use crate::auth::{self, AuthResult};
use crate::caches::{self, RoleVerdict};
use crate::error::ApiError;
use crate::guc;
use crate::observe::{self, Stage};
use crate::plan::{self, Statement};
use crate::request_settings;
use crate::respond::{self, error_response, HttpResponse, QueryResult};
use crate::session;
use crate::settings::Settings;
use crate::spi::{in_transaction, query_row, query_rows, Param};
use pgrx::pg_sys;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
}

/// The executor's settings: every `serendb_data_api.*` setting a request reads is reloadable
/// only (SIGHUP), so the snapshot (two dozen GUC reads and parses, ~4% of an executor's CPU
/// on GET by primary key) is taken once and again after each configuration reload.
pub fn settings() -> Rc<Settings> {
    SETTINGS.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| Rc::new(guc::snapshot()))
            .clone()
    })
}

/// Call after `ProcessConfigFile`: the next request takes a new snapshot.
pub fn forget_settings() {
    SETTINGS.with(|s| s.borrow_mut().take());
}

/// Handles one raw request end to end. Never panics on bad input and never raises.
pub fn handle(raw: &RawRequest) -> HttpResponse {
    let settings = settings();
    match run(raw, &settings) {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

static SECRET_PROBLEM_LOGGED: AtomicBool = AtomicBool::new(false);

fn run(raw: &RawRequest, settings: &Settings) -> Result<HttpResponse, ApiError> {
    let auth = observe::stage(Stage::Jwt, || {
        auth::authenticate(raw.header("authorization"), settings, now())
    })
    .inspect_err(|e| {
        // Once per executor: the administrator must learn why every JWT request fails.
        let missing = e.code == "PGRST300" && e.status == 500;
        if missing && !SECRET_PROBLEM_LOGGED.swap(true, Ordering::Relaxed) {
            pgrx::log!(
                "serendb_data_api: serendb_data_api.jwt_secret is missing or shorter than 32 \
                 characters; requests with a JWT get 500 PGRST300"
            );
        }
    })?;
    observe::set_role(&auth.role);
    let req = observe::stage(Stage::Parse, || api_request::parse_request(raw, settings))?;
    let anonymous = auth.anonymous;
    let result = observe::stage(Stage::Transaction, || {
        in_transaction(anonymous, || serve_in_transaction(&req, &auth, settings))
    });
    // A session-level setting (set_config(..., false), SET, a session-level SET ROLE in a
    // deferred trigger) must not reach the next request.
    if session::is_dirty() {
        session::restore();
    }
    result
}

/// The part of a request that runs inside its transaction. Returns the response and whether to
/// commit.
fn serve_in_transaction(
    req: &ApiRequest,
    auth: &AuthResult,
    settings: &Settings,
) -> Result<(HttpResponse, bool), ApiError> {
    // Introspection and the role check find nothing a tenant wrote before the catalog.
    session::set_local("search_path", session::INTERNAL_SEARCH_PATH)?;
    // The statement reads these after it ran: only what this request's SQL set counts. Most
    // transactions start with neither set (a set_config the cheaper GUC read saves).
    for name in [c"response.headers", c"response.status"] {
        if session::has_value(name) {
            session::set_local(name.to_str().unwrap_or_default(), "")?;
        }
    }
    // A request on a relation may be planned with a cache loaded before a DDL change that
    // does not concern it (caches::plan); what it names is in these fields (not the body).
    let strings =
        matches!(req.resource, crate::api_request::Resource::Relation(_)).then_some(|| {
            crate::schema_cache::unchanged::debug_strings(&format!(
                "{:?}",
                (
                    &req.resource,
                    &req.schema,
                    &req.query,
                    &req.prefer,
                    &req.accept,
                    &req.explain
                )
            ))
        });
    let stmt = caches::plan(&settings.schemas, strings, |sc| {
        observe::stage(Stage::Plan, || plan::plan(req, sc, settings))
    })?;
    let role_settings = check_role(&auth.role, settings)?;
    if stmt.read_only {
        unsafe { pg_sys::XactReadOnly = true };
    }
    set_request_context(req, auth, &settings.search_path(&req.schema))?;
    apply_role_settings(&role_settings)?;
    apply_timezone(req)?;
    let params = text_params(&stmt)?;
    let rollback = match (settings.tx_end.allows_override(), req.prefer.tx) {
        (true, Some(TxPref::Rollback)) => true,
        (true, Some(TxPref::Commit)) => false,
        _ => settings.tx_end.default_rollback(),
    };
    let result = {
        let _sandbox = RoleSandbox::enter();
        let _timeout = StatementTimer::arm();
        call_pre_request(settings)?;
        if let Some(explain) = stmt.explain {
            // the plan's rows (one line each in text format) are the body
            let lines: Vec<Option<String>> = query_rows(&stmt.sql, &params)?
                .into_iter()
                .map(|r| r.into_iter().next().flatten())
                .collect();
            return Ok((respond::explain_response(req, explain, &lines), !rollback));
        }
        let mut result = QueryResult::from_row(&query_row(&stmt.sql, &params)?);
        result.total = with_estimate(&stmt, result.total, &params)?;
        result.resolution_ignored = stmt.resolution_ignored;
        result
    };
    let resp = observe::stage(Stage::Response, || respond::respond(req, result))?;
    // before the commit: a response too large to send must not leave its writes behind
    crate::ipc::check_response_size(&resp, guc::max_response_size())?;
    Ok((resp, !rollback))
}

/// `Prefer: count=planned|estimated`: the statement's total combined with the planner's row
/// estimate of its rows, from an EXPLAIN (run only when the estimate is needed).
fn with_estimate(
    stmt: &Statement,
    total: Option<i64>,
    params: &[Param],
) -> Result<Option<i64>, ApiError> {
    let Some(est) = stmt.estimate.as_ref().filter(|e| e.needed(total)) else {
        return Ok(total);
    };
    let explain = query_row(&format!("EXPLAIN (FORMAT JSON) {}", est.sql), params)?;
    let planned = explain
        .first()
        .cloned()
        .flatten()
        .and_then(|j| plan::Estimate::plan_rows(&j))
        .ok_or_else(|| ApiError::internal("EXPLAIN gave no \"Plan Rows\""))?;
    Ok(est.total(total, planned))
}

// Not in pgrx's bindings (utils/timeout.h); TimeoutId::STATEMENT_TIMEOUT is 3 in PG15.
extern "C-unwind" {
    fn enable_timeout_after(id: std::ffi::c_int, delay_ms: std::ffi::c_int);
    fn disable_timeout(id: std::ffi::c_int, keep_indicator: bool);
}
const STATEMENT_TIMEOUT: std::ffi::c_int = 3;

/// `statement_timeout` (global, per role or per database) for the request's statement: a
/// background worker has no PostgresMain to arm the timer, so it is armed here.
struct StatementTimer(bool);

impl StatementTimer {
    fn arm() -> StatementTimer {
        let ms = unsafe { pg_sys::StatementTimeout };
        if ms > 0 {
            unsafe {
                pg_sys::ffi::pg_guard_ffi_boundary(|| enable_timeout_after(STATEMENT_TIMEOUT, ms))
            };
        }
        StatementTimer(ms > 0)
    }
}

impl Drop for StatementTimer {
    fn drop(&mut self) {
        if self.0 {
            unsafe {
                pg_sys::ffi::pg_guard_ffi_boundary(|| disable_timeout(STATEMENT_TIMEOUT, false))
            };
        }
    }
}

/// Runs the request's statement as a "local user id change", like a SECURITY DEFINER call:
/// then Postgres refuses SET ROLE, RESET ROLE and SET SESSION AUTHORIZATION inside it, so the
/// statement runs as the request's role only. (Work deferred to COMMIT runs after it and may
/// RESET ROLE: it then has the authenticator's rights, never more; README, "Trust model".)
/// An error aborts the transaction, which restores the previous user and context itself.
struct RoleSandbox {
    user: pg_sys::Oid,
    context: std::ffi::c_int,
}

impl RoleSandbox {
    fn enter() -> RoleSandbox {
        let mut user = pg_sys::InvalidOid;
        let mut context = 0;
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            pg_sys::SetUserIdAndSecContext(
                user,
                context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as std::ffi::c_int,
            );
        }
        RoleSandbox { user, context }
    }
}

impl Drop for RoleSandbox {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
        }
    }
}

fn text_params(stmt: &Statement) -> Result<Vec<Param>, ApiError> {
    stmt.params
        .iter()
        .map(|p| match p {
            Some(s) if s.contains('\0') => Err(ApiError::nul_byte()),
            Some(s) => Ok(Param::Text(Some(s.clone()))),
            None => Ok(Param::Text(None)),
        })
        .collect()
}

/// The request's role, claims, method, path, headers and search_path, all transaction-local.
fn set_request_context(
    req: &ApiRequest,
    auth: &AuthResult,
    search_path: &str,
) -> Result<(), ApiError> {
    let claims = if auth.claims.is_null() {
        String::new()
    } else {
        auth.claims.to_string()
    };
    session::set_local("role", &auth.role)?;
    session::set_local("request.jwt.claims", &claims)?;
    session::set_local("request.method", req.method.as_str())?;
    session::set_local("request.path", &request_settings::path(req))?;
    session::set_local(
        "request.headers",
        &request_settings::headers_json(&req.headers),
    )?;
    session::set_local("search_path", search_path)?;
    Ok(())
}

/// `Prefer: timezone=`: the response's timestamps in that zone, after the role's own settings
/// (as PostgREST orders them). An unknown zone is 400 22023 from set_config whatever
/// `handling` says, as in PostgREST.
fn apply_timezone(req: &ApiRequest) -> Result<(), ApiError> {
    if let Some(tz) = &req.prefer.timezone {
        session::set_local("timezone", tz)?;
    }
    Ok(())
}

/// `db_pre_request`: called as the request's role, in its transaction, with the `request.*`
/// settings visible; raising rejects the request, `response.*` settings it makes apply.
fn call_pre_request(settings: &Settings) -> Result<(), ApiError> {
    let Some(name) = &settings.pre_request else {
        return Ok(());
    };
    let unquote = |p: &str| {
        let p = p.trim();
        match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None => p.to_string(),
        }
    };
    let parts: Vec<String> = name
        .split('.')
        .map(|p| plan::sql::ident(&unquote(p)))
        .collect();
    query_row(&format!("SELECT {}()", parts.join(".")), &[])?;
    Ok(())
}

/// The impersonated role's own settings, transaction-local; most roles have none, and then this
/// costs nothing. Settings the authenticator may not set (superuser-only ones) are skipped;
/// `role` and `session_authorization` never come from here (see [`load_role_verdict`]).
fn apply_role_settings(role_settings: &[(String, String)]) -> Result<(), ApiError> {
    for (name, value) in role_settings {
        session::try_set_local(name, value)?;
    }
    Ok(())
}

/// PostgREST's authenticator model: only roles granted to the authenticator (the executors'
/// session user), and never one with more power than a request may have: a superuser, a
/// BYPASSRLS role, the authenticator itself, or a member of the roles that reach the server's
/// files and programs. When the authenticator itself could switch to such a role (a deferred
/// trigger can `SET ROLE` to any role granted to it), no request runs at all.
fn check_role(role: &str, settings: &Settings) -> Result<Rc<Vec<(String, String)>>, ApiError> {
    let key = format!("{}\u{0}{}", settings.authenticator_role, role);
    let verdict = caches::role_verdict(key, || load_role_verdict(role))?;
    match verdict {
        RoleVerdict::Allowed(role_settings) => Ok(role_settings),
        RoleVerdict::Missing => Err(ApiError::role_missing(role)),
        RoleVerdict::NotGranted | RoleVerdict::Privileged => Err(ApiError::role_not_allowed(role)),
        RoleVerdict::AuthenticatorPrivileged => {
            if !AUTHENTICATOR_PROBLEM_LOGGED.swap(true, Ordering::Relaxed) {
                pgrx::log!(
                    "serendb_data_api: the authenticator role \"{}\" is a member of a superuser \
                     role or of pg_execute_server_program / pg_read_server_files / \
                     pg_write_server_files; every request is refused",
                    settings.authenticator_role
                );
            }
            Err(ApiError::authenticator_privileged())
        }
    }
}

static AUTHENTICATOR_PROBLEM_LOGGED: AtomicBool = AtomicBool::new(false);

/// Role settings a request never takes: they would change who the request runs as.
const IDENTITY_SETTINGS: [&str; 2] = ["role", "session_authorization"];

fn load_role_verdict(role: &str) -> Result<RoleVerdict, ApiError> {
    const SERVER_ROLES: &str =
        "ARRAY['pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files']";
    let row = query_rows(
        &format!(
            "SELECT (r.rolsuper OR r.rolbypassrls OR r.rolname OPERATOR(pg_catalog.=) \
                     session_user \
                     OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles s \
                                WHERE s.rolname OPERATOR(pg_catalog.=) ANY ({SERVER_ROLES}::pg_catalog.name[]) \
                                  AND pg_catalog.pg_has_role(r.oid, s.oid, 'MEMBER')))::pg_catalog.text, \
               pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')::pg_catalog.text, \
               (SELECT COALESCE(pg_catalog.json_agg(c.cfg ORDER BY d.setdatabase), '[]')::pg_catalog.text \
                FROM pg_catalog.pg_db_role_setting d \
                CROSS JOIN LATERAL pg_catalog.unnest(d.setconfig) AS c(cfg) \
                WHERE d.setrole OPERATOR(pg_catalog.=) r.oid AND d.setdatabase OPERATOR(pg_catalog.=) \
                  ANY (ARRAY[0::pg_catalog.oid, (SELECT oid FROM pg_catalog.pg_database \
                                 WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())]::pg_catalog.oid[])), \
               EXISTS (SELECT 1 FROM pg_catalog.pg_roles s \
                       WHERE (s.rolsuper OR s.rolname OPERATOR(pg_catalog.=) ANY ({SERVER_ROLES}::pg_catalog.name[])) \
                         AND pg_catalog.pg_has_role(session_user, s.oid, 'MEMBER'))::pg_catalog.text \
             FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) $1"
        ),
        &[Param::Text(Some(role.to_string()))],
    )?;
    let flag =
        |r: &[Option<String>], i: usize| r.get(i).cloned().flatten().as_deref() == Some("true");
    Ok(match row.first() {
        None => RoleVerdict::Missing,
        Some(r) if flag(r, 0) => RoleVerdict::Privileged,
        Some(r) if flag(r, 3) => RoleVerdict::AuthenticatorPrivileged,
        Some(r) if flag(r, 1) => {
            let configs: Vec<String> = r
                .get(2)
                .cloned()
                .flatten()
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default();
            RoleVerdict::Allowed(Rc::new(
                configs
                    .iter()
                    .filter_map(|c| c.split_once('='))
                    .filter(|(k, _)| !IDENTITY_SETTINGS.contains(&k.to_ascii_lowercase().as_str()))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
        }
        Some(_) => RoleVerdict::NotGranted,
    })
}
