//! The crawler runner: `lru_crawler ...` and `cache_memlimit N`, runtime control of the
//! store's expiry crawler and memory limit with memcached 1.6.18's replies. A metadump or
//! mgdump it starts is streamed by `dump.rs`; with `--meta-protocol 1.6.45` both are framed
//! as memcached 1.6.45 frames them (a leading `OK`).
//!
//! Owns: the crawler settings memcached reports (`lru_crawler_sleep`, `_tocrawl`) and the
//! one-at-a-time rule for crawls (`BUSY`).
//! Must not: parse bytes (protocol) or touch item memory other than through `Store`.

use super::ctx::{Ctx, Next};
use super::dump::Dump;
use crate::protocol::text::encode;
use crate::protocol::{Classes, CrawlerCmd, Reply};
use crate::server::Shared;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Crawler settings and state shared by all connections.
#[derive(Debug)]
pub struct CrawlerState {
    /// A `lru_crawler crawl` is running (memcached answers `BUSY` to a second one).
    busy: Arc<AtomicBool>,
    /// `lru_crawler sleep` (microseconds; reported, our crawl holds locks briefly anyway).
    pub sleep_us: AtomicU32,
    /// `lru_crawler tocrawl` (items per class per run, 0 = all; reported).
    pub tocrawl: AtomicU32,
}

impl CrawlerState {
    /// A `lru_crawler crawl` is running (`stats` `lru_crawler_running`).
    pub fn running(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
}

impl Default for CrawlerState {
    fn default() -> Self {
        CrawlerState {
            busy: Arc::new(AtomicBool::new(false)),
            // memcached's defaults.
            sleep_us: AtomicU32::new(100),
            tocrawl: AtomicU32::new(0),
        }
    }
}

const BADCLASS: Reply<'static> = Reply::BAD_CLASS;
const DISABLED: Reply<'static> = Reply::CRAWLER_DISABLED;

/// Executes an `lru_crawler` sub-command. `Next::Dump` hands a metadump or mgdump to the
/// worker.
pub fn lru_crawler(cmd: CrawlerCmd, ctx: &Ctx<'_>, out: &mut Vec<u8>) -> Next {
    let store = &ctx.shared.store;
    let reply = match cmd {
        CrawlerCmd::Enable => {
            if store.crawler_enabled() {
                // memcached cannot start its crawler thread twice.
                Reply::CRAWLER_START_FAILED
            } else {
                store.set_crawler_enabled(true);
                log::info!("lru_crawler enabled");
                Reply::Ok
            }
        }
        CrawlerCmd::Disable => {
            store.set_crawler_enabled(false);
            log::info!("lru_crawler disabled");
            Reply::Ok
        }
        CrawlerCmd::ToCrawl(n) => {
            ctx.shared.crawler.tocrawl.store(n, Ordering::Relaxed);
            Reply::Ok
        }
        CrawlerCmd::Sleep(n) => {
            ctx.shared.crawler.sleep_us.store(n, Ordering::Relaxed);
            Reply::Ok
        }
        CrawlerCmd::Crawl(_) if !store.crawler_enabled() => DISABLED,
        CrawlerCmd::Crawl(Classes::Invalid) => BADCLASS,
        CrawlerCmd::Crawl(classes) => crawl(ctx.shared, classes),
        CrawlerCmd::Metadump(classes) => match start_dump(ctx, false, classes, out) {
            Ok(dump) => return Next::Dump(dump),
            Err(r) => r,
        },
        CrawlerCmd::Mgdump(classes) => match start_dump(ctx, true, classes, out) {
            Ok(dump) => return Next::Dump(dump),
            Err(r) => r,
        },
    };
    encode::reply(out, &reply);
    Next::Continue
}

/// `lru_crawler metadump|mgdump <classes>`: memcached's refusals in its order, or the dump
/// to stream, its leading `OK` (1.6.43 and later) already in `out`.
fn start_dump(
    ctx: &Ctx<'_>,
    mgdump: bool,
    classes: Classes,
    out: &mut Vec<u8>,
) -> Result<Box<Dump>, Reply<'static>> {
    let config = &ctx.shared.config;
    if !ctx.shared.store.crawler_enabled() {
        return Err(DISABLED);
    }
    if !config.dumping_enabled {
        return Err(if mgdump {
            Reply::MGDUMP_NOT_ALLOWED
        } else {
            Reply::METADUMP_NOT_ALLOWED
        });
    }
    // memcached refuses when replies of earlier commands are still queued.
    if !out.is_empty() {
        return Err(if mgdump {
            Reply::MGDUMP_PIPELINED
        } else {
            Reply::METADUMP_PIPELINED
        });
    }
    let classes = match classes {
        Classes::Invalid => return Err(BADCLASS),
        Classes::List(ids) if ids.is_empty() => return Err(Reply::CRAWLER_NOT_STARTED),
        Classes::List(ids) => Some(ids),
        Classes::All | Classes::Hash => None,
    };
    // mgdump exists only with `--meta-protocol 1.6.45`, so it is always framed that way.
    let new = config.meta_new || mgdump;
    if new {
        out.extend_from_slice(encode::DUMP_OK);
    }
    Ok(match (mgdump, new) {
        (true, _) => Dump::mgdump(classes),
        (false, flags) => Dump::metadump(classes, flags),
    })
}

/// Starts a crawl on its own thread (memcached's crawler runs beside the workers too).
/// As memcached: `BUSY` first, then `hash` (a walk only dumps support) and a list naming no
/// class are refused.
fn crawl(shared: &Shared, classes: Classes) -> Reply<'static> {
    let busy = shared.crawler.busy.clone();
    if busy.swap(true, Ordering::AcqRel) {
        return Reply::CRAWLER_BUSY;
    }
    let ids = match classes {
        Classes::List(ids) if ids.is_empty() => {
            busy.store(false, Ordering::Release);
            return Reply::CRAWLER_NOT_STARTED;
        }
        Classes::List(ids) => Some(ids),
        Classes::All => None,
        Classes::Hash => {
            busy.store(false, Ordering::Release);
            return Reply::CRAWLER_UNKNOWN_ERROR;
        }
        Classes::Invalid => {
            busy.store(false, Ordering::Release);
            return BADCLASS;
        }
    };
    let store = shared.store.clone();
    let spawned = std::thread::Builder::new()
        .name("lru-crawl".into())
        .spawn(move || {
            let n = store.crawl_classes(ids.as_deref());
            log::info!("lru_crawler crawl: {n} expired items reclaimed");
            busy.store(false, Ordering::Release);
        });
    match spawned {
        Ok(_) => Reply::Ok,
        Err(e) => {
            log::error!("lru_crawler crawl: cannot start a thread: {e}");
            shared.crawler.busy.store(false, Ordering::Release);
            Reply::CRAWLER_UNKNOWN_ERROR
        }
    }
}

/// `cache_memlimit <megabytes> [noreply]`.
pub fn cache_memlimit(megabytes: u32, noreply: bool, ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    let reply = if megabytes < 8 {
        Reply::MEMLIMIT_TOO_SMALL
    } else if megabytes > 1_000_000_000 {
        Reply::MEMLIMIT_NOT_MEGABYTES
    } else if ctx.shared.store.set_mem_limit((megabytes as usize) << 20) {
        log::info!("cache_memlimit: maxbytes adjusted to {megabytes}m");
        Reply::Ok
    } else {
        Reply::MEMLIMIT_ADJUST_FAILED
    };
    if !noreply {
        encode::reply(out, &reply);
    }
}
