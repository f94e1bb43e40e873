//! `stats detail on|off|dump`: per-prefix get / hit / set / del counters.
//!
//! A key's prefix is what comes before its first delimiter (`-D`, default `:`); keys
//! without the delimiter are not counted. As in memcached 1.6.18: text `get`/`gets`/`gat`/
//! `gats` and binary Get/GetK/GAT/Touch (and their quiet forms) count a get per key (and a
//! hit when found), every text storage command and binary Set/Add/Replace/Append/Prepend
//! counts a set whatever its outcome (too large included), `delete` and binary Delete
//! count a del hit or miss; meta commands, text `touch` and `incr`/`decr` are not counted.
//! Both protocols switch and dump it (binary: Stat `detail on|off|dump`). `stats detail off` stops counting but keeps the numbers;
//! `stats reset` forgets them.
//!
//! memcached keeps the prefixes in a 256-bucket table hashed with its default hash
//! (MurmurHash3 x86_32, seed 0), newest first in a bucket, and dumps bucket by bucket; we
//! keep the same layout so `dump` lists prefixes in the same order.
//!
//! Cost when off: one relaxed load per counted key.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

const BUCKETS: usize = 256;
/// memcached's `MAX_PREFIX_COUNT`: further new prefixes are not counted.
const MAX_PREFIXES: usize = 1 << 16;

#[derive(Default)]
struct Prefix {
    name: Vec<u8>,
    gets: u64,
    hits: u64,
    sets: u64,
    dels: u64,
}

struct Table {
    buckets: Vec<Vec<Prefix>>,
    count: usize,
}

/// The per-prefix counters and the on/off switch.
pub struct Detail {
    enabled: AtomicBool,
    delimiter: u8,
    table: Mutex<Table>,
}

/// Which counter to bump.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Get { hit: bool },
    Set,
    Del,
}

impl Detail {
    pub fn new(delimiter: u8) -> Detail {
        Detail {
            enabled: AtomicBool::new(false),
            delimiter,
            table: Mutex::new(Table {
                buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
                count: 0,
            }),
        }
    }

    /// Whether counting is on (one relaxed load).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Counts `op` for `key` when detail is on.
    #[inline]
    pub fn record(&self, key: &[u8], op: Op) {
        if self.enabled() {
            self.record_slow(key, op);
        }
    }

    #[cold]
    fn record_slow(&self, key: &[u8], op: Op) {
        // memcached reads the key as a C string: a NUL ends it.
        let key = key.split(|&b| b == 0).next().unwrap_or_default();
        let Some(len) = key.iter().position(|&b| b == self.delimiter) else {
            return;
        };
        let name = &key[..len];
        let bucket = murmur3_32(name) as usize % BUCKETS;
        let mut t = self.table.lock();
        let t = &mut *t;
        let Some(list) = t.buckets.get_mut(bucket) else {
            return;
        };
        let p = match list.iter().position(|p| p.name == name) {
            Some(i) => &mut list[i],
            None => {
                if t.count >= MAX_PREFIXES {
                    return;
                }
                t.count += 1;
                list.insert(
                    0,
                    Prefix {
                        name: name.to_vec(),
                        ..Prefix::default()
                    },
                );
                &mut list[0]
            }
        };
        match op {
            Op::Get { hit } => {
                p.gets += 1;
                if hit {
                    p.hits += 1;
                }
            }
            Op::Set => p.sets += 1,
            Op::Del => p.dels += 1,
        }
    }

    /// `stats detail dump`: `PREFIX <p> get N hit N set N del N` lines, then `END`.
    pub fn dump(&self, out: &mut Vec<u8>) {
        use crate::protocol::text::encode;
        let t = self.table.lock();
        for p in t.buckets.iter().flatten() {
            encode::detail_prefix(out, &p.name, p.gets, p.hits, p.sets, p.dels);
        }
        encode::end(out);
    }

    /// `stats reset`: forgets every prefix.
    pub fn clear(&self) {
        let mut t = self.table.lock();
        for b in &mut t.buckets {
            b.clear();
        }
        t.count = 0;
    }
}

/// MurmurHash3 x86_32 with seed 0: memcached's default `hash_algorithm`.
fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h: u32 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    let mut k: u32 = 0;
    for (i, &b) in tail.iter().enumerate() {
        k ^= u32::from(b) << (8 * i);
    }
    if !tail.is_empty() {
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(d: &Detail) -> String {
        let mut out = Vec::new();
        d.dump(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn murmur3_known_values() {
        // Reference values of MurmurHash3_x86_32 with seed 0.
        assert_eq!(murmur3_32(b""), 0);
        assert_eq!(murmur3_32(b"hello"), 0x248b_fa47);
        assert_eq!(murmur3_32(b"Hello, world!"), 0xc036_3e43);
    }

    #[test]
    fn counts_only_when_on_and_only_delimited_keys() {
        let d = Detail::new(b':');
        d.record(b"a:1", Op::Set);
        assert_eq!(dump(&d), "END\r\n");
        d.set_enabled(true);
        d.record(b"a:1", Op::Set);
        d.record(b"a:2", Op::Get { hit: true });
        d.record(b"a:3", Op::Get { hit: false });
        d.record(b"a:3", Op::Del);
        d.record(b"nodelim", Op::Set);
        d.set_enabled(false);
        d.record(b"a:1", Op::Set);
        assert_eq!(dump(&d), "PREFIX a get 2 hit 1 set 1 del 1\r\nEND\r\n");
        d.clear();
        assert_eq!(dump(&d), "END\r\n");
    }

    #[test]
    fn dump_order_is_memcached_bucket_order() {
        // memcached 1.6.18 printed exactly this order for these prefixes.
        let d = Detail::new(b':');
        d.set_enabled(true);
        for k in [&b"a:b"[..], b"b:1", b":x", b"c:"] {
            d.record(k, Op::Set);
        }
        let names: Vec<String> = dump(&d)
            .lines()
            .filter_map(|l| l.strip_prefix("PREFIX "))
            .map(|l| l.split(" get").next().unwrap().to_string())
            .collect();
        assert_eq!(names, ["", "b", "c", "a"]);
    }

    #[test]
    fn other_delimiter() {
        let d = Detail::new(b'/');
        d.set_enabled(true);
        d.record(b"a:1", Op::Set);
        d.record(b"x/1", Op::Del);
        assert_eq!(dump(&d), "PREFIX x get 0 hit 0 set 0 del 1\r\nEND\r\n");
    }
}
