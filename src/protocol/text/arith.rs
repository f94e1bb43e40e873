//! `incr|decr <key> <delta> [noreply]`.
//!
//! memcached (`process_arithmetic_command`): the key length is checked first
//! (`CLIENT_ERROR bad command line format`), then the delta as a `u64` by `safe_strtoull`
//! (`CLIENT_ERROR invalid numeric delta argument`); both are silenced by `noreply` as the
//! last token, and a fourth token that is not `noreply` is ignored.

use super::num::strtoull;
use super::{BAD_FORMAT, Line, ParseError};
use crate::protocol::{ArithOp, Command, Limits};

/// The dispatcher has checked there are 3 or 4 tokens.
pub(super) fn parse<'a>(
    op: ArithOp,
    line: &Line<'a>,
    limits: &Limits,
) -> Result<Command<'a>, ParseError> {
    let noreply = line.noreply();
    let key = line.tok(1);
    if key.len() > limits.max_key {
        return Err(line.client_error(BAD_FORMAT, noreply));
    }
    let Some(delta) = strtoull(line.tok(2)) else {
        return Err(line.client_error("invalid numeric delta argument", noreply));
    };
    Ok(Command::Arith {
        op,
        key,
        delta,
        noreply,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{client, cmd, err, error, line_err};
    use crate::protocol::{ArithOp, Command};

    fn arith(op: ArithOp, key: &[u8], delta: u64, noreply: bool) -> Command<'_> {
        Command::Arith {
            op,
            key,
            delta,
            noreply,
        }
    }

    #[test]
    fn valid() {
        assert_eq!(cmd(b"incr a 1\r\n"), arith(ArithOp::Incr, b"a", 1, false));
        assert_eq!(cmd(b"decr a 7\r\n"), arith(ArithOp::Decr, b"a", 7, false));
        assert_eq!(
            cmd(b"incr a 1 noreply\r\n"),
            arith(ArithOp::Incr, b"a", 1, true)
        );
        // memcached: `incr n 18446744073709551615` on 5 -> 4 (wraps, the store's job).
        assert_eq!(
            cmd(b"incr n 18446744073709551615\r\n"),
            arith(ArithOp::Incr, b"n", u64::MAX, false)
        );
        // memcached: `incr a 1 2` -> NOT_FOUND (the `2` is ignored).
        assert_eq!(cmd(b"incr a 1 2\r\n"), arith(ArithOp::Incr, b"a", 1, false));
    }

    #[test]
    fn token_count() {
        // memcached: `incr a`, `incr a 1 noreply x`, `decr` -> ERROR.
        for l in [&b"incr a\r\n"[..], b"incr a 1 noreply x\r\n", b"decr\r\n"] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn bad_delta() {
        // memcached: `incr a x`, `incr a -1`, `incr a 18446744073709551616` ->
        // `CLIENT_ERROR invalid numeric delta argument\r\n`; silent with noreply.
        for l in [
            &b"incr a x\r\n"[..],
            b"incr a -1\r\n",
            b"decr a 18446744073709551616\r\n",
        ] {
            assert_eq!(err(l), client("invalid numeric delta argument", l.len()));
        }
        let l = b"incr a x noreply\r\n";
        assert_eq!(err(l), line_err(None, l.len()));
    }

    #[test]
    fn key_length_first() {
        // memcached: `incr <251> x` -> CLIENT_ERROR bad command line format.
        let mut l = b"incr ".to_vec();
        l.extend_from_slice(&[b'k'; 251]);
        l.extend_from_slice(b" x\r\n");
        assert_eq!(err(&l), client("bad command line format", l.len()));
    }
}
