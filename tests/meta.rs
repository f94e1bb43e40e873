//! Meta commands (`mg ms md ma mn me`): transcripts of every command and flag, including the
//! stale-while-revalidate flow. Validated against memcached 1.6.18 with
//! `FERRO_TEST_SERVER=/usr/bin/memcached cargo test --test meta`; CAS values are those of a
//! fresh server (both count stores from 1).

mod common;
use common::*;

#[test]
fn mg_return_flags_in_request_order() {
    script(&[
        ("ms foo 2 T0 F5\r\nhi\r\n", "HD\r\n"),
        (
            "mg foo v k f s t c h l O123 q\r\n",
            "VA 2 kfoo f5 s2 t-1 c1 h0 l0 O123\r\nhi\r\n",
        ),
        ("mg foo s c v\r\n", "VA 2 s2 c1\r\nhi\r\n"),
        ("mg foo h\r\n", "HD h1\r\n"),
        ("mg foo\r\n", "HD\r\n"),
        ("mg foo P L u\r\n", "HD\r\n"),
    ]);
}

#[test]
fn mg_miss_and_quiet_mode() {
    script(&[
        ("mg miss v\r\n", "EN\r\n"),
        ("mg miss Oab k\r\n", "EN Oab kmiss\r\n"),
        // q drops EN only; mn ends the quiet pipeline.
        ("mg miss v q k Oab\r\nmn\r\n", "MN\r\n"),
        ("ms a 1\r\nx\r\n", "HD\r\n"),
        ("mg a v q\r\nmn\r\n", "VA 1\r\nx\r\nMN\r\n"),
        ("mn x y\r\n", "MN\r\n"),
    ]);
}

#[test]
fn mg_touch_and_ttl() {
    script(&[
        ("ms t 1 T100\r\nx\r\n", "HD\r\n"),
        ("mg t t\r\n", "HD t100\r\n"),
        // t before T shows the old TTL, after it the new one.
        ("mg t t T50 t\r\n", "CLIENT_ERROR duplicate flag\r\n"),
        ("mg t t T50\r\n", "HD t100\r\n"),
        ("mg t T0 t\r\n", "HD t-1\r\n"),
        ("mg t T-1\r\n", "HD\r\n"),
        ("mg t v\r\n", "EN\r\n"),
    ]);
}

#[test]
fn ms_modes_cas_and_quiet() {
    script(&[
        ("ms a 1 MA\r\nx\r\n", "NS\r\n"),
        ("ms a 1 MR\r\nx\r\n", "NS\r\n"),
        ("ms a 1 ME c\r\nx\r\n", "HD c1\r\n"),
        ("ms a 1 ME c\r\ny\r\n", "NS c0\r\n"),
        ("ms a 1 MA c\r\nz\r\n", "HD c2\r\n"),
        ("ms a 1 MP\r\nw\r\n", "HD\r\n"),
        ("mg a v c f t s\r\n", "VA 3 c3 f0 t-1 s3\r\nwxz\r\n"),
        ("ms a 1 C1\r\nq\r\n", "EX\r\n"),
        ("ms a 1 C3 c\r\nq\r\n", "HD c4\r\n"),
        ("ms a 1 C999 MR\r\nq\r\n", "EX\r\n"),
        ("ms nx 1 C5\r\nq\r\n", "NF\r\n"),
        ("ms nx 1 C5 MR\r\nq\r\n", "NF\r\n"),
        ("ms nx 1 C5 ME\r\nq\r\n", "HD\r\n"),
        (
            "ms a 1 q\r\nq\r\nms a 1 ME q Oxx k\r\nq\r\nmn\r\n",
            "NS Oxx ka\r\nMN\r\n",
        ),
        ("ms x 1\r\na\r\nms x 1 MA C1\r\nb\r\n", "HD\r\nEX\r\n"),
        (
            "ms f 2 F4294967295 T0\r\nbb\r\nmg f f\r\n",
            "HD\r\nHD f4294967295\r\n",
        ),
        ("ms e 0\r\n\r\nmg e v s\r\n", "HD\r\nVA 0 s0\r\n\r\n"),
    ]);
}

#[test]
fn ms_errors_swallow_the_data_block() {
    script(&[
        ("ms foo\r\n", "CLIENT_ERROR bad command line format\r\n"),
        // Before the datalen is known only the line goes: the data is a command.
        (
            "ms foo x\r\nxx\r\n",
            "CLIENT_ERROR bad command line format\r\nERROR\r\n",
        ),
        ("ms foo 2 Z\r\nxx\r\n", "CLIENT_ERROR invalid flag\r\n"),
        (
            "ms foo 2 MX\r\nxx\r\n",
            "CLIENT_ERROR invalid mode for ms M token\r\n",
        ),
        (
            "ms foo 2 MSS\r\nxx\r\n",
            "CLIENT_ERROR incorrect length for M token\r\n",
        ),
        ("ms foo 2 q q\r\nxx\r\n", "CLIENT_ERROR duplicate flag\r\n"),
        (
            "ms foo 2 Tx\r\nxx\r\n",
            "CLIENT_ERROR bad token in command line format\r\n",
        ),
        (
            "ms kk 3 q\r\nabcde\r\n",
            "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        ),
        ("mn\r\n", "MN\r\n"),
    ]);
}

#[test]
fn ms_too_large_is_swallowed_and_unlinks() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms big 1 T0\r\nx\r\n", b"HD\r\n");
    let mut req = b"ms big 2000000 k Oa q\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 2_000_000));
    req.extend_from_slice(b"\r\nmg big v\r\nmn\r\n");
    c.send(&req);
    c.expect(b"SERVER_ERROR object too large for cache\r\nEN\r\nMN\r\n");
}

#[test]
fn base64_keys() {
    script(&[
        ("mg foo k b\r\n", "CLIENT_ERROR error decoding key\r\n"),
        ("ms Zm9v 2 b k c\r\nxy\r\n", "HD kZm9v b c1\r\n"),
        ("mg Zm9v b k v\r\n", "VA 2 kZm9v b\r\nxy\r\n"),
        // The item remembers its key was binary.
        ("mg foo k\r\n", "HD kZm9v b\r\n"),
        // Bytes outside the base64 alphabet are skipped, as memcached does.
        ("mg Zm!9v b k\r\n", "HD kZm9v b\r\n"),
        ("mg bm9uZQ== b k\r\n", "EN kbm9uZQ== b\r\n"),
        ("md Zm9v b k q\r\nmg foo\r\n", "EN\r\n"),
        ("me Zm9v b\r\n", "EN\r\n"),
    ]);
}

#[test]
fn md_delete_cas_and_quiet() {
    script(&[
        ("ms s 1\r\na\r\n", "HD\r\n"),
        ("md s C9 k Oo\r\n", "EX ks Oo\r\n"),
        ("md s C1 q\r\nmn\r\n", "MN\r\n"),
        ("md s q\r\n", "NF\r\n"),
        ("md s\r\n", "NF\r\n"),
        ("md s x\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"),
        ("md\r\n", "ERROR\r\n"),
    ]);
}

#[test]
fn stale_while_revalidate() {
    script(&[
        ("ms s 3 T100\r\nabc\r\n", "HD\r\n"),
        // Invalidate: keep the item, mark it stale, new CAS, new TTL.
        ("md s I T30 Oz k\r\n", "HD Oz ks\r\n"),
        // The first fetch wins the right to recache (W); later ones see Z.
        ("mg s v c t\r\n", "VA 3 c2 t30 X W\r\nabc\r\n"),
        ("mg s v c t\r\n", "VA 3 c2 t30 Z X\r\nabc\r\n"),
        ("mg s\r\n", "HD Z X\r\n"),
        // A stale value with an older CAS still stores, and stays stale.
        ("ms s 3 C1 I\r\nold\r\n", "HD\r\n"),
        ("mg s v c t\r\n", "VA 3 c3 t30 Z X\r\nold\r\n"),
        // A plain set clears everything.
        ("ms s 3\r\nnew\r\n", "HD\r\n"),
        ("mg s v t\r\n", "VA 3 t-1\r\nnew\r\n"),
        // Re-invalidating clears the sent token so the next client wins again.
        ("md s I q\r\nmg s\r\nmg s\r\n", "HD X W\r\nHD Z X\r\n"),
        ("md s I\r\nmg s\r\n", "HD\r\nHD X W\r\n"),
    ]);
}

#[test]
fn vivify_and_recache() {
    script(&[
        ("mg v N30 v c t s\r\n", "VA 0 c1 t30 s0 W\r\n\r\n"),
        ("mg v N30 v c t s\r\n", "VA 0 c1 t30 s0 Z\r\n\r\n"),
        ("mg r R30 v\r\n", "EN\r\n"),
        ("ms r 1 T10\r\nr\r\n", "HD\r\n"),
        ("mg r R30 c\r\n", "HD c2 W\r\n"),
        ("mg r R30 c\r\n", "HD c2 Z\r\n"),
        ("mg r R5\r\n", "HD Z\r\n"),
        ("ms n 1 T100\r\nr\r\nmg n R30\r\n", "HD\r\nHD\r\n"),
        ("ms n 1 T0\r\nr\r\nmg n R30\r\n", "HD\r\nHD\r\n"),
    ]);
}

#[test]
fn ma_incr_decr_vivify() {
    script(&[
        ("ma n\r\n", "NF\r\n"),
        ("ma n q\r\n", "NF\r\n"),
        ("ma n N0 J10 v\r\n", "VA 2\r\n10\r\n"),
        ("ma n v\r\n", "VA 2\r\n11\r\n"),
        ("ma n D5 MD v t c\r\n", "VA 1 t-1 c3\r\n6\r\n"),
        ("ma n MI D3\r\n", "HD\r\n"),
        ("ma n M- D100 v\r\n", "VA 1\r\n0\r\n"),
        ("ma n M+ v k Oq\r\n", "VA 1 kn Oq\r\n1\r\n"),
        ("ma n C1\r\n", "EX\r\n"),
        ("ma n q D2\r\nma n q v\r\nmg n v\r\n", "VA 2\r\n4 \r\n"),
        (
            "ms t 3\r\nabc\r\nma t q\r\n",
            "HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
        ),
        ("ma nn T100 N50 t v\r\n", "VA 1 t50\r\n0\r\n"),
        ("ma dd q N0 J5\r\n", "HD\r\n"),
        (
            "ma n MX\r\n",
            "CLIENT_ERROR invalid mode for ma M token\r\n",
        ),
        ("ma n Dx\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n"),
    ]);
}

#[test]
fn me_debug_line() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms foo 2 T100\r\nhi\r\n", b"HD\r\n");
    c.send(b"me foo\r\n");
    let line = c.read_line_str();
    assert!(
        line.starts_with("ME foo exp=-100 la=0 cas=1 fetch=no cls="),
        "{line}"
    );
    assert!(line.contains(" size="), "{line}");
    c.roundtrip(b"me nokey\r\n", b"EN\r\n");
    c.roundtrip(b"me\r\n", b"CLIENT_ERROR bad command line format\r\n");
}

#[test]
fn meta_stats() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"ms a 1\r\nx\r\nmg a v\r\nmg b v\r\nmg a T10\r\nmd a\r\nmd a\r\nme a\r\nmn\r\n");
    c.expect(b"HD\r\nVA 1\r\nx\r\nEN\r\nHD\r\nHD\r\nNF\r\nEN\r\nMN\r\n");
    let st = c.stats();
    for (name, want) in [
        ("cmd_set", 1),
        ("cmd_get", 2),
        ("get_hits", 1),
        ("get_misses", 1),
        ("cmd_touch", 1),
        ("touch_hits", 1),
        ("delete_hits", 1),
        ("delete_misses", 1),
        ("cmd_meta", 1),
    ] {
        assert_eq!(parse_stat(&st, name), want, "{name}");
    }
}
