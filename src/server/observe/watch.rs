//! `watch`: memcached's log stream (its `logger.c`) for the connections that ask for one.
//!
//! Owns: the registry of watchers (at most 20, memcached's `WATCHER_LIMIT`), each watcher's
//! bounded queue of formatted lines, the global `gid` counter, the line formats (byte for
//! byte memcached 1.6.18's), and the `log_*` counters of `stats`. Executors and workers call
//! the logging functions here after an operation; the worker that owns a watching
//! connection moves its queued lines into the connection's output (`worker.rs`).
//!
//! Must not: do I/O, block or slow a producer, or change the store (it only calls the
//! read-only `Store::inspect` / `class_id_for` / clock getters). A watcher that does not
//! read fills its queue (`QUEUE_BYTES`, memcached's default watcher buffer); further lines
//! are dropped and counted, and a `skipped=N` line goes out before the next line that
//! fits, as memcached does. Costs nothing while nobody watches: callers ask
//! [`Registry::wants`] first, one relaxed atomic load.
//!
//! Event types: `fetchers` (`item_get`), `mutations` (`item_store`) and `connevents`
//! (`conn_new`, `conn_close`) produce lines. `evictions`, `sysevents`, `rawcmds` and the
//! proxy types are accepted as memcached accepts them, but nothing here emits them (the
//! store has no eviction hook; memcached 1.6.18 itself never logs `rawcmds`).

use crate::protocol::WatchEvents;
use crate::store::{ItemInfo, Lookup, Store, StoreOutcome};
use mio::Waker;
use parking_lot::{Mutex, RwLock};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub const FETCHERS: u32 = WatchEvents::FETCHERS;
pub const MUTATIONS: u32 = WatchEvents::MUTATIONS;
pub const CONNEVENTS: u32 = WatchEvents::CONNEVENTS;

/// memcached's `WATCHER_LIMIT`.
pub const MAX_WATCHERS: usize = 20;
/// Bytes of lines one watcher may have queued (memcached's `LOGGER_WATCHER_BUF_SIZE`).
pub const QUEUE_BYTES: usize = 256 * 1024;
/// memcached queues a line only with this much room to spare (for a `skipped=N` line).
const HEADROOM: usize = 128;
/// memcached's clock runs 62 s ahead of its uptime (`process_started` is set that far
/// back), ours 2 s: it shows in the `ttl` of already-expired items (see `memcached_ttl`).
const MEMCACHED_CLOCK_BASE: i64 = 62;

/// Why a connection closed (memcached's `close_reasons`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Error,
    Normal,
    IdleTimeout,
    Shutdown,
}

impl CloseReason {
    fn word(self) -> &'static str {
        match self {
            CloseReason::Error => "error",
            CloseReason::Normal => "normal",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// One watching connection's end of the stream.
pub struct Watcher {
    events: u32,
    queue: Mutex<Queue>,
    /// Lines were queued since the owning worker last drained; it has been woken.
    signalled: AtomicBool,
    /// The waker of the worker that owns the connection (set once it took the connection).
    waker: OnceLock<Arc<Waker>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Queue {
    buf: Vec<u8>,
    /// Lines dropped since the last one queued.
    skipped: u64,
}

impl Watcher {
    /// Binds the watcher to the waker of the worker that owns its connection; false if it
    /// already was.
    pub fn attach(&self, waker: Arc<Waker>) -> bool {
        self.waker.set(waker).is_ok()
    }

    /// Moves the queued lines to the end of `out`.
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        // Reset before taking the lines: a line queued after this wakes the worker again.
        self.signalled.store(false, Ordering::SeqCst);
        let mut q = self.queue.lock();
        out.extend_from_slice(&q.buf);
        q.buf.clear();
    }

    fn push(&self, line: &[u8], counters: &Counters) {
        {
            let mut q = self.queue.lock();
            if q.buf.len() + line.len() + HEADROOM > QUEUE_BYTES {
                q.skipped += 1;
                counters.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if q.skipped > 0 {
                let n = q.skipped;
                let _ = writeln!(q.buf, "skipped={n}");
                q.skipped = 0;
            }
            q.buf.extend_from_slice(line);
            counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        if !self.signalled.swap(true, Ordering::SeqCst)
            && let Some(w) = self.waker.get()
            && let Err(e) = w.wake()
        {
            log::warn!("waking a watcher's worker failed: {e}");
        }
    }
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    skipped: AtomicU64,
    sent: AtomicU64,
}

/// Every watcher, the union of what they watch, and the line counter.
#[derive(Default)]
pub struct Registry {
    /// Union of the watchers' event bits: the one load the hot path pays.
    mask: AtomicU32,
    /// memcached's global log id: one per line logged and one per watcher added.
    gid: AtomicU64,
    watchers: RwLock<Vec<Arc<Watcher>>>,
    counters: Counters,
}

/// The `log_*` figures of `stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Lines logged (memcached's `log_worker_written`).
    pub written: u64,
    /// Lines a full watcher queue dropped (`log_watcher_skipped`).
    pub skipped: u64,
    /// Lines queued to watchers (`log_watcher_sent`).
    pub sent: u64,
    /// Watchers now (`log_watchers`).
    pub watchers: u64,
}

impl Registry {
    /// Does anyone watch any of `events`? One relaxed load; may be briefly stale.
    #[inline]
    pub fn wants(&self, events: u32) -> bool {
        self.mask.load(Ordering::Relaxed) & events != 0
    }

    /// A new watcher of `events`; `None` when `MAX_WATCHERS` watch already.
    pub fn add(&self, events: WatchEvents) -> Option<Arc<Watcher>> {
        let mut ws = self.watchers.write();
        if ws.len() >= MAX_WATCHERS {
            return None;
        }
        let w = Arc::new(Watcher {
            events: events.0,
            queue: Mutex::new(Queue::default()),
            signalled: AtomicBool::new(false),
            waker: OnceLock::new(),
        });
        ws.push(w.clone());
        // memcached takes a gid for the watcher (its `min_gid`).
        self.gid.fetch_add(1, Ordering::Relaxed);
        self.mask.store(union(&ws), Ordering::Relaxed);
        Some(w)
    }

    /// Forgets a watcher (its connection closed).
    pub fn remove(&self, w: &Arc<Watcher>) {
        let mut ws = self.watchers.write();
        ws.retain(|x| !Arc::ptr_eq(x, w));
        self.mask.store(union(&ws), Ordering::Relaxed);
    }

    pub fn stats(&self) -> LogStats {
        let c = &self.counters;
        LogStats {
            written: c.written.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            watchers: self.watchers.read().len() as u64,
        }
    }

    /// Formats one line of type `event` (`ts=… gid=… ` + `body` + `\n`) and queues it to
    /// every watcher of that type.
    fn log(&self, event: u32, body: impl FnOnce(&mut Vec<u8>)) {
        let ws = self.watchers.read();
        if !ws.iter().any(|w| w.events & event != 0) {
            return;
        }
        let gid = self.gid.fetch_add(1, Ordering::Relaxed) + 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = Vec::with_capacity(192);
        line_start(&mut line, now.as_secs(), now.subsec_micros(), gid);
        body(&mut line);
        line.push(b'\n');
        self.counters.written.fetch_add(1, Ordering::Relaxed);
        for w in ws.iter().filter(|w| w.events & event != 0) {
            w.push(&line, &self.counters);
        }
    }

    /// memcached's `item_get` line for a lookup that found `seen` (from `Store::inspect`
    /// before the operation).
    pub fn item_get(&self, key: &[u8], seen: Lookup<ItemInfo>, cfd: i32) {
        self.log(FETCHERS, |out| item_get_line(out, key, seen, cfd));
    }

    /// Logs a storage command as memcached's `process_update_command` / `do_store_item`
    /// do: the fetch of the old item, then the store. A failed allocation (too large, no
    /// memory) is logged first, then the fetch that unlinks the old item when `unlinks`
    /// (text and binary `set`, every meta `ms`).
    pub fn stored(&self, store: &Store, s: &StoreEvent<'_>) {
        let failed = matches!(s.outcome, StoreOutcome::TooLarge | StoreOutcome::NoMemory);
        if failed {
            // memcached passes these arguments shifted by one: the fd lands in `clsid` (as
            // a byte) and `cfd` shows stack garbage; we show the fd in both.
            let line = StoreLine {
                key: s.key,
                status: s.outcome,
                cmd: s.cmd,
                ttl: 0,
                clsid: (s.cfd as u8).into(),
                cfd: s.cfd,
                size: 0,
            };
            self.log(MUTATIONS, |out| line.write(out));
            if s.unlinks {
                self.item_get(s.key, s.before, s.cfd);
            }
            return;
        }
        self.item_get(s.key, s.before, s.cfd);
        if !self.wants(MUTATIONS) {
            return;
        }
        // memcached logs the item it linked: for append/prepend the combined one, which
        // keeps the old item's exptime; otherwise the one built from the command.
        let (size, ttl) = match (s.outcome, s.cmd, s.before) {
            (StoreOutcome::Stored, "append" | "prepend", Lookup::Hit(old)) => {
                (old.value_len + s.data_len, old.expires_in)
            }
            _ => (
                s.data_len,
                memcached_ttl(s.exptime, store.uptime(), store.unix_time()),
            ),
        };
        let line = StoreLine {
            key: s.key,
            status: s.outcome,
            cmd: s.cmd,
            ttl,
            clsid: store.class_id_for(s.key.len(), size),
            cfd: s.cfd,
            size,
        };
        self.log(MUTATIONS, |out| line.write(out));
    }

    /// `conn_new`: `peer` is the TCP peer, `None` for a unix socket.
    pub fn conn_new(&self, peer: Option<SocketAddr>, cfd: i32) {
        self.log(CONNEVENTS, |out| {
            out.extend_from_slice(b"type=conn_new ");
            endpoint(out, peer);
            let _ = write!(out, " cfd={cfd}");
        });
    }

    /// `conn_close`.
    pub fn conn_close(&self, peer: Option<SocketAddr>, cfd: i32, reason: CloseReason) {
        self.log(CONNEVENTS, |out| {
            out.extend_from_slice(b"type=conn_close ");
            endpoint(out, peer);
            let _ = write!(out, " reason={} cfd={cfd}", reason.word());
        });
    }
}

fn union(ws: &[Arc<Watcher>]) -> u32 {
    ws.iter().fold(0, |m, w| m | w.events)
}

/// One storage command, for [`Registry::stored`].
#[derive(Clone, Copy, Debug)]
pub struct StoreEvent<'a> {
    pub key: &'a [u8],
    /// memcached's command word: `set`, `add`, `replace`, `append`, `prepend` or `cas`.
    pub cmd: &'static str,
    /// As the client sent it.
    pub exptime: i64,
    pub data_len: usize,
    /// `Store::inspect` of the key before the command.
    pub before: Lookup<ItemInfo>,
    pub outcome: StoreOutcome,
    pub cfd: i32,
    /// A failed allocation unlinks the old item (memcached logs that fetch).
    pub unlinks: bool,
}

/// memcached's command word of a storage mode.
pub fn cmd_word(mode: crate::store::SetMode) -> &'static str {
    use crate::store::SetMode;
    match mode {
        SetMode::Set => "set",
        SetMode::Add => "add",
        SetMode::Replace => "replace",
        SetMode::Append => "append",
        SetMode::Prepend => "prepend",
        SetMode::Cas(_) => "cas",
    }
}

/// `ts=<secs>.<usecs> gid=<gid> `: memcached prints the microseconds without padding.
fn line_start(out: &mut Vec<u8>, secs: u64, usecs: u32, gid: u64) {
    let _ = write!(out, "ts={secs}.{usecs} gid={gid} ");
}

/// memcached's `uriencode`: letters, digits and `-._~` as they are, every other byte as
/// `%XX` (upper case).
fn put_key(out: &mut Vec<u8>, key: &[u8]) {
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn item_get_line(out: &mut Vec<u8>, key: &[u8], seen: Lookup<ItemInfo>, cfd: i32) {
    // Expired and flushed items are unlinked before memcached logs: no class, no size.
    let (status, clsid, size) = match seen {
        Lookup::Hit(i) => ("found", i.class, i.value_len),
        Lookup::Miss => ("not_found", 0, 0),
        Lookup::Flushed => ("flushed", 0, 0),
        Lookup::Expired => ("expired", 0, 0),
    };
    out.extend_from_slice(b"type=item_get key=");
    put_key(out, key);
    let _ = write!(out, " status={status} clsid={clsid} cfd={cfd} size={size}");
}

struct StoreLine<'a> {
    key: &'a [u8],
    status: StoreOutcome,
    cmd: &'static str,
    ttl: u32,
    clsid: usize,
    cfd: i32,
    size: usize,
}

impl StoreLine<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let status = match self.status {
            StoreOutcome::NotStored => "not_stored",
            StoreOutcome::Stored => "stored",
            StoreOutcome::Exists => "exists",
            StoreOutcome::NotFound => "not_found",
            StoreOutcome::TooLarge => "too_large",
            StoreOutcome::NoMemory => "no_memory",
        };
        out.extend_from_slice(b"type=item_store key=");
        put_key(out, self.key);
        let _ = write!(
            out,
            " status={status} cmd={} ttl={} clsid={} cfd={} size={}",
            self.cmd, self.ttl, self.clsid, self.cfd, self.size
        );
    }
}

/// `rip=… rport=… transport=…` as memcached prints a peer (unix sockets have none).
fn endpoint(out: &mut Vec<u8>, peer: Option<SocketAddr>) {
    let _ = match peer {
        Some(a) => write!(out, "rip={} rport={} transport=tcp", a.ip(), a.port()),
        None => write!(out, "rip=unix rport=0 transport=local"),
    };
}

/// The `ttl` memcached logs for a command's exptime: the item's relative expiry minus its
/// clock, as an unsigned 32-bit number (0: never). Exptimes that are already past
/// (negative, or absolute before the start) become memcached's relative time 1, so the
/// difference wraps (4294967235 at uptime 0).
pub fn memcached_ttl(exptime: i64, uptime: u64, unix_now: u64) -> u32 {
    const MAX_RELATIVE: i64 = 60 * 60 * 24 * 30;
    let current = uptime as i64 + MEMCACHED_CLOCK_BASE;
    let started = unix_now as i64 - current;
    let rel = if exptime == 0 {
        return 0;
    } else if exptime < 0 {
        1
    } else if exptime > MAX_RELATIVE {
        if exptime <= started {
            1
        } else {
            exptime - started
        }
    } else {
        exptime + current
    };
    (rel as u32).wrapping_sub(current as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(value_len: usize, class: usize) -> Lookup<ItemInfo> {
        Lookup::Hit(ItemInfo {
            value_len,
            class,
            expires_in: 0,
        })
    }

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap_or("<not utf-8>")
    }

    #[test]
    fn start_of_line_and_key_encoding() {
        let mut out = Vec::new();
        line_start(&mut out, 1795457407, 71333, 13);
        assert_eq!(s(&out), "ts=1795457407.71333 gid=13 ");
        out.clear();
        put_key(&mut out, b"k\xc3\xa9y%\x01");
        assert_eq!(s(&out), "k%C3%A9y%25%01");
        out.clear();
        put_key(&mut out, b"a-b_c.d~e+f/g:h Z9");
        assert_eq!(s(&out), "a-b_c.d~e%2Bf%2Fg%3Ah%20Z9");
    }

    #[test]
    fn item_get_lines() {
        let mut out = Vec::new();
        item_get_line(&mut out, b"foo", hit(3, 1), 25);
        assert_eq!(
            s(&out),
            "type=item_get key=foo status=found clsid=1 cfd=25 size=3"
        );
        for (seen, word) in [
            (Lookup::Miss, "not_found"),
            (Lookup::Flushed, "flushed"),
            (Lookup::Expired, "expired"),
        ] {
            out.clear();
            item_get_line(&mut out, b"nokey", seen, 7);
            assert_eq!(
                s(&out),
                format!("type=item_get key=nokey status={word} clsid=0 cfd=7 size=0")
            );
        }
    }

    #[test]
    fn item_store_lines() {
        let mut out = Vec::new();
        let line = StoreLine {
            key: b"foo",
            status: StoreOutcome::NotStored,
            cmd: "add",
            ttl: 100,
            clsid: 1,
            cfd: 25,
            size: 1,
        };
        line.write(&mut out);
        assert_eq!(
            s(&out),
            "type=item_store key=foo status=not_stored cmd=add ttl=100 clsid=1 cfd=25 size=1"
        );
        for (st, word) in [
            (StoreOutcome::Stored, "stored"),
            (StoreOutcome::Exists, "exists"),
            (StoreOutcome::NotFound, "not_found"),
            (StoreOutcome::TooLarge, "too_large"),
            (StoreOutcome::NoMemory, "no_memory"),
        ] {
            out.clear();
            StoreLine { status: st, ..line }.write(&mut out);
            assert!(s(&out).contains(&format!(" status={word} ")), "{}", s(&out));
        }
        assert_eq!(cmd_word(crate::store::SetMode::Cas(5)), "cas");
        assert_eq!(cmd_word(crate::store::SetMode::Prepend), "prepend");
    }

    #[test]
    fn conn_lines() {
        let mut out = Vec::new();
        endpoint(&mut out, "127.0.0.1:42354".parse().ok());
        assert_eq!(s(&out), "rip=127.0.0.1 rport=42354 transport=tcp");
        out.clear();
        endpoint(&mut out, "[::1]:5".parse().ok());
        assert_eq!(s(&out), "rip=::1 rport=5 transport=tcp");
        out.clear();
        endpoint(&mut out, None);
        assert_eq!(s(&out), "rip=unix rport=0 transport=local");
        assert_eq!(CloseReason::IdleTimeout.word(), "idle_timeout");
    }

    #[test]
    fn ttl_as_memcached_prints_it() {
        // Observed on memcached 1.6.18 at uptime 0: `set a 0 -1` -> 4294967235.
        let now = 1_800_000_000;
        assert_eq!(memcached_ttl(0, 0, now), 0);
        assert_eq!(memcached_ttl(-1, 0, now), 4294967235);
        assert_eq!(memcached_ttl(-1, 15, now), 4294967220);
        assert_eq!(memcached_ttl(1_000_000_000, 0, now), 4294967235);
        assert_eq!(memcached_ttl(100, 7, now), 100);
        assert_eq!(memcached_ttl(2_592_000, 7, now), 2_592_000);
        assert_eq!(memcached_ttl(now as i64 + 101, 7, now), 101);
    }

    #[test]
    fn full_queue_skips_then_reports() {
        let r = Registry::default();
        let Some(w) = r.add(WatchEvents(FETCHERS)) else {
            panic!("no watcher");
        };
        assert!(r.wants(FETCHERS) && !r.wants(MUTATIONS | CONNEVENTS));
        let key = [b'k'; 200];
        let mut logged = 0u64;
        while r.stats().skipped < 3 && logged < 100_000 {
            r.item_get(&key, Lookup::Miss, 9);
            logged += 1;
        }
        let st = r.stats();
        assert_eq!(st.skipped, 3);
        assert_eq!(st.written, logged);
        assert_eq!(st.sent + st.skipped, logged);
        let mut out = Vec::new();
        w.drain_into(&mut out);
        assert!(out.len() <= QUEUE_BYTES);
        r.item_get(b"after", Lookup::Miss, 9);
        let mut more = Vec::new();
        w.drain_into(&mut more);
        let text = s(&more);
        assert!(text.starts_with("skipped=3\nts="), "{text}");
        // Gids: one for the watcher, then one per line, the skipped ones included.
        assert!(
            text.contains(&format!(" gid={} type=item_get key=after ", logged + 2)),
            "{text}"
        );
        r.remove(&w);
        assert!(!r.wants(FETCHERS));
        assert_eq!(r.stats().watchers, 0);
    }

    #[test]
    fn watcher_limit_and_filtering() {
        let r = Registry::default();
        let ws: Vec<_> = (0..MAX_WATCHERS)
            .filter_map(|_| r.add(WatchEvents(CONNEVENTS)))
            .collect();
        assert_eq!(ws.len(), MAX_WATCHERS);
        assert!(r.add(WatchEvents(FETCHERS)).is_none());
        r.item_get(b"k", Lookup::Miss, 1);
        r.conn_new(None, 3);
        let mut out = Vec::new();
        ws[0].drain_into(&mut out);
        let text = s(&out);
        assert!(text.ends_with(" type=conn_new rip=unix rport=0 transport=local cfd=3\n"));
        assert!(!text.contains("item_get"));
        assert_eq!(r.stats().written, 1);
        assert_eq!(r.stats().sent, MAX_WATCHERS as u64);
    }
}
