//! A worker thread: one `mio::Poll`, a `Slab` of connections keyed by token, and the
//! read -> parse -> execute -> flush loop.
//!
//! Each readable event drains the socket (a short read means drained), parses and executes
//! at most `-R` requests before yielding to other connections (the connection goes on the
//! `pending` list and is resumed after the next zero-timeout poll), and flushes all replies
//! of the batch with one write. While the output is full (`outq.rs`: 16 KiB copied or 256
//! KiB queued) the connection stops executing, a multi-key `get` part-way included, so a
//! client that does not read cannot grow our memory; it resumes on WRITABLE, or after the
//! next poll round if the last flush emptied the output. A storage command whose long value
//! is still arriving gets its item reserved and the value read straight into it
//! (`receive_into_item`, `finish_received`). The worker lends its read and output buffers to
//! the connection it drives. A connection that sent `watch` only streams its watcher's
//! queued lines from then on (`drive_watcher`); a line queued for it wakes this worker
//! through its `Waker`. Must not: touch item memory or parse bytes itself.

use crate::protocol::{Command, Limits, MetaVerb};
use crate::protocol::{binary, text};
use crate::server::Shared;
use crate::server::exec::binary as execute_bin;
use crate::server::exec::step::{self, Stepped};
use crate::server::exec::{self, Ctx, Next, Received};
use crate::server::net::connection::{Connection, Fill, Life, Proto, READ_BUF};
use crate::server::net::conns::{self, ConnInfo, ConnState};
use crate::server::net::listener::Handoff;
use crate::server::net::stream::Stream;
use crate::server::observe::stats::ThreadStats;
use crate::server::observe::trace;
use crate::server::observe::watch::{self, CloseReason, Watcher};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const WAKE: Token = Token(usize::MAX);
/// Output queued by a connection that yields (`-R`) is sent at once past this size.
const YIELD_FLUSH_AT: usize = 64 * 1024;
/// Longest poll wait: the idle timeout is checked at least this often.
const TICK: Duration = Duration::from_secs(1);
/// A watching connection takes queued log lines while less than this is waiting to be
/// sent (with the queue's own bound, its memory stays bounded).
const WATCH_REFILL_BELOW: usize = 64 * 1024;

pub struct Worker {
    id: usize,
    shared: Arc<Shared>,
    poll: Poll,
    rx: crossbeam_channel::Receiver<Stream>,
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

/// What to do with a connection after driving it.
enum Fate {
    Keep,
    Close(CloseReason),
}

impl Worker {
    pub fn new(id: usize, shared: Arc<Shared>) -> io::Result<(Worker, Handoff)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let stats = shared.thread_stats[id].clone();
        let limits = Limits {
            max_key: 250,
            max_value: shared.config.item_size_max,
            max_get_line: shared.config.item_size_max.max(64 * 1024),
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
            self.now = self.shared.conns.now();
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
        while let Ok(stream) = self.rx.try_recv() {
            let peer = match &stream {
                Stream::Tcp(s) => s.peer_addr().ok(),
                Stream::Unix(_) => None,
            };
            let info = Arc::new(self.conn_info(&stream, peer));
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let fd = info.fd;
            let authed = !self.shared.config.auth_required();
            let budget = self.shared.input_budget.clone();
            let mut conn = Connection::new(stream, authed, info, peer, budget, &self.shared.store);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(conn.stream_mut(), Token(key), Interest::READABLE)
            {
                log::warn!("registering a connection failed: {e}");
                self.shared.conn_closed();
                continue;
            }
            self.shared.conns.insert(self.id, key, conn.info().clone());
            entry.insert(conn);
            if trace::on(&self.shared) {
                trace::new_conn(fd, self.shared.config.protocol);
            }
            if self.shared.watch.wants(watch::CONNEVENTS) {
                self.shared.watch.conn_new(peer, fd);
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
                    Ok(a) => self.shared.conns.listen_addr_for(&a),
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
            self.shared.conns.now(),
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
            let _ = self.poll.registry().deregister(conn.stream_mut());
            self.shared.conns.remove(self.id, key);
            self.shared.conn_closed();
            if trace::on(&self.shared) {
                trace::closed(conn.fd());
            }
            let w = &self.shared.watch;
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
        let timeout = self.shared.idle_timeout.load(Ordering::Relaxed);
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

/// Sends what `conn` has queued, counting the bytes in `bytes_written`.
fn flush_counted(conn: &mut Connection, ctx: &Ctx<'_>) -> io::Result<()> {
    let n = conn.flush()?;
    ctx.stats
        .bytes_written
        .fetch_add(n as u64, Ordering::Relaxed);
    Ok(())
}

/// Reads, executes and flushes one connection as far as it can go now.
fn drive_conn(
    conn: &mut Connection,
    ctx: &Ctx<'_>,
    pending: &mut Vec<usize>,
    key: usize,
    now: u64,
) -> Fate {
    if let Some(w) = conn.watcher().cloned() {
        return drive_watcher(conn, &w, ctx);
    }
    // The trace reads values back from the output, so they are copied while it is on.
    conn.copy_values(ctx.trace);
    // Queued output first: a client that was not reading may be now.
    if conn.pending_output() > 0 {
        if flush_counted(conn, ctx).is_err() {
            return Fate::Close(CloseReason::Error);
        }
        if conn.output_full() {
            return Fate::Keep;
        }
    }
    let mut budget = ctx.shared.config.reqs_per_event;
    let mut yielded = false;
    // Stopped because the output was full, with work left (a reply part-way, a dump,
    // buffered requests).
    let mut stopped_full = false;
    loop {
        // Execute what is buffered.
        match process(conn, ctx, &mut budget, now) {
            Step::NeedInput => {}
            Step::Yield => {
                if conn.mark_pending() {
                    pending.push(key);
                }
                yielded = true;
                break;
            }
            Step::OutputFull => {
                if flush_counted(conn, ctx).is_err() {
                    return Fate::Close(CloseReason::Error);
                }
                if conn.output_full() {
                    // Resumed by the WRITABLE event, or below.
                    stopped_full = true;
                    break;
                }
                continue;
            }
            Step::Close => {
                conn.close_after_flush(false);
                break;
            }
            Step::CloseError => {
                conn.close_after_flush(true);
                break;
            }
        }
        if matches!(conn.life(), Life::Closing { .. }) || !conn.may_read() {
            break;
        }
        match conn.fill() {
            Ok(Fill::More(n)) => {
                ctx.stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(Fill::Drained(n)) => {
                ctx.stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                if n == 0 {
                    break;
                }
            }
            Ok(Fill::Eof) => {
                // Half-closed: finish what is buffered (possibly over several -R rounds),
                // flush, then close.
                conn.read_closed();
            }
            Ok(Fill::NoRoom) => {
                conn.refuse_input();
                break;
            }
            Err(_) => return Fate::Close(CloseReason::Error),
        }
    }
    // A yielding connection comes back after one poll round; its replies leave together
    // then, unless many are queued already.
    if (!yielded || conn.pending_output() >= YIELD_FLUSH_AT) && flush_counted(conn, ctx).is_err() {
        return Fate::Close(CloseReason::Error);
    }
    // That flush may have sent everything: then no WRITABLE event will come to resume the
    // work left, so come back after the next poll round.
    if stopped_full && !conn.output_full() && conn.mark_pending() {
        pending.push(key);
    }
    let done = match conn.life() {
        Life::Open => None,
        Life::ReadClosed if yielded || conn.is_dumping() => None,
        Life::ReadClosed => Some(CloseReason::Normal),
        Life::Closing { error: false } => Some(CloseReason::Normal),
        Life::Closing { error: true } => Some(CloseReason::Error),
    };
    if let Some(reason) = done
        && conn.pending_output() == 0
    {
        return Fate::Close(reason);
    }
    Fate::Keep
}

/// A connection streaming a `watch` log: its input is read and dropped (memcached ignores
/// it; reading is how a closed peer shows), its queued lines are sent.
fn drive_watcher(conn: &mut Connection, w: &Watcher, ctx: &Ctx<'_>) -> Fate {
    // Bounded: a client flooding its watcher cannot keep the worker here.
    for _ in 0..16 {
        if !conn.may_read() {
            break;
        }
        match conn.fill() {
            Ok(Fill::More(n) | Fill::Drained(n)) => {
                ctx.stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(Fill::Eof | Fill::NoRoom) | Err(_) => return Fate::Close(CloseReason::Error),
        }
        let n = conn.input().len();
        conn.consume(n);
    }
    // Leave only with output blocked (a WRITABLE event follows) or right after a drain (a
    // line queued since then wakes the worker): never with lines queued and no event due.
    for _ in 0..8 {
        let before = conn.pending_output();
        let drained = before < WATCH_REFILL_BELOW;
        if drained {
            let (_, out, ..) = conn.io();
            w.drain_into(out);
        }
        let took = conn.pending_output() > before;
        if flush_counted(conn, ctx).is_err() {
            return Fate::Close(CloseReason::Error);
        }
        if conn.pending_output() > 0 || (drained && !took) {
            break;
        }
    }
    Fate::Keep
}

enum Step {
    /// Everything buffered is consumed or incomplete.
    NeedInput,
    /// `-R` requests done; resume later.
    Yield,
    /// Too much output queued; flush before going on.
    OutputFull,
    /// `quit` or shutdown.
    Close,
    /// A fatal framing error.
    CloseError,
}

/// Parses and executes buffered requests.
fn process(conn: &mut Connection, ctx: &Ctx<'_>, budget: &mut usize, now: u64) -> Step {
    loop {
        if conn.watcher().is_some() {
            // memcached ignores what a watcher sends, even in the packet of its `watch`.
            let n = conn.input().len();
            conn.consume(n);
            return Step::NeedInput;
        }
        if let Some(step) = continue_dump(conn, ctx, budget) {
            return step;
        }
        if !conn.swallow_buffered() {
            return Step::NeedInput;
        }
        if conn.is_receiving() {
            if !conn.receive_buffered() {
                return Step::NeedInput;
            }
            if let Some(step) = finish_received(conn, ctx) {
                return step;
            }
            continue;
        }
        if conn.input().is_empty() {
            return Step::NeedInput;
        }
        if *budget == 0 {
            return Step::Yield;
        }
        if conn.output_full() {
            return Step::OutputFull;
        }
        if conn.proto() == Proto::Unknown {
            let proto = step::sniff(ctx, conn.input().first());
            conn.set_proto(proto);
        }
        let proto = conn.proto();
        let (input, out, authed, info, seen) = conn.io();
        match step::step(proto, input, ctx, authed, out) {
            Stepped::Incomplete => {
                let received = if proto == Proto::Binary {
                    receive_into_item_binary(conn, ctx, budget, now)
                } else {
                    receive_into_item(conn, ctx, budget, now)
                };
                if !received {
                    return Step::NeedInput;
                }
            }
            Stepped::Ran { consumed, next } => {
                *budget -= 1;
                info.touch(now);
                *seen = true;
                if matches!(next, Next::Again) {
                    // The same request runs again once the client has read (`Out::stop_at`).
                    return Step::OutputFull;
                }
                conn.consume(consumed);
                match next {
                    Next::Continue | Next::Again => {}
                    Next::Close => return Step::Close,
                    // Binary requests never start a dump or a watch.
                    Next::Dump(d) if proto == Proto::Text => conn.start_dump(d),
                    Next::Watch(w) if proto == Proto::Text => conn.start_watch(w),
                    Next::Dump(_) | Next::Watch(_) => {}
                }
            }
            Stepped::Refused {
                consumed,
                swallow,
                close,
            } => {
                *budget -= 1;
                info.touch(now);
                *seen = true;
                if close {
                    return Step::CloseError;
                }
                conn.consume(consumed);
                conn.swallow(swallow);
            }
        }
    }
}

/// Storage command values at least this long that are not all buffered when their line is
/// are read straight into the item reserved for them; shorter ones wait in the read buffer
/// (which then holds at most a 2 KiB line and this much data per connection).
const INTO_ITEM_MIN: usize = 2048;

/// The buffered request is a storage command (`set`..`cas`, `ms`) whose line is here but
/// whose long data block is not: reserve its item now (counted in `-m`, evicting as a store
/// does) and read the data straight into it (memcached's `conn_nread`), so no buffer grows to
/// the value's size. If no item can be reserved, or the connection has not authenticated
/// (`-Y`), answer now and swallow the data, as memcached does. `false`: not such a request.
fn receive_into_item(conn: &mut Connection, ctx: &Ctx<'_>, budget: &mut usize, now: u64) -> bool {
    let (input, out, authed, info, seen) = conn.io();
    let Some(inc) = text::incoming(input, ctx.limits) else {
        return false;
    };
    let key = match &inc.cmd {
        Command::Store { key, .. } => *key,
        Command::Meta(m) if m.verb == MetaVerb::Set => &m.key[..],
        _ => return false,
    };
    if inc.bytes < INTO_ITEM_MIN {
        return false;
    }
    *budget = budget.saturating_sub(1);
    info.touch(now);
    *seen = true;
    let (line_len, bytes) = (inc.line_len, inc.bytes);
    let refused = if *authed {
        match ctx.shared.store.reserve(key, bytes) {
            Ok(item) => {
                conn.start_receiving(line_len, item, 2);
                return true;
            }
            Err(outcome) => Some(Received::Refused {
                outcome,
                len: bytes,
            }),
        }
    } else {
        // Credentials are short: refused without reading them.
        None
    };
    let trace = ctx.trace && *authed;
    if trace {
        trace::text_request(ctx.fd, &input[..line_len]);
    }
    let before = out.len();
    ctx.received.set(refused);
    let kind = trace::reply_kind(&inc.cmd);
    let next = exec::text::execute(inc.cmd, ctx, authed, out);
    ctx.received.take();
    if trace {
        trace::text_reply(ctx.fd, kind, &out[before..]);
    }
    conn.consume(line_len);
    conn.swallow(bytes + 2);
    if matches!(next, Next::Close) {
        conn.close_after_flush(false);
    }
    true
}

/// A storage command whose value was read into its item (`receive_into_item`), with the
/// bytes that must follow it buffered: run it. `Some`: stop processing.
fn finish_received(conn: &mut Connection, ctx: &Ctx<'_>) -> Option<Step> {
    let rx = conn.take_received()?;
    let binary = conn.proto() == Proto::Binary;
    let (input, out, authed, ..) = conn.io();
    let before = out.len();
    let next = if binary {
        finish_received_binary(rx, ctx, authed, out)
    } else {
        let trailer = &input[..2];
        let trace = ctx.trace && *authed;
        if trace {
            trace::text_request(ctx.fd, &rx.head);
        }
        let next = match text::parse_received(&rx.head, rx.item.len(), trailer, ctx.limits) {
            Ok(cmd) => {
                let kind = trace::reply_kind(&cmd);
                ctx.received.set(Some(Received::Item(rx.item)));
                let next = exec::text::execute(cmd, ctx, authed, out);
                ctx.received.take();
                if trace {
                    trace::text_reply(ctx.fd, kind, &out[before..]);
                }
                next
            }
            Err(e) => {
                if let Some(r) = &e.reply {
                    crate::protocol::text::encode::reply(out, r);
                }
                if trace {
                    trace::text_reply(ctx.fd, trace::ReplyKind::Line, &out[before..]);
                }
                Next::Continue
            }
        };
        conn.consume(2);
        next
    };
    match next {
        Next::Close => Some(Step::Close),
        _ => None,
    }
}

/// `finish_received` for a binary request (no trailer).
fn finish_received_binary(
    rx: crate::server::net::connection::Receiving,
    ctx: &Ctx<'_>,
    authed: &mut bool,
    out: &mut crate::server::net::outq::Out,
) -> Next {
    let before = out.len();
    match binary::parse_received(&rx.head, rx.item.len(), ctx.limits.max_value) {
        Ok(req) => {
            if ctx.trace {
                trace::binary_request(ctx.fd, &rx.head);
            }
            ctx.received.set(Some(Received::Item(rx.item)));
            let next = execute_bin::execute(req, ctx, authed, out);
            ctx.received.take();
            if ctx.trace {
                trace::binary_reply(ctx.fd, &out[before..]);
            }
            next
        }
        // Cannot happen: the head was parsed when the value started.
        Err(_) => Next::Close,
    }
}

/// The buffered binary request is a storage request whose long value is not all here:
/// reserve its item now and read the value straight into it (as `receive_into_item` does
/// for text). Not authenticated, SASL data or config payloads: answered now with an empty
/// value, the value swallowed. `false`: not such a request.
fn receive_into_item_binary(
    conn: &mut Connection,
    ctx: &Ctx<'_>,
    budget: &mut usize,
    now: u64,
) -> bool {
    let (input, out, authed, info, seen) = conn.io();
    let Some(inc) = binary::incoming(input, ctx.limits.max_value) else {
        return false;
    };
    if inc.value_len < INTO_ITEM_MIN {
        return false;
    }
    *budget = budget.saturating_sub(1);
    info.touch(now);
    *seen = true;
    let (head_len, value_len) = (inc.head_len, inc.value_len);
    let key = match inc.req.command {
        binary::BinCommand::Store { key, .. } | binary::BinCommand::Concat { key, .. }
            if *authed =>
        {
            Some(key)
        }
        _ => None,
    };
    let refused = match key.map(|k| ctx.shared.store.reserve(k, value_len)) {
        Some(Ok(item)) => {
            conn.start_receiving(head_len, item, 0);
            return true;
        }
        Some(Err(outcome)) => Some(Received::Refused {
            outcome,
            len: value_len,
        }),
        None => None,
    };
    let before = out.len();
    if ctx.trace {
        trace::binary_request(ctx.fd, &input[..head_len]);
    }
    ctx.received.set(refused);
    let next = execute_bin::execute(inc.req, ctx, authed, out);
    ctx.received.take();
    if ctx.trace {
        trace::binary_reply(ctx.fd, &out[before..]);
    }
    conn.consume(head_len);
    conn.swallow(value_len);
    if matches!(next, Next::Close) {
        conn.close_after_flush(false);
    }
    true
}

/// Streams the next slice of a metadump, if one runs. `Some`: stop processing for now (the
/// dump goes on once the client has read what is queued); `None`: no dump (any more).
fn continue_dump(conn: &mut Connection, ctx: &Ctx<'_>, budget: &mut usize) -> Option<Step> {
    if !conn.is_dumping() {
        return None;
    }
    if conn.output_full() {
        return Some(Step::OutputFull);
    }
    if *budget == 0 {
        return Some(Step::Yield);
    }
    *budget -= 1;
    let mut dump = conn.take_dump()?;
    let (_, out, ..) = conn.io();
    if crate::server::exec::crawler::fill_dump(&mut dump, ctx.shared, out) {
        return None;
    }
    conn.start_dump(dump);
    Some(Step::OutputFull)
}
