//! Command-line flags of the hit-ratio benchmark and their defaults.
//!
//! Owns: parsing and the usage text. Must not run anything.

use crate::server::Spec;

pub const USAGE: &str = "\
hitratio: cache-aside hit-ratio benchmark, memcached vs ferrocache (see the header of
benches/hitratio/main.rs). Without --run, --simulate, --self-test or --list it prints this and
exits 0.

  cargo build --release
  cargo bench --bench hitratio -- --run            # full: all profiles, ~6 minutes
  cargo bench --bench hitratio -- --run --quick    # ~1.5 minutes
  cargo bench --bench hitratio -- --self-test      # determinism and bound checks
  cargo bench --bench hitratio -- --simulate       # policy models, no servers, ~1 minute

  --run                 run the benchmark
  --self-test           replay twice against each server with -m 1024 (hits must equal the
                        trace's unlimited-memory hits and each other), exit 1 on a mismatch
  --list                print the profiles and what they are based on
  --bounds-only         with --run: generate the traces and print their bounds, no servers
  --simulate            no servers: replay each trace against in-process models of
                        published policies (LRU, S3-FIFO per item and in segments,
                        W-TinyLFU, an LFU with perfect memory) with the bound's accounting
                        (sim.rs)
  --sim-memory-pct N    with --simulate: give the models N% of -m (default 100)
  --sim-slab            with --simulate: items cost a slab chunk (34-byte header, classes
                        88 B x 1.25) instead of key + value + 48
  --sim-overhead N      with --simulate: per-item bytes besides key and value (default 48)
  --sim-eager-expiry    with --simulate: drop items when their TTL runs out, not when read
  --quick               shorter traces (--duration 4 instead of 20)
  --profiles a,b        profiles to run (default: all; see --list)
  --servers a,b         memcached, ferrocache or LABEL=PATH (default: memcached,ferrocache)
  --memcached PATH      default /usr/bin/memcached
  --ferrocache PATH     default target/release/ferrocache of this checkout
  -m, --memory-mb N     server -m and the bound's memory (default 64)
  -t, --threads N       server -t (default 2)
  --seed N              trace seed (default 1)
  --rate R              paced requests per second over all connections (default 400000)
  --duration S          trace length in seconds at --rate (default 20)
  --requests N          trace length in requests (overrides --duration)
  --conns N             client connections (default 2)
  --batch N             requests per multi-get batch and connection (default 64)
  --ttl-scale F         multiply every TTL by F (default 0.05: 60 s -> 3 s)
  --sample-every S      expired-memory sample period on profiles with TTLs that expire
                        within the run (default: a sixth of the run, 0.5 to 4 s; 0: off)
  --json PATH           also write the results as JSON
";

#[derive(Clone, Debug)]
pub struct Args {
    pub run: bool,
    pub self_test: bool,
    pub list: bool,
    pub bounds_only: bool,
    pub simulate: bool,
    pub sim: crate::sim::SimOpts,
    pub profiles: Vec<String>,
    pub servers: Vec<Spec>,
    pub memory_mb: u64,
    pub threads: u32,
    pub seed: u64,
    pub rate: f64,
    pub duration: f64,
    pub requests: Option<u64>,
    pub conns: usize,
    pub batch: usize,
    pub ttl_scale: f64,
    /// None: a sixth of the replay, within 0.5..=4 s.
    pub sample_every: Option<f64>,
    pub json: Option<String>,
}

impl Args {
    pub fn requests(&self) -> u64 {
        self.requests
            .unwrap_or((self.rate * self.duration).round() as u64)
    }
}

fn default_ferrocache() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/ferrocache").to_string()
}

pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        run: false,
        self_test: false,
        list: false,
        bounds_only: false,
        simulate: false,
        sim: crate::sim::SimOpts::default(),
        profiles: Vec::new(),
        servers: Vec::new(),
        memory_mb: 64,
        threads: 2,
        seed: 1,
        rate: 400_000.0,
        duration: 20.0,
        requests: None,
        conns: 2,
        batch: 64,
        ttl_scale: 0.05,
        sample_every: None,
        json: None,
    };
    let mut server_names = vec!["memcached".to_string(), "ferrocache".to_string()];
    let (mut memcached, mut ferrocache) = ("/usr/bin/memcached".to_string(), default_ferrocache());
    let mut quick = false;
    let mut duration = None;
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{flag}: bad number {v}"))
        }
        match flag.as_str() {
            "--run" => a.run = true,
            "--self-test" => a.self_test = true,
            "--list" => a.list = true,
            "--bounds-only" => a.bounds_only = true,
            "--simulate" => a.simulate = true,
            "--sim-memory-pct" => a.sim.memory_pct = num(flag, val()?)?,
            "--sim-slab" => a.sim.slab = true,
            "--sim-overhead" => a.sim.overhead = num(flag, val()?)?,
            "--sim-eager-expiry" => a.sim.eager_expiry = true,
            "--quick" => quick = true,
            "--bench" => {} // passed by a bare `cargo bench`
            "--profiles" => a.profiles = val()?.split(',').map(str::to_string).collect(),
            "--servers" => server_names = val()?.split(',').map(str::to_string).collect(),
            "--memcached" => memcached = val()?,
            "--ferrocache" => ferrocache = val()?,
            "-m" | "--memory-mb" => a.memory_mb = num(flag, val()?)?,
            "-t" | "--threads" => a.threads = num(flag, val()?)?,
            "--seed" => a.seed = num(flag, val()?)?,
            "--rate" => a.rate = num(flag, val()?)?,
            "--duration" => duration = Some(num(flag, val()?)?),
            "--requests" => a.requests = Some(num(flag, val()?)?),
            "--conns" => a.conns = num(flag, val()?)?,
            "--batch" => a.batch = num(flag, val()?)?,
            "--ttl-scale" => a.ttl_scale = num(flag, val()?)?,
            "--sample-every" => a.sample_every = Some(num(flag, val()?)?),
            "--json" => a.json = Some(val()?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    a.duration = duration.unwrap_or(if quick { 4.0 } else { 20.0 });
    for s in server_names {
        let spec = match s.split_once('=') {
            Some((label, bin)) => Spec {
                label: label.into(),
                bin: bin.into(),
            },
            None if s == "memcached" => Spec {
                label: s,
                bin: memcached.clone(),
            },
            None if s == "ferrocache" => Spec {
                label: s,
                bin: ferrocache.clone(),
            },
            None => {
                return Err(format!(
                    "unknown server {s} (memcached, ferrocache, L=PATH)"
                ));
            }
        };
        a.servers.push(spec);
    }
    for p in &a.profiles {
        if crate::profiles::find(p).is_none() {
            return Err(format!("unknown profile {p} (see --list)"));
        }
    }
    if !(a.rate > 0.0 && a.duration > 0.0 && a.ttl_scale > 0.0) {
        return Err("--rate, --duration and --ttl-scale must be positive".into());
    }
    if a.conns == 0 || a.conns > 64 || a.batch == 0 || a.batch > 100 {
        return Err("--conns must be 1..=64 and --batch 1..=100".into());
    }
    if a.requests() == 0 || a.requests() >= u64::from(u32::MAX) {
        return Err("the trace must have 1..2^32 requests".into());
    }
    if !(1..=1000).contains(&a.sim.memory_pct) {
        return Err("--sim-memory-pct must be 1..=1000".into());
    }
    if a.servers.is_empty() {
        return Err("no servers".into());
    }
    Ok(a)
}
