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
use crate::respond::{self, error_response, HttpResponse, QueryResult};
use crate::settings::Settings;
use crate::spi::{in_transaction, query_row, query_rows, Param};
use pgrx::pg_sys;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Handles one raw request end to end. Never panics on bad input and never raises.
pub fn handle(raw: &RawRequest) -> HttpResponse {
    let settings = guc::snapshot();
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
    reset_session_role();
    result
}

/// The request's role is transaction-local, but SQL it ran may have issued a session-level
/// `SET ROLE`; the next request (and the schema cache loader) must not inherit it.
fn reset_session_role() {
    if unsafe { pg_sys::GetCurrentRoleId() } == pg_sys::InvalidOid {
        return;
    }
    let _ = in_transaction(false, || {
        query_row("SELECT set_config('role', 'none', false)", &[])?;
        Ok(((), true))
    });
}

/// The part of a request that runs inside its transaction. Returns the response and whether to
/// commit.
fn serve_in_transaction(
    req: &ApiRequest,
    auth: &AuthResult,
    settings: &Settings,
) -> Result<(HttpResponse, bool), ApiError> {
    let schema = caches::schema(&settings.schemas)?;
    let stmt = observe::stage(Stage::Plan, || plan::plan(req, &schema, settings))?;
    let role_settings = check_role(&auth.role, settings)?;
    if stmt.read_only {
        unsafe { pg_sys::XactReadOnly = true };
    }
    set_request_context(req, auth)?;
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
/// then Postgres refuses SET ROLE, RESET ROLE and SET SESSION AUTHORIZATION inside it. Without
/// this, SQL run by a request could RESET ROLE back to the executor's superuser session user.
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
            Some(s) if s.contains('\0') => Err(ApiError::new(
                400,
                "22021",
                "invalid byte sequence for encoding \"UTF8\": 0x00",
            )),
            Some(s) => Ok(Param::Text(Some(s.clone()))),
            None => Ok(Param::Text(None)),
        })
        .collect()
}

/// The request's role, claims, method, path, headers and search_path, all transaction-local.
fn set_request_context(req: &ApiRequest, auth: &AuthResult) -> Result<(), ApiError> {
    let claims = if auth.claims.is_null() {
        String::new()
    } else {
        auth.claims.to_string()
    };
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let path = match &req.resource {
        api_request::Resource::Relation(n) => format!("/{n}"),
        api_request::Resource::Rpc(n) => format!("/rpc/{n}"),
        api_request::Resource::Root => "/".to_string(),
    };
    let search_path = format!("{}, public", crate::plan::sql::ident(&req.schema));
    query_row(
        "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true), \
         set_config('request.method', $3, true), set_config('request.path', $4, true), \
         set_config('request.headers', $5, true), set_config('search_path', $6, true)",
        &[
            Param::Text(Some(auth.role.clone())),
            Param::Text(Some(claims)),
            Param::Text(Some(req.method.as_str().to_string())),
            Param::Text(Some(path)),
            Param::Text(Some(serde_json::Value::Object(headers).to_string())),
            Param::Text(Some(search_path)),
        ],
    )?;
    Ok(())
}

/// `Prefer: timezone=`: the response's timestamps in that zone, after the role's own settings
/// (as PostgREST orders them). An unknown zone is 400 22023 from set_config whatever
/// `handling` says, as in PostgREST.
fn apply_timezone(req: &ApiRequest) -> Result<(), ApiError> {
    if let Some(tz) = &req.prefer.timezone {
        query_row(
            "SELECT set_config('timezone', $1, true)",
            &[Param::Text(Some(tz.clone()))],
        )?;
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
/// costs nothing.
fn apply_role_settings(role_settings: &[(String, String)]) -> Result<(), ApiError> {
    if role_settings.is_empty() {
        return Ok(());
    }
    query_row(
        "SELECT count(set_config(e->>0, e->>1, true)) FROM json_array_elements($1::json) AS e",
        &[Param::Text(Some(
            serde_json::json!(role_settings).to_string(),
        ))],
    )?;
    Ok(())
}

/// PostgREST's authenticator model: only roles granted to the authenticator role, never a
/// superuser or a BYPASSRLS role.
fn check_role(role: &str, settings: &Settings) -> Result<Rc<Vec<(String, String)>>, ApiError> {
    let key = format!("{}\u{0}{}", settings.authenticator_role, role);
    let verdict = caches::role_verdict(key, || load_role_verdict(role, settings))?;
    match verdict {
        RoleVerdict::Allowed(role_settings) => Ok(role_settings),
        RoleVerdict::Missing => Err(ApiError::new(
            401,
            "22023",
            format!("role \"{role}\" does not exist"),
        )),
        RoleVerdict::NotGranted | RoleVerdict::Privileged => Err(ApiError::new(
            403,
            "42501",
            format!("permission denied to set role \"{role}\""),
        )),
    }
}

fn load_role_verdict(role: &str, settings: &Settings) -> Result<RoleVerdict, ApiError> {
    let row = query_rows(
        "SELECT (r.rolsuper OR r.rolbypassrls)::text, \
         EXISTS (SELECT 1 FROM pg_catalog.pg_roles a \
                 WHERE a.rolname = $2 AND pg_catalog.pg_has_role(a.oid, r.oid, 'MEMBER'))::text, \
         (SELECT coalesce(json_agg(c.cfg ORDER BY d.setdatabase), '[]')::text \
          FROM pg_catalog.pg_db_role_setting d, unnest(d.setconfig) AS c(cfg) \
          WHERE d.setrole = r.oid AND d.setdatabase IN \
            (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))) \
         FROM pg_catalog.pg_roles r WHERE r.rolname = $1",
        &[
            Param::Text(Some(role.to_string())),
            Param::Text(Some(settings.authenticator_role.clone())),
        ],
    )?;
    Ok(match row.first() {
        None => RoleVerdict::Missing,
        Some(r) if r.first().cloned().flatten().as_deref() == Some("true") => {
            RoleVerdict::Privileged
        }
        Some(r) if r.get(1).cloned().flatten().as_deref() == Some("true") => {
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
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
        }
        Some(_) => RoleVerdict::NotGranted,
    })
}
