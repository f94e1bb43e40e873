//! Multi-threaded consistency: unique CAS values and counts under concurrent writers.

use super::*;

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
                    xorshift(&mut x);
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
