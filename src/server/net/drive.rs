//! Driving one connection: flush what is queued, run buffered requests through the shared
//! request step (`exec/step.rs`) at most `-R` at a time, read more, and decide its fate.
//! While the output is full (`outq.rs`: 16 KiB copied or 256 KiB queued) the connection
//! stops executing, a multi-key `get` part-way included, so a client that does not read
//! cannot grow our memory; it resumes on WRITABLE, or after the next poll round if the last
//! flush emptied the output. A connection that sent `watch` only streams its watcher's
//! lines (`drive_watcher`); one running a metadump streams it before reading on.
//!
//! Must not: touch item memory or parse bytes itself.

use crate::server::exec::step::{self, Stepped};
use crate::server::exec::{Ctx, Next};
use crate::server::net::connection::{Connection, Fill, Life, Proto};
use crate::server::net::receive::{finish_received, receive_into_item, receive_into_item_binary};
use crate::server::net::tls::TlsEvent;
use crate::server::observe::trace;
use crate::server::observe::watch::{CloseReason, Watcher};
use std::io;
use std::sync::atomic::Ordering;

/// Output queued by a connection that yields (`-R`) is sent at once past this size.
const YIELD_FLUSH_AT: usize = 64 * 1024;
/// A watching connection takes queued log lines while less than this is waiting to be
/// sent (with the queue's own bound, its memory stays bounded).
const WATCH_REFILL_BELOW: usize = 64 * 1024;

/// What to do with a connection after driving it.
pub(super) enum Fate {
    Keep,
    Close(CloseReason),
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
pub(super) fn drive_conn(
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
        let filled = conn.fill();
        if conn.is_tls() {
            tls_events(conn, ctx);
        }
        match filled {
            Ok(Fill::More(0)) => {
                // Nothing but TLS overhead so far: let the other connections run first.
                if conn.mark_pending() {
                    pending.push(key);
                }
                yielded = true;
                break;
            }
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

/// Counts and logs what TLS reported during the last read: a completed handshake (the
/// client certificate's subject at `-vv`, `ssl_new_sessions`) or a failure
/// (`ssl_handshake_errors` / `ssl_proto_errors`, one log line at `-v`).
fn tls_events(conn: &mut Connection, ctx: &Ctx<'_>) {
    let Some(tls) = ctx.shared.tls.as_deref() else {
        return;
    };
    let fd = conn.fd();
    if let Some(TlsEvent::Failed { handshake, why }) = conn.take_tls_failure() {
        let (counter, what) = if handshake {
            (&tls.stats.handshake_errors, "TLS handshake failed")
        } else {
            (&tls.stats.proto_errors, "TLS error")
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let peer = conn
            .peer()
            .map_or_else(|| "unknown".to_string(), |p| p.to_string());
        log::info!("<{fd} {what} (client {peer}): {why}");
    }
    if let Some(new) = conn.take_tls_established() {
        if new {
            tls.stats.new_sessions.fetch_add(1, Ordering::Relaxed);
        }
        // At -vv, the client certificate's subject (mutual TLS); without one, the -vv trace
        // stays memcached's.
        if ctx.trace
            && let Some(subject) = conn.tls_peer()
        {
            trace::event(format_args!(
                "<{fd} TLS established, client certificate {subject}"
            ));
        }
    }
}

/// A connection streaming a `watch` log: its input is read and dropped (memcached ignores
/// it; reading is how a closed peer shows), its queued lines are sent.
pub(super) fn drive_watcher(conn: &mut Connection, w: &Watcher, ctx: &Ctx<'_>) -> Fate {
    // Bounded: a client flooding its watcher cannot keep the worker here.
    for _ in 0..16 {
        if !conn.may_read() {
            break;
        }
        let filled = conn.fill();
        if conn.is_tls() {
            tls_events(conn, ctx);
        }
        match filled {
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
            if finish_received(conn, ctx) {
                return Step::Close;
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
            // A TLS handshake record (0x16 0x03) on a plain listener: answered as memcached
            // does (as text), and noted for the operator.
            if !conn.is_tls() && conn.input().starts_with(&[0x16, 0x03]) {
                let peer = conn
                    .peer()
                    .map_or_else(|| "unknown".to_string(), |p| p.to_string());
                log::info!(
                    "<{} TLS ClientHello on a plain listener (client {peer}): is -Z missing, or should the client not use TLS?",
                    conn.fd()
                );
            }
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
    if crate::server::exec::dump::fill_dump(&mut dump, ctx.shared, out) {
        return None;
    }
    conn.start_dump(dump);
    Some(Step::OutputFull)
}
