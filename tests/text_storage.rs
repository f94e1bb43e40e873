//! Storage commands: set add replace append prepend cas, with and without noreply.

mod common;
use common::*;

#[test]
fn set_and_get() {
    script(&[
        ("set foo 0 0 3\r\nbar\r\n", "STORED\r\n"),
        ("get foo\r\n", "VALUE foo 0 3\r\nbar\r\nEND\r\n"),
        ("set foo 5 0 4\r\nbaaz\r\n", "STORED\r\n"),
        ("get foo\r\n", "VALUE foo 5 4\r\nbaaz\r\nEND\r\n"),
        ("set empty 0 0 0\r\n\r\n", "STORED\r\n"),
        ("get empty\r\n", "VALUE empty 0 0\r\n\r\nEND\r\n"),
        ("set maxflags 4294967295 0 1\r\nx\r\n", "STORED\r\n"),
        (
            "get maxflags\r\n",
            "VALUE maxflags 4294967295 1\r\nx\r\nEND\r\n",
        ),
    ]);
}

#[test]
fn set_noreply() {
    script(&[
        ("set foo 0 0 3 noreply\r\nbar\r\n", ""),
        ("get foo\r\n", "VALUE foo 0 3\r\nbar\r\nEND\r\n"),
    ]);
}

#[test]
fn binary_value_with_crlf_and_nul() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let v: Vec<u8> = (0u8..=255)
        .chain(b"\r\n\r\nEND\r\n".iter().copied())
        .collect();
    c.set("bin", &v);
    assert_eq!(c.get("bin").unwrap(), v);
}

#[test]
fn add() {
    script(&[
        ("add k 1 0 1\r\na\r\n", "STORED\r\n"),
        ("add k 2 0 1\r\nb\r\n", "NOT_STORED\r\n"),
        ("get k\r\n", "VALUE k 1 1\r\na\r\nEND\r\n"),
        ("add k 2 0 1 noreply\r\nb\r\n", ""),
        ("add k2 2 0 1 noreply\r\nb\r\n", ""),
        (
            "get k k2\r\n",
            "VALUE k 1 1\r\na\r\nVALUE k2 2 1\r\nb\r\nEND\r\n",
        ),
    ]);
}

#[test]
fn replace() {
    script(&[
        ("replace k 0 0 1\r\na\r\n", "NOT_STORED\r\n"),
        ("get k\r\n", "END\r\n"),
        ("set k 0 0 1\r\na\r\n", "STORED\r\n"),
        ("replace k 3 0 2\r\nbb\r\n", "STORED\r\n"),
        ("get k\r\n", "VALUE k 3 2\r\nbb\r\nEND\r\n"),
        ("replace k 4 0 1 noreply\r\nc\r\n", ""),
        ("replace nope 4 0 1 noreply\r\nc\r\n", ""),
        ("get k nope\r\n", "VALUE k 4 1\r\nc\r\nEND\r\n"),
    ]);
}

#[test]
fn append_prepend() {
    script(&[
        ("append k 0 0 1\r\nx\r\n", "NOT_STORED\r\n"),
        ("prepend k 0 0 1\r\nx\r\n", "NOT_STORED\r\n"),
        ("get k\r\n", "END\r\n"),
        ("set k 7 0 2\r\nmm\r\n", "STORED\r\n"),
        // append/prepend ignore the flags and exptime they are given
        ("append k 5 5 2\r\nzz\r\n", "STORED\r\n"),
        ("prepend k 9 9 2\r\naa\r\n", "STORED\r\n"),
        ("get k\r\n", "VALUE k 7 6\r\naammzz\r\nEND\r\n"),
        ("append k 0 0 1 noreply\r\n!\r\n", ""),
        ("prepend k 0 0 1 noreply\r\n^\r\n", ""),
        ("get k\r\n", "VALUE k 7 8\r\n^aammzz!\r\nEND\r\n"),
        ("append k 0 0 0\r\n\r\n", "STORED\r\n"),
        ("get k\r\n", "VALUE k 7 8\r\n^aammzz!\r\nEND\r\n"),
    ]);
}

#[test]
fn append_changes_cas() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("k", b"a");
    let (_, c1) = c.gets("k").unwrap();
    c.store("append", "k", 0, 0, b"b", b"STORED\r\n");
    let (v, c2) = c.gets("k").unwrap();
    assert_eq!(v, b"ab");
    assert_ne!(c1, c2);
}

#[test]
fn cas_basic() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    run_script(&mut c, &[("cas k 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n")]);
    c.set("k", b"v1");
    let (v, cas) = c.gets("k").unwrap();
    assert_eq!(v, b"v1");
    // wrong unique
    c.roundtrip(
        format!("cas k 0 0 2 {}\r\nv2\r\n", cas + 1000).as_bytes(),
        b"EXISTS\r\n",
    );
    // right unique
    c.roundtrip(
        format!("cas k 3 0 2 {cas}\r\nv2\r\n").as_bytes(),
        b"STORED\r\n",
    );
    assert_eq!(c.get_flags("k").unwrap(), (3, b"v2".to_vec()));
    // the unique changed: the old one no longer works
    c.roundtrip(
        format!("cas k 0 0 2 {cas}\r\nv3\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    let (_, cas2) = c.gets("k").unwrap();
    assert_ne!(cas, cas2);
    // noreply: both outcomes silent
    c.roundtrip(
        format!("cas k 0 0 2 {cas} noreply\r\nv4\r\n").as_bytes(),
        b"",
    );
    c.roundtrip(
        format!("cas k 0 0 2 {cas2} noreply\r\nv5\r\n").as_bytes(),
        b"",
    );
    c.roundtrip(b"cas nope 0 0 1 1 noreply\r\nx\r\n", b"");
    assert_eq!(c.get("k").unwrap(), b"v5");
    // after delete: NOT_FOUND
    let (_, cas3) = c.gets("k").unwrap();
    c.roundtrip(b"delete k\r\n", b"DELETED\r\n");
    c.roundtrip(
        format!("cas k 0 0 1 {cas3}\r\nx\r\n").as_bytes(),
        b"NOT_FOUND\r\n",
    );
}

#[test]
fn cas_uniques_increase_per_store() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("a", b"1");
    c.set("b", b"1");
    let (_, ca) = c.gets("a").unwrap();
    let (_, cb) = c.gets("b").unwrap();
    assert!(cb > ca, "cas of later store {cb} not above {ca}");
    c.set("a", b"2");
    let (_, ca2) = c.gets("a").unwrap();
    assert!(ca2 > cb);
}

#[test]
fn cas_race_exactly_one_wins() {
    let s = Server::start(&[]);
    for round in 0..20 {
        let key = format!("race{round}");
        let mut a = s.connect();
        let mut b = s.connect();
        a.set(&key, b"0");
        let (_, ca) = a.gets(&key).unwrap();
        let (_, cb) = b.gets(&key).unwrap();
        assert_eq!(ca, cb);
        let ka = key.clone();
        let port = s.port;
        let ta = std::thread::spawn(move || {
            let mut c = Client::connect(port);
            c.send(format!("cas {ka} 0 0 1 {ca}\r\nA\r\n").as_bytes());
            c.read_line_str()
        });
        b.send(format!("cas {key} 0 0 1 {cb}\r\nB\r\n").as_bytes());
        let rb = b.read_line_str();
        let ra = ta.join().unwrap();
        let mut replies = [ra.clone(), rb.clone()];
        replies.sort();
        assert_eq!(replies, ["EXISTS".to_string(), "STORED".to_string()]);
        let winner = if ra == "STORED" { b"A" } else { b"B" };
        assert_eq!(a.get(&key).unwrap(), winner);
    }
}

#[test]
fn disable_cas_flag() {
    let s = Server::start(&["-C"]);
    let mut c = s.connect();
    c.set("k", b"v");
    let (_, cas) = c.gets("k").unwrap();
    assert_eq!(cas, 0);
}

#[test]
fn set_overwrites_and_keeps_latest() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    for i in 0..100 {
        c.set("k", format!("value-{i}").as_bytes());
    }
    assert_eq!(c.get("k").unwrap(), b"value-99");
}

#[test]
fn key_of_250_bytes_ok() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let k = "k".repeat(250);
    c.set(&k, b"x");
    assert_eq!(c.get(&k).unwrap(), b"x");
}
