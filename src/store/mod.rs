//! The item store: items in slab size classes under a hard memory limit, per-class LRU
//! eviction, lazy and background expiry, CAS uniques.
//!
//! Owns: item memory, the key index, LRU order, expiry, CAS, per-class statistics.
//! Must not touch: sockets, threads other than its own sweeper, protocol types or words.
//! It returns outcome enums; the protocol layer picks the words.
//!
//! # Design
//!
//! ```text
//!            key ──ahash──► shard (64, parking_lot::Mutex each)
//!                           ├─ index: open addressing, 8-byte slots (tag:32 | Ref:32)
//!                           ├─ LRU head/tail per class (links live in the item header)
//!                           └─ per-class counters
//!   Ref ──► page table ──► 1 MiB slab page (one size class) ──► chunk: header|key|value
//!      └──► large allocation (items bigger than slab_chunk_max, default half a page;
//!           exactly sized)
//!   one global budget: pages × 1 MiB + large bytes <= mem_limit (hard; after a runtime
//!   lowering, nothing new is reserved until memory given back brings it under the limit)
//! ```
//!
//! - `mem.rs`: pages, classes, free lists, the budget and the item byte layout. All `unsafe`
//!   of the store is there, with the ownership protocol it relies on.
//! - `index.rs`: a shard's hash table. `shard.rs`: a shard (index + LRU + counters) and the
//!   **lock order**. `engine.rs`: the operations. `clock.rs`: time and exptime rules.
//!   `arith.rs`: incr/decr number rules. `maint.rs`: the runtime memory limit, the sweeper
//!   tick, crawler control, the item walk (metadump). `sizes.rs`: the size histogram.
//!   `tests.rs`: model, memory and stress tests.
//!
//! **Per-item overhead**: a 34-byte header (LRU links 2×4, CAS/sequence 8, exptime 4,
//! access time 4, flags 4, value length 4, key length 1, bits 1) plus one 8-byte index slot
//! at 40–80% load, i.e. 10–20 bytes (about 13 on average): **≈ 44–54 bytes per item**, before
//! rounding up to the class chunk size (memcached: 56-byte header + 3 bytes of NUL/CRLF, plus
//! an 8-byte hash bucket pointer share). The index and the chunk state tables count against
//! `mem_limit` beyond their first 1 MiB (`Mem::charge_side`): as the index grows, fewer
//! pages fit, and the sweeper gives pages back if it passes the limit (stats `hash_bytes`).
//!
//! **Pins** (`pins.rs`): a reply may send an item's value straight from item memory
//! (`ItemView::pin_with`, `MetaEntry::pin_value_with` give a [`PinnedValue`]); while pinned, the value
//! does not change and its chunk is not freed or reused: eviction skips it, in-place
//! incr/decr is not done, and a free (overwrite, delete, expiry, page move) is deferred to
//! the last unpin (the mover waits for it like for any chunk in flight, then gives up).
//! **Reservations**: `Store::reserve` allocates an item for a value still arriving; the
//! server reads the value into it and stores it as `Value::Reserved` (the chunk becomes the
//! item; append/prepend copy from it). Values in flight hold at most half of `mem_limit`.
//!
//! Eviction is CLOCK per shard and class: a fetch sets a reference bit; the LRU tail moves
//! referenced items to the head once and evicts the first unreferenced one. Expired and
//! flushed items at the tail are reclaimed before anything is evicted. A background sweeper
//! (`start_sweeper`, one `run_maintenance` tick every 100 ms) reclaims expired/flushed items
//! in bounded steps while the crawler is enabled (`set_crawler_enabled`, memcached's
//! `lru_crawler`); `crawl_classes` is the synchronous pass of `lru_crawler crawl`.
//!
//! **Runtime memory limit** (`set_mem_limit`, memcached's `cache_memlimit`): raising it takes
//! effect at once (the per-id table is allocated in segments on demand). Lowering it stops
//! new reservations while the use is at or above it, and the store gives memory back in
//! bounded release steps (one inside the call, about 50 ms, then one per sweeper tick):
//! whole pages are released through the page mover (items rescued into free chunks of their
//! class or evicted) and large items evicted, free and nearly empty pages first, then from
//! the class holding the most memory (`maint.rs`).
//!
//! **Item walk** (`walk_items`, `lru_crawler metadump`): each shard's index is walked by
//! home slot residue (`index.rs`), which sees every item present for the whole walk exactly
//! once although the lock is released between bounded batches. **Size histogram**
//! (`set_track_sizes`, `stats sizes`): `sizes.rs`. **Class geometry**: `-f`/`-n`, or
//! explicit `-o slab_sizes`, up to `-o slab_chunk_max`; the validating functions config uses
//! are re-exported here.
//!
//! Flush: every successful store takes the next value of one global sequence counter (the
//! CAS unique, kept even with `-C`). `flush_all` records the current counter; items with a
//! sequence at or below it are invisible. A delayed flush records a deadline that the first
//! operation to observe it turns into such a sequence.
//!
//! **Page moves** (memcached's `slab_reassign`, always available, and `slab_automove=1`, on by
//! default): a 1 MiB page can leave its class. Its chunk state table (`mem.rs`) tells the
//! mover which chunks hold linked items and in which shard; the page is marked "moving" so
//! the allocator stops handing out its chunks, each live item is copied into a free chunk of
//! the same class if there is one (a rescue) or unlinked (an eviction; dead items count as
//! `reclaimed`), chunks still being written (allocated, not linked yet) are waited for a
//! bounded time (about 20 ms, then the move is abandoned with `Busy`), and once every chunk
//! is free the page is re-carved for its new class or its memory is dropped so the budget
//! can hold large items. Moves are serialised by one mover mutex and never hold a class
//! mutex while taking a shard mutex (`shard.rs`). Four users:
//! - **allocation**: with evictions on, when a class has no free chunk, no budget for a page
//!   and nothing to reclaim or evict at its own LRU tails, it takes memory elsewhere: a
//!   completely free page if any class has one; else a page less than a quarter used (the
//!   emptiest: few items lost); else whichever holds the oldest least recently used item:
//!   that class' emptiest page, or the oldest large item, whose budget becomes a page
//!   (memcached's age criterion; at page granularity it approximates one LRU over all
//!   classes). A large item without budget evicts older large items, then takes pages the
//!   same way, their memory dropped to the budget. Bounded by the allocation rounds. With
//!   `-M` nothing is moved or evicted and the answer stays `NoMemory`.
//! - **automove** (sweeper, every 100 ms, `set_automove`): if a class evicted since the last
//!   step while another class has more than 2.5 pages' worth of free chunks, one page of the
//!   latter moves to the former (to the budget for large items).
//! - **`reassign(from, to)`**: the admin command, memcached's rules and errors.
//! - **release steps** after `set_mem_limit` lowered the limit (see above).
//!
//! The chunk state table costs one byte per chunk of the smallest class per page (about 1.1%
//! of `mem_limit` with the default classes), outside `mem_limit` like the index.
//!
//! Limits: automove does not balance classes by LRU age the way memcached's does (only
//! "evicting while another class has free pages"); a move evicts the items it cannot rescue
//! (memcached does the same when the source class has no free chunk).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

mod arith;
mod cas_ops;
mod clock;
mod engine;
mod index;
mod maint;
mod mem;
mod meta;
mod pins;
mod shard;
mod sizes;
#[cfg(test)]
mod tests;

use engine::Inner;
/// Where a resumable item walk (`Store::walk_items`) stands. Start from `default()`.
#[derive(Clone, Debug, Default)]
pub struct ItemCursor {
    shard: usize,
    bits: u32,
    lo: usize,
    started: bool,
    done: bool,
}

impl ItemCursor {
    /// The walk has visited every shard.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

pub use mem::{parse_slab_sizes, validate_slab_chunk_max, validate_slab_sizes};
pub use meta::{HitCount, MetaArithOutcome, MetaDeleteOutcome, MetaEntry, MetaStoreOpts};
pub use shard::ClassCmds;

/// Store settings, already validated by `config`.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Memory limit for items in bytes (`-m` × 1 MiB). Counts slab pages.
    pub mem_limit: usize,
    /// Largest item value in bytes (`-I`).
    pub item_size_max: usize,
    /// Slab growth factor (`-f`, > 1.0).
    pub growth_factor: f64,
    /// Minimum space for key + value + flags in the smallest chunk (`-n`, memcached's 48).
    pub min_chunk: usize,
    /// `false` with `-M`: answer `NoMemory` instead of evicting.
    pub evictions: bool,
    /// `false` with `-C`: CAS uniques are not kept (gets returns 0).
    pub cas: bool,
    /// `false` with `-o no_lru_crawler`: the sweeper does not crawl for expired items
    /// (`lru_crawler enable|disable` at runtime; page moves and shrinking still run).
    pub crawler_enabled: bool,
    /// Largest chunk of a slab class (`-o slab_chunk_max`, default `PAGE_SIZE / 2` = 512 KiB);
    /// bigger items are large allocations. Checked by `validate_slab_chunk_max`.
    pub slab_chunk_max: usize,
    /// Explicit class chunk sizes (`-o slab_sizes=96-120-200`) instead of the `-n`/`-f`
    /// progression; `slab_chunk_max` is added as the last class. Checked by
    /// `validate_slab_sizes` / `parse_slab_sizes`.
    pub slab_sizes: Option<Vec<usize>>,
    /// Keep the item size histogram from the start (`-o track_sizes`).
    pub track_sizes: bool,
}

impl StoreConfig {
    /// `slab_chunk_max`'s default: half a page.
    pub const DEFAULT_SLAB_CHUNK_MAX: usize = mem::PAGE_SIZE / 2;
}

/// How a storage command treats an existing item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    /// Store only if the item's CAS unique equals this.
    Cas(u64),
}

/// Result of a storage command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    /// `add` on an existing key, `replace`/`append`/`prepend` on a missing one.
    NotStored,
    /// `cas` whose unique no longer matches.
    Exists,
    /// `cas` on a missing key.
    NotFound,
    /// The item can never fit (larger than `-I`).
    TooLarge,
    /// No memory could be found (evictions disabled, or nothing evictable).
    NoMemory,
}

/// Result of a delete that may carry a CAS unique to compare (binary protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// The item's CAS unique differs from the one given.
    Exists,
}

/// Result of `incr`/`decr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOutcome {
    Value(u64),
    NotFound,
    NonNumeric,
    /// A new, longer value had to be allocated and no memory could be found.
    NoMemory,
}

/// Result of a lookup; misses are split the way memcached's stats count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<R> {
    Hit(R),
    Miss,
    /// Found but past its exptime (counts `get_expired`).
    Expired,
    /// Found but invalidated by `flush_all` (counts `get_flushed`).
    Flushed,
}

/// A borrowed view of a live item, valid only inside the callback that receives it.
#[derive(Clone, Copy, Debug)]
pub struct ItemView<'a> {
    pub key: &'a [u8],
    pub flags: u32,
    pub cas: u64,
    pub value: &'a [u8],
    item: engine::ItemHandle<'a>,
}

impl ItemView<'_> {
    /// Pin the value for a reply that sends it from item memory (see [`PinnedValue`]),
    /// keeping the store alive through `keep`, a handle of this store that only one thread
    /// uses (a connection's): a pin updates no count that other threads share. `None` if
    /// `keep` is another store.
    pub fn pin_with(&self, keep: &Arc<Store>) -> Option<PinnedValue> {
        self.item.pin(keep)
    }
}

/// An item's value held for a reply that sends it straight from item memory, without a
/// copy (memcached's item reference count): until this is dropped the bytes neither change
/// nor move and their memory is not reused, even if the item is overwritten, deleted,
/// evicted or its page moved (the store skips or waits for pinned items, and frees one that
/// was unlinked meanwhile when its last pin goes). Pins hold slab memory, which counts in
/// `-m`: whoever keeps them must bound how many it keeps (the server does per connection).
pub struct PinnedValue {
    store: Arc<Store>,
    chunk: mem::Ref,
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the pinned bytes are immutable and kept alive by the pin (see `pins.rs`); the
// handle owns an `Arc` of a store handle, which is `Send + Sync`. Nothing here is tied to the
// thread that pinned it.
unsafe impl Send for PinnedValue {}

impl PinnedValue {
    /// The value's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr`/`len` were read from the chunk's header under its shard lock when it
        // was pinned and lie inside the chunk (checked by `Mem::pin`); a pinned chunk's value
        // bytes are not written and its memory is not freed or reused until `unpin` in our
        // `Drop`, so the slice is valid and unchanging for as long as `&self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for PinnedValue {
    fn drop(&mut self) {
        self.store.inner.mem.unpin(self.chunk);
    }
}

impl std::fmt::Debug for PinnedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinnedValue({:#x}, {} bytes)", self.chunk, self.len)
    }
}

/// Item memory reserved for a storage command whose value is still arriving: the item is
/// allocated when the command's header arrives (counted in `-m`, evicting others as any
/// store does) and the value is read straight into it (memcached's `conn_nread` into the
/// item). Pass it to a store as `Value::Reserved`; dropping it frees the memory (a client
/// that disconnects mid-value).
pub struct Reservation {
    store: Arc<Inner>,
    /// `None` once handed to the store.
    chunk: Option<mem::Ref>,
    /// Bytes charged to the store's in-flight budget until this is dropped.
    charged: usize,
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the chunk is private to this handle (see `mem.rs`): no other thread reads or
// writes it until it is passed to the store or freed by `Drop`. The handle owns an `Arc` of
// the store, which is `Send + Sync`.
unsafe impl Send for Reservation {}

impl Reservation {
    /// The value's bytes, to be filled in.
    pub fn value_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr`/`len` is the value region of the chunk (`Mem::value_ptr`), which this
        // handle owns privately and exclusively (`&mut self`); the chunk is not freed before
        // `Drop`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The value's bytes.
    pub fn value(&self) -> &[u8] {
        // SAFETY: as in `value_mut`, shared.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hands the chunk over (to be linked or freed by the caller); `Drop` then does nothing.
    fn take_chunk(&mut self) -> Option<mem::Ref> {
        self.chunk.take()
    }

    /// The reserved item has key `key`.
    fn key_is(&self, key: &[u8]) -> bool {
        self.chunk.is_some_and(|r| self.store.mem.key_eq(r, key))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(r) = self.chunk.take() {
            self.store.mem.free(r);
        }
        self.store.end_reservation(self.charged);
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation({:?}, {} bytes)", self.chunk, self.len)
    }
}

/// The value of a storage command.
#[derive(Debug)]
pub enum Value<'a> {
    /// Bytes to copy into a new item.
    Bytes(&'a [u8]),
    /// An item reserved for it, with the value read in (`Store::reserve`).
    Reserved(Reservation),
    /// The reservation failed (`TooLarge` or `NoMemory`): the store answers that, with the
    /// same side effects as a store that found no memory.
    Refused(StoreOutcome),
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(b: &'a [u8]) -> Value<'a> {
        Value::Bytes(b)
    }
}

impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(b: &'a Vec<u8>) -> Value<'a> {
        Value::Bytes(b)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Value<'a> {
    fn from(b: &'a [u8; N]) -> Value<'a> {
        Value::Bytes(b)
    }
}

/// Size, class and remaining life of a live item (`Store::inspect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemInfo {
    pub value_len: usize,
    /// Slab class id as `stats slabs` numbers it (1-based; the large class is the last id).
    pub class: usize,
    /// Seconds until it expires; 0 = never.
    pub expires_in: u32,
}

/// Metadata of one live item, for `lru_crawler metadump` (`Store::walk_items`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemMeta<'a> {
    pub key: &'a [u8],
    /// Absolute unix time, -1 = never.
    pub exptime: i64,
    /// Absolute unix time of the last store, fetch or touch.
    pub last_access: i64,
    /// As clients see it (0 with `-C`).
    pub cas: u64,
    pub fetched: bool,
    /// Slab class id as `stats slabs` numbers it (1-based; the large class is the last id).
    pub class: usize,
    /// Bytes of the item: header + key + value (as counted in `bytes`; its chunk may be
    /// larger).
    pub size: usize,
    /// Bytes of the value alone.
    pub value_len: usize,
    pub flags: u32,
}

/// Store-wide counters, named as memcached's `stats` fields.
#[derive(Clone, Debug, Default)]
pub struct StoreStats {
    pub curr_items: u64,
    pub total_items: u64,
    pub bytes: u64,
    pub evictions: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub limit_maxbytes: u64,
    pub total_malloced: u64,
    /// Pages moved between slab classes or given back to the budget.
    pub slabs_moved: u64,
    /// Live items copied to a free chunk of their class because their page was moved.
    pub slab_reassign_rescues: u64,
    /// Live items evicted because their page was moved and no free chunk could take them
    /// (also counted in `evictions`).
    pub slab_reassign_evictions_nomem: u64,
    /// Chunks the mover found being written (allocated, not linked yet) and had to wait for.
    pub slab_reassign_busy_items: u64,
    /// A page move is in progress.
    pub slab_reassign_running: bool,
    /// Background page balancing is on (`slab_automove`).
    pub slab_automove: bool,
    /// Crawls begun: background expiry passes over the whole index and `lru_crawler
    /// crawl` requests (memcached's `lru_crawler_starts`).
    pub crawler_starts: u64,
    /// Bytes of the key index (all shards). Together with the chunk state tables, what
    /// exceeds 1 MiB of it counts against the memory limit.
    pub hash_bytes: u64,
}

/// Why `Store::reassign` moved no page (memcached's `slabs reassign` errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReassignError {
    /// Another page move is in progress (memcached `BUSY currently processing reassign
    /// request`).
    Running,
    /// A class id out of range (memcached `BADCLASS`).
    BadClass,
    /// The source class has fewer than two pages (memcached `NOSPARE`).
    NoSpare,
    /// Source and destination are the same class (memcached `SAME`).
    Same,
    /// Items being written into the chosen page kept it busy past the mover's bounded wait;
    /// the page stays in its class (items already evicted from it stay evicted). Retry.
    Busy,
}

/// Per slab class figures for `stats slabs` and `stats items`.
#[derive(Clone, Debug, Default)]
pub struct ClassStats {
    pub id: usize,
    pub chunk_size: usize,
    pub chunks_per_page: usize,
    pub total_pages: usize,
    pub total_chunks: usize,
    pub used_chunks: usize,
    pub free_chunks: usize,
    pub number: u64,
    /// Age in seconds of the least recently used item.
    pub age: u64,
    pub mem_requested: u64,
    pub evicted: u64,
    pub evicted_nonzero: u64,
    pub evicted_time: u64,
    pub outofmemory: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub crawler_reclaimed: u64,
    pub crawler_items_checked: u64,
    /// `get_hits`, `cmd_set`, ... of the items of this class.
    pub cmds: ClassCmds,
}

/// Cheap to clone: a handle to shared state. `Send + Sync`; every method may be called from
/// any number of threads at once.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
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

    /// Look `key` up; on a hit, mark it fetched and recently used and call `f` with a view
    /// of it (under the shard lock: keep `f` short).
    pub fn get<R>(&self, key: &[u8], f: impl FnOnce(ItemView<'_>) -> R) -> Lookup<R> {
        self.inner.get(key, None, f)
    }

    /// `gat`: like `get`, but first give the live item a new exptime.
    pub fn get_and_touch<R>(
        &self,
        key: &[u8],
        exptime: i64,
        f: impl FnOnce(ItemView<'_>) -> R,
    ) -> Lookup<R> {
        self.inner.get(key, Some(exptime), f)
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

    /// set / add / replace / append / prepend / cas, with memcached's rules. Like memcached,
    /// a `Set` that fails with `TooLarge` or `NoMemory` deletes the key's old item (a caller
    /// that rejects an oversized `set` without calling `store` should call `delete`).
    pub fn store<'v>(
        &self,
        mode: SetMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: impl Into<Value<'v>>,
    ) -> StoreOutcome {
        self.inner.store(mode, key, flags, exptime, data.into())
    }

    /// Reserve an item for `key` with a value of `value_len` bytes still to arrive (see
    /// [`Reservation`]). `Err(TooLarge)` past `-I`, `Err(NoMemory)` when no memory can be
    /// found (with `-M`, or nothing evictable) or when values in flight already hold half of
    /// the memory limit, counted like a store's allocation failure.
    pub fn reserve(&self, key: &[u8], value_len: usize) -> Result<Reservation, StoreOutcome> {
        let (r, charged) = self.inner.reserve(key, value_len)?;
        let (ptr, len) = self.inner.mem.value_ptr(r);
        let Some(ptr) = std::ptr::NonNull::new(ptr) else {
            self.inner.mem.free(r);
            self.inner.end_reservation(charged);
            return Err(StoreOutcome::NoMemory);
        };
        Ok(Reservation {
            store: self.inner.clone(),
            chunk: Some(r),
            charged,
            ptr,
            len,
        })
    }

    /// `true` if a live item was deleted.
    pub fn delete(&self, key: &[u8]) -> bool {
        self.inner.delete(key)
    }

    /// incr (`incr = true`) or decr by `delta`.
    pub fn arith(&self, key: &[u8], incr: bool, delta: u64) -> ArithOutcome {
        self.inner.arith(key, incr, delta)
    }

    /// Give a live item a new exptime; `false` if there is none.
    pub fn touch(&self, key: &[u8], exptime: i64) -> bool {
        self.inner.touch(key, exptime)
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
    /// (1 MiB) or above the id-space limit (about 128 GiB, see `mem.rs`).
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
