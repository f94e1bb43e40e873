//! The arithmetic runner: `incr`/`decr`, `ma` and binary Increment/Decrement (with their
//! auto-create), with `incr_hits`/`incr_misses` (`decr_…`), and the watch lines.

use super::ctx::{Ctx, Via, bump};
use super::get::log_fetch;
use super::store::{StoreCall, log_stored, watched_key};
use crate::store::{MetaArithOutcome as ArithOutcome, MetaEntry, SetMode, StoreOutcome};

/// One incr/decr as the store takes it.
#[derive(Clone, Copy, Debug)]
pub struct ArithCall<'k> {
    pub key: &'k [u8],
    pub incr: bool,
    pub delta: u64,
    /// `ma C<cas>`: only if the item's CAS unique matches.
    pub cas: Option<u64>,
    /// Create a missing item with this value (`ma N`, binary incr unless its exptime is
    /// all ones).
    pub create: Option<u64>,
    /// The created item's exptime (as the client sent it), set before `f` sees it. `ma`
    /// leaves it `None` and applies `N` itself, in request order among its flags.
    pub create_exptime: Option<i64>,
}

/// Runs one incr/decr, calling `f` with the changed (or created) item under its lock, and
/// counts it: a change is a hit, a miss a miss; an auto-created item counts a miss for
/// the binary protocol (memcached counts the miss, then adds) and nothing for `ma`.
pub fn arith<R>(
    ctx: &Ctx<'_>,
    via: Via,
    call: ArithCall<'_>,
    f: impl FnOnce(&mut MetaEntry<'_>) -> R,
) -> ArithOutcome<(R, bool)> {
    let st = ctx.stats;
    let (hits, misses) = if call.incr {
        (&st.incr_hits, &st.incr_misses)
    } else {
        (&st.decr_hits, &st.decr_misses)
    };
    log_fetch(ctx, call.key);
    // memcached logs the auto-create as the `add` it is for the binary protocol.
    let before = (via == Via::Binary && call.create.is_some())
        .then(|| watched_key(ctx, call.key))
        .flatten();
    let outcome = ctx.shared.store.meta_arith(
        call.key,
        call.incr,
        call.delta,
        call.cas,
        call.create,
        |e: &mut MetaEntry<'_>| {
            let created = e.created();
            if created && let Some(exptime) = call.create_exptime {
                e.set_exptime(exptime);
            }
            (f(e), created)
        },
    );
    match &outcome {
        ArithOutcome::Value(_, (_, false)) => bump(hits),
        ArithOutcome::Value(v, (_, true)) => {
            if via == Via::Binary {
                bump(misses);
            }
            if let Some(before) = before {
                let digits = v.to_string();
                let store_call = StoreCall {
                    key: call.key,
                    mode: SetMode::Add,
                    exptime: call.create_exptime.unwrap_or(0),
                    data_len: digits.len(),
                    unlinks: false,
                    detail: false,
                };
                log_stored(ctx, &store_call, before, StoreOutcome::Stored);
            }
        }
        ArithOutcome::NotFound => bump(misses),
        _ => {}
    }
    outcome
}
