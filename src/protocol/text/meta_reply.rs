//! Encoders for meta replies (`mg ms md ma me mn`), byte for byte like memcached 1.6.18's
//! `proto_text.c`, from the typed request flags ([`MetaFlags`]) and plain data about the
//! item as the store reported it ([`MetaItem`], [`MetaDebugItem`]).
//!
//! Reply shapes: a status (`VA <len>`, `HD`, `EN`, `NS`, `EX`, `NF`) followed by the
//! requested return flags in request order, each as ` <letter><value>` (` k<key>` is
//! base64 encoded and followed by ` b` for a binary key). After them an `mg` hit adds
//! ` Z` (a win token was already handed out), ` X` (stale) and ` W` (this client won the
//! right to recache), in that order, never ` W` together with ` Z`.
//!
//! Quiet mode (`q`) drops `EN` (an `mg` miss), `HD` (an `ms`/`md` success) and an `ma` hit
//! unless this request created the item; an `mg` hit and every other status or error is
//! always sent.

use super::encode::{self, put_u64};
use super::meta::base64_encode;
use crate::protocol::{MetaFlag, MetaFlags, Reply};

/// An item as a meta command saw it: plain data copied from the store's entry.
///
/// A request's `T` and `N` change the exptime while memcached walks the flags, so a `t` or
/// `R` sees the exptime left by the changes before it: index `i` of `ttl` and `recache_due`
/// holds the state after the first `i` changes of [`MetaFlags::exptime_changes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaItem<'a> {
    /// The key as `k` returns it (decoded; `key_binary` asks for base64).
    pub key: &'a [u8],
    /// Stored with (or asked with) a base64 key.
    pub key_binary: bool,
    /// Bytes of the value (`s`, and `VA <len>`).
    pub value_len: usize,
    /// `f`.
    pub client_flags: u32,
    /// `c`.
    pub cas: u64,
    /// `l`: seconds since the last access before this request.
    pub last_access: u32,
    /// `h`: fetched before this request.
    pub fetched: bool,
    /// Created by this request (`N`, vivify on miss).
    pub created: bool,
    /// Marked stale by an invalidation.
    pub stale: bool,
    /// A client already won the right to recache it.
    pub token_sent: bool,
    /// `t`: remaining seconds to live (`-1`: never), after 0, 1 and 2 exptime changes.
    pub ttl: [i64; 3],
    /// memcached's `R` rule (no token sent, not created, expires before `R` would have
    /// it), after 0, 1 and 2 exptime changes; false without `R`.
    pub recache_due: [bool; 3],
    /// 1.6.45's `mg ... C<cas>` matched the item's CAS: `HD` without the value even with `v`.
    pub cas_matched: bool,
}

/// What `me` shows about an item (memcached's `process_meta_command`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaDebugItem<'a> {
    pub key: &'a [u8],
    /// Shown base64 encoded.
    pub key_binary: bool,
    /// memcached's `exp`: `current_time - exptime` (negative while the item lives), `-1`
    /// for never.
    pub exp: i64,
    /// `la`: seconds since the last access.
    pub last_access: u32,
    pub cas: u64,
    /// `fetch=yes|no`.
    pub fetched: bool,
    /// `cls`: slab class id.
    pub class_id: usize,
    /// `size`: item size in bytes.
    pub item_size: usize,
}

/// A status without an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaStatus {
    /// `HD`: stored (`ms`), deleted or invalidated (`md`). Dropped under `q`.
    Stored,
    /// `NS`: not stored.
    NotStored,
    /// `EX`: CAS mismatch.
    Exists,
    /// `NF`: not found.
    NotFound,
    /// `EN`: miss (`mg`, `me`). Dropped under `q`.
    Miss,
}

/// A meta command's error reply (never dropped by `q`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// `ms`: `SERVER_ERROR object too large for cache`.
    TooLarge,
    /// `ms`: `SERVER_ERROR out of memory storing object`.
    NoMemoryStoring,
    /// `ma`: `CLIENT_ERROR cannot increment or decrement non-numeric value`.
    NonNumeric,
    /// `ma`: `SERVER_ERROR out of memory`.
    NoMemory,
}

/// Appends `MN\r\n`, the answer to `mn`.
pub fn noop(out: &mut Vec<u8>) {
    out.extend_from_slice(b"MN\r\n");
}

/// Appends a status line: the status, then ` O<opaque>`, ` k<key>` and (with `cas`, for
/// `ms`) ` c<cas>` in request order, other flags ignored. `key` is the request's key,
/// base64 encoded when the request said `b`. Under `q`, `HD` and `EN` are dropped.
pub fn status(
    out: &mut Vec<u8>,
    f: &MetaFlags<'_>,
    status: MetaStatus,
    key: &[u8],
    cas: Option<u64>,
) {
    status_with(out, f, status, key, cas, None);
}

/// `ms`'s status line: [`status`] with its ` c<cas>` and, parsed as 1.6.45, ` s<size>`
/// (the stored value's length: the joined one after append/prepend, else the data's).
pub fn set_status(
    out: &mut Vec<u8>,
    f: &MetaFlags<'_>,
    status: MetaStatus,
    key: &[u8],
    cas: u64,
    size: usize,
) {
    status_with(out, f, status, key, Some(cas), f.new.then_some(size));
}

fn status_with(
    out: &mut Vec<u8>,
    f: &MetaFlags<'_>,
    status: MetaStatus,
    key: &[u8],
    cas: Option<u64>,
    size: Option<usize>,
) {
    let word: &[u8] = match status {
        MetaStatus::Stored | MetaStatus::Miss if f.quiet => return,
        MetaStatus::Stored => b"HD",
        MetaStatus::NotStored => b"NS",
        MetaStatus::Exists => b"EX",
        MetaStatus::NotFound => b"NF",
        MetaStatus::Miss => b"EN",
    };
    out.extend_from_slice(word);
    for flag in f.iter() {
        match flag {
            MetaFlag::Opaque => put_opaque(out, f),
            MetaFlag::Key => put_key(out, key, f.base64),
            MetaFlag::Cas => {
                if let Some(c) = cas {
                    put_flag(out, b'c', c);
                }
            }
            MetaFlag::Size => {
                if let Some(n) = size {
                    put_flag(out, b's', n as u64);
                }
            }
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends an `mg` hit up to its value: `VA <len>` (with `v`) or `HD`, the return flags
/// `s t c f l h O k` in request order, then ` Z`, ` X`, ` W` (see the module doc), and
/// `\r\n`. The caller sends the value and its `\r\n` after it. Returns whether a win token
/// was handed out (` W`), which the caller records on the item.
///
/// A `T`, or an `N` on a created item, moves to the next `ttl`/`recache_due` entry; an `N`
/// on a created item, or an `R` whose rule holds, wins the token.
pub fn get_hit(out: &mut Vec<u8>, f: &MetaFlags<'_>, item: &MetaItem<'_>) -> bool {
    status_va(out, f.value && !item.cas_matched, item.value_len);
    let mut changes = 0;
    let mut won = false;
    for flag in f.iter() {
        match flag {
            MetaFlag::SetTtl | MetaFlag::Vivify if changes_exptime(f, flag, item.created) => {
                changes = (changes + 1).min(2);
                won |= flag == MetaFlag::Vivify;
            }
            MetaFlag::Recache => won |= item.recache_due[changes],
            MetaFlag::Size => put_flag(out, b's', item.value_len as u64),
            MetaFlag::Ttl => put_ttl(out, item.ttl[changes]),
            MetaFlag::Cas => put_flag(out, b'c', item.cas),
            MetaFlag::ClientFlags => put_flag(out, b'f', u64::from(item.client_flags)),
            MetaFlag::LastAccess => put_flag(out, b'l', u64::from(item.last_access)),
            MetaFlag::Hit => put_flag(out, b'h', u64::from(item.fetched)),
            MetaFlag::Opaque => put_opaque(out, f),
            MetaFlag::Key => put_key(out, item.key, item.key_binary),
            _ => {}
        }
    }
    // memcached: Z before X, and no W together with Z.
    if item.token_sent {
        out.extend_from_slice(b" Z");
    }
    if item.stale {
        out.extend_from_slice(b" X");
        won |= !item.token_sent;
    }
    if won {
        out.extend_from_slice(b" W");
    }
    out.extend_from_slice(b"\r\n");
    won
}

/// Appends an `ma` hit: `VA <len>` (with `v`) or `HD`, the return flags `c t O k` in request
/// order (`t` as for [`get_hit`]), `\r\n`, and with `v` the number's `digits` and `\r\n`.
/// `item.value_len` is ignored (the length is `digits.len()`). Under `q` nothing is sent
/// unless the request created the item (1.6.18; 1.6.45 sends nothing either way).
pub fn arith_hit(out: &mut Vec<u8>, f: &MetaFlags<'_>, item: &MetaItem<'_>, digits: &[u8]) {
    if f.quiet && (f.new || !item.created) {
        return;
    }
    status_va(out, f.value, digits.len());
    let mut changes = 0;
    for flag in f.iter() {
        match flag {
            MetaFlag::SetTtl | MetaFlag::Vivify if changes_exptime(f, flag, item.created) => {
                changes = (changes + 1).min(2);
            }
            MetaFlag::Cas => put_flag(out, b'c', item.cas),
            MetaFlag::Ttl => put_ttl(out, item.ttl[changes]),
            MetaFlag::Opaque => put_opaque(out, f),
            MetaFlag::Key => put_key(out, item.key, item.key_binary),
            _ => {}
        }
    }
    if f.value {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(digits);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `me`'s line: `ME <key> exp=<n> la=<n> cas=<n> fetch=<yes|no> cls=<n> size=<n>`.
pub fn debug(out: &mut Vec<u8>, item: &MetaDebugItem<'_>) {
    out.extend_from_slice(b"ME ");
    if item.key_binary {
        base64_encode(out, item.key);
    } else {
        out.extend_from_slice(item.key);
    }
    out.extend_from_slice(b" exp=");
    put_i64(out, item.exp);
    out.extend_from_slice(b" la=");
    put_u64(out, u64::from(item.last_access));
    out.extend_from_slice(b" cas=");
    put_u64(out, item.cas);
    out.extend_from_slice(if item.fetched {
        b" fetch=yes cls="
    } else {
        b" fetch=no cls="
    });
    put_u64(out, item.class_id as u64);
    out.extend_from_slice(b" size=");
    put_u64(out, item.item_size as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `me`'s miss: `EN\r\n`.
pub fn debug_miss(out: &mut Vec<u8>) {
    out.extend_from_slice(b"EN\r\n");
}

/// Appends an error reply.
pub fn error(out: &mut Vec<u8>, e: MetaError) {
    let r = match e {
        MetaError::TooLarge => Reply::TOO_LARGE,
        MetaError::NoMemoryStoring => Reply::OUT_OF_MEMORY_STORING,
        MetaError::NonNumeric => Reply::NON_NUMERIC,
        MetaError::NoMemory => Reply::OUT_OF_MEMORY,
    };
    encode::reply(out, &r);
}

/// Whether `flag` is one of [`MetaFlags::exptime_changes`].
fn changes_exptime(f: &MetaFlags<'_>, flag: MetaFlag, created: bool) -> bool {
    match flag {
        MetaFlag::SetTtl => f.ttl.is_some(),
        MetaFlag::Vivify => created && f.vivify.is_some(),
        _ => false,
    }
}

/// `VA <len>` or `HD`.
fn status_va(out: &mut Vec<u8>, value: bool, len: usize) {
    if value {
        out.extend_from_slice(b"VA ");
        put_u64(out, len as u64);
    } else {
        out.extend_from_slice(b"HD");
    }
}

/// ` k<key>`, base64 encoded and followed by ` b` for binary keys (memcached's `META_KEY`).
fn put_key(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b" k");
    if binary {
        base64_encode(out, key);
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key);
    }
}

/// ` O<opaque>`.
fn put_opaque(out: &mut Vec<u8>, f: &MetaFlags<'_>) {
    out.extend_from_slice(b" O");
    out.extend_from_slice(f.opaque.unwrap_or_default());
}

/// ` <letter><number>`.
fn put_flag(out: &mut Vec<u8>, letter: u8, n: u64) {
    out.push(b' ');
    out.push(letter);
    put_u64(out, n);
}

/// ` t<ttl>`, `-1` for never (memcached prints nothing else negative).
fn put_ttl(out: &mut Vec<u8>, ttl: i64) {
    out.extend_from_slice(b" t");
    if ttl < 0 {
        out.extend_from_slice(b"-1");
    } else {
        put_u64(out, ttl as u64);
    }
}

fn put_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    put_u64(out, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::text::parse;
    use crate::protocol::{Command, Limits, MetaCmd};

    fn meta(line: &[u8]) -> MetaCmd<'_> {
        match parse(line, &Limits::default()) {
            Ok(Some((Command::Meta(m), _))) => m,
            other => panic!("{other:?}"),
        }
    }

    fn item() -> MetaItem<'static> {
        MetaItem {
            key: b"foo",
            value_len: 5,
            client_flags: 7,
            cas: 42,
            last_access: 3,
            fetched: true,
            ttl: [-1; 3],
            ..MetaItem::default()
        }
    }

    fn hit(line: &[u8], item: &MetaItem<'_>) -> (String, bool) {
        let m = meta(line);
        let mut out = b"x".to_vec();
        let won = get_hit(&mut out, &m.flags, item);
        (String::from_utf8(out.split_off(1)).unwrap(), won)
    }

    fn st(line: &[u8], s: MetaStatus, cas: Option<u64>) -> String {
        let m = meta(line);
        let mut out = Vec::new();
        status(&mut out, &m.flags, s, &m.key, cas);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ms_size_and_mg_cas_match_as_1_6_45() {
        let new = Limits {
            meta_new: true,
            ..Limits::default()
        };
        let meta_new = |l: &'static [u8]| match parse(l, &new) {
            Ok(Some((Command::Meta(m), _))) => m,
            other => panic!("{other:?}"),
        };
        let line = b"ms k 2 s c Oz k\r\nhi\r\n";
        let mut out = Vec::new();
        let m = meta_new(line);
        set_status(&mut out, &m.flags, MetaStatus::Stored, &m.key, 9, 7);
        assert_eq!(out, b"HD s7 c9 Oz kk\r\n");
        // 1.6.18 ignores `s` on ms.
        let mut out = Vec::new();
        let m = meta(line);
        set_status(&mut out, &m.flags, MetaStatus::Stored, &m.key, 9, 7);
        assert_eq!(out, b"HD c9 Oz kk\r\n");
        let matched = MetaItem {
            cas_matched: true,
            ..item()
        };
        let m = meta_new(b"mg foo v s c\r\n");
        let mut out = Vec::new();
        get_hit(&mut out, &m.flags, &matched);
        assert_eq!(out, b"HD s5 c42\r\n");
        // ma q: 1.6.45 is silent even for an item it created.
        let m = meta_new(b"ma n q N0 v\r\n");
        let created = MetaItem {
            created: true,
            ..item()
        };
        let mut out = Vec::new();
        arith_hit(&mut out, &m.flags, &created, b"0");
        assert!(out.is_empty());
    }

    #[test]
    fn get_hit_flags_in_request_order() {
        let it = item();
        assert_eq!(hit(b"mg foo\r\n", &it), ("HD\r\n".into(), false));
        assert_eq!(
            hit(b"mg foo v s t c f l h O12 k q u\r\n", &it),
            ("VA 5 s5 t-1 c42 f7 l3 h1 O12 kfoo\r\n".into(), false)
        );
        assert_eq!(hit(b"mg foo k O9 c v\r\n", &it).0, "VA 5 kfoo O9 c42\r\n");
        let bin = MetaItem {
            key: b"\x00\xff",
            key_binary: true,
            fetched: false,
            ..item()
        };
        assert_eq!(hit(b"mg AP8= b k h\r\n", &bin).0, "HD kAP8= b h0\r\n");
    }

    #[test]
    fn get_hit_ttl_follows_exptime_changes() {
        let it = MetaItem {
            ttl: [100, 30, 5],
            ..item()
        };
        // `t` before `T` shows the old TTL, after it the new one.
        assert_eq!(hit(b"mg foo t T30\r\n", &it).0, "HD t100\r\n");
        assert_eq!(hit(b"mg foo T30 t\r\n", &it).0, "HD t30\r\n");
        // `N` changes it only on a created item (and wins the token).
        assert_eq!(hit(b"mg foo N5 t\r\n", &it), ("HD t100\r\n".into(), false));
        let created = MetaItem {
            created: true,
            ..it
        };
        assert_eq!(
            hit(b"mg foo T30 t N5\r\n", &created),
            ("HD t30 W\r\n".into(), true)
        );
        assert_eq!(
            hit(b"mg foo T30 N5 t\r\n", &created),
            ("HD t5 W\r\n".into(), true)
        );
    }

    #[test]
    fn get_hit_win_tokens() {
        let due = MetaItem {
            recache_due: [false, true, true],
            ..item()
        };
        // `R` sees the exptime left by a `T` before it.
        assert_eq!(hit(b"mg foo R30 T10\r\n", &due), ("HD\r\n".into(), false));
        assert_eq!(hit(b"mg foo T10 R30\r\n", &due), ("HD W\r\n".into(), true));
        let stale = MetaItem {
            stale: true,
            ..item()
        };
        assert_eq!(
            hit(b"mg foo c\r\n", &stale),
            ("HD c42 X W\r\n".into(), true)
        );
        let sent = MetaItem {
            token_sent: true,
            ..stale
        };
        assert_eq!(hit(b"mg foo\r\n", &sent), ("HD Z X\r\n".into(), false));
        let sent_fresh = MetaItem {
            stale: false,
            ..sent
        };
        assert_eq!(hit(b"mg foo\r\n", &sent_fresh), ("HD Z\r\n".into(), false));
        // A quiet hit is still sent.
        assert_eq!(hit(b"mg foo q\r\n", &item()).0, "HD\r\n");
    }

    #[test]
    fn status_lines_and_quiet() {
        assert_eq!(st(b"mg foo\r\n", MetaStatus::Miss, None), "EN\r\n");
        assert_eq!(
            st(b"mg foo k Oab v s\r\n", MetaStatus::Miss, None),
            "EN kfoo Oab\r\n"
        );
        assert_eq!(st(b"mg foo q k\r\n", MetaStatus::Miss, None), "");
        assert_eq!(
            st(b"mg Zm9v b k\r\n", MetaStatus::Miss, None),
            "EN kZm9v b\r\n"
        );
        assert_eq!(
            st(b"ms foo 2 c k O1 T5\r\nhi\r\n", MetaStatus::Stored, Some(9)),
            "HD c9 kfoo O1\r\n"
        );
        assert_eq!(st(b"ms foo 2 q\r\nhi\r\n", MetaStatus::Stored, Some(9)), "");
        assert_eq!(
            st(b"ms foo 2 q c\r\nhi\r\n", MetaStatus::NotStored, Some(9)),
            "NS c9\r\n"
        );
        assert_eq!(
            st(b"ms foo 2 q\r\nhi\r\n", MetaStatus::Exists, None),
            "EX\r\n"
        );
        // `md` ignores `c`.
        assert_eq!(
            st(b"md foo c k q\r\n", MetaStatus::NotFound, None),
            "NF kfoo\r\n"
        );
        assert_eq!(st(b"md foo c k q\r\n", MetaStatus::Stored, None), "");
        assert_eq!(st(b"md foo c\r\n", MetaStatus::Stored, None), "HD\r\n");
    }

    #[test]
    fn arith_hits() {
        let ar = |line: &[u8], item: &MetaItem<'_>, digits: &[u8]| {
            let m = meta(line);
            let mut out = Vec::new();
            arith_hit(&mut out, &m.flags, item, digits);
            String::from_utf8(out).unwrap()
        };
        let it = MetaItem {
            ttl: [-1, 60, 60],
            ..item()
        };
        assert_eq!(ar(b"ma foo\r\n", &it, b"12"), "HD\r\n");
        assert_eq!(ar(b"ma foo t T60\r\n", &it, b"12"), "HD t-1\r\n");
        assert_eq!(
            ar(b"ma foo v T60 t c k O7\r\n", &it, b"12"),
            "VA 2 t60 c42 kfoo O7\r\n12\r\n"
        );
        assert_eq!(ar(b"ma foo q v\r\n", &it, b"12"), "");
        let created = MetaItem {
            created: true,
            ..it
        };
        assert_eq!(
            ar(b"ma foo q v N60 t\r\n", &created, b"0"),
            "VA 1 t60\r\n0\r\n"
        );
    }

    #[test]
    fn debug_noop_and_errors() {
        let mut out = Vec::new();
        debug(
            &mut out,
            &MetaDebugItem {
                key: b"foo",
                key_binary: false,
                exp: -1,
                last_access: 2,
                cas: 3,
                fetched: false,
                class_id: 1,
                item_size: 68,
            },
        );
        debug(
            &mut out,
            &MetaDebugItem {
                key: b"a",
                key_binary: true,
                exp: -120,
                last_access: 0,
                cas: u64::MAX,
                fetched: true,
                class_id: 12,
                item_size: 1000,
            },
        );
        debug_miss(&mut out);
        noop(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ME foo exp=-1 la=2 cas=3 fetch=no cls=1 size=68\r\n\
             ME YQ== exp=-120 la=0 cas=18446744073709551615 fetch=yes cls=12 size=1000\r\n\
             EN\r\nMN\r\n"
        );
        let mut out = Vec::new();
        for e in [
            MetaError::TooLarge,
            MetaError::NoMemoryStoring,
            MetaError::NonNumeric,
            MetaError::NoMemory,
        ] {
            error(&mut out, e);
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SERVER_ERROR object too large for cache\r\n\
             SERVER_ERROR out of memory storing object\r\n\
             CLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
             SERVER_ERROR out of memory\r\n"
        );
    }
}
