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
//!   33    1   bits       FETCHED | REFERENCED
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
//! space (2^18 − 1 ids) bounds the usable memory to about 128 GiB; a larger `mem_limit` is
//! clamped with a warning.
//!
//! # Ownership protocol (the invariant every `// SAFETY:` below relies on)
//!
//! Every chunk is, at any moment, in exactly one of three states:
//! - **free**: on its class' free list, or not yet carved from the class' current page.
//!   Owned by that class' allocator mutex (`Mem::classes[c]`).
//! - **private**: returned by `alloc`/`alloc_large`, or unlinked from a shard and not yet
//!   freed or reused. Owned by exactly one thread, which alone may read or write it.
//! - **linked**: in exactly one shard's index and LRU list. Its bytes are read and written
//!   only while holding that shard's mutex.
//!
//! Transitions happen under the mutex that owns the destination or source state, so each new
//! owner's accesses happen-after the previous owner's (mutex release/acquire). Callers in
//! `shard.rs`/`engine.rs` uphold this; slices handed out here borrow the caller's shard guard
//! (`&ShardCore`) so they cannot outlive the lock. Page memory is never returned to the
//! allocator while the `Mem` lives; large allocations are freed only by their (private) owner.
//!
//! Lock order: shard mutex → class allocator mutex → id pool mutex. The class and id mutexes
//! are leaves: nothing takes a shard mutex while holding them.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::shard::ShardCore;

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

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// The size classes: immutable after construction.
pub(super) struct Geometry {
    sizes: Vec<usize>,
    per_page: Vec<usize>,
}

impl Geometry {
    pub(super) fn new(min_chunk: usize, factor: f64) -> Geometry {
        let max = PAGE_SIZE / 2;
        let mut sizes = Vec::new();
        let mut size = align8((HEADER + min_chunk).max(MIN_CHUNK_SIZE));
        while sizes.len() < MAX_SLAB_CLASSES - 1 && size < max {
            sizes.push(size);
            let next = align8((size as f64 * factor) as usize);
            size = next.max(size + 8);
        }
        sizes.push(max);
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
}

/// A class allocator: free list plus the page being carved. Guarded by `Mem::classes[c]`.
struct ClassAlloc {
    free_head: Ref,
    free_count: usize,
    carve_pid: u32,
    carve_next: usize,
    pages: usize,
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

/// All item memory of one store.
pub(super) struct Mem {
    pub(super) geo: Geometry,
    limit: usize,
    /// Bytes charged to the budget: slab pages × PAGE_SIZE + large allocation sizes.
    used: AtomicUsize,
    large_bytes: AtomicUsize,
    /// Base pointer by page id; null when the id is unused.
    ptrs: Box<[AtomicPtr<u8>]>,
    /// Allocation length by page id (PAGE_SIZE or the large item's size).
    lens: Box<[AtomicUsize]>,
    /// Class id by page id, `KIND_LARGE` for large allocations.
    kinds: Box<[AtomicU8]>,
    ids: Mutex<IdPool>,
    classes: Box<[Mutex<ClassAlloc>]>,
    outofmemory: Box<[AtomicU64]>,
}

impl Mem {
    pub(super) fn new(mem_limit: usize, min_chunk: usize, factor: f64) -> Mem {
        let geo = Geometry::new(min_chunk, factor);
        // Every allocation is at least half a page (slab pages are a whole page, large items
        // exceed the biggest class of half a page), so this many ids always suffice.
        let want = mem_limit / (PAGE_SIZE / 2) + 2;
        let n_ids = want.min(MAX_IDS);
        let mut limit = mem_limit;
        if want > MAX_IDS {
            limit = (MAX_IDS - 2) * (PAGE_SIZE / 2);
            log::warn!("memory limit {mem_limit} clamped to {limit} bytes (item reference space)");
        }
        let n_classes = geo.n_slab() + 1;
        Mem {
            limit,
            used: AtomicUsize::new(0),
            large_bytes: AtomicUsize::new(0),
            ptrs: (0..n_ids)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            lens: (0..n_ids).map(|_| AtomicUsize::new(0)).collect(),
            kinds: (0..n_ids).map(|_| AtomicU8::new(0)).collect(),
            ids: Mutex::new(IdPool {
                free: Vec::new(),
                next: 0,
                limit: n_ids as u32,
            }),
            classes: (0..n_classes)
                .map(|_| {
                    Mutex::new(ClassAlloc {
                        free_head: NIL,
                        free_count: 0,
                        carve_pid: NIL,
                        carve_next: 0,
                        pages: 0,
                    })
                })
                .collect(),
            outofmemory: (0..n_classes).map(|_| AtomicU64::new(0)).collect(),
            geo,
        }
    }

    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes charged against the limit (pages × 1 MiB + large bytes).
    pub(super) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn large_bytes(&self) -> usize {
        self.large_bytes.load(Ordering::Relaxed)
    }

    fn reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|&t| t <= self.limit)
            })
            .is_ok()
    }

    fn unreserve(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// A private chunk of slab class `class` (< `geo.n_slab()`), from the free list, the page
    /// being carved, or a new page if the budget allows. `None` when the budget is exhausted.
    pub(super) fn alloc(&self, class: usize) -> Option<Ref> {
        let mut c = self.classes[class].lock();
        if c.free_head != NIL {
            let r = c.free_head;
            // The free-list link lives in the first 4 bytes of a free chunk, owned by this
            // class mutex which we hold.
            c.free_head = self.rd_u32(r, 0);
            c.free_count -= 1;
            return Some(r);
        }
        if c.carve_pid != NIL {
            let r = (c.carve_pid << IDX_BITS) | c.carve_next as u32;
            c.carve_next += 1;
            if c.carve_next == self.geo.per_page(class) {
                c.carve_pid = NIL;
            }
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
        self.kinds[i].store(class as u8, Ordering::Release);
        self.lens[i].store(PAGE_SIZE, Ordering::Release);
        self.ptrs[i].store(base, Ordering::Release);
        c.pages += 1;
        if self.geo.per_page(class) > 1 {
            c.carve_pid = pid;
            c.carve_next = 1;
        }
        Some(pid << IDX_BITS)
    }

    /// A private, exactly sized allocation of `total` bytes for a large item.
    pub(super) fn alloc_large(&self, total: usize) -> Option<Ref> {
        if !self.reserve(total) {
            return None;
        }
        let Some(pid) = self.ids.lock().take() else {
            self.unreserve(total);
            return None;
        };
        let buf: Box<[u8]> = vec![0u8; total].into_boxed_slice();
        let base = Box::into_raw(buf).cast::<u8>();
        let i = pid as usize;
        self.kinds[i].store(KIND_LARGE, Ordering::Release);
        self.lens[i].store(total, Ordering::Release);
        self.ptrs[i].store(base, Ordering::Release);
        self.large_bytes.fetch_add(total, Ordering::Relaxed);
        Some(pid << IDX_BITS)
    }

    /// Give a private chunk back: onto its class' free list, or to the system for a large one.
    pub(super) fn free(&self, r: Ref) {
        let pid = (r >> IDX_BITS) as usize;
        let kind = self.kinds[pid].load(Ordering::Acquire);
        if kind == KIND_LARGE {
            let base = self.ptrs[pid].swap(ptr::null_mut(), Ordering::AcqRel);
            let len = self.lens[pid].swap(0, Ordering::AcqRel);
            assert!(!base.is_null(), "double free of large item {r:#x}");
            // SAFETY: `base`/`len` came from `Box::into_raw` of a `Box<[u8]>` of exactly `len`
            // bytes in `alloc_large`; the caller owns the chunk privately (nobody else holds a
            // reference to it) and we just removed the pointer from the table, so it is
            // reconstructed and dropped exactly once.
            unsafe { drop(Box::from_raw(ptr::slice_from_raw_parts_mut(base, len))) };
            self.large_bytes.fetch_sub(len, Ordering::Relaxed);
            self.unreserve(len);
            self.ids.lock().free.push(pid as u32);
        } else {
            let mut c = self.classes[kind as usize].lock();
            let head = c.free_head;
            self.wr_u32(r, 0, head);
            c.free_head = r;
            c.free_count += 1;
        }
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
        let uncarved = if c.carve_pid == NIL {
            0
        } else {
            self.geo.per_page(class) - c.carve_next
        };
        ClassMem {
            pages: c.pages,
            free_chunks: c.free_count + uncarved,
            outofmemory,
        }
    }

    /// Class id of the chunk `r` (the large class for large allocations).
    pub(super) fn class_of(&self, r: Ref) -> usize {
        let kind = self.kinds[(r >> IDX_BITS) as usize].load(Ordering::Acquire);
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
        let base = self.ptrs[pid].load(Ordering::Acquire);
        assert!(!base.is_null(), "dangling item reference {r:#x}");
        let kind = self.kinds[pid].load(Ordering::Acquire);
        if kind == KIND_LARGE {
            return (base, self.lens[pid].load(Ordering::Acquire));
        }
        let size = self.geo.chunk_size(kind as usize);
        assert!((idx + 1) * size <= PAGE_SIZE, "chunk index out of page");
        // SAFETY: `base` points to a live PAGE_SIZE allocation (pages are never freed while
        // `self` lives) and `idx * size + size <= PAGE_SIZE` was just checked, so the offset
        // stays inside the allocation.
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
        let mut off = HEADER;
        for src in std::iter::once(&key).chain(parts.iter()) {
            // SAFETY: `off + src.len() <= HEADER + key.len() + vlen <= cap` (checked above),
            // so the destination is inside chunk `r`, which the caller owns privately. `src`
            // may point into another chunk (append copies the old value) but never into `r`
            // (callers never hold a slice of a private chunk); `ptr::copy` tolerates overlap
            // anyway.
            unsafe { ptr::copy(src.as_ptr(), p.add(off), src.len()) };
            off += src.len();
        }
    }

    /// Overwrite the value of item `r` in place with `digits` padded with spaces to the old
    /// length (memcached's in-place incr/decr). `digits` must not be longer than the value.
    pub(super) fn overwrite_value_padded(&self, r: Ref, digits: &[u8]) {
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
        for (p, len) in self.ptrs.iter().zip(self.lens.iter()) {
            let base = p.swap(ptr::null_mut(), Ordering::AcqRel);
            if !base.is_null() {
                let len = len.load(Ordering::Acquire);
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
        let g = Geometry::new(48, 1.25);
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
        let g = Geometry::new(1, 1.0001);
        assert_eq!(g.n_slab(), MAX_SLAB_CLASSES);
        assert_eq!(g.chunk_size(0), MIN_CHUNK_SIZE);
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
        let dummy = ShardCore::new(m.geo.n_slab() + 1);
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
