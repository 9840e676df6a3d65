//! An executor: a Postgres backend connected to the served database. It takes one request at a
//! time from the listener, runs it (`crate::execute`) and sends the response back.

use crate::error::ApiError;
use crate::guc;
use crate::ipc;
use crate::respond::{error_response, HttpResponse};
use pgrx::pg_sys;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn serendb_data_api_executor_main(arg: pg_sys::Datum) {
    // SIGHUP: pgrx's handler sets ConfigReloadPending, handled at the next wake-up.
    pgrx::bgworkers::BackgroundWorker::attach_signal_handlers(
        pgrx::bgworkers::SignalWakeFlags::SIGHUP,
    );
    unsafe {
        pg_sys::pqsignal(pg_sys::SIGTERM as i32, Some(on_sigterm));
    }
    let db = guc::database();
    let role = crate::execute::settings().authenticator_role.clone();
    connect_as(&db, &role, super::probe_is_verbose(arg));
    crate::spi::install_sqlstate_recorder();
    crate::caches::install();
    // Postgres refuses LISTEN during recovery: on a standby it starts once promoted.
    let mut listening = !super::standby::in_recovery();
    if listening {
        crate::caches::listen_for_reload();
    }
    // compute_query_id=auto (the default) then computes query ids in this backend, as loading
    // pg_stat_statements would: `options=verbose` plans show their "Query Identifier" as
    // PostgREST's do (clients' explain tests expect it)
    unsafe { pg_sys::EnableQueryId() };
    // What the executor starts with is what every request starts with (see session::restore).
    if crate::session::is_dirty() {
        crate::session::restore();
    }

    let port = guc::SERVER_PORT.get();
    let mut stream = match connect(&super::socket_path(port)) {
        Some(s) => s,
        None => {
            pgrx::log!("serendb_data_api: executor could not reach the listener");
            return;
        }
    };
    let fd = stream.as_raw_fd();
    // One wait set for the process's life: WaitLatchOrSocket would build and tear down an
    // epoll set on every request.
    let wait_set = unsafe {
        let set = pg_sys::CreateWaitEventSet(pg_sys::TopMemoryContext, 3);
        pg_sys::AddWaitEventToSet(
            set,
            pg_sys::WL_LATCH_SET,
            pg_sys::PGINVALID_SOCKET,
            pg_sys::MyLatch,
            std::ptr::null_mut(),
        );
        pg_sys::AddWaitEventToSet(
            set,
            pg_sys::WL_EXIT_ON_PM_DEATH,
            pg_sys::PGINVALID_SOCKET,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        pg_sys::AddWaitEventToSet(
            set,
            pg_sys::WL_SOCKET_READABLE,
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        set
    };
    let mut frames = ipc::FrameReader::default();
    loop {
        let events = unsafe {
            let mut occurred = [pg_sys::WaitEvent::default(); 3];
            let n = pg_sys::WaitEventSetWait(
                wait_set,
                if listening { -1 } else { 200 },
                occurred.as_mut_ptr(),
                occurred.len() as i32,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
            occurred[..n.max(0) as usize]
                .iter()
                .fold(0u32, |acc, e| acc | e.events)
        };
        unsafe {
            // A cancel (pg_cancel_backend, a late statement timeout) between requests has
            // nothing to cancel; Postgres ignores it too while a backend waits for a command.
            pg_sys::QueryCancelPending = 0;
        }
        pg_sys::check_for_interrupts!();
        if !listening && !super::standby::in_recovery() {
            crate::caches::listen_for_reload();
            listening = true;
        }
        unsafe {
            crate::caches::process_notifications();
            if pg_sys::ConfigReloadPending != 0 {
                pg_sys::ConfigReloadPending = 0;
                pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP);
                crate::execute::forget_settings();
                crate::caches::mark_stale();
            }
        }
        if crate::execute::settings().authenticator_role != role {
            // The session user is fixed at connection: the listener starts a new executor,
            // which connects as the new authenticator.
            pgrx::log!("serendb_data_api: db_authenticator_role changed; executor restarts");
            return;
        }
        if events & pg_sys::WL_SOCKET_READABLE == 0 {
            continue;
        }
        let frame = match frames.read_from(&mut stream) {
            Ok(Some(f)) => f,
            // The listener went away (shutdown or restart): end; the new listener starts us.
            Ok(None) | Err(_) => return,
        };
        let mut response = serve(frame);
        // A response the listener would refuse becomes an error for this request alone (the
        // request's own transaction was already rolled back for it, see `execute`).
        if let Err(e) = ipc::check_response_size(&response, guc::max_response_size()) {
            pgrx::log!(
                "serendb_data_api: response refused: {}",
                e.details.as_deref().unwrap_or("")
            );
            response = error_response(&e);
        }
        if ipc::write_all(&mut stream, &ipc::encode_response(&response)).is_err() {
            return;
        }
    }
}

/// Whether this connection attempt may log why it failed: the supervisor retries every second
/// while the database or the role is missing, and only some attempts may say so.
static VERBOSE_CONNECT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Hides the FATAL of a failed connection attempt (database or role missing) from the server
/// log unless this attempt is the one the supervisor lets speak.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn quiet_connect_failure(edata: *mut pg_sys::ErrorData) {
    if (*edata).elevel >= pg_sys::FATAL as i32
        && !VERBOSE_CONNECT.load(std::sync::atomic::Ordering::Relaxed)
    {
        (*edata).output_to_server = false;
    }
}

static CONNECTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A failed connection attempt is an expected outcome of the probe, not a crash: exit code 0
/// (the postmaster logs code 1 as a worker failure). Registered just before connecting, so it
/// runs first among the process's on_proc_exit callbacks, after shared memory was released.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn exit_quietly_if_not_connected(_code: i32, _arg: pg_sys::Datum) {
    if CONNECTING.load(std::sync::atomic::Ordering::Relaxed) {
        std::process::exit(0);
    }
}

/// Connects to `db` as the non-superuser `role` (README, "Trust model"): every request, its
/// triggers and its commit-time work run with at most this role's rights. A missing database or
/// role ends the process (FATAL); the supervisor retries. A superuser role is refused.
fn connect_as(db: &str, role: &str, verbose: bool) {
    VERBOSE_CONNECT.store(verbose, std::sync::atomic::Ordering::Relaxed);
    CONNECTING.store(true, std::sync::atomic::Ordering::Relaxed);
    unsafe {
        let previous = pg_sys::emit_log_hook;
        pg_sys::emit_log_hook = Some(quiet_connect_failure);
        pg_sys::on_proc_exit(Some(exit_quietly_if_not_connected), pg_sys::Datum::from(0));
        pgrx::bgworkers::BackgroundWorker::connect_worker_to_spi(Some(db), Some(role));
        CONNECTING.store(false, std::sync::atomic::Ordering::Relaxed);
        pg_sys::emit_log_hook = previous;
        if pg_sys::superuser_arg(pg_sys::GetSessionUserId()) {
            if verbose {
                pgrx::log!(
                    "serendb_data_api: refusing to serve as \"{role}\": \
                     serendb_data_api.db_authenticator_role must not be a superuser"
                );
            }
            pg_sys::proc_exit(0);
        }
    }
}

/// What Postgres's `die` does: the next CHECK_FOR_INTERRUPTS, even inside a running query,
/// ends the process (pgrx's own handler would only set a flag and let the query run on).
unsafe extern "C-unwind" fn on_sigterm(_signal: i32) {
    (&raw mut pg_sys::InterruptPending).write_volatile(1);
    (&raw mut pg_sys::ProcDiePending).write_volatile(1);
    pg_sys::SetLatch(pg_sys::MyLatch);
}

fn connect(path: &str) -> Option<UnixStream> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = UnixStream::connect(path) {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                100,
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pg_sys::check_for_interrupts!();
    }
}

/// Never panics and never lets a Postgres error escape: whatever happens becomes a response.
fn serve(frame: &[u8]) -> HttpResponse {
    let raw = match ipc::decode_request(frame) {
        Ok(r) => r,
        Err(e) => return error_response(&ApiError::internal(format!("bad ipc frame: {e}"))),
    };
    if let Some(resp) = super::admin::probe(&raw) {
        return resp;
    }
    crate::observe::start_request();
    let standby = super::standby::in_recovery();
    if standby {
        if let Some(resp) = super::standby::refuse_early(&raw) {
            return resp;
        }
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::execute::handle(&raw)
    }));
    let mut resp = match outcome {
        Ok(resp) => resp,
        Err(panic) => {
            // the text is for the log only: it may show internals
            let text = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            pgrx::log!("serendb_data_api: panic while serving a request: {text}");
            error_response(&ApiError::internal(
                "internal error while handling the request",
            ))
        }
    };
    if standby {
        resp = super::standby::after(&raw, resp);
    }
    if guc::SERVER_TIMING_ENABLED.get() {
        let timing = crate::observe::timing().header_value();
        resp.headers.push(("Server-Timing".into(), timing));
    }
    let role = crate::observe::role();
    if !role.is_empty() {
        resp.headers
            .push((crate::observe::ROLE_HEADER.into(), role));
    }
    resp
}
