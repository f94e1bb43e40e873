//! A worker thread: one `mio::Poll`, a `Slab` of connections keyed by token, the
//! connections handed over by the listener, and the poll loop. Each event drives its
//! connection (`drive.rs`); connections that yielded (`-R`) or stopped on a full output
//! go on the `pending` list and are driven again after the next zero-timeout poll. The
//! worker lends its read and output buffers to the connection it drives, closes
//! connections (and idle ones, `-o idle_timeout`), and wakes on its `Waker` for new
//! connections, shutdown, and log lines queued for its watchers.
//!
//! Must not: touch item memory or parse bytes itself.

use crate::protocol::Limits;
use crate::server::Shared;
use crate::server::exec::Ctx;
use crate::server::net::connection::{Connection, READ_BUF};
use crate::server::net::conns::{self, ConnInfo, ConnState};
use crate::server::net::drive::{Fate, drive_conn};
use crate::server::net::listener::Handoff;
use crate::server::net::stream::Stream;
use crate::server::observe::stats::ThreadStats;
use crate::server::observe::trace;
use crate::server::observe::watch::{self, CloseReason};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const WAKE: Token = Token(usize::MAX);
/// Longest poll wait: the idle timeout is checked at least this often.
const TICK: Duration = Duration::from_secs(1);

pub struct Worker {
    id: usize,
    shared: Arc<Shared>,
    poll: Poll,
    rx: crossbeam_channel::Receiver<(Stream, crate::config::tls::ListenTls)>,
    conns: Slab<Connection>,
    pending: Vec<usize>,
    stats: Arc<ThreadStats>,
    limits: Limits,
    /// The registry clock (whole seconds) as of the last poll wake-up.
    now: u64,
    /// `now` at the last idle-timeout pass.
    idle_checked: u64,
    /// Wakes this worker's poll (new connections, `watch` lines queued).
    waker: Arc<Waker>,
    /// Keys of the connections streaming a `watch` log.
    watchers: Vec<usize>,
    /// The read and output buffers lent to the connection being driven
    /// (`Connection::lend`), so an idle connection holds no buffer of its own.
    spare: Vec<u8>,
    spare_out: Vec<u8>,
}

impl Worker {
    pub fn new(id: usize, shared: Arc<Shared>) -> io::Result<(Worker, Handoff)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let stats = shared.observe.threads[id].clone();
        let limits = Limits {
            max_key: 250,
            max_value: shared.config.item_size_max,
            max_get_line: shared.config.item_size_max.max(64 * 1024),
            meta_new: shared.config.meta_new,
        };
        Ok((
            Worker {
                id,
                shared,
                poll,
                rx,
                conns: Slab::new(),
                pending: Vec::new(),
                stats,
                limits,
                now: 0,
                idle_checked: 0,
                waker: waker.clone(),
                watchers: Vec::new(),
                spare: vec![0; READ_BUF],
                spare_out: Vec::new(),
            },
            Handoff { tx, waker },
        ))
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = if self.pending.is_empty() {
                Some(TICK)
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("worker {} poll failed: {e}", self.id);
                break;
            }
            if self.shared.is_shutting_down() {
                break;
            }
            self.now = self.shared.clients.registry.now();
            if self.now != self.idle_checked {
                self.idle_checked = self.now;
                self.close_idle();
            }
            for ev in events.iter() {
                let token = ev.token();
                if token == WAKE {
                    self.adopt_new();
                    self.drive_watchers();
                    continue;
                }
                let key = token.0;
                if let Some(c) = self.conns.get_mut(key) {
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        c.readable(ev.is_read_closed() || ev.is_error());
                    }
                    self.drive(key);
                }
            }
            // Resume connections that yielded because of -R.
            let pending = std::mem::take(&mut self.pending);
            for key in pending {
                if let Some(c) = self.conns.get_mut(key) {
                    c.unmark_pending();
                    self.stats.conn_yields.fetch_add(1, Ordering::Relaxed);
                    self.drive(key);
                }
            }
        }
        self.shutdown();
    }

    /// Takes connections handed over by the listener.
    fn adopt_new(&mut self) {
        while let Ok((stream, mode)) = self.rx.try_recv() {
            let tls = match self.shared.tls.as_ref().and_then(|t| t.session(mode)) {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(e)) => {
                    log::warn!("starting a TLS session failed: {e}");
                    self.shared.conn_closed();
                    continue;
                }
            };
            let peer = match &stream {
                Stream::Tcp(s) => s.peer_addr().ok(),
                Stream::Unix(_) => None,
            };
            let info = Arc::new(self.conn_info(&stream, peer));
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let fd = info.fd;
            let authed = !self.shared.config.auth_required();
            let budget = self.shared.clients.input_budget.clone();
            let mut conn =
                Connection::new(stream, authed, info, peer, budget, &self.shared.store, tls);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(conn.stream_mut(), Token(key), Interest::READABLE)
            {
                log::warn!("registering a connection failed: {e}");
                self.shared.conn_closed();
                continue;
            }
            self.shared
                .clients
                .registry
                .insert(self.id, key, conn.info().clone());
            entry.insert(conn);
            if trace::on(&self.shared) {
                trace::new_conn(fd, self.shared.config.protocol);
            }
            if self.shared.observe.watch.wants(watch::CONNEVENTS) {
                self.shared.observe.watch.conn_new(peer, fd);
            }
            // Data may have arrived before registration; edge-triggered polls only report
            // new readiness, so try reading now.
            self.drive(key);
        }
    }

    /// The registry record of a new client socket.
    fn conn_info(&self, stream: &Stream, peer: Option<std::net::SocketAddr>) -> ConnInfo {
        let (addr, listen) = match stream {
            Stream::Tcp(s) => (
                match peer {
                    Some(a) => conns::tcp_addr(&a),
                    None => "tcp:unknown".to_string(),
                },
                match s.local_addr() {
                    Ok(a) => self.shared.clients.registry.listen_addr_for(&a),
                    Err(_) => "tcp:unknown".to_string(),
                },
            ),
            // memcached names both ends of a unix connection by the socket path.
            Stream::Unix(_) => {
                let path = match &self.shared.config.unix_socket {
                    Some(p) => format!("unix:{}", p.display()),
                    None => "unix:".to_string(),
                };
                (path.clone(), path)
            }
        };
        ConnInfo::new(
            stream.as_raw_fd(),
            addr,
            Some(listen),
            self.shared.clients.registry.now(),
        )
    }

    fn drive(&mut self, key: usize) {
        let (fate, attached) = match self.conns.get_mut(key) {
            Some(conn) => {
                let ctx = Ctx {
                    shared: &self.shared,
                    stats: &self.stats,
                    limits: &self.limits,
                    fd: conn.fd(),
                    trace: trace::on(&self.shared),
                    reply_limit: usize::MAX,
                    received: std::cell::Cell::new(None),
                };
                conn.lend(&mut self.spare, &mut self.spare_out);
                let mut fate = drive_conn(conn, &ctx, &mut self.pending, key, self.now);
                // A connection that just became a watcher: from now on queued lines wake
                // this worker; send what was queued before.
                let attached = matches!(fate, Fate::Keep)
                    && conn.watcher().is_some_and(|w| w.attach(self.waker.clone()));
                if attached {
                    fate = drive_conn(conn, &ctx, &mut self.pending, key, self.now);
                }
                conn.give_back(&mut self.spare, &mut self.spare_out);
                (fate, attached)
            }
            None => return,
        };
        if attached {
            self.watchers.push(key);
        }
        match fate {
            Fate::Keep => {
                if let Some(conn) = self.conns.get_mut(key) {
                    update_interest(&self.poll, key, conn);
                    conn.publish_state();
                }
            }
            Fate::Close(reason) => self.close(key, reason),
        }
    }

    /// Sends the lines queued for this worker's watching connections.
    fn drive_watchers(&mut self) {
        if self.watchers.is_empty() {
            return;
        }
        for key in self.watchers.clone() {
            self.drive(key);
        }
    }

    fn close(&mut self, key: usize, reason: CloseReason) {
        if self.conns.contains(key) {
            let mut conn = self.conns.remove(key);
            conn.say_goodbye();
            let _ = self.poll.registry().deregister(conn.stream_mut());
            self.shared.clients.registry.remove(self.id, key);
            self.shared.conn_closed();
            if trace::on(&self.shared) {
                trace::closed(conn.fd());
            }
            let w = &self.shared.observe.watch;
            let reason = match conn.watcher() {
                Some(watcher) => {
                    w.remove(watcher);
                    self.watchers.retain(|&k| k != key);
                    // memcached's logger thread closes watchers as errors.
                    CloseReason::Error
                }
                None => reason,
            };
            if w.wants(watch::CONNEVENTS) {
                w.conn_close(conn.peer(), conn.fd(), reason);
            }
        }
    }

    /// `-o idle_timeout`: closes, without a word, connections waiting for a command for
    /// longer than the (live) timeout, as memcached does; one that is in the middle of a
    /// request (data block, swallow, blocked write) is left alone.
    fn close_idle(&mut self) {
        let timeout = self.shared.live.idle_timeout.load(Ordering::Relaxed);
        if timeout == 0 {
            return;
        }
        let now = self.now;
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.state(), ConnState::NewCmd | ConnState::Read)
                    && !c.is_pending()
                    && now.saturating_sub(c.info().last_cmd()) > timeout
            })
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            if let Some(c) = self.conns.get(key)
                && trace::on(&self.shared)
            {
                trace::idle_close(c.fd());
            }
            self.stats.idle_kicks.fetch_add(1, Ordering::Relaxed);
            self.close(key, CloseReason::IdleTimeout);
        }
    }

    /// Flushes what each connection has queued (bounded), then closes them all.
    fn shutdown(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                while conn.pending_output() > 0 && std::time::Instant::now() < deadline {
                    match conn.flush() {
                        Ok(0) => std::thread::sleep(Duration::from_millis(1)),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
            self.close(key, CloseReason::Shutdown);
        }
        log::debug!("worker {} stopped", self.id);
    }
}

/// Asks for WRITABLE events only while output is queued.
fn update_interest(poll: &Poll, key: usize, conn: &mut Connection) {
    let want_write = conn.pending_output() > 0;
    if want_write != conn.wants_write() {
        let interest = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if let Err(e) = poll
            .registry()
            .reregister(conn.stream_mut(), Token(key), interest)
        {
            log::warn!("reregister failed: {e}");
        }
        conn.set_wants_write(want_write);
    }
}
