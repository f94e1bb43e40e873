//! Storage verbs: `set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]`
//! and `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]`, with their data block.
//!
//! Checks in memcached's order (`process_update_command`), each failure consuming only the
//! line so that the data block is then parsed as a command (usually a second `ERROR`):
//! 1. token count (dispatcher): `ERROR`, never silenced;
//! 2. key longer than [`Limits::max_key`]; flags (`u32`), exptime and bytes (C `int32`), cas
//!    (`u64`) not numbers as `safe_strto*` sees them; bytes negative or above `INT_MAX - 2`:
//!    `CLIENT_ERROR bad command line format`, silenced by `noreply`;
//! 3. bytes above [`Limits::max_value`]: `SERVER_ERROR object too large for cache` (silenced
//!    by `noreply`), the line consumed and `bytes + 2` more swallowed unread, without waiting
//!    for them; for `set` the key's old item must be unlinked (`ParseError::unlink_key`).
//!    Values within `max_value` whose item would still not fit are the store's call;
//! 4. the whole data block and two more bytes must be buffered (`Ok(None)` until then); if
//!    those two are not `\r\n`: `CLIENT_ERROR bad data chunk` (silenced by `noreply`),
//!    consuming line + bytes + 2 (memcached stores nothing and keeps the old item).
//!
//! The optional last token is `noreply` only when it is exactly that; anything else there is
//! ignored (`set a 0 0 1 norepl` stores and answers `STORED`).

use super::num::{strtol, strtoul, strtoull};
use super::{BAD_FORMAT, Line, ParseError};
use crate::protocol::{Command, Limits, Reply, StoreMode};

pub(super) fn parse<'a>(
    mode: StoreMode,
    line: &Line<'a>,
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Command<'a>, usize)>, ParseError> {
    let noreply = line.noreply();
    let bad = || line.client_error(BAD_FORMAT, noreply);
    let key = line.tok(1);
    if key.len() > limits.max_key {
        return Err(bad());
    }
    let (Some(flags), Some(exptime), Some(vlen)) = (
        strtoul(line.tok(2)),
        strtol(line.tok(3)),
        strtol(line.tok(4)),
    ) else {
        return Err(bad());
    };
    let cas = if mode == StoreMode::Cas {
        strtoull(line.tok(5)).ok_or_else(bad)?
    } else {
        0
    };
    // memcached: `if (vlen < 0 || vlen > (INT_MAX - 2))`.
    let Ok(bytes) = usize::try_from(vlen) else {
        return Err(bad());
    };
    if vlen > i32::MAX - 2 {
        return Err(bad());
    }
    if bytes > limits.max_value {
        return Err(ParseError {
            reply: (!noreply).then_some(Reply::ServerError("object too large for cache")),
            consumed: line.len,
            swallow: bytes + 2,
            close: false,
            unlink_key: (mode == StoreMode::Set).then(|| line.range(1)),
        });
    }
    let Some((data, frame_end)) = line.data_block(buf, bytes, noreply)? else {
        return Ok(None);
    };
    Ok(Some((
        Command::Store {
            mode,
            key,
            flags,
            exptime: i64::from(exptime),
            data,
            cas,
            noreply,
        },
        frame_end,
    )))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{client, cmd, err, error, line_err, p};
    use super::super::{ParseError, parse};
    use crate::protocol::{Command, Limits, Reply, StoreMode};

    const BAD: &str = "bad command line format";

    fn store(
        mode: StoreMode,
        key: &'static [u8],
        flags: u32,
        exptime: i64,
        data: &'static [u8],
        cas: u64,
        noreply: bool,
    ) -> Command<'static> {
        Command::Store {
            mode,
            key,
            flags,
            exptime,
            data,
            cas,
            noreply,
        }
    }

    fn set(flags: u32, exptime: i64, data: &'static [u8]) -> Command<'static> {
        store(StoreMode::Set, b"a", flags, exptime, data, 0, false)
    }

    #[test]
    fn each_verb() {
        for (verb, mode) in [
            ("set", StoreMode::Set),
            ("add", StoreMode::Add),
            ("replace", StoreMode::Replace),
            ("append", StoreMode::Append),
            ("prepend", StoreMode::Prepend),
        ] {
            let buf = format!("{verb} k 5 10 3\r\nabc\r\n");
            assert_eq!(
                cmd(buf.as_bytes()),
                store(mode, b"k", 5, 10, b"abc", 0, false)
            );
            let buf = format!("{verb} k 5 10 3 noreply\r\nabc\r\n");
            assert_eq!(
                cmd(buf.as_bytes()),
                store(mode, b"k", 5, 10, b"abc", 0, true)
            );
        }
        assert_eq!(
            cmd(b"cas k 1 2 3 99\r\nabc\r\n"),
            store(StoreMode::Cas, b"k", 1, 2, b"abc", 99, false)
        );
        assert_eq!(
            cmd(b"cas k 1 2 3 18446744073709551615 noreply\r\nabc\r\n"),
            store(StoreMode::Cas, b"k", 1, 2, b"abc", u64::MAX, true)
        );
    }

    #[test]
    fn empty_and_binary_values() {
        // memcached: `set a 0 0 0\r\n\r\n` -> STORED, `VALUE a 0 0\r\n\r\n`.
        assert_eq!(cmd(b"set a 0 0 0\r\n\r\n"), set(0, 0, b""));
        assert_eq!(cmd(b"set a 0 0 4\r\n\r\n\0\n\r\n"), set(0, 0, b"\r\n\0\n"));
    }

    #[test]
    fn waits_for_the_whole_frame() {
        let buf = b"set a 0 0 3\r\nabc\r\n";
        for i in 0..buf.len() {
            assert_eq!(p(&buf[..i]), Ok(None), "prefix {i}");
        }
        // memcached: `set a 0 0 3\nabc\n` -> no reply yet (needs 5 bytes after the line);
        // completed with `\r\n` instead it is STORED.
        assert_eq!(p(b"set a 0 0 3\nabc\n"), Ok(None));
        assert_eq!(cmd(b"set a 0 0 3\nabc\r\n"), set(0, 0, b"abc"));
    }

    #[test]
    fn wrong_token_count_is_error() {
        // memcached: `set`, `set a 0 0`, `cas a 0 0 1` -> ERROR (and the data line, if any,
        // is a second ERROR). `noreply` does not silence it.
        for l in [
            &b"set\r\n"[..],
            b"set a 0 0\r\n",
            b"add a 0 0 1 noreply x\r\n",
            b"cas a 0 0 1\r\n",
            b"cas a 0 0 1 1 noreply x\r\n",
        ] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn bad_numbers_consume_only_the_line() {
        // memcached: `set a 0 0 x\r\nhello\r\n` ->
        // `CLIENT_ERROR bad command line format\r\nERROR\r\n`: the data line is parsed
        // as a command.
        for l in [
            &b"set a 0 0 x\r\n"[..],
            b"set a -1 0 1\r\n",
            b"set a 18446744073709551616 0 1\r\n",
            b"set a 0x10 0 1\r\n",
            b"set a 5z 0 1\r\n",
            b"set a 0 0 -1\r\n",
            b"set a 0 0 -\r\n",
            b"set a 0 0 2147483647\r\n",
            b"set a 0 0 2147483646\r\n",
            b"set a 0 0 2147483648\r\n",
            b"set a 0 0 9223372036854775808\r\n",
            b"set a 0 x 1\r\n",
            b"cas a 0 0 1 x\r\n",
            b"cas a 0 0 1 -1\r\n",
            b"cas a 0 0 1 18446744073709551616\r\n",
        ] {
            let mut buf = l.to_vec();
            buf.extend_from_slice(b"hello\r\n");
            assert_eq!(err(&buf), client(BAD, l.len()));
        }
    }

    #[test]
    fn noreply_silences_client_errors() {
        // memcached: `set a 0 0 x noreply\r\nhello\r\n` -> just `ERROR\r\n` (for `hello`).
        let l = b"set a 0 0 x noreply\r\n";
        assert_eq!(err(l), line_err(None, l.len()));
        // `set a 0 0 noreply`: the bytes token is `noreply`, which both fails to parse and
        // silences the failure (memcached replies nothing).
        let l = b"set a 0 0 noreply\r\n";
        assert_eq!(err(l), line_err(None, l.len()));
        let l = b"cas a 0 0 1 x noreply\r\n";
        assert_eq!(err(l), line_err(None, l.len()));
        // memcached: `cas a 0 0 1 noreply\r\nx\r\n` -> just `ERROR\r\n` (for `x`): the
        // cas unique is `noreply`, which fails and silences itself.
        let l = b"cas a 0 0 1 noreply\r\n";
        assert_eq!(err(l), line_err(None, l.len()));
    }

    #[test]
    fn lenient_numbers() {
        // memcached: flags 4294967295 kept; 4294967296 stored as 0; 18446744073709551615 as
        // 4294967295; -18446744073709551615 as 1; -0 and +5 and 010 (decimal) accepted.
        assert_eq!(
            cmd(b"set a 4294967295 0 1\r\nx\r\n"),
            set(u32::MAX, 0, b"x")
        );
        assert_eq!(cmd(b"set a 4294967296 0 1\r\nx\r\n"), set(0, 0, b"x"));
        assert_eq!(
            cmd(b"set a 18446744073709551615 0 1\r\nx\r\n"),
            set(u32::MAX, 0, b"x")
        );
        assert_eq!(
            cmd(b"set a -18446744073709551615 0 1\r\nx\r\n"),
            set(1, 0, b"x")
        );
        assert_eq!(cmd(b"set a -0 0 1\r\nx\r\n"), set(0, 0, b"x"));
        assert_eq!(cmd(b"set a +5 0 1\r\nx\r\n"), set(5, 0, b"x"));
        assert_eq!(cmd(b"set a 010 0 1\r\nx\r\n"), set(10, 0, b"x"));
        // memcached: tab after the digits ends the number, whatever follows.
        assert_eq!(cmd(b"set a 5\t 0 1\r\nx\r\n"), set(5, 0, b"x"));
        assert_eq!(cmd(b"set a 5\tzz 0 1\r\nx\r\n"), set(5, 0, b"x"));
        assert_eq!(cmd(b"set a \t7 0 1\r\nx\r\n"), set(7, 0, b"x"));
        // A second `\r` before the newline stays in the bytes token, where it ends the
        // number: memcached stores `x`.
        assert_eq!(cmd(b"set a 0 0 1\r\r\nx\r\n"), set(0, 0, b"x"));
        assert_eq!(cmd(b"set a 0 0 +1\r\nx\r\n"), set(0, 0, b"x"));
    }

    #[test]
    fn exptime_and_bytes_wrap_like_c_int32() {
        // memcached: exptime -1 stores an already expired item (get -> END); 2147483647
        // is kept; 2147483648 and -2147483649 are accepted (wrapped); 4294967296 wraps to 0
        // (never expires: get -> VALUE); 4294967295 wraps to -1 (expired: get -> END).
        assert_eq!(cmd(b"set a 0 -1 1\r\nx\r\n"), set(0, -1, b"x"));
        assert_eq!(
            cmd(b"set a 0 2147483647 1\r\nx\r\n"),
            set(0, 2147483647, b"x")
        );
        assert_eq!(
            cmd(b"set a 0 2147483648 1\r\nx\r\n"),
            set(0, -2147483648, b"x")
        );
        assert_eq!(
            cmd(b"set a 0 -2147483649 1\r\nx\r\n"),
            set(0, 2147483647, b"x")
        );
        assert_eq!(cmd(b"set a 0 4294967296 1\r\nx\r\n"), set(0, 0, b"x"));
        assert_eq!(cmd(b"set a 0 4294967295 1\r\nx\r\n"), set(0, -1, b"x"));
        // memcached: `set a 0 0 4294967297\r\nx\r\n` -> STORED with value "x".
        assert_eq!(cmd(b"set a 0 0 4294967297\r\nx\r\n"), set(0, 0, b"x"));
        // memcached: bytes -9223372036854775808 is 0, so `x\r` is the "data + \r\n":
        // `CLIENT_ERROR bad data chunk\r\nERROR\r\n`.
        let buf = b"set a 0 0 -9223372036854775808\r\nx\r\n";
        assert_eq!(err(buf), client("bad data chunk", buf.len() - 1));
    }

    #[test]
    fn optional_last_token() {
        // memcached: only exactly `noreply` counts; `norepl` is ignored (STORED).
        assert_eq!(cmd(b"set a 0 0 1 norepl\r\nx\r\n"), set(0, 0, b"x"));
        assert_eq!(cmd(b"set a 0 0 1 \r\nx\r\n"), set(0, 0, b"x"));
        assert_eq!(
            cmd(b"cas a 0 0 1 5 norep\r\nx\r\n"),
            store(StoreMode::Cas, b"a", 0, 0, b"x", 5, false)
        );
    }

    #[test]
    fn key_length() {
        let k250 = [b'k'; 250];
        let mut buf = b"set ".to_vec();
        buf.extend_from_slice(&k250);
        buf.extend_from_slice(b" 0 0 1\r\nx\r\n");
        let Command::Store { key, .. } = cmd(&buf) else {
            panic!()
        };
        assert_eq!(key, k250);
        // memcached: 251 -> `CLIENT_ERROR bad command line format\r\nERROR\r\n` (data line
        // parsed as a command); with noreply just `ERROR\r\n`.
        for tail in [&b" 0 0 1\r\n"[..], b" 0 0 x\r\n", b" 0 0 2000000\r\n"] {
            let mut l = b"set ".to_vec();
            l.extend_from_slice(&[b'k'; 251]);
            l.extend_from_slice(tail);
            let n = l.len();
            l.extend_from_slice(b"x\r\n");
            assert_eq!(err(&l), client(BAD, n));
        }
        let mut l = b"set ".to_vec();
        l.extend_from_slice(&[b'k'; 251]);
        l.extend_from_slice(b" 0 0 1 noreply\r\n");
        assert_eq!(err(&l), line_err(None, l.len()));
    }

    #[test]
    fn bad_data_chunk() {
        // memcached reads bytes + 2 and checks they end in `\r\n`:
        // `set a 0 0 3\r\nabcd\r\n` -> `CLIENT_ERROR bad data chunk\r\nERROR\r\n` (it
        // consumed `abcd\r`; the lone `\n` is an empty line). The old item is kept.
        let buf = b"set a 0 0 3\r\nabcd\r\n";
        assert_eq!(err(buf), client("bad data chunk", 18));
        assert_eq!(err(&buf[18..]), error(b"\n"));
        // `set a 0 0 3\r\nabcd\r\nversion\r\n` -> bad data chunk, ERROR, VERSION.
        let buf = b"set a 0 0 3\r\nabcd\r\nversion\r\n";
        assert_eq!(err(buf), client("bad data chunk", 18));
        // `set a 0 0 3\r\nabcdversion\r\n` -> bad data chunk, ERROR (for `ersion`).
        assert_eq!(
            err(b"set a 0 0 3\r\nabcdversion\r\n"),
            client("bad data chunk", 18)
        );
        // `set a 0 0 3\r\nab\r\n\r\n` -> bad data chunk, ERROR.
        assert_eq!(
            err(b"set a 0 0 3\r\nab\r\n\r\n"),
            client("bad data chunk", 18)
        );
        // noreply silences it: `set a 0 0 3 noreply\r\nabcd\r\nversion\r\n` -> ERROR,
        // VERSION.
        let buf = b"set a 0 0 3 noreply\r\nabcd\r\nversion\r\n";
        assert_eq!(err(buf), line_err(None, 26));
        // Waits for both trailer bytes before judging.
        assert_eq!(p(b"set a 0 0 3\r\nabcd"), Ok(None));
    }

    fn too_large(consumed: usize, swallow: usize, reply: bool, unlink: bool) -> ParseError {
        ParseError {
            reply: reply.then_some(Reply::ServerError("object too large for cache")),
            consumed,
            swallow,
            close: false,
            unlink_key: unlink.then_some(4..7),
        }
    }

    #[test]
    fn too_large_is_swallowed_without_waiting() {
        // memcached (-I 1m): `set old 0 0 2000000` + 2000000 bytes + `\r\n` + `get old`
        // -> `SERVER_ERROR object too large for cache\r\nEND\r\n`: the old item is gone for
        // set (also with noreply), kept for add/append/cas. The data and the two bytes after
        // it are swallowed unread (memcached did not check them: 2000002 x `v` then
        // `version\r\n` -> SERVER_ERROR, VERSION).
        let l = b"set old 0 0 2000000\r\n";
        assert_eq!(err(l), too_large(l.len(), 2_000_002, true, true));
        let mut buf = l.to_vec();
        buf.extend_from_slice(&[b'v'; 100]);
        assert_eq!(err(&buf), too_large(l.len(), 2_000_002, true, true));
        let l = b"set old 0 0 2000000 noreply\r\n";
        assert_eq!(err(l), too_large(l.len(), 2_000_002, false, true));
        for l in [
            &b"add old 0 0 2000000\r\n"[..],
            b"replace old 0 0 2000000\r\n",
            b"append old 0 0 2000000\r\n",
            b"prepend old 0 0 2000000\r\n",
            b"cas old 0 0 2000000 1\r\n",
        ] {
            let mut want = too_large(l.len(), 2_000_002, true, false);
            want.unlink_key = None;
            assert_eq!(err(l), want);
        }
    }

    #[test]
    fn too_large_threshold_is_max_value() {
        let limits = Limits {
            max_value: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse(b"set a 0 0 10\r\n0123456789\r\n", &limits),
            Ok(Some(_))
        ));
        let l = b"set a 0 0 11\r\n";
        let e = parse(l, &limits).unwrap_err();
        assert_eq!(e.consumed, l.len());
        assert_eq!(e.swallow, 13);
        assert_eq!(e.unlink_key, Some(4..5));
        // Number errors come first: memcached checks the line before the size.
        let l = b"set a 0 x 11\r\n";
        assert_eq!(parse(l, &limits), Err(client(BAD, l.len())));
    }

    #[test]
    fn unlink_key_indexes_the_buffer() {
        let buf = b"  set   mykey 0 0 2000000\r\n";
        let e = err(buf);
        assert_eq!(e.unlink_key.map(|r| &buf[r]), Some(&b"mykey"[..]));
    }
}
