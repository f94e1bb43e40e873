//! ElastiCache auto-discovery commands (not in memcached): `config get <key>`,
//! `config set <key> <flags> <bytes> [noreply]` followed by a data block, and
//! `config delete <key>`. Any other form is `ERROR`, as ElastiCache answers unknown
//! sub-commands. The executor decides what the keys mean (only `cluster` exists).
//!
//! Also the framing of the reply to `config get` — `CONFIG <key> <flags> <bytes>\r\n`,
//! `<bytes>` of payload, `\r\nEND\r\n` — both ways: [`encode_reply`] for the server,
//! [`parse_reply_header`] + [`reply_payload`] (or [`parse_reply`] on a whole reply) for the
//! peer sync and the client. What the payload means is `cluster::discovery`'s business.
//!
//! Pure bytes: no sockets; imports nothing outside `protocol` but `decimal`.

use super::num::strtol;
use super::{BAD_FORMAT, Line, ParseError};
use crate::protocol::{Command, Limits, Reply};

/// Parses a `config` line (and, for `set`, its data block).
pub(super) fn parse<'a>(
    line: &Line<'a>,
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Command<'a>, usize)>, ParseError> {
    let key = line.tok(2);
    if line.n >= 3 && key.len() > limits.max_key {
        return Err(line.client_error(BAD_FORMAT, false));
    }
    match (line.tok(1), line.n) {
        (b"get", 3) => Ok(Some((Command::ConfigGet { key }, line.len))),
        (b"delete", 3) => Ok(Some((Command::ConfigDelete { key }, line.len))),
        (b"set", 5 | 6) => {
            let noreply = line.n == 6 && line.noreply();
            if line.n == 6 && !noreply {
                return Err(line.error());
            }
            let bad = || line.client_error(BAD_FORMAT, noreply);
            let (Some(_flags), Some(vlen)) = (strtol(line.tok(3)), strtol(line.tok(4))) else {
                return Err(bad());
            };
            let Ok(bytes) = usize::try_from(vlen) else {
                return Err(bad());
            };
            if bytes > limits.max_value {
                return Err(ParseError {
                    reply: (!noreply).then_some(Reply::ServerError("object too large for cache")),
                    consumed: line.len,
                    swallow: bytes + 2,
                    close: false,
                    unlink_key: None,
                });
            }
            let Some((data, frame_end)) = line.data_block(buf, bytes, noreply)? else {
                return Ok(None);
            };
            Ok(Some((Command::ConfigSet { key, data, noreply }, frame_end)))
        }
        _ => Err(line.error()),
    }
}

/// What follows the payload of a `CONFIG` reply.
pub const REPLY_TRAILER: &[u8] = b"\r\nEND\r\n";

/// The header line of a `CONFIG` reply, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader<'a> {
    pub key: &'a [u8],
    pub flags: u32,
    /// Payload length, not counting the trailer.
    pub len: usize,
}

impl ReplyHeader<'_> {
    /// Bytes after the header line: the payload and [`REPLY_TRAILER`].
    pub fn rest_len(&self) -> usize {
        self.len.saturating_add(REPLY_TRAILER.len())
    }
}

/// Appends `CONFIG <key> <flags> <bytes>\r\n<payload>\r\nEND\r\n` to `out`, `<bytes>`
/// being the payload's exact length.
pub fn encode_reply(out: &mut Vec<u8>, key: &[u8], flags: u32, payload: &[u8]) {
    out.extend_from_slice(b"CONFIG ");
    out.extend_from_slice(key);
    out.extend_from_slice(format!(" {flags} {}\r\n", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(REPLY_TRAILER);
}

fn digits(tok: &[u8]) -> Option<u64> {
    if tok.is_empty() || !tok.iter().all(u8::is_ascii_digit) {
        return None;
    }
    crate::decimal::strtoull(tok)
}

/// Parses a header line `CONFIG <key> <flags> <bytes>` (with or without its `\r\n`).
pub fn parse_reply_header(line: &[u8]) -> Result<ReplyHeader<'_>, String> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let shown = || String::from_utf8_lossy(line).into_owned();
    let mut t = line.split(|&b| b == b' ');
    let (Some(b"CONFIG"), Some(key), Some(flags), Some(len), None) =
        (t.next(), t.next(), t.next(), t.next(), t.next())
    else {
        return Err(format!("unexpected reply `{}`", shown()));
    };
    let flags = digits(flags)
        .and_then(|f| u32::try_from(f).ok())
        .ok_or_else(|| format!("bad flags in `{}`", shown()))?;
    let len = digits(len)
        .and_then(|l| usize::try_from(l).ok())
        .ok_or_else(|| format!("bad length in `{}`", shown()))?;
    if key.is_empty() {
        return Err(format!("unexpected reply `{}`", shown()));
    }
    Ok(ReplyHeader { key, flags, len })
}

/// The payload out of the bytes after the header line (`header.rest_len()` of them, or
/// more): `<payload>\r\nEND\r\n` exactly.
pub fn reply_payload<'a>(header: &ReplyHeader<'_>, rest: &'a [u8]) -> Result<&'a [u8], String> {
    let payload = rest
        .get(..header.len)
        .ok_or("payload shorter than announced")?;
    if rest.get(header.len..) != Some(REPLY_TRAILER) {
        return Err("payload not followed by \\r\\nEND\\r\\n".into());
    }
    Ok(payload)
}

/// A whole `CONFIG` reply (header line, payload, trailer, nothing after) → its header and
/// payload.
pub fn parse_reply(reply: &[u8]) -> Result<(ReplyHeader<'_>, &[u8]), String> {
    let nl = reply
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or("no header line")?;
    let header = parse_reply_header(&reply[..nl])?;
    let payload = reply_payload(&header, &reply[nl + 2..])?;
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::super::tests::p;
    use crate::protocol::{Command, Reply};

    #[test]
    fn get_set_delete() {
        assert_eq!(
            p(b"config get cluster\r\n"),
            Ok(Some((Command::ConfigGet { key: b"cluster" }, 20)))
        );
        assert_eq!(
            p(b"config delete cluster\r\n"),
            Ok(Some((Command::ConfigDelete { key: b"cluster" }, 23)))
        );
        let buf = b"config set cluster 0 5\r\n1\n\n\n\n\r\nversion\r\n";
        let data = b"1\n\n\n\n";
        assert_eq!(
            p(buf),
            Ok(Some((
                Command::ConfigSet {
                    key: b"cluster",
                    data,
                    noreply: false
                },
                31
            )))
        );
        // Incomplete data block waits.
        assert_eq!(p(&buf[..28]), Ok(None));
    }

    #[test]
    fn reply_framing_round_trips() {
        use super::*;
        let mut out = Vec::new();
        encode_reply(&mut out, b"cluster", 0, b"3\na||1\n");
        assert_eq!(out, b"CONFIG cluster 0 7\r\n3\na||1\n\r\nEND\r\n");
        let (h, payload) = parse_reply(&out).unwrap();
        assert_eq!(
            (h.key, h.flags, h.len, payload),
            (&b"cluster"[..], 0, 7, &b"3\na||1\n"[..])
        );
        assert_eq!(h.rest_len(), 7 + 7);
        for bad in [
            &b"ERROR\r\n"[..],
            b"CONFIG cluster 0 99\r\n3\n\n\r\nEND\r\n",
            b"CONFIG cluster 0 3\r\n3\n\n\r\nEN",
            b"CONFIG cluster 0 3\r\n3\n\n\r\nEND\r\nmore",
            b"CONFIG cluster x 3\r\n3\n\n\r\nEND\r\n",
            b"CONFIG cluster 0 -3\r\n3\n\n\r\nEND\r\n",
            b"CONFIG cluster 0 3 4\r\n3\n\n\r\nEND\r\n",
        ] {
            assert!(
                parse_reply(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn malformed_forms() {
        for bad in [
            &b"config\r\n"[..],
            b"config get\r\n",
            b"config get cluster extra\r\n",
            b"config fetch cluster\r\n",
            b"config set cluster 0\r\n",
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(
                e.reply,
                Some(Reply::Error),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(e.consumed, bad.len());
        }
        let e = p(b"config set cluster 0 x\r\n").unwrap_err();
        assert_eq!(e.reply, Some(Reply::ClientError("bad command line format")));
        let e = p(b"config set cluster 0 3\r\nabcd\r\n").unwrap_err();
        assert_eq!(e.reply, Some(Reply::ClientError("bad data chunk")));
        assert_eq!(e.consumed, 29);
    }
}
