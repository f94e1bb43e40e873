//! Meta commands: `mg <key> <flag>*`, `ms <key> <datalen> <flag>*` + data block,
//! `md <key> <flag>*`, `ma <key> <flag>*`, `mn`, `me <key> [b]`.
//!
//! Follows memcached 1.6.18's `proto_text.c` (`_meta_flag_preparse`, `process_mget_command`,
//! `process_mset_command`, `process_mdelete_command`, `process_marithmetic_command`,
//! `process_meta_command`), checked against the real binary. Each flag is one token whose
//! first byte names it; the rest of the token is its argument. The parser validates every
//! flag (duplicates, unknown letters, bad numbers, modes, opaque length) and decodes base64
//! keys, once, into a typed [`MetaFlags`] whose [`MetaFlag`] list keeps request order: the
//! reply encoders (`meta_reply`) walk it as memcached walks its tokens (so `t` before `T`
//! shows the old TTL).
//!
//! Checks in memcached's order, with its exact error strings:
//! - fewer than 1 argument: `ERROR` (not for `me`, which answers `CLIENT_ERROR bad command
//!   line format`);
//! - key longer than [`Limits::max_key`] (before base64 decoding): `bad command line format`;
//! - more than 19 tokens in all: `options flags are too long` (mg) / `options flags too
//!   long` (ms, md, ma);
//! - ms only: no datalen, or datalen not a number in `0..=INT_MAX-2`: `bad command line
//!   format`. These consume only the line; every later ms error also swallows the data
//!   block (`datalen + 2` bytes, unread);
//! - flag errors: `duplicate flag`, `invalid flag`, `bad token in command line format`
//!   (N/T/R/C numbers), `incorrect length for M token`, `invalid numeric initial value` (J),
//!   `invalid numeric delta value` (D), `error decoding key` (b), `bad command line format`
//!   (F); md and ma answer all of these `invalid or duplicate flag`;
//! - an `O` token longer than 32 bytes: `opaque token too long`; an unknown mode:
//!   `invalid mode for ms M token` / `invalid mode for ma M token`;
//! - ms: datalen above [`Limits::max_value`]: `SERVER_ERROR object too large for cache`;
//!   the data block must end in `\r\n` (`CLIENT_ERROR bad data chunk`).
//!
//! Errors are never silenced by `q`. Divergence: memcached checks the opaque length of `mg`
//! and `ma` only while writing the reply, after `N` may have created the item; we reject the
//! request before touching the store.

use std::borrow::Cow;

use super::num::{strtol, strtoul, strtoull};
use super::{BAD_FORMAT, Line, ParseError};
use crate::protocol::{
    Command, Limits, MetaCmd, MetaFlag, MetaFlags, MetaSetMode, MetaVerb, Reply,
};

/// memcached's `MFLAG_MAX_OPT_LENGTH`: at most this many tokens including its terminal one.
const MAX_OPT_TOKENS: usize = 20;
/// memcached's `MFLAG_MAX_OPAQUE_LENGTH` (the whole `O` token).
const MAX_OPAQUE: usize = 32;

/// Parses `mg|ms|md|ma|me|mn` (the dispatcher checked the verb is `m` + one byte).
pub(super) fn parse<'a>(
    line: &Line<'a>,
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Command<'a>, usize)>, ParseError> {
    let verb = match line.tok(0) {
        b"mn" => return Ok(Some((Command::MetaNoop, line.len))),
        b"mg" => MetaVerb::Get,
        b"ms" => MetaVerb::Set,
        b"md" => MetaVerb::Delete,
        b"ma" => MetaVerb::Arith,
        b"me" => return debug(line).map(|c| Some((c, line.len))),
        _ => return Err(line.error()),
    };
    let n = line.n;
    if n < 2 {
        return Err(line.error());
    }
    let raw_key = line.tok(1);
    let fail = |msg: &'static str| Err(line.client_error(msg, false));
    if raw_key.len() > limits.max_key {
        return fail(BAD_FORMAT);
    }
    if verb == MetaVerb::Set && n == 2 {
        return fail(BAD_FORMAT);
    }
    // memcached's ntokens counts a terminal token.
    if n + 1 > MAX_OPT_TOKENS {
        return fail(if verb == MetaVerb::Get {
            "options flags are too long"
        } else {
            "options flags too long"
        });
    }
    if verb == MetaVerb::Set {
        return parse_set(line, buf, limits, raw_key);
    }
    let new = limits.meta_new;
    let (mut flags, key, mode) = match preparse(line.rest(2), raw_key, new) {
        Ok(ok) => ok,
        Err(msg) if verb == MetaVerb::Get => return fail(msg),
        // 1.6.45's md passes the parser's error on; ma (and 1.6.18's md) do not.
        Err(msg) if new && verb == MetaVerb::Delete => return fail(msg),
        Err(_) => return fail("invalid or duplicate flag"),
    };
    if verb == MetaVerb::Arith {
        match mode {
            None | Some(Some(b'I' | b'+')) => flags.incr = true,
            Some(Some(b'D' | b'-')) => flags.incr = false,
            Some(_) => return fail("invalid mode for ma M token"),
        }
    }
    if opaque_too_long(&flags) {
        return fail("opaque token too long");
    }
    let cmd = MetaCmd {
        verb,
        key,
        flags,
        data: &[],
    };
    Ok(Some((Command::Meta(cmd), line.len)))
}

/// `ms <key> <datalen> <flag>*` and its data block.
fn parse_set<'a>(
    line: &Line<'a>,
    buf: &'a [u8],
    limits: &Limits,
    raw_key: &'a [u8],
) -> Result<Option<(Command<'a>, usize)>, ParseError> {
    let bad = || line.client_error(BAD_FORMAT, false);
    let vlen = strtol(line.tok(2)).ok_or_else(bad)?;
    let Ok(bytes) = usize::try_from(vlen) else {
        return Err(bad());
    };
    if vlen > i32::MAX - 2 {
        return Err(bad());
    }
    // From here on every error swallows the data block.
    let swallow = |msg: &'static str| {
        let mut e = line.client_error(msg, false);
        e.swallow = bytes + 2;
        e
    };
    let (mut flags, key, mode) =
        preparse(line.rest(3), raw_key, limits.meta_new).map_err(swallow)?;
    let too_long = opaque_too_long(&flags);
    flags.set_mode = match mode {
        None | Some(Some(b'S')) => MetaSetMode::Set,
        Some(Some(b'E')) => MetaSetMode::Add,
        Some(Some(b'A')) => MetaSetMode::Append,
        Some(Some(b'P')) => MetaSetMode::Prepend,
        Some(Some(b'R')) => MetaSetMode::Replace,
        Some(_) => return Err(swallow("invalid mode for ms M token")),
    };
    if too_long {
        return Err(swallow("opaque token too long"));
    }
    if bytes > limits.max_value {
        let mut e = line.fail(Reply::ServerError("object too large for cache"));
        e.swallow = bytes + 2;
        // memcached unlinks the old item in every mode; a base64 key is not in the buffer
        // in its decoded form, so it cannot be named here (the old item survives).
        e.unlink_key = (!flags.base64).then(|| line.range(1));
        return Err(e);
    }
    // Meta errors are never silenced.
    let Some((data, frame_end)) = line.data_block(buf, bytes, false)? else {
        return Ok(None);
    };
    let cmd = MetaCmd {
        verb: MetaVerb::Set,
        key,
        flags,
        data,
    };
    Ok(Some((Command::Meta(cmd), frame_end)))
}

/// `me <key> [b]`: memcached only looks at a third token that is exactly `b`.
fn debug<'a>(line: &Line<'a>) -> Result<Command<'a>, ParseError> {
    let bad = || line.client_error(BAD_FORMAT, false);
    let raw = line.tok(1);
    if line.n < 2 || raw.len() > 250 {
        return Err(bad());
    }
    let mut flags = MetaFlags::default();
    let key = if line.n >= 3 && line.tok(2) == b"b" {
        flags.base64 = true;
        Cow::Owned(base64_decode(raw).ok_or_else(bad)?)
    } else {
        Cow::Borrowed(raw)
    };
    Ok(Command::Meta(MetaCmd {
        verb: MetaVerb::Debug,
        key,
        flags,
        data: &[],
    }))
}

/// Whether the whole `O` token is longer than memcached's limit.
fn opaque_too_long(flags: &MetaFlags<'_>) -> bool {
    flags.opaque.is_some_and(|o| 1 + o.len() > MAX_OPAQUE)
}

/// The typed flags, the (decoded) key and, if an `M` token was given, the byte after `M`
/// (`None` for a bare `M`, which 1.6.18 rejects by its length and 1.6.45 as a bad mode).
type Preparsed<'a> = (MetaFlags<'a>, Cow<'a, [u8]>, Option<Option<u8>>);

/// memcached's `_meta_flag_preparse`: validates the flag tokens, returns the typed flags,
/// the (decoded) key and the byte after `M` (if an `M` token was given; its length was
/// checked), or the error string.
///
/// `new` (`--meta-protocol 1.6.45`): also `E<cas>` (a number of at most 22 digits, no sign,
/// as mcmc's `mcmc_toktou64`) and `x`, and no length check on `M` (1.6.45 reads the byte
/// after it and ignores the rest).
fn preparse<'a>(
    tokens: &'a [u8],
    raw_key: &'a [u8],
    new: bool,
) -> Result<Preparsed<'a>, &'static str> {
    let mut f = MetaFlags {
        delta: 1,
        incr: true,
        new,
        ..MetaFlags::default()
    };
    let mut key = Cow::Borrowed(raw_key);
    let mut mode = None;
    let mut seen = [false; 127];
    let mut err: Option<&'static str> = None;
    let mut errstr = BAD_FORMAT;
    let mut set_err = |msg: Option<&'static str>, errstr: &mut &'static str| {
        if let Some(m) = msg {
            *errstr = m;
        }
        err = Some(*errstr);
    };
    let ttl = |t: &[u8]| strtol(&t[1..]).map(i64::from);
    for tok in tokens.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
        let o = tok[0];
        if o >= 127 || seen[o as usize] {
            return Err("duplicate flag");
        }
        seen[o as usize] = true;
        let arg = &tok[1..];
        const BAD_TOKEN: &str = "bad token in command line format";
        let typed = match o {
            b'b' => {
                f.base64 = true;
                match base64_decode(raw_key) {
                    Some(k) => key = Cow::Owned(k),
                    None => {
                        key = Cow::Borrowed(&[]);
                        set_err(Some("error decoding key"), &mut errstr);
                    }
                }
                MetaFlag::Base64
            }
            b'N' => {
                match ttl(tok) {
                    Some(v) => f.vivify = Some(v),
                    None => set_err(Some(BAD_TOKEN), &mut errstr),
                }
                MetaFlag::Vivify
            }
            b'T' => {
                match ttl(tok) {
                    Some(v) => f.ttl = Some(v),
                    None => set_err(Some(BAD_TOKEN), &mut errstr),
                }
                MetaFlag::SetTtl
            }
            b'R' => {
                match ttl(tok) {
                    Some(v) => f.recache = Some(v),
                    None => set_err(Some(BAD_TOKEN), &mut errstr),
                }
                MetaFlag::Recache
            }
            b'O' => {
                f.opaque = Some(arg);
                MetaFlag::Opaque
            }
            b'P' | b'L' => MetaFlag::Proxy,
            b'k' => MetaFlag::Key,
            b's' => MetaFlag::Size,
            b't' => MetaFlag::Ttl,
            b'c' => MetaFlag::Cas,
            b'f' => MetaFlag::ClientFlags,
            b'l' => MetaFlag::LastAccess,
            b'h' => MetaFlag::Hit,
            b'v' => {
                f.value = true;
                MetaFlag::Value
            }
            b'u' => {
                f.no_update = true;
                MetaFlag::NoUpdate
            }
            b'q' => {
                f.quiet = true;
                MetaFlag::Quiet
            }
            b'F' => {
                match strtoul(arg) {
                    Some(v) => f.client_flags = v,
                    None => set_err(None, &mut errstr),
                }
                MetaFlag::SetClientFlags
            }
            b'C' => {
                match strtoull(arg) {
                    Some(v) => f.cas = Some(v),
                    None => set_err(Some(BAD_TOKEN), &mut errstr),
                }
                MetaFlag::CompareCas
            }
            b'M' => {
                if tok.len() != 2 && !new {
                    set_err(Some("incorrect length for M token"), &mut errstr);
                }
                mode = Some(arg.first().copied());
                MetaFlag::Mode
            }
            b'E' if new => {
                match mcmc_u64(arg) {
                    Some(v) => f.cas_in = Some(v),
                    None => set_err(Some(BAD_TOKEN), &mut errstr),
                }
                MetaFlag::SetCas
            }
            b'x' if new => {
                f.remove_value = true;
                MetaFlag::RemoveValue
            }
            b'J' => {
                match strtoull(arg) {
                    Some(v) => f.initial = v,
                    None => set_err(Some("invalid numeric initial value"), &mut errstr),
                }
                MetaFlag::Initial
            }
            b'D' => {
                match strtoull(arg) {
                    Some(v) => f.delta = v,
                    None => set_err(Some("invalid numeric delta value"), &mut errstr),
                }
                MetaFlag::Delta
            }
            b'I' => {
                f.invalidate = true;
                MetaFlag::Invalidate
            }
            _ => return Err("invalid flag"),
        };
        // The caller allows at most `MAX_META_FLAGS` tokens.
        if !f.list.push(typed) {
            return Err("invalid flag");
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok((f, key, mode)),
    }
}

/// mcmc's `mcmc_toktou64` on a flag's argument: 1 to 22 ASCII digits, no sign, no overflow.
fn mcmc_u64(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() || arg.len() > 22 || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    arg.iter().try_fold(0u64, |sum, &d| {
        sum.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// memcached's `base64_decode` (Jouni Malinen's): bytes outside the alphabet are skipped,
/// the rest must come in groups of 4, decoding stops after the first group with padding.
/// `None` where memcached returns 0 (also for an empty result).
pub fn base64_decode(src: &[u8]) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u8> {
        match c {
            b'=' => Some(0),
            _ => B64.iter().position(|&b| b == c).map(|p| p as u8),
        }
    };
    let count = src.iter().filter(|&&c| val(c).is_some()).count();
    if count == 0 || count % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(count / 4 * 3);
    let mut block = [0u8; 4];
    let mut n = 0;
    let mut pad = 0;
    for &c in src {
        let Some(v) = val(c) else { continue };
        if c == b'=' {
            pad += 1;
        }
        block[n] = v;
        n += 1;
        if n == 4 {
            out.push((block[0] << 2) | (block[1] >> 4));
            out.push((block[1] << 4) | (block[2] >> 2));
            out.push((block[2] << 6) | block[3]);
            n = 0;
            if pad > 0 {
                match pad {
                    1 => {
                        out.pop();
                    }
                    2 => {
                        out.truncate(out.len() - 2);
                    }
                    _ => return None,
                }
                break;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Standard base64 with padding and no line breaks (memcached's `base64_encode`).
pub fn base64_encode(out: &mut Vec<u8>, src: &[u8]) {
    for chunk in src.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        out.push(B64[(b[0] >> 2) as usize]);
        out.push(B64[(((b[0] & 3) << 4) | (b[1] >> 4)) as usize]);
        out.push(if chunk.len() > 1 {
            B64[(((b[1] & 0xf) << 2) | (b[2] >> 6)) as usize]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            B64[(b[2] & 0x3f) as usize]
        } else {
            b'='
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{client, cmd, err, error, p};
    use super::*;
    use crate::protocol::Limits;

    fn meta(buf: &[u8]) -> MetaCmd<'_> {
        match cmd(buf) {
            Command::Meta(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn swallowed(msg: &'static str, consumed: usize, swallow: usize) -> ParseError {
        let mut e = client(msg, consumed);
        e.swallow = swallow;
        e
    }

    #[test]
    fn mn_and_unknown_m_verbs() {
        assert_eq!(cmd(b"mn\r\n"), Command::MetaNoop);
        // memcached: `mn x y` -> MN.
        assert_eq!(cmd(b"mn x y\r\n"), Command::MetaNoop);
        for l in [
            &b"mx\r\n"[..],
            b"mz a\r\n",
            b"mg\r\n",
            b"ms\r\n",
            b"md\r\n",
            b"ma\r\n",
        ] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn mg_every_flag() {
        let m = meta(b"mg foo v k f s t c h l O123 q u P L\r\n");
        assert_eq!(m.verb, MetaVerb::Get);
        assert_eq!(&*m.key, b"foo");
        assert!(m.flags.value && m.flags.quiet && m.flags.no_update && !m.flags.base64);
        use MetaFlag::*;
        assert_eq!(
            m.flags.iter().collect::<Vec<_>>(),
            [
                Value,
                Key,
                ClientFlags,
                Size,
                Ttl,
                Cas,
                Hit,
                LastAccess,
                Opaque,
                Quiet,
                NoUpdate,
                Proxy,
                Proxy
            ]
        );
        assert_eq!(m.flags.opaque, Some(&b"123"[..]));
        let m = meta(b"mg foo N30 R-5 T0\r\n");
        assert_eq!(
            (m.flags.vivify, m.flags.recache, m.flags.ttl),
            (Some(30), Some(-5), Some(0))
        );
        assert_eq!(
            m.flags.iter().collect::<Vec<_>>(),
            [MetaFlag::Vivify, MetaFlag::Recache, MetaFlag::SetTtl]
        );
        // `N` changes the exptime only on an item this request created.
        assert_eq!(m.flags.exptime_changes(true).collect::<Vec<_>>(), [30, 0]);
        assert_eq!(m.flags.exptime_changes(false).collect::<Vec<_>>(), [0]);
        // Plain `mg foo` (memcached: HD on a hit).
        let m = meta(b"mg foo\r\n");
        assert_eq!(m.flags.iter().count(), 0);
        assert_eq!(m.flags.opaque, None);
    }

    #[test]
    fn base64_keys() {
        assert_eq!(&*meta(b"mg Zm9v b\r\n").key, b"foo");
        // memcached skips bytes outside the alphabet and stops after padding.
        assert_eq!(&*meta(b"mg Y!Q== b\r\n").key, b"a");
        assert_eq!(&*meta(b"mg YQ==YQ== b\r\n").key, b"a");
        assert_eq!(&*meta(b"mg YQ=a b\r\n").key, b"a\0");
        let l = b"mg foo b\r\n";
        assert_eq!(err(l), client("error decoding key", l.len()));
        for l in [&b"mg !!!! b\r\n"[..], b"mg Y=== b\r\n", b"mg ==== b\r\n"] {
            assert_eq!(err(l), client("error decoding key", l.len()));
        }
        // Key length is checked before decoding.
        let mut l = b"mg ".to_vec();
        l.extend_from_slice(&b"YWFh".repeat(63));
        l.extend_from_slice(b" b\r\n");
        assert_eq!(err(&l), client(BAD_FORMAT, l.len()));
        let mut enc = Vec::new();
        base64_encode(&mut enc, &(0..100u8).collect::<Vec<_>>());
        assert_eq!(base64_decode(&enc), Some((0..100u8).collect()));
        for (raw, b64) in [
            (&b"a"[..], &b"YQ=="[..]),
            (b"ab", b"YWI="),
            (b"abc", b"YWJj"),
        ] {
            let mut e = Vec::new();
            base64_encode(&mut e, raw);
            assert_eq!(e, b64);
        }
    }

    #[test]
    fn flag_errors_mg() {
        for (l, msg) in [
            (&b"mg foo Q\r\n"[..], "invalid flag"),
            (b"mg foo E5\r\n", "invalid flag"),
            (b"mg foo x\r\n", "invalid flag"),
            (b"mg foo v v\r\n", "duplicate flag"),
            (b"mg foo \xff\r\n", "duplicate flag"),
            (b"mg foo Tx\r\n", "bad token in command line format"),
            (b"mg foo N\r\n", "bad token in command line format"),
            (b"mg foo R1x\r\n", "bad token in command line format"),
            (
                b"mg foo O012345678901234567890123456789012\r\n",
                "opaque token too long",
            ),
            (
                b"mg a O1 a b c d e f g h i j k l m n o p q\r\n",
                "options flags are too long",
            ),
        ] {
            assert_eq!(
                err(l),
                client(msg, l.len()),
                "{}",
                String::from_utf8_lossy(l)
            );
        }
        // 19 tokens (17 flags) are fine.
        let m = meta(b"mg a s t c f h l k v O1 q u P L N0 R0 T0 I\r\n");
        assert_eq!(m.flags.iter().count(), crate::protocol::MAX_META_FLAGS);
        let mut l = b"mg ".to_vec();
        l.extend_from_slice(&[b'k'; 251]);
        l.extend_from_slice(b" v\r\n");
        assert_eq!(err(&l), client(BAD_FORMAT, l.len()));
    }

    #[test]
    fn md_ma_flag_errors_are_generic() {
        for l in [
            &b"md s x\r\n"[..],
            b"md s E5\r\n",
            b"md s b\r\n",
            b"md s q q\r\n",
            b"ma n Dx\r\n",
            b"ma n Jx N0\r\n",
            b"ma n Mxx\r\n",
        ] {
            assert_eq!(err(l), client("invalid or duplicate flag", l.len()));
        }
        let l = b"ma n MX\r\n";
        assert_eq!(err(l), client("invalid mode for ma M token", l.len()));
        let l = b"md a 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\r\n";
        assert_eq!(err(l), client("options flags too long", l.len()));
    }

    #[test]
    fn md_and_ma_flags() {
        let m = meta(b"md s I T30 Oz k q C5\r\n");
        assert_eq!(m.verb, MetaVerb::Delete);
        assert!(m.flags.invalidate && m.flags.quiet);
        assert_eq!((m.flags.ttl, m.flags.cas), (Some(30), Some(5)));
        let m = meta(b"ma n\r\n");
        assert_eq!((m.flags.incr, m.flags.delta, m.flags.initial), (true, 1, 0));
        let m = meta(b"ma n D5 MD J7 N0 v t c\r\n");
        assert_eq!(
            (m.flags.incr, m.flags.delta, m.flags.initial),
            (false, 5, 7)
        );
        assert_eq!(m.flags.vivify, Some(0));
        assert!(!meta(b"ma n M-\r\n").flags.incr);
        assert!(meta(b"ma n M+\r\n").flags.incr);
        assert!(meta(b"ma n MI\r\n").flags.incr);
    }

    #[test]
    fn ms_frames_and_modes() {
        let m = meta(b"ms foo 2 T10 F5 c k MA I C9\r\nhi\r\n");
        assert_eq!(
            (m.verb, &*m.key, m.data),
            (MetaVerb::Set, &b"foo"[..], &b"hi"[..])
        );
        assert_eq!(m.flags.set_mode, MetaSetMode::Append);
        assert_eq!(
            (m.flags.ttl, m.flags.client_flags, m.flags.cas),
            (Some(10), 5, Some(9))
        );
        assert!(m.flags.invalidate);
        assert_eq!(
            m.flags.iter().collect::<Vec<_>>(),
            [
                MetaFlag::SetTtl,
                MetaFlag::SetClientFlags,
                MetaFlag::Cas,
                MetaFlag::Key,
                MetaFlag::Mode,
                MetaFlag::Invalidate,
                MetaFlag::CompareCas
            ]
        );
        for (f, mode) in [
            ("", MetaSetMode::Set),
            (" MS", MetaSetMode::Set),
            (" ME", MetaSetMode::Add),
            (" MP", MetaSetMode::Prepend),
            (" MR", MetaSetMode::Replace),
        ] {
            let l = format!("ms k 1{f}\r\nx\r\n");
            assert_eq!(meta(l.as_bytes()).flags.set_mode, mode);
        }
        // memcached: flags are truncated to 32 bits.
        assert_eq!(meta(b"ms b 2 F4294967296\r\nbb\r\n").flags.client_flags, 0);
        assert_eq!(&*meta(b"ms Zm9v 2 b\r\nxy\r\n").key, b"foo");
    }

    #[test]
    fn ms_errors_before_datalen_consume_the_line() {
        for l in [
            &b"ms foo\r\n"[..],
            b"ms foo x\r\n",
            b"ms b -1\r\n",
            b"ms b 2147483646\r\n",
        ] {
            assert_eq!(err(l), client(BAD_FORMAT, l.len()));
        }
        let mut l = b"ms ".to_vec();
        l.extend_from_slice(&[b'k'; 251]);
        l.extend_from_slice(b" 1\r\n");
        assert_eq!(err(&l), client(BAD_FORMAT, l.len()));
    }

    #[test]
    fn ms_errors_after_datalen_swallow_the_data() {
        for (l, msg) in [
            (&b"ms foo 2 Z\r\n"[..], "invalid flag"),
            (b"ms foo 2 MX\r\n", "invalid mode for ms M token"),
            (b"ms foo 2 MSS\r\n", "incorrect length for M token"),
            (b"ms a 2 q q\r\n", "duplicate flag"),
            (b"ms b 2 Tx\r\n", "bad token in command line format"),
            (b"ms b 2 Fx\r\n", BAD_FORMAT),
            (b"ms b 2 S\r\n", "invalid flag"),
            (b"ms a 2 k b\r\n", "error decoding key"),
            (
                b"ms b 2 O01234567890123456789012345678901\r\n",
                "opaque token too long",
            ),
        ] {
            assert_eq!(
                err(l),
                swallowed(msg, l.len(), 4),
                "{}",
                String::from_utf8_lossy(l)
            );
        }
        // The mode error wins over a long opaque.
        let l = b"ms b 2 O01234567890123456789012345678901 MX\r\n";
        assert_eq!(err(l), swallowed("invalid mode for ms M token", l.len(), 4));
    }

    #[test]
    fn ms_too_large_and_bad_chunk() {
        let limits = Limits {
            max_value: 10,
            ..Limits::default()
        };
        let l = b"ms big 11 k\r\n";
        let e = super::super::parse(l, &limits).unwrap_err();
        assert_eq!(
            e.reply,
            Some(Reply::ServerError("object too large for cache"))
        );
        assert_eq!((e.consumed, e.swallow), (l.len(), 13));
        assert_eq!(e.unlink_key, Some(3..6));
        let e = super::super::parse(b"ms YmlnZ2Vy 11 b\r\n", &limits).unwrap_err();
        assert_eq!(e.unlink_key, None);
        let l = b"ms kk 3\r\nabcde\r\n";
        let mut want = client("bad data chunk", 14);
        want.swallow = 0;
        assert_eq!(err(l), want);
    }

    #[test]
    fn flags_added_after_1_6_18() {
        let new = Limits {
            meta_new: true,
            ..Limits::default()
        };
        let parse = |l: &'static [u8]| super::super::parse(l, &new);
        let meta = |l: &'static [u8]| match parse(l) {
            Ok(Some((Command::Meta(m), _))) => m,
            other => panic!("{other:?}"),
        };
        let m = meta(b"md k x E0000000000000000000042 q\r\n");
        assert!(m.flags.new && m.flags.remove_value && m.flags.quiet);
        assert_eq!(m.flags.cas_in, Some(42));
        assert_eq!(
            m.flags.iter().collect::<Vec<_>>(),
            [MetaFlag::RemoveValue, MetaFlag::SetCas, MetaFlag::Quiet]
        );
        assert_eq!(
            meta(b"ms k 1 E18446744073709551615\r\nx\r\n").flags.cas_in,
            Some(u64::MAX)
        );
        // 1.6.45 reads one byte after M and ignores the rest.
        assert_eq!(
            meta(b"ms k 2 MAX\r\nhi\r\n").flags.set_mode,
            MetaSetMode::Append
        );
        for (l, msg) in [
            (&b"mg k E\r\n"[..], "bad token in command line format"),
            (b"mg k E-1\r\n", "bad token in command line format"),
            (b"mg k E+1\r\n", "bad token in command line format"),
            (
                b"mg k E18446744073709551616\r\n",
                "bad token in command line format",
            ),
            (
                b"mg k E00000000000000000000001\r\n",
                "bad token in command line format",
            ),
            (b"mg k x x\r\n", "duplicate flag"),
            // md passes the parser's error on in 1.6.45; ma still does not.
            (b"md k Tx\r\n", "bad token in command line format"),
            (b"md k Q\r\n", "invalid flag"),
            (b"ma k Ex\r\n", "invalid or duplicate flag"),
            (b"ma k M\r\n", "invalid mode for ma M token"),
        ] {
            assert_eq!(parse(l), Err(client(msg, l.len())), "{l:?}");
        }
        let l = b"ms k 1 M\r\nx\r\n";
        assert_eq!(
            parse(l),
            Err(swallowed("invalid mode for ms M token", 10, 3))
        );
        // Without --meta-protocol 1.6.45: 1.6.18's answers.
        assert_eq!(err(b"md k x\r\n"), client("invalid or duplicate flag", 8));
        assert_eq!(err(b"mg k E5\r\n"), client("invalid flag", 9));
        assert!(!super::tests::meta(b"mg k C5\r\n").flags.new);
    }

    #[test]
    fn me_forms() {
        let m = meta(b"me foo\r\n");
        assert_eq!((m.verb, &*m.key), (MetaVerb::Debug, &b"foo"[..]));
        assert_eq!(&*meta(b"me YQ== b\r\n").key, b"a");
        // Anything but an exact `b` is ignored.
        assert_eq!(&*meta(b"me YQ== bx q\r\n").key, b"YQ==");
        for l in [&b"me\r\n"[..], b"me a b\r\n"] {
            assert_eq!(err(l), client(BAD_FORMAT, l.len()));
        }
    }

    #[test]
    fn every_split_needs_more_then_parses_the_same() {
        for full in [
            &b"mg foo v k c t O1\r\n"[..],
            b"ms foo 5 T0 F3 c\r\nhello\r\n",
            b"md foo I T5 q\r\n",
            b"ma foo N0 J3 D2 v\r\n",
            b"mn\r\n",
            b"me YQ== b\r\n",
            b"ms Zm9v 0 b k\r\n\r\n",
        ] {
            let whole = cmd(full);
            for i in 0..full.len() {
                assert_eq!(p(&full[..i]), Ok(None), "prefix {i} of {full:?}");
            }
            let mut more = full.to_vec();
            more.extend_from_slice(b"mn\r\n");
            assert_eq!(p(&more), Ok(Some((whole, full.len()))));
        }
    }
}
