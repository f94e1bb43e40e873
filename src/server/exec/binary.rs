//! The binary-protocol side of the seam: runs one parsed [`BinRequest`] against the store,
//! counts it, and encodes memcached's binary response (quiet rules included) into `out`.
//!
//! No I/O here. Shares the counters and stats builders with the text executor.

use crate::protocol::binary::{
    BinCommand, BinError, BinRequest, NO_AUTOCREATE, Opcode, Status, StoreOp, encode, should_reply,
};
use crate::server::exec::{
    ConfigAnswer, Ctx, Next, StoreCall, log_fetch, log_stored, log_too_large_set, run_store,
    watched_key,
};
use crate::server::net::outq::Out;
use crate::server::observe::detail::Op as DetailOp;
use crate::server::observe::stats;
use crate::store::{
    ArithOpts, ArithOutcome, DeleteOpts, DeleteOutcome, GetOpts, Lookup, SetMode, SetOpts,
    StoreOutcome,
};
use std::sync::atomic::{AtomicU64, Ordering};

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Writes an error (or a bare success) unless the quiet rules silence it.
fn status(out: &mut Vec<u8>, req: &BinRequest<'_>, st: Status, cas: u64) {
    if !should_reply(req.opcode, st) {
        return;
    }
    if st == Status::Success {
        encode::status_only(out, req.opcode.as_u8(), st, req.opaque, cas);
    } else {
        encode::error(out, req.opcode.as_u8(), st, req.opaque);
    }
}

/// SASL list/auth/step. Without `-S`, memcached answers `Unknown command`.
fn sasl(req: &BinRequest<'_>, ctx: &Ctx<'_>, authed: &mut bool, out: &mut Vec<u8>) {
    let op = req.opcode.as_u8();
    let config = &ctx.shared.config;
    let Some(creds) = config
        .credentials
        .as_deref()
        .filter(|_| config.auth_required())
    else {
        encode::error(out, op, Status::UnknownCommand, req.opaque);
        return;
    };
    if matches!(req.command, BinCommand::SaslAuth { .. }) {
        ctx.stats.auth_cmds.fetch_add(1, Ordering::Relaxed);
    }
    match req.command {
        BinCommand::SaslListMechs => {
            encode::value_only(out, op, Status::Success, req.opaque, b"PLAIN");
        }
        BinCommand::SaslAuth {
            step: false,
            mech: b"PLAIN",
            data,
        } if creds.check_plain(data) => {
            *authed = true;
            encode::value_only(out, op, Status::Success, req.opaque, b"Authenticated");
        }
        _ => {
            ctx.stats.auth_errors.fetch_add(1, Ordering::Relaxed);
            log::info!("SASL authentication failed");
            encode::error(out, op, Status::AuthError, req.opaque);
        }
    }
}

/// Executes one binary request. `authed` is the connection's authentication state (always
/// true when no authentication is configured).
pub fn execute(req: BinRequest<'_>, ctx: &Ctx<'_>, authed: &mut bool, out: &mut Out) -> Next {
    if matches!(
        req.command,
        BinCommand::SaslListMechs | BinCommand::SaslAuth { .. }
    ) {
        sasl(&req, ctx, authed, out);
        return Next::Continue;
    }
    // memcached answers Version before authentication; everything else is refused and the
    // connection closed.
    if !*authed && req.command != BinCommand::Version {
        encode::error(out, req.opcode.as_u8(), Status::AuthError, req.opaque);
        return Next::Close;
    }
    let store = &ctx.shared.store;
    let st = ctx.stats;
    let op = req.opcode.as_u8();
    match req.command {
        BinCommand::SaslListMechs | BinCommand::SaslAuth { .. } => {}
        BinCommand::ConfigGet { key } => {
            if key == b"cluster" {
                let payload = ctx.shared.cluster.membership.with(|c| c.payload());
                encode::get_hit(out, op, req.opaque, 0, 0, None, &payload);
            } else {
                status(out, &req, Status::KeyNotFound, 0);
            }
        }
        BinCommand::ConfigSet { key, value } => {
            let s = match crate::server::exec::config_set(ctx, key, value) {
                ConfigAnswer::Done => Status::Success,
                ConfigAnswer::Disabled => Status::UnknownCommand,
                ConfigAnswer::NotFound => Status::KeyNotFound,
                ConfigAnswer::Bad(_) => Status::InvalidArguments,
            };
            status(out, &req, s, 0);
        }
        BinCommand::ConfigDelete { key } => {
            let s = match crate::server::exec::config_delete(ctx, key) {
                ConfigAnswer::Done => Status::Success,
                ConfigAnswer::Disabled => Status::UnknownCommand,
                ConfigAnswer::NotFound | ConfigAnswer::Bad(_) => Status::KeyNotFound,
            };
            status(out, &req, s, 0);
        }
        BinCommand::Get { key } | BinCommand::Gat { key, .. } => {
            let touch = match req.command {
                BinCommand::Gat { exptime, .. } => Some(i64::from(exptime)),
                _ => None,
            };
            let with_key = req.with_key.then_some(key);
            log_fetch(ctx, key);
            let emit = |item: &mut crate::store::Entry<'_>| {
                let len = item.value().len();
                let (cas, flags) = (item.cas(), item.flags());
                encode::get_hit_header(out, op, req.opaque, cas, flags, with_key, len);
                out.value(item.value(), |keep| item.pin_with(keep));
            };
            let found = match touch {
                Some(exptime) => store.get(key, &GetOpts::touch(exptime), emit),
                None => store.get(key, &GetOpts::default(), emit),
            };
            crate::server::exec::count_get(ctx, key, touch.is_some(), &found);
            if !matches!(found, Lookup::Hit(())) && should_reply(req.opcode, Status::KeyNotFound) {
                encode::get_miss(out, op, req.opaque, with_key);
            }
        }
        BinCommand::Touch { key, exptime } => {
            bump(&st.cmd_touch);
            log_fetch(ctx, key);
            let touch = GetOpts::touch(i64::from(exptime));
            let found = store.get(key, &touch, |item| (item.flags(), item.cas()));
            match found {
                Lookup::Hit((flags, cas)) => {
                    bump(&st.touch_hits);
                    encode::touch_hit(out, op, req.opaque, cas, flags);
                }
                _ => {
                    bump(&st.touch_misses);
                    status(out, &req, Status::KeyNotFound, 0);
                }
            }
        }
        BinCommand::Store {
            op: sop,
            key,
            flags,
            exptime,
            value,
        } => {
            bump(&st.cmd_set);
            ctx.shared.detail.record(key, DetailOp::Set);
            // memcached turns any storage command with a non-zero cas into a CAS
            // (`process_bin_update`), Add included.
            let mode = match (sop, req.cas) {
                (_, cas) if cas != 0 => SetMode::Cas(cas),
                (StoreOp::Add, _) => SetMode::Add,
                (StoreOp::Set, _) => SetMode::Set,
                (StoreOp::Replace, _) => SetMode::Replace,
            };
            let (value, data_len) = crate::server::exec::store_value(ctx, value);
            let call = StoreCall {
                key,
                mode,
                exptime: i64::from(exptime),
                data_len,
                unlinks: sop == StoreOp::Set,
            };
            let (outcome, cas) = run_store(ctx, call, |s| {
                s.set(key, value, &SetOpts::new(mode, flags, i64::from(exptime)))
            });
            status(out, &req, store_status(sop, mode, outcome), cas);
        }
        BinCommand::Concat { append, key, value } => {
            bump(&st.cmd_set);
            let mode = if append {
                SetMode::Append
            } else {
                SetMode::Prepend
            };
            // A non-zero cas must match the current item (compared under the lock);
            // memcached answers a cas on a missing key with "Not stored".
            let (value, data_len) = crate::server::exec::store_value(ctx, value);
            let call = StoreCall {
                key,
                mode,
                exptime: 0,
                data_len,
                unlinks: false,
            };
            let opts = SetOpts {
                concat_cas: req.cas,
                ..SetOpts::new(mode, 0, 0)
            };
            let (outcome, cas) = run_store(ctx, call, |s| s.set(key, value, &opts));
            status(out, &req, store_status(StoreOp::Set, mode, outcome), cas);
        }
        BinCommand::Delete { key } => {
            ctx.shared.detail.record(key, DetailOp::Del);
            log_fetch(ctx, key);
            let opts = DeleteOpts {
                cas: (req.cas != 0).then_some(req.cas),
                ..DeleteOpts::default()
            };
            match store.delete(key, &opts) {
                // No `invalidate` here: Invalidated does not happen.
                DeleteOutcome::Deleted | DeleteOutcome::Invalidated => {
                    bump(&st.delete_hits);
                    status(out, &req, Status::Success, 0);
                }
                DeleteOutcome::NotFound => {
                    bump(&st.delete_misses);
                    status(out, &req, Status::KeyNotFound, 0);
                }
                DeleteOutcome::Exists => status(out, &req, Status::KeyExists, 0),
            }
        }
        BinCommand::Arith {
            incr,
            key,
            delta,
            initial,
            exptime,
        } => {
            let (hits, misses) = if incr {
                (&st.incr_hits, &st.incr_misses)
            } else {
                (&st.decr_hits, &st.decr_misses)
            };
            log_fetch(ctx, key);
            // memcached's auto-create: a missing key is created with `initial` (and the
            // exptime) unless the exptime is 0xffffffff, by the store under the key's lock.
            let vivify = (exptime != NO_AUTOCREATE).then_some((initial, i64::from(exptime)));
            // Seen before the command: the creation is logged as an `add` of a missing key.
            let watched = vivify.is_some() && watched_key(ctx, key).is_some();
            let opts = ArithOpts {
                incr,
                delta,
                vivify,
                ..ArithOpts::default()
            };
            let outcome = store.arith(key, &opts, |e| (e.cas(), e.created()));
            // Not `run_store`: memcached counts no store outcome for the auto-create; it
            // counts as a miss.
            let created = |added: StoreOutcome| {
                bump(misses);
                if watched {
                    let call = StoreCall {
                        key,
                        mode: SetMode::Add,
                        exptime: i64::from(exptime),
                        data_len: initial.to_string().len(),
                        unlinks: false,
                    };
                    log_stored(ctx, &call, Lookup::Miss, added);
                }
            };
            let result = match outcome {
                ArithOutcome::Value(v, (cas, false)) => {
                    bump(hits);
                    Ok((v, cas))
                }
                ArithOutcome::Value(v, (cas, true)) => {
                    created(StoreOutcome::Stored);
                    Ok((v, cas))
                }
                ArithOutcome::NotFound => {
                    bump(misses);
                    Err(Status::KeyNotFound)
                }
                ArithOutcome::NoMemoryToCreate => {
                    created(StoreOutcome::NoMemory);
                    Err(Status::OutOfMemory)
                }
                // Another writer created the key first (memcached: "Not stored").
                ArithOutcome::NotStored if vivify.is_some() => {
                    created(StoreOutcome::NotStored);
                    Err(Status::NotStored)
                }
                ArithOutcome::NonNumeric => Err(Status::NonNumeric),
                // NotStored without auto-create: the item kept changing under a growing
                // rewrite. No CAS is passed, so Exists does not happen.
                ArithOutcome::NoMemory | ArithOutcome::NotStored | ArithOutcome::Exists => {
                    Err(Status::OutOfMemory)
                }
            };
            match result {
                Ok((v, cas)) => {
                    if should_reply(req.opcode, Status::Success) {
                        encode::incr_result(out, op, req.opaque, cas, v);
                    }
                }
                Err(s) => status(out, &req, s, 0),
            }
        }
        BinCommand::Flush { exptime } => {
            bump(&st.cmd_flush);
            if !ctx.shared.config.flush_enabled {
                // memcached (-F): `Auth failure.`, even for FlushQ.
                encode::error(out, op, Status::AuthError, req.opaque);
                return Next::Continue;
            }
            store.flush_all(i64::from(exptime));
            status(out, &req, Status::Success, 0);
        }
        BinCommand::Stat { key } => {
            let shared = ctx.shared;
            let list = match key {
                b"" => stats::general(shared),
                b"settings" => stats::settings(shared),
                b"items" => stats::items(shared),
                b"slabs" => stats::slabs(shared),
                b"sizes" => stats::sizes(shared),
                b"reset" => {
                    stats::reset(shared);
                    stats::StatList::default()
                }
                _ => {
                    encode::error(out, op, Status::KeyNotFound, req.opaque);
                    return Next::Continue;
                }
            };
            for (name, value) in &list.0 {
                encode::stat(out, req.opaque, name.as_bytes(), value.as_bytes());
            }
            encode::stat_end(out, req.opaque);
        }
        BinCommand::Version => {
            encode::version(out, req.opaque, crate::server::VERSION.as_bytes());
        }
        BinCommand::NoOp => status(out, &req, Status::Success, 0),
        BinCommand::Quit => {
            if req.opcode == Opcode::Quit {
                encode::status_only(out, op, Status::Success, req.opaque, 0);
            }
            return Next::Close;
        }
    }
    Next::Continue
}

/// memcached's binary status for a storage outcome, counting CAS and failures.
fn store_status(sop: StoreOp, mode: SetMode, outcome: StoreOutcome) -> Status {
    match outcome {
        StoreOutcome::Stored => Status::Success,
        // memcached: a failed add is "exists", a failed replace "not found".
        StoreOutcome::NotStored => match (sop, mode) {
            (StoreOp::Add, SetMode::Add) => Status::KeyExists,
            (StoreOp::Replace, SetMode::Replace) => Status::KeyNotFound,
            _ => Status::NotStored,
        },
        StoreOutcome::Exists => Status::KeyExists,
        StoreOutcome::NotFound => Status::KeyNotFound,
        StoreOutcome::TooLarge => Status::ValueTooLarge,
        StoreOutcome::NoMemory => Status::OutOfMemory,
    }
}

/// Answers a binary request the codec rejected (unlinking the key of a too-large Set).
pub fn parse_error(e: &BinError, input: &[u8], ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    if e.unlinks_key() {
        let key = e.key(input);
        if !key.is_empty() {
            log_too_large_set(ctx, key);
            ctx.shared.store.delete(key, &DeleteOpts::default());
        }
        bump(&ctx.stats.cmd_set);
        bump(&ctx.stats.store_too_large);
    }
    e.write_reply(out);
}
