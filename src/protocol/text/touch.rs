//! `touch <key> <exptime> [noreply]`.
//!
//! memcached (`process_touch_command`): key length first (`CLIENT_ERROR bad command line
//! format`), then the exptime as a C `int32` (`CLIENT_ERROR invalid exptime argument`); both
//! silenced by `noreply` as the last token; a fourth token that is not `noreply` is ignored.

use super::num::strtol;
use super::{BAD_FORMAT, Line, ParseError};
use crate::protocol::{Command, Limits};

/// The dispatcher has checked there are 3 or 4 tokens.
pub(super) fn parse<'a>(line: &Line<'a>, limits: &Limits) -> Result<Command<'a>, ParseError> {
    let noreply = line.noreply();
    let key = line.tok(1);
    if key.len() > limits.max_key {
        return Err(line.client_error(BAD_FORMAT, noreply));
    }
    let Some(exptime) = strtol(line.tok(2)) else {
        return Err(line.client_error("invalid exptime argument", noreply));
    };
    Ok(Command::Touch {
        key,
        exptime: i64::from(exptime),
        noreply,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{client, cmd, err, error, line_err};
    use crate::protocol::Command;

    fn touch(key: &[u8], exptime: i64, noreply: bool) -> Command<'_> {
        Command::Touch {
            key,
            exptime,
            noreply,
        }
    }

    #[test]
    fn valid() {
        assert_eq!(cmd(b"touch a 10\r\n"), touch(b"a", 10, false));
        assert_eq!(cmd(b"touch a -1 noreply\r\n"), touch(b"a", -1, true));
        // memcached: `touch a 1 2` -> NOT_FOUND (the `2` is ignored).
        assert_eq!(cmd(b"touch a 1 2\r\n"), touch(b"a", 1, false));
        assert_eq!(cmd(b"touch a 4294967296\r\n"), touch(b"a", 0, false));
    }

    #[test]
    fn errors() {
        // memcached: `touch a` -> ERROR; `touch a x` -> CLIENT_ERROR invalid exptime
        // argument (silent with noreply); key length checked first.
        assert_eq!(err(b"touch a\r\n"), error(b"touch a\r\n"));
        assert_eq!(
            err(b"touch a 1 noreply x\r\n"),
            error(b"touch a 1 noreply x\r\n")
        );
        let l = b"touch a x\r\n";
        assert_eq!(err(l), client("invalid exptime argument", l.len()));
        let l = b"touch a x noreply\r\n";
        assert_eq!(err(l), line_err(None, l.len()));
        let mut l = b"touch ".to_vec();
        l.extend_from_slice(&[b'k'; 251]);
        l.extend_from_slice(b" x\r\n");
        assert_eq!(err(&l), client("bad command line format", l.len()));
    }
}
