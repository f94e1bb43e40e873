//! The cache-aside replay of a trace against one server: one connection (and thread) per
//! trace connection; per batch, one multi-key `get` of the batch's distinct read keys, a hit
//! or miss counted per read request, then a `set` (the key's value size and TTL) of every
//! distinct missed or written key. The sets are pipelined in front of the next batch's `get`
//! (same connection, so in order). Batches are paced: a batch is not sent before its first
//! request is due (`at / rate`), so TTLs see the same clock on every server.
//!
//! Owns: the client side of a run and its counters. Must not generate the trace or start
//! servers.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::trace::{Req, Trace, VALUE_MAX, parse_key};

#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub gets: u64,
    pub hits: u64,
    pub sets: u64,
    /// `set` replies other than `STORED`.
    pub set_errors: u64,
    /// Misses by cause, as the client sees it (bound.rs's rules): the key was never set,
    /// its TTL had run out, or it was gone early (evicted, or reclaimed before its TTL ran
    /// out) after a write-through set or after a cache-aside fill.
    pub miss_compulsory: u64,
    pub miss_expired: u64,
    pub miss_after_write: u64,
    pub miss_after_fill: u64,
    /// Seconds from the start to the last reply, and the worst lateness of a batch.
    pub secs: f64,
    pub max_lag: f64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.gets += o.gets;
        self.hits += o.hits;
        self.sets += o.sets;
        self.set_errors += o.set_errors;
        self.miss_compulsory += o.miss_compulsory;
        self.miss_expired += o.miss_expired;
        self.miss_after_write += o.miss_after_write;
        self.miss_after_fill += o.miss_after_fill;
        self.secs = self.secs.max(o.secs);
        self.max_lag = self.max_lag.max(o.max_lag);
    }
}

/// Replays `trace` against `addr`. Fails if a connection fails, `stop` is raised, or the
/// run takes longer than `timeout`.
pub fn replay(
    trace: &Trace,
    addr: SocketAddr,
    stop: &AtomicBool,
    timeout: Duration,
) -> io::Result<Counts> {
    let values = vec![b'v'; VALUE_MAX as usize];
    let start = Instant::now();
    let results: Vec<io::Result<Counts>> = std::thread::scope(|s| {
        let handles: Vec<_> = trace
            .conns
            .iter()
            .map(|reqs| {
                let values = &values;
                s.spawn(move || {
                    let r = run_conn(trace, reqs, addr, values, start, stop, timeout);
                    if r.is_err() {
                        // Stop the other connections too: the run is lost anyway.
                        stop.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("replay thread panicked")))
            })
            .collect()
    });
    let mut total = Counts::default();
    for r in results {
        total.add(&r?);
    }
    Ok(total)
}

fn run_conn(
    trace: &Trace,
    reqs: &[Req],
    addr: SocketAddr,
    values: &[u8],
    start: Instant,
    stop: &AtomicBool,
    timeout: Duration,
) -> io::Result<Counts> {
    let mut conn = crate::proto::Conn::connect(addr, Duration::from_secs(10))?;
    let mut c = Counts::default();
    let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut pending_sets = 0usize;
    let (mut read_keys, mut got, mut to_set) = (Vec::new(), Vec::new(), Vec::new());
    // Per key: when this connection last set it (seconds, trace clock; NaN: never) and
    // whether that set was a write-through one. Only for the miss causes.
    let keys = trace.value_size.len();
    let (mut set_at, mut by_write) = (vec![f32::NAN; keys], vec![false; keys]);
    for batch in reqs.chunks(trace.params.batch) {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped"));
        }
        if start.elapsed() > timeout {
            return Err(io::Error::other(format!(
                "replay took longer than {timeout:?} (server too slow for --rate?)"
            )));
        }
        let due = start + Duration::from_secs_f64(trace.due(&batch[0]));
        let now = Instant::now();
        if now < due {
            std::thread::sleep(due - now);
        } else {
            c.max_lag = c.max_lag.max((now - due).as_secs_f64());
        }
        read_keys.clear();
        for r in batch.iter().filter(|r| !r.write) {
            if !read_keys.contains(&r.key) {
                read_keys.push(r.key);
            }
        }
        if !read_keys.is_empty() {
            out.extend_from_slice(b"get");
            for &k in &read_keys {
                out.push(b' ');
                trace.key(k, &mut out);
            }
            out.extend_from_slice(b"\r\n");
        }
        if !out.is_empty() {
            conn.send(&out)?;
            out.clear();
        }
        c.set_errors += conn.stored(pending_sets)?;
        got.clear();
        if !read_keys.is_empty() {
            conn.values(|k| {
                if let Some(id) = parse_key(k) {
                    got.push(id);
                }
            })?;
        }
        to_set.clear();
        let t = trace.due(&batch[0]) as f32;
        for r in batch {
            let k = r.key as usize;
            if r.write {
                if !to_set.contains(&r.key) {
                    to_set.push(r.key);
                }
                continue;
            }
            c.gets += 1;
            if got.contains(&r.key) {
                c.hits += 1;
                continue;
            }
            let ttl = trace.ttl[k] as f32;
            if set_at[k].is_nan() {
                c.miss_compulsory += 1;
            } else if ttl > 0.0 && set_at[k] + ttl <= t {
                c.miss_expired += 1;
            } else if by_write[k] {
                c.miss_after_write += 1;
            } else {
                c.miss_after_fill += 1;
            }
            if !to_set.contains(&r.key) {
                to_set.push(r.key);
            }
        }
        for r in batch {
            if to_set.contains(&r.key) {
                set_at[r.key as usize] = t;
                by_write[r.key as usize] = r.write;
            }
        }
        for &k in &to_set {
            let len = trace.value_size[k as usize] as usize;
            out.extend_from_slice(b"set ");
            trace.key(k, &mut out);
            out.extend_from_slice(format!(" 0 {} {len}\r\n", trace.ttl[k as usize]).as_bytes());
            out.extend_from_slice(&values[..len]);
            out.extend_from_slice(b"\r\n");
        }
        c.sets += to_set.len() as u64;
        pending_sets = to_set.len();
    }
    if pending_sets > 0 {
        conn.send(&out)?;
        c.set_errors += conn.stored(pending_sets)?;
    }
    c.secs = start.elapsed().as_secs_f64();
    Ok(c)
}
