//! The get runner: one key fetched (and, for `gat`, touched) by any protocol, with
//! memcached's counters, `stats detail` and the watch fetch line. The one place that counts
//! a get hit or miss ([`count_get`]).
//!
//! Decoders hand an `emit` closure that writes the hit while the item is locked; the words
//! are the protocol's.

use super::ctx::{Ctx, bump};
use crate::server::observe::detail::Op as DetailOp;
use crate::server::observe::watch;
use crate::store::{Entry, GetOpts, Lookup};

/// How a fetch counts: memcached counts `get`/`gat` (text, binary) and `mg` differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetCount {
    /// `get`, `gets`, binary Get: `cmd_get`, `get_hits`/`get_misses`, `stats detail`.
    Get,
    /// `gat`, `gats`, binary Gat: `cmd_touch` (not `cmd_get`: memcached 1.6.18 counts
    /// only the touch), `touch_hits`/`touch_misses`, `stats detail`.
    Touch,
    /// `mg` (no `stats detail`): a hit counts `cmd_touch` and `touch_hits` when the request
    /// set a TTL (`T`), else `cmd_get` and `get_hits`; a miss always counts `cmd_get` and
    /// `get_misses`.
    Meta { touched: bool },
}

/// Logs the item fetch that `delete`, `incr`/`decr`, `touch` and every meta command start
/// with, when a watcher wants fetches (memcached logs it from `do_item_get`).
pub fn log_fetch(ctx: &Ctx<'_>, key: &[u8]) {
    let w = &ctx.shared.observe.watch;
    if w.wants(watch::FETCHERS) {
        w.item_get(key, ctx.shared.store.inspect(key), ctx.fd);
    }
}

/// Fetches `key` for `get`/`gat` (`touch`: the new exptime) from the text or binary
/// protocol, calling `emit` with the live item under its lock, and counts it.
pub fn fetch(
    ctx: &Ctx<'_>,
    key: &[u8],
    touch: Option<i64>,
    emit: impl FnOnce(&mut Entry<'_>),
) -> Lookup<()> {
    let store = &ctx.shared.store;
    log_fetch(ctx, key);
    let opts = match touch {
        Some(exptime) => GetOpts::touch(exptime),
        None => GetOpts::default(),
    };
    let found = store.get(key, &opts, emit);
    let how = if touch.is_some() {
        GetCount::Touch
    } else {
        GetCount::Get
    };
    count_get(ctx, key, how, &found);
    found
}

/// memcached's counters of one key fetched: `cmd_get`, `cmd_touch`, hits and misses
/// (expired and flushed ones apart), and `stats detail`, as `how` says.
pub fn count_get<R>(ctx: &Ctx<'_>, key: &[u8], how: GetCount, found: &Lookup<R>) {
    let st = ctx.stats;
    let hit = matches!(found, Lookup::Hit(_));
    // (counts cmd_touch, counts cmd_get, hit counter, miss counter)
    let (touch, get, hits, misses) = match how {
        GetCount::Get => (false, true, &st.get_hits, &st.get_misses),
        GetCount::Touch => (true, false, &st.touch_hits, &st.touch_misses),
        GetCount::Meta { touched: true } if hit => (true, false, &st.touch_hits, &st.get_misses),
        GetCount::Meta { .. } => (false, true, &st.get_hits, &st.get_misses),
    };
    if !matches!(how, GetCount::Meta { .. }) {
        ctx.shared.observe.detail.record(key, DetailOp::Get { hit });
    }
    if get {
        bump(&st.cmd_get);
    }
    if touch {
        bump(&st.cmd_touch);
    }
    match found {
        Lookup::Hit(_) => bump(hits),
        Lookup::Miss => bump(misses),
        Lookup::Expired => {
            bump(misses);
            bump(&st.get_expired);
        }
        Lookup::Flushed => {
            bump(misses);
            bump(&st.get_flushed);
        }
    }
}
