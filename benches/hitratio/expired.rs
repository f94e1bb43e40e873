//! How much of the cache holds expired items, measured from outside while a replay runs:
//! every `every` seconds, `stats` (curr_items, bytes), then `lru_crawler metadump all`, then
//! `stats` again. Both memcached 1.6.18 and ferrocache leave expired items out of a
//! metadump but count them in `curr_items` and `bytes` until they are reclaimed, and in
//! both the metadump's `size=` fields add up to `bytes` (checked by hand on an idle server),
//! so expired bytes = bytes − the sizes of the listed items, and expired items likewise.
//! The stats are averaged over before and after the dump, which is not an atomic snapshot:
//! each sample is an estimate, good to the items stored or evicted during the dump (a few
//! milliseconds).
//!
//! The server's view decides what has expired, not the `exp` fields against this clock: a
//! server's seconds tick from its start, up to a second off the unix seconds `exp` is
//! printed in, so with TTLs of a few seconds (`--ttl-scale`) comparing `exp` with the unix
//! time counted live items as expired for up to a third of their life: 2.7% (memcached)
//! and 5.2% (ferrocache) of c4's bytes, where the servers' own views give 0.4% and 0.7%.
//!
//! Owns: the sampler. Must not touch the replay's connections.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::proto::Conn;

#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Seconds since the sampler started.
    pub t: f64,
    pub curr_items: f64,
    pub bytes: f64,
    pub listed: u64,
    pub expired_items: f64,
    pub expired_bytes: f64,
    /// Expired bytes over `bytes` (the memory holding items).
    pub expired_frac: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub samples: usize,
    pub mean_frac: f64,
    pub max_frac: f64,
    pub mean_expired_items: f64,
    pub mean_expired_mb: f64,
    /// Samples skipped because memcached's crawler was busy.
    pub busy: usize,
    pub samples_raw: Vec<Sample>,
}

pub fn summarize(s: &[Sample], busy: usize) -> Summary {
    let n = s.len();
    let mean = |f: &dyn Fn(&Sample) -> f64| {
        if n == 0 {
            0.0
        } else {
            s.iter().map(f).sum::<f64>() / n as f64
        }
    };
    Summary {
        samples: n,
        mean_frac: mean(&|x| x.expired_frac),
        max_frac: s.iter().map(|x| x.expired_frac).fold(0.0, f64::max),
        mean_expired_items: mean(&|x| x.expired_items),
        mean_expired_mb: mean(&|x| x.expired_bytes) / 1048576.0,
        busy,
        samples_raw: s.to_vec(),
    }
}

fn num(m: &std::collections::HashMap<String, String>, k: &str) -> f64 {
    m.get(k).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// One sample; None if the crawler was busy.
fn sample(c: &mut Conn, t0: Instant) -> io::Result<Option<Sample>> {
    let before = c.stats("")?;
    let (mut listed, mut live_bytes) = (0u64, 0u64);
    let done = c.metadump(|size| {
        listed += 1;
        live_bytes += size;
    })?;
    if !done {
        return Ok(None);
    }
    let after = c.stats("")?;
    let curr = (num(&before, "curr_items") + num(&after, "curr_items")) / 2.0;
    let bytes = (num(&before, "bytes") + num(&after, "bytes")) / 2.0;
    let expired = (curr - listed as f64).max(0.0);
    let expired_bytes = (bytes - live_bytes as f64).max(0.0);
    let frac = if bytes > 0.0 {
        (expired_bytes / bytes).min(1.0)
    } else {
        0.0
    };
    Ok(Some(Sample {
        t: t0.elapsed().as_secs_f64(),
        curr_items: curr,
        bytes,
        listed,
        expired_items: expired,
        expired_bytes,
        expired_frac: frac,
    }))
}

/// Samples every `every` until `done` is raised or `limit` has passed.
pub fn run(
    addr: SocketAddr,
    every: Duration,
    done: &AtomicBool,
    limit: Duration,
) -> io::Result<(Vec<Sample>, usize)> {
    let mut c = Conn::connect(addr, Duration::from_secs(30))?;
    let t0 = Instant::now();
    let (mut out, mut busy) = (Vec::new(), 0usize);
    let mut next = t0 + every;
    while !done.load(Ordering::Relaxed) && t0.elapsed() < limit {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        match sample(&mut c, t0)? {
            Some(s) => out.push(s),
            None => busy += 1,
        }
        next += every;
    }
    Ok((out, busy))
}
