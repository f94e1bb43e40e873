//! The store's operations: hashing to a shard, allocation with eviction, the mode rules of
//! each command, flush, the sweeper step and statistics.
//!
//! Every operation follows the locking contract in `shard.rs`: allocate first (possibly
//! evicting, one shard lock at a time), then lock the key's shard once to apply the rules,
//! then free what was replaced after unlocking. Operations whose new size depends on the old
//! item (append, prepend, a longer incr result) read the old item under the lock, allocate
//! without it, and re-check that the old item is unchanged (same ref, same sequence) before
//! linking; otherwise they retry.
//!
//! Page moves (slab reassign, see `mod.rs`): `move_page` under the mover mutex; used by
//! `reassign` (admin), by `alloc` when a class has no memory and nothing to evict
//! (`make_room`), by the sweeper's `automove_step`, and by the release steps of a lowered
//! memory limit (`maint.rs`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use ahash::RandomState;
use parking_lot::Mutex;

use super::clock::Clock;
use super::mem::{Geometry, HEADER, MAX_SHARD_IDS, Mem, MoveDest, NIL, PAGE_SIZE, PagePick, Ref};
use super::shard::{ClassCounters, Liveness, Pulled, Shard, ShardCore, liveness};
use super::{ClassStats, ReassignError, StoreConfig, StoreStats};

/// Number of lock shards (power of two).
pub(super) const SHARDS: usize = 64;
/// memcached's KEY_MAX_LENGTH.
pub(super) const KEY_MAX: usize = 250;
/// Size of memcached's item header with CAS (48 + 8), for `-I` compatibility.
const MC_HEADER: usize = 48;
/// Allocation rounds (alloc, then pull one tail) before giving up with `NoMemory`.
const ALLOC_ROUNDS: usize = 16;
/// Slots the sweeper looks at per shard lock hold.
pub(super) const SWEEP_CHUNK: usize = 1024;
/// Scans of a moving page before the mover gives up on chunks that stay in flight. The first
/// `MOVE_SPIN_PASSES` waits yield, the others sleep `MOVE_WAIT`: at most about 20 ms.
const MOVE_PASSES: usize = 200;
const MOVE_SPIN_PASSES: usize = 16;
const MOVE_WAIT: Duration = Duration::from_micros(100);
// Shard ids are recorded in a chunk state byte.
const _: () = assert!(SHARDS <= MAX_SHARD_IDS);

/// Page move counters (memcached's names).
#[derive(Default)]
struct MoveCounters {
    slabs_moved: AtomicU64,
    rescues: AtomicU64,
    evictions_nomem: AtomicU64,
    busy_items: AtomicU64,
    running: AtomicBool,
}

/// Where `make_room` takes memory from.
pub(super) enum Victim {
    /// This page of this slab class.
    Page(usize, PagePick),
    /// The oldest large item (its budget).
    Large,
}

/// What `make_room` achieved.
enum Room {
    /// A chunk for the caller (first chunk of a page moved to its class).
    Chunk(Ref),
    /// Something changed (budget released, or a move failed): allocate again.
    Retry,
    /// No page can be taken from anywhere.
    Nothing,
}

pub(super) struct Inner {
    /// Bytes of items reserved for values still arriving (`set.rs`).
    pub(super) reserved: std::sync::atomic::AtomicUsize,
    pub(super) cfg: StoreConfig,
    pub(super) clock: Clock,
    pub(super) mem: Mem,
    shards: Box<[Shard]>,
    pub(super) hasher: RandomState,
    /// Last issued store sequence = CAS unique (one global counter).
    seq: AtomicU64,
    /// Items with sequence <= this are flushed.
    flush_seq: AtomicU64,
    /// Relative time at which a delayed flush takes effect (0 = none).
    flush_deadline: AtomicU32,
    flush_lock: Mutex<()>,
    sweep_cursor: Mutex<(usize, usize)>,
    /// `lru_crawler_starts`.
    pub(super) crawler_starts: AtomicU64,
    /// Serialises page moves (see the lock order in `shard.rs`).
    pub(super) mover: Mutex<()>,
    moves: MoveCounters,
    automove: AtomicBool,
    /// Per class `evicted` sums seen by the previous automove step.
    automove_prev: Mutex<Vec<u64>>,
    pub(super) sweeper_stop: AtomicBool,
    pub(super) sweepers: Mutex<Vec<std::thread::Thread>>,
    /// The sweeper's background expiry crawl runs (`lru_crawler enable|disable`).
    pub(super) crawler: AtomicBool,
    /// `limit_maxbytes` as configured (`-m`) or last set by `set_mem_limit` (the budget in
    /// `mem` may be clamped).
    pub(super) limit_shown: std::sync::atomic::AtomicUsize,
}

/// Where a key lives.
pub(super) struct Slot {
    pub(super) shard: usize,
    pub(super) tag: u32,
}

impl Inner {
    pub(super) fn new(cfg: StoreConfig) -> Inner {
        let geo = match &cfg.slab_sizes {
            Some(sizes) => Geometry::explicit(sizes, cfg.slab_chunk_max),
            None => Geometry::new(cfg.min_chunk, cfg.growth_factor, cfg.slab_chunk_max),
        };
        let mem = Mem::with_geometry(cfg.mem_limit, geo, cfg.item_size_max);
        let n_classes = mem.geo.n_slab() + 1;
        let inner = Inner {
            reserved: std::sync::atomic::AtomicUsize::new(0),
            clock: Clock::new(),
            shards: (0..SHARDS)
                .enumerate()
                .map(|(id, _)| Shard(Mutex::new(ShardCore::new(id, n_classes))))
                .collect(),
            hasher: RandomState::new(),
            seq: AtomicU64::new(0),
            flush_seq: AtomicU64::new(0),
            flush_deadline: AtomicU32::new(0),
            flush_lock: Mutex::new(()),
            sweep_cursor: Mutex::new((0, 0)),
            crawler_starts: AtomicU64::new(0),
            mover: Mutex::new(()),
            moves: MoveCounters::default(),
            automove: AtomicBool::new(true),
            automove_prev: Mutex::new(Vec::new()),
            sweeper_stop: AtomicBool::new(false),
            sweepers: Mutex::new(Vec::new()),
            crawler: AtomicBool::new(cfg.crawler_enabled),
            limit_shown: std::sync::atomic::AtomicUsize::new(cfg.mem_limit),
            mem,
            cfg,
        };
        if inner.cfg.track_sizes {
            inner.set_track_sizes(true);
        }
        inner
    }

    pub(super) fn shards(&self) -> &[Shard] {
        &self.shards
    }

    #[inline]
    pub(super) fn slot(&self, key: &[u8]) -> Slot {
        let h = self.hasher.hash_one(key);
        Slot {
            shard: h as usize & (SHARDS - 1),
            tag: (h >> 32) as u32,
        }
    }

    #[inline]
    pub(super) fn lock(&self, shard: usize) -> parking_lot::MutexGuard<'_, ShardCore> {
        self.shards[shard].0.lock()
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// CAS as clients see it.
    #[inline]
    pub(super) fn shown_cas(&self, seq: u64) -> u64 {
        if self.cfg.cas { seq } else { 0 }
    }

    /// The flush sequence in force at `now`, turning a due delayed flush into one.
    #[inline]
    pub(super) fn flush_seq(&self, now: u32) -> u64 {
        let d = self.flush_deadline.load(Ordering::SeqCst);
        if d != 0 && now >= d {
            let _g = self.flush_lock.lock();
            if self.flush_deadline.load(Ordering::SeqCst) == d {
                self.flush_seq
                    .fetch_max(self.seq.load(Ordering::SeqCst), Ordering::SeqCst);
                self.flush_deadline.store(0, Ordering::SeqCst);
            }
        }
        self.flush_seq.load(Ordering::SeqCst)
    }

    pub(super) fn flush_all(&self, delay: i64) {
        let _g = self.flush_lock.lock();
        if delay <= 0 {
            self.flush_seq
                .fetch_max(self.seq.load(Ordering::SeqCst), Ordering::SeqCst);
            self.flush_deadline.store(0, Ordering::SeqCst);
        } else {
            let at = self.clock.rel_exptime(delay).max(1);
            self.flush_deadline.store(at, Ordering::SeqCst);
        }
    }

    /// memcached's `item_size_ok`: its item (56-byte header with CAS, key, NUL, value, CRLF)
    /// must fit `-I`; ours must also fit the whole budget.
    pub(super) fn item_size_ok(&self, key_len: usize, value_len: usize) -> bool {
        let cas = if self.cfg.cas { 8 } else { 0 };
        key_len <= KEY_MAX
            && MC_HEADER + cas + key_len + 1 + value_len + 2 <= self.cfg.item_size_max
            && HEADER + key_len + value_len <= self.mem.limit()
    }

    /// A private chunk for an item of `total` bytes: free memory first, then the LRU tails
    /// of its class (reclaiming expired items, or evicting), one shard at a time starting
    /// with `hint`; then, with evictions on, memory taken elsewhere (`make_room`: a page of
    /// another class, or the budget of an old large item). With `-M` only expired large
    /// items give their budget. Holds no lock when called.
    pub(super) fn alloc(&self, total: usize, hint: usize) -> Option<Ref> {
        let geo = &self.mem.geo;
        let class = geo.class_for(total);
        let large = class == geo.large();
        // Budget of pages released for this large item and not used yet.
        let mut held = 0;
        for _ in 0..ALLOC_ROUNDS {
            let got = if large {
                self.mem.alloc_large_held(total, &mut held)
            } else {
                self.mem.alloc(class)
            };
            if got.is_some() {
                return got;
            }
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            match self.pull_any(class, hint, now, fs) {
                None if self.cfg.evictions => match self.make_room(class, total, hint, &mut held) {
                    Room::Chunk(r) => return Some(r),
                    Room::Retry => {}
                    Room::Nothing => break,
                },
                // -M: expired large items may hold the budget a new page needs.
                None if !large => match self.pull_any(geo.large(), hint, now, fs) {
                    Some(r) => self.mem.free(r),
                    None => break,
                },
                None => break,
                // A chunk of a page being moved: give it to the mover instead.
                Some(r) if !large && self.mem.is_moving(r) => self.mem.free(r),
                Some(r) if !large => return Some(r),
                Some(r) => self.mem.free(r),
            }
        }
        self.mem.unreserve_held(held);
        self.mem.count_oom(class);
        None
    }

    /// `class` found no memory and nothing to evict: evict the oldest large item (for its
    /// budget) or take a page from another class (for the large class: release one to the
    /// budget, adding `PAGE_SIZE` to `*held`), as `pick_victim` decides.
    fn make_room(&self, class: usize, total: usize, hint: usize, held: &mut usize) -> Room {
        let large = class == self.mem.geo.large();
        let guard = self.mover.lock();
        // Another thread may have made room while we waited for the mover.
        let got = if large {
            self.mem.alloc_large_held(total, held)
        } else {
            self.mem.alloc(class)
        };
        if let Some(r) = got {
            return Room::Chunk(r);
        }
        let (src, pick) = match self.pick_victim((!large).then_some(class), 1, !large) {
            None => return Room::Nothing,
            Some(Victim::Large) => {
                drop(guard);
                let now = self.clock.now();
                let fs = self.flush_seq(now);
                if let Some(r) = self.pull_any(self.mem.geo.large(), hint, now, fs) {
                    self.mem.free(r);
                }
                return Room::Retry;
            }
            Some(Victim::Page(src, pick)) => (src, pick),
        };
        let dest = if large {
            MoveDest::Release
        } else {
            MoveDest::Class(class, true)
        };
        match self.move_page(&guard, src, pick.pid, dest) {
            Ok(Some(r)) => Room::Chunk(r),
            Ok(None) => {
                *held += PAGE_SIZE;
                Room::Retry
            }
            Err(_) => Room::Retry,
        }
    }

    /// What to take memory from for `dst` (a slab class, or `None` for the large class /
    /// the budget; never `dst` itself), best first:
    /// 1. a completely free page (nothing to evict);
    /// 2. a page less than a quarter used, the emptiest (cheap: few items lost; typically a
    ///    page just given to a class that rarely stores, so pages do not keep flushing full
    ///    classes when there are fewer pages than active classes);
    /// 3. whichever holds the oldest least recently used item: the emptiest page of that slab
    ///    class, or (if `large_ok`) the oldest large item, whose budget becomes a page. This
    ///    is memcached's age criterion; at page granularity it approximates one LRU over all
    ///    classes.
    ///
    /// Only slab classes with at least `min_pages` pages.
    pub(super) fn pick_victim(
        &self,
        dst: Option<usize>,
        min_pages: usize,
        large_ok: bool,
    ) -> Option<Victim> {
        use std::cmp::Reverse;
        let ages = self.tail_ages();
        let geo = &self.mem.geo;
        type Key = (u8, Reverse<usize>, Reverse<(u32, u64)>);
        let mut best: Option<(Key, Victim)> = None;
        let mut consider = |key: Key, v: Victim| {
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, v));
            }
        };
        for (c, &age) in ages[..geo.n_slab()].iter().enumerate() {
            if Some(c) == dst {
                continue;
            }
            let Some(p) = self.mem.pick_page(c) else {
                continue;
            };
            if p.pages < min_pages {
                continue;
            }
            let per = geo.per_page(c);
            let key = if p.in_use == 0 {
                (2, Reverse(0), Reverse((0, 0)))
            } else if p.in_use * 4 < per {
                (1, Reverse(p.in_use * 1024 / per), Reverse((0, 0)))
            } else {
                // No tail while chunks are in use: they are all in flight (e.g. a page the
                // class was just given), so count it as the newest.
                (0, Reverse(0), Reverse(age.unwrap_or((u32::MAX, u64::MAX))))
            };
            consider(key, Victim::Page(c, p));
        }
        if large_ok && let Some(age) = ages[geo.large()] {
            consider((0, Reverse(0), Reverse(age)), Victim::Large);
        }
        best.map(|(_, v)| v)
    }

    /// Per class (large class included), `(atime, sequence)` of its least recently used
    /// item over all shards.
    fn tail_ages(&self) -> Vec<Option<(u32, u64)>> {
        let n = self.mem.geo.n_slab() + 1;
        let mut ages: Vec<Option<(u32, u64)>> = vec![None; n];
        for s in self.shards.iter() {
            let g = s.0.lock();
            for (class, age) in ages.iter_mut().enumerate() {
                let t = g.tail(class);
                if t != NIL {
                    let a = (self.mem.atime(t), self.mem.cas(t));
                    if age.is_none_or(|b| a < b) {
                        *age = Some(a);
                    }
                }
            }
        }
        ages
    }

    /// Move page `pid` out of slab class `src` to `dest`. The caller holds the mover mutex
    /// (`_mover` proves it) and no other lock, and owns no private chunk.
    ///
    /// 1. `begin_move`: the allocator stops handing out chunks of the page.
    /// 2. Scan its chunk state table; lock each owning shard in turn and, for every chunk
    ///    still linked there, copy the item into a free chunk of `src` (rescue) or unlink it
    ///    (eviction, or reclaim if it was dead anyway), then free the chunk.
    /// 3. Chunks that are private (allocated and being written, or unlinked and about to be
    ///    freed) are waited for: rescan, yielding then sleeping, at most `MOVE_PASSES` times.
    /// 4. When every chunk is free, `finish_move` re-carves the page for `dest`. If the wait
    ///    runs out the page goes back to `src` and `Busy` is returned.
    pub(super) fn move_page(
        &self,
        _mover: &parking_lot::MutexGuard<'_, ()>,
        src: usize,
        pid: u32,
        dest: MoveDest,
    ) -> Result<Option<Ref>, ReassignError> {
        if !self.mem.begin_move(src, pid) {
            return Err(ReassignError::Busy);
        }
        self.moves.running.store(true, Ordering::Relaxed);
        let mut linked = Vec::new();
        let mut result = Err(ReassignError::Busy);
        for pass in 0..MOVE_PASSES {
            linked.clear();
            let busy = self.mem.scan_page(src, pid, &mut linked);
            if !linked.is_empty() {
                self.clear_linked(src, &mut linked);
                continue;
            }
            if busy == 0 {
                if let Ok(r) = self.mem.finish_move(src, pid, dest) {
                    result = Ok(r);
                    break;
                }
                continue;
            }
            self.moves
                .busy_items
                .fetch_add(busy as u64, Ordering::Relaxed);
            if pass < MOVE_SPIN_PASSES {
                std::thread::yield_now();
            } else {
                std::thread::sleep(MOVE_WAIT);
            }
        }
        match result {
            Ok(_) => {
                self.moves.slabs_moved.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => self.mem.cancel_move(src, pid),
        }
        self.moves.running.store(false, Ordering::Relaxed);
        result
    }

    /// Rescue or unlink the items of a moving page of `src` listed as `(shard, ref)`, one
    /// shard lock at a time, and free their chunks.
    fn clear_linked(&self, src: usize, linked: &mut [(usize, Ref)]) {
        let mem = &self.mem;
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        linked.sort_unstable();
        let mut freed = Vec::new();
        let (mut rescued, mut evicted) = (0, 0);
        for group in linked.chunk_by(|a, b| a.0 == b.0) {
            let shard = group[0].0;
            if shard >= SHARDS {
                continue;
            }
            let mut g = self.lock(shard);
            for &(_, r) in group {
                // It may have been unlinked (and freed) since the scan.
                if !g.holds(mem, r) {
                    continue;
                }
                if liveness(mem, r, now, fs) == Liveness::Live
                    && let Some(n) = mem.alloc_spare(src)
                {
                    g.relocate(mem, &self.hasher, r, n);
                    rescued += 1;
                } else if g.unlink_moved(mem, &self.hasher, r, now, fs) == Pulled::Evicted {
                    evicted += 1;
                }
                freed.push(r);
            }
            drop(g);
            self.free_all(freed.drain(..).map(Some));
        }
        self.moves.rescues.fetch_add(rescued, Ordering::Relaxed);
        self.moves
            .evictions_nomem
            .fetch_add(evicted, Ordering::Relaxed);
    }

    /// Admin page move (`slabs reassign`): see `Store::reassign`.
    pub(super) fn reassign(&self, from: usize, to: usize) -> Result<(), ReassignError> {
        let n = self.mem.geo.n_slab();
        let dst = match to {
            0 => None,
            t if t == n + 1 => None,
            t if t <= n => Some(t - 1),
            _ => return Err(ReassignError::BadClass),
        };
        if from > n {
            return Err(ReassignError::BadClass);
        }
        if from != 0 && from == to {
            return Err(ReassignError::Same);
        }
        let Some(guard) = self.mover.try_lock() else {
            return Err(ReassignError::Running);
        };
        let (src, pick) = if from == 0 {
            match self.pick_victim(dst, 2, false) {
                Some(Victim::Page(c, p)) => (c, p),
                _ => return Err(ReassignError::NoSpare),
            }
        } else {
            let p = self.mem.pick_page(from - 1).ok_or(ReassignError::NoSpare)?;
            if p.pages < 2 {
                return Err(ReassignError::NoSpare);
            }
            (from - 1, p)
        };
        let dest = dst.map_or(MoveDest::Release, |c| MoveDest::Class(c, false));
        self.move_page(&guard, src, pick.pid, dest)?;
        if dest == MoveDest::Release {
            self.mem.unreserve_held(PAGE_SIZE);
        }
        Ok(())
    }

    pub(super) fn set_automove(&self, on: bool) {
        self.automove.store(on, Ordering::Relaxed);
    }

    /// One automove step (sweeper): if a class evicted since the previous step and has less
    /// than a page free, while another slab class has more than 2.5 pages worth of free
    /// chunks, move the emptiest page of the latter (the one with the most free chunks) to the
    /// former (for the large class: give it to the budget). At most one page per step;
    /// skipped while another move runs. `true` if a page moved.
    pub(super) fn automove_step(&self) -> bool {
        if !self.automove.load(Ordering::Relaxed) {
            return false;
        }
        let geo = &self.mem.geo;
        let sums = self.sum_counters();
        let deltas: Vec<u64> = {
            let mut prev = self.automove_prev.lock();
            prev.resize(sums.len(), 0);
            let d = sums
                .iter()
                .zip(prev.iter())
                .map(|(c, p)| c.evicted.saturating_sub(*p))
                .collect();
            for (p, c) in prev.iter_mut().zip(&sums) {
                *p = c.evicted;
            }
            d
        };
        let large = geo.large();
        let dst = (0..=large)
            .filter(|&c| {
                deltas[c] > 0 && (c == large || self.mem.class_mem(c).free_chunks < geo.per_page(c))
            })
            .max_by_key(|&c| deltas[c]);
        let Some(dst) = dst else {
            return false;
        };
        let src = (0..geo.n_slab())
            .filter(|&c| c != dst)
            .filter_map(|c| {
                let free = self.mem.class_mem(c).free_chunks;
                let per = geo.per_page(c);
                (free * 2 > per * 5).then_some((free * 1000 / per, c))
            })
            .max();
        let Some((_, src)) = src else {
            return false;
        };
        let Some(guard) = self.mover.try_lock() else {
            return false;
        };
        let Some(pick) = self.mem.pick_page(src) else {
            return false;
        };
        let dest = if dst == large {
            MoveDest::Release
        } else {
            MoveDest::Class(dst, false)
        };
        let moved = self.move_page(&guard, src, pick.pid, dest).is_ok();
        if moved && dest == MoveDest::Release {
            self.mem.unreserve_held(PAGE_SIZE);
        }
        moved
    }

    /// Pull one chunk of `class` from some shard's LRU tail, trying `hint` first. Large items
    /// are few per shard, so for them the shard with the oldest tail is chosen instead.
    fn pull_any(&self, class: usize, hint: usize, now: u32, fs: u64) -> Option<Ref> {
        let hint = if class == self.mem.geo.large() {
            self.oldest_tail_shard(class).unwrap_or(hint)
        } else {
            hint
        };
        for i in 0..SHARDS {
            let s = (hint + i) & (SHARDS - 1);
            let mut g = self.lock(s);
            if let Some((r, _how)) =
                g.pull_tail(&self.mem, &self.hasher, class, now, fs, self.cfg.evictions)
            {
                return Some(r);
            }
        }
        None
    }

    /// The shard whose `class` tail was least recently used (then: stored first).
    pub(super) fn oldest_tail_shard(&self, class: usize) -> Option<usize> {
        let mut best: Option<((u32, u64), usize)> = None;
        for s in 0..SHARDS {
            let g = self.lock(s);
            let t = g.tail(class);
            if t != NIL {
                let age = (self.mem.atime(t), self.mem.cas(t));
                if best.is_none_or(|(b, _)| age < b) {
                    best = Some((age, s));
                }
            }
        }
        best.map(|(_, s)| s)
    }

    pub(super) fn free_all(&self, refs: impl IntoIterator<Item = Option<Ref>>) {
        for r in refs.into_iter().flatten() {
            self.mem.free(r);
        }
    }

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

    fn sum_counters(&self) -> Vec<ClassCounters> {
        let n = self.mem.geo.n_slab() + 1;
        let mut sum = vec![ClassCounters::default(); n];
        for s in self.shards.iter() {
            let g = s.0.lock();
            for (acc, c) in sum.iter_mut().zip(g.counters.iter()) {
                acc.add(c);
            }
        }
        sum
    }

    pub(super) fn stats(&self) -> StoreStats {
        let mut st = StoreStats {
            limit_maxbytes: self.limit_shown.load(Ordering::Relaxed) as u64,
            total_malloced: self.mem.used() as u64,
            slabs_moved: self.moves.slabs_moved.load(Ordering::Relaxed),
            slab_reassign_rescues: self.moves.rescues.load(Ordering::Relaxed),
            slab_reassign_evictions_nomem: self.moves.evictions_nomem.load(Ordering::Relaxed),
            slab_reassign_busy_items: self.moves.busy_items.load(Ordering::Relaxed),
            slab_reassign_running: self.moves.running.load(Ordering::Relaxed),
            slab_automove: self.automove.load(Ordering::Relaxed),
            crawler_starts: self.crawler_starts.load(Ordering::Relaxed),
            ..StoreStats::default()
        };
        for c in self.sum_counters() {
            st.curr_items += c.number;
            st.total_items += c.total_items;
            st.bytes += c.bytes;
            st.evictions += c.evicted;
            st.reclaimed += c.reclaimed;
            st.expired_unfetched += c.expired_unfetched;
            st.evicted_unfetched += c.evicted_unfetched;
        }
        let slots: usize = (0..SHARDS).map(|s| self.lock(s).slots()).sum();
        st.hash_bytes = (slots * std::mem::size_of::<u64>()) as u64;
        st
    }

    /// Per class figures, ids 1-based like memcached; the large class (if it holds items)
    /// comes last with `chunk_size` 0 and no pages.
    pub(super) fn class_stats(&self) -> Vec<ClassStats> {
        let geo = &self.mem.geo;
        let now = self.clock.now();
        let sums = self.sum_counters();
        let mut oldest = vec![0u64; sums.len()];
        for s in self.shards.iter() {
            let g = s.0.lock();
            for (class, age) in oldest.iter_mut().enumerate() {
                let t = g.tail(class);
                if t != NIL {
                    *age = (*age).max(now.saturating_sub(self.mem.atime(t)) as u64);
                }
            }
        }
        let mut out = Vec::new();
        for (class, c) in sums.iter().enumerate() {
            let m = self.mem.class_mem(class);
            let large = class == geo.large();
            if (large && c.number == 0) || (!large && m.pages == 0) {
                continue;
            }
            let (chunk_size, per_page) = if large {
                (0, 0)
            } else {
                (geo.chunk_size(class), geo.per_page(class))
            };
            let total_chunks = if large {
                c.number as usize
            } else {
                m.pages * per_page
            };
            out.push(ClassStats {
                id: class + 1,
                chunk_size,
                chunks_per_page: per_page,
                total_pages: m.pages,
                total_chunks,
                used_chunks: total_chunks - m.free_chunks.min(total_chunks),
                free_chunks: m.free_chunks,
                number: c.number,
                age: oldest[class],
                mem_requested: c.bytes,
                evicted: c.evicted,
                evicted_nonzero: c.evicted_nonzero,
                evicted_time: c.evicted_time,
                outofmemory: m.outofmemory,
                reclaimed: c.reclaimed,
                expired_unfetched: c.expired_unfetched,
                evicted_unfetched: c.evicted_unfetched,
                crawler_reclaimed: c.crawler_reclaimed,
                crawler_items_checked: c.crawler_items_checked,
                cmds: c.cmds,
            });
        }
        out
    }

    pub(super) fn reset_stats(&self) {
        for s in self.shards.iter() {
            let mut g = s.0.lock();
            for c in g.counters.iter_mut() {
                c.reset();
            }
        }
        self.mem.reset_oom();
        let m = &self.moves;
        for c in [
            &m.slabs_moved,
            &m.rescues,
            &m.evictions_nomem,
            &m.busy_items,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Class id (1-based, as in `class_stats`) an item of these lengths is stored in.
    pub(super) fn class_id_for(&self, key_len: usize, value_len: usize) -> usize {
        self.mem.geo.class_for(HEADER + key_len + value_len) + 1
    }

    /// Bytes charged to the budget and large bytes, for tests.
    #[cfg(test)]
    pub(super) fn mem_used(&self) -> (usize, usize) {
        (self.mem.used(), self.mem.large_bytes())
    }

    /// Slab pages allocated, for tests.
    #[cfg(test)]
    pub(super) fn slab_pages(&self) -> usize {
        self.mem.slab_pages()
    }
}
