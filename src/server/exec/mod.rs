//! THE seam between protocol and store: runs one parsed [`Command`] against the store,
//! counts it, and encodes the reply into the connection's output buffer.
//!
//! With its siblings `execute_meta.rs`, `execute_bin.rs` and `crawler.rs` (the
//! `lru_crawler`/`cache_memlimit` commands), the only code that imports both `protocol` and
//! `store`. No I/O here: replies go into `out`, and the caller decides when to send them.

use crate::protocol::text::{ParseError, encode};
use crate::protocol::{
    ArithOp, CachedumpArg, Command, DetailArg, GetKind, Keys, Limits, Reply, StatsArg, StoreMode,
};
use crate::server::Shared;
use crate::server::net::outq::Out;
use crate::server::observe::detail::Op as DetailOp;
use crate::server::observe::stats::{self, ThreadStats};
use crate::server::observe::trace;
use crate::server::observe::watch::{self, StoreEvent};
use crate::store::{
    ArithOpts, ArithOutcome, DeleteOpts, DeleteOutcome, GetOpts, ItemInfo, Lookup, Reservation,
    SetMode, SetOpts, StoreOutcome, Value,
};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

// Declared here rather than in `server/mod.rs`: the meta executor is part of this seam.
pub mod binary;
pub mod crawler;
mod meta;

/// What a worker needs to execute commands.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub stats: &'a ThreadStats,
    pub limits: &'a Limits,
    /// The connection's file descriptor (trace lines, `stats conns`).
    pub fd: i32,
    /// The `-vv` trace is on (read once per batch).
    pub trace: bool,
    /// Largest reply one retrieval command may build, in bytes (`usize::MAX`: no limit).
    /// UDP sets one, so a datagram naming many large items cannot grow memory without
    /// bound; past it the reply becomes memcached's out-of-memory error.
    pub reply_limit: usize,
    /// The data block of the storage command being executed, when it was received apart
    /// from its line (its `Command`'s data is then empty): see [`Received`].
    pub received: Cell<Option<Received>>,
}

/// The data block of a storage command that was not parsed with its line: the worker
/// reserved the item when the line arrived and read the value straight into it, or could
/// not reserve one (the command is then answered at once and its data swallowed, as
/// memcached does).
#[derive(Debug)]
pub enum Received {
    Item(Reservation),
    Refused { outcome: StoreOutcome, len: usize },
}

/// The value of the storage command being executed, and its length: `data` as parsed, or
/// what the worker received apart (`Ctx::received`).
pub(super) fn store_value<'d>(ctx: &Ctx<'_>, data: &'d [u8]) -> (Value<'d>, usize) {
    match ctx.received.take() {
        Some(Received::Item(res)) => {
            let n = res.len();
            (Value::Reserved(res), n)
        }
        Some(Received::Refused { outcome, len }) => (Value::Refused(outcome), len),
        None => (Value::Bytes(data), data.len()),
    }
}

/// What the connection does after the command.
#[derive(Debug)]
pub enum Next {
    Continue,
    /// The output is full part-way through a multi-key reply: flush, then execute the same
    /// command again (it resumes where it stopped, see `Out::take_resume`).
    Again,
    Close,
    /// `lru_crawler metadump`: the worker streams this dump before reading further input.
    Dump(Box<crate::server::exec::crawler::Dump>),
    /// `watch`: the connection streams this watcher's lines and ignores its input from now.
    Watch(std::sync::Arc<crate::server::observe::watch::Watcher>),
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn say(ctx: &Ctx<'_>, out: &mut Vec<u8>, noreply: bool, r: Reply<'_>) {
    if !noreply {
        encode::reply(out, &r);
    } else if ctx.trace {
        trace::noreply(ctx.fd, &r);
    }
}

/// memcached logs the item fetch that `delete`, `incr`/`decr` and `touch` start with.
pub(super) fn log_fetch(ctx: &Ctx<'_>, key: &[u8]) {
    let w = &ctx.shared.watch;
    if w.wants(watch::FETCHERS) {
        w.item_get(key, ctx.shared.store.inspect(key), ctx.fd);
    }
}

/// A storage command as the watch log and the counters see it.
pub(super) struct StoreCall<'k> {
    pub key: &'k [u8],
    pub mode: SetMode,
    /// As the client sent it.
    pub exptime: i64,
    pub data_len: usize,
    /// A failed allocation unlinks the old item (memcached logs that fetch).
    pub unlinks: bool,
}

/// Runs one storage command (`op`) with what every protocol does around it: memcached's
/// outcome counters (`cas_hits`, `cas_badval`, `cas_misses`, `store_too_large`,
/// `store_no_memory`) and, when watched, the fetch and store log lines. `cmd_set` is the
/// caller's: memcached counts it before the data block is read.
pub(super) fn run_store<R>(
    ctx: &Ctx<'_>,
    call: StoreCall<'_>,
    op: impl FnOnce(&crate::store::Store) -> (StoreOutcome, R),
) -> (StoreOutcome, R) {
    let before = watched_key(ctx, call.key);
    let (outcome, r) = op(&ctx.shared.store);
    let st = ctx.stats;
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
    (outcome, r)
}

/// The key's state before a storage command, when someone watches its log lines.
pub(super) fn watched_key(ctx: &Ctx<'_>, key: &[u8]) -> Option<Lookup<ItemInfo>> {
    ctx.shared
        .watch
        .wants(watch::FETCHERS | watch::MUTATIONS)
        .then(|| ctx.shared.store.inspect(key))
}

/// The watch lines of a storage command (`before`: from `watched_key`).
pub(super) fn log_stored(
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
    ctx.shared.watch.stored(&ctx.shared.store, &event);
}

/// Logs a `set` refused as too large before reaching the store (and the fetch that unlinks
/// the old item), when watched.
pub(super) fn log_too_large_set(ctx: &Ctx<'_>, key: &[u8]) {
    let w = &ctx.shared.watch;
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
}

/// Before authentication (`-S`, `-Y`): only the ascii-auth `set` gets through.
fn unauthenticated(cmd: Command<'_>, ctx: &Ctx<'_>, authed: &mut bool, out: &mut Vec<u8>) -> Next {
    let config = &ctx.shared.config;
    let Some(creds) = config.credentials.as_deref().filter(|_| config.ascii_auth) else {
        // SASL only: memcached closes text connections without a word.
        return Next::Close;
    };
    match cmd {
        Command::Store {
            mode: StoreMode::Set,
            data,
            ..
        } => {
            bump(&ctx.stats.auth_cmds);
            if creds.check_ascii(data) {
                *authed = true;
                // Even with noreply, as memcached does.
                encode::reply(out, &Reply::Stored);
            } else {
                bump(&ctx.stats.auth_errors);
                log::info!("ascii authentication failed");
                encode::reply(out, &Reply::ClientError("authentication failure"));
            }
            Next::Continue
        }
        // memcached keeps the connection open after refusing.
        _ => {
            encode::reply(out, &Reply::ClientError("unauthenticated"));
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
    encode::reply(
        out,
        &Reply::ServerError("out of memory writing get response"),
    );
    true
}

/// Executes `cmd`, appending its reply to `out`. `authed` is the connection's
/// authentication state (always true when no authentication is configured).
pub fn execute(cmd: Command<'_>, ctx: &Ctx<'_>, authed: &mut bool, out: &mut Out) -> Next {
    if !*authed {
        return unauthenticated(cmd, ctx, authed, out);
    }
    let store = &ctx.shared.store;
    let st = ctx.stats;
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
            bump(&st.cmd_set);
            ctx.shared.detail.record(key, DetailOp::Set);
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
            };
            let (outcome, _cas) = run_store(ctx, call, |s| {
                s.set(key, value, &SetOpts::new(set_mode, flags, exptime))
            });
            let reply = match outcome {
                StoreOutcome::Stored => Reply::Stored,
                StoreOutcome::NotStored => Reply::NotStored,
                StoreOutcome::Exists => Reply::Exists,
                StoreOutcome::NotFound => Reply::NotFound,
                StoreOutcome::TooLarge => Reply::ServerError("object too large for cache"),
                StoreOutcome::NoMemory => Reply::ServerError("out of memory storing object"),
            };
            say(ctx, out, noreply, reply);
            Next::Continue
        }
        Command::Delete { key, noreply } => {
            ctx.shared.detail.record(key, DetailOp::Del);
            log_fetch(ctx, key);
            if store.delete(key, &DeleteOpts::default()) == DeleteOutcome::Deleted {
                bump(&st.delete_hits);
                say(ctx, out, noreply, Reply::Deleted);
            } else {
                bump(&st.delete_misses);
                say(ctx, out, noreply, Reply::NotFound);
            }
            Next::Continue
        }
        Command::Arith {
            op,
            key,
            delta,
            noreply,
        } => {
            let incr = op == ArithOp::Incr;
            let (hits, misses) = if incr {
                (&st.incr_hits, &st.incr_misses)
            } else {
                (&st.decr_hits, &st.decr_misses)
            };
            log_fetch(ctx, key);
            let opts = ArithOpts {
                incr,
                delta,
                ..ArithOpts::default()
            };
            let reply = match store.arith(key, &opts, |_| ()) {
                ArithOutcome::Value(v, ()) => {
                    bump(hits);
                    Reply::Number(v)
                }
                ArithOutcome::NotFound => {
                    bump(misses);
                    Reply::NotFound
                }
                ArithOutcome::NonNumeric => {
                    Reply::ClientError("cannot increment or decrement non-numeric value")
                }
                // NotStored: the item kept changing under a growing rewrite (no CAS, no
                // auto-create here, so neither Exists nor NoMemoryToCreate happen).
                ArithOutcome::NoMemory
                | ArithOutcome::NotStored
                | ArithOutcome::Exists
                | ArithOutcome::NoMemoryToCreate => Reply::ServerError("out of memory"),
            };
            say(ctx, out, noreply, reply);
            Next::Continue
        }
        Command::Touch {
            key,
            exptime,
            noreply,
        } => {
            bump(&st.cmd_touch);
            log_fetch(ctx, key);
            if store.touch(key, exptime) {
                bump(&st.touch_hits);
                say(ctx, out, noreply, Reply::Touched);
            } else {
                bump(&st.touch_misses);
                say(ctx, out, noreply, Reply::NotFound);
            }
            Next::Continue
        }
        Command::FlushAll {
            delay,
            noreply,
            bad_delay,
        } => {
            // memcached counts the command before refusing it (-F) or its delay.
            bump(&st.cmd_flush);
            if !ctx.shared.config.flush_enabled {
                say(
                    ctx,
                    out,
                    noreply,
                    Reply::ClientError("flush_all not allowed"),
                );
            } else if bad_delay {
                say(
                    ctx,
                    out,
                    noreply,
                    Reply::ClientError("invalid exptime argument"),
                );
            } else {
                store.flush_all(delay);
                say(ctx, out, noreply, Reply::Ok);
            }
            Next::Continue
        }
        Command::Stats(arg) => {
            let shared = ctx.shared;
            let list = match arg {
                StatsArg::General => stats::general(shared),
                StatsArg::Settings => stats::settings(shared),
                StatsArg::Items => stats::items(shared),
                StatsArg::Slabs => stats::slabs(shared),
                StatsArg::Sizes => stats::sizes(shared),
                StatsArg::SizesTracking(on) => {
                    shared.store.set_track_sizes(on);
                    let status = if on { "enabled" } else { "disabled" };
                    // memcached sends this one line without END.
                    encode::stat(out, "sizes_status", status);
                    return Next::Continue;
                }
                StatsArg::Reset => {
                    stats::reset(shared);
                    encode::reply(out, &Reply::Reset);
                    return Next::Continue;
                }
                StatsArg::Conns => stats::conns(shared, ctx.fd),
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
        Command::LruCrawler(c) => crate::server::exec::crawler::lru_crawler(c, ctx, out),
        Command::CacheMemlimit { megabytes, noreply } => {
            crate::server::exec::crawler::cache_memlimit(megabytes, noreply, ctx, out);
            Next::Continue
        }
        Command::Version => {
            encode::reply(out, &Reply::Version(crate::server::VERSION));
            Next::Continue
        }
        Command::Verbosity { level, noreply } => {
            ctx.shared.verbosity.store(level, Ordering::Relaxed);
            crate::logging::set_verbosity(level);
            say(ctx, out, noreply, Reply::Ok);
            Next::Continue
        }
        Command::Meta(m) => {
            meta::execute(m, ctx, out);
            Next::Continue
        }
        Command::MetaNoop => {
            out.extend_from_slice(b"MN\r\n");
            Next::Continue
        }
        Command::Quit => Next::Close,
        Command::Watch { noreply, events } => {
            if !ctx.shared.config.watch_enabled {
                say(
                    ctx,
                    out,
                    noreply,
                    Reply::ClientError("watch commands not allowed"),
                );
                return Next::Continue;
            }
            let Some(events) = events else {
                say(ctx, out, noreply, Reply::Error);
                return Next::Continue;
            };
            match ctx.shared.watch.add(events) {
                Some(w) => {
                    // memcached 1.6.18 sends replies queued before it (no pipelining
                    // check yet), then `OK`, then only log lines.
                    encode::reply(out, &Reply::Ok);
                    Next::Watch(w)
                }
                None => {
                    say(
                        ctx,
                        out,
                        noreply,
                        Reply::Line("WATCHER_TOO_MANY log watcher limit reached"),
                    );
                    Next::Continue
                }
            }
        }
        Command::SlabsAutomove { mode } => {
            ctx.shared.store.set_automove(mode != 0);
            ctx.shared.automove_mode.store(mode, Ordering::Relaxed);
            encode::reply(out, &Reply::Ok);
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
            const BADCLASS: Reply<'static> = Reply::Line("BADCLASS invalid src or dst class id");
            let reply = match (src, dst) {
                (Some(src), Some(dst)) => match store.reassign(src, dst) {
                    Ok(()) => Reply::Ok,
                    // memcached: no class to pick from is a bad source class.
                    Err(R::NoSpare) if src == 0 => BADCLASS,
                    Err(R::Running | R::Busy) => {
                        Reply::Line("BUSY currently processing reassign request")
                    }
                    Err(R::BadClass) => BADCLASS,
                    Err(R::NoSpare) => Reply::Line("NOSPARE source class has no spare pages"),
                    Err(R::Same) => Reply::Line("SAME src and dst class are identical"),
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
            match config_set(ctx, key, data) {
                ConfigAnswer::Done => say(ctx, out, noreply, Reply::Stored),
                ConfigAnswer::Disabled | ConfigAnswer::NotFound => {
                    encode::reply(out, &Reply::Error)
                }
                ConfigAnswer::Bad(e) => {
                    log::info!("config set cluster rejected: {e}");
                    say(ctx, out, noreply, Reply::ClientError("bad data chunk"));
                }
            }
            Next::Continue
        }
        Command::ConfigDelete { key } => {
            match config_delete(ctx, key) {
                ConfigAnswer::Done => encode::reply(out, &Reply::Deleted),
                ConfigAnswer::NotFound => encode::reply(out, &Reply::NotFound),
                ConfigAnswer::Disabled | ConfigAnswer::Bad(_) => encode::reply(out, &Reply::Error),
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
                encode::reply(out, &Reply::ClientError("invalid shutdown mode"));
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
    let store = &ctx.shared.store;
    let with_cas = kind.with_cas();
    let touch = matches!(kind, GetKind::Gat | GetKind::Gats);
    let start = out.len();
    let watched = ctx.shared.watch.wants(watch::FETCHERS);
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
            let cas = with_cas.then_some(item.cas());
            encode::value_header(out, item.key(), item.flags(), item.value().len(), cas);
            out.value(item.value(), |keep| item.pin_with(keep));
            encode::value_trailer(out);
        };
        let seen = watched.then(|| store.inspect(key));
        let found = if touch {
            store.get(key, &GetOpts::touch(exptime), emit)
        } else {
            store.get(key, &GetOpts::default(), emit)
        };
        if let Some(seen) = seen {
            ctx.shared.watch.item_get(key, seen, ctx.fd);
        }
        count_get(ctx, key, touch, &found);
    }
    if reply_too_large(out, start, ctx.reply_limit) {
        return Next::Continue;
    }
    encode::end(out);
    Next::Continue
}

/// memcached's counters of one key fetched by `get`/`gat` (text or binary): `cmd_get`,
/// `cmd_touch`, hits and misses (expired and flushed ones apart), and `stats detail`.
pub(super) fn count_get<R>(ctx: &Ctx<'_>, key: &[u8], touch: bool, found: &Lookup<R>) {
    let st = ctx.stats;
    let hit = matches!(found, Lookup::Hit(_));
    ctx.shared.detail.record(key, DetailOp::Get { hit });
    bump(&st.cmd_get);
    if touch {
        bump(&st.cmd_touch);
    }
    let (hits, misses) = if touch {
        (&st.touch_hits, &st.touch_misses)
    } else {
        (&st.get_hits, &st.get_misses)
    };
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

/// `stats detail on|off|dump`.
fn stats_detail(shared: &Shared, arg: DetailArg, out: &mut Vec<u8>) {
    match arg {
        DetailArg::On | DetailArg::Off => {
            shared.detail.set_enabled(arg == DetailArg::On);
            encode::reply(out, &Reply::Ok);
        }
        DetailArg::Dump => shared.detail.dump(out),
        DetailArg::Usage => {
            encode::reply(out, &Reply::ClientError("usage: stats detail on|off|dump"))
        }
    }
}

/// `stats cachedump <class> <limit>`: memcached's refusals and argument errors, or the
/// listing, streamed by the worker (`crawler::cachedump`).
fn cachedump(shared: &Shared, arg: CachedumpArg, out: &mut Vec<u8>) -> Next {
    let refusal = if !shared.config.dumping_enabled {
        Reply::ClientError("stats cachedump not allowed")
    } else {
        match arg {
            CachedumpArg::BadLine => Reply::ClientError("bad command line"),
            CachedumpArg::BadFormat => Reply::ClientError("bad command line format"),
            CachedumpArg::IllegalId => Reply::ClientError("Illegal slab id"),
            CachedumpArg::Dump { class, limit } => {
                return Next::Dump(crate::server::exec::crawler::cachedump(
                    class as usize,
                    limit,
                ));
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
        ctx.shared.detail.record(key, DetailOp::Set);
        bump(&ctx.stats.cmd_set);
        bump(&ctx.stats.store_too_large);
        log_too_large_set(ctx, key);
        ctx.shared.store.delete(key, &DeleteOpts::default());
    }
    if let Some(r) = &e.reply {
        encode::reply(out, r);
    }
}

/// Outcome of an auto-discovery admin command.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigAnswer {
    /// Applied (or, for `set`, ignored because its version is not newer: see below).
    Done,
    /// `--cluster-admin` is off: answered as an unknown command.
    Disabled,
    /// Not the `cluster` key, or nothing to delete.
    NotFound,
    /// A malformed payload; the running list is kept.
    Bad(String),
}

/// `config set cluster`: adopt the payload if it supersedes the running list. A version
/// not newer than the running one is ignored but still answered as stored, as ElastiCache
/// does for a config it already has: the pool converges on the highest version anyway.
pub fn config_set(ctx: &Ctx<'_>, key: &[u8], payload: &[u8]) -> ConfigAnswer {
    let cluster = &ctx.shared.cluster;
    if !cluster.settings.admin {
        return ConfigAnswer::Disabled;
    }
    if key != b"cluster" {
        return ConfigAnswer::NotFound;
    }
    match crate::cluster::discovery::parse_payload(payload) {
        Ok(cfg) => {
            let v = cfg.version;
            if cluster.membership.adopt(cfg) {
                log::info!("cluster: config set to version {v}");
            } else {
                log::info!("cluster: config set with version {v} ignored (not newer)");
            }
            ConfigAnswer::Done
        }
        Err(e) => ConfigAnswer::Bad(e),
    }
}

/// `config delete cluster`: the list becomes empty at the next version.
pub fn config_delete(ctx: &Ctx<'_>, key: &[u8]) -> ConfigAnswer {
    let cluster = &ctx.shared.cluster;
    if !cluster.settings.admin {
        return ConfigAnswer::Disabled;
    }
    if key != b"cluster" {
        return ConfigAnswer::NotFound;
    }
    let cur = cluster.membership.get();
    if cur.nodes.is_empty() {
        return ConfigAnswer::NotFound;
    }
    let empty =
        crate::cluster::ClusterConfig::new(cur.version + 1, crate::cluster::NodeList::empty());
    cluster.membership.adopt(empty);
    ConfigAnswer::Done
}
