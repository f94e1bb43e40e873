//! SIGHUP: apply a re-read configuration to the running server.
//!
//! Owns: deciding, setting by setting, what changes live (verbosity, memory limit,
//! connection limit, idle timeout, the cluster file, the TLS certificates) and what needs a
//! restart. Must not touch: reading the file (that is `config::load`), sockets.

use super::Shared;
use crate::config::Config;
use std::sync::atomic::Ordering;

/// SIGHUP with `-Z`: re-reads the TLS certificate, key and CA files, as `refresh_certs`
/// does (new connections use them, established ones keep theirs). A failure is logged and
/// keeps the running certificates.
pub fn refresh_tls(shared: &Shared) {
    let Some(tls) = shared.tls.as_deref() else {
        return;
    };
    match tls.refresh(shared.store.uptime()) {
        Ok(()) => log::info!("SIGHUP: TLS certificates reloaded"),
        Err(e) => log::error!("SIGHUP: TLS certificates not reloaded, running ones kept: {e}"),
    }
}

/// What a reload did.
#[derive(Debug)]
pub struct ReloadReport {
    /// The settings now in force: `old` with the live changes of `new`. Settings needing a
    /// restart keep their running values, so the next reload reports them again.
    pub running: Config,
    /// Settings changed live, e.g. `-m 64 -> 128`.
    pub applied: Vec<String>,
    /// Settings that differ from the running ones but only take effect after a restart.
    pub restart_needed: Vec<String>,
}

/// Applies `new` over `old` (the settings in force). Returns what was applied.
pub fn apply(shared: &Shared, old: &Config, new: &Config) -> ReloadReport {
    let mut r = ReloadReport {
        running: old.clone(),
        applied: Vec::new(),
        restart_needed: Vec::new(),
    };
    if new.verbose != old.verbose {
        let v = u32::from(new.verbose);
        shared.live.verbosity.store(v, Ordering::Relaxed);
        crate::logging::set_verbosity(v);
        r.applied
            .push(format!("verbosity {} -> {}", old.verbose, new.verbose));
    }
    if new.memory_limit != old.memory_limit {
        let mb = |b: usize| b >> 20;
        if shared.store.set_mem_limit(new.memory_limit) {
            r.running.memory_limit = new.memory_limit;
            r.applied.push(format!(
                "-m {} -> {}",
                mb(old.memory_limit),
                mb(new.memory_limit)
            ));
        } else {
            r.restart_needed.push(format!(
                "-m {} (the store refused the new limit)",
                mb(new.memory_limit)
            ));
        }
    }
    if new.conn_limit != old.conn_limit {
        shared
            .live
            .conn_limit
            .store(new.conn_limit, Ordering::Relaxed);
        r.running.conn_limit = new.conn_limit;
        r.applied
            .push(format!("-c {} -> {}", old.conn_limit, new.conn_limit));
    }
    if new.ext.idle_timeout != old.ext.idle_timeout {
        shared
            .live
            .idle_timeout
            .store(new.ext.idle_timeout, Ordering::Relaxed);
        r.running.ext.idle_timeout = new.ext.idle_timeout;
        r.applied.push(format!(
            "-o idle_timeout {} -> {}",
            old.ext.idle_timeout, new.ext.idle_timeout
        ));
    }
    if new.cluster.file != old.cluster.file {
        r.restart_needed.push("--cluster-file".into());
    } else if new.cluster.file.is_some() {
        shared.cluster.reload_file();
        r.applied.push("--cluster-file re-read".into());
    }
    let differs: [(bool, &str); 33] = [
        (new.listen != old.listen, "-l/-p"),
        (new.listen_tls != old.listen_tls, "-l notls:/btls:/mtls:"),
        (new.threads != old.threads, "-t"),
        (new.item_size_max != old.item_size_max, "-I"),
        (new.growth_factor != old.growth_factor, "-f"),
        (new.min_chunk != old.min_chunk, "-n"),
        (new.evictions != old.evictions, "-M"),
        (new.cas != old.cas, "-C"),
        (new.reqs_per_event != old.reqs_per_event, "-R"),
        (new.pid_file != old.pid_file, "-P"),
        (new.enable_shutdown != old.enable_shutdown, "-A"),
        (new.user != old.user, "-u"),
        (new.backlog != old.backlog, "-b"),
        (new.protocol != old.protocol, "-B"),
        (new.sasl != old.sasl, "-S"),
        (new.ascii_auth != old.ascii_auth, "-Y"),
        (new.logfile != old.logfile, "logfile"),
        (new.daemonize != old.daemonize, "-d"),
        (new.lock_memory != old.lock_memory, "-k"),
        (new.enable_coredumps != old.enable_coredumps, "-r"),
        (new.udp_listen != old.udp_listen, "-U"),
        (new.unix_socket != old.unix_socket, "-s"),
        (new.unix_mask != old.unix_mask, "-a"),
        (new.delimiter != old.delimiter, "-D"),
        (new.flush_enabled != old.flush_enabled, "-F"),
        (new.dumping_enabled != old.dumping_enabled, "-X"),
        (new.watch_enabled != old.watch_enabled, "-W"),
        (new.cluster.admin != old.cluster.admin, "--cluster-admin"),
        (
            new.cluster.sync_interval != old.cluster.sync_interval,
            "--cluster-sync-interval",
        ),
        (
            new.cluster.advertise != old.cluster.advertise,
            "--cluster-advertise",
        ),
        (
            new.cluster.secret != old.cluster.secret,
            "--cluster-secret-file",
        ),
        (
            new.cluster.fail_timeout != old.cluster.fail_timeout,
            "--cluster-fail-timeout",
        ),
        (
            ext_without_live(new) != ext_without_live(old),
            "-o (other than idle_timeout)",
        ),
    ];
    r.restart_needed.extend(
        differs
            .iter()
            .filter(|(d, _)| *d)
            .map(|(_, name)| name.to_string()),
    );
    r
}

/// The `-o` settings that need a restart (idle_timeout is applied live).
fn ext_without_live(c: &Config) -> crate::config::Extended {
    let mut x = c.ext.clone();
    x.idle_timeout = 0;
    x
}
