//! The default mode: optional `--prefill` (every key set once, pipelined), then the timed
//! closed loop for `--duration`, printed as one `ops=.. ops_per_sec=.. p50_us=..` line;
//! and `report_errors`, the stderr line the modes share.
//!
//! Owns: the prefill/timed sequence, its output line and exit code. Must not touch:
//! sockets (it calls `event_loop::run`), argument parsing.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::event_loop::run;
use crate::keys::KeyStyle;
use crate::reply::Counts;
use crate::workload::{Mode, Shared};

pub(crate) fn report_errors(c: &Counts) {
    if let Some(e) = &c.first_error {
        eprintln!(
            "loadgen: {} protocol errors, {} connection errors; first: {e}",
            c.errors, c.conn_errors
        );
    }
}

pub(crate) fn bench(args: Args) -> ExitCode {
    let timeout = args.timeout.unwrap_or(args.duration + 60.0);
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    if args.prefill {
        let mut pargs = args.clone();
        pargs.pipeline = 64;
        let sh = Shared::new(pargs, 0, args.key_max, deadline);
        let conns = args.conns.min(8).max(args.threads);
        let r = run(sh, Mode::Fill(KeyStyle::Bench), conns, args.threads, None);
        if r.timed_out || r.counts.conn_errors > 0 || r.counts.stored != args.key_max {
            report_errors(&r.counts);
            eprintln!(
                "loadgen: prefill failed: stored {} of {} keys{}",
                r.counts.stored,
                args.key_max,
                if r.timed_out { " (timeout)" } else { "" }
            );
            return ExitCode::from(if r.timed_out { 3 } else { 1 });
        }
        eprintln!("loadgen: prefilled {} keys in {:.2}s", args.key_max, r.secs);
        if args.prefill_only {
            println!("prefilled={} secs={:.3}", args.key_max, r.secs);
            return ExitCode::SUCCESS;
        }
    }
    let r = run(
        Shared::new(args.clone(), 0, 0, deadline),
        Mode::Mixed,
        args.conns,
        args.threads,
        Some(args.duration),
    );
    let c = &r.counts;
    let ops = c.gets + c.sets;
    println!(
        "ops={} secs={:.3} ops_per_sec={:.0} gets={} hits={} sets={} p50_us={} p99_us={} \
         p999_us={} stored={} errors={} conn_errors={}",
        ops,
        r.secs,
        ops as f64 / r.secs,
        c.gets,
        c.hits,
        c.sets,
        r.hist.percentile(50.0),
        r.hist.percentile(99.0),
        r.hist.percentile(99.9),
        c.stored,
        c.errors,
        c.conn_errors
    );
    report_errors(c);
    if r.timed_out {
        eprintln!("loadgen: TIMEOUT after {timeout}s");
        return ExitCode::from(3);
    }
    if c.conn_errors > 0 || c.errors > 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
