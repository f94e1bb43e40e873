//! `--self-test`: the replay against real servers agrees with the trace's own accounting.
//!
//! 1. The same seed gives the same trace (digest), another seed a different one.
//! 2. With memory for everything (`-m 1024`) and no TTL running out (profile c52: its
//!    shortest scaled TTL is 36 minutes), every server's hits equal the trace's
//!    unlimited-memory hits (reads − compulsory misses) exactly, on two fresh starts, and
//!    the replay classes every miss as compulsory.
//! 3. With TTLs that do run out (profile c4 paced to ~6 s, 60 s → 3 s), hits equal reads −
//!    compulsory − expired within 1% of the reads (servers expire on a 1 s clock).
//!
//! Owns: those checks. Exit status 1 on any mismatch.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use crate::args::Args;
use crate::server::Server;
use crate::{bound, profiles, replay, replay_timeout, trace, trace_params};

const SELF_TEST_MB: u64 = 1024;

pub fn run(args: &Args, stop: &AtomicBool) -> ExitCode {
    let mut failures = 0;
    let mut check = |ok: bool, what: String| {
        println!("{} {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    let c52 = profiles::find("c52").expect("profile c52");
    let c4 = profiles::find("c4").expect("profile c4");
    let params = trace_params(args, 200_000);
    let a = trace::generate(c52, params);
    let b = trace::generate(c52, params);
    let other = trace::generate(
        c52,
        trace::TraceParams {
            seed: params.seed + 1,
            ..params
        },
    );
    check(
        a.digest() == b.digest(),
        format!("same seed, same trace (digest {:016x})", a.digest()),
    );
    check(
        a.digest() != other.digest(),
        "another seed, another trace".into(),
    );
    let exact = bound::compute(&a, 1 << 40);
    check(
        exact.static_hits == exact.inf_hits,
        "with memory for everything the static optimum is the unlimited-memory count".into(),
    );
    let ttl_params = trace::TraceParams {
        rate: 40_000.0,
        requests: 240_000,
        ..params
    };
    let ttl_trace = trace::generate(c4, ttl_params);
    let ttl_bound = bound::compute(&ttl_trace, 1 << 40);
    check(
        ttl_bound.expired > 0,
        format!(
            "the c4 trace has expiry misses ({} of {} reads)",
            ttl_bound.expired, ttl_bound.gets
        ),
    );
    for spec in &args.servers {
        let mut seen = Vec::new();
        for attempt in 1..=2 {
            let counts = Server::start(spec, SELF_TEST_MB, args.threads)
                .and_then(|s| replay::replay(&a, s.addr, stop, replay_timeout(&a)));
            match counts {
                Ok(c) => {
                    let h = c.hits;
                    check(
                        c.miss_compulsory == exact.compulsory
                            && c.miss_expired + c.miss_after_write + c.miss_after_fill == 0,
                        format!(
                            "{} run {attempt}: every miss compulsory ({} = {}; others {})",
                            spec.label,
                            c.miss_compulsory,
                            exact.compulsory,
                            c.miss_expired + c.miss_after_write + c.miss_after_fill
                        ),
                    );
                    check(
                        h == exact.inf_hits,
                        format!(
                            "{} run {attempt}: hits {h} = reads {} - compulsory {} = {}",
                            spec.label, exact.gets, exact.compulsory, exact.inf_hits
                        ),
                    );
                    seen.push(h);
                }
                Err(e) => check(false, format!("{} run {attempt}: {e}", spec.label)),
            }
        }
        check(
            seen.len() == 2 && seen[0] == seen[1],
            format!("{}: two runs, same hits {seen:?}", spec.label),
        );
        let hits = Server::start(spec, SELF_TEST_MB, args.threads).and_then(|s| {
            replay::replay(&ttl_trace, s.addr, stop, replay_timeout(&ttl_trace)).map(|c| c.hits)
        });
        match hits {
            Ok(h) => {
                let want = ttl_bound.inf_hits;
                let off = (h as f64 - want as f64).abs() / ttl_bound.gets as f64;
                check(
                    off <= 0.01,
                    format!(
                        "{} with TTLs: hits {h} vs reads {} - compulsory {} - expired {} = \
                         {want} (off by {:.3}% of reads)",
                        spec.label,
                        ttl_bound.gets,
                        ttl_bound.compulsory,
                        ttl_bound.expired,
                        off * 100.0
                    ),
                );
            }
            Err(e) => check(false, format!("{} with TTLs: {e}", spec.label)),
        }
    }
    if failures == 0 {
        println!("self-test passed");
        ExitCode::SUCCESS
    } else {
        println!("self-test: {failures} failure(s)");
        ExitCode::from(1)
    }
}
