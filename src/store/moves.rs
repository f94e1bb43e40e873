//! Page moves (memcached's `slab_reassign` / `slab_automove`): choosing a victim page (or
//! the oldest large item) when a class has no memory, moving one page out of its class
//! (rescuing or evicting its items), the admin `reassign`, and the sweeper's automove step.
//! The release steps of a lowered memory limit (`maint.rs`) use the same mover.
//!
//! Owns: victim picking, the mover's protocol on the engine side, the automove rule and the
//! page move counters' updates. The chunk side (state tables, `begin_move` / `scan_page` /
//! `finish_move`) is `mem/moves.rs`.
//!
//! Locking follows `shard.rs`: `move_page` holds the mover mutex and takes shard mutexes one
//! at a time, never a class mutex while taking a shard mutex.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::ReassignError;
use super::engine::{Inner, Room, SHARDS};
use super::mem::{MoveDest, NIL, PAGE_SIZE, PagePick, Ref};
use super::shard::{ClassCounters, Liveness, Pulled, liveness};

/// Scans of a moving page before the mover gives up on chunks that stay in flight. The first
/// `MOVE_SPIN_PASSES` waits yield, the others sleep `MOVE_WAIT`: at most about 20 ms.
const MOVE_PASSES: usize = 200;
const MOVE_SPIN_PASSES: usize = 16;
const MOVE_WAIT: Duration = Duration::from_micros(100);

/// Where `make_room` takes memory from.
pub(super) enum Victim {
    /// This page of this slab class.
    Page(usize, PagePick),
    /// The oldest large item (its budget).
    Large,
}

/// A class with at most this many pages gives one up by age only when no other class can
/// (`pick_victim`; memcached's automove has the same floor for its age rule).
const MIN_PAGES_FOR_SOURCE: usize = 2;

impl Inner {
    /// `class` found no memory and nothing to evict: evict the oldest large item (for its
    /// budget) or take a page from another class (for the large class: release one to the
    /// budget, adding `PAGE_SIZE` to `*held`), as `pick_victim` decides.
    pub(super) fn make_room(
        &self,
        class: usize,
        total: usize,
        hint: usize,
        held: &mut usize,
    ) -> Room {
        let large = class == self.mem.geo.large();
        let guard = self.mover.lock();
        // Another thread may have made room while we waited for the mover.
        let got = if large {
            self.mem.alloc_large_held(total, held)
        } else {
            self.mem.alloc(class)
        };
        if let Some(r) = got {
            return Room::Chunk(r);
        }
        let (src, pick) = match self.pick_victim((!large).then_some(class), 1, !large) {
            None => return Room::Nothing,
            Some((Victim::Large, _)) => {
                drop(guard);
                let now = self.clock.now();
                let fs = self.flush_seq(now);
                if let Some(r) = self.pull_any(self.mem.geo.large(), hint, now, fs) {
                    self.mem.free(r);
                }
                return Room::Retry;
            }
            Some((Victim::Page(src, pick), _)) => (src, pick),
        };
        let dest = if large {
            MoveDest::Release
        } else {
            MoveDest::Class(class, true)
        };
        match self.move_page(&guard, src, pick.pid, dest) {
            Ok(Some(r)) => Room::Chunk(r),
            Ok(None) => {
                *held += PAGE_SIZE;
                Room::Retry
            }
            Err(_) => Room::Retry,
        }
    }

    /// What to take memory from for `dst` (a slab class, or `None` for the large class /
    /// the budget; never `dst` itself), best first:
    /// 1. a completely free page (nothing to evict);
    /// 2. a page less than a quarter used, the emptiest (cheap: few items lost; typically a
    ///    page just given to a class that rarely stores, so pages do not keep flushing full
    ///    classes when there are fewer pages than active classes), of a class with another
    ///    page or one that has not stored lately (its newest item is not young: stored more
    ///    than a twentieth of the items' number of stores ago, `young_after`). A class that
    ///    stores often keeps its only page, as in memcached: a nearly empty page is what a
    ///    class that is still filling has;
    /// 3. whichever holds the oldest least recently used item: the emptiest page of that slab
    ///    class, or (if `large_ok`) the oldest large item, whose budget becomes a page. This
    ///    is memcached's age criterion; at page granularity it approximates one LRU over all
    ///    classes. Only classes with more than `MIN_PAGES_FOR_SOURCE` pages (memcached's
    ///    automove rule), so a class that stores rarely keeps its page;
    /// 4. as 3, among the classes with fewer pages: only when nothing else can give.
    ///
    /// Taking the only page of a class that stores often is what rules 2 and 3 avoid: two
    /// such classes would take it from each other on every store, each move evicting the
    /// other's items (seen as 2.5% of the newest writes lost under mixed value sizes, 1,700
    /// moves in a 300,000-set fill). Classes that store rarely but steadily each keep a
    /// page when no such class needs one: at `-m 64` with Twitter-like sizes
    /// (benches/hitratio c45, c48) 3 or 4 pages held a few hundred items, about 4% of the
    /// memory.
    ///
    /// Only slab classes with at least `min_pages` pages. With the victim: whether it is
    /// cheap (rules 1 and 2).
    pub(super) fn pick_victim(
        &self,
        dst: Option<usize>,
        min_pages: usize,
        large_ok: bool,
    ) -> Option<(Victim, bool)> {
        use std::cmp::Reverse;
        let (ages, newest) = self.class_ages();
        let young_after = self.young_after();
        let geo = &self.mem.geo;
        type Key = (u8, Reverse<usize>, Reverse<(u32, u64)>);
        let mut best: Option<(Key, Victim)> = None;
        let mut consider = |key: Key, v: Victim| {
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, v));
            }
        };
        for (c, &age) in ages[..geo.n_slab()].iter().enumerate() {
            if Some(c) == dst {
                continue;
            }
            let Some(p) = self.mem.pick_page(c) else {
                continue;
            };
            if p.pages < min_pages {
                continue;
            }
            let per = geo.per_page(c);
            let key = if p.in_use == 0 {
                (3, Reverse(0), Reverse((0, 0)))
            } else if p.in_use * 4 < per && (p.pages >= 2 || newest[c] <= young_after) {
                (2, Reverse(p.in_use * 1024 / per), Reverse((0, 0)))
            } else {
                // No tail while chunks are in use: they are all in flight (e.g. a page the
                // class was just given), so count it as the newest.
                let tier = u8::from(p.pages > MIN_PAGES_FOR_SOURCE);
                (
                    tier,
                    Reverse(0),
                    Reverse(age.unwrap_or((u32::MAX, u64::MAX))),
                )
            };
            consider(key, Victim::Page(c, p));
        }
        if large_ok && let Some(age) = ages[geo.large()] {
            consider((1, Reverse(0), Reverse(age)), Victim::Large);
        }
        best.map(|((tier, _, _), v)| (v, tier >= 2))
    }

    /// Per class (large class included), `(atime, sequence)` of its least recently used
    /// item over all shards, and the store sequence of its newest item (0: none).
    fn class_ages(&self) -> (Vec<Option<(u32, u64)>>, Vec<u64>) {
        let n = self.mem.geo.n_slab() + 1;
        let mut ages: Vec<Option<(u32, u64)>> = vec![None; n];
        let mut newest = vec![0; n];
        for s in self.shards.iter() {
            let g = s.0.lock();
            for (class, age) in ages.iter_mut().enumerate() {
                let t = g.tail(&self.mem, class);
                if t != NIL {
                    let a = (self.mem.atime(t), self.mem.seq(t));
                    if age.is_none_or(|b| a < b) {
                        *age = Some(a);
                    }
                }
                newest[class] = newest[class].max(g.newest_seq(&self.mem, class));
            }
        }
        (ages, newest)
    }

    /// Move page `pid` out of slab class `src` to `dest`. The caller holds the mover mutex
    /// (`_mover` proves it) and no other lock, and owns no private chunk.
    ///
    /// 1. `begin_move`: the allocator stops handing out chunks of the page.
    /// 2. Scan its chunk state table; lock each owning shard in turn and, for every chunk
    ///    still linked there, copy the item into a free chunk of `src` (rescue) or unlink it
    ///    (eviction, or reclaim if it was dead anyway), then free the chunk.
    /// 3. Chunks that are private (allocated and being written, or unlinked and about to be
    ///    freed) are waited for: rescan, yielding then sleeping, at most `MOVE_PASSES` times.
    /// 4. When every chunk is free, `finish_move` re-carves the page for `dest`. If the wait
    ///    runs out the page goes back to `src` and `Busy` is returned.
    pub(super) fn move_page(
        &self,
        _mover: &parking_lot::MutexGuard<'_, ()>,
        src: usize,
        pid: u32,
        dest: MoveDest,
    ) -> Result<Option<Ref>, ReassignError> {
        if !self.mem.begin_move(src, pid) {
            return Err(ReassignError::Busy);
        }
        self.moves.running.store(true, Ordering::Relaxed);
        let mut linked = Vec::new();
        let mut result = Err(ReassignError::Busy);
        for pass in 0..MOVE_PASSES {
            linked.clear();
            let busy = self.mem.scan_page(src, pid, &mut linked);
            if !linked.is_empty() {
                self.clear_linked(src, &mut linked);
                continue;
            }
            if busy == 0 {
                if let Ok(r) = self.mem.finish_move(src, pid, dest) {
                    result = Ok(r);
                    break;
                }
                continue;
            }
            self.moves
                .busy_items
                .fetch_add(busy as u64, Ordering::Relaxed);
            if pass < MOVE_SPIN_PASSES {
                std::thread::yield_now();
            } else {
                std::thread::sleep(MOVE_WAIT);
            }
        }
        match result {
            Ok(_) => {
                self.moves.slabs_moved.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => self.mem.cancel_move(src, pid),
        }
        self.moves.running.store(false, Ordering::Relaxed);
        result
    }

    /// Rescue or unlink the items of a moving page of `src` listed as `(shard, ref)`, one
    /// shard lock at a time, and free their chunks.
    fn clear_linked(&self, src: usize, linked: &mut [(usize, Ref)]) {
        let mem = &self.mem;
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        linked.sort_unstable();
        let mut freed = Vec::new();
        let (mut rescued, mut evicted) = (0, 0);
        for group in linked.chunk_by(|a, b| a.0 == b.0) {
            let shard = group[0].0;
            if shard >= SHARDS {
                continue;
            }
            let mut g = self.lock(shard);
            for &(_, r) in group {
                // It may have been unlinked (and freed) since the scan.
                if !g.holds(mem, r) {
                    continue;
                }
                if liveness(mem, r, now, fs) == Liveness::Live
                    && let Some(n) = mem.alloc_spare(src)
                {
                    g.relocate(mem, &self.hasher, r, n);
                    rescued += 1;
                } else if g.unlink_moved(mem, &self.hasher, r, now, fs) == Pulled::Evicted {
                    evicted += 1;
                }
                freed.push(r);
            }
            drop(g);
            self.free_all(freed.drain(..).map(Some));
        }
        self.moves.rescues.fetch_add(rescued, Ordering::Relaxed);
        self.moves
            .evictions_nomem
            .fetch_add(evicted, Ordering::Relaxed);
    }

    /// Admin page move (`slabs reassign`): see `Store::reassign`.
    pub(super) fn reassign(&self, from: usize, to: usize) -> Result<(), ReassignError> {
        let n = self.mem.geo.n_slab();
        let dst = match to {
            0 => None,
            t if t == n + 1 => None,
            t if t <= n => Some(t - 1),
            _ => return Err(ReassignError::BadClass),
        };
        if from > n {
            return Err(ReassignError::BadClass);
        }
        if from != 0 && from == to {
            return Err(ReassignError::Same);
        }
        let Some(guard) = self.mover.try_lock() else {
            return Err(ReassignError::Running);
        };
        let (src, pick) = if from == 0 {
            match self.pick_victim(dst, 2, false) {
                Some((Victim::Page(c, p), _)) => (c, p),
                _ => return Err(ReassignError::NoSpare),
            }
        } else {
            let p = self.mem.pick_page(from - 1).ok_or(ReassignError::NoSpare)?;
            if p.pages < 2 {
                return Err(ReassignError::NoSpare);
            }
            (from - 1, p)
        };
        let dest = dst.map_or(MoveDest::Release, |c| MoveDest::Class(c, false));
        self.move_page(&guard, src, pick.pid, dest)?;
        if dest == MoveDest::Release {
            self.mem.unreserve_held(PAGE_SIZE);
        }
        Ok(())
    }

    pub(super) fn set_automove(&self, on: bool) {
        self.automove.store(on, Ordering::Relaxed);
    }

    /// One automove step with freshly summed counters (tests; the sweeper uses
    /// `automove_with`).
    #[cfg(test)]
    pub(super) fn automove_step(&self) -> bool {
        self.automove_with(&self.sum_counters())
    }

    /// Sweeper tick: update `starter_hold` from each class' reads per byte held. A class
    /// that fills its starter page takes a full page at once only if its items are read at
    /// least twice as much per byte as the store's on average (or the store is hardly
    /// read). Else it evicts within its starter: the page it would take holds items of other
    /// classes that are worth as much, and automove still gives it pages if it evicts more
    /// than they do. `sums`: the classes' counters (`sum_counters`).
    pub(super) fn update_starter_holds(&self, sums: &[ClassCounters]) {
        let n = self.mem.geo.n_slab();
        let mut st = self.hold_state.lock();
        st.prev_hits.resize(n, 0);
        st.rate.resize(n, 0.0);
        for (c, sum) in sums.iter().enumerate().take(n) {
            let hits = sum.cmds.get_hits;
            let d = hits.saturating_sub(st.prev_hits[c]) as f64;
            st.prev_hits[c] = hits;
            st.rate[c] += HOLD_SMOOTHING * (d - st.rate[c]);
        }
        let bytes: Vec<u64> = sums.iter().take(n).map(|c| c.bytes).collect();
        for (hold, h) in self
            .starter_hold
            .iter()
            .zip(starter_holds(&st.rate, &bytes))
        {
            hold.store(h, Ordering::Relaxed);
        }
    }

    /// One automove step (sweeper), at most one page moved:
    /// 1. **Free pages first:** if a class evicted since the previous step and has less than
    ///    a page free, while another slab class has more than 2.5 pages worth of free chunks,
    ///    the emptiest page of the latter moves to the former (for the large class: it goes
    ///    to the budget).
    /// 2. **Memory per byte:** otherwise, among the slab classes that evict, memory moves
    ///    towards an equal ratio of pages to item evictions per second (`balance_target`).
    ///
    /// Skipped while another move runs. `true` if a page moved. `sums`: the classes'
    /// counters (`sweeper_tick` sums them once for this and `update_starter_holds`).
    pub(super) fn automove_with(&self, sums: &[ClassCounters]) -> bool {
        if !self.automove.load(Ordering::Relaxed) {
            return false;
        }
        let geo = &self.mem.geo;
        let (deltas, rates): (Vec<u64>, Option<Vec<f64>>) = {
            let mut st = self.automove_state.lock();
            st.prev.resize(sums.len(), 0);
            // Evictions by the store's own page moves are left out: a class that just lost
            // a page would look in need of one.
            let d: Vec<u64> = sums
                .iter()
                .zip(st.prev.iter())
                .map(|(c, p)| (c.evicted - c.evicted_by_move).saturating_sub(*p))
                .collect();
            for (p, c) in st.prev.iter_mut().zip(sums) {
                *p = c.evicted - c.evicted_by_move;
            }
            let rates = st.record(&d);
            let cooled = st.cooldown == 0;
            st.cooldown = st.cooldown.saturating_sub(1);
            (d, rates.filter(|_| cooled))
        };
        let large = geo.large();
        let dst = (0..=large)
            .filter(|&c| {
                deltas[c] > 0 && (c == large || self.mem.class_mem(c).free_chunks < geo.per_page(c))
            })
            .max_by_key(|&c| deltas[c]);
        let src = (0..geo.n_slab())
            .filter(|&c| Some(c) != dst)
            .filter_map(|c| {
                let free = self.mem.class_mem(c).free_chunks;
                let per = geo.per_page(c);
                (free * 2 > per * 5).then_some((free * 1000 / per, c))
            })
            .max();
        let balancing = dst.is_none() || src.is_none();
        let (src, dest) = match (dst, src) {
            (Some(dst), Some((_, src))) => {
                let dest = if dst == large {
                    MoveDest::Release
                } else {
                    MoveDest::Class(dst, false)
                };
                (src, dest)
            }
            _ => {
                let Some(rates) = rates else {
                    return false;
                };
                let pages: Vec<usize> = (0..geo.n_slab())
                    .map(|c| self.mem.class_mem(c).pages)
                    .collect();
                match balance_target(&pages, &rates[..geo.n_slab()]) {
                    Some((src, dst)) => (src, MoveDest::Class(dst, false)),
                    None => return false,
                }
            }
        };
        let Some(guard) = self.mover.try_lock() else {
            return false;
        };
        let Some(pick) = self.mem.pick_page(src) else {
            return false;
        };
        let moved = self.move_page(&guard, src, pick.pid, dest).is_ok();
        if moved && dest == MoveDest::Release {
            self.mem.unreserve_held(PAGE_SIZE);
        }
        if moved && balancing {
            // The classes' eviction rates settle before the next such move.
            self.automove_state.lock().cooldown = BALANCE_COOLDOWN;
        }
        moved
    }
}

/// What `update_starter_holds` remembers: per class, `get_hits` at the previous tick and a
/// moving average of hits per tick.
#[derive(Default)]
pub(super) struct HoldState {
    prev_hits: Vec<u64>,
    rate: Vec<f64>,
}

/// Weight of the newest tick in the read rates (about 2 s of memory at 10 ticks a second).
const HOLD_SMOOTHING: f64 = 0.05;
/// A class is held to its starter page unless its hits per byte held are at least this
/// many times the store's. Measured with `cargo bench --bench hitratio` (c45 / c48 / c4):
/// 0.5 gave 0.4341 / 0.6350 / 0.9056, 1 gave 0.4371 / 0.6368 / 0.9052, 2 gave 0.4387 /
/// 0.6364 / 0.9066, against 0.4298 / 0.6328 / 0.9041 without holds.
const HOLD_SHARE: f64 = 2.0;
/// ... and only while the store serves at least this many hits per tick (100 a second):
/// in a fill or a store that is not read, items held is all there is to compare.
const HOLD_MIN_RATE: f64 = 10.0;

/// Which classes to hold to their starter page: `rates` are hits per tick, `bytes` the
/// bytes of items held, per class.
pub(super) fn starter_holds(rates: &[f64], bytes: &[u64]) -> Vec<bool> {
    let total_rate: f64 = rates.iter().sum();
    let total_bytes: u64 = bytes.iter().sum();
    rates
        .iter()
        .zip(bytes)
        .map(|(&r, &b)| {
            total_rate >= HOLD_MIN_RATE
                && b > 0
                && r * (total_bytes as f64) < HOLD_SHARE * total_rate * b as f64
        })
        .collect()
}

/// What automove remembers between steps.
#[derive(Default)]
pub(super) struct AutomoveState {
    /// Per class sums of `evicted` less `evicted_by_move` seen by the previous step.
    prev: Vec<u64>,
    /// Per class evictions of each of the last `WINDOW` steps (`class * WINDOW + step`).
    window: Vec<u64>,
    /// Steps recorded.
    steps: usize,
    /// Steps left before the next balancing move.
    cooldown: u32,
}

/// Steps (of 100 ms) between two balancing moves: a page given to a class is first filled
/// (no evictions there meanwhile) and the rates follow the change.
const BALANCE_COOLDOWN: u32 = WINDOW as u32;

impl AutomoveState {
    /// Record one step's evictions per class. Once `WINDOW` steps are recorded, returns
    /// each class' mean evictions per step over them, or 0 for a class that did not evict in
    /// every one of them but `WINDOW / 10` (it had free memory some of that time, so its rate
    /// says nothing of its need).
    fn record(&mut self, deltas: &[u64]) -> Option<Vec<f64>> {
        self.window.resize(deltas.len() * WINDOW, 0);
        let at = self.steps % WINDOW;
        for (c, &d) in deltas.iter().enumerate() {
            self.window[c * WINDOW + at] = d;
        }
        self.steps += 1;
        if self.steps < WINDOW {
            return None;
        }
        let rates = self
            .window
            .chunks(WINDOW)
            .map(|w| {
                let quiet = w.iter().filter(|&&d| d == 0).count();
                if quiet > WINDOW / 10 {
                    0.0
                } else {
                    w.iter().sum::<u64>() as f64 / WINDOW as f64
                }
            })
            .collect();
        Some(rates)
    }
}

/// Steps over which eviction rates are measured (2 s).
const WINDOW: usize = 20;
/// Classes whose eviction rate is below this (items per step) are not balanced.
const MIN_RATE: f64 = 1.0;
/// Pages per eviction rate must differ by this factor before a page moves (eviction rates
/// are noisy; each move evicts a page of items).
const MIN_IMBALANCE: f64 = 1.1;

/// The page move (source class, destination class) that brings the slab classes that evict
/// closer to an equal ratio of pages to evictions, or `None` when no move would (or no
/// class evicts enough to judge).
///
/// Why that ratio: a class that holds `m` bytes and evicts `e` items per second keeps an
/// item about `n / e` seconds (`n` items of size `s`, `m = n s`), so a key is kept when it is
/// read more often than once per `n / e` seconds. Equal `m / e` over the classes makes that
/// rate proportional to the item size, which keeps the keys with the most reads per byte:
/// what the static optimum keeps, and what memcached's age balancing (equal `n / e`) does not
/// do, as it gives large items as long a stay as small ones. A move is only made when the
/// ratios differ by `MIN_IMBALANCE` and the move leaves them closer than before (so it
/// stops within a page of balance), and never takes a class' last page.
pub(super) fn balance_target(pages: &[usize], rates: &[f64]) -> Option<(usize, usize)> {
    let ratio = |c: usize, p: usize| p as f64 / rates[c];
    let live: Vec<usize> = (0..pages.len())
        .filter(|&c| rates[c] >= MIN_RATE && pages[c] > 0)
        .collect();
    let src = *live
        .iter()
        .filter(|&&c| pages[c] > 1)
        .max_by(|&&a, &&b| ratio(a, pages[a]).total_cmp(&ratio(b, pages[b])))?;
    let dst = *live
        .iter()
        .min_by(|&&a, &&b| ratio(a, pages[a]).total_cmp(&ratio(b, pages[b])))?;
    let before = ratio(src, pages[src]) - ratio(dst, pages[dst]);
    let after = (ratio(src, pages[src] - 1) - ratio(dst, pages[dst] + 1)).abs();
    let uneven = ratio(src, pages[src]) > MIN_IMBALANCE * ratio(dst, pages[dst]);
    (src != dst && uneven && after < before).then_some((src, dst))
}

#[cfg(test)]
mod tests {
    use super::balance_target;

    #[test]
    fn balance_moves_pages_towards_equal_pages_per_eviction_rate() {
        // Equal eviction rates: 6 and 2 pages become 5 and 3, then 4 and 4, then stay.
        assert_eq!(balance_target(&[6, 2], &[50.0, 50.0]), Some((0, 1)));
        assert_eq!(balance_target(&[5, 3], &[50.0, 50.0]), Some((0, 1)));
        assert_eq!(balance_target(&[4, 4], &[50.0, 50.0]), None);
        // Class 1 evicts three times as many items: it should hold three times the pages.
        assert_eq!(balance_target(&[4, 4], &[10.0, 30.0]), Some((0, 1)));
        assert_eq!(balance_target(&[2, 6], &[10.0, 30.0]), None);
        // A class that does not evict (or hardly) is left alone, and so is a class' last page.
        assert_eq!(balance_target(&[6, 2, 9], &[0.0, 50.0, 0.5]), None);
        assert_eq!(balance_target(&[1, 2], &[1.0, 50.0]), None);
        // Within 10%: no move for noise.
        assert_eq!(balance_target(&[10, 10], &[50.0, 54.0]), None);
        assert_eq!(balance_target(&[], &[]), None);
    }
}
