//! The binary decoder: maps one parsed [`BinRequest`] to the runners (`get.rs`,
//! `store.rs`, `delete.rs`, `arith.rs`, `touch.rs`, `admin.rs`) and hands each outcome to
//! `protocol::binary::encode` (quiet rules included). Counting and watch logging are the
//! runners'.

use super::admin::{self, ConfigAnswer, Flushed, Group};
use super::arith::arith;
use super::ctx::{Ctx, Next, Via, store_value};
use super::delete::delete;
use super::get::fetch;
use super::store::{StoreCall, refuse_too_large, refused_detail, run_store};
use super::touch::touch_counted;
use crate::protocol::DetailArg;
use crate::protocol::binary::{
    BinCommand, BinError, BinRequest, DETAIL_DUMP_KEY, NO_AUTOCREATE, Opcode, StatKey, Status,
    StoreOp, encode, should_reply, stat_key,
};
use crate::server::net::outq::Out;
use crate::store::{
    ArithOpts, ArithOutcome, DeleteOpts, DeleteOutcome, Lookup, SetMode, SetOpts, StoreOutcome,
};

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
    if !ctx.shared.config.auth_required() || ctx.shared.config.credentials.is_none() {
        encode::error(out, op, Status::UnknownCommand, req.opaque);
        return;
    }
    match req.command {
        BinCommand::SaslListMechs => {
            encode::value_only(
                out,
                op,
                Status::Success,
                req.opaque,
                encode::SASL_MECHANISMS,
            );
        }
        BinCommand::SaslAuth { step, mech, data } => {
            let plain = (!step && mech == b"PLAIN").then_some(data);
            if admin::sasl_auth(ctx, plain) {
                *authed = true;
                encode::value_only(
                    out,
                    op,
                    Status::Success,
                    req.opaque,
                    encode::SASL_AUTHENTICATED,
                );
            } else {
                encode::error(out, op, Status::AuthError, req.opaque);
            }
        }
        _ => {}
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
            let s = match admin::config_set(ctx, key, value, admin::operator(ctx)) {
                ConfigAnswer::Done => Status::Success,
                ConfigAnswer::NotNewer => Status::NotStored,
                ConfigAnswer::Unauthenticated | ConfigAnswer::BadSeal => Status::AuthError,
                ConfigAnswer::Disabled => Status::UnknownCommand,
                ConfigAnswer::NotFound => Status::KeyNotFound,
                ConfigAnswer::Bad(_) | ConfigAnswer::TooFarAhead => Status::InvalidArguments,
            };
            status(out, &req, s, 0);
        }
        BinCommand::ConfigDelete { key } => {
            let s = match admin::config_delete(ctx, key, admin::operator(ctx)) {
                ConfigAnswer::Done => Status::Success,
                ConfigAnswer::Disabled => Status::UnknownCommand,
                ConfigAnswer::Unauthenticated | ConfigAnswer::BadSeal => Status::AuthError,
                ConfigAnswer::NotFound
                | ConfigAnswer::Bad(_)
                | ConfigAnswer::NotNewer
                | ConfigAnswer::TooFarAhead => Status::KeyNotFound,
            };
            status(out, &req, s, 0);
        }
        BinCommand::Get { key } | BinCommand::Gat { key, .. } => {
            let touch = match req.command {
                BinCommand::Gat { exptime, .. } => Some(i64::from(exptime)),
                _ => None,
            };
            let with_key = req.with_key.then_some(key);
            let emit = |item: &mut crate::store::Entry<'_>| {
                let value = item.value();
                let (cas, flags) = (item.cas(), item.flags());
                encode::get_hit_header(out, op, req.opaque, cas, flags, with_key, value.len());
                out.value(value, |keep| item.pin_with(keep));
            };
            let found = fetch(ctx, key, touch, emit);
            if !matches!(found, Lookup::Hit(())) && should_reply(req.opcode, Status::KeyNotFound) {
                encode::get_miss(out, op, req.opaque, with_key);
            }
        }
        BinCommand::Touch { key, exptime } => {
            match touch_counted(ctx, key, i64::from(exptime), |item| {
                (item.flags(), item.cas())
            }) {
                Lookup::Hit((flags, cas)) => encode::touch_hit(out, op, req.opaque, cas, flags),
                _ => status(out, &req, Status::KeyNotFound, 0),
            }
        }
        BinCommand::Store {
            op: sop,
            key,
            flags,
            exptime,
            value,
        } => {
            // memcached turns any storage command with a non-zero cas into a CAS
            // (`process_bin_update`), Add included.
            let mode = match (sop, req.cas) {
                (_, cas) if cas != 0 => SetMode::Cas(cas),
                (StoreOp::Add, _) => SetMode::Add,
                (StoreOp::Set, _) => SetMode::Set,
                (StoreOp::Replace, _) => SetMode::Replace,
            };
            let (value, data_len) = store_value(ctx, value);
            let call = StoreCall {
                key,
                mode,
                exptime: i64::from(exptime),
                data_len,
                unlinks: sop == StoreOp::Set,
                detail: true,
            };
            let opts = SetOpts::new(mode, flags, i64::from(exptime));
            let (outcome, cas) = run_store(ctx, call, value, &opts);
            status(out, &req, store_status(sop, mode, outcome), cas);
        }
        BinCommand::Concat { append, key, value } => {
            let mode = if append {
                SetMode::Append
            } else {
                SetMode::Prepend
            };
            // A non-zero cas must match the current item (compared under the lock);
            // memcached answers a cas on a missing key with "Not stored".
            let (value, data_len) = store_value(ctx, value);
            let call = StoreCall {
                key,
                mode,
                exptime: 0,
                data_len,
                unlinks: false,
                // memcached counts binary Append/Prepend in `stats detail` (text ones too).
                detail: true,
            };
            let opts = SetOpts {
                concat_cas: req.cas,
                ..SetOpts::new(mode, 0, 0)
            };
            let (outcome, cas) = run_store(ctx, call, value, &opts);
            status(out, &req, store_status(StoreOp::Set, mode, outcome), cas);
        }
        BinCommand::Delete { key } => {
            let opts = DeleteOpts {
                cas: (req.cas != 0).then_some(req.cas),
                ..DeleteOpts::default()
            };
            let outcome = delete(ctx, Via::Binary, key, &opts);
            let s = match outcome {
                DeleteOutcome::Deleted | DeleteOutcome::Invalidated | DeleteOutcome::Emptied => {
                    Status::Success
                }
                // Only meta `md x` allocates.
                DeleteOutcome::NoMemory => Status::OutOfMemory,
                DeleteOutcome::NotFound => Status::KeyNotFound,
                DeleteOutcome::Exists => Status::KeyExists,
            };
            status(out, &req, s, 0);
        }
        BinCommand::Arith {
            incr,
            key,
            delta,
            initial,
            exptime,
        } => {
            // memcached: a miss creates the item with `initial`, unless the exptime is all
            // ones; done by the store under the key's lock.
            let opts = ArithOpts {
                vivify: (exptime != NO_AUTOCREATE).then_some((initial, i64::from(exptime))),
                ..ArithOpts::new(incr, delta)
            };
            match arith(ctx, Via::Binary, key, &opts, |e| e.cas()) {
                ArithOutcome::Value(v, (cas, _)) => {
                    if should_reply(req.opcode, Status::Success) {
                        encode::incr_result(out, op, req.opaque, cas, v);
                    }
                }
                ArithOutcome::NotFound => status(out, &req, Status::KeyNotFound, 0),
                ArithOutcome::NonNumeric => status(out, &req, Status::NonNumeric, 0),
                // Another writer created the key first (memcached: "Not stored").
                ArithOutcome::NotStored if opts.vivify.is_some() => {
                    status(out, &req, Status::NotStored, 0)
                }
                // NotStored without auto-create: the item kept changing under a growing
                // rewrite. No CAS is passed, so Exists does not happen.
                ArithOutcome::NoMemory
                | ArithOutcome::NoMemoryToCreate
                | ArithOutcome::NotStored
                | ArithOutcome::Exists => status(out, &req, Status::OutOfMemory, 0),
            }
        }
        BinCommand::Flush { exptime } => match admin::flush(ctx, Some(i64::from(exptime))) {
            // memcached (-F): `Auth failure.`, even for FlushQ.
            Flushed::Disabled => encode::error(out, op, Status::AuthError, req.opaque),
            Flushed::Done | Flushed::BadDelay => status(out, &req, Status::Success, 0),
        },
        BinCommand::Stat { key } => {
            let group = match stat_key(key) {
                StatKey::General => Group::General,
                StatKey::Settings => Group::Settings,
                StatKey::Items => Group::Items,
                StatKey::Slabs => Group::Slabs,
                StatKey::Sizes => Group::Sizes,
                StatKey::Reset => Group::Reset,
                StatKey::Detail(arg) => {
                    stats_detail(ctx, req.opaque, arg, out);
                    return Next::Continue;
                }
                StatKey::Unknown => {
                    encode::error(out, op, Status::KeyNotFound, req.opaque);
                    return Next::Continue;
                }
            };
            for (name, value) in &admin::stats_group(ctx, group).0 {
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

/// Stat `detail on|off|dump`, as memcached 1.6.18 answers it: `on`/`off` switch the
/// per-prefix counters and answer the end frame alone; `dump` answers one stat,
/// `detailed`, whose value is `stats detail dump`'s text, then the end frame; anything
/// else after `detail` is `Not found`. (1.6.18 serves them with `-X` too; later releases
/// answer `Not found` then.)
fn stats_detail(ctx: &Ctx<'_>, opaque: u32, arg: DetailArg, out: &mut Vec<u8>) {
    let detail = &ctx.shared.observe.detail;
    match arg {
        DetailArg::On | DetailArg::Off => detail.set_enabled(arg == DetailArg::On),
        DetailArg::Dump => {
            let mut text = Vec::new();
            detail.dump(&mut text);
            encode::stat(out, opaque, DETAIL_DUMP_KEY, &text);
        }
        DetailArg::Usage => {
            encode::error(out, Opcode::Stat.as_u8(), Status::KeyNotFound, opaque);
            return;
        }
    }
    encode::stat_end(out, opaque);
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
/// memcached counts every too-large storage request in `stats detail`: it records the set
/// before it finds the value too large.
pub fn parse_error(e: &BinError, input: &[u8], ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let key = e.key(input);
    if e.unlinks_key() {
        refuse_too_large(ctx, (!key.is_empty()).then_some(key), true);
    } else if e.status == Some(Status::ValueTooLarge) {
        refused_detail(ctx, key);
    }
    e.write_reply(out);
}
