//! `--fill BYTES`: set unique keys until their values add up to BYTES, then with
//! `--verify-last K` read the last K keys back and check them; one summary line.
//!
//! Owns: the fill/verify sequence, its output line and exit code. Must not touch: sockets
//! (it calls `event_loop::run`), argument parsing.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::closed_loop::report_errors;
use crate::event_loop::run;
use crate::keys::KeyStyle;
use crate::workload::{Mode, Shared};

pub(crate) fn fill(args: Args, total_bytes: u64) -> ExitCode {
    let timeout = args.timeout.unwrap_or(120.0);
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let sh = Shared::new(args.clone(), 0, 0, deadline);
    // How many keys it takes for the values to add up to `total_bytes`.
    let mut nkeys = 0u64;
    let mut sum = 0u64;
    while sum < total_bytes {
        sum += sh.values.size(nkeys) as u64;
        nkeys += 1;
    }
    let sh = Shared::new(args.clone(), 0, nkeys, deadline);
    let r = run(
        Arc::clone(&sh),
        Mode::Fill(KeyStyle::Fill),
        args.conns,
        args.threads,
        None,
    );
    let c = &r.counts;
    let mut line = format!(
        "fill_keys={} fill_bytes={} secs={:.3} sets_per_sec={:.0} stored={} not_stored={} \
         errors={} conn_errors={}",
        nkeys,
        sum,
        r.secs,
        c.sets as f64 / r.secs,
        c.stored,
        c.not_stored,
        c.errors,
        c.conn_errors
    );
    report_errors(c);
    let mut failed = r.timed_out || c.conn_errors > 0 || c.sets != nkeys;
    if !failed && args.verify_last > 0 {
        let k = args.verify_last.min(nkeys);
        let mut vargs = args.clone();
        vargs.pipeline = vargs.pipeline.min(100);
        let vsh = Shared::new(vargs, nkeys - k, nkeys, deadline);
        let v = run(vsh, Mode::Verify(KeyStyle::Fill), 1, 1, None);
        let vc = &v.counts;
        line += &format!(
            " verify_checked={} verify_hits={} verify_ok={} verify_bad={} verify_errors={}",
            vc.gets,
            vc.hits,
            vc.hits - vc.bad_values,
            vc.bad_values,
            vc.errors + vc.conn_errors
        );
        report_errors(vc);
        failed |= v.timed_out || vc.conn_errors > 0 || vc.gets != k;
    }
    println!("{line}");
    if Instant::now() >= deadline {
        eprintln!("loadgen: TIMEOUT after {timeout}s");
        return ExitCode::from(3);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
