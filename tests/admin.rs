//! version, verbosity, quit, shutdown.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn version() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"version\r\n");
    let l = c.read_line_str();
    let v = l
        .strip_prefix("VERSION ")
        .unwrap_or_else(|| panic!("bad version {l:?}"));
    assert!(!v.is_empty() && !v.contains(' '), "bad version {l:?}");
}

#[test]
fn verbosity() {
    script(&[
        ("verbosity 1\r\n", "OK\r\n"),
        ("verbosity 0\r\n", "OK\r\n"),
        ("verbosity 1 noreply\r\n", ""),
        ("verbosity\r\n", "ERROR\r\n"),
        (
            "verbosity abc\r\n",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        ("get x\r\n", "END\r\n"),
    ]);
}

#[test]
fn quit_closes_connection() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    // commands after quit in the same packet are not executed
    c.send(b"quit\r\nset a 0 0 1\r\ny\r\n");
    c.expect_closed();
    assert_eq!(s.connect().get("a").unwrap(), b"x");
}

#[test]
fn shutdown_refused_without_a() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"shutdown\r\n", b"ERROR: shutdown not enabled\r\n");
    c.roundtrip(b"version\r\n", b"VERSION ");
    let _ = c.read_line();
}

#[test]
fn shutdown_with_a() {
    let mut s = Server::start(&["-A"]);
    let mut c = s.connect();
    c.set("a", b"x");
    c.send(b"shutdown\r\n");
    assert!(
        c.is_closed_within(Duration::from_secs(5)),
        "connection not closed after shutdown"
    );
    let st = s.wait_exit(Duration::from_secs(10));
    assert!(st.is_some(), "server still running 10 s after shutdown");
}

/// `slabs reassign` really moves a page (ferrocache; memcached's page mover is async and
/// its class layout differs, so the differential test covers only the replies).
#[test]
fn slabs_reassign_moves_a_page() {
    if is_memcached() {
        return;
    }
    let s = Server::start(&["-m", "16"]);
    let mut c = s.connect();
    let mut batch = Vec::new();
    for i in 0..30_000 {
        batch.extend_from_slice(format!("set k{i} 0 0 10 noreply\r\n0123456789\r\n").as_bytes());
    }
    c.send(&batch);
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    let before = c.stats();
    assert_eq!(parse_stat(&before, "curr_items"), 30_000);
    c.roundtrip(b"slabs automove 0\r\n", b"OK\r\n");
    c.roundtrip(b"slabs reassign 1 0\r\n", b"OK\r\n");
    let after = c.stats();
    assert_eq!(parse_stat(&after, "slabs_moved"), 1);
    assert!(parse_stat(&after, "curr_items") < 30_000);
    let settings = c.stats_arg("settings");
    assert_eq!(settings.get("slab_automove").map(String::as_str), Some("0"));
}
