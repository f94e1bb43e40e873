//! Reply parsing: one text or binary reply of the [`Expect`]ed kind from the front of a
//! buffer (`parse_reply` -> [`Parsed`]), tallied into [`Counts`] (and value bytes checked
//! against the generated value in verify mode).
//!
//! Owns: the reply grammar and what is counted. Must not touch: reading from sockets
//! (the event loop hands it bytes), printing.

use crate::request::{BIN_GET, BIN_RES, BIN_SET};
use crate::workload::{Expect, Shared};

#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) gets: u64,
    pub(crate) hits: u64,
    pub(crate) sets: u64,
    pub(crate) stored: u64,
    pub(crate) not_stored: u64,
    pub(crate) errors: u64,
    pub(crate) bad_values: u64,
    pub(crate) conn_errors: u64,
    pub(crate) first_error: Option<String>,
}

impl Counts {
    pub(crate) fn merge(&mut self, o: Counts) {
        self.gets += o.gets;
        self.hits += o.hits;
        self.sets += o.sets;
        self.stored += o.stored;
        self.not_stored += o.not_stored;
        self.errors += o.errors;
        self.bad_values += o.bad_values;
        self.conn_errors += o.conn_errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
    pub(crate) fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(msg);
        }
    }
}

pub(crate) fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

pub(crate) fn is_error_line(line: &[u8]) -> bool {
    line == b"ERROR" || line.starts_with(b"SERVER_ERROR") || line.starts_with(b"CLIENT_ERROR")
}

pub(crate) enum Parsed {
    /// Need more bytes.
    Incomplete,
    /// One reply consumed (this many bytes).
    Done(usize),
    /// The stream can't be parsed any further.
    Broken(String),
}

/// Parses one binary response frame of kind `exp` from the front of `buf`.
pub(crate) fn parse_bin_reply(buf: &[u8], exp: Expect, sh: &Shared, c: &mut Counts) -> Parsed {
    if buf.len() < 24 {
        return Parsed::Incomplete;
    }
    if buf[0] != BIN_RES {
        return Parsed::Broken(format!("bad response magic 0x{:02x}", buf[0]));
    }
    let (op, status) = (buf[1], u16::from_be_bytes([buf[6], buf[7]]));
    let key_len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let ext_len = usize::from(buf[4]);
    let body = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    let total = 24 + body;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let err_text = || {
        format!(
            "binary status 0x{status:04x}: {}",
            String::from_utf8_lossy(&buf[24..total])
        )
    };
    match exp {
        Expect::Stored => {
            if op != BIN_SET {
                return Parsed::Broken(format!("reply opcode 0x{op:02x} to a set"));
            }
            c.sets += 1;
            match status {
                0 => c.stored += 1,
                1 | 2 | 5 => c.not_stored += 1,
                _ => c.error(err_text()),
            }
        }
        Expect::Value(check) => {
            if op != BIN_GET {
                return Parsed::Broken(format!("reply opcode 0x{op:02x} to a get"));
            }
            c.gets += 1;
            match status {
                0 => {
                    c.hits += 1;
                    let start = 24 + ext_len + key_len;
                    if let Some(n) = check
                        && buf.get(start..total) != Some(sh.values.value(n))
                    {
                        c.bad_values += 1;
                    }
                }
                1 => {}
                _ => c.error(err_text()),
            }
        }
    }
    Parsed::Done(total)
}

/// Parses one reply of kind `exp` from the front of `buf`.
pub(crate) fn parse_reply(buf: &[u8], exp: Expect, sh: &Shared, c: &mut Counts) -> Parsed {
    if sh.args.binary {
        return parse_bin_reply(buf, exp, sh, c);
    }
    let Some(eol) = find_crlf(buf) else {
        if buf.len() > 4096 {
            return Parsed::Broken("reply line longer than 4096 bytes".into());
        }
        return Parsed::Incomplete;
    };
    let line = &buf[..eol];
    let after_line = eol + 2;
    match exp {
        Expect::Stored => {
            c.sets += 1;
            match line {
                b"STORED" => c.stored += 1,
                b"NOT_STORED" | b"EXISTS" | b"NOT_FOUND" => c.not_stored += 1,
                l if is_error_line(l) => c.error(String::from_utf8_lossy(l).into_owned()),
                l => {
                    return Parsed::Broken(format!(
                        "unexpected reply to set: {:?}",
                        String::from_utf8_lossy(l)
                    ));
                }
            }
            Parsed::Done(after_line)
        }
        Expect::Value(check) => {
            if line == b"END" {
                c.gets += 1;
                return Parsed::Done(after_line);
            }
            if is_error_line(line) {
                c.gets += 1;
                c.error(String::from_utf8_lossy(line).into_owned());
                return Parsed::Done(after_line);
            }
            // VALUE <key> <flags> <bytes> [<cas>]
            let mut parts = line.split(|&b| b == b' ');
            let bytes = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(b"VALUE"), Some(_), Some(_), Some(n)) => std::str::from_utf8(n)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok()),
                _ => None,
            };
            let Some(bytes) = bytes else {
                return Parsed::Broken(format!(
                    "unexpected reply to get: {:?}",
                    String::from_utf8_lossy(line)
                ));
            };
            let data_end = after_line + bytes;
            let total = data_end + 2 + 5; // data, "\r\n", "END\r\n"
            if buf.len() < total {
                return Parsed::Incomplete;
            }
            if &buf[data_end..total] != b"\r\nEND\r\n" {
                return Parsed::Broken("value not followed by \\r\\nEND\\r\\n".into());
            }
            c.gets += 1;
            c.hits += 1;
            if let Some(n) = check
                && &buf[after_line..data_end] != sh.values.value(n)
            {
                c.bad_values += 1;
            }
            Parsed::Done(total)
        }
    }
}
