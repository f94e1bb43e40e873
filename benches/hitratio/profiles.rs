//! The workload profiles: six taken from the published per-cluster statistics of Twitter's
//! production cache traces (`twitter/cache-trace`, `stat/2020Mar.md`, one week of March
//! 2020), one recency-heavy profile and one scan profile.
//!
//! Owns: the numbers of each profile and how a cluster's statistics map to them. Must not
//! generate requests (trace.rs) or talk to servers.
//!
//! Mapping from a cluster's row to a profile:
//! * `key size` → every key is exactly that long (`k` + zero-padded id; at least 10 bytes).
//! * `value size` (the mean; no percentiles are published) → per-key log-normal sizes with
//!   that mean and σ = 0.6, clamped to 1..=512 KiB.
//! * `Zipf alpha` → popularity Zipf(α) over `n` keys, `n` sized so the key universe is
//!   `universe_x` times `-m` in bytes (key + mean value + 48): 4 for the flatter clusters,
//!   16 for the steep ones (α > 1.2), whose traces touch only a small part of the universe,
//!   so that the bytes a trace touches are 1.3 to 6 times `-m`.
//! * `one-hit-wonder ratio` → a share of requests go to keys requested exactly once, chosen
//!   (trace.rs) so that this is the share of the trace's distinct keys requested once. In
//!   a trace of minutes (not Twitter's week) the Zipf tail alone already leaves more than
//!   that share of keys requested once for the steep clusters, which then get none.
//! * `common TTL` → each key draws its TTL from the listed mix (weights not listed: no TTL),
//!   scaled by `--ttl-scale` (default 1/20, so 60 s → 3 s) to expire within the run.
//! * `operation` → get/gets are reads; the writes a cache-aside client already makes (one set
//!   per miss, at the production miss ratio) are dropped, and what is left over
//!   (`write share − read share × production miss ratio`, if positive) becomes write-through
//!   `set`s of Zipf-popular keys.

/// How the keys of a profile are drawn.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Zipf(`alpha`) over the key universe plus one-hit wonders (`ohw`: the share of the
    /// trace's distinct keys requested exactly once, as Twitter reports it).
    Zipf { alpha: f64, ohw: f64 },
    /// A hot set that moves: rank r ~ Zipf(`alpha`) over `window` ranks maps to key
    /// `window + ⌊i·drift⌋ − r` at request i, so `drift` new keys become the hottest per
    /// request and each key cools down as newer ones arrive (news-feed-like recency).
    Recency {
        alpha: f64,
        window: usize,
        drift: f64,
    },
    /// Zipf(`alpha`) over the universe; between `from` and `to` (fractions of the trace) a
    /// `share` of requests are a one-pass sweep over fresh keys, each requested once.
    Scan {
        alpha: f64,
        from: f64,
        to: f64,
        share: f64,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub name: &'static str,
    /// What it is based on, one line (printed by `--list` and in the report).
    pub basis: &'static str,
    pub key_size: u32,
    pub value_mean: f64,
    pub value_sigma: f64,
    /// (TTL in trace seconds, share of keys); the rest of the keys have no TTL.
    pub ttls: &'static [(f64, f64)],
    /// Share of all requests that are write-through sets.
    pub write_share: f64,
    /// Key universe bytes (key + mean value + 48 per key) over `-m`.
    pub universe_x: f64,
    pub shape: Shape,
}

const H: f64 = 3600.0;
const D: f64 = 86400.0;

pub const PROFILES: &[Profile] = &[
    Profile {
        name: "c52",
        basis: "cluster52: storage, Twitter's pick for miss-ratio studies; 273 B values, \
                α 1.21, 19% one-hit wonders, TTL 12h-14d (no expiry in the run)",
        key_size: 20,
        value_mean: 273.0,
        value_sigma: 0.6,
        ttls: &[(D, 0.65), (14.0 * D, 0.27), (12.0 * H, 0.07)],
        // add .04 + cas .02 − get/gets .93 × miss .0189
        write_share: 0.04,
        universe_x: 16.0,
        shape: Shape::Zipf {
            alpha: 1.2117,
            ohw: 0.1936,
        },
    },
    Profile {
        name: "c29",
        basis: "cluster29: 799 B values, α 1.23, 23% one-hit wonders, TTL 1h/2h; \
                sets (13%) are all cache-aside fills (miss ratio .22)",
        key_size: 36,
        value_mean: 799.0,
        value_sigma: 0.6,
        ttls: &[(H, 0.67), (2.0 * H, 0.33)],
        write_share: 0.0,
        universe_x: 16.0,
        shape: Shape::Zipf {
            alpha: 1.2323,
            ohw: 0.2304,
        },
    },
    Profile {
        name: "c4",
        basis: "cluster4: TTL-heavy (60 s 39%, 300 s 24%, 600 s 12%, 1h-1d 25%), large \
                2439 B values, low α 1.10, 29% one-hit wonders",
        key_size: 67,
        value_mean: 2439.0,
        value_sigma: 0.6,
        ttls: &[
            (60.0, 0.39),
            (300.0, 0.24),
            (H, 0.13),
            (600.0, 0.12),
            (4.0 * H, 0.09),
            (D, 0.03),
        ],
        write_share: 0.0,
        universe_x: 4.0,
        shape: Shape::Zipf {
            alpha: 1.1004,
            ohw: 0.2933,
        },
    },
    Profile {
        name: "c45",
        basis: "cluster45: small 120 B values, 10 B keys, flat α 0.64, 49% one-hit \
                wonders, TTL 15d; adds (15%) are the fills",
        key_size: 10,
        value_mean: 120.0,
        value_sigma: 0.6,
        ttls: &[(15.0 * D, 1.0)],
        write_share: 0.0,
        universe_x: 4.0,
        shape: Shape::Zipf {
            alpha: 0.6372,
            ohw: 0.4874,
        },
    },
    Profile {
        name: "c24",
        basis: "cluster24: steep α 1.37, 699 B values, 6% one-hit wonders, mixed TTLs \
                (60 s 19%, 14d 71%, 1h/1d/30d)",
        key_size: 32,
        value_mean: 699.0,
        value_sigma: 0.6,
        ttls: &[
            (14.0 * D, 0.71),
            (60.0, 0.19),
            (30.0 * D, 0.03),
            (D, 0.02),
            (H, 0.02),
        ],
        write_share: 0.0,
        universe_x: 16.0,
        shape: Shape::Zipf {
            alpha: 1.3726,
            ohw: 0.0565,
        },
    },
    Profile {
        name: "c48",
        basis: "cluster48: write-heavy (set 35%: 20% write-through beyond the fills), tiny \
                70 B values, α 0.82, 44% one-hit wonders, TTL 1d",
        key_size: 44,
        value_mean: 70.0,
        value_sigma: 0.6,
        ttls: &[(D, 1.0)],
        // set .35 − get .65 × miss .2253
        write_share: 0.20,
        universe_x: 4.0,
        shape: Shape::Zipf {
            alpha: 0.8191,
            ohw: 0.4428,
        },
    },
    Profile {
        name: "recency",
        basis: "synthetic: a hot set that moves (a new hottest key every 10 requests, \
                Zipf(1.0) over the 1M newest), 300 B values, no TTL",
        key_size: 24,
        value_mean: 300.0,
        value_sigma: 0.6,
        ttls: &[],
        write_share: 0.0,
        universe_x: 0.0,
        shape: Shape::Recency {
            alpha: 1.0,
            window: 1_000_000,
            drift: 0.1,
        },
    },
    Profile {
        name: "scan",
        basis: "synthetic: Zipf(1.0) over 3x -m with 300 B values, no TTL; from 40% to 60% \
                of the trace every other request is a one-pass sweep over fresh keys",
        key_size: 24,
        value_mean: 300.0,
        value_sigma: 0.6,
        ttls: &[],
        write_share: 0.0,
        universe_x: 3.0,
        shape: Shape::Scan {
            alpha: 1.0,
            from: 0.4,
            to: 0.6,
            share: 0.5,
        },
    },
];

pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}
