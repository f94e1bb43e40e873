//! The store's operations: hashing to a shard, allocation with eviction, the mode rules of
//! each command, flush, the sweeper step and statistics.
//!
//! Every operation follows the locking contract in `shard.rs`: allocate first (possibly
//! evicting, one shard lock at a time), then lock the key's shard once to apply the rules,
//! then free what was replaced after unlocking. Operations whose new size depends on the old
//! item (append, prepend, a longer incr result) read the old item under the lock, allocate
//! without it, and re-check that the old item is unchanged (same ref, same sequence) before
//! linking; otherwise they retry.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use ahash::RandomState;
use parking_lot::Mutex;

use super::arith;
use super::clock::Clock;
use super::mem::{BIT_FETCHED, BIT_REFERENCED, HEADER, Mem, NIL, Ref};
use super::shard::{ClassCounters, Liveness, Shard, ShardCore, liveness};
use super::{
    ArithOutcome, ClassStats, ItemView, Lookup, SetMode, StoreConfig, StoreOutcome, StoreStats,
};

/// Number of lock shards (power of two).
const SHARDS: usize = 64;
/// memcached's KEY_MAX_LENGTH.
pub(super) const KEY_MAX: usize = 250;
/// Size of memcached's item header with CAS (48 + 8), for `-I` compatibility.
const MC_HEADER: usize = 48;
/// Allocation rounds (alloc, then pull one tail) before giving up with `NoMemory`.
const ALLOC_ROUNDS: usize = 16;
/// Slots the sweeper looks at per shard lock hold.
const SWEEP_CHUNK: usize = 1024;

pub(super) struct Inner {
    pub(super) cfg: StoreConfig,
    pub(super) clock: Clock,
    mem: Mem,
    shards: Box<[Shard]>,
    hasher: RandomState,
    /// Last issued store sequence = CAS unique (one global counter).
    seq: AtomicU64,
    /// Items with sequence <= this are flushed.
    flush_seq: AtomicU64,
    /// Relative time at which a delayed flush takes effect (0 = none).
    flush_deadline: AtomicU32,
    flush_lock: Mutex<()>,
    sweep_cursor: Mutex<(usize, usize)>,
    pub(super) sweeper_stop: AtomicBool,
    pub(super) sweepers: Mutex<Vec<std::thread::Thread>>,
}

/// Where a key lives.
struct Slot {
    shard: usize,
    tag: u32,
}

impl Inner {
    pub(super) fn new(cfg: StoreConfig) -> Inner {
        let mem = Mem::new(cfg.mem_limit, cfg.min_chunk, cfg.growth_factor);
        let n_classes = mem.geo.n_slab() + 1;
        Inner {
            clock: Clock::new(),
            shards: (0..SHARDS)
                .map(|_| Shard(Mutex::new(ShardCore::new(n_classes))))
                .collect(),
            hasher: RandomState::new(),
            seq: AtomicU64::new(0),
            flush_seq: AtomicU64::new(0),
            flush_deadline: AtomicU32::new(0),
            flush_lock: Mutex::new(()),
            sweep_cursor: Mutex::new((0, 0)),
            sweeper_stop: AtomicBool::new(false),
            sweepers: Mutex::new(Vec::new()),
            mem,
            cfg,
        }
    }

    #[inline]
    fn slot(&self, key: &[u8]) -> Slot {
        let h = self.hasher.hash_one(key);
        Slot {
            shard: h as usize & (SHARDS - 1),
            tag: (h >> 32) as u32,
        }
    }

    #[inline]
    fn lock(&self, shard: usize) -> parking_lot::MutexGuard<'_, ShardCore> {
        self.shards[shard].0.lock()
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// CAS as clients see it.
    #[inline]
    fn shown_cas(&self, seq: u64) -> u64 {
        if self.cfg.cas { seq } else { 0 }
    }

    /// The flush sequence in force at `now`, turning a due delayed flush into one.
    #[inline]
    fn flush_seq(&self, now: u32) -> u64 {
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
    /// with `hint`. Holds no shard lock when called.
    fn alloc(&self, total: usize, hint: usize) -> Option<Ref> {
        let geo = &self.mem.geo;
        let class = geo.class_for(total);
        let large = class == geo.large();
        for _ in 0..ALLOC_ROUNDS {
            let got = if large {
                self.mem.alloc_large(total)
            } else {
                self.mem.alloc(class)
            };
            if got.is_some() {
                return got;
            }
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let mut pulled = self.pull_any(class, hint, now, fs);
            if pulled.is_none() && !large {
                // The class has nothing to give back; large items may hold the budget a new
                // page needs.
                pulled = self.pull_any(geo.large(), hint, now, fs);
                if let Some(r) = pulled {
                    self.mem.free(r);
                    continue;
                }
            }
            match pulled {
                None => break,
                Some(r) if !large => return Some(r),
                Some(r) => self.mem.free(r),
            }
        }
        self.mem.count_oom(class);
        None
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
    fn oldest_tail_shard(&self, class: usize) -> Option<usize> {
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

    fn free_all(&self, refs: impl IntoIterator<Item = Option<Ref>>) {
        for r in refs.into_iter().flatten() {
            self.mem.free(r);
        }
    }

    /// Shared body of get / gat / touch.
    pub(super) fn get<R>(
        &self,
        key: &[u8],
        touch: Option<i64>,
        f: impl FnOnce(ItemView<'_>) -> R,
    ) -> Lookup<R> {
        let at = self.slot(key);
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let new_exp = touch.map(|e| self.clock.rel_exptime(e));
        let mut g = self.lock(at.shard);
        let Some((pos, r)) = g.lookup(&self.mem, at.tag, key) else {
            return Lookup::Miss;
        };
        let mem = &self.mem;
        match liveness(mem, r, now, fs) {
            Liveness::Live => {}
            state => {
                g.unlink_at(mem, pos, r);
                drop(g);
                mem.free(r);
                return if state == Liveness::Expired {
                    Lookup::Expired
                } else {
                    Lookup::Flushed
                };
            }
        }
        if let Some(e) = new_exp {
            mem.set_exptime(r, e);
        }
        let bits = mem.bits(r);
        if bits & (BIT_FETCHED | BIT_REFERENCED) != BIT_FETCHED | BIT_REFERENCED {
            mem.set_bits(r, bits | BIT_FETCHED | BIT_REFERENCED);
        }
        if mem.atime(r) != now {
            mem.set_atime(r, now);
        }
        let view = ItemView {
            key: mem.key(r, &g),
            flags: mem.flags(r),
            cas: self.shown_cas(mem.cas(r)),
            value: mem.value(r, &g),
        };
        Lookup::Hit(f(view))
    }

    pub(super) fn peek_cas(&self, key: &[u8]) -> Option<u64> {
        let at = self.slot(key);
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let g = self.lock(at.shard);
        let (_, r) = g.lookup(&self.mem, at.tag, key)?;
        (liveness(&self.mem, r, now, fs) == Liveness::Live).then(|| self.shown_cas(self.mem.cas(r)))
    }

    pub(super) fn store(
        &self,
        mode: SetMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
    ) -> StoreOutcome {
        if !self.item_size_ok(key.len(), data.len()) {
            self.drop_stale(mode, key);
            return StoreOutcome::TooLarge;
        }
        if let SetMode::Append | SetMode::Prepend = mode {
            return self.concat(mode == SetMode::Append, key, data);
        }
        let at = self.slot(key);
        let exp = self.clock.rel_exptime(exptime);
        let Some(new) = self.alloc(HEADER + key.len() + data.len(), at.shard) else {
            self.drop_stale(mode, key);
            return StoreOutcome::NoMemory;
        };
        let mem = &self.mem;
        let now = self.clock.now();
        mem.write_item(new, key, flags, exp, now, &[data]);
        let fs = self.flush_seq(now);

        let mut g = self.lock(at.shard);
        let old = g.lookup(mem, at.tag, key);
        let live = old.filter(|&(_, r)| liveness(mem, r, now, fs) == Liveness::Live);
        let outcome = match mode {
            SetMode::Set => StoreOutcome::Stored,
            SetMode::Add if live.is_some() => StoreOutcome::NotStored,
            SetMode::Replace if live.is_none() => StoreOutcome::NotStored,
            SetMode::Cas(_) if live.is_none() => StoreOutcome::NotFound,
            SetMode::Cas(u) if live.is_some_and(|(_, r)| self.shown_cas(mem.cas(r)) != u) => {
                StoreOutcome::Exists
            }
            _ => StoreOutcome::Stored,
        };
        if outcome == StoreOutcome::Stored {
            mem.set_cas(new, self.next_seq());
            match old {
                Some((pos, o)) => g.replace(mem, pos, o, new),
                None => g.link_new(mem, at.tag, new),
            }
            drop(g);
            self.free_all([old.map(|(_, o)| o)]);
        } else {
            // A dead item in the way is removed on the spot.
            let dead = old.filter(|_| live.is_none());
            if let Some((pos, o)) = dead {
                g.unlink_at(mem, pos, o);
            }
            drop(g);
            self.free_all([Some(new), dead.map(|(_, o)| o)]);
        }
        outcome
    }

    /// memcached: a `set` that cannot be stored removes the old item, so that a later get
    /// does not return stale data.
    fn drop_stale(&self, mode: SetMode, key: &[u8]) {
        if mode == SetMode::Set {
            self.delete(key);
        }
    }

    /// append / prepend: the new item keeps the old flags and exptime.
    fn concat(&self, append: bool, key: &[u8], data: &[u8]) -> StoreOutcome {
        let at = self.slot(key);
        let mem = &self.mem;
        loop {
            // 1. Look at the old item.
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let (old_ref, old_seq, old_len) = {
                let mut g = self.lock(at.shard);
                let Some((pos, r)) = g.lookup(mem, at.tag, key) else {
                    return StoreOutcome::NotStored;
                };
                if liveness(mem, r, now, fs) != Liveness::Live {
                    g.unlink_at(mem, pos, r);
                    drop(g);
                    mem.free(r);
                    return StoreOutcome::NotStored;
                }
                (r, mem.cas(r), mem.value_len(r))
            };
            let vlen = old_len + data.len();
            if !self.item_size_ok(key.len(), vlen) {
                // memcached answers NOT_STORED when the result cannot be allocated.
                return StoreOutcome::NotStored;
            }
            // 2. Allocate without any lock.
            let Some(new) = self.alloc(HEADER + key.len() + vlen, at.shard) else {
                return StoreOutcome::NotStored;
            };
            // 3. Relock; link only if the old item is unchanged.
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let mut g = self.lock(at.shard);
            match g.lookup(mem, at.tag, key) {
                Some((pos, r))
                    if r == old_ref
                        && mem.cas(r) == old_seq
                        && liveness(mem, r, now, fs) == Liveness::Live =>
                {
                    let old_val = mem.value(r, &g);
                    let parts: [&[u8]; 2] = if append {
                        [old_val, data]
                    } else {
                        [data, old_val]
                    };
                    mem.write_item(new, key, mem.flags(r), mem.exptime(r), now, &parts);
                    mem.set_cas(new, self.next_seq());
                    g.replace(mem, pos, r, new);
                    drop(g);
                    mem.free(r);
                    return StoreOutcome::Stored;
                }
                _ => {
                    drop(g);
                    mem.free(new);
                }
            }
        }
    }

    pub(super) fn delete(&self, key: &[u8]) -> bool {
        let at = self.slot(key);
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let mut g = self.lock(at.shard);
        let Some((pos, r)) = g.lookup(&self.mem, at.tag, key) else {
            return false;
        };
        let live = liveness(&self.mem, r, now, fs) == Liveness::Live;
        g.unlink_at(&self.mem, pos, r);
        drop(g);
        self.mem.free(r);
        live
    }

    pub(super) fn touch(&self, key: &[u8], exptime: i64) -> bool {
        matches!(self.get(key, Some(exptime), |_| ()), Lookup::Hit(()))
    }

    pub(super) fn arith(&self, key: &[u8], incr: bool, delta: u64) -> ArithOutcome {
        let at = self.slot(key);
        let mem = &self.mem;
        let mut buf = [0u8; 20];
        loop {
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let (old_ref, old_seq, flags, exp, value) = {
                let mut g = self.lock(at.shard);
                let Some((pos, r)) = g.lookup(mem, at.tag, key) else {
                    return ArithOutcome::NotFound;
                };
                if liveness(mem, r, now, fs) != Liveness::Live {
                    g.unlink_at(mem, pos, r);
                    drop(g);
                    mem.free(r);
                    return ArithOutcome::NotFound;
                }
                let Some(old) = arith::parse_value(mem.value(r, &g)) else {
                    return ArithOutcome::NonNumeric;
                };
                let value = arith::apply(old, incr, delta);
                let digits = arith::format(value, &mut buf);
                if digits.len() <= mem.value_len(r) {
                    // memcached rewrites in place, space padded, with a new CAS.
                    mem.overwrite_value_padded(r, digits);
                    mem.set_cas(r, self.next_seq());
                    mem.set_atime(r, now);
                    return ArithOutcome::Value(value);
                }
                (r, mem.cas(r), mem.flags(r), mem.exptime(r), value)
            };
            let digits = arith::format(value, &mut buf);
            let Some(new) = self.alloc(HEADER + key.len() + digits.len(), at.shard) else {
                return ArithOutcome::NoMemory;
            };
            mem.write_item(new, key, flags, exp, now, &[digits]);
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let mut g = self.lock(at.shard);
            match g.lookup(mem, at.tag, key) {
                Some((pos, r))
                    if r == old_ref
                        && mem.cas(r) == old_seq
                        && liveness(mem, r, now, fs) == Liveness::Live =>
                {
                    mem.set_cas(new, self.next_seq());
                    g.replace(mem, pos, r, new);
                    drop(g);
                    mem.free(r);
                    return ArithOutcome::Value(value);
                }
                _ => {
                    drop(g);
                    mem.free(new);
                }
            }
        }
    }

    /// One bounded sweeper step: look at up to `max_items` index slots, continuing where the
    /// previous step stopped, one shard lock at a time; reclaim expired and flushed items.
    pub(super) fn crawl_expired(&self, max_items: usize) -> usize {
        let mut cursor = self.sweep_cursor.lock();
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
                acc.number += c.number;
                acc.bytes += c.bytes;
                acc.total_items += c.total_items;
                acc.evicted += c.evicted;
                acc.evicted_nonzero += c.evicted_nonzero;
                acc.evicted_time = acc.evicted_time.max(c.evicted_time);
                acc.reclaimed += c.reclaimed;
                acc.expired_unfetched += c.expired_unfetched;
                acc.evicted_unfetched += c.evicted_unfetched;
                acc.crawler_reclaimed += c.crawler_reclaimed;
            }
        }
        sum
    }

    pub(super) fn stats(&self) -> StoreStats {
        let mut st = StoreStats {
            limit_maxbytes: self.cfg.mem_limit as u64,
            total_malloced: self.mem.used() as u64,
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
    }

    /// Bytes charged to the budget and large bytes, for tests.
    #[cfg(test)]
    pub(super) fn mem_used(&self) -> (usize, usize) {
        (self.mem.used(), self.mem.large_bytes())
    }
}
