//! The arithmetic runner: `incr`/`decr`, `ma` and binary Increment/Decrement (with their
//! auto-create, which the store does under the key's lock), with `incr_hits`/`incr_misses`
//! (`decr_…`) and the watch lines.

use super::ctx::{Ctx, Via, bump};
use super::get::log_fetch;
use super::store::{StoreCall, log_stored};
use crate::server::observe::watch;
use crate::store::{ArithOpts, ArithOutcome, Entry, Lookup, SetMode, StoreOutcome};

/// Runs one incr/decr on `key`, calling `f` with the changed (or created) item under its
/// lock, and counts it. The callback's result comes back with whether the item was
/// created. A change is a hit and a miss a miss. The binary protocol's auto-create counts
/// a miss and is logged as the `add` memcached does (whatever became of it); `ma N`'s
/// counts nothing.
pub fn arith<R>(
    ctx: &Ctx<'_>,
    via: Via,
    key: &[u8],
    opts: &ArithOpts,
    f: impl FnOnce(&mut Entry<'_>) -> R,
) -> ArithOutcome<(R, bool)> {
    let st = ctx.stats;
    let (hits, misses) = if opts.incr {
        (&st.incr_hits, &st.incr_misses)
    } else {
        (&st.decr_hits, &st.decr_misses)
    };
    log_fetch(ctx, key);
    let creates = via == Via::Binary && opts.vivify.is_some();
    let watched = creates
        && ctx
            .shared
            .observe
            .watch
            .wants(watch::FETCHERS | watch::MUTATIONS);
    let outcome = ctx.shared.store.arith(key, opts, |e| {
        let created = e.created();
        (f(e), created)
    });
    let created = match &outcome {
        ArithOutcome::Value(_, (_, false)) => {
            bump(hits);
            None
        }
        ArithOutcome::Value(_, (_, true)) => Some(StoreOutcome::Stored),
        ArithOutcome::NoMemoryToCreate => Some(StoreOutcome::NoMemory),
        // With auto-create: another writer created the key first.
        ArithOutcome::NotStored if opts.vivify.is_some() => Some(StoreOutcome::NotStored),
        ArithOutcome::NotFound => {
            bump(misses);
            None
        }
        _ => None,
    };
    if let Some(added) = created
        && creates
    {
        bump(misses);
        if watched && let Some((initial, exptime)) = opts.vivify {
            let call = StoreCall {
                key,
                mode: SetMode::Add,
                exptime,
                data_len: initial.to_string().len(),
                unlinks: false,
                detail: false,
            };
            log_stored(ctx, &call, Lookup::Miss, added);
        }
    }
    outcome
}
