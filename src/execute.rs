//! Runs one request inside an executor: one transaction, `SET LOCAL ROLE` to the request's
//! role, the `request.*` settings, the planned statement through SPI, then commit or roll back.
//! Every Postgres error is caught here, the transaction rolled back and the error mapped to
//! PostgREST's JSON; nothing escapes to take the worker down.

use crate::api_request::{self, ApiRequest, Method, RawRequest, TxPref};
use crate::auth::{self, AuthResult};
use crate::error::ApiError;
use crate::guc;
use crate::plan::{self, Statement};
use crate::respond::{self, error_response, HttpResponse, QueryResult};
use crate::schema_cache::SchemaCache;
use crate::settings::Settings;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// A Postgres error, with the real SQLSTATE (pgrx's enum would turn custom codes into XX000).
#[derive(Debug, Clone)]
pub struct PgError {
    pub sqlstate: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

static SCHEMA_STALE: AtomicBool = AtomicBool::new(true);
static ROLES_STALE: AtomicBool = AtomicBool::new(true);
static LAST_SQLSTATE: AtomicI32 = AtomicI32::new(0);

thread_local! {
    /// the cache and the `db_schemas` it was loaded for
    static SCHEMA: RefCell<Option<(Vec<String>, Rc<SchemaCache>)>> = const { RefCell::new(None) };
    static ROLE_VERDICTS: RefCell<HashMap<String, RoleVerdict>> = RefCell::new(HashMap::new());
    static PLANS: RefCell<HashMap<String, pg_sys::SPIPlanPtr>> = RefCell::new(HashMap::new());
}

/// Cached prepared plans beyond this many are all dropped (bounded memory).
const MAX_CACHED_PLANS: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
enum RoleVerdict {
    /// with the role's own `ALTER ROLE ... SET` settings (database-specific ones last), which
    /// PostgREST applies to every request of an impersonated role. Like PostgREST, they are
    /// read once and re-read on `NOTIFY pgrst` (pg_db_role_setting changes send no
    /// invalidation); role changes (AUTHOID, memberships) drop the cache by themselves.
    Allowed(Rc<Vec<(String, String)>>),
    Missing,
    NotGranted,
    Privileged,
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn relcache_changed(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    SCHEMA_STALE.store(true, Ordering::Relaxed);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn syscache_changed(_arg: pg_sys::Datum, _cacheid: i32, _hash: u32) {
    SCHEMA_STALE.store(true, Ordering::Relaxed);
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn roles_changed(_arg: pg_sys::Datum, _cacheid: i32, _hash: u32) {
    ROLES_STALE.store(true, Ordering::Relaxed);
}

/// Records the SQLSTATE of every report; the last one before a longjmp is the ERROR's.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn record_sqlstate(_arg: *mut std::ffi::c_void) {
    LAST_SQLSTATE.store(pg_sys::geterrcode(), Ordering::Relaxed);
}

/// Registers the invalidation callbacks and the SQLSTATE recorder. Call once per executor.
pub fn install() {
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(relcache_changed), pg_sys::Datum::from(0));
        for cache in [
            pg_sys::SysCacheIdentifier::PROCOID,
            pg_sys::SysCacheIdentifier::NAMESPACEOID,
            pg_sys::SysCacheIdentifier::TYPEOID,
        ] {
            pg_sys::CacheRegisterSyscacheCallback(
                cache as i32,
                Some(syscache_changed),
                pg_sys::Datum::from(0),
            );
        }
        for cache in [
            pg_sys::SysCacheIdentifier::AUTHOID,
            pg_sys::SysCacheIdentifier::AUTHMEMMEMROLE,
            pg_sys::SysCacheIdentifier::AUTHMEMROLEMEM,
        ] {
            pg_sys::CacheRegisterSyscacheCallback(
                cache as i32,
                Some(roles_changed),
                pg_sys::Datum::from(0),
            );
        }
        // Lives for the whole process at the bottom of the error context stack.
        let cb = Box::leak(Box::new(pg_sys::ErrorContextCallback {
            previous: pg_sys::error_context_stack,
            callback: Some(record_sqlstate),
            arg: std::ptr::null_mut(),
        }));
        pg_sys::error_context_stack = cb;
    }
}

// Not in pgrx's bindings (commands/async.h).
extern "C-unwind" {
    static mut notifyInterruptPending: pg_sys::sig_atomic_t;
    fn ProcessNotifyInterrupt(flush: bool);
    fn Async_Listen(channel: *const std::ffi::c_char);
}

/// `NOTIFY pgrst` (PostgREST's 'reload schema' / 'reload config') marks the schema cache stale.
/// The payload is not readable from a background worker, so any notification reloads both.
/// The SQL command LISTEN is refused in background workers because they would never drain the
/// queue; Postgres lets a worker call Async_Listen directly when it does, as
/// [`process_notifications`] does after every wake-up.
pub fn listen_for_reload() {
    if let Err(e) = in_transaction(false, || {
        unsafe { pg_sys::ffi::pg_guard_ffi_boundary(|| Async_Listen(c"pgrst".as_ptr())) };
        Ok(((), true))
    }) {
        pgrx::log!("serendb_data_api: LISTEN pgrst failed, NOTIFY reloads are off: {e}");
    }
}

/// Consumes pending notifications (outside a transaction, between requests).
pub fn process_notifications() {
    if unsafe { std::ptr::read_volatile(&raw const notifyInterruptPending) } == 0 {
        return;
    }
    SCHEMA_STALE.store(true, Ordering::Relaxed);
    ROLES_STALE.store(true, Ordering::Relaxed);
    pgrx::PgTryBuilder::new(|| unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| ProcessNotifyInterrupt(false));
        pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
    })
    .catch_others(|_| unsafe { pg_sys::AbortCurrentTransaction() })
    .execute();
}

fn unpack_sqlstate(code: i32) -> String {
    (0..5)
        .map(|i| (((code >> (6 * i)) & 0x3F) as u8 + b'0') as char)
        .collect()
}

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
    let auth =
        auth::authenticate(raw.header("authorization"), settings, now()).inspect_err(|e| {
            // Once per executor: the administrator must learn why every JWT request fails.
            if e.code == "PGRST300" && !SECRET_PROBLEM_LOGGED.swap(true, Ordering::Relaxed) {
                pgrx::log!(
                    "serendb_data_api: serendb_data_api.jwt_secret is missing or shorter than 32 \
                 characters; requests with a JWT get 500 PGRST300"
                );
            }
        })?;
    let req = api_request::parse_request(raw, settings)?;
    let anonymous = auth.anonymous;
    let result = in_transaction(anonymous, || serve_in_transaction(&req, &auth, settings));
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
    let schema = ensure_schema(settings)?;
    let stmt = plan::plan(req, &schema, settings)?;
    let role_settings = check_role(&auth.role, settings)?;
    if stmt.read_only {
        unsafe { pg_sys::XactReadOnly = true };
    }
    set_request_context(req, auth)?;
    apply_role_settings(&role_settings)?;
    let params = text_params(&stmt)?;
    let result = {
        let _sandbox = RoleSandbox::enter();
        let _timeout = StatementTimer::arm();
        let mut result = QueryResult::from_row(&query_row(&stmt.sql, &params)?);
        result.total = with_estimate(&stmt, result.total, &params)?;
        result
    };
    let resp = respond::respond(req, result)?;
    let rollback = match (settings.tx_end.allows_override(), req.prefer.tx) {
        (true, Some(TxPref::Rollback)) => true,
        (true, Some(TxPref::Commit)) => false,
        _ => settings.tx_end.default_rollback(),
    };
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
    let method = match req.method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Patch => "PATCH",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Options => "OPTIONS",
    };
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
            Param::Text(Some(method.to_string())),
            Param::Text(Some(path)),
            Param::Text(Some(serde_json::Value::Object(headers).to_string())),
            Param::Text(Some(search_path)),
        ],
    )?;
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
    if ROLES_STALE.swap(false, Ordering::Relaxed) {
        ROLE_VERDICTS.with(|m| m.borrow_mut().clear());
    }
    let key = format!("{}\u{0}{}", settings.authenticator_role, role);
    let cached = ROLE_VERDICTS.with(|m| m.borrow().get(&key).cloned());
    let verdict = match cached {
        Some(v) => v,
        None => {
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
            let v = match row.first() {
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
            };
            ROLE_VERDICTS.with(|m| m.borrow_mut().insert(key, v.clone()));
            v
        }
    };
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

/// The schema cache, reloaded when an invalidation marked it stale. Must run in a transaction.
fn ensure_schema(settings: &Settings) -> Result<Rc<SchemaCache>, ApiError> {
    let stale = SCHEMA_STALE.swap(false, Ordering::Relaxed);
    let current = SCHEMA.with(|s| s.borrow().clone());
    if let (false, Some((schemas, sc))) = (stale, &current) {
        if *schemas == settings.schemas {
            return Ok(sc.clone());
        }
    }
    clear_plans();
    match crate::schema_cache::load::load(&settings.schemas) {
        Ok(Some(sc)) => {
            let sc = Rc::new(sc);
            SCHEMA.with(|s| *s.borrow_mut() = Some((settings.schemas.clone(), sc.clone())));
            Ok(sc)
        }
        Ok(None) => {
            SCHEMA.with(|s| *s.borrow_mut() = None);
            SCHEMA_STALE.store(true, Ordering::Relaxed);
            Err(
                ApiError::not_ready("Could not query the database for the schema cache. Retrying.")
                    .with_details(
                        "the serendb_data_api extension is not installed in this database",
                    ),
            )
        }
        Err(e) => {
            SCHEMA_STALE.store(true, Ordering::Relaxed);
            Err(e)
        }
    }
}

fn clear_plans() {
    PLANS.with(|p| {
        for (_, plan) in p.borrow_mut().drain() {
            unsafe { pg_sys::SPI_freeplan(plan) };
        }
    });
}

/// One bind parameter.
pub enum Param {
    Text(Option<String>),
    /// a value of another type, given in its text form (converted by the type's input function)
    Typed(pg_sys::Oid, Option<String>),
}

impl Param {
    fn oid(&self) -> pg_sys::Oid {
        match self {
            Param::Text(_) => pg_sys::TEXTOID,
            Param::Typed(oid, _) => *oid,
        }
    }
}

/// Runs `sql` with `params` and returns its first row (as text values); an empty Vec if none.
pub fn query_row(sql: &str, params: &[Param]) -> Result<Vec<Option<String>>, ApiError> {
    Ok(query_rows(sql, params)?
        .into_iter()
        .next()
        .unwrap_or_default())
}

/// Runs `sql` with `params` through SPI with a cached prepared plan; all rows as text values.
/// Postgres errors propagate as Rust panics (pgrx) and are caught by [`in_transaction`].
pub fn query_rows(sql: &str, params: &[Param]) -> Result<Vec<Vec<Option<String>>>, ApiError> {
    let csql = CString::new(sql).map_err(|_| ApiError::internal("SQL contains a NUL byte"))?;
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            return Err(ApiError::internal("SPI_connect failed"));
        }
        let plan = cached_plan(sql, &csql, params);
        let mut values: Vec<pg_sys::Datum> = Vec::with_capacity(params.len());
        let mut nulls: Vec<std::ffi::c_char> = Vec::with_capacity(params.len());
        for p in params {
            let (oid, value) = match p {
                Param::Text(v) => (pg_sys::TEXTOID, v),
                Param::Typed(oid, v) => (*oid, v),
            };
            match value {
                None => {
                    values.push(pg_sys::Datum::from(0));
                    nulls.push(b'n' as std::ffi::c_char);
                }
                Some(s) => {
                    let datum = if oid == pg_sys::TEXTOID {
                        pg_sys::Datum::from(pg_sys::cstring_to_text_with_len(
                            s.as_ptr() as *const std::ffi::c_char,
                            s.len() as i32,
                        ))
                    } else {
                        let cs = CString::new(s.as_str())
                            .map_err(|_| ApiError::internal("parameter contains a NUL byte"))?;
                        let mut infunc = pg_sys::Oid::INVALID;
                        let mut ioparam = pg_sys::Oid::INVALID;
                        pg_sys::getTypeInputInfo(oid, &mut infunc, &mut ioparam);
                        pg_sys::OidInputFunctionCall(infunc, cs.as_ptr() as *mut _, ioparam, -1)
                    };
                    values.push(datum);
                    nulls.push(b' ' as std::ffi::c_char);
                }
            }
        }
        let read_only = false;
        let rc = pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), read_only, 0);
        if rc < 0 {
            pg_sys::SPI_finish();
            return Err(ApiError::internal(format!("SPI_execute_plan failed: {rc}")));
        }
        let mut rows = Vec::new();
        let table = pg_sys::SPI_tuptable;
        if !table.is_null() {
            let n = pg_sys::SPI_processed as usize;
            let tupdesc = (*table).tupdesc;
            let natts = (*tupdesc).natts;
            for i in 0..n {
                let tuple = *(*table).vals.add(i);
                let mut row = Vec::with_capacity(natts as usize);
                for col in 1..=natts {
                    let v = pg_sys::SPI_getvalue(tuple, tupdesc, col);
                    if v.is_null() {
                        row.push(None);
                    } else {
                        row.push(Some(CStr::from_ptr(v).to_string_lossy().into_owned()));
                        pg_sys::pfree(v as *mut std::ffi::c_void);
                    }
                }
                rows.push(row);
            }
        }
        pg_sys::SPI_finish();
        Ok(rows)
    }
}

unsafe fn cached_plan(sql: &str, csql: &CStr, params: &[Param]) -> pg_sys::SPIPlanPtr {
    if let Some(p) = PLANS.with(|m| m.borrow().get(sql).copied()) {
        return p;
    }
    let mut types: Vec<pg_sys::Oid> = params.iter().map(Param::oid).collect();
    let plan = pg_sys::SPI_prepare(csql.as_ptr(), types.len() as i32, types.as_mut_ptr());
    if plan.is_null() {
        // SPI_prepare reports its own errors by raising; a NULL here is an SPI misuse.
        panic!("SPI_prepare returned NULL");
    }
    pg_sys::SPI_keepplan(plan);
    PLANS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_CACHED_PLANS {
            for (_, old) in m.drain() {
                pg_sys::SPI_freeplan(old);
            }
        }
        m.insert(sql.to_string(), plan);
    });
    plan
}

/// Runs `f` in a fresh transaction. `f` returns its value and whether to commit. Any Postgres
/// error (raised inside `f` or at commit) or Rust panic rolls the transaction back and becomes
/// an [`ApiError`]; an `Err` from `f` also rolls back.
pub fn in_transaction<T>(
    anonymous: bool,
    f: impl FnOnce() -> Result<(T, bool), ApiError>,
) -> Result<T, ApiError> {
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    LAST_SQLSTATE.store(0, Ordering::Relaxed);
    let f = std::panic::AssertUnwindSafe(f);
    let outcome: Result<Result<(T, bool), ApiError>, PgError> =
        pgrx::PgTryBuilder::new(move || {
            let f = f;
            Ok((f.0)())
        })
        .catch_others(|e| Err(caught(e)))
        .execute();
    let outcome = match outcome {
        Ok(Ok((value, true))) => {
            let committed = pgrx::PgTryBuilder::new(|| {
                unsafe {
                    pg_sys::PopActiveSnapshot();
                    pg_sys::CommitTransactionCommand();
                }
                Ok(())
            })
            .catch_others(|e| Err(caught(e)))
            .execute();
            return match committed {
                Ok(()) => Ok(value),
                Err(pg) => {
                    unsafe { pg_sys::AbortCurrentTransaction() };
                    Err(to_api_error(&pg, anonymous))
                }
            };
        }
        Ok(Ok((value, false))) => Ok(value),
        Ok(Err(api)) => Err(api),
        Err(pg) => Err(to_api_error(&pg, anonymous)),
    };
    unsafe { pg_sys::AbortCurrentTransaction() };
    outcome
}

fn to_api_error(pg: &PgError, anonymous: bool) -> ApiError {
    ApiError::from_postgres(
        &pg.sqlstate,
        &pg.message,
        pg.detail.as_deref(),
        pg.hint.as_deref(),
        anonymous,
    )
}

fn caught(e: pg_sys::panic::CaughtError) -> PgError {
    use pg_sys::panic::CaughtError;
    let code = LAST_SQLSTATE.load(Ordering::Relaxed);
    match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => PgError {
            sqlstate: if code != 0 {
                unpack_sqlstate(code)
            } else {
                "XX000".into()
            },
            message: r.message().to_string(),
            detail: r.detail().map(str::to_string),
            hint: r.hint().map(str::to_string),
        },
        CaughtError::RustPanic { ereport, .. } => PgError {
            sqlstate: "XX000".into(),
            message: format!("internal error: {}", ereport.message()),
            detail: None,
            hint: None,
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlstate_unpacks() {
        // MAKE_SQLSTATE('P','T','4','0','2')
        let pack = |s: &str| {
            s.bytes().enumerate().fold(0i32, |acc, (i, b)| {
                acc + (((b - b'0') as i32 & 0x3F) << (6 * i))
            })
        };
        assert_eq!(super::unpack_sqlstate(pack("PT402")), "PT402");
        assert_eq!(super::unpack_sqlstate(pack("23505")), "23505");
    }
}
