//! The delete runner: `delete`, `md` and binary Delete, with `delete_hits`/`delete_misses`,
//! `stats detail` and the watch fetch line.

use super::ctx::{Ctx, Via, bump};
use super::get::log_fetch;
use crate::server::observe::detail::Op as DetailOp;
use crate::store::{DeleteOpts, DeleteOutcome};

/// Runs one delete and counts it. memcached counts a CAS
/// mismatch as a miss for `md` only, and records `stats detail` for text and binary only.
pub fn delete(ctx: &Ctx<'_>, via: Via, key: &[u8], opts: &DeleteOpts) -> DeleteOutcome {
    if via != Via::Meta {
        ctx.shared.observe.detail.record(key, DetailOp::Del);
    }
    log_fetch(ctx, key);
    let outcome = ctx.shared.store.delete(key, opts);
    let st = ctx.stats;
    match outcome {
        DeleteOutcome::Deleted | DeleteOutcome::Emptied => bump(&st.delete_hits),
        DeleteOutcome::NotFound => bump(&st.delete_misses),
        DeleteOutcome::Exists if via == Via::Meta => bump(&st.delete_misses),
        DeleteOutcome::Exists | DeleteOutcome::Invalidated | DeleteOutcome::NoMemory => {}
    }
    outcome
}
