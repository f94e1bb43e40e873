//! incr / decr.

mod common;
use common::*;

#[test]
fn incr_decr_basic() {
    script(&[
        ("incr n 1\r\n", "NOT_FOUND\r\n"),
        ("decr n 1\r\n", "NOT_FOUND\r\n"),
        ("set n 5 0 1\r\n1\r\n", "STORED\r\n"),
        ("incr n 1\r\n", "2\r\n"),
        ("incr n 10\r\n", "12\r\n"),
        ("decr n 3\r\n", "9\r\n"),
        ("get n\r\n", "VALUE n 5 2\r\n9 \r\nEND\r\n"),
        ("incr n 0\r\n", "9\r\n"),
        ("incr n 1 noreply\r\n", ""),
        ("decr n 5 noreply\r\n", ""),
        ("incr nope 1 noreply\r\n", ""),
        ("get n\r\n", "VALUE n 5 2\r\n5 \r\nEND\r\n"),
    ]);
}

#[test]
fn incr_wraps_at_2_64() {
    script(&[
        ("set n 0 0 20\r\n18446744073709551615\r\n", "STORED\r\n"),
        ("incr n 1\r\n", "0\r\n"),
        ("set n 0 0 20\r\n18446744073709551610\r\n", "STORED\r\n"),
        ("incr n 10\r\n", "4\r\n"),
        ("incr n 18446744073709551615\r\n", "3\r\n"),
    ]);
}

#[test]
fn decr_floors_at_zero() {
    script(&[
        ("set n 0 0 2\r\n10\r\n", "STORED\r\n"),
        ("decr n 100\r\n", "0\r\n"),
        ("decr n 1\r\n", "0\r\n"),
        ("get n\r\n", "VALUE n 0 2\r\n0 \r\nEND\r\n"),
    ]);
}

#[test]
fn decr_in_place_pads_with_spaces() {
    script(&[
        ("set n 0 0 3\r\n100\r\n", "STORED\r\n"),
        ("decr n 1\r\n", "99\r\n"),
        ("get n\r\n", "VALUE n 0 3\r\n99 \r\nEND\r\n"),
        // a padded value still counts as a number
        ("incr n 1\r\n", "100\r\n"),
        ("get n\r\n", "VALUE n 0 3\r\n100\r\nEND\r\n"),
        ("incr n 900\r\n", "1000\r\n"),
        ("get n\r\n", "VALUE n 0 4\r\n1000\r\nEND\r\n"),
    ]);
}

#[test]
fn incr_grows_length() {
    script(&[
        ("set n 0 0 1\r\n9\r\n", "STORED\r\n"),
        ("incr n 1\r\n", "10\r\n"),
        ("get n\r\n", "VALUE n 0 2\r\n10\r\nEND\r\n"),
    ]);
}

#[test]
fn non_numeric_values() {
    let e = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
    script(&[
        ("set s 0 0 3\r\nabc\r\n", "STORED\r\n"),
        ("incr s 1\r\n", e),
        ("decr s 1\r\n", e),
        ("set s 0 0 3\r\n12a\r\n", "STORED\r\n"),
        ("incr s 1\r\n", e),
        ("set s 0 0 0\r\n\r\n", "STORED\r\n"),
        ("incr s 1\r\n", e),
        // 2^64 and more does not parse as a u64
        ("set s 0 0 20\r\n18446744073709551616\r\n", "STORED\r\n"),
        ("incr s 1\r\n", e),
        (
            "get s\r\n",
            "VALUE s 0 20\r\n18446744073709551616\r\nEND\r\n",
        ),
    ]);
}

#[test]
fn bad_delta() {
    let e = "CLIENT_ERROR invalid numeric delta argument\r\n";
    script(&[
        ("set n 0 0 1\r\n1\r\n", "STORED\r\n"),
        ("incr n abc\r\n", e),
        ("incr n -1\r\n", e),
        ("decr n -1\r\n", e),
        ("incr n 18446744073709551616\r\n", e),
        ("incr n\r\n", "ERROR\r\n"),
        ("get n\r\n", "VALUE n 0 1\r\n1\r\nEND\r\n"),
    ]);
}

#[test]
fn incr_changes_cas() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("n", b"1");
    let (_, c1) = c.gets("n").unwrap();
    c.roundtrip(b"incr n 1\r\n", b"2\r\n");
    let (_, c2) = c.gets("n").unwrap();
    assert_ne!(c1, c2);
}

#[test]
fn concurrent_incr_is_atomic() {
    let s = Server::start(&[]);
    s.connect().set("ctr", b"0");
    let mut hs = Vec::new();
    for _ in 0..4 {
        let port = s.port;
        hs.push(std::thread::spawn(move || {
            let mut c = Client::connect(port);
            let mut req = Vec::new();
            for _ in 0..500 {
                req.extend_from_slice(b"incr ctr 1\r\n");
            }
            c.send(&req);
            for _ in 0..500 {
                let l = c.read_line_str();
                l.parse::<u64>()
                    .unwrap_or_else(|_| panic!("bad incr reply {l:?}"));
            }
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(s.connect().get("ctr").unwrap(), b"2000");
}
