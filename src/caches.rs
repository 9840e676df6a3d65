//! What an executor keeps between requests: the schema cache and the verdicts of the role
//! check, with the invalidation callbacks and `NOTIFY pgrst` handling that mark them stale.

use crate::error::ApiError;
use crate::schema_cache::unchanged::{self, Hashes};
use crate::schema_cache::{shared, SchemaCache};
use crate::spi;
use pgrx::pg_sys;
use std::cell::Cell;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// An invalidation arrived: the cache is checked against the catalog fingerprint.
static SCHEMA_STALE: AtomicBool = AtomicBool::new(true);
/// `NOTIFY pgrst` or a SIGHUP: the cache is reloaded whatever the fingerprint says.
static SCHEMA_FORCE: AtomicBool = AtomicBool::new(true);
static ROLES_STALE: AtomicBool = AtomicBool::new(true);

/// A loaded schema cache: the `db_schemas` it was loaded for, the cache, the catalog
/// fingerprint and the relation hashes it was loaded at.
type Loaded = (Vec<String>, Rc<SchemaCache>, String, Rc<Hashes>);

/// Since the last invalidation: the request strings and relations found unchanged since the
/// cache was loaded (`schema_cache::unchanged`). True until the next invalidation.
#[derive(Default)]
struct Verified {
    strings: HashSet<String>,
    relations: HashSet<(String, String)>,
}

/// Beyond this many remembered strings the memo starts over (filter values vary per request).
const VERIFIED_STRINGS_MAX: usize = 10_000;

thread_local! {
    static SCHEMA: RefCell<Option<Loaded>> = const { RefCell::new(None) };
    static ROLE_VERDICTS: RefCell<HashMap<String, RoleVerdict>> = RefCell::new(HashMap::new());
    /// When this executor was last told to reload whatever the fingerprint says (its start,
    /// `NOTIFY pgrst`, SIGHUP): a published document must be newer.
    static FORCED_AT: Cell<SystemTime> = const { Cell::new(SystemTime::UNIX_EPOCH) };
    /// An invalidation arrived since the cache was last known current (loaded, or its
    /// fingerprint found unchanged).
    static PENDING: Cell<bool> = const { Cell::new(true) };
    static VERIFIED: RefCell<Verified> = RefCell::new(Verified::default());
}

/// Whether the cache may be out of date (invalidations taken since it was known current).
fn take_stale() -> bool {
    if SCHEMA_STALE.swap(false, Ordering::Relaxed) {
        PENDING.set(true);
        VERIFIED.with(|v| *v.borrow_mut() = Verified::default());
    }
    PENDING.get()
}

/// A reload that the fingerprint cannot veto.
fn force_reload() {
    SCHEMA_STALE.store(true, Ordering::Relaxed);
    SCHEMA_FORCE.store(true, Ordering::Relaxed);
    FORCED_AT.set(SystemTime::now());
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
    // A (re)started executor reads the catalog afresh, as before caches were shared.
    force_reload();
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
    force_reload();
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
    force_reload();
    ROLES_STALE.store(true, Ordering::Relaxed);
    pgrx::PgTryBuilder::new(|| unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| ProcessNotifyInterrupt(false));
        pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
        crate::execute::forget_settings();
    })
    .catch_others(|_| unsafe { pg_sys::AbortCurrentTransaction() })
    .execute();
}

/// The schema cache for `schemas`. After an invalidation (any relcache or pg_proc /
/// pg_namespace / pg_type change: autovacuum, ANALYZE, TRUNCATE and temp tables send them too)
/// the catalog fingerprint decides: unchanged keeps the cache and the prepared plans; changed,
/// or `NOTIFY pgrst` / SIGHUP, reloads: from the document another executor published for this
/// fingerprint when there is one (`schema_cache::shared`), else by introspection, which is then
/// published. Must run in a transaction.
pub fn schema(schemas: &[String]) -> Result<Rc<SchemaCache>, ApiError> {
    let stale = take_stale();
    let force = SCHEMA_FORCE.swap(false, Ordering::Relaxed);
    let current = SCHEMA.with(|s| s.borrow().clone());
    let mut fingerprint = None;
    if let (false, Some((loaded_for, sc, loaded_at, _))) = (force, &current) {
        if loaded_for == schemas {
            if !stale {
                return Ok(sc.clone());
            }
            match catalog_fingerprint() {
                Ok(now) if &now == loaded_at => {
                    PENDING.set(false);
                    return Ok(sc.clone());
                }
                Ok(now) => fingerprint = Some(now),
                Err(e) => return Err(e),
            }
        }
    }
    spi::clear_plans();
    let loaded = fingerprint
        .map(Ok)
        .unwrap_or_else(catalog_fingerprint)
        .and_then(|f| load(schemas, &f));
    match loaded {
        Ok(Some((sc, fingerprint, hashes))) => {
            let sc = Rc::new(sc);
            SCHEMA.with(|s| {
                *s.borrow_mut() = Some((schemas.to_vec(), sc.clone(), fingerprint, Rc::new(hashes)))
            });
            PENDING.set(false);
            Ok(sc)
        }
        Ok(None) => {
            SCHEMA.with(|s| *s.borrow_mut() = None);
            SCHEMA_FORCE.store(true, Ordering::Relaxed);
            Err(
                ApiError::not_ready("Could not query the database for the schema cache. Retrying.")
                    .with_details(
                        "the serendb_data_api extension is not installed in this database",
                    ),
            )
        }
        Err(e) => {
            SCHEMA_FORCE.store(true, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// Plans a request: with the current schema cache, or, when invalidations arrived since it was
/// loaded, with the cache as it is when nothing the plan can read changed
/// (`schema_cache::unchanged` has the argument), so the request does not wait for a reload
/// (the fingerprint check, another executor's introspection, or its own). `strings` gives the
/// strings of the request (`None`: RPC and the root, which always need a current cache).
/// Must run in a transaction.
pub fn plan<T>(
    schemas: &[String],
    strings: Option<impl FnOnce() -> Vec<String>>,
    plan: impl Fn(&SchemaCache) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    if take_stale() && !SCHEMA_FORCE.load(Ordering::Relaxed) {
        let current = SCHEMA.with(|s| s.borrow().clone());
        if let (Some(strings), Some((loaded_for, sc, _, hashes))) = (strings, current) {
            if loaded_for == schemas {
                if let Ok(planned) = plan(&sc) {
                    if still_valid(&sc, &hashes, strings()) {
                        crate::metrics::get().schema_cache_kept();
                        return Ok(planned);
                    }
                }
            }
        }
    }
    let sc = schema(schemas)?;
    plan(&sc)
}

/// Whether nothing the plan of a request with these strings can read changed since `sc` was
/// loaded with `hashes`.
fn still_valid(sc: &SchemaCache, hashes: &Hashes, strings: Vec<String>) -> bool {
    let Some(deps) = unchanged::deps(sc, &strings) else {
        return false;
    };
    let (new_strings, new_deps): (Vec<String>, Vec<(String, String)>) = VERIFIED.with(|v| {
        let v = v.borrow();
        (
            strings
                .iter()
                .filter(|s| !v.strings.contains(*s))
                .cloned()
                .collect(),
            deps.iter()
                .filter(|d| !v.relations.contains(*d))
                .cloned()
                .collect(),
        )
    });
    if new_strings.is_empty() && new_deps.is_empty() {
        return true;
    }
    let now = match crate::schema_cache::load::relation_hashes(&new_strings, &new_deps) {
        Ok(now) => now,
        Err(e) => {
            pgrx::debug1!("serendb_data_api: relation hashes: {e}");
            return false;
        }
    };
    if !unchanged::unchanged(hashes, &new_strings, &new_deps, &now) {
        return false;
    }
    VERIFIED.with(|v| {
        let mut v = v.borrow_mut();
        if v.strings.len() + new_strings.len() > VERIFIED_STRINGS_MAX {
            v.strings.clear();
        }
        v.strings.extend(new_strings);
        v.relations.extend(new_deps);
    });
    true
}

/// How long an executor waits for another one's introspection of the same catalog state
/// before running its own (a load of 10,000 tables takes about a second).
const LOAD_LOCK_PATIENCE: Duration = Duration::from_secs(30);

/// The cache for the catalog at `fingerprint` and the fingerprint it was actually read at
/// (an introspection may see a newer catalog than the fingerprint taken before it).
fn load(
    schemas: &[String],
    fingerprint: &str,
) -> Result<Option<(SchemaCache, String, Hashes)>, ApiError> {
    let key = shared::Key {
        database: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        schemas: schemas.to_vec(),
    };
    let not_before = FORCED_AT.get();
    let dir = shared_dir();
    let mut _lock = None;
    if let Some(dir) = &dir {
        if let Some(sc) = from_shared(dir, &key, fingerprint, not_before) {
            return Ok(Some(sc));
        }
        // Another executor may be loading this very catalog state: wait for its document.
        let waiting = Instant::now();
        _lock = shared::lock(dir, &key, LOAD_LOCK_PATIENCE, interrupts);
        let waited = waiting.elapsed().as_secs_f64();
        if waited > 0.001 {
            crate::metrics::get().schema_cache_load_wait(waited);
        }
        if _lock.is_some() {
            if let Some(sc) = from_shared(dir, &key, fingerprint, not_before) {
                return Ok(Some(sc));
            }
        }
    }
    let started_at = SystemTime::now();
    let started = Instant::now();
    let parsed = crate::schema_cache::load::introspect(schemas).and_then(|found| {
        found
            .map(|found| parse(&found.doc).map(|(sc, h)| (sc, h, found)))
            .transpose()
    });
    crate::metrics::get().schema_cache_load(
        started.elapsed().as_secs_f64(),
        matches!(parsed, Ok(Some(_))),
    );
    let Some((sc, hashes, found)) = parsed? else {
        return Ok(None);
    };
    pgrx::debug1!(
        "serendb_data_api: schema cache loaded by introspection (catalog fingerprint {})",
        found.fingerprint
    );
    if let Some(dir) = &dir {
        if let Err(e) = shared::write(dir, &key, &found.fingerprint, started_at, &found.doc) {
            pgrx::log!(
                "serendb_data_api: cannot publish the schema cache in {}: {e}",
                dir.display()
            );
        }
    }
    crate::schema_cache::load::set_last_json(found.doc.json);
    Ok(Some((sc, found.fingerprint, hashes)))
}

fn parse(doc: &shared::Document) -> Result<(SchemaCache, Hashes), ApiError> {
    let sc = SchemaCache::from_json(&doc.json)
        .map_err(|e| ApiError::internal(format!("cannot read the schema cache: {e}")))?;
    let hashes = Hashes::from_json(&doc.hashes)
        .map_err(|e| ApiError::internal(format!("cannot read the relation hashes: {e}")))?;
    Ok((sc, hashes))
}

fn interrupts() {
    pg_sys::check_for_interrupts!();
}

/// The cache another executor published for `fingerprint`, if there is a usable one.
fn from_shared(
    dir: &Path,
    key: &shared::Key,
    fingerprint: &str,
    not_before: SystemTime,
) -> Option<(SchemaCache, String, Hashes)> {
    let started = Instant::now();
    let ignored = |why: &dyn std::fmt::Display| {
        pgrx::log!(
            "serendb_data_api: ignoring the published schema cache {}: {why}",
            key.path(dir).display()
        )
    };
    let doc = match shared::read(dir, key, fingerprint, not_before) {
        Ok(doc) => doc,
        Err(shared::Skip::Damaged(why)) => {
            ignored(&why);
            return None;
        }
        Err(_) => return None,
    };
    let (sc, hashes) = match parse(&doc) {
        Ok(parsed) => parsed,
        Err(e) => {
            ignored(&e.message);
            return None;
        }
    };
    crate::metrics::get().schema_cache_shared_load(started.elapsed().as_secs_f64());
    pgrx::debug1!(
        "serendb_data_api: schema cache loaded from the published document (catalog fingerprint {fingerprint})"
    );
    crate::schema_cache::load::set_last_json(doc.json);
    Some((sc, fingerprint.to_string(), hashes))
}

/// The private directory of the data directory the documents are published in; `None` (said
/// once in the log) when it cannot be made: every executor then introspects by itself.
fn shared_dir() -> Option<PathBuf> {
    thread_local! {
        static DIR: std::cell::OnceCell<Option<PathBuf>> = const { std::cell::OnceCell::new() };
    }
    DIR.with(|d| {
        d.get_or_init(|| {
            let data_dir = unsafe { std::ffi::CStr::from_ptr(pg_sys::DataDir) };
            let data_dir = Path::new(std::ffi::OsStr::from_bytes(data_dir.to_bytes()));
            shared::dir(data_dir)
                .map_err(|e| {
                    pgrx::log!(
                        "serendb_data_api: cannot share the schema cache between executors ({}): {e}",
                        data_dir.join(shared::DIR).display()
                    )
                })
                .ok()
        })
        .clone()
    })
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
