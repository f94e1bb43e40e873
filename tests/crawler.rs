//! `lru_crawler` sub-commands, `lru_crawler metadump` (what `memcached-tool dump` reads) and
//! `cache_memlimit`. Validated against Debian's memcached 1.6.18 with
//! `FERRO_TEST_SERVER=/usr/bin/memcached` (the replies below are memcached's bytes).

mod common;
use common::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One metadump line parsed into its fields (`key=... exp=... ...`).
fn fields(line: &str) -> HashMap<String, String> {
    line.split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Reads a whole metadump: `\n`-terminated lines, then `END\r\n`.
fn read_dump(c: &mut Client) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..2_000_000 {
        let l = c.read_line();
        if l == b"END\r\n" {
            return lines;
        }
        let s = String::from_utf8(l).expect("utf-8 dump line");
        assert!(s.ends_with('\n') && !s.ends_with("\r\n"), "line {s:?}");
        assert!(s.starts_with("key="), "line {s:?}");
        lines.push(s.trim_end().to_string());
    }
    panic!("no END");
}

#[test]
fn metadump_lists_every_item_with_memcached_fields() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"set b%20c 5 100 2\r\nyy\r\n", b"STORED\r\n");
    c.roundtrip(b"set zz 0 0 5\r\nhello\r\n", b"STORED\r\n");
    c.roundtrip(b"get zz\r\n", b"VALUE zz 0 5\r\nhello\r\nEND\r\n");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    c.send(b"lru_crawler metadump all\r\n");
    let lines = read_dump(&mut c);
    assert_eq!(lines.len(), 3, "{lines:?}");
    let by_key: HashMap<String, HashMap<String, String>> = lines
        .iter()
        .map(|l| {
            let f = fields(l);
            (f["key"].clone(), f)
        })
        .collect();
    // Keys are URL-encoded (memcached's uriencode).
    assert!(by_key.contains_key("b%2520c"), "{lines:?}");
    assert_eq!(by_key["a"]["exp"], "-1");
    let exp: i64 = by_key["b%2520c"]["exp"].parse().unwrap();
    assert!((exp - (now + 100)).abs() <= 2, "exp {exp} vs now {now}");
    let la: i64 = by_key["a"]["la"].parse().unwrap();
    assert!((la - now).abs() <= 2, "la {la} vs now {now}");
    assert_eq!(by_key["a"]["fetch"], "no");
    assert_eq!(by_key["zz"]["fetch"], "yes");
    for f in by_key.values() {
        // Field order and names are memcached's.
        let names: Vec<&str> = ["key", "exp", "la", "cas", "fetch", "cls", "size"].to_vec();
        assert_eq!(f.len(), names.len());
        assert!(f["cls"].parse::<u32>().unwrap() >= 1);
        assert!(f["size"].parse::<u32>().unwrap() > 0);
        assert!(f["cas"].parse::<u64>().unwrap() > 0);
    }
    // Class lists and `hash` walk the same items.
    c.send(b"lru_crawler metadump hash\r\n");
    assert_eq!(read_dump(&mut c).len(), 3);
    let cls = by_key["a"]["cls"].clone();
    c.send(format!("lru_crawler metadump {cls}\r\n").as_bytes());
    let in_class = read_dump(&mut c);
    assert!(in_class.iter().all(|l| fields(l)["cls"] == cls));
    assert!(in_class.iter().any(|l| l.starts_with("key=a ")));
    // The connection goes on normally afterwards.
    c.roundtrip(b"get a\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n");
}

#[test]
fn metadump_streams_a_large_cache() {
    let s = Server::start(&["-m", "128"]);
    let mut c = s.connect();
    let n = 60_000;
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend_from_slice(
            format!("set key:{i} 0 0 8 noreply\r\nvalue{:03}\r\n", i % 1000).as_bytes(),
        );
        if batch.len() > 256 * 1024 {
            c.send(&batch);
            batch.clear();
        }
    }
    c.send(&batch);
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    assert_eq!(s.stat_u64("curr_items"), n);
    let t = Instant::now();
    c.send(b"lru_crawler metadump all\r\n");
    let lines = read_dump(&mut c);
    eprintln!("metadump of {} items in {:?}", lines.len(), t.elapsed());
    let mut keys: Vec<u64> = lines
        .iter()
        .map(|l| {
            fields(l)["key"]
                .strip_prefix("key%3A")
                .unwrap_or_else(|| panic!("{l}"))
                .parse()
                .unwrap()
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len() as u64, n, "every key once");
    c.roundtrip(b"get key:7\r\n", b"VALUE key:7 0 8\r\nvalue007\r\nEND\r\n");
}

/// `--meta-protocol 1.6.45`: `lru_crawler mgdump all` streams a large cache as
/// `OK`, one `mg <key>` line per item (every key once, base64 ones with ` b`), then `EN`,
/// and the client can send the lines back as requests.
#[test]
fn mgdump_streams_a_large_cache() {
    let s = Server::start(&["-m", "64", "--meta-protocol", "1.6.45"]);
    let mut c = s.connect();
    let n = 30_000u64;
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend_from_slice(format!("set k:{i} 0 0 1 noreply\r\nv\r\n").as_bytes());
        if batch.len() > 256 * 1024 {
            c.send(&batch);
            batch.clear();
        }
    }
    c.send(&batch);
    c.roundtrip(b"ms AP8g 1 b\r\nz\r\n", b"HD\r\n");
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    c.send(b"lru_crawler mgdump all\r\n");
    assert_eq!(c.read_line(), b"OK\r\n");
    let mut keys = Vec::new();
    let mut binary = Vec::new();
    for _ in 0..=n + 1 {
        let l = c.read_line();
        if l == b"EN\r\n" {
            break;
        }
        let l = String::from_utf8(l).expect("utf-8 line");
        let req = l
            .strip_prefix("mg ")
            .and_then(|r| r.strip_suffix("\r\n"))
            .unwrap_or_else(|| panic!("{l:?}"));
        match req.strip_suffix(" b") {
            Some(b64) => binary.push(b64.to_string()),
            None => keys.push(req.to_string()),
        }
    }
    assert_eq!(binary, ["AP8g"]);
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len() as u64, n, "every key once");
    // The lines are requests: sent back, they fetch the items.
    c.roundtrip(
        b"mg k:7 v\r\nmg AP8g b v\r\n",
        b"VA 1\r\nv\r\nVA 1\r\nz\r\n",
    );
}

#[test]
fn metadump_refuses_pipelined_commands_before_it() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(b"set a 0 0 1\r\nx\r\nlru_crawler metadump all\r\n");
    c.expect(b"STORED\r\nERROR cannot pipeline other commands before metadump\r\n");
}

#[test]
fn lru_crawler_replies() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    for (send, expect) in [
        (
            &b"lru_crawler enable\r\n"[..],
            &b"ERROR failed to start lru crawler thread\r\n"[..],
        ),
        (b"lru_crawler disable\r\n", b"OK\r\n"),
        (b"lru_crawler disable\r\n", b"OK\r\n"),
        (
            b"lru_crawler crawl all\r\n",
            b"CLIENT_ERROR lru crawler disabled\r\n",
        ),
        (
            b"lru_crawler crawl 99\r\n",
            b"CLIENT_ERROR lru crawler disabled\r\n",
        ),
        (
            b"lru_crawler metadump all\r\n",
            b"CLIENT_ERROR lru crawler disabled\r\n",
        ),
        (b"lru_crawler enable\r\n", b"OK\r\n"),
        (
            b"lru_crawler crawl 99\r\n",
            b"BADCLASS invalid class id\r\n",
        ),
        (b"lru_crawler crawl x\r\n", b"BADCLASS invalid class id\r\n"),
        (
            b"lru_crawler metadump 0\r\n",
            b"BADCLASS invalid class id\r\n",
        ),
        (b"lru_crawler sleep 100\r\n", b"OK\r\n"),
        (
            b"lru_crawler sleep 2000000\r\n",
            b"CLIENT_ERROR sleep must be one second or less\r\n",
        ),
        (b"lru_crawler tocrawl 10\r\n", b"OK\r\n"),
        (
            b"lru_crawler tocrawl x\r\n",
            b"CLIENT_ERROR bad command line format\r\n",
        ),
        (
            b"lru_crawler sleep -5\r\n",
            b"CLIENT_ERROR bad command line format\r\n",
        ),
        (b"lru_crawler\r\n", b"ERROR\r\n"),
        (b"lru_crawler foo\r\n", b"ERROR\r\n"),
        (b"lru_crawler metadump\r\n", b"ERROR\r\n"),
    ] {
        c.roundtrip(send, expect);
    }
    let st = c.stats_arg("settings");
    assert_eq!(st["lru_crawler_sleep"], "100");
    assert_eq!(st["lru_crawler_tocrawl"], "10");
}

#[test]
fn lru_crawler_crawl_reclaims_expired_items() {
    let s = Server::start(&["-o", "no_lru_crawler"]);
    let mut c = s.connect();
    for i in 0..50 {
        c.roundtrip(
            format!("set short{i} 0 1 1\r\nx\r\n").as_bytes(),
            b"STORED\r\n",
        );
    }
    c.roundtrip(b"set long 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(
        b"lru_crawler crawl all\r\n",
        b"CLIENT_ERROR lru crawler disabled\r\n",
    );
    std::thread::sleep(Duration::from_millis(2100));
    // Disabled: memcached prints no lru_crawler_running / _starts then.
    let st = c.stats();
    assert!(!st.contains_key("lru_crawler_starts"), "{st:?}");
    c.roundtrip(b"lru_crawler enable\r\n", b"OK\r\n");
    let starts = s.stat_u64("lru_crawler_starts");
    c.roundtrip(b"lru_crawler crawl all\r\n", b"OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.stat_u64("curr_items") > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.stat_u64("curr_items"), 1);
    if !is_memcached() {
        // memcached's LRU maintainer may get there first and count elsewhere.
        assert!(s.stat_u64("crawler_reclaimed") >= 50);
        // The crawler looked at the live item too (and maybe again on later passes).
        assert!(s.stat_u64("crawler_items_checked") >= 51);
        let items = s.connect().stats_arg("items");
        assert!(
            items
                .iter()
                .any(|(k, v)| k.ends_with(":crawler_items_checked") && v != "0"),
            "{items:?}"
        );
    }
    assert!(s.stat_u64("lru_crawler_starts") > starts);
    c.roundtrip(b"get long\r\n", b"VALUE long 0 1\r\nx\r\nEND\r\n");
}

#[test]
fn cache_memlimit_replies_and_limit() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    for (send, expect) in [
        (&b"cache_memlimit 100\r\n"[..], &b"OK\r\n"[..]),
        (
            b"cache_memlimit 7\r\n",
            b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
        ),
        (
            b"cache_memlimit 2000000000\r\n",
            b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n",
        ),
        (b"cache_memlimit abc\r\n", b"ERROR\r\n"),
        (b"cache_memlimit\r\n", b"ERROR\r\n"),
    ] {
        c.roundtrip(send, expect);
    }
    assert_eq!(c.stats()["limit_maxbytes"], (100u64 << 20).to_string());
    c.send(b"cache_memlimit 80 noreply\r\n");
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    assert_eq!(c.stats()["limit_maxbytes"], (80u64 << 20).to_string());
}

#[test]
fn cache_memlimit_lowered_gives_memory_back() {
    if is_memcached() {
        return; // memcached's release pace depends on its slab rebalancer; ours is checked.
    }
    let s = Server::start(&["-m", "32"]);
    let mut c = s.connect();
    let value = vec![b'v'; 1000];
    let mut batch = Vec::new();
    for i in 0..40_000 {
        batch.extend_from_slice(format!("set k{i} 0 0 {} noreply\r\n", value.len()).as_bytes());
        batch.extend_from_slice(&value);
        batch.extend_from_slice(b"\r\n");
        if batch.len() > 256 * 1024 {
            c.send(&batch);
            batch.clear();
        }
    }
    c.send(&batch);
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    let before = s.stat_u64("bytes");
    assert!(before > 20 << 20, "filled: {before}");
    c.roundtrip(b"cache_memlimit 8\r\n", b"OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pages = u64::MAX;
    while Instant::now() < deadline {
        let slabs = c.stats_arg("slabs");
        pages = parse_stat(&slabs, "total_malloced");
        if pages <= 8 << 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        pages <= 8 << 20,
        "total_malloced {pages} after lowering to 8 MB"
    );
    assert!(s.stat_u64("bytes") < 8 << 20);
    // What is still there is intact.
    let mut hits = 0;
    for i in (0..40_000).step_by(97) {
        c.send(format!("get k{i}\r\n").as_bytes());
        let r = c.read_until_end();
        if r.len() > 5 {
            assert!(r.windows(value.len()).any(|w| w == value.as_slice()));
            hits += 1;
        }
    }
    assert!(hits > 0);
}

#[test]
fn metadump_refused_with_dumping_disabled() {
    let s = Server::start(&["-X"]);
    let mut c = s.connect();
    c.roundtrip(
        b"lru_crawler metadump all\r\n",
        b"ERROR metadump not allowed\r\n",
    );
}

/// Reads a `stats cachedump` reply: `ITEM key [N b; T s]` lines, then `END`. Returns
/// (key, value bytes, expiry) per line and the reply's size in bytes.
fn read_cachedump(c: &mut Client) -> (Vec<(String, usize, i64)>, usize) {
    let mut items = Vec::new();
    let mut bytes = 0;
    for _ in 0..100_000 {
        let l = String::from_utf8(c.read_line()).expect("utf-8 line");
        bytes += l.len();
        if l == "END\r\n" {
            return (items, bytes);
        }
        let rest = l
            .strip_prefix("ITEM ")
            .and_then(|r| r.strip_suffix(" s]\r\n"))
            .unwrap_or_else(|| panic!("line {l:?}"));
        let (key, rest) = rest.split_once(" [").expect("ITEM key [");
        let (n, t) = rest.split_once(" b; ").expect("N b; T");
        items.push((key.to_string(), n.parse().unwrap(), t.parse().unwrap()));
    }
    panic!("no END");
}

/// `stats cachedump <class> <limit>`. memcached lists its COLD LRU only, which new items
/// reach after a while (its LRU maintainer moves them): against memcached, ask again until
/// `want` items show (bounded).
fn listing(
    c: &mut Client,
    class: &str,
    limit: u32,
    want: usize,
) -> (Vec<(String, usize, i64)>, usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        c.send(format!("stats cachedump {class} {limit}\r\n").as_bytes());
        let got = read_cachedump(c);
        if got.0.len() >= want || !is_memcached() || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The class `key` is stored in, from the metadump.
fn class_of(c: &mut Client, key: &str) -> usize {
    c.send(b"lru_crawler metadump all\r\n");
    let lines = read_dump(c);
    let f = lines
        .iter()
        .map(|l| fields(l))
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in the dump"));
    f["cls"].parse().unwrap()
}

/// `stats cachedump <class> <limit>` lists the class's items as memcached does (raw key,
/// value bytes, absolute expiry or 0), honours the limit, and lists nothing for a class
/// without items.
#[test]
fn cachedump_lists_the_items_of_a_class() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 3\r\nabc\r\n", b"STORED\r\n");
    c.roundtrip(b"set b 0 100 5\r\nhello\r\n", b"STORED\r\n");
    let big = "x".repeat(5000);
    c.roundtrip(
        format!("set big 0 0 {}\r\n{big}\r\n", big.len()).as_bytes(),
        b"STORED\r\n",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let small = class_of(&mut c, "a").to_string();
    assert_eq!(class_of(&mut c, "b").to_string(), small);
    let large = class_of(&mut c, "big").to_string();
    assert_ne!(small, large);

    let (mut items, _) = listing(&mut c, &small, 0, 2);
    items.sort();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!((items[0].0.as_str(), items[0].1, items[0].2), ("a", 3, 0));
    assert_eq!((items[1].0.as_str(), items[1].1), ("b", 5));
    assert!((items[1].2 - (now + 100)).abs() <= 2, "{items:?} now {now}");

    c.send(format!("stats cachedump {small} 1\r\n").as_bytes());
    assert_eq!(read_cachedump(&mut c).0.len(), 1);
    assert_eq!(
        listing(&mut c, &large, 0, 1).0,
        vec![("big".to_string(), 5000, 0)]
    );
    c.roundtrip(b"stats cachedump 0 0\r\n", b"END\r\n");
    c.roundtrip(b"stats cachedump 63 5\r\n", b"END\r\n");
    // The connection goes on normally afterwards.
    c.roundtrip(b"get a\r\n", b"VALUE a 0 3\r\nabc\r\nEND\r\n");
}

/// A listing stops at memcached's 2 MB cap (`END` included), however many items match.
#[test]
fn cachedump_is_capped_at_two_megabytes() {
    let s = Server::start(&["-m", "64"]);
    let mut c = s.connect();
    let n = 9000;
    let mut req = Vec::new();
    for i in 0..n {
        req.extend_from_slice(
            format!("set {}{i:05} 0 0 1 noreply\r\nv\r\n", "k".repeat(240)).as_bytes(),
        );
    }
    c.send(&req);
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    let cls = class_of(&mut c, &format!("{}00000", "k".repeat(240)));
    c.send(format!("stats cachedump {cls} 0\r\n").as_bytes());
    let (items, bytes) = read_cachedump(&mut c);
    assert!(bytes <= 2 * 1024 * 1024, "{bytes} bytes");
    if !is_memcached() {
        // memcached lists only the part of the class in its COLD LRU.
        assert!(
            bytes > 2 * 1024 * 1024 - 300,
            "{bytes} bytes: stopped early"
        );
        assert!(
            items.len() < n && items.len() > 7000,
            "{} items",
            items.len()
        );
    }
    c.roundtrip(b"version\r\n", b"VERSION ");
}
