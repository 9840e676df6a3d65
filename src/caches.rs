//! What an executor keeps between requests: the schema cache and the verdicts of the role
//! check, with the invalidation callbacks and `NOTIFY pgrst` handling that mark them stale.

use crate::error::ApiError;
use crate::schema_cache::SchemaCache;
use crate::spi;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

/// An invalidation arrived: the cache is checked against the catalog fingerprint.
static SCHEMA_STALE: AtomicBool = AtomicBool::new(true);
/// `NOTIFY pgrst` or a SIGHUP: the cache is reloaded whatever the fingerprint says.
static SCHEMA_FORCE: AtomicBool = AtomicBool::new(true);
static ROLES_STALE: AtomicBool = AtomicBool::new(true);

/// A loaded schema cache: the `db_schemas` it was loaded for, the cache, and the catalog
/// fingerprint it was loaded at.
type Loaded = (Vec<String>, Rc<SchemaCache>, String);

thread_local! {
    static SCHEMA: RefCell<Option<Loaded>> = const { RefCell::new(None) };
    static ROLE_VERDICTS: RefCell<HashMap<String, RoleVerdict>> = RefCell::new(HashMap::new());
}

/// Whether a request may assume a role.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleVerdict {
    /// with the role's own `ALTER ROLE ... SET` settings (database-specific ones last), which
    /// PostgREST applies to every request of an impersonated role. Like PostgREST, they are
    /// read once and re-read on `NOTIFY pgrst` (pg_db_role_setting changes send no
    /// invalidation); role changes (AUTHOID, memberships) drop the cache by themselves.
    Allowed(Rc<Vec<(String, String)>>),
    Missing,
    NotGranted,
    Privileged,
    /// the executors' own role could switch to a superuser (or server-file) role
    AuthenticatorPrivileged,
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

/// Registers the invalidation callbacks. Call once per executor.
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
    }
}

// Not in pgrx's bindings (commands/async.h).
extern "C-unwind" {
    static mut notifyInterruptPending: pg_sys::sig_atomic_t;
    fn ProcessNotifyInterrupt(flush: bool);
    fn Async_Listen(channel: *const std::ffi::c_char);
}

/// `NOTIFY pgrst` (PostgREST's 'reload schema' / 'reload config') marks the caches stale.
/// The payload is not readable from a background worker, so any notification reloads both.
/// The SQL command LISTEN is refused in background workers because they would never drain the
/// queue; Postgres lets a worker call Async_Listen directly when it does, as
/// [`process_notifications`] does after every wake-up.
pub fn listen_for_reload() {
    if let Err(e) = spi::in_transaction(false, || {
        unsafe { pg_sys::ffi::pg_guard_ffi_boundary(|| Async_Listen(c"pgrst".as_ptr())) };
        Ok(((), true))
    }) {
        pgrx::log!("serendb_data_api: LISTEN pgrst failed, NOTIFY reloads are off: {e}");
    }
}

/// The schema cache and role settings are read again before the next request: on a SIGHUP
/// (`pg_reload_conf()`), which is how a read replica, where NOTIFY cannot reach, is told.
pub fn mark_stale() {
    SCHEMA_STALE.store(true, Ordering::Relaxed);
    SCHEMA_FORCE.store(true, Ordering::Relaxed);
    ROLES_STALE.store(true, Ordering::Relaxed);
}

/// For the admin server's `/ready` and `/schema_cache`: the schema cache (loaded now if
/// stale) as its JSON document; 503 when it cannot be loaded.
pub fn schema_json(schemas: &[String]) -> Result<String, ApiError> {
    spi::in_transaction(false, || {
        schema(schemas)?;
        Ok((crate::schema_cache::load::last_json(), false))
    })
}

/// Consumes pending notifications (outside a transaction, between requests).
pub fn process_notifications() {
    if unsafe { std::ptr::read_volatile(&raw const notifyInterruptPending) } == 0 {
        return;
    }
    SCHEMA_STALE.store(true, Ordering::Relaxed);
    SCHEMA_FORCE.store(true, Ordering::Relaxed);
    ROLES_STALE.store(true, Ordering::Relaxed);
    pgrx::PgTryBuilder::new(|| unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| ProcessNotifyInterrupt(false));
        pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
    })
    .catch_others(|_| unsafe { pg_sys::AbortCurrentTransaction() })
    .execute();
}

/// The schema cache for `schemas`. After an invalidation (any relcache or pg_proc /
/// pg_namespace / pg_type change: autovacuum, ANALYZE, TRUNCATE and temp tables send them too)
/// the catalog fingerprint decides: unchanged keeps the cache and the prepared plans; changed,
/// or `NOTIFY pgrst` / SIGHUP, reloads. Must run in a transaction.
pub fn schema(schemas: &[String]) -> Result<Rc<SchemaCache>, ApiError> {
    let stale = SCHEMA_STALE.swap(false, Ordering::Relaxed);
    let force = SCHEMA_FORCE.swap(false, Ordering::Relaxed);
    let current = SCHEMA.with(|s| s.borrow().clone());
    let mut fingerprint = None;
    if let (false, Some((loaded_for, sc, loaded_at))) = (force, &current) {
        if loaded_for == schemas {
            if !stale {
                return Ok(sc.clone());
            }
            match catalog_fingerprint() {
                Ok(now) if &now == loaded_at => return Ok(sc.clone()),
                Ok(now) => fingerprint = Some(now),
                Err(e) => {
                    SCHEMA_STALE.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
    }
    spi::clear_plans();
    let started = std::time::Instant::now();
    // Taken before the introspection: a change committed in between gives a newer cache
    // under an older fingerprint, which the change's own invalidation then reloads again.
    let fingerprint = match fingerprint.map(Ok).unwrap_or_else(catalog_fingerprint) {
        Ok(f) => f,
        Err(e) => {
            SCHEMA_STALE.store(true, Ordering::Relaxed);
            SCHEMA_FORCE.store(true, Ordering::Relaxed);
            return Err(e);
        }
    };
    let loaded = crate::schema_cache::load::load(schemas);
    let ok = matches!(loaded, Ok(Some(_)));
    crate::metrics::get().schema_cache_load(started.elapsed().as_secs_f64(), ok);
    match loaded {
        Ok(Some(sc)) => {
            let sc = Rc::new(sc);
            pgrx::debug1!(
                "serendb_data_api: schema cache loaded (catalog fingerprint {fingerprint})"
            );
            SCHEMA.with(|s| *s.borrow_mut() = Some((schemas.to_vec(), sc.clone(), fingerprint)));
            Ok(sc)
        }
        Ok(None) => {
            SCHEMA.with(|s| *s.borrow_mut() = None);
            SCHEMA_STALE.store(true, Ordering::Relaxed);
            SCHEMA_FORCE.store(true, Ordering::Relaxed);
            Err(
                ApiError::not_ready("Could not query the database for the schema cache. Retrying.")
                    .with_details(
                        "the serendb_data_api extension is not installed in this database",
                    ),
            )
        }
        Err(e) => {
            SCHEMA_STALE.store(true, Ordering::Relaxed);
            SCHEMA_FORCE.store(true, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// See `schema_cache/fingerprint.sql`.
fn catalog_fingerprint() -> Result<String, ApiError> {
    spi::query_row(crate::schema_cache::FINGERPRINT_SQL, &[])?
        .first()
        .cloned()
        .flatten()
        .ok_or_else(|| ApiError::internal("the catalog fingerprint query returned nothing"))
}

/// The cached verdict for `key`, or the one `load` finds (then cached).
pub fn role_verdict(
    key: String,
    load: impl FnOnce() -> Result<RoleVerdict, ApiError>,
) -> Result<RoleVerdict, ApiError> {
    if ROLES_STALE.swap(false, Ordering::Relaxed) {
        ROLE_VERDICTS.with(|m| m.borrow_mut().clear());
    }
    if let Some(v) = ROLE_VERDICTS.with(|m| m.borrow().get(&key).cloned()) {
        return Ok(v);
    }
    let v = load()?;
    ROLE_VERDICTS.with(|m| m.borrow_mut().insert(key, v.clone()));
    Ok(v)
}
