//! Input split at every byte boundary, deep pipelines, slow readers.

mod common;
use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

const SCRIPT: &[u8] = b"set a 1 0 3\r\nabc\r\nget a\r\nappend a 0 0 2 noreply\r\nde\r\n\
gets nope\r\nincr a 1\r\nset n 0 0 2\r\n10\r\ndecr n 3\r\ndelete a\r\nbogus\r\nget a n\r\n";

const SCRIPT_REPLY: &[u8] = b"STORED\r\nVALUE a 1 3\r\nabc\r\nEND\r\nEND\r\n\
CLIENT_ERROR cannot increment or decrement non-numeric value\r\nSTORED\r\n7\r\nDELETED\r\n\
ERROR\r\nVALUE n 0 2\r\n7 \r\nEND\r\n";

#[test]
fn whole_script_in_one_write() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(SCRIPT, SCRIPT_REPLY);
}

#[test]
fn one_byte_at_a_time() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.stream.set_nodelay(true).unwrap();
    for &b in SCRIPT {
        c.stream.write_all(&[b]).unwrap();
        c.stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    c.expect(SCRIPT_REPLY);
}

#[test]
fn split_at_every_boundary() {
    // For every split point, send the script in two writes with a pause between.
    let s = Server::start(&[]);
    for cut in 1..SCRIPT.len() {
        let mut c = s.connect();
        c.stream.set_nodelay(true).unwrap();
        c.send(b"flush_all noreply\r\n");
        c.send(&SCRIPT[..cut]);
        std::thread::sleep(Duration::from_millis(2));
        c.send(&SCRIPT[cut..]);
        c.expect(SCRIPT_REPLY);
    }
}

#[test]
fn value_split_across_writes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.stream.set_nodelay(true).unwrap();
    let v = vec![b'v'; 100_000];
    c.send(b"set big 0 0 100000\r\n");
    for chunk in v.chunks(7919) {
        c.send(chunk);
        std::thread::sleep(Duration::from_millis(1));
    }
    c.send(b"\r");
    std::thread::sleep(Duration::from_millis(20));
    c.send(b"\n");
    c.expect(b"STORED\r\n");
    assert_eq!(c.get("big").unwrap(), v);
}

fn pipeline(n: usize) {
    let s = Server::start(&[]);
    let c = s.connect();
    let mut req = Vec::new();
    let mut exp = Vec::new();
    for i in 0..n {
        let v = format!("value-{i}");
        req.extend_from_slice(format!("set key{i} {i} 0 {}\r\n{v}\r\n", v.len()).as_bytes());
        exp.extend_from_slice(b"STORED\r\n");
        req.extend_from_slice(format!("set q{i} 0 0 1 noreply\r\nq\r\n").as_bytes());
        req.extend_from_slice(format!("get key{i}\r\n").as_bytes());
        exp.extend_from_slice(format!("VALUE key{i} {i} {}\r\n{v}\r\nEND\r\n", v.len()).as_bytes());
        req.extend_from_slice(format!("incr ctr{} 1\r\n", i % 3).as_bytes());
        exp.extend_from_slice(b"NOT_FOUND\r\n");
        req.extend_from_slice(format!("delete key{i}\r\n").as_bytes());
        exp.extend_from_slice(b"DELETED\r\n");
    }
    // Write from another thread while reading here: a server that stops reading while its
    // replies are unread must not deadlock the test.
    let mut w = c.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
    let mut c = c;
    c.timeout = Duration::from_secs(30);
    c.expect(&exp);
    writer.join().unwrap();
    assert_eq!(c.get(&format!("q{}", n - 1)).unwrap(), b"q");
}

#[test]
fn thousands_of_pipelined_commands() {
    pipeline(5000);
}

#[test]
fn many_pipelined_gets_unread_then_read() {
    // Queue 2000 gets of a 10 KB value (20 MB of replies) before reading anything.
    let s = Server::start(&[]);
    let mut c = s.connect();
    let v = vec![b'z'; 10_000];
    c.set("v", &v);
    let mut w = c.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let req = b"get v\r\n".repeat(2000);
        w.write_all(&req).unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut one = b"VALUE v 0 10000\r\n".to_vec();
    one.extend_from_slice(&v);
    one.extend_from_slice(b"\r\nEND\r\n");
    c.timeout = Duration::from_secs(30);
    for _ in 0..2000 {
        c.expect(&one);
    }
    writer.join().unwrap();
}

#[test]
fn large_value_does_not_block_other_clients() {
    let s = Server::start(&[]);
    let mut big = s.connect();
    let v: Vec<u8> = (0..900_000u32).map(|i| (i % 251) as u8).collect();
    big.set("big", &v);
    // A slow reader asks for 20 copies (18 MB) and reads nothing yet.
    big.send(&b"get big\r\n".repeat(20));
    std::thread::sleep(Duration::from_millis(200));
    // Meanwhile other connections keep getting prompt answers.
    let mut others: Vec<Client> = (0..3).map(|_| s.connect()).collect();
    let start = Instant::now();
    for i in 0..200 {
        let c = &mut others[i % 3];
        c.timeout = Duration::from_secs(2);
        c.set(&format!("k{i}"), b"v");
        assert_eq!(c.get(&format!("k{i}")).unwrap(), b"v");
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "other clients were slow: {:?}",
        start.elapsed()
    );
    // Now drain the slow reader: all 20 copies intact.
    big.timeout = Duration::from_secs(30);
    let mut one = b"VALUE big 0 900000\r\n".to_vec();
    one.extend_from_slice(&v);
    one.extend_from_slice(b"\r\nEND\r\n");
    for _ in 0..20 {
        big.expect(&one);
    }
}

#[test]
fn many_connections_in_parallel() {
    let s = Server::start(&[]);
    let mut hs = Vec::new();
    for t in 0..8 {
        let port = s.port;
        hs.push(std::thread::spawn(move || {
            let mut c = Client::connect(port);
            for i in 0..300 {
                let k = format!("t{t}-{i}");
                let v = format!("{t}:{i}:{}", "x".repeat(i % 50));
                c.set(&k, v.as_bytes());
                assert_eq!(c.get(&k).unwrap(), v.as_bytes());
            }
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(s.stat_u64("curr_items"), 8 * 300);
}

#[test]
fn client_closing_mid_value_is_harmless() {
    let s = Server::start(&[]);
    for _ in 0..20 {
        let mut c = s.connect();
        c.send(b"set half 0 0 100\r\nonly-some-bytes");
        drop(c);
    }
    let mut c = s.connect();
    assert_eq!(c.get("half"), None);
    c.set("ok", b"1");
}

/// Regression: a client that writes a deep pipeline and then half-closes (as `nc` does)
/// gets every reply, even when `-R` makes the server yield many times after seeing EOF.
#[test]
fn half_close_after_pipeline_gets_every_reply() {
    let s = Server::start(&["-R", "1"]);
    let mut c = s.connect();
    let n = 2000;
    let mut req = Vec::new();
    for i in 0..n {
        req.extend_from_slice(format!("set k{i} 0 0 1\r\nx\r\n").as_bytes());
    }
    req.extend_from_slice(b"get k1999\r\n");
    c.send(&req);
    c.shutdown_write();
    let mut expected = b"STORED\r\n".repeat(n);
    expected.extend_from_slice(b"VALUE k1999 0 1\r\nx\r\nEND\r\n");
    c.expect(&expected);
    c.expect_closed();
}

/// Regression: requests and the FIN queued on the socket while the server is paused
/// (SIGSTOP), so the worker sees data and read-closed in one edge-triggered event, as a
/// busy server does when `nc -q` sends its input and shuts down. A short read takes the
/// data; the FIN must still be read and the connection closed after the replies, instead
/// of left half-open for ever (it was: `CLOSE-WAIT`, client waiting).
#[test]
fn fin_arriving_with_the_requests_closes() {
    let s = Server::start(&["-t", "1"]);
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &s.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {sig}");
    };
    for round in 0..5usize {
        let mut c = s.connect();
        c.roundtrip(b"set ready 0 0 1\r\nx\r\n", b"STORED\r\n");
        signal("-STOP");
        let pieces = 1 + round * 3;
        for i in 0..pieces {
            c.send(format!("set fin{round}:{i} 0 0 5\r\nhello\r\n").as_bytes());
        }
        c.shutdown_write();
        std::thread::sleep(Duration::from_millis(20));
        signal("-CONT");
        c.expect(&b"STORED\r\n".repeat(pieces));
        c.expect_closed();
    }
}
