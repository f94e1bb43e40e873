//! What the trace allows: the infinite-memory hit count (every miss compulsory or caused by
//! expiry) and the static-optimal bound (keep, for the whole trace, the keys with the most
//! hits per byte within the memory limit).
//!
//! Both follow the replay's exact batch semantics: per connection, the reads of a batch all
//! see the cache as it was when the batch was due (time = first request / rate), then every
//! missed or written key is set at that time. A kept key hits unless it was never set or
//! its TTL ran out (set time + TTL <= batch time). Item cost = key + value + 48 bytes.
//! Simplification: a static cache keeps expired items' memory (no reuse of the space).
//!
//! Owns: those two computations. Must not touch sockets or generate requests.

use crate::trace::Trace;

/// Per-item overhead assumed by the bound (bytes).
pub const ITEM_OVERHEAD: u64 = 48;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bound {
    pub gets: u64,
    /// Hits with unlimited memory (= gets − compulsory − expired).
    pub inf_hits: u64,
    /// Reads of a key that was never set (first read, and its repeats in the same batch).
    pub compulsory: u64,
    /// Reads of a key whose TTL had run out.
    pub expired: u64,
    /// Hits of the static-optimal selection and the bytes it keeps.
    pub static_hits: u64,
    pub static_items: u64,
    pub static_bytes: u64,
    /// Distinct keys read or written, and their bytes (key + value + 48).
    pub distinct: u64,
    pub footprint: u64,
    /// Distinct keys requested (read or written) exactly once.
    pub once: u64,
}

impl Bound {
    pub fn static_ratio(&self) -> f64 {
        ratio(self.static_hits, self.gets)
    }
    pub fn inf_ratio(&self) -> f64 {
        ratio(self.inf_hits, self.gets)
    }
}

pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub fn item_cost(trace: &Trace, id: u32) -> u64 {
    trace.key_size as u64 + u64::from(trace.value_size[id as usize]) + ITEM_OVERHEAD
}

pub fn compute(trace: &Trace, mem_bytes: u64) -> Bound {
    let keys = trace.value_size.len();
    // Set time of each key (None: never set), and the hits each would get if always kept.
    let mut set_at: Vec<Option<f64>> = vec![None; keys];
    let mut hits = vec![0u32; keys];
    let mut requests = vec![0u32; keys];
    let mut b = Bound::default();
    let mut pending: Vec<u32> = Vec::with_capacity(trace.params.batch);
    for reqs in &trace.conns {
        for batch in reqs.chunks(trace.params.batch) {
            let t = trace.due(&batch[0]);
            pending.clear();
            for r in batch {
                let k = r.key as usize;
                requests[k] = requests[k].saturating_add(1);
                if r.write {
                    pending.push(r.key);
                    continue;
                }
                b.gets += 1;
                let ttl = f64::from(trace.ttl[k]);
                match set_at[k] {
                    None => {
                        b.compulsory += 1;
                        pending.push(r.key);
                    }
                    Some(s) if ttl > 0.0 && s + ttl <= t => {
                        b.expired += 1;
                        pending.push(r.key);
                    }
                    Some(_) => hits[k] += 1,
                }
            }
            for &k in &pending {
                set_at[k as usize] = Some(t);
            }
        }
    }
    b.inf_hits = b.gets - b.compulsory - b.expired;
    // Static optimum: keys by hits per byte, best first, while they fit.
    let mut cand: Vec<(u32, u64)> = Vec::new();
    for id in 0..keys as u32 {
        if requests[id as usize] > 0 {
            let cost = item_cost(trace, id);
            b.distinct += 1;
            b.once += u64::from(requests[id as usize] == 1);
            b.footprint += cost;
            if hits[id as usize] > 0 {
                cand.push((id, cost));
            }
        }
    }
    cand.sort_by(|x, y| {
        let dx = f64::from(hits[x.0 as usize]) / x.1 as f64;
        let dy = f64::from(hits[y.0 as usize]) / y.1 as f64;
        dy.total_cmp(&dx).then(x.0.cmp(&y.0))
    });
    for (id, cost) in cand {
        if b.static_bytes + cost <= mem_bytes {
            b.static_bytes += cost;
            b.static_items += 1;
            b.static_hits += u64::from(hits[id as usize]);
        }
    }
    b
}
