//! Store-level tests, by subject: `ops.rs` (every mode and outcome, exptime, flush, incr/decr),
//! `memory.rs` (the memory bound, eviction order, the sweeper, the runtime limit),
//! `stress.rs`, `page_moves.rs`, `model.rs` (proptest against a `HashMap`), `maint.rs` (walk,
//! crawler, size histogram, geometry), `pins.rs` (pins and reservations), `pin_stress.rs`
//! (concurrent pins), `meta.rs` (meta command support). The helpers shared by several
//! files are here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use proptest::prelude::*;

use super::*;

mod maint;
mod memory;
mod meta;
mod model;
mod ops;
mod page_moves;
mod pin_stress;
mod pins;
mod policy;
mod stress;

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

// ---- page moves (slab reassign / automove) -------------------------------------------------

/// One step of Marsaglia's xorshift64 (the tests' seeded pseudo-random numbers); `*x` must
/// not be 0.
pub(super) fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

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
    let page_bytes = s.inner.slab_bytes();
    assert!(used <= limit, "used {used} > {limit}");
    assert!(page_bytes <= limit && large <= limit);
    if quiet {
        let shown: usize = s.class_stats().iter().map(|c| c.total_pages).sum();
        assert_eq!(shown, pages);
        assert_eq!(
            page_bytes + large,
            used,
            "{pages} pages of {page_bytes} bytes + {large} large bytes"
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
