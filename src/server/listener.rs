//! The accept thread: its own `Poll` over every listening socket. Accepts until
//! `WouldBlock`, enforces `-c`, and hands each connection round-robin to a worker
//! ("push, then wake": the socket goes on the worker's channel, then its `Waker` fires).
//!
//! Must not: read or write client requests (workers do), touch the store.

use super::Shared;
use super::stats::ListenerStats;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;

const WAKE: Token = Token(usize::MAX);

/// memcached's refusal when `-c` is reached.
const TOO_MANY: &[u8] = b"ERROR Too many open connections\r\n";

/// The sending half of a worker's hand-off queue.
pub struct Handoff {
    pub tx: crossbeam_channel::Sender<TcpStream>,
    pub waker: Arc<Waker>,
}

/// Binds `addr` and sets the listen backlog.
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("failed to listen on {addr}: {e}")))?;
    // std listens with its own backlog; calling listen(2) again on a listening socket
    // updates the backlog (Linux, BSDs).
    // SAFETY: `l` owns a valid, open socket descriptor for the duration of the call, and
    // listen(2) only reads its two integer arguments.
    let rc = unsafe { libc::listen(l.as_raw_fd(), backlog) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    l.set_nonblocking(true)?;
    Ok(l)
}

pub struct Listener {
    shared: Arc<Shared>,
    poll: Poll,
    waker: Arc<Waker>,
    listeners: Vec<TcpListener>,
    workers: Vec<Handoff>,
    next: usize,
    stats: Arc<ListenerStats>,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Listener {
    pub fn new(
        shared: Arc<Shared>,
        std_listeners: Vec<std::net::TcpListener>,
        workers: Vec<Handoff>,
    ) -> io::Result<Listener> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let mut listeners = Vec::new();
        for (i, l) in std_listeners.into_iter().enumerate() {
            l.set_nonblocking(true)?;
            let mut l = TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(i), Interest::READABLE)?;
            listeners.push(l);
        }
        let stats = shared.listener_stats.clone();
        Ok(Listener {
            shared,
            poll,
            waker,
            listeners,
            workers,
            next: 0,
            stats,
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
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("listener poll failed: {e}");
                break;
            }
            for ev in events.iter() {
                if ev.token() == WAKE {
                    continue;
                }
                self.accept_all(ev.token().0);
            }
        }
        // Dropping the listeners closes them: no new connections from here on.
        for l in &mut self.listeners {
            let _ = self.poll.registry().deregister(l);
        }
        self.listeners.clear();
        log::debug!("listener stopped");
    }

    fn accept_all(&mut self, idx: usize) {
        // Bounded: the backlog is finite, but guard against a storm starving shutdown.
        for _ in 0..4096 {
            let Some(l) = self.listeners.get(idx) else {
                return;
            };
            match l.accept() {
                Ok((stream, peer)) => self.admit(stream, peer),
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

    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let limit = self.shared.conn_limit.load(Ordering::Relaxed);
        let curr = self.shared.curr_conns.fetch_add(1, Ordering::AcqRel) + 1;
        if curr > limit {
            self.shared.curr_conns.fetch_sub(1, Ordering::AcqRel);
            self.stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            // Best effort: a fresh socket's send buffer takes these few bytes at once.
            let _ = stream.write(TOO_MANY);
            log::info!("refused connection from {peer}: -c {limit} reached");
            return;
        }
        self.shared
            .max_conns_seen
            .fetch_max(curr, Ordering::Relaxed);
        self.stats.total_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let n = self.workers.len();
        let w = &self.workers[self.next % n];
        self.next = self.next.wrapping_add(1);
        if w.tx.send(stream).is_err() {
            self.shared.curr_conns.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        if let Err(e) = w.waker.wake() {
            log::warn!("waking worker failed: {e}");
        }
        log::debug!("accepted connection from {peer}");
    }
}
