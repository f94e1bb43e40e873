//! `Inner`, the state behind every `Store` handle, and what all operations share: hashing a
//! key to its shard and index tag, the shard locks, the store sequence (CAS uniques), flush
//! (immediate and delayed), the `-I` size rule, and allocation with eviction.
//!
//! The operations themselves add `impl Inner` blocks in the files named for them (`get.rs`,
//! `set.rs`, `delete.rs`, `arith.rs`, `moves.rs`, `class_stats.rs`, `maint.rs`); this file
//! imports none of them. Every operation follows the locking contract in `shard.rs`:
//! allocate first (possibly evicting, one shard lock at a time), then lock the key's shard
//! once to apply the rules, then free what was replaced after unlocking.
//!
//! `alloc`: free memory of the item's class, then its LRU tails (reclaiming dead items, or
//! evicting), then, with evictions on, memory taken from elsewhere through the page mover
//! (`make_room` in `moves.rs`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use ahash::RandomState;
use parking_lot::Mutex;

use super::StoreConfig;
use super::clock::Clock;
use super::mem::{Geometry, HEADER, MAX_SHARD_IDS, MIN_CHUNK_SIZE, Mem, NIL, PAGE_SIZE, Ref};
use super::shard::{SMALL_SHARE, Shard, ShardCore};

/// Number of lock shards (power of two).
pub(super) const SHARDS: usize = 64;
/// Shards asked for a chunk of a class while skipping those whose small queue would give a
/// young item (`pull_any`); the next ones give whatever they have. Measured with
/// `scripts/memory_bound.sh --workloads mixed` (the 1,000 newest of 537,001 writes read
/// back): 0 tries 977–990 of them, 2, 4 or 8 tries all 1,000; 4 leaves a margin.
const YOUNG_TRIES: usize = 4;
/// memcached's KEY_MAX_LENGTH.
pub(super) const KEY_MAX: usize = 250;
/// Size of memcached's item header with CAS (48 + 8), for `-I` compatibility.
const MC_HEADER: usize = 48;
/// Allocation rounds (alloc, then pull one tail) before giving up with `NoMemory`.
const ALLOC_ROUNDS: usize = 16;
/// Slots the sweeper looks at per shard lock hold.
pub(super) const SWEEP_CHUNK: usize = 1024;
// Shard ids are recorded in a chunk state byte.
const _: () = assert!(SHARDS <= MAX_SHARD_IDS);

/// Page move counters (memcached's names), kept by `moves.rs`.
#[derive(Default)]
pub(super) struct MoveCounters {
    pub(super) slabs_moved: AtomicU64,
    pub(super) rescues: AtomicU64,
    pub(super) evictions_nomem: AtomicU64,
    pub(super) busy_items: AtomicU64,
    pub(super) running: AtomicBool,
}

/// What `make_room` (`moves.rs`) achieved for `alloc`.
pub(super) enum Room {
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
    pub(super) shards: Box<[Shard]>,
    pub(super) hasher: RandomState,
    /// Last issued store sequence = CAS unique (one global counter).
    seq: AtomicU64,
    /// Items with sequence <= this are flushed.
    flush_seq: AtomicU64,
    /// Relative time at which a delayed flush takes effect (0 = none).
    flush_deadline: AtomicU32,
    flush_lock: Mutex<()>,
    pub(super) sweep_cursor: Mutex<(usize, usize)>,
    /// The shard whose turn it is to give up an item (`pull_any`).
    evict_turn: std::sync::atomic::AtomicUsize,
    /// The number of items, as last counted (`count_items`: each sweeper tick, and at the
    /// first eviction); 0 until then. Sets how many stores an item stays young
    /// (`young_after`: `pull_any`, `pick_victim`).
    items_counted: AtomicU64,
    /// `lru_crawler_starts`.
    pub(super) crawler_starts: AtomicU64,
    /// Serialises page moves (see the lock order in `shard.rs`).
    pub(super) mover: Mutex<()>,
    pub(super) moves: MoveCounters,
    pub(super) automove: AtomicBool,
    /// What automove remembers between steps (eviction counts and rates, cooldown).
    pub(super) automove_state: Mutex<super::moves::AutomoveState>,
    /// Per slab class: hold the class to its starter page when it fills it (`alloc`), set
    /// each sweeper tick by `update_starter_holds` (`moves.rs`).
    pub(super) starter_hold: Box<[AtomicBool]>,
    /// What `update_starter_holds` remembers between ticks (per class read rates).
    pub(super) hold_state: Mutex<super::moves::HoldState>,
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
            evict_turn: std::sync::atomic::AtomicUsize::new(0),
            items_counted: AtomicU64::new(0),
            crawler_starts: AtomicU64::new(0),
            mover: Mutex::new(()),
            moves: MoveCounters::default(),
            automove: AtomicBool::new(true),
            automove_state: Mutex::new(Default::default()),
            starter_hold: (0..n_classes).map(|_| AtomicBool::new(false)).collect(),
            hold_state: Mutex::new(Default::default()),
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

    /// Gives item `r` (linked in `g`'s shard, or about to be under this lock hold) the next
    /// sequence number and, as its CAS unique, that number or `cas_in` (meta `E<cas>`).
    /// Returns the CAS unique as clients see it.
    pub(super) fn stamp(&self, g: &mut ShardCore, r: Ref, cas_in: Option<u64>) -> u64 {
        let seq = self.next_seq();
        g.stamp(&self.mem, r, seq, cas_in);
        self.shown_cas(cas_in.unwrap_or(seq))
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
        let mut rounds = 0;
        // Chunks of a page being moved that the pulls gave to the mover: they do not count
        // as rounds (a page's items are often next to each other in a queue, so the tail can
        // be all of it), but there are at most a page's worth of them per move.
        let mut moving = 0;
        while rounds < ALLOC_ROUNDS {
            rounds += 1;
            let (got, only_starter) = if large {
                (self.mem.alloc_large_held(total, &mut held), false)
            } else {
                match self.mem.alloc_or_tell(class) {
                    Ok(r) => (Some(r), false),
                    Err(only_starter) => (None, only_starter),
                }
            };
            if got.is_some() {
                return got;
            }
            // A class that filled its starter page takes a full page, as a class without a
            // page would (`make_room`), before it evicts its own items: else the classes
            // whose starters fill after the budget ran out would each keep a quarter page
            // (with sizes of 10 to 4,000 bytes: 0.76 times memcached's items). A class that
            // stores rarely never fills its starter and keeps only that; nor does a class
            // whose items are read far less per byte than the others' (`starter_hold`).
            if rounds == 1
                && only_starter
                && self.cfg.evictions
                && !self.starter_hold[class].load(Ordering::Relaxed)
                && let Room::Chunk(r) = self.make_room(class, total, hint, &mut held)
            {
                return Some(r);
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
                Some(r) if !large && self.mem.is_moving(r) => {
                    self.mem.free(r);
                    if moving < PAGE_SIZE / MIN_CHUNK_SIZE {
                        moving += 1;
                        rounds -= 1;
                    }
                }
                Some(r) if !large => return Some(r),
                Some(r) => self.mem.free(r),
            }
        }
        self.mem.unreserve_held(held);
        self.mem.count_oom(class);
        None
    }

    /// Pull one chunk of `class` from some shard's queues. The shards take turns (a shared
    /// cursor), so every shard gives up items at the same pace whoever stores: starting at
    /// the storing key's shard let shards whose keys are written often shrink (their old
    /// values' chunks go to the class' free list, which every shard's stores take from) and
    /// evict what was just read. The first `YOUNG_TRIES` shards pass over a small queue whose
    /// oldest item is young (`ShardCore::pull_tail`). Large items are few per shard, so for
    /// them the shard with the oldest item is chosen instead. `hint`: the shard to start at
    /// if both fail.
    pub(super) fn pull_any(&self, class: usize, hint: usize, now: u32, fs: u64) -> Option<Ref> {
        let hint = if class == self.mem.geo.large() {
            self.oldest_tail_shard(class).unwrap_or(hint)
        } else {
            self.evict_turn.fetch_add(1, Ordering::Relaxed)
        };
        let young_after = self.young_after();
        for i in 0..SHARDS {
            let s = (hint + i) & (SHARDS - 1);
            let mut g = self.lock(s);
            // The first few shards give only items that are not young (`pull_tail`).
            let young_after = if i < YOUNG_TRIES {
                young_after
            } else {
                u64::MAX
            };
            if let Some((r, _how)) = g.pull_tail(
                &self.mem,
                &self.hasher,
                class,
                now,
                fs,
                self.cfg.evictions,
                young_after,
            ) {
                return Some(r);
            }
        }
        None
    }

    /// The number of items as last counted (counted now if never).
    pub(super) fn items(&self) -> u64 {
        match self.items_counted.load(Ordering::Relaxed) {
            0 => self.count_items(),
            n => n,
        }
    }

    /// Items stored after this store sequence are young: stored within the last twentieth
    /// of the items' number in stores (S3-FIFO's small queue share).
    pub(super) fn young_after(&self) -> u64 {
        self.seq
            .load(Ordering::Relaxed)
            .saturating_sub(self.items() / SMALL_SHARE)
    }

    /// Count the items of all shards into `items_counted` (one lock at a time); returns it.
    pub(super) fn count_items(&self) -> u64 {
        let n = self.shards.iter().map(|s| s.0.lock().len() as u64).sum();
        self.items_counted.store(n, Ordering::Relaxed);
        n
    }

    /// The shard whose `class` tail was least recently used (then: stored first).
    pub(super) fn oldest_tail_shard(&self, class: usize) -> Option<usize> {
        let mut best: Option<((u32, u64), usize)> = None;
        for s in 0..SHARDS {
            let g = self.lock(s);
            let t = g.tail(&self.mem, class);
            if t != NIL {
                let age = (self.mem.atime(t), self.mem.seq(t));
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

    /// Bytes of the slab pages, for tests.
    #[cfg(test)]
    pub(super) fn slab_bytes(&self) -> usize {
        self.mem.slab_bytes()
    }
}
