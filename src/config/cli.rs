//! The command line as `clap` sees it: the [`Args`] definition (memcached's flag names,
//! defaults and help) and the small clap helpers `load` uses to merge a config file under
//! the command line (`parse_argv`, `explicit_ids`, `clap_message`).
//!
//! Owns: flag names, their clap types and defaults, clap error text. Must not touch:
//! validation or meaning of the values (validate.rs turns `Args` into a `Config`), reading
//! files, sockets, the store.

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use std::ffi::OsString;
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

    /// Space for key and value in the first chunk of the progression (a 64-byte class for
    /// tiny items comes before it).
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

    /// Meta protocol version: `1.6.18` (default; meta commands answer exactly as memcached
    /// 1.6.18) or `1.6.45` (also the meta flags added since, as 1.6.45 answers them).
    #[arg(long = "meta-protocol", default_value = "1.6.18", value_parser = ["1.6.18", "1.6.45"])]
    pub meta_protocol: String,

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

    /// File whose first line is the pool's shared secret (at least 16 characters): lists
    /// pushed between members are sealed with it, and a pushed list without a valid seal is
    /// refused. Needed to join a pool and to delist failed nodes.
    #[arg(long = "cluster-secret-file")]
    pub cluster_secret_file: Option<PathBuf>,

    /// Seconds without an answer after which a member is down and the pool delists it.
    #[arg(long = "cluster-fail-timeout", default_value_t = 6)]
    pub cluster_fail_timeout: u64,

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
    /// TLS on every TCP listener (`-o ssl_chain_cert=..,ssl_key=..`; `-l notls:ADDR` keeps
    /// one plain). Unix sockets and UDP stay plain, as in memcached.
    #[arg(short = 'Z', long = "enable-ssl")]
    pub enable_ssl: bool,
}

/// The first line of a `clap` error (its message without the usage block).
pub(super) fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("invalid arguments");
    line.trim_start_matches("error: ").to_string()
}

/// Ids of the flags a parse saw explicitly (not defaults).
pub(super) fn explicit_ids(m: &clap::ArgMatches) -> Vec<String> {
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

pub(super) fn parse_argv<I, T>(argv: I) -> Result<(clap::ArgMatches, Args), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let m = Args::command().try_get_matches_from(argv)?;
    let a = Args::from_arg_matches(&m)?;
    Ok((m, a))
}
