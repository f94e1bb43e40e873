//! `lru_crawler ...` and `cache_memlimit N`: runtime control of the store's expiry crawler
//! and memory limit with memcached 1.6.18's replies, and the streaming of
//! `lru_crawler metadump` (what `memcached-tool dump` reads).
//!
//! Also streams `stats cachedump` listings the same way.
//!
//! Owns: the crawler settings memcached reports (`lru_crawler_sleep`, `_tocrawl`), the
//! one-at-a-time rule for crawls (`BUSY`), and the dump cursor of a connection. A dump is
//! produced in slices as the client reads (the worker calls [`fill_dump`] while output is
//! below its high-water mark), so a dump of any size costs bounded memory.
//! Must not: parse bytes (protocol) or touch item memory other than through `Store`.

use super::ctx::{Ctx, Next};
use crate::protocol::text::encode;
use crate::protocol::{Classes, CrawlerCmd, Reply};
use crate::server::Shared;
use crate::store::{ItemCursor, ItemMeta};
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

/// A metadump (or `stats cachedump`) in progress on one connection.
#[derive(Debug, Default)]
pub struct Dump {
    cursor: ItemCursor,
    /// Only items of these classes; `None`: all.
    classes: Option<Vec<usize>>,
    /// `Some`: a `stats cachedump` listing (`ITEM` lines, bounded), else a metadump.
    cachedump: Option<Cachedump>,
}

/// What is left of a `stats cachedump <class> <limit>` listing.
#[derive(Debug)]
struct Cachedump {
    /// Items still to list; `None`: no limit (`limit` 0).
    left: Option<u32>,
    /// Bytes still allowed, `END\r\n` included (memcached answers at most 2 MB).
    budget: usize,
}

/// memcached's cap on a `stats cachedump` reply.
const CACHEDUMP_MAX: usize = 2 * 1024 * 1024;

/// A `stats cachedump <class> <limit>` listing: memcached's `ITEM key [N b; T s]` lines
/// (value bytes; absolute expiry time, 0 for none) of at most `limit` items (0: all) of
/// slab class `class`, within memcached's 2 MB reply cap, then `END`. Streamed like a
/// metadump, so a large cache is walked in slices. memcached lists its COLD LRU only;
/// ferrocache has one LRU per class and lists the class's live items in index order.
pub fn cachedump(class: usize, limit: u32) -> Box<Dump> {
    Box::new(Dump {
        cursor: ItemCursor::default(),
        classes: Some(vec![class]),
        cachedump: Some(Cachedump {
            left: (limit > 0).then_some(limit),
            budget: CACHEDUMP_MAX,
        }),
    })
}

const BADCLASS: Reply<'static> = Reply::BAD_CLASS;
const DISABLED: Reply<'static> = Reply::CRAWLER_DISABLED;

/// Executes an `lru_crawler` sub-command. `Next::Dump` hands a metadump to the worker.
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
        CrawlerCmd::Crawl(Classes::Invalid | Classes::Hash) => BADCLASS,
        CrawlerCmd::Crawl(classes) => crawl(ctx.shared, classes),
        CrawlerCmd::Metadump(_) if !store.crawler_enabled() => DISABLED,
        CrawlerCmd::Metadump(_) if !ctx.shared.config.dumping_enabled => {
            Reply::METADUMP_NOT_ALLOWED
        }
        // memcached refuses when replies of earlier commands are still queued.
        CrawlerCmd::Metadump(_) if !out.is_empty() => Reply::METADUMP_PIPELINED,
        CrawlerCmd::Metadump(Classes::Invalid) => BADCLASS,
        CrawlerCmd::Metadump(classes) => {
            let classes = match classes {
                Classes::List(ids) => Some(ids),
                _ => None,
            };
            return Next::Dump(Box::new(Dump {
                cursor: ItemCursor::default(),
                classes,
                cachedump: None,
            }));
        }
    };
    encode::reply(out, &reply);
    Next::Continue
}

/// Starts a crawl on its own thread (memcached's crawler runs beside the workers too).
fn crawl(shared: &Shared, classes: Classes) -> Reply<'static> {
    let busy = shared.crawler.busy.clone();
    if busy.swap(true, Ordering::AcqRel) {
        return Reply::CRAWLER_BUSY;
    }
    let ids = match classes {
        Classes::List(ids) => Some(ids),
        _ => None,
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

/// Items per slice of a dump (one slice per worker turn).
const DUMP_SLICE: usize = 256;
/// Stop a turn once this much dump output is queued.
const DUMP_CHUNK: usize = 64 * 1024;

/// Appends the next slice of `dump` to `out`; true when the dump is complete (`END` sent).
pub fn fill_dump(dump: &mut Dump, shared: &Shared, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut full = false;
    while out.len() - start < DUMP_CHUNK && !dump.cursor.is_done() && !full {
        let classes = dump.classes.as_deref();
        let listing = &mut dump.cachedump;
        shared
            .store
            .walk_items(&mut dump.cursor, DUMP_SLICE, |m: &ItemMeta<'_>| {
                if classes.is_some_and(|c| !c.contains(&m.class)) {
                    return true;
                }
                match listing {
                    None => metadump_line(out, m),
                    Some(c) => {
                        full = !cachedump_line(out, m, c);
                        return !full;
                    }
                }
                true
            });
    }
    if dump.cursor.is_done() || full {
        encode::end(out);
        return true;
    }
    false
}

/// Appends one `ITEM` line if the listing has room; false when it is complete.
fn cachedump_line(out: &mut Vec<u8>, m: &ItemMeta<'_>, c: &mut Cachedump) -> bool {
    if c.left == Some(0) {
        return false;
    }
    let before = out.len();
    encode::cachedump_item(out, m.key, m.value_len, m.exptime.max(0) as u64);
    let len = out.len() - before;
    // memcached: `if (bufcurr + len + 6 > memlimit) break;` (6: `END\r\n` and its NUL).
    if len + 6 > c.budget {
        out.truncate(before);
        return false;
    }
    c.budget -= len;
    if let Some(n) = c.left.as_mut() {
        *n -= 1;
    }
    true
}

/// memcached's metadump line (`\n`-terminated, key URL-encoded).
fn metadump_line(out: &mut Vec<u8>, m: &ItemMeta<'_>) {
    use std::io::Write;
    out.extend_from_slice(b"key=");
    url_encode(out, m.key);
    let _ = writeln!(
        out,
        " exp={} la={} cas={} fetch={} cls={} size={}",
        m.exptime,
        m.last_access,
        m.cas,
        if m.fetched { "yes" } else { "no" },
        m.class,
        m.size
    );
}

/// memcached's `uriencode`: unreserved characters (`A-Za-z0-9-_.~`) as they are, everything
/// else as `%XX` (upper-case hex).
fn url_encode(out: &mut Vec<u8>, key: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_matches_memcached() {
        let mut o = Vec::new();
        url_encode(&mut o, b"b%20c:x/y~z-_.A9");
        assert_eq!(o, b"b%2520c%3Ax%2Fy~z-_.A9");
    }

    #[test]
    fn metadump_line_shape() {
        let mut o = Vec::new();
        metadump_line(
            &mut o,
            &ItemMeta {
                key: b"a",
                exptime: -1,
                last_access: 1795453283,
                cas: 1,
                fetched: false,
                class: 1,
                size: 61,
                value_len: 1,
                flags: 0,
            },
        );
        assert_eq!(
            o,
            b"key=a exp=-1 la=1795453283 cas=1 fetch=no cls=1 size=61\n"
        );
    }
}
