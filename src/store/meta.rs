//! Store support for memcached's meta commands (`mg ms md ma me`): a lookup handle that can
//! report and change what the meta flags need (last access, remaining TTL, fetched-before,
//! stale and win-token state), invalidation (mark stale, bump CAS), vivify-on-miss, and
//! CAS-reporting stores and arithmetic.
//!
//! Owns: the meta operations' store rules (memcached 1.6.18 `do_store_item`, `do_add_delta`,
//! `process_mdelete_command`'s invalidation). Must not touch: protocol words or flag letters.
//!
//! The stale / win-token / binary-key state lives in spare bits of the item header's bits
//! byte (`BIT_STALE`, `BIT_TOKEN_SENT`, `BIT_KEY_BINARY` in `mem.rs`), so per-item overhead
//! is unchanged. Every operation follows the locking contract of `shard.rs`: allocate with no
//! lock held, then lock the key's shard once to apply the rules; items are read and written
//! only under that lock (the `MetaEntry` handle borrows the shard guard).

use super::arith;
use super::engine::Inner;
use super::mem::{BIT_FETCHED, BIT_KEY_BINARY, BIT_REFERENCED, BIT_STALE, BIT_TOKEN_SENT, HEADER};
use super::shard::{Liveness, ShardCore, liveness};
use super::{Lookup, SetMode, Store, StoreOutcome, Value};

/// A live item under its shard lock, handed to the callback of a meta operation. Reads
/// report the state as it was before this request's own LRU bump.
/// The per-class hit counter (`stats slabs` `get_hits` or `touch_hits`) a meta lookup
/// counts in when it finds the item: memcached counts `mg` with `T` as a touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitCount {
    Get,
    Touch,
    /// Not a client fetch (`me`, internal peeks).
    Uncounted,
}

pub struct MetaEntry<'g> {
    inner: &'g Inner,
    guard: &'g ShardCore,
    r: super::mem::Ref,
    now: u32,
    created: bool,
}

impl<'g> MetaEntry<'g> {
    pub fn key(&self) -> &[u8] {
        self.inner.mem.key(self.r, self.guard)
    }
    pub fn value(&self) -> &[u8] {
        self.inner.mem.value(self.r, self.guard)
    }
    pub fn flags(&self) -> u32 {
        self.inner.mem.flags(self.r)
    }
    /// The CAS unique as clients see it (0 with `-C`).
    pub fn cas(&self) -> u64 {
        self.inner.shown_cas(self.inner.mem.cas(self.r))
    }
    /// Remaining seconds to live, or -1 for "never" (memcached's `t` flag).
    pub fn ttl(&self) -> i64 {
        match self.inner.mem.exptime(self.r) {
            0 => -1,
            e => i64::from(e.wrapping_sub(self.now)),
        }
    }
    /// memcached's `me` field `exp`: `current_time - exptime` as a C int (negative while the
    /// item lives), -1 for "never".
    pub fn exp_debug(&self) -> i64 {
        match self.inner.mem.exptime(self.r) {
            0 => -1,
            e => i64::from(self.now.wrapping_sub(e) as i32),
        }
    }
    /// Give the item a new exptime (protocol rules: 0 never, negative expired, ...).
    pub fn set_exptime(&mut self, exptime: i64) {
        let e = self.inner.clock.rel_exptime(exptime);
        self.inner.mem.set_exptime(self.r, e);
    }
    /// Seconds since the last access before this request.
    pub fn last_access(&self) -> u32 {
        self.now.wrapping_sub(self.inner.mem.atime(self.r))
    }
    /// Fetched at least once before this request.
    pub fn fetched(&self) -> bool {
        self.bits() & BIT_FETCHED != 0
    }
    /// Marked stale by an invalidation.
    pub fn stale(&self) -> bool {
        self.bits() & BIT_STALE != 0
    }
    /// A client already won the right to recache it.
    pub fn token_sent(&self) -> bool {
        self.bits() & BIT_TOKEN_SENT != 0
    }
    /// Stored with a base64-encoded (binary) key.
    pub fn key_binary(&self) -> bool {
        self.bits() & BIT_KEY_BINARY != 0
    }
    /// Created by this request (vivify on miss).
    pub fn created(&self) -> bool {
        self.created
    }
    /// memcached's `R` rule: no token sent yet, not just created, and the item expires
    /// before `exptime` would.
    pub fn recache_due(&self, exptime: i64) -> bool {
        let e = self.inner.mem.exptime(self.r);
        !self.token_sent() && !self.created && e != 0 && e < self.inner.clock.rel_exptime(exptime)
    }
    /// Pin the value for a reply that sends it from item memory, through `keep` (see
    /// `ItemView::pin_with`).
    pub fn pin_value_with(
        &self,
        keep: &std::sync::Arc<super::Store>,
    ) -> Option<super::PinnedValue> {
        super::engine::ItemHandle::new(self.inner, self.r, self.guard).pin(keep)
    }
    /// Record that a win token was handed out.
    pub fn set_token_sent(&mut self) {
        let b = self.bits();
        self.inner.mem.set_bits(self.r, b | BIT_TOKEN_SENT);
    }
    /// Slab class id (1-based, as in `stats slabs`).
    pub fn class_id(&self) -> usize {
        self.inner.mem.class_of(self.r) + 1
    }
    /// Header + key + value bytes.
    pub fn item_size(&self) -> usize {
        self.inner.mem.item_size(self.r)
    }
    fn bits(&self) -> u8 {
        self.inner.mem.bits(self.r)
    }
}

/// Result of a meta delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaDeleteOutcome {
    Deleted,
    /// Marked stale (kept, new CAS) instead of deleted.
    Invalidated,
    NotFound,
    /// The CAS given does not match.
    Exists,
}

/// Result of a meta arithmetic command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaArithOutcome<R> {
    /// The new value, and what the callback returned.
    Value(u64, R),
    NotFound,
    NonNumeric,
    /// The CAS given does not match.
    Exists,
    /// Auto-create lost a race with another writer.
    NotStored,
    NoMemory,
}

/// Options of a meta store (`ms`) beyond the classic ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaStoreOpts {
    /// `I`: with `SetMode::Cas`, a CAS lower than the item's still stores, keeping the old
    /// exptime and win-token state and marking the new item stale.
    pub invalidate: bool,
    /// The key was given base64-encoded; remember it so replies encode it again.
    pub key_binary: bool,
    /// For `Append`/`Prepend`: store only if this is 0 or the item's CAS unique.
    pub concat_cas: u64,
    /// The classic text/binary rule for failures (memcached's `process_update_command`):
    /// a store that is too large or finds no memory unlinks the old item only in `Set`
    /// mode. Without it (meta `ms`), every mode unlinks.
    pub set_only_unlink: bool,
}

impl Store {
    /// Meta get: look `key` up and call `f` with a handle on the live item (under the shard
    /// lock: keep `f` short). With `vivify`, a miss creates an empty item (flags 0, never
    /// expiring) and `f` sees it with `created()`. Afterwards, unless `no_bump`, the item is
    /// marked fetched and accessed now.
    pub fn meta_get<R>(
        &self,
        key: &[u8],
        vivify: bool,
        no_bump: bool,
        count: HitCount,
        f: impl FnOnce(&mut MetaEntry<'_>) -> R,
    ) -> Lookup<R> {
        self.inner.meta_get(key, vivify, no_bump, count, f)
    }

    /// Meta set: `store` with memcached's meta rules (`MetaStoreOpts`); returns the new CAS
    /// unique on success (0 otherwise). A failed allocation (`TooLarge`, `NoMemory`) deletes
    /// the key's old item in every mode, as memcached's `ms` does.
    pub fn meta_store<'v>(
        &self,
        mode: SetMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: impl Into<Value<'v>>,
        opts: MetaStoreOpts,
    ) -> (StoreOutcome, u64) {
        self.inner
            .meta_store(mode, key, flags, exptime, data.into(), opts)
    }

    /// Meta delete: only if `cas` is `None` or matches; with `invalidate`, mark the item
    /// stale, clear its win token, give it a new CAS and (with `exptime`) a new exptime
    /// instead of deleting it.
    pub fn meta_delete(
        &self,
        key: &[u8],
        cas: Option<u64>,
        invalidate: bool,
        exptime: Option<i64>,
    ) -> MetaDeleteOutcome {
        self.inner.meta_delete(key, cas, invalidate, exptime)
    }

    /// Meta arithmetic: incr/decr by `delta` if `cas` is `None`/0 or matches; on a miss with
    /// `vivify = Some(initial)`, create the item with value `initial` (flags 0, never
    /// expiring). `f` sees the resulting item under its lock.
    pub fn meta_arith<R>(
        &self,
        key: &[u8],
        incr: bool,
        delta: u64,
        cas: Option<u64>,
        vivify: Option<u64>,
        f: impl FnOnce(&mut MetaEntry<'_>) -> R,
    ) -> MetaArithOutcome<R> {
        self.inner.meta_arith(key, incr, delta, cas, vivify, f)
    }
}

impl Inner {
    fn bump(&self, r: super::mem::Ref, now: u32) {
        let mem = &self.mem;
        let bits = mem.bits(r);
        if bits & (BIT_FETCHED | BIT_REFERENCED) != BIT_FETCHED | BIT_REFERENCED {
            mem.set_bits(r, bits | BIT_FETCHED | BIT_REFERENCED);
        }
        if mem.atime(r) != now {
            mem.set_atime(r, now);
        }
    }

    pub(super) fn meta_get<R>(
        &self,
        key: &[u8],
        vivify: bool,
        no_bump: bool,
        count: HitCount,
        f: impl FnOnce(&mut MetaEntry<'_>) -> R,
    ) -> Lookup<R> {
        let at = self.slot(key);
        let mem = &self.mem;
        let mut fresh = None;
        // At most two rounds: look up; on a vivify miss allocate without the lock and retry.
        for _ in 0..2 {
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let mut g = self.lock(at.shard);
            let found = g.lookup(mem, at.tag, key);
            let mut miss = Lookup::Miss;
            let live = match found {
                Some((pos, r)) => match liveness(mem, r, now, fs) {
                    Liveness::Live => Some(r),
                    state => {
                        g.unlink_at(mem, pos, r);
                        mem.free(r);
                        miss = if state == Liveness::Expired {
                            Lookup::Expired
                        } else {
                            Lookup::Flushed
                        };
                        None
                    }
                },
                None => None,
            };
            let (r, created) = match (live, fresh.take()) {
                (Some(r), spare) => {
                    if let Some(s) = spare {
                        mem.free(s);
                    }
                    (r, false)
                }
                (None, Some(new)) => {
                    mem.set_cas(new, self.next_seq());
                    g.link_new(mem, at.tag, new);
                    (new, true)
                }
                (None, None) if vivify => {
                    drop(g);
                    match self.alloc(HEADER + key.len(), at.shard) {
                        Some(new) => {
                            mem.write_item(new, key, 0, 0, self.clock.now(), &[]);
                            fresh = Some(new);
                            continue;
                        }
                        None => return miss,
                    }
                }
                (None, None) => return miss,
            };
            let out = {
                let mut entry = MetaEntry {
                    inner: self,
                    guard: &g,
                    r,
                    now,
                    created,
                };
                f(&mut entry)
            };
            match count {
                HitCount::Get => g.cmds(mem, r).get_hits += 1,
                HitCount::Touch => g.cmds(mem, r).touch_hits += 1,
                HitCount::Uncounted => {}
            }
            if !no_bump {
                self.bump(r, now);
            }
            return Lookup::Hit(out);
        }
        if let Some(s) = fresh {
            mem.free(s);
        }
        Lookup::Miss
    }

    pub(super) fn meta_store(
        &self,
        mode: SetMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        mut value: Value<'_>,
        opts: MetaStoreOpts,
    ) -> (StoreOutcome, u64) {
        let fail = |o: StoreOutcome| {
            if !opts.set_only_unlink || mode == SetMode::Set {
                self.delete(key);
            }
            (o, 0)
        };
        let concat = matches!(mode, SetMode::Append | SetMode::Prepend);
        // An item reserved for this value becomes the item itself (not for append/prepend,
        // whose item holds the old value too: they copy from it).
        let mut reserved = match &mut value {
            Value::Refused(o) => return fail(*o),
            Value::Reserved(res) if !concat && res.key_is(key) => {
                res.take_chunk().map(|r| (r, res.len()))
            }
            _ => None,
        };
        let data: &[u8] = match (&value, reserved) {
            (Value::Bytes(b), None) => b,
            (Value::Reserved(res), None) => res.value(),
            // Already in the reserved chunk.
            _ => &[],
        };
        let data_len = reserved.map_or(data.len(), |(_, n)| n);
        if !self.item_size_ok(key.len(), data_len) {
            if let Some((r, _)) = reserved {
                self.mem.free(r);
            }
            return fail(StoreOutcome::TooLarge);
        }
        let at = self.slot(key);
        let mem = &self.mem;
        let exp = self.clock.rel_exptime(exptime);
        let key_bit = if opts.key_binary { BIT_KEY_BINARY } else { 0 };
        // Append/prepend size the new item from the old one: read, allocate, re-check.
        let mut extra = 0usize;
        for round in 0..64 {
            let prefilled = reserved.is_some();
            let new = match reserved.take() {
                Some((r, _)) => r,
                None => match self.alloc(HEADER + key.len() + data_len + extra, at.shard) {
                    Some(r) => r,
                    None if concat => return (StoreOutcome::NotStored, 0),
                    None => return fail(StoreOutcome::NoMemory),
                },
            };
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let mut g = self.lock(at.shard);
            if round == 0 {
                // memcached counts every storage command whose item it allocated, in the
                // class of that item (for append/prepend: of the data alone).
                g.cmds(mem, new).cmd_set += 1;
            }
            let old = g.lookup(mem, at.tag, key);
            let live = old.filter(|&(_, r)| liveness(mem, r, now, fs) == Liveness::Live);
            let dead = old.filter(|_| live.is_none());
            if let Some((pos, o)) = dead {
                g.unlink_at(mem, pos, o);
            }
            let cas_of = |r| self.shown_cas(mem.cas(r));
            let outcome = match (mode, live) {
                (SetMode::Add, Some(_)) => StoreOutcome::NotStored,
                (SetMode::Replace | SetMode::Append | SetMode::Prepend, None) => {
                    StoreOutcome::NotStored
                }
                (SetMode::Cas(_), None) => StoreOutcome::NotFound,
                (SetMode::Cas(u), Some((_, r))) if u != cas_of(r) => {
                    if opts.invalidate && u < cas_of(r) {
                        StoreOutcome::Stored
                    } else {
                        StoreOutcome::Exists
                    }
                }
                // memcached: append/prepend compare a non-zero CAS given with `C`.
                (SetMode::Append | SetMode::Prepend, Some((_, r)))
                    if opts.concat_cas != 0 && opts.concat_cas != cas_of(r) =>
                {
                    StoreOutcome::Exists
                }
                _ => StoreOutcome::Stored,
            };
            if let Some((_, r)) = live {
                match outcome {
                    StoreOutcome::Exists => g.cmds(mem, r).cas_badval += 1,
                    StoreOutcome::Stored if matches!(mode, SetMode::Cas(_)) => {
                        g.cmds(mem, r).cas_hits += 1
                    }
                    _ => {}
                }
            }
            if outcome != StoreOutcome::Stored {
                drop(g);
                mem.free(new);
                if let Some((_, o)) = dead {
                    mem.free(o);
                }
                return (outcome, 0);
            }
            let mut bits = key_bit;
            if let (SetMode::Append | SetMode::Prepend, Some((pos, r))) = (mode, live) {
                {
                    let old_len = mem.value_len(r);
                    if old_len != extra {
                        // Sized for another old value: retry with the right size.
                        extra = old_len;
                        drop(g);
                        mem.free(new);
                        if !self.item_size_ok(key.len(), data_len + extra) {
                            return (StoreOutcome::NotStored, 0);
                        }
                        continue;
                    }
                    let old_val = mem.value(r, &g);
                    let parts: [&[u8]; 2] = if mode == SetMode::Append {
                        [old_val, data]
                    } else {
                        [data, old_val]
                    };
                    mem.write_item(new, key, mem.flags(r), mem.exptime(r), now, &parts);
                    bits |= mem.bits(r) & BIT_KEY_BINARY;
                    mem.set_bits(new, bits);
                    let seq = self.next_seq();
                    mem.set_cas(new, seq);
                    g.replace(mem, pos, r, new);
                    drop(g);
                    mem.free(r);
                    return (StoreOutcome::Stored, self.shown_cas(seq));
                }
            }
            let mut exp_now = exp;
            if let (SetMode::Cas(u), Some((_, r))) = (mode, live)
                && u != cas_of(r)
            {
                // Invalidating store of an older value: keep TTL and token, mark stale.
                exp_now = mem.exptime(r);
                bits |= BIT_STALE | (mem.bits(r) & BIT_TOKEN_SENT);
            }
            if prefilled {
                mem.write_header(new, key, flags, exp_now, now, data_len);
            } else {
                mem.write_item(new, key, flags, exp_now, now, &[data]);
            }
            mem.set_bits(new, bits);
            let seq = self.next_seq();
            mem.set_cas(new, seq);
            match live {
                Some((pos, o)) => g.replace(mem, pos, o, new),
                None => g.link_new(mem, at.tag, new),
            }
            drop(g);
            if let Some((_, o)) = live.or(dead) {
                mem.free(o);
            }
            return (StoreOutcome::Stored, self.shown_cas(seq));
        }
        (StoreOutcome::NotStored, 0)
    }

    pub(super) fn meta_delete(
        &self,
        key: &[u8],
        cas: Option<u64>,
        invalidate: bool,
        exptime: Option<i64>,
    ) -> MetaDeleteOutcome {
        let at = self.slot(key);
        let mem = &self.mem;
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let new_exp = exptime.map(|e| self.clock.rel_exptime(e));
        let mut g = self.lock(at.shard);
        let Some((pos, r)) = g.lookup(mem, at.tag, key) else {
            return MetaDeleteOutcome::NotFound;
        };
        if liveness(mem, r, now, fs) != Liveness::Live {
            g.unlink_at(mem, pos, r);
            drop(g);
            mem.free(r);
            return MetaDeleteOutcome::NotFound;
        }
        if cas.is_some_and(|c| c != self.shown_cas(mem.cas(r))) {
            return MetaDeleteOutcome::Exists;
        }
        if invalidate {
            if let Some(e) = new_exp {
                mem.set_exptime(r, e);
            }
            let bits = (mem.bits(r) | BIT_STALE) & !BIT_TOKEN_SENT;
            mem.set_bits(r, bits);
            mem.set_cas(r, self.next_seq());
            return MetaDeleteOutcome::Invalidated;
        }
        g.cmds(mem, r).delete_hits += 1;
        g.unlink_at(mem, pos, r);
        drop(g);
        mem.free(r);
        MetaDeleteOutcome::Deleted
    }

    pub(super) fn meta_arith<R>(
        &self,
        key: &[u8],
        incr: bool,
        delta: u64,
        cas: Option<u64>,
        vivify: Option<u64>,
        f: impl FnOnce(&mut MetaEntry<'_>) -> R,
    ) -> MetaArithOutcome<R> {
        let at = self.slot(key);
        let mem = &self.mem;
        let mut buf = [0u8; 20];
        let mut f = Some(f);
        let mut call = |g: &ShardCore, r, now, created| {
            let mut entry = MetaEntry {
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
                let Some(initial) = vivify else {
                    return MetaArithOutcome::NotFound;
                };
                drop(g);
                let digits = arith::format(initial, &mut buf);
                let Some(new) = self.alloc(HEADER + key.len() + digits.len(), at.shard) else {
                    return MetaArithOutcome::NoMemory;
                };
                let now = self.clock.now();
                mem.write_item(new, key, 0, 0, now, &[digits]);
                let fs = self.flush_seq(now);
                let mut g = self.lock(at.shard);
                let in_way = g
                    .lookup(mem, at.tag, key)
                    .filter(|&(_, o)| liveness(mem, o, now, fs) == Liveness::Live);
                if in_way.is_some() {
                    drop(g);
                    mem.free(new);
                    return MetaArithOutcome::NotStored;
                }
                if let Some((pos, o)) = g.lookup(mem, at.tag, key) {
                    g.unlink_at(mem, pos, o);
                    mem.free(o);
                }
                mem.set_cas(new, self.next_seq());
                g.link_new(mem, at.tag, new);
                let out = call(&g, new, now, true);
                return MetaArithOutcome::Value(initial, out);
            };
            if cas.is_some_and(|c| c != 0 && c != self.shown_cas(mem.cas(r))) {
                return MetaArithOutcome::Exists;
            }
            let Some(old) = arith::parse_value(mem.value(r, &g)) else {
                return MetaArithOutcome::NonNumeric;
            };
            let value = arith::apply(old, incr, delta);
            let digits = arith::format(value, &mut buf);
            // In place (memcached's rule), unless a reply is sending the value right now.
            if digits.len() <= mem.value_len(r) && !mem.is_pinned(r) {
                mem.overwrite_value_padded(r, digits);
                mem.set_cas(r, self.next_seq());
                mem.set_atime(r, now);
                count_arith(&mut g, mem, r, incr);
                let out = call(&g, r, now, false);
                return MetaArithOutcome::Value(value, out);
            }
            let (old_seq, flags, exp, bits) =
                (mem.cas(r), mem.flags(r), mem.exptime(r), mem.bits(r));
            drop(g);
            let Some(new) = self.alloc(HEADER + key.len() + digits.len(), at.shard) else {
                return MetaArithOutcome::NoMemory;
            };
            let now = self.clock.now();
            mem.write_item(new, key, flags, exp, now, &[digits]);
            mem.set_bits(new, bits & BIT_KEY_BINARY);
            let fs = self.flush_seq(now);
            let mut g = self.lock(at.shard);
            match g.lookup(mem, at.tag, key) {
                Some((pos, o))
                    if o == r
                        && mem.cas(o) == old_seq
                        && liveness(mem, o, now, fs) == Liveness::Live =>
                {
                    mem.set_cas(new, self.next_seq());
                    g.replace(mem, pos, o, new);
                    mem.free(o);
                    count_arith(&mut g, mem, new, incr);
                    let out = call(&g, new, now, false);
                    return MetaArithOutcome::Value(value, out);
                }
                _ => {
                    drop(g);
                    mem.free(new);
                }
            }
        }
        MetaArithOutcome::NotStored
    }
}

/// memcached's `incr_hits` / `decr_hits` of `stats slabs`, in the class of the item.
fn count_arith(g: &mut ShardCore, mem: &super::mem::Mem, r: super::mem::Ref, incr: bool) {
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
    use crate::store::StoreConfig;

    fn store() -> Store {
        Store::new(StoreConfig {
            mem_limit: 4 << 20,
            item_size_max: 1 << 20,
            growth_factor: 1.25,
            min_chunk: 48,
            evictions: true,
            cas: true,
            crawler_enabled: true,
            slab_chunk_max: StoreConfig::DEFAULT_SLAB_CHUNK_MAX,
            slab_sizes: None,
            track_sizes: false,
        })
    }

    /// (ttl, fetched, stale, token_sent, created, cas) seen by a non-bumping meta get.
    fn peek(s: &Store, key: &[u8]) -> Option<(i64, bool, bool, bool, bool, u64)> {
        match s.meta_get(key, false, true, HitCount::Uncounted, |e| {
            (
                e.ttl(),
                e.fetched(),
                e.stale(),
                e.token_sent(),
                e.created(),
                e.cas(),
            )
        }) {
            Lookup::Hit(v) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn meta_get_reports_state_before_its_own_bump() {
        let s = store();
        s.store(SetMode::Set, b"k", 3, 100, b"v");
        let first = s.meta_get(b"k", false, false, HitCount::Uncounted, |e| {
            (e.fetched(), e.last_access())
        });
        assert_eq!(first, Lookup::Hit((false, 0)));
        assert_eq!(peek(&s, b"k").map(|p| (p.0, p.1)), Some((100, true)));
        s.advance_clock_for_test(5);
        let la = s.meta_get(b"k", false, true, HitCount::Uncounted, |e| e.last_access());
        assert_eq!(la, Lookup::Hit(5));
        // Touch through the handle.
        s.meta_get(b"k", false, true, HitCount::Uncounted, |e| e.set_exptime(0));
        assert_eq!(peek(&s, b"k").map(|p| p.0), Some(-1));
        assert_eq!(
            s.meta_get(b"none", false, false, HitCount::Uncounted, |_| ()),
            Lookup::Miss
        );
    }

    #[test]
    fn vivify_creates_an_empty_item_once() {
        let s = store();
        let r = s.meta_get(b"v", true, false, HitCount::Uncounted, |e| {
            (e.created(), e.value().len(), e.flags())
        });
        assert_eq!(r, Lookup::Hit((true, 0, 0)));
        let r = s.meta_get(b"v", true, false, HitCount::Uncounted, |e| e.created());
        assert_eq!(r, Lookup::Hit(false));
        assert_eq!(s.stats().curr_items, 1);
    }

    #[test]
    fn invalidate_marks_stale_and_tokens_follow_memcached() {
        let s = store();
        s.store(SetMode::Set, b"k", 0, 0, b"v");
        let cas0 = s.peek_cas(b"k").unwrap();
        assert_eq!(
            s.meta_delete(b"k", Some(cas0 + 9), true, None),
            MetaDeleteOutcome::Exists
        );
        assert_eq!(
            s.meta_delete(b"k", Some(cas0), true, Some(30)),
            MetaDeleteOutcome::Invalidated
        );
        let (ttl, _, stale, sent, _, cas1) = peek(&s, b"k").unwrap();
        assert!(stale && !sent && cas1 > cas0 && ttl == 30);
        s.meta_get(b"k", false, true, HitCount::Uncounted, |e| {
            e.set_token_sent()
        });
        assert!(peek(&s, b"k").unwrap().3);
        // A lower CAS with invalidate stores a stale value keeping TTL and token.
        let opts = MetaStoreOpts {
            invalidate: true,
            ..MetaStoreOpts::default()
        };
        let (o, cas2) = s.meta_store(SetMode::Cas(cas0), b"k", 0, 0, b"w", opts);
        assert_eq!(o, StoreOutcome::Stored);
        let (ttl, _, stale, sent, _, cas) = peek(&s, b"k").unwrap();
        assert_eq!((ttl, stale, sent, cas), (30, true, true, cas2));
        // A higher one does not.
        let (o, _) = s.meta_store(SetMode::Cas(cas2 + 5), b"k", 0, 0, b"w", opts);
        assert_eq!(o, StoreOutcome::Exists);
        // A plain store clears everything.
        s.meta_store(SetMode::Set, b"k", 0, 0, b"x", MetaStoreOpts::default());
        let (_, _, stale, sent, _, _) = peek(&s, b"k").unwrap();
        assert!(!stale && !sent);
        assert_eq!(
            s.meta_delete(b"k", None, false, None),
            MetaDeleteOutcome::Deleted
        );
        assert_eq!(
            s.meta_delete(b"k", None, false, None),
            MetaDeleteOutcome::NotFound
        );
    }

    #[test]
    fn meta_store_concat_cas_and_binary_keys() {
        let s = store();
        let bin = MetaStoreOpts {
            key_binary: true,
            ..MetaStoreOpts::default()
        };
        let (o, c1) = s.meta_store(SetMode::Set, b"k", 1, 0, b"ab", bin);
        assert_eq!(o, StoreOutcome::Stored);
        let mut opts = MetaStoreOpts {
            concat_cas: c1 + 1,
            ..MetaStoreOpts::default()
        };
        assert_eq!(
            s.meta_store(SetMode::Append, b"k", 0, 0, b"c", opts).0,
            StoreOutcome::Exists
        );
        opts.concat_cas = c1;
        assert_eq!(
            s.meta_store(SetMode::Append, b"k", 0, 0, b"c", opts).0,
            StoreOutcome::Stored
        );
        assert_eq!(
            s.meta_get(b"k", false, true, HitCount::Uncounted, |e| (
                e.value().to_vec(),
                e.flags(),
                e.key_binary()
            )),
            Lookup::Hit((b"abc".to_vec(), 1, true))
        );
        assert_eq!(
            s.meta_store(
                SetMode::Prepend,
                b"none",
                0,
                0,
                b"c",
                MetaStoreOpts::default()
            )
            .0,
            StoreOutcome::NotStored
        );
        // Too large: the old item goes, whatever the mode.
        let big = vec![0u8; 2 << 20];
        assert_eq!(
            s.meta_store(SetMode::Add, b"k", 0, 0, &big, MetaStoreOpts::default())
                .0,
            StoreOutcome::TooLarge
        );
        assert_eq!(s.peek_cas(b"k"), None);
    }

    #[test]
    fn meta_arith_cas_vivify_and_growth() {
        let s = store();
        let r = s.meta_arith(b"n", true, 1, None, None, |_| ());
        assert_eq!(r, MetaArithOutcome::NotFound);
        let r = s.meta_arith(b"n", true, 1, None, Some(7), |e| e.created());
        assert_eq!(r, MetaArithOutcome::Value(7, true));
        let cas = s.peek_cas(b"n").unwrap();
        let r = s.meta_arith(b"n", true, 1, Some(cas + 1), None, |_| ());
        assert_eq!(r, MetaArithOutcome::Exists);
        let r = s.meta_arith(b"n", true, 100, Some(cas), None, |e| e.value().to_vec());
        assert_eq!(r, MetaArithOutcome::Value(107, b"107".to_vec()));
        let r = s.meta_arith(b"n", false, 100, None, None, |e| e.value().to_vec());
        assert_eq!(r, MetaArithOutcome::Value(7, b"7  ".to_vec()));
        s.store(SetMode::Set, b"t", 0, 0, b"x");
        assert_eq!(
            s.meta_arith(b"t", true, 1, None, None, |_| ()),
            MetaArithOutcome::NonNumeric
        );
    }
}
