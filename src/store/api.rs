//! The store's public API: [`Store`], a cheap handle, and every method callers use, each a
//! thin call into the file that implements it (`get.rs`, `set.rs`, `delete.rs`, `arith.rs`,
//! `maint.rs`, `moves.rs`, `class_stats.rs`). One method per operation, with an options
//! struct (`Default` = the plain text command) and one outcome type.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::engine::Inner;
use super::{
    ArithOpts, ArithOutcome, ClassStats, DeleteOpts, DeleteOutcome, Entry, GetOpts, ItemCursor,
    ItemInfo, ItemMeta, Lookup, ReassignError, Reservation, SetOpts, StoreConfig, StoreOutcome,
    StoreStats, Value,
};

/// Cheap to clone: a handle to shared state. `Send + Sync`; every method may be called from
/// any number of threads at once.
#[derive(Clone)]
pub struct Store {
    pub(super) inner: Arc<Inner>,
}

/// The pause between sweeper ticks.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

impl Store {
    /// An empty store. Allocates no item memory yet (pages come on demand) and starts no
    /// thread; see `start_sweeper`.
    pub fn new(cfg: StoreConfig) -> Store {
        Store {
            inner: Arc::new(Inner::new(cfg)),
        }
    }

    /// Pins outstanding (values being sent from item memory).
    pub fn pinned(&self) -> usize {
        self.inner.mem.pinned()
    }

    /// Look `key` up; on a hit call `f` with the live item (under the shard lock: keep `f`
    /// short), then count the hit (`opts.count`) and, unless `opts.no_bump`, mark the item
    /// fetched and recently used. `GetOpts::default()` is `get`; `GetOpts::touch(exptime)` is
    /// `gat` (the new exptime is set before `f` runs); meta `mg` sets `vivify` (a miss creates
    /// an empty item, which `f` sees with `created()`) and `no_bump`. A dead item found is
    /// reaped and reported `Expired` or `Flushed`.
    #[inline]
    pub fn get<R>(
        &self,
        key: &[u8],
        opts: &GetOpts,
        f: impl FnOnce(&mut Entry<'_>) -> R,
    ) -> Lookup<R> {
        self.inner.get(key, opts, f)
    }

    /// Give a live item a new exptime; `false` if there is none (a `gat` that reads nothing,
    /// counted as a touch).
    pub fn touch(&self, key: &[u8], exptime: i64) -> bool {
        matches!(
            self.inner.get(key, &GetOpts::touch(exptime), |_| ()),
            Lookup::Hit(())
        )
    }

    /// The CAS unique of a live item, without marking it used.
    pub fn peek_cas(&self, key: &[u8]) -> Option<u64> {
        self.inner.peek_cas(key)
    }

    /// What `get` would find for `key` (with the item's size, class and remaining life on a
    /// hit), without marking it fetched, bumping it, reaping it or counting anything. For
    /// observers (the `watch` log stream); the answer may be stale by the time it returns.
    pub fn inspect(&self, key: &[u8]) -> Lookup<ItemInfo> {
        self.inner.inspect(key)
    }

    /// The slab class id (1-based, as in `class_stats`) an item with a key and a value of
    /// these lengths is stored in.
    pub fn class_id_for(&self, key_len: usize, value_len: usize) -> usize {
        self.inner.class_id_for(key_len, value_len)
    }

    /// set / add / replace / append / prepend / cas (`opts.mode`) with memcached's rules, and
    /// the meta `ms` options. Returns the outcome and the new item's CAS unique (0 unless
    /// stored, and with `-C`). A store that fails with `TooLarge` or `NoMemory` deletes the
    /// key's old item in `Set` mode (or in every mode with `fail_unlinks_any_mode`), as
    /// memcached does; a caller that rejects an oversized `set` without calling `set` should
    /// call `delete`.
    #[inline]
    pub fn set<'v>(
        &self,
        key: &[u8],
        value: impl Into<Value<'v>>,
        opts: &SetOpts,
    ) -> (StoreOutcome, u64) {
        let (outcome, cas, _) = self.inner.set(key, value.into(), opts);
        (outcome, cas)
    }

    /// `set`, also returning the length of the value stored (for append/prepend the joined
    /// value; 0 unless stored): meta `ms ... s`.
    #[inline]
    pub fn set_len<'v>(
        &self,
        key: &[u8],
        value: impl Into<Value<'v>>,
        opts: &SetOpts,
    ) -> (StoreOutcome, u64, usize) {
        self.inner.set(key, value.into(), opts)
    }

    /// Reserve an item for `key` with a value of `value_len` bytes still to arrive (see
    /// [`Reservation`]). `Err(TooLarge)` past `-I`, `Err(NoMemory)` when no memory can be
    /// found (with `-M`, or nothing evictable) or when values in flight already hold half of
    /// the memory limit, counted like a store's allocation failure.
    pub fn reserve(&self, key: &[u8], value_len: usize) -> Result<Reservation, StoreOutcome> {
        Reservation::new(&self.inner, key, value_len)
    }

    /// Delete the live item of `key` (only if `opts.cas` is `None` or matches), or with
    /// `opts.invalidate` mark it stale, clear its win token, give it a new CAS and (with
    /// `opts.exptime`) a new exptime instead. A dead item in the way is reaped (`NotFound`).
    pub fn delete(&self, key: &[u8], opts: &DeleteOpts) -> DeleteOutcome {
        self.inner.delete(key, opts)
    }

    /// incr / decr (`opts.incr`) by `opts.delta`, if `opts.cas` is `None`/0 or matches; on a
    /// miss with `opts.vivify = Some((initial, exptime))`, create the item with value
    /// `initial` under the key's lock. `f` sees the resulting item under its lock (its CAS,
    /// `created()`, ...); its result comes back in `Value`.
    pub fn arith<R>(
        &self,
        key: &[u8],
        opts: &ArithOpts,
        f: impl FnOnce(&mut Entry<'_>) -> R,
    ) -> ArithOutcome<R> {
        self.inner.arith(key, opts, f)
    }

    /// Invalidate every item stored so far (`delay <= 0`), or at `delay` (an exptime: relative
    /// seconds or absolute unix time) everything stored before then.
    pub fn flush_all(&self, delay: i64) {
        self.inner.flush_all(delay)
    }

    /// Could an item with this key and value length ever be stored? (memcached's rule for
    /// `-I`: its own 56-byte header + key + 1 + value + 2 must fit; keys are at most 250.)
    pub fn item_size_ok(&self, key_len: usize, value_len: usize) -> bool {
        self.inner.item_size_ok(key_len, value_len)
    }

    /// Largest chunk of a slab class (`-o slab_chunk_max`, half a page by default); bigger
    /// items get their own allocation.
    pub fn slab_chunk_max(&self) -> usize {
        self.inner.mem.geo.chunk_max()
    }

    /// memcached's `cache_memlimit`: change the memory limit at runtime. A higher limit takes
    /// effect at once. After a lower one nothing new is allocated while the memory in use
    /// (slab pages + large items) is at or above it (stores reuse memory by evicting, as when
    /// full), and the store gives memory back: whole pages are released (their items rescued
    /// into free chunks of their class or evicted, counted in `evictions`,
    /// `slab_reassign_evictions_nomem` and `slabs_moved`) and large items evicted, the oldest
    /// memory first, until the use is within the limit; this evicts even with `-M`. One
    /// bounded step (about 50 ms) runs here, the sweeper continues on each tick; like
    /// memcached, a lowered limit may take a while to be reached (the sweeper must be
    /// running, or `run_maintenance` called). `false` (nothing changed) below one page
    /// (1 MiB) or above the id-space limit (about 128 GiB, see `mem/mod.rs`).
    pub fn set_mem_limit(&self, bytes: usize) -> bool {
        self.inner.set_mem_limit(bytes)
    }

    /// Walk every live item (`lru_crawler metadump`) in resumable slices, for streaming a
    /// dump with bounded memory: visits items from `cursor` until at least `min_items` were
    /// passed to `f` (a batch is never split) or the walk ends (`cursor.is_done()`). Returns
    /// false when `f` asked to stop. Expired and flushed items are skipped, not reaped. No
    /// lock is held while `f` runs: metadata is copied out in bounded batches, one shard
    /// lock at a time. Items present for the whole walk are seen exactly once; items stored,
    /// replaced or deleted during it may or may not be.
    pub fn walk_items(
        &self,
        cursor: &mut ItemCursor,
        min_items: usize,
        mut f: impl FnMut(&ItemMeta<'_>) -> bool,
    ) -> bool {
        self.inner.walk_items(cursor, min_items, &mut f)
    }

    /// Turn the sweeper's background expiry crawl on or off (`lru_crawler enable|disable`,
    /// `-o no_lru_crawler`). Page balancing and shrinking keep running either way.
    pub fn set_crawler_enabled(&self, on: bool) {
        self.inner
            .crawler
            .store(on, std::sync::atomic::Ordering::Relaxed)
    }

    /// The sweeper's background expiry crawl is on (`stats settings` `lru_crawler`).
    pub fn crawler_enabled(&self) -> bool {
        self.inner
            .crawler
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `lru_crawler crawl <classes>|all`: one synchronous full pass over the index (one shard
    /// lock at a time, bounded holds) reclaiming the expired and flushed items of the given
    /// slab classes (1-based ids as in `class_stats`; unknown ids are ignored) or of all
    /// classes for `None`. Returns how many were reclaimed (also counted in `reclaimed` and
    /// `crawler_reclaimed`). Works whether or not the background crawl is enabled.
    pub fn crawl_classes(&self, classes: Option<&[usize]>) -> usize {
        self.inner.crawl_classes(classes)
    }

    /// Start or stop the item size histogram (`stats sizes_enable` / `sizes_disable`,
    /// `-o track_sizes`). Starting counts the items already stored (a walk, one shard lock
    /// at a time), then follows every link and unlink; stopping discards the counts.
    pub fn set_track_sizes(&self, on: bool) {
        self.inner.set_track_sizes(on)
    }

    /// `stats sizes`: `(bucket, count)` of linked items per 32-byte bucket (an item of `n`
    /// bytes, header + key + value, counts in `ceil(n / 32) * 32`), non-empty buckets only,
    /// ascending; `None` while tracking is off.
    pub fn size_histogram(&self) -> Option<Vec<(usize, u64)>> {
        self.inner.mem.sizes.snapshot()
    }

    /// Store-wide counters (memcached's `stats` names), summed over the shards.
    pub fn stats(&self) -> StoreStats {
        self.inner.stats()
    }

    /// Figures of the slab classes that have pages (and the large class if it holds items).
    pub fn class_stats(&self) -> Vec<ClassStats> {
        self.inner.class_stats()
    }

    /// Move one page from slab class `from_class` to `to_class` (ids as in `class_stats`,
    /// 1-based), like memcached's `slabs reassign`: the items on it are rescued into free
    /// chunks of `from_class` or evicted. `from_class` 0 picks a class (memcached's -1);
    /// `to_class` 0 (memcached's global page pool) or the large class id gives the page back
    /// to the memory budget. The source needs at least two pages. Synchronous: when it
    /// returns `Ok` the page has moved.
    pub fn reassign(&self, from_class: usize, to_class: usize) -> Result<(), ReassignError> {
        self.inner.reassign(from_class, to_class)
    }

    /// Turn background page balancing (memcached `slab_automove=1`, the default) on or off.
    pub fn set_automove(&self, on: bool) {
        self.inner.set_automove(on)
    }

    /// Zero the event counters (not `curr_items` / `bytes`).
    pub fn reset_stats(&self) {
        self.inner.reset_stats()
    }

    /// One bounded sweeper step: look at up to `max_items` items, reclaim the expired and
    /// flushed ones, return how many were reclaimed.
    pub fn crawl_expired(&self, max_items: usize) -> usize {
        self.inner.crawl_expired(max_items)
    }

    /// Start the background sweeper: every 100 ms one tick (`run_maintenance`).
    /// It stops after `stop_sweeper`, or once every `Store` handle is dropped.
    pub fn start_sweeper(&self) -> JoinHandle<()> {
        use std::sync::atomic::Ordering;
        let weak = Arc::downgrade(&self.inner);
        self.inner.sweeper_stop.store(false, Ordering::SeqCst);
        let handle = std::thread::Builder::new()
            .name("ferrocache-sweeper".into())
            .spawn(move || {
                loop {
                    {
                        let Some(inner) = weak.upgrade() else { return };
                        if inner.sweeper_stop.load(Ordering::SeqCst) {
                            return;
                        }
                        inner.sweeper_tick(|| inner.sweeper_stop.load(Ordering::SeqCst));
                    }
                    std::thread::park_timeout(SWEEP_INTERVAL);
                }
            });
        let handle = match handle {
            Ok(h) => h,
            // Out of threads at startup: run without a sweeper (lazy expiry still works).
            Err(e) => {
                log::error!("cannot start the expiry sweeper: {e}");
                std::thread::spawn(|| {})
            }
        };
        self.inner.sweepers.lock().push(handle.thread().clone());
        handle
    }

    /// One sweeper tick, synchronously: a `crawl_expired` step of 10,000 index slots (more
    /// while over half of them are reclaimed) if the crawler is enabled, one automove step
    /// (at most one page move), and, while more memory is in use than the limit allows
    /// (`set_mem_limit`), a release step of about 50 ms at most.
    pub fn run_maintenance(&self) {
        self.inner.sweeper_tick(|| false)
    }

    /// Ask the sweeper(s) to exit; they do within one step.
    pub fn stop_sweeper(&self) {
        self.inner
            .sweeper_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.inner.sweepers.lock().drain(..) {
            t.unpark();
        }
    }

    /// Seconds since the store started.
    pub fn uptime(&self) -> u64 {
        self.inner.clock.uptime()
    }

    /// Unix time in seconds as the store sees it.
    pub fn unix_time(&self) -> u64 {
        self.inner.clock.unix_time()
    }

    /// Test hook: move the store's clock forward by `secs` (there is no way back). Expiry and
    /// delayed flushes behave as if that much time had passed.
    #[doc(hidden)]
    pub fn advance_clock_for_test(&self, secs: u64) {
        self.inner.clock.advance(secs)
    }
}
