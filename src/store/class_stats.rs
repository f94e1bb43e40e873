//! Statistics: the store-wide counters (`stats`), the per slab class figures (`stats slabs`,
//! `stats items`) and zeroing them (`stats reset`). Per-class counters live in each shard
//! (`shard.rs`) and are summed here, one shard lock at a time; page move counters are kept by
//! `moves.rs`, out-of-memory counts by `mem`.

use std::sync::atomic::Ordering;

use super::engine::{Inner, SHARDS};
use super::mem::{HEADER, NIL};
use super::shard::ClassCounters;
use super::{ClassStats, StoreStats};

impl Inner {
    pub(super) fn sum_counters(&self) -> Vec<ClassCounters> {
        let n = self.mem.geo.n_slab() + 1;
        let mut sum = vec![ClassCounters::default(); n];
        for s in self.shards.iter() {
            let g = s.0.lock();
            for (acc, c) in sum.iter_mut().zip(g.counters.iter()) {
                acc.add(c);
            }
        }
        sum
    }

    pub(super) fn stats(&self) -> StoreStats {
        let mut st = StoreStats {
            limit_maxbytes: self.limit_shown.load(Ordering::Relaxed) as u64,
            total_malloced: self.mem.used() as u64,
            slabs_moved: self.moves.slabs_moved.load(Ordering::Relaxed),
            slab_reassign_rescues: self.moves.rescues.load(Ordering::Relaxed),
            slab_reassign_evictions_nomem: self.moves.evictions_nomem.load(Ordering::Relaxed),
            slab_reassign_busy_items: self.moves.busy_items.load(Ordering::Relaxed),
            slab_reassign_running: self.moves.running.load(Ordering::Relaxed),
            slab_automove: self.automove.load(Ordering::Relaxed),
            crawler_starts: self.crawler_starts.load(Ordering::Relaxed),
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
        let slots: usize = (0..SHARDS).map(|s| self.lock(s).slots()).sum();
        st.hash_bytes = (slots * std::mem::size_of::<u64>()) as u64;
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
                let t = g.tail(&self.mem, class);
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
            let total_chunks = if large { c.number as usize } else { m.chunks };
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
                crawler_items_checked: c.crawler_items_checked,
                cmds: c.cmds,
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
        let m = &self.moves;
        for c in [
            &m.slabs_moved,
            &m.rescues,
            &m.evictions_nomem,
            &m.busy_items,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Class id (1-based, as in `class_stats`) an item of these lengths is stored in.
    pub(super) fn class_id_for(&self, key_len: usize, value_len: usize) -> usize {
        self.mem.geo.class_for(HEADER + key_len + value_len) + 1
    }
}
