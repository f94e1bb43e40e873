//! Store-level tests: every mode and outcome, exptime and flush rules, incr/decr edges,
//! memory bound and eviction order, the sweeper, a `HashMap` model test (proptest),
//! multi-threaded stress tests, and pins and reservations: pinned values through every
//! writer and page move, and concurrent readers holding pins while writers and a mover run
//! (`FERRO_STRESS_SCALE` / `FERRO_STRESS_SECS` scale it down for valgrind or Miri).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use proptest::prelude::*;

use super::*;

fn cfg(mem_mb: usize) -> StoreConfig {
    StoreConfig {
        mem_limit: mem_mb << 20,
        item_size_max: 1 << 20,
        growth_factor: 1.25,
        min_chunk: 48,
        evictions: true,
        cas: true,
        crawler_enabled: true,
        slab_chunk_max: StoreConfig::DEFAULT_SLAB_CHUNK_MAX,
        slab_sizes: None,
        track_sizes: false,
    }
}

fn store(mem_mb: usize) -> Store {
    Store::new(cfg(mem_mb))
}

type Got = (Vec<u8>, u32, u64);

fn get(s: &Store, k: &[u8]) -> Lookup<Got> {
    s.get(k, &GetOpts::default(), |v| {
        (v.value().to_vec(), v.flags(), v.cas())
    })
}

fn value(s: &Store, k: &[u8]) -> Option<Vec<u8>> {
    match get(s, k) {
        Lookup::Hit((v, _, _)) => Some(v),
        _ => None,
    }
}

fn set(s: &Store, k: &[u8], v: &[u8]) -> StoreOutcome {
    s.set(k, v, &SetOpts::default()).0
}

#[test]
fn store_is_clone_send_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    check::<Store>();
}

#[test]
fn set_get_overwrite_and_cas_changes() {
    let s = store(4);
    assert!(matches!(get(&s, b"a"), Lookup::Miss));
    assert_eq!(
        s.set(b"a", b"one", &SetOpts::new(SetMode::Set, 7, 0)).0,
        StoreOutcome::Stored
    );
    let Lookup::Hit((v, f, c1)) = get(&s, b"a") else {
        panic!("miss")
    };
    assert_eq!((v.as_slice(), f), (&b"one"[..], 7));
    assert!(c1 > 0);
    assert_eq!(s.peek_cas(b"a"), Some(c1));
    assert_eq!(
        s.set(b"a", b"", &SetOpts::new(SetMode::Set, 8, 0)).0,
        StoreOutcome::Stored
    );
    let Lookup::Hit((v, f, c2)) = get(&s, b"a") else {
        panic!("miss")
    };
    assert_eq!((v.len(), f), (0, 8));
    assert!(c2 > c1);
    // Binary-safe keys and values.
    let k = [0u8, 255, b' ', b'\n'];
    assert_eq!(set(&s, &k, &[0, 13, 10]), StoreOutcome::Stored);
    assert_eq!(value(&s, &k), Some(vec![0, 13, 10]));
}

#[test]
fn add_replace_modes() {
    let s = store(4);
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Replace, 0, 0)).0,
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Add, 1, 0)).0,
        StoreOutcome::Stored
    );
    assert_eq!(
        s.set(b"k", b"y", &SetOpts::new(SetMode::Add, 2, 0)).0,
        StoreOutcome::NotStored
    );
    assert_eq!(value(&s, b"k"), Some(b"x".to_vec()));
    assert_eq!(
        s.set(b"k", b"z", &SetOpts::new(SetMode::Replace, 3, 0)).0,
        StoreOutcome::Stored
    );
    assert_eq!(
        get(&s, b"k"),
        Lookup::Hit((b"z".to_vec(), 3, s.peek_cas(b"k").unwrap_or(0)))
    );
    // add succeeds over an expired item, replace fails on one.
    assert_eq!(
        s.set(b"e", b"old", &SetOpts::new(SetMode::Set, 0, 5)).0,
        StoreOutcome::Stored
    );
    s.advance_clock_for_test(5);
    assert_eq!(
        s.set(b"e", b"r", &SetOpts::new(SetMode::Replace, 0, 0)).0,
        StoreOutcome::NotStored
    );
    assert!(matches!(get(&s, b"e"), Lookup::Miss));
    assert_eq!(
        s.set(b"e", b"old", &SetOpts::new(SetMode::Set, 0, -1)).0,
        StoreOutcome::Stored
    );
    assert_eq!(
        s.set(b"e", b"new", &SetOpts::new(SetMode::Add, 0, 0)).0,
        StoreOutcome::Stored
    );
    assert_eq!(value(&s, b"e"), Some(b"new".to_vec()));
}

#[test]
fn append_prepend_keep_flags_and_exptime() {
    // Enough memory for every class the growing value passes through to get a page.
    let s = store(64);
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Append, 0, 0)).0,
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Prepend, 0, 0)).0,
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.set(b"k", b"mid", &SetOpts::new(SetMode::Set, 42, 10)).0,
        StoreOutcome::Stored
    );
    let c0 = s.peek_cas(b"k");
    assert_eq!(
        s.set(b"k", b"-end", &SetOpts::new(SetMode::Append, 1, 0)).0,
        StoreOutcome::Stored
    );
    assert_eq!(
        s.set(b"k", b"start-", &SetOpts::new(SetMode::Prepend, 2, 0))
            .0,
        StoreOutcome::Stored
    );
    let Lookup::Hit((v, f, c)) = get(&s, b"k") else {
        panic!("miss")
    };
    assert_eq!((v.as_slice(), f), (&b"start-mid-end"[..], 42));
    assert!(Some(c) > c0);
    // Exptime kept: still expires at 10 s.
    s.advance_clock_for_test(10);
    assert_eq!(get(&s, b"k"), Lookup::Expired);
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Append, 0, 0)).0,
        StoreOutcome::NotStored
    );
    // Growing across classes, and past the size limit.
    assert_eq!(set(&s, b"g", b""), StoreOutcome::Stored);
    for _ in 0..100 {
        assert_eq!(
            s.set(b"g", &[b'a'; 1000], &SetOpts::new(SetMode::Append, 0, 0))
                .0,
            StoreOutcome::Stored
        );
    }
    assert_eq!(value(&s, b"g").map(|v| v.len()), Some(100_000));
    let big = vec![b'b'; 1_000_000];
    assert_eq!(
        s.set(b"g", &big, &SetOpts::new(SetMode::Append, 0, 0)).0,
        StoreOutcome::NotStored
    );
}

#[test]
fn cas_mode() {
    let s = store(4);
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Cas(1), 0, 0)).0,
        StoreOutcome::NotFound
    );
    set(&s, b"k", b"v1");
    let c = s.peek_cas(b"k").unwrap_or(0);
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Cas(c + 1), 0, 0))
            .0,
        StoreOutcome::Exists
    );
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Cas(0), 0, 0)).0,
        StoreOutcome::Exists
    );
    assert_eq!(
        s.set(b"k", b"v2", &SetOpts::new(SetMode::Cas(c), 5, 0)).0,
        StoreOutcome::Stored
    );
    assert_eq!(
        s.set(b"k", b"v3", &SetOpts::new(SetMode::Cas(c), 5, 0)).0,
        StoreOutcome::Exists
    );
    assert_eq!(value(&s, b"k"), Some(b"v2".to_vec()));
    s.flush_all(0);
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Cas(c), 0, 0)).0,
        StoreOutcome::NotFound
    );
}

#[test]
fn cas_disabled_reads_zero() {
    let s = Store::new(StoreConfig {
        cas: false,
        ..cfg(4)
    });
    set(&s, b"k", b"v");
    assert_eq!(get(&s, b"k"), Lookup::Hit((b"v".to_vec(), 0, 0)));
    assert_eq!(s.peek_cas(b"k"), Some(0));
    // memcached -C: every unique is 0, so cas 0 matches.
    assert_eq!(
        s.set(b"k", b"x", &SetOpts::new(SetMode::Cas(5), 0, 0)).0,
        StoreOutcome::Exists
    );
    assert_eq!(
        s.set(b"k", b"y", &SetOpts::new(SetMode::Cas(0), 0, 0)).0,
        StoreOutcome::Stored
    );
    // Flush still works without CAS (it uses the internal sequence).
    s.flush_all(0);
    assert_eq!(get(&s, b"k"), Lookup::Flushed);
    // -C shrinks memcached's header by 8 bytes, so the size limit moves too.
    assert!(s.item_size_ok(1, 1_048_524));
    assert!(!s.item_size_ok(1, 1_048_525));
}

#[test]
fn delete_rules() {
    let s = store(4);
    assert_ne!(
        s.delete(b"k", &DeleteOpts::default()),
        DeleteOutcome::Deleted
    );
    set(&s, b"k", b"v");
    assert_eq!(
        s.delete(b"k", &DeleteOpts::default()),
        DeleteOutcome::Deleted
    );
    assert_ne!(
        s.delete(b"k", &DeleteOpts::default()),
        DeleteOutcome::Deleted
    );
    assert!(matches!(get(&s, b"k"), Lookup::Miss));
    s.set(b"e", b"v", &SetOpts::new(SetMode::Set, 0, -1));
    assert_ne!(
        s.delete(b"e", &DeleteOpts::default()),
        DeleteOutcome::Deleted
    );
    assert_eq!(s.stats().curr_items, 0);
}

#[test]
fn exptime_rules() {
    let s = store(4);
    // Negative: stored (replacing the old item) but invisible.
    set(&s, b"n", b"old");
    assert_eq!(
        s.set(b"n", b"v", &SetOpts::new(SetMode::Set, 0, -1)).0,
        StoreOutcome::Stored
    );
    assert_eq!(get(&s, b"n"), Lookup::Expired);
    assert_eq!(get(&s, b"n"), Lookup::Miss);
    // Relative.
    s.set(b"r", b"v", &SetOpts::new(SetMode::Set, 0, 10));
    s.advance_clock_for_test(9);
    assert!(matches!(get(&s, b"r"), Lookup::Hit(_)));
    s.advance_clock_for_test(1);
    assert_eq!(get(&s, b"r"), Lookup::Expired);
    // Absolute past (anything above 30 days before our start) and future.
    s.set(b"ap", b"v", &SetOpts::new(SetMode::Set, 0, 2_592_001));
    assert_eq!(get(&s, b"ap"), Lookup::Expired);
    let fut = s.unix_time() as i64 + 100;
    s.set(b"af", b"v", &SetOpts::new(SetMode::Set, 0, fut));
    assert!(matches!(get(&s, b"af"), Lookup::Hit(_)));
    s.advance_clock_for_test(101);
    assert_eq!(get(&s, b"af"), Lookup::Expired);
    // Zero: never.
    s.set(b"z", b"v", &SetOpts::default());
    s.advance_clock_for_test(100_000_000);
    assert!(matches!(get(&s, b"z"), Lookup::Hit(_)));
}

#[test]
fn exptime_one_expires_in_real_time() {
    let s = store(2);
    s.set(b"k", b"v", &SetOpts::new(SetMode::Set, 0, 1));
    assert!(matches!(get(&s, b"k"), Lookup::Hit(_)));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(get(&s, b"k"), Lookup::Expired);
}

#[test]
fn touch_and_gat() {
    let s = store(4);
    assert!(!s.touch(b"k", 10));
    assert!(matches!(
        s.get(b"k", &GetOpts::touch(10), |_| ()),
        Lookup::Miss
    ));
    s.set(b"k", b"v", &SetOpts::new(SetMode::Set, 3, 5));
    let c = s.peek_cas(b"k");
    assert!(s.touch(b"k", 100));
    s.advance_clock_for_test(50);
    assert_eq!(
        s.get(b"k", &GetOpts::touch(10), |v| (
            v.value().to_vec(),
            v.flags(),
            Some(v.cas())
        )),
        Lookup::Hit((b"v".to_vec(), 3, c))
    );
    s.advance_clock_for_test(10);
    assert_eq!(get(&s, b"k"), Lookup::Expired);
    s.set(b"k", b"v", &SetOpts::default());
    assert!(matches!(
        s.get(b"k", &GetOpts::touch(-1), |_| ()),
        Lookup::Hit(())
    ));
    assert_eq!(get(&s, b"k"), Lookup::Expired);
}

#[test]
fn flush_now_and_delayed() {
    let s = store(4);
    set(&s, b"a", b"1");
    s.flush_all(0);
    set(&s, b"b", b"2");
    assert_eq!(get(&s, b"a"), Lookup::Flushed);
    assert_eq!(get(&s, b"a"), Lookup::Miss);
    assert_eq!(value(&s, b"b"), Some(b"2".to_vec()));

    s.flush_all(10);
    set(&s, b"c", b"3");
    s.advance_clock_for_test(9);
    assert_eq!(value(&s, b"b"), Some(b"2".to_vec()));
    assert_eq!(value(&s, b"c"), Some(b"3".to_vec()));
    s.advance_clock_for_test(1);
    set(&s, b"d", b"4");
    assert_eq!(get(&s, b"b"), Lookup::Flushed);
    assert_eq!(get(&s, b"c"), Lookup::Flushed);
    assert_eq!(value(&s, b"d"), Some(b"4".to_vec()));
    // A later immediate flush replaces a pending delayed one.
    s.flush_all(5);
    s.flush_all(0);
    set(&s, b"e", b"5");
    s.advance_clock_for_test(10);
    assert_eq!(get(&s, b"d"), Lookup::Flushed);
    assert_eq!(value(&s, b"e"), Some(b"5".to_vec()));
    // Flushed items are reclaimed by the sweeper too.
    set(&s, b"f", b"6");
    s.flush_all(0);
    assert_eq!(s.crawl_expired(1 << 20), 2);
    assert_eq!(s.stats().curr_items, 0);
}

#[test]
fn incr_decr_rules() {
    let s = store(4);
    assert_eq!(
        s.arith(b"k", &ArithOpts::new(true, 1), |_| ()),
        ArithOutcome::NotFound
    );
    s.set(b"k", b"100", &SetOpts::new(SetMode::Set, 5, 0));
    let c0 = s.peek_cas(b"k");
    assert_eq!(
        s.arith(b"k", &ArithOpts::new(false, 1), |_| ()),
        ArithOutcome::Value(99, ())
    );
    assert_eq!(value(&s, b"k"), Some(b"99 ".to_vec()));
    let c1 = s.peek_cas(b"k");
    assert!(c1 > c0);
    assert_eq!(
        s.arith(b"k", &ArithOpts::new(true, 5), |_| ()),
        ArithOutcome::Value(104, ())
    );
    assert_eq!(value(&s, b"k"), Some(b"104".to_vec()));
    assert_eq!(
        s.arith(b"k", &ArithOpts::new(false, 200), |_| ()),
        ArithOutcome::Value(0, ())
    );
    assert_eq!(
        get(&s, b"k"),
        Lookup::Hit((b"0  ".to_vec(), 5, s.peek_cas(b"k").unwrap_or(0)))
    );
    // Longer result: a new item, flags and exptime kept.
    s.set(b"h", b"99", &SetOpts::new(SetMode::Set, 9, 20));
    assert_eq!(
        s.arith(b"h", &ArithOpts::new(true, 1), |_| ()),
        ArithOutcome::Value(100, ())
    );
    assert_eq!(
        get(&s, b"h"),
        Lookup::Hit((b"100".to_vec(), 9, s.peek_cas(b"h").unwrap_or(0)))
    );
    s.advance_clock_for_test(20);
    assert_eq!(
        s.arith(b"h", &ArithOpts::new(true, 1), |_| ()),
        ArithOutcome::NotFound
    );
    // Wrap and floor.
    set(&s, b"m", b"18446744073709551615");
    assert_eq!(
        s.arith(b"m", &ArithOpts::new(true, 1), |_| ()),
        ArithOutcome::Value(0, ())
    );
    assert_eq!(
        value(&s, b"m"),
        Some(format!("0{}", " ".repeat(19)).into_bytes())
    );
    assert_eq!(
        s.arith(b"m", &ArithOpts::new(false, 5), |_| ()),
        ArithOutcome::Value(0, ())
    );
    assert_eq!(
        s.arith(b"m", &ArithOpts::new(true, u64::MAX), |_| ()),
        ArithOutcome::Value(u64::MAX, ())
    );
    // Non-numeric.
    for bad in [&b""[..], b"abc", b"12a", b"-1", b"99999999999999999999"] {
        set(&s, b"n", bad);
        assert_eq!(
            s.arith(b"n", &ArithOpts::new(true, 1), |_| ()),
            ArithOutcome::NonNumeric,
            "{bad:?}"
        );
        assert_eq!(value(&s, b"n"), Some(bad.to_vec()));
    }
    set(&s, b"sp", b" 12 ");
    assert_eq!(
        s.arith(b"sp", &ArithOpts::new(true, 1), |_| ()),
        ArithOutcome::Value(13, ())
    );
    assert_eq!(value(&s, b"sp"), Some(b"13  ".to_vec()));
    assert_eq!(s.stats().curr_items, 4);
}

#[test]
fn too_large_and_key_limits() {
    let s = store(4);
    // memcached -I 1m with a 1-byte key: 1048516 fits, one more does not.
    assert!(s.item_size_ok(1, 1_048_516));
    assert!(!s.item_size_ok(1, 1_048_517));
    assert!(s.item_size_ok(250, 10));
    assert!(!s.item_size_ok(251, 10));
    let v = vec![b'x'; 1_048_517];
    assert_eq!(set(&s, b"k", b"old"), StoreOutcome::Stored);
    assert_eq!(set(&s, b"k2", b"old"), StoreOutcome::Stored);
    assert_eq!(
        s.set(b"k2", &v, &SetOpts::new(SetMode::Replace, 0, 0)).0,
        StoreOutcome::TooLarge
    );
    assert_eq!(value(&s, b"k2"), Some(b"old".to_vec()));
    // A failed set removes the stale item (memcached 1.6.18 does the same).
    assert_eq!(set(&s, b"k", &v), StoreOutcome::TooLarge);
    assert!(matches!(get(&s, b"k"), Lookup::Miss));
    assert_eq!(set(&s, b"k", &v[1..]), StoreOutcome::Stored);
    assert_eq!(value(&s, b"k").map(|v| v.len()), Some(1_048_516));
    assert_eq!(set(&s, &[b'k'; 251], b"v"), StoreOutcome::TooLarge);
    assert_eq!(set(&s, &[b'k'; 250], b"v"), StoreOutcome::Stored);
}

#[test]
fn large_items_use_exact_allocations_and_evict() {
    let s = store(4);
    let mut stored = Vec::new();
    for i in 0..20u8 {
        let v = vec![i; 600_000 + i as usize];
        let k = [b'L', i];
        assert_eq!(set(&s, &k, &v), StoreOutcome::Stored, "item {i}");
        stored.push(k);
        let (used, large) = s.inner.mem_used();
        assert!(used <= 4 << 20 && large <= used);
    }
    // Only the newest few fit; the newest is intact.
    assert_eq!(value(&s, &[b'L', 19]), Some(vec![19; 600_019]));
    assert!(matches!(get(&s, &[b'L', 0]), Lookup::Miss));
    let st = s.stats();
    assert!(st.evictions >= 14, "{st:?}");
    assert!(st.total_malloced <= st.limit_maxbytes);
    let classes = s.class_stats();
    let large = classes.last().expect("large class");
    assert_eq!((large.chunk_size, large.total_pages), (0, 0));
    assert_eq!(large.number, st.curr_items);
    // Small items still find memory: a page comes from evicting large items.
    assert_eq!(set(&s, b"small", b"v"), StoreOutcome::Stored);
    assert!(s.stats().total_malloced <= 4 << 20);
}

#[test]
fn memory_bound_and_lru_order() {
    let s = store(4);
    let hot: Vec<Vec<u8>> = (0..200).map(|i| format!("hot{i}").into_bytes()).collect();
    for k in &hot {
        assert_eq!(set(&s, k, b"hot-value"), StoreOutcome::Stored);
    }
    let mut x: u32 = 12345;
    for i in 0..100_000u32 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let vlen = 1 + (x >> 16) as usize % 70;
        let k = format!("key{i}");
        assert_eq!(
            set(&s, k.as_bytes(), &vec![b'v'; vlen]),
            StoreOutcome::Stored
        );
        if i % 100 == 0 {
            for k in &hot {
                assert!(value(&s, k).is_some(), "hot key {k:?} lost at {i}");
            }
        }
        if i % 10_000 == 0 {
            let st = s.stats();
            assert!(st.total_malloced <= 4 << 20, "{st:?}");
        }
    }
    let st = s.stats();
    assert!(st.total_malloced <= st.limit_maxbytes);
    assert!(st.evictions > 50_000, "{st:?}");
    assert_eq!(st.total_items, 100_200);
    // Old cold keys went first, recent ones are there.
    let old = (0..1000)
        .filter(|i| value(&s, format!("key{i}").as_bytes()).is_some())
        .count();
    let new = (99_000..100_000)
        .filter(|i| value(&s, format!("key{i}").as_bytes()).is_some())
        .count();
    assert_eq!(old, 0);
    assert!(new > 950, "{new}");
    // Items held: about 4 MiB / chunk size.
    assert!(st.curr_items > 35_000, "{st:?}");
    let classes = s.class_stats();
    assert!(classes.iter().map(|c| c.total_pages).sum::<usize>() <= 4);
    assert_eq!(classes.iter().map(|c| c.number).sum::<u64>(), st.curr_items);
    assert!(classes.iter().all(|c| c.used_chunks as u64 == c.number));
}

#[test]
fn no_evictions_gives_no_memory_but_reclaims_expired() {
    let s = Store::new(StoreConfig {
        evictions: false,
        ..cfg(1)
    });
    let mut n = 0;
    while set(&s, format!("k{n}").as_bytes(), b"value") == StoreOutcome::Stored {
        n += 1;
    }
    assert!(n > 10_000);
    assert_eq!(set(&s, b"another", b"value"), StoreOutcome::NoMemory);
    assert_eq!(set(&s, b"k1", b"value2"), StoreOutcome::NoMemory);
    assert!(matches!(get(&s, b"k1"), Lookup::Miss));
    n -= 1;
    let st = s.stats();
    assert_eq!((st.evictions, st.curr_items), (0, n));
    assert!(s.class_stats()[0].outofmemory >= 2);
    assert_eq!(value(&s, b"k0"), Some(b"value".to_vec()));
    // Expired items at the LRU tail are reclaimed even with -M.
    let s = Store::new(StoreConfig {
        evictions: false,
        ..cfg(1)
    });
    let mut n = 0;
    while s
        .set(
            format!("k{n}").as_bytes(),
            b"value",
            &SetOpts::new(SetMode::Set, 0, 5),
        )
        .0
        == StoreOutcome::Stored
    {
        n += 1;
    }
    s.advance_clock_for_test(5);
    assert_eq!(set(&s, b"fresh", b"value"), StoreOutcome::Stored);
    let st = s.stats();
    assert_eq!(
        (st.evictions, st.reclaimed, st.expired_unfetched),
        (0, 1, 1)
    );
}

#[test]
fn crawler_and_stats() {
    let s = store(8);
    for i in 0..1000 {
        s.set(
            format!("e{i}").as_bytes(),
            b"v",
            &SetOpts::new(SetMode::Set, 0, 5),
        );
        s.set(format!("p{i}").as_bytes(), b"v", &SetOpts::default());
    }
    assert!(matches!(get(&s, b"e0"), Lookup::Hit(_)));
    let st = s.stats();
    assert_eq!((st.curr_items, st.total_items), (2000, 2000));
    let item_bytes = |k: usize| (mem::HEADER + k + 1) as u64;
    let expect_bytes: u64 = (0..1000)
        .map(|i: usize| 2 * item_bytes(1 + i.to_string().len()))
        .sum();
    assert_eq!(st.bytes, expect_bytes);
    s.advance_clock_for_test(5);
    let mut got = 0;
    for _ in 0..100 {
        got += s.crawl_expired(500);
    }
    assert_eq!(got, 1000);
    let st = s.stats();
    assert_eq!(
        (st.curr_items, st.reclaimed, st.expired_unfetched),
        (1000, 1000, 999)
    );
    let cs = s.class_stats();
    assert_eq!(cs[0].crawler_reclaimed, 1000);
    assert_eq!((cs[0].id, cs[0].chunk_size, cs[0].total_pages), (1, 88, 1));
    s.reset_stats();
    let st = s.stats();
    assert_eq!((st.curr_items, st.total_items, st.reclaimed), (1000, 0, 0));
    assert!(st.bytes > 0);
}

#[test]
fn sweeper_thread_runs_and_stops() {
    let s = store(2);
    for i in 0..100 {
        s.set(
            format!("e{i}").as_bytes(),
            b"v",
            &SetOpts::new(SetMode::Set, 0, 1),
        );
    }
    s.advance_clock_for_test(2);
    let h = s.start_sweeper();
    let t0 = std::time::Instant::now();
    while s.stats().curr_items > 0 && t0.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(s.stats().curr_items, 0);
    s.stop_sweeper();
    h.join().expect("sweeper");
    // Dropping the last handle also ends it.
    let s2 = store(1);
    let h = s2.start_sweeper();
    drop(s2);
    h.join().expect("sweeper");
}

#[test]
fn cas_unique_across_threads() {
    let s = store(16);
    let hs: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..5000)
                    .map(|i| {
                        let k = format!("t{t}-{}", i % 500);
                        assert_eq!(set(&s, k.as_bytes(), b"v"), StoreOutcome::Stored);
                        s.peek_cas(k.as_bytes()).unwrap_or(0)
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for h in hs {
        for c in h.join().expect("thread") {
            assert!(c > 0 && all.insert(c), "duplicate cas {c}");
        }
    }
    assert_eq!(all.len(), 20_000);
}

#[test]
fn stress_threads_consistent_counts() {
    // Small memory so that eviction runs concurrently with everything else.
    let s = store(4);
    // STORE_STRESS_OPS=1000000 for a longer run (release).
    let ops: u32 = std::env::var("STORE_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let hs: Vec<_> = (0..4u64)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for _ in 0..ops {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = format!("k{}", x % 20_000);
                    let k = k.as_bytes();
                    let vlen = (x >> 40) as usize % 300;
                    match (x >> 20) % 10 {
                        0..=3 => {
                            let v = vec![b'0' + (x % 10) as u8; vlen];
                            // A class that got no page before memory ran out says NoMemory.
                            let r = set(&s, k, &v);
                            assert!(matches!(r, StoreOutcome::Stored | StoreOutcome::NoMemory));
                        }
                        4 => {
                            s.set(k, b"12", &SetOpts::new(SetMode::Append, 0, 0));
                        }
                        5 => {
                            s.arith(k, &ArithOpts::new(x & 1 == 0, x >> 60), |_| ());
                        }
                        6 => {
                            s.delete(k, &DeleteOpts::default());
                        }
                        7 => {
                            if let Some(c) = s.peek_cas(k) {
                                s.set(k, b"cas", &SetOpts::new(SetMode::Cas(c), 1, 0));
                            }
                        }
                        8 => {
                            s.touch(k, 0);
                        }
                        _ => {
                            if let Lookup::Hit(v) = get(&s, k) {
                                assert!(v.0.len() < 100_000);
                            }
                        }
                    }
                    if x % 5000 == 0 {
                        s.crawl_expired(1000);
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("stress thread");
    }
    let st = s.stats();
    assert!(st.total_malloced <= st.limit_maxbytes);
    let visible = (0..20_000)
        .filter(|i| value(&s, format!("k{i}").as_bytes()).is_some())
        .count() as u64;
    assert_eq!(visible, st.curr_items);
    let cs = s.class_stats();
    assert_eq!(cs.iter().map(|c| c.number).sum::<u64>(), st.curr_items);
    assert_eq!(cs.iter().map(|c| c.mem_requested).sum::<u64>(), st.bytes);
    for c in &cs {
        assert_eq!(c.used_chunks as u64, c.number, "class {}", c.id);
    }
    // Everything can be deleted and memory reused.
    for i in 0..20_000 {
        s.delete(format!("k{i}").as_bytes(), &DeleteOpts::default());
    }
    assert_eq!((s.stats().curr_items, s.stats().bytes), (0, 0));
    assert!(s.class_stats().iter().all(|c| c.used_chunks == 0));
}

// ---- page moves (slab reassign / automove) -------------------------------------------------

/// The value stored under `k` with length `len`: the key and a `|`, repeated. Lets a reader
/// check that a value belongs to its key whatever its length.
fn pattern(k: &[u8], len: usize) -> Vec<u8> {
    k.iter().chain(b"|").copied().cycle().take(len).collect()
}

/// The hard memory bound: `used` (the budget, one atomic) never exceeds the limit, nor do
/// the slab pages or the large bytes. With other threads running, those three cannot be read
/// as one snapshot; when `quiet` (nobody else working) the budget is exactly the pages (as
/// `class_stats` shows them too) plus the large items.
fn check_bound(s: &Store, quiet: bool) {
    let limit = s.inner.mem.limit();
    let (used, large) = s.inner.mem_used();
    let pages = s.inner.slab_pages();
    assert!(used <= limit, "used {used} > {limit}");
    assert!(pages << 20 <= limit && large <= limit);
    if quiet {
        let shown: usize = s.class_stats().iter().map(|c| c.total_pages).sum();
        assert_eq!(shown, pages);
        assert_eq!(
            (pages << 20) + large,
            used,
            "{pages} pages + {large} large bytes"
        );
    }
}

fn class_of_value(s: &Store, k: &[u8], vlen: usize) -> usize {
    s.inner.class_id_for(k.len(), vlen)
}

fn pages_of(s: &Store, id: usize) -> usize {
    s.class_stats()
        .iter()
        .find(|c| c.id == id)
        .map_or(0, |c| c.total_pages)
}

#[test]
fn small_fill_then_big_and_mid_values_take_pages() {
    // memcached -m 8: 100-byte values take every page, then 200 KB, 700 KB (large, exactly
    // sized) and 3000-byte values must still be stored (pages move or are given back to the
    // budget), never NoMemory, and the bound holds throughout.
    let s = store(8);
    let mut i = 0u32;
    while !i.is_multiple_of(1000) || s.stats().evictions < 100 {
        let k = format!("s{i:06}");
        assert_eq!(
            set(&s, k.as_bytes(), &pattern(k.as_bytes(), 100)),
            StoreOutcome::Stored
        );
        i += 1;
        if i.is_multiple_of(5000) {
            check_bound(&s, true);
        }
    }
    let small = class_of_value(&s, b"s000000", 100);
    assert_eq!(pages_of(&s, small), 8);
    assert_eq!(s.class_stats().len(), 1);
    for round in 0..3u32 {
        for j in 0..12u32 {
            let k = format!("big{round}-{j}");
            let v = pattern(k.as_bytes(), 200_000 + j as usize);
            assert_eq!(set(&s, k.as_bytes(), &v), StoreOutcome::Stored, "{k}");
            assert_eq!(value(&s, k.as_bytes()), Some(v));
            check_bound(&s, true);
        }
        // Bigger than half a page: exact-size allocations, budget from released pages.
        for j in 0..3u32 {
            let k = format!("huge{round}-{j}");
            let v = pattern(k.as_bytes(), 700_000);
            assert_eq!(set(&s, k.as_bytes(), &v), StoreOutcome::Stored, "{k}");
            assert_eq!(value(&s, k.as_bytes()), Some(v));
            check_bound(&s, true);
        }
        for j in 0..600u32 {
            let k = format!("mid{round}-{j}");
            let v = pattern(k.as_bytes(), 3000);
            assert_eq!(set(&s, k.as_bytes(), &v), StoreOutcome::Stored, "{k}");
            if j % 100 == 0 {
                check_bound(&s, true);
            }
        }
        for j in 0..2000u32 {
            let k = format!("s{round}x{j}");
            let v = pattern(k.as_bytes(), 100);
            assert_eq!(set(&s, k.as_bytes(), &v), StoreOutcome::Stored, "{k}");
        }
        check_bound(&s, true);
        // The newest of each size are readable and intact.
        for k in [
            format!("big{round}-11"),
            format!("huge{round}-2"),
            format!("mid{round}-599"),
            format!("s{round}x1999"),
        ] {
            let v = value(&s, k.as_bytes()).unwrap_or_else(|| panic!("{k} missing"));
            assert_eq!(v, pattern(k.as_bytes(), v.len()));
        }
    }
    let st = s.stats();
    assert!(st.slabs_moved >= 2, "{st:?}");
    assert!(st.total_malloced <= st.limit_maxbytes);
    assert!(s.class_stats().iter().all(|c| c.outofmemory == 0));
    let cs = s.class_stats();
    assert_eq!(cs.iter().map(|c| c.number).sum::<u64>(), st.curr_items);
    let mid = class_of_value(&s, b"mid0-0", 3000);
    assert!(pages_of(&s, mid) >= 1 && pages_of(&s, small) >= 1);

    // With -M nothing moves: the new size class has no page and says NoMemory.
    let s = Store::new(StoreConfig {
        evictions: false,
        ..cfg(2)
    });
    let mut i = 0;
    while set(&s, format!("s{i}").as_bytes(), &[b'v'; 100]) == StoreOutcome::Stored {
        i += 1;
    }
    assert_eq!(set(&s, b"mid", &[b'm'; 3000]), StoreOutcome::NoMemory);
    assert_eq!(set(&s, b"big", &[b'b'; 200_000]), StoreOutcome::NoMemory);
    assert_eq!(s.stats().slabs_moved, 0);
}

#[test]
fn reassign_evicts_items_of_the_moved_page_only() {
    let s = store(4);
    let key = |i: u32| format!("k{i:06}");
    set(&s, key(0).as_bytes(), &pattern(key(0).as_bytes(), 50));
    let per_page = s.class_stats()[0].chunks_per_page as u32;
    // Fill the class's 4 pages exactly, then one more (the first eviction): no free chunk is
    // left to rescue into.
    let n = 4 * per_page + 1;
    for i in 1..n {
        let k = key(i);
        assert_eq!(
            set(&s, k.as_bytes(), &pattern(k.as_bytes(), 50)),
            StoreOutcome::Stored
        );
    }
    assert_eq!(s.stats().evictions, 1);
    let id = class_of_value(&s, key(0).as_bytes(), 50);
    let dst = class_of_value(&s, key(0).as_bytes(), 2000);
    assert_eq!(pages_of(&s, id), 4);
    let live: Vec<u32> = (0..n)
        .filter(|&i| s.peek_cas(key(i).as_bytes()).is_some())
        .collect();
    assert_eq!(live.len() as u32, n - 1);
    let before = s.stats();
    assert_eq!(s.reassign(id, dst), Ok(()));
    let st = s.stats();
    assert_eq!(st.slabs_moved, 1);
    assert_eq!((pages_of(&s, id), pages_of(&s, dst)), (3, 1));
    let gone = live
        .iter()
        .filter(|&&i| !matches!(get(&s, key(i).as_bytes()), Lookup::Hit(_)))
        .count() as u64;
    // A whole page of items (less the one chunk reused by the eviction, if it was there).
    assert_eq!(gone, st.slab_reassign_evictions_nomem);
    let per_page = per_page as u64;
    assert!(
        gone + 1 >= per_page && gone <= per_page,
        "{gone} of {per_page}"
    );
    assert_eq!(st.evictions - before.evictions, gone);
    assert_eq!(st.curr_items, before.curr_items - gone);
    assert_eq!(st.slab_reassign_rescues, 0);
    // Everything else is intact.
    for &i in &live {
        let k = key(i);
        if let Some(v) = value(&s, k.as_bytes()) {
            assert_eq!(v, pattern(k.as_bytes(), 50));
        }
    }
    // The page now serves the destination class without evicting anything.
    for j in 0..100 {
        let k = format!("m{j}");
        assert_eq!(
            set(&s, k.as_bytes(), &pattern(k.as_bytes(), 2000)),
            StoreOutcome::Stored
        );
    }
    assert_eq!(s.stats().evictions, st.evictions);
    for c in &s.class_stats() {
        assert_eq!(c.used_chunks as u64, c.number, "class {}", c.id);
    }
    check_bound(&s, true);
    // memcached's errors.
    let large_id = s.class_stats().iter().map(|c| c.id).max().unwrap_or(0) + 100;
    assert_eq!(s.reassign(id, id), Err(ReassignError::Same));
    assert_eq!(s.reassign(large_id, id), Err(ReassignError::BadClass));
    assert_eq!(s.reassign(id, large_id), Err(ReassignError::BadClass));
    assert_eq!(s.reassign(dst, id), Err(ReassignError::NoSpare));
    assert_eq!(s.reassign(dst + 1, id), Err(ReassignError::NoSpare));
    // To the budget (memcached's page pool, class 0), from any class (memcached's -1).
    assert_eq!(s.reassign(0, 0), Ok(()));
    assert_eq!(s.stats().total_malloced, 3 << 20);
    assert_eq!(pages_of(&s, id), 2);
    assert_eq!(s.stats().slabs_moved, 2);
}

#[test]
fn reassign_rescues_items_into_free_chunks() {
    let s = store(4);
    let key = |i: u32| format!("k{i:06}");
    set(&s, key(0).as_bytes(), &pattern(key(0).as_bytes(), 40));
    // Three full pages.
    let n = 3 * s.class_stats()[0].chunks_per_page as u32;
    for i in 1..n {
        let k = key(i);
        assert_eq!(
            set(&s, k.as_bytes(), &pattern(k.as_bytes(), 40)),
            StoreOutcome::Stored
        );
    }
    assert_eq!(s.class_stats()[0].free_chunks, 0);
    // Two thirds deleted, spread over every page.
    for i in (0..n).filter(|i| i % 3 != 0) {
        assert_eq!(
            s.delete(key(i).as_bytes(), &DeleteOpts::default()),
            DeleteOutcome::Deleted
        );
    }
    let id = s.class_stats()[0].id;
    let before = s.stats();
    assert_eq!(s.reassign(id, id + 5), Ok(()));
    let st = s.stats();
    assert_eq!((st.evictions, st.slab_reassign_evictions_nomem), (0, 0));
    assert!(st.slab_reassign_rescues > 0, "{st:?}");
    assert_eq!((st.curr_items, st.bytes), (before.curr_items, before.bytes));
    for i in 0..n {
        let k = key(i);
        let want = (i % 3 == 0).then(|| pattern(k.as_bytes(), 40));
        assert_eq!(value(&s, k.as_bytes()), want, "{k}");
    }
    assert_eq!((pages_of(&s, id), pages_of(&s, id + 5)), (2, 1));
    for c in &s.class_stats() {
        assert_eq!(c.used_chunks as u64, c.number, "class {}", c.id);
    }
}

#[test]
fn automove_gives_free_pages_to_an_evicting_class() {
    let s = store(8);
    // Small items take 6 pages, 3000-byte items 2.
    let mut i = 0u32;
    while !i.is_multiple_of(100) || s.stats().total_malloced < 6 << 20 {
        let k = format!("s{i:06}");
        set(&s, k.as_bytes(), &pattern(k.as_bytes(), 60));
        i += 1;
    }
    let mut j = 0u32;
    while s.stats().evictions == 0 {
        let k = format!("m{j}");
        set(&s, k.as_bytes(), &pattern(k.as_bytes(), 3000));
        j += 1;
    }
    let small = class_of_value(&s, b"s000000", 60);
    let mid = class_of_value(&s, b"m1", 3000);
    assert_eq!((pages_of(&s, small), pages_of(&s, mid)), (6, 2));
    // Nothing to balance yet: the small class has no free pages.
    s.inner.automove_step();
    assert!(!s.inner.automove_step());
    // Most small items go; the mid class keeps evicting.
    for n in 0..i {
        if n % 10 != 0 {
            s.delete(format!("s{n:06}").as_bytes(), &DeleteOpts::default());
        }
    }
    let mut moved = 0;
    for _ in 0..20 {
        for _ in 0..100 {
            let k = format!("m{j}");
            set(&s, k.as_bytes(), &pattern(k.as_bytes(), 3000));
            j += 1;
        }
        if s.inner.automove_step() {
            moved += 1;
        }
    }
    assert!(moved >= 2, "{moved}");
    let st = s.stats();
    assert_eq!(st.slabs_moved, moved);
    assert_eq!(st.slab_reassign_evictions_nomem, 0, "{st:?}");
    assert!(pages_of(&s, mid) >= 4);
    // Free space left in the small class stays at most about 2.5 pages.
    let cs = s.class_stats();
    let c = cs.iter().find(|c| c.id == small).expect("small class");
    assert!(c.free_chunks * 2 <= c.chunks_per_page * 5 + c.chunks_per_page * 2);
    for n in (0..i).step_by(10) {
        let k = format!("s{n:06}");
        assert_eq!(value(&s, k.as_bytes()), Some(pattern(k.as_bytes(), 60)));
    }
    // Off: no step moves anything.
    s.set_automove(false);
    assert!(!s.stats().slab_automove);
    for _ in 0..300 {
        let k = format!("m{j}");
        set(&s, k.as_bytes(), &pattern(k.as_bytes(), 3000));
        j += 1;
    }
    assert!(!s.inner.automove_step());
    check_bound(&s, true);
}

#[test]
fn stress_page_moves_under_concurrent_sets() {
    // 4 threads storing small, mid and large values in 6 MiB (about as many pages as active
    // classes, so pages move all the time), one of them also forcing reassignments: no panic,
    // every value read matches its key, counts add up, the bound holds.
    let s = store(6);
    let ops: u32 = std::env::var("STORE_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15_000);
    let hs: Vec<_> = (0..4u64)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let (mut no_memory, mut hits) = (0u32, 0u32);
                for n in 0..ops {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = format!("k{}", x % 5000);
                    let k = k.as_bytes();
                    let vlen = match (x >> 8) % 1000 {
                        0..=2 => 300_000 + (x >> 20) as usize % 300_000,
                        3..=100 => 1000 + (x >> 20) as usize % 3000,
                        _ => (x >> 20) as usize % 200,
                    };
                    match (x >> 32) % 10 {
                        0..=4 => match set(&s, k, &pattern(k, vlen)) {
                            StoreOutcome::Stored => {}
                            StoreOutcome::NoMemory => no_memory += 1,
                            other => panic!("{other:?}"),
                        },
                        5 => {
                            s.delete(k, &DeleteOpts::default());
                        }
                        _ => {
                            if let Lookup::Hit(v) = get(&s, k) {
                                assert_eq!(v.0, pattern(k, v.0.len()), "corrupt value");
                                hits += 1;
                            }
                        }
                    }
                    if t == 0 && n % 200 == 0 {
                        let from = (x >> 40) as usize % 12;
                        let to = (x >> 48) as usize % 12;
                        let _ = s.reassign(from, to);
                    }
                    if t == 1 && n % 500 == 0 {
                        s.inner.automove_step();
                        check_bound(&s, false);
                    }
                }
                (no_memory, hits)
            })
        })
        .collect();
    let (mut no_memory, mut hits) = (0, 0);
    for h in hs {
        let (n, h) = h.join().expect("stress thread");
        no_memory += n;
        hits += h;
    }
    let st = s.stats();
    assert!(hits > 0);
    assert!(st.slabs_moved > 0);
    assert!(!st.slab_reassign_running);
    // Contention can exhaust the bounded allocation rounds now and then, not more.
    assert!(no_memory < ops / 100, "{no_memory} NoMemory, {st:?}");
    check_bound(&s, true);
    let visible = (0..5000)
        .filter(|i| {
            let k = format!("k{i}");
            match value(&s, k.as_bytes()) {
                Some(v) => {
                    assert_eq!(v, pattern(k.as_bytes(), v.len()));
                    true
                }
                None => false,
            }
        })
        .count() as u64;
    assert_eq!(visible, st.curr_items);
    let cs = s.class_stats();
    assert_eq!(cs.iter().map(|c| c.number).sum::<u64>(), st.curr_items);
    assert_eq!(cs.iter().map(|c| c.mem_requested).sum::<u64>(), st.bytes);
    for c in &cs {
        assert_eq!(c.used_chunks as u64, c.number, "class {}", c.id);
    }
    for i in 0..5000 {
        s.delete(format!("k{i}").as_bytes(), &DeleteOpts::default());
    }
    assert_eq!((s.stats().curr_items, s.stats().bytes), (0, 0));
    assert!(s.class_stats().iter().all(|c| c.used_chunks == 0));
    // Every page can be given back to the budget once empty.
    while s.reassign(0, 0).is_ok() {}
    assert!(s.class_stats().iter().all(|c| c.total_pages <= 1));
}

// ---- model test ----------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Set(u8, Vec<u8>, u32),
    Add(u8, Vec<u8>),
    Replace(u8, Vec<u8>),
    Append(u8, Vec<u8>),
    Prepend(u8, Vec<u8>),
    Cas(u8, Vec<u8>, bool),
    Delete(u8),
    Arith(u8, bool, u64),
    Get(u8),
    Touch(u8),
    FlushAll,
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        (0u64..u64::MAX).prop_map(|n| n.to_string().into_bytes()),
        (0u64..1000).prop_map(|n| n.to_string().into_bytes()),
        Just(b"18446744073709551615".to_vec()),
        proptest::collection::vec(any::<u8>(), 500..3000),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let k = 0u8..8;
    prop_oneof![
        4 => (k.clone(), value_strategy(), any::<u32>()).prop_map(|(k, v, f)| Op::Set(k, v, f)),
        1 => (k.clone(), value_strategy()).prop_map(|(k, v)| Op::Add(k, v)),
        1 => (k.clone(), value_strategy()).prop_map(|(k, v)| Op::Replace(k, v)),
        1 => (k.clone(), value_strategy()).prop_map(|(k, v)| Op::Append(k, v)),
        1 => (k.clone(), value_strategy()).prop_map(|(k, v)| Op::Prepend(k, v)),
        2 => (k.clone(), value_strategy(), any::<bool>()).prop_map(|(k, v, ok)| Op::Cas(k, v, ok)),
        1 => k.clone().prop_map(Op::Delete),
        3 => (k.clone(), any::<bool>(), prop_oneof![0u64..10, any::<u64>()])
            .prop_map(|(k, i, d)| Op::Arith(k, i, d)),
        4 => k.clone().prop_map(Op::Get),
        1 => k.prop_map(Op::Touch),
        1 => Just(Op::FlushAll),
    ]
}

#[derive(Default)]
struct Model {
    items: HashMap<u8, (Vec<u8>, u32, u64)>,
    seq: u64,
}

impl Model {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

fn key(k: u8) -> Vec<u8> {
    format!("key-{k}").into_bytes()
}

fn run_model(ops: &[Op]) {
    let s = store(64);
    let mut m = Model::default();
    for op in ops {
        match op.clone() {
            Op::Set(k, v, f) => {
                assert_eq!(
                    s.set(&key(k), &v, &SetOpts::new(SetMode::Set, f, 0)).0,
                    StoreOutcome::Stored
                );
                let c = m.next();
                m.items.insert(k, (v, f, c));
            }
            Op::Add(k, v) => {
                let want = if m.items.contains_key(&k) {
                    StoreOutcome::NotStored
                } else {
                    let c = m.next();
                    m.items.insert(k, (v.clone(), 0, c));
                    StoreOutcome::Stored
                };
                assert_eq!(
                    s.set(&key(k), &v, &SetOpts::new(SetMode::Add, 0, 0)).0,
                    want
                );
            }
            Op::Replace(k, v) => {
                let want = if m.items.contains_key(&k) {
                    let c = m.next();
                    m.items.insert(k, (v.clone(), 0, c));
                    StoreOutcome::Stored
                } else {
                    StoreOutcome::NotStored
                };
                assert_eq!(
                    s.set(&key(k), &v, &SetOpts::new(SetMode::Replace, 0, 0)).0,
                    want
                );
            }
            Op::Append(k, v) | Op::Prepend(k, v) => {
                let append = matches!(op, Op::Append(..));
                let mode = if append {
                    SetMode::Append
                } else {
                    SetMode::Prepend
                };
                let c = m.seq + 1;
                let want = match m.items.get_mut(&k) {
                    Some(it) => {
                        it.0 = if append {
                            [it.0.as_slice(), &v].concat()
                        } else {
                            [v.as_slice(), &it.0].concat()
                        };
                        it.2 = c;
                        StoreOutcome::Stored
                    }
                    None => StoreOutcome::NotStored,
                };
                if want == StoreOutcome::Stored {
                    m.seq += 1;
                }
                assert_eq!(s.set(&key(k), &v, &SetOpts::new(mode, 9, 0)).0, want);
            }
            Op::Cas(k, v, matching) => {
                let (unique, want) = match m.items.get(&k) {
                    Some(it) if matching => (it.2, StoreOutcome::Stored),
                    Some(it) => (it.2 + 1, StoreOutcome::Exists),
                    None => (1, StoreOutcome::NotFound),
                };
                if want == StoreOutcome::Stored {
                    let c = m.next();
                    m.items.insert(k, (v.clone(), 7, c));
                }
                assert_eq!(
                    s.set(&key(k), &v, &SetOpts::new(SetMode::Cas(unique), 7, 0))
                        .0,
                    want
                );
            }
            Op::Delete(k) => {
                assert_eq!(
                    (s.delete(&key(k), &DeleteOpts::default()) == DeleteOutcome::Deleted),
                    m.items.remove(&k).is_some()
                );
            }
            Op::Arith(k, incr, d) => {
                let want = match m.items.get(&k) {
                    None => ArithOutcome::NotFound,
                    Some(it) => match arith::parse_value(&it.0) {
                        None => ArithOutcome::NonNumeric,
                        Some(old) => {
                            let n = arith::apply(old, incr, d);
                            let digits = n.to_string().into_bytes();
                            let len = it.0.len();
                            let newv = if digits.len() <= len {
                                let mut p = digits;
                                p.resize(len, b' ');
                                p
                            } else {
                                digits
                            };
                            let flags = it.1;
                            let c = m.next();
                            m.items.insert(k, (newv, flags, c));
                            ArithOutcome::Value(n, ())
                        }
                    },
                };
                assert_eq!(s.arith(&key(k), &ArithOpts::new(incr, d), |_| ()), want);
            }
            Op::Get(k) => {
                let want = match m.items.get(&k) {
                    Some(it) => Lookup::Hit(it.clone()),
                    None => Lookup::Miss,
                };
                assert_eq!(get(&s, &key(k)), want);
            }
            Op::Touch(k) => {
                assert_eq!(s.touch(&key(k), 0), m.items.contains_key(&k));
            }
            Op::FlushAll => {
                s.flush_all(0);
                for k in std::mem::take(&mut m.items).into_keys() {
                    assert_eq!(get(&s, &key(k)), Lookup::Flushed);
                }
            }
        }
        let st = s.stats();
        assert!(st.curr_items as usize >= m.items.len());
    }
    for k in 0..8 {
        let want = m.items.get(&k).cloned();
        assert_eq!(value(&s, &key(k)), want.map(|w| w.0));
    }
    assert_eq!(s.stats().curr_items as usize, m.items.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn model_matches_hashmap(ops in proptest::collection::vec(op_strategy(), 1..200)) {
        run_model(&ops);
    }
}

#[test]
fn shared_store_across_arc() {
    // A `Store` inside an `Arc` or cloned behaves the same: one set of items.
    let s = Arc::new(store(2));
    let s2 = (*s).clone();
    set(&s, b"k", b"v");
    assert_eq!(value(&s2, b"k"), Some(b"v".to_vec()));
}

/// Rough throughput figures: `cargo test --release --lib store::tests::perf -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn perf_single_and_multi_thread() {
    let s = store(64);
    let keys: Vec<Vec<u8>> = (0..200_000)
        .map(|i| format!("key:{i:08}").into_bytes())
        .collect();
    let v = vec![b'x'; 100];
    let t = std::time::Instant::now();
    for k in &keys {
        set(&s, k, &v);
    }
    let set_ns = t.elapsed().as_nanos() / keys.len() as u128;
    let t = std::time::Instant::now();
    let mut hits = 0;
    for _ in 0..5 {
        for k in &keys {
            if let Lookup::Hit(n) = s.get(k, &GetOpts::default(), |it| it.value().len()) {
                hits += n;
            }
        }
    }
    let get_ns = t.elapsed().as_nanos() / (5 * keys.len()) as u128;
    println!("1 thread: set {set_ns} ns/op, get {get_ns} ns/op ({hits})");
    let st = s.stats();
    println!(
        "items {} in {} bytes of pages: {:.1} bytes/item",
        st.curr_items,
        st.total_malloced,
        st.total_malloced as f64 / st.curr_items as f64
    );
    // Fill a 64 MiB store with 100-byte values and ~10-byte keys (store.md's comparison).
    let s = store(64);
    for i in 0..1_000_000u32 {
        set(&s, format!("k{i}").as_bytes(), &v);
    }
    println!(
        "64 MiB, 100-byte values: {} items held",
        s.stats().curr_items
    );
    let t = std::time::Instant::now();
    let hs: Vec<_> = (0..2)
        .map(|th| {
            let s = s.clone();
            std::thread::spawn(move || {
                let v = vec![b'y'; 100];
                for i in 0..500_000u32 {
                    let k = format!("k{}", (i * 7 + th) % 1_000_000);
                    if i % 10 == 0 {
                        set(&s, k.as_bytes(), &v);
                    } else {
                        s.get(k.as_bytes(), &GetOpts::default(), |it| it.value().len());
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("thread");
    }
    println!(
        "2 threads, 90% get: {} ns/op per thread",
        t.elapsed().as_nanos() / 500_000
    );
}

/// The classic failure rule (text/binary storage commands): only a failed `set` unlinks the old item;
/// meta `ms` (`fail_unlinks_any_mode`) unlinks in every mode. Both go through one path.
#[test]
fn failed_store_unlinks_old_item_by_protocol_rule() {
    let s = store(8);
    let big = vec![b'x'; 1 << 20]; // over -I once the item header is added
    for mode in [
        SetMode::Add,
        SetMode::Replace,
        SetMode::Append,
        SetMode::Prepend,
    ] {
        assert_eq!(set(&s, b"k", b"old"), StoreOutcome::Stored);
        let o = s.set(b"k", &big, &SetOpts::new(mode, 0, 0)).0;
        assert!(
            matches!(o, StoreOutcome::TooLarge | StoreOutcome::NotStored),
            "{mode:?}: {o:?}"
        );
        assert_eq!(value(&s, b"k"), Some(b"old".to_vec()), "{mode:?} kept it");
    }
    assert_eq!(
        s.set(b"k", &big, &SetOpts::default()).0,
        StoreOutcome::TooLarge
    );
    assert_eq!(value(&s, b"k"), None, "a failed set unlinks");

    assert_eq!(set(&s, b"m", b"old"), StoreOutcome::Stored);
    let meta = SetOpts {
        fail_unlinks_any_mode: true,
        ..SetOpts::new(SetMode::Add, 0, 0)
    };
    let (o, _) = s.set(b"m", &big, &meta);
    assert_eq!(o, StoreOutcome::TooLarge);
    assert_eq!(value(&s, b"m"), None, "ms unlinks in every mode");
}

#[test]
fn binary_cas_operations_are_exact() {
    let s = store(8);
    let (o, cas) = s.set(b"k", b"a", &SetOpts::new(SetMode::Set, 0, 0));
    assert_eq!(o, StoreOutcome::Stored);
    assert_eq!(s.peek_cas(b"k"), Some(cas));
    // Append with a stale cas fails, with the current one succeeds and returns the new cas.
    assert_eq!(
        s.set(
            b"k",
            b"b",
            &SetOpts {
                concat_cas: cas + 1,
                ..SetOpts::new(SetMode::Append, 0, 0)
            }
        )
        .0,
        StoreOutcome::Exists
    );
    let (o, cas2) = s.set(
        b"k",
        b"b",
        &SetOpts {
            concat_cas: cas,
            ..SetOpts::new(SetMode::Append, 0, 0)
        },
    );
    assert_eq!((o, Some(cas2)), (StoreOutcome::Stored, s.peek_cas(b"k")));
    assert_eq!(value(&s, b"k"), Some(b"ab".to_vec()));
    assert_eq!(
        s.set(
            b"nope",
            b"x",
            &SetOpts {
                concat_cas: 5,
                ..SetOpts::new(SetMode::Prepend, 0, 0)
            }
        )
        .0,
        StoreOutcome::NotStored
    );
    let cas_is = |c: u64| DeleteOpts {
        cas: (c != 0).then_some(c),
        ..DeleteOpts::default()
    };
    assert_eq!(s.delete(b"k", &cas_is(cas)), DeleteOutcome::Exists);
    assert_eq!(s.delete(b"k", &cas_is(cas2)), DeleteOutcome::Deleted);
    assert_eq!(s.delete(b"k", &cas_is(0)), DeleteOutcome::NotFound);
    assert_eq!(set(&s, b"n", b"5"), StoreOutcome::Stored);
    let o = s.arith(b"n", &ArithOpts::new(true, 2), |e| e.cas());
    let ArithOutcome::Value(v, cas3) = o else {
        panic!("{o:?}")
    };
    assert_eq!((v, Some(cas3)), (7, s.peek_cas(b"n")));
}

/// Fill `s` with small, mid and large values (pattern values) until it evicts; the keys.
fn fill_mixed(s: &Store, prefix: &str) -> Vec<(Vec<u8>, usize)> {
    let mut keys = Vec::new();
    let mut i = 0;
    while (i % 64 != 0 || s.stats().evictions == 0) && i < 200_000 {
        let len = match i % 500 {
            0 => 300_000 + i,
            1..=100 => 3_000,
            _ => 100,
        };
        let k = format!("{prefix}{i}").into_bytes();
        assert_eq!(set(s, &k, &pattern(&k, len)), StoreOutcome::Stored);
        keys.push((k, len));
        i += 1;
    }
    keys
}

/// Every key either misses or reads back its own pattern; the number of hits.
fn check_intact(s: &Store, keys: &[(Vec<u8>, usize)]) -> usize {
    let mut hits = 0;
    for (k, len) in keys {
        if let Some(v) = value(s, k) {
            assert_eq!(v, pattern(k, *len), "key {}", String::from_utf8_lossy(k));
            hits += 1;
        }
    }
    hits
}

/// Run sweeper ticks until the memory in use is within the limit (bounded).
fn shrink_done(s: &Store) -> bool {
    for _ in 0..200 {
        if s.inner.mem_used().0 <= s.inner.mem.limit() {
            return true;
        }
        s.run_maintenance();
    }
    s.inner.mem_used().0 <= s.inner.mem.limit()
}

#[test]
fn mem_limit_lowered_gives_memory_back_and_raised_takes_more() {
    let s = store(8);
    s.set_automove(false);
    let keys = fill_mixed(&s, "a");
    assert!(s.inner.mem_used().0 > 7 << 20);
    assert!(!s.set_mem_limit(1000), "below one page");
    assert!(!s.set_mem_limit(usize::MAX), "beyond the id space");
    assert_eq!(s.stats().limit_maxbytes, 8 << 20);

    let before = s.stats();
    assert!(s.set_mem_limit(3 << 20));
    assert_eq!(s.stats().limit_maxbytes, 3 << 20);
    assert!(shrink_done(&s), "used {:?}", s.inner.mem_used());
    check_bound(&s, true);
    let after = s.stats();
    assert!(after.slabs_moved > before.slabs_moved);
    assert!(after.evictions > before.evictions);
    assert!(after.curr_items < before.curr_items);
    let hits = check_intact(&s, &keys);
    assert!(hits > 1000, "{hits} items left");
    assert_eq!(hits as u64, after.curr_items);
    // Still usable at the new limit: stores evict and the bound holds.
    let more = fill_mixed(&s, "b");
    check_bound(&s, true);
    check_intact(&s, &more);

    // Raised: more fits again, at once.
    let items_small = s.stats().curr_items;
    assert!(s.set_mem_limit(12 << 20));
    assert_eq!(s.stats().limit_maxbytes, 12 << 20);
    let c = s.stats().evictions;
    let mut i = 0;
    while (i % 64 != 0 || s.stats().evictions == c) && i < 200_000 {
        let k = format!("c{i}").into_bytes();
        assert_eq!(set(&s, &k, &pattern(&k, 100)), StoreOutcome::Stored);
        i += 1;
    }
    check_bound(&s, true);
    assert!(s.inner.mem_used().0 > 11 << 20);
    assert!(s.stats().curr_items > 2 * items_small);
}

#[test]
fn mem_limit_shrink_with_no_evictions_still_releases() {
    // -M: stores answer NoMemory, but a lowered limit is still reached by dropping items.
    let s = Store::new(StoreConfig {
        evictions: false,
        ..cfg(4)
    });
    let mut i = 0;
    while set(&s, format!("k{i}").as_bytes(), &[b'v'; 200]) == StoreOutcome::Stored {
        i += 1;
    }
    assert!(s.set_mem_limit(2 << 20));
    assert!(shrink_done(&s));
    check_bound(&s, true);
    assert_eq!(set(&s, b"new", &[b'v'; 200]), StoreOutcome::NoMemory);
}

#[test]
fn mem_limit_shrink_under_concurrent_sets() {
    // Threads keep storing and reading while the limit drops from 8 to 3 MiB: the memory in
    // use never passes the old limit, values always match their keys, and the new limit is
    // reached once the sweeper steps run.
    let s = store(8);
    let keys = fill_mixed(&s, "p");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hs: Vec<_> = (0..4u32)
        .map(|t| {
            let s = s.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9u64 ^ t as u64;
                for i in 0..20_000u32 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) && i > 1_000 {
                        break;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let len = match x % 100 {
                        0 => 200_000,
                        1..=15 => 2_500,
                        _ => 90,
                    };
                    let k = format!("t{}", x % 5_000).into_bytes();
                    let len = len + (x as usize >> 40) % 7;
                    let o = set(&s, &k, &pattern(&k, len));
                    assert!(o == StoreOutcome::Stored || o == StoreOutcome::NoMemory);
                    if let Some(v) = value(&s, &k) {
                        assert_eq!(v, pattern(&k, v.len()));
                    }
                    assert!(s.inner.mem_used().0 <= 8 << 20);
                }
            })
        })
        .collect();
    assert!(s.set_mem_limit(3 << 20));
    for _ in 0..20 {
        s.run_maintenance();
        assert!(s.inner.mem_used().0 <= 8 << 20);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hs {
        h.join().expect("thread");
    }
    assert!(shrink_done(&s));
    check_bound(&s, true);
    check_intact(&s, &keys);
}

/// The whole item walk in one go (slices of 100 items).
fn walk_all(s: &Store, mut f: impl FnMut(&crate::store::ItemMeta<'_>) -> bool) {
    let mut cursor = crate::store::ItemCursor::default();
    while !cursor.is_done() {
        if !s.walk_items(&mut cursor, 100, &mut f) {
            return;
        }
    }
}

#[test]
fn walk_sees_stable_items_once_with_metadata() {
    let s = store(32);
    let now = s.unix_time() as i64;
    let mut stable = HashMap::new();
    for i in 0..5_000u32 {
        let k = format!("s{i}").into_bytes();
        let exp = if i % 2 == 0 { 0 } else { 1000 };
        assert_eq!(
            s.set(
                &k,
                &pattern(&k, 20 + i as usize % 300),
                &SetOpts::new(SetMode::Set, i, exp)
            )
            .0,
            StoreOutcome::Stored
        );
        stable.insert(k, 0u32);
    }
    for i in 0..2_000u32 {
        set(&s, format!("churn{i}").as_bytes(), b"x");
    }
    // Dead items are not shown.
    s.set(b"dead", b"x", &SetOpts::new(SetMode::Set, 0, -1));
    assert!(matches!(get(&s, b"s7"), Lookup::Hit(_)));
    let mut seen_other = HashSet::new();
    let mut n = 0u32;
    walk_all(&s, |m| {
        n += 1;
        if let Some(c) = stable.get_mut(m.key) {
            *c += 1;
            let i: u32 = std::str::from_utf8(&m.key[1..])
                .expect("utf8")
                .parse()
                .expect("n");
            let vlen = 20 + i as usize % 300;
            assert_eq!(m.flags, i);
            if i.is_multiple_of(2) {
                assert_eq!(m.exptime, -1);
            } else {
                assert!(
                    (now + 999..=now + 1002).contains(&m.exptime),
                    "{}",
                    m.exptime
                );
            }
            assert!((now - 1..=now + 2).contains(&m.last_access));
            assert_eq!(m.fetched, i == 7);
            assert_eq!(m.size, mem::HEADER + m.key.len() + vlen);
            assert_eq!(m.class, class_of_value(&s, m.key, vlen));
        } else {
            assert!(m.key != b"dead");
            assert!(seen_other.insert(m.key.to_vec()), "seen twice");
        }
        if stable.contains_key(m.key) {
            assert_eq!(Some(m.cas), s.peek_cas(m.key));
        }
        // No lock is held while `f` runs: churn the store from inside the walk (inserts grow
        // shard indexes, deletes shift entries).
        if n <= 2_000 {
            for j in 0..8 {
                set(&s, format!("new{n}-{j}").as_bytes(), b"y");
            }
            s.delete(format!("churn{n}").as_bytes(), &DeleteOpts::default());
        }
        true
    });
    assert!(
        stable.values().all(|&c| c == 1),
        "every stable item exactly once"
    );
    assert!(s.stats().evictions == 0);
    // `false` stops the walk.
    let mut k = 0;
    walk_all(&s, |_| {
        k += 1;
        k < 10
    });
    assert_eq!(k, 10);
    // -C: cas shows 0.
    let s = Store::new(StoreConfig {
        cas: false,
        ..cfg(1)
    });
    set(&s, b"k", b"v");
    let mut got = Vec::new();
    walk_all(&s, |m| {
        got.push((m.key.to_vec(), m.cas));
        true
    });
    assert_eq!(got, vec![(b"k".to_vec(), 0)]);
}

#[test]
fn crawler_switch_and_crawl_classes() {
    let s = Store::new(StoreConfig {
        crawler_enabled: false,
        ..cfg(8)
    });
    assert!(!s.crawler_enabled());
    let small = class_of_value(&s, b"a0", 10);
    let mid = class_of_value(&s, b"b0", 2000);
    assert_ne!(small, mid);
    for i in 0..300 {
        s.set(
            format!("a{i}").as_bytes(),
            &[b'v'; 10],
            &SetOpts::new(SetMode::Set, 0, 1),
        );
        s.set(
            format!("b{i}").as_bytes(),
            &[b'v'; 2000],
            &SetOpts::new(SetMode::Set, 0, 1),
        );
        s.set(format!("c{i}").as_bytes(), &[b'v'; 10], &SetOpts::default());
    }
    s.advance_clock_for_test(2);
    s.run_maintenance();
    assert_eq!(s.stats().curr_items, 900, "background crawl is off");
    assert_eq!(s.crawl_classes(Some(&[mid, 999])), 300);
    assert_eq!(s.stats().curr_items, 600);
    let per_class = |id: usize| {
        s.class_stats()
            .iter()
            .find(|c| c.id == id)
            .map_or(0, |c| c.crawler_reclaimed)
    };
    assert_eq!((per_class(mid), per_class(small)), (300, 0));
    assert_eq!(s.crawl_classes(Some(&[])), 0);
    // A flush makes everything reclaimable; `None` = all classes.
    s.flush_all(0);
    assert_eq!(s.crawl_classes(None), 600);
    assert_eq!(s.stats().curr_items, 0);
    assert_eq!(s.stats().reclaimed, 900);

    // Enabled again: the sweeper tick crawls.
    s.set_crawler_enabled(true);
    assert!(s.crawler_enabled());
    s.set(b"x", b"v", &SetOpts::new(SetMode::Set, 0, 1));
    s.advance_clock_for_test(2);
    // A tick looks at 10,000 index slots: a few of them cover every shard.
    for _ in 0..10 {
        s.run_maintenance();
    }
    assert_eq!(s.stats().curr_items, 0);
}

#[test]
fn size_histogram_follows_links_and_unlinks() {
    let s = store(8);
    assert_eq!(s.size_histogram(), None);
    // 34 + 2 + 20 = 56 -> 64; 34 + 2 + 100 = 136 -> 160.
    for i in 0..10 {
        set(&s, format!("a{i}").as_bytes(), &[b'v'; 20]);
    }
    set(&s, b"b0", &[b'v'; 100]);
    s.set_track_sizes(true);
    assert_eq!(s.size_histogram(), Some(vec![(64, 10), (160, 1)]));
    set(&s, b"b1", &[b'v'; 100]);
    set(&s, b"a0", &[b'v'; 100]); // replaced: 64 -> 160
    s.delete(b"a1", &DeleteOpts::default());
    s.set(b"a2", &[b'v'; 16], &SetOpts::new(SetMode::Append, 0, 0)); // 56 + 16 = 72 -> 96
    set(&s, b"big", &[b'v'; 600_000]);
    let big = (mem::HEADER + 3 + 600_000).div_ceil(32) * 32;
    assert_eq!(
        s.size_histogram(),
        Some(vec![(64, 7), (96, 1), (160, 3), (big, 1)])
    );
    s.flush_all(0);
    assert_eq!(s.crawl_classes(None), 12);
    assert_eq!(s.size_histogram(), Some(vec![]));
    set(&s, b"z", &[b'v'; 20]);
    s.set_track_sizes(false);
    assert_eq!(s.size_histogram(), None);
    set(&s, b"y", &[b'v'; 20]);
    s.set_track_sizes(true);
    assert_eq!(s.size_histogram(), Some(vec![(64, 2)]));
    // From the start with -o track_sizes.
    let s = Store::new(StoreConfig {
        track_sizes: true,
        ..cfg(1)
    });
    assert_eq!(s.size_histogram(), Some(vec![]));
    set(&s, b"k", b"v");
    assert_eq!(s.size_histogram(), Some(vec![(64, 1)]));
}

#[test]
fn slab_chunk_max_and_slab_sizes_shape_the_classes() {
    let s = Store::new(StoreConfig {
        slab_chunk_max: 16 * 1024,
        ..cfg(8)
    });
    assert_eq!(s.slab_chunk_max(), 16 * 1024);
    assert_eq!(store(1).slab_chunk_max(), 512 * 1024);
    assert_eq!(set(&s, b"m", &pattern(b"m", 20_000)), StoreOutcome::Stored);
    assert_eq!(set(&s, b"n", &pattern(b"n", 10_000)), StoreOutcome::Stored);
    assert_eq!(value(&s, b"m"), Some(pattern(b"m", 20_000)));
    let cs = s.class_stats();
    let last = cs.last().expect("classes");
    assert_eq!(
        (last.chunk_size, last.number),
        (0, 1),
        "20 kB is a large item"
    );
    assert!(cs.iter().any(|c| c.chunk_size > 0 && c.number == 1));
    assert!(cs.iter().all(|c| c.chunk_size <= 16 * 1024));
    assert_eq!(s.inner.mem.geo.chunk_max(), 16 * 1024);

    let s = Store::new(StoreConfig {
        slab_sizes: Some(vec![96, 200, 1000]),
        ..cfg(8)
    });
    set(&s, b"a", &[b'v'; 10]);
    set(&s, b"b", &[b'v'; 100]);
    set(&s, b"c", &[b'v'; 500]);
    set(&s, b"d", &[b'v'; 5000]);
    let sizes: Vec<(usize, usize)> = s
        .class_stats()
        .iter()
        .map(|c| (c.id, c.chunk_size))
        .collect();
    assert_eq!(sizes, vec![(1, 96), (2, 200), (3, 1000), (4, 512 * 1024)]);
}

#[test]
fn walk_items_resumes_in_slices_and_sees_each_item_once() {
    let s = store(32);
    for i in 0..3_000u32 {
        let k = format!("w{i}").into_bytes();
        assert_eq!(
            s.set(&k, &pattern(&k, 10), &SetOpts::new(SetMode::Set, i, 0))
                .0,
            StoreOutcome::Stored
        );
    }
    let mut cursor = crate::store::ItemCursor::default();
    let mut seen = std::collections::HashSet::new();
    let mut slices = 0;
    while !cursor.is_done() {
        slices += 1;
        assert!(slices < 10_000, "the walk must end");
        let mut n = 0;
        assert!(s.walk_items(&mut cursor, 100, |m| {
            assert!(seen.insert(m.key.to_vec()), "seen twice: {:?}", m.key);
            n += 1;
            true
        }));
        // A slice stops soon after its minimum (a batch is never split).
        assert!(cursor.is_done() || n >= 100);
    }
    assert_eq!(seen.len(), 3_000);
    assert!(slices > 5, "walked in slices ({slices})");
    // Stopping early reports it.
    let mut c = crate::store::ItemCursor::default();
    assert!(!s.walk_items(&mut c, 100, |_| false));
}

// ---- pins and reservations -----------------------------------------------------------------

/// Pin `k`'s value the way a `get` reply that sends it from item memory does; `None` on a
/// miss.
fn pin(s: &Store, k: &[u8]) -> Option<PinnedValue> {
    let got = s.get(k, &GetOpts::default(), |v| {
        let p = v.pin_with(&Arc::new(s.clone())).expect("same store");
        assert!(
            p.bytes() == v.value(),
            "pin of {}",
            String::from_utf8_lossy(k)
        );
        p
    });
    match got {
        Lookup::Hit(p) => Some(p),
        _ => None,
    }
}

/// The same through a meta get (`Entry::pin_with`).
fn meta_pin(s: &Store, k: &[u8]) -> Option<PinnedValue> {
    let got = s.get(
        k,
        &GetOpts {
            vivify: false,
            no_bump: false,
            count: HitCount::Get,
            touch: None,
        },
        |e| {
            let p = e.pin_with(&Arc::new(s.clone())).expect("same store");
            assert!(
                p.bytes() == e.value(),
                "pin of {}",
                String::from_utf8_lossy(k)
            );
            p
        },
    );
    match got {
        Lookup::Hit(p) => Some(p),
        _ => None,
    }
}

/// Every pin still reads the bytes it was taken with (compared without printing them).
fn check_pins(pins: &[(PinnedValue, Vec<u8>)], step: &str) {
    for (i, (p, want)) in pins.iter().enumerate() {
        assert!(
            p.bytes() == want.as_slice(),
            "after {step}: pin {i} ({} bytes) changed",
            want.len()
        );
    }
}

/// Slab chunks in use over all classes: linked items, chunks freed while pinned, reservations.
fn used_chunks(s: &Store) -> usize {
    s.class_stats()
        .iter()
        .filter(|c| c.chunk_size > 0)
        .map(|c| c.used_chunks)
        .sum()
}

/// No memory is held beyond the linked items (quiet store): each slab class uses exactly one
/// chunk per item, and the large allocations are exactly the large items (exactly sized).
fn check_no_held_memory(s: &Store) {
    let cs = s.class_stats();
    for c in cs.iter().filter(|c| c.chunk_size > 0) {
        assert_eq!(c.used_chunks as u64, c.number, "class {}", c.id);
    }
    let large_items = cs
        .iter()
        .find(|c| c.chunk_size == 0)
        .map_or(0, |c| c.mem_requested);
    assert_eq!(
        s.inner.mem_used().1 as u64,
        large_items,
        "large allocations"
    );
}

/// Store 100-byte values until the store evicts (bounded); the memory limit is then in use.
fn fill_until_evicting(s: &Store, prefix: &str) {
    let ev = s.stats().evictions;
    let mut i = 0;
    while (i % 64 != 0 || s.stats().evictions == ev) && i < 400_000 {
        let k = format!("{prefix}{i}").into_bytes();
        assert_eq!(set(s, &k, &pattern(&k, 100)), StoreOutcome::Stored);
        i += 1;
    }
    assert!(s.stats().evictions > ev, "filled without evicting");
}

#[test]
fn pinned_value_defers_the_free_to_its_last_unpin() {
    let s = store(8);
    // A slab item: deleted while pinned twice, its chunk is given back by the second unpin.
    set(&s, b"ledger", &pattern(b"ledger", 100));
    let used = used_chunks(&s);
    let p1 = pin(&s, b"ledger").expect("hit");
    let p2 = meta_pin(&s, b"ledger").expect("hit");
    assert_eq!(s.pinned(), 2);
    assert_eq!(
        s.delete(b"ledger", &DeleteOpts::default()),
        DeleteOutcome::Deleted
    );
    assert_eq!((s.stats().curr_items, s.stats().bytes), (0, 0));
    assert_eq!(used_chunks(&s), used, "the chunk is held by its pins");
    drop(p1);
    assert_eq!((s.pinned(), used_chunks(&s)), (1, used));
    assert!(p2.bytes() == pattern(b"ledger", 100).as_slice());
    drop(p2);
    assert_eq!((s.pinned(), used_chunks(&s)), (0, used - 1));
    check_no_held_memory(&s);

    // A large item: replaced while pinned, both allocations exist until the unpin.
    let big = s.slab_chunk_max() + 100_000;
    set(&s, b"L", &pattern(b"L", big));
    let one = mem::HEADER + 1 + big;
    assert_eq!(s.inner.mem_used().1, one);
    let p = pin(&s, b"L").expect("hit");
    assert_eq!(set(&s, b"L", &vec![b'z'; big + 1]), StoreOutcome::Stored);
    assert_eq!(s.inner.mem_used().1, one + one + 1);
    assert!(p.bytes() == pattern(b"L", big).as_slice());
    drop(p);
    assert_eq!(s.inner.mem_used().1, one + 1);
    assert_eq!(
        s.delete(b"L", &DeleteOpts::default()),
        DeleteOutcome::Deleted
    );
    assert_eq!(s.inner.mem_used().1, 0);
    check_bound(&s, true);
}

#[test]
fn pinned_values_outlive_writers_page_moves_and_shrinking() {
    let s = store(8);
    s.set_automove(false);
    let big = s.slab_chunk_max() + 100_000;
    // Three full pages of one class; every tenth item pinned, so every page holds pins.
    let fk = |i: usize| format!("f{i:05}").into_bytes();
    set(&s, &fk(0), &pattern(&fk(0), 100));
    let fill = class_of_value(&s, &fk(0), 100);
    let per_page = s.class_stats()[0].chunks_per_page;
    for i in 1..3 * per_page {
        assert_eq!(set(&s, &fk(i), &pattern(&fk(i), 100)), StoreOutcome::Stored);
    }
    assert_eq!(pages_of(&s, fill), 3);
    assert_eq!(s.class_stats()[0].free_chunks, 0);
    let specials: [(&[u8], Vec<u8>); 6] = [
        (b"small", pattern(b"small", 20)),
        (b"num", b"12345".to_vec()),
        (b"mid", pattern(b"mid", 3000)),
        (b"mid2", pattern(b"mid2", 3000)),
        (b"large", pattern(b"large", big)),
        (b"meta", pattern(b"meta", 400)),
    ];
    for (k, v) in &specials {
        assert_eq!(set(&s, k, v), StoreOutcome::Stored);
    }
    let mid = class_of_value(&s, b"mid", 3000);
    assert!(mid != fill && class_of_value(&s, b"small", 20) != fill);
    let mut pins: Vec<(PinnedValue, Vec<u8>)> = Vec::new();
    for (k, v) in &specials {
        pins.push((pin(&s, k).expect("hit"), v.clone()));
    }
    pins.push((meta_pin(&s, b"small").expect("hit"), pattern(b"small", 20)));
    pins.push((meta_pin(&s, b"meta").expect("hit"), pattern(b"meta", 400)));
    for i in (0..3 * per_page).step_by(10) {
        pins.push((pin(&s, &fk(i)).expect("hit"), pattern(&fk(i), 100)));
    }
    assert_eq!(s.pinned(), pins.len());
    check_bound(&s, true);

    // Overwrite (slab and large), delete.
    assert_eq!(set(&s, b"small", &[b'x'; 20]), StoreOutcome::Stored);
    assert_eq!(set(&s, b"large", &vec![b'y'; big]), StoreOutcome::Stored);
    let meta = SetOpts {
        fail_unlinks_any_mode: true,
        ..SetOpts::default()
    };
    let (o, _) = s.set(b"meta", &[b'm'; 400], &meta);
    assert_eq!(o, StoreOutcome::Stored);
    assert_eq!(
        s.delete(b"mid", &DeleteOpts::default()),
        DeleteOutcome::Deleted
    );
    assert_eq!(value(&s, b"small"), Some(vec![b'x'; 20]));
    assert_eq!(value(&s, b"meta"), Some(vec![b'm'; 400]));
    assert!(matches!(get(&s, b"mid"), Lookup::Miss));
    check_pins(&pins, "overwrite and delete");
    check_bound(&s, true);

    // incr/decr of a pinned number: a new item, the pinned bytes stay "12345".
    assert_eq!(
        s.arith(b"num", &ArithOpts::new(true, 1), |_| ()),
        ArithOutcome::Value(12346, ())
    );
    assert_eq!(value(&s, b"num"), Some(b"12346".to_vec()));
    let again = pin(&s, b"num").expect("hit");
    assert_eq!(
        s.arith(b"num", &ArithOpts::new(false, 12340), |_| ()),
        ArithOutcome::Value(6, ())
    );
    assert_eq!(value(&s, b"num"), Some(b"6".to_vec()));
    assert!(again.bytes() == b"12346");
    pins.push((again, b"12346".to_vec()));
    // Unpinned: rewritten in place (space padded) as before.
    assert_eq!(set(&s, b"num2", b"100"), StoreOutcome::Stored);
    assert_eq!(
        s.arith(b"num2", &ArithOpts::new(false, 1), |_| ()),
        ArithOutcome::Value(99, ())
    );
    assert_eq!(value(&s, b"num2"), Some(b"99 ".to_vec()));
    check_pins(&pins, "incr/decr");

    // Eviction in the class of a deleted pinned item (its chunk must not be reused) and of
    // a linked pinned one (the tail scan skips it).
    let ev = s.stats().evictions;
    let mut i = 0;
    while s.stats().evictions < ev + 500 && i < 20_000 {
        let k = format!("e{i}").into_bytes();
        assert_eq!(set(&s, &k, &pattern(&k, 3000)), StoreOutcome::Stored);
        i += 1;
    }
    assert!(s.stats().evictions >= ev + 500);
    assert_eq!(
        value(&s, b"mid2"),
        Some(pattern(b"mid2", 3000)),
        "pinned: not evicted"
    );
    check_pins(&pins, "evictions");

    // Move a page of the pinned class away: the pinned chunks stay allocated, so the mover
    // gives up (every page of the class holds pins) and the page stays where it is.
    assert_eq!(s.reassign(fill, mid), Err(ReassignError::Busy));
    assert_eq!(pages_of(&s, fill), 3);
    check_pins(&pins, "reassign");

    // Lower the limit: pages and large items are released around the pins.
    assert!(s.set_mem_limit(3 << 20));
    for _ in 0..3 {
        s.run_maintenance();
    }
    assert!(s.inner.mem_used().0 <= 8 << 20);
    check_pins(&pins, "set_mem_limit");

    // Flush and crawl: nothing is linked any more, only the pins hold memory.
    s.flush_all(0);
    s.crawl_classes(None);
    assert_eq!((s.stats().curr_items, s.stats().bytes), (0, 0));
    check_pins(&pins, "flush_all and crawl");
    let chunk_max = s.slab_chunk_max();
    let slab_pinned: HashSet<*const u8> = pins
        .iter()
        .filter(|(p, _)| p.len() <= chunk_max)
        .map(|(p, _)| p.bytes().as_ptr())
        .collect();
    assert_eq!(used_chunks(&s), slab_pinned.len());
    assert_eq!(
        s.inner.mem_used().1,
        mem::HEADER + 5 + big,
        "the pinned large item"
    );

    // Unpinned: everything comes back.
    drop(pins);
    assert_eq!(s.pinned(), 0);
    assert_eq!(used_chunks(&s), 0);
    check_no_held_memory(&s);
    assert!(shrink_done(&s), "used {:?}", s.inner.mem_used());
    check_bound(&s, true);
    assert!(s.set_mem_limit(8 << 20));
    fill_until_evicting(&s, "again");
    check_bound(&s, true);
    assert_eq!(
        s.inner.mem_used().0,
        8 << 20,
        "the whole limit is usable again"
    );
    // And a page with no pins moves at once.
    let from = class_of_value(&s, b"again0", 100);
    assert_eq!(s.reassign(from, mid), Ok(()));
}

#[test]
fn reservations_store_copy_and_give_memory_back() {
    let s = store(8);
    // Reserve, fill, store: the reserved item is the stored one.
    let mut res = s.reserve(b"r", 1000).expect("reserve");
    assert_eq!(res.len(), 1000);
    res.value_mut().copy_from_slice(&pattern(b"r", 1000));
    assert!(res.value() == pattern(b"r", 1000).as_slice());
    let used = used_chunks(&s);
    assert_eq!(
        s.set(
            b"r",
            Value::Reserved(res),
            &SetOpts::new(SetMode::Set, 5, 0)
        )
        .0,
        StoreOutcome::Stored
    );
    assert_eq!(used_chunks(&s), used, "linked, not copied");
    let cas = s.peek_cas(b"r").unwrap_or(0);
    assert_eq!(get(&s, b"r"), Lookup::Hit((pattern(b"r", 1000), 5, cas)));
    check_no_held_memory(&s);

    // Dropped: the memory comes back (slab and large).
    let res = s.reserve(b"gone", 1000).expect("reserve");
    assert_eq!(used_chunks(&s), used + 1, "counted while reserved");
    drop(res);
    assert_eq!(used_chunks(&s), used);
    let big = s.slab_chunk_max() + 1000;
    let res = s.reserve(b"gone", big).expect("reserve large");
    assert_eq!(s.inner.mem_used().1, mem::HEADER + 4 + big);
    drop(res);
    assert_eq!(s.inner.mem_used().1, 0);
    assert!(matches!(get(&s, b"gone"), Lookup::Miss));
    assert_eq!(
        s.reserve(b"t", 2 << 20).unwrap_err(),
        StoreOutcome::TooLarge
    );
    check_no_held_memory(&s);

    // Values in flight hold at most half the limit.
    let len = 100_000;
    let fit = (8 << 20) / 2 / (mem::HEADER + 3 + len);
    let class = class_of_value(&s, b"c00", len);
    let mut held = Vec::new();
    for i in 0..100 {
        match s.reserve(format!("c{i:02}").as_bytes(), len) {
            Ok(r) => held.push(r),
            Err(e) => {
                assert_eq!(e, StoreOutcome::NoMemory);
                break;
            }
        }
    }
    assert_eq!(held.len(), fit);
    let oom = |s: &Store| {
        s.class_stats()
            .iter()
            .find(|c| c.id == class)
            .map_or(0, |c| c.outofmemory)
    };
    assert_eq!(oom(&s), 1);
    // Bytes count, to the byte: the rest of the cap can be reserved, one byte more cannot.
    let rest = (8 << 20) / 2 - fit * (mem::HEADER + 3 + len);
    let edge = s
        .reserve(b"rest", rest - mem::HEADER - 4)
        .expect("fits exactly");
    assert_eq!(s.reserve(b"one", 1).unwrap_err(), StoreOutcome::NoMemory);
    drop(edge);
    // A flush or a memory-limit step does not touch them; one dropped makes room for one.
    s.flush_all(0);
    s.crawl_classes(None);
    drop(held.pop());
    let mut last = s.reserve(b"c99", len).expect("room again");
    assert!(s.reserve(b"c98", len).is_err());
    last.value_mut().fill(b'L');
    assert_eq!(
        s.set(b"c99", Value::Reserved(last), &SetOpts::default()).0,
        StoreOutcome::Stored
    );
    assert_eq!(value(&s, b"c99"), Some(vec![b'L'; len]));
    drop(held);
    // All given back: as many fit again.
    let again: Vec<Reservation> = (0..fit)
        .map(|i| s.reserve(format!("d{i:02}").as_bytes(), len).expect("fits"))
        .collect();
    drop(again);
    assert_eq!(
        s.delete(b"c99", &DeleteOpts::default()),
        DeleteOutcome::Deleted
    );
    check_no_held_memory(&s);

    // Append and prepend copy from the reservation, which is then freed.
    assert_eq!(set(&s, b"a", b"head-"), StoreOutcome::Stored);
    let mut res = s.reserve(b"a", 4).expect("reserve");
    res.value_mut().copy_from_slice(b"tail");
    assert_eq!(
        s.set(
            b"a",
            Value::Reserved(res),
            &SetOpts::new(SetMode::Append, 0, 0)
        )
        .0,
        StoreOutcome::Stored
    );
    let mut res = s.reserve(b"a", 4).expect("reserve");
    res.value_mut().copy_from_slice(b"pre-");
    assert_eq!(
        s.set(
            b"a",
            Value::Reserved(res),
            &SetOpts::new(SetMode::Prepend, 0, 0)
        )
        .0,
        StoreOutcome::Stored
    );
    assert_eq!(value(&s, b"a"), Some(b"pre-head-tail".to_vec()));
    let mut res = s.reserve(b"nope", 4).expect("reserve");
    res.value_mut().copy_from_slice(b"tail");
    assert_eq!(
        s.set(
            b"nope",
            Value::Reserved(res),
            &SetOpts::new(SetMode::Append, 0, 0)
        )
        .0,
        StoreOutcome::NotStored
    );
    check_no_held_memory(&s);

    // Reserved under another key (another length, another class): the store copies.
    let mut res = s.reserve(b"other-key", 5).expect("reserve");
    res.value_mut().copy_from_slice(b"hello");
    assert_eq!(
        s.set(
            b"k",
            Value::Reserved(res),
            &SetOpts::new(SetMode::Set, 3, 0)
        )
        .0,
        StoreOutcome::Stored
    );
    let cas = s.peek_cas(b"k").unwrap_or(0);
    assert_eq!(get(&s, b"k"), Lookup::Hit((b"hello".to_vec(), 3, cas)));
    assert!(matches!(get(&s, b"other-key"), Lookup::Miss));
    let long_key = [b'K'; 200];
    let mut res = s.reserve(b"x", 300).expect("reserve");
    res.value_mut().copy_from_slice(&pattern(&long_key, 300));
    assert_eq!(
        s.set(&long_key, Value::Reserved(res), &SetOpts::default())
            .0,
        StoreOutcome::Stored
    );
    assert_eq!(value(&s, &long_key), Some(pattern(&long_key, 300)));
    check_no_held_memory(&s);

    // The other modes' rules, with the reserved item freed when not stored.
    let mut res = s.reserve(b"k", 3).expect("reserve");
    res.value_mut().copy_from_slice(b"add");
    assert_eq!(
        s.set(
            b"k",
            Value::Reserved(res),
            &SetOpts::new(SetMode::Add, 0, 0)
        )
        .0,
        StoreOutcome::NotStored
    );
    let res = s.reserve(b"missing", 3).expect("reserve");
    assert_eq!(
        s.set(
            b"missing",
            Value::Reserved(res),
            &SetOpts::new(SetMode::Replace, 0, 0)
        )
        .0,
        StoreOutcome::NotStored
    );
    let mut res = s.reserve(b"k", 3).expect("reserve");
    res.value_mut().copy_from_slice(b"cas");
    assert_eq!(
        s.set(
            b"k",
            Value::Reserved(res),
            &SetOpts::new(SetMode::Cas(cas), 0, 0)
        )
        .0,
        StoreOutcome::Stored
    );
    assert_eq!(value(&s, b"k"), Some(b"cas".to_vec()));
    let mut res = s.reserve(b"m", 2).expect("reserve");
    res.value_mut().copy_from_slice(b"ms");
    let meta = SetOpts {
        fail_unlinks_any_mode: true,
        ..SetOpts::default()
    };
    let (o, c) = s.set(b"m", Value::Reserved(res), &meta);
    assert_eq!((o, Some(c)), (StoreOutcome::Stored, s.peek_cas(b"m")));
    assert_eq!(value(&s, b"m"), Some(b"ms".to_vec()));
    // A refused reservation answers like a failed allocation (a set unlinks the old item).
    assert_eq!(
        s.set(
            b"m",
            Value::Refused(StoreOutcome::NoMemory),
            &SetOpts::default()
        )
        .0,
        StoreOutcome::NoMemory
    );
    assert!(matches!(get(&s, b"m"), Lookup::Miss));
    check_no_held_memory(&s);
    // A reserved item overwriting a pinned value leaves the pin alone.
    let p = pin(&s, b"k").expect("hit");
    let mut res = s.reserve(b"k", 3).expect("reserve");
    res.value_mut().copy_from_slice(b"new");
    assert_eq!(
        s.set(b"k", Value::Reserved(res), &SetOpts::default()).0,
        StoreOutcome::Stored
    );
    assert!(p.bytes() == b"cas");
    drop(p);
    assert_eq!(s.stats().curr_items, 3, "a, k and the long key");
    check_no_held_memory(&s);
    check_bound(&s, true);
}

// ---- concurrent pins -----------------------------------------------------------------------

/// Stress values: segments of 8-byte words, a header `0xFE | id | n` then `n` body words
/// `0x5A | id | version`. Any value can be checked alone: every segment names its key and
/// was written whole by one store (an append or prepend adds a segment).
const SEG_HEAD: u64 = 0xFE;
const SEG_BODY: u64 = 0x5A;
/// Keys of the pin stress test: `s<id>` hold segments, `n<id>` numbers; half of the
/// operations go to the first `STRESS_HOT` of each, so that pins often outlive their item.
const STRESS_STR_KEYS: u32 = 20_000;
const STRESS_NUM_KEYS: u32 = 1_000;
const STRESS_HOT: u32 = 300;
/// Pins a reader holds at most.
const STRESS_MAX_HELD: usize = 64;
/// One in this many reserved stores copies (reserved under another key, or an append /
/// prepend): the copy allocates while it owns its reservation, which the page mover must
/// not wait for (see `reserved_copy_does_not_wait_for_its_own_reservation`).
const STRESS_RESERVED_COPY: u64 = 16;

fn segment(id: u32, version: u32, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 * (n + 1));
    let head = SEG_HEAD << 56 | u64::from(id) << 32 | n as u64;
    v.extend_from_slice(&head.to_le_bytes());
    let body = SEG_BODY << 56 | u64::from(id) << 32 | u64::from(version);
    for _ in 0..n {
        v.extend_from_slice(&body.to_le_bytes());
    }
    v
}

/// `Err` naming the first word of `v` that is not part of a whole segment of key `id`.
fn check_segments(id: u32, v: &[u8]) -> Result<(), String> {
    if v.is_empty() || !v.len().is_multiple_of(8) {
        return Err(format!("length {}", v.len()));
    }
    let mut words = v
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")));
    let id = u64::from(id);
    let mut at = 0;
    while let Some(h) = words.next() {
        if h >> 56 != SEG_HEAD || (h >> 32) & 0xFF_FFFF != id {
            return Err(format!(
                "word {at} = {h:#018x}: not a segment header of key {id}"
            ));
        }
        let n = (h & 0xFFFF_FFFF) as usize;
        let mut version = None;
        for j in 1..=n {
            let Some(b) = words.next() else {
                return Err(format!("segment at word {at} cut after {j} of {n} words"));
            };
            let ok = b >> 56 == SEG_BODY
                && (b >> 32) & 0xFF_FFFF == id
                && *version.get_or_insert(b as u32) == b as u32;
            if !ok {
                return Err(format!(
                    "word {} = {b:#018x} in a segment of key {id}",
                    at + j
                ));
            }
        }
        at += n + 1;
    }
    Ok(())
}

/// Key ids: `0..STRESS_STR_KEYS` segment keys, then the number keys.
fn stress_key(id: u32) -> Vec<u8> {
    if id < STRESS_STR_KEYS {
        format!("s{id}").into_bytes()
    } else {
        format!("n{id}").into_bytes()
    }
}

/// A segment key id (`numeric` false) or number key id, hot half of the time.
fn stress_id(r: u64, numeric: bool) -> u32 {
    let n = if numeric {
        STRESS_NUM_KEYS
    } else {
        STRESS_STR_KEYS
    };
    let n = if r >> 63 == 0 { STRESS_HOT } else { n };
    let id = (r % u64::from(n)) as u32;
    if numeric { STRESS_STR_KEYS + id } else { id }
}

/// A stress value read for key `id` is well formed: segments of its own key, or a number.
fn check_stress_value(id: u32, v: &[u8]) -> Result<(), String> {
    if id < STRESS_STR_KEYS {
        check_segments(id, v)
    } else if arith::parse_value(v).is_some() {
        Ok(())
    } else {
        Err(format!("not a number: {:?}", String::from_utf8_lossy(v)))
    }
}

fn digest(v: &[u8]) -> u64 {
    v.chunks(8).fold(v.len() as u64, |h, w| {
        let mut b = [0u8; 8];
        b[..w.len()].copy_from_slice(w);
        (h ^ u64::from_le_bytes(b))
            .wrapping_mul(0x0000_0100_0000_01B3)
            .rotate_left(23)
    })
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Segment words of a stress value: mostly small, some 2–3 KiB, a few large (> 512 KiB).
fn stress_words(r: u64) -> usize {
    let pick = (r >> 50) as usize;
    match (r >> 40) % 1000 {
        0..=1 => 66_000 + pick % 12_000,
        2..=50 => 256 + pick % 128,
        _ => 1 + pick % 12,
    }
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| *v > 0.0)
        .unwrap_or(default)
}

/// A pin a stress reader holds, with the digest of what it read under the lock.
struct Held {
    id: u32,
    pin: PinnedValue,
    sum: u64,
    until: u64,
}

/// What a reader saw: pins taken, and pins whose item was replaced or removed while held.
#[derive(Default)]
struct ReaderCounts {
    pins: u64,
    outlived: u64,
}

/// Check a pin a reader lets go: same bytes as when pinned, still well formed. `true` if the
/// key's item was replaced or removed meanwhile.
fn release_held(s: &Store, t: u64, h: Held) -> bool {
    let b = h.pin.bytes();
    assert!(
        digest(b) == h.sum,
        "reader {t}: key {}: pinned value ({} bytes) changed while pinned",
        h.id,
        b.len()
    );
    if let Err(e) = check_stress_value(h.id, b) {
        panic!("reader {t}: key {}: pinned value went bad: {e}", h.id);
    }
    let same = s.get(&stress_key(h.id), &GetOpts::default(), |v| {
        v.value().as_ptr() == b.as_ptr()
    });
    !matches!(same, Lookup::Hit(true))
}

/// Pin random keys (get, gat, meta get), check each value under the lock, hold up to
/// `STRESS_MAX_HELD` pins for up to 256 operations each, check them again when letting go.
fn stress_reader(
    s: &Store,
    t: u64,
    seed: u64,
    ops: u64,
    deadline: std::time::Instant,
) -> ReaderCounts {
    let mut x = (seed ^ t.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
    let mut held: Vec<Held> = Vec::new();
    let mut counts = ReaderCounts::default();
    // This reader's own store handle, as a connection has.
    let keep = Arc::new(s.clone());
    for n in 0..ops {
        if n % 64 == 0 && std::time::Instant::now() >= deadline {
            break;
        }
        let r = xorshift(&mut x);
        let mut i = 0;
        while i < held.len() {
            if held[i].until <= n {
                counts.outlived += release_held(s, t, held.swap_remove(i)) as u64;
            } else {
                i += 1;
            }
        }
        let id = stress_id(r, r.is_multiple_of(8));
        let k = stress_key(id);
        let look = |v: &[u8], p: Option<PinnedValue>| {
            let p = p.expect("same store");
            check_stress_value(id, v).map(|()| (digest(v), p))
        };
        let got = match (r >> 32) % 8 {
            0 => s.get(&k, &GetOpts::touch(0), |v| {
                look(v.value(), v.pin_with(&keep))
            }),
            1..=3 => s.get(
                &k,
                &GetOpts {
                    vivify: false,
                    no_bump: r & 1 << 40 != 0,
                    count: HitCount::Get,
                    touch: None,
                },
                |e| look(e.value(), e.pin_with(&keep)),
            ),
            _ => s.get(&k, &GetOpts::default(), |v| {
                look(v.value(), v.pin_with(&keep))
            }),
        };
        match got {
            Lookup::Hit(Ok((sum, pin))) => {
                counts.pins += 1;
                assert!(
                    digest(pin.bytes()) == sum,
                    "reader {t}: key {id}: pin differs"
                );
                if held.len() >= STRESS_MAX_HELD {
                    counts.outlived += release_held(s, t, held.remove(0)) as u64;
                }
                let until = n + (r >> 44) % 256;
                held.push(Held {
                    id,
                    pin,
                    sum,
                    until,
                });
            }
            Lookup::Hit(Err(e)) => panic!("reader {t}: key {id}: read {e}"),
            _ => {}
        }
    }
    for h in held.drain(..) {
        counts.outlived += release_held(s, t, h) as u64;
    }
    counts
}

/// Overwrite (directly and through reservations), append, prepend, delete, expire, cas,
/// touch, incr/decr and now and then flush.
fn stress_writer(s: &Store, t: u64, seed: u64, ops: u64, deadline: std::time::Instant) {
    let mut x = (seed ^ (t + 100).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
    let mut version = (t as u32) << 28;
    let stored = |o: StoreOutcome| {
        assert!(
            matches!(o, StoreOutcome::Stored | StoreOutcome::NoMemory),
            "writer {t}: {o:?}"
        )
    };
    for n in 0..ops {
        if n % 64 == 0 && std::time::Instant::now() >= deadline {
            break;
        }
        let r = xorshift(&mut x);
        version = version.wrapping_add(1);
        let id = stress_id(r, false);
        let k = stress_key(id);
        let nk = stress_key(stress_id(r.rotate_left(17), true));
        match (r >> 32) % 100 {
            0..=24 => stored(set(s, &k, &segment(id, version, stress_words(r)))),
            25..=29 => {
                let v = segment(id, version, stress_words(r));
                stored(s.set(&k, &v, &SetOpts::new(SetMode::Set, 0, 1)).0);
            }
            // Reserved, under its own key (linked as is) or, rarely, another one (copied).
            30..=44 => {
                let v = segment(id, version, stress_words(r));
                let under = if r.is_multiple_of(STRESS_RESERVED_COPY) {
                    stress_key((id + 1) % STRESS_STR_KEYS)
                } else {
                    k.clone()
                };
                let value = match s.reserve(&under, v.len()) {
                    Ok(mut res) => {
                        res.value_mut().copy_from_slice(&v);
                        Value::Reserved(res)
                    }
                    Err(o) => Value::Refused(o),
                };
                if r & 8 == 0 {
                    stored(s.set(&k, value, &SetOpts::default()).0);
                } else {
                    let opts = SetOpts {
                        fail_unlinks_any_mode: true,
                        ..SetOpts::default()
                    };
                    stored(s.set(&k, value, &opts).0);
                }
            }
            45..=54 => {
                let mode = if r & 1 == 0 {
                    SetMode::Append
                } else {
                    SetMode::Prepend
                };
                let v = segment(id, version, 1 + (r >> 50) as usize % 4);
                let o = if !r.is_multiple_of(STRESS_RESERVED_COPY) {
                    s.set(&k, &v, &SetOpts::new(mode, 0, 0)).0
                } else {
                    match s.reserve(&k, v.len()) {
                        Ok(mut res) => {
                            res.value_mut().copy_from_slice(&v);
                            s.set(&k, Value::Reserved(res), &SetOpts::new(mode, 0, 0)).0
                        }
                        Err(_) => StoreOutcome::NoMemory,
                    }
                };
                assert!(
                    matches!(
                        o,
                        StoreOutcome::Stored | StoreOutcome::NotStored | StoreOutcome::NoMemory
                    ),
                    "writer {t}: {mode:?}: {o:?}"
                );
            }
            55..=64 => {
                s.delete(&k, &DeleteOpts::default());
            }
            65..=69 => {
                if let Some(c) = s.peek_cas(&k) {
                    let o = s
                        .set(
                            &k,
                            &segment(id, version, 3),
                            &SetOpts::new(SetMode::Cas(c), 0, 0),
                        )
                        .0;
                    assert!(
                        matches!(
                            o,
                            StoreOutcome::Stored
                                | StoreOutcome::Exists
                                | StoreOutcome::NotFound
                                | StoreOutcome::NoMemory
                        ),
                        "writer {t}: cas: {o:?}"
                    );
                }
            }
            70..=74 => {
                s.touch(&k, 0);
            }
            75..=84 => {
                let digits = (r >> 20) % 10u64.pow(1 + (r >> 56) as u32 % 19);
                let mut v = digits.to_string().into_bytes();
                v.resize(v.len() + (r >> 60) as usize % 3, b' ');
                stored(set(s, &nk, &v));
            }
            85..=96 => {
                let o = s.arith(&nk, &ArithOpts::new(r & 1 == 0, (r >> 40) % 1000), |_| ());
                assert!(
                    matches!(
                        o,
                        ArithOutcome::Value(_, ())
                            | ArithOutcome::NotFound
                            | ArithOutcome::NoMemory
                            // What the classic arith reported as NoMemory too.
                            | ArithOutcome::NotStored
                    ),
                    "writer {t}: arith: {o:?}"
                );
            }
            97..=98 => {
                let o = s.arith(&k, &ArithOpts::new(true, 1), |_| ());
                assert!(
                    matches!(o, ArithOutcome::NonNumeric | ArithOutcome::NotFound),
                    "writer {t}: arith of a segment value: {o:?}"
                );
            }
            _ => {
                if (r >> 8).is_multiple_of(64) {
                    s.flush_all(0);
                }
            }
        }
    }
}

/// Page moves of every kind, expiry and crawls, until `stop` (at most `rounds` rounds).
fn stress_mover(s: &Store, seed: u64, rounds: u64, stop: &std::sync::atomic::AtomicBool) -> u64 {
    let mut x = seed | 1;
    let limit = s.inner.mem.limit();
    let mut done = 0;
    while done < rounds && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        done += 1;
        let r = xorshift(&mut x);
        let ids: Vec<usize> = s.class_stats().iter().map(|c| c.id).collect();
        let pick = |v: u64| match v as usize % (ids.len() + 1) {
            0 => 0,
            i => ids[i - 1],
        };
        let _ = s.reassign(pick(r), pick(r >> 16));
        s.run_maintenance();
        if done % 8 == 0 {
            assert!(s.set_mem_limit(limit / 2));
            s.run_maintenance();
            assert!(s.set_mem_limit(limit));
            // Only this thread changes the limit: the hard bound holds.
            check_bound(s, false);
        }
        s.crawl_expired(2_000);
        if done % 8 == 4 {
            s.advance_clock_for_test(1);
            s.crawl_classes(None);
        }
        // Let the writers refill what the moves took.
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    done
}

#[test]
fn pinned_readers_under_concurrent_writers_evictions_and_page_moves() {
    // Readers pin values (get, gat, meta get) and hold up to 64 pins each for up to 256 of
    // their operations; writers overwrite (directly and through reservations), append,
    // prepend, delete, expire, incr/decr and flush; a mover reassigns pages, runs automove,
    // lowers and raises the limit and crawls; 8 MiB, so eviction never stops. A pinned value
    // must read the same bytes, all of its own key, from pin to release; afterwards nothing
    // is held and the counts add up.
    // FERRO_STRESS_SCALE scales the operation counts (e.g. 0.02 under valgrind),
    // FERRO_STRESS_SECS bounds the run (3 s), FERRO_STRESS_SEED changes the random choices.
    let scale = env_f64("FERRO_STRESS_SCALE", 1.0);
    let secs = env_f64("FERRO_STRESS_SECS", 3.0);
    let seed = std::env::var("FERRO_STRESS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_F00D_u64);
    let s = store(8);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_ops = (1_000_000.0 * scale) as u64;
    let writer_ops = (300_000.0 * scale) as u64;
    let readers: Vec<_> = (0..2u64)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || stress_reader(&s, t, seed, reader_ops, deadline))
        })
        .collect();
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || stress_writer(&s, t, seed, writer_ops, deadline))
        })
        .collect();
    let mover = {
        let (s, stop) = (s.clone(), Arc::clone(&stop));
        std::thread::spawn(move || stress_mover(&s, seed, 100_000, &stop))
    };
    let mut counts = ReaderCounts::default();
    let mut failed = Vec::new();
    for h in readers {
        match h.join() {
            Ok(c) => {
                counts.pins += c.pins;
                counts.outlived += c.outlived;
            }
            Err(e) => failed.push(e),
        }
    }
    for h in writers {
        if let Err(e) = h.join() {
            failed.push(e);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = mover.join();
    if let Some(e) = failed.into_iter().next() {
        std::panic::resume_unwind(e);
    }
    let rounds = rounds.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let st = s.stats();
    println!(
        "seed {seed}: {} pins, {} outlived their item; {} items stored; {rounds} mover \
         rounds, {} pages moved, {} evictions, {} busy chunks",
        counts.pins,
        counts.outlived,
        st.total_items,
        st.slabs_moved,
        st.evictions,
        st.slab_reassign_busy_items
    );
    assert_eq!(s.pinned(), 0, "every pin was dropped");
    assert!(counts.pins > 0 && st.total_items > 0);
    if scale >= 1.0 {
        assert!(
            counts.outlived > 0,
            "no pin outlived its item: the test is too weak"
        );
    }
    // The store is consistent: every linked item is well formed and counted, no chunk is
    // held by anyone, the memory bound holds and the whole limit is usable again.
    assert!(shrink_done(&s));
    check_bound(&s, true);
    s.crawl_classes(None);
    let st = s.stats();
    let ids = 0..STRESS_STR_KEYS + STRESS_NUM_KEYS;
    let visible = ids
        .clone()
        .filter(|&id| match value(&s, &stress_key(id)) {
            Some(v) => {
                if let Err(e) = check_stress_value(id, &v) {
                    panic!("key {id}: {e}");
                }
                true
            }
            None => false,
        })
        .count() as u64;
    assert_eq!(visible, st.curr_items);
    let cs = s.class_stats();
    assert_eq!(cs.iter().map(|c| c.number).sum::<u64>(), st.curr_items);
    assert_eq!(cs.iter().map(|c| c.mem_requested).sum::<u64>(), st.bytes);
    check_no_held_memory(&s);
    for id in ids {
        s.delete(&stress_key(id), &DeleteOpts::default());
    }
    assert_eq!((s.stats().curr_items, s.stats().bytes), (0, 0));
    assert_eq!((used_chunks(&s), s.inner.mem_used().1), (0, 0));
    fill_until_evicting(&s, "after");
    check_bound(&s, true);
    assert_eq!(s.inner.mem_used().0, 8 << 20);
}

// ---- pages held by pins and reservations ------------------------------------------------------
//
// A page whose only chunks in use are pinned (or reserved) cannot move: the mover evicts its
// items, waits about 20 ms and gives up (`Busy`), leaving the page nearly empty, which would
// make it the best victim again (`pick_victim`, `shrink_victim`, `pick_page`): every
// allocation needing a page would retry it for all its rounds and answer `NoMemory`, and a
// lowered limit would never be reached. The mover now passes such a page over for a second
// (`Mem::cancel_move`); these tests were written (ignored) against the bug and pass now.

/// 4 MiB, automove off, four full pages of 100-byte values (the keys `f00000`...); the
/// number of items per page.
fn four_full_pages() -> (Store, usize) {
    let s = store(4);
    s.set_automove(false);
    let fk = |i: usize| format!("f{i:05}").into_bytes();
    set(&s, &fk(0), &pattern(&fk(0), 100));
    let per_page = s.class_stats()[0].chunks_per_page;
    for i in 1..4 * per_page {
        assert_eq!(set(&s, &fk(i), &pattern(&fk(i), 100)), StoreOutcome::Stored);
    }
    assert_eq!(s.stats().evictions, 0);
    (s, per_page)
}

#[test]
fn one_pinned_chunk_does_not_make_a_new_class_fail() {
    let (s, per_page) = four_full_pages();
    let p = pin(&s, b"f00005").expect("hit");
    // A new class needs a page: one of the three without pins can move.
    assert_eq!(
        set(&s, b"mid", &pattern(b"mid", 3000)),
        StoreOutcome::Stored
    );
    assert_eq!(
        set(&s, b"mid2", &pattern(b"mid2", 3000)),
        StoreOutcome::Stored
    );
    assert!(
        s.stats().evictions <= 2 * per_page as u64,
        "{:?}",
        s.stats()
    );
    assert!(p.bytes() == pattern(b"f00005", 100).as_slice());
}

#[test]
fn one_pinned_chunk_does_not_stop_a_lowered_limit() {
    let (s, _) = four_full_pages();
    let p = pin(&s, b"f00005").expect("hit");
    assert!(s.set_mem_limit(2 << 20));
    for _ in 0..5 {
        s.run_maintenance();
    }
    assert!(
        s.inner.mem_used().0 <= 2 << 20,
        "used {:?}",
        s.inner.mem_used()
    );
    assert!(p.bytes() == pattern(b"f00005", 100).as_slice());
}

#[test]
fn held_reservation_does_not_make_a_new_class_fail() {
    let (s, _) = four_full_pages();
    // A client announced a value and is still sending it.
    let res = s.reserve(b"slow", 100).expect("reserve");
    assert_eq!(
        set(&s, b"mid", &pattern(b"mid", 3000)),
        StoreOutcome::Stored
    );
    drop(res);
}

#[test]
fn reserved_copy_does_not_wait_for_its_own_reservation() {
    let (s, _) = four_full_pages();
    // Reserved in the full class (its chunk is on the page the mover picks first), stored
    // under a key whose item needs a new class: the copy's allocation moves a page.
    let mut res = s.reserve(b"f00000", 100).expect("reserve");
    res.value_mut().fill(b'r');
    let long_key = [b'K'; 200];
    assert_eq!(
        s.set(&long_key, Value::Reserved(res), &SetOpts::default())
            .0,
        StoreOutcome::Stored
    );
    assert_eq!(value(&s, &long_key), Some(vec![b'r'; 100]));
}

// ---- meta commands (mg / ms / md / ma support) ---------------------------------------------

mod meta {
    use super::*;

    /// Options of a meta `ms` with no flags.
    fn ms() -> SetOpts {
        SetOpts {
            fail_unlinks_any_mode: true,
            ..SetOpts::default()
        }
    }

    fn store() -> Store {
        Store::new(StoreConfig {
            mem_limit: 4 << 20,
            item_size_max: 1 << 20,
            growth_factor: 1.25,
            min_chunk: 48,
            evictions: true,
            cas: true,
            crawler_enabled: true,
            slab_chunk_max: StoreConfig::DEFAULT_SLAB_CHUNK_MAX,
            slab_sizes: None,
            track_sizes: false,
        })
    }

    /// (ttl, fetched, stale, token_sent, created, cas) seen by a non-bumping meta get.
    fn peek(s: &Store, key: &[u8]) -> Option<(i64, bool, bool, bool, bool, u64)> {
        match s.get(
            key,
            &GetOpts {
                vivify: false,
                no_bump: true,
                count: HitCount::Uncounted,
                touch: None,
            },
            |e| {
                (
                    e.ttl(),
                    e.fetched(),
                    e.stale(),
                    e.token_sent(),
                    e.created(),
                    e.cas(),
                )
            },
        ) {
            Lookup::Hit(v) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn meta_get_reports_state_before_its_own_bump() {
        let s = store();
        s.set(b"k", b"v", &SetOpts::new(SetMode::Set, 3, 100));
        let first = s.get(
            b"k",
            &GetOpts {
                vivify: false,
                no_bump: false,
                count: HitCount::Uncounted,
                touch: None,
            },
            |e| (e.fetched(), e.last_access()),
        );
        assert_eq!(first, Lookup::Hit((false, 0)));
        assert_eq!(peek(&s, b"k").map(|p| (p.0, p.1)), Some((100, true)));
        s.advance_clock_for_test(5);
        let la = s.get(
            b"k",
            &GetOpts {
                vivify: false,
                no_bump: true,
                count: HitCount::Uncounted,
                touch: None,
            },
            |e| e.last_access(),
        );
        assert_eq!(la, Lookup::Hit(5));
        // Touch through the handle.
        s.get(
            b"k",
            &GetOpts {
                vivify: false,
                no_bump: true,
                count: HitCount::Uncounted,
                touch: None,
            },
            |e| e.set_exptime(0),
        );
        assert_eq!(peek(&s, b"k").map(|p| p.0), Some(-1));
        assert_eq!(
            s.get(
                b"none",
                &GetOpts {
                    vivify: false,
                    no_bump: false,
                    count: HitCount::Uncounted,
                    touch: None
                },
                |_| ()
            ),
            Lookup::Miss
        );
    }

    #[test]
    fn vivify_creates_an_empty_item_once() {
        let s = store();
        let r = s.get(
            b"v",
            &GetOpts {
                vivify: true,
                no_bump: false,
                count: HitCount::Uncounted,
                touch: None,
            },
            |e| (e.created(), e.value().len(), e.flags()),
        );
        assert_eq!(r, Lookup::Hit((true, 0, 0)));
        let r = s.get(
            b"v",
            &GetOpts {
                vivify: true,
                no_bump: false,
                count: HitCount::Uncounted,
                touch: None,
            },
            |e| e.created(),
        );
        assert_eq!(r, Lookup::Hit(false));
        assert_eq!(s.stats().curr_items, 1);
    }

    #[test]
    fn invalidate_marks_stale_and_tokens_follow_memcached() {
        let s = store();
        s.set(b"k", b"v", &SetOpts::default());
        let cas0 = s.peek_cas(b"k").unwrap();
        assert_eq!(
            s.delete(
                b"k",
                &DeleteOpts {
                    cas: Some(cas0 + 9),
                    invalidate: true,
                    exptime: None
                }
            ),
            DeleteOutcome::Exists
        );
        assert_eq!(
            s.delete(
                b"k",
                &DeleteOpts {
                    cas: Some(cas0),
                    invalidate: true,
                    exptime: Some(30)
                }
            ),
            DeleteOutcome::Invalidated
        );
        let (ttl, _, stale, sent, _, cas1) = peek(&s, b"k").unwrap();
        assert!(stale && !sent && cas1 > cas0 && ttl == 30);
        s.get(
            b"k",
            &GetOpts {
                vivify: false,
                no_bump: true,
                count: HitCount::Uncounted,
                touch: None,
            },
            |e| e.set_token_sent(),
        );
        assert!(peek(&s, b"k").unwrap().3);
        // A lower CAS with invalidate stores a stale value keeping TTL and token.
        let opts = SetOpts {
            invalidate: true,
            ..ms()
        };
        let (o, cas2) = s.set(
            b"k",
            b"w",
            &SetOpts {
                mode: SetMode::Cas(cas0),
                flags: 0,
                exptime: 0,
                ..opts
            },
        );
        assert_eq!(o, StoreOutcome::Stored);
        let (ttl, _, stale, sent, _, cas) = peek(&s, b"k").unwrap();
        assert_eq!((ttl, stale, sent, cas), (30, true, true, cas2));
        // A higher one does not.
        let (o, _) = s.set(
            b"k",
            b"w",
            &SetOpts {
                mode: SetMode::Cas(cas2 + 5),
                flags: 0,
                exptime: 0,
                ..opts
            },
        );
        assert_eq!(o, StoreOutcome::Exists);
        // A plain store clears everything.
        s.set(
            b"k",
            b"x",
            &SetOpts {
                mode: SetMode::Set,
                flags: 0,
                exptime: 0,
                ..ms()
            },
        );
        let (_, _, stale, sent, _, _) = peek(&s, b"k").unwrap();
        assert!(!stale && !sent);
        assert_eq!(
            s.delete(
                b"k",
                &DeleteOpts {
                    cas: None,
                    invalidate: false,
                    exptime: None
                }
            ),
            DeleteOutcome::Deleted
        );
        assert_eq!(
            s.delete(
                b"k",
                &DeleteOpts {
                    cas: None,
                    invalidate: false,
                    exptime: None
                }
            ),
            DeleteOutcome::NotFound
        );
    }

    #[test]
    fn meta_store_concat_cas_and_binary_keys() {
        let s = store();
        let bin = SetOpts {
            key_binary: true,
            ..ms()
        };
        let (o, c1) = s.set(
            b"k",
            b"ab",
            &SetOpts {
                mode: SetMode::Set,
                flags: 1,
                exptime: 0,
                ..bin
            },
        );
        assert_eq!(o, StoreOutcome::Stored);
        let mut opts = SetOpts {
            concat_cas: c1 + 1,
            ..ms()
        };
        assert_eq!(
            s.set(
                b"k",
                b"c",
                &SetOpts {
                    mode: SetMode::Append,
                    flags: 0,
                    exptime: 0,
                    ..opts
                }
            )
            .0,
            StoreOutcome::Exists
        );
        opts.concat_cas = c1;
        assert_eq!(
            s.set(
                b"k",
                b"c",
                &SetOpts {
                    mode: SetMode::Append,
                    flags: 0,
                    exptime: 0,
                    ..opts
                }
            )
            .0,
            StoreOutcome::Stored
        );
        assert_eq!(
            s.get(
                b"k",
                &GetOpts {
                    vivify: false,
                    no_bump: true,
                    count: HitCount::Uncounted,
                    touch: None
                },
                |e| (e.value().to_vec(), e.flags(), e.key_binary())
            ),
            Lookup::Hit((b"abc".to_vec(), 1, true))
        );
        assert_eq!(
            s.set(
                b"none",
                b"c",
                &SetOpts {
                    mode: SetMode::Prepend,
                    flags: 0,
                    exptime: 0,
                    ..ms()
                }
            )
            .0,
            StoreOutcome::NotStored
        );
        // Too large: the old item goes, whatever the mode.
        let big = vec![0u8; 2 << 20];
        assert_eq!(
            s.set(
                b"k",
                &big,
                &SetOpts {
                    mode: SetMode::Add,
                    flags: 0,
                    exptime: 0,
                    ..ms()
                }
            )
            .0,
            StoreOutcome::TooLarge
        );
        assert_eq!(s.peek_cas(b"k"), None);
    }

    #[test]
    fn meta_arith_cas_vivify_and_growth() {
        let s = store();
        let r = s.arith(
            b"n",
            &ArithOpts {
                incr: true,
                delta: 1,
                cas: None,
                vivify: None,
            },
            |_| (),
        );
        assert_eq!(r, ArithOutcome::NotFound);
        let r = s.arith(
            b"n",
            &ArithOpts {
                incr: true,
                delta: 1,
                cas: None,
                vivify: Some((7, 0)),
            },
            |e| e.created(),
        );
        assert_eq!(r, ArithOutcome::Value(7, true));
        let cas = s.peek_cas(b"n").unwrap();
        let r = s.arith(
            b"n",
            &ArithOpts {
                incr: true,
                delta: 1,
                cas: Some(cas + 1),
                vivify: None,
            },
            |_| (),
        );
        assert_eq!(r, ArithOutcome::Exists);
        let r = s.arith(
            b"n",
            &ArithOpts {
                incr: true,
                delta: 100,
                cas: Some(cas),
                vivify: None,
            },
            |e| e.value().to_vec(),
        );
        assert_eq!(r, ArithOutcome::Value(107, b"107".to_vec()));
        let r = s.arith(
            b"n",
            &ArithOpts {
                incr: false,
                delta: 100,
                cas: None,
                vivify: None,
            },
            |e| e.value().to_vec(),
        );
        assert_eq!(r, ArithOutcome::Value(7, b"7  ".to_vec()));
        s.set(b"t", b"x", &SetOpts::default());
        assert_eq!(
            s.arith(
                b"t",
                &ArithOpts {
                    incr: true,
                    delta: 1,
                    cas: None,
                    vivify: None
                },
                |_| ()
            ),
            ArithOutcome::NonNumeric
        );
    }
}
