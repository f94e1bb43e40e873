//! Storage modes and outcomes, CAS, delete, exptime, touch and gat, flush, incr/decr
//! edges, size limits, the classic failure rule and the binary CAS operations.

use super::*;

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
