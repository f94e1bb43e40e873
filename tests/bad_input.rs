//! Error replies and recovery after bad input.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn unknown_commands() {
    script(&[
        ("foo\r\n", "ERROR\r\n"),
        ("GET a\r\n", "ERROR\r\n"),
        ("\r\n", "ERROR\r\n"),
        ("foo noreply\r\n", "ERROR\r\n"),
        (
            "a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n",
            "ERROR\r\n",
        ),
        ("get\r\n", "ERROR\r\n"),
        ("gets\r\n", "ERROR\r\n"),
        ("stats foo\r\n", "ERROR\r\n"),
        ("set a 0 0\r\n", "ERROR\r\n"),
        ("set a 0 0 1 2 3\r\n", "ERROR\r\n"),
        ("cas a 0 0 1\r\n", "ERROR\r\n"),
        ("incr a\r\n", "ERROR\r\n"),
        ("delete\r\n", "ERROR\r\n"),
        ("incr k 1 2 3 4\r\n", "ERROR\r\n"),
        ("version\r\n", "VERSION "),
    ]);
}

#[test]
fn bad_command_line_format() {
    let e = "CLIENT_ERROR bad command line format\r\n";
    script(&[
        // bad numbers in a storage command: the data line is then read as a command
        ("set a 0 0 -1\r\n", e),
        ("set a 0 0 abc\r\n", e),
        (
            "set a abc 0 1\r\nx\r\n",
            "CLIENT_ERROR bad command line format\r\nERROR\r\n",
        ),
        (
            "set a -1 0 1\r\nx\r\n",
            "CLIENT_ERROR bad command line format\r\nERROR\r\n",
        ),
        (
            "set a 0 abc 1\r\nx\r\n",
            "CLIENT_ERROR bad command line format\r\nERROR\r\n",
        ),
        (
            "set a 0x10 0 1\r\nx\r\n",
            "CLIENT_ERROR bad command line format\r\nERROR\r\n",
        ),
        (
            "cas a 0 0 1 abc\r\nx\r\n",
            "CLIENT_ERROR bad command line format\r\nERROR\r\n",
        ),
        ("get a\r\n", "END\r\n"),
        // leading zeros and a plus sign parse
        ("set a 0 0 01\r\nx\r\n", "STORED\r\n"),
        ("set a 0 0 +1\r\ny\r\n", "STORED\r\n"),
        ("get a\r\n", "VALUE a 0 1\r\ny\r\nEND\r\n"),
    ]);
}

#[test]
fn key_too_long() {
    let k = "k".repeat(251);
    let e = "CLIENT_ERROR bad command line format\r\n";
    let set = format!("set {k} 0 0 1\r\nx\r\n");
    let get = format!("get {k}\r\n");
    let get2 = format!("get a {k}\r\n");
    let del = format!("delete {k}\r\n");
    let incr = format!("incr {k} 1\r\n");
    let touch = format!("touch {k} 1\r\n");
    script(&[
        (&set, "CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (&get, e),
        (&get2, e),
        (&del, e),
        (&incr, e),
        (&touch, e),
        ("get a\r\n", "END\r\n"),
    ]);
}

#[test]
fn bad_data_chunk() {
    script(&[
        // too many bytes: the rest of the line is read as a command
        (
            "set a 0 0 1\r\nxyz\r\n",
            "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        ),
        ("get a\r\n", "END\r\n"),
        (
            "set a 0 0 1\r\nxy\nget a\r\n",
            "CLIENT_ERROR bad data chunk\r\nEND\r\n",
        ),
        // noreply hides the error but not the ERROR of the leftover line
        ("set a 0 0 1 noreply\r\nxyz\r\n", "ERROR\r\n"),
        ("get a\r\n", "END\r\n"),
        ("set a 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"),
    ]);
}

#[test]
fn bad_data_chunk_keeps_old_value() {
    script(&[
        ("set a 0 0 1\r\nx\r\n", "STORED\r\n"),
        (
            "set a 0 0 1\r\nyz\r\n",
            "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
        ),
        ("get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"),
    ]);
}

#[test]
fn object_too_large_is_swallowed() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut req = b"set big 0 0 2000000\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 2_000_000));
    req.extend_from_slice(b"\r\nget big\r\n");
    c.send(&req);
    c.expect(b"SERVER_ERROR object too large for cache\r\nEND\r\n");
    // noreply: silent, data still swallowed
    let mut req = b"set big 0 0 2000000 noreply\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'y', 2_000_000));
    req.extend_from_slice(b"\r\nget big\r\n");
    c.send(&req);
    c.expect(b"END\r\n");
    c.set("small", b"ok");
    assert_eq!(c.get("small").unwrap(), b"ok");
}

#[test]
fn too_large_replaces_nothing_but_old_value_is_gone() {
    // memcached drops the old item when a set fails for size
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("k", b"old");
    let mut req = b"set k 0 0 1048577\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'x', 1_048_577));
    req.extend_from_slice(b"\r\n");
    c.send(&req);
    c.expect(b"SERVER_ERROR object too large for cache\r\n");
    assert_eq!(c.get("k"), None);
}

#[test]
fn bad_numeric_arguments() {
    script(&[
        (
            "touch a abc\r\n",
            "CLIENT_ERROR invalid exptime argument\r\n",
        ),
        ("gat abc a\r\n", "CLIENT_ERROR invalid exptime argument\r\n"),
        (
            "flush_all abc\r\n",
            "CLIENT_ERROR invalid exptime argument\r\n",
        ),
        (
            "incr a abc\r\n",
            "CLIENT_ERROR invalid numeric delta argument\r\n",
        ),
        (
            "verbosity abc\r\n",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        (
            "delete a 5\r\n",
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
        ),
        ("get a\r\n", "END\r\n"),
    ]);
}

#[test]
fn long_line_without_newline_closes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut req = b"set ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 8192));
    c.send(&req);
    assert!(
        c.is_closed_within(Duration::from_secs(5)),
        "connection with an 8 KB non-get line and no newline was not closed"
    );
    // the server is fine
    let mut d = s.connect();
    d.set("a", b"x");
}

#[test]
fn short_partial_line_waits() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut req = b"set ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 200));
    req.extend(std::iter::repeat_n(b' ', 800));
    c.send(&req);
    assert!(!c.is_closed_within(Duration::from_millis(300)));
    c.send(b" 0 0 1\r\nx\r\n");
    c.expect(b"STORED\r\n");
}

#[test]
fn long_get_line_is_fine() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("k", b"x");
    let mut req = b"get".to_vec();
    for _ in 0..100 {
        req.push(b' ');
        req.extend(std::iter::repeat_n(b'a', 200));
    }
    req.extend_from_slice(b" k\r\n");
    c.roundtrip(&req, b"VALUE k 0 1\r\nx\r\nEND\r\n");
}

#[test]
fn whitespace_tolerance() {
    script(&[
        ("set  k  0  0  1\r\nx\r\n", "STORED\r\n"),
        (" get k\r\n", "VALUE k 0 1\r\nx\r\nEND\r\n"),
        ("get k \r\n", "VALUE k 0 1\r\nx\r\nEND\r\n"),
        ("set k 0 0 1 \r\ny\r\n", "STORED\r\n"),
        // a sixth token other than noreply is ignored
        ("set k 0 0 1 garbage\r\nz\r\n", "STORED\r\n"),
        ("get k\r\n", "VALUE k 0 1\r\nz\r\nEND\r\n"),
        // bare \n terminates lines too
        (
            "set k 0 0 1\nw\r\nget k\n",
            "STORED\r\nVALUE k 0 1\r\nw\r\nEND\r\n",
        ),
    ]);
}

#[test]
fn control_bytes_in_keys() {
    script(&[
        ("set k\x01 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("get k\x01\r\n", "VALUE k\x01 0 1\r\nx\r\nEND\r\n"),
    ]);
}

#[test]
fn errors_do_not_break_the_connection() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    for _ in 0..50 {
        c.roundtrip(b"bogus\r\n", b"ERROR\r\n");
        c.roundtrip(
            b"set a 0 0 zz\r\n",
            b"CLIENT_ERROR bad command line format\r\n",
        );
    }
    c.set("a", b"fine");
    assert_eq!(c.get("a").unwrap(), b"fine");
}
