//! Pins: reference counts of the chunks whose value bytes a reply is sending straight from
//! item memory (memcached's item refcount while an iovec points into the item). The public
//! handle of one pin is `PinnedValue` (`store/entry.rs`, taken with `Entry::pin_with`).
//!
//! Owns: the pin count of each pinned chunk and whether its free is deferred.
//! Must not touch: chunk bytes, the index, LRU order (the caller in `mem/alloc.rs` frees).
//!
//! # Rules
//!
//! - A chunk is pinned only while it is linked, under its shard lock (`Mem::pin`).
//! - While pinned, its key and value bytes do not change and its memory is not reused:
//!   `Mem::free` of a pinned chunk is deferred (the chunk is marked a zombie: it stays
//!   "private" in the page's state table, so the page mover waits for it or gives up), the
//!   eviction and expiry tail scans skip pinned items (`shard.rs`), and incr/decr do not
//!   rewrite a pinned value in place (`arith.rs`).
//! - The last unpin of a zombie frees the chunk (`Mem::unpin`).
//!
//! The table is striped by ref (64 mutexes, leaves of the lock order: nothing is taken while
//! one is held) and holds an entry only per pinned chunk, so its memory follows the number
//! of replies in flight, which the server bounds per connection. Each stripe's pin count
//! makes the common case (nothing pinned in it) one atomic load on the free path, with no
//! count shared by all threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use ahash::RandomState;
use parking_lot::Mutex;

use super::Ref;

const STRIPES: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Entry {
    count: u32,
    /// Unlinked and freed while pinned: the last unpin frees it.
    zombie: bool,
}

/// One stripe: its pinned chunks and how many pins they hold (read without the lock on
/// the free path), on its own cache line.
#[repr(align(64))]
struct Stripe {
    map: Mutex<HashMap<Ref, Entry, RandomState>>,
    pins: AtomicUsize,
}

pub(super) struct Pins {
    stripes: Box<[Stripe]>,
}

fn stripe(r: Ref) -> usize {
    ((r ^ (r >> 14)) as usize) & (STRIPES - 1)
}

impl Pins {
    pub(super) fn new() -> Pins {
        Pins {
            stripes: (0..STRIPES)
                .map(|_| Stripe {
                    map: Mutex::new(HashMap::with_hasher(RandomState::new())),
                    pins: AtomicUsize::new(0),
                })
                .collect(),
        }
    }

    /// One more pin of linked chunk `r` (the caller holds its shard lock).
    pub(super) fn pin(&self, r: Ref) {
        let st = &self.stripes[stripe(r)];
        let mut map = st.map.lock();
        let e = map.entry(r).or_insert(Entry {
            count: 0,
            zombie: false,
        });
        e.count += 1;
        st.pins.fetch_add(1, Ordering::Release);
    }

    /// One pin of `r` fewer. `true`: it was the last one and `r` was freed while pinned, so
    /// the caller must free it now.
    pub(super) fn unpin(&self, r: Ref) -> bool {
        let st = &self.stripes[stripe(r)];
        let mut map = st.map.lock();
        let Some(e) = map.get_mut(&r) else {
            debug_assert!(false, "unpin of an unpinned chunk {r:#x}");
            return false;
        };
        st.pins.fetch_sub(1, Ordering::Release);
        e.count -= 1;
        if e.count > 0 {
            return false;
        }
        let zombie = e.zombie;
        map.remove(&r);
        zombie
    }

    /// Is `r` pinned? Stable while the caller holds the shard lock of linked `r` against
    /// new pins (only unpins can happen).
    pub(super) fn is_pinned(&self, r: Ref) -> bool {
        let st = &self.stripes[stripe(r)];
        st.pins.load(Ordering::Acquire) != 0 && st.map.lock().contains_key(&r)
    }

    /// The owner of unlinked chunk `r` wants to free it: `true` if it is pinned, in which
    /// case it becomes a zombie that the last unpin frees, and the caller must not free it.
    pub(super) fn defer_free(&self, r: Ref) -> bool {
        let st = &self.stripes[stripe(r)];
        // A pin taken while `r` was linked happened before the unlink (same shard lock), so
        // a zero here means no pin of `r` can exist.
        if st.pins.load(Ordering::Acquire) == 0 {
            return false;
        }
        match st.map.lock().get_mut(&r) {
            Some(e) => {
                e.zombie = true;
                true
            }
            None => false,
        }
    }

    /// Pins outstanding (for tests and stats).
    pub(super) fn total(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.pins.load(Ordering::Acquire))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_is_deferred_to_the_last_unpin() {
        let p = Pins::new();
        assert!(!p.defer_free(7), "nothing pinned: free now");
        p.pin(7);
        p.pin(7);
        p.pin(9);
        assert!(p.is_pinned(7) && p.is_pinned(9) && !p.is_pinned(8));
        assert_eq!(p.total(), 3);
        assert!(!p.unpin(9), "linked chunk: the unpin frees nothing");
        assert!(p.defer_free(7));
        assert!(!p.unpin(7), "one pin left");
        assert!(p.unpin(7), "last pin of a zombie: free it now");
        assert_eq!(p.total(), 0);
        assert!(!p.is_pinned(7));
        assert!(!p.defer_free(7));
    }
}
