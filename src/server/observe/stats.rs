//! Server counters and the `stats` replies (general, settings, items, slabs, sizes, conns).
//!
//! Counters live per worker thread (each written by its own thread only, read by `stats`),
//! so counting never serialises the workers. Field names and meanings are memcached's; a
//! field is only reported when ferrocache really measures it, or when its value follows
//! from ferrocache's design (`free_chunks_end`, `tailrepairs`, `lru_maintainer_thread`).
//! The per-class command counters of `stats slabs` come from the store, which counts them
//! under its shard locks.

use crate::server::Shared;
use crate::store::ClassStats;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};

/// A stats reply as `(name, value)` pairs, encoded by the protocol in use.
#[derive(Default)]
pub struct StatList(pub Vec<(String, String)>);

impl StatList {
    fn add(&mut self, name: impl Into<String>, value: impl Display) {
        self.0.push((name.into(), value.to_string()));
    }
}

macro_rules! counters {
    ($(#[$m:meta])* $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Default, Debug)]
        pub struct $name { $(pub $field: AtomicU64,)* }

        impl $name {
            /// Adds `other`'s values into `self` (both snapshots, relaxed).
            pub fn add_from(&self, other: &$name) {
                $(self.$field.fetch_add(other.$field.load(Ordering::Relaxed), Ordering::Relaxed);)*
            }
            /// Zeroes every counter (`stats reset`).
            pub fn reset(&self) {
                $(self.$field.store(0, Ordering::Relaxed);)*
            }
        }
    };
}

counters!(
    /// One worker thread's command counters.
    ThreadStats {
        cmd_get, cmd_set, cmd_flush, cmd_touch, cmd_meta,
        get_hits, get_misses, get_expired, get_flushed,
        delete_misses, delete_hits, incr_misses, incr_hits, decr_misses, decr_hits,
        cas_misses, cas_hits, cas_badval, touch_hits, touch_misses,
        store_too_large, store_no_memory, auth_cmds, auth_errors,
        bytes_read, bytes_written, conn_yields, idle_kicks,
    }
);

counters!(
    /// The accept thread's counters.
    ListenerStats {
        total_connections, rejected_connections, listen_disabled_num,
        time_in_listen_disabled_us,
    }
);

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Sum over all workers.
pub fn totals(shared: &Shared) -> ThreadStats {
    let t = ThreadStats::default();
    for s in &shared.observe.threads {
        t.add_from(s);
    }
    t
}

fn rusage() -> (f64, f64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` points to writable memory of the right size and type; getrusage only
    // writes into it and it is fully initialised (zeroed) even if the call failed.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    // SAFETY: zero-initialised above and filled by a successful getrusage.
    let ru = unsafe { ru.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// `stats`.
pub fn general(shared: &Shared) -> StatList {
    let mut out = StatList::default();
    let out = &mut out;
    let store = &shared.store;
    let t = totals(shared);
    let s = store.stats();
    let (user, system) = rusage();
    let l = &shared.observe.listener;
    out.add("pid", std::process::id());
    out.add("uptime", store.uptime());
    out.add("time", store.unix_time());
    out.add("version", crate::server::VERSION);
    out.add("pointer_size", usize::BITS);
    out.add("rusage_user", format_args!("{user:.6}"));
    out.add("rusage_system", format_args!("{system:.6}"));
    out.add(
        "max_connections",
        shared.live.conn_limit.load(Ordering::Relaxed),
    );
    out.add(
        "curr_connections",
        shared.clients.open.load(Ordering::Relaxed),
    );
    out.add("total_connections", get(&l.total_connections));
    out.add("rejected_connections", get(&l.rejected_connections));
    out.add(
        "connection_structures",
        shared.clients.max_seen.load(Ordering::Relaxed),
    );
    out.add("cmd_get", get(&t.cmd_get));
    out.add("cmd_set", get(&t.cmd_set));
    out.add("cmd_flush", get(&t.cmd_flush));
    out.add("cmd_touch", get(&t.cmd_touch));
    out.add("cmd_meta", get(&t.cmd_meta));
    out.add("get_hits", get(&t.get_hits));
    out.add("get_misses", get(&t.get_misses));
    out.add("get_expired", get(&t.get_expired));
    out.add("get_flushed", get(&t.get_flushed));
    out.add("delete_misses", get(&t.delete_misses));
    out.add("delete_hits", get(&t.delete_hits));
    out.add("incr_misses", get(&t.incr_misses));
    out.add("incr_hits", get(&t.incr_hits));
    out.add("decr_misses", get(&t.decr_misses));
    out.add("decr_hits", get(&t.decr_hits));
    out.add("cas_misses", get(&t.cas_misses));
    out.add("cas_hits", get(&t.cas_hits));
    out.add("cas_badval", get(&t.cas_badval));
    out.add("touch_hits", get(&t.touch_hits));
    out.add("touch_misses", get(&t.touch_misses));
    out.add("store_too_large", get(&t.store_too_large));
    out.add("store_no_memory", get(&t.store_no_memory));
    out.add("auth_cmds", get(&t.auth_cmds));
    out.add("auth_errors", get(&t.auth_errors));
    // memcached reports it only while an idle timeout is set.
    if shared.live.idle_timeout.load(Ordering::Relaxed) > 0 {
        out.add("idle_kicks", get(&t.idle_kicks));
    }
    out.add("bytes_read", get(&t.bytes_read));
    out.add("bytes_written", get(&t.bytes_written));
    out.add("limit_maxbytes", s.limit_maxbytes);
    out.add("accepting_conns", u8::from(!shared.is_shutting_down()));
    out.add("listen_disabled_num", get(&l.listen_disabled_num));
    out.add(
        "time_in_listen_disabled_us",
        get(&l.time_in_listen_disabled_us),
    );
    out.add("threads", shared.config.threads);
    out.add("conn_yields", get(&t.conn_yields));
    out.add("hash_power_level", s.hash_bytes.max(8).ilog2() - 3);
    out.add("hash_bytes", s.hash_bytes);
    out.add("hash_is_expanding", 0);
    out.add("slab_reassign_rescues", s.slab_reassign_rescues);
    out.add(
        "slab_reassign_evictions_nomem",
        s.slab_reassign_evictions_nomem,
    );
    out.add("slab_reassign_busy_items", s.slab_reassign_busy_items);
    out.add("slab_reassign_running", u8::from(s.slab_reassign_running));
    out.add("slabs_moved", s.slabs_moved);
    // memcached prints these two while its crawler is enabled.
    if store.crawler_enabled() {
        out.add("lru_crawler_running", u8::from(shared.crawler.running()));
        out.add("lru_crawler_starts", s.crawler_starts);
    }
    let log = shared.observe.watch.stats();
    // Lines are formatted by the workers straight into the watchers' queues: no worker
    // buffer to drop from.
    out.add("log_worker_dropped", 0);
    out.add("log_worker_written", log.written);
    out.add("log_watcher_skipped", log.skipped);
    out.add("log_watcher_sent", log.sent);
    out.add("log_watchers", log.watchers);
    // memcached prints its TLS counters here, with -Z only.
    if let Some(tls) = shared.tls.as_deref() {
        let t = &tls.stats;
        if tls.settings().session_cache {
            out.add("ssl_new_sessions", get(&t.new_sessions));
        }
        out.add("ssl_handshake_errors", get(&t.handshake_errors));
        out.add("ssl_proto_errors", get(&t.proto_errors));
        // memcached's relative clock starts at 62 s (ITEM_UPDATE_INTERVAL + 2).
        let uptime = store.uptime();
        out.add(
            "time_since_server_cert_refresh",
            tls.since_refresh(uptime, uptime + 62),
        );
    }
    out.add("bytes", s.bytes);
    out.add("curr_items", s.curr_items);
    out.add("total_items", s.total_items);
    out.add("expired_unfetched", s.expired_unfetched);
    out.add("evicted_unfetched", s.evicted_unfetched);
    out.add("evictions", s.evictions);
    out.add("reclaimed", s.reclaimed);
    let classes = store.class_stats();
    out.add(
        "crawler_reclaimed",
        classes.iter().map(|c| c.crawler_reclaimed).sum::<u64>(),
    );
    out.add(
        "crawler_items_checked",
        classes.iter().map(|c| c.crawler_items_checked).sum::<u64>(),
    );
    std::mem::take(out)
}

/// `stats settings`.
pub fn settings(shared: &Shared) -> StatList {
    let mut out = StatList::default();
    let out = &mut out;
    let c = &shared.config;
    let inter = c
        .listen
        .iter()
        .map(|a| a.ip().to_string())
        .collect::<Vec<_>>()
        .join(",");
    // `cache_memlimit` and SIGHUP change it, as memcached's settings.maxbytes.
    out.add("maxbytes", shared.store.stats().limit_maxbytes);
    out.add("maxconns", shared.live.conn_limit.load(Ordering::Relaxed));
    out.add("tcpport", c.port);
    out.add("udpport", c.udp_port);
    // memcached prints NULL when it has no network listeners (`-s`).
    out.add(
        "inter",
        if c.listen.is_empty() {
            "NULL".to_string()
        } else {
            inter
        },
    );
    out.add("verbosity", shared.live.verbosity.load(Ordering::Relaxed));
    out.add("evictions", if c.evictions { "on" } else { "off" });
    let socket = c.unix_socket.as_deref().map(|p| p.display());
    out.add(
        "domain_socket",
        socket.map_or("NULL".into(), |p| p.to_string()),
    );
    out.add(
        "shutdown_command",
        if c.enable_shutdown { "yes" } else { "no" },
    );
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    out.add("growth_factor", format_args!("{:.2}", c.growth_factor));
    out.add("chunk_size", c.min_chunk);
    out.add("num_threads", c.threads);
    out.add("stat_key_prefix", char::from(c.delimiter));
    out.add("detail_enabled", yes_no(shared.observe.detail.enabled()));
    out.add("reqs_per_event", c.reqs_per_event);
    out.add("cas_enabled", if c.cas { "yes" } else { "no" });
    out.add("tcp_backlog", c.backlog);
    let proto = match c.protocol {
        crate::config::ProtocolMode::Auto => "auto-negotiate",
        crate::config::ProtocolMode::Ascii => "ascii",
        crate::config::ProtocolMode::Binary => "binary",
    };
    out.add("binding_protocol", proto);
    out.add("auth_enabled_sasl", yes_no(c.sasl));
    out.add("auth_enabled_ascii", yes_no(c.ascii_auth));
    out.add("item_size_max", c.item_size_max);
    out.add("maxconns_fast", yes_no(c.ext.maxconns_fast));
    out.add("slab_reassign", yes_no(c.ext.slab_reassign));
    let automove = shared.store.stats().slab_automove;
    let mode = shared.live.automove_mode.load(Ordering::Relaxed);
    out.add("slab_automove", if automove { mode.max(1) } else { 0 });
    let ratio = |a: &std::sync::atomic::AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
    out.add(
        "slab_automove_ratio",
        format_args!("{:.2}", ratio(&shared.live.automove_ratio)),
    );
    out.add(
        "slab_automove_window",
        shared.live.automove_window.load(Ordering::Relaxed),
    );
    out.add(
        "slab_chunk_max",
        c.ext
            .slab_chunk_max
            .unwrap_or_else(|| shared.store.slab_chunk_max()),
    );
    out.add("lru_crawler", yes_no(shared.store.crawler_enabled()));
    out.add(
        "lru_crawler_sleep",
        shared.crawler.sleep_us.load(Ordering::Relaxed),
    );
    out.add(
        "lru_crawler_tocrawl",
        shared.crawler.tocrawl.load(Ordering::Relaxed),
    );
    out.add("flush_enabled", yes_no(c.flush_enabled));
    out.add("dump_enabled", yes_no(c.dumping_enabled));
    // No LRU maintainer thread (`-o lru_maintainer` is accepted and ignored). memcached
    // prints it in every mode; Prometheus' memcached_exporter maps it.
    out.add("lru_maintainer_thread", "no");
    // CLOCK per class, not memcached's hot/warm/cold queues.
    out.add("lru_segmented", "no");
    out.add(
        "idle_timeout",
        shared.live.idle_timeout.load(Ordering::Relaxed),
    );
    out.add(
        "track_sizes",
        yes_no(shared.store.size_histogram().is_some()),
    );
    out.add(
        "slab_automove_freeratio",
        format_args!("{:.3}", ratio(&shared.live.automove_freeratio)),
    );
    // memcached (built with TLS, as Debian's is) prints these with or without -Z.
    let t = &c.ext.tls;
    let path = |p: &Option<std::path::PathBuf>, none: &str| {
        p.as_deref()
            .map_or(none.to_string(), |p| p.display().to_string())
    };
    out.add("ssl_enabled", yes_no(t.enabled));
    out.add("ssl_chain_cert", path(&t.chain_cert, "(null)"));
    out.add("ssl_key", path(&t.key, "(null)"));
    out.add("ssl_verify_mode", t.verify_mode.openssl_flags());
    out.add("ssl_keyformat", t.keyformat);
    out.add("ssl_ciphers", t.ciphers.as_deref().unwrap_or("NULL"));
    out.add("ssl_ca_cert", path(&t.ca_cert, "NULL"));
    out.add("ssl_wbuf_size", t.wbuf_size);
    out.add("ssl_session_cache", yes_no(t.session_cache));
    // Asked for or not, there is no kernel offload (a start-up warning says so).
    out.add("ssl_kernel_tls", "no");
    out.add("ssl_min_version", t.min_version.name());
    std::mem::take(out)
}

/// `stats slabs`.
pub fn slabs(shared: &Shared) -> StatList {
    let mut out = StatList::default();
    let out = &mut out;
    let classes = shared.store.class_stats();
    let mut malloced = 0u64;
    for c in &classes {
        let id = c.id;
        out.add(format!("{id}:chunk_size"), c.chunk_size);
        out.add(format!("{id}:chunks_per_page"), c.chunks_per_page);
        out.add(format!("{id}:total_pages"), c.total_pages);
        out.add(format!("{id}:total_chunks"), c.total_chunks);
        out.add(format!("{id}:used_chunks"), c.used_chunks);
        out.add(format!("{id}:free_chunks"), c.free_chunks);
        // memcached: chunks of the newest page not yet carved. ferrocache counts them in
        // free_chunks (used + free = total), as memcached 1.6 does, so always 0.
        out.add(format!("{id}:free_chunks_end"), 0);
        // memcached's per-class command counters (the store counts them in the class of
        // the item). Prometheus' memcached_exporter fails the whole scrape (memcached_up 0)
        // when a class lacks cmd_set, cas_hits or cas_badval.
        let k = &c.cmds;
        for (name, v) in [
            ("get_hits", k.get_hits),
            ("cmd_set", k.cmd_set),
            ("delete_hits", k.delete_hits),
            ("incr_hits", k.incr_hits),
            ("decr_hits", k.decr_hits),
            ("cas_hits", k.cas_hits),
            ("cas_badval", k.cas_badval),
            ("touch_hits", k.touch_hits),
        ] {
            out.add(format!("{id}:{name}"), v);
        }
        malloced += (c.total_chunks * c.chunk_size) as u64;
    }
    let active = classes.iter().filter(|c| c.total_pages > 0).count();
    out.add("active_slabs", active);
    out.add(
        "total_malloced",
        shared.store.stats().total_malloced.max(malloced),
    );
    std::mem::take(out)
}

/// `stats items`.
pub fn items(shared: &Shared) -> StatList {
    let mut out = StatList::default();
    let out = &mut out;
    for c in shared.store.class_stats() {
        if c.number == 0 {
            continue;
        }
        item_class(&c, out);
    }
    std::mem::take(out)
}

fn item_class(c: &ClassStats, out: &mut StatList) {
    let id = c.id;
    let mut f = |name: &str, v: u64| out.add(format!("items:{id}:{name}"), v);
    f("number", c.number);
    f("age", c.age);
    f("mem_requested", c.mem_requested);
    f("evicted", c.evicted);
    f("evicted_nonzero", c.evicted_nonzero);
    f("evicted_time", c.evicted_time);
    f("outofmemory", c.outofmemory);
    // memcached repairs items leaked at an LRU tail; ferrocache's items cannot leak there.
    f("tailrepairs", 0);
    f("reclaimed", c.reclaimed);
    f("expired_unfetched", c.expired_unfetched);
    f("evicted_unfetched", c.evicted_unfetched);
    f("crawler_reclaimed", c.crawler_reclaimed);
    f("crawler_items_checked", c.crawler_items_checked);
}

/// `stats sizes`: ferrocache does not track item sizes (memcached's default, too).
pub fn sizes(shared: &Shared) -> StatList {
    let mut out = StatList::default();
    match shared.store.size_histogram() {
        Some(buckets) => {
            for (bucket, n) in buckets {
                out.add(bucket.to_string(), n);
            }
        }
        None => out.add("sizes_status", "disabled"),
    }
    out
}

/// `stats conns`: one block per open socket in fd order (memcached's format). `requester`
/// is the fd asking, shown executing (`conn_parse_cmd`) as memcached shows it.
pub fn conns(shared: &Shared, requester: i32) -> StatList {
    use crate::server::net::conns::ConnState;
    let mut out = StatList::default();
    let now = shared.clients.registry.now();
    for c in shared.clients.registry.snapshot() {
        let fd = c.fd;
        out.add(format!("{fd}:addr"), &c.addr);
        if let Some(l) = &c.listen_addr {
            out.add(format!("{fd}:listen_addr"), l);
        }
        let state = if fd == requester {
            ConnState::ParseCmd
        } else {
            c.state()
        };
        out.add(format!("{fd}:state"), state.name());
        out.add(
            format!("{fd}:secs_since_last_cmd"),
            now.saturating_sub(c.last_cmd()),
        );
    }
    out
}

/// `stats reset`.
pub fn reset(shared: &Shared) {
    shared.observe.detail.clear();
    for t in &shared.observe.threads {
        t.reset();
    }
    shared.observe.listener.reset();
    shared.store.reset_stats();
}
