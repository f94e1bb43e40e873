//! Encoders for text-protocol replies. Each appends to `out`; the hot paths (`reply`,
//! `value`) format integers by hand into a stack buffer, without `format!` or `fmt`.

use crate::protocol::Reply;

/// Appends a one-line reply with its `\r\n`.
///
/// `ErrorMsg(m)`, `ClientError(m)`, `ServerError(m)` and `Version(v)` put one space between
/// the word and the text (`ERROR <m>`); `Number(n)` is just the digits.
pub fn reply(out: &mut Vec<u8>, r: &Reply<'_>) {
    let (word, text): (&[u8], &str) = match *r {
        Reply::Stored => (b"STORED", ""),
        Reply::NotStored => (b"NOT_STORED", ""),
        Reply::Exists => (b"EXISTS", ""),
        Reply::NotFound => (b"NOT_FOUND", ""),
        Reply::Deleted => (b"DELETED", ""),
        Reply::Touched => (b"TOUCHED", ""),
        Reply::Ok => (b"OK", ""),
        Reply::End => (b"END", ""),
        Reply::Reset => (b"RESET", ""),
        Reply::Error => (b"ERROR", ""),
        Reply::ShutdownNotEnabled => (b"ERROR: shutdown not enabled", ""),
        Reply::ErrorMsg(m) => (b"ERROR ", m),
        Reply::Number(n) => {
            put_u64(out, n);
            out.extend_from_slice(b"\r\n");
            return;
        }
        Reply::ClientError(m) => (b"CLIENT_ERROR ", m),
        Reply::ServerError(m) => (b"SERVER_ERROR ", m),
        Reply::Version(v) => (b"VERSION ", v),
        Reply::Line(l) => (b"", l),
    };
    out.reserve(word.len() + text.len() + 2);
    out.extend_from_slice(word);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`.
pub fn value(out: &mut Vec<u8>, key: &[u8], flags: u32, data: &[u8], cas: Option<u64>) {
    out.reserve(6 + key.len() + 3 + 50 + 4 + data.len());
    value_header(out, key, flags, data.len(), cas);
    out.extend_from_slice(data);
    value_trailer(out);
}

/// Appends `VALUE <key> <flags> <bytes>[ <cas>]\r\n`: a hit up to its data, for a caller
/// that sends the data from elsewhere (then `value_trailer`).
pub fn value_header(out: &mut Vec<u8>, key: &[u8], flags: u32, len: usize, cas: Option<u64>) {
    // "VALUE " + key + 3 separators + up to 10 + 20 + 20 digits + CRLF.
    out.reserve(6 + key.len() + 3 + 50 + 2);
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    put_u64(out, u64::from(flags));
    out.push(b' ');
    put_u64(out, len as u64);
    if let Some(cas) = cas {
        out.push(b' ');
        put_u64(out, cas);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the `\r\n` that ends a value's data block.
pub fn value_trailer(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// Appends `END\r\n`.
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"END\r\n");
}

/// memcached's refusal when `-c` is reached, written straight to the new socket.
pub const TOO_MANY_CONNECTIONS: &[u8] = b"ERROR Too many open connections\r\n";

/// Appends `ITEM <key> [<bytes> b; <expires> s]\r\n`, one line of `stats cachedump`
/// (`expires`: absolute unix time, 0 for never).
pub fn cachedump_item(out: &mut Vec<u8>, key: &[u8], value_len: usize, expires: u64) {
    out.extend_from_slice(b"ITEM ");
    out.extend_from_slice(key);
    out.extend_from_slice(b" [");
    put_u64(out, value_len as u64);
    out.extend_from_slice(b" b; ");
    put_u64(out, expires);
    out.extend_from_slice(b" s]\r\n");
}

/// One item of an `lru_crawler metadump`, as plain data.
#[derive(Clone, Copy, Debug)]
pub struct DumpItem<'a> {
    pub key: &'a [u8],
    /// Absolute unix time, -1 for never.
    pub exptime: i64,
    /// Unix time of the last access.
    pub last_access: i64,
    pub cas: u64,
    pub fetched: bool,
    pub class: usize,
    /// Bytes the item takes.
    pub size: usize,
    /// The client flags, listed as memcached 1.6.24 and later list them (`flags=<n> `);
    /// `None`: 1.6.18's line, without them.
    pub flags: Option<u32>,
}

/// memcached's metadump line (`\n`-terminated, key URL-encoded). With `flags` it is
/// 1.6.45's line: ` flags=<n> ` follows `size`, trailing space included (memcached writes a
/// space after every field).
pub fn metadump_line(out: &mut Vec<u8>, m: &DumpItem<'_>) {
    use std::io::Write;
    out.extend_from_slice(b"key=");
    url_encode(out, m.key);
    let _ = write!(
        out,
        " exp={} la={} cas={} fetch={} cls={} size={}",
        m.exptime,
        m.last_access,
        m.cas,
        if m.fetched { "yes" } else { "no" },
        m.class,
        m.size
    );
    if let Some(flags) = m.flags {
        out.extend_from_slice(b" flags=");
        put_u64(out, u64::from(flags));
        out.push(b' ');
    }
    out.push(b'\n');
}

/// The line memcached 1.6.43 and later send before a metadump's or mgdump's item lines.
pub const DUMP_OK: &[u8] = b"OK\r\n";

/// The line that ends an `lru_crawler mgdump` (memcached's `EN`, as a meta miss).
pub const MGDUMP_END: &[u8] = b"EN\r\n";

/// One line of `lru_crawler mgdump`: `mg <key>\r\n`, or for a key stored base64-encoded
/// (meta `b`) `mg <base64> b\r\n`, a request the client can send back as it is.
pub fn mgdump_line(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b"mg ");
    if binary {
        super::meta::base64_encode(out, key);
        out.extend_from_slice(b" b\r\n");
    } else {
        out.extend_from_slice(key);
        out.extend_from_slice(b"\r\n");
    }
}

/// memcached's `uriencode`: unreserved characters (`A-Za-z0-9-_.~`) as they are, everything
/// else as `%XX` (upper-case hex).
fn url_encode(out: &mut Vec<u8>, key: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Appends `PREFIX <prefix> get <n> hit <n> set <n> del <n>\r\n`, one line of
/// `stats detail dump`.
pub fn detail_prefix(out: &mut Vec<u8>, prefix: &[u8], gets: u64, hits: u64, sets: u64, dels: u64) {
    out.extend_from_slice(b"PREFIX ");
    out.extend_from_slice(prefix);
    for (word, n) in [
        (&b" get "[..], gets),
        (b" hit ", hits),
        (b" set ", sets),
        (b" del ", dels),
    ] {
        out.extend_from_slice(word);
        put_u64(out, n);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `STAT <name> <value>\r\n`.
pub fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    let _ = write!(out, "STAT {name} {value}\r\n");
}

/// "00" "01" .. "99", for two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal digits of `n`.
pub fn put_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_matches_memcached() {
        let mut o = Vec::new();
        url_encode(&mut o, b"b%20c:x/y~z-_.A9");
        assert_eq!(o, b"b%2520c%3Ax%2Fy~z-_.A9");
    }

    #[test]
    fn metadump_line_shape() {
        let mut o = Vec::new();
        metadump_line(
            &mut o,
            &DumpItem {
                key: b"a",
                exptime: -1,
                last_access: 1795453283,
                cas: 1,
                fetched: false,
                class: 1,
                size: 61,
                flags: None,
            },
        );
        assert_eq!(
            o,
            b"key=a exp=-1 la=1795453283 cas=1 fetch=no cls=1 size=61\n"
        );
        // memcached 1.6.45's line (checked against its binary).
        let mut o = Vec::new();
        metadump_line(
            &mut o,
            &DumpItem {
                key: b"a b",
                exptime: 1795453300,
                last_access: 1795453283,
                cas: 2,
                fetched: true,
                class: 1,
                size: 65,
                flags: Some(4294967295),
            },
        );
        assert_eq!(
            o,
            &b"key=a%20b exp=1795453300 la=1795453283 cas=2 fetch=yes cls=1 size=65 \
               flags=4294967295 \n"[..]
        );
    }

    #[test]
    fn mgdump_lines() {
        let mut o = Vec::new();
        mgdump_line(&mut o, b"a", false);
        mgdump_line(&mut o, b"foo", true);
        mgdump_line(&mut o, &[0, 0xff, b' '], true);
        o.extend_from_slice(MGDUMP_END);
        assert_eq!(o, b"mg a\r\nmg Zm9v b\r\nmg AP8g b\r\nEN\r\n");
    }
    use proptest::prelude::*;

    fn r(x: Reply<'_>) -> Vec<u8> {
        let mut out = b"prefix:".to_vec();
        reply(&mut out, &x);
        out.split_off(7)
    }

    #[test]
    fn fixed_words() {
        assert_eq!(r(Reply::Stored), b"STORED\r\n");
        assert_eq!(r(Reply::NotStored), b"NOT_STORED\r\n");
        assert_eq!(r(Reply::Exists), b"EXISTS\r\n");
        assert_eq!(r(Reply::NotFound), b"NOT_FOUND\r\n");
        assert_eq!(r(Reply::Deleted), b"DELETED\r\n");
        assert_eq!(r(Reply::Touched), b"TOUCHED\r\n");
        assert_eq!(r(Reply::Ok), b"OK\r\n");
        assert_eq!(r(Reply::End), b"END\r\n");
        assert_eq!(r(Reply::Reset), b"RESET\r\n");
        assert_eq!(r(Reply::Error), b"ERROR\r\n");
    }

    #[test]
    fn messages() {
        assert_eq!(
            r(Reply::ErrorMsg("Too many open connections")),
            b"ERROR Too many open connections\r\n"
        );
        assert_eq!(
            r(Reply::ClientError("bad data chunk")),
            b"CLIENT_ERROR bad data chunk\r\n"
        );
        assert_eq!(
            r(Reply::ServerError("object too large for cache")),
            b"SERVER_ERROR object too large for cache\r\n"
        );
        assert_eq!(r(Reply::Version("1.6.18")), b"VERSION 1.6.18\r\n");
        assert_eq!(
            r(Reply::Line("BADCLASS invalid class id")),
            b"BADCLASS invalid class id\r\n"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(r(Reply::Number(0)), b"0\r\n");
        assert_eq!(r(Reply::Number(9)), b"9\r\n");
        assert_eq!(r(Reply::Number(10)), b"10\r\n");
        assert_eq!(r(Reply::Number(99)), b"99\r\n");
        assert_eq!(r(Reply::Number(100)), b"100\r\n");
        assert_eq!(r(Reply::Number(4)), b"4\r\n");
        assert_eq!(r(Reply::Number(u64::MAX)), b"18446744073709551615\r\n");
    }

    #[test]
    fn values() {
        let mut out = Vec::new();
        value(&mut out, b"a", 0, b"x", None);
        assert_eq!(out, b"VALUE a 0 1\r\nx\r\n");
        out.clear();
        value(&mut out, b"k1", u32::MAX, b"", Some(u64::MAX));
        assert_eq!(out, b"VALUE k1 4294967295 0 18446744073709551615\r\n\r\n");
        out.clear();
        value(&mut out, b"k", 5, b"a\r\nb", Some(0));
        assert_eq!(out, b"VALUE k 5 4 0\r\na\r\nb\r\n");
        // Appends.
        end(&mut out);
        assert!(out.ends_with(b"b\r\nEND\r\n"));
    }

    #[test]
    fn listing_lines() {
        let mut out = Vec::new();
        cachedump_item(&mut out, b"k1", 10, 0);
        cachedump_item(&mut out, b"k2", 0, 1795453283);
        detail_prefix(&mut out, b"a", 2, 1, 1, 0);
        end(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ITEM k1 [10 b; 0 s]\r\nITEM k2 [0 b; 1795453283 s]\r\n\
             PREFIX a get 2 hit 1 set 1 del 0\r\nEND\r\n"
        );
        let mut out = Vec::new();
        reply(&mut out, &Reply::ErrorMsg("Too many open connections"));
        assert_eq!(out, TOO_MANY_CONNECTIONS);
    }

    #[test]
    fn stat_line() {
        let mut out = Vec::new();
        stat(&mut out, "pid", 42);
        assert_eq!(out, b"STAT pid 42\r\n");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn put_u64_matches_display(n in any::<u64>()) {
            let mut out = Vec::new();
            put_u64(&mut out, n);
            prop_assert_eq!(out, n.to_string().into_bytes());
        }

        #[test]
        fn value_matches_format(
            key in proptest::collection::vec(33u8..127, 1..20),
            flags in any::<u32>(),
            data in proptest::collection::vec(any::<u8>(), 0..50),
            cas in proptest::option::of(any::<u64>()),
        ) {
            let mut out = Vec::new();
            value(&mut out, &key, flags, &data, cas);
            let mut want = format!("VALUE {} {flags} {}", String::from_utf8_lossy(&key), data.len());
            if let Some(c) = cas {
                want.push_str(&format!(" {c}"));
            }
            want.push_str("\r\n");
            let mut want = want.into_bytes();
            want.extend_from_slice(&data);
            want.extend_from_slice(b"\r\n");
            prop_assert_eq!(out, want);
        }
    }
}
