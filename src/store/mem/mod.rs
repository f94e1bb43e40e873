//! Item memory: 1 MiB slab pages carved into fixed-size chunks per size class, exactly sized
//! "large" allocations for items bigger than the biggest class, one global byte budget, and
//! the byte layout of an item inside its chunk.
//!
//! **Item bytes are reached only through this module**, which holds the store's `unsafe` on
//! item memory (the only other `unsafe` are the value slices of the handles that own or pin a
//! chunk, `PinnedValue` in `entry.rs` (counted in `mem/pins.rs`) and `Reservation` in
//! `set.rs`, and their `Send`).
//!
//! Owns: page and large allocations, the budget (`mem_limit`), per-class free lists, chunk
//! addressing (`Ref`), the item header layout.
//! Must not touch: the index, LRU order decisions, expiry rules (those live in `shard.rs` and
//! the operation files; this module only stores the header fields they use).
//!
//! Files: this one holds the types, the constants, the budget and the ownership protocol
//! below; `geometry.rs` the size classes and the `-n`/`-f`/`slab_sizes`/`slab_chunk_max`
//! rules; `alloc.rs` pages, free lists, large allocations, ids, frees and the chunk state
//! transitions; `moves.rs` the page mover's hooks (pick, begin, scan, copy, finish, cancel);
//! `layout.rs` chunk addressing and the item header accessors and writers; `tests.rs`.
//!
//! # Item layout (all integers little endian, unaligned reads/writes)
//!
//! ```text
//! offset size field
//!    0    4   lru_prev   Ref of the newer neighbour in its shard's class list (NIL = none)
//!    4    4   lru_next   Ref of the older neighbour                           (NIL = none)
//!    8    8   seq        global store sequence number when stored or changed (flushes and
//!                        eviction age compare it; kept with -C); also the CAS unique
//!                        unless CLIENT_CAS is set (meta `E<cas>`: the shard keeps the
//!                        client's value in a side table, see `shard.rs`)
//!   16    4   exptime    clock-relative seconds, 0 = never
//!   20    4   atime      clock-relative seconds of the last store/fetch/touch
//!   24    4   flags      client flags
//!   28    4   value_len
//!   32    1   key_len    (keys are at most 250 bytes)
//!   33    1   bits       FETCHED | REFERENCED | STALE | TOKEN_SENT | KEY_BINARY | CLIENT_CAS
//!                        | SMALL | FREQ_HI (S3-FIFO queue and 2-bit frequency with
//!                        REFERENCED, `shard.rs`)
//!   34   ..   key bytes, then value bytes (no terminator, no CRLF)
//! ```
//!
//! So an item costs `HEADER` = 34 bytes + key + value, rounded up to its class' chunk size.
//! A free chunk uses its first 4 bytes as the free-list link.
//!
//! # Addressing
//!
//! A `Ref` (u32) is `page_id << 14 | chunk_index`. Slab pages and large allocations share one
//! id space (`ids`); a large allocation always has chunk index 0. Chunks are at least
//! `MIN_CHUNK_SIZE` = 64 bytes, so a 1 MiB page has at most 16384 chunks (14 bits). The id
//! space (2^18 − 1 ids) bounds the usable memory to about 128 GiB (`MAX_LIMIT`, with every
//! allocation at least half a page); a larger `mem_limit` is clamped with a warning. With a
//! smaller `-o slab_chunk_max` large items can be smaller than half a page and the ids may
//! run out before the budget does: allocation then behaves as with a full budget. The per-id
//! table is allocated in segments of 512 ids on first use, so the limit can be raised at
//! runtime (`set_limit`) up to `MAX_LIMIT`.
//!
//! # Ownership protocol (the invariant every `// SAFETY:` below relies on)
//!
//! Every chunk is, at any moment, in exactly one of three states:
//! - **free**: on its page's free list, or not yet carved from its page. Owned by the
//!   allocator mutex of the page's class (`Mem::classes[c]`).
//! - **private**: returned by `alloc`/`alloc_spare`/`alloc_large`, or unlinked from a shard
//!   and not yet freed or reused. Owned by exactly one thread, which alone may read or write it.
//! - **linked**: in exactly one shard's index and LRU list. Its bytes are read and written
//!   only while holding that shard's mutex.
//!
//! Transitions happen under the mutex that owns the destination or source state, so each new
//! owner's accesses happen-after the previous owner's (mutex release/acquire). Callers in
//! `shard.rs` and the operation files uphold this; slices handed out here borrow the caller's shard guard
//! (any [`ShardLocked`], in practice `&ShardCore`) so they cannot outlive the lock. Large allocations are freed only by their
//! (private) owner.
//!
//! The state of every slab chunk is also mirrored in a per-page side table of atomic bytes
//! (`PageMeta::states`: free / private / linked in shard `s`), written by the thread making the
//! transition (under the class mutex for free ↔ private, under the shard mutex for private ↔
//! linked). It is only metadata: nobody reads chunk *bytes* because of it. It lets the page
//! mover find the live items of a page and the shard that owns each one.
//!
//! # Page moves (slab reassign)
//!
//! A page changes class (or is given back to the budget) only when **no chunk of it is owned
//! by anyone**: `begin_move` marks the page `moving` and takes it off its class' list of pages
//! with free chunks, so the allocator never hands out one of its chunks again; the mover
//! (`store/moves.rs`) unlinks (or rescues) its linked items one shard lock at a time and waits a
//! bounded time for private ("in flight") chunks to be linked or freed; `finish_move` then
//! checks, under the class mutex, that every carved chunk is back on the page's free list and
//! re-carves the page for its new class (or drops its memory). Page memory is therefore only
//! returned to the system when no thread can hold a reference into it.
//!
//! Lock order: (mover mutex →) shard mutex → class allocator mutex → id pool mutex. The class
//! and id mutexes are leaves: nothing takes a shard mutex while holding them, and no two class
//! mutexes are ever held at once.

use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};

use parking_lot::Mutex;

use super::sizes::SizeHist;
use pins::Pins;

/// Proof that the caller holds the mutex of the shard that links an item: slices of item
/// bytes (`Mem::key`, `Mem::value`) borrow it, so they cannot outlive the lock.
///
/// # Safety
///
/// A `&Self` must exist only while the holder owns a shard mutex (the locked `ShardCore`
/// is the one implementor).
pub(in crate::store) unsafe trait ShardLocked {}

mod alloc;
mod geometry;
mod layout;
mod moves;
mod pins;
#[cfg(test)]
mod tests;

pub(super) use geometry::Geometry;
pub use geometry::{parse_slab_sizes, validate_slab_chunk_max, validate_slab_sizes};
pub(super) use layout::{
    BIT_CLIENT_CAS, BIT_FETCHED, BIT_KEY_BINARY, BIT_SMALL, BIT_STALE, BIT_TOKEN_SENT, FREQ_BITS,
    freq, with_freq,
};

/// Reference to a chunk: `page_id << IDX_BITS | chunk_index`.
pub(super) type Ref = u32;
/// "No item" in LRU links and free lists.
pub(super) const NIL: Ref = u32::MAX;
/// Slab page size.
pub(super) const PAGE_SIZE: usize = 1 << 20;
/// Bytes of item header before the key.
pub(super) const HEADER: usize = 34;
/// A class' first page when its chunks are small enough (`starter_len`): a quarter page,
/// so that a class that stores rarely (a few dozen big items, or a few thousand small ones)
/// does not hold a whole 1 MiB page that it never fills, memory no other class can use.
/// Seen at `-m 64` with Twitter-like sizes: 3 to 5 such classes held 3 to 4 MiB. A starter
/// page stays with its class (the mover moves only full pages between classes); only a
/// lowered limit releases one, when no full page is left to give. Starter pages hold at most
/// an eighth of the limit; beyond that a class' first page is a full one. Only from a limit
/// of `STARTER_MIN_LIMIT`: starters leave up to 3/4 of a page of the budget that no full page
/// fits (new starters and large items still use it), which only a large limit can spare.
pub(super) const STARTER_SIZE: usize = PAGE_SIZE / 4;
/// The smallest limit with starter pages (see `STARTER_SIZE`).
pub(super) const STARTER_MIN_LIMIT: usize = 32 * PAGE_SIZE;
/// Smallest chunk, so that a page never has more than 2^IDX_BITS chunks.
pub(super) const MIN_CHUNK_SIZE: usize = 64;
/// At most this many slab classes (plus the large class), like memcached's 63.
pub(super) const MAX_SLAB_CLASSES: usize = 63;

const IDX_BITS: u32 = 14;
const IDX_MASK: u32 = (1 << IDX_BITS) - 1;
// Every chunk index of a page fits in IDX_BITS.
const _: () = assert!(PAGE_SIZE / MIN_CHUNK_SIZE <= 1 << IDX_BITS);

/// Page ids available; the all-ones id is never used so that `NIL` is never a valid `Ref`.
const MAX_IDS: usize = (1 << (32 - IDX_BITS)) - 1;

/// Marker in `kinds` for a large allocation.
const KIND_LARGE: u8 = u8::MAX;

/// Chunk states in `PageMeta::states`; `ST_LINKED + s` = linked in shard `s`.
const ST_FREE: u8 = 0;
const ST_PRIVATE: u8 = 1;
const ST_LINKED: u8 = 2;
/// Shard ids must fit in a state byte.
pub(super) const MAX_SHARD_IDS: usize = (u8::MAX - ST_LINKED) as usize;

/// A class allocator: its pages and the pages that have a free chunk. Guarded by
/// `Mem::classes[c]`, which also guards the `PageMeta` free-list fields of its pages.
struct ClassAlloc {
    /// Every page of the class (including one being moved out).
    pages: Vec<u32>,
    /// Pages with at least one free (listed or uncarved) chunk and not being moved.
    partial: Vec<u32>,
    /// Free chunks over all pages of the class.
    avail: usize,
    /// Chunks over all pages of the class (a starter page has a quarter of a full one's).
    chunks: usize,
}

/// Per page id: the page's own free list and carving point (guarded by the mutex of the
/// page's class; atomics only so that no `unsafe` is needed) and its chunk state table.
struct PageMeta {
    /// Chunk index of the first free chunk (`NIL` = none); links are chunk indexes too.
    free_head: AtomicU32,
    free_count: AtomicU32,
    /// Chunks handed out at least once since the page got its class; the rest are uncarved.
    carved: AtomicU32,
    /// Chunks the page holds for its class (its length over the chunk size).
    chunks: AtomicU32,
    /// Set while the mover empties the page: the allocator skips it, frees do not relist it.
    moving: AtomicBool,
    /// Milliseconds (`Mem::now_ms`) until which the mover leaves this page alone: a move of
    /// it gave up on chunks in use (pinned by a reply, reserved for a value arriving).
    skip_until: AtomicU64,
    /// One state byte per chunk (`ST_*`), sized for the smallest class; allocated the first
    /// time the id becomes a slab page and kept for the life of the store.
    states: OnceLock<Box<[AtomicU8]>>,
}

/// Where `finish_move` puts an emptied page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MoveDest {
    /// Re-carve it for this slab class; `true`: hand its first chunk to the caller.
    Class(usize, bool),
    /// Drop its memory; its bytes of budget (`PAGE_SIZE`, or `STARTER_SIZE` for a starter
    /// page: `page_len` before the move) stay reserved for the caller, who passes them to
    /// `alloc_large_held` or gives them back with `unreserve_held`.
    Release,
}

/// The page of a class the mover should take (fewest chunks in use), for victim choice.
#[derive(Clone, Copy, Debug)]
pub(super) struct PagePick {
    pub pid: u32,
    pub in_use: usize,
    pub pages: usize,
}

/// Figures of one class allocator for `stats slabs`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ClassMem {
    /// Pages, a starter page included.
    pub pages: usize,
    /// Chunks over all pages.
    pub chunks: usize,
    pub free_chunks: usize,
    pub outofmemory: u64,
}

/// Page ids: recycled (large allocations come and go) plus never-used ones.
struct IdPool {
    free: Vec<u32>,
    next: u32,
    limit: u32,
}

impl IdPool {
    fn take(&mut self) -> Option<u32> {
        if let Some(id) = self.free.pop() {
            return Some(id);
        }
        if self.next < self.limit {
            self.next += 1;
            return Some(self.next - 1);
        }
        None
    }
}

/// Everything known about one page id (a slab page or a large allocation).
struct IdSlot {
    /// Base pointer; null when the id is unused.
    ptr: AtomicPtr<u8>,
    /// Allocation length (`PAGE_SIZE`, `STARTER_SIZE` or the large item's size).
    len: AtomicUsize,
    /// Class id, `KIND_LARGE` for large allocations.
    kind: AtomicU8,
    meta: PageMeta,
}

/// Page ids per lazily allocated segment of the id table.
const SEG_BITS: u32 = 9;
const SEG_LEN: usize = 1 << SEG_BITS;

/// The largest memory limit the id space can address (every allocation is at least half a
/// page with the default `slab_chunk_max`), about 128 GiB.
pub(super) const MAX_LIMIT: usize = (MAX_IDS - 2) * (PAGE_SIZE / 2);

/// All item memory of one store.
pub(super) struct Mem {
    pub(super) geo: Geometry,
    /// The budget (`-m`, or `cache_memlimit` at runtime): nothing is reserved past it.
    limit: AtomicUsize,
    /// Bytes charged to the budget: slab page lengths + large allocation sizes. May
    /// exceed `limit` only after the limit was lowered, until the store gives memory back.
    used: AtomicUsize,
    large_bytes: AtomicUsize,
    /// Slab pages allocated, starter pages included (counted after their budget is
    /// reserved, uncounted before it is given back).
    slab_pages: AtomicUsize,
    /// Per page id, in segments of `SEG_LEN` allocated the first time one of their ids is
    /// used (so the limit can be raised at runtime without a table sized for the largest).
    slots: Box<[OnceLock<Box<[IdSlot]>>]>,
    ids: Mutex<IdPool>,
    classes: Box<[Mutex<ClassAlloc>]>,
    outofmemory: Box<[AtomicU64]>,
    /// Item size histogram (`stats sizes`), maintained by the shards.
    pub(super) sizes: SizeHist,
    /// Chunks whose value a reply sends from item memory (`mem/pins.rs`).
    pins: Pins,
    /// Bytes of starter pages: at most an eighth of the limit (`starter_len`).
    starter_bytes: AtomicUsize,
    /// Time base of `PageMeta::skip_until`.
    born: std::time::Instant,
    /// Bytes of side tables: the shards' indexes (grown beyond their initial size) and the
    /// chunk state tables. Beyond `side_free` they count against the limit (`charge_side`).
    side: AtomicUsize,
}

/// How long the mover passes over a page whose move gave up on chunks in use, at most: a
/// chunk of it freed or linked makes it a candidate again at once (`clear_skip`).
const SKIP_BUSY_MS: u64 = 1000;

/// A chunk of the page left the private state: a move of it may succeed now.
#[inline]
fn clear_skip(m: &PageMeta) {
    if m.skip_until.load(Ordering::Relaxed) != 0 {
        m.skip_until.store(0, Ordering::Relaxed);
    }
}

/// Side-table bytes that do not count against a limit of `l` bytes: 1 MiB less a 64th of
/// the limit, so tiny limits (`-m 1`: its one page's state table, the shards' first ghost
/// tables) keep their pages, while from `-m 64` up every side-table byte counts and the
/// RSS stays within the limit plus the process' own few MiB (issue 14: `-m` + 10%). The
/// limit plus this allowance still grows with the limit.
fn side_free(limit: usize) -> usize {
    (1usize << 20).saturating_sub(limit / 64)
}

impl Mem {
    /// Default geometry (`-n`, `-f`, chunks up to half a page), for tests.
    #[cfg(test)]
    pub(super) fn new(mem_limit: usize, min_chunk: usize, factor: f64) -> Mem {
        Mem::with_geometry(
            mem_limit,
            Geometry::new(min_chunk, factor, PAGE_SIZE / 2),
            1 << 20,
        )
    }

    /// `item_size_max` bounds the size histogram.
    pub(super) fn with_geometry(mem_limit: usize, geo: Geometry, item_size_max: usize) -> Mem {
        let mut limit = mem_limit;
        if limit > MAX_LIMIT {
            limit = MAX_LIMIT;
            log::warn!("memory limit {mem_limit} clamped to {limit} bytes (item reference space)");
        }
        let n_classes = geo.n_slab() + 1;
        Mem {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
            large_bytes: AtomicUsize::new(0),
            slab_pages: AtomicUsize::new(0),
            slots: (0..MAX_IDS.div_ceil(SEG_LEN))
                .map(|_| OnceLock::new())
                .collect(),
            ids: Mutex::new(IdPool {
                free: Vec::new(),
                next: 0,
                limit: MAX_IDS as u32,
            }),
            classes: (0..n_classes)
                .map(|_| {
                    Mutex::new(ClassAlloc {
                        pages: Vec::new(),
                        partial: Vec::new(),
                        avail: 0,
                        chunks: 0,
                    })
                })
                .collect(),
            outofmemory: (0..n_classes).map(|_| AtomicU64::new(0)).collect(),
            sizes: SizeHist::new(item_size_max),
            pins: Pins::new(),
            starter_bytes: AtomicUsize::new(0),
            born: std::time::Instant::now(),
            side: AtomicUsize::new(0),
            geo,
        }
    }

    /// The entry of page id `pid` (its segment is created on first use).
    #[inline]
    fn id_slot(&self, pid: usize) -> &IdSlot {
        let seg = self.slots[pid >> SEG_BITS].get_or_init(|| {
            (0..SEG_LEN)
                .map(|_| IdSlot {
                    ptr: AtomicPtr::new(ptr::null_mut()),
                    len: AtomicUsize::new(0),
                    kind: AtomicU8::new(0),
                    meta: PageMeta {
                        free_head: AtomicU32::new(NIL),
                        free_count: AtomicU32::new(0),
                        carved: AtomicU32::new(0),
                        chunks: AtomicU32::new(0),
                        moving: AtomicBool::new(false),
                        skip_until: AtomicU64::new(0),
                        states: OnceLock::new(),
                    },
                })
                .collect()
        });
        &seg[pid & (SEG_LEN - 1)]
    }

    /// Milliseconds since this store started.
    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    pub(super) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Change the budget (`cache_memlimit`). A higher one takes effect at once; after a lower
    /// one nothing new is reserved while `used >= limit`, and the caller must give memory
    /// back (pages, large items) until `used <= limit`. `false` (nothing changed) below one
    /// page or above `MAX_LIMIT`.
    pub(super) fn set_limit(&self, bytes: usize) -> bool {
        if !(PAGE_SIZE..=MAX_LIMIT).contains(&bytes) {
            return false;
        }
        self.limit.store(bytes, Ordering::Relaxed);
        true
    }

    /// Bytes charged against the limit beyond it (0 when within it), side tables included.
    pub(super) fn over_limit(&self) -> usize {
        (self.used() + self.side_charged()).saturating_sub(self.limit())
    }

    /// Side tables grew by `n` bytes (see `side`; they never shrink). Growth past the limit
    /// is given back by the sweeper's release steps, page by page, as after a lowered
    /// limit.
    pub(super) fn charge_side(&self, n: usize) {
        self.side.fetch_add(n, Ordering::AcqRel);
    }

    /// Bytes the budget could still give (a new page fits if this is at least a page).
    #[cfg(test)]
    pub(in crate::store) fn room(&self) -> usize {
        self.limit()
            .saturating_sub(self.used() + self.side_charged())
    }

    /// Side-table bytes that count against the limit.
    fn side_charged(&self) -> usize {
        self.side
            .load(Ordering::Acquire)
            .saturating_sub(side_free(self.limit()))
    }

    /// Bytes charged against the limit (pages × 1 MiB + large bytes).
    pub(super) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes of large allocations.
    pub(super) fn large_bytes(&self) -> usize {
        self.large_bytes.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn slab_pages(&self) -> usize {
        self.slab_pages.load(Ordering::Relaxed)
    }

    /// Bytes of the slab pages of every class (starter pages are shorter), for tests.
    #[cfg(test)]
    pub(super) fn slab_bytes(&self) -> usize {
        self.classes
            .iter()
            .flat_map(|c| c.lock().pages.clone())
            .map(|p| self.id_slot(p as usize).len.load(Ordering::Acquire))
            .sum()
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        let slots = self.slots.iter().filter_map(|seg| seg.get()).flatten();
        for slot in slots {
            let base = slot.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
            if !base.is_null() {
                let len = slot.len.load(Ordering::Acquire);
                // SAFETY: every non-null entry is a `Box<[u8]>` of `len` bytes leaked by
                // `alloc`/`alloc_large` and not yet freed; `&mut self` proves no other user.
                unsafe { drop(Box::from_raw(ptr::slice_from_raw_parts_mut(base, len))) };
            }
        }
    }
}
