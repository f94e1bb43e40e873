//! The `HashMap` model test (proptest), a store shared across an `Arc`, and rough
//! throughput figures (ignored).

use super::*;

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
