//! The admin runner: commands that do not touch one item — `flush_all`, `stats` groups,
//! the cluster admin commands (`config set|delete cluster`), authentication checks — with
//! their counters. Shared by the text and binary decoders; each returns a typed outcome the
//! decoder words.

use super::ctx::{Ctx, bump};
use crate::cluster::Adopted;
use crate::server::observe::stats::{self, StatList};

/// What `flush_all` (text) / Flush (binary) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    Done,
    /// `-F`: flush_all is disabled.
    Disabled,
    /// The delay argument was not a number.
    BadDelay,
}

/// `flush_all [delay]` (`None`: a delay that is not a number). memcached counts the command
/// before refusing it.
pub fn flush(ctx: &Ctx<'_>, delay: Option<i64>) -> Flushed {
    bump(&ctx.stats.cmd_flush);
    if !ctx.shared.config.flush_enabled {
        return Flushed::Disabled;
    }
    let Some(delay) = delay else {
        return Flushed::BadDelay;
    };
    ctx.shared.store.flush_all(delay);
    Flushed::Done
}

/// A `stats` group both protocols serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    General,
    Settings,
    Items,
    Slabs,
    Sizes,
    /// `stats reset`: the counters are zeroed and the list is empty.
    Reset,
}

/// The lines of one `stats` group.
pub fn stats_group(ctx: &Ctx<'_>, group: Group) -> StatList {
    let shared = ctx.shared;
    match group {
        Group::General => stats::general(shared),
        Group::Settings => stats::settings(shared),
        Group::Items => stats::items(shared),
        Group::Slabs => stats::slabs(shared),
        Group::Sizes => stats::sizes(shared),
        Group::Reset => {
            stats::reset(shared);
            StatList::default()
        }
    }
}

/// Checks an ascii-auth `set` (`-Y`), counting `auth_cmds` and `auth_errors`.
pub fn ascii_auth(ctx: &Ctx<'_>, data: &[u8]) -> bool {
    let config = &ctx.shared.config;
    let Some(creds) = config.credentials.as_deref() else {
        return false;
    };
    bump(&ctx.stats.auth_cmds);
    let ok = creds.check_ascii(data);
    if !ok {
        bump(&ctx.stats.auth_errors);
        log::info!("ascii authentication failed");
    }
    ok
}

/// Checks a SASL PLAIN authentication (`-S`), counting `auth_cmds` and `auth_errors`.
/// `plain`: `None` when the mechanism is not PLAIN or the request is a step.
pub fn sasl_auth(ctx: &Ctx<'_>, plain: Option<&[u8]>) -> bool {
    bump(&ctx.stats.auth_cmds);
    let creds = ctx.shared.config.credentials.as_deref();
    let ok = matches!((creds, plain), (Some(c), Some(data)) if c.check_plain(data));
    if !ok {
        bump(&ctx.stats.auth_errors);
        log::info!("SASL authentication failed");
    }
    ok
}

/// Outcome of a cluster admin command (`config set|delete cluster`).
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigAnswer {
    /// Applied.
    Done,
    /// A list not newer than the running one: ignored (answered `NOT_STORED`).
    NotNewer,
    /// A version more than `cluster::MAX_AHEAD` ahead: refused.
    TooFarAhead,
    /// An operator command with `--cluster-admin` off: answered as an unknown command.
    Disabled,
    /// An operator command on a connection that did not authenticate (no SASL/-Y), and no
    /// valid seal: refused.
    Unauthenticated,
    /// A sealed list whose seal does not verify (another pool's secret, an altered list,
    /// or no secret here): refused.
    BadSeal,
    /// Not the `cluster` key, or nothing to delete.
    NotFound,
    /// A malformed payload; the running list is kept.
    Bad(String),
}

/// `config set cluster`. A list sealed with the pool's secret is a member's push and is
/// accepted whatever `--cluster-admin` says; an unsealed one is an operator's, accepted only
/// with `--cluster-admin` on a connection authenticated by SASL or `-Y` (`authenticated`).
/// Either way it replaces the running list only if it supersedes it.
pub fn config_set(ctx: &Ctx<'_>, key: &[u8], data: &[u8], authenticated: bool) -> ConfigAnswer {
    use crate::cluster::seal::{self, Sealed};
    let cluster = &ctx.shared.cluster;
    let opened = match &cluster.settings.secret {
        Some(secret) => secret.open(data),
        None if seal::is_sealed(data) => Sealed::Invalid,
        None => Sealed::Unsealed(data),
    };
    let (payload, by) = match opened {
        Sealed::Invalid => {
            log::warn!("cluster: refused a pushed list with a bad seal");
            return ConfigAnswer::BadSeal;
        }
        Sealed::Valid(p) => (p, "a member"),
        Sealed::Unsealed(p) => {
            // A pool member knows `config set` (its peers push to it): refuse as
            // unauthenticated. Elsewhere, without --cluster-admin, it is an unknown command.
            if !cluster.settings.admin && cluster.settings.secret.is_none() {
                return ConfigAnswer::Disabled;
            }
            if !cluster.settings.admin {
                return ConfigAnswer::Unauthenticated;
            }
            if !authenticated {
                log::warn!(
                    "cluster: refused config set cluster from an unauthenticated connection"
                );
                return ConfigAnswer::Unauthenticated;
            }
            (p, "an operator")
        }
    };
    if key != b"cluster" {
        return ConfigAnswer::NotFound;
    }
    match crate::cluster::discovery::parse_payload(payload) {
        Ok(cfg) => {
            let v = cfg.version;
            match cluster.membership.adopt(cfg) {
                Adopted::Yes => {
                    log::info!("cluster: version {v} set by {by}");
                    ConfigAnswer::Done
                }
                Adopted::NotNewer => ConfigAnswer::NotNewer,
                Adopted::TooFarAhead => {
                    log::warn!("cluster: refused version {v}: too far ahead of the pool");
                    ConfigAnswer::TooFarAhead
                }
            }
        }
        Err(e) => ConfigAnswer::Bad(e),
    }
}

/// `config delete cluster` (operators only: `--cluster-admin`, authenticated): the list
/// becomes empty at the next version.
pub fn config_delete(ctx: &Ctx<'_>, key: &[u8], authenticated: bool) -> ConfigAnswer {
    let cluster = &ctx.shared.cluster;
    if !cluster.settings.admin {
        return ConfigAnswer::Disabled;
    }
    if !authenticated {
        return ConfigAnswer::Unauthenticated;
    }
    if key != b"cluster" {
        return ConfigAnswer::NotFound;
    }
    let cur = cluster.membership.get();
    if cur.nodes.is_empty() {
        return ConfigAnswer::NotFound;
    }
    let Some(next) = cur.version.checked_add(1) else {
        return ConfigAnswer::TooFarAhead;
    };
    let empty = crate::cluster::ClusterConfig::new(next, crate::cluster::NodeList::empty());
    match cluster.membership.adopt(empty) {
        Adopted::Yes => ConfigAnswer::Done,
        _ => ConfigAnswer::NotNewer,
    }
}

/// A connection may run operator commands: it authenticated through SASL or `-Y` (the
/// decoders only run commands of authenticated connections when either is configured).
pub fn operator(ctx: &Ctx<'_>) -> bool {
    ctx.shared.config.auth_required()
}

/// What `refresh_certs` did.
pub enum Refreshed {
    Ok,
    /// No `-Z`.
    NotEnabled,
    /// memcached's message (one line), nothing changed.
    Failed(String),
}

/// `refresh_certs`: re-reads the TLS certificate, key and CA files; new connections use
/// them, established ones keep theirs.
pub fn refresh_certs(ctx: &Ctx<'_>) -> Refreshed {
    let Some(tls) = ctx.shared.tls.as_deref() else {
        return Refreshed::NotEnabled;
    };
    match tls.refresh(ctx.shared.store.uptime()) {
        Ok(()) => {
            log::info!("refresh_certs: TLS certificates reloaded");
            Refreshed::Ok
        }
        Err(e) => {
            log::warn!("refresh_certs: {e}");
            Refreshed::Failed(e.replace(['\r', '\n'], " "))
        }
    }
}
