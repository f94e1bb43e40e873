//! The meta decoder (`mg ms md ma me`; `mn` is answered in `text.rs`): makes memcached
//! 1.6.18's store calls through the runners (`get.rs` counting, `store.rs`, `delete.rs`,
//! `arith.rs`), copies what the store reports into plain data and hands it to the encoders
//! of `protocol::text::meta_reply` (reply shapes, flag order and quiet rules live there).
//! No I/O: replies go to `out`.

use super::arith::arith as run_arith;
use super::ctx::{Ctx, Via, bump, store_value};
use super::delete::delete as run_delete;
use super::get::{GetCount, count_get, log_fetch};
use super::store::{StoreCall, run_store_len};
use crate::protocol::text::encode;
use crate::protocol::text::meta_reply::{self, MetaDebugItem, MetaError, MetaItem, MetaStatus};
use crate::protocol::{MetaCmd, MetaFlags, MetaSetMode, MetaVerb};
use crate::server::net::outq::Out;
use crate::store::{
    ArithOpts, ArithOutcome, DeleteOpts, DeleteOutcome, Entry, GetOpts, HitCount, Lookup, SetMode,
    SetOpts, StoreOutcome,
};

/// Runs one meta command, appending its reply (if any) to `out`.
pub(super) fn execute(m: MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Out) {
    match m.verb {
        MetaVerb::Get => get(&m, ctx, out),
        MetaVerb::Set => set(&m, ctx, out),
        MetaVerb::Delete => delete(&m, ctx, out),
        MetaVerb::Arith => arith(&m, ctx, out),
        MetaVerb::Debug => debug(&m, ctx, out),
    }
}

/// Applies the exptime changes of `T` and `N` in request order and reports the item as
/// `mg`/`ma` saw it, before and after each change ([`MetaItem::ttl`]). `key`/`key_binary`
/// are filled by the caller.
fn apply_exptime_changes(f: &MetaFlags<'_>, e: &mut Entry<'_>) -> ([i64; 3], [bool; 3]) {
    let due = |e: &Entry<'_>| f.recache.is_some_and(|t| e.recache_due(t));
    let mut ttl = [e.ttl(); 3];
    let mut recache = [due(e); 3];
    for (i, exptime) in f.exptime_changes(e.created()).take(2).enumerate() {
        e.set_exptime(exptime);
        ttl[i + 1..].fill(e.ttl());
        recache[i + 1..].fill(due(e));
    }
    (ttl, recache)
}

/// `mg`: memcached's `process_mget_command`.
fn get(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Out) {
    let f = &m.flags;
    log_fetch(ctx, &m.key);
    // memcached counts `mg` with `T` as a touch.
    let touches = f.ttl.is_some();
    let count = if touches {
        HitCount::Touch
    } else {
        HitCount::Get
    };
    let opts = GetOpts {
        count,
        no_bump: f.no_update,
        vivify: f.vivify.is_some(),
        vivify_cas: f.cas_in,
        ..GetOpts::default()
    };
    let found = ctx.shared.store.get(&m.key, &opts, |e: &mut Entry<'_>| {
        // 1.6.45 (1.6.40+): a matching `C` fetches without the value.
        let cas_matched = f.new && f.cas == Some(e.cas());
        let (ttl, recache_due) = apply_exptime_changes(f, e);
        let item = MetaItem {
            key: e.key(),
            key_binary: e.key_binary(),
            value_len: e.value().len(),
            client_flags: e.flags(),
            cas: e.cas(),
            last_access: e.last_access(),
            fetched: e.fetched(),
            created: e.created(),
            stale: e.stale(),
            token_sent: e.token_sent(),
            ttl,
            recache_due,
            cas_matched,
        };
        if meta_reply::get_hit(out, f, &item) {
            e.set_token_sent();
        }
        if f.value && !cas_matched {
            out.value(e.value(), |keep| e.pin_with(keep));
            encode::value_trailer(out);
        }
    });
    count_get(ctx, &m.key, GetCount::Meta { touched: touches }, &found);
    if !matches!(found, Lookup::Hit(())) {
        meta_reply::status(out, f, MetaStatus::Miss, &m.key, None);
    }
}

/// `ms`: memcached's `process_mset_command` + `_finalize_mset`.
fn set(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let f = &m.flags;
    // A CAS upgrades set and replace to cas; add ignores it; append/prepend compare it.
    let mode = match (f.set_mode, f.cas) {
        (MetaSetMode::Set | MetaSetMode::Replace, Some(c)) => SetMode::Cas(c),
        (MetaSetMode::Set, None) => SetMode::Set,
        (MetaSetMode::Replace, None) => SetMode::Replace,
        (MetaSetMode::Add, _) => SetMode::Add,
        (MetaSetMode::Append, _) => SetMode::Append,
        (MetaSetMode::Prepend, _) => SetMode::Prepend,
    };
    // 1.6.45: append/prepend with `N` create a missing item, with `N`'s TTL.
    let vivify = f.new && f.vivify.is_some() && matches!(mode, SetMode::Append | SetMode::Prepend);
    let ttl = if vivify { f.vivify } else { f.ttl }.unwrap_or(0);
    let opts = SetOpts {
        invalidate: f.invalidate && matches!(mode, SetMode::Cas(_)),
        key_binary: f.base64,
        concat_cas: f.cas.unwrap_or(0),
        // memcached's `ms` unlinks the old item on a failure whatever the mode.
        fail_unlinks_any_mode: true,
        vivify,
        // 1.6.45's `ms` takes `E0` as no `E`.
        cas_in: f.cas_in.filter(|&c| c != 0),
        ..SetOpts::new(mode, f.client_flags, ttl)
    };
    let (value, data_len) = store_value(ctx, m.data);
    let call = StoreCall {
        key: &m.key,
        mode,
        exptime: ttl,
        data_len,
        // memcached's `ms` unlinks the old item whatever the mode.
        unlinks: true,
        detail: false,
    };
    let (outcome, cas, len) = run_store_len(ctx, call, value, &opts);
    let status = match outcome {
        StoreOutcome::Stored => MetaStatus::Stored,
        StoreOutcome::NotStored => MetaStatus::NotStored,
        StoreOutcome::Exists => MetaStatus::Exists,
        StoreOutcome::NotFound => MetaStatus::NotFound,
        StoreOutcome::TooLarge => return meta_reply::error(out, MetaError::TooLarge),
        StoreOutcome::NoMemory => return meta_reply::error(out, MetaError::NoMemoryStoring),
    };
    let size = if outcome == StoreOutcome::Stored {
        len
    } else {
        data_len
    };
    meta_reply::set_status(out, f, status, &m.key, cas, size);
}

/// `md`: memcached's `process_mdelete_command`.
fn delete(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let f = &m.flags;
    let opts = DeleteOpts {
        cas: f.cas,
        invalidate: f.invalidate,
        exptime: f.ttl,
        remove_value: f.remove_value.then_some(f.client_flags),
        cas_in: f.cas_in,
    };
    let status = match run_delete(ctx, Via::Meta, &m.key, &opts) {
        DeleteOutcome::Deleted | DeleteOutcome::Invalidated | DeleteOutcome::Emptied => {
            MetaStatus::Stored
        }
        DeleteOutcome::NoMemory => return meta_reply::error(out, MetaError::NoMemory),
        DeleteOutcome::NotFound => MetaStatus::NotFound,
        DeleteOutcome::Exists => MetaStatus::Exists,
    };
    meta_reply::status(out, f, status, &m.key, None);
}

/// `ma`: memcached's `process_marithmetic_command`.
fn arith(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let f = &m.flags;
    let opts = ArithOpts {
        cas: f.cas,
        // Created never expiring: `N`'s TTL is applied in the callback, in flag order.
        vivify: f.vivify.map(|_| (f.initial, 0)),
        cas_in: f.cas_in,
        ..ArithOpts::new(f.incr, f.delta)
    };
    let outcome = run_arith(ctx, Via::Meta, &m.key, &opts, |e: &mut Entry<'_>| {
        let created = e.created();
        // The number without memcached's in-place space padding, copied out (on the
        // stack: a u64 has at most 20 digits) because `e` is changed below.
        let mut buf = [0u8; 20];
        let v = e.value();
        let len = v.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
        let len = len.min(buf.len());
        buf[..len].copy_from_slice(&v[..len]);
        let cas = e.cas();
        let (ttl, _) = apply_exptime_changes(f, e);
        let item = MetaItem {
            // `ma` returns the key as requested.
            key: &m.key,
            key_binary: f.base64,
            value_len: len,
            cas,
            created,
            ttl,
            ..MetaItem::default()
        };
        meta_reply::arith_hit(out, f, &item, &buf[..len]);
        created
    });
    let status = match outcome {
        ArithOutcome::Value(..) => return,
        ArithOutcome::NotFound => MetaStatus::NotFound,
        ArithOutcome::Exists => MetaStatus::Exists,
        ArithOutcome::NotStored => MetaStatus::NotStored,
        ArithOutcome::NonNumeric => return meta_reply::error(out, MetaError::NonNumeric),
        ArithOutcome::NoMemory | ArithOutcome::NoMemoryToCreate => {
            return meta_reply::error(out, MetaError::NoMemory);
        }
    };
    meta_reply::status(out, f, status, &m.key, None);
}

/// `me`: memcached's `process_meta_command` (debug line). `cls` and `size` are our slab
/// class and item size, which differ from memcached's.
fn debug(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    bump(&ctx.stats.cmd_meta);
    let opts = GetOpts {
        count: HitCount::Uncounted,
        no_bump: true,
        ..GetOpts::default()
    };
    let found = ctx.shared.store.get(&m.key, &opts, |e: &mut Entry<'_>| {
        let item = MetaDebugItem {
            key: e.key(),
            key_binary: e.key_binary(),
            exp: e.exp_debug(),
            last_access: e.last_access(),
            cas: e.cas(),
            fetched: e.fetched(),
            class_id: e.class_id(),
            item_size: e.item_size(),
        };
        meta_reply::debug(out, &item);
    });
    if !matches!(found, Lookup::Hit(())) {
        meta_reply::debug_miss(out);
    }
}
