//! Deletion: `delete`, binary delete with CAS, and meta `md` with invalidation (mark stale,
//! bump the CAS, optionally a new exptime, instead of deleting).
//!
//! Owns: the delete rules (memcached's `process_delete_command`, `process_mdelete_command`).
//! Must not touch: protocol words.

use super::engine::Inner;
use super::mem::{BIT_CLIENT_CAS, BIT_STALE, BIT_TOKEN_SENT, HEADER};
use super::shard::{Liveness, liveness};

/// Options of `Store::delete`; `DeleteOpts::default()` is a plain `delete`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOpts {
    /// Delete only if this equals the item's CAS unique (as clients see it).
    pub cas: Option<u64>,
    /// Meta `I`: mark the item stale, clear its win token and give it a new CAS instead of
    /// deleting it.
    pub invalidate: bool,
    /// With `invalidate`: the item's new exptime. With `remove_value`: the empty item's
    /// exptime (never expiring without it).
    pub exptime: Option<i64>,
    /// Meta `md x` (1.6.45): replace the item by an empty one with these client flags
    /// (and `exptime`), keeping its CAS unique (or taking `cas_in`), instead of deleting
    /// it; with `invalidate` the empty item is then marked stale as above.
    pub remove_value: Option<u32>,
    /// The CAS unique an invalidated or emptied item gets (meta `E<cas>`).
    pub cas_in: Option<u64>,
}

/// Result of `Store::delete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// Marked stale (kept, new CAS) instead of deleted (`invalidate`).
    Invalidated,
    /// Replaced by an empty item (`remove_value` without `invalidate`).
    Emptied,
    /// `remove_value`: no memory for the empty item (nothing changed).
    NoMemory,
    /// No live item (a dead one in the way is reaped).
    NotFound,
    /// The CAS given does not match.
    Exists,
}

impl Inner {
    /// See `Store::delete`.
    pub(super) fn delete(&self, key: &[u8], opts: &DeleteOpts) -> DeleteOutcome {
        let DeleteOpts {
            cas,
            invalidate,
            exptime,
            remove_value,
            cas_in,
        } = *opts;
        let at = self.slot(key);
        let mem = &self.mem;
        // memcached allocates the empty item after the CAS check, under the item lock; we
        // allocate it first (outside the shard lock) and give it back if unused.
        let empty = match remove_value {
            Some(_) => match self.alloc(HEADER + key.len(), at.shard) {
                Some(r) => Some(r),
                None => return DeleteOutcome::NoMemory,
            },
            None => None,
        };
        let unused = |outcome| {
            if let Some(e) = empty {
                mem.free(e);
            }
            outcome
        };
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let new_exp = exptime.map(|e| self.clock.rel_exptime(e));
        let mut g = self.lock(at.shard);
        let Some((pos, mut r)) = g.lookup(mem, at.tag, key) else {
            drop(g);
            return unused(DeleteOutcome::NotFound);
        };
        if liveness(mem, r, now, fs) != Liveness::Live {
            g.unlink_at(mem, pos, r);
            drop(g);
            mem.free(r);
            return unused(DeleteOutcome::NotFound);
        }
        if cas.is_some_and(|c| c != self.shown_cas(g.cas(mem, r))) {
            drop(g);
            return unused(DeleteOutcome::Exists);
        }
        let mut emptied = None;
        if let (Some(new), Some(flags)) = (empty, remove_value) {
            // memcached's item_alloc: no key-binary mark on the empty item.
            mem.write_item(new, key, flags, new_exp.unwrap_or(0), now, &[]);
            // It keeps the old item's CAS unique (and its place in the order of stores),
            // unless `E` gives another.
            match cas_in {
                Some(_) => {
                    self.stamp(&mut g, new, cas_in);
                }
                None => {
                    let client = (mem.bits(r) & BIT_CLIENT_CAS != 0).then(|| g.cas(mem, r));
                    g.stamp(mem, new, mem.seq(r), client);
                }
            }
            g.replace(mem, pos, r, new);
            emptied = Some(r);
            r = new;
        }
        let free_old = |g| {
            drop(g);
            if let Some(o) = emptied {
                mem.free(o);
            }
        };
        if invalidate {
            if let Some(e) = new_exp {
                mem.set_exptime(r, e);
            }
            let bits = (mem.bits(r) | BIT_STALE) & !BIT_TOKEN_SENT;
            mem.set_bits(r, bits);
            self.stamp(&mut g, r, cas_in);
            free_old(g);
            return DeleteOutcome::Invalidated;
        }
        if emptied.is_some() {
            g.cmds(mem, r).delete_hits += 1;
            free_old(g);
            return DeleteOutcome::Emptied;
        }
        g.cmds(mem, r).delete_hits += 1;
        g.unlink_at(mem, pos, r);
        drop(g);
        mem.free(r);
        DeleteOutcome::Deleted
    }
}
