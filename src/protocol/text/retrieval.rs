//! Retrieval verbs: `get|gets|bget <key>*` and `gat|gats <exptime> <key>*`.
//!
//! The token count (at least the verb and one more token) is checked by the dispatcher, so
//! `gat 0` is a valid request for no keys (memcached answers `END`). Keys are every
//! space-separated word after the verb (and exptime), not just the first 23 tokens.
//!
//! One key longer than [`Limits::max_key`] anywhere on the line fails the whole request with
//! `CLIENT_ERROR bad command line format` and nothing else: memcached drops the `VALUE`s it
//! had already queued for earlier keys. (It did look those up, so for `gat`/`gats` the
//! earlier keys *are* touched and the get/touch statistics counted; we do not reproduce that
//! side effect.)

use super::num::strtol;
use super::{BAD_FORMAT, Line, ParseError};
use crate::protocol::{Command, GetKind, Keys, Limits};

pub(super) fn parse<'a>(
    kind: GetKind,
    line: &Line<'a>,
    limits: &Limits,
) -> Result<Command<'a>, ParseError> {
    let (exptime, first_key) = match kind {
        GetKind::Get | GetKind::Gets => (0, 1),
        GetKind::Gat | GetKind::Gats => {
            let Some(exptime) = strtol(line.tok(1)) else {
                return Err(line.client_error("invalid exptime argument", false));
            };
            (i64::from(exptime), 2)
        }
    };
    let keys = Keys(line.rest(first_key));
    if keys.iter().any(|k| k.len() > limits.max_key) {
        return Err(line.client_error(BAD_FORMAT, false));
    }
    Ok(Command::Get {
        kind,
        exptime,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{client, cmd, err, error};
    use crate::protocol::{Command, GetKind};

    fn keys<'a>(c: &Command<'a>) -> Vec<&'a [u8]> {
        match c {
            Command::Get { keys, .. } => keys.iter().collect(),
            _ => panic!("{c:?}"),
        }
    }

    fn kind_exp(c: &Command<'_>) -> (GetKind, i64) {
        match c {
            Command::Get { kind, exptime, .. } => (*kind, *exptime),
            _ => panic!("{c:?}"),
        }
    }

    #[test]
    fn get_and_gets() {
        let c = cmd(b"get a\r\n");
        assert_eq!(kind_exp(&c), (GetKind::Get, 0));
        assert_eq!(keys(&c), vec![&b"a"[..]]);
        let c = cmd(b"gets a b\n");
        assert_eq!(kind_exp(&c), (GetKind::Gets, 0));
        assert_eq!(keys(&c), vec![&b"a"[..], b"b"]);
        // memcached: `bget a` is `get a` (END).
        assert_eq!(kind_exp(&cmd(b"bget a\r\n")), (GetKind::Get, 0));
    }

    #[test]
    fn keys_split_on_spaces_only() {
        // memcached: `get a  b` -> two keys; `get a\tb` -> one key "a\tb".
        assert_eq!(keys(&cmd(b"get a  b \r\n")), vec![&b"a"[..], b"b"]);
        assert_eq!(keys(&cmd(b"get a\tb\r\n")), vec![&b"a\tb"[..]]);
        // A NUL ends the line: `get k1\0zz` and `get k1 \0 k1` both get just k1.
        assert_eq!(keys(&cmd(b"get k1\0zz\r\n")), vec![&b"k1"[..]]);
        assert_eq!(keys(&cmd(b"get k1 \0 k1\r\n")), vec![&b"k1"[..]]);
    }

    #[test]
    fn more_than_23_keys() {
        let line: Vec<u8> = (0..40)
            .map(|i| format!(" m{i}"))
            .collect::<String>()
            .into_bytes();
        let mut buf = b"get".to_vec();
        buf.extend_from_slice(&line);
        buf.extend_from_slice(b"\r\n");
        let got = keys(&cmd(&buf));
        assert_eq!(got.len(), 40);
        assert_eq!(got[39], b"m39");
    }

    #[test]
    fn no_keys_is_error() {
        // memcached: `get`, `get `, `gets`, `gat`, `bget`, `bget ` -> ERROR.
        for l in [
            &b"get\r\n"[..],
            b"get \r\n",
            b"gets\r\n",
            b"gat\r\n",
            b"gats  \r\n",
            b"bget\r\n",
            b"bget \r\n",
        ] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn unknown_g_verbs_are_error() {
        for l in [&b"gett a\r\n"[..], b"ge a\r\n", b"gxx HTTP/1.1\r\n"] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn gat_and_gats() {
        let c = cmd(b"gat 10 a b\r\n");
        assert_eq!(kind_exp(&c), (GetKind::Gat, 10));
        assert_eq!(keys(&c), vec![&b"a"[..], b"b"]);
        assert_eq!(kind_exp(&cmd(b"gats -1 a\r\n")), (GetKind::Gats, -1));
        // memcached: `gat 0` and `gats 0` -> END (no keys is fine after the exptime).
        assert!(keys(&cmd(b"gat 0\r\n")).is_empty());
        assert!(keys(&cmd(b"gats 0\r\n")).is_empty());
        // memcached: `gat 99999999999 a` -> END; the exptime wraps like a C int32.
        assert_eq!(
            kind_exp(&cmd(b"gat 99999999999 a\r\n")).1,
            i64::from(99999999999_i64 as i32)
        );
        // memcached: `gat 1\t a` -> END (tab after the digits is accepted).
        assert_eq!(kind_exp(&cmd(b"gat 1\t a\r\n")).1, 1);
    }

    #[test]
    fn gat_bad_exptime() {
        // memcached: `gat x a`, `gat 1x a` -> CLIENT_ERROR invalid exptime argument, also
        // when a key is too long (exptime is checked first).
        for l in [&b"gat x a\r\n"[..], b"gat 1x a\r\n", b"gats - a\r\n"] {
            assert_eq!(err(l), client("invalid exptime argument", l.len()));
        }
        let mut l = b"gat x ".to_vec();
        l.extend_from_slice(&[b'k'; 251]);
        l.extend_from_slice(b"\r\n");
        assert_eq!(err(&l), client("invalid exptime argument", l.len()));
    }

    #[test]
    fn key_length_limit() {
        // memcached: a 250-byte key is fine; 251 anywhere in a multi-get -> only
        // `CLIENT_ERROR bad command line format\r\n` (earlier hits are not sent).
        let k250 = [b'k'; 250];
        let k251 = [b'k'; 251];
        let mut l = b"get ".to_vec();
        l.extend_from_slice(&k250);
        l.extend_from_slice(b"\r\n");
        assert_eq!(keys(&cmd(&l)), vec![&k250[..]]);
        for (verb, before, after) in [
            (&b"get "[..], &b"a "[..], &b""[..]),
            (b"get ", b"a b ", b" c"),
            (b"gets ", b"", b""),
            (b"gat 0 ", b"a ", b" b"),
        ] {
            let mut l = verb.to_vec();
            l.extend_from_slice(before);
            l.extend_from_slice(&k251);
            l.extend_from_slice(after);
            l.extend_from_slice(b"\r\n");
            assert_eq!(err(&l), client("bad command line format", l.len()));
        }
    }

    #[test]
    fn noreply_is_just_a_key() {
        assert_eq!(
            keys(&cmd(b"get a noreply\r\n")),
            vec![&b"a"[..], b"noreply"]
        );
    }
}
