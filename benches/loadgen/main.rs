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

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const USAGE: &str = "\
loadgen: closed-loop load generator for memcached's text or binary protocol

usage: cargo bench --bench loadgen -- --addr HOST:PORT [options]

  --addr HOST:PORT     server to load (required; without it: print this and exit 0)
  --conns N            connections (default 50)
  --threads N          client threads, connections spread over them (default 2)
  --duration SECS      run time of the closed loop (default 10)
  --ratio S:G          set:get ratio (default 1:10)
  --pipeline N         requests sent per batch per connection (default 1)
  --protocol P         text (default) or binary (Set/Get frames; --stats stays text)
  --key-max N          keys are key:0 .. key:(N-1) (default 100000)
  --value-size N       bytes per value (default 100)
  --prefill            set every key once before the timed run
  --prefill-only       set every key once, then exit (no timed run)
  --seed N             PRNG seed (default 1)
  --timeout SECS       hard bound on the whole run, exit 3 when hit (default duration+60)

  --fill BYTES         fill mode: set unique keys until their values total BYTES
                       (k/m/g suffixes accepted), then print one summary line
  --value-min N        fill mode: value sizes uniform in [value-min, value-max]
  --value-max N        (default: both equal to --value-size)
  --key-prefix P       fill mode key prefix (default \"k\"; keys are P + 9-digit number)
  --verify-last K      fill mode: read back the last K keys written and check the values

  --stats              print the server's `stats` as name=value lines and exit
";

// ---------------------------------------------------------------------------------------
// Arguments

#[derive(Clone, Debug)]
struct Args {
    addr: Option<String>,
    conns: usize,
    threads: usize,
    duration: f64,
    ratio_sets: u64,
    ratio_gets: u64,
    pipeline: usize,
    key_max: u64,
    value_size: usize,
    prefill: bool,
    prefill_only: bool,
    seed: u64,
    timeout: Option<f64>,
    fill: Option<u64>,
    value_min: Option<usize>,
    value_max: Option<usize>,
    key_prefix: String,
    verify_last: u64,
    stats: bool,
    binary: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            addr: None,
            conns: 50,
            threads: 2,
            duration: 10.0,
            ratio_sets: 1,
            ratio_gets: 10,
            pipeline: 1,
            key_max: 100_000,
            value_size: 100,
            prefill: false,
            prefill_only: false,
            seed: 1,
            timeout: None,
            fill: None,
            value_min: None,
            value_max: None,
            key_prefix: "k".to_string(),
            verify_last: 0,
            stats: false,
            binary: false,
        }
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('m') => (&s[..s.len() - 1], 1u64 << 20),
        Some('g') => (&s[..s.len() - 1], 1u64 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map_err(|_| format!("bad size: {s}"))?
        .checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s}"))
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    fn num<T: std::str::FromStr>(flag: &str, v: Option<&String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse::<T>()
            .map_err(|_| format!("{flag}: bad value {v:?}"))
    }
    let mut a = Args::default();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--addr" => a.addr = Some(num::<String>(flag, it.next())?),
            "--conns" => a.conns = num(flag, it.next())?,
            "--threads" => a.threads = num(flag, it.next())?,
            "--duration" => a.duration = num(flag, it.next())?,
            "--ratio" => {
                let v: String = num(flag, it.next())?;
                let (s, g) = v.split_once(':').ok_or("--ratio: expected S:G")?;
                a.ratio_sets = s.parse().map_err(|_| "--ratio: bad set count")?;
                a.ratio_gets = g.parse().map_err(|_| "--ratio: bad get count")?;
                if a.ratio_sets + a.ratio_gets == 0 {
                    return Err("--ratio: 0:0".into());
                }
            }
            "--pipeline" => a.pipeline = num(flag, it.next())?,
            "--key-max" => a.key_max = num(flag, it.next())?,
            "--value-size" => a.value_size = num(flag, it.next())?,
            "--prefill" => a.prefill = true,
            "--prefill-only" => {
                a.prefill = true;
                a.prefill_only = true;
            }
            "--seed" => a.seed = num(flag, it.next())?,
            "--timeout" => a.timeout = Some(num(flag, it.next())?),
            "--fill" => a.fill = Some(parse_size(&num::<String>(flag, it.next())?)?),
            "--value-min" => a.value_min = Some(num(flag, it.next())?),
            "--value-max" => a.value_max = Some(num(flag, it.next())?),
            "--key-prefix" => a.key_prefix = num(flag, it.next())?,
            "--verify-last" => a.verify_last = num(flag, it.next())?,
            "--stats" => a.stats = true,
            "--protocol" => match num::<String>(flag, it.next())?.as_str() {
                "text" | "ascii" => a.binary = false,
                "binary" => a.binary = true,
                other => {
                    return Err(format!(
                        "--protocol: expected text or binary, got {other:?}"
                    ));
                }
            },
            // `cargo bench` passes `--bench` to harness-less bench targets.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.conns == 0 || a.threads == 0 || a.pipeline == 0 || a.key_max == 0 {
        return Err("--conns, --threads, --pipeline and --key-max must be > 0".into());
    }
    if !(a.duration > 0.0 && a.duration.is_finite()) {
        return Err("--duration must be > 0".into());
    }
    a.threads = a.threads.min(a.conns);
    let (lo, hi) = a.value_range();
    if lo > hi {
        return Err("--value-min > --value-max".into());
    }
    if a.key_prefix.is_empty() || a.key_prefix.len() > 200 || a.key_prefix.contains(' ') {
        return Err("--key-prefix: 1..200 bytes, no spaces".into());
    }
    Ok(a)
}

impl Args {
    fn value_range(&self) -> (usize, usize) {
        (
            self.value_min.unwrap_or(self.value_size),
            self.value_max.unwrap_or(self.value_size),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic keys and values

/// splitmix64: a cheap, well-mixed hash of the key number (and the PRNG step).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(mix(seed))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

const PATTERN_SLACK: usize = 4096;

/// Values are windows into one printable pattern, at an offset that depends on the key, so
/// each value can be regenerated (and checked) from its key number alone.
struct Values {
    pattern: Vec<u8>,
    min: usize,
    max: usize,
}

impl Values {
    fn new(min: usize, max: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x7a1e);
        let pattern = (0..max + PATTERN_SLACK)
            .map(|_| b'a' + rng.below(26) as u8)
            .collect();
        Values { pattern, min, max }
    }
    fn size(&self, n: u64) -> usize {
        if self.min == self.max {
            self.min
        } else {
            self.min + (mix(n ^ 0x5151_5151) % (self.max - self.min + 1) as u64) as usize
        }
    }
    fn value(&self, n: u64) -> &[u8] {
        let off = (mix(n) % PATTERN_SLACK as u64) as usize;
        &self.pattern[off..off + self.size(n)]
    }
}

#[derive(Clone, Copy, PartialEq)]
enum KeyStyle {
    /// `key:<n>`
    Bench,
    /// `<prefix><n:09>`
    Fill,
}

fn push_key(out: &mut Vec<u8>, style: KeyStyle, prefix: &str, n: u64) {
    match style {
        KeyStyle::Bench => {
            let _ = write!(out, "key:{n}");
        }
        KeyStyle::Fill => {
            let _ = write!(out, "{prefix}{n:09}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Latency histogram (log-linear, microseconds, ~1.5% resolution)

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; (64 * SUB) as usize],
            total: 0,
        }
    }
    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros() - SUB_BITS + 1; // >= 1
        let sub = (v >> (exp - 1)) - SUB; // 0..SUB
        (exp as u64 * SUB + sub) as usize
    }
    fn value_of(idx: usize) -> u64 {
        let idx = idx as u64;
        if idx < SUB {
            return idx;
        }
        let (exp, sub) = (idx / SUB, idx % SUB);
        // Midpoint of the bucket.
        ((SUB + sub) << (exp - 1)) + ((1u64 << (exp - 1)) >> 1)
    }
    fn record(&mut self, us: u64) {
        self.counts[Self::index(us)] += 1;
        self.total += 1;
    }
    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }
    fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value_of(i);
            }
        }
        0
    }
}

// ---------------------------------------------------------------------------------------
// Workloads: what each connection sends next

#[derive(Clone, Copy)]
enum Expect {
    Stored,
    /// A `get` reply; `Some(n)`: the value must equal key `n`'s generated value.
    Value(Option<u64>),
}

struct Shared {
    args: Args,
    values: Values,
    /// Fill / verify: next key number to hand out, and the end of the range.
    next_key: AtomicU64,
    end_key: u64,
    stop: AtomicBool,
    deadline: Instant,
}

impl Shared {
    fn new(args: Args, next_key: u64, end_key: u64, deadline: Instant) -> Arc<Self> {
        let (lo, hi) = args.value_range();
        let values = Values::new(lo, hi, args.seed);
        Arc::new(Shared {
            args,
            values,
            next_key: AtomicU64::new(next_key),
            end_key,
            stop: AtomicBool::new(false),
            deadline,
        })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Closed loop, random keys, until `stop`.
    Mixed,
    /// Set keys from the shared counter until `end_key`.
    Fill(KeyStyle),
    /// Get (and check) keys from the shared counter until `end_key`.
    Verify(KeyStyle),
}

/// Appends one batch for a connection; returns false when there is no more work.
fn next_batch(
    sh: &Shared,
    mode: Mode,
    rng: &mut Rng,
    out: &mut Vec<u8>,
    expect: &mut VecDeque<Expect>,
) -> bool {
    let a = &sh.args;
    match mode {
        Mode::Mixed => {
            if sh.stop.load(Ordering::Relaxed) {
                return false;
            }
            let total = a.ratio_sets + a.ratio_gets;
            for _ in 0..a.pipeline {
                let n = rng.below(a.key_max);
                if rng.below(total) < a.ratio_sets {
                    push_set(sh, KeyStyle::Bench, n, out);
                    expect.push_back(Expect::Stored);
                } else {
                    push_get(sh, KeyStyle::Bench, n, out);
                    expect.push_back(Expect::Value(None));
                }
            }
            true
        }
        Mode::Fill(style) | Mode::Verify(style) => {
            let start = sh.next_key.fetch_add(a.pipeline as u64, Ordering::Relaxed);
            if start >= sh.end_key || sh.stop.load(Ordering::Relaxed) {
                return false;
            }
            for n in start..(start + a.pipeline as u64).min(sh.end_key) {
                if let Mode::Fill(_) = mode {
                    push_set(sh, style, n, out);
                    expect.push_back(Expect::Stored);
                } else {
                    push_get(sh, style, n, out);
                    expect.push_back(Expect::Value(Some(n)));
                }
            }
            true
        }
    }
}

/// Binary request magic and the opcodes used.
const BIN_REQ: u8 = 0x80;
const BIN_RES: u8 = 0x81;
const BIN_GET: u8 = 0x00;
const BIN_SET: u8 = 0x01;

/// A binary request header (vbucket, opaque and cas 0).
fn push_bin_header(out: &mut Vec<u8>, op: u8, key_len: usize, extras_len: u8, body_len: usize) {
    out.push(BIN_REQ);
    out.push(op);
    out.extend_from_slice(&(key_len as u16).to_be_bytes());
    out.push(extras_len);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    out.extend_from_slice(&[0; 12]);
}

/// `get <key>` or a binary Get.
fn push_get(sh: &Shared, style: KeyStyle, n: u64, out: &mut Vec<u8>) {
    if sh.args.binary {
        let mut key = Vec::with_capacity(32);
        push_key(&mut key, style, &sh.args.key_prefix, n);
        push_bin_header(out, BIN_GET, key.len(), 0, key.len());
        out.extend_from_slice(&key);
        return;
    }
    out.extend_from_slice(b"get ");
    push_key(out, style, &sh.args.key_prefix, n);
    out.extend_from_slice(b"\r\n");
}

fn push_set(sh: &Shared, style: KeyStyle, n: u64, out: &mut Vec<u8>) {
    let v = sh.values.value(n);
    if sh.args.binary {
        let mut key = Vec::with_capacity(32);
        push_key(&mut key, style, &sh.args.key_prefix, n);
        push_bin_header(out, BIN_SET, key.len(), 8, 8 + key.len() + v.len());
        out.extend_from_slice(&[0; 8]); // flags, exptime
        out.extend_from_slice(&key);
        out.extend_from_slice(v);
        return;
    }
    out.extend_from_slice(b"set ");
    push_key(out, style, &sh.args.key_prefix, n);
    let _ = write!(out, " 0 0 {}\r\n", v.len());
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
}

// ---------------------------------------------------------------------------------------
// Reply parsing

#[derive(Default)]
struct Counts {
    gets: u64,
    hits: u64,
    sets: u64,
    stored: u64,
    not_stored: u64,
    errors: u64,
    bad_values: u64,
    conn_errors: u64,
    first_error: Option<String>,
}

impl Counts {
    fn merge(&mut self, o: Counts) {
        self.gets += o.gets;
        self.hits += o.hits;
        self.sets += o.sets;
        self.stored += o.stored;
        self.not_stored += o.not_stored;
        self.errors += o.errors;
        self.bad_values += o.bad_values;
        self.conn_errors += o.conn_errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(msg);
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn is_error_line(line: &[u8]) -> bool {
    line == b"ERROR" || line.starts_with(b"SERVER_ERROR") || line.starts_with(b"CLIENT_ERROR")
}

enum Parsed {
    /// Need more bytes.
    Incomplete,
    /// One reply consumed (this many bytes).
    Done(usize),
    /// The stream can't be parsed any further.
    Broken(String),
}

/// Parses one binary response frame of kind `exp` from the front of `buf`.
fn parse_bin_reply(buf: &[u8], exp: Expect, sh: &Shared, c: &mut Counts) -> Parsed {
    if buf.len() < 24 {
        return Parsed::Incomplete;
    }
    if buf[0] != BIN_RES {
        return Parsed::Broken(format!("bad response magic 0x{:02x}", buf[0]));
    }
    let (op, status) = (buf[1], u16::from_be_bytes([buf[6], buf[7]]));
    let key_len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let ext_len = usize::from(buf[4]);
    let body = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    let total = 24 + body;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let err_text = || {
        format!(
            "binary status 0x{status:04x}: {}",
            String::from_utf8_lossy(&buf[24..total])
        )
    };
    match exp {
        Expect::Stored => {
            if op != BIN_SET {
                return Parsed::Broken(format!("reply opcode 0x{op:02x} to a set"));
            }
            c.sets += 1;
            match status {
                0 => c.stored += 1,
                1 | 2 | 5 => c.not_stored += 1,
                _ => c.error(err_text()),
            }
        }
        Expect::Value(check) => {
            if op != BIN_GET {
                return Parsed::Broken(format!("reply opcode 0x{op:02x} to a get"));
            }
            c.gets += 1;
            match status {
                0 => {
                    c.hits += 1;
                    let start = 24 + ext_len + key_len;
                    if let Some(n) = check
                        && buf.get(start..total) != Some(sh.values.value(n))
                    {
                        c.bad_values += 1;
                    }
                }
                1 => {}
                _ => c.error(err_text()),
            }
        }
    }
    Parsed::Done(total)
}

/// Parses one reply of kind `exp` from the front of `buf`.
fn parse_reply(buf: &[u8], exp: Expect, sh: &Shared, c: &mut Counts) -> Parsed {
    if sh.args.binary {
        return parse_bin_reply(buf, exp, sh, c);
    }
    let Some(eol) = find_crlf(buf) else {
        if buf.len() > 4096 {
            return Parsed::Broken("reply line longer than 4096 bytes".into());
        }
        return Parsed::Incomplete;
    };
    let line = &buf[..eol];
    let after_line = eol + 2;
    match exp {
        Expect::Stored => {
            c.sets += 1;
            match line {
                b"STORED" => c.stored += 1,
                b"NOT_STORED" | b"EXISTS" | b"NOT_FOUND" => c.not_stored += 1,
                l if is_error_line(l) => c.error(String::from_utf8_lossy(l).into_owned()),
                l => {
                    return Parsed::Broken(format!(
                        "unexpected reply to set: {:?}",
                        String::from_utf8_lossy(l)
                    ));
                }
            }
            Parsed::Done(after_line)
        }
        Expect::Value(check) => {
            if line == b"END" {
                c.gets += 1;
                return Parsed::Done(after_line);
            }
            if is_error_line(line) {
                c.gets += 1;
                c.error(String::from_utf8_lossy(line).into_owned());
                return Parsed::Done(after_line);
            }
            // VALUE <key> <flags> <bytes> [<cas>]
            let mut parts = line.split(|&b| b == b' ');
            let bytes = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(b"VALUE"), Some(_), Some(_), Some(n)) => std::str::from_utf8(n)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok()),
                _ => None,
            };
            let Some(bytes) = bytes else {
                return Parsed::Broken(format!(
                    "unexpected reply to get: {:?}",
                    String::from_utf8_lossy(line)
                ));
            };
            let data_end = after_line + bytes;
            let total = data_end + 2 + 5; // data, "\r\n", "END\r\n"
            if buf.len() < total {
                return Parsed::Incomplete;
            }
            if &buf[data_end..total] != b"\r\nEND\r\n" {
                return Parsed::Broken("value not followed by \\r\\nEND\\r\\n".into());
            }
            c.gets += 1;
            c.hits += 1;
            if let Some(n) = check
                && &buf[after_line..data_end] != sh.values.value(n)
            {
                c.bad_values += 1;
            }
            Parsed::Done(total)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Event loop: one per client thread, many connections each

struct Conn {
    stream: TcpStream,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Bytes read and not parsed yet: `rbuf[rstart..rend]`.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    expect: VecDeque<Expect>,
    batch_start: Instant,
    rng: Rng,
    done: bool,
}

impl Conn {
    fn start_batch(&mut self, sh: &Shared, mode: Mode) -> bool {
        self.wbuf.clear();
        self.wpos = 0;
        if !next_batch(sh, mode, &mut self.rng, &mut self.wbuf, &mut self.expect) {
            return false;
        }
        self.batch_start = Instant::now();
        true
    }

    /// Writes what it can; Err on a broken connection.
    fn flush(&mut self) -> io::Result<()> {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until WouldBlock and parses every complete reply; Err on a broken connection.
    fn read_and_parse(&mut self, sh: &Shared, c: &mut Counts) -> Result<(), String> {
        loop {
            if self.rbuf.len() - self.rend < 16 * 1024 {
                if self.rstart > 0 {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                }
                if self.rbuf.len() - self.rend < 16 * 1024 {
                    let len = self.rbuf.len();
                    self.rbuf.resize(len * 2, 0);
                }
            }
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Err("connection closed by server".into()),
                Ok(n) => self.rend += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
            self.parse(sh, c)?;
        }
    }

    fn parse(&mut self, sh: &Shared, c: &mut Counts) -> Result<(), String> {
        while let Some(&exp) = self.expect.front() {
            match parse_reply(&self.rbuf[self.rstart..self.rend], exp, sh, c) {
                Parsed::Incomplete => break,
                Parsed::Done(n) => {
                    self.rstart += n;
                    self.expect.pop_front();
                }
                Parsed::Broken(msg) => return Err(msg),
            }
        }
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.expect.is_empty() {
            return Err("server sent more replies than requests".into());
        }
        Ok(())
    }
}

struct ThreadResult {
    counts: Counts,
    hist: Histogram,
    timed_out: bool,
}

fn run_thread(sh: &Shared, mode: Mode, addr: SocketAddr, nconns: usize, seed: u64) -> ThreadResult {
    let mut counts = Counts::default();
    let mut hist = Histogram::new();
    let fail = |counts: &mut Counts, msg: String| {
        counts.conn_errors += 1;
        if counts.first_error.is_none() {
            counts.first_error = Some(msg);
        }
    };
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            fail(&mut counts, format!("poll: {e}"));
            return ThreadResult {
                counts,
                hist,
                timed_out: false,
            };
        }
    };
    let mut conns = Vec::with_capacity(nconns);
    for i in 0..nconns {
        let connect = StdTcpStream::connect_timeout(&addr, Duration::from_secs(5)).and_then(|s| {
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        let std_stream = match connect {
            Ok(s) => s,
            Err(e) => {
                fail(&mut counts, format!("connect {addr}: {e}"));
                continue;
            }
        };
        let mut stream = TcpStream::from_std(std_stream);
        let tok = Token(conns.len());
        if let Err(e) =
            poll.registry()
                .register(&mut stream, tok, Interest::READABLE | Interest::WRITABLE)
        {
            fail(&mut counts, format!("register: {e}"));
            continue;
        }
        conns.push(Conn {
            stream,
            wbuf: Vec::with_capacity(4096),
            wpos: 0,
            rbuf: vec![0; 64 * 1024],
            rstart: 0,
            rend: 0,
            expect: VecDeque::new(),
            batch_start: Instant::now(),
            rng: Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
            done: false,
        });
    }
    let mut active = 0;
    for c in conns.iter_mut() {
        if c.start_batch(sh, mode) {
            if let Err(e) = c.flush() {
                fail(&mut counts, format!("write: {e}"));
                c.done = true;
                continue;
            }
            active += 1;
        } else {
            c.done = true;
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut timed_out = false;
    while active > 0 {
        let now = Instant::now();
        if now >= sh.deadline {
            timed_out = true;
            break;
        }
        let wait = (sh.deadline - now).min(Duration::from_millis(200));
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            fail(&mut counts, format!("poll: {e}"));
            break;
        }
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.done {
                continue;
            }
            let mut result = Ok(());
            if ev.is_writable() || ev.is_write_closed() {
                result = c.flush().map_err(|e| format!("write: {e}"));
            }
            if result.is_ok() && (ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                result = c.read_and_parse(sh, &mut counts);
            }
            // Batches done one after another on this connection: start the next at once.
            while result.is_ok() && c.expect.is_empty() && c.wpos == c.wbuf.len() {
                let us = c.batch_start.elapsed().as_micros() as u64;
                hist.record(us);
                if !c.start_batch(sh, mode) {
                    c.done = true;
                    active -= 1;
                    break;
                }
                result = c.flush().map_err(|e| format!("write: {e}"));
                if result.is_ok() {
                    // Replies may already be waiting (tiny batches on a fast server).
                    result = c.read_and_parse(sh, &mut counts);
                }
            }
            if let Err(msg) = result {
                fail(&mut counts, msg);
                c.done = true;
                active -= 1;
            }
        }
    }
    ThreadResult {
        counts,
        hist,
        timed_out,
    }
}

struct RunResult {
    counts: Counts,
    hist: Histogram,
    secs: f64,
    timed_out: bool,
}

/// Runs `mode` on `conns` connections over `threads` threads; stops Mixed after `duration`.
fn run(
    sh: Arc<Shared>,
    mode: Mode,
    conns: usize,
    threads: usize,
    duration: Option<f64>,
) -> RunResult {
    let addr = resolve(sh.args.addr.as_deref().unwrap_or_default());
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let sh = Arc::clone(&sh);
            let n = conns / threads + usize::from(t < conns % threads);
            let seed = sh.args.seed.wrapping_add(t as u64 * 7919);
            let addr = addr.clone();
            std::thread::spawn(move || match addr {
                Ok(addr) => run_thread(&sh, mode, addr, n, seed),
                Err(e) => {
                    let counts = Counts {
                        conn_errors: 1,
                        first_error: Some(e),
                        ..Counts::default()
                    };
                    ThreadResult {
                        counts,
                        hist: Histogram::new(),
                        timed_out: false,
                    }
                }
            })
        })
        .collect();
    if let Some(d) = duration {
        let end = start + Duration::from_secs_f64(d);
        while Instant::now() < end && handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(10).min(end - Instant::now()));
        }
        sh.stop.store(true, Ordering::Relaxed);
    }
    let mut res = RunResult {
        counts: Counts::default(),
        hist: Histogram::new(),
        secs: 0.0,
        timed_out: false,
    };
    for h in handles {
        match h.join() {
            Ok(r) => {
                res.counts.merge(r.counts);
                res.hist.merge(&r.hist);
                res.timed_out |= r.timed_out;
            }
            Err(_) => res.counts.conn_errors += 1,
        }
    }
    res.secs = start.elapsed().as_secs_f64();
    res
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}

// ---------------------------------------------------------------------------------------
// Modes

fn report_errors(c: &Counts) {
    if let Some(e) = &c.first_error {
        eprintln!(
            "loadgen: {} protocol errors, {} connection errors; first: {e}",
            c.errors, c.conn_errors
        );
    }
}

fn bench(args: Args) -> ExitCode {
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

fn fill(args: Args, total_bytes: u64) -> ExitCode {
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

fn stats(args: &Args) -> ExitCode {
    let result = (|| -> Result<(), String> {
        let addr = resolve(args.addr.as_deref().unwrap_or_default())?;
        let timeout = Duration::from_secs_f64(args.timeout.unwrap_or(10.0));
        let mut s = StdTcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.write_all(b"stats\r\n").map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.ends_with(b"END\r\n") {
            let n = s
                .read(&mut chunk)
                .map_err(|e| format!("reading stats: {e}"))?;
            if n == 0 || buf.len() > 1 << 20 {
                return Err("stats: connection closed before END".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        for line in String::from_utf8_lossy(&buf).lines() {
            let mut p = line.splitn(3, ' ');
            if let (Some("STAT"), Some(k), Some(v)) = (p.next(), p.next(), p.next()) {
                println!("{k}={v}");
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

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
