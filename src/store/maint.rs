//! Maintenance operations: the runtime memory limit and giving memory back, the sweeper's
//! tick, crawler control (`lru_crawler`), the item walk for `lru_crawler metadump`, and the
//! size histogram switch.
//!
//! Locking follows `shard.rs`: one shard lock at a time, the mover mutex before any shard
//! lock, no lock held while a caller's callback runs.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::engine::{Inner, SHARDS, SWEEP_CHUNK};
use super::mem::{BIT_FETCHED, BIT_KEY_BINARY, MoveDest, PAGE_SIZE};
use super::moves::Victim;
use super::shard::{Liveness, liveness};
use super::{ItemCursor, ItemMeta};

/// Time `set_mem_limit` spends giving memory back before returning (the sweeper does the
/// rest), and the same bound per sweeper tick.
pub(super) const RELEASE_STEP: Duration = Duration::from_millis(50);
/// Failed page moves (items in flight) tolerated in one release step before it gives up.
const RELEASE_FAILURES: usize = 4;
/// Index home slots per shard lock hold in `walk_items` (about 400–800 items).
const WALK_HOMES: usize = 1024;
/// Index slots the sweeper's crawl looks at per step, and the pass it keeps going after.
pub(super) const SWEEP_STEP_ITEMS: usize = 10_000;

/// One item's metadata copied out of a shard (its key is in a side buffer).
struct MetaCopy {
    key_end: usize,
    exptime: i64,
    last_access: i64,
    cas: u64,
    fetched: bool,
    class: usize,
    size: usize,
    value_len: usize,
    flags: u32,
    key_binary: bool,
}

impl Inner {
    /// One bounded sweeper step: look at up to `max_items` index slots, continuing where the
    /// previous step stopped, one shard lock at a time; reclaim expired and flushed items.
    pub(super) fn crawl_expired(&self, max_items: usize) -> usize {
        let mut cursor = self.sweep_cursor.lock();
        if *cursor == (0, 0) {
            self.crawler_starts.fetch_add(1, Ordering::Relaxed);
        }
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let mut budget = max_items;
        let mut reclaimed = 0;
        let mut freed = Vec::new();
        let mut shards_done = 0;
        while budget > 0 && shards_done <= SHARDS {
            let (s, pos) = *cursor;
            let mut g = self.lock(s);
            let (next, looked) =
                g.sweep(&self.mem, pos, budget.min(SWEEP_CHUNK), now, fs, &mut freed);
            let done = next >= g.slots();
            drop(g);
            reclaimed += freed.len();
            self.free_all(freed.drain(..).map(Some));
            budget = budget.saturating_sub(looked.max(1));
            *cursor = if done {
                shards_done += 1;
                ((s + 1) & (SHARDS - 1), 0)
            } else {
                (s, next)
            };
        }
        reclaimed
    }

    /// `cache_memlimit`: see `Store::set_mem_limit`.
    pub(super) fn set_mem_limit(&self, bytes: usize) -> bool {
        if !self.mem.set_limit(bytes) {
            return false;
        }
        self.limit_shown.store(bytes, Ordering::Relaxed);
        self.release_step(Instant::now() + RELEASE_STEP);
        true
    }

    /// Give memory back while more is in use than the limit allows, until `deadline`: per
    /// round, the page or large item `shrink_victim` names is released; a page's live items
    /// are rescued into free chunks of their class where possible, else evicted (`evictions`,
    /// `slab_reassign_evictions_nomem`; each page counts in `slabs_moved`). Evicts even with
    /// `-M`: a lowered limit is a request to drop items. `true` once within the limit.
    pub(super) fn release_step(&self, deadline: Instant) -> bool {
        let mut failures = 0;
        while self.mem.over_limit() > 0 {
            if failures >= RELEASE_FAILURES {
                return false;
            }
            let Some(guard) = self.mover.try_lock_until(deadline) else {
                return false;
            };
            match self.shrink_victim() {
                None => return false,
                Some(Victim::Large) => {
                    drop(guard);
                    if !self.evict_oldest_large() {
                        failures += 1;
                    }
                }
                Some(Victim::Page(class, pick)) => {
                    let len = self.mem.page_len(pick.pid);
                    match self.move_page(&guard, class, pick.pid, MoveDest::Release) {
                        Ok(_) => self.mem.unreserve_held(len),
                        Err(_) => failures += 1,
                    }
                }
            }
            if Instant::now() >= deadline {
                return self.mem.over_limit() == 0;
            }
        }
        true
    }

    /// What to give back next when over the limit: a free or nearly empty page (less than a
    /// quarter used; few items lost; see `pick_victim`) if any class has one, else the emptiest page of the
    /// class with the most pages, or the oldest large item if large items hold more memory
    /// than that class. So a lower limit takes memory from every class in proportion to
    /// what it holds. (The age criterion of `pick_victim` does not suit shrinking: with
    /// whole pages of mixed ages it would drain the class with the oldest tail entirely.)
    fn shrink_victim(&self) -> Option<Victim> {
        let geo = &self.mem.geo;
        if let Some((Victim::Page(c, p), true)) = self.pick_victim(None, 1, false) {
            return Some(Victim::Page(c, p));
        }
        let biggest = (0..geo.n_slab())
            .map(|c| (self.mem.class_mem(c).pages, c))
            .filter(|&(pages, _)| pages > 0)
            .max();
        let large = self.mem.large_bytes();
        match biggest {
            Some((pages, _)) if large > pages * PAGE_SIZE => Some(Victim::Large),
            // A class with only its starter page gives that when nothing bigger is left.
            Some((_, c)) => self
                .mem
                .pick_page(c)
                .or_else(|| self.mem.pick_starter(c))
                .map(|p| Victim::Page(c, p)),
            None if large > 0 => Some(Victim::Large),
            None => None,
        }
    }

    /// Evict (or reclaim, if dead) the least recently used large item; `false` if none.
    fn evict_oldest_large(&self) -> bool {
        let large = self.mem.geo.large();
        let Some(shard) = self.oldest_tail_shard(large) else {
            return false;
        };
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let mut g = self.lock(shard);
        let pulled = g.pull_tail(&self.mem, &self.hasher, large, now, fs, true, u64::MAX);
        drop(g);
        match pulled {
            Some((r, _)) => {
                self.mem.free(r);
                true
            }
            None => false,
        }
    }

    /// One sweeper tick: the expiry crawl (if the crawler is enabled; more steps while they
    /// find a lot), one automove step, and a bounded release step while over the limit.
    /// `stop` is polled between crawl steps.
    pub(super) fn sweeper_tick(&self, stop: impl Fn() -> bool) {
        if self.crawler.load(Ordering::Relaxed) {
            while self.crawl_expired(SWEEP_STEP_ITEMS) > SWEEP_STEP_ITEMS / 2 {
                // Lots to reclaim: keep going (each step is still bounded).
                if stop() {
                    return;
                }
            }
        }
        self.count_items();
        let sums = self.sum_counters();
        self.update_starter_holds(&sums);
        self.automove_with(&sums);
        if self.mem.over_limit() > 0 {
            self.release_step(Instant::now() + RELEASE_STEP);
        }
    }

    /// Bit mask of 0-based classes from 1-based ids (`None`: all). Unknown ids are ignored.
    fn class_mask(&self, classes: Option<&[usize]>) -> u64 {
        let n = self.mem.geo.large() + 1;
        match classes {
            None => u64::MAX,
            Some(ids) => ids
                .iter()
                .filter(|&&id| (1..=n).contains(&id))
                .fold(0, |m, &id| m | 1u64 << (id - 1)),
        }
    }

    /// `lru_crawler crawl`: see `Store::crawl_classes`.
    pub(super) fn crawl_classes(&self, classes: Option<&[usize]>) -> usize {
        let mask = self.class_mask(classes);
        if mask == 0 {
            return 0;
        }
        self.crawler_starts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut reclaimed = 0;
        let mut freed = Vec::new();
        for shard in 0..SHARDS {
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let mut pos = 0;
            loop {
                let mut g = self.lock(shard);
                let (next, _) =
                    g.sweep_classes(&self.mem, pos, SWEEP_CHUNK, now, fs, mask, &mut freed);
                let done = next >= g.slots();
                drop(g);
                reclaimed += freed.len();
                self.free_all(freed.drain(..).map(Some));
                if done {
                    break;
                }
                pos = next;
            }
        }
        reclaimed
    }

    /// `lru_crawler metadump` (see `Store::walk_items`): walks each shard's index by home
    /// slot residue (`Index::for_residues`), a bounded batch per lock hold, copying metadata
    /// out so that `f` runs with no lock held. One resumable slice: copies batches (one lock hold each) from `cursor`
    /// until at least `min_items` items were passed to `f` or the walk ends (then
    /// `cursor.done`). Returns false when `f` asked to stop.
    pub(super) fn walk_items(
        &self,
        cursor: &mut ItemCursor,
        min_items: usize,
        f: &mut impl FnMut(&ItemMeta<'_>) -> bool,
    ) -> bool {
        let mut batch: Vec<MetaCopy> = Vec::new();
        let mut keys: Vec<u8> = Vec::new();
        let mut seen = 0usize;
        while cursor.shard < SHARDS {
            let shard = cursor.shard;
            if !cursor.started {
                cursor.bits = self.lock(shard).index_bits();
                cursor.lo = 0;
                cursor.started = true;
            }
            let bits = cursor.bits;
            while cursor.lo < 1 << bits {
                batch.clear();
                keys.clear();
                cursor.lo = self.copy_batch(shard, bits, cursor.lo, &mut batch, &mut keys);
                let mut start = 0;
                for m in &batch {
                    let meta = ItemMeta {
                        key: &keys[start..m.key_end],
                        exptime: m.exptime,
                        last_access: m.last_access,
                        cas: m.cas,
                        fetched: m.fetched,
                        class: m.class,
                        size: m.size,
                        value_len: m.value_len,
                        flags: m.flags,
                        key_binary: m.key_binary,
                    };
                    start = m.key_end;
                    if !f(&meta) {
                        return false;
                    }
                }
                seen += batch.len();
                if seen >= min_items {
                    return true;
                }
            }
            cursor.shard += 1;
            cursor.started = false;
        }
        cursor.done = true;
        true
    }

    /// Under one lock of `shard`, copy the live items of home residues `lo..` (modulo
    /// `2^bits`) into `batch`/`keys`; return where the next batch starts.
    fn copy_batch(
        &self,
        shard: usize,
        bits: u32,
        lo: usize,
        batch: &mut Vec<MetaCopy>,
        keys: &mut Vec<u8>,
    ) -> usize {
        let mem = &self.mem;
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let g = self.lock(shard);
        // The table may have grown since the walk of this shard began: fewer residues then.
        let grown = g.index_bits().saturating_sub(bits);
        let hi = (lo + (WALK_HOMES >> grown).max(1)).min(1 << bits);
        g.walk_residues(bits, lo, hi, |r| {
            if liveness(mem, r, now, fs) != Liveness::Live {
                return;
            }
            keys.extend_from_slice(mem.key(r, &*g));
            let exptime = match mem.exptime(r) {
                0 => -1,
                e => self.clock.unix_of(e),
            };
            let bits = mem.bits(r);
            batch.push(MetaCopy {
                key_end: keys.len(),
                exptime,
                last_access: self.clock.unix_of(mem.atime(r)),
                cas: self.shown_cas(g.cas(mem, r)),
                fetched: bits & BIT_FETCHED != 0,
                class: mem.class_of(r) + 1,
                size: mem.item_size(r),
                value_len: mem.value_len(r),
                flags: mem.flags(r),
                key_binary: bits & BIT_KEY_BINARY != 0,
            });
        });
        hi
    }

    /// Start (from a walk of the current items, shard by shard) or stop the size histogram.
    pub(super) fn set_track_sizes(&self, on: bool) {
        let sizes = &self.mem.sizes;
        let mut ctl = sizes.ctl.lock();
        if *ctl == on {
            return;
        }
        if on {
            sizes.clear();
        }
        for s in self.shards() {
            s.0.lock().set_track_sizes(&self.mem, on);
        }
        *ctl = on;
        sizes.set_enabled(on);
    }
}
