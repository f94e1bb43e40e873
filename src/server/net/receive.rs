//! Values read into their item: a storage command (text `set`..`cas`, `ms`, binary
//! Set/Add/Replace/Append/Prepend) whose line or header is buffered but whose long value is
//! not gets its item reserved (`Store::reserve`, counted in `-m`) and the value read
//! straight into it (memcached's `conn_nread`), then runs once the value is in. If no item
//! can be reserved, or the connection has not authenticated, it is answered at once and
//! its data swallowed, as memcached does.
//!
//! Must not: parse bytes itself (the protocol's `incoming`/`parse_received` do).

use crate::protocol::{Command, MetaVerb};
use crate::protocol::{binary, text};
use crate::server::exec::binary as execute_bin;
use crate::server::exec::{self, Ctx, Next, Received};
use crate::server::net::connection::{Connection, Proto};
use crate::server::observe::trace;

/// Storage command values at least this long that are not all buffered when their line is
/// are read straight into the item reserved for them; shorter ones wait in the read buffer
/// (which then holds at most a 2 KiB line and this much data per connection).
const INTO_ITEM_MIN: usize = 2048;

/// The buffered request is a storage command (`set`..`cas`, `ms`) whose line is here but
/// whose long data block is not: reserve its item now (counted in `-m`, evicting as a store
/// does) and read the data straight into it (memcached's `conn_nread`), so no buffer grows to
/// the value's size. If no item can be reserved, or the connection has not authenticated
/// (`-Y`), answer now and swallow the data, as memcached does. `false`: not such a request.
pub(super) fn receive_into_item(
    conn: &mut Connection,
    ctx: &Ctx<'_>,
    budget: &mut usize,
    now: u64,
) -> bool {
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
/// bytes that must follow it buffered: run it. `true`: the command closes the connection.
pub(super) fn finish_received(conn: &mut Connection, ctx: &Ctx<'_>) -> bool {
    let Some(rx) = conn.take_received() else {
        return false;
    };
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
    matches!(next, Next::Close)
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
pub(super) fn receive_into_item_binary(
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
