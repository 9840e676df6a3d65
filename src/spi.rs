//! The executor's door to Postgres: transactions that catch every error, SPI queries with bind
//! parameters through cached prepared plans, and the SQLSTATE recorder that recovers the real
//! code of an ERROR (pgrx's enum would turn custom codes into XX000).

use crate::error::{unpack_sqlstate, ApiError};
use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
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
    static PLANS: RefCell<PlanCache> = RefCell::new(PlanCache::default());
}

/// The prepared plans of the statements an executor ran, bounded in bytes (the memory of the
/// plans themselves, measured from their memory contexts) with least-recently-used eviction:
/// one statement with a 64 KB filter list holds megabytes.
#[derive(Default)]
struct PlanCache {
    plans: HashMap<String, CachedPlan>,
    /// last use -> statement, oldest first
    by_use: BTreeMap<u64, String>,
    clock: u64,
    bytes: usize,
}

struct CachedPlan {
    plan: pg_sys::SPIPlanPtr,
    bytes: usize,
    used: u64,
}

impl PlanCache {
    fn get(&mut self, sql: &str) -> Option<pg_sys::SPIPlanPtr> {
        self.clock += 1;
        let entry = self.plans.get_mut(sql)?;
        self.by_use.remove(&entry.used);
        entry.used = self.clock;
        self.by_use.insert(self.clock, sql.to_string());
        Some(entry.plan)
    }

    fn insert(&mut self, sql: &str, plan: pg_sys::SPIPlanPtr) {
        self.clock += 1;
        self.by_use.insert(self.clock, sql.to_string());
        self.plans.insert(
            sql.to_string(),
            CachedPlan {
                plan,
                bytes: 0,
                used: self.clock,
            },
        );
    }

    /// Re-measures `sql`'s plan after a use (Postgres builds a generic plan after a few
    /// executions) and evicts the least recently used plans while over `budget`; a plan larger
    /// than the whole budget is not kept.
    fn account(&mut self, sql: &str, budget: usize) {
        let Some(entry) = self.plans.get_mut(sql) else {
            return;
        };
        let bytes = unsafe { plan_bytes(entry.plan) };
        self.bytes = self.bytes - entry.bytes + bytes;
        entry.bytes = bytes;
        while self.bytes > budget {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some(old) = self.plans.remove(&oldest) {
                self.bytes -= old.bytes;
                unsafe { pg_sys::SPI_freeplan(old.plan) };
            }
        }
    }

    fn clear(&mut self) {
        for (_, old) in self.plans.drain() {
            unsafe { pg_sys::SPI_freeplan(old.plan) };
        }
        self.by_use.clear();
        self.bytes = 0;
    }
}

/// The memory a saved SPI plan holds: its plan sources (with their query trees) and their
/// generic plans.
unsafe fn plan_bytes(plan: pg_sys::SPIPlanPtr) -> usize {
    let sources = pg_sys::SPI_plan_get_plan_sources(plan);
    let n = if sources.is_null() {
        0
    } else {
        (*sources).length
    };
    let mut bytes = 0;
    for i in 0..n {
        let source = pg_sys::list_nth(sources, i) as *mut pg_sys::CachedPlanSource;
        if source.is_null() {
            continue;
        }
        if !(*source).context.is_null() {
            bytes += pg_sys::MemoryContextMemAllocated((*source).context, true);
        }
        let gplan = (*source).gplan;
        if !gplan.is_null() && !(*gplan).context.is_null() {
            bytes += pg_sys::MemoryContextMemAllocated((*gplan).context, true);
        }
    }
    bytes
}

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
        let budget = crate::guc::plan_cache_bytes();
        PLANS.with(|m| m.borrow_mut().account(sql, budget));
        Ok(rows)
    }
}

unsafe fn cached_plan(sql: &str, csql: &CStr, params: &[Param]) -> pg_sys::SPIPlanPtr {
    if let Some(p) = PLANS.with(|m| m.borrow_mut().get(sql)) {
        return p;
    }
    let mut types: Vec<pg_sys::Oid> = params.iter().map(Param::oid).collect();
    let plan = pg_sys::SPI_prepare(csql.as_ptr(), types.len() as i32, types.as_mut_ptr());
    if plan.is_null() {
        // SPI_prepare reports its own errors by raising; a NULL here is an SPI misuse.
        panic!("SPI_prepare returned NULL");
    }
    pg_sys::SPI_keepplan(plan);
    PLANS.with(|m| m.borrow_mut().insert(sql, plan));
    plan
}

/// Drops every cached prepared plan (the schema they were planned against changed).
pub fn clear_plans() {
    PLANS.with(|p| p.borrow_mut().clear());
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
