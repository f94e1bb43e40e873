//! Log output through `log` + `env_logger`: one line per event, to stderr or appended to
//! `--logfile` (Debian's `logfile` line), reopened on SIGHUP so logrotate can move it.
//!
//! The level follows the verbosity (`-v`: info, `-vv`: debug, which includes the
//! memcached-style command trace, `-vvv`: trace) and changes live with the `verbosity`
//! command and SIGHUP. `RUST_LOG`, when set, wins and the verbosity no longer changes it.
//!
//! Owns: the log sink. Must not touch: what is logged (callers decide), secrets (callers
//! never pass credentials here).

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether RUST_LOG decides the filter (then verbosity changes are not applied).
static RUST_LOG_SET: AtomicBool = AtomicBool::new(false);

/// The log level a memcached verbosity means.
pub fn level_for(verbosity: u32) -> log::LevelFilter {
    match verbosity {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Applies a new verbosity to the logger (unless RUST_LOG decides).
pub fn set_verbosity(verbosity: u32) {
    if !RUST_LOG_SET.load(Ordering::Relaxed) {
        log::set_max_level(level_for(verbosity));
    }
}

/// Where log lines go; `reopen` re-opens a log file.
#[derive(Clone)]
pub struct LogSink {
    path: Option<PathBuf>,
    file: Arc<Mutex<Option<File>>>,
}

struct SinkWriter(Arc<Mutex<Option<File>>>);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.lock().as_mut() {
            Some(f) => f.write(buf),
            None => io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.0.lock().as_mut() {
            Some(f) => f.flush(),
            None => io::stderr().flush(),
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("logfile {}: {e}", path.display())))
}

impl LogSink {
    /// Re-opens the log file (after logrotate moved it). No-op when logging to stderr.
    pub fn reopen(&self) -> io::Result<()> {
        if let Some(p) = &self.path {
            let f = open_append(p)?;
            *self.file.lock() = Some(f);
        }
        Ok(())
    }

    /// The log file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// Installs the global logger. Fails only when the log file cannot be opened.
pub fn init(verbosity: u32, logfile: Option<&Path>) -> io::Result<LogSink> {
    let file = match logfile {
        Some(p) => Some(open_append(p)?),
        None => None,
    };
    let sink = LogSink {
        path: logfile.map(Path::to_path_buf),
        file: Arc::new(Mutex::new(file)),
    };
    let rust_log = std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty());
    RUST_LOG_SET.store(rust_log, Ordering::Relaxed);
    let mut b = env_logger::Builder::new();
    if rust_log {
        b.parse_env("RUST_LOG");
    } else {
        // Everything passes the builder's filter; `log::set_max_level` does the filtering so
        // that `verbosity` can change it at run time.
        b.filter_level(log::LevelFilter::Trace);
        // rustls narrates every handshake and alert at debug: ferrocache logs TLS failures
        // itself (`server/net/drive.rs`), so only rustls' warnings pass.
        b.filter_module("rustls", log::LevelFilter::Warn);
    }
    b.format_timestamp_millis()
        .target(env_logger::Target::Pipe(Box::new(SinkWriter(
            sink.file.clone(),
        ))));
    if b.try_init().is_err() {
        return Err(io::Error::other("a logger is already installed"));
    }
    set_verbosity(verbosity);
    Ok(sink)
}
