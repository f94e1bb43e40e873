//! Deletion: `delete`, binary delete with CAS, and meta `md` with invalidation (mark stale,
//! bump the CAS, optionally a new exptime, instead of deleting).
//!
//! Owns: the delete rules (memcached's `process_delete_command`, `process_mdelete_command`).
//! Must not touch: protocol words.

use super::engine::Inner;
use super::mem::{BIT_STALE, BIT_TOKEN_SENT};
use super::shard::{Liveness, liveness};

/// Options of `Store::delete`; `DeleteOpts::default()` is a plain `delete`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOpts {
    /// Delete only if this equals the item's CAS unique (as clients see it).
    pub cas: Option<u64>,
    /// Meta `I`: mark the item stale, clear its win token and give it a new CAS instead of
    /// deleting it.
    pub invalidate: bool,
    /// With `invalidate`: the item's new exptime.
    pub exptime: Option<i64>,
}

/// Result of `Store::delete`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// Marked stale (kept, new CAS) instead of deleted (`invalidate`).
    Invalidated,
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
        } = *opts;
        let at = self.slot(key);
        let mem = &self.mem;
        let now = self.clock.now();
        let fs = self.flush_seq(now);
        let new_exp = exptime.map(|e| self.clock.rel_exptime(e));
        let mut g = self.lock(at.shard);
        let Some((pos, r)) = g.lookup(mem, at.tag, key) else {
            return DeleteOutcome::NotFound;
        };
        if liveness(mem, r, now, fs) != Liveness::Live {
            g.unlink_at(mem, pos, r);
            drop(g);
            mem.free(r);
            return DeleteOutcome::NotFound;
        }
        if cas.is_some_and(|c| c != self.shown_cas(mem.cas(r))) {
            return DeleteOutcome::Exists;
        }
        if invalidate {
            if let Some(e) = new_exp {
                mem.set_exptime(r, e);
            }
            let bits = (mem.bits(r) | BIT_STALE) & !BIT_TOKEN_SENT;
            mem.set_bits(r, bits);
            mem.set_cas(r, self.next_seq());
            return DeleteOutcome::Invalidated;
        }
        g.cmds(mem, r).delete_hits += 1;
        g.unlink_at(mem, pos, r);
        drop(g);
        mem.free(r);
        DeleteOutcome::Deleted
    }
}
