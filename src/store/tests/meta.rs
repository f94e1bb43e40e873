//! Meta command support: the entry handle reports state before its own bump, vivify,
//! invalidation and win tokens, `ms` options, `ma` with CAS, vivify and growth.

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
            vivify_cas: None,
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
            vivify_cas: None,
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
            vivify_cas: None,
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
            vivify_cas: None,
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
                vivify_cas: None,
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
            vivify_cas: None,
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
            vivify_cas: None,
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
                remove_value: None,
                cas_in: None,
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
                remove_value: None,
                cas_in: None,
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
            vivify_cas: None,
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
                remove_value: None,
                cas_in: None,
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
                remove_value: None,
                cas_in: None,
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
                vivify_cas: None,
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
            cas_in: None,
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
            cas_in: None,
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
            cas_in: None,
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
            cas_in: None,
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
            cas_in: None,
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
                cas_in: None,
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

#[test]
fn cas_in_sets_the_cas_and_flushes_still_follow_store_order() {
    let s = store();
    let with_cas = |c| SetOpts {
        cas_in: Some(c),
        ..ms()
    };
    let cas_of = |k: &[u8]| s.get(k, &GetOpts::default(), |e| e.cas());
    assert_eq!(s.set(b"big", b"v", &with_cas(u64::MAX)).1, u64::MAX);
    assert_eq!(cas_of(b"big"), Lookup::Hit(u64::MAX));
    // A CAS given with `E` does not keep an item alive through a flush ...
    s.flush_all(0);
    assert!(!matches!(cas_of(b"big"), Lookup::Hit(_)));
    // ... nor make a later item look flushed.
    assert_eq!(s.set(b"low", b"v", &with_cas(1)).1, 1);
    assert_eq!(cas_of(b"low"), Lookup::Hit(1));
    // Compare-and-set compares the given CAS.
    let cas = SetOpts {
        cas_in: Some(7),
        ..SetOpts::new(SetMode::Cas(1), 0, 0)
    };
    assert_eq!(s.set(b"low", b"w", &cas), (StoreOutcome::Stored, 7));
    // Append/prepend with `vivify` create a missing item.
    let viv = SetOpts {
        vivify: true,
        ..SetOpts::new(SetMode::Append, 3, 0)
    };
    assert_eq!(s.set(b"new", b"ab", &viv).0, StoreOutcome::Stored);
    assert_eq!(
        s.get(b"new", &GetOpts::default(), |e| (
            e.value().to_vec(),
            e.flags()
        )),
        Lookup::Hit((b"ab".to_vec(), 3))
    );
}

#[test]
fn remove_value_keeps_an_empty_item() {
    let s = store();
    let (_, cas) = s.set(b"k", b"value", &ms());
    let empty = DeleteOpts {
        remove_value: Some(9),
        ..DeleteOpts::default()
    };
    assert_eq!(s.delete(b"k", &empty), DeleteOutcome::Emptied);
    assert_eq!(
        s.get(b"k", &GetOpts::default(), |e| (
            e.value().len(),
            e.flags(),
            e.cas()
        )),
        Lookup::Hit((0, 9, cas))
    );
    let stale = DeleteOpts {
        remove_value: Some(0),
        invalidate: true,
        cas_in: Some(1_000_000),
        ..DeleteOpts::default()
    };
    assert_eq!(s.delete(b"k", &stale), DeleteOutcome::Invalidated);
    assert_eq!(
        s.get(b"k", &GetOpts::default(), |e| (e.stale(), e.cas())),
        Lookup::Hit((true, 1_000_000))
    );
    assert_eq!(s.delete(b"nope", &empty), DeleteOutcome::NotFound);
}
