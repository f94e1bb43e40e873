//! Policy simulator (`--simulate`): the same trace, replayed in process against models of
//! published eviction policies, to tell what an online policy can reach on a profile and
//! which one to build. No server, no socket: a profile takes seconds.
//!
//! The models share the bound's accounting (`bound.rs`): memory = `-m`, item cost = key +
//! value + 48 bytes, batches in the order they are due (reads see the cache as it was when
//! the batch was due, then every miss and write is set). An item whose TTL ran out is a
//! miss and is dropped when read (it holds memory until then, or until evicted), or with
//! `eager_expiry` (`--sim-eager-expiry`) as soon as it runs out, as a perfect crawler would
//! (which gains 0.08 points on the TTL-heavy c4: expiry is not what it misses). So by
//! default a model's ratio is comparable with the static-optimal bound and with the other
//! models, not with a server's, which has less room. `SimOpts` models that room: a share of
//! `-m` (the side tables), slab chunks instead of exact sizes, or another per-item cost.
//! With ferrocache's (`--sim-slab --sim-memory-pct 92`) the S3-FIFO model comes within 0.1
//! to 1 point of the real server on the Twitter profiles.
//!
//! Models:
//! - `lru`: one LRU list (what memcached approximates);
//! - `s3fifo-t1`, `s3fifo-t2`: S3-FIFO (Yang et al., SOSP'23): a small FIFO of 10% of the bytes; an item
//!   read at least `threshold` times while there moves to the main FIFO, the others leave
//!   and their keys enter a ghost FIFO (as many bytes as the main queue); a key set again
//!   while in the ghost goes straight to the main queue, which is a CLOCK with a 2-bit count;
//! - `wtinylfu-w1`, `wtinylfu-w10`: W-TinyLFU (Einziger et al., and Caffeine): a window LRU
//!   of 1% or 10% of the bytes, then a segmented LRU (20% probation, 80% protected); a window item that leaves
//!   enters probation only if a count-min sketch (4 rows of 4-bit counters, halved every 10 ×
//!   its width reads, with a doorkeeper bit array) says it is read more often than each
//!   probation victim it would push out;
//! - `wtinylfu-adaptive`, `wtinylfu-adaptive-long-bytes`: W-TinyLFU whose window is resized
//!   by Caffeine's hill climber (every `items` reads, from 1%), the first with Caffeine's
//!   sketch, the second with a long memory (8-bit counts, halved 10 times less often) that
//!   admits by reads per byte. Neither reaches c4's target with slab memory (0.9040 and
//!   0.9012 against S3-FIFO's 0.9045), and on recency the climber recovers only to 0.62
//!   (memcached 0.646);
//! - `s3fifo-segments`, `s3fifo-segments-clean90`: S3-FIFO in a log-structured store (1 MiB
//!   segments, as Segcache): items appended to a small and a main log, evicted a whole
//!   segment at a time, items that were read copied forward; overwritten and expired copies
//!   stay as dead bytes until their segment goes, or (`clean90`) segments less than 90%
//!   live are compacted first. Its note gives the bytes copied per byte set and the share
//!   of the segments live items fill;
//! - `lfu-oracle`: keeps the items with the most reads per byte *so far* (counts never
//!   forgotten, evicted items included): a frequency-ranking policy with perfect memory, the
//!   most any frequency-based admission can learn online on a trace without drift;
//! - `lfu-oracle-count`: the same ranked by reads alone, blind to size: what of the oracle's
//!   lead comes from preferring small items.
//!
//! Owns: the models and the `--simulate` table. Must not touch sockets or the bound.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

use crate::bound::{self, Bound};
use crate::dist::mix;
use crate::trace::Trace;

/// No key / end of a list.
const NONE: u32 = u32::MAX;

/// Doubly linked lists threaded through per-key arrays: a key is in at most one list.
struct Lists {
    prev: Vec<u32>,
    next: Vec<u32>,
    /// Which list a key is in (0 = none).
    of: Vec<u8>,
    head: Vec<u32>,
    tail: Vec<u32>,
    bytes: Vec<u64>,
}

impl Lists {
    fn new(keys: usize, lists: usize) -> Lists {
        Lists {
            prev: vec![NONE; keys],
            next: vec![NONE; keys],
            of: vec![0; keys],
            head: vec![NONE; lists + 1],
            tail: vec![NONE; lists + 1],
            bytes: vec![0; lists + 1],
        }
    }

    fn push_head(&mut self, l: u8, k: u32, cost: u64) {
        let (ku, li) = (k as usize, l as usize);
        self.of[ku] = l;
        self.prev[ku] = NONE;
        self.next[ku] = self.head[li];
        if self.head[li] != NONE {
            self.prev[self.head[li] as usize] = k;
        } else {
            self.tail[li] = k;
        }
        self.head[li] = k;
        self.bytes[li] += cost;
    }

    fn unlink(&mut self, k: u32, cost: u64) -> u8 {
        let ku = k as usize;
        let l = self.of[ku];
        if l == 0 {
            return 0;
        }
        let li = l as usize;
        let (p, n) = (self.prev[ku], self.next[ku]);
        if p != NONE {
            self.next[p as usize] = n;
        } else {
            self.head[li] = n;
        }
        if n != NONE {
            self.prev[n as usize] = p;
        } else {
            self.tail[li] = p;
        }
        self.of[ku] = 0;
        self.bytes[li] -= cost;
        l
    }
}

/// A model: `get` says whether `k` is held (and records the read), `set` stores `k`
/// (evicting as needed), `remove` drops it (TTL ran out).
pub trait Model {
    fn get(&mut self, k: u32) -> bool;
    fn set(&mut self, k: u32, cost: u64);
    fn remove(&mut self, k: u32);
    /// Anything worth printing beside the hit ratio.
    fn note(&self) -> String {
        String::new()
    }
}

struct Lru {
    l: Lists,
    cost: Vec<u64>,
    cap: u64,
}

impl Model for Lru {
    fn get(&mut self, k: u32) -> bool {
        if self.l.of[k as usize] == 0 {
            return false;
        }
        let c = self.cost[k as usize];
        self.l.unlink(k, c);
        self.l.push_head(1, k, c);
        true
    }
    fn set(&mut self, k: u32, cost: u64) {
        self.remove(k);
        self.cost[k as usize] = cost;
        self.l.push_head(1, k, cost);
        while self.l.bytes[1] > self.cap {
            let t = self.l.tail[1];
            self.remove(t);
        }
    }
    fn remove(&mut self, k: u32) {
        self.l.unlink(k, self.cost[k as usize]);
    }
}

const SMALL: u8 = 1;
const MAIN: u8 = 2;

/// S3-FIFO's ghost: a FIFO of the keys evicted from the small queue, up to `cap` bytes of
/// their items. A key is a ghost while its newest entry is in the FIFO.
struct Ghost {
    fifo: VecDeque<(u32, u32, u64)>,
    /// Per key: the stamp of its newest entry (0: not a ghost).
    stamp_of: Vec<u32>,
    bytes: u64,
    cap: u64,
    stamp: u32,
}

impl Ghost {
    fn new(keys: usize, cap: u64) -> Ghost {
        Ghost {
            fifo: VecDeque::new(),
            stamp_of: vec![0; keys],
            bytes: 0,
            cap,
            stamp: 0,
        }
    }

    fn remember(&mut self, k: u32, cost: u64) {
        self.stamp += 1;
        self.stamp_of[k as usize] = self.stamp;
        self.fifo.push_back((k, self.stamp, cost));
        self.bytes += cost;
        while self.bytes > self.cap {
            let Some((g, at, c)) = self.fifo.pop_front() else {
                break;
            };
            self.bytes -= c;
            if self.stamp_of[g as usize] == at {
                self.stamp_of[g as usize] = 0;
            }
        }
    }

    /// Where S3-FIFO stores key `k`, which was in queue `was` (0: none): the main queue if
    /// it was there or is a ghost (then no longer), else the small queue.
    fn placement(&mut self, k: u32, was: u8) -> u8 {
        let ghost = std::mem::take(&mut self.stamp_of[k as usize]) != 0;
        if was == MAIN || ghost { MAIN } else { SMALL }
    }
}

struct S3Fifo {
    l: Lists,
    cost: Vec<u64>,
    freq: Vec<u8>,
    cap: u64,
    small_cap: u64,
    threshold: u8,
    ghost: Ghost,
}

impl S3Fifo {
    fn evict_one(&mut self) {
        let small_over = self.l.bytes[SMALL as usize] > self.small_cap;
        if small_over || self.l.tail[MAIN as usize] == NONE {
            let t = self.l.tail[SMALL as usize];
            let c = self.cost[t as usize];
            self.l.unlink(t, c);
            if self.freq[t as usize] >= self.threshold {
                self.freq[t as usize] = 0;
                self.l.push_head(MAIN, t, c);
            } else {
                self.ghost.remember(t, c);
            }
        } else {
            let t = self.l.tail[MAIN as usize];
            let c = self.cost[t as usize];
            self.l.unlink(t, c);
            if self.freq[t as usize] > 0 {
                self.freq[t as usize] -= 1;
                self.l.push_head(MAIN, t, c);
            }
        }
    }
}

impl Model for S3Fifo {
    fn get(&mut self, k: u32) -> bool {
        if self.l.of[k as usize] == 0 {
            return false;
        }
        let f = &mut self.freq[k as usize];
        *f = (*f + 1).min(3);
        true
    }
    fn set(&mut self, k: u32, cost: u64) {
        let ku = k as usize;
        let was = self.l.unlink(k, self.cost[ku]);
        let to = self.ghost.placement(k, was);
        if was == 0 {
            self.freq[ku] = 0;
        }
        self.cost[ku] = cost;
        self.l.push_head(to, k, cost);
        while self.l.bytes[SMALL as usize] + self.l.bytes[MAIN as usize] > self.cap {
            self.evict_one();
        }
    }
    fn remove(&mut self, k: u32) {
        self.l.unlink(k, self.cost[k as usize]);
    }
}

/// Count-min sketch with counters of at most `max` (15: Caffeine's 4 bits; 255: 8 bits),
/// kept in bytes, a doorkeeper and halving every `period` × its width reads.
pub struct Sketch {
    table: Vec<u8>,
    mask: usize,
    door: Vec<u64>,
    adds: u64,
    sample: u64,
    max: u8,
}

impl Sketch {
    pub fn new(width: usize) -> Sketch {
        Sketch::with(width, 15, 10)
    }

    fn with(width: usize, max: u8, period: u64) -> Sketch {
        let w = width.next_power_of_two().max(64);
        Sketch {
            table: vec![0; w * 4],
            mask: w - 1,
            door: vec![0; w / 64],
            adds: 0,
            sample: period * w as u64,
            max,
        }
    }

    fn slots(&self, k: u32) -> [usize; 4] {
        let h = mix(u64::from(k) ^ 0x9e37_79b9_7f4a_7c15);
        let w = self.mask + 1;
        std::array::from_fn(|i| i * w + ((h >> (i * 16)) as usize & self.mask))
    }

    fn door_bit(&self, k: u32) -> (usize, u64) {
        let h = mix(u64::from(k) ^ 0x51_7cc1_b727_220a) as usize & (self.door.len() * 64 - 1);
        (h / 64, 1 << (h % 64))
    }

    fn add(&mut self, k: u32) {
        let (w, b) = self.door_bit(k);
        if self.door[w] & b == 0 {
            self.door[w] |= b;
        } else {
            for s in self.slots(k) {
                self.table[s] = self.table[s].saturating_add(1).min(self.max);
            }
        }
        self.adds += 1;
        if self.adds >= self.sample {
            self.adds /= 2;
            for c in &mut self.table {
                *c /= 2;
            }
            self.door.iter_mut().for_each(|d| *d = 0);
        }
    }

    fn freq(&self, k: u32) -> u32 {
        let (w, b) = self.door_bit(k);
        let min = self
            .slots(k)
            .iter()
            .map(|&s| self.table[s])
            .min()
            .unwrap_or(0);
        u32::from(min) + u32::from(self.door[w] & b != 0)
    }
}

const WINDOW: u8 = 1;
const PROBATION: u8 = 2;
const PROTECTED: u8 = 3;

pub struct WTinyLfu {
    l: Lists,
    cost: Vec<u64>,
    window_cap: u64,
    main_cap: u64,
    protected_cap: u64,
    sketch: Sketch,
    /// Admit by reads per byte (the candidate's count over its size against each
    /// victim's), not by reads alone.
    pub per_byte: bool,
    /// Resize the window by hill climbing on the hit ratio (Caffeine).
    climber: Option<Climber>,
}

/// Caffeine's hill climber (`FrequencySketch`'s companion in `BoundedLocalCache`): every
/// `sample` reads, move the window's share of memory by `step` in the direction that last
/// raised the hit ratio (reverse when it fell); the step decays by 2% a sample and is reset
/// to 6.25% of memory when the hit ratio moves by 5 points or more (the workload changed).
pub struct Climber {
    sample: u64,
    reads: u64,
    hits: u64,
    prev: f64,
    /// Signed, in bytes.
    step: f64,
    mem: u64,
}

impl Climber {
    const STEP: f64 = 0.0625;
    const DECAY: f64 = 0.98;
    const RESTART: f64 = 0.05;

    pub fn new(mem: u64, sample: u64) -> Climber {
        Climber {
            sample: sample.max(1),
            reads: 0,
            hits: 0,
            prev: 0.0,
            step: -Climber::STEP * mem as f64,
            mem,
        }
    }

    /// Records a read; at the end of a sample, the window's new size in bytes.
    pub fn read(&mut self, hit: bool, window: u64) -> Option<u64> {
        self.reads += 1;
        self.hits += u64::from(hit);
        if self.reads < self.sample {
            return None;
        }
        let rate = self.hits as f64 / self.reads as f64;
        let change = rate - self.prev;
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= Climber::RESTART {
            Climber::STEP * self.mem as f64 * amount.signum()
        } else {
            Climber::DECAY * amount
        };
        self.prev = rate;
        (self.reads, self.hits) = (0, 0);
        let (lo, hi) = (self.mem as f64 * 0.005, self.mem as f64 * 0.8);
        Some((window as f64 + amount).clamp(lo, hi) as u64)
    }
}

impl WTinyLfu {
    pub fn new(keys: usize, mem: u64, window_cap: u64, sketch: Sketch) -> WTinyLfu {
        let main_cap = mem - window_cap;
        WTinyLfu {
            l: Lists::new(keys, 3),
            cost: vec![0; keys],
            window_cap,
            main_cap,
            protected_cap: main_cap * 8 / 10,
            sketch,
            per_byte: false,
            climber: None,
        }
    }

    fn main_bytes(&self) -> u64 {
        self.l.bytes[PROBATION as usize] + self.l.bytes[PROTECTED as usize]
    }

    /// The main segments' next victim: probation's oldest, else protected's (`NONE` if both
    /// are empty).
    fn main_victim(&self) -> u32 {
        match self.l.tail[PROBATION as usize] {
            NONE => self.l.tail[PROTECTED as usize],
            v => v,
        }
    }

    /// Candidate `cand` (read `fc` times, `cc` bytes) wins over victim `v`.
    fn wins(&self, fc: u32, cc: u64, v: u32) -> bool {
        let fv = self.sketch.freq(v);
        if self.per_byte {
            u64::from(fc) * self.cost[v as usize] > u64::from(fv) * cc
        } else {
            fc > fv
        }
    }

    /// The window takes `window` bytes of memory, the main segments the rest: items move
    /// between them without admission (Caffeine's `climb`), oldest first.
    pub fn resize(&mut self, window: u64) {
        let mem = self.window_cap + self.main_cap;
        self.window_cap = window;
        self.main_cap = mem - window;
        self.protected_cap = self.main_cap * 8 / 10;
        while self.main_bytes() > self.main_cap {
            let v = self.main_victim();
            let vc = self.cost[v as usize];
            self.l.unlink(v, vc);
            self.l.push_head(WINDOW, v, vc);
        }
        while self.l.bytes[WINDOW as usize] > self.window_cap {
            let t = self.l.tail[WINDOW as usize];
            let tc = self.cost[t as usize];
            self.l.unlink(t, tc);
            self.l.push_head(PROBATION, t, tc);
        }
        self.demote();
        while self.main_bytes() > self.main_cap {
            let v = self.main_victim();
            let vc = self.cost[v as usize];
            self.l.unlink(v, vc);
        }
    }

    /// The protected segment's oldest items over its share go back to probation.
    fn demote(&mut self) {
        while self.l.bytes[PROTECTED as usize] > self.protected_cap {
            let t = self.l.tail[PROTECTED as usize];
            let tc = self.cost[t as usize];
            self.l.unlink(t, tc);
            self.l.push_head(PROBATION, t, tc);
        }
    }

    /// The window's oldest items leave for probation, if the sketch admits them.
    fn drain_window(&mut self) {
        while self.l.bytes[WINDOW as usize] > self.window_cap {
            let cand = self.l.tail[WINDOW as usize];
            let cc = self.cost[cand as usize];
            self.l.unlink(cand, cc);
            let fc = self.sketch.freq(cand);
            let mut admit = true;
            while self.main_bytes() + cc > self.main_cap {
                let v = self.main_victim();
                if v == NONE {
                    break;
                }
                if self.wins(fc, cc, v) {
                    let vc = self.cost[v as usize];
                    self.l.unlink(v, vc);
                } else {
                    admit = false;
                    break;
                }
            }
            if admit {
                self.l.push_head(PROBATION, cand, cc);
            }
        }
    }
}

impl Model for WTinyLfu {
    fn get(&mut self, k: u32) -> bool {
        self.sketch.add(k);
        let ku = k as usize;
        let c = self.cost[ku];
        let hit = match self.l.unlink(k, c) {
            0 => false,
            WINDOW => {
                self.l.push_head(WINDOW, k, c);
                true
            }
            _ => {
                self.l.push_head(PROTECTED, k, c);
                self.demote();
                true
            }
        };
        let window = self.window_cap;
        if let Some(w) = self.climber.as_mut().and_then(|c| c.read(hit, window)) {
            self.resize(w);
        }
        hit
    }
    fn set(&mut self, k: u32, cost: u64) {
        let ku = k as usize;
        let was = self.l.unlink(k, self.cost[ku]);
        self.cost[ku] = cost;
        if was == 0 || was == WINDOW {
            self.l.push_head(WINDOW, k, cost);
            self.drain_window();
        } else {
            // An update keeps its place in the main segments (Caffeine), within the limit.
            self.l.push_head(was, k, cost);
            while self.main_bytes() > self.main_cap {
                let v = self.main_victim();
                let vc = self.cost[v as usize];
                self.l.unlink(v, vc);
            }
        }
    }
    fn remove(&mut self, k: u32) {
        self.l.unlink(k, self.cost[k as usize]);
    }
    fn note(&self) -> String {
        match self.climber {
            Some(_) => format!(
                "window at the end {:.1}% of memory",
                100.0 * self.window_cap as f64 / (self.window_cap + self.main_cap) as f64
            ),
            None => String::new(),
        }
    }
}

/// Keeps the items with the most reads per byte so far; counts survive eviction.
struct LfuOracle {
    reads: Vec<u32>,
    cost: Vec<u64>,
    held: Vec<bool>,
    /// (reads per byte × 2^32, or reads × 2^32 without `per_byte`, key) of the held items.
    order: BTreeSet<(u64, u32)>,
    bytes: u64,
    cap: u64,
    per_byte: bool,
}

impl LfuOracle {
    fn prio(&self, k: u32) -> u64 {
        let reads = u64::from(self.reads[k as usize]) << 32;
        if self.per_byte {
            reads / self.cost[k as usize].max(1)
        } else {
            reads
        }
    }
}

impl Model for LfuOracle {
    fn get(&mut self, k: u32) -> bool {
        let ku = k as usize;
        if !self.held[ku] {
            self.reads[ku] += 1;
            return false;
        }
        self.order.remove(&(self.prio(k), k));
        self.reads[ku] += 1;
        self.order.insert((self.prio(k), k));
        true
    }
    fn set(&mut self, k: u32, cost: u64) {
        self.remove(k);
        let ku = k as usize;
        self.cost[ku] = cost;
        self.held[ku] = true;
        self.bytes += cost;
        self.order.insert((self.prio(k), k));
        while self.bytes > self.cap {
            let Some((_, v)) = self.order.pop_first() else {
                break;
            };
            self.held[v as usize] = false;
            self.bytes -= self.cost[v as usize];
        }
    }
    fn remove(&mut self, k: u32) {
        let ku = k as usize;
        if self.held[ku] {
            self.order.remove(&(self.prio(k), k));
            self.held[ku] = false;
            self.bytes -= self.cost[ku];
        }
    }
}

/// S3-FIFO in a log-structured store (segments, as Segcache keeps items): items are
/// appended to fixed-size segments of a small or a main log; memory is whole segments. When
/// the segments fill `-m`, the oldest segment of the small log (while that log holds more
/// than its share) or of the main log is emptied: live items of the small log that were
/// read are copied to the main log, the others leave for the ghost; live items of the main
/// log that were read since their last pass are copied to its head (CLOCK by copying), the
/// others leave. Overwritten and expired copies stay as dead bytes until their segment is
/// emptied, or, with `clean_below`, until a main segment whose live share fell below it is
/// compacted (its live items copied to the head, counts kept) instead of evicting one.
struct SegLog {
    /// Per log (`SMALL - 1`, `MAIN - 1`): segment ids, oldest first.
    logs: [VecDeque<usize>; 2],
    /// Per segment id: its (key, version) entries and its live bytes.
    entries: Vec<Vec<(u32, u32)>>,
    seg_live: Vec<u64>,
    /// Bytes appended to each log's newest segment.
    head_bytes: [u64; 2],
    seg: u64,
    cap_segs: usize,
    small_segs: usize,
    clean_below: Option<f64>,
    /// Version of each key's live copy; a segment entry with another version is dead.
    ver: Vec<u32>,
    next_ver: u32,
    /// Which log holds a key's live copy (0: none), and in which segment.
    log_of: Vec<u8>,
    seg_of: Vec<u32>,
    cost: Vec<u64>,
    freq: Vec<u8>,
    ghost: Ghost,
    /// Bytes copied by evictions and compactions, bytes set.
    copied: u64,
    set_bytes: u64,
    /// Sum over evictions of the live share of the segments.
    live_share: f64,
    evictions: u64,
}

impl SegLog {
    fn new(keys: usize, mem: u64, seg: u64, small_pct: u64, clean_below: Option<f64>) -> SegLog {
        let cap_segs = ((mem / seg) as usize).max(2);
        SegLog {
            logs: [VecDeque::new(), VecDeque::new()],
            entries: Vec::new(),
            seg_live: Vec::new(),
            head_bytes: [0; 2],
            seg,
            cap_segs,
            small_segs: (cap_segs * small_pct as usize / 100).max(1),
            clean_below,
            ver: vec![0; keys],
            next_ver: 0,
            log_of: vec![0; keys],
            seg_of: vec![0; keys],
            cost: vec![0; keys],
            freq: vec![0; keys],
            ghost: Ghost::new(keys, mem - mem * small_pct / 100),
            copied: 0,
            set_bytes: 0,
            live_share: 0.0,
            evictions: 0,
        }
    }

    fn segments(&self) -> usize {
        self.logs[0].len() + self.logs[1].len()
    }

    fn append(&mut self, log: u8, k: u32) {
        let (l, c) = (usize::from(log - 1), self.cost[k as usize]);
        if self.logs[l].is_empty() || self.head_bytes[l] + c > self.seg {
            self.logs[l].push_back(self.entries.len());
            self.entries.push(Vec::new());
            self.seg_live.push(0);
            self.head_bytes[l] = 0;
        }
        let id = self.entries.len() - 1;
        let id = *self.logs[l].back().unwrap_or(&id);
        self.next_ver += 1;
        let ku = k as usize;
        self.ver[ku] = self.next_ver;
        self.log_of[ku] = log;
        self.seg_of[ku] = id as u32;
        self.head_bytes[l] += c;
        self.seg_live[id] += c;
        self.entries[id].push((k, self.next_ver));
    }

    /// Drop key `k`'s live copy (it becomes dead bytes of its segment).
    fn kill(&mut self, k: u32) {
        let ku = k as usize;
        if self.log_of[ku] != 0 {
            self.log_of[ku] = 0;
            self.seg_live[self.seg_of[ku] as usize] -= self.cost[ku];
        }
    }

    /// The live entries of segment `id`, which has left its log.
    fn take_live(&mut self, id: usize) -> Vec<u32> {
        let entries = std::mem::take(&mut self.entries[id]);
        entries
            .into_iter()
            .filter(|&(k, v)| self.ver[k as usize] == v && self.log_of[k as usize] != 0)
            .map(|(k, _)| k)
            .collect()
    }

    /// Compact the segment (not a log's newest) with the least live bytes, if below
    /// `clean_below` of a segment: its live items are copied to the head of their log,
    /// counts kept. `true` if one was.
    fn compact(&mut self) -> bool {
        let Some(limit) = self.clean_below else {
            return false;
        };
        let mut best: Option<(u64, usize, usize)> = None;
        for (l, log) in self.logs.iter().enumerate() {
            for (pos, &id) in log.iter().enumerate().take(log.len().saturating_sub(1)) {
                if best.is_none_or(|(b, _, _)| self.seg_live[id] < b) {
                    best = Some((self.seg_live[id], l, pos));
                }
            }
        }
        let Some((live, l, pos)) = best else {
            return false;
        };
        if live as f64 >= limit * self.seg as f64 {
            return false;
        }
        let Some(id) = self.logs[l].remove(pos) else {
            return false;
        };
        for k in self.take_live(id) {
            self.kill(k);
            self.copied += self.cost[k as usize];
            self.append(l as u8 + 1, k);
        }
        true
    }

    fn evict_segment(&mut self) {
        let live: u64 = self
            .logs
            .iter()
            .flatten()
            .map(|&id| self.seg_live[id])
            .sum();
        self.live_share += live as f64 / (self.segments() as f64 * self.seg as f64);
        self.evictions += 1;
        if self.compact() {
            return;
        }
        let small = self.logs[0].len() > self.small_segs || self.logs[1].len() <= 1;
        let l = usize::from(!small);
        let Some(id) = self.logs[l].pop_front() else {
            return;
        };
        if self.logs[l].is_empty() {
            self.head_bytes[l] = 0;
        }
        for k in self.take_live(id) {
            let ku = k as usize;
            self.kill(k);
            if small && self.freq[ku] >= 1 {
                self.freq[ku] = 0;
                self.copied += self.cost[ku];
                self.append(MAIN, k);
            } else if small {
                self.ghost.remember(k, self.cost[ku]);
            } else if self.freq[ku] > 0 {
                self.freq[ku] -= 1;
                self.copied += self.cost[ku];
                self.append(MAIN, k);
            }
        }
    }
}

impl Model for SegLog {
    fn get(&mut self, k: u32) -> bool {
        if self.log_of[k as usize] == 0 {
            return false;
        }
        let f = &mut self.freq[k as usize];
        *f = (*f + 1).min(3);
        true
    }
    fn set(&mut self, k: u32, cost: u64) {
        let ku = k as usize;
        let was = self.log_of[ku];
        let to = self.ghost.placement(k, was);
        if was == 0 {
            self.freq[ku] = 0;
        }
        self.kill(k);
        self.cost[ku] = cost;
        self.set_bytes += cost;
        self.append(to, k);
        // Each pass over a main segment lowers the counts it copies and a compaction frees
        // at least `1 - clean_below` of a segment, so this ends.
        while self.segments() > self.cap_segs {
            self.evict_segment();
        }
    }
    fn remove(&mut self, k: u32) {
        self.kill(k);
    }
    fn note(&self) -> String {
        format!(
            "{:.2} bytes copied per byte set; live items fill {:.0}% of the segments",
            self.copied as f64 / self.set_bytes.max(1) as f64,
            100.0 * self.live_share / self.evictions.max(1) as f64
        )
    }
}

/// Segment size of the log-structured model (Segcache's default).
const SEGMENT: u64 = 1 << 20;

/// The log-structured S3-FIFO model with segments of `seg` bytes, compacting segments less
/// than `clean_below` live first.
pub fn run_segments(
    trace: &Trace,
    mem: u64,
    opts: SimOpts,
    seg: u64,
    clean_below: Option<f64>,
) -> SimRun {
    let mut m = SegLog::new(trace.value_size.len(), mem, seg, 10, clean_below);
    let (hits, gets) = replay(trace, &mut m, opts);
    let name = match clean_below {
        None => "s3fifo-segments".to_string(),
        Some(c) => format!("s3fifo-segments-clean{:.0}", c * 100.0),
    };
    SimRun {
        name,
        hits,
        gets,
        note: m.note(),
    }
}

/// One model's result on one trace.
pub struct SimRun {
    pub name: String,
    pub hits: u64,
    pub gets: u64,
    pub note: String,
}

/// The batches of every connection, in the order they are due (then by connection).
fn batches(trace: &Trace) -> Vec<(f64, &[crate::trace::Req])> {
    let mut all: Vec<(f64, usize, &[crate::trace::Req])> = Vec::new();
    for (c, reqs) in trace.conns.iter().enumerate() {
        for b in reqs.chunks(trace.params.batch) {
            all.push((trace.due(&b[0]), c, b));
        }
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().map(|(t, _, b)| (t, b)).collect()
}

/// How the models count memory.
#[derive(Clone, Copy, Debug)]
pub struct SimOpts {
    /// Memory given to the models, in percent of `-m` (a server's side tables take some).
    pub memory_pct: u64,
    /// Item cost = the chunk of ferrocache's default slab classes that holds a 34-byte header,
    /// the key and the value (88 bytes, then × 1.25 rounded up to 8), instead of the bound's
    /// key + value + 48: what a slab store pays, index aside.
    pub slab: bool,
    /// Per-item bytes besides key and value when not `slab` (the bound's 48 by default; a
    /// segment store such as Segcache pays about 5, plus its index).
    pub overhead: u64,
    /// Drop an item as soon as its TTL runs out (else when it is next read).
    pub eager_expiry: bool,
}

impl Default for SimOpts {
    fn default() -> SimOpts {
        SimOpts {
            memory_pct: 100,
            slab: false,
            overhead: bound::ITEM_OVERHEAD,
            eager_expiry: false,
        }
    }
}

/// The cost of key `k`'s item under `opts`.
pub fn cost_of(trace: &Trace, k: u32, opts: SimOpts) -> u64 {
    if !opts.slab {
        return trace.key_size as u64 + u64::from(trace.value_size[k as usize]) + opts.overhead;
    }
    let need = 34 + trace.key_size as u64 + u64::from(trace.value_size[k as usize]);
    let mut chunk = 88u64;
    while chunk < need && chunk < 512 * 1024 {
        chunk = (chunk * 5 / 4).div_ceil(8) * 8;
    }
    chunk.max(need)
}

fn replay(trace: &Trace, model: &mut dyn Model, opts: SimOpts) -> (u64, u64) {
    let keys = trace.value_size.len();
    let mut expires: Vec<f64> = vec![f64::INFINITY; keys];
    let (mut hits, mut gets) = (0u64, 0u64);
    let mut pending: Vec<u32> = Vec::with_capacity(trace.params.batch);
    // With `eager_expiry`: (expiry time's bits, key), soonest first; an entry whose key
    // was set again since is stale (its time no longer matches).
    let mut due: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
    for (t, batch) in batches(trace) {
        pending.clear();
        while let Some(&Reverse((at, k))) = due.peek() {
            // Times are positive, so their bits order as they do.
            if f64::from_bits(at) > t {
                break;
            }
            due.pop();
            if expires[k as usize].to_bits() == at {
                model.remove(k);
                expires[k as usize] = f64::INFINITY;
            }
        }
        for r in batch {
            if r.write {
                pending.push(r.key);
                continue;
            }
            gets += 1;
            let k = r.key as usize;
            if expires[k] <= t {
                model.remove(r.key);
                expires[k] = f64::INFINITY;
            }
            if model.get(r.key) {
                hits += 1;
            } else {
                pending.push(r.key);
            }
        }
        for &k in &pending {
            let ttl = trace.ttl[k as usize];
            expires[k as usize] = if ttl > 0 {
                t + f64::from(ttl)
            } else {
                f64::INFINITY
            };
            if opts.eager_expiry && ttl > 0 {
                due.push(Reverse((expires[k as usize].to_bits(), k)));
            }
            model.set(k, cost_of(trace, k, opts));
        }
    }
    (hits, gets)
}

/// Every model on `trace` with `opts.memory_pct` of `mem` bytes.
pub fn run(trace: &Trace, mem: u64, opts: SimOpts) -> Vec<SimRun> {
    let mem = mem * opts.memory_pct / 100;
    let keys = trace.value_size.len();
    let mean_cost = {
        let total: u64 = (0..keys as u32).map(|k| cost_of(trace, k, opts)).sum();
        (total / keys.max(1) as u64).max(1)
    };
    let items = (mem / mean_cost) as usize;
    let mut runs = Vec::new();
    let mut go = |name: String, m: &mut dyn Model| {
        let (hits, gets) = replay(trace, m, opts);
        let note = m.note();
        runs.push(SimRun {
            name,
            hits,
            gets,
            note,
        });
    };
    go(
        "lru".into(),
        &mut Lru {
            l: Lists::new(keys, 1),
            cost: vec![0; keys],
            cap: mem,
        },
    );
    for threshold in [1, 2] {
        go(
            format!("s3fifo-t{threshold}"),
            &mut S3Fifo {
                l: Lists::new(keys, 2),
                cost: vec![0; keys],
                freq: vec![0; keys],
                cap: mem,
                small_cap: mem / 10,
                threshold,
                ghost: Ghost::new(keys, mem - mem / 10),
            },
        );
    }
    for window_pct in [1, 10] {
        let sketch = Sketch::new(items);
        go(
            format!("wtinylfu-w{window_pct}"),
            &mut WTinyLfu::new(keys, mem, mem * window_pct / 100, sketch),
        );
    }
    // Adaptive: Caffeine's (4-bit counts, halved every 10 × items reads, admission by
    // reads), and one with a long memory (8-bit counts, halved every 100 × items reads)
    // that admits by reads per byte. Both climb every `items` reads from a 1% window.
    for (name, max, period, per_byte) in [
        ("wtinylfu-adaptive", 15, 10, false),
        ("wtinylfu-adaptive-long-bytes", 255, 100, true),
    ] {
        let mut m = WTinyLfu::new(keys, mem, mem / 100, Sketch::with(items, max, period));
        m.per_byte = per_byte;
        m.climber = Some(Climber::new(mem, items as u64));
        go(name.into(), &mut m);
    }
    for (name, per_byte) in [("lfu-oracle", true), ("lfu-oracle-count", false)] {
        go(
            name.into(),
            &mut LfuOracle {
                reads: vec![0; keys],
                cost: vec![0; keys],
                held: vec![false; keys],
                order: BTreeSet::new(),
                bytes: 0,
                cap: mem,
                per_byte,
            },
        );
    }
    for clean in [None, Some(0.9)] {
        runs.push(run_segments(trace, mem, opts, SEGMENT, clean));
    }
    runs
}

/// Prints one profile's table: each model's hit ratio and the share of the gap between
/// `lru` and the static optimum it closes.
pub fn print(name: &str, bound: &Bound, runs: &[SimRun]) {
    let opt = bound.static_ratio();
    let lru = runs.first().map_or(0.0, |r| bound::ratio(r.hits, r.gets));
    println!(
        "\n### {name}: static-opt {opt:.4}, unlimited {:.4}",
        bound.inf_ratio()
    );
    println!("| model | hit ratio | gap to static-opt closed vs lru | note |\n|---|---:|---:|---|");
    for r in runs {
        let h = bound::ratio(r.hits, r.gets);
        let closed = if opt > lru {
            format!("{:.0}%", 100.0 * (h - lru) / (opt - lru))
        } else {
            "-".into()
        };
        println!("| {} | {h:.4} | {closed} | {} |", r.name, r.note);
    }
}
