//! Deterministic keys and values: the splitmix64 PRNG ([`Rng`]), the value pattern
//! ([`Values`], each value a function of its key number so any read can be checked) and key
//! formatting ([`KeyStyle`], `push_key`).
//!
//! Owns: what bytes a key or value is. Must not touch: the wire format around them
//! (request.rs), sockets, counters.

use std::io::Write;

/// splitmix64: a cheap, well-mixed hash of the key number (and the PRNG step).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

pub(crate) const PATTERN_SLACK: usize = 4096;

/// Values are windows into one printable pattern, at an offset that depends on the key, so
/// each value can be regenerated (and checked) from its key number alone.
pub(crate) struct Values {
    pattern: Vec<u8>,
    min: usize,
    max: usize,
}

impl Values {
    pub(crate) fn new(min: usize, max: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x7a1e);
        let pattern = (0..max + PATTERN_SLACK)
            .map(|_| b'a' + rng.below(26) as u8)
            .collect();
        Values { pattern, min, max }
    }
    pub(crate) fn size(&self, n: u64) -> usize {
        if self.min == self.max {
            self.min
        } else {
            self.min + (mix(n ^ 0x5151_5151) % (self.max - self.min + 1) as u64) as usize
        }
    }
    pub(crate) fn value(&self, n: u64) -> &[u8] {
        let off = (mix(n) % PATTERN_SLACK as u64) as usize;
        &self.pattern[off..off + self.size(n)]
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum KeyStyle {
    /// `key:<n>`
    Bench,
    /// `<prefix><n:09>`
    Fill,
}

pub(crate) fn push_key(out: &mut Vec<u8>, style: KeyStyle, prefix: &str, n: u64) {
    match style {
        KeyStyle::Bench => {
            let _ = write!(out, "key:{n}");
        }
        KeyStyle::Fill => {
            let _ = write!(out, "{prefix}{n:09}");
        }
    }
}
