//! flush_all, immediate, delayed and noreply.

mod common;
use common::*;
use std::thread::sleep;
use std::time::Duration;

#[test]
fn flush_all_immediate() {
    script(&[
        ("set a 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("set b 0 0 1\r\ny\r\n", "STORED\r\n"),
        ("flush_all\r\n", "OK\r\n"),
        ("get a b\r\n", "END\r\n"),
        // new items after the flush are visible
        ("set a 0 0 1\r\nz\r\n", "STORED\r\n"),
        ("get a\r\n", "VALUE a 0 1\r\nz\r\nEND\r\n"),
        ("flush_all 0\r\n", "OK\r\n"),
        ("get a\r\n", "END\r\n"),
    ]);
}

#[test]
fn flush_all_noreply() {
    script(&[
        ("set a 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("flush_all noreply\r\n", ""),
        ("get a\r\n", "END\r\n"),
        ("set a 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("flush_all 0 noreply\r\n", ""),
        ("get a\r\n", "END\r\n"),
    ]);
}

#[test]
fn flush_all_bad_argument() {
    script(&[
        ("set a 0 0 1\r\nx\r\n", "STORED\r\n"),
        (
            "flush_all abc\r\n",
            "CLIENT_ERROR invalid exptime argument\r\n",
        ),
        ("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"),
    ]);
}

#[test]
fn flush_all_delayed() {
    // memcached: `flush_all N` invalidates every item stored before "now + N - 1" seconds
    // once that moment is reached; with N = 3 the item survives at least one second.
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("a", b"x");
    c.roundtrip(b"flush_all 3\r\n", b"OK\r\n");
    assert_eq!(
        c.get("a").unwrap(),
        b"x",
        "item gone before the flush delay"
    );
    sleep(Duration::from_millis(3200));
    assert_eq!(c.get("a"), None, "item still there after the flush delay");
    // items stored after the deadline live on
    c.set("b", b"y");
    assert_eq!(c.get("b").unwrap(), b"y");
}

#[test]
fn flush_counts_in_stats() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("a", b"x");
    c.roundtrip(b"flush_all\r\n", b"OK\r\n");
    assert_eq!(c.get("a"), None);
    let st = c.stats();
    assert_eq!(parse_stat(&st, "cmd_flush"), 1);
    assert_eq!(parse_stat(&st, "get_flushed"), 1);
    assert_eq!(parse_stat(&st, "get_misses"), 1);
}
