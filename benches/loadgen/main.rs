//! memtier-like closed-loop load generator for memcached's text protocol (or, with
//! `--protocol binary`, its binary protocol: plain Set and Get frames, a pipelined batch
//! read back by count).
//!
//! Not a criterion benchmark: `harness = false`, run it by hand or from the scripts under
//! `scripts/` against a running server (memcached or ferrocache):
//!
//! ```text
//! cargo bench --bench loadgen -- --addr 127.0.0.1:11211 --conns 50 --threads 2 \
//!     --duration 10 --ratio 1:10 --pipeline 1 --key-max 100000 --value-size 100 --prefill
//! ```
//!
//! Without `--addr` it prints its usage and exits 0, so a plain `cargo bench` never hangs.
//!
//! Modes:
//! * default: closed loop for `--duration` seconds. Each connection sends `--pipeline`
//!   requests (set or get by `--ratio` set:get, keys `key:<n>` from a fixed-seed PRNG in
//!   `0..key-max`), reads exactly that many replies, and repeats. Prints one line:
//!   `ops=.. secs=.. ops_per_sec=.. gets=.. hits=.. sets=.. p50_us=.. p99_us=.. ...`
//!   (latency is per batch: from the first byte sent to the last reply parsed).
//! * `--fill BYTES`: sets unique keys (`<key-prefix><n:09>`) in order until the values add
//!   up to BYTES, pipelined over all connections, counting every reply; then, with
//!   `--verify-last K`, reads back the last K keys written and checks each value byte for
//!   byte. Values are a deterministic function of the key, so any read can be checked.
//! * `--stats`: prints the server's `stats` as `name=value` lines.
//!
//! Every run is bounded: `--timeout` (default duration + 60 s) aborts with exit code 3.
//!
//! Layout (one job per file): `args` (flags), `keys` (deterministic keys and values),
//! `workload` (what to send next), `request` (encoding), `reply` (parsing and counting),
//! `histogram` (latency), `event_loop` (sockets and threads), and one file per mode:
//! `closed_loop`, `fill`, `stats`; `tls` (the client side of `--tls-ca`). This file only parses the arguments and picks the mode;
//! it must not grow any of those jobs back.

mod args;
mod closed_loop;
mod event_loop;
mod fill;
mod histogram;
mod keys;
mod reply;
mod request;
mod stats;
mod tls;
mod workload;

use std::process::ExitCode;

use args::{USAGE, parse_args};
use closed_loop::bench;
use fill::fill;
use stats::stats;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            // Without --addr (e.g. a bare `cargo bench`), never fail: just explain.
            if !argv.iter().any(|a| a == "--addr") {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("loadgen: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.addr.is_none() {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.stats {
        return stats(&args);
    }
    match args.fill {
        Some(bytes) => fill(args, bytes),
        None => bench(args),
    }
}
