//! The memory bound: large items, LRU order and eviction, `-M`, the crawler and sweeper,
//! and the runtime memory limit (lowered, raised, under concurrent sets).

use super::*;

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
    // Items of at most 40 bytes: the 64-byte class for tiny items.
    assert_eq!((cs[0].id, cs[0].chunk_size, cs[0].total_pages), (1, 64, 1));
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
    // Pages fill all of it but what the index and the ghost table (both counted) take.
    assert!(s.inner.mem_used().0 >= 11 << 20);
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
                    xorshift(&mut x);
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
