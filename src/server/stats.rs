//! Server counters and the `stats` replies (general, settings, items, slabs, sizes, conns).
//!
//! Counters live per worker thread (each written by its own thread only, read by `stats`),
//! so counting never serialises the workers. Field names and meanings are memcached's; a
//! field is only reported when ferrocache really measures it.

use super::Shared;
use crate::protocol::text::encode::{end, stat};
use crate::store::ClassStats;
use std::sync::atomic::{AtomicU64, Ordering};

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
        cmd_get, cmd_set, cmd_flush, cmd_touch,
        get_hits, get_misses, get_expired, get_flushed,
        delete_misses, delete_hits, incr_misses, incr_hits, decr_misses, decr_hits,
        cas_misses, cas_hits, cas_badval, touch_hits, touch_misses,
        store_too_large, store_no_memory,
        bytes_read, bytes_written, conn_yields,
    }
);

counters!(
    /// The accept thread's counters.
    ListenerStats { total_connections, rejected_connections }
);

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Sum over all workers.
pub fn totals(shared: &Shared) -> ThreadStats {
    let t = ThreadStats::default();
    for s in &shared.thread_stats {
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
pub fn general(shared: &Shared, out: &mut Vec<u8>) {
    let store = &shared.store;
    let t = totals(shared);
    let s = store.stats();
    let (user, system) = rusage();
    let l = &shared.listener_stats;
    stat(out, "pid", std::process::id());
    stat(out, "uptime", store.uptime());
    stat(out, "time", store.unix_time());
    stat(out, "version", env!("CARGO_PKG_VERSION"));
    stat(out, "pointer_size", usize::BITS);
    stat(out, "rusage_user", format_args!("{user:.6}"));
    stat(out, "rusage_system", format_args!("{system:.6}"));
    stat(out, "max_connections", shared.config.conn_limit);
    stat(
        out,
        "curr_connections",
        shared.curr_conns.load(Ordering::Relaxed),
    );
    stat(out, "total_connections", get(&l.total_connections));
    stat(out, "rejected_connections", get(&l.rejected_connections));
    stat(
        out,
        "connection_structures",
        shared.max_conns_seen.load(Ordering::Relaxed),
    );
    stat(out, "cmd_get", get(&t.cmd_get));
    stat(out, "cmd_set", get(&t.cmd_set));
    stat(out, "cmd_flush", get(&t.cmd_flush));
    stat(out, "cmd_touch", get(&t.cmd_touch));
    stat(out, "get_hits", get(&t.get_hits));
    stat(out, "get_misses", get(&t.get_misses));
    stat(out, "get_expired", get(&t.get_expired));
    stat(out, "get_flushed", get(&t.get_flushed));
    stat(out, "delete_misses", get(&t.delete_misses));
    stat(out, "delete_hits", get(&t.delete_hits));
    stat(out, "incr_misses", get(&t.incr_misses));
    stat(out, "incr_hits", get(&t.incr_hits));
    stat(out, "decr_misses", get(&t.decr_misses));
    stat(out, "decr_hits", get(&t.decr_hits));
    stat(out, "cas_misses", get(&t.cas_misses));
    stat(out, "cas_hits", get(&t.cas_hits));
    stat(out, "cas_badval", get(&t.cas_badval));
    stat(out, "touch_hits", get(&t.touch_hits));
    stat(out, "touch_misses", get(&t.touch_misses));
    stat(out, "store_too_large", get(&t.store_too_large));
    stat(out, "store_no_memory", get(&t.store_no_memory));
    stat(out, "bytes_read", get(&t.bytes_read));
    stat(out, "bytes_written", get(&t.bytes_written));
    stat(out, "limit_maxbytes", s.limit_maxbytes);
    stat(out, "accepting_conns", u8::from(!shared.is_shutting_down()));
    stat(out, "threads", shared.config.threads);
    stat(out, "conn_yields", get(&t.conn_yields));
    stat(out, "bytes", s.bytes);
    stat(out, "curr_items", s.curr_items);
    stat(out, "total_items", s.total_items);
    stat(out, "expired_unfetched", s.expired_unfetched);
    stat(out, "evicted_unfetched", s.evicted_unfetched);
    stat(out, "evictions", s.evictions);
    stat(out, "reclaimed", s.reclaimed);
    end(out);
}

/// `stats settings`.
pub fn settings(shared: &Shared, out: &mut Vec<u8>) {
    let c = &shared.config;
    let inter = c
        .listen
        .iter()
        .map(|a| a.ip().to_string())
        .collect::<Vec<_>>()
        .join(",");
    stat(out, "maxbytes", c.memory_limit);
    stat(out, "maxconns", c.conn_limit);
    stat(out, "tcpport", c.port);
    stat(out, "udpport", 0);
    stat(out, "inter", inter);
    stat(out, "verbosity", shared.verbosity.load(Ordering::Relaxed));
    stat(out, "evictions", if c.evictions { "on" } else { "off" });
    stat(out, "domain_socket", "NULL");
    stat(
        out,
        "shutdown_command",
        if c.enable_shutdown { "yes" } else { "no" },
    );
    stat(out, "growth_factor", format_args!("{:.2}", c.growth_factor));
    stat(out, "chunk_size", c.min_chunk);
    stat(out, "num_threads", c.threads);
    stat(out, "reqs_per_event", c.reqs_per_event);
    stat(out, "cas_enabled", if c.cas { "yes" } else { "no" });
    stat(out, "tcp_backlog", c.backlog);
    stat(out, "binding_protocol", "ascii");
    stat(out, "auth_enabled_sasl", "no");
    stat(out, "auth_enabled_ascii", "no");
    stat(out, "item_size_max", c.item_size_max);
    stat(out, "lru_crawler", "yes");
    stat(out, "flush_enabled", "yes");
    end(out);
}

/// `stats slabs`.
pub fn slabs(shared: &Shared, out: &mut Vec<u8>) {
    let classes = shared.store.class_stats();
    let mut malloced = 0u64;
    for c in &classes {
        let id = c.id;
        stat(out, &format!("{id}:chunk_size"), c.chunk_size);
        stat(out, &format!("{id}:chunks_per_page"), c.chunks_per_page);
        stat(out, &format!("{id}:total_pages"), c.total_pages);
        stat(out, &format!("{id}:total_chunks"), c.total_chunks);
        stat(out, &format!("{id}:used_chunks"), c.used_chunks);
        stat(out, &format!("{id}:free_chunks"), c.free_chunks);
        malloced += (c.total_pages * c.chunks_per_page * c.chunk_size) as u64;
    }
    let active = classes.iter().filter(|c| c.total_pages > 0).count();
    stat(out, "active_slabs", active);
    stat(
        out,
        "total_malloced",
        shared.store.stats().total_malloced.max(malloced),
    );
    end(out);
}

/// `stats items`.
pub fn items(shared: &Shared, out: &mut Vec<u8>) {
    for c in shared.store.class_stats() {
        if c.number == 0 {
            continue;
        }
        item_class(&c, out);
    }
    end(out);
}

fn item_class(c: &ClassStats, out: &mut Vec<u8>) {
    let id = c.id;
    let mut f = |name: &str, v: u64| stat(out, &format!("items:{id}:{name}"), v);
    f("number", c.number);
    f("age", c.age);
    f("mem_requested", c.mem_requested);
    f("evicted", c.evicted);
    f("evicted_nonzero", c.evicted_nonzero);
    f("evicted_time", c.evicted_time);
    f("outofmemory", c.outofmemory);
    f("reclaimed", c.reclaimed);
    f("expired_unfetched", c.expired_unfetched);
    f("evicted_unfetched", c.evicted_unfetched);
    f("crawler_reclaimed", c.crawler_reclaimed);
}

/// `stats sizes`: ferrocache does not track item sizes (memcached's default, too).
pub fn sizes(out: &mut Vec<u8>) {
    stat(out, "sizes_status", "disabled");
    end(out);
}

/// `stats reset`.
pub fn reset(shared: &Shared) {
    for t in &shared.thread_stats {
        t.reset();
    }
    shared.listener_stats.reset();
    shared.store.reset_stats();
}
