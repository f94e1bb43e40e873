//! The page mover's side of item memory: picking a class' emptiest page, marking a page
//! "moving" so the allocator stops handing out its chunks, scanning its chunk state table for
//! linked items, copying an item into a rescue chunk, and re-carving (or dropping) the page
//! once every chunk is free. The engine side (rescue or evict, the bounded wait) is
//! `store/moves.rs`.

use super::*;

impl Mem {
    /// Is slab chunk `r`'s page being moved? (A hint: read without the class mutex.)
    pub(in crate::store) fn is_moving(&self, r: Ref) -> bool {
        let pid = (r >> IDX_BITS) as usize;
        self.id_slot(pid).kind.load(Ordering::Acquire) != KIND_LARGE
            && self.id_slot(pid).meta.moving.load(Ordering::Relaxed)
    }

    /// The page id of chunk `r`, for tests that move a chosen page.
    #[cfg(test)]
    pub(in crate::store) fn page_of(&self, r: Ref) -> u32 {
        r >> IDX_BITS
    }

    /// The full page of `class` with the fewest chunks in use (not a starter page, not
    /// already moving, nor skipped after a move that gave up), with the class' count of full
    /// pages (a class with a starter page and one full page counts as one page: its fresh
    /// full page is nearly empty, and other classes must not take it for spare).
    pub(in crate::store) fn pick_page(&self, class: usize) -> Option<PagePick> {
        let c = self.classes[class].lock();
        let now = self.now_ms();
        c.pages
            .iter()
            .filter(|&&p| {
                let m = &self.id_slot(p as usize).meta;
                !self.is_starter(p)
                    && !m.moving.load(Ordering::Relaxed)
                    && m.skip_until.load(Ordering::Relaxed) <= now
            })
            .map(|&p| {
                let m = &self.id_slot(p as usize).meta;
                (
                    m.chunks.load(Ordering::Relaxed) as usize - self.page_avail(m),
                    p,
                )
            })
            .min()
            .map(|(in_use, pid)| PagePick {
                pid,
                in_use,
                pages: c.pages.iter().filter(|&&p| !self.is_starter(p)).count(),
            })
    }

    /// The starter page of `class`, if it has one that is not moving, for a lowered limit
    /// that finds no full page to release (`pages` is 0: it counts full pages).
    pub(in crate::store) fn pick_starter(&self, class: usize) -> Option<PagePick> {
        let c = self.classes[class].lock();
        let &pid = c.pages.iter().find(|&&p| {
            self.is_starter(p) && !self.id_slot(p as usize).meta.moving.load(Ordering::Relaxed)
        })?;
        let m = &self.id_slot(pid as usize).meta;
        Some(PagePick {
            pid,
            in_use: m.chunks.load(Ordering::Relaxed) as usize - self.page_avail(m),
            pages: 0,
        })
    }

    /// Start moving page `pid` out of `class`: from now on no chunk of it is handed out.
    /// `false` if the page is not (or no longer) a page of `class`, or already moving. A
    /// starter page may only be released (`MoveDest::Release`), never re-carved.
    pub(in crate::store) fn begin_move(&self, class: usize, pid: u32) -> bool {
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
    pub(in crate::store) fn cancel_move(&self, class: usize, pid: u32) {
        let mut c = self.classes[class].lock();
        let m = &self.id_slot(pid as usize).meta;
        debug_assert!(m.moving.load(Ordering::Relaxed));
        m.moving.store(false, Ordering::Relaxed);
        m.skip_until
            .store(self.now_ms() + SKIP_BUSY_MS, Ordering::Relaxed);
        if self.page_avail(m) > 0 {
            c.partial.push(pid);
        }
    }

    /// Collect the chunks of moving page `pid` (of `class`) that are linked, as
    /// `(shard, ref)`, into `linked`; return how many are private (in flight). Reads only the
    /// state table, without locks: linked entries must be re-checked under their shard lock.
    pub(in crate::store) fn scan_page(
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
    pub(in crate::store) fn finish_move(
        &self,
        class: usize,
        pid: u32,
        dest: MoveDest,
    ) -> Result<Option<Ref>, ()> {
        let i = pid as usize;
        let m = &self.id_slot(i).meta;
        assert!(
            dest == MoveDest::Release || !self.is_starter(pid),
            "a starter page cannot change class"
        );
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
            c.avail -= self.page_avail(m);
            c.chunks -= m.chunks.load(Ordering::Relaxed) as usize;
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
                    !base.is_null() && (len == PAGE_SIZE || len == STARTER_SIZE),
                    "release of a missing page"
                );
                if len < PAGE_SIZE {
                    self.starter_bytes.fetch_sub(len, Ordering::Relaxed);
                }
                // SAFETY: `base` came from `Box::into_raw` of a `Box<[u8]>` of `len` bytes (a
                // full or a starter page) in `alloc`. No thread owns a chunk of this page (all
                // carved chunks were on its free list, checked under the class mutex, and the
                // page was off the partial list so none could be handed out since), so nothing
                // points into it; we removed the pointer from the table, so it is dropped
                // exactly once.
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
    pub(in crate::store) fn copy_item(&self, from: Ref, to: Ref) {
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
}
