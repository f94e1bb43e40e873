//! The item store: items in slab size classes under a hard memory limit, per-class S3-FIFO
//! eviction, lazy and background expiry, CAS uniques.
//!
//! Owns: item memory, the key index, eviction order, expiry, CAS, per-class statistics.
//! Must not touch: sockets, threads other than its own sweeper, protocol types or words.
//! It returns outcome enums; the protocol layer picks the words.
//!
//! # Design
//!
//! ```text
//!            key ──ahash──► shard (64, parking_lot::Mutex each)
//!                           ├─ index: open addressing, 8-byte slots (tag:32 | Ref:32)
//!                           ├─ small and main queue heads/tails per class (links live
//!                           │  in the item header), ghost table of evicted keys
//!                           ├─ CAS values clients chose (meta `E`), a side table
//!                           └─ per-class counters
//!   Ref ──► page table ──► slab page (one size class; 1 MiB, or a class' first page a
//!           quarter of that: a starter page) ──► chunk: header|key|value
//!      └──► large allocation (items bigger than slab_chunk_max, default half a page;
//!           exactly sized)
//!   one global budget: pages × 1 MiB + large bytes <= mem_limit (hard; after a runtime
//!   lowering, nothing new is reserved until memory given back brings it under the limit)
//! ```
//!
//! Files:
//! - `api.rs`: [`Store`] and **every public method**, each a thin documented call into the
//!   file below that implements it. One method per operation, each with an options struct
//!   (`Default` = the plain text command) and one outcome type; the server maps outcomes to
//!   protocol words.
//! - Operations: `get.rs` (get, gat/touch, meta get with vivify, peeks; `GetOpts`,
//!   `Lookup`), `set.rs` (every storage mode incl. CAS and append/prepend, meta `ms` options,
//!   reservations; `SetOpts`, `StoreOutcome`), `delete.rs` (delete, CAS, invalidation;
//!   `DeleteOpts`, `DeleteOutcome`), `arith.rs` (incr/decr with CAS and auto-create, and the
//!   number rules; `ArithOpts`, `ArithOutcome`), `entry.rs` (the item handle their callbacks
//!   get). `moves.rs`: page moves, victim picking, reassign, automove. `class_stats.rs`:
//!   `stats`, `class_stats`, `reset_stats`. `maint.rs`: the runtime memory limit, the sweeper
//!   tick and crawl, crawler control, the item walk (metadump), the size histogram switch.
//! - `engine.rs`: `Inner` only (shards, clock, sequence, flush, allocation); it imports none
//!   of the operation files, which each add an `impl Inner` block.
//! - `mem/`: pages, classes, free lists, the budget and the item byte layout, with the
//!   ownership protocol every `unsafe` on item memory relies on (`mem/mod.rs`).
//! - `index.rs`: a shard's hash table. `shard.rs`: a shard (index + LRU + counters) and the
//!   **lock order**. `clock.rs`: time and exptime rules. `mem/pins.rs`: pin counts;
//!   `entry.rs` also holds [`PinnedValue`], the handle of one pin. `sizes.rs`: the size
//!   histogram. `tests/`: store tests by subject.
//!
//! **Per-item overhead**: a 34-byte header (LRU links 2×4, CAS/sequence 8, exptime 4,
//! access time 4, flags 4, value length 4, key length 1, bits 1) plus one 8-byte index slot
//! at 45–90% load, i.e. 9–18 bytes, plus the ghost table's 2 bytes per two index slots (1–2
//! bytes): **≈ 44–54 bytes per item**, before rounding up to the class chunk size (memcached:
//! 56-byte header + 3 bytes of NUL/CRLF, plus an 8-byte hash bucket pointer share). The
//! index, the ghost table and the chunk state tables count against
//! `mem_limit` (`Mem::charge_side`; below `-m 64` a small allowance, 1 MiB less a 64th of
//! the limit, is not counted, so that `-m 1` keeps its page): as the index grows, fewer
//! pages fit, and the sweeper gives pages back if it passes the limit (stats `hash_bytes`).
//! The ghost table is charged when the index grows, before it is filled, so a full store
//! has already left room for it when eviction starts.
//!
//! **Pins** (`mem/pins.rs`): a reply may send an item's value straight from item memory
//! (`Entry::pin_with` gives a [`PinnedValue`]); while pinned, the value
//! does not change and its chunk is not freed or reused: eviction skips it, in-place
//! incr/decr is not done, and a free (overwrite, delete, expiry, page move) is deferred to
//! the last unpin (the mover waits for it like for any chunk in flight, then gives up).
//! **Reservations**: `Store::reserve` allocates an item for a value still arriving; the
//! server reads the value into it and stores it as `Value::Reserved` (the chunk becomes the
//! item; append/prepend copy from it). Values in flight hold at most half of `mem_limit`.
//!
//! The text `get` and `set` paths stay one hash, one shard lock and one index lookup (plus
//! the allocation for `set`): their options are plain values read before the lock, and
//! meta's vivify takes a separate path.
//!
//! Eviction is S3-FIFO per shard and class (`shard.rs`): new items enter a small
//! probationary queue; those fetched while there move to the main queue (a CLOCK with a
//! 2-bit access count), the others are evicted and remembered in a ghost table so that they
//! enter the main queue directly if they come back. A fetch only counts up 2 header bits.
//! Shards take turns to give up items; the first few asked pass over a small queue whose
//! oldest item is young (stored within the last twentieth of the items' number of stores),
//! so a shard whose queue ran short does not give up what was just written. Expired and
//! flushed items at a queue's tail are reclaimed before anything is evicted. A background
//! sweeper (`start_sweeper`, one `run_maintenance` tick every 100 ms) reclaims
//! expired/flushed items in bounded steps while the crawler is enabled
//! (`set_crawler_enabled`, memcached's `lru_crawler`); `crawl_classes` is the synchronous
//! pass of `lru_crawler crawl`.
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
//! (`set_track_sizes`, `stats sizes`): `sizes.rs`. **Class geometry**: `-f`/`-n` after a
//! 64-byte class for tiny items (`mem/geometry.rs`), or explicit `-o slab_sizes`, up to
//! `-o slab_chunk_max`; the validating functions config uses are re-exported here.
//!
//! Flush: every successful store takes the next value of one global sequence counter (the
//! CAS unique, kept even with `-C`). `flush_all` records the current counter; items with a
//! sequence at or below it are invisible. A delayed flush records a deadline that the first
//! operation to observe it turns into such a sequence.
//!
//! **Starter pages** (`mem/mod.rs`, `STARTER_SIZE`): from `-m 32` up, a class' first page is
//! a quarter page (for chunks up to 64 KiB, while starters hold at most an eighth of the
//! limit), so a class that stores rarely does not hold a whole page it never fills (with
//! Twitter-like sizes, 3 to 5 classes held 3 to 4 MiB of `-m 64` that way). A starter page
//! never changes class; a class that fills its starter and finds no budget takes a full page
//! (`make_room`) before it evicts its own items, unless it is held to its starter: while the
//! store is read (100 hits a second or more), a class whose items are read less than twice
//! as much per byte held as the store's evicts within its starter instead, and only automove
//! gives it pages (`moves::update_starter_holds`, each sweeper tick). A lowered limit
//! releases starters last.
//!
//! **Page moves** (memcached's `slab_reassign`, always available, and `slab_automove=1`, on by
//! default): a 1 MiB page can leave its class. Its chunk state table (`mem/`) tells the
//! mover which chunks hold linked items and in which shard; the page is marked "moving" so
//! the allocator stops handing out its chunks, each live item is copied into a free chunk of
//! the same class if there is one (a rescue) or unlinked (an eviction; dead items count as
//! `reclaimed`), chunks still being written (allocated, not linked yet) are waited for a
//! bounded time (about 20 ms, then the move is abandoned with `Busy`), and once every chunk
//! is free the page is re-carved for its new class or its memory is dropped so the budget
//! can hold large items. Moves are serialised by one mover mutex and never hold a class
//! mutex while taking a shard mutex (`shard.rs`). Four users:
//! - **allocation**: with evictions on, when a class has no free chunk, no budget for a page
//!   and nothing to reclaim or evict at its own LRU tails (or only its starter page), it
//!   takes memory elsewhere: a completely free page if any class has one; else a page less than a quarter used (the
//!   emptiest: few items lost); else whichever holds the oldest least recently used item:
//!   that class' emptiest page, or the oldest large item, whose budget becomes a page
//!   (memcached's age criterion; at page granularity it approximates one LRU over all
//!   classes). A large item without budget evicts older large items, then takes pages the
//!   same way, their memory dropped to the budget. Bounded by the allocation rounds. With
//!   `-M` nothing is moved or evicted and the answer stays `NoMemory`.
//! - **automove** (sweeper, every 100 ms, `set_automove`): if a class evicted since the last
//!   step while another class has more than 2.5 pages' worth of free chunks, one page of the
//!   latter moves to the former (to the budget for large items). Otherwise, among the slab
//!   classes that evict steadily (over the last 2 s), a page moves towards equal pages per
//!   item eviction rate, at most one every 2 s (`moves::balance_target`): that keeps an item
//!   for a time inversely proportional to its size, i.e. the keys with the most reads per
//!   byte, where memcached's age balancing gives big items as long a stay as small ones.
//! - **`reassign(from, to)`**: the admin command, memcached's rules and errors.
//! - **release steps** after `set_mem_limit` lowered the limit (see above).
//!
//! The chunk state table costs one byte per chunk of the smallest class of the `-n`
//! progression per page (about 1.1% of `mem_limit` with the default classes), counted in
//! `mem_limit` like the index; a page first given to the 64-byte class of tiny items has one
//! byte per 64-byte chunk (1.6%), and a page that moves there later carves only as many
//! chunks as its table has bytes.
//!
//! Limits: a move evicts the items it cannot rescue (memcached does the same when the source
//! class has no free chunk); those evictions (`evicted_by_move`) do not count as the source
//! class' need for memory.

mod api;
mod arith;
mod class_stats;
mod clock;
mod delete;
mod engine;
mod entry;
mod get;
mod index;
mod maint;
mod mem;
mod moves;
mod set;
mod shard;
mod sizes;
#[cfg(test)]
mod tests;

pub use api::Store;
pub use arith::{ArithOpts, ArithOutcome};
pub use delete::{DeleteOpts, DeleteOutcome};
pub use entry::Entry;
pub use entry::PinnedValue;
pub use get::{GetOpts, HitCount, Lookup};
pub use set::{Reservation, SetMode, SetOpts, StoreOutcome, Value};

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
    /// Stored by a meta command with a base64-encoded key (`b`).
    pub key_binary: bool,
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
    /// Bytes of the key index (all shards). With the ghost and chunk state tables it counts
    /// against the memory limit (below `-m 64`, less a small allowance).
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
    /// Chunks of a full page.
    pub chunks_per_page: usize,
    /// Pages, a starter page (a quarter of a full page) included.
    pub total_pages: usize,
    /// Chunks over all pages: fewer than `total_pages × chunks_per_page` with a starter.
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
