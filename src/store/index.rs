//! One shard's key index: an open-addressing hash table (linear probing in Robin Hood order,
//! backward-shift deletion, no tombstones) of 8-byte slots `tag << 32 | Ref`.
//!
//! Owns: slot placement and growth. Must not touch: item memory. Key comparison is the
//! caller's closure, so the table never reads slab memory itself; the 32-bit tag (high half of
//! the key hash) filters almost all mismatches without touching the item.
//!
//! The home slot is `tag & mask`, so growing rehashes from the slots alone. Each probe run is
//! kept sorted by home slot (Robin Hood insertion), so a lookup stops as soon as it passes
//! where its key would be: a miss costs about as many probes as a hit, which allows a 90%
//! maximum load. The table doubles when it would pass it, so it holds between 0.45 and 0.9
//! items per slot after the first growth: 9–18 bytes per item. It never shrinks; its size is
//! bounded by the number of items that fit in `mem_limit`.

use super::mem::Ref;

const EMPTY: u64 = u64::MAX;
/// The table doubles when an insert would take it past `MAX_LOAD_NUM / MAX_LOAD_DEN` full.
const MAX_LOAD_NUM: usize = 9;
const MAX_LOAD_DEN: usize = 10;

pub(super) struct Index {
    slots: Box<[u64]>,
    mask: usize,
    len: usize,
}

#[inline]
fn pack(tag: u32, r: Ref) -> u64 {
    ((tag as u64) << 32) | r as u64
}

#[inline]
fn tag_of(slot: u64) -> u32 {
    (slot >> 32) as u32
}

#[inline]
fn ref_of(slot: u64) -> Ref {
    slot as u32
}

impl Index {
    /// `cap` is rounded up to a power of two (at least 8).
    pub(super) fn new(cap: usize) -> Index {
        let cap = cap.max(8).next_power_of_two();
        Index {
            slots: vec![EMPTY; cap].into_boxed_slice(),
            mask: cap - 1,
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Position and ref of the entry with `tag` for which `is_key` holds.
    ///
    /// Entries of a probe run are sorted by home slot (see `place`), so the search stops at
    /// the first entry whose home is after `tag`'s: that many probes whether or not the key is
    /// present, even near the maximum load.
    #[inline]
    pub(super) fn find(
        &self,
        tag: u32,
        mut is_key: impl FnMut(Ref) -> bool,
    ) -> Option<(usize, Ref)> {
        let home = tag as usize & self.mask;
        let mut i = home;
        let mut dist = 0;
        loop {
            let s = self.slots[i];
            if s == EMPTY || self.dist(s, i) < dist {
                return None;
            }
            if tag_of(s) == tag && is_key(ref_of(s)) {
                return Some((i, ref_of(s)));
            }
            i = (i + 1) & self.mask;
            dist += 1;
        }
    }

    /// How far entry `s` at position `i` sits from its home slot.
    #[inline]
    fn dist(&self, s: u64, i: usize) -> usize {
        i.wrapping_sub(tag_of(s) as usize) & self.mask
    }

    /// Insert an entry that is not present yet.
    pub(super) fn insert(&mut self, tag: u32, r: Ref) {
        if (self.len + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            self.grow();
        }
        self.place(pack(tag, r));
        self.len += 1;
    }

    /// Put `slot` in its probe run before the first entry whose home comes after its own
    /// (Robin Hood order: runs stay sorted by home slot), shifting the rest of the run one
    /// slot on.
    fn place(&mut self, mut slot: u64) {
        let mut i = tag_of(slot) as usize & self.mask;
        let mut dist = 0;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                self.slots[i] = slot;
                return;
            }
            let d = self.dist(s, i);
            if d < dist {
                // `slot` takes this place; the entry here moves on (it keeps its order with
                // the entries after it, which all have later homes or farther distances).
                self.slots[i] = slot;
                slot = s;
                dist = d;
            }
            i = (i + 1) & self.mask;
            dist += 1;
        }
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap].into_boxed_slice());
        self.mask = cap - 1;
        for s in old.iter().copied().filter(|&s| s != EMPTY) {
            self.place(s);
        }
    }

    /// Point the entry at `pos` (found by `find`, same tag) at another ref.
    pub(super) fn set_at(&mut self, pos: usize, r: Ref) {
        let tag = tag_of(self.slots[pos]);
        self.slots[pos] = pack(tag, r);
    }

    /// Remove the entry at `pos`, shifting later entries of the probe run back.
    pub(super) fn remove_at(&mut self, pos: usize) {
        let mask = self.mask;
        let mut hole = pos;
        let mut i = (pos + 1) & mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                break;
            }
            let home = tag_of(s) as usize & mask;
            // `s` may fill the hole if its home is not cyclically inside (hole, i].
            if (i.wrapping_sub(home) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                hole = i;
            }
            i = (i + 1) & mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }

    /// The ref stored at `pos`, if any (for the sweeper's scan).
    pub(super) fn at(&self, pos: usize) -> Option<Ref> {
        match self.slots.get(pos) {
            Some(&s) if s != EMPTY => Some(ref_of(s)),
            _ => None,
        }
    }

    /// Every entry, in slot order.
    pub(super) fn refs(&self) -> impl Iterator<Item = Ref> + '_ {
        self.slots
            .iter()
            .filter(|&&s| s != EMPTY)
            .map(|&s| ref_of(s))
    }

    /// log2 of the capacity (the number of home-slot bits).
    pub(super) fn bits(&self) -> u32 {
        self.slots.len().trailing_zeros()
    }

    /// Call `f` with every entry whose home slot, taken modulo `2^bits` (`bits <= self.bits()`),
    /// is in `lo..hi`. The set of entries a residue range selects depends only on their tags,
    /// not on where they sit, so a walk that visits residues `0..2^bits` in several calls
    /// (releasing the lock between them) sees every entry present for the whole walk exactly
    /// once, whatever inserts, removes (backward shifts) and growth happened in between.
    ///
    /// Cost: the home slots of the range plus the probe runs that spill past them.
    pub(super) fn for_residues(&self, bits: u32, lo: usize, hi: usize, mut f: impl FnMut(Ref)) {
        let bits = bits.min(self.bits());
        let step = 1usize << bits;
        let (lo, hi) = (lo.min(step), hi.min(step));
        if lo >= hi {
            return;
        }
        for base in (0..self.slots.len()).step_by(step) {
            let (start, end) = (base + lo, base + hi);
            // Entries with a home in start..end sit at or after their home, before the first
            // empty slot that follows it: scan until past `end` and at an empty slot.
            let mut i = start;
            while i < start + self.slots.len() {
                let s = self.slots[i & self.mask];
                if s == EMPTY {
                    if i >= end {
                        break;
                    }
                } else {
                    let home = tag_of(s) as usize & self.mask;
                    if (start..end).contains(&home) {
                        f(ref_of(s));
                    }
                }
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::xorshift;
    use std::collections::HashMap;

    #[test]
    fn insert_find_remove_against_map() {
        // Deterministic pseudo-random ops with deliberately colliding tags.
        let mut idx = Index::new(8);
        let mut model: HashMap<u32, u32> = HashMap::new(); // ref -> tag
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..50_000u32 {
            xorshift(&mut x);
            let r = (x % 3000) as u32;
            let tag = ((x >> 20) % 64) as u32 * 0x0101_0101; // few distinct tags, many collisions
            let tag = model.get(&r).copied().unwrap_or(tag);
            let found = idx.find(tag, |c| c == r);
            assert_eq!(found.is_some(), model.contains_key(&r), "step {step}");
            match found {
                Some((pos, _)) if x & 1 == 0 => {
                    idx.remove_at(pos);
                    model.remove(&r);
                }
                Some(_) => {}
                None => {
                    idx.insert(tag, r);
                    model.insert(r, tag);
                }
            }
            assert_eq!(idx.len(), model.len());
        }
        for (&r, &tag) in &model {
            assert!(idx.find(tag, |c| c == r).is_some());
        }
        assert!(idx.len() * MAX_LOAD_DEN <= idx.capacity() * MAX_LOAD_NUM);
        assert_sorted(&idx);
        let scanned = (0..idx.capacity()).filter(|&p| idx.at(p).is_some()).count();
        assert_eq!(scanned, model.len());
    }

    #[test]
    fn residue_walk_sees_survivors_exactly_once_across_changes() {
        let mut idx = Index::new(16);
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = move || xorshift(&mut x);
        // Refs 0..500 stay for the whole walk; others come and go between batches.
        let tags: Vec<u32> = (0..2000).map(|_| rnd() as u32).collect();
        for r in 0..500u32 {
            idx.insert(tags[r as usize], r);
        }
        let bits = idx.bits();
        let mut seen = vec![0u32; 2000];
        let mut live: Vec<u32> = Vec::new();
        let mut next = 500u32;
        for lo in 0..1usize << bits {
            idx.for_residues(bits, lo, lo + 1, |r| seen[r as usize] += 1);
            // Churn: inserts (forcing growth), removes (backward shifts across the cursor).
            for _ in 0..3 {
                if next < 2000 {
                    idx.insert(tags[next as usize], next);
                    live.push(next);
                    next += 1;
                }
            }
            if live.len() > 2 {
                let r = live.remove((rnd() as usize) % live.len());
                let (pos, _) = idx.find(tags[r as usize], |c| c == r).expect("present");
                idx.remove_at(pos);
            }
        }
        assert!(idx.bits() > bits, "the table grew during the walk");
        for (r, &n) in seen[..500].iter().enumerate() {
            assert_eq!(n, 1, "ref {r}");
        }
        assert!(seen.iter().all(|&n| n <= 1));
    }

    /// Every entry sits at or after its home, and no entry is farther from its home than the
    /// one before it is plus one (the runs are in Robin Hood order), which `find`'s early
    /// stop relies on.
    fn assert_sorted(idx: &Index) {
        let n = idx.slots.len();
        for i in 0..n {
            let (a, b) = (idx.slots[i], idx.slots[(i + 1) % n]);
            if a != EMPTY && b != EMPTY {
                assert!(
                    idx.dist(b, (i + 1) % n) <= idx.dist(a, i) + 1,
                    "slot {i}: run out of order"
                );
            }
            if b != EMPTY && idx.dist(b, (i + 1) % n) > 0 {
                assert!(a != EMPTY, "slot {}: entry after a hole", (i + 1) % n);
            }
        }
    }

    #[test]
    fn high_load_runs_stay_sorted_and_lookups_exact() {
        // 90% full with random tags: the runs are in order, every present key is found and
        // absent ones are not.
        let mut idx = Index::new(1 << 12);
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut rnd = move || xorshift(&mut x);
        let tags: Vec<u32> = (0..3686).map(|_| rnd() as u32).collect();
        for (r, &t) in tags.iter().enumerate() {
            idx.insert(t, r as u32);
        }
        assert_eq!(idx.capacity(), 1 << 12, "no growth below 90%");
        assert_sorted(&idx);
        for (r, &t) in tags.iter().enumerate() {
            assert_eq!(
                idx.find(t, |c| c == r as u32).map(|(_, c)| c),
                Some(r as u32)
            );
        }
        for _ in 0..10_000 {
            let t = rnd() as u32;
            assert!(idx.find(t, |_| false).is_none());
        }
        // Removing half keeps the order and every other key findable.
        for (r, &t) in tags.iter().enumerate().step_by(2) {
            let (pos, _) = idx.find(t, |c| c == r as u32).expect("present");
            idx.remove_at(pos);
        }
        assert_sorted(&idx);
        for (r, &t) in tags.iter().enumerate() {
            let found = idx.find(t, |c| c == r as u32).is_some();
            assert_eq!(found, r % 2 == 1, "ref {r}");
        }
    }

    #[test]
    fn wraparound_probe_and_remove() {
        let mut idx = Index::new(8);
        // All home at slot 7: they wrap to 0, 1, 2.
        for r in 0..4 {
            idx.insert(7, r);
        }
        let (pos, _) = idx.find(7, |c| c == 0).expect("present");
        assert_eq!(pos, 7);
        idx.remove_at(pos);
        for r in 1..4 {
            assert!(idx.find(7, |c| c == r).is_some());
        }
        let (pos, _) = idx.find(7, |c| c == 2).expect("present");
        idx.set_at(pos, 9);
        assert!(idx.find(7, |c| c == 9).is_some());
        assert!(idx.find(7, |c| c == 2).is_none());
    }
}
