//! The server: threads, `mio` polls, connections and buffers, and the execution seam. The
//! only layer that does I/O. Four rooms:
//!
//! - [`net`]: sockets and threads. `listener.rs` accepts (and enforces `-c`), `worker.rs`
//!   runs a poll over its connections, `drive.rs` drives one connection, `connection.rs` owns
//!   its buffers and lifecycle, `receive.rs` reads long values into their item, `outq.rs`
//!   queues replies (copied or spliced), `udp.rs` serves datagrams, `conns.rs` is the
//!   registry behind `stats conns` and the idle timeout.
//! - [`exec`]: the seam between protocol and store: `step.rs` (one request step for TCP and
//!   UDP), the decoders `text.rs`, `meta.rs`, `binary.rs`, and one runner per operation
//!   (`get.rs`, `store.rs`, `delete.rs`, `arith.rs`, `touch.rs`, `admin.rs`, `crawler.rs`)
//!   owning the counters, `stats detail` and watch lines.
//! - [`observe`]: counters and `stats` (`stats.rs`), `stats detail` (`detail.rs`), `watch`
//!   (`watch.rs`), the `-vv` trace (`trace.rs`).
//! - Pool sync ([`cluster`]): polling peers and the node file, pushing joins and leaves;
//!   [`reload`]: SIGHUP's config reload.
//!
//! ```text
//!                 ┌──────────────┐  crossbeam channel + Waker   ┌──────────────────────┐
//!  sockets ─────► │ listener.rs  │ ───────── round robin ──────►│ worker.rs × -t       │
//!   (-l -p, -s)   │ own Poll,    │     (stream.rs: TCP or unix) │ own Poll, Slab<Conn> │
//!                 │ enforces -c  │                              │ drive.rs: read → step│
//!                 └──────────────┘                              │ → flush              │
//!                 ┌──────────────┐                              └──────────┬───────────┘
//!  datagrams ───► │ udp.rs       │ ────────── exec/step.rs ────────────────┤ exec/step.rs
//!   (-U)          │ own Poll     │                                   protocol ◄┴► store
//!                 └──────────────┘
//! ```
//!
//! Must not: parse bytes itself (that is `protocol`), choose reply words (`protocol` too) or
//! touch item memory other than through `Store` (that is `store`).

pub mod cluster;
pub mod exec;
pub mod net;
pub mod observe;
pub mod reload;

use crate::config::Config;
use crate::store::Store;
use mio::Waker;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

pub use observe::stats::ThreadStats;

/// The version `version` and `stats` report: the memcached release whose protocol we
/// speak, then ours. Clients and tools (libmemcached's memcapable, pymemcache users, the
/// meta-protocol probes) parse the leading `major.minor.patch` to decide what the server
/// supports, so it must start with a memcached version.
pub const VERSION: &str = concat!("1.6.18-ferrocache-", env!("CARGO_PKG_VERSION"));

/// State shared by the listener, all workers, the UDP thread and the `stats` command,
/// grouped by room: what the server is (`config`, `store`, `cluster`), what changes while
/// it runs (`live`), its client connections (`clients`), what operators observe
/// (`observe`), the crawler; its lifecycle (shutdown, wakers, bound addresses) is private.
pub struct Shared {
    pub config: Config,
    pub store: Store,
    /// Auto-discovery state (`config get cluster`).
    pub cluster: Arc<cluster::Cluster>,
    /// Settings changed while running.
    pub live: Live,
    /// Client connections: counts, the registry, the input budget.
    pub clients: net::Clients,
    /// Counters, `stats detail` and `watch`.
    pub observe: observe::Observe,
    /// `lru_crawler` settings and the running crawl.
    pub crawler: exec::crawler::CrawlerState,
    /// TLS (`-Z`): certificates, per-listener configurations, counters.
    pub tls: Option<Arc<net::tls::TlsContext>>,
    /// Set once: stop accepting, flush, exit.
    shutting_down: AtomicBool,
    /// Wakers of the listener and every worker, to deliver shutdown.
    wakers: parking_lot::Mutex<Vec<Arc<Waker>>>,
    /// The listener's waker: with `no_maxconns_fast` a close below `-c` resumes accepting.
    listener_waker: OnceLock<Arc<Waker>>,
    /// The addresses actually bound (port 0 resolved).
    bound: parking_lot::Mutex<Vec<SocketAddr>>,
}

/// Settings that change while the server runs (`verbosity`, `slabs automove`, SIGHUP).
pub struct Live {
    /// Verbosity (`verbosity N` and SIGHUP change it).
    pub verbosity: AtomicU32,
    /// Connection limit (`-c`; SIGHUP changes it).
    pub conn_limit: AtomicUsize,
    /// Idle timeout in seconds (`-o idle_timeout`; SIGHUP changes it; 0 = none).
    pub idle_timeout: AtomicU64,
    /// `slabs automove` mode as last set (0 off, 1 and 2 on), for `stats settings`.
    pub automove_mode: AtomicU32,
    /// `slab_automove_ratio`, `_window`, `_freeratio` as last set (`-o`, `slabs automove`;
    /// ratios as `f64` bits), for `stats settings`. ferrocache's automove rule does not
    /// read them.
    pub automove_ratio: AtomicU64,
    pub automove_window: AtomicU32,
    pub automove_freeratio: AtomicU64,
}

/// The bound on unparsed input held by all connections together: a sixteenth of the
/// memory limit, at least 4 MiB (four 1 MB `get` lines at once).
fn input_budget(config: &Config) -> usize {
    (config.memory_limit / 16).max(4 << 20)
}

impl Shared {
    /// Starts an orderly shutdown: the listener stops accepting, workers flush and exit.
    pub fn begin_shutdown(&self) {
        if self.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        for w in self.wakers.lock().iter() {
            if let Err(e) = w.wake() {
                log::warn!("waking a thread for shutdown failed: {e}");
            }
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// A worker closed a client connection.
    pub fn conn_closed(&self) {
        let before = self.clients.open.fetch_sub(1, Ordering::AcqRel);
        if !self.config.ext.maxconns_fast
            && before >= self.live.conn_limit.load(Ordering::Relaxed)
            && let Some(w) = self.listener_waker.get()
            && let Err(e) = w.wake()
        {
            log::warn!("waking the listener failed: {e}");
        }
    }
}

/// A running server.
pub struct ServerHandle {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Addresses the server listens on.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.shared.bound.lock().clone()
    }

    /// Shared state (for signal handlers and tests).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Asks every thread to stop; returns at once.
    pub fn shutdown(&self) {
        self.shared.begin_shutdown();
    }

    /// Waits for the listener and all workers to finish.
    pub fn join(self) {
        for t in self.threads {
            if t.join().is_err() {
                log::error!("a server thread panicked");
            }
        }
        self.shared.store.stop_sweeper();
    }
}

/// Sockets bound at start-up (before privileges are dropped).
pub struct Sockets {
    /// `-l`/`-p`.
    pub tcp: Vec<std::net::TcpListener>,
    /// `-s`.
    pub unix: Option<std::os::unix::net::UnixListener>,
    /// `-U`.
    pub udp: Vec<std::net::UdpSocket>,
}

/// Binds the configured addresses (with the configured backlog), the unix socket and the
/// UDP sockets.
pub fn bind_all(config: &Config) -> io::Result<Sockets> {
    let tcp = config
        .listen
        .iter()
        .map(|addr| net::listener::bind(*addr, config.backlog))
        .collect::<io::Result<Vec<_>>>()?;
    let unix = match &config.unix_socket {
        Some(path) => Some(net::listener::bind_unix(
            path,
            config.unix_mask,
            config.backlog,
        )?),
        None => None,
    };
    let udp = config
        .udp_listen
        .iter()
        .map(|addr| net::udp::bind(*addr))
        .collect::<io::Result<Vec<_>>>()?;
    Ok(Sockets { tcp, unix, udp })
}

/// Starts the listener, worker and UDP threads on already-bound sockets.
pub fn start(
    config: Config,
    store: Store,
    cluster: Arc<cluster::Cluster>,
    sockets: Sockets,
    tls: Option<Arc<net::tls::TlsContext>>,
) -> io::Result<ServerHandle> {
    let Sockets { tcp, unix, udp } = sockets;
    let udp_blocks = usize::from(!udp.is_empty());
    let thread_stats: Vec<Arc<ThreadStats>> = (0..config.threads + udp_blocks)
        .map(|_| Arc::new(ThreadStats::default()))
        .collect();
    let bound = tcp
        .iter()
        .map(|l| l.local_addr())
        .collect::<io::Result<Vec<_>>>()?;
    let (config_threads, config_delimiter) = (config.threads, config.delimiter);
    for s in &udp {
        log::info!("listening on udp {}", s.local_addr()?);
    }
    if let Some(path) = &config.unix_socket {
        log::info!("listening on unix socket {}", path.display());
    }
    let input_limit = input_budget(&config);
    let shared = Arc::new(Shared {
        live: Live {
            verbosity: AtomicU32::new(u32::from(config.verbose)),
            conn_limit: AtomicUsize::new(config.conn_limit),
            idle_timeout: AtomicU64::new(config.ext.idle_timeout),
            automove_mode: AtomicU32::new(config.ext.slab_automove),
            automove_ratio: AtomicU64::new(config.ext.automove_ratio.to_bits()),
            automove_window: AtomicU32::new(config.ext.automove_window),
            automove_freeratio: AtomicU64::new(config.ext.automove_freeratio.to_bits()),
        },
        clients: net::Clients {
            open: AtomicUsize::new(0),
            max_seen: AtomicUsize::new(0),
            registry: net::conns::Registry::new(config_threads),
            input_budget: Arc::new(net::connection::InputBudget::new(input_limit)),
        },
        observe: observe::Observe {
            threads: thread_stats,
            listener: Arc::new(observe::stats::ListenerStats::default()),
            detail: observe::detail::Detail::new(config_delimiter),
            watch: observe::watch::Registry::default(),
        },
        config,
        store,
        cluster,
        shutting_down: AtomicBool::new(false),
        crawler: exec::crawler::CrawlerState::default(),
        tls,
        wakers: parking_lot::Mutex::new(Vec::new()),
        listener_waker: OnceLock::new(),
        bound: parking_lot::Mutex::new(bound),
    });

    let mut listening: Vec<(i32, String)> = Vec::new();
    {
        use std::os::fd::AsRawFd;
        for l in &tcp {
            listening.push((l.as_raw_fd(), net::conns::tcp_addr(&l.local_addr()?)));
        }
        if let (Some(u), Some(path)) = (&unix, &shared.config.unix_socket) {
            listening.push((u.as_raw_fd(), format!("unix:{}", path.display())));
        }
        for u in &udp {
            listening.push((u.as_raw_fd(), net::conns::udp_addr(&u.local_addr()?)));
        }
    }
    for (fd, addr) in listening {
        shared.clients.registry.add_listener(fd, addr);
        if shared.config.verbose >= 2 {
            let proto = match shared.config.protocol {
                crate::config::ProtocolMode::Auto => "auto-negotiate",
                crate::config::ProtocolMode::Ascii => "ascii",
                crate::config::ProtocolMode::Binary => "binary",
            };
            observe::trace::event(format_args!("<{fd} server listening ({proto})"));
        }
    }

    let mut threads = Vec::new();
    let mut handoffs = Vec::new();
    for i in 0..shared.config.threads {
        let (w, handoff) = net::worker::Worker::new(i, shared.clone())?;
        shared.wakers.lock().push(handoff.waker.clone());
        handoffs.push(handoff);
        threads.push(
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || w.run())?,
        );
    }
    if !udp.is_empty() {
        let stats = shared.observe.threads[shared.config.threads].clone();
        let u = net::udp::UdpServer::new(shared.clone(), udp, stats)?;
        shared.wakers.lock().push(u.waker());
        threads.push(
            std::thread::Builder::new()
                .name("udp".into())
                .spawn(move || u.run())?,
        );
    }
    let l = net::listener::Listener::new(shared.clone(), tcp, unix, handoffs)?;
    shared.wakers.lock().push(l.waker());
    let _ = shared.listener_waker.set(l.waker());
    threads.push(
        std::thread::Builder::new()
            .name("listener".into())
            .spawn(move || l.run())?,
    );
    // A shutdown requested before the wakers were registered must not be lost.
    if shared.is_shutting_down() {
        shared.shutting_down.store(false, Ordering::SeqCst);
        shared.begin_shutdown();
    }
    Ok(ServerHandle { shared, threads })
}
