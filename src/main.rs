//! Entry point: parse flags, set up logging, bind, drop privileges, start the store and the
//! server, wait for SIGTERM/SIGINT (or `shutdown`), exit 0.

use clap::Parser;
use ferrocache::config::{Args, Config};
use ferrocache::server;
use ferrocache::store::{Store, StoreConfig};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod privileges;

/// sysexits.h EX_USAGE: bad command line.
const EX_USAGE: u8 = 64;
/// sysexits.h EX_OSERR: could not bind, spawn, ...
const EX_OSERR: u8 = 71;

fn main() -> ExitCode {
    let args = Args::parse();
    if args.version {
        println!("ferrocache {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let level = match args.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .init();
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            ExitCode::from(EX_OSERR)
        }
    }
}

fn run(config: Config) -> std::io::Result<()> {
    let cluster = server::cluster::Cluster::new(config.cluster.clone())
        .map(Arc::new)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listeners = server::bind_all(&config)?;
    privileges::drop_if_root(config.user.as_deref())?;
    if let Some(path) = &config.pid_file {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot write pid file {}: {e}", path.display()),
            )
        })?;
    }
    let store = Store::new(StoreConfig {
        mem_limit: config.memory_limit,
        item_size_max: config.item_size_max,
        growth_factor: config.growth_factor,
        min_chunk: config.min_chunk,
        evictions: config.evictions,
        cas: config.cas,
        crawler_enabled: true,
        slab_chunk_max: StoreConfig::DEFAULT_SLAB_CHUNK_MAX,
        slab_sizes: None,
        track_sizes: false,
    });
    let _sweeper = store.start_sweeper();
    let pid_file = config.pid_file.clone();
    let leave_on_shutdown = config.cluster.leave_on_shutdown;
    let handle = server::start(config, store, cluster.clone(), listeners)?;
    for a in handle.addrs() {
        log::info!("listening on {a}");
    }

    // Cluster sync: poll peers and the cluster file; join a pool if asked.
    let sync_stop = Arc::new(AtomicBool::new(false));
    let sync = {
        let (c, stop) = (cluster.clone(), sync_stop.clone());
        std::thread::Builder::new()
            .name("cluster-sync".into())
            .spawn(move || c.run_sync(stop))?
    };

    // Signals: SIGHUP re-reads the cluster file; SIGTERM/SIGINT leave the pool if asked,
    // then stop accepting, flush replies, exit 0.
    let shared = handle.shared();
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let signal_handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    log::info!("SIGHUP: re-reading the cluster file");
                    cluster.reload_file();
                    continue;
                }
                log::info!("signal {sig} received, shutting down");
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
