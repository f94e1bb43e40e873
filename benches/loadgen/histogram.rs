//! Latency histogram: log-linear buckets in microseconds (~1.5% resolution), per thread,
//! merged after the run, read as percentiles.
//!
//! Owns: recording and percentiles. Must not touch: timing (the event loop measures a batch
//! and records it), output formatting.

pub(crate) const SUB_BITS: u32 = 6;
pub(crate) const SUB: u64 = 1 << SUB_BITS;

pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            counts: vec![0; (64 * SUB) as usize],
            total: 0,
        }
    }
    pub(crate) fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros() - SUB_BITS + 1; // >= 1
        let sub = (v >> (exp - 1)) - SUB; // 0..SUB
        (exp as u64 * SUB + sub) as usize
    }
    pub(crate) fn value_of(idx: usize) -> u64 {
        let idx = idx as u64;
        if idx < SUB {
            return idx;
        }
        let (exp, sub) = (idx / SUB, idx % SUB);
        // Midpoint of the bucket.
        ((SUB + sub) << (exp - 1)) + ((1u64 << (exp - 1)) >> 1)
    }
    pub(crate) fn record(&mut self, us: u64) {
        self.counts[Self::index(us)] += 1;
        self.total += 1;
    }
    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }
    pub(crate) fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value_of(i);
            }
        }
        0
    }
}
