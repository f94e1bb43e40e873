//! The text decoder: maps one parsed text [`Command`] (classic and meta verbs) to the
//! runners (`get.rs`, `store.rs`, `delete.rs`, `arith.rs`, `touch.rs`, `admin.rs`,
//! `crawler.rs`; meta verbs in `meta.rs`) and hands each outcome to `protocol::text` to
//! word. Counting and watch logging are the runners'; the words are the protocol's.

use super::admin::{self, ConfigAnswer, Flushed, Group};
use super::arith::arith;
use super::ctx::{Ctx, Next, Via, store_value};
use super::delete::delete;
use super::get::fetch;
use super::store::{StoreCall, refuse_too_large, run_store};
use super::touch::touch;
use super::{crawler, meta};
use crate::protocol::text::{ParseError, encode};
use crate::protocol::{
    ArithOp, Automove, CachedumpArg, Command, DetailArg, GetKind, Keys, Reply, StatsArg, StoreMode,
};
use crate::server::Shared;
use crate::server::net::outq::Out;
use crate::server::observe::trace;
use crate::store::{
    ArithOpts, ArithOutcome, DeleteOpts, DeleteOutcome, Lookup, SetMode, SetOpts, StoreOutcome,
};
use std::sync::atomic::Ordering;

fn say(ctx: &Ctx<'_>, out: &mut Vec<u8>, noreply: bool, r: Reply<'_>) {
    if !noreply {
        encode::reply(out, &r);
    } else if ctx.trace {
        trace::noreply(ctx.fd, &r);
    }
}

/// Before authentication (`-S`, `-Y`): only the ascii-auth `set` gets through.
fn unauthenticated(cmd: Command<'_>, ctx: &Ctx<'_>, authed: &mut bool, out: &mut Vec<u8>) -> Next {
    let config = &ctx.shared.config;
    if config.credentials.is_none() || !config.ascii_auth {
        // SASL only: memcached closes text connections without a word.
        return Next::Close;
    };
    match cmd {
        Command::Store {
            mode: StoreMode::Set,
            data,
            ..
        } => {
            if admin::ascii_auth(ctx, data) {
                *authed = true;
                // Even with noreply, as memcached does.
                encode::reply(out, &Reply::Stored);
            } else {
                encode::reply(out, &Reply::AUTH_FAILURE);
            }
            Next::Continue
        }
        // memcached keeps the connection open after refusing.
        _ => {
            encode::reply(out, &Reply::UNAUTHENTICATED);
            Next::Continue
        }
    }
}

/// A retrieval reply grown past `limit` since `start` is replaced by memcached's error.
fn reply_too_large(out: &mut Vec<u8>, start: usize, limit: usize) -> bool {
    if out.len() - start <= limit {
        return false;
    }
    out.truncate(start);
    encode::reply(out, &Reply::OUT_OF_MEMORY_WRITING_GET);
    true
}

/// Executes `cmd`, appending its reply to `out`. `authed` is the connection's
/// authentication state (always true when no authentication is configured).
pub fn execute(cmd: Command<'_>, ctx: &Ctx<'_>, authed: &mut bool, out: &mut Out) -> Next {
    if !*authed {
        return unauthenticated(cmd, ctx, authed, out);
    }
    let store = &ctx.shared.store;
    match cmd {
        Command::Get {
            kind,
            exptime,
            keys,
        } => get(ctx, kind, exptime, keys, out),
        Command::Store {
            mode,
            key,
            flags,
            exptime,
            data,
            cas,
            noreply,
        } => {
            let set_mode = match mode {
                StoreMode::Set => SetMode::Set,
                StoreMode::Add => SetMode::Add,
                StoreMode::Replace => SetMode::Replace,
                StoreMode::Append => SetMode::Append,
                StoreMode::Prepend => SetMode::Prepend,
                StoreMode::Cas => SetMode::Cas(cas),
            };
            let (value, data_len) = store_value(ctx, data);
            let call = StoreCall {
                key,
                mode: set_mode,
                exptime,
                data_len,
                unlinks: mode == StoreMode::Set,
                detail: true,
            };
            let opts = SetOpts::new(set_mode, flags, exptime);
            let (outcome, _) = run_store(ctx, call, value, &opts);
            let reply = match outcome {
                StoreOutcome::Stored => Reply::Stored,
                StoreOutcome::NotStored => Reply::NotStored,
                StoreOutcome::Exists => Reply::Exists,
                StoreOutcome::NotFound => Reply::NotFound,
                StoreOutcome::TooLarge => Reply::TOO_LARGE,
                StoreOutcome::NoMemory => Reply::OUT_OF_MEMORY_STORING,
            };
            say(ctx, out, noreply, reply);
            Next::Continue
        }
        Command::Delete { key, noreply } => {
            let outcome = delete(ctx, Via::Text, key, &DeleteOpts::default());
            let reply = match outcome {
                DeleteOutcome::Deleted => Reply::Deleted,
                _ => Reply::NotFound,
            };
            say(ctx, out, noreply, reply);
            Next::Continue
        }
        Command::Arith {
            op,
            key,
            delta,
            noreply,
        } => {
            let opts = ArithOpts::new(op == ArithOp::Incr, delta);
            let reply = match arith(ctx, Via::Text, key, &opts, |_| ()) {
                ArithOutcome::Value(v, _) => Reply::Number(v),
                ArithOutcome::NotFound => Reply::NotFound,
                ArithOutcome::NonNumeric => Reply::NON_NUMERIC,
                // Without a CAS or auto-create, NotStored is a rewrite that kept losing
                // races: answered as memcached answers a failed allocation.
                ArithOutcome::NoMemory
                | ArithOutcome::NoMemoryToCreate
                | ArithOutcome::Exists
                | ArithOutcome::NotStored => Reply::OUT_OF_MEMORY,
            };
            say(ctx, out, noreply, reply);
            Next::Continue
        }
        Command::Touch {
            key,
            exptime,
            noreply,
        } => {
            let reply = match touch(ctx, key, exptime, |_| ()) {
                Lookup::Hit(()) => Reply::Touched,
                _ => Reply::NotFound,
            };
            say(ctx, out, noreply, reply);
            Next::Continue
        }
        Command::FlushAll {
            delay,
            noreply,
            bad_delay,
        } => {
            let reply = match admin::flush(ctx, (!bad_delay).then_some(delay)) {
                Flushed::Disabled => Reply::FLUSH_ALL_NOT_ALLOWED,
                Flushed::BadDelay => Reply::INVALID_EXPTIME,
                Flushed::Done => Reply::Ok,
            };
            say(ctx, out, noreply, reply);
            Next::Continue
        }
        Command::Stats(arg) => {
            let shared = ctx.shared;
            let list = match arg {
                StatsArg::General => admin::stats_group(ctx, Group::General),
                StatsArg::Settings => admin::stats_group(ctx, Group::Settings),
                StatsArg::Items => admin::stats_group(ctx, Group::Items),
                StatsArg::Slabs => admin::stats_group(ctx, Group::Slabs),
                StatsArg::Sizes => admin::stats_group(ctx, Group::Sizes),
                StatsArg::SizesTracking(on) => {
                    shared.store.set_track_sizes(on);
                    let status = if on { "enabled" } else { "disabled" };
                    // memcached sends this one line without END.
                    encode::stat(out, "sizes_status", status);
                    return Next::Continue;
                }
                StatsArg::Reset => {
                    admin::stats_group(ctx, Group::Reset);
                    encode::reply(out, &Reply::Reset);
                    return Next::Continue;
                }
                StatsArg::Conns => crate::server::observe::stats::conns(shared, ctx.fd),
                StatsArg::Cluster => {
                    crate::server::observe::stats::StatList(shared.cluster.stats())
                }
                StatsArg::Detail(arg) => {
                    stats_detail(shared, arg, out);
                    return Next::Continue;
                }
                StatsArg::Cachedump(arg) => return cachedump(shared, arg, out),
                StatsArg::Other(_) => {
                    encode::reply(out, &Reply::Error);
                    return Next::Continue;
                }
            };
            for (name, value) in &list.0 {
                encode::stat(out, name, value);
            }
            encode::end(out);
            Next::Continue
        }
        Command::LruCrawler(c) => crawler::lru_crawler(c, ctx, out),
        Command::CacheMemlimit { megabytes, noreply } => {
            crawler::cache_memlimit(megabytes, noreply, ctx, out);
            Next::Continue
        }
        Command::RefreshCerts { noreply } => {
            // memcached: OK obeys noreply, its error lines do not.
            match admin::refresh_certs(ctx) {
                admin::Refreshed::Ok => say(ctx, out, noreply, Reply::Ok),
                admin::Refreshed::NotEnabled => encode::reply(out, &Reply::TLS_NOT_ENABLED),
                admin::Refreshed::Failed(e) => encode::reply(out, &Reply::Line(&e)),
            }
            Next::Continue
        }
        Command::Version => {
            encode::reply(out, &Reply::Version(crate::server::VERSION));
            Next::Continue
        }
        Command::Verbosity { level, noreply } => {
            ctx.shared.live.verbosity.store(level, Ordering::Relaxed);
            crate::logging::set_verbosity(level);
            say(ctx, out, noreply, Reply::Ok);
            Next::Continue
        }
        Command::Meta(m) => {
            meta::execute(m, ctx, out);
            Next::Continue
        }
        Command::MetaNoop => {
            crate::protocol::text::meta_reply::noop(out);
            Next::Continue
        }
        Command::Quit => Next::Close,
        Command::Watch { noreply, events } => {
            if !ctx.shared.config.watch_enabled {
                say(ctx, out, noreply, Reply::WATCH_NOT_ALLOWED);
                return Next::Continue;
            }
            let Some(events) = events else {
                say(ctx, out, noreply, Reply::Error);
                return Next::Continue;
            };
            match ctx.shared.observe.watch.add(events) {
                Some(w) => {
                    // memcached 1.6.18 sends replies queued before it (no pipelining
                    // check yet), then `OK`, then only log lines.
                    encode::reply(out, &Reply::Ok);
                    Next::Watch(w)
                }
                None => {
                    say(ctx, out, noreply, Reply::WATCHER_TOO_MANY);
                    Next::Continue
                }
            }
        }
        Command::SlabsAutomove { set, noreply } => {
            let live = &ctx.shared.live;
            match set {
                Automove::Mode(mode) => {
                    ctx.shared.store.set_automove(mode != 0);
                    live.automove_mode.store(mode, Ordering::Relaxed);
                }
                Automove::Ratio(r) => live.automove_ratio.store(r, Ordering::Relaxed),
                Automove::Window(w) => live.automove_window.store(w, Ordering::Relaxed),
                Automove::FreeRatio(r) => live.automove_freeratio.store(r, Ordering::Relaxed),
            }
            say(ctx, out, noreply, Reply::Ok);
            Next::Continue
        }
        Command::SlabsReassign { src, dst } => {
            use crate::store::ReassignError as R;
            // memcached: -1 as source picks a class (ours: 0); 0 as destination is the
            // global page pool (ours too). Other negatives are bad class ids.
            let src = if src == -1 {
                Some(0)
            } else {
                usize::try_from(src).ok().filter(|&c| c > 0)
            };
            let dst = usize::try_from(dst).ok();
            const BADCLASS: Reply<'static> = Reply::REASSIGN_BAD_CLASS;
            let reply = match (src, dst) {
                (Some(src), Some(dst)) => match store.reassign(src, dst) {
                    Ok(()) => Reply::Ok,
                    // memcached: no class to pick from is a bad source class.
                    Err(R::NoSpare) if src == 0 => BADCLASS,
                    Err(R::Running | R::Busy) => Reply::REASSIGN_BUSY,
                    Err(R::BadClass) => BADCLASS,
                    Err(R::NoSpare) => Reply::REASSIGN_NO_SPARE,
                    Err(R::Same) => Reply::REASSIGN_SAME,
                },
                _ => BADCLASS,
            };
            encode::reply(out, &reply);
            Next::Continue
        }
        Command::ConfigGet { key } => {
            if key == b"cluster" {
                ctx.shared
                    .cluster
                    .membership
                    .with(|c| crate::cluster::discovery::text_reply(c, out));
            } else {
                encode::reply(out, &Reply::Error);
            }
            Next::Continue
        }
        Command::ConfigSet { key, data, noreply } => {
            match admin::config_set(ctx, key, data, admin::operator(ctx)) {
                ConfigAnswer::Done => say(ctx, out, noreply, Reply::Stored),
                ConfigAnswer::NotNewer => say(ctx, out, noreply, Reply::NotStored),
                ConfigAnswer::TooFarAhead => say(ctx, out, noreply, Reply::CLUSTER_VERSION_TOO_FAR),
                ConfigAnswer::Unauthenticated => encode::reply(out, &Reply::UNAUTHENTICATED),
                ConfigAnswer::BadSeal => encode::reply(out, &Reply::CLUSTER_BAD_SEAL),
                ConfigAnswer::Disabled | ConfigAnswer::NotFound => {
                    encode::reply(out, &Reply::Error)
                }
                ConfigAnswer::Bad(e) => {
                    log::info!("config set cluster rejected: {e}");
                    say(ctx, out, noreply, Reply::BAD_DATA_CHUNK);
                }
            }
            Next::Continue
        }
        Command::ConfigDelete { key } => {
            match admin::config_delete(ctx, key, admin::operator(ctx)) {
                ConfigAnswer::Done => encode::reply(out, &Reply::Deleted),
                ConfigAnswer::NotFound => encode::reply(out, &Reply::NotFound),
                ConfigAnswer::Unauthenticated => encode::reply(out, &Reply::UNAUTHENTICATED),
                ConfigAnswer::NotNewer | ConfigAnswer::TooFarAhead => {
                    encode::reply(out, &Reply::NotFound)
                }
                ConfigAnswer::BadSeal | ConfigAnswer::Disabled | ConfigAnswer::Bad(_) => {
                    encode::reply(out, &Reply::Error)
                }
            }
            Next::Continue
        }
        Command::Shutdown {
            graceful,
            invalid_mode,
        } => {
            if !ctx.shared.config.enable_shutdown {
                encode::reply(out, &Reply::ShutdownNotEnabled);
                Next::Continue
            } else if invalid_mode {
                encode::reply(out, &Reply::INVALID_SHUTDOWN_MODE);
                Next::Continue
            } else {
                // Both forms drain: stop accepting, flush queued replies, exit 0.
                log::info!("shutdown requested by a client (graceful: {graceful})");
                ctx.shared.begin_shutdown();
                Next::Close
            }
        }
    }
}

/// `get`/`gets`/`gat`/`gats`: one hit or miss per key, then `END`. On a stream the reply is
/// produced as the client reads: when the output passes its bound between keys, the
/// command stops (`Next::Again`) and is executed again later from the next key.
fn get(ctx: &Ctx<'_>, kind: GetKind, exptime: i64, keys: Keys<'_>, out: &mut Out) -> Next {
    let with_cas = kind.with_cas();
    let touch = matches!(kind, GetKind::Gat | GetKind::Gats);
    let start = out.len();
    let skip = out.take_resume();
    for (i, key) in keys.iter().enumerate().skip(skip) {
        if out.is_full() {
            out.stop_at(i);
            return Next::Again;
        }
        if reply_too_large(out, start, ctx.reply_limit) {
            return Next::Continue;
        }
        if key == crate::cluster::discovery::LEGACY_KEY.as_bytes() {
            // Older ElastiCache clients read the discovery payload as an item.
            let payload = ctx.shared.cluster.membership.with(|c| c.payload());
            encode::value(out, key, 0, &payload, with_cas.then_some(0));
            continue;
        }
        let emit = |item: &mut crate::store::Entry<'_>| {
            let value = item.value();
            let cas = with_cas.then_some(item.cas());
            encode::value_header(out, item.key(), item.flags(), value.len(), cas);
            out.value(value, |keep| item.pin_with(keep));
            encode::value_trailer(out);
        };
        fetch(ctx, key, touch.then_some(exptime), emit);
    }
    if reply_too_large(out, start, ctx.reply_limit) {
        return Next::Continue;
    }
    encode::end(out);
    Next::Continue
}

/// `stats detail on|off|dump`.
fn stats_detail(shared: &Shared, arg: DetailArg, out: &mut Vec<u8>) {
    match arg {
        DetailArg::On | DetailArg::Off => {
            shared.observe.detail.set_enabled(arg == DetailArg::On);
            encode::reply(out, &Reply::Ok);
        }
        DetailArg::Dump => shared.observe.detail.dump(out),
        DetailArg::Usage => encode::reply(out, &Reply::DETAIL_USAGE),
    }
}

/// `stats cachedump <class> <limit>`: memcached's refusals and argument errors, or the
/// listing, streamed by the connection (`dump::cachedump`).
fn cachedump(shared: &Shared, arg: CachedumpArg, out: &mut Vec<u8>) -> Next {
    let refusal = if !shared.config.dumping_enabled {
        Reply::CACHEDUMP_NOT_ALLOWED
    } else {
        match arg {
            CachedumpArg::BadLine => Reply::BAD_COMMAND_LINE,
            CachedumpArg::BadFormat => Reply::BAD_COMMAND_LINE_FORMAT,
            CachedumpArg::IllegalId => Reply::ILLEGAL_SLAB_ID,
            CachedumpArg::Dump { class, limit } => {
                return Next::Dump(super::dump::cachedump(class as usize, limit));
            }
        }
    };
    encode::reply(out, &refusal);
    Next::Continue
}

/// Answers a request the parser rejected.
pub fn parse_error(e: &ParseError, input: &[u8], ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    // memcached unlinks the old item when a `set` is too large, so a stale value cannot
    // outlive a failed overwrite.
    if let Some(key) = e.unlink_key.clone().and_then(|r| input.get(r)) {
        refuse_too_large(ctx, Some(key), true);
    }
    if let Some(r) = &e.reply {
        encode::reply(out, r);
    }
}
