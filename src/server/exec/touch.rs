//! The touch runner: `touch` and binary Touch (`gat` is a fetch: see `get.rs`), with
//! `cmd_touch`, `touch_hits`/`touch_misses`, the watch fetch line, and for binary Touch
//! `stats detail` (memcached counts it as a get there, not for text `touch`).

use super::ctx::{Ctx, bump};
use super::get::log_fetch;
use crate::server::observe::detail::Op as DetailOp;
use crate::store::{Entry, GetOpts, Lookup};

/// Sets `key`'s exptime, calling `f` with the touched item, and counts it.
pub fn touch<R>(
    ctx: &Ctx<'_>,
    key: &[u8],
    exptime: i64,
    f: impl FnOnce(&mut Entry<'_>) -> R,
) -> Lookup<R> {
    let st = ctx.stats;
    bump(&st.cmd_touch);
    log_fetch(ctx, key);
    let found = ctx.shared.store.get(key, &GetOpts::touch(exptime), f);
    if matches!(found, Lookup::Hit(_)) {
        bump(&st.touch_hits);
    } else {
        bump(&st.touch_misses);
    }
    found
}

/// Binary Touch: [`touch`], also counted as a get in `stats detail` (memcached runs it
/// through `process_bin_get_or_touch`, which records every key it looks up).
pub fn touch_counted<R>(
    ctx: &Ctx<'_>,
    key: &[u8],
    exptime: i64,
    f: impl FnOnce(&mut Entry<'_>) -> R,
) -> Lookup<R> {
    let found = touch(ctx, key, exptime, f);
    let hit = matches!(found, Lookup::Hit(_));
    ctx.shared.observe.detail.record(key, DetailOp::Get { hit });
    found
}
