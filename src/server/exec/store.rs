//! The store runner: one storage command (`set`/`add`/`replace`/`append`/`prepend`/`cas`,
//! `ms`, binary Set/Add/Replace/Append/Prepend) with what every protocol does around the
//! store call: `cmd_set`, `stats detail`, memcached's outcome counters (`cas_hits`,
//! `cas_badval`, `cas_misses`, `store_too_large`, `store_no_memory`) and the watch lines.
//!
//! Also the storage command refused before it reached the store (too large for `-I`).

use super::ctx::{Ctx, bump};
use crate::server::observe::detail::Op as DetailOp;
use crate::server::observe::watch::{self, StoreEvent};
use crate::store::{DeleteOpts, ItemInfo, Lookup, SetMode, SetOpts, StoreOutcome, Value};

/// A storage command as the counters and the watch log see it.
pub struct StoreCall<'k> {
    pub key: &'k [u8],
    pub mode: SetMode,
    /// As the client sent it.
    pub exptime: i64,
    pub data_len: usize,
    /// A failed allocation unlinks the old item (memcached logs that fetch): text and
    /// binary `set`, every meta `ms`.
    pub unlinks: bool,
    /// Counted in `stats detail` (text storage commands, binary Set/Add/Replace/Append/
    /// Prepend; not meta `ms`, as in memcached).
    pub detail: bool,
}

/// Stores `value` under `call.key` as `opts` say and counts it. Returns the outcome and
/// the new item's CAS unique.
pub fn run_store(
    ctx: &Ctx<'_>,
    call: StoreCall<'_>,
    value: Value<'_>,
    opts: &SetOpts,
) -> (StoreOutcome, u64) {
    let (outcome, cas, _) = run_store_len(ctx, call, value, opts);
    (outcome, cas)
}

/// `run_store`, also returning the stored value's length (`Store::set_len`).
pub fn run_store_len(
    ctx: &Ctx<'_>,
    call: StoreCall<'_>,
    value: Value<'_>,
    opts: &SetOpts,
) -> (StoreOutcome, u64, usize) {
    let st = ctx.stats;
    bump(&st.cmd_set);
    if call.detail {
        ctx.shared.observe.detail.record(call.key, DetailOp::Set);
    }
    let before = watched_key(ctx, call.key);
    let (outcome, cas, len) = ctx.shared.store.set_len(call.key, value, opts);
    let is_cas = matches!(call.mode, SetMode::Cas(_));
    match outcome {
        StoreOutcome::Stored if is_cas => bump(&st.cas_hits),
        StoreOutcome::Exists => bump(&st.cas_badval),
        StoreOutcome::NotFound if is_cas => bump(&st.cas_misses),
        StoreOutcome::TooLarge => bump(&st.store_too_large),
        StoreOutcome::NoMemory => bump(&st.store_no_memory),
        _ => {}
    }
    if let Some(before) = before {
        log_stored(ctx, &call, before, outcome);
    }
    (outcome, cas, len)
}

/// A binary Add/Replace/Append/Prepend the parser refused as larger than `-I`: memcached
/// has counted it in `stats detail` by then (nothing else).
pub fn refused_detail(ctx: &Ctx<'_>, key: &[u8]) {
    ctx.shared.observe.detail.record(key, DetailOp::Set);
}

/// A `set` the parser refused as larger than `-I`: memcached counts it, logs it and
/// unlinks the old item, so a stale value cannot outlive a failed overwrite.
/// `key` is `None` when a binary request's key could not be read (counted only).
pub fn refuse_too_large(ctx: &Ctx<'_>, key: Option<&[u8]>, detail: bool) {
    if detail && let Some(key) = key {
        ctx.shared.observe.detail.record(key, DetailOp::Set);
    }
    bump(&ctx.stats.cmd_set);
    bump(&ctx.stats.store_too_large);
    let Some(key) = key else {
        return;
    };
    let w = &ctx.shared.observe.watch;
    if w.wants(watch::FETCHERS | watch::MUTATIONS) {
        let event = StoreEvent {
            key,
            cmd: "set",
            exptime: 0,
            data_len: 0,
            before: ctx.shared.store.inspect(key),
            outcome: StoreOutcome::TooLarge,
            cfd: ctx.fd,
            unlinks: true,
        };
        w.stored(&ctx.shared.store, &event);
    }
    ctx.shared.store.delete(key, &DeleteOpts::default());
}

/// The key's state before a storage command, when someone watches its log lines.
pub fn watched_key(ctx: &Ctx<'_>, key: &[u8]) -> Option<Lookup<ItemInfo>> {
    ctx.shared
        .observe
        .watch
        .wants(watch::FETCHERS | watch::MUTATIONS)
        .then(|| ctx.shared.store.inspect(key))
}

/// The watch lines of a storage command (`before`: from [`watched_key`]).
pub fn log_stored(
    ctx: &Ctx<'_>,
    call: &StoreCall<'_>,
    before: Lookup<ItemInfo>,
    outcome: StoreOutcome,
) {
    let event = StoreEvent {
        key: call.key,
        cmd: watch::cmd_word(call.mode),
        exptime: call.exptime,
        data_len: call.data_len,
        before,
        outcome,
        cfd: ctx.fd,
        unlinks: call.unlinks,
    };
    ctx.shared.observe.watch.stored(&ctx.shared.store, &event);
}
