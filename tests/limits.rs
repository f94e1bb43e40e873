//! Limits: item size (-I), memory (-m, -M), connections (-c), eviction.

mod common;
use common::*;
use std::time::Duration;

fn set_req(key: &str, len: usize) -> Vec<u8> {
    let mut req = format!("set {key} 0 0 {len}\r\n").into_bytes();
    req.extend(std::iter::repeat_n(b'v', len));
    req.extend_from_slice(b"\r\n");
    req
}

#[test]
fn max_item_size_default_1m() {
    let s = Server::start(&["-I", "1m"]);
    let mut c = s.connect();
    c.roundtrip(&set_req("under", 1024 * 1024 - 512), b"STORED\r\n");
    assert_eq!(c.get("under").unwrap().len(), 1024 * 1024 - 512);
    c.roundtrip(
        &set_req("over", 1024 * 1024 + 1),
        b"SERVER_ERROR object too large for cache\r\n",
    );
    c.roundtrip(b"get over\r\n", b"END\r\n");
}

#[test]
fn max_item_size_2m() {
    let s = Server::start(&["-I", "2m"]);
    let mut c = s.connect();
    c.roundtrip(&set_req("a", 1_500_000), b"STORED\r\n");
    assert_eq!(c.get("a").unwrap().len(), 1_500_000);
    c.roundtrip(
        &set_req("b", 2 * 1024 * 1024 + 1),
        b"SERVER_ERROR object too large for cache\r\n",
    );
}

#[test]
fn max_item_size_small() {
    // (memcached refuses -I below its 512k slab_chunk_max)
    let s = Server::start(&["-I", "512k"]);
    let mut c = s.connect();
    c.roundtrip(&set_req("a", 500_000), b"STORED\r\n");
    c.roundtrip(
        &set_req("b", 530_000),
        b"SERVER_ERROR object too large for cache\r\n",
    );
    c.roundtrip(b"get b\r\n", b"END\r\n");
}

#[test]
fn out_of_memory_with_disable_evictions() {
    let s = Server::start(&["-m", "8", "-M"]);
    let mut c = s.connect();
    let mut stored = 0;
    let mut oom = false;
    for i in 0..2000 {
        c.send(&set_req(&format!("k{i}"), 10_000));
        let l = c.read_line();
        if l == b"STORED\r\n" {
            stored += 1;
        } else {
            assert_eq!(
                esc(&l),
                esc(b"SERVER_ERROR out of memory storing object\r\n"),
                "after {stored} stores"
            );
            oom = true;
            break;
        }
    }
    assert!(
        oom,
        "20 MB stored into -m 8 -M without an out-of-memory error"
    );
    assert!(stored > 10, "only {stored} items fit in 8 MB");
    // nothing was evicted: the first key is still there
    assert_eq!(c.get("k0").unwrap().len(), 10_000);
    assert_eq!(parse_stat(&c.stats(), "evictions"), 0);
    // reads and deletes still work; a delete frees room for a same-size item
    c.roundtrip(b"delete k0\r\n", b"DELETED\r\n");
    c.roundtrip(&set_req("again", 10_000), b"STORED\r\n");
}

#[test]
fn eviction_with_small_memory() {
    let s = Server::start(&["-m", "8"]);
    let mut c = s.connect();
    let n = 3000; // 30 MB into 8 MB
    let mut req = Vec::new();
    for i in 0..n {
        req.extend(set_req(&format!("key{i}"), 10_000));
        if i % 100 == 99 {
            c.send(&req);
            req.clear();
            for _ in 0..100 {
                c.expect(b"STORED\r\n");
            }
        }
    }
    assert_eq!(
        c.get("key0"),
        None,
        "oldest key survived 30 MB of writes into 8 MB"
    );
    for i in n - 10..n {
        assert_eq!(
            c.get(&format!("key{i}")).map(|v| v.len()),
            Some(10_000),
            "recent key{i} missing"
        );
    }
    let st = c.stats();
    assert!(parse_stat(&st, "evictions") > 0);
    let items = parse_stat(&st, "curr_items");
    assert!(items > 100 && items < 900, "curr_items {items}");
    assert_eq!(parse_stat(&st, "total_items"), n as u64);
    assert!(parse_stat(&st, "bytes") <= 8 * 1024 * 1024);
    assert_eq!(parse_stat(&st, "limit_maxbytes"), 8 * 1024 * 1024);
}

#[test]
fn connection_limit() {
    // memcached counts some internal fds against -c (with -t 4, -c 50 admits 26 clients);
    // ferrocache admits exactly 50. Either way: some connection past the limit is refused
    // with exactly "ERROR Too many open connections\r\n" and then closed.
    let limit = 50;
    let s = Server::start(&["-c", &limit.to_string(), "-t", "4"]);
    let mut first = s.connect();
    first.roundtrip(b"version\r\n", b"VERSION ");
    let _ = first.read_line();
    let mut conns: Vec<Client> = (0..limit + 10).map(|_| s.connect()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let mut refused = 0;
    let mut accepted = Vec::new();
    for (i, c) in conns.iter_mut().enumerate() {
        let got = c.read_quiet(Duration::from_millis(30), Duration::from_secs(2));
        if got.is_empty() {
            accepted.push(i);
        } else {
            assert_eq!(
                esc(&got),
                esc(b"ERROR Too many open connections\r\n"),
                "connection {i}"
            );
            c.timeout = Duration::from_secs(2);
            assert!(
                c.is_closed_within(Duration::from_secs(2)),
                "refused connection {i} left open"
            );
            refused += 1;
        }
    }
    assert!(refused >= 10, "only {refused} of {} refused", limit + 10);
    assert!(accepted.len() < limit, "{} accepted", accepted.len());
    // the accepted ones work
    for &i in &accepted {
        conns[i].roundtrip(b"version\r\n", b"VERSION ");
        let _ = conns[i].read_line();
    }
    let st = first.stats();
    assert!(parse_stat(&st, "rejected_connections") >= 1);
    // after closing, new connections are admitted again
    drop(conns);
    let ok = wait_until(Duration::from_secs(5), || {
        let mut c = s.connect();
        c.send(b"version\r\n");
        let got = c.read_quiet(Duration::from_millis(100), Duration::from_secs(1));
        got.starts_with(b"VERSION ")
    });
    assert!(ok, "no connection admitted after the others closed");
}
