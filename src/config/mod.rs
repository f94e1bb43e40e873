//! Command-line flags (memcached's names) and the validated [`Config`] the rest of the
//! program trusts.
//!
//! Owns: flag parsing (`clap`), validation, size suffixes. Must not touch: sockets, the
//! store, threads. `Args` is what the user typed; `Config::from_args` turns it into settings
//! or a [`ConfigError`] whose message names the bad flag (main exits with code 64).

pub mod extended;
pub mod file;

pub use extended::Extended;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// memcached-compatible flags.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ferrocache",
    version,
    about = "A memcached-compatible, multithreaded cache daemon",
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Args {
    /// TCP port to listen on (default 11211, or the -U port when only -U is given, as in
    /// memcached); 0 turns TCP off, -1 picks an ephemeral port (see `MEMCACHED_PORT_FILENAME`).
    #[arg(short = 'p', long = "port", allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-1..=65535))]
    pub port: Option<i32>,

    /// Interfaces to listen on, comma separated or repeated (`ip`, `ip:port`, `[v6]:port`,
    /// `localhost`, `*`).
    #[arg(short = 'l', long = "listen", default_value = "127.0.0.1", action = ArgAction::Append)]
    pub listen: Vec<String>,

    /// Item memory in megabytes.
    #[arg(short = 'm', long = "memory-limit", default_value = "64")]
    pub memory_limit: String,

    /// Maximum simultaneous client connections.
    #[arg(short = 'c', long = "conn-limit", default_value_t = 1024)]
    pub conn_limit: u32,

    /// Number of worker threads.
    #[arg(short = 't', long = "threads", default_value_t = 4)]
    pub threads: u32,

    /// Maximum item size, with k/m suffix (1k..1024m).
    #[arg(short = 'I', long = "max-item-size", default_value = "1m")]
    pub max_item_size: String,

    /// Slab chunk size growth factor.
    #[arg(short = 'f', long = "slab-growth-factor", default_value_t = 1.25)]
    pub slab_growth_factor: f64,

    /// Minimum space for key, value and flags in the smallest chunk.
    #[arg(short = 'n', long = "slab-min-size", default_value_t = 48)]
    pub slab_min_size: u32,

    /// Return an error on memory exhaustion instead of evicting items.
    #[arg(short = 'M', long = "disable-evictions")]
    pub disable_evictions: bool,

    /// Disable the use of CAS.
    #[arg(short = 'C', long = "disable-cas")]
    pub disable_cas: bool,

    /// Maximum requests processed per event before yielding to other connections.
    #[arg(short = 'R', long = "max-reqs-per-event", default_value_t = 20)]
    pub max_reqs_per_event: u32,

    /// Verbose logging (-v: errors and warnings, -vv: also client commands and replies).
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,

    /// Write the process id to this file.
    #[arg(short = 'P', long = "pid-file")]
    pub pid_file: Option<PathBuf>,

    /// Enable the `shutdown` command.
    #[arg(short = 'A', long = "enable-shutdown")]
    pub enable_shutdown: bool,

    /// Drop privileges to this user when started as root.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,

    /// Listen backlog.
    #[arg(short = 'b', long = "listen-backlog", default_value_t = 1024)]
    pub listen_backlog: i32,

    /// Print the version and exit.
    #[arg(short = 'V', long = "version")]
    pub version: bool,

    /// UDP port (0: off, memcached's default since 1.5.6; -1: an ephemeral port); listens
    /// on the -l addresses.
    #[arg(short = 'U', long = "udp-port", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-1..=65535))]
    pub udp_port: i32,

    /// Load the flags and config file, report the first problem (naming its line), exit:
    /// 0 when they would start, 64 otherwise. Run it before `systemctl reload`.
    #[arg(long = "check-config")]
    pub check_config: bool,

    /// Read flags from this file first (memcached.conf style: one flag per line, `#`
    /// comments, `logfile PATH`); flags on the command line override it. Re-read on SIGHUP.
    #[arg(long = "config-file")]
    pub config_file: Option<PathBuf>,

    /// Append log output (stderr) to this file; reopened on SIGHUP.
    #[arg(long = "logfile")]
    pub logfile: Option<PathBuf>,

    /// Cluster node list file (`host|ip|port` lines, optional `version N`), served by
    /// `config get cluster`; re-read on SIGHUP and when it changes.
    #[arg(long = "cluster-file")]
    pub cluster_file: Option<PathBuf>,

    /// Allow `config set cluster` / `config delete cluster` (authenticated connections
    /// only when -S or -Y is on).
    #[arg(long = "cluster-admin")]
    pub cluster_admin: bool,

    /// Seconds between polls of the peers' `config get cluster`.
    #[arg(long = "cluster-sync-interval", default_value_t = 5)]
    pub cluster_sync_interval: u64,

    /// Join the pool that HOST:PORT belongs to at start-up.
    #[arg(long = "cluster-join")]
    pub cluster_join: Option<String>,

    /// This node's entry in the node list, `host|ip|port` (default: from -l and -p).
    #[arg(long = "cluster-advertise")]
    pub cluster_advertise: Option<String>,

    /// On SIGTERM, remove this node from the pool and wait for the pool to converge first.
    #[arg(long = "cluster-leave-on-shutdown")]
    pub cluster_leave_on_shutdown: bool,

    /// Longest wait for convergence when leaving, in seconds.
    #[arg(long = "cluster-leave-timeout", default_value_t = 10)]
    pub cluster_leave_timeout: u64,

    /// Unix socket path to listen on (disables TCP and UDP, as in memcached).
    #[arg(short = 's', long = "unix-socket")]
    pub unix_socket: Option<PathBuf>,
    /// Access mask for the unix socket, in octal.
    #[arg(short = 'a', long = "unix-mask", default_value = "700")]
    pub unix_mask: String,
    /// Run as a daemon (fork, setsid, detach from the terminal).
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// Maximize the core file limit.
    #[arg(short = 'r', long = "enable-coredumps")]
    pub enable_coredumps: bool,
    /// Lock all paged memory (mlockall); a failure is a warning.
    #[arg(short = 'k', long = "lock-memory")]
    pub lock_memory: bool,
    /// Large memory pages (memcached preallocation): accepted with a warning.
    #[arg(short = 'L', long = "enable-largepages")]
    pub enable_largepages: bool,
    /// Delimiter between key prefix and id for `stats detail` (default `:`).
    #[arg(short = 'D', default_value = ":")]
    pub delimiter: String,
    /// Disable `flush_all`.
    #[arg(short = 'F', long = "disable-flush-all")]
    pub disable_flush_all: bool,
    /// Disable `stats cachedump` and `lru_crawler metadump`.
    #[arg(short = 'X', long = "disable-dumping")]
    pub disable_dumping: bool,
    /// Disable `watch`.
    #[arg(short = 'W', long = "disable-watch")]
    pub disable_watch: bool,
    /// Protocol: auto (sniff the first byte), ascii or binary.
    #[arg(short = 'B', long = "protocol", default_value = "auto")]
    pub protocol: String,
    /// Require SASL PLAIN authentication (binary protocol) against `--sasl-pwdb`.
    #[arg(short = 'S', long = "enable-sasl")]
    pub enable_sasl: bool,
    /// SASL password file, `user:password` per line (default: $MEMCACHED_SASL_PWDB).
    #[arg(long = "sasl-pwdb")]
    pub sasl_pwdb: Option<PathBuf>,
    /// Require ascii authentication (the first `set` carries `user password`) against this
    /// `user:password` file.
    #[arg(short = 'Y', long = "auth-file")]
    pub auth_file: Option<PathBuf>,
    /// memcached extended options, comma separated or repeated (`-o modern,idle_timeout=600`).
    #[arg(short = 'o', long = "extended", action = ArgAction::Append)]
    pub extended: Vec<String>,
    #[arg(short = 'e', long = "memory-file", hide = true)]
    pub memory_file: Option<String>,
    #[arg(short = 'N', long = "napi-ids", hide = true)]
    pub napi_ids: Option<String>,
    #[arg(short = 'Z', long = "enable-ssl", hide = true)]
    pub enable_ssl: bool,
}

/// Auto-discovery settings, validated.
#[derive(Clone, Debug, Default)]
pub struct ClusterSettings {
    pub file: Option<PathBuf>,
    pub admin: bool,
    pub sync_interval: std::time::Duration,
    pub join: Option<String>,
    /// `host|ip|port` as given, or derived from the first `-l` address and `-p`.
    pub advertise: String,
    pub leave_on_shutdown: bool,
    pub leave_timeout: std::time::Duration,
}

impl ClusterSettings {
    /// The advertised entry once the sockets are bound: an entry derived from `-l` and
    /// `-p -1` names port 0 until then, and gets the port the kernel picked (`bound`, the
    /// first TCP socket's address). A given `--cluster-advertise` never names port 0.
    pub fn advertise_on(&self, bound: Option<SocketAddr>) -> String {
        match (self.advertise.strip_suffix("|0"), bound) {
            (Some(head), Some(addr)) => format!("{head}|{}", addr.port()),
            _ => self.advertise.clone(),
        }
    }
}

/// Which protocols connections may speak (`-B`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolMode {
    /// Decided per connection by its first byte (0x80: binary), memcached's default.
    Auto,
    Ascii,
    Binary,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub protocol: ProtocolMode,
    /// TCP sockets to open; a port 0 here is an ephemeral port (`-p -1`).
    pub listen: Vec<SocketAddr>,
    /// `-p` as memcached keeps it (`stats settings` `tcpport`): 0 is off, -1 ephemeral.
    pub port: i32,
    pub memory_limit: usize,
    pub conn_limit: usize,
    pub threads: usize,
    pub item_size_max: usize,
    pub growth_factor: f64,
    pub min_chunk: usize,
    pub evictions: bool,
    pub cas: bool,
    pub reqs_per_event: usize,
    pub verbose: u8,
    pub pid_file: Option<PathBuf>,
    pub enable_shutdown: bool,
    pub user: Option<String>,
    pub backlog: i32,
    /// `-S`: binary connections must authenticate with SASL PLAIN; text ones are refused
    /// unless `-Y` is also given.
    pub sasl: bool,
    /// `-Y`: text connections must authenticate with their first `set`.
    pub ascii_auth: bool,
    /// Cluster settings (auto discovery).
    pub cluster: ClusterSettings,
    /// Users for `-S` and `-Y` (both files merged when both are given).
    pub credentials: Option<std::sync::Arc<crate::auth::Credentials>>,
    /// `--config-file`, re-read on SIGHUP.
    pub config_file: Option<PathBuf>,
    /// `--logfile` (Debian's `logfile` line): where log lines go instead of stderr.
    pub logfile: Option<PathBuf>,
    /// `-d`.
    pub daemonize: bool,
    /// `-k`.
    pub lock_memory: bool,
    /// `-r`.
    pub enable_coredumps: bool,
    /// UDP sockets to open (the TCP addresses with the `-U` port); empty when UDP is off.
    pub udp_listen: Vec<SocketAddr>,
    /// `-U` as memcached keeps it (`stats settings` `udpport`): 0 is off, -1 ephemeral.
    pub udp_port: i32,
    /// `-s`: unix socket path (TCP and UDP are then off, as in memcached).
    pub unix_socket: Option<PathBuf>,
    /// `-a`: permission bits of the unix socket.
    pub unix_mask: u32,
    /// `-D`: key prefix delimiter for `stats detail`.
    pub delimiter: u8,
    /// `flush_all` allowed (no `-F`).
    pub flush_enabled: bool,
    /// `stats cachedump` / `lru_crawler metadump` allowed (no `-X`).
    pub dumping_enabled: bool,
    /// `watch` allowed (no `-W`).
    pub watch_enabled: bool,
    /// `-o` settings.
    pub ext: Extended,
    /// Things accepted but without effect, to log once at start-up.
    pub warnings: Vec<String>,
}

impl Config {
    /// Whether connections must authenticate before anything else.
    pub fn auth_required(&self) -> bool {
        self.sasl || self.ascii_auth
    }
}

/// A flag whose value cannot be used; the message names the flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Parses `1048576`, `1024k`, `1m`, `1g` (case-insensitive suffixes) into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1u64 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1u64 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1u64 << 30),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// The port to bind for a `-p`/`-U` value: -1 (memcached's "ephemeral") is port 0, which
/// the kernel resolves at bind(2); 0 ("off") never reaches a bind.
fn bind_port(flag: i32) -> u16 {
    u16::try_from(flag).unwrap_or(0)
}

/// Parses one `-l` entry. `default_port` applies when the entry carries none.
pub fn parse_listen(entry: &str, default_port: u16) -> Result<SocketAddr, ConfigError> {
    let e = entry.trim();
    let bad = || {
        ConfigError(format!(
            "-l {entry}: not an IP address (expected e.g. 127.0.0.1, ::1, [::1]:11211, localhost or *)"
        ))
    };
    if e.is_empty() {
        return Err(bad());
    }
    if let Ok(sa) = e.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    // `[v6]` without a port.
    if let Some(inner) = e.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let ip: Ipv6Addr = inner.parse().map_err(|_| bad())?;
        return Ok(SocketAddr::new(IpAddr::V6(ip), default_port));
    }
    let (host, port) = match e.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (e, default_port),
    };
    let ip = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        "*" | "INADDR_ANY" | "0.0.0.0" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => return Err(bad()),
    };
    Ok(SocketAddr::new(ip, port))
}

/// memcached flags ferrocache refuses: they promise something it does not do.
fn unsupported(a: &Args) -> Option<&'static str> {
    let checks: [(bool, &'static str); 3] = [
        (
            a.memory_file.is_some(),
            "-e/--memory-file (restartable cache)",
        ),
        (a.napi_ids.is_some(), "-N/--napi-ids"),
        (a.enable_ssl, "-Z/--enable-ssl (TLS)"),
    ];
    checks.iter().find(|(set, _)| *set).map(|(_, name)| *name)
}

fn read_credentials(path: &std::path::Path, flag: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{flag} {}: {e}", path.display())))?;
    crate::auth::Credentials::parse(&text)
        .map_err(|e| ConfigError(format!("{flag} {}: {e}", path.display())))?;
    Ok(text)
}

impl Config {
    /// Validates the flags.
    pub fn from_args(a: &Args) -> Result<Config, ConfigError> {
        if let Some(flag) = unsupported(a) {
            return err(format!(
                "{flag}: this memcached flag is not supported by ferrocache yet"
            ));
        }
        if a.threads == 0 {
            return err("-t 0: number of threads must be greater than 0");
        }
        if a.threads > 256 {
            return err(format!("-t {}: at most 256 threads", a.threads));
        }
        if a.conn_limit == 0 {
            return err("-c 0: connection limit must be greater than 0");
        }
        if a.max_reqs_per_event == 0 {
            return err("-R 0: number of requests per event must be greater than 0");
        }
        if !(a.slab_growth_factor > 1.0 && a.slab_growth_factor.is_finite()) {
            return err(format!(
                "-f {}: factor must be greater than 1",
                a.slab_growth_factor
            ));
        }
        if a.slab_min_size == 0 {
            return err("-n 0: chunk size must be greater than 0");
        }
        if a.listen_backlog <= 0 {
            return err(format!(
                "-b {}: listen backlog must be greater than 0",
                a.listen_backlog
            ));
        }
        let mem_mb = match parse_size(&a.memory_limit) {
            // memcached: a plain number is megabytes; a suffixed one is bytes.
            Some(n) if a.memory_limit.trim().bytes().all(|b| b.is_ascii_digit()) => {
                n.checked_mul(1 << 20)
            }
            Some(n) => Some(n),
            None => None,
        };
        let memory_limit = match mem_mb {
            Some(b) if ((1 << 20)..=(128u64 << 30)).contains(&b) => b as usize,
            _ => {
                return err(format!(
                    "-m {}: memory limit must be a number of megabytes (1 to 131072)",
                    a.memory_limit
                ));
            }
        };
        let item_size_max = match parse_size(&a.max_item_size) {
            Some(n) if n < 1024 => {
                return err(format!(
                    "-I {}: item max size cannot be less than 1024 bytes",
                    a.max_item_size
                ));
            }
            Some(n) if n > 1024 * 1024 * 1024 => {
                return err(format!(
                    "-I {}: cannot set item size limit higher than 1024 mb",
                    a.max_item_size
                ));
            }
            Some(n) => n as usize,
            None => {
                return err(format!(
                    "-I {}: not a size (use bytes or a k/m suffix, e.g. 1m)",
                    a.max_item_size
                ));
            }
        };
        if item_size_max > memory_limit / 2 && item_size_max > 1024 * 1024 {
            return err(format!(
                "-I {}: cannot set item size limit higher than 1/2 of memory max",
                a.max_item_size
            ));
        }
        // memcached: `-U N` alone (N not 0) moves the TCP port to N as well.
        let port = a
            .port
            .unwrap_or(if a.udp_port != 0 { a.udp_port } else { 11211 });
        let mut ifaces = Vec::new();
        for entry in a.listen.iter().flat_map(|l| l.split(',')) {
            let sa = parse_listen(entry, bind_port(port))?;
            if !ifaces.contains(&sa) {
                ifaces.push(sa);
            }
        }
        let ext = extended::parse(&a.extended).map_err(ConfigError)?;
        if let Some(n) = ext.slab_chunk_max {
            if n == 0 || n > 1 << 20 {
                return err(format!(
                    "-o slab_chunk_max={n}: must be between 1 and 1048576 (the slab page size)"
                ));
            }
            if item_size_max % n != 0 {
                return err(format!(
                    "-o slab_chunk_max={n}: -I (item_size_max: {item_size_max}) must be evenly divisible by slab_chunk_max"
                ));
            }
        }
        let mut warnings = Vec::new();
        if !ext.ignored.is_empty() {
            warnings.push(format!(
                "-o {}: memcached internals with no equivalent in ferrocache, ignored",
                ext.ignored.join(",")
            ));
        }
        if a.enable_largepages {
            warnings.push("-L: large pages are not used by ferrocache, ignored".to_string());
        }
        let unix_mask = match u32::from_str_radix(a.unix_mask.trim(), 8) {
            Ok(m) if m <= 0o777 => m,
            _ => {
                return err(format!(
                    "-a {}: expected an octal mask such as 700",
                    a.unix_mask
                ));
            }
        };
        let delimiter = match a.delimiter.as_bytes() {
            [d] if d.is_ascii_graphic() => *d,
            _ => {
                return err(format!(
                    "-D {:?}: expected one printable character",
                    a.delimiter
                ));
            }
        };
        // memcached: a unix socket replaces the network listeners; port 0 turns one off.
        let network = a.unix_socket.is_none();
        let udp_listen: Vec<SocketAddr> = if a.udp_port == 0 || !network {
            Vec::new()
        } else {
            ifaces
                .iter()
                .map(|sa| SocketAddr::new(sa.ip(), bind_port(a.udp_port)))
                .collect()
        };
        let listen = if port == 0 || !network {
            Vec::new()
        } else {
            ifaces
        };
        let mut text = String::new();
        let sasl_pwdb = a.sasl_pwdb.clone().or_else(|| {
            std::env::var_os("MEMCACHED_SASL_PWDB")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        if a.enable_sasl {
            let Some(path) = &sasl_pwdb else {
                return err(
                    "-S: SASL needs a password file: --sasl-pwdb FILE (or MEMCACHED_SASL_PWDB)",
                );
            };
            text.push_str(&read_credentials(path, "--sasl-pwdb")?);
            text.push('\n');
        }
        if let Some(path) = &a.auth_file {
            text.push_str(&read_credentials(path, "-Y")?);
        }
        let credentials = if a.enable_sasl || a.auth_file.is_some() {
            let c = crate::auth::Credentials::parse(&text)
                .map_err(|e| ConfigError(format!("credentials: {e}")))?;
            Some(std::sync::Arc::new(c))
        } else {
            None
        };
        let protocol = match a.protocol.as_str() {
            "auto" => ProtocolMode::Auto,
            "ascii" => ProtocolMode::Ascii,
            "binary" => ProtocolMode::Binary,
            other => {
                return err(format!(
                    "-B {other}: protocol must be auto, ascii or binary"
                ));
            }
        };
        if a.cluster_sync_interval == 0 {
            return err("--cluster-sync-interval 0: must be at least 1 second");
        }
        if let Some(j) = &a.cluster_join
            && !j.contains(':')
        {
            return err(format!("--cluster-join {j}: expected HOST:PORT"));
        }
        let advertise = match &a.cluster_advertise {
            Some(s) => {
                let parts: Vec<&str> = s.split('|').collect();
                let ok = parts.len() == 3
                    && !parts[0].is_empty()
                    && parts[2].parse::<u16>().is_ok_and(|p| p > 0)
                    && (parts[1].is_empty() || parts[1].parse::<IpAddr>().is_ok());
                if !ok {
                    return err(format!("--cluster-advertise {s}: expected host|ip|port"));
                }
                s.clone()
            }
            None => {
                let ip = listen
                    .first()
                    .map(|a| a.ip())
                    .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
                // Port 0 (`-p -1`, ephemeral) until bound: see `ClusterSettings::advertise_on`.
                // Without TCP (`-s`, `-p 0`) the entry is unreachable anyway: -p or 11211.
                let fallback = if port > 0 { bind_port(port) } else { 11211 };
                let port = listen.first().map_or(fallback, |a| a.port());
                format!("{ip}|{ip}|{port}")
            }
        };
        let cluster = ClusterSettings {
            file: a.cluster_file.clone(),
            admin: a.cluster_admin,
            sync_interval: std::time::Duration::from_secs(a.cluster_sync_interval),
            join: a.cluster_join.clone(),
            advertise,
            leave_on_shutdown: a.cluster_leave_on_shutdown,
            leave_timeout: std::time::Duration::from_secs(a.cluster_leave_timeout),
        };
        Ok(Config {
            cluster,
            protocol,
            sasl: a.enable_sasl,
            ascii_auth: a.auth_file.is_some(),
            credentials,
            listen,
            port,
            memory_limit,
            conn_limit: a.conn_limit as usize,
            threads: a.threads as usize,
            item_size_max,
            growth_factor: a.slab_growth_factor,
            min_chunk: a.slab_min_size as usize,
            evictions: !a.disable_evictions,
            cas: !a.disable_cas,
            reqs_per_event: a.max_reqs_per_event as usize,
            verbose: a.verbose,
            pid_file: a.pid_file.clone(),
            enable_shutdown: a.enable_shutdown,
            user: a.user.clone(),
            backlog: a.listen_backlog,
            config_file: a.config_file.clone(),
            logfile: a.logfile.clone(),
            daemonize: a.daemon,
            lock_memory: a.lock_memory,
            enable_coredumps: a.enable_coredumps,
            udp_listen,
            udp_port: a.udp_port,
            unix_socket: a.unix_socket.clone(),
            unix_mask,
            delimiter,
            flush_enabled: !a.disable_flush_all,
            dumping_enabled: !a.disable_dumping,
            watch_enabled: !a.disable_watch,
            ext,
            warnings,
        })
    }
}

/// The first line of a `clap` error (its message without the usage block).
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("invalid arguments");
    line.trim_start_matches("error: ").to_string()
}

/// Ids of the flags a parse saw explicitly (not defaults).
fn explicit_ids(m: &clap::ArgMatches) -> Vec<String> {
    // The derive's group id ("Args") reports as explicit too: keep real arguments only.
    let args: Vec<String> = Args::command()
        .get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .collect();
    m.ids()
        .filter(|id| args.iter().any(|a| a == id.as_str()))
        .filter(|id| m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect()
}

fn parse_argv<I, T>(argv: I) -> Result<(clap::ArgMatches, Args), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let m = Args::command().try_get_matches_from(argv)?;
    let a = Args::from_arg_matches(&m)?;
    Ok((m, a))
}

/// The command line (`cli`, program name first) merged over its `--config-file`, validated.
///
/// Each file line is parsed on its own first, so an unknown flag or a bad value names its
/// line; a line setting a flag the command line also sets is dropped (the command line
/// wins). Called at start-up and again on SIGHUP with the same `cli`.
pub fn load(cli: &[OsString]) -> Result<Config, ConfigError> {
    let (cli_m, cli_args) = parse_argv(cli).map_err(|e| ConfigError(clap_message(&e)))?;
    let Some(path) = cli_args.config_file.clone() else {
        return Config::from_args(&cli_args);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError(format!("--config-file {shown}: {e}")))?;
    let lines = file::parse(&text).map_err(|e| ConfigError(format!("{shown} {e}")))?;
    let program = cli.first().cloned().unwrap_or_else(|| "ferrocache".into());
    let mut argv: Vec<OsString> = vec![program.clone()];
    let mut kept = Vec::new();
    for line in &lines {
        let one = std::iter::once(program.clone()).chain(line.tokens.iter().map(OsString::from));
        let at = |msg: String| {
            ConfigError(format!(
                "{shown} line {}: `{}`: {msg}",
                line.number, line.text
            ))
        };
        let (m, _) = parse_argv(one).map_err(|e| at(clap_message(&e)))?;
        let ids = explicit_ids(&m);
        if ids.iter().any(|id| id == "config_file") {
            return Err(at("a config file cannot name another config file".into()));
        }
        if ids
            .iter()
            .any(|id| cli_m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        {
            continue;
        }
        argv.extend(line.tokens.iter().map(OsString::from));
        kept.push(line);
    }
    argv.extend(cli.iter().skip(1).cloned());
    let (_, args) =
        parse_argv(&argv).map_err(|e| ConfigError(format!("{shown}: {}", clap_message(&e))))?;
    match Config::from_args(&args) {
        Ok(c) => Ok(c),
        Err(e) => {
            // Name the line when the value is wrong on its own.
            for line in kept {
                let one =
                    std::iter::once(program.clone()).chain(line.tokens.iter().map(OsString::from));
                if let Ok((_, a)) = parse_argv(one)
                    && let Err(le) = Config::from_args(&a)
                {
                    return Err(ConfigError(format!(
                        "{shown} line {}: `{}`: {le}",
                        line.number, line.text
                    )));
                }
            }
            Err(ConfigError(format!("{e} (command line and {shown})")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(args: &[&str]) -> Result<Config, ConfigError> {
        let mut v = vec!["ferrocache"];
        v.extend_from_slice(args);
        let a = Args::try_parse_from(v).map_err(|e| ConfigError(e.to_string()))?;
        Config::from_args(&a)
    }

    #[test]
    fn defaults_match_memcached() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.port, 11211);
        assert_eq!(c.listen, vec!["127.0.0.1:11211".parse().unwrap()]);
        assert_eq!(c.memory_limit, 64 << 20);
        assert_eq!(c.conn_limit, 1024);
        assert_eq!(c.threads, 4);
        assert_eq!(c.item_size_max, 1 << 20);
        assert_eq!(c.growth_factor, 1.25);
        assert_eq!(c.min_chunk, 48);
        assert!(c.evictions && c.cas && !c.enable_shutdown);
        assert_eq!(c.reqs_per_event, 20);
        assert_eq!(c.backlog, 1024);
        assert_eq!(c.protocol, ProtocolMode::Auto);
    }

    #[test]
    fn protocol_modes() {
        assert_eq!(cfg(&["-B", "ascii"]).unwrap().protocol, ProtocolMode::Ascii);
        assert_eq!(
            cfg(&["-B", "binary"]).unwrap().protocol,
            ProtocolMode::Binary
        );
        assert!(cfg(&["-B", "udp"]).unwrap_err().0.starts_with("-B udp"));
    }

    #[test]
    fn sizes_and_suffixes() {
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("m"), None);
        assert_eq!(parse_size("-1k"), None);
        assert_eq!(cfg(&["-I", "2m"]).unwrap().item_size_max, 2 << 20);
        assert!(cfg(&["-I", "512"]).unwrap_err().0.contains("-I 512"));
        assert!(cfg(&["-I", "2g"]).unwrap_err().0.contains("-I 2g"));
        assert!(cfg(&["-I", "64m", "-m", "64"]).is_err());
        assert!(cfg(&["-I", "64m", "-m", "128"]).is_ok());
        assert_eq!(cfg(&["-m", "1024"]).unwrap().memory_limit, 1 << 30);
    }

    #[test]
    fn invalid_values_name_the_flag() {
        assert!(cfg(&["-c", "0"]).unwrap_err().0.starts_with("-c 0"));
        assert!(cfg(&["-t", "0"]).unwrap_err().0.starts_with("-t 0"));
        assert!(cfg(&["-l", "fooble"]).unwrap_err().0.contains("fooble"));
        assert!(cfg(&["-f", "1.0"]).unwrap_err().0.starts_with("-f"));
        assert!(cfg(&["-R", "0"]).is_err());
        assert!(cfg(&["-m", "0"]).is_err());
    }

    #[test]
    fn listen_lists() {
        let c = cfg(&[
            "-l",
            "127.0.0.1,::1,[::1]:9999,localhost:7000",
            "-p",
            "1234",
        ])
        .unwrap();
        assert_eq!(
            c.listen,
            vec![
                "127.0.0.1:1234".parse().unwrap(),
                "[::1]:1234".parse().unwrap(),
                "[::1]:9999".parse().unwrap(),
                "127.0.0.1:7000".parse().unwrap(),
            ]
        );
    }

    #[test]
    fn unsupported_flags_fail_by_name() {
        assert!(
            cfg(&["-S", "--sasl-pwdb", "/nonexistent"])
                .unwrap_err()
                .0
                .contains("--sasl-pwdb")
        );
        assert!(cfg(&["-Z"]).unwrap_err().0.contains("-Z"));
        assert!(cfg(&["-e", "/tmp/mem"]).unwrap_err().0.contains("-e"));
        assert!(cfg(&["-o", "fooble"]).unwrap_err().0.contains("fooble"));
        assert!(cfg(&["-D", "ab"]).unwrap_err().0.starts_with("-D"));
        assert!(cfg(&["-a", "999"]).unwrap_err().0.starts_with("-a 999"));
    }

    #[test]
    fn memcached_operational_flags() {
        let c = cfg(&[
            "-d", "-k", "-r", "-F", "-X", "-W", "-D", "#", "-L", "-b", "64",
        ])
        .unwrap();
        assert!(c.daemonize && c.lock_memory && c.enable_coredumps);
        assert!(!c.flush_enabled && !c.dumping_enabled && !c.watch_enabled);
        assert_eq!((c.delimiter, c.backlog), (b'#', 64));
        assert!(c.warnings.iter().any(|w| w.starts_with("-L")));
        let c = cfg(&["-o", "modern,idle_timeout=30", "-o", "hashpower=20"]).unwrap();
        assert_eq!(c.ext.idle_timeout, 30);
        assert!(c.warnings.iter().any(|w| w.contains("hashpower=20")));
        assert!(
            cfg(&["-o", "slab_chunk_max=3000"])
                .unwrap_err()
                .0
                .contains("divisible")
        );
        assert!(cfg(&["-o", "slab_chunk_max=16384"]).is_ok());
    }

    #[test]
    fn udp_and_unix_sockets() {
        let c = cfg(&["-U", "11311", "-l", "127.0.0.1,::1"]).unwrap();
        assert_eq!(
            c.udp_listen,
            vec![
                "127.0.0.1:11311".parse().unwrap(),
                "[::1]:11311".parse().unwrap()
            ]
        );
        assert!(cfg(&[]).unwrap().udp_listen.is_empty());
        let c = cfg(&["-s", "/tmp/f.sock", "-a", "770", "-U", "11311"]).unwrap();
        assert_eq!(c.unix_socket, Some(PathBuf::from("/tmp/f.sock")));
        assert_eq!(c.unix_mask, 0o770);
        assert!(c.listen.is_empty() && c.udp_listen.is_empty());
        assert_eq!(cfg(&[]).unwrap().unix_mask, 0o700);
    }

    #[test]
    fn ephemeral_and_off_ports_like_memcached() {
        let lo0: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let c = cfg(&["-p", "-1"]).unwrap();
        assert_eq!((c.port, c.listen.clone()), (-1, vec![lo0]));
        let bound = "127.0.0.1:4242".parse().ok();
        assert_eq!(c.cluster.advertise_on(bound), "127.0.0.1|127.0.0.1|4242");
        assert!(cfg(&["-p", "0"]).unwrap().listen.is_empty());
        let c = cfg(&["-U", "-1"]).unwrap();
        assert_eq!((c.port, c.udp_port), (-1, -1));
        assert_eq!(
            (c.listen.clone(), c.udp_listen.clone()),
            (vec![lo0], vec![lo0])
        );
        assert_eq!(cfg(&["-U", "11222"]).unwrap().port, 11222);
        let c = cfg(&["-p", "0", "-U", "11222"]).unwrap();
        assert!(c.listen.is_empty());
        assert_eq!(c.udp_listen, vec!["127.0.0.1:11222".parse().unwrap()]);
        assert!(cfg(&["-p", "-2"]).is_err() && cfg(&["-p", "65536"]).is_err());
        assert!(cfg(&["-U", "-2"]).is_err());
    }

    #[test]
    fn repeated_listen_flags_append() {
        let c = cfg(&["-l", "127.0.0.1", "-l", "::1"]).unwrap();
        assert_eq!(c.listen.len(), 2);
        // Other repeated flags: the last one wins.
        assert_eq!(
            cfg(&["-m", "10", "-m", "20"]).unwrap().memory_limit,
            20 << 20
        );
    }

    fn write_conf(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferrocache-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn load_with(conf: &Path, extra: &[&str]) -> Result<Config, ConfigError> {
        let mut v: Vec<OsString> = vec!["ferrocache".into(), "--config-file".into(), conf.into()];
        v.extend(extra.iter().map(OsString::from));
        load(&v)
    }

    #[test]
    fn debian_memcached_conf_loads_unchanged() {
        let p = write_conf("debian.conf", file::tests::DEBIAN);
        let c = load_with(&p, &[]).unwrap();
        assert!(c.daemonize);
        assert_eq!(c.logfile, Some(PathBuf::from("/var/log/memcached.log")));
        assert_eq!(c.memory_limit, 64 << 20);
        assert_eq!(c.listen, vec!["127.0.0.1:11211".parse().unwrap()]);
        assert_eq!(c.user.as_deref(), Some("memcache"));
        assert_eq!(
            c.pid_file,
            Some(PathBuf::from("/var/run/memcached/memcached.pid"))
        );
        assert_eq!(c.config_file, Some(p));
    }

    #[test]
    fn command_line_overrides_the_file() {
        let p = write_conf(
            "override.conf",
            "-m 64\n-l 127.0.0.1\n-l ::1\n-c 100\n-vv\n",
        );
        let c = load_with(&p, &["-m", "128", "-l", "127.0.0.2"]).unwrap();
        assert_eq!(c.memory_limit, 128 << 20);
        assert_eq!(c.listen, vec!["127.0.0.2:11211".parse().unwrap()]);
        assert_eq!((c.conn_limit, c.verbose), (100, 2));
        let c = load_with(&p, &["-v"]).unwrap();
        assert_eq!(c.verbose, 1);
        assert_eq!(c.listen.len(), 2);
    }

    #[test]
    fn bad_file_lines_are_named() {
        for (text, needle) in [
            ("-m 64\n--fooble\n", "line 2: `--fooble`"),
            ("-m 64\nmemory 64\n", "line 2:"),
            ("# c\n-m zero\n", "line 2: `-m zero`"),
            ("-c 0\n", "line 1: `-c 0`"),
            ("-o modern,fooble\n", "line 1: `-o modern,fooble`"),
            ("--config-file /etc/x\n", "line 1"),
        ] {
            let p = write_conf("bad.conf", text);
            let e = load_with(&p, &[]).unwrap_err().0;
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let missing = load_with(Path::new("/nonexistent/ferrocache.conf"), &[]).unwrap_err();
        assert!(missing.0.contains("/nonexistent/ferrocache.conf"));
    }
}
