//! Hit-ratio benchmark (issue 14, item 4): a deterministic, seeded cache-aside replay
//! against memcached and ferrocache at the same `-m`, per workload profile, next to the
//! static-optimal bound of the same trace.
//!
//! Not a criterion benchmark (`harness = false`); without `--run`, `--self-test` or
//! `--list` it prints its usage and exits 0, so a bare `cargo bench` never runs it:
//!
//! ```text
//! cargo build --release
//! cargo bench --bench hitratio -- --run            # all profiles, both servers, ~6 min
//! cargo bench --bench hitratio -- --run --quick    # ~1.5 min
//! cargo bench --bench hitratio -- --run --profiles c4,scan --json /tmp/hit.json
//! cargo bench --bench hitratio -- --self-test      # determinism / unlimited-memory check
//! cargo bench --bench hitratio -- --simulate       # policy models only (sim.rs), ~1 min
//! cargo test --test hitratio_units                 # unit tests (bound, trace, dists)
//! ```
//!
//! What a run does, per profile: generate the trace (`trace.rs`: seed, Zipf(α) keys plus
//! one-hit wonders, per-key log-normal value sizes and TTLs, split over `--conns`
//! connections by key hash and cut into batches of `--batch`), compute the bound
//! (`bound.rs`), then for each server start a fresh process (`-m 64 -t 2` on an unused
//! 127.0.0.1 port, `server.rs`), replay the trace paced at `--rate` requests/s
//! (`replay.rs`: multi-key `get`, then `set` of every miss), sample how much of the cache
//! holds expired items while TTLs run out (`expired.rs`), read `stats` and the server's
//! CPU time, and stop it. `report.rs` prints the Markdown tables (and `--json`).
//!
//! Profiles (`profiles.rs`, `--list`): six clusters of Twitter's production traces
//! (`twitter/cache-trace`, `stat/2020Mar.md`): c52 (Twitter's miss-ratio pick, 273 B
//! values, α 1.21), c29 (799 B, α 1.23, 1-2 h TTLs), c4 (TTL-heavy 60 s-1 d, 2.4 KB values,
//! α 1.10), c45 (tiny keys and 120 B values, flat α 0.64, 49% one-hit wonders), c24 (steep
//! α 1.37, 19% of keys with 60 s TTLs), c48 (write-heavy, 70 B values, α 0.82); plus
//! `recency` (a hot set that moves) and `scan` (a one-pass sweep in the middle of a Zipf
//! workload). TTLs are scaled by `--ttl-scale` (1/20: 60 s expire after 3 s of replay).
//!
//! `--simulate` runs no server: it replays each trace against in-process models of LRU,
//! S3-FIFO, W-TinyLFU and an LFU with perfect memory (`sim.rs`), to tell what an online
//! policy can reach on a profile.
//!
//! Every loop is bounded: the replay by `--duration`-derived timeouts, socket I/O by 10 s
//! timeouts, the sampler by the replay's end. Servers are killed when their handle drops
//! (also on a panic or Ctrl-C) and, through `PR_SET_PDEATHSIG`, when the benchmark dies.

mod args;
mod bound;
mod dist;
mod expired;
mod profiles;
mod proto;
mod replay;
mod report;
mod selftest;
mod server;
mod sim;
mod trace;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use args::{Args, USAGE};
use profiles::{PROFILES, Profile};
use report::{ProfileResult, ServerRun};
use server::{Server, Spec};
use trace::{Trace, TraceParams};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match args::parse(&argv) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hitratio: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        for p in PROFILES {
            println!(
                "{:8} {}",
                p.name,
                p.basis.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
        return ExitCode::SUCCESS;
    }
    if args.simulate {
        return simulate(&args);
    }
    if !args.run && !args.self_test {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    // Ctrl-C / SIGTERM: the replay stops at its next batch and every server is dropped.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("hitratio: cannot handle signal {sig}: {e}");
            return ExitCode::from(2);
        }
    }
    for s in &args.servers {
        if !std::path::Path::new(&s.bin).is_file() {
            eprintln!(
                "hitratio: {} not found (server {}; `cargo build --release` for ferrocache)",
                s.bin, s.label
            );
            return ExitCode::from(2);
        }
    }
    if args.self_test {
        return selftest::run(&args, &stop);
    }
    let chosen: Vec<&Profile> = if args.profiles.is_empty() {
        PROFILES.iter().collect()
    } else {
        args.profiles
            .iter()
            .filter_map(|n| profiles::find(n))
            .collect()
    };
    let t0 = Instant::now();
    let mut results = Vec::new();
    for p in chosen {
        match run_profile(p, &args, &stop) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("hitratio: profile {}: {e}", p.name);
                return ExitCode::from(1);
            }
        }
    }
    let total = t0.elapsed().as_secs_f64();
    report::print(&args, &results, total);
    if let Some(path) = &args.json
        && let Err(e) = std::fs::write(path, report::json(&args, &results, total))
    {
        eprintln!("hitratio: writing {path}: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `--simulate`: every chosen profile against the in-process models (`sim.rs`).
fn simulate(args: &Args) -> ExitCode {
    let t0 = Instant::now();
    for p in PROFILES
        .iter()
        .filter(|p| args.profiles.is_empty() || args.profiles.iter().any(|n| n == p.name))
    {
        let trace = trace::generate(p, trace_params(args, args.requests()));
        let bound = bound::compute(&trace, args.memory_mb << 20);
        let runs = sim::run(&trace, args.memory_mb << 20, args.sim);
        sim::print(p.name, &bound, &runs);
    }
    eprintln!("simulated in {:.1} s", t0.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

pub fn trace_params(args: &Args, requests: u64) -> TraceParams {
    TraceParams {
        seed: args.seed,
        requests,
        mem_bytes: args.memory_mb << 20,
        ttl_scale: args.ttl_scale,
        conns: args.conns,
        batch: args.batch,
        rate: args.rate,
    }
}

/// How long a replay may take: three times its paced length plus 30 s.
pub fn replay_timeout(trace: &Trace) -> Duration {
    Duration::from_secs_f64(3.0 * trace.requests() as f64 / trace.params.rate + 30.0)
}

fn run_profile(p: &Profile, args: &Args, stop: &AtomicBool) -> Result<ProfileResult, String> {
    let t = Instant::now();
    let trace = trace::generate(p, trace_params(args, args.requests()));
    let bound = bound::compute(&trace, args.memory_mb << 20);
    let gen_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "== {}: {} requests ({} reads, {} writes, {} one-shot), {} distinct keys, footprint {:.1}x -m, \
         static-opt {:.4}, unlimited {:.4} ({:.1} s to generate)",
        p.name,
        trace.requests(),
        trace.gets,
        trace.writes,
        trace.one_shot,
        bound.distinct,
        bound.footprint as f64 / (args.memory_mb << 20) as f64,
        bound.static_ratio(),
        bound.inf_ratio(),
        gen_secs
    );
    // Sample expired memory when some TTL runs out within the replay.
    let run_secs = trace.requests() as f64 / args.rate;
    let min_ttl = trace.ttl.iter().filter(|&&t| t > 0).min().copied();
    let every = args
        .sample_every
        .unwrap_or((run_secs / 6.0).clamp(0.5, 4.0));
    let sample = (every > 0.0 && min_ttl.is_some_and(|t| f64::from(t) < run_secs)).then_some(every);
    let mut runs = Vec::new();
    let servers = if args.bounds_only {
        &[][..]
    } else {
        &args.servers[..]
    };
    for spec in servers {
        let run = run_server(spec, &trace, args, stop, sample)?;
        eprintln!(
            "   {:10} hit ratio {:.4}  items {}  evictions {}  cpu {:.1} s  run {:.1} s",
            spec.label,
            bound::ratio(run.counts.hits, run.counts.gets),
            run.curr_items,
            run.evictions,
            run.cpu_secs,
            run.counts.secs
        );
        runs.push(run);
    }
    Ok(ProfileResult {
        name: p.name.to_string(),
        basis: p.basis.split_whitespace().collect::<Vec<_>>().join(" "),
        requests: trace.requests(),
        gets: trace.gets,
        writes: trace.writes,
        one_shot: trace.one_shot,
        universe: trace.universe,
        bound,
        mem_bytes: args.memory_mb << 20,
        gen_secs,
        runs,
    })
}

fn run_server(
    spec: &Spec,
    trace: &Trace,
    args: &Args,
    stop: &AtomicBool,
    sample: Option<f64>,
) -> Result<ServerRun, String> {
    let err = |what: &str, e: std::io::Error| format!("{} {what}: {e}", spec.label);
    let server = Server::start(spec, args.memory_mb, args.threads).map_err(|e| err("start", e))?;
    let cpu0 = server.cpu_secs().map_err(|e| err("cpu", e))?;
    let done = AtomicBool::new(false);
    let timeout = replay_timeout(trace);
    let (counts, sampled) = std::thread::scope(|s| {
        let sampler = sample.map(|every| {
            let every = Duration::from_secs_f64(every);
            let (addr, done) = (server.addr, &done);
            s.spawn(move || expired::run(addr, every, done, timeout))
        });
        let counts = replay::replay(trace, server.addr, stop, timeout);
        done.store(true, Ordering::Relaxed);
        let sampled = sampler.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("sampler panicked")))
        });
        (counts, sampled)
    });
    let counts = counts.map_err(|e| err("replay", e))?;
    let cpu_secs = server.cpu_secs().map_err(|e| err("cpu", e))? - cpu0;
    let st = server.stats().map_err(|e| err("stats", e))?;
    let expired = match sampled {
        None => None,
        Some(Ok((samples, busy))) => Some(expired::summarize(&samples, busy)),
        Some(Err(e)) => return Err(err("expired-memory sampler", e)),
    };
    let n = |k: &str| st.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(ServerRun {
        label: spec.label.clone(),
        curr_items: n("curr_items"),
        evictions: n("evictions"),
        reclaimed: n("reclaimed"),
        expired_unfetched: n("expired_unfetched"),
        evicted_unfetched: n("evicted_unfetched"),
        bytes: n("bytes"),
        server_get_hits: n("get_hits"),
        slabs_moved: n("slabs_moved"),
        move_evictions: n("slab_reassign_evictions_nomem"),
        cpu_secs,
        counts,
        expired,
    })
}
