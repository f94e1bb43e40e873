//! Command-line flags (memcached's names) and the validated [`Config`] the rest of the
//! program trusts.
//!
//! Owns: the `Config` type and its parts ([`ClusterSettings`], [`ProtocolMode`]),
//! [`ConfigError`], and `load`, the entry point that merges the command line over its
//! `--config-file` and validates the result. Must not touch: sockets, the store, threads.
//! `Args` is what the user typed; `Config::from_args` turns it into settings or a
//! [`ConfigError`] whose message names the bad flag (main exits with code 64).
//!
//! Files, one job each: cli.rs (the clap definition of `Args`), validate.rs
//! (`Config::from_args`, `parse_size`, `parse_listen`), extended.rs (`-o` options),
//! tls.rs (`-Z`, the `ssl_*` options and the `notls:`/`btls:`/`mtls:` listener prefixes),
//! file.rs (the config file's lines). The public names stay here: `crate::config::{Args,
//! Config, ConfigError, load, parse_size, parse_listen, ...}`.

mod cli;
pub mod extended;
pub mod file;
pub mod tls;
mod validate;

pub use cli::Args;
pub use extended::Extended;
pub use validate::{parse_listen, parse_size};

use cli::{clap_message, explicit_ids, parse_argv};
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// `--cluster-secret-file`: the pool's shared secret.
    pub secret: Option<crate::cluster::seal::Secret>,
    /// `--cluster-fail-timeout`.
    pub fail_timeout: std::time::Duration,
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
    /// TLS of each `listen` entry, in the same order (`notls:`/`btls:`/`mtls:` prefixes).
    pub listen_tls: Vec<tls::ListenTls>,
    /// `-p` as memcached keeps it (`stats settings` `tcpport`): 0 is off, -1 ephemeral.
    pub port: i32,
    pub memory_limit: usize,
    pub conn_limit: usize,
    pub threads: usize,
    pub item_size_max: usize,
    /// `--meta-protocol 1.6.45`: speak the meta flags added after memcached 1.6.18.
    pub meta_new: bool,
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
