//! Maintenance: the item walk (metadump), crawler switch and `crawl_classes`, the size
//! histogram, class geometry options.

use super::*;

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
