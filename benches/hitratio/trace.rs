//! The deterministic request trace of a profile: which key each request names, whether it
//! is a read or a write-through set, every key's value size and TTL, and how the requests
//! are split over connections and batches (the same split drives the replay and the bound).
//!
//! Owns: trace generation, key naming, the one-hit-wonder calibration. Must not touch
//! sockets (replay.rs) or the bound's accounting (bound.rs).

use crate::dist::{Rng, Zipf, key_unit, lognormal, mix};
use crate::profiles::{Profile, Shape};

/// One request of a connection's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Req {
    /// Key id (dense from 0; the key string is [`Trace::key`]).
    pub key: u32,
    /// Position in the whole trace: request `at` is due `at / rate` seconds after the start.
    pub at: u32,
    /// A write-through `set` (else a read: `get`, then `set` on a miss).
    pub write: bool,
}

/// What a trace is generated from (besides the profile).
#[derive(Clone, Copy, Debug)]
pub struct TraceParams {
    pub seed: u64,
    pub requests: u64,
    pub mem_bytes: u64,
    pub ttl_scale: f64,
    pub conns: usize,
    /// Requests per batch and connection.
    pub batch: usize,
    /// Pace, requests per second over all connections.
    pub rate: f64,
}

pub struct Trace {
    pub name: String,
    pub params: TraceParams,
    pub key_size: usize,
    /// Per key id: value bytes and TTL in (scaled) seconds, 0 for none.
    pub value_size: Vec<u32>,
    pub ttl: Vec<u32>,
    /// Per connection, its requests in order; cut into batches of `params.batch`.
    pub conns: Vec<Vec<Req>>,
    pub gets: u64,
    pub writes: u64,
    /// Keys in the Zipf universe (0 for recency) and requests sent to one-shot keys
    /// (one-hit wonders or the scan).
    pub universe: usize,
    pub one_shot: u64,
}

/// Largest value written (below memcached's 1 MiB item limit with room for the header).
pub const VALUE_MAX: u32 = 512 * 1024;
/// memcached's largest relative exptime; longer TTLs would be read as absolute times.
const TTL_MAX: f64 = 30.0 * 86400.0;

impl Trace {
    /// Appends key `id` as its key string: `k` and the id, zero-padded to `key_size`.
    pub fn key(&self, id: u32, out: &mut Vec<u8>) {
        push_key(self.key_size, id, out);
    }

    /// The time (seconds from the start of the replay) request `r` is due.
    pub fn due(&self, r: &Req) -> f64 {
        f64::from(r.at) / self.params.rate
    }

    pub fn requests(&self) -> u64 {
        self.gets + self.writes
    }

    /// A digest of the whole request sequence and key attributes (for determinism checks).
    pub fn digest(&self) -> u64 {
        let mut h = 0u64;
        for (c, reqs) in self.conns.iter().enumerate() {
            for r in reqs {
                h = mix(h ^ ((c as u64) << 60) ^ (u64::from(r.key) << 32) ^ u64::from(r.at))
                    ^ u64::from(r.write);
            }
        }
        for (s, t) in self.value_size.iter().zip(&self.ttl) {
            h = mix(h ^ (u64::from(*s) << 32) ^ u64::from(*t));
        }
        h
    }
}

pub fn push_key(key_size: usize, id: u32, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "k{:0width$}", id, width = key_size - 1);
}

/// The id in a key written by [`push_key`] (None if it is not one).
pub fn parse_key(key: &[u8]) -> Option<u32> {
    let digits = key.strip_prefix(b"k")?;
    if digits.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(v)
}

/// Which connection carries key `id` (every request of a key goes through one connection,
/// so each key's requests keep their order whatever the interleaving).
pub fn conn_of(seed: u64, id: u32, conns: usize) -> usize {
    (mix(seed ^ 0xc0ff_ee00 ^ u64::from(id)) % conns as u64) as usize
}

/// Number of requests to one-hit-wonder keys such that they, plus the Zipf keys drawn only
/// once, make up `ohw` of the distinct keys (Poisson approximation of the Zipf draws).
pub fn ohw_requests(zipf: &Zipf, requests: u64, ohw: f64) -> u64 {
    if ohw <= 0.0 {
        return 0;
    }
    let mut u = 0.0f64;
    // Fixed point on the one-shot count; converges in a few rounds (bounded at 30).
    for _ in 0..30 {
        let rz = (requests as f64 - u).max(0.0);
        let (mut distinct, mut once) = (0.0, 0.0);
        for r in 0..zipf.len() {
            let l = rz * zipf.p(r);
            let e = (-l).exp();
            distinct += 1.0 - e;
            once += l * e;
        }
        let next = ((ohw * distinct - once) / (1.0 - ohw)).clamp(0.0, requests as f64 * 0.95);
        let done = (next - u).abs() < 1.0;
        u = next;
        if done {
            break;
        }
    }
    u.round() as u64
}

pub fn generate(p: &Profile, params: TraceParams) -> Trace {
    assert!(params.conns > 0 && params.batch > 0 && params.rate > 0.0);
    assert!(params.requests < u64::from(u32::MAX));
    let key_size = (p.key_size as usize).clamp(10, 250);
    let item_cost = key_size as f64 + p.value_mean + 48.0;
    let universe = match p.shape {
        Shape::Recency { .. } => 0,
        _ => ((p.universe_x * params.mem_bytes as f64 / item_cost) as usize).max(1),
    };
    let mut rng = Rng::new(params.seed ^ mix(p.name.len() as u64 ^ name_hash(p.name)));
    let n = params.requests;
    let mut conns: Vec<Vec<Req>> = (0..params.conns)
        .map(|_| Vec::with_capacity((n as usize) / params.conns + 16))
        .collect();
    let (mut gets, mut writes, mut one_shot) = (0u64, 0u64, 0u64);
    let mut next_fresh = universe as u64;
    let mut max_id = 0u64;
    let mut push = |id: u64, at: u64, write: bool, conns: &mut Vec<Vec<Req>>| {
        let id = u32::try_from(id).expect("key id fits in u32");
        max_id = max_id.max(u64::from(id));
        let c = conn_of(params.seed, id, params.conns);
        conns[c].push(Req {
            key: id,
            at: at as u32,
            write,
        });
    };
    match p.shape {
        Shape::Zipf { alpha, ohw } => {
            let zipf = Zipf::new(universe, alpha);
            let fresh = ohw_requests(&zipf, n, ohw);
            let p_fresh = fresh as f64 / n as f64;
            let p_write = (p.write_share / (1.0 - p_fresh)).min(1.0);
            for i in 0..n {
                if rng.unit() < p_fresh {
                    push(next_fresh, i, false, &mut conns);
                    next_fresh += 1;
                    one_shot += 1;
                    gets += 1;
                } else {
                    let id = zipf.rank(rng.unit()) as u64;
                    let write = rng.unit() < p_write;
                    push(id, i, write, &mut conns);
                    if write {
                        writes += 1;
                    } else {
                        gets += 1;
                    }
                }
            }
        }
        Shape::Scan {
            alpha,
            from,
            to,
            share,
        } => {
            let zipf = Zipf::new(universe, alpha);
            let (a, b) = ((from * n as f64) as u64, (to * n as f64) as u64);
            for i in 0..n {
                let u = rng.unit();
                if (a..b).contains(&i) && u < share {
                    push(next_fresh, i, false, &mut conns);
                    next_fresh += 1;
                    one_shot += 1;
                } else {
                    push(zipf.rank(rng.unit()) as u64, i, false, &mut conns);
                }
                gets += 1;
            }
        }
        Shape::Recency {
            alpha,
            window,
            drift,
        } => {
            let zipf = Zipf::new(window, alpha);
            for i in 0..n {
                let r = zipf.rank(rng.unit()) as u64;
                let head = window as u64 + (i as f64 * drift) as u64;
                push(head - r, i, false, &mut conns);
                gets += 1;
            }
        }
    }
    let keys = max_id as usize + 1;
    let ttl_table: Vec<(u32, f64)> = p
        .ttls
        .iter()
        .map(|&(t, w)| {
            let scaled = (t * params.ttl_scale).ceil().clamp(1.0, TTL_MAX);
            (scaled as u32, w)
        })
        .collect();
    let mut value_size = Vec::with_capacity(keys);
    let mut ttl = Vec::with_capacity(keys);
    for id in 0..keys as u64 {
        let u = key_unit(params.seed, 1, id);
        value_size.push(lognormal(p.value_mean, p.value_sigma, u, 1, VALUE_MAX));
        let mut w = key_unit(params.seed, 2, id);
        let mut t = 0;
        for &(secs, share) in &ttl_table {
            if w < share {
                t = secs;
                break;
            }
            w -= share;
        }
        ttl.push(t);
    }
    Trace {
        name: p.name.to_string(),
        params,
        key_size,
        value_size,
        ttl,
        conns,
        gets,
        writes,
        universe,
        one_shot,
    }
}

fn name_hash(s: &str) -> u64 {
    s.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b)))
}
