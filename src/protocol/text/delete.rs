//! `delete <key> [0] [noreply]`.
//!
//! memcached (`process_delete_command`) accepts, after the key, only `0`, `noreply`, or
//! `0 noreply` (the `0` is the remnant of the removed hold time); anything else is
//! `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]` (two spaces), which
//! `noreply` as the last token silences. The usage check comes before the key-length check.

use super::{BAD_FORMAT, Line, ParseError};
use crate::protocol::{Command, Limits};

const USAGE: &str = "bad command line format.  Usage: delete <key> [noreply]";

/// The dispatcher has checked there are 2 to 4 tokens.
pub(super) fn parse<'a>(line: &Line<'a>, limits: &Limits) -> Result<Command<'a>, ParseError> {
    let mut noreply = false;
    if line.n > 2 {
        let hold_is_zero = line.tok(2) == b"0";
        noreply = line.noreply();
        let valid =
            (line.n == 3 && (hold_is_zero || noreply)) || (line.n == 4 && hold_is_zero && noreply);
        if !valid {
            return Err(line.client_error(USAGE, noreply));
        }
    }
    let key = line.tok(1);
    if key.len() > limits.max_key {
        return Err(line.client_error(BAD_FORMAT, noreply));
    }
    Ok(Command::Delete { key, noreply })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{client, cmd, err, error, line_err};
    use super::USAGE;
    use crate::protocol::Command;

    fn del(key: &[u8], noreply: bool) -> Command<'_> {
        Command::Delete { key, noreply }
    }

    #[test]
    fn valid_forms() {
        assert_eq!(cmd(b"delete a\r\n"), del(b"a", false));
        // memcached: `delete a 0` -> DELETED/NOT_FOUND; `delete a noreply`, `delete a 0
        // noreply` -> silent.
        assert_eq!(cmd(b"delete a 0\r\n"), del(b"a", false));
        assert_eq!(cmd(b"delete a noreply\r\n"), del(b"a", true));
        assert_eq!(cmd(b"delete a 0 noreply\r\n"), del(b"a", true));
    }

    #[test]
    fn usage_error() {
        // memcached: exact bytes
        // `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n`.
        for l in [
            &b"delete a 5\r\n"[..],
            b"delete a 0 0\r\n",
            b"delete a 00\r\n",
            b"delete a 0\t\r\n",
        ] {
            assert_eq!(err(l), client(USAGE, l.len()));
        }
        // memcached: silenced when the last token is noreply (`delete a x noreply`,
        // `delete a noreply noreply` -> nothing).
        for l in [
            &b"delete a x noreply\r\n"[..],
            b"delete a noreply noreply\r\n",
        ] {
            assert_eq!(err(l), line_err(None, l.len()));
        }
    }

    #[test]
    fn token_count() {
        // memcached: `delete` and `delete a 0 noreply x` -> ERROR.
        for l in [&b"delete\r\n"[..], b"delete a 0 noreply x\r\n"] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn key_length() {
        let mut k = b"delete ".to_vec();
        k.extend_from_slice(&[b'k'; 251]);
        // memcached: `delete <251>` -> CLIENT_ERROR bad command line format; with noreply
        // silent; with a bad hold (`5`) the usage error wins.
        let mut l = k.clone();
        l.extend_from_slice(b"\r\n");
        assert_eq!(err(&l), client("bad command line format", l.len()));
        let mut l = k.clone();
        l.extend_from_slice(b" noreply\r\n");
        assert_eq!(err(&l), line_err(None, l.len()));
        let mut l = k.clone();
        l.extend_from_slice(b" 5\r\n");
        assert_eq!(err(&l), client(USAGE, l.len()));
    }
}
