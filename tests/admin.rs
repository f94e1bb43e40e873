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
