//! Executes meta commands (`mg ms md ma me`; `mn` is answered in `execute.rs`) against the
//! store and encodes their replies, byte for byte like memcached 1.6.18's `proto_text.c`.
//!
//! Reply shapes: a status (`VA <len>`, `HD`, `EN`, `NS`, `EX`, `NF`) followed by the
//! requested return flags, in request order, each as ` <letter><value>`; after them `mg`
//! adds ` Z` (a win token was already handed out), ` X` (stale) and ` W` (this client won
//! the right to recache). Quiet mode (`q`) drops `EN` for mg, `HD` for ms/md and any success of ma except
//! auto-creation; errors
//! are always sent. Part of the executor seam: no I/O, replies go to `out`.

use super::Ctx;
use super::bump;
use super::{StoreCall, log_fetch, run_store};
use crate::protocol::text::encode::{self, put_u64};
use crate::protocol::text::meta::base64_encode;
use crate::protocol::{MetaCmd, MetaFlags, MetaSetMode, MetaVerb, Reply};
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

/// ` k<key>`, base64 encoded and followed by ` b` for binary keys (memcached's `META_KEY`).
fn put_key(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b" k");
    if binary {
        base64_encode(out, key);
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key);
    }
}

/// ` <letter><number>`.
fn put_flag(out: &mut Vec<u8>, letter: u8, n: u64) {
    out.push(b' ');
    out.push(letter);
    put_u64(out, n);
}

fn put_ttl(out: &mut Vec<u8>, ttl: i64) {
    out.extend_from_slice(b" t");
    if ttl < 0 {
        out.extend_from_slice(b"-1");
    } else {
        put_u64(out, ttl as u64);
    }
}

/// The flags echoed by every status line without an item: `O` and `k`.
fn put_opaque_and_key(out: &mut Vec<u8>, f: &MetaFlags<'_>, key: &[u8]) {
    for tok in f.iter() {
        match tok[0] {
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(tok);
            }
            b'k' => put_key(out, key, f.base64),
            _ => {}
        }
    }
}

/// `mg`: memcached's `process_mget_command`.
fn get(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Out) {
    let st = ctx.stats;
    let f = &m.flags;
    let mut ttl_set = false;
    log_fetch(ctx, &m.key);
    // memcached counts `mg` with `T` as a touch.
    let touches = f.iter().any(|t| t[0] == b'T');
    let count = if touches {
        HitCount::Touch
    } else {
        HitCount::Get
    };
    let found = ctx.shared.store.get(
        &m.key,
        &GetOpts {
            count,
            no_bump: f.no_update,
            vivify: f.vivify.is_some(),
            ..GetOpts::default()
        },
        |e: &mut Entry<'_>| {
            let value_len = e.value().len() as u64;
            if f.value {
                out.extend_from_slice(b"VA ");
                put_u64(out, value_len);
            } else {
                out.extend_from_slice(b"HD");
            }
            let mut won = false;
            for tok in f.iter() {
                match tok[0] {
                    b'T' => {
                        ttl_set = true;
                        if let Some(t) = f.ttl {
                            e.set_exptime(t);
                        }
                    }
                    b'N' if e.created() => {
                        if let Some(t) = f.vivify {
                            e.set_exptime(t);
                        }
                        won = true;
                    }
                    b'R' if f.recache.is_some_and(|t| e.recache_due(t)) => won = true,
                    b's' => put_flag(out, b's', value_len),
                    b't' => put_ttl(out, e.ttl()),
                    b'c' => put_flag(out, b'c', e.cas()),
                    b'f' => put_flag(out, b'f', u64::from(e.flags())),
                    b'l' => put_flag(out, b'l', u64::from(e.last_access())),
                    b'h' => put_flag(out, b'h', u64::from(e.fetched())),
                    b'O' => {
                        out.push(b' ');
                        out.extend_from_slice(tok);
                    }
                    b'k' => put_key(out, e.key(), e.key_binary()),
                    _ => {}
                }
            }
            // memcached: Z before X, and no W together with Z.
            if e.token_sent() {
                out.extend_from_slice(b" Z");
            }
            if e.stale() {
                out.extend_from_slice(b" X");
                if !e.token_sent() {
                    won = true;
                }
            }
            if won {
                out.extend_from_slice(b" W");
                e.set_token_sent();
            }
            out.extend_from_slice(b"\r\n");
            if f.value {
                out.value(e.value(), |keep| e.pin_with(keep));
                out.extend_from_slice(b"\r\n");
            }
        },
    );
    match found {
        Lookup::Hit(()) => {
            if ttl_set {
                bump(&st.cmd_touch);
                bump(&st.touch_hits);
            } else {
                bump(&st.cmd_get);
                bump(&st.get_hits);
            }
        }
        other => {
            bump(&st.cmd_get);
            bump(&st.get_misses);
            match other {
                Lookup::Expired => bump(&st.get_expired),
                Lookup::Flushed => bump(&st.get_flushed),
                _ => {}
            }
            if !f.quiet {
                out.extend_from_slice(b"EN");
                put_opaque_and_key(out, f, &m.key);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// `ms`: memcached's `process_mset_command` + `_finalize_mset`.
fn set(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let st = ctx.stats;
    let f = &m.flags;
    bump(&st.cmd_set);
    // A CAS upgrades set and replace to cas; add ignores it; append/prepend compare it.
    let mode = match (f.set_mode, f.cas) {
        (MetaSetMode::Set | MetaSetMode::Replace, Some(c)) => SetMode::Cas(c),
        (MetaSetMode::Set, None) => SetMode::Set,
        (MetaSetMode::Replace, None) => SetMode::Replace,
        (MetaSetMode::Add, _) => SetMode::Add,
        (MetaSetMode::Append, _) => SetMode::Append,
        (MetaSetMode::Prepend, _) => SetMode::Prepend,
    };
    let ttl = f.ttl.unwrap_or(0);
    let opts = SetOpts {
        invalidate: f.invalidate && matches!(mode, SetMode::Cas(_)),
        key_binary: f.base64,
        concat_cas: f.cas.unwrap_or(0),
        fail_unlinks_any_mode: true,
        ..SetOpts::new(mode, f.client_flags, ttl)
    };
    let (value, data_len) = super::store_value(ctx, m.data);
    let call = StoreCall {
        key: &m.key,
        mode,
        exptime: ttl,
        data_len,
        // memcached's `ms` unlinks the old item whatever the mode.
        unlinks: true,
    };
    let (outcome, cas) = run_store(ctx, call, |s| s.set(&m.key, value, &opts));
    let status: &[u8] = match outcome {
        StoreOutcome::Stored if f.quiet => return,
        StoreOutcome::Stored => b"HD",
        StoreOutcome::NotStored => b"NS",
        StoreOutcome::Exists => b"EX",
        StoreOutcome::NotFound => b"NF",
        StoreOutcome::TooLarge => {
            encode::reply(out, &Reply::ServerError("object too large for cache"));
            return;
        }
        StoreOutcome::NoMemory => {
            encode::reply(out, &Reply::ServerError("out of memory storing object"));
            return;
        }
    };
    out.extend_from_slice(status);
    for tok in f.iter() {
        match tok[0] {
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(tok);
            }
            b'k' => put_key(out, &m.key, f.base64),
            b'c' => put_flag(out, b'c', cas),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// `md`: memcached's `process_mdelete_command`.
fn delete(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let st = ctx.stats;
    let f = &m.flags;
    log_fetch(ctx, &m.key);
    let opts = DeleteOpts {
        cas: f.cas,
        invalidate: f.invalidate,
        exptime: f.ttl,
    };
    let outcome = ctx.shared.store.delete(&m.key, &opts);
    let status: &[u8] = match outcome {
        DeleteOutcome::Deleted | DeleteOutcome::Invalidated => {
            if outcome == DeleteOutcome::Deleted {
                bump(&st.delete_hits);
            }
            if f.quiet {
                return;
            }
            b"HD"
        }
        DeleteOutcome::NotFound => {
            bump(&st.delete_misses);
            b"NF"
        }
        DeleteOutcome::Exists => {
            bump(&st.delete_misses);
            b"EX"
        }
    };
    out.extend_from_slice(status);
    put_opaque_and_key(out, f, &m.key);
    out.extend_from_slice(b"\r\n");
}

/// `ma`: memcached's `process_marithmetic_command`.
fn arith(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let st = ctx.stats;
    let f = &m.flags;
    let (hits, misses) = if f.incr {
        (&st.incr_hits, &st.incr_misses)
    } else {
        (&st.decr_hits, &st.decr_misses)
    };
    let start = out.len();
    log_fetch(ctx, &m.key);
    let outcome = ctx.shared.store.arith(
        &m.key,
        &ArithOpts {
            incr: f.incr,
            delta: f.delta,
            cas: f.cas,
            // Created never expiring; `N`'s TTL is applied below, in flag order.
            vivify: f.vivify.map(|_| (f.initial, 0)),
        },
        |e: &mut Entry<'_>| {
            let created = e.created();
            // The number without memcached's in-place space padding, copied out (on the
            // stack: a u64 has at most 20 digits) because `e` is changed below.
            let mut buf = [0u8; 20];
            let v = e.value();
            let len = v.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
            let len = len.min(buf.len());
            buf[..len].copy_from_slice(&v[..len]);
            let digits = &buf[..len];
            if f.value {
                out.extend_from_slice(b"VA ");
                put_u64(out, digits.len() as u64);
            } else {
                out.extend_from_slice(b"HD");
            }
            for tok in f.iter() {
                match tok[0] {
                    b'c' => put_flag(out, b'c', e.cas()),
                    b't' => put_ttl(out, e.ttl()),
                    b'T' => {
                        if let Some(t) = f.ttl {
                            e.set_exptime(t);
                        }
                    }
                    b'N' => {
                        if created && let Some(t) = f.vivify {
                            e.set_exptime(t);
                        }
                    }
                    b'O' => {
                        out.push(b' ');
                        out.extend_from_slice(tok);
                    }
                    b'k' => put_key(out, &m.key, f.base64),
                    _ => {}
                }
            }
            if f.value {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(digits);
            }
            out.extend_from_slice(b"\r\n");
            created
        },
    );
    let status: &[u8] = match outcome {
        ArithOutcome::Value(_, created) => {
            if !created {
                bump(hits);
                // memcached drops a quiet success (`HD` or `VA`), but not for a created item.
                if f.quiet {
                    out.truncate(start);
                }
            }
            return;
        }
        ArithOutcome::NotFound => {
            bump(misses);
            b"NF"
        }
        ArithOutcome::Exists => b"EX",
        ArithOutcome::NotStored => b"NS",
        ArithOutcome::NonNumeric => {
            encode::reply(
                out,
                &Reply::ClientError("cannot increment or decrement non-numeric value"),
            );
            return;
        }
        ArithOutcome::NoMemory | ArithOutcome::NoMemoryToCreate => {
            encode::reply(out, &Reply::ServerError("out of memory"));
            return;
        }
    };
    out.extend_from_slice(status);
    put_opaque_and_key(out, f, &m.key);
    out.extend_from_slice(b"\r\n");
}

/// `me`: memcached's `process_meta_command` (debug line). `cls` and `size` are our slab
/// class and item size, which differ from memcached's.
fn debug(m: &MetaCmd<'_>, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    bump(&ctx.stats.cmd_meta);
    let found = ctx.shared.store.get(
        &m.key,
        &GetOpts {
            count: HitCount::Uncounted,
            no_bump: true,
            ..GetOpts::default()
        },
        |e: &mut Entry<'_>| {
            out.extend_from_slice(b"ME ");
            if e.key_binary() {
                base64_encode(out, e.key());
            } else {
                out.extend_from_slice(e.key());
            }
            let line = format!(
                " exp={} la={} cas={} fetch={} cls={} size={}\r\n",
                e.exp_debug(),
                e.last_access(),
                e.cas(),
                if e.fetched() { "yes" } else { "no" },
                e.class_id(),
                e.item_size()
            );
            out.extend_from_slice(line.as_bytes());
        },
    );
    if !matches!(found, Lookup::Hit(())) {
        out.extend_from_slice(b"EN\r\n");
    }
}
