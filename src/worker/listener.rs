//! The HTTP front: accepts connections, reads requests (`crate::http_server`), queues them, and hands each
//! to the next idle executor. Runs a current-thread tokio runtime on the worker's main thread,
//! so the few Postgres calls it makes (database lookup, worker registration) stay on that thread.

use crate::api_request::RawRequest;
use crate::error::ApiError;
use crate::guc;
use crate::ipc;
use crate::respond::{error_response, HttpResponse};
use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BackgroundWorkerStatus, DynamicBackgroundWorker,
    SignalWakeFlags,
};
use pgrx::pg_sys;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::oneshot;

/// Requests waiting for an executor beyond this many get 503 at once.
const QUEUE_CAPACITY: usize = 4096;

struct Job {
    frame: Vec<u8>,
    /// told the moment an executor takes the job (from then on it is not abandoned)
    started: oneshot::Sender<()>,
    reply: oneshot::Sender<HttpResponse>,
}

#[derive(Clone)]
pub(super) struct Shared {
    jobs: async_channel::Sender<Job>,
    /// executors currently connected to the listener
    executors: Rc<Cell<usize>>,
}

#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn serendb_data_api_listener_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // No database: the listener only reads shared catalogs (pg_database).
    BackgroundWorker::connect_worker_to_spi(None, None);

    let port = guc::SERVER_PORT.get();
    let host = guc::server_host();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            pgrx::log!("serendb_data_api: cannot start the listener runtime: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, run(host, port));
    let _ = std::fs::remove_file(super::socket_path(port));
    pgrx::log!("serendb_data_api: listener stopped");
    // Exit code 1: if this was not a shutdown (pg_terminate_backend), the postmaster restarts
    // the listener after its restart time; exit code 0 would unregister it for good.
    unsafe { pg_sys::proc_exit(1) };
}

pub(super) fn bind_tcp(host: &str, port: i32) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr: std::net::SocketAddr = format!("{host}:{port}").parse().or_else(|_| {
        std::net::ToSocketAddrs::to_socket_addrs(&(host, port as u16))?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))
    })?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

async fn run(host: String, port: i32) {
    let sock_path = super::socket_path(port);
    let _ = std::fs::remove_file(&sock_path);
    let unix = match UnixListener::bind(&sock_path) {
        Ok(l) => l,
        Err(e) => {
            pgrx::log!("serendb_data_api: cannot bind {sock_path}: {e}");
            return;
        }
    };
    let (tx, rx) = async_channel::bounded::<Job>(QUEUE_CAPACITY);
    let shared = Shared {
        jobs: tx,
        executors: Rc::new(Cell::new(0)),
    };

    // Executors connect here; each connection is served by one task that takes jobs from the
    // shared queue only while its executor is idle.
    {
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            loop {
                match unix.accept().await {
                    Ok((stream, _)) => {
                        tokio::task::spawn_local(executor_link(stream, rx.clone(), shared.clone()));
                    }
                    Err(e) => {
                        pgrx::log!("serendb_data_api: executor accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }

    tokio::task::spawn_local(super::jwks_fetch::run());
    let admin_port = guc::ADMIN_SERVER_PORT.get();
    if admin_port > 0 {
        super::admin::spawn(host.clone(), admin_port, shared.clone());
    }

    let mut tcp: Option<TcpListener> = None;
    let mut bind_error_logged = false;
    let mut supervisor = Supervisor::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut ticks: u64 = 0;
    loop {
        if tcp.is_none() {
            match bind_tcp(&host, port).and_then(TcpListener::from_std) {
                Ok(l) => {
                    pgrx::log!("serendb_data_api: listening on http://{host}:{port}");
                    tcp = Some(l);
                }
                Err(e) => {
                    if !bind_error_logged {
                        pgrx::log!(
                            "serendb_data_api: cannot listen on {host}:{port}: {e}; retrying"
                        );
                        bind_error_logged = true;
                    }
                }
            }
        }
        tokio::select! {
            accepted = async { tcp.as_ref().unwrap().accept().await }, if tcp.is_some() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    tokio::task::spawn_local(super::observed::counted(crate::http_server::serve_connection(
                        stream,
                        move |raw| {
                            let shared = shared.clone();
                            async move { super::observed::answer(raw, |raw| async move { forward(raw, &shared).await }).await }
                        },
                    )));
                }
            }
            _ = tick.tick() => {
                if BackgroundWorker::sigterm_received() || postmaster_gone() {
                    break;
                }
                if BackgroundWorker::sighup_received() {
                    unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
                }
                ticks += 1;
                if ticks % 10 == 1 {
                    supervisor.check();
                }
            }
        }
    }
    supervisor.stop_all();
}

impl Shared {
    /// Requests queued for an executor.
    pub(super) fn waiting(&self) -> usize {
        self.jobs.len()
    }
}

/// When the postmaster dies we are re-parented.
fn postmaster_gone() -> bool {
    std::os::unix::process::parent_id() as i32 != unsafe { pg_sys::PostmasterPid }
}

/// Forwards jobs to one executor, one at a time, until the executor goes away.
async fn executor_link(mut stream: UnixStream, jobs: async_channel::Receiver<Job>, shared: Shared) {
    shared.executors.set(shared.executors.get() + 1);
    let metrics = crate::metrics::get();
    metrics.pool_available.fetch_add(1, Relaxed);
    loop {
        let job = match jobs.recv().await {
            Ok(j) => j,
            Err(_) => break,
        };
        // The client was already told 504 (queue timeout) or went away: never run it.
        if job.started.send(()).is_err() {
            continue;
        }
        metrics.pool_available.fetch_sub(1, Relaxed);
        let busy = std::time::Instant::now();
        let exchanged = exchange(&mut stream, &job.frame).await;
        metrics.executor_busy(busy.elapsed().as_secs_f64());
        metrics.pool_available.fetch_add(1, Relaxed);
        match exchanged {
            Ok(resp) => {
                let _ = job.reply.send(resp);
            }
            Err(_) => {
                // The executor died mid-request: the client learns it, the request is not
                // retried (it may not be idempotent).
                let _ = job.reply.send(error_response(&executor_lost()));
                break;
            }
        }
    }
    metrics.pool_available.fetch_sub(1, Relaxed);
    shared.executors.set(shared.executors.get() - 1);
}

/// The executor serving a request went away (it is restarted; the request is not retried).
fn executor_lost() -> ApiError {
    ApiError::new(
        503,
        "PGRST001",
        "Database client error. Retrying the connection.",
    )
}

async fn exchange(stream: &mut UnixStream, frame: &[u8]) -> std::io::Result<HttpResponse> {
    stream.write_all(frame).await?;
    let n = stream.read_u32_le().await? as usize;
    if n > ipc::MAX_FRAME {
        return Err(std::io::Error::other("frame too large"));
    }
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await?;
    ipc::decode_response(&buf)
}

pub(super) async fn forward(raw: RawRequest, shared: &Shared) -> Result<HttpResponse, ApiError> {
    if shared.executors.get() == 0 {
        return Err(ApiError::not_ready(
            "Could not query the database for the schema cache. Retrying.",
        ));
    }
    let (reply, answer) = oneshot::channel();
    let (started, taken) = oneshot::channel();
    shared
        .jobs
        .try_send(Job {
            frame: ipc::encode_request(&raw),
            started,
            reply,
        })
        .map_err(|_| {
            ApiError::new(
                503,
                "PGRST001",
                "Too many requests waiting for the database",
            )
        })?;
    // PostgREST's db-pool-acquisition-timeout: a request that no executor takes in time gets
    // 504 and is dropped from the queue (this runtime is single-threaded, so the timeout and an
    // executor taking the job cannot interleave: either it runs, or it never will).
    let wait = Duration::from_secs(guc::POOL_ACQUISITION_TIMEOUT.get().max(1) as u64);
    match tokio::time::timeout(wait, taken).await {
        Ok(Ok(())) => answer.await.map_err(|_| executor_lost()),
        Ok(Err(_)) => Err(executor_lost()),
        Err(_) => {
            crate::metrics::get().pool_timeout();
            Err(ApiError::acquisition_timeout())
        }
    }
}

/// Starts the executors once the configured database exists and restarts any that stopped.
struct Supervisor {
    database: String,
    slots: Vec<Option<DynamicBackgroundWorker>>,
    waiting_logged: bool,
}

impl Supervisor {
    fn new() -> Supervisor {
        let n = guc::WORKERS.get().max(1) as usize;
        Supervisor {
            database: guc::database(),
            slots: (0..n).map(|_| None).collect(),
            waiting_logged: false,
        }
    }

    fn database_exists(&self) -> bool {
        let name = match std::ffi::CString::new(self.database.clone()) {
            Ok(n) => n,
            Err(_) => return false,
        };
        // A heap scan of pg_database: without a database, the listener may read shared
        // catalogs but not use their indexes (get_database_oid would need pg_class).
        pgrx::PgTryBuilder::new(|| unsafe {
            pg_sys::SetCurrentStatementStartTimestamp();
            pg_sys::StartTransactionCommand();
            let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
            let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, lock);
            let scan = pg_sys::table_beginscan_catalog(rel, 0, std::ptr::null_mut());
            let mut found = false;
            loop {
                let tup = pg_sys::heap_getnext(scan, pg_sys::ScanDirection::ForwardScanDirection);
                if tup.is_null() {
                    break;
                }
                let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tup);
                let datname = std::ffi::CStr::from_ptr((*form).datname.data.as_ptr());
                if datname == name.as_c_str() {
                    found = true;
                    break;
                }
            }
            pg_sys::table_endscan(scan);
            pg_sys::table_close(rel, lock);
            pg_sys::CommitTransactionCommand();
            found
        })
        .catch_others(|_| {
            unsafe { pg_sys::AbortCurrentTransaction() };
            false
        })
        .execute()
    }

    fn check(&mut self) {
        let need: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| match s {
                None => true,
                Some(w) => matches!(
                    w.pid(),
                    Err(BackgroundWorkerStatus::Stopped)
                        | Err(BackgroundWorkerStatus::PostmasterDied)
                ),
            })
            .map(|(i, _)| i)
            .collect();
        if need.is_empty() {
            return;
        }
        if !self.database_exists() {
            if !self.waiting_logged {
                pgrx::log!(
                    "serendb_data_api: waiting for database \"{}\" to exist",
                    self.database
                );
                self.waiting_logged = true;
            }
            return;
        }
        self.waiting_logged = false;
        for i in need {
            let started = BackgroundWorkerBuilder::new(&format!("serendb_data_api executor {i}"))
                .set_type("serendb_data_api executor")
                .set_function("serendb_data_api_executor_main")
                .set_library("serendb_data_api")
                .enable_spi_access()
                .set_start_time(pgrx::bgworkers::BgWorkerStartTime::ConsistentState)
                .set_restart_time(None)
                .set_argument(Some(pg_sys::Datum::from(i as i64)))
                .set_extra(&self.database)
                .set_notify_pid(unsafe { pg_sys::MyProcPid })
                .load_dynamic();
            match started {
                Ok(w) => self.slots[i] = Some(w),
                Err(_) => {
                    pgrx::log!(
                        "serendb_data_api: cannot start executor {i} (max_worker_processes?)"
                    );
                }
            }
        }
    }

    fn stop_all(&mut self) {
        for w in self.slots.iter_mut().filter_map(|s| s.take()) {
            let _ = w.terminate();
        }
    }
}
