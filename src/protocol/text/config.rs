//! ElastiCache auto-discovery commands (not in memcached): `config get <key>`,
//! `config set <key> <flags> <bytes> [noreply]` followed by a data block, and
//! `config delete <key>`. Any other form is `ERROR`, as ElastiCache answers unknown
//! sub-commands. The executor decides what the keys mean (only `cluster` exists).

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
