//! Expiry: relative, absolute unix time, past, negative; touch/gat extending life.
//!
//! memcached's clock ticks once a second, so an item with exptime N lives between N-1 and N
//! seconds; the sleeps below leave at least one second of margin either way.

mod common;
use common::*;
use std::thread::sleep;
use std::time::Duration;

#[test]
fn relative_expiry() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.store("set", "short", 0, 2, b"x", b"STORED\r\n");
    c.store("set", "long", 0, 100, b"y", b"STORED\r\n");
    c.store("set", "forever", 0, 0, b"z", b"STORED\r\n");
    assert_eq!(c.get("short").unwrap(), b"x");
    sleep(Duration::from_millis(3100));
    assert_eq!(c.get("short"), None);
    assert_eq!(c.get("long").unwrap(), b"y");
    assert_eq!(c.get("forever").unwrap(), b"z");
    // an expired key behaves as missing for every command
    c.roundtrip(b"incr short 1\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(b"touch short 10\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(b"replace short 0 0 1\r\na\r\n", b"NOT_STORED\r\n");
    c.roundtrip(b"add short 0 0 1\r\na\r\n", b"STORED\r\n");
}

#[test]
fn absolute_expiry() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let now = unix_now();
    c.store("set", "abs", 0, now + 3, b"x", b"STORED\r\n");
    c.store("set", "far", 0, now + 1000, b"y", b"STORED\r\n");
    c.store("set", "past", 0, now - 10, b"z", b"STORED\r\n");
    assert_eq!(c.get("abs").unwrap(), b"x");
    assert_eq!(c.get("far").unwrap(), b"y");
    assert_eq!(c.get("past"), None);
    sleep(Duration::from_millis(4100));
    assert_eq!(c.get("abs"), None);
    assert_eq!(c.get("far").unwrap(), b"y");
}

#[test]
fn negative_exptime_is_immediately_gone() {
    script(&[
        ("set k 0 -1 1\r\nx\r\n", "STORED\r\n"),
        ("get k\r\n", "END\r\n"),
        ("add k 0 -1 1\r\nx\r\n", "STORED\r\n"),
        ("get k\r\n", "END\r\n"),
        ("set k 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("set k 0 -100 1\r\ny\r\n", "STORED\r\n"),
        ("get k\r\n", "END\r\n"),
    ]);
}

#[test]
fn touch_extends_and_shortens() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.store("set", "a", 0, 2, b"x", b"STORED\r\n");
    c.store("set", "b", 0, 100, b"y", b"STORED\r\n");
    c.store("set", "g", 0, 2, b"z", b"STORED\r\n");
    c.roundtrip(b"touch a 100\r\n", b"TOUCHED\r\n");
    c.roundtrip(b"touch b 2\r\n", b"TOUCHED\r\n");
    c.roundtrip(b"gat 100 g\r\n", b"VALUE g 0 1\r\nz\r\nEND\r\n");
    sleep(Duration::from_millis(3100));
    assert_eq!(c.get("a").unwrap(), b"x");
    assert_eq!(c.get("b"), None);
    assert_eq!(c.get("g").unwrap(), b"z");
}

#[test]
fn expired_counts_in_stats() {
    // A background sweeper (memcached's LRU crawler, ferrocache's sweeper) may reap the
    // expired item before the get: then it is a plain miss and counts as reclaimed.
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.store("set", "e", 0, 1, b"x", b"STORED\r\n");
    sleep(Duration::from_millis(2100));
    assert_eq!(c.get("e"), None);
    let st = c.stats();
    assert_eq!(parse_stat(&st, "get_misses"), 1);
    let expired = parse_stat(&st, "get_expired");
    let reclaimed = parse_stat(&st, "reclaimed")
        + st.get("crawler_reclaimed")
            .map_or(0, |v| v.parse::<u64>().unwrap());
    assert!(
        expired == 1 || (expired == 0 && reclaimed >= 1),
        "get_expired {expired}, reclaimed {reclaimed}"
    );
    assert_eq!(parse_stat(&st, "curr_items"), 0);
}

#[test]
fn expired_counts_in_stats_without_sweeper() {
    // memcached only: with its crawler and LRU maintainer off, the get finds the expired item.
    if !is_memcached() {
        return;
    }
    let s = Server::start(&["-o", "no_lru_crawler,no_lru_maintainer"]);
    let mut c = s.connect();
    c.store("set", "e", 0, 1, b"x", b"STORED\r\n");
    sleep(Duration::from_millis(2100));
    assert_eq!(c.get("e"), None);
    let st = c.stats();
    assert_eq!(parse_stat(&st, "get_expired"), 1);
    assert_eq!(parse_stat(&st, "get_misses"), 1);
}
