//! A lock shard: its slice of the key index, its per-class LRU lists and its per-class
//! counters, all behind one `parking_lot::Mutex`.
//!
//! # Locking contract
//!
//! ```text
//!   page mover mutex ──► shard mutex (one at a time!) ──► class allocator mutex ──► ids
//!   sweep cursor ─────┤
//!   size histogram ctl┘
//!   flush mutex: a leaf (nothing is taken under it). Automove state: taken alone.
//! ```
//! - The page mover mutex (`Inner::mover`) serialises page moves. The mover holds it while it
//!   takes shard mutexes one at a time; it never holds a class mutex while taking a shard
//!   mutex (it marks the page "moving" under the class mutex, releases it, then unlinks).
//!   Nobody takes the mover mutex while holding a shard or class mutex, or while owning a
//!   private chunk (so the mover's bounded wait for in-flight chunks cannot deadlock).
//! - An item's bytes (header, key, value) are read and written only under the mutex of the
//!   shard that links it. A chunk on a class free list belongs to nobody but that class'
//!   allocator mutex; a chunk between `alloc` and link, or between unlink and free, belongs
//!   to one thread alone (see `mem/mod.rs`).
//! - A thread holds at most one shard mutex at a time. Allocation, which may evict from any
//!   shard, happens before the target shard is locked.
//! - The class allocator and id pool mutexes are leaves: freeing a chunk while holding a shard
//!   mutex is allowed, taking a shard mutex while holding them is not.
//!
//! Methods here take `&mut self` (i.e. the locked guard), so the contract is: whoever calls
//! them holds this shard's mutex, and every `Ref` passed in is linked in this shard (or
//! private to the caller, for `link_*`).
//!
//! Client-given CAS uniques (meta `E<cas>`): an item whose CAS a client chose keeps its store
//! sequence in the header (so flushes and eviction age still compare the order of stores)
//! and its CAS in `client_cas`, marked by `BIT_CLIENT_CAS`. The table is kept here because
//! every link, unlink and relocation passes through this file; its growth is charged to the
//! memory limit like the index's.
//!
//! Eviction: S3-FIFO (Yang et al., SOSP'23) per class and shard. Two FIFO queues, doubly
//! linked through the item headers (head = newest): a small probationary one (`SMALL`, about
//! a twentieth of the class' items) that new items enter, and the main one. Fetches only set the
//! reference bit (no relinking on the read path). When memory is needed, the small queue is
//! drained while it holds more than its share: a referenced item moves to the main queue, an
//! unreferenced one is evicted and its key's tag is remembered in a bounded ghost table; a
//! new item whose tag is in the ghost table was evicted too early and enters the main queue
//! directly. The main queue is a CLOCK with a 2-bit access count per item (S3-FIFO's): a
//! tail item accessed since its last round goes round again, one count fewer. So a key requested once (a one-hit wonder, a scan) leaves after a short stay in the
//! small queue instead of pushing out the keys requested often. Large items use the main
//! queue only. Each pull looks at most `TAIL_SCAN` items per queue.

use std::collections::HashMap;

use ahash::RandomState;
use parking_lot::Mutex;

use super::clock::is_expired;
use super::index::Index;
use super::mem::{
    BIT_CLIENT_CAS, BIT_FETCHED, BIT_SMALL, FREQ_BITS, Mem, NIL, Ref, ShardLocked, freq, with_freq,
};

/// Items inspected at an LRU tail before giving up (memcached looks at 5; a CLOCK pass may
/// need to skip referenced items).
const TAIL_SCAN: usize = 32;
const INITIAL_SLOTS: usize = 256;
/// Bytes charged per `client_cas` slot (a `(Ref, u64)` entry and its control byte).
const CLIENT_CAS_SLOT: usize = 17;
/// The queues of a class (index `class * 2 + queue` into `heads` / `tails`).
const MAIN: usize = 0;
const SMALL: usize = 1;
/// The small queue's share of a class' items in a shard: one in `SMALL_SHARE`. Measured on
/// benches/hitratio (six Twitter-derived profiles, scan, recency): 1 in 5 < 1 in 10 < 1 in
/// 20 <= 1 in 40 on every profile, by up to 1 point; 1 in 20 leaves more probation time
/// for keys re-requested at longer distances than those traces have.
pub(super) const SMALL_SHARE: u64 = 20;
/// Accesses while in the small queue that earn a place in the main one.
const PROMOTE: u8 = 1;
/// The ghost table has half as many slots as the index (`capacity >> GHOST_SHIFT`).
/// Measured on benches/hitratio: twice or four times the index lose up to 1.3 points on the
/// flat profiles (c45, c48: a longer memory lets more lukewarm keys straight into the main
/// queue); half and a quarter of it equal the index' size within noise (0.2 point), a
/// sixteenth loses 0.8; half keeps the noise-level best at half the bytes.
const GHOST_SHIFT: u32 = 1;

/// Ghost slots for an index of `capacity` slots.
fn ghost_slots(capacity: usize) -> usize {
    (capacity >> GHOST_SHIFT).max(8)
}

/// Bytes of the ghost table for an index of `capacity` slots (charged with the index).
fn ghost_bytes(capacity: usize) -> usize {
    ghost_slots(capacity) * std::mem::size_of::<u16>()
}

/// Per-class counters of one shard (the store sums them over shards).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ClassCounters {
    pub number: u64,
    pub bytes: u64,
    pub total_items: u64,
    pub evicted: u64,
    pub evicted_nonzero: u64,
    /// Of `evicted`, the items evicted because their page moved to another class (automove
    /// balances by the others).
    pub evicted_by_move: u64,
    /// Seconds since last access of the most recently evicted item.
    pub evicted_time: u64,
    /// Items in the small (probationary) queue (a gauge, like `number`).
    pub small: u64,
    /// Items moved from the small queue to the main one (referenced while on probation).
    pub promoted: u64,
    /// New items that entered the main queue at once (their key was in the ghost table).
    pub ghost_hits: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub crawler_reclaimed: u64,
    /// Items the crawler looked at (live or not).
    pub crawler_items_checked: u64,
    /// Command counters of `stats slabs` (memcached counts them per class of the item).
    pub cmds: ClassCmds,
}

/// memcached's per-class command counters (`stats slabs` `N:get_hits`, `N:cmd_set`, ...):
/// counted under the shard lock by the store operation that decides the outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCmds {
    pub get_hits: u64,
    pub cmd_set: u64,
    pub delete_hits: u64,
    pub incr_hits: u64,
    pub decr_hits: u64,
    pub cas_hits: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
}

impl ClassCmds {
    fn add(&mut self, o: &ClassCmds) {
        self.get_hits += o.get_hits;
        self.cmd_set += o.cmd_set;
        self.delete_hits += o.delete_hits;
        self.incr_hits += o.incr_hits;
        self.decr_hits += o.decr_hits;
        self.cas_hits += o.cas_hits;
        self.cas_badval += o.cas_badval;
        self.touch_hits += o.touch_hits;
    }
}

impl ClassCounters {
    /// Adds `o`'s event counters and gauges (`evicted_time`: the larger).
    pub(super) fn add(&mut self, o: &ClassCounters) {
        self.number += o.number;
        self.bytes += o.bytes;
        self.total_items += o.total_items;
        self.evicted += o.evicted;
        self.evicted_nonzero += o.evicted_nonzero;
        self.evicted_by_move += o.evicted_by_move;
        self.evicted_time = self.evicted_time.max(o.evicted_time);
        self.small += o.small;
        self.promoted += o.promoted;
        self.ghost_hits += o.ghost_hits;
        self.reclaimed += o.reclaimed;
        self.expired_unfetched += o.expired_unfetched;
        self.evicted_unfetched += o.evicted_unfetched;
        self.crawler_reclaimed += o.crawler_reclaimed;
        self.crawler_items_checked += o.crawler_items_checked;
        self.cmds.add(&o.cmds);
    }

    /// Zero the event counters, keep the gauges (`number`, `bytes`).
    pub(super) fn reset(&mut self) {
        *self = ClassCounters {
            number: self.number,
            bytes: self.bytes,
            small: self.small,
            ..ClassCounters::default()
        };
    }
}

/// Visibility of a found item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Liveness {
    Live,
    Expired,
    Flushed,
}

/// What `pull_tail` did to free a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pulled {
    Reclaimed,
    Evicted,
}

/// The state guarded by a shard mutex.
pub(super) struct ShardCore {
    /// This shard's number (recorded in the chunk state table when linking).
    id: usize,
    index: Index,
    /// Queue heads and tails, `class * 2 + MAIN|SMALL`.
    heads: Box<[Ref]>,
    tails: Box<[Ref]>,
    ghost: Ghost,
    pub(super) counters: Box<[ClassCounters]>,
    /// This shard's links and unlinks update the size histogram (`sizes.rs`).
    track_sizes: bool,
    /// CAS uniques given by clients (meta `E<cas>`) of the linked items marked
    /// `BIT_CLIENT_CAS`; empty unless a client used `E`.
    client_cas: HashMap<Ref, u64, RandomState>,
}

/// S3-FIFO's ghost queue: fingerprints of the keys recently evicted from small queues, in
/// a direct-mapped table half as large as the shard's index (`GHOST_SHIFT`: about one slot
/// per two items, so it remembers fewer keys than the cache holds; a newer key overwrites
/// an older one in its slot). A slot holds 16 bits of the key's tag other than those that chose the slot
/// (2 bytes per slot). Empty until the first eviction, but its bytes are charged to the limit
/// when the index grows (`ghost_bytes`), so that the pages a full cache keeps already leave
/// room for it: charged at the first eviction, it pushed the store over the limit until the
/// sweeper gave a page back (a peak of one page over `-m`).
#[derive(Default)]
struct Ghost {
    slots: Vec<u16>,
}

impl Ghost {
    /// Slot and fingerprint (never 0, the empty mark) of `tag`.
    fn place(&self, tag: u32) -> (usize, u16) {
        let fp = (tag >> 16) as u16 | 1;
        (tag as usize & (self.slots.len() - 1), fp)
    }

    /// Remember `tag`, growing the table to `slots` (a power of two) first.
    fn remember(&mut self, tag: u32, slots: usize) {
        if self.slots.len() < slots {
            debug_assert!(slots.is_power_of_two());
            self.slots = vec![0; slots];
        }
        let (i, fp) = self.place(tag);
        self.slots[i] = fp;
    }

    /// Was `tag` remembered? It is forgotten by the asking.
    fn take(&mut self, tag: u32) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let (i, fp) = self.place(tag);
        let hit = self.slots[i] == fp;
        if hit {
            self.slots[i] = 0;
        }
        hit
    }
}

/// A shard, padded to its own cache lines.
#[repr(align(128))]
pub(super) struct Shard(pub(super) Mutex<ShardCore>);

/// Liveness of linked item `r` at `now` given the flush sequence (flushed wins, like memcached).
#[inline]
pub(super) fn liveness(mem: &Mem, r: Ref, now: u32, flush_seq: u64) -> Liveness {
    if mem.seq(r) <= flush_seq {
        Liveness::Flushed
    } else if is_expired(mem.exptime(r), now) {
        Liveness::Expired
    } else {
        Liveness::Live
    }
}

// SAFETY: a `ShardCore` is only reachable through its shard's `Mutex` (`Shard`), so a
// `&ShardCore` exists only while that mutex is held (the guard derefs to it); the one
// exception, a `ShardCore` built on its own in tests, is never shared.
unsafe impl ShardLocked for ShardCore {}

impl ShardCore {
    pub(super) fn new(id: usize, n_classes: usize) -> ShardCore {
        ShardCore {
            id,
            index: Index::new(INITIAL_SLOTS),
            heads: vec![NIL; 2 * n_classes].into_boxed_slice(),
            tails: vec![NIL; 2 * n_classes].into_boxed_slice(),
            ghost: Ghost::default(),
            counters: vec![ClassCounters::default(); n_classes].into_boxed_slice(),
            track_sizes: false,
            client_cas: HashMap::with_hasher(RandomState::new()),
        }
    }

    /// The CAS unique of linked item `r` before `-C` masking: its store sequence, or the
    /// value a client gave it with `E`.
    #[inline]
    pub(super) fn cas(&self, mem: &Mem, r: Ref) -> u64 {
        let seq = mem.seq(r);
        if mem.bits(r) & BIT_CLIENT_CAS == 0 {
            return seq;
        }
        self.client_cas.get(&r).copied().unwrap_or(seq)
    }

    /// Record that item `r` (linked here, or private and linked here under this same lock
    /// hold) was stored or changed with sequence `seq`, its CAS unique being `seq` or, with
    /// `client`, the client's value (meta `E<cas>`).
    pub(super) fn stamp(&mut self, mem: &Mem, r: Ref, seq: u64, client: Option<u64>) {
        mem.set_seq(r, seq);
        let bits = mem.bits(r);
        match client {
            Some(c) => {
                mem.set_bits(r, bits | BIT_CLIENT_CAS);
                let before = self.client_cas.capacity();
                self.client_cas.insert(r, c);
                let grown = self.client_cas.capacity().saturating_sub(before);
                if grown > 0 {
                    mem.charge_side(grown * CLIENT_CAS_SLOT);
                }
            }
            None if bits & BIT_CLIENT_CAS != 0 => {
                mem.set_bits(r, bits & !BIT_CLIENT_CAS);
                self.client_cas.remove(&r);
            }
            None => {}
        }
    }

    /// Item `r` leaves this shard: forget a client-given CAS (a lookup only when some
    /// client used `E`).
    #[inline]
    fn forget_cas(&mut self, r: Ref) {
        if !self.client_cas.is_empty() {
            self.client_cas.remove(&r);
        }
    }

    /// Start or stop feeding the size histogram. Starting adds this shard's current items.
    pub(super) fn set_track_sizes(&mut self, mem: &Mem, on: bool) {
        if on && !self.track_sizes {
            for r in self.index.refs() {
                mem.sizes.add(mem.item_size(r));
            }
        }
        self.track_sizes = on;
    }

    /// The `stats slabs` command counters of item `r`'s class.
    pub(super) fn cmds(&mut self, mem: &Mem, r: Ref) -> &mut ClassCmds {
        &mut self.counters[mem.class_of(r)].cmds
    }

    /// log2 of the index capacity, for `walk_residues`.
    pub(super) fn index_bits(&self) -> u32 {
        self.index.bits()
    }

    /// Call `f` with the items whose index home slot modulo `2^bits` is in `lo..hi` (see
    /// `Index::for_residues`: a walk over all residues in several lock holds sees every item
    /// present for the whole walk exactly once).
    pub(super) fn walk_residues(&self, bits: u32, lo: usize, hi: usize, f: impl FnMut(Ref)) {
        self.index.for_residues(bits, lo, hi, f)
    }

    /// Entries of the client CAS table, for tests.
    #[cfg(test)]
    pub(super) fn client_cas_len(&self) -> usize {
        self.client_cas.len()
    }

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn slots(&self) -> usize {
        self.index.capacity()
    }

    /// The oldest item of `class` (the older of its queues' tails, by last access then
    /// store order), or `NIL`.
    pub(super) fn tail(&self, mem: &Mem, class: usize) -> Ref {
        let (m, s) = (self.tails[2 * class + MAIN], self.tails[2 * class + SMALL]);
        match (m, s) {
            (NIL, t) | (t, NIL) => t,
            _ if (mem.atime(s), mem.seq(s)) < (mem.atime(m), mem.seq(m)) => s,
            _ => m,
        }
    }

    /// The store sequence of the newest item of `class` at its queues' heads (0: none).
    pub(super) fn newest_seq(&self, mem: &Mem, class: usize) -> u64 {
        let (m, s) = (self.heads[2 * class + MAIN], self.heads[2 * class + SMALL]);
        [m, s]
            .into_iter()
            .filter(|&r| r != NIL)
            .map(|r| mem.seq(r))
            .max()
            .unwrap_or(0)
    }

    /// Index position and ref of `key`.
    #[inline]
    pub(super) fn lookup(&self, mem: &Mem, tag: u32, key: &[u8]) -> Option<(usize, Ref)> {
        self.index.find(tag, |r| mem.key_eq(r, key))
    }

    /// `heads` / `tails` index of the queue item `r` of `class` is in.
    #[inline]
    fn queue(mem: &Mem, class: usize, r: Ref) -> usize {
        2 * class + usize::from(mem.bits(r) & BIT_SMALL != 0)
    }

    fn lru_push_head(&mut self, mem: &Mem, class: usize, r: Ref) {
        let q = Self::queue(mem, class, r);
        let head = self.heads[q];
        mem.set_prev(r, NIL);
        mem.set_next(r, head);
        if head != NIL {
            mem.set_prev(head, r);
        } else {
            self.tails[q] = r;
        }
        self.heads[q] = r;
    }

    fn lru_unlink(&mut self, mem: &Mem, class: usize, r: Ref) {
        let q = Self::queue(mem, class, r);
        let (p, n) = (mem.prev(r), mem.next(r));
        if p != NIL {
            mem.set_next(p, n);
        } else {
            self.heads[q] = n;
        }
        if n != NIL {
            mem.set_prev(n, p);
        } else {
            self.tails[q] = p;
        }
        mem.set_prev(r, NIL);
        mem.set_next(r, NIL);
    }

    /// The large class (the last one): its items use the main queue only.
    fn is_large(&self, class: usize) -> bool {
        class == self.counters.len() - 1
    }

    /// A new item of `class` under `tag` enters the small queue, or the main one if its key
    /// was evicted from the small queue recently (a ghost hit). Large items: main.
    fn admit(&mut self, mem: &Mem, class: usize, tag: u32, r: Ref) {
        let bits = mem.bits(r) & !BIT_SMALL;
        if self.is_large(class) {
            mem.set_bits(r, bits);
        } else if self.ghost.take(tag) {
            self.counters[class].ghost_hits += 1;
            mem.set_bits(r, bits);
        } else {
            mem.set_bits(r, bits | BIT_SMALL);
        }
    }

    fn count_in(&mut self, mem: &Mem, class: usize, r: Ref) {
        let c = &mut self.counters[class];
        c.small += u64::from(mem.bits(r) & BIT_SMALL != 0);
        c.number += 1;
        c.total_items += 1;
        c.bytes += mem.item_size(r) as u64;
        if self.track_sizes {
            mem.sizes.add(mem.item_size(r));
        }
    }

    fn count_out(&mut self, mem: &Mem, class: usize, r: Ref) {
        let c = &mut self.counters[class];
        c.small -= u64::from(mem.bits(r) & BIT_SMALL != 0);
        c.number -= 1;
        c.bytes -= mem.item_size(r) as u64;
        if self.track_sizes {
            mem.sizes.sub(mem.item_size(r));
        }
    }

    /// Link private item `r` (not in the index yet) under `tag`.
    pub(super) fn link_new(&mut self, mem: &Mem, tag: u32, r: Ref) {
        let class = mem.class_of(r);
        let before = self.index.capacity();
        self.index.insert(tag, r);
        let after = self.index.capacity();
        if after > before {
            let index = (after - before) * std::mem::size_of::<u64>();
            mem.charge_side(index + ghost_bytes(after) - ghost_bytes(before));
        }
        self.admit(mem, class, tag, r);
        self.lru_push_head(mem, class, r);
        self.count_in(mem, class, r);
        mem.set_linked(r, self.id);
    }

    /// Replace linked item `old` at index position `pos` by private item `new`; `old` becomes
    /// private to the caller.
    pub(super) fn replace(&mut self, mem: &Mem, pos: usize, old: Ref, new: Ref) {
        let oc = mem.class_of(old);
        self.lru_unlink(mem, oc, old);
        self.count_out(mem, oc, old);
        self.index.set_at(pos, new);
        self.forget_cas(old);
        let nc = mem.class_of(new);
        // A new value for a cached key: it stays in its queue (unless its size class, and
        // so its queues, changed: then it is on probation again), keeping its reference.
        let keep = if nc == oc {
            mem.bits(old) & (BIT_SMALL | FREQ_BITS)
        } else if self.is_large(nc) {
            0
        } else {
            BIT_SMALL
        };
        mem.set_bits(new, (mem.bits(new) & !(BIT_SMALL | FREQ_BITS)) | keep);
        self.lru_push_head(mem, nc, new);
        self.count_in(mem, nc, new);
        mem.set_unlinked(old);
        mem.set_linked(new, self.id);
    }

    /// Unlink item `r` found at index position `pos`; it becomes private to the caller.
    pub(super) fn unlink_at(&mut self, mem: &Mem, pos: usize, r: Ref) {
        let class = mem.class_of(r);
        self.index.remove_at(pos);
        self.forget_cas(r);
        self.lru_unlink(mem, class, r);
        self.count_out(mem, class, r);
        mem.set_unlinked(r);
    }

    /// Is `r` linked in this shard? (Authoritative while the caller holds this shard.)
    pub(super) fn holds(&self, mem: &Mem, r: Ref) -> bool {
        mem.linked_shard(r) == Some(self.id)
    }

    /// Index position of linked item `r`, found by re-hashing its key.
    fn pos_of(&self, mem: &Mem, hasher: &RandomState, r: Ref) -> usize {
        self.pos_tag_of(mem, hasher, r).0
    }

    /// Index position and tag of linked item `r`, found by re-hashing its key.
    fn pos_tag_of(&self, mem: &Mem, hasher: &RandomState, r: Ref) -> (usize, u32) {
        let tag = {
            let key = mem.key(r, self);
            (hasher.hash_one(key) >> 32) as u32
        };
        match self.index.find(tag, |c| c == r) {
            Some((pos, _)) => (pos, tag),
            None => unreachable!("LRU item {r:#x} missing from its shard index"),
        }
    }

    /// Page move: copy linked item `old` into private chunk `new` of the same class and put
    /// `new` in its place (same index slot, same LRU position, same counters). `old` becomes
    /// private to the caller.
    pub(super) fn relocate(&mut self, mem: &Mem, hasher: &RandomState, old: Ref, new: Ref) {
        let class = mem.class_of(old);
        debug_assert_eq!(class, mem.class_of(new));
        let pos = self.pos_of(mem, hasher, old);
        mem.copy_item(old, new);
        let q = Self::queue(mem, class, old);
        let (p, n) = (mem.prev(old), mem.next(old));
        if p != NIL {
            mem.set_next(p, new);
        } else {
            self.heads[q] = new;
        }
        if n != NIL {
            mem.set_prev(n, new);
        } else {
            self.tails[q] = new;
        }
        self.index.set_at(pos, new);
        if let Some(c) = self.client_cas.remove(&old) {
            self.client_cas.insert(new, c);
        }
        mem.set_unlinked(old);
        mem.set_linked(new, self.id);
    }

    /// Page move: unlink linked item `r` because its page is taken away. Counted as an
    /// eviction, or as reclaimed if it was expired or flushed anyway. `r` becomes private.
    pub(super) fn unlink_moved(
        &mut self,
        mem: &Mem,
        hasher: &RandomState,
        r: Ref,
        now: u32,
        flush_seq: u64,
    ) -> Pulled {
        let class = mem.class_of(r);
        let bits = mem.bits(r);
        let state = liveness(mem, r, now, flush_seq);
        let c = &mut self.counters[class];
        let how = if state == Liveness::Live {
            c.evicted += 1;
            c.evicted_by_move += 1;
            if mem.exptime(r) != 0 {
                c.evicted_nonzero += 1;
            }
            c.evicted_time = now.saturating_sub(mem.atime(r)) as u64;
            if bits & BIT_FETCHED == 0 {
                c.evicted_unfetched += 1;
            }
            Pulled::Evicted
        } else {
            c.reclaimed += 1;
            if state == Liveness::Expired && bits & BIT_FETCHED == 0 {
                c.expired_unfetched += 1;
            }
            Pulled::Reclaimed
        };
        let pos = self.pos_of(mem, hasher, r);
        self.unlink_at(mem, pos, r);
        how
    }

    /// Unlink linked item `r` found through a queue (re-hashes its key to find its slot);
    /// returns its tag.
    fn unlink_ref(&mut self, mem: &Mem, hasher: &RandomState, r: Ref) -> u32 {
        let (pos, tag) = self.pos_tag_of(mem, hasher, r);
        self.unlink_at(mem, pos, r);
        tag
    }

    /// Free a chunk of `class` from this shard's queues: reclaim an expired or flushed item,
    /// or (if `evict`) evict one as S3-FIFO chooses (module docs): from the small queue while
    /// it holds more than its share (or the main queue is empty), else from the main queue,
    /// else from the other one. The returned chunk is private to the caller.
    ///
    /// `young_after`: the small queue is not drained while its oldest item is young, stored
    /// after this sequence number (`u64::MAX`: none is); the shard gives `None` instead, and
    /// `pull_any` asks the next one. Shards take turns to give up items while stores land in
    /// them at random, so the length of a shard's queue of a class drifts, and a short
    /// one's oldest item can be a few stores old. Without this, 2.3% of the 1,000 newest
    /// writes of a fill with mixed value sizes were gone; memcached's one LRU per class keeps
    /// them all.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pull_tail(
        &mut self,
        mem: &Mem,
        hasher: &RandomState,
        class: usize,
        now: u32,
        flush_seq: u64,
        evict: bool,
        young_after: u64,
    ) -> Option<(Ref, Pulled)> {
        let c = &self.counters[class];
        let main_tail = self.tails[2 * class + MAIN];
        let small_tail = self.tails[2 * class + SMALL];
        let small_first = main_tail == NIL || c.small * SMALL_SHARE > c.number;
        if evict && small_first && small_tail != NIL && mem.seq(small_tail) > young_after {
            return None;
        }
        let order = if small_first {
            [SMALL, MAIN]
        } else {
            [MAIN, SMALL]
        };
        for queue in order {
            if let Some(got) = self.pull_queue(mem, hasher, class, queue, now, flush_seq, evict) {
                return Some(got);
            }
        }
        None
    }

    /// `pull_tail` on one queue of `class`, looking at most at `TAIL_SCAN` items.
    #[allow(clippy::too_many_arguments)]
    fn pull_queue(
        &mut self,
        mem: &Mem,
        hasher: &RandomState,
        class: usize,
        queue: usize,
        now: u32,
        flush_seq: u64,
        evict: bool,
    ) -> Option<(Ref, Pulled)> {
        let q = 2 * class + queue;
        let mut r = self.tails[q];
        let mut steps = 0;
        while r != NIL && steps < TAIL_SCAN {
            steps += 1;
            let prev = mem.prev(r);
            if mem.is_pinned(r) {
                // A reply is sending its value: its chunk cannot be reused now (memcached
                // skips items with references at the tail too).
                r = prev;
                continue;
            }
            let bits = mem.bits(r);
            match liveness(mem, r, now, flush_seq) {
                Liveness::Live => {}
                state => {
                    let c = &mut self.counters[class];
                    c.reclaimed += 1;
                    if state == Liveness::Expired && bits & BIT_FETCHED == 0 {
                        c.expired_unfetched += 1;
                    }
                    self.unlink_ref(mem, hasher, r);
                    return Some((r, Pulled::Reclaimed));
                }
            }
            if !evict {
                r = prev;
                continue;
            }
            let f = freq(bits);
            let keep = if queue == SMALL { f >= PROMOTE } else { f > 0 };
            if keep && steps < TAIL_SCAN {
                // Small queue: used while on probation, so it joins the main queue (its count
                // starting over). Main queue: another round, one access fewer.
                self.lru_unlink(mem, class, r);
                let bits = if queue == SMALL {
                    let c = &mut self.counters[class];
                    c.small -= 1;
                    c.promoted += 1;
                    with_freq(bits & !BIT_SMALL, 0)
                } else {
                    with_freq(bits, f - 1)
                };
                mem.set_bits(r, bits);
                self.lru_push_head(mem, class, r);
                r = if prev == NIL { self.tails[q] } else { prev };
                continue;
            }
            let c = &mut self.counters[class];
            c.evicted += 1;
            if mem.exptime(r) != 0 {
                c.evicted_nonzero += 1;
            }
            c.evicted_time = now.saturating_sub(mem.atime(r)) as u64;
            if bits & BIT_FETCHED == 0 {
                c.evicted_unfetched += 1;
            }
            let tag = self.unlink_ref(mem, hasher, r);
            if queue == SMALL {
                self.ghost.remember(tag, ghost_slots(self.index.capacity()));
            }
            return Some((r, Pulled::Evicted));
        }
        None
    }

    /// Scan up to `max` index slots from `pos`, unlinking expired and flushed items into
    /// `out`. Returns the position to continue from (`>= slots()` when the table is done)
    /// and the number of slots looked at.
    pub(super) fn sweep(
        &mut self,
        mem: &Mem,
        pos: usize,
        max: usize,
        now: u32,
        flush_seq: u64,
        out: &mut Vec<Ref>,
    ) -> (usize, usize) {
        self.sweep_classes(mem, pos, max, now, flush_seq, u64::MAX, out)
    }

    /// `sweep` restricted to the classes whose bit is set in `classes` (bit `c` = class `c`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sweep_classes(
        &mut self,
        mem: &Mem,
        mut pos: usize,
        max: usize,
        now: u32,
        flush_seq: u64,
        classes: u64,
        out: &mut Vec<Ref>,
    ) -> (usize, usize) {
        let mut looked = 0;
        while looked < max && pos < self.index.capacity() {
            looked += 1;
            let Some(r) = self.index.at(pos) else {
                pos += 1;
                continue;
            };
            let class = mem.class_of(r);
            if classes & (1 << class) == 0 {
                pos += 1;
                continue;
            }
            let state = liveness(mem, r, now, flush_seq);
            if state == Liveness::Live {
                self.counters[class].crawler_items_checked += 1;
                pos += 1;
                continue;
            }
            let c = &mut self.counters[class];
            c.crawler_items_checked += 1;
            c.reclaimed += 1;
            c.crawler_reclaimed += 1;
            if state == Liveness::Expired && mem.bits(r) & BIT_FETCHED == 0 {
                c.expired_unfetched += 1;
            }
            // Backward shift may move a later entry into `pos`: look at `pos` again.
            self.unlink_at(mem, pos, r);
            out.push(r);
        }
        (pos, looked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mem::HEADER;

    fn item(mem: &Mem, key: &[u8], cas: u64) -> Ref {
        let r = mem.alloc(0).expect("chunk");
        mem.write_item(r, key, 0, 0, 2, &[b"v"]);
        mem.set_seq(r, cas);
        r
    }

    #[test]
    fn s3fifo_promotion_ghost_second_chance_and_sweep() {
        let mem = Mem::new(1 << 20, 48, 1.25);
        let h = RandomState::with_seeds(1, 2, 3, 4);
        let mut s = ShardCore::new(0, mem.geo.n_slab() + 1);
        let tag = |k: &[u8]| (h.hash_one(k) >> 32) as u32;
        let keys: Vec<Vec<u8>> = (0..5).map(|i| format!("k{i}").into_bytes()).collect();
        let mut refs = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let r = item(&mem, k, i as u64 + 10);
            s.link_new(&mem, tag(k), r);
            refs.push(r);
        }
        assert_eq!(s.len(), 5);
        assert_eq!(s.counters[0].bytes, 5 * (HEADER + 2 + 1) as u64);
        // New items are on probation.
        assert_eq!(s.counters[0].small, 5);
        // k0 is the oldest; referenced, it joins the main queue and k1 is evicted instead.
        mem.set_bits(refs[0], with_freq(mem.bits(refs[0]) | BIT_FETCHED, 1));
        let (r, how) = s
            .pull_tail(&mem, &h, 0, 3, 0, true, u64::MAX)
            .expect("evict");
        assert_eq!((r, how), (refs[1], Pulled::Evicted));
        assert_eq!(s.counters[0].evicted_unfetched, 1);
        assert_eq!((s.counters[0].small, s.counters[0].promoted), (3, 1));
        assert_eq!(mem.bits(refs[0]) & (BIT_SMALL | FREQ_BITS), 0);
        // The oldest item of the class: k0 (same atime as k2, stored first).
        assert_eq!(s.tail(&mem, 0), refs[0]);
        mem.free(r);
        // k1 comes back: its key is in the ghost table, so it enters the main queue.
        let k1 = item(&mem, &keys[1], 20);
        s.link_new(&mem, tag(&keys[1]), k1);
        assert_eq!(mem.bits(k1) & BIT_SMALL, 0);
        assert_eq!((s.counters[0].ghost_hits, s.counters[0].small), (1, 3));
        // Without evictions nothing live is taken.
        assert!(s.pull_tail(&mem, &h, 0, 3, 0, false, u64::MAX).is_none());
        // Flush everything with cas <= 12: k2, the small queue's tail, is reclaimed.
        let (r, how) = s
            .pull_tail(&mem, &h, 0, 3, 12, false, u64::MAX)
            .expect("reclaim");
        assert_eq!((r, how), (refs[2], Pulled::Reclaimed));
        mem.free(r);
        // The main queue is a CLOCK: with the small queue at its share (k3, k4: 2 of 4 is
        // over its share, so it goes first) ... evict k3, then k4, then main: k0 then k1.
        for want in [refs[3], refs[4], refs[0], k1] {
            let (r, how) = s
                .pull_tail(&mem, &h, 0, 3, 0, true, u64::MAX)
                .expect("evict");
            assert_eq!((r, how), (want, Pulled::Evicted));
            mem.free(r);
        }
        assert_eq!(s.len(), 0);
        assert_eq!((s.tail(&mem, 0), s.counters[0].small), (NIL, 0));
        // Sweep with flush_seq covering all: everything goes.
        for (i, k) in keys.iter().enumerate() {
            let r = item(&mem, k, i as u64 + 30);
            s.link_new(&mem, tag(k), r);
        }
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < s.slots() {
            pos = s.sweep(&mem, pos, 7, 3, u64::MAX - 1, &mut out).0;
        }
        assert_eq!(out.len(), 5);
        assert_eq!(s.len(), 0);
        assert_eq!(s.tail(&mem, 0), NIL);
        assert_eq!((s.counters[0].number, s.counters[0].small), (0, 0));
        assert_eq!(s.counters[0].crawler_reclaimed, 5);
        for r in out {
            mem.free(r);
        }
    }

    #[test]
    fn ghost_is_bounded_and_forgets_on_take() {
        let mut g = Ghost::default();
        let t = |slot: u32, fp: u32| fp << 16 | slot;
        assert!(!g.take(t(7, 5)));
        g.remember(t(7, 5), 8);
        g.remember(t(1, 9), 8);
        assert_eq!(g.slots.len(), 8);
        assert!(g.take(t(7, 5)) && !g.take(t(7, 5)));
        // Same slot (1 of 8): the newer key wins; another fingerprint misses.
        g.remember(t(9, 11), 8);
        assert!(!g.take(t(1, 9)) && !g.take(t(1, 13)) && g.take(t(9, 11)));
        g.remember(1, 16);
        assert_eq!(g.slots.len(), 16);
    }
}
