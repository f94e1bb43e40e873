//! incr/decr: memcached's `do_add_delta` (in-place, space-padded rewrite when the new number
//! fits, a new item when it grows), with the meta and binary extras: a CAS to compare, and
//! auto-create on a miss (`vivify`: meta `ma N`, binary incr/decr with an exptime other
//! than 0xffffffff) under the key's lock. Also the number rules: memcached's `safe_strtoull`
//! applied to an item's data (which memcached follows with `\r\n`), wrapping `incr`,
//! flooring `decr`.
//!
//! Owns: the arithmetic rules and the per-class `incr_hits` / `decr_hits`.
//! Must not touch: protocol words.
//!
//! Locking follows `shard.rs`: a longer result is allocated without the lock and linked only
//! if the old item is unchanged (same ref, same sequence); otherwise the operation retries.

use super::engine::Inner;
use super::entry::Entry;
use super::mem::{BIT_KEY_BINARY, HEADER, Mem, Ref};
use super::shard::{Liveness, ShardCore, liveness};

/// Options of `Store::arith`: `ArithOpts { incr, delta, ..Default::default() }` is a plain
/// `incr` / `decr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArithOpts {
    /// `incr` (wraps at 2^64) or `decr` (floors at 0).
    pub incr: bool,
    pub delta: u64,
    /// Apply only if this is 0 or equals the item's CAS unique (meta `C`).
    pub cas: Option<u64>,
    /// On a miss, create the item with value `initial` (flags 0, this exptime, as the client
    /// sent it) under the key's lock and answer `initial`; the callback sees it with
    /// `created()` (meta `ma N`: exptime 0; binary incr/decr auto-create).
    pub vivify: Option<(u64, i64)>,
    /// The changed or created item's CAS unique (meta `E<cas>`) instead of a new one.
    pub cas_in: Option<u64>,
}

impl ArithOpts {
    /// A plain `incr` (`incr = true`) or `decr` by `delta`.
    pub fn new(incr: bool, delta: u64) -> ArithOpts {
        ArithOpts {
            incr,
            delta,
            ..ArithOpts::default()
        }
    }
}

/// Result of `Store::arith`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOutcome<R> {
    /// The new value (the initial one for a created item), and what the callback returned.
    Value(u64, R),
    /// No live item, and no `vivify`.
    NotFound,
    /// The item's value is not a number (memcached's rules).
    NonNumeric,
    /// The CAS given does not match.
    Exists,
    /// With `vivify`: another writer linked the key between the miss and the creation
    /// (memcached's `NOT_STORED`). Also: the item kept changing under a growing rewrite for
    /// 64 rounds.
    NotStored,
    /// The new, longer value needed memory and none could be found.
    NoMemory,
    /// With `vivify`: the key was missing and no memory could be found to create it.
    NoMemoryToCreate,
}

/// Parse a stored value the way memcached's `do_add_delta` does: `safe_strtoull` on the item
/// data (one implementation with the text parser's, in [`crate::decimal`]).
pub(super) use crate::decimal::strtoull as parse_value;

/// `incr` wraps at 2^64, `decr` floors at 0.
pub(super) fn apply(value: u64, incr: bool, delta: u64) -> u64 {
    if incr {
        value.wrapping_add(delta)
    } else {
        value.saturating_sub(delta)
    }
}

/// Decimal digits of `v` into `buf`; returns the used prefix.
pub(super) fn format(v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

impl Inner {
    /// See `Store::arith`.
    pub(super) fn arith<R>(
        &self,
        key: &[u8],
        opts: &ArithOpts,
        f: impl FnOnce(&mut Entry<'_>) -> R,
    ) -> ArithOutcome<R> {
        let ArithOpts {
            incr,
            delta,
            cas,
            vivify,
            ..
        } = *opts;
        let at = self.slot(key);
        let mem = &self.mem;
        let mut buf = [0u8; 20];
        let mut f = Some(f);
        let mut call = |g: &ShardCore, r, now, created| {
            let mut entry = Entry {
                inner: self,
                guard: g,
                r,
                now,
                created,
            };
            (f.take().expect("called once"))(&mut entry)
        };
        for _ in 0..64 {
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let mut g = self.lock(at.shard);
            let found = g.lookup(mem, at.tag, key);
            let live = match found {
                Some((pos, r)) if liveness(mem, r, now, fs) != Liveness::Live => {
                    g.unlink_at(mem, pos, r);
                    mem.free(r);
                    None
                }
                other => other,
            };
            let Some((_, r)) = live else {
                let Some((initial, exptime)) = vivify else {
                    return ArithOutcome::NotFound;
                };
                drop(g);
                let digits = format(initial, &mut buf);
                let Some(new) = self.alloc(HEADER + key.len() + digits.len(), at.shard) else {
                    return ArithOutcome::NoMemoryToCreate;
                };
                let now = self.clock.now();
                let exp = self.clock.rel_exptime(exptime);
                mem.write_item(new, key, 0, exp, now, &[digits]);
                let fs = self.flush_seq(now);
                let mut g = self.lock(at.shard);
                let in_way = g
                    .lookup(mem, at.tag, key)
                    .filter(|&(_, o)| liveness(mem, o, now, fs) == Liveness::Live);
                if in_way.is_some() {
                    drop(g);
                    mem.free(new);
                    return ArithOutcome::NotStored;
                }
                if let Some((pos, o)) = g.lookup(mem, at.tag, key) {
                    g.unlink_at(mem, pos, o);
                    mem.free(o);
                }
                self.stamp(&mut g, new, opts.cas_in);
                g.link_new(mem, at.tag, new);
                let out = call(&g, new, now, true);
                return ArithOutcome::Value(initial, out);
            };
            if cas.is_some_and(|c| c != 0 && c != self.shown_cas(g.cas(mem, r))) {
                return ArithOutcome::Exists;
            }
            let Some(old) = parse_value(mem.value(r, &*g)) else {
                return ArithOutcome::NonNumeric;
            };
            let value = apply(old, incr, delta);
            let digits = format(value, &mut buf);
            // In place (memcached's rule), unless a reply is sending the value right now.
            if digits.len() <= mem.value_len(r) && !mem.is_pinned(r) {
                mem.overwrite_value_padded(r, digits);
                self.stamp(&mut g, r, opts.cas_in);
                mem.set_atime(r, now);
                count_arith(&mut g, mem, r, incr);
                let out = call(&g, r, now, false);
                return ArithOutcome::Value(value, out);
            }
            let (old_seq, flags, exp, bits) =
                (mem.seq(r), mem.flags(r), mem.exptime(r), mem.bits(r));
            drop(g);
            let Some(new) = self.alloc(HEADER + key.len() + digits.len(), at.shard) else {
                return ArithOutcome::NoMemory;
            };
            let now = self.clock.now();
            mem.write_item(new, key, flags, exp, now, &[digits]);
            mem.set_bits(new, bits & BIT_KEY_BINARY);
            let fs = self.flush_seq(now);
            let mut g = self.lock(at.shard);
            match g.lookup(mem, at.tag, key) {
                Some((pos, o))
                    if o == r
                        && mem.seq(o) == old_seq
                        && liveness(mem, o, now, fs) == Liveness::Live =>
                {
                    self.stamp(&mut g, new, opts.cas_in);
                    g.replace(mem, pos, o, new);
                    mem.free(o);
                    count_arith(&mut g, mem, new, incr);
                    let out = call(&g, new, now, false);
                    return ArithOutcome::Value(value, out);
                }
                _ => {
                    drop(g);
                    mem.free(new);
                }
            }
        }
        ArithOutcome::NotStored
    }
}

/// memcached's `incr_hits` / `decr_hits` of `stats slabs`, in the class of the item.
fn count_arith(g: &mut ShardCore, mem: &Mem, r: Ref, incr: bool) {
    let c = g.cmds(mem, r);
    if incr {
        c.incr_hits += 1;
    } else {
        c.decr_hits += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_memcached() {
        // Cases checked against memcached 1.6.18.
        assert_eq!(parse_value(b"100"), Some(100));
        assert_eq!(parse_value(b"99 "), Some(99));
        assert_eq!(parse_value(b" 12 "), Some(12));
        assert_eq!(parse_value(b"+5   "), Some(5));
        assert_eq!(parse_value(b"000000000000000000001"), Some(1));
        assert_eq!(parse_value(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_value(b"-0"), Some(0));
        assert_eq!(parse_value(b"12\0zz"), Some(12));
        assert_eq!(parse_value(b"12\r\nab"), Some(12));
        assert_eq!(parse_value(b"99999999999999999999"), None);
        assert_eq!(parse_value(b"18446744073709551616"), None);
        assert_eq!(parse_value(b"12a"), None);
        assert_eq!(parse_value(b"-1"), None);
        assert_eq!(parse_value(b""), None);
        assert_eq!(parse_value(b"   "), None);
        assert_eq!(parse_value(b"-"), None);
        assert_eq!(parse_value(b"0x10"), None);
        assert_eq!(parse_value(b"abc"), None);
    }

    #[test]
    fn apply_and_format() {
        assert_eq!(apply(u64::MAX, true, 1), 0);
        assert_eq!(apply(5, false, 10), 0);
        assert_eq!(apply(5, true, 10), 15);
        let mut b = [0; 20];
        assert_eq!(format(0, &mut b), b"0");
        assert_eq!(format(u64::MAX, &mut b), b"18446744073709551615");
        assert_eq!(format(104, &mut b), b"104");
    }
}
