//! stats: general counters, settings, items, slabs, sizes, reset.

mod common;
use common::*;
use std::collections::HashMap;
use std::time::Duration;

fn st(c: &mut Client, name: &str) -> u64 {
    parse_stat(&c.stats(), name)
}

#[test]
fn general_fields_present() {
    let s = Server::start(&["-m", "32", "-t", "3", "-c", "100"]);
    let mut c = s.connect();
    let m = c.stats();
    for f in GENERAL_STATS {
        assert!(m.contains_key(*f), "stats lacks {f}");
    }
    assert_eq!(m["pid"], s.pid().to_string());
    assert_eq!(m["limit_maxbytes"], (32u64 << 20).to_string());
    assert_eq!(m["threads"], "3");
    assert_eq!(m["max_connections"], "100");
    assert_eq!(m["pointer_size"], "64");
    let t: i64 = m["time"].parse().unwrap();
    assert!((t - unix_now()).abs() <= 2, "time {t}");
    assert!(m["uptime"].parse::<u64>().unwrap() < 100);
    assert_eq!(m["curr_items"], "0");
    assert_eq!(m["bytes"], "0");
}

/// `gat`/`gats` count as touches only: memcached 1.6.18 leaves `cmd_get` (and the get
/// hit/miss counters) alone (checked with `FERRO_TEST_SERVER=/usr/bin/memcached`).
#[test]
fn gat_counts_a_touch_not_a_get() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n");
    c.roundtrip(b"gat 0 k nope\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
    c.send(b"gats 100 k\r\n");
    assert!(c.read_line_str().starts_with("VALUE k 0 1 "));
    c.expect(b"v\r\nEND\r\n");
    let m = c.stats();
    let got: Vec<(&str, u64)> = [
        "cmd_get",
        "get_hits",
        "get_misses",
        "cmd_touch",
        "touch_hits",
        "touch_misses",
    ]
    .into_iter()
    .map(|k| (k, parse_stat(&m, k)))
    .collect();
    assert_eq!(
        got,
        [
            ("cmd_get", 0),
            ("get_hits", 0),
            ("get_misses", 0),
            ("cmd_touch", 3),
            ("touch_hits", 2),
            ("touch_misses", 1),
        ]
    );
}

#[test]
fn counters() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let steps: &[(&str, &str)] = &[
        ("set a 0 0 1\r\n1\r\n", "STORED\r\n"),
        ("set b 0 0 1\r\nx\r\n", "STORED\r\n"),
        ("add a 0 0 1\r\n1\r\n", "NOT_STORED\r\n"),
        (
            "get a b nope\r\n",
            "VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\nx\r\nEND\r\n",
        ),
        ("get nope\r\n", "END\r\n"),
        ("delete b\r\n", "DELETED\r\n"),
        ("delete b\r\n", "NOT_FOUND\r\n"),
        ("incr a 1\r\n", "2\r\n"),
        ("incr nope 1\r\n", "NOT_FOUND\r\n"),
        ("decr a 1\r\n", "1\r\n"),
        ("decr a 1\r\n", "0\r\n"),
        ("decr nope 1\r\n", "NOT_FOUND\r\n"),
        ("cas nope 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n"),
        ("cas a 0 0 1 999999\r\nx\r\n", "EXISTS\r\n"),
        ("touch a 100\r\n", "TOUCHED\r\n"),
        ("touch nope 100\r\n", "NOT_FOUND\r\n"),
    ];
    run_script(&mut c, steps);
    let (_, cas) = c.gets("a").unwrap();
    c.roundtrip(
        format!("cas a 0 0 1 {cas}\r\n5\r\n").as_bytes(),
        b"STORED\r\n",
    );
    let m = c.stats();
    let want: HashMap<&str, u64> = [
        ("cmd_get", 5),
        ("get_hits", 3),
        ("get_misses", 2),
        ("cmd_set", 6),
        ("delete_hits", 1),
        ("delete_misses", 1),
        ("incr_hits", 1),
        ("incr_misses", 1),
        ("decr_hits", 2),
        ("decr_misses", 1),
        ("cas_misses", 1),
        ("cas_badval", 1),
        ("cas_hits", 1),
        ("cmd_touch", 2),
        ("touch_hits", 1),
        ("touch_misses", 1),
        ("curr_items", 1),
        ("total_items", 3), // set a, set b, cas a: in-place incr/decr do not count
        ("get_expired", 0),
        ("get_flushed", 0),
        ("evictions", 0),
    ]
    .into_iter()
    .collect();
    let mut bad = Vec::new();
    for (k, v) in &want {
        let got = parse_stat(&m, k);
        if got != *v {
            bad.push(format!("{k}: want {v} got {got}"));
        }
    }
    bad.sort();
    assert!(bad.is_empty(), "wrong counters:\n{}", bad.join("\n"));
}

#[test]
fn curr_items_and_bytes_follow_stores() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    for i in 0..10 {
        c.set(&format!("k{i}"), b"0123456789");
    }
    assert_eq!(st(&mut c, "curr_items"), 10);
    assert_eq!(st(&mut c, "total_items"), 10);
    let b10 = st(&mut c, "bytes");
    assert!(b10 >= 100, "bytes {b10} less than the values stored");
    c.roundtrip(b"delete k0\r\n", b"DELETED\r\n");
    assert_eq!(st(&mut c, "curr_items"), 9);
    assert!(st(&mut c, "bytes") < b10);
    c.roundtrip(b"flush_all\r\n", b"OK\r\n");
    // flushed items are reclaimed lazily: only require they are not readable
    assert_eq!(c.get("k1"), None);
}

#[test]
fn bytes_read_and_written_increase() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let m1 = c.stats();
    c.set("k", &[b'x'; 1000]);
    assert_eq!(c.get("k").unwrap().len(), 1000);
    let m2 = c.stats();
    let r1 = parse_stat(&m1, "bytes_read");
    let r2 = parse_stat(&m2, "bytes_read");
    let w1 = parse_stat(&m1, "bytes_written");
    let w2 = parse_stat(&m2, "bytes_written");
    assert!(r2 >= r1 + 1000, "bytes_read {r1} -> {r2}");
    assert!(w2 >= w1 + 1000, "bytes_written {w1} -> {w2}");
}

#[test]
fn connection_counters() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // let the harness's start-up probe connection be counted and closed first
    std::thread::sleep(Duration::from_millis(300));
    let m1 = c.stats();
    let cur1 = parse_stat(&m1, "curr_connections");
    let tot1 = parse_stat(&m1, "total_connections");
    let mut extra: Vec<Client> = (0..3).map(|_| s.connect()).collect();
    for e in extra.iter_mut() {
        e.roundtrip(b"get x\r\n", b"END\r\n");
    }
    let m2 = c.stats();
    assert_eq!(parse_stat(&m2, "curr_connections"), cur1 + 3);
    assert_eq!(parse_stat(&m2, "total_connections"), tot1 + 3);
    drop(extra);
    let back = wait_until(Duration::from_secs(5), || {
        st(&mut c, "curr_connections") == cur1
    });
    assert!(back, "curr_connections did not drop back to {cur1}");
}

#[test]
fn stats_reset() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.set("a", b"1");
    assert_eq!(c.get("a").unwrap(), b"1");
    assert_eq!(c.get("b"), None);
    c.roundtrip(b"stats reset\r\n", b"RESET\r\n");
    let m = c.stats();
    for k in [
        "cmd_get",
        "get_hits",
        "get_misses",
        "cmd_set",
        "total_items",
        "evictions",
    ] {
        assert_eq!(parse_stat(&m, k), 0, "{k} after reset");
    }
    // reset keeps the items
    assert_eq!(parse_stat(&m, "curr_items"), 1);
    assert_eq!(c.get("a").unwrap(), b"1");
}

#[test]
fn stats_settings() {
    // `tcpport` reports the `-p` given (-1 for an ephemeral port): a port known at start.
    let p = known_port().to_string();
    let s = Server::start(&[
        "-p", &p, "-m", "16", "-c", "200", "-t", "2", "-I", "2m", "-M", "-C",
    ]);
    let mut c = s.connect();
    let m = c.stats_arg("settings");
    let want = [
        ("maxbytes", (16u64 << 20).to_string()),
        ("maxconns", "200".to_string()),
        ("tcpport", s.port.to_string()),
        ("udpport", "0".to_string()),
        ("evictions", "off".to_string()),
        ("cas_enabled", "no".to_string()),
        ("num_threads", "2".to_string()),
        ("item_size_max", (2u64 << 20).to_string()),
        ("growth_factor", "1.25".to_string()),
        ("chunk_size", "48".to_string()),
        ("shutdown_command", "no".to_string()),
        ("reqs_per_event", "20".to_string()),
        ("tcp_backlog", "1024".to_string()),
        ("verbosity", "0".to_string()),
    ];
    for (k, v) in want {
        assert_eq!(m.get(k), Some(&v), "stats settings {k}");
    }
    let d = Server::start(&["-A"]);
    let m = d.connect().stats_arg("settings");
    assert_eq!(m["evictions"], "on");
    assert_eq!(m["cas_enabled"], "yes");
    assert_eq!(m["shutdown_command"], "yes");
    assert_eq!(m["maxconns"], "1024");
    assert_eq!(m["maxbytes"], (64u64 << 20).to_string());
    assert_eq!(m["item_size_max"], (1u64 << 20).to_string());
}

#[test]
fn stats_items_and_slabs() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    assert!(
        c.stats_arg("items").is_empty(),
        "stats items on an empty cache"
    );
    c.set("a", b"x");
    c.set("b", b"y");
    c.set("big", &[b'z'; 5000]);
    let items = c.stats_arg("items");
    let numbers: u64 = items
        .iter()
        .filter(|(k, _)| k.starts_with("items:") && k.ends_with(":number"))
        .map(|(_, v)| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(numbers, 3, "items:*:number in {items:?}");
    for k in items.keys() {
        let p: Vec<&str> = k.split(':').collect();
        assert!(
            p.len() == 3 && p[0] == "items" && p[1].parse::<u32>().is_ok(),
            "{k}"
        );
    }
    let classes: Vec<&String> = items.keys().filter(|k| k.ends_with(":age")).collect();
    assert_eq!(classes.len(), 2, "two slab classes in use: {items:?}");
    for f in ["number", "age", "evicted", "outofmemory"] {
        assert!(
            items.keys().any(|k| k.ends_with(&format!(":{f}"))),
            "stats items lacks *:{f}"
        );
    }
    let slabs = c.stats_arg("slabs");
    assert_eq!(slabs.get("active_slabs").map(String::as_str), Some("2"));
    assert!(slabs.contains_key("total_malloced"));
    let used: u64 = slabs
        .iter()
        .filter(|(k, _)| k.ends_with(":used_chunks"))
        .map(|(_, v)| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(used, 3);
    // At -m 64 each class' first page is a starter page, a quarter of 1 MiB: the two classes
    // hold 512 KiB, and their chunks are a quarter of a full page's.
    assert_eq!(
        slabs.get("total_malloced").map(String::as_str),
        Some("524288")
    );
    for (k, v) in slabs.iter().filter(|(k, _)| k.ends_with(":total_chunks")) {
        let id = k.trim_end_matches(":total_chunks");
        let per: u64 = slabs[&format!("{id}:chunks_per_page")].parse().unwrap();
        assert_eq!(slabs[&format!("{id}:total_pages")], "1");
        assert_eq!(v.parse::<u64>().unwrap(), per / 4, "{k}");
    }
    for f in [
        "chunk_size",
        "chunks_per_page",
        "total_pages",
        "total_chunks",
        "free_chunks",
    ] {
        assert!(
            slabs.keys().any(|k| k.ends_with(&format!(":{f}"))),
            "stats slabs lacks *:{f}"
        );
    }
}

#[test]
fn stats_sizes() {
    script(&[("stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n")]);
}

/// `stats sizes_enable` / `sizes_disable` answer one line without END (memcached 1.6.18's
/// bytes); while enabled, `stats sizes` lists 32-byte buckets of items stored since.
#[test]
fn stats_sizes_tracking() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"stats sizes_enable\r\n", b"STAT sizes_status enabled\r\n");
    c.roundtrip(b"set zz 0 0 5\r\nhello\r\n", b"STORED\r\n");
    c.send(b"stats sizes\r\n");
    let sizes = parse_stats(&c.read_until_end());
    assert_eq!(sizes.len(), 1, "{sizes:?}");
    let (bucket, n) = sizes.iter().next().unwrap();
    assert_eq!(n, "1");
    assert_eq!(bucket.parse::<u64>().unwrap() % 32, 0);
    c.roundtrip(
        b"stats sizes_disable\r\n",
        b"STAT sizes_status disabled\r\n",
    );
    c.roundtrip(b"stats sizes\r\n", b"STAT sizes_status disabled\r\nEND\r\n");
    // -o track_sizes starts with it on.
    let t = Server::start(&["-o", "track_sizes"]);
    let mut c = t.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.send(b"stats sizes\r\n");
    assert_eq!(parse_stats(&c.read_until_end()).len(), 1);
    assert_eq!(c.stats_arg("settings")["track_sizes"], "yes");
}

#[test]
fn stats_after_unknown_subcommand_still_works() {
    script(&[
        ("stats bogus\r\n", "ERROR\r\n"),
        ("stats reset\r\n", "RESET\r\n"),
        ("get x\r\n", "END\r\n"),
    ]);
}

/// The class of `key` from the `me` debug line (`... cls=N ...`).
fn class_of(c: &mut Client, key: &str) -> String {
    c.send(format!("me {key}\r\n").as_bytes());
    let line = c.read_line_str();
    line.split(' ')
        .find_map(|f| f.strip_prefix("cls="))
        .unwrap_or_else(|| panic!("no cls in {line:?}"))
        .trim_end()
        .to_string()
}

/// `stats slabs` per-class command counters (`N:get_hits`, `N:cmd_set`, ...) count in the
/// class of the item, from text and meta commands alike, and add up to the global ones
/// (memcached derives its global counters from them).
#[test]
fn slab_command_counters_follow_the_items_class() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    let big = "z".repeat(5000);
    c.roundtrip(
        format!("set big 0 0 5000\r\n{big}\r\n").as_bytes(),
        b"STORED\r\n",
    );
    c.roundtrip(b"set n 0 0 1\r\n5\r\n", b"STORED\r\n");
    let (small, large) = (class_of(&mut c, "a"), class_of(&mut c, "big"));
    assert_ne!(small, large);
    assert_eq!(class_of(&mut c, "n"), small);

    c.roundtrip(b"get a\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n");
    c.send(b"gat 100 big\r\n");
    assert_eq!(c.read_line(), b"VALUE big 0 5000\r\n");
    let _ = c.read_line();
    assert_eq!(c.read_line(), b"END\r\n");
    c.roundtrip(b"mg a v\r\n", b"VA 1\r\nx\r\n");
    c.roundtrip(b"mg big T30\r\n", b"HD\r\n");
    c.roundtrip(b"touch a 10\r\n", b"TOUCHED\r\n");
    c.roundtrip(b"incr n 1\r\n", b"6\r\n");
    c.roundtrip(b"decr n 2\r\n", b"4\r\n");
    c.roundtrip(b"ma n\r\n", b"HD\r\n");
    c.send(b"gets a\r\n");
    let line = c.read_line_str();
    let cas: u64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
    let _ = c.read_line();
    assert_eq!(c.read_line(), b"END\r\n");
    c.roundtrip(
        format!("cas a 0 0 1 {cas}\r\ny\r\n").as_bytes(),
        b"STORED\r\n",
    );
    c.roundtrip(
        format!("cas a 0 0 1 {cas}\r\ny\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    c.roundtrip(b"delete big\r\n", b"DELETED\r\n");
    // Misses count nowhere per class.
    c.roundtrip(b"get nokey\r\n", b"END\r\n");
    c.roundtrip(b"delete nokey\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(b"incr nokey 1\r\n", b"NOT_FOUND\r\n");

    let slabs = c.stats_arg("slabs");
    let per = |class: &str, f: &str| -> u64 {
        slabs
            .get(&format!("{class}:{f}"))
            .unwrap_or_else(|| panic!("no {class}:{f} in {slabs:?}"))
            .parse()
            .unwrap()
    };
    let want_small = [
        ("get_hits", 3), // get a, mg a, gets a
        ("cmd_set", 4),  // set a, set n, two cas
        ("delete_hits", 0),
        ("incr_hits", 2), // incr, ma
        ("decr_hits", 1),
        ("cas_hits", 1),
        ("cas_badval", 1),
        ("touch_hits", 1),
    ];
    for (f, n) in want_small {
        assert_eq!(per(&small, f), n, "class {small} {f}");
    }
    // The big item's class still has its page after the delete.
    let want_large = [
        ("get_hits", 0),
        ("cmd_set", 1),
        ("delete_hits", 1),
        ("touch_hits", 2), // gat, mg T
    ];
    for (f, n) in want_large {
        assert_eq!(per(&large, f), n, "class {large} {f}");
    }
    let global = c.stats();
    for f in [
        "get_hits",
        "cmd_set",
        "delete_hits",
        "incr_hits",
        "decr_hits",
        "cas_hits",
        "cas_badval",
        "touch_hits",
    ] {
        let sum: u64 = slabs
            .iter()
            .filter(|(k, _)| k.ends_with(&format!(":{f}")))
            .map(|(_, v)| v.parse::<u64>().unwrap())
            .sum();
        assert_eq!(sum, parse_stat(&global, f), "sum of *:{f} vs stats {f}");
    }
    // stats reset zeroes them.
    c.roundtrip(b"stats reset\r\n", b"RESET\r\n");
    let slabs = c.stats_arg("slabs");
    assert_eq!(
        slabs.get(&format!("{small}:get_hits")).map(String::as_str),
        Some("0")
    );
}

/// The storage outcome counters count meta `ms` as they count text `cas` (one shared
/// mechanism for text, meta and binary).
#[test]
fn meta_set_counts_cas_outcomes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 1\r\nx\r\n", b"HD\r\n");
    c.send(b"mg k c\r\n");
    let line = c.read_line_str();
    let cas: u64 = line
        .trim_end()
        .strip_prefix("HD c")
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    c.roundtrip(format!("ms k 1 C{cas}\r\ny\r\n").as_bytes(), b"HD\r\n");
    c.roundtrip(format!("ms k 1 C{cas}\r\nz\r\n").as_bytes(), b"EX\r\n");
    c.roundtrip(b"ms nokey 1 C5\r\nz\r\n", b"NF\r\n");
    let st = c.stats();
    for (f, n) in [
        ("cas_hits", 1),
        ("cas_badval", 1),
        ("cas_misses", 1),
        ("cmd_set", 4),
    ] {
        assert_eq!(parse_stat(&st, f), n, "{f}");
    }
}
