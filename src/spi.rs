//! The executor's door to Postgres: transactions that catch every error, SPI queries with bind
//! parameters through cached prepared plans, and the SQLSTATE recorder that recovers the real
//! code of an ERROR (pgrx's enum would turn custom codes into XX000).

use crate::error::{unpack_sqlstate, ApiError};
use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicI32, Ordering};

/// A Postgres error, with the real SQLSTATE.
#[derive(Debug, Clone)]
pub struct PgError {
    pub sqlstate: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

static LAST_SQLSTATE: AtomicI32 = AtomicI32::new(0);

thread_local! {
    static PLANS: RefCell<HashMap<String, pg_sys::SPIPlanPtr>> = RefCell::new(HashMap::new());
}

/// Cached prepared plans beyond this many are all dropped (bounded memory).
const MAX_CACHED_PLANS: usize = 2000;

/// Records the SQLSTATE of every report; the last one before a longjmp is the ERROR's.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn record_sqlstate(_arg: *mut std::ffi::c_void) {
    LAST_SQLSTATE.store(pg_sys::geterrcode(), Ordering::Relaxed);
}

/// Installs the SQLSTATE recorder. Call once per executor.
pub fn install_sqlstate_recorder() {
    unsafe {
        // Lives for the whole process at the bottom of the error context stack.
        let cb = Box::leak(Box::new(pg_sys::ErrorContextCallback {
            previous: pg_sys::error_context_stack,
            callback: Some(record_sqlstate),
            arg: std::ptr::null_mut(),
        }));
        pg_sys::error_context_stack = cb;
    }
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

/// Drops every cached prepared plan (the schema they were planned against changed).
pub fn clear_plans() {
    PLANS.with(|p| {
        for (_, plan) in p.borrow_mut().drain() {
            unsafe { pg_sys::SPI_freeplan(plan) };
        }
    });
}

/// Runs `f` in a fresh transaction. `f` returns its value and whether to commit. Any Postgres
/// error (raised inside `f` or at commit) or Rust panic rolls the transaction back and becomes
/// an [`ApiError`]; an `Err` from `f` also rolls back. `anonymous` words permission errors as
/// PostgREST does for requests without a JWT.
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
        CaughtError::RustPanic { ereport, .. } => {
            // a bug of ours: the log gets the text, the client a generic error
            pgrx::log!(
                "serendb_data_api: panic while serving a request: {}",
                ereport.message()
            );
            PgError {
                sqlstate: "XX000".into(),
                message: "internal error".into(),
                detail: None,
                hint: None,
            }
        }
    }
}
