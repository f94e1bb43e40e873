//! The item size histogram behind `stats sizes` (memcached `-o track_sizes`,
//! `stats sizes_enable` / `stats sizes_disable`).
//!
//! Owns: the bucket counters. Must not touch: items (the shards report sizes to it).
//!
//! Buckets are memcached's: 32 bytes wide, an item of `n` bytes (header + key + value, as in
//! `bytes`) counts in bucket `ceil(n / 32) * 32`. Counts are of linked items.
//!
//! Exactness: every shard has its own "tracking" flag, read and written under its mutex.
//! Enabling walks the shards one at a time and, under each one's lock, adds its current items
//! and sets its flag; from then on that shard's links and unlinks update the counters. So the
//! histogram always equals the linked items of the shards that track, and once enabling is
//! done, all linked items. Disabling clears the flags the same way. The cost on the link and
//! unlink paths of a disabled histogram is one plain `bool` read under the shard lock the
//! caller already holds (no atomic at all). Enabling and disabling are serialised by `ctl`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Bucket width, as memcached.
const BUCKET: usize = 32;

pub(super) struct SizeHist {
    /// Counters, allocated the first time tracking is enabled.
    buckets: OnceLock<Box<[AtomicU64]>>,
    n_buckets: usize,
    /// Tracking is on (every shard counts); what `stats sizes` shows.
    enabled: AtomicBool,
    /// Serialises enable/disable; `true` while tracking is (being) on.
    pub(super) ctl: Mutex<bool>,
}

impl SizeHist {
    /// Room for items up to `max_item` bytes (bigger ones count in the last bucket).
    pub(super) fn new(max_item: usize) -> SizeHist {
        SizeHist {
            buckets: OnceLock::new(),
            n_buckets: max_item / BUCKET + 2,
            enabled: AtomicBool::new(false),
            ctl: Mutex::new(false),
        }
    }

    fn buckets(&self) -> &[AtomicU64] {
        self.buckets
            .get_or_init(|| (0..self.n_buckets).map(|_| AtomicU64::new(0)).collect())
    }

    fn bucket(&self, size: usize) -> usize {
        size.div_ceil(BUCKET).min(self.n_buckets - 1)
    }

    /// A linked item of `size` bytes appeared in a tracking shard.
    pub(super) fn add(&self, size: usize) {
        self.buckets()[self.bucket(size)].fetch_add(1, Ordering::Relaxed);
    }

    /// A linked item of `size` bytes left a tracking shard.
    pub(super) fn sub(&self, size: usize) {
        let b = &self.buckets()[self.bucket(size)];
        // Exact by construction (see module docs); saturate rather than wrap if not.
        let _ = b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1));
    }

    /// Zero every counter (enabling starts from zero, then adds the shards' items).
    pub(super) fn clear(&self) {
        for b in self.buckets() {
            b.store(0, Ordering::Relaxed);
        }
    }

    pub(super) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// `(bucket, count)` of the non-empty buckets, ascending; `None` when tracking is off.
    pub(super) fn snapshot(&self) -> Option<Vec<(usize, u64)>> {
        if !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        let out = self
            .buckets()
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let n = b.load(Ordering::Relaxed);
                (n > 0).then_some((i * BUCKET, n))
            })
            .collect();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_up_to_32() {
        let h = SizeHist::new(1024);
        h.set_enabled(true);
        for s in [1, 32, 33, 64, 65, 5000] {
            h.add(s);
        }
        h.sub(33);
        h.sub(64);
        h.sub(64); // saturates instead of wrapping
        assert_eq!(h.snapshot(), Some(vec![(32, 2), (96, 1), (1056, 1)]));
        h.set_enabled(false);
        assert_eq!(h.snapshot(), None);
    }
}
