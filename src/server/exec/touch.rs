//! The touch runner: `touch` and binary Touch (`gat` is a fetch: see `get.rs`), with
//! `cmd_touch`, `touch_hits`/`touch_misses` and the watch fetch line.

use super::ctx::{Ctx, bump};
use super::get::log_fetch;
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
