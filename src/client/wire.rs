//! The client's wire: memcached text requests and reply parsing over any `BufRead` +
//! `Write` (a `BufReader<TcpStream>` in use, a canned script in the tests). The `CONFIG`
//! reply's framing is `protocol::text::config`'s, its payload `cluster::discovery`'s.
//!
//! Owns: request bytes, reply framing, error mapping (`ServerReply`, `InvalidData`). Must
//! not touch: connections, the topology, routing (that is `client/mod.rs`).

use super::{MAX_KEY_LEN, MAX_LINE, MAX_VALUE, ServerReply, Value};
use crate::cluster::ClusterConfig;
use crate::cluster::discovery;
use crate::protocol::text::config as config_reply;
use std::io::{self, BufRead, BufReader, Read, Write};

// ---- wire: requests and reply parsing over any BufRead + Write ----------------------------

/// Something we can write a request to and read its reply from.
pub(super) trait Wire: BufRead {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl<S: Read + Write> Wire for BufReader<S> {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let s = self.get_mut();
        s.write_all(bytes)?;
        s.flush()
    }
}

pub(super) fn check_key(key: &str) -> io::Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("key must be 1..={MAX_KEY_LEN} bytes"),
        ));
    }
    if key
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "key contains whitespace or a control character",
        ));
    }
    Ok(())
}

pub(super) fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

pub(super) fn unexpected(line: &str) -> io::Error {
    invalid_data(format!("unexpected reply `{line}`"))
}

pub(super) fn is_server_reply(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<ServerReply>())
}

/// The bare `ERROR` line: the server does not know the command.
pub(super) fn is_plain_error(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<ServerReply>())
        .is_some_and(|r| r.0 == "ERROR")
}

/// Reads one `\r\n`-terminated line (without the terminator). Error lines from the server
/// become [`ServerReply`] errors.
pub(super) fn read_line<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut buf = Vec::new();
    r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if buf.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let Some(line) = buf.strip_suffix(b"\r\n") else {
        return Err(if buf.len() as u64 >= MAX_LINE {
            invalid_data("reply line too long")
        } else if buf.ends_with(b"\n") {
            invalid_data("reply line not terminated by \\r\\n")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-line")
        });
    };
    let line =
        String::from_utf8(line.to_vec()).map_err(|_| invalid_data("reply line is not UTF-8"))?;
    if line == "ERROR" || line.starts_with("CLIENT_ERROR") || line.starts_with("SERVER_ERROR") {
        return Err(io::Error::other(ServerReply(line)));
    }
    Ok(line)
}

/// Reads `len` data bytes and the `\r\n` after them.
pub(super) fn read_block<R: BufRead>(r: &mut R, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_VALUE {
        return Err(invalid_data(format!("value of {len} bytes is too large")));
    }
    let mut data = vec![0; len + 2];
    r.read_exact(&mut data)?;
    if !data.ends_with(b"\r\n") {
        return Err(invalid_data("data block not terminated by \\r\\n"));
    }
    data.truncate(len);
    Ok(data)
}

pub(super) fn parse_num<T: std::str::FromStr>(
    s: Option<&str>,
    what: &str,
    line: &str,
) -> io::Result<T> {
    s.and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid_data(format!("bad {what} in `{line}`")))
}

/// Reads `VALUE` blocks up to `END`; returns the one for `key` (a single-key get).
pub(super) fn read_values<R: BufRead>(r: &mut R, key: &[u8]) -> io::Result<Option<Value>> {
    let mut found = None;
    loop {
        let line = read_line(r)?;
        if line == "END" {
            return Ok(found);
        }
        let mut parts = line.split(' ');
        if parts.next() != Some("VALUE") {
            return Err(unexpected(&line));
        }
        let k = parts.next().unwrap_or("");
        let flags: u32 = parse_num(parts.next(), "flags", &line)?;
        let len: usize = parse_num(parts.next(), "length", &line)?;
        let cas = match parts.next() {
            Some(c) => Some(parse_num::<u64>(Some(c), "cas", &line)?),
            None => None,
        };
        if parts.next().is_some() {
            return Err(unexpected(&line));
        }
        let data = read_block(r, len)?;
        if k.as_bytes() == key {
            found = Some(Value { data, flags, cas });
        }
    }
}

pub(super) fn get_request<W: Wire>(c: &mut W, verb: &str, key: &[u8]) -> io::Result<Option<Value>> {
    let mut req = Vec::with_capacity(verb.len() + key.len() + 3);
    req.extend_from_slice(verb.as_bytes());
    req.push(b' ');
    req.extend_from_slice(key);
    req.extend_from_slice(b"\r\n");
    c.send(&req)?;
    read_values(c, key)
}

pub(super) fn storage_request<W: Wire>(c: &mut W, head: &str, data: &[u8]) -> io::Result<String> {
    let mut req = Vec::with_capacity(head.len() + data.len() + 4);
    req.extend_from_slice(head.as_bytes());
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(data);
    req.extend_from_slice(b"\r\n");
    c.send(&req)?;
    read_line(c)
}

pub(super) fn simple_request<W: Wire>(c: &mut W, req: &[u8]) -> io::Result<String> {
    c.send(req)?;
    read_line(c)
}

pub(super) fn arith_request<W: Wire>(
    c: &mut W,
    verb: &str,
    key: &str,
    delta: u64,
) -> io::Result<Option<u64>> {
    let line = simple_request(c, format!("{verb} {key} {delta}\r\n").as_bytes())?;
    if line == "NOT_FOUND" {
        return Ok(None);
    }
    line.parse().map(Some).map_err(|_| unexpected(&line))
}

/// `config get cluster`; on `ERROR` (an older server) falls back to the legacy
/// `get AmazonElastiCache:cluster` on the same connection.
pub(super) fn config_request<W: Wire>(c: &mut W) -> io::Result<ClusterConfig> {
    c.send(format!("config get {}\r\n", discovery::CONFIG_KEY).as_bytes())?;
    let payload = match read_line(c) {
        Ok(line) => read_config_reply(c, &line)?,
        Err(e) if is_plain_error(&e) => {
            get_request(c, "get", discovery::LEGACY_KEY.as_bytes())?
                .ok_or_else(|| invalid_data("server has no cluster config"))?
                .data
        }
        Err(e) => return Err(e),
    };
    discovery::parse_payload(&payload).map_err(invalid_data)
}

/// Parses the rest of `CONFIG cluster <flags> <bytes>\r\n<payload>\r\nEND\r\n` after its
/// first line, with the protocol's `CONFIG` framing.
pub(super) fn read_config_reply<R: BufRead>(r: &mut R, line: &str) -> io::Result<Vec<u8>> {
    let header = config_reply::parse_reply_header(line.as_bytes()).map_err(invalid_data)?;
    if header.key != discovery::CONFIG_KEY.as_bytes() {
        return Err(unexpected(line));
    }
    if header.len > MAX_VALUE {
        return Err(invalid_data(format!(
            "value of {} bytes is too large",
            header.len
        )));
    }
    let mut rest = vec![0; header.rest_len()];
    r.read_exact(&mut rest)?;
    let payload = config_reply::reply_payload(&header, &rest).map_err(invalid_data)?;
    Ok(payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A canned reply stream that records what was sent.
    struct Script {
        reply: Cursor<Vec<u8>>,
        sent: Vec<u8>,
    }

    impl Script {
        fn new(reply: &[u8]) -> Script {
            Script {
                reply: Cursor::new(reply.to_vec()),
                sent: Vec::new(),
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reply.read(buf)
        }
    }

    impl BufRead for Script {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            self.reply.fill_buf()
        }
        fn consume(&mut self, n: usize) {
            self.reply.consume(n)
        }
    }

    impl Wire for Script {
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.sent.extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn get_hit_miss_and_gets() {
        let mut s = Script::new(b"VALUE k 5 3\r\nabc\r\nEND\r\n");
        let v = get_request(&mut s, "get", b"k").unwrap().unwrap();
        assert_eq!(
            v,
            Value {
                data: b"abc".to_vec(),
                flags: 5,
                cas: None
            }
        );
        assert_eq!(s.sent, b"get k\r\n");

        let mut s = Script::new(b"END\r\n");
        assert_eq!(get_request(&mut s, "get", b"k").unwrap(), None);

        let mut s = Script::new(b"VALUE k 0 4 99\r\na\r\nb\r\nEND\r\n");
        let v = get_request(&mut s, "gets", b"k").unwrap().unwrap();
        assert_eq!(v.data, b"a\r\nb");
        assert_eq!(v.cas, Some(99));
        assert_eq!(s.sent, b"gets k\r\n");
    }

    #[test]
    fn broken_replies_are_errors() {
        let cases: [(&[u8], io::ErrorKind); 7] = [
            (b"VALUE k 0 3\r\nab", io::ErrorKind::UnexpectedEof),
            (
                b"VALUE k 0 3\r\nabcd\r\nEND\r\n",
                io::ErrorKind::InvalidData,
            ),
            (b"VALUE k x 3\r\nabc\r\nEND\r\n", io::ErrorKind::InvalidData),
            (
                b"VALUE k 0 3 1 2\r\nabc\r\nEND\r\n",
                io::ErrorKind::InvalidData,
            ),
            (b"HELLO\r\n", io::ErrorKind::InvalidData),
            (b"END\n", io::ErrorKind::InvalidData),
            (b"", io::ErrorKind::UnexpectedEof),
        ];
        for (reply, kind) in cases {
            let err = get_request(&mut Script::new(reply), "get", b"k").unwrap_err();
            assert_eq!(err.kind(), kind, "{:?}", String::from_utf8_lossy(reply));
            assert!(!is_server_reply(&err));
        }
        let err = get_request(
            &mut Script::new(b"SERVER_ERROR out of memory\r\n"),
            "get",
            b"k",
        )
        .unwrap_err();
        assert!(is_server_reply(&err));
        assert!(err.to_string().contains("SERVER_ERROR out of memory"));
    }

    #[test]
    fn storage_and_arith_requests() {
        let mut s = Script::new(b"STORED\r\n");
        assert_eq!(
            storage_request(&mut s, "set k 1 0 2", b"hi").unwrap(),
            "STORED"
        );
        assert_eq!(s.sent, b"set k 1 0 2\r\nhi\r\n");

        let mut s = Script::new(b"42\r\n");
        assert_eq!(arith_request(&mut s, "incr", "n", 2).unwrap(), Some(42));
        assert_eq!(s.sent, b"incr n 2\r\n");
        let mut s = Script::new(b"NOT_FOUND\r\n");
        assert_eq!(arith_request(&mut s, "decr", "n", 1).unwrap(), None);
        let mut s =
            Script::new(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
        assert!(is_server_reply(
            &arith_request(&mut s, "incr", "n", 1).unwrap_err()
        ));
    }

    #[test]
    fn config_reply_parsing() {
        let mut s = Script::new(b"CONFIG cluster 0 25\r\n3\nb|127.0.0.1|2 a||11211\n\r\nEND\r\n");
        let c = config_request(&mut s).unwrap();
        assert_eq!(c.version, 3);
        assert_eq!(c.nodes.to_string(), "a||11211 b|127.0.0.1|2");
        assert_eq!(s.sent, b"config get cluster\r\n");

        // Legacy fallback after ERROR.
        let mut s =
            Script::new(b"ERROR\r\nVALUE AmazonElastiCache:cluster 0 7\r\n2\na||1\n\r\nEND\r\n");
        assert_eq!(config_request(&mut s).unwrap().version, 2);
        assert_eq!(
            s.sent,
            b"config get cluster\r\nget AmazonElastiCache:cluster\r\n"
        );

        for bad in [
            &b"CONFIG cluster 0 9\r\n3\na||1\n\r\nEND\r\n"[..],
            b"CONFIG cluster 0 6\r\n3\na||1\n\r\nEND\r\n",
            b"CONFIG cluster 0 7\r\n3\na||1\n\r\nEN\r\n",
            b"CONFIG other 0 7\r\n3\na||1\n\r\nEND\r\n",
            b"CONFIG cluster 0 7\r\n0\na||1\n\r\nEND\r\n",
            b"ERROR\r\nEND\r\n",
        ] {
            assert!(
                config_request(&mut Script::new(bad)).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn keys_are_checked() {
        for bad in ["", "a b", "a\r\n", "\u{7f}", &"k".repeat(251)] {
            assert_eq!(
                check_key(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
        }
        assert!(check_key(&"k".repeat(250)).is_ok());
    }
}
