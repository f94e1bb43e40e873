//! Command-line flags (memcached's names) and the validated [`Config`] the rest of the
//! program trusts.
//!
//! Owns: flag parsing (`clap`), validation, size suffixes. Must not touch: sockets, the
//! store, threads. `Args` is what the user typed; `Config::from_args` turns it into settings
//! or a [`ConfigError`] whose message names the bad flag (main exits with code 64).

use clap::{ArgAction, Parser};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// memcached-compatible flags.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ferrocache",
    version,
    about = "A memcached-compatible, multithreaded cache daemon",
    disable_version_flag = true
)]
pub struct Args {
    /// TCP port to listen on.
    #[arg(short = 'p', long = "port", default_value_t = 11211)]
    pub port: u16,

    /// Interfaces to listen on, comma separated (`ip`, `ip:port`, `[v6]:port`, `localhost`, `*`).
    #[arg(short = 'l', long = "listen", default_value = "127.0.0.1")]
    pub listen: String,

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

    /// UDP port; only 0 (off, memcached's default since 1.5.6) is supported.
    #[arg(short = 'U', long = "udp-port")]
    pub udp_port: Option<u16>,

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

    // memcached flags not implemented yet: accepted by the parser only so that start-up can
    // fail with a message naming them (see `UNSUPPORTED`).
    #[arg(short = 's', long = "unix-socket", hide = true)]
    pub unix_socket: Option<String>,
    #[arg(short = 'a', long = "unix-mask", hide = true)]
    pub unix_mask: Option<String>,
    #[arg(short = 'd', long = "daemon", hide = true)]
    pub daemon: bool,
    #[arg(short = 'r', long = "enable-coredumps", hide = true)]
    pub enable_coredumps: bool,
    #[arg(short = 'k', long = "lock-memory", hide = true)]
    pub lock_memory: bool,
    #[arg(short = 'L', long = "enable-largepages", hide = true)]
    pub enable_largepages: bool,
    #[arg(short = 'D', hide = true)]
    pub delimiter: Option<String>,
    #[arg(short = 'F', long = "disable-flush-all", hide = true)]
    pub disable_flush_all: bool,
    #[arg(short = 'X', long = "disable-dumping", hide = true)]
    pub disable_dumping: bool,
    #[arg(short = 'W', long = "disable-watch", hide = true)]
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
    #[arg(short = 'o', long = "extended", hide = true)]
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
    pub listen: Vec<SocketAddr>,
    pub port: u16,
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

/// memcached flags we recognise but do not implement yet.
fn unsupported(a: &Args) -> Option<&'static str> {
    let checks: [(bool, &'static str); 14] = [
        (a.unix_socket.is_some(), "-s/--unix-socket"),
        (a.unix_mask.is_some(), "-a/--unix-mask"),
        (a.daemon, "-d/--daemon"),
        (a.enable_coredumps, "-r/--enable-coredumps"),
        (a.lock_memory, "-k/--lock-memory"),
        (a.enable_largepages, "-L/--enable-largepages"),
        (a.delimiter.is_some(), "-D"),
        (a.disable_flush_all, "-F/--disable-flush-all"),
        (a.disable_dumping, "-X/--disable-dumping"),
        (a.disable_watch, "-W/--disable-watch"),
        (!a.extended.is_empty(), "-o/--extended"),
        (a.memory_file.is_some(), "-e/--memory-file"),
        (a.napi_ids.is_some(), "-N/--napi-ids"),
        (a.enable_ssl, "-Z/--enable-ssl"),
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
        if let Some(p) = a.udp_port
            && p != 0
        {
            return err(format!(
                "-U {p}: UDP is not supported by ferrocache yet (use -U 0 or leave it out)"
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
        let mut listen = Vec::new();
        for entry in a.listen.split(',') {
            let sa = parse_listen(entry, a.port)?;
            if !listen.contains(&sa) {
                listen.push(sa);
            }
        }
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
                let port = listen.first().map(|a| a.port()).unwrap_or(a.port);
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
            port: a.port,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(cfg(&["-s", "/tmp/x.sock"]).unwrap_err().0.contains("-s"));
        assert!(
            cfg(&["-S", "--sasl-pwdb", "/nonexistent"])
                .unwrap_err()
                .0
                .contains("--sasl-pwdb")
        );
        assert!(cfg(&["-D", ":"]).unwrap_err().0.contains("-D"));
        assert!(cfg(&["-o", "modern"]).unwrap_err().0.contains("-o"));
        assert!(cfg(&["-U", "11211"]).unwrap_err().0.contains("-U"));
        assert!(cfg(&["-U", "0"]).is_ok());
    }
}
