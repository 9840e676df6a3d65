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
    /// executors that ever connected (an executor that connected and left between two
    /// supervisor checks still proves the database and the role exist)
    links_opened: Rc<Cell<u64>>,
}

#[pgrx::pg_guard]
#[no_mangle]
pub extern "C-unwind" fn serendb_data_api_listener_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // No database session at all: whether the database and the authenticator role exist is
    // learnt from the executors (an executor that connected is ready; see Supervisor).

    raise_file_limit();
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

/// Postgres processes often start with a soft limit of 1024 open files, barely above the
/// default `server_max_connections`: every client connection is a descriptor, so take the hard
/// limit (running out still only makes accept back off).
fn raise_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                pgrx::log!("serendb_data_api: cannot raise the listener's open file limit");
            }
        }
    }
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
        links_opened: Rc::new(Cell::new(0)),
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

    let connections = Connections::default();
    let mut accept_errors: u64 = 0;
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
                match accepted {
                    Ok((stream, _)) => admit(stream, &shared, &connections),
                    // EMFILE, ENFILE, ENOBUFS...: the pending connection stays queued, and
                    // retrying at once would only spin; give the open ones time to finish.
                    Err(e) => {
                        accept_errors += 1;
                        if accept_errors == 1 || accept_errors.is_multiple_of(100) {
                            pgrx::log!("serendb_data_api: accept failed ({accept_errors} times): {e}; backing off");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
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
                    supervisor.check(shared.executors.get(), shared.links_opened.get());
                } else if shared.executors.get() > 0 {
                    // the probe connected: the other executors start at once
                    supervisor.start_unstarted();
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

/// Open client connections, and those being turned away.
#[derive(Clone, Default)]
struct Connections {
    open: Rc<Cell<usize>>,
    refusing: Rc<Cell<usize>>,
}

/// Counts one connection (open or refusing) for as long as it lives.
struct Counted(Rc<Cell<usize>>);

impl Counted {
    fn new(count: &Rc<Cell<usize>>) -> Counted {
        count.set(count.get() + 1);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Connections being answered 503 at once; beyond this many, new ones are closed unanswered.
const MAX_REFUSING: usize = 64;

/// Serves a new connection, or answers 503 when `server_max_connections` are open.
fn admit(stream: tokio::net::TcpStream, shared: &Shared, connections: &Connections) {
    let _ = stream.set_nodelay(true);
    let limits = guc::server_limits();
    if connections.open.get() >= limits.max_connections {
        if connections.refusing.get() < MAX_REFUSING {
            let counted = Counted::new(&connections.refusing);
            tokio::task::spawn_local(async move {
                refuse(stream).await;
                drop(counted);
            });
        }
        return;
    }
    let counted = Counted::new(&connections.open);
    let shared = shared.clone();
    tokio::task::spawn_local(async move {
        super::observed::counted(crate::http_server::serve_connection(
            stream,
            limits,
            move |raw| {
                let shared = shared.clone();
                // CORS wraps everything, errors of the listener's own included (preflights
                // are answered before any bookkeeping, as PostgREST's middleware does)
                let origins = guc::cors_allowed_origins();
                async move {
                    crate::cors::serve(raw, &origins, |raw| {
                        super::observed::answer(
                            raw,
                            |raw| async move { forward(raw, &shared).await },
                        )
                    })
                    .await
                }
            },
        ))
        .await;
        drop(counted);
    });
}

/// 503 without reading the request, then close (after a moment for the client to read it).
async fn refuse(mut stream: tokio::net::TcpStream) {
    let err = ApiError::http_edge(503, "Too many open connections")
        .with_hint("Retry later")
        .with_header("Retry-After", "1");
    let bytes = crate::http_server::encode_response(&error_response(&err), false, false);
    let quick = Duration::from_millis(500);
    if let Ok(Ok(())) = tokio::time::timeout(quick, stream.write_all(&bytes)).await {
        let _ = tokio::time::timeout(quick, stream.shutdown()).await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(quick, async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}

/// When the postmaster dies we are re-parented.
fn postmaster_gone() -> bool {
    std::os::unix::process::parent_id() as i32 != unsafe { pg_sys::PostmasterPid }
}

/// Forwards jobs to one executor, one at a time, until the executor goes away.
async fn executor_link(mut stream: UnixStream, jobs: async_channel::Receiver<Job>, shared: Shared) {
    shared.executors.set(shared.executors.get() + 1);
    shared.links_opened.set(shared.links_opened.get() + 1);
    let metrics = crate::metrics::get();
    metrics.pool_available.fetch_add(1, Relaxed);
    let mut frames = ipc::FrameReader::default();
    loop {
        let job = tokio::select! {
            job = jobs.recv() => match job {
                Ok(j) => j,
                Err(_) => break,
            },
            // An idle executor sends nothing: readable means it went away (it exited, e.g.
            // to reconnect as another authenticator). Leaving now keeps the count of connected
            // executors true, which tells the supervisor whether the API is ready.
            _ = stream.readable() => {
                match stream.try_read(&mut [0u8; 1]) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    _ => break,
                }
            }
        };
        // The client was already told 504 (queue timeout) or went away: never run it.
        if job.started.send(()).is_err() {
            continue;
        }
        metrics.pool_available.fetch_sub(1, Relaxed);
        let busy = std::time::Instant::now();
        let exchanged = exchange(&mut stream, &mut frames, &job.frame).await;
        metrics.executor_busy(busy.elapsed().as_secs_f64());
        metrics.pool_available.fetch_add(1, Relaxed);
        match exchanged {
            Ok(resp) => {
                let _ = job.reply.send(resp);
            }
            Err(_) => {
                // The executor died mid-request: the client learns it, the request is not
                // retried (it may not be idempotent).
                let _ = job.reply.send(error_response(&ApiError::executor_lost()));
                break;
            }
        }
    }
    metrics.pool_available.fetch_sub(1, Relaxed);
    shared.executors.set(shared.executors.get() - 1);
}

async fn exchange(
    stream: &mut UnixStream,
    frames: &mut ipc::FrameReader,
    frame: &[u8],
) -> std::io::Result<HttpResponse> {
    stream.write_all(frame).await?;
    loop {
        match frames.next_frame()? {
            ipc::Next::Frame(range) => return ipc::decode_response(frames.payload(range)),
            ipc::Next::More => match stream.read(frames.space()).await? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => frames.filled(n),
            },
        }
    }
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
        .map_err(|_| ApiError::too_many_waiting())?;
    // PostgREST's db-pool-acquisition-timeout: a request that no executor takes in time gets
    // 504 and is dropped from the queue (this runtime is single-threaded, so the timeout and an
    // executor taking the job cannot interleave: either it runs, or it never will).
    let wait = Duration::from_secs(guc::POOL_ACQUISITION_TIMEOUT.get().max(1) as u64);
    match tokio::time::timeout(wait, taken).await {
        Ok(Ok(())) => answer.await.map_err(|_| ApiError::executor_lost()),
        Ok(Err(_)) => Err(ApiError::executor_lost()),
        Err(_) => {
            crate::metrics::get().pool_timeout();
            Err(ApiError::acquisition_timeout())
        }
    }
}

/// Starts the executors and restarts any that stopped. The listener has no database session,
/// so it cannot look up the database or the authenticator role: while no executor is connected,
/// one executor (slot 0) is started as a probe; its connection fails (FATAL) as long as the
/// database or the role is missing. Once it is connected, the other slots are started. The
/// probe retries every second for its first 30 attempts, then every 5 seconds; only one failed
/// attempt a minute may log why it failed.
struct Supervisor {
    database: String,
    slots: Vec<Option<DynamicBackgroundWorker>>,
    /// failed probe attempts in a row
    failures: u32,
    /// checks to skip before the next probe
    wait: u32,
    /// slot 0 was started as a probe (not ready then); an executor that served and ended
    /// is no failed probe
    probing: bool,
    /// `Shared::links_opened` at the last check
    links_seen: u64,
    waiting_logged: bool,
}

/// Probe attempts at one-second intervals before slowing down.
const FAST_PROBES: u32 = 30;
/// Seconds between probes after that.
const SLOW_PROBE_INTERVAL: u32 = 5;
/// One failed probe in this many may log its FATAL (about once a minute).
const PROBES_PER_LOG: u32 = 60 / SLOW_PROBE_INTERVAL;

impl Supervisor {
    fn new() -> Supervisor {
        let n = guc::WORKERS.get().max(1) as usize;
        Supervisor {
            database: guc::database(),
            slots: (0..n).map(|_| None).collect(),
            failures: 0,
            wait: 0,
            probing: false,
            links_seen: 0,
            waiting_logged: false,
        }
    }

    fn stopped(slot: &Option<DynamicBackgroundWorker>) -> bool {
        match slot {
            None => true,
            Some(w) => matches!(
                w.pid(),
                Err(BackgroundWorkerStatus::Stopped) | Err(BackgroundWorkerStatus::PostmasterDied)
            ),
        }
    }

    /// Called about once a second with the number of executors connected to the listener.
    fn check(&mut self, connected: usize, links_opened: u64) {
        let probe_connected = std::mem::replace(&mut self.links_seen, links_opened) != links_opened;
        if connected > 0 {
            if self.failures > 0 || self.waiting_logged {
                pgrx::log!(
                    "serendb_data_api: executors connected to \"{}\"",
                    self.database
                );
            }
            self.failures = 0;
            self.wait = 0;
            self.probing = false;
            self.waiting_logged = false;
            let need: Vec<usize> = (0..self.slots.len())
                .filter(|&i| Self::stopped(&self.slots[i]))
                .collect();
            for i in need {
                self.start(i, true);
            }
            return;
        }
        // Not ready: only the probe runs.
        if !Self::stopped(&self.slots[0]) {
            return;
        }
        let was_probe = std::mem::take(&mut self.probing);
        if self.slots[0].take().is_some() && was_probe && !probe_connected {
            // the probe ended without connecting to the listener
            self.failures += 1;
            self.wait = if self.failures < FAST_PROBES {
                0
            } else {
                SLOW_PROBE_INTERVAL - 1
            };
            if !self.waiting_logged {
                pgrx::log!(
                    "serendb_data_api: waiting for database \"{}\" and role \"{}\" (executors \
                     cannot connect yet; the API answers 503)",
                    self.database,
                    guc::snapshot().authenticator_role
                );
                self.waiting_logged = true;
            }
        }
        if self.wait > 0 {
            self.wait -= 1;
            return;
        }
        let verbose = self.failures == 0
            || (self.failures >= FAST_PROBES && self.failures.is_multiple_of(PROBES_PER_LOG));
        self.start(0, verbose);
        self.probing = true;
    }

    /// Starts the slots that have no executor yet (not those whose executor stopped: they are
    /// restarted by [`Supervisor::check`], at most once a second).
    fn start_unstarted(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].is_none() {
                self.start(i, true);
            }
        }
    }

    fn start(&mut self, i: usize, verbose: bool) {
        let started = BackgroundWorkerBuilder::new(&format!("serendb_data_api executor {i}"))
            .set_type("serendb_data_api executor")
            .set_function("serendb_data_api_executor_main")
            .set_library("serendb_data_api")
            .enable_spi_access()
            .set_start_time(pgrx::bgworkers::BgWorkerStartTime::ConsistentState)
            .set_restart_time(None)
            .set_argument(Some(super::executor_arg(i, verbose)))
            .set_extra(&self.database)
            .set_notify_pid(unsafe { pg_sys::MyProcPid })
            .load_dynamic();
        match started {
            Ok(w) => self.slots[i] = Some(w),
            Err(_) => {
                pgrx::log!("serendb_data_api: cannot start executor {i} (max_worker_processes?)");
            }
        }
    }

    fn stop_all(&mut self) {
        for w in self.slots.iter_mut().filter_map(|s| s.take()) {
            let _ = w.terminate();
        }
    }
}
