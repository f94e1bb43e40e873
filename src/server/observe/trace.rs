//! memcached's `-vv` command trace: with verbosity 2 or more every connection event, command
//! line and reply status is logged the way memcached prints them to stderr:
//!
//! ```text
//! <24 new auto-negotiating client connection
//! 24: Client using the ascii protocol
//! <24 set foo 0 0 3
//! >24 STORED
//! <24 get foo
//! >24 sending key foo
//! >24 END
//! >24 NOREPLY STORED
//! <24 connection closed.
//! ```
//!
//! Lines go through the `log` crate at debug level with target [`TARGET`], so they reach
//! `--logfile` too, one line per event. Callers check [`on`] (one relaxed load) before
//! calling anything here. Never logged: data blocks, the lines of connections that are not
//! authenticated yet (`-Y` credentials), SASL payloads (binary requests are logged by their
//! 24-byte header only).

use crate::protocol::{Command, Reply, StatsArg};
use crate::server::Shared;
use std::sync::atomic::Ordering;

/// The log target of the trace.
pub const TARGET: &str = "ferrocache::trace";

/// Whether the trace is on (verbosity >= 2).
#[inline]
pub fn on(shared: &Shared) -> bool {
    shared.live.verbosity.load(Ordering::Relaxed) >= 2
}

/// Logs one trace line as is.
pub fn event(msg: std::fmt::Arguments<'_>) {
    log::debug!(target: TARGET, "{msg}");
}

/// `<FD new ... client connection` for the configured protocol.
pub fn new_conn(fd: i32, mode: crate::config::ProtocolMode) {
    use crate::config::ProtocolMode as M;
    match mode {
        M::Auto => event(format_args!("<{fd} new auto-negotiating client connection")),
        M::Ascii => event(format_args!("<{fd} new ascii client connection.")),
        M::Binary => event(format_args!("<{fd} new binary client connection.")),
    }
}

/// `FD: Client using the ascii|binary protocol` (auto-negotiation only).
pub fn negotiated(fd: i32, binary: bool) {
    let p = if binary { "binary" } else { "ascii" };
    event(format_args!("{fd}: Client using the {p} protocol"));
}

pub fn closed(fd: i32) {
    event(format_args!("<{fd} connection closed."));
}

pub fn idle_close(fd: i32) {
    event(format_args!("Closing idle fd {fd}"));
}

/// Text of the first line of `buf` as memcached sees it: up to the `\n`, without one `\r`
/// before it, cut at a NUL.
fn first_line(buf: &[u8]) -> &[u8] {
    let mut line = match buf.iter().position(|&b| b == b'\n') {
        Some(nl) => &buf[..nl],
        None => buf,
    };
    if line.len() > 1 && line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    line.split(|&b| b == 0).next().unwrap_or_default()
}

/// `<FD <command line>` for the request at the start of `input`.
pub fn text_request(fd: i32, input: &[u8]) {
    let line = String::from_utf8_lossy(first_line(input));
    event(format_args!("<{fd} {line}"));
}

/// How memcached logs the reply of a text command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// A status line (`out_string`): logged as is.
    Line,
    /// A retrieval: `sending key K` per hit, then `END`.
    Get,
    /// A stats reply: only its single status line (`OK`, `RESET`, errors).
    Stats,
    /// A meta reply: only error lines.
    Meta,
}

pub fn reply_kind(cmd: &Command<'_>) -> ReplyKind {
    match cmd {
        Command::Get { .. } => ReplyKind::Get,
        Command::Stats(StatsArg::Reset) => ReplyKind::Line,
        Command::Stats(_) | Command::ConfigGet { .. } => ReplyKind::Stats,
        Command::Meta(_) => ReplyKind::Meta,
        _ => ReplyKind::Line,
    }
}

/// Logs the reply bytes `out` one command appended.
pub fn text_reply(fd: i32, kind: ReplyKind, out: &[u8]) {
    if out.is_empty() {
        return;
    }
    let mut lines = Lines { buf: out };
    match kind {
        ReplyKind::Line => {
            for l in lines {
                event(format_args!(">{fd} {}", String::from_utf8_lossy(l)));
            }
        }
        ReplyKind::Get => {
            while let Some(l) = lines.next() {
                if let Some(rest) = l.strip_prefix(b"VALUE ") {
                    let mut toks = rest.split(|&b| b == b' ');
                    let key = toks.next().unwrap_or_default();
                    let len = toks
                        .nth(1)
                        .and_then(|n| std::str::from_utf8(n).ok())
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(0);
                    event(format_args!(
                        ">{fd} sending key {}",
                        String::from_utf8_lossy(key)
                    ));
                    lines.skip_bytes(len + 2);
                } else {
                    event(format_args!(">{fd} {}", String::from_utf8_lossy(l)));
                }
            }
        }
        ReplyKind::Stats => {
            let first = lines.next().unwrap_or_default();
            if lines.next().is_none() && first != b"END" && !first.starts_with(b"STAT ") {
                event(format_args!(">{fd} {}", String::from_utf8_lossy(first)));
            }
        }
        ReplyKind::Meta => {
            let first = lines.next().unwrap_or_default();
            if first.starts_with(b"CLIENT_ERROR")
                || first.starts_with(b"SERVER_ERROR")
                || first.starts_with(b"ERROR")
            {
                event(format_args!(">{fd} {}", String::from_utf8_lossy(first)));
            }
        }
    }
}

/// `>FD NOREPLY <reply>` for a reply `noreply` silenced.
pub fn noreply(fd: i32, r: &Reply<'_>) {
    let mut buf = Vec::new();
    crate::protocol::text::encode::reply(&mut buf, r);
    let l = first_line(&buf);
    event(format_args!(">{fd} NOREPLY {}", String::from_utf8_lossy(l)));
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 5);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("0x{b:02x}"));
    }
    s
}

/// `<FD Read binary protocol data: <24 header bytes>` (memcached prints them 4 per line).
pub fn binary_request(fd: i32, input: &[u8]) {
    let h = input.get(..24).unwrap_or(input);
    event(format_args!("<{fd} Read binary protocol data: {}", hex(h)));
}

/// `>FD Writing bin response: <24 header bytes>` for every response in `out`.
pub fn binary_reply(fd: i32, out: &[u8]) {
    let mut rest = out;
    while let Some(h) = rest.get(..24) {
        event(format_args!(">{fd} Writing bin response: {}", hex(h)));
        let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        rest = rest.get(24 + body..).unwrap_or_default();
    }
}

/// Splits `\r\n`-terminated lines, able to skip raw data blocks.
struct Lines<'a> {
    buf: &'a [u8],
}

impl Lines<'_> {
    fn skip_bytes(&mut self, n: usize) {
        self.buf = self.buf.get(n..).unwrap_or_default();
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.buf.is_empty() {
            return None;
        }
        let (line, rest) = match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(i) => (&self.buf[..i], &self.buf[i + 2..]),
            None => (self.buf, &[][..]),
        };
        self.buf = rest;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_like_memcached() {
        assert_eq!(first_line(b"set a 0 0 1\r\nx\r\n"), b"set a 0 0 1");
        assert_eq!(first_line(b"get a\n"), b"get a");
        assert_eq!(first_line(b"\r\n"), b"\r");
        assert_eq!(first_line(b"get a\0b\r\n"), b"get a");
    }

    #[test]
    fn lines_skip_values() {
        let mut l = Lines {
            buf: b"VALUE k 0 4\r\na\r\nb\r\nEND\r\n",
        };
        assert_eq!(l.next(), Some(&b"VALUE k 0 4"[..]));
        l.skip_bytes(6);
        assert_eq!(l.next(), Some(&b"END"[..]));
        assert_eq!(l.next(), None);
    }
}
