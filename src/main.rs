//! Entry point: read flags (and `--config-file`), set up logging, bind, daemonize, drop
//! privileges, start the store and the server, handle signals (SIGHUP reloads, SIGTERM and
//! SIGINT stop), exit 0. Writes the port file (`portfile.rs`) once the sockets listen.

use clap::Parser;
use ferrocache::config::{self, Args, Config};
use ferrocache::server;
use ferrocache::store::{Store, StoreConfig};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod portfile;
mod process;

/// sysexits.h EX_USAGE: bad command line or config file.
const EX_USAGE: u8 = 64;
/// sysexits.h EX_OSERR: could not bind, spawn, ...
const EX_OSERR: u8 = 71;

fn main() -> ExitCode {
    let cli: Vec<OsString> = std::env::args_os().collect();
    // Help, --version and malformed command lines: clap's messages and exit codes.
    let args = Args::parse_from(&cli);
    if args.version {
        println!("ferrocache {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config = match config::load(&cli) {
        Ok(c) if args.check_config => {
            // The certificates too: a config naming a missing key is not OK.
            if let Err(e) = server::net::tls::TlsContext::load(&c.ext.tls) {
                eprintln!("{e}");
                return ExitCode::from(EX_USAGE);
            }
            for w in &c.warnings {
                println!("warning: {w}");
            }
            println!("configuration OK");
            return ExitCode::SUCCESS;
        }
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let log = match ferrocache::logging::init(u32::from(config.verbose), config.logfile.as_deref())
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(EX_OSERR);
        }
    };
    let store_config = match store_config(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    // memcached loads its certificates at start-up and exits 64 with its message.
    let tls = match server::net::tls::TlsContext::load(&config.ext.tls) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    match run(config, store_config, cli, log, tls) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("ferrocache: {e}");
            ExitCode::from(EX_OSERR)
        }
    }
}

/// The store's settings from the flags; slab geometry (`-o slab_chunk_max`, `slab_sizes`)
/// is validated by the store's own rules.
fn store_config(config: &Config) -> Result<StoreConfig, String> {
    let slab_chunk_max = config
        .ext
        .slab_chunk_max
        .unwrap_or(StoreConfig::DEFAULT_SLAB_CHUNK_MAX);
    ferrocache::store::validate_slab_chunk_max(slab_chunk_max)
        .map_err(|e| format!("-o slab_chunk_max={slab_chunk_max}: {e}"))?;
    if let Some(sizes) = &config.ext.slab_sizes {
        ferrocache::store::validate_slab_sizes(sizes, config.min_chunk, slab_chunk_max)
            .map_err(|e| format!("-o slab_sizes: {e}"))?;
    }
    Ok(StoreConfig {
        mem_limit: config.memory_limit,
        item_size_max: config.item_size_max,
        growth_factor: config.growth_factor,
        min_chunk: config.min_chunk,
        evictions: config.evictions,
        cas: config.cas,
        crawler_enabled: config.ext.lru_crawler,
        slab_chunk_max,
        slab_sizes: config.ext.slab_sizes.clone(),
        track_sizes: config.ext.track_sizes,
    })
}

fn run(
    config: Config,
    store_config: StoreConfig,
    cli: Vec<OsString>,
    log: ferrocache::logging::LogSink,
    tls: Option<Arc<server::net::tls::TlsContext>>,
) -> std::io::Result<()> {
    for w in &config.warnings {
        log::warn!("{w}");
    }
    // Handlers first: a SIGTERM that comes as soon as the sockets accept (a supervisor
    // stopping a fresh start) is queued and handled once serving, instead of killing the
    // process by the default action. Inherited across the `-d` fork.
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    // memcached: no port file with a unix socket (`-s`).
    let port_file = config
        .unix_socket
        .is_none()
        .then(portfile::open_from_env)
        .flatten();
    let sockets = server::bind_all(&config)?;
    let tcp_addrs = sockets
        .tcp
        .iter()
        .map(|l| l.local_addr())
        .collect::<std::io::Result<Vec<_>>>()?;
    let udp_addrs = sockets
        .udp
        .iter()
        .map(|u| u.local_addr())
        .collect::<std::io::Result<Vec<_>>>()?;
    // The advertised entry names the port actually bound (`-p -1` is ephemeral).
    let mut cluster_settings = config.cluster.clone();
    cluster_settings.advertise = cluster_settings.advertise_on(tcp_addrs.first().copied());
    let cluster = server::cluster::Cluster::new(cluster_settings)
        .map(Arc::new)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    if let Some(t) = &tls {
        cluster.use_tls(t.clone());
    }
    process::ensure_nofile(config.conn_limit)?;
    if config.enable_coredumps {
        process::enable_coredumps()?;
    }
    // Single-threaded until here: fork now, after binding (bind errors reach the terminal).
    if config.daemonize {
        process::daemonize()?;
    }
    if config.lock_memory {
        process::lock_memory();
    }
    // The pid file is written while still root (as /var/run needs), like memcached's
    // start-up script.
    if let Some(path) = &config.pid_file {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot write pid file {}: {e}", path.display()),
            )
        })?;
    }
    if let (Some(p), Some((uid, gid))) = (&port_file, process::target_ids(config.user.as_deref())?)
        && let Err(e) = p.chown(uid, gid)
    {
        log::warn!("port file: {e}");
    }
    process::drop_if_root(config.user.as_deref())?;
    let store = Store::new(store_config);
    store.set_automove(config.ext.slab_reassign && config.ext.slab_automove != 0);
    let _sweeper = store.start_sweeper();
    let pid_file = config.pid_file.clone();
    let leave_on_shutdown = config.cluster.leave_on_shutdown;
    let running = config.clone();
    let handle = server::start(config, store, cluster.clone(), sockets, tls)?;
    // Published once serving (the `.lck` descriptor, opened before binding and closed
    // only now, leaves the same gap below the listeners as in memcached).
    portfile::publish(port_file, &tcp_addrs, &udp_addrs);
    for a in handle.addrs() {
        log::info!("listening on {a}");
    }
    process::sd_notify("READY=1");

    // Join a pool if asked, before anything else: a node that cannot join exits non-zero
    // (it must never serve a list the pool does not share).
    let sync_stop = Arc::new(AtomicBool::new(false));
    if let Some(peer) = cluster.settings.join.clone()
        && let Err(e) = cluster.join(&peer, &sync_stop)
    {
        log::error!("cluster: {e}");
        eprintln!("ferrocache: cluster: {e}");
        handle.shutdown();
        handle.join();
        std::process::exit(1);
    }
    // Cluster sync: probe members, delist failed ones, poll peers and the cluster file.
    let sync = {
        let (c, stop) = (cluster.clone(), sync_stop.clone());
        std::thread::Builder::new()
            .name("cluster-sync".into())
            .spawn(move || c.run_sync(stop))?
    };

    // Signals: SIGHUP reopens the log file and re-reads the config file (or, without one,
    // the cluster file); SIGTERM/SIGINT leave the pool if asked, then stop accepting, flush
    // replies, exit 0.
    let shared = handle.shared();
    let signal_handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut running = running;
            for sig in signals.forever() {
                if sig == SIGHUP {
                    process::sd_notify_reloading();
                    if let Err(e) = log.reopen() {
                        log::error!("SIGHUP: {e}; logging continues to the old file");
                    }
                    running = reload(&shared, &cluster, &cli, running);
                    // memcached 1.6.40: SIGHUP also reloads the TLS certificates.
                    server::reload::refresh_tls(&shared);
                    process::sd_notify("READY=1");
                    continue;
                }
                log::info!("signal {sig} received, shutting down");
                process::sd_notify("STOPPING=1");
                if leave_on_shutdown {
                    cluster.leave();
                }
                shared.begin_shutdown();
                break;
            }
        })?;
    handle.join();
    sync_stop.store(true, Ordering::Release);
    if sync.join().is_err() {
        log::error!("the cluster sync thread panicked");
    }
    signal_handle.close();
    if let Some(path) = pid_file {
        let _ = std::fs::remove_file(path);
    }
    log::info!("stopped");
    Ok(())
}

/// SIGHUP: re-reads the command line and config file; applies what can change live and
/// returns the settings now in force. A bad file is logged and changes nothing.
fn reload(
    shared: &server::Shared,
    cluster: &server::cluster::Cluster,
    cli: &[OsString],
    running: Config,
) -> Config {
    if running.config_file.is_none() {
        log::info!("SIGHUP: re-reading the cluster file");
        cluster.reload_file();
        return running;
    }
    match config::load(cli) {
        Err(e) => {
            log::error!("SIGHUP: config rejected, running config kept: {e}");
            running
        }
        Ok(new) => {
            let report = server::reload::apply(shared, &running, &new);
            if report.applied.is_empty() {
                log::info!("SIGHUP: config re-read, nothing to change live");
            } else {
                log::info!("SIGHUP: applied {}", report.applied.join(", "));
            }
            if !report.restart_needed.is_empty() {
                log::warn!(
                    "SIGHUP: changed but needing a restart (not applied): {}",
                    report.restart_needed.join(", ")
                );
            }
            report.running
        }
    }
}
