//! Item memory: 1 MiB slab pages carved into fixed-size chunks per size class, exactly sized
//! "large" allocations for items bigger than the biggest class, one global byte budget, and
//! the byte layout of an item inside its chunk.
//!
//! **This is the only file of the store that contains `unsafe`.** Everything else reaches
//! item bytes through the methods here.
//!
//! Owns: page and large allocations, the budget (`mem_limit`), per-class free lists, chunk
//! addressing (`Ref`), the item header layout.
//! Must not touch: the index, LRU order decisions, expiry rules (those live in `shard.rs` /
//! `engine.rs`; this file only stores the header fields they use).
//!
//! # Item layout (all integers little endian, unaligned reads/writes)
//!
//! ```text
//! offset size field
//!    0    4   lru_prev   Ref of the newer neighbour in its shard's class list (NIL = none)
//!    4    4   lru_next   Ref of the older neighbour                           (NIL = none)
//!    8    8   cas        global store sequence number (also the CAS unique; kept with -C)
//!   16    4   exptime    clock-relative seconds, 0 = never
//!   20    4   atime      clock-relative seconds of the last store/fetch/touch
//!   24    4   flags      client flags
//!   28    4   value_len
//!   32    1   key_len    (keys are at most 250 bytes)
//!   33    1   bits       FETCHED | REFERENCED | STALE | TOKEN_SENT | KEY_BINARY
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
//! `shard.rs`/`engine.rs` uphold this; slices handed out here borrow the caller's shard guard
//! (`&ShardCore`) so they cannot outlive the lock. Large allocations are freed only by their
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
//! (`engine.rs`) unlinks (or rescues) its linked items one shard lock at a time and waits a
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

use super::pins::Pins;
use super::shard::ShardCore;
use super::sizes::SizeHist;

/// Reference to a chunk: `page_id << IDX_BITS | chunk_index`.
pub(super) type Ref = u32;
/// "No item" in LRU links and free lists.
pub(super) const NIL: Ref = u32::MAX;
/// Slab page size.
pub(super) const PAGE_SIZE: usize = 1 << 20;
/// Bytes of item header before the key.
pub(super) const HEADER: usize = 34;
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

/// The item was fetched at least once (for `*_unfetched` stats).
pub(super) const BIT_FETCHED: u8 = 1;
/// CLOCK reference bit: set on fetch, cleared when the LRU tail gives a second chance.
pub(super) const BIT_REFERENCED: u8 = 2;
/// Meta commands: invalidated by `md I` (or stored stale by `ms I`).
pub(super) const BIT_STALE: u8 = 4;
/// Meta commands: a client already won the right to recache the item (`W` was sent).
pub(super) const BIT_TOKEN_SENT: u8 = 8;
/// Meta commands: the key was given base64-encoded (`b`) and is echoed that way.
pub(super) const BIT_KEY_BINARY: u8 = 16;

const O_PREV: usize = 0;
const O_NEXT: usize = 4;
const O_CAS: usize = 8;
const O_EXPTIME: usize = 16;
const O_ATIME: usize = 20;
const O_FLAGS: usize = 24;
const O_VLEN: usize = 28;
const O_KLEN: usize = 32;
const O_BITS: usize = 33;

/// Marker in `kinds` for a large allocation.
const KIND_LARGE: u8 = u8::MAX;

/// Chunk states in `PageMeta::states`; `ST_LINKED + s` = linked in shard `s`.
const ST_FREE: u8 = 0;
const ST_PRIVATE: u8 = 1;
const ST_LINKED: u8 = 2;
/// Shard ids must fit in a state byte.
pub(super) const MAX_SHARD_IDS: usize = (u8::MAX - ST_LINKED) as usize;

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// The size classes: immutable after construction.
pub(super) struct Geometry {
    sizes: Vec<usize>,
    per_page: Vec<usize>,
}

impl Geometry {
    /// memcached's progression: from `HEADER + min_chunk` (at least `MIN_CHUNK_SIZE`), each
    /// class `factor` times the previous (8-byte aligned), up to `chunk_max`, which is always
    /// the last class (memcached `-o slab_chunk_max`, default half a page).
    pub(super) fn new(min_chunk: usize, factor: f64, chunk_max: usize) -> Geometry {
        let max = clamp_chunk_max(chunk_max);
        let mut sizes = Vec::new();
        let mut size = align8((HEADER + min_chunk).max(MIN_CHUNK_SIZE));
        while sizes.len() < MAX_SLAB_CLASSES - 1 && size < max {
            sizes.push(size);
            let next = align8((size as f64 * factor) as usize);
            size = next.max(size + 8);
        }
        sizes.push(max);
        Geometry::from_sizes(sizes)
    }

    /// Explicit class sizes (memcached `-o slab_sizes`), each rounded up to 8 bytes, then
    /// `chunk_max` as the last class. Expects sizes accepted by `validate_slab_sizes`; any
    /// that are not (out of range, not increasing, too many) are skipped rather than trusted.
    pub(super) fn explicit(given: &[usize], chunk_max: usize) -> Geometry {
        let max = clamp_chunk_max(chunk_max);
        let mut sizes: Vec<usize> = Vec::new();
        for &s in given {
            let s = align8(s);
            let ok = (MIN_CHUNK_SIZE..max).contains(&s) && sizes.last().is_none_or(|&l| s > l);
            if ok && sizes.len() < MAX_SLAB_CLASSES - 1 {
                sizes.push(s);
            }
        }
        sizes.push(max);
        Geometry::from_sizes(sizes)
    }

    fn from_sizes(sizes: Vec<usize>) -> Geometry {
        let per_page = sizes.iter().map(|s| PAGE_SIZE / s).collect();
        Geometry { sizes, per_page }
    }

    /// Number of slab classes; the large class has this id.
    pub(super) fn n_slab(&self) -> usize {
        self.sizes.len()
    }

    /// The class id of the large class.
    pub(super) fn large(&self) -> usize {
        self.sizes.len()
    }

    /// Class for an item of `total` bytes (header included); `large()` when none fits.
    pub(super) fn class_for(&self, total: usize) -> usize {
        self.sizes.partition_point(|&s| s < total)
    }

    pub(super) fn chunk_size(&self, class: usize) -> usize {
        self.sizes[class]
    }

    pub(super) fn per_page(&self, class: usize) -> usize {
        self.per_page[class]
    }

    /// The largest chunk size (`-o slab_chunk_max`); bigger items are large allocations.
    pub(super) fn chunk_max(&self) -> usize {
        self.sizes.last().copied().unwrap_or(PAGE_SIZE / 2)
    }
}

/// Keep an unvalidated `slab_chunk_max` usable (config validates it first).
fn clamp_chunk_max(n: usize) -> usize {
    n.clamp(MIN_CHUNK_SIZE, PAGE_SIZE)
}

/// memcached's checks of `-o slab_chunk_max` (bytes): at most the page size, dividing it
/// evenly, and at least our smallest possible chunk (`MIN_CHUNK_SIZE`, 64 bytes).
pub fn validate_slab_chunk_max(n: usize) -> Result<(), String> {
    if n > PAGE_SIZE {
        return Err("slab_chunk_max cannot be larger than slab_page_size".into());
    }
    if n < MIN_CHUNK_SIZE {
        return Err(format!(
            "slab_chunk_max cannot be smaller than {MIN_CHUNK_SIZE} (the smallest chunk)"
        ));
    }
    if !PAGE_SIZE.is_multiple_of(n) {
        return Err(format!(
            "slab_chunk_max must divide evenly into {PAGE_SIZE} (slab_page_size)"
        ));
    }
    Ok(())
}

/// memcached's checks of `-o slab_sizes` (`_parse_slab_sizes`): every size between the
/// smallest chunk (`-n`, and at least 64 bytes here) and `slab_chunk_max`, each more than 8
/// bytes above the previous, fewer than 63 classes in all (`slab_chunk_max` is added as the
/// last class).
pub fn validate_slab_sizes(
    sizes: &[usize],
    min_chunk: usize,
    chunk_max: usize,
) -> Result<(), String> {
    if sizes.is_empty() {
        return Err("slab_sizes needs at least one size".into());
    }
    let low = min_chunk.max(MIN_CHUNK_SIZE);
    let mut last = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size < low || size > chunk_max {
            return Err(format!("slab size {size} is out of valid range"));
        }
        if last >= size {
            return Err(format!(
                "slab size {size} cannot be lower than or equal to a previous class size"
            ));
        }
        if size <= last + 8 {
            return Err(format!(
                "slab size {size} must be at least 8 bytes larger than previous class"
            ));
        }
        if i >= MAX_SLAB_CLASSES - 1 {
            return Err("too many slab classes specified".into());
        }
        last = size;
    }
    Ok(())
}

/// Parse and validate memcached's `-o slab_sizes=96-120-200` value (see `validate_slab_sizes`).
pub fn parse_slab_sizes(s: &str, min_chunk: usize, chunk_max: usize) -> Result<Vec<usize>, String> {
    let sizes = s
        .split('-')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("slab size {p} is out of valid range"))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    validate_slab_sizes(&sizes, min_chunk, chunk_max)?;
    Ok(sizes)
}

/// A class allocator: its pages and the pages that have a free chunk. Guarded by
/// `Mem::classes[c]`, which also guards the `PageMeta` free-list fields of its pages.
struct ClassAlloc {
    /// Every page of the class (including one being moved out).
    pages: Vec<u32>,
    /// Pages with at least one free (listed or uncarved) chunk and not being moved.
    partial: Vec<u32>,
    /// Free chunks over all pages of the class.
    avail: usize,
}

/// Per page id: the page's own free list and carving point (guarded by the mutex of the
/// page's class; atomics only so that no `unsafe` is needed) and its chunk state table.
struct PageMeta {
    /// Chunk index of the first free chunk (`NIL` = none); links are chunk indexes too.
    free_head: AtomicU32,
    free_count: AtomicU32,
    /// Chunks handed out at least once since the page got its class; the rest are uncarved.
    carved: AtomicU32,
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
    /// Drop its memory; its `PAGE_SIZE` bytes of budget stay reserved for the caller, who
    /// passes them to `alloc_large_held` or gives them back with `unreserve_held`.
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
    pub pages: usize,
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
    /// Allocation length (PAGE_SIZE or the large item's size).
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
    /// Bytes charged to the budget: slab pages × PAGE_SIZE + large allocation sizes. May
    /// exceed `limit` only after the limit was lowered, until the store gives memory back.
    used: AtomicUsize,
    large_bytes: AtomicUsize,
    /// Slab pages allocated (counted after their budget is reserved, uncounted before it is
    /// given back, so `slab_pages × PAGE_SIZE + large_bytes <= used` at every instant).
    slab_pages: AtomicUsize,
    /// Per page id, in segments of `SEG_LEN` allocated the first time one of their ids is
    /// used (so the limit can be raised at runtime without a table sized for the largest).
    slots: Box<[OnceLock<Box<[IdSlot]>>]>,
    ids: Mutex<IdPool>,
    classes: Box<[Mutex<ClassAlloc>]>,
    outofmemory: Box<[AtomicU64]>,
    /// Item size histogram (`stats sizes`), maintained by the shards.
    pub(super) sizes: SizeHist,
    /// Chunks whose value a reply sends from item memory (`pins.rs`).
    pins: Pins,
    /// Time base of `PageMeta::skip_until`.
    born: std::time::Instant,
    /// Bytes of side tables: the shards' indexes (grown beyond their initial size) and the
    /// chunk state tables. Beyond `SIDE_FREE` they count against the limit (`charge_side`).
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

/// Side-table bytes that do not count against the limit, so that tiny limits (`-m 1`)
/// keep their pages: at `-m 64` the RSS stays within the limit plus the process' own few
/// MiB plus this.
const SIDE_FREE: usize = 1 << 20;

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
                    })
                })
                .collect(),
            outofmemory: (0..n_classes).map(|_| AtomicU64::new(0)).collect(),
            sizes: SizeHist::new(item_size_max),
            pins: Pins::new(),
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

    /// Side-table bytes that count against the limit.
    fn side_charged(&self) -> usize {
        self.side.load(Ordering::Acquire).saturating_sub(SIDE_FREE)
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

    fn reserve(&self, n: usize) -> bool {
        let side = self.side_charged();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                u.checked_add(n + side).filter(|&t| t <= self.limit())?;
                Some(u + n)
            })
            .is_ok()
    }

    fn unreserve(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// A private chunk of slab class `class` (< `geo.n_slab()`), from a page with a free
    /// chunk, or a new page if the budget allows. `None` when the budget is exhausted.
    pub(super) fn alloc(&self, class: usize) -> Option<Ref> {
        let mut c = self.classes[class].lock();
        if let Some(r) = self.take_chunk(class, &mut c) {
            return Some(r);
        }
        if !self.reserve(PAGE_SIZE) {
            return None;
        }
        let Some(pid) = self.ids.lock().take() else {
            self.unreserve(PAGE_SIZE);
            return None;
        };
        // Zeroed so the OS can hand out untouched pages lazily (calloc / mmap).
        let page: Box<[u8]> = vec![0u8; PAGE_SIZE].into_boxed_slice();
        let base = Box::into_raw(page).cast::<u8>();
        let i = pid as usize;
        self.id_slot(i).kind.store(class as u8, Ordering::Release);
        self.id_slot(i).len.store(PAGE_SIZE, Ordering::Release);
        self.id_slot(i).ptr.store(base, Ordering::Release);
        self.slab_pages.fetch_add(1, Ordering::Relaxed);
        self.add_page(class, &mut c, pid, true)
    }

    /// A private chunk of `class` from its existing pages only (never a new page, never a
    /// page being moved): where the mover rescues live items.
    pub(super) fn alloc_spare(&self, class: usize) -> Option<Ref> {
        let mut c = self.classes[class].lock();
        self.take_chunk(class, &mut c)
    }

    fn page_avail(&self, class: usize, m: &PageMeta) -> usize {
        let carved = m.carved.load(Ordering::Relaxed) as usize;
        m.free_count.load(Ordering::Relaxed) as usize + self.geo.per_page(class) - carved
    }

    fn states(&self, pid: u32) -> &[AtomicU8] {
        self.id_slot(pid as usize).meta.states.get_or_init(|| {
            let n = self.geo.per_page(0);
            self.charge_side(n);
            (0..n).map(|_| AtomicU8::new(ST_FREE)).collect()
        })
    }

    /// The state byte of slab chunk `r`, `None` for a large allocation.
    fn state(&self, r: Ref) -> Option<&AtomicU8> {
        let pid = (r >> IDX_BITS) as usize;
        if self.id_slot(pid).kind.load(Ordering::Acquire) == KIND_LARGE {
            return None;
        }
        let states = self.id_slot(pid).meta.states.get()?;
        Some(&states[(r & IDX_MASK) as usize])
    }

    /// Take a free chunk from the newest page with one. Caller holds `classes[class]`.
    fn take_chunk(&self, class: usize, c: &mut ClassAlloc) -> Option<Ref> {
        let &pid = c.partial.last()?;
        let m = &self.id_slot(pid as usize).meta;
        let head = m.free_head.load(Ordering::Relaxed);
        let idx = if head != NIL {
            let r = (pid << IDX_BITS) | head;
            // The free-list link lives in the first 4 bytes of a free chunk, owned by this
            // class mutex which we hold.
            m.free_head.store(self.rd_u32(r, 0), Ordering::Relaxed);
            m.free_count.fetch_sub(1, Ordering::Relaxed);
            head
        } else {
            let n = m.carved.load(Ordering::Relaxed);
            debug_assert!((n as usize) < self.geo.per_page(class));
            m.carved.store(n + 1, Ordering::Relaxed);
            n
        };
        if self.page_avail(class, m) == 0 {
            c.partial.pop();
        }
        c.avail -= 1;
        self.states(pid)[idx as usize].store(ST_PRIVATE, Ordering::Release);
        Some((pid << IDX_BITS) | idx)
    }

    /// Give page `pid` (memory installed, `kinds` already `class`, no chunk in use) to
    /// `class`; with `take_first` its first chunk is returned, private to the caller.
    fn add_page(
        &self,
        class: usize,
        c: &mut ClassAlloc,
        pid: u32,
        take_first: bool,
    ) -> Option<Ref> {
        let m = &self.id_slot(pid as usize).meta;
        let states = self.states(pid);
        m.free_head.store(NIL, Ordering::Relaxed);
        m.free_count.store(0, Ordering::Relaxed);
        m.carved.store(take_first as u32, Ordering::Relaxed);
        m.moving.store(false, Ordering::Relaxed);
        c.pages.push(pid);
        let avail = self.page_avail(class, m);
        c.avail += avail;
        if avail > 0 {
            c.partial.push(pid);
        }
        take_first.then(|| {
            states[0].store(ST_PRIVATE, Ordering::Release);
            pid << IDX_BITS
        })
    }

    /// A private, exactly sized allocation of `total` bytes for a large item.
    #[cfg(test)]
    pub(super) fn alloc_large(&self, total: usize) -> Option<Ref> {
        self.alloc_large_held(total, &mut 0)
    }

    /// `alloc_large`, counting `*held` bytes the caller already reserved (from released
    /// pages) towards the allocation. On success `*held` is consumed (any excess given back);
    /// on failure it is left to the caller.
    pub(super) fn alloc_large_held(&self, total: usize, held: &mut usize) -> Option<Ref> {
        if *held < total && !self.reserve(total - *held) {
            return None;
        }
        if *held > total {
            self.unreserve(*held - total);
        }
        *held = 0;
        let Some(pid) = self.ids.lock().take() else {
            self.unreserve(total);
            return None;
        };
        let buf: Box<[u8]> = vec![0u8; total].into_boxed_slice();
        let base = Box::into_raw(buf).cast::<u8>();
        let i = pid as usize;
        self.id_slot(i).kind.store(KIND_LARGE, Ordering::Release);
        self.id_slot(i).len.store(total, Ordering::Release);
        self.id_slot(i).ptr.store(base, Ordering::Release);
        self.large_bytes.fetch_add(total, Ordering::Relaxed);
        Some(pid << IDX_BITS)
    }

    /// Give back budget reserved by `finish_move(.., Release)` and not used.
    pub(super) fn unreserve_held(&self, n: usize) {
        if n > 0 {
            self.unreserve(n);
        }
    }

    /// Give a private chunk back: onto its page's free list, or to the system for a large one.
    /// A chunk still pinned by a reply (unlinked while pinned) is freed by its last unpin
    /// instead; until then it stays private, so the page mover waits for it.
    pub(super) fn free(&self, r: Ref) {
        if !self.pins.defer_free(r) {
            self.free_now(r);
        }
    }

    /// Pin linked chunk `r` (the caller holds its shard lock) for a reply that sends its
    /// value from item memory: until `unpin`, its value bytes neither change nor move and
    /// its memory is not reused. Returns the value's address and length.
    pub(super) fn pin(&self, r: Ref) -> (*const u8, usize) {
        let (p, klen, vlen) = self.body(r);
        self.pins.pin(r);
        // SAFETY: `HEADER + klen + vlen <= cap` was checked in `body`, so the offset stays
        // inside the chunk.
        (unsafe { p.add(HEADER + klen) }.cast_const(), vlen)
    }

    /// Drop one pin of `r`; the last pin of a chunk freed meanwhile frees it.
    pub(super) fn unpin(&self, r: Ref) {
        if self.pins.unpin(r) {
            self.free_now(r);
        }
    }

    /// Is chunk `r` pinned by a reply? (Stable against new pins while the caller holds the
    /// shard lock of linked `r`.)
    pub(super) fn is_pinned(&self, r: Ref) -> bool {
        self.pins.is_pinned(r)
    }

    /// Pins outstanding.
    pub(super) fn pinned(&self) -> usize {
        self.pins.total()
    }

    fn free_now(&self, r: Ref) {
        let pid = (r >> IDX_BITS) as usize;
        let kind = self.id_slot(pid).kind.load(Ordering::Acquire);
        if kind == KIND_LARGE {
            let base = self
                .id_slot(pid)
                .ptr
                .swap(ptr::null_mut(), Ordering::AcqRel);
            let len = self.id_slot(pid).len.swap(0, Ordering::AcqRel);
            assert!(!base.is_null(), "double free of large item {r:#x}");
            // SAFETY: `base`/`len` came from `Box::into_raw` of a `Box<[u8]>` of exactly `len`
            // bytes in `alloc_large_held`; the caller owns the chunk privately (nobody else
            // holds a reference to it) and we just removed the pointer from the table, so it is
            // reconstructed and dropped exactly once.
            unsafe { drop(Box::from_raw(ptr::slice_from_raw_parts_mut(base, len))) };
            self.large_bytes.fetch_sub(len, Ordering::Relaxed);
            self.unreserve(len);
            self.ids.lock().free.push(pid as u32);
        } else {
            // The caller owns `r`, so its page cannot change class before we lock.
            let class = kind as usize;
            let mut c = self.classes[class].lock();
            let m = &self.id_slot(pid).meta;
            let idx = r & IDX_MASK;
            let prev = self.states(pid as u32)[idx as usize].swap(ST_FREE, Ordering::Release);
            assert_eq!(
                prev, ST_PRIVATE,
                "free of a chunk that is not private {r:#x}"
            );
            self.wr_u32(r, 0, m.free_head.load(Ordering::Relaxed));
            m.free_head.store(idx, Ordering::Relaxed);
            m.free_count.fetch_add(1, Ordering::Relaxed);
            clear_skip(m);
            c.avail += 1;
            if !m.moving.load(Ordering::Relaxed) && self.page_avail(class, m) == 1 {
                c.partial.push(pid as u32);
            }
        }
    }

    /// Record that private chunk `r` is now linked in shard `shard` (caller holds that shard's
    /// mutex). No-op for large allocations.
    pub(super) fn set_linked(&self, r: Ref, shard: usize) {
        debug_assert!(shard < MAX_SHARD_IDS);
        clear_skip(&self.id_slot((r >> IDX_BITS) as usize).meta);
        if let Some(st) = self.state(r) {
            let v = ST_LINKED + shard as u8;
            if cfg!(debug_assertions) {
                let prev = st.swap(v, Ordering::Release);
                assert_eq!(prev, ST_PRIVATE, "link of a non-private chunk {r:#x}");
            } else {
                st.store(v, Ordering::Release);
            }
        }
    }

    /// Record that linked chunk `r` was unlinked and is now private (caller holds its shard).
    pub(super) fn set_unlinked(&self, r: Ref) {
        if let Some(st) = self.state(r) {
            if cfg!(debug_assertions) {
                let prev = st.swap(ST_PRIVATE, Ordering::Release);
                assert!(prev >= ST_LINKED, "unlink of a non-linked chunk {r:#x}");
            } else {
                st.store(ST_PRIVATE, Ordering::Release);
            }
        }
    }

    /// The shard chunk `r` is linked in, if any. Only stable while holding that shard's mutex
    /// (moves in and out of "linked in s" happen under it).
    pub(super) fn linked_shard(&self, r: Ref) -> Option<usize> {
        let s = self.state(r)?.load(Ordering::Acquire);
        (s >= ST_LINKED).then(|| (s - ST_LINKED) as usize)
    }

    /// Is slab chunk `r`'s page being moved? (A hint: read without the class mutex.)
    pub(super) fn is_moving(&self, r: Ref) -> bool {
        let pid = (r >> IDX_BITS) as usize;
        self.id_slot(pid).kind.load(Ordering::Acquire) != KIND_LARGE
            && self.id_slot(pid).meta.moving.load(Ordering::Relaxed)
    }

    /// The page of `class` with the fewest chunks in use (not already moving, nor skipped
    /// after a move that gave up), with the class' page count.
    pub(super) fn pick_page(&self, class: usize) -> Option<PagePick> {
        let c = self.classes[class].lock();
        let per = self.geo.per_page(class);
        let now = self.now_ms();
        c.pages
            .iter()
            .filter(|&&p| {
                let m = &self.id_slot(p as usize).meta;
                !m.moving.load(Ordering::Relaxed) && m.skip_until.load(Ordering::Relaxed) <= now
            })
            .map(|&p| {
                (
                    per - self.page_avail(class, &self.id_slot(p as usize).meta),
                    p,
                )
            })
            .min()
            .map(|(in_use, pid)| PagePick {
                pid,
                in_use,
                pages: c.pages.len(),
            })
    }

    /// Start moving page `pid` out of `class`: from now on no chunk of it is handed out.
    /// `false` if the page is not (or no longer) a page of `class`, or already moving.
    pub(super) fn begin_move(&self, class: usize, pid: u32) -> bool {
        let mut c = self.classes[class].lock();
        let m = &self.id_slot(pid as usize).meta;
        if !c.pages.contains(&pid) || m.moving.load(Ordering::Relaxed) {
            return false;
        }
        m.moving.store(true, Ordering::Relaxed);
        if let Some(i) = c.partial.iter().position(|&p| p == pid) {
            c.partial.swap_remove(i);
        }
        true
    }

    /// Give up moving page `pid` of `class`: it serves allocations again, and `pick_page`
    /// passes it over for `SKIP_BUSY_MS` (its items are gone, so it would look like the best
    /// victim again while the chunk that stopped the move is still held).
    pub(super) fn cancel_move(&self, class: usize, pid: u32) {
        let mut c = self.classes[class].lock();
        let m = &self.id_slot(pid as usize).meta;
        debug_assert!(m.moving.load(Ordering::Relaxed));
        m.moving.store(false, Ordering::Relaxed);
        m.skip_until
            .store(self.now_ms() + SKIP_BUSY_MS, Ordering::Relaxed);
        if self.page_avail(class, m) > 0 {
            c.partial.push(pid);
        }
    }

    /// Collect the chunks of moving page `pid` (of `class`) that are linked, as
    /// `(shard, ref)`, into `linked`; return how many are private (in flight). Reads only the
    /// state table, without locks: linked entries must be re-checked under their shard lock.
    pub(super) fn scan_page(
        &self,
        class: usize,
        pid: u32,
        linked: &mut Vec<(usize, Ref)>,
    ) -> usize {
        let mut private = 0;
        let states = self.states(pid);
        // `carved` cannot grow while the page is moving (no chunk of it is handed out), and
        // its last change happened under the class mutex before our `begin_move` took it.
        let carved = self
            .id_slot(pid as usize)
            .meta
            .carved
            .load(Ordering::Relaxed) as usize;
        debug_assert!(carved <= self.geo.per_page(class));
        for (idx, st) in states[..carved].iter().enumerate() {
            match st.load(Ordering::Acquire) {
                ST_FREE => {}
                ST_PRIVATE => private += 1,
                s => linked.push(((s - ST_LINKED) as usize, (pid << IDX_BITS) | idx as u32)),
            }
        }
        private
    }

    /// Finish moving page `pid` out of `class` to `dest`, if every chunk of it is free.
    /// `Err(())`: some chunk is still in use (the page stays moving). `Ok(Some(r))` for
    /// `MoveDest::Class(_, true)`: the first chunk of the re-carved page, private.
    pub(super) fn finish_move(
        &self,
        class: usize,
        pid: u32,
        dest: MoveDest,
    ) -> Result<Option<Ref>, ()> {
        let i = pid as usize;
        let m = &self.id_slot(i).meta;
        {
            let mut c = self.classes[class].lock();
            debug_assert!(m.moving.load(Ordering::Relaxed));
            let carved = m.carved.load(Ordering::Relaxed);
            if m.free_count.load(Ordering::Relaxed) != carved {
                return Err(());
            }
            debug_assert!(
                self.states(pid)[..carved as usize]
                    .iter()
                    .all(|s| s.load(Ordering::Relaxed) == ST_FREE)
            );
            let Some(at) = c.pages.iter().position(|&p| p == pid) else {
                return Err(());
            };
            c.pages.swap_remove(at);
            c.avail -= self.page_avail(class, m);
            m.free_head.store(NIL, Ordering::Relaxed);
            m.free_count.store(0, Ordering::Relaxed);
            m.carved.store(0, Ordering::Relaxed);
        }
        // From here the page belongs to no class and no chunk of it is owned by anyone: it
        // is off every partial list and all its carved chunks were free.
        match dest {
            MoveDest::Class(to, take_first) => {
                self.id_slot(i).kind.store(to as u8, Ordering::Release);
                let mut c = self.classes[to].lock();
                Ok(self.add_page(to, &mut c, pid, take_first))
            }
            MoveDest::Release => {
                let base = self.id_slot(i).ptr.swap(ptr::null_mut(), Ordering::AcqRel);
                let len = self.id_slot(i).len.swap(0, Ordering::AcqRel);
                assert!(
                    !base.is_null() && len == PAGE_SIZE,
                    "release of a missing page"
                );
                // SAFETY: `base` came from `Box::into_raw` of a `Box<[u8]>` of `PAGE_SIZE`
                // bytes in `alloc`. No thread owns a chunk of this page (all carved chunks were
                // on its free list, checked under the class mutex, and the page was off the
                // partial list so none could be handed out since), so nothing points into it;
                // we removed the pointer from the table, so it is dropped exactly once.
                unsafe { drop(Box::from_raw(ptr::slice_from_raw_parts_mut(base, len))) };
                self.slab_pages.fetch_sub(1, Ordering::Relaxed);
                m.moving.store(false, Ordering::Relaxed);
                self.ids.lock().free.push(pid);
                Ok(None)
            }
        }
    }

    /// Copy linked item `from` (caller holds its shard mutex) into private chunk `to` of the
    /// same class, header included.
    pub(super) fn copy_item(&self, from: Ref, to: Ref) {
        assert_ne!(from, to);
        let (src, klen, vlen) = self.body(from);
        let (dst, cap) = self.chunk(to);
        let n = HEADER + klen + vlen;
        assert!(n <= cap, "item does not fit its rescue chunk");
        // SAFETY: `[src, src + n)` is inside chunk `from` (checked in `body`) and
        // `[dst, dst + n)` inside chunk `to` (checked above). The caller holds `from`'s shard
        // mutex (nobody writes it) and owns `to` privately (nobody reads or writes it);
        // distinct chunks never overlap.
        unsafe { ptr::copy_nonoverlapping(src, dst, n) };
    }

    /// Count an allocation that failed for good.
    pub(super) fn count_oom(&self, class: usize) {
        self.outofmemory[class].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn reset_oom(&self) {
        for o in self.outofmemory.iter() {
            o.store(0, Ordering::Relaxed);
        }
    }

    pub(super) fn class_mem(&self, class: usize) -> ClassMem {
        let outofmemory = self.outofmemory[class].load(Ordering::Relaxed);
        if class >= self.geo.n_slab() {
            return ClassMem {
                outofmemory,
                ..ClassMem::default()
            };
        }
        let c = self.classes[class].lock();
        ClassMem {
            pages: c.pages.len(),
            free_chunks: c.avail,
            outofmemory,
        }
    }

    /// Class id of the chunk `r` (the large class for large allocations).
    pub(super) fn class_of(&self, r: Ref) -> usize {
        let kind = self
            .id_slot((r >> IDX_BITS) as usize)
            .kind
            .load(Ordering::Acquire);
        if kind == KIND_LARGE {
            self.geo.large()
        } else {
            kind as usize
        }
    }

    /// Start of chunk `r` and its capacity in bytes.
    #[inline]
    fn chunk(&self, r: Ref) -> (*mut u8, usize) {
        let pid = (r >> IDX_BITS) as usize;
        let idx = (r & IDX_MASK) as usize;
        let base = self.id_slot(pid).ptr.load(Ordering::Acquire);
        assert!(!base.is_null(), "dangling item reference {r:#x}");
        let kind = self.id_slot(pid).kind.load(Ordering::Acquire);
        if kind == KIND_LARGE {
            return (base, self.id_slot(pid).len.load(Ordering::Acquire));
        }
        let size = self.geo.chunk_size(kind as usize);
        assert!((idx + 1) * size <= PAGE_SIZE, "chunk index out of page");
        // SAFETY: `base` points to a live PAGE_SIZE allocation (a page is only freed by
        // `finish_move` when no chunk of it is owned, and the caller owns chunk `r`) and
        // `idx * size + size <= PAGE_SIZE` was just checked, so the offset stays inside it.
        (unsafe { base.add(idx * size) }, size)
    }

    #[inline]
    fn rd_u32(&self, r: Ref, off: usize) -> u32 {
        let (p, cap) = self.chunk(r);
        assert!(off + 4 <= cap);
        // SAFETY: in bounds (checked); the caller owns chunk `r` per the ownership protocol
        // (module docs), so no other thread writes these bytes concurrently.
        unsafe { p.add(off).cast::<u32>().read_unaligned() }
    }

    #[inline]
    fn wr_u32(&self, r: Ref, off: usize, v: u32) {
        let (p, cap) = self.chunk(r);
        assert!(off + 4 <= cap);
        // SAFETY: as in `rd_u32`; no shared slice into these header bytes is ever handed out.
        unsafe { p.add(off).cast::<u32>().write_unaligned(v) }
    }

    #[inline]
    fn rd_u8(&self, r: Ref, off: usize) -> u8 {
        let (p, cap) = self.chunk(r);
        assert!(off < cap);
        // SAFETY: as in `rd_u32`.
        unsafe { p.add(off).read() }
    }

    #[inline]
    fn wr_u8(&self, r: Ref, off: usize, v: u8) {
        let (p, cap) = self.chunk(r);
        assert!(off < cap);
        // SAFETY: as in `wr_u32`.
        unsafe { p.add(off).write(v) }
    }

    pub(super) fn prev(&self, r: Ref) -> Ref {
        self.rd_u32(r, O_PREV)
    }
    pub(super) fn set_prev(&self, r: Ref, v: Ref) {
        self.wr_u32(r, O_PREV, v)
    }
    pub(super) fn next(&self, r: Ref) -> Ref {
        self.rd_u32(r, O_NEXT)
    }
    pub(super) fn set_next(&self, r: Ref, v: Ref) {
        self.wr_u32(r, O_NEXT, v)
    }
    pub(super) fn cas(&self, r: Ref) -> u64 {
        let (p, cap) = self.chunk(r);
        assert!(O_CAS + 8 <= cap);
        // SAFETY: as in `rd_u32`.
        unsafe { p.add(O_CAS).cast::<u64>().read_unaligned() }
    }
    pub(super) fn set_cas(&self, r: Ref, v: u64) {
        let (p, cap) = self.chunk(r);
        assert!(O_CAS + 8 <= cap);
        // SAFETY: as in `wr_u32`.
        unsafe { p.add(O_CAS).cast::<u64>().write_unaligned(v) }
    }
    pub(super) fn exptime(&self, r: Ref) -> u32 {
        self.rd_u32(r, O_EXPTIME)
    }
    pub(super) fn set_exptime(&self, r: Ref, v: u32) {
        self.wr_u32(r, O_EXPTIME, v)
    }
    pub(super) fn atime(&self, r: Ref) -> u32 {
        self.rd_u32(r, O_ATIME)
    }
    pub(super) fn set_atime(&self, r: Ref, v: u32) {
        self.wr_u32(r, O_ATIME, v)
    }
    pub(super) fn flags(&self, r: Ref) -> u32 {
        self.rd_u32(r, O_FLAGS)
    }
    pub(super) fn value_len(&self, r: Ref) -> usize {
        self.rd_u32(r, O_VLEN) as usize
    }
    pub(super) fn key_len(&self, r: Ref) -> usize {
        self.rd_u8(r, O_KLEN) as usize
    }
    pub(super) fn bits(&self, r: Ref) -> u8 {
        self.rd_u8(r, O_BITS)
    }
    pub(super) fn set_bits(&self, r: Ref, v: u8) {
        self.wr_u8(r, O_BITS, v)
    }

    /// Header + key + value: the item's size as counted in `bytes`.
    pub(super) fn item_size(&self, r: Ref) -> usize {
        HEADER + self.key_len(r) + self.value_len(r)
    }

    /// Bounds of key and value of item `r`, checked against its chunk.
    #[inline]
    fn body(&self, r: Ref) -> (*mut u8, usize, usize) {
        let (p, cap) = self.chunk(r);
        assert!(HEADER <= cap);
        // SAFETY: header bytes are in bounds (checked) and owned by the caller.
        let klen = unsafe { p.add(O_KLEN).read() } as usize;
        // SAFETY: as above.
        let vlen = unsafe { p.add(O_VLEN).cast::<u32>().read_unaligned() } as usize;
        assert!(HEADER + klen + vlen <= cap, "corrupt item header {r:#x}");
        (p, klen, vlen)
    }

    /// The key of linked item `r`, borrowed for as long as the caller's shard guard.
    pub(super) fn key<'g>(&'g self, r: Ref, _guard: &'g ShardCore) -> &'g [u8] {
        let (p, klen, _) = self.body(r);
        // SAFETY: in bounds (checked in `body`). `r` is linked in the shard whose guard the
        // caller lends us, so nobody writes these bytes until that guard is released, and the
        // returned lifetime cannot exceed the guard borrow.
        unsafe { std::slice::from_raw_parts(p.add(HEADER), klen) }
    }

    /// The value of linked item `r`, borrowed for as long as the caller's shard guard.
    pub(super) fn value<'g>(&'g self, r: Ref, _guard: &'g ShardCore) -> &'g [u8] {
        let (p, klen, vlen) = self.body(r);
        // SAFETY: as in `key`.
        unsafe { std::slice::from_raw_parts(p.add(HEADER + klen), vlen) }
    }

    /// Does item `r` (owned by the caller) have key `key`?
    pub(super) fn key_eq(&self, r: Ref, key: &[u8]) -> bool {
        let (p, klen, _) = self.body(r);
        if klen != key.len() {
            return false;
        }
        // SAFETY: in bounds (checked in `body`); the caller owns `r` and the slice does not
        // escape this function.
        let k = unsafe { std::slice::from_raw_parts(p.add(HEADER), klen) };
        k == key
    }

    /// Initialise private chunk `r` as an unlinked item whose value is the concatenation of
    /// `parts`. `cas` is left 0 (set when linking) and the LRU links NIL.
    pub(super) fn write_item(
        &self,
        r: Ref,
        key: &[u8],
        flags: u32,
        exptime: u32,
        atime: u32,
        parts: &[&[u8]],
    ) {
        let vlen: usize = parts.iter().map(|p| p.len()).sum();
        self.write_header(r, key, flags, exptime, atime, vlen);
        let (p, _) = self.chunk(r);
        let mut off = HEADER + key.len();
        for src in parts {
            // SAFETY: `off + src.len() <= HEADER + key.len() + vlen <= cap` (checked in
            // `write_header`), so the destination is inside chunk `r`, which the caller owns
            // privately. `src` may point into another chunk (append copies the old value) but
            // never into `r` (callers never hold a slice of a private chunk); `ptr::copy`
            // tolerates overlap anyway.
            unsafe { ptr::copy(src.as_ptr(), p.add(off), src.len()) };
            off += src.len();
        }
    }

    /// Initialise private chunk `r` as an unlinked item with key `key` and a value of `vlen`
    /// bytes, leaving the value bytes as they are (written by `write_item`, or read into
    /// the chunk through `value_ptr` while a storage command's data arrives). `cas` is left
    /// 0 (set when linking) and the LRU links NIL.
    pub(super) fn write_header(
        &self,
        r: Ref,
        key: &[u8],
        flags: u32,
        exptime: u32,
        atime: u32,
        vlen: usize,
    ) {
        let (p, cap) = self.chunk(r);
        assert!(key.len() <= u8::MAX as usize && vlen <= u32::MAX as usize);
        assert!(
            HEADER + key.len() + vlen <= cap,
            "item does not fit its chunk"
        );
        self.set_prev(r, NIL);
        self.set_next(r, NIL);
        self.set_cas(r, 0);
        self.set_exptime(r, exptime);
        self.set_atime(r, atime);
        self.wr_u32(r, O_FLAGS, flags);
        self.wr_u32(r, O_VLEN, vlen as u32);
        self.wr_u8(r, O_KLEN, key.len() as u8);
        self.wr_u8(r, O_BITS, 0);
        // SAFETY: `HEADER + key.len() <= cap` (checked above): inside chunk `r`, which the
        // caller owns privately; `key` is never a slice of `r` itself.
        unsafe { ptr::copy(key.as_ptr(), p.add(HEADER), key.len()) };
    }

    /// Address and length of the value of private item `r` (header written), for the owner
    /// to fill.
    pub(super) fn value_ptr(&self, r: Ref) -> (*mut u8, usize) {
        let (p, klen, vlen) = self.body(r);
        // SAFETY: `HEADER + klen + vlen <= cap` (checked in `body`): inside the chunk.
        (unsafe { p.add(HEADER + klen) }, vlen)
    }

    /// Overwrite the value of item `r` in place with `digits` padded with spaces to the old
    /// length (memcached's in-place incr/decr). `digits` must not be longer than the value,
    /// and `r` must not be pinned (a reply may be sending the value from item memory).
    pub(super) fn overwrite_value_padded(&self, r: Ref, digits: &[u8]) {
        debug_assert!(!self.is_pinned(r), "in-place rewrite of a pinned value");
        let (p, klen, vlen) = self.body(r);
        assert!(digits.len() <= vlen);
        // SAFETY: the value region `[HEADER + klen, HEADER + klen + vlen)` is inside the chunk
        // (checked in `body`); the caller owns `r` (holds its shard lock) and holds no slice
        // into it while calling.
        unsafe {
            let v = p.add(HEADER + klen);
            ptr::copy_nonoverlapping(digits.as_ptr(), v, digits.len());
            ptr::write_bytes(v.add(digits.len()), b' ', vlen - digits.len());
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn geometry_classes_grow_and_end_at_half_page() {
        let g = Geometry::new(48, 1.25, PAGE_SIZE / 2);
        assert_eq!(g.chunk_size(0), 88);
        for c in 1..g.n_slab() {
            assert!(g.chunk_size(c) > g.chunk_size(c - 1));
            assert_eq!(g.chunk_size(c) % 8, 0);
        }
        assert_eq!(g.chunk_size(g.n_slab() - 1), PAGE_SIZE / 2);
        assert_eq!(g.class_for(1), 0);
        assert_eq!(g.class_for(88), 0);
        assert_eq!(g.class_for(89), 1);
        assert_eq!(g.class_for(PAGE_SIZE / 2 + 1), g.large());
        // Tiny factor: capped at MAX_SLAB_CLASSES.
        let g = Geometry::new(1, 1.0001, PAGE_SIZE / 2);
        assert_eq!(g.n_slab(), MAX_SLAB_CLASSES);
        assert_eq!(g.chunk_size(0), MIN_CHUNK_SIZE);
    }

    #[test]
    fn geometry_chunk_max_and_explicit_sizes() {
        let g = Geometry::new(48, 1.25, 16 * 1024);
        assert_eq!(g.chunk_max(), 16 * 1024);
        assert_eq!(g.chunk_size(g.n_slab() - 1), 16 * 1024);
        assert!(g.chunk_size(g.n_slab() - 2) < 16 * 1024);
        assert_eq!(g.class_for(16 * 1024 + 1), g.large());
        let g = Geometry::new(48, 1.25, PAGE_SIZE);
        assert_eq!((g.chunk_max(), g.per_page(g.n_slab() - 1)), (PAGE_SIZE, 1));
        // A chunk max below the first class: one class.
        let g = Geometry::new(48, 1.25, 64);
        assert_eq!((g.n_slab(), g.chunk_size(0)), (1, 64));
        // Explicit sizes: aligned to 8, chunk max appended; bad entries skipped.
        let g = Geometry::explicit(&[96, 121, 200, 150, 10], 4096);
        assert_eq!(g.sizes, vec![96, 128, 200, 4096]);
        assert_eq!(g.class_for(97), 1);

        assert!(validate_slab_chunk_max(PAGE_SIZE / 2).is_ok());
        assert!(validate_slab_chunk_max(PAGE_SIZE).is_ok());
        assert!(validate_slab_chunk_max(64).is_ok());
        assert!(validate_slab_chunk_max(PAGE_SIZE * 2).is_err());
        assert!(validate_slab_chunk_max(32).is_err());
        assert!(validate_slab_chunk_max(100_000).is_err());

        assert_eq!(
            parse_slab_sizes("96-120-200", 48, PAGE_SIZE / 2),
            Ok(vec![96, 120, 200])
        );
        let err = |s| parse_slab_sizes(s, 48, PAGE_SIZE / 2).unwrap_err();
        assert_eq!(err("96-x"), "slab size x is out of valid range");
        assert_eq!(err("40-96"), "slab size 40 is out of valid range");
        assert_eq!(err("96-600000"), "slab size 600000 is out of valid range");
        assert_eq!(
            err("96-96"),
            "slab size 96 cannot be lower than or equal to a previous class size"
        );
        assert_eq!(
            err("96-100"),
            "slab size 100 must be at least 8 bytes larger than previous class"
        );
        let many: Vec<String> = (0..63).map(|i| (100 + 16 * i).to_string()).collect();
        assert_eq!(err(&many.join("-")), "too many slab classes specified");
        let ok: Vec<String> = (0..62).map(|i| (100 + 16 * i).to_string()).collect();
        assert!(parse_slab_sizes(&ok.join("-"), 48, PAGE_SIZE / 2).is_ok());
        let g = Geometry::explicit(&(0..62).map(|i| 100 + 16 * i).collect::<Vec<_>>(), 1 << 19);
        assert_eq!(g.n_slab(), MAX_SLAB_CLASSES);
    }

    #[test]
    fn limit_can_be_raised_past_the_initial_ids_and_lowered() {
        let m = Mem::new(PAGE_SIZE, 48, 1.25);
        assert!(m.alloc(0).is_some());
        assert!(m.alloc_large(PAGE_SIZE / 2 + 8).is_none());
        assert!(!m.set_limit(PAGE_SIZE - 1));
        assert!(!m.set_limit(MAX_LIMIT + 1));
        assert!(m.set_limit(2000 * PAGE_SIZE));
        // Far more ids than the first limit needed: segments come on demand.
        let big: Vec<Ref> = (0..1500)
            .map(|_| m.alloc_large(PAGE_SIZE / 2 + 8).expect("large"))
            .collect();
        assert!(m.set_limit(PAGE_SIZE));
        assert!(m.over_limit() > 0);
        assert!(m.alloc_large(PAGE_SIZE / 2 + 8).is_none());
        for r in big {
            m.free(r);
        }
        assert_eq!((m.over_limit(), m.used()), (0, PAGE_SIZE));
    }

    #[test]
    fn alloc_respects_budget_and_recycles() {
        let m = Mem::new(2 * PAGE_SIZE, 48, 1.25);
        let per = m.geo.per_page(0);
        let mut got = Vec::new();
        while let Some(r) = m.alloc(0) {
            got.push(r);
        }
        assert_eq!(got.len(), 2 * per);
        assert_eq!(m.used(), 2 * PAGE_SIZE);
        assert!(m.alloc(1).is_none());
        assert!(m.alloc_large(PAGE_SIZE / 2 + 8).is_none());
        let mut sorted = got.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), got.len());
        for &r in &got[..10] {
            m.free(r);
        }
        assert_eq!(m.class_mem(0).free_chunks, 10);
        for _ in 0..10 {
            assert!(m.alloc(0).is_some());
        }
        assert!(m.alloc(0).is_none());
    }

    #[test]
    fn write_read_item_and_large() {
        let m = Mem::new(4 * PAGE_SIZE, 48, 1.25);
        let dummy = ShardCore::new(0, m.geo.n_slab() + 1);
        let r = m.alloc(m.geo.class_for(HEADER + 3 + 5)).expect("chunk");
        m.write_item(r, b"key", 7, 9, 11, &[b"he", b"llo"]);
        m.set_cas(r, 42);
        assert_eq!(m.key(r, &dummy), b"key");
        assert_eq!(m.value(r, &dummy), b"hello");
        assert_eq!(
            (m.flags(r), m.exptime(r), m.atime(r), m.cas(r)),
            (7, 9, 11, 42)
        );
        assert!(m.key_eq(r, b"key") && !m.key_eq(r, b"kez") && !m.key_eq(r, b"ke"));
        m.overwrite_value_padded(r, b"12");
        assert_eq!(m.value(r, &dummy), b"12   ");
        m.free(r);

        let big = vec![b'x'; PAGE_SIZE];
        let total = HEADER + 1 + big.len();
        let l = m.alloc_large(total).expect("large");
        m.write_item(l, b"b", 0, 0, 0, &[&big]);
        assert_eq!(m.class_of(l), m.geo.large());
        assert_eq!(m.value(l, &dummy).len(), PAGE_SIZE);
        assert_eq!(m.used(), total + PAGE_SIZE);
        m.free(l);
        assert_eq!(m.used(), PAGE_SIZE);
        assert_eq!(m.large_bytes(), 0);
    }

    #[test]
    fn page_move_waits_for_owned_chunks_then_recarves_or_releases() {
        let m = Mem::new(3 * PAGE_SIZE, 48, 1.25);
        let per0 = m.geo.per_page(0);
        let a: Vec<Ref> = (0..per0 + 5).map(|_| m.alloc(0).expect("chunk")).collect();
        let p0 = a[0] >> IDX_BITS;
        let p1 = a[per0] >> IDX_BITS;
        assert_ne!(p0, p1);
        // Free all but two chunks of the first page: it is the emptiest.
        for &r in &a[2..per0] {
            m.free(r);
        }
        let pick = m.pick_page(0).expect("pages");
        assert_eq!((pick.pid, pick.in_use, pick.pages), (p0, 2, 2));
        assert!(m.begin_move(0, p0));
        assert!(!m.begin_move(0, p0), "already moving");
        assert!(m.is_moving(a[0]) && !m.is_moving(a[per0]));
        // Its free chunks are not handed out any more; the other page's are.
        for _ in 0..10 {
            let r = m.alloc_spare(0).expect("spare");
            assert_eq!(r >> IDX_BITS, p1);
            m.free(r);
        }
        let mut linked = Vec::new();
        assert_eq!(m.scan_page(0, p0, &mut linked), 2);
        assert!(linked.is_empty());
        m.set_linked(a[1], 7);
        assert_eq!(m.scan_page(0, p0, &mut linked), 1);
        assert_eq!(linked, vec![(7, a[1])]);
        assert_eq!(m.linked_shard(a[1]), Some(7));
        assert!(m.finish_move(0, p0, MoveDest::Class(3, true)).is_err());
        m.set_unlinked(a[1]);
        m.free(a[0]);
        m.free(a[1]);
        let r = m
            .finish_move(0, p0, MoveDest::Class(3, true))
            .expect("moved");
        assert_eq!(r, Some(p0 << IDX_BITS));
        assert_eq!(m.class_of(p0 << IDX_BITS), 3);
        assert_eq!(m.class_mem(0).pages, 1);
        assert_eq!(m.class_mem(3).pages, 1);
        assert_eq!(m.class_mem(3).free_chunks, m.geo.per_page(3) - 1);
        assert_eq!(m.used(), 2 * PAGE_SIZE);
        m.write_item(p0 << IDX_BITS, b"k", 1, 2, 3, &[&[b'v'; 100]]);
        m.free(p0 << IDX_BITS);
        // A page with an in-use chunk stays where it is if the move is cancelled.
        assert!(m.begin_move(0, p1));
        m.cancel_move(0, p1);
        assert_eq!(m.alloc(0).map(|r| r >> IDX_BITS), Some(p1));
        // Release: memory dropped, its budget held by the caller, the id reusable.
        let b = m.alloc(3).expect("chunk");
        m.free(b);
        assert!(m.begin_move(3, p0));
        assert_eq!(m.finish_move(3, p0, MoveDest::Release), Ok(None));
        assert_eq!((m.class_mem(3).pages, m.used()), (0, 2 * PAGE_SIZE));
        let mut held = PAGE_SIZE;
        let l = m
            .alloc_large_held(PAGE_SIZE / 2 + 100, &mut held)
            .expect("large");
        assert_eq!(held, 0);
        assert_eq!(m.used(), PAGE_SIZE + PAGE_SIZE / 2 + 100);
        m.free(l);
        assert_eq!(m.used(), PAGE_SIZE);
    }

    #[test]
    fn concurrent_alloc_write_free() {
        let m = Arc::new(Mem::new(8 * PAGE_SIZE, 48, 1.25));
        let hs: Vec<_> = (0..4u32)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..20_000u32 {
                        let class = (i % 5) as usize;
                        if let Some(r) = m.alloc(class) {
                            let v = (t * 1_000_000 + i).to_le_bytes();
                            m.write_item(r, &v, t, i, 0, &[&v]);
                            mine.push((r, t, i));
                        }
                        if mine.len() > 100 {
                            for (r, t, i) in mine.drain(..50) {
                                // Private chunks: nobody else may have written them.
                                assert_eq!((m.flags(r), m.exptime(r)), (t, i));
                                assert!(m.key_eq(r, &(t * 1_000_000 + i).to_le_bytes()));
                                m.free(r);
                            }
                        }
                        if i % 1000 == 0
                            && let Some(l) = m.alloc_large(PAGE_SIZE / 2 + 100)
                        {
                            m.write_item(l, b"L", t, i, 0, &[]);
                            assert_eq!(m.flags(l), t);
                            m.free(l);
                        }
                    }
                    for (r, _, _) in mine {
                        m.free(r);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().expect("thread");
        }
        assert!(m.used() <= 8 * PAGE_SIZE);
        assert_eq!(m.large_bytes(), 0);
    }
}
