//! Cache-aside load through `ferrocache::client` against a pool, for fault tests: a get,
//! and a set when it missed, at a capped rate, while nodes are killed and restarted.
//!
//! ```text
//! cargo bench --bench pool_client -- --discover 127.0.0.1:11211,127.0.0.1:11212 \
//!     --duration 30 [--keys 2000] [--dist zipf|uniform] [--rate 500] [--refresh-ms 500] \
//!     [--connect-timeout-ms 250] [--io-timeout-ms 500] [--ttl 0]
//! ```
//!
//! Discovers the pool from the first `--discover` endpoint that answers, re-reads the list
//! every `--refresh-ms` (the client's poller), and prints once a second what happened in
//! that second:
//! `t=<secs> gets=<n> hits=<n> sets=<n> errors=<n> dead_misses=<n> dropped_sets=<n>
//! version=<cluster version> nodes=<count>`, then `total gets=.. hits=.. sets=.. errors=..
//! dead_misses=.. dropped_sets=..`. `errors` counts calls that returned `Err` (none while
//! the client treats failures as misses); `dead_misses` and `dropped_sets` are the client's
//! own counters (calls answered without their node). Values are 100 bytes.
//!
//! Exit 0 after `--duration` (every call is bounded by the client's timeouts, so the run
//! ends within the duration plus about a second); 2 on bad arguments or when no endpoint
//! answers. Without `--discover` it prints its usage and exits 0 (a plain `cargo bench`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ferrocache::client::{Client, ClientOptions};

const USAGE: &str = "usage: pool_client --discover HOST:PORT[,HOST:PORT...] --duration SECS \
[--keys N] [--dist zipf|uniform] [--rate OPS] [--refresh-ms MS] [--connect-timeout-ms MS] \
[--io-timeout-ms MS] [--ttl SECS]\n";

const VALUE: [u8; 100] = [b'v'; 100];

struct Args {
    discover: Vec<String>,
    duration: Duration,
    keys: u64,
    zipf: bool,
    rate: f64,
    refresh: Duration,
    connect_timeout: Duration,
    io_timeout: Duration,
    ttl: u32,
}

fn parse_args(argv: &[String]) -> Result<Option<Args>, String> {
    let mut a = Args {
        discover: Vec::new(),
        duration: Duration::from_secs(10),
        keys: 2000,
        zipf: true,
        rate: 500.0,
        refresh: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(250),
        io_timeout: Duration::from_millis(500),
        ttl: 0,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // passed by `cargo bench`
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        let num = |what: &str| -> Result<u64, String> {
            value
                .parse::<u64>()
                .map_err(|_| format!("{what}: `{value}` is not a number"))
        };
        match flag.as_str() {
            "--discover" => {
                a.discover = value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }
            "--duration" => a.duration = Duration::from_secs(num(flag)?),
            "--keys" => a.keys = num(flag)?.max(1),
            "--dist" => {
                a.zipf = match value {
                    "zipf" => true,
                    "uniform" => false,
                    _ => return Err(format!("--dist: `{value}` is not zipf or uniform")),
                }
            }
            "--rate" => a.rate = num(flag)?.max(1) as f64,
            "--refresh-ms" => a.refresh = Duration::from_millis(num(flag)?.max(10)),
            "--connect-timeout-ms" => a.connect_timeout = Duration::from_millis(num(flag)?.max(1)),
            "--io-timeout-ms" => a.io_timeout = Duration::from_millis(num(flag)?.max(1)),
            "--ttl" => {
                a.ttl = u32::try_from(num(flag)?).map_err(|_| "--ttl: too large".to_string())?
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(if a.discover.is_empty() { None } else { Some(a) })
}

/// xorshift64*: a fixed-seed key picker (no dependency, same sequence every run).
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `0..n`, uniform or skewed towards small indexes (u³: about 46% of picks in the
    /// first 10% of the keys).
    fn key(&mut self, n: u64, zipf: bool) -> u64 {
        let u = self.unit();
        let u = if zipf { u * u * u } else { u };
        ((u * n as f64) as u64).min(n - 1)
    }
}

#[derive(Clone, Copy, Default)]
struct Tally {
    gets: u64,
    hits: u64,
    sets: u64,
    errors: u64,
}

fn connect(args: &Args) -> Result<Client, String> {
    let opts = ClientOptions {
        connect_timeout: args.connect_timeout,
        io_timeout: args.io_timeout,
        poll_interval: Some(args.refresh),
        ..ClientOptions::default()
    };
    let mut why = Vec::new();
    for endpoint in &args.discover {
        match Client::new(endpoint, opts.clone()) {
            Ok(c) => return Ok(c),
            Err(e) => why.push(format!("{endpoint}: {e}")),
        }
    }
    Err(why.join("; "))
}

fn run(args: &Args, client: &Client) -> Tally {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut total, mut reported) = (Tally::default(), Tally::default());
    let mut last_stats = client.stats();
    let mut next_op = start;
    let mut next_report = start + Duration::from_secs(1);
    let mut t = 0u64;
    // One report per second of the duration, the last at its end: `t` grows every second
    // and every call below is bounded by the client's timeouts.
    while t < args.duration.as_secs() {
        let now = Instant::now();
        if now >= next_report {
            t += 1;
            let s = client.stats();
            println!(
                "t={t} gets={} hits={} sets={} errors={} dead_misses={} dropped_sets={} \
                 version={} nodes={}",
                total.gets - reported.gets,
                total.hits - reported.hits,
                total.sets - reported.sets,
                total.errors - reported.errors,
                s.misses_due_to_dead_node - last_stats.misses_due_to_dead_node,
                s.dropped_sets - last_stats.dropped_sets,
                client.version(),
                client.nodes().len()
            );
            (reported, last_stats) = (total, s);
            next_report += Duration::from_secs(1);
            continue;
        }
        if now < next_op {
            std::thread::sleep((next_op - now).min(next_report - now));
            continue;
        }
        // Do not try to catch up more than a second of backlog after a stall.
        next_op = (next_op + interval).max(now - Duration::from_secs(1).min(now - start));
        let key = format!("key:{}", rng.key(args.keys, args.zipf));
        total.gets += 1;
        let missed = match client.get(&key) {
            Ok(Some(_)) => {
                total.hits += 1;
                false
            }
            Ok(None) => true,
            Err(_) => {
                total.errors += 1;
                true
            }
        };
        if missed {
            total.sets += 1;
            if client.set(&key, &VALUE, 0, args.ttl).is_err() {
                total.errors += 1;
            }
        }
    }
    total
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pool_client: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let client = match connect(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pool_client: no discovery endpoint answered: {e}");
            return ExitCode::from(2);
        }
    };
    let total = run(&args, &client);
    let s = client.stats();
    println!(
        "total gets={} hits={} sets={} errors={} dead_misses={} dropped_sets={}",
        total.gets, total.hits, total.sets, total.errors, s.misses_due_to_dead_node, s.dropped_sets
    );
    ExitCode::SUCCESS
}
