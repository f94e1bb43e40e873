//! The accept thread: its own `Poll` over every listening socket (TCP and the unix
//! socket). Accepts until `WouldBlock`, enforces `-c`, and hands each connection
//! round-robin to a worker ("push, then wake": the socket goes on the worker's channel,
//! then its `Waker` fires).
//!
//! `-c` has two modes, as in memcached: `maxconns_fast` (default) accepts the connection
//! over the limit, answers `ERROR Too many open connections` and closes it;
//! `-o no_maxconns_fast` stops accepting instead (new connections wait in the kernel's
//! backlog) until a worker closes a connection and wakes us.
//!
//! Must not: read or write client requests (workers do), touch the store.

use crate::config::tls::ListenTls;
use crate::server::Shared;
use crate::server::net::stream::{Acceptor, Stream};
use crate::server::observe::stats::ListenerStats;
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const WAKE: Token = Token(usize::MAX);

/// memcached's refusal when `-c` is reached.
const TOO_MANY: &[u8] = crate::protocol::text::encode::TOO_MANY_CONNECTIONS;

/// While paused by `no_maxconns_fast`, re-check the limit this often even without a wake
/// (a SIGHUP may have raised `-c`).
const PAUSED_RECHECK: Duration = Duration::from_millis(100);

/// The sending half of a worker's hand-off queue.
pub struct Handoff {
    /// The socket and the TLS of the listener that accepted it.
    pub tx: crossbeam_channel::Sender<(Stream, ListenTls)>,
    pub waker: Arc<Waker>,
}

/// Sets the listen backlog of an already listening socket: calling listen(2) again on a
/// listening socket updates it (Linux, BSDs). std listens with its own default.
fn set_backlog(fd: &impl AsRawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: `fd` owns a valid, open socket descriptor for the duration of the call, and
    // listen(2) only reads its two integer arguments.
    let rc = unsafe { libc::listen(fd.as_raw_fd(), backlog) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Binds `addr` and sets the listen backlog.
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("failed to listen on {addr}: {e}")))?;
    set_backlog(&l, backlog)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Binds the unix socket `path` like memcached: a stale socket file there is removed first
/// (anything else at `path` makes the bind fail), and the file's permission bits are
/// `mask` (set through the umask around bind(2), so there is no window with others).
pub fn bind_unix(
    path: &Path,
    mask: u32,
    backlog: i32,
) -> io::Result<std::os::unix::net::UnixListener> {
    let fail = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("failed to listen on unix socket {}: {e}", path.display()),
        )
    };
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        std::fs::remove_file(path).map_err(fail)?;
    }
    let umask = !mask & 0o777;
    // SAFETY: umask(2) cannot fail and touches no memory. It is process-wide: this runs
    // during start-up, before the server starts any thread that creates files.
    let old = unsafe { libc::umask(umask as libc::mode_t) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above; restores the previous mask.
    unsafe { libc::umask(old) };
    let l = bound.map_err(fail)?;
    set_backlog(&l, backlog).map_err(fail)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

pub struct Listener {
    shared: Arc<Shared>,
    poll: Poll,
    waker: Arc<Waker>,
    listeners: Vec<Acceptor>,
    /// TLS of each listener (unix sockets: plain, as in memcached).
    modes: Vec<ListenTls>,
    workers: Vec<Handoff>,
    next: usize,
    stats: Arc<ListenerStats>,
    /// `no_maxconns_fast` and the limit was reached: not accepting until a close.
    paused: bool,
    /// When accepting was paused (for `time_in_listen_disabled_us`).
    paused_at: Option<std::time::Instant>,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Listener {
    pub fn new(
        shared: Arc<Shared>,
        tcp: Vec<std::net::TcpListener>,
        unix: Option<std::os::unix::net::UnixListener>,
        workers: Vec<Handoff>,
    ) -> io::Result<Listener> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let mut listeners = Vec::new();
        let mut modes = Vec::new();
        let tls_on = shared.tls.is_some();
        for (i, l) in tcp.into_iter().enumerate() {
            l.set_nonblocking(true)?;
            listeners.push(Acceptor::Tcp(TcpListener::from_std(l)));
            let mode = shared.config.listen_tls.get(i).copied().unwrap_or_default();
            modes.push(if tls_on { mode } else { ListenTls::Off });
        }
        if let Some(l) = unix {
            l.set_nonblocking(true)?;
            listeners.push(Acceptor::Unix(UnixListener::from_std(l)));
            modes.push(ListenTls::Off);
        }
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry().register(l, Token(i), Interest::READABLE)?;
        }
        let stats = shared.observe.listener.clone();
        Ok(Listener {
            shared,
            poll,
            waker,
            listeners,
            modes,
            workers,
            next: 0,
            stats,
            paused: false,
            paused_at: None,
        })
    }

    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(64);
        loop {
            if self.shared.is_shutting_down() {
                break;
            }
            let timeout = self.paused.then_some(PAUSED_RECHECK);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("listener poll failed: {e}");
                break;
            }
            for ev in events.iter() {
                // While paused, readiness is left pending: the connections wait in the
                // backlog and every listener is drained when accepting resumes.
                if ev.token() == WAKE || self.paused {
                    continue;
                }
                self.accept_all(ev.token().0);
            }
            if self.paused && !self.at_limit() {
                self.paused = false;
                if let Some(since) = self.paused_at.take() {
                    let us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.stats
                        .time_in_listen_disabled_us
                        .fetch_add(us, Ordering::Relaxed);
                }
                log::debug!("below -c again: accepting");
                // Edge-triggered: what arrived while paused raised no new event.
                for idx in 0..self.listeners.len() {
                    self.accept_all(idx);
                }
            }
        }
        // Dropping the listeners closes them: no new connections from here on.
        let mut had_unix = false;
        for l in &mut self.listeners {
            had_unix |= matches!(l, Acceptor::Unix(_));
            let _ = self.poll.registry().deregister(l);
        }
        self.listeners.clear();
        if had_unix && let Some(path) = &self.shared.config.unix_socket {
            // memcached leaves the file behind; a clean exit should not.
            if let Err(e) = std::fs::remove_file(path) {
                log::warn!("removing unix socket {}: {e}", path.display());
            }
        }
        log::debug!("listener stopped");
    }

    /// `no_maxconns_fast` and `-c` connections are open.
    fn at_limit(&self) -> bool {
        !self.shared.config.ext.maxconns_fast
            && self.shared.clients.open.load(Ordering::Acquire)
                >= self.shared.live.conn_limit.load(Ordering::Relaxed)
    }

    fn accept_all(&mut self, idx: usize) {
        // Bounded: the backlog is finite, but guard against a storm starving shutdown.
        for _ in 0..4096 {
            if self.at_limit() {
                self.paused = true;
                // memcached's listen_disabled_num: times accepting stopped at -c.
                self.stats
                    .listen_disabled_num
                    .fetch_add(1, Ordering::Relaxed);
                self.paused_at = Some(std::time::Instant::now());
                log::info!("-c reached: not accepting until a connection closes");
                return;
            }
            let Some(l) = self.listeners.get(idx) else {
                return;
            };
            match l.accept() {
                Ok((stream, peer)) => {
                    let mode = self.modes.get(idx).copied().unwrap_or(ListenTls::Off);
                    self.admit(stream, peer, mode)
                }
                Err(e) if would_block(&e) => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log and try again on the next event.
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: Stream, peer: Option<SocketAddr>, mode: ListenTls) {
        let limit = self.shared.live.conn_limit.load(Ordering::Relaxed);
        let curr = self.shared.clients.open.fetch_add(1, Ordering::AcqRel) + 1;
        if curr > limit {
            self.shared.clients.open.fetch_sub(1, Ordering::AcqRel);
            self.stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            // Best effort: a fresh socket's send buffer takes these few bytes at once.
            let _ = stream.write(TOO_MANY);
            log::info!("refused connection from {peer:?}: -c {limit} reached");
            return;
        }
        self.shared
            .clients
            .max_seen
            .fetch_max(curr, Ordering::Relaxed);
        self.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay();
        let n = self.workers.len();
        let w = &self.workers[self.next % n];
        self.next = self.next.wrapping_add(1);
        if w.tx.send((stream, mode)).is_err() {
            self.shared.clients.open.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        if let Err(e) = w.waker.wake() {
            log::warn!("waking worker failed: {e}");
        }
        log::debug!("accepted connection from {peer:?}");
    }
}
