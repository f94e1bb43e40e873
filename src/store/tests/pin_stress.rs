//! Concurrent pins: readers holding pins while writers, evictions and a page mover run
//! (`FERRO_STRESS_SCALE` / `FERRO_STRESS_SECS` scale it down for valgrind or Miri).

use super::*;

// ---- concurrent pins -----------------------------------------------------------------------

/// Stress values: segments of 8-byte little-endian words, a header `n | id | 0xFE` then `n`
/// body words `0x5A | id | version`. Any value can be checked alone: every segment names its
/// key and was written whole by one store (an append or prepend adds a segment). The header's
/// marker is its low byte, the first byte of a value: memcached's number rule (`incr`) skips
/// leading white space and stops at a space, so a first byte that could be a digit or white
/// space would let some segment values pass for numbers (a count of 73,779 words once began
/// `"3 "`, and `incr` rightly answered 4).
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
    let head = (n as u64) << 32 | u64::from(id) << 8 | SEG_HEAD;
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
        if h & 0xFF != SEG_HEAD || (h >> 8) & 0xFF_FFFF != id {
            return Err(format!(
                "word {at} = {h:#018x}: not a segment header of key {id}"
            ));
        }
        let n = (h >> 32) as usize;
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
                    vivify_cas: None,
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

#[test]
fn stress_segment_values_never_pass_for_numbers() {
    // The writers' `incr` of a segment key must answer NonNumeric: no value the stress test
    // writes may parse as a number (every word count `stress_words` picks, any key id).
    let counts = (1..=12).chain(256..384).chain(66_000..78_000);
    for n in counts {
        for id in [0, 9, 32, 48, 131, STRESS_STR_KEYS - 1] {
            // The header word decides (`parse_value` stops at its first byte); whole values
            // are checked where they are small.
            let head = (n as u64) << 32 | u64::from(id) << 8 | SEG_HEAD;
            assert_eq!(
                arith::parse_value(&head.to_le_bytes()),
                None,
                "n {n} id {id}"
            );
            if n < 400 {
                let v = segment(id, 0x3020_0930, n);
                assert_eq!(&v[..8], &head.to_le_bytes()[..]);
                assert_eq!(arith::parse_value(&v), None, "n {n} id {id}");
            }
        }
    }
    check_segments(131, &segment(131, 5, 73_779)).expect("well formed");
    assert!(check_segments(130, &segment(131, 5, 3)).is_err());
}
