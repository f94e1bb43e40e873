//! Command line of the load generator: the usage text, [`Args`] with its defaults, and
//! `parse_args` (flags, size suffixes, the sanity checks that exit 2).
//!
//! Owns: flag names, defaults and their validation. Must not touch: sockets, the workload,
//! printing results (the modes read `Args`; only `main` decides what a parse error does).

pub(crate) const USAGE: &str = "\
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
  --tls-ca FILE        speak TLS, trusting the CA in FILE (the server must name the --addr host)
  --tls-cert FILE      with --tls-key: present this client certificate (mutual TLS)
  --tls-key FILE
";

#[derive(Clone, Debug)]
pub(crate) struct Args {
    pub(crate) addr: Option<String>,
    pub(crate) conns: usize,
    pub(crate) threads: usize,
    pub(crate) duration: f64,
    pub(crate) ratio_sets: u64,
    pub(crate) ratio_gets: u64,
    pub(crate) pipeline: usize,
    pub(crate) key_max: u64,
    pub(crate) value_size: usize,
    pub(crate) prefill: bool,
    pub(crate) prefill_only: bool,
    pub(crate) seed: u64,
    pub(crate) timeout: Option<f64>,
    pub(crate) fill: Option<u64>,
    pub(crate) value_min: Option<usize>,
    pub(crate) value_max: Option<usize>,
    pub(crate) key_prefix: String,
    pub(crate) verify_last: u64,
    pub(crate) stats: bool,
    pub(crate) binary: bool,
    pub(crate) tls_ca: Option<String>,
    pub(crate) tls_cert: Option<String>,
    pub(crate) tls_key: Option<String>,
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
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
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

pub(crate) fn parse_args(argv: &[String]) -> Result<Args, String> {
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
            "--tls-ca" => a.tls_ca = Some(num(flag, it.next())?),
            "--tls-cert" => a.tls_cert = Some(num(flag, it.next())?),
            "--tls-key" => a.tls_key = Some(num(flag, it.next())?),
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
    pub(crate) fn value_range(&self) -> (usize, usize) {
        (
            self.value_min.unwrap_or(self.value_size),
            self.value_max.unwrap_or(self.value_size),
        )
    }
}
