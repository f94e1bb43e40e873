//! Retrieval commands: get gets gat gats (multi-key), delete, touch.

mod common;
use common::*;

#[test]
fn get_miss_and_multi() {
    script(&[
        ("get nope\r\n", "END\r\n"),
        ("set a 1 0 1\r\nA\r\n", "STORED\r\n"),
        ("set b 2 0 2\r\nBB\r\n", "STORED\r\n"),
        (
            "get a nope b a\r\n",
            "VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nVALUE a 1 1\r\nA\r\nEND\r\n",
        ),
        // extra spaces between keys are fine
        (
            "get   a    b  \r\n",
            "VALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nEND\r\n",
        ),
        // bare \n line ending is accepted
        ("get a\n", "VALUE a 1 1\r\nA\r\nEND\r\n"),
    ]);
}

#[test]
fn gets_multi_has_cas() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("a", b"1");
    c.set("b", b"22");
    let (_, ca) = c.gets("a").unwrap();
    let (_, cb) = c.gets("b").unwrap();
    c.roundtrip(
        b"gets a x b\r\n",
        format!("VALUE a 0 1 {ca}\r\n1\r\nVALUE b 0 2 {cb}\r\n22\r\nEND\r\n").as_bytes(),
    );
}

#[test]
fn many_keys_in_one_get() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut req = String::from("get");
    let mut exp = String::new();
    for i in 0..200 {
        c.set(&format!("key{i}"), format!("v{i}").as_bytes());
        req.push_str(&format!(" key{i} miss{i}"));
        exp.push_str(&format!(
            "VALUE key{i} 0 {}\r\nv{i}\r\n",
            format!("v{i}").len()
        ));
    }
    req.push_str("\r\n");
    exp.push_str("END\r\n");
    c.roundtrip(req.as_bytes(), exp.as_bytes());
}

#[test]
fn delete() {
    script(&[
        ("delete k\r\n", "NOT_FOUND\r\n"),
        ("set k 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("delete k\r\n", "DELETED\r\n"),
        ("get k\r\n", "END\r\n"),
        ("delete k\r\n", "NOT_FOUND\r\n"),
        ("set k 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("delete k noreply\r\n", ""),
        ("delete k noreply\r\n", ""),
        ("get k\r\n", "END\r\n"),
        // legacy "delete key 0" is accepted
        ("set k 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("delete k 0\r\n", "DELETED\r\n"),
        (
            "delete k 5\r\n",
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
        ),
    ]);
}

#[test]
fn touch() {
    script(&[
        ("touch k 10\r\n", "NOT_FOUND\r\n"),
        ("set k 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("touch k 10\r\n", "TOUCHED\r\n"),
        ("touch k 10 noreply\r\n", ""),
        ("touch nope 10 noreply\r\n", ""),
        ("get k\r\n", "VALUE k 0 1\r\nx\r\nEND\r\n"),
        (
            "touch k abc\r\n",
            "CLIENT_ERROR invalid exptime argument\r\n",
        ),
        ("touch k\r\n", "ERROR\r\n"),
    ]);
}

#[test]
fn touch_with_negative_expires() {
    script(&[
        ("set k 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("touch k -1\r\n", "TOUCHED\r\n"),
        ("get k\r\n", "END\r\n"),
    ]);
}

#[test]
fn gat_and_gats() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    run_script(
        &mut c,
        &[
            ("gat 100 nope\r\n", "END\r\n"),
            ("set a 3 0 1\r\nA\r\n", "STORED\r\n"),
            ("set b 4 0 2\r\nBB\r\n", "STORED\r\n"),
            (
                "gat 100 a nope b\r\n",
                "VALUE a 3 1\r\nA\r\nVALUE b 4 2\r\nBB\r\nEND\r\n",
            ),
            ("gat 100\r\n", "END\r\n"),
            ("gat abc a\r\n", "CLIENT_ERROR invalid exptime argument\r\n"),
            ("gat\r\n", "ERROR\r\n"),
        ],
    );
    let (_, ca) = c.gets("a").unwrap();
    c.roundtrip(
        b"gats 100 a\r\n",
        format!("VALUE a 3 1 {ca}\r\nA\r\nEND\r\n").as_bytes(),
    );
    // gat with a negative exptime returns the item and expires it
    c.roundtrip(b"gat -1 b\r\n", b"VALUE b 4 2\r\nBB\r\nEND\r\n");
    c.roundtrip(b"get b\r\n", b"END\r\n");
}

#[test]
fn gat_does_not_change_cas() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("a", b"x");
    let (_, c1) = c.gets("a").unwrap();
    c.roundtrip(b"gat 100 a\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n");
    let (_, c2) = c.gets("a").unwrap();
    assert_eq!(c1, c2);
}

#[test]
fn large_multiget_reply() {
    // 50 x 20 KB values in one reply
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut req = String::from("get");
    let mut exp = Vec::new();
    for i in 0..50 {
        let v = vec![b'a' + (i % 26) as u8; 20_000];
        c.set(&format!("big{i}"), &v);
        req.push_str(&format!(" big{i}"));
        exp.extend_from_slice(format!("VALUE big{i} 0 20000\r\n").as_bytes());
        exp.extend_from_slice(&v);
        exp.extend_from_slice(b"\r\n");
    }
    req.push_str("\r\n");
    exp.extend_from_slice(b"END\r\n");
    c.roundtrip(req.as_bytes(), &exp);
}
