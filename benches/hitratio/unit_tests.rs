//! Unit tests of the hit-ratio benchmark's pure parts (distributions, trace generation, the
//! static-optimal bound), as a test target: the benchmark itself is `harness = false` (its
//! `#[test]`s would never run), so they live here: `cargo test --test hitratio_units`.
//!
//! Owns: those tests. The modules are the benchmark's own files, included by path.

#![allow(dead_code)]

#[path = "bound.rs"]
mod bound;
#[path = "dist.rs"]
mod dist;
#[path = "profiles.rs"]
mod profiles;
#[path = "sim.rs"]
mod sim;
#[path = "trace.rs"]
mod trace;

mod dist_tests {
    use crate::dist::*;

    #[test]
    fn rng_is_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn zipf_probabilities() {
        let z = Zipf::new(3, 1.0);
        // 1 : 1/2 : 1/3, normalised by 11/6.
        assert!((z.p(0) - 6.0 / 11.0).abs() < 1e-12);
        assert!((z.p(1) - 3.0 / 11.0).abs() < 1e-12);
        assert!((z.p(2) - 2.0 / 11.0).abs() < 1e-12);
        assert_eq!(z.rank(0.0), 0);
        assert_eq!(z.rank(0.5), 0);
        assert_eq!(z.rank(0.6), 1);
        assert_eq!(z.rank(0.99), 2);
        let u = Zipf::new(4, 0.0);
        assert!((u.p(3) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn zipf_sampled_frequencies() {
        let z = Zipf::new(100, 1.2);
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 100];
        let n = 200_000;
        for _ in 0..n {
            counts[z.rank(rng.unit())] += 1;
        }
        for r in [0, 1, 5, 20] {
            let got = f64::from(counts[r]) / n as f64;
            assert!((got - z.p(r)).abs() < 0.01, "rank {r}: {got} vs {}", z.p(r));
        }
    }

    #[test]
    fn lognormal_mean() {
        let mut rng = Rng::new(3);
        let n = 200_000;
        let sum: f64 = (0..n)
            .map(|_| f64::from(lognormal(500.0, 0.6, rng.unit(), 1, 1 << 20)))
            .sum();
        let mean = sum / n as f64;
        assert!((mean - 500.0).abs() < 10.0, "mean {mean}");
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!(normal_quantile(0.5).abs() < 1e-9);
    }
}

mod trace_tests {
    use crate::profiles::PROFILES;
    use crate::trace::*;

    fn params(seed: u64) -> TraceParams {
        TraceParams {
            seed,
            requests: 50_000,
            mem_bytes: 1 << 20,
            ttl_scale: 0.05,
            conns: 2,
            batch: 16,
            rate: 100_000.0,
        }
    }

    #[test]
    fn same_seed_same_trace() {
        for p in PROFILES {
            let a = generate(p, params(1));
            let b = generate(p, params(1));
            assert_eq!(a.digest(), b.digest(), "{}", p.name);
            assert_eq!(a.conns, b.conns);
            let c = generate(p, params(2));
            assert_ne!(
                a.digest(),
                c.digest(),
                "{}: the seed changes the trace",
                p.name
            );
            assert_eq!(a.requests(), 50_000);
        }
    }

    #[test]
    fn keys_round_trip() {
        let mut k = Vec::new();
        push_key(10, 123, &mut k);
        assert_eq!(k, b"k000000123");
        assert_eq!(parse_key(&k), Some(123));
        assert_eq!(parse_key(b"x12"), None);
        k.clear();
        push_key(67, u32::MAX, &mut k);
        assert_eq!(k.len(), 67);
        assert_eq!(parse_key(&k), Some(u32::MAX));
    }

    #[test]
    fn a_key_stays_on_one_connection() {
        let t = generate(&PROFILES[0], params(5));
        let mut seen = std::collections::HashMap::new();
        for (c, reqs) in t.conns.iter().enumerate() {
            let mut last = None;
            for r in reqs {
                assert_eq!(*seen.entry(r.key).or_insert(c), c);
                assert!(last < Some(r.at), "in order");
                last = Some(r.at);
            }
        }
    }

    #[test]
    fn one_hit_wonder_share_is_close() {
        let p = crate::profiles::find("c45").unwrap();
        let t = generate(p, params(3));
        let mut count = std::collections::HashMap::<u32, u32>::new();
        for r in t.conns.iter().flatten() {
            *count.entry(r.key).or_default() += 1;
        }
        let once = count.values().filter(|&&c| c == 1).count() as f64;
        let share = once / count.len() as f64;
        assert!(
            (share - 0.4874).abs() < 0.03,
            "one-hit-wonder share {share}"
        );
    }

    #[test]
    fn ttls_follow_the_mix() {
        let p = crate::profiles::find("c4").unwrap();
        let t = generate(p, params(4));
        let n = t.ttl.len() as f64;
        let three = t.ttl.iter().filter(|&&s| s == 3).count() as f64 / n;
        assert!((three - 0.39).abs() < 0.03, "60 s -> 3 s share {three}");
        assert!(t.ttl.iter().all(|&s| s > 0));
    }
}

mod hand {
    use crate::trace::{Req, Trace, TraceParams};

    /// A hand-made trace: one connection, batches of `batch`, one request per second.
    pub fn trace(reqs: &[(u32, bool)], sizes: &[u32], ttls: &[u32], batch: usize) -> Trace {
        Trace {
            name: "hand".into(),
            params: TraceParams {
                seed: 0,
                requests: reqs.len() as u64,
                mem_bytes: 0,
                ttl_scale: 1.0,
                conns: 1,
                batch,
                rate: 1.0,
            },
            key_size: 10,
            value_size: sizes.to_vec(),
            ttl: ttls.to_vec(),
            conns: vec![
                reqs.iter()
                    .enumerate()
                    .map(|(i, &(key, write))| Req {
                        key,
                        at: i as u32,
                        write,
                    })
                    .collect(),
            ],
            gets: reqs.iter().filter(|r| !r.1).count() as u64,
            writes: reqs.iter().filter(|r| r.1).count() as u64,
            universe: sizes.len(),
            one_shot: 0,
        }
    }
}

mod bound_tests {
    use crate::bound::*;
    use crate::hand::trace;

    #[test]
    fn hand_checked_static_optimum() {
        // Costs (10 + value + 48): A = 100, B = 100, C = 80.
        // A read 5 times (4 hits if kept), B 3 (2), C 2 (1): densities .04, .02, .0125.
        let (a, bk, c) = (0, 1, 2);
        let reqs: Vec<(u32, bool)> = [a, bk, c, a, bk, a, c, a, bk, a]
            .iter()
            .map(|&k| (k, false))
            .collect();
        let t = trace(&reqs, &[42, 42, 22], &[0, 0, 0], 1);
        let b = compute(&t, 200);
        assert_eq!((b.gets, b.compulsory, b.expired, b.inf_hits), (10, 3, 0, 7));
        // 200 bytes: A then B (200); C does not fit.
        assert_eq!((b.static_hits, b.static_items, b.static_bytes), (6, 2, 200));
        // 180 bytes: A (100), B does not fit, C (80) does.
        let b = compute(&t, 180);
        assert_eq!((b.static_hits, b.static_items, b.static_bytes), (5, 2, 180));
        // Everything fits: the infinite-memory count.
        assert_eq!(compute(&t, 1000).static_hits, 7);
        assert_eq!((b.distinct, b.footprint, b.once), (3, 280, 0));
    }

    #[test]
    fn ttl_expiry_and_writes() {
        // Key 0 with TTL 3 read at t = 0, 1, 2, 3, 6, 7: miss (set at 0), hit, hit, expired
        // at 3 (0 + 3 <= 3, set at 3), 6 expired again (set at 6), 7 hit.
        // Key 1 written at t = 4 then read at 5: a hit with no compulsory miss.
        let reqs = [
            (0, false),
            (0, false),
            (0, false),
            (0, false),
            (1, true),
            (1, false),
            (0, false),
            (0, false),
        ];
        let t = trace(&reqs, &[42, 42], &[3, 0], 1);
        let b = compute(&t, 1000);
        assert_eq!((b.gets, b.compulsory, b.expired, b.inf_hits), (7, 1, 2, 4));
        assert_eq!(b.static_hits, 4);
        // Only one item fits (100 bytes): key 0 has 3 hits, key 1 one.
        assert_eq!(compute(&t, 100).static_hits, 3);
    }

    #[test]
    fn a_batch_reads_before_it_sets() {
        // Batches of 4: [0, 0, 1, 0] all see an empty cache (4 compulsory misses), then
        // [0, 1] hit both.
        let reqs = [
            (0, false),
            (0, false),
            (1, false),
            (0, false),
            (0, false),
            (1, false),
        ];
        let t = trace(&reqs, &[42, 42], &[0, 0], 4);
        let b = compute(&t, 1000);
        assert_eq!((b.compulsory, b.inf_hits), (4, 2));
        assert_eq!((b.distinct, b.once), (2, 0));
    }
}

mod sim_tests {
    use crate::bound::compute;
    use crate::hand::trace;
    use crate::profiles::find;
    use crate::sim::{Climber, Model, SimOpts, Sketch, WTinyLfu, run, run_segments};
    use crate::trace::{TraceParams, generate};

    #[test]
    fn every_model_hits_all_it_can_when_everything_fits() {
        for name in ["c45", "c4", "recency", "scan"] {
            let p = find(name).expect("profile");
            let params = TraceParams {
                seed: 3,
                requests: 40_000,
                mem_bytes: 1 << 20,
                ttl_scale: 0.05,
                conns: 2,
                batch: 16,
                rate: 2_000.0,
            };
            let t = generate(p, params);
            let b = compute(&t, u64::MAX / 4);
            for slab in [false, true] {
                let opts = SimOpts {
                    slab,
                    ..SimOpts::default()
                };
                // Slab chunks cost at most twice the bound's item cost.
                for r in run(&t, 2 * b.footprint + (1 << 20), opts) {
                    assert_eq!((r.gets, r.hits), (b.gets, b.inf_hits), "{name} {}", r.name);
                }
            }
            // With a tenth of the footprint every model misses more.
            for r in run(&t, b.footprint / 10, SimOpts::default()) {
                assert!(r.hits < b.inf_hits, "{name} {}", r.name);
            }
        }
    }

    #[test]
    fn hand_checked_lru_and_lfu() {
        // Three keys of 100 bytes (10 + 42 + 48), room for two. Reads A B A C B A:
        // LRU: miss, miss, hit, miss (evicts B), miss (evicts A), miss: 1 hit.
        // LFU with memory: C evicts B (tie at one read, lower key first), B (now two reads)
        // evicts C, so the last A hits: 2 hits.
        let reqs: Vec<(u32, bool)> = [0, 1, 0, 2, 1, 0].iter().map(|&k| (k, false)).collect();
        let t = trace(&reqs, &[42, 42, 42], &[0, 0, 0], 1);
        let runs = run(&t, 200, SimOpts::default());
        let hits = |n: &str| runs.iter().find(|r| r.name == n).map(|r| r.hits);
        assert_eq!(hits("lru"), Some(1));
        assert_eq!(hits("lfu-oracle"), Some(2));
    }

    #[test]
    fn hand_checked_lfu_by_reads_per_byte_and_by_reads() {
        // Memory 200; A costs 140 (10 + 82 + 48), B and C 60. Reads A A B C B C A.
        // Per byte: C's arrival evicts A (2 reads / 140 bytes is the least), so B and C hit
        // (3 hits). By reads: it evicts B (1 read, the lower key of the tie with C), B's
        // return evicts C, C's return evicts A (all at 2, the lowest key): 1 hit. LRU evicts
        // A for C, then B and C hit: 3.
        let (a, b, c) = (0, 1, 2);
        let reqs: Vec<(u32, bool)> = [a, a, b, c, b, c, a].iter().map(|&k| (k, false)).collect();
        let t = trace(&reqs, &[82, 2, 2], &[0, 0, 0], 1);
        let runs = run(&t, 200, SimOpts::default());
        let hits = |n: &str| runs.iter().find(|r| r.name == n).map(|r| r.hits);
        assert_eq!(hits("lfu-oracle"), Some(3));
        assert_eq!(hits("lfu-oracle-count"), Some(1));
        assert_eq!(hits("lru"), Some(3));
    }

    #[test]
    fn eager_expiry_frees_room_before_it_is_needed() {
        // Room for two items of 100 bytes. Key 0 (TTL 3) is set at 0 and read at 2 (a hit,
        // so LRU keeps it over key 1, set at 1). At 3 key 0 has run out and key 2 arrives:
        // eagerly, key 0 is gone and key 2 takes its room, so key 1's read at 4 hits; lazily,
        // key 0 still holds its room and LRU evicts key 1.
        let reqs: Vec<(u32, bool)> = [0, 1, 0, 2, 1].iter().map(|&k| (k, false)).collect();
        let t = trace(&reqs, &[42, 42, 42], &[3, 0, 0], 1);
        let lru = |eager_expiry| {
            let opts = SimOpts {
                eager_expiry,
                ..SimOpts::default()
            };
            run(&t, 200, opts)
                .into_iter()
                .find(|r| r.name == "lru")
                .map(|r| r.hits)
        };
        assert_eq!(lru(false), Some(1));
        assert_eq!(lru(true), Some(2));
    }

    #[test]
    fn segment_compaction_keeps_what_overwrites_would_push_out() {
        // Items of 100 bytes (10 + 42 + 48), segments of 400, memory of 5 segments. Keys 0
        // to 3 are read twice, then 20 keys read once push them from the small log to the
        // main log; then key 0 is written 40 times, each write leaving a dead copy in the
        // main log. Without compaction the dead copies fill the segments and the main log's
        // oldest segment, keys 1 to 3, is evicted; compacting the segments that are mostly
        // dead keeps them, so their last reads hit.
        let mut reqs: Vec<(u32, bool)> = Vec::new();
        for _ in 0..2 {
            reqs.extend((0..4).map(|k| (k, false)));
        }
        reqs.extend((4..24).map(|k| (k, false)));
        reqs.extend(std::iter::repeat_n((0, true), 40));
        reqs.extend((1..4).map(|k| (k, false)));
        let t = trace(&reqs, &[42; 24], &[0; 24], 1);
        let plain = run_segments(&t, 2000, SimOpts::default(), 400, None);
        let clean = run_segments(&t, 2000, SimOpts::default(), 400, Some(0.9));
        assert_eq!((clean.gets, clean.hits), (31, 7), "{}", clean.note);
        assert_eq!((plain.gets, plain.hits), (31, 4), "{}", plain.note);
    }

    #[test]
    fn hill_climber_keeps_a_direction_that_pays_and_reverses_one_that_does_not() {
        // Memory 1000, a sample every 2 reads, the window at 500. The step starts at −62.5
        // (6.25% of memory, shrinking first) and stays whole while the hit ratio moves by 5
        // points or more, else decays by 2% a sample. Samples hit 1/2 (up from 0: keep going,
        // 500 − 62.5 → 437), 2/2 (up: 437 − 62.5 → 374), 1/2 (down 50 points: reverse,
        // 374 + 62.5 → 436; a big move keeps the step whole), 2/2 (up: 436 + 62.5 → 498),
        // 2/2 (no change: keep going, 498 + 62.5 → 560, the step now decayed to 61.25), 2/2
        // (560 + 61.25 → 621).
        let mut c = Climber::new(1000, 2);
        let mut window = 500;
        let mut seen = Vec::new();
        for hits in [1, 2, 1, 2, 2, 2] {
            assert_eq!(c.read(hits >= 1, window), None);
            window = c.read(hits >= 2, window).expect("a sample ends");
            seen.push(window);
        }
        assert_eq!(seen, [437, 374, 436, 498, 560, 621]);
        // The window stays within 0.5% and 80% of memory.
        let mut c = Climber::new(1000, 1);
        assert_eq!(c.read(true, 10), Some(5));
        let mut c = Climber::new(1000, 1);
        c.read(true, 500);
        assert_eq!(c.read(false, 790), Some(800));
    }

    #[test]
    fn tinylfu_admission_by_reads_per_byte_prefers_the_small_item() {
        // Memory 300 with a window of 3 bytes, so every item goes straight to admission. B
        // (200 bytes) is read twice, C (100 bytes) twice, then C is stored: by reads they tie
        // and the victim B stays (C is rejected); by reads per byte C's 2/100 beats B's
        // 2/200, so B is evicted and C admitted.
        let (b, c) = (1, 2);
        for per_byte in [false, true] {
            let mut m = WTinyLfu::new(4, 300, 3, Sketch::new(64));
            m.per_byte = per_byte;
            assert!(!m.get(b));
            m.set(b, 200);
            assert!(m.get(b));
            assert!(!m.get(c));
            assert!(!m.get(c));
            m.set(c, 100);
            assert_eq!(
                (m.get(c), m.get(b)),
                (per_byte, !per_byte),
                "per_byte {per_byte}"
            );
        }
    }

    #[test]
    fn resizing_the_window_moves_items_without_dropping_any_that_fit() {
        // Memory 1000, items of 100: nine fit whatever the split. The window grows from 100
        // to 500 (the main segments give up nothing: they hold 400 of their 500), four more
        // keys fill it; it shrinks to 100 (four window items go to probation), grows to 800
        // (six main items come into the window) and shrinks to 10: every key still hits.
        let mut m = WTinyLfu::new(16, 1000, 100, Sketch::new(64));
        let all_hit = |m: &mut WTinyLfu, n: u32, when: &str| {
            for k in 0..n {
                assert!(m.get(k), "key {k} after {when}");
            }
        };
        for k in 0..5 {
            assert!(!m.get(k));
            m.set(k, 100);
        }
        all_hit(&mut m, 5, "filling");
        m.resize(500);
        for k in 5..9 {
            assert!(!m.get(k));
            m.set(k, 100);
        }
        for (window, when) in [
            (100, "shrinking"),
            (800, "growing"),
            (10, "shrinking again"),
        ] {
            m.resize(window);
            all_hit(&mut m, 9, when);
        }
    }
}
