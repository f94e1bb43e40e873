//! Turning [`Args`] into a [`Config`]: `Config::from_args` checks every flag (threads,
//! connections, memory and item sizes, ports and listen addresses, unix socket, `-o`
//! options via extended.rs, SASL/auth credential files, protocol, cluster settings) and
//! fails with a [`ConfigError`] naming the bad flag. Also the value parsers it is built on:
//! `parse_size` (k/m/g suffixes) and `parse_listen` (one `-l` entry).
//!
//! Owns: what a flag value means and whether it is acceptable. Must not touch: clap
//! (cli.rs), the config file and the command line/file merge (mod.rs `load`, file.rs),
//! sockets, the store, threads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::cli::Args;
use super::{ClusterSettings, Config, ConfigError, ProtocolMode, extended, tls};

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
    let checks: [(bool, &'static str); 2] = [
        (
            a.memory_file.is_some(),
            "-e/--memory-file (restartable cache)",
        ),
        (a.napi_ids.is_some(), "-N/--napi-ids"),
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
        let mut iface_tls = Vec::new();
        for entry in a.listen.iter().flat_map(|l| l.split([',', ';'])) {
            let (mode, addr) = tls::split_listen_prefix(entry);
            if !a.enable_ssl
                && let Some(msg) = tls::prefix_without_tls(mode)
            {
                return err(format!("-l {entry}: {msg}"));
            }
            let sa = parse_listen(addr, bind_port(port))?;
            if !ifaces.contains(&sa) {
                ifaces.push(sa);
                iface_tls.push(mode);
            }
        }
        let mut ext = extended::parse(&a.extended).map_err(ConfigError)?;
        ext.tls.enabled = a.enable_ssl;
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
        let (listen, listen_tls) = if port == 0 || !network {
            (Vec::new(), Vec::new())
        } else {
            (ifaces, iface_tls)
        };
        if ext.tls.enabled && listen.is_empty() {
            // memcached: TLS needs a TCP port (unix sockets and UDP stay plain).
            return err("-Z: ERROR: You cannot enable SSL without a TCP port.");
        }
        warnings.extend(tls::check(&ext.tls, &listen_tls).map_err(ConfigError)?);
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
        if a.cluster_fail_timeout < 2 {
            return err("--cluster-fail-timeout: must be at least 2 seconds");
        }
        let secret = match &a.cluster_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("--cluster-secret-file {}: {e}", path.display()))
                })?;
                Some(
                    crate::cluster::seal::Secret::from_file_text(&text).map_err(|e| {
                        ConfigError(format!("--cluster-secret-file {}: {e}", path.display()))
                    })?,
                )
            }
            None => None,
        };
        if let Some(j) = &a.cluster_join
            && secret.is_none()
        {
            return err(format!(
                "--cluster-join {j}: needs --cluster-secret-file (pool membership is authenticated; every member reads the same secret)"
            ));
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
            secret,
            fail_timeout: std::time::Duration::from_secs(a.cluster_fail_timeout),
        };
        if ext.tls.enabled
            && ext.tls.ca_cert.is_none()
            && (cluster.file.is_some() || cluster.join.is_some())
        {
            return err(
                "-Z with a pool (--cluster-file/--cluster-join): peers are reached over TLS and checked against -o ssl_ca_cert=FILE, which is missing",
            );
        }
        Ok(Config {
            cluster,
            protocol,
            sasl: a.enable_sasl,
            ascii_auth: a.auth_file.is_some(),
            credentials,
            listen,
            listen_tls,
            port,
            memory_limit,
            conn_limit: a.conn_limit as usize,
            threads: a.threads as usize,
            item_size_max,
            meta_new: a.meta_protocol == "1.6.45",
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

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
        assert!(cfg(&["-Z"]).unwrap_err().0.contains("ssl_chain_cert"));
        assert!(
            cfg(&["-l", "notls:127.0.0.1"])
                .unwrap_err()
                .0
                .contains("'notls'")
        );
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
}
