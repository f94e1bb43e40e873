//! The allocator: per-class free lists carved from 1 MiB pages, exactly sized large
//! allocations, page ids, the budget reservations behind both, frees (deferred while pinned)
//! and the chunk state table transitions (free / private / linked in shard `s`) that the page
//! mover reads. See the ownership protocol in `mod.rs`.

use super::*;

impl Mem {
    pub(super) fn reserve(&self, n: usize) -> bool {
        let side = self.side_charged();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                u.checked_add(n + side).filter(|&t| t <= self.limit())?;
                Some(u + n)
            })
            .is_ok()
    }

    pub(super) fn unreserve(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// A private chunk of slab class `class` (< `geo.n_slab()`), from a page with a free
    /// chunk, or a new page if the budget allows (a starter page if it is the class' first,
    /// `starter_len`). `None` when the budget is exhausted.
    pub(in crate::store) fn alloc(&self, class: usize) -> Option<Ref> {
        self.alloc_or_tell(class).ok()
    }

    /// `alloc`, or, when the budget is exhausted, whether the class holds only its starter
    /// page (`Err(true)`): told under the same lock, so the engine's eviction path pays no
    /// second one.
    pub(in crate::store) fn alloc_or_tell(&self, class: usize) -> Result<Ref, bool> {
        let mut c = self.classes[class].lock();
        if let Some(r) = self.take_chunk(&mut c) {
            return Ok(r);
        }
        let only_starter = c.pages.len() == 1 && c.pages.iter().all(|&p| self.is_starter(p));
        let len = if c.pages.is_empty() {
            self.starter_len(class)
        } else {
            PAGE_SIZE
        };
        if !self.reserve(len) {
            return Err(only_starter);
        }
        let Some(pid) = self.ids.lock().take() else {
            self.unreserve(len);
            return Err(only_starter);
        };
        // Zeroed so the OS can hand out untouched pages lazily (calloc / mmap).
        let page: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        let base = Box::into_raw(page).cast::<u8>();
        let i = pid as usize;
        self.id_slot(i).kind.store(class as u8, Ordering::Release);
        self.id_slot(i).len.store(len, Ordering::Release);
        if len < PAGE_SIZE {
            self.starter_bytes.fetch_add(len, Ordering::Relaxed);
        }
        self.id_slot(i).ptr.store(base, Ordering::Release);
        self.slab_pages.fetch_add(1, Ordering::Relaxed);
        self.add_page(class, &mut c, pid, true).ok_or(false)
    }

    /// A private chunk of `class` from its existing pages only (never a new page, never a
    /// page being moved): where the mover rescues live items.
    pub(in crate::store) fn alloc_spare(&self, class: usize) -> Option<Ref> {
        let mut c = self.classes[class].lock();
        self.take_chunk(&mut c)
    }

    /// The length of `class`' first page: `STARTER_SIZE` if it holds at least 4 of its
    /// chunks, the limit is at least `STARTER_MIN_LIMIT` and the starter pages stay within
    /// an eighth of it, else a full page.
    pub(super) fn starter_len(&self, class: usize) -> usize {
        let starters = self.starter_bytes.load(Ordering::Relaxed);
        let limit = self.limit();
        if self.geo.chunk_size(class) * 4 <= STARTER_SIZE
            && limit >= STARTER_MIN_LIMIT
            && starters + STARTER_SIZE <= limit / 8
        {
            STARTER_SIZE
        } else {
            PAGE_SIZE
        }
    }

    /// Bytes of page `pid` (a full or a starter page).
    pub(in crate::store) fn page_len(&self, pid: u32) -> usize {
        self.id_slot(pid as usize).len.load(Ordering::Acquire)
    }

    /// Is page `pid` a starter page (shorter than `PAGE_SIZE`)? Such a page never changes
    /// class; only a lowered limit releases it.
    pub(super) fn is_starter(&self, pid: u32) -> bool {
        self.page_len(pid) < PAGE_SIZE
    }

    /// Free (listed or uncarved) chunks of a page. Caller holds its class mutex.
    pub(super) fn page_avail(&self, m: &PageMeta) -> usize {
        let carved = m.carved.load(Ordering::Relaxed) as usize;
        m.free_count.load(Ordering::Relaxed) as usize + m.chunks.load(Ordering::Relaxed) as usize
            - carved
    }

    /// Page `pid`'s chunk state table, created on first use (`add_page`): one byte per
    /// chunk of the smallest class of the `-n` progression in a full page, also for a
    /// starter page (a released starter's id may become a full page's), or per chunk of
    /// the tiny items' class if that class is the first to get the id. A page that moves to
    /// the tiny class with the smaller table carves only as many chunks (`add_page`).
    pub(super) fn states(&self, pid: u32) -> &[AtomicU8] {
        self.states_for(pid, None)
    }

    /// `states`, created for `class` if it does not exist yet.
    fn states_for(&self, pid: u32, class: Option<usize>) -> &[AtomicU8] {
        self.id_slot(pid as usize).meta.states.get_or_init(|| {
            let n = class
                .map_or(0, |c| self.geo.per_page(c))
                .max(self.geo.states_len);
            self.charge_side(n);
            (0..n).map(|_| AtomicU8::new(ST_FREE)).collect()
        })
    }

    /// The state byte of slab chunk `r`, `None` for a large allocation.
    pub(super) fn state(&self, r: Ref) -> Option<&AtomicU8> {
        let pid = (r >> IDX_BITS) as usize;
        if self.id_slot(pid).kind.load(Ordering::Acquire) == KIND_LARGE {
            return None;
        }
        let states = self.id_slot(pid).meta.states.get()?;
        Some(&states[(r & IDX_MASK) as usize])
    }

    /// Take a free chunk from the newest page with one. Caller holds `classes[class]`.
    pub(super) fn take_chunk(&self, c: &mut ClassAlloc) -> Option<Ref> {
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
            debug_assert!(n < m.chunks.load(Ordering::Relaxed));
            m.carved.store(n + 1, Ordering::Relaxed);
            n
        };
        if self.page_avail(m) == 0 {
            c.partial.pop();
        }
        c.avail -= 1;
        self.states(pid)[idx as usize].store(ST_PRIVATE, Ordering::Release);
        Some((pid << IDX_BITS) | idx)
    }

    /// Give page `pid` (memory installed, `kinds` already `class`, no chunk in use) to
    /// `class`; with `take_first` its first chunk is returned, private to the caller.
    pub(super) fn add_page(
        &self,
        class: usize,
        c: &mut ClassAlloc,
        pid: u32,
        take_first: bool,
    ) -> Option<Ref> {
        let m = &self.id_slot(pid as usize).meta;
        let states = self.states_for(pid, Some(class));
        let len = self.id_slot(pid as usize).len.load(Ordering::Acquire);
        // At most one chunk per state byte: a page first used by a bigger class has fewer
        // bytes of state than the tiny class has chunks (11,915 of 16,384 by default).
        let chunks = (len / self.geo.chunk_size(class)).min(states.len());
        m.chunks.store(chunks as u32, Ordering::Relaxed);
        c.chunks += chunks;
        m.free_head.store(NIL, Ordering::Relaxed);
        m.free_count.store(0, Ordering::Relaxed);
        m.carved.store(take_first as u32, Ordering::Relaxed);
        m.moving.store(false, Ordering::Relaxed);
        c.pages.push(pid);
        let avail = self.page_avail(m);
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
    pub(in crate::store) fn alloc_large(&self, total: usize) -> Option<Ref> {
        self.alloc_large_held(total, &mut 0)
    }

    /// `alloc_large`, counting `*held` bytes the caller already reserved (from released
    /// pages) towards the allocation. On success `*held` is consumed (any excess given back);
    /// on failure it is left to the caller.
    pub(in crate::store) fn alloc_large_held(&self, total: usize, held: &mut usize) -> Option<Ref> {
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
    pub(in crate::store) fn unreserve_held(&self, n: usize) {
        if n > 0 {
            self.unreserve(n);
        }
    }

    /// Give a private chunk back: onto its page's free list, or to the system for a large one.
    /// A chunk still pinned by a reply (unlinked while pinned) is freed by its last unpin
    /// instead; until then it stays private, so the page mover waits for it.
    pub(in crate::store) fn free(&self, r: Ref) {
        if !self.pins.defer_free(r) {
            self.free_now(r);
        }
    }

    /// Pin linked chunk `r` (the caller holds its shard lock) for a reply that sends its
    /// value from item memory: until `unpin`, its value bytes neither change nor move and
    /// its memory is not reused. Returns the value's address and length.
    pub(in crate::store) fn pin(&self, r: Ref) -> (*const u8, usize) {
        let (p, klen, vlen) = self.body(r);
        self.pins.pin(r);
        // SAFETY: `HEADER + klen + vlen <= cap` was checked in `body`, so the offset stays
        // inside the chunk.
        (unsafe { p.add(HEADER + klen) }.cast_const(), vlen)
    }

    /// Drop one pin of `r`; the last pin of a chunk freed meanwhile frees it.
    pub(in crate::store) fn unpin(&self, r: Ref) {
        if self.pins.unpin(r) {
            self.free_now(r);
        }
    }

    /// Is chunk `r` pinned by a reply? (Stable against new pins while the caller holds the
    /// shard lock of linked `r`.)
    pub(in crate::store) fn is_pinned(&self, r: Ref) -> bool {
        self.pins.is_pinned(r)
    }

    /// Pins outstanding.
    pub(in crate::store) fn pinned(&self) -> usize {
        self.pins.total()
    }

    pub(super) fn free_now(&self, r: Ref) {
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
            if !m.moving.load(Ordering::Relaxed) && self.page_avail(m) == 1 {
                c.partial.push(pid as u32);
            }
        }
    }

    /// Record that private chunk `r` is now linked in shard `shard` (caller holds that shard's
    /// mutex). No-op for large allocations.
    pub(in crate::store) fn set_linked(&self, r: Ref, shard: usize) {
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
    pub(in crate::store) fn set_unlinked(&self, r: Ref) {
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
    pub(in crate::store) fn linked_shard(&self, r: Ref) -> Option<usize> {
        let s = self.state(r)?.load(Ordering::Acquire);
        (s >= ST_LINKED).then(|| (s - ST_LINKED) as usize)
    }

    /// Count an allocation that failed for good.
    pub(in crate::store) fn count_oom(&self, class: usize) {
        self.outofmemory[class].fetch_add(1, Ordering::Relaxed);
    }

    pub(in crate::store) fn reset_oom(&self) {
        for o in self.outofmemory.iter() {
            o.store(0, Ordering::Relaxed);
        }
    }

    pub(in crate::store) fn class_mem(&self, class: usize) -> ClassMem {
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
            chunks: c.chunks,
            free_chunks: c.avail,
            outofmemory,
        }
    }
}
