//! Reads: `get`, get-and-touch (`gat`, binary `touch`), meta get with vivify-on-miss, and
//! the peeks that neither bump nor count (`peek_cas`, `inspect`).
//!
//! Owns: the lookup rules (a dead item found is reaped and reported `Expired`/`Flushed`),
//! the per-class hit counters of reads, the CLOCK reference bit and last-access time.
//! Must not touch: protocol words or flag letters.
//!
//! The text `get` path is one shard lock, one index lookup and the caller's callback: the
//! options are read before the lock and `vivify` (meta `mg N`) takes a separate, cold path.

use super::ItemInfo;
use super::engine::Inner;
use super::entry::Entry;
use super::mem::{BIT_FETCHED, HEADER, Ref, freq, with_freq};
use super::shard::{Liveness, ShardCore, liveness};

/// The per-class hit counter (`stats slabs` `get_hits` or `touch_hits`) a read counts in when
/// it finds the item: memcached counts `gat` and `mg` with `T` as touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitCount {
    Get,
    Touch,
    /// Not a client fetch (`me`, internal peeks).
    Uncounted,
}

/// Options of `Store::get`. `GetOpts::default()` is a plain `get`; `GetOpts::touch(e)` is
/// `gat` / binary `touch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetOpts {
    /// Give the live item this exptime before the callback sees it (protocol rules).
    pub touch: Option<i64>,
    /// Which per-class hit counter a hit counts in.
    pub count: HitCount,
    /// Do not mark the item fetched and accessed now (meta commands that ask for no LRU
    /// bump, `me`).
    pub no_bump: bool,
    /// On a miss, create an empty item (flags 0, never expiring) that the callback sees with
    /// `created()` (meta `mg N`).
    pub vivify: bool,
    /// With `vivify`: the created item's CAS unique (meta `E<cas>`) instead of a new one.
    pub vivify_cas: Option<u64>,
}

impl Default for GetOpts {
    fn default() -> GetOpts {
        GetOpts {
            touch: None,
            count: HitCount::Get,
            no_bump: false,
            vivify: false,
            vivify_cas: None,
        }
    }
}

impl GetOpts {
    /// Get and touch: the new exptime, counted as a touch.
    pub fn touch(exptime: i64) -> GetOpts {
        GetOpts {
            touch: Some(exptime),
            count: HitCount::Touch,
            ..GetOpts::default()
        }
    }
}

/// Result of a lookup; misses are split the way memcached's stats count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<R> {
    Hit(R),
    Miss,
    /// Found but past its exptime (counts `get_expired`).
    Expired,
    /// Found but invalidated by `flush_all` (counts `get_flushed`).
    Flushed,
}

impl Inner {
    /// See `Store::get`.
    #[inline]
    pub(super) fn get<R>(
        &self,
        key: &[u8],
        opts: &GetOpts,
        f: impl FnOnce(&mut Entry<'_>) -> R,
    ) -> Lookup<R> {
        if opts.vivify {
            return self.get_or_create(key, opts, f);
        }
        let at = self.slot(key);
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let new_exp = opts.touch.map(|e| self.clock.rel_exptime(e));
        let mut g = self.lock(at.shard);
        let Some((pos, r)) = g.lookup(&self.mem, at.tag, key) else {
            return Lookup::Miss;
        };
        let mem = &self.mem;
        match liveness(mem, r, now, fs) {
            Liveness::Live => {}
            state => {
                g.unlink_at(mem, pos, r);
                drop(g);
                mem.free(r);
                return if state == Liveness::Expired {
                    Lookup::Expired
                } else {
                    Lookup::Flushed
                };
            }
        }
        if let Some(e) = new_exp {
            mem.set_exptime(r, e);
        }
        // Counted before the callback: the class counter's cache line is fetched while the
        // item's are, instead of after the value was copied out.
        self.count_hit(&mut g, r, opts);
        let out = f(&mut Entry {
            inner: self,
            guard: &g,
            r,
            now,
            created: false,
        });
        self.bump(r, now, opts);
        Lookup::Hit(out)
    }

    /// A hit: count it in the item's class.
    #[inline]
    fn count_hit(&self, g: &mut ShardCore, r: Ref, opts: &GetOpts) {
        let mem = &self.mem;
        match opts.count {
            HitCount::Get => g.cmds(mem, r).get_hits += 1,
            HitCount::Touch => g.cmds(mem, r).touch_hits += 1,
            HitCount::Uncounted => {}
        }
    }

    /// After the callback saw the item as it was (meta `h` and `l` report the state before
    /// this request): unless `no_bump`, mark it fetched, count its access frequency up (to
    /// 3) and mark it accessed now. The caller still holds the item's shard lock.
    #[inline]
    fn bump(&self, r: Ref, now: u32, opts: &GetOpts) {
        let mem = &self.mem;
        if !opts.no_bump {
            let bits = mem.bits(r);
            let f = freq(bits);
            if f < 3 || bits & BIT_FETCHED == 0 {
                mem.set_bits(r, with_freq(bits | BIT_FETCHED, (f + 1).min(3)));
            }
            if mem.atime(r) != now {
                mem.set_atime(r, now);
            }
        }
    }

    /// `get` with `vivify`: at most two rounds: look up; on a miss allocate without the lock,
    /// then link the new empty item unless another writer linked one meanwhile.
    #[cold]
    fn get_or_create<R>(
        &self,
        key: &[u8],
        opts: &GetOpts,
        f: impl FnOnce(&mut Entry<'_>) -> R,
    ) -> Lookup<R> {
        let at = self.slot(key);
        let mem = &self.mem;
        let new_exp = opts.touch.map(|e| self.clock.rel_exptime(e));
        let mut fresh = None;
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
                    self.stamp(&mut g, new, opts.vivify_cas);
                    g.link_new(mem, at.tag, new);
                    (new, true)
                }
                (None, None) => {
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
            };
            if let Some(e) = new_exp {
                mem.set_exptime(r, e);
            }
            self.count_hit(&mut g, r, opts);
            let out = f(&mut Entry {
                inner: self,
                guard: &g,
                r,
                now,
                created,
            });
            self.bump(r, now, opts);
            return Lookup::Hit(out);
        }
        if let Some(s) = fresh {
            mem.free(s);
        }
        Lookup::Miss
    }

    /// See `Store::peek_cas`.
    pub(super) fn peek_cas(&self, key: &[u8]) -> Option<u64> {
        let at = self.slot(key);
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let g = self.lock(at.shard);
        let (_, r) = g.lookup(&self.mem, at.tag, key)?;
        (liveness(&self.mem, r, now, fs) == Liveness::Live)
            .then(|| self.shown_cas(g.cas(&self.mem, r)))
    }

    /// What a lookup of `key` would find, without marking, bumping, reaping or counting it.
    pub(super) fn inspect(&self, key: &[u8]) -> Lookup<ItemInfo> {
        let at = self.slot(key);
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let g = self.lock(at.shard);
        let Some((_, r)) = g.lookup(&self.mem, at.tag, key) else {
            return Lookup::Miss;
        };
        match liveness(&self.mem, r, now, fs) {
            Liveness::Flushed => Lookup::Flushed,
            Liveness::Expired => Lookup::Expired,
            Liveness::Live => Lookup::Hit(ItemInfo {
                value_len: self.mem.value_len(r),
                class: self.mem.class_of(r) + 1,
                expires_in: match self.mem.exptime(r) {
                    0 => 0,
                    e => e.wrapping_sub(now),
                },
            }),
        }
    }
}
