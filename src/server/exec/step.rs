//! One request step, shared by the TCP workers and the UDP thread: sniff the protocol,
//! parse one request from the buffered input, trace it (`-vv`), run it through its
//! decoder, and say what became of the input. Streams add what only they have (values read
//! into their item, dumps, watchers, back-pressure) around it in `net/worker.rs`.

use super::ctx::{Ctx, Next};
use super::{binary as bin_exec, text as text_exec};
use crate::config::ProtocolMode;
use crate::protocol::{Command, binary, text};
use crate::server::net::outq::Out;
use crate::server::observe::trace;

/// The protocol a connection (or datagram) speaks, chosen by its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Unknown,
    Text,
    Binary,
}

/// memcached's choice of protocol: forced by `-B`, else the binary request magic.
pub fn sniff(ctx: &Ctx<'_>, first: Option<&u8>) -> Proto {
    let proto = match (ctx.shared.config.protocol, first) {
        (ProtocolMode::Ascii, _) => Proto::Text,
        (ProtocolMode::Binary, _) => Proto::Binary,
        (ProtocolMode::Auto, Some(&binary::REQUEST_MAGIC)) => Proto::Binary,
        (ProtocolMode::Auto, _) => Proto::Text,
    };
    if ctx.trace && ctx.shared.config.protocol == ProtocolMode::Auto {
        trace::negotiated(ctx.fd, proto == Proto::Binary);
    }
    proto
}

/// What one step did with the input.
#[derive(Debug)]
pub enum Stepped {
    /// No whole request is buffered yet.
    Incomplete,
    /// A request ran: drop `consumed` bytes, then do `next`.
    Ran { consumed: usize, next: Next },
    /// The parser refused a request and it was answered: drop `consumed` bytes, then
    /// `swallow` more as they arrive; close the connection when `close`.
    Refused {
        consumed: usize,
        swallow: usize,
        close: bool,
    },
}

/// Parses and runs the first request of `input` (`proto` sniffed already), appending its
/// reply to `out`. `authed`: the connection's authentication state.
pub fn step(
    proto: Proto,
    input: &[u8],
    ctx: &Ctx<'_>,
    authed: &mut bool,
    out: &mut Out,
) -> Stepped {
    if proto == Proto::Binary {
        binary_step(input, ctx, authed, out)
    } else {
        text_step(input, ctx, authed, out)
    }
}

fn text_step(input: &[u8], ctx: &Ctx<'_>, authed: &mut bool, out: &mut Out) -> Stepped {
    // Lines of a connection still to authenticate (-Y) are never traced.
    let trace = ctx.trace && *authed;
    let before = out.len();
    match text::parse(input, ctx.limits) {
        Ok(None) => Stepped::Incomplete,
        Ok(Some((cmd, consumed))) => {
            let kind = if trace {
                // A multi-key reply resumed after a full output: its request was traced.
                if !out.in_progress() {
                    trace::text_request(ctx.fd, input);
                }
                Some(trace::reply_kind(&cmd))
            } else {
                None
            };
            // `verbosity` changes the trace for its own reply, as in memcached.
            let verbosity = matches!(cmd, Command::Verbosity { .. });
            let next = text_exec::execute(cmd, ctx, authed, out);
            if verbosity && *authed && trace::on(ctx.shared) {
                trace::text_reply(ctx.fd, trace::ReplyKind::Line, &out[before..]);
            } else if let Some(kind) = kind
                && !verbosity
            {
                trace::text_reply(ctx.fd, kind, &out[before..]);
            }
            Stepped::Ran { consumed, next }
        }
        Err(e) => {
            if trace {
                trace::text_request(ctx.fd, input);
            }
            text_exec::parse_error(&e, input, ctx, out);
            if trace {
                trace::text_reply(ctx.fd, trace::ReplyKind::Line, &out[before..]);
            }
            Stepped::Refused {
                consumed: e.consumed,
                swallow: e.swallow,
                close: e.close,
            }
        }
    }
}

fn binary_step(input: &[u8], ctx: &Ctx<'_>, authed: &mut bool, out: &mut Out) -> Stepped {
    let before = out.len();
    let parsed = binary::parse(input, ctx.limits.max_value);
    if let Ok(None) = parsed {
        return Stepped::Incomplete;
    }
    if ctx.trace {
        trace::binary_request(ctx.fd, input);
    }
    let stepped = match parsed {
        Ok(None) => Stepped::Incomplete,
        Ok(Some((req, consumed))) => {
            let next = bin_exec::execute(req, ctx, authed, out);
            Stepped::Ran { consumed, next }
        }
        Err(e) => {
            bin_exec::parse_error(&e, input, ctx, out);
            // `swallow` counts from the frame's start.
            Stepped::Refused {
                consumed: 0,
                swallow: e.swallow,
                close: e.close,
            }
        }
    };
    if ctx.trace {
        trace::binary_reply(ctx.fd, &out[before..]);
    }
    stepped
}
