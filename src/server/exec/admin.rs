//! The admin runner: commands that do not touch one item — `flush_all`, `stats` groups,
//! the cluster admin commands (`config set|delete cluster`), authentication checks — with
//! their counters. Shared by the text and binary decoders; each returns a typed outcome the
//! decoder words.

use super::ctx::{Ctx, bump};
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
    /// Applied (or, for `set`, ignored because its version is not newer: see below).
    Done,
    /// `--cluster-admin` is off: answered as an unknown command.
    Disabled,
    /// Not the `cluster` key, or nothing to delete.
    NotFound,
    /// A malformed payload; the running list is kept.
    Bad(String),
}

/// `config set cluster`: adopt the payload if it supersedes the running list. A version
/// not newer than the running one is ignored but still answered as stored, as ElastiCache
/// does for a config it already has: the pool converges on the highest version anyway.
pub fn config_set(ctx: &Ctx<'_>, key: &[u8], payload: &[u8]) -> ConfigAnswer {
    let cluster = &ctx.shared.cluster;
    if !cluster.settings.admin {
        return ConfigAnswer::Disabled;
    }
    if key != b"cluster" {
        return ConfigAnswer::NotFound;
    }
    match crate::cluster::discovery::parse_payload(payload) {
        Ok(cfg) => {
            let v = cfg.version;
            if cluster.membership.adopt(cfg) {
                log::info!("cluster: config set to version {v}");
            } else {
                log::info!("cluster: config set with version {v} ignored (not newer)");
            }
            ConfigAnswer::Done
        }
        Err(e) => ConfigAnswer::Bad(e),
    }
}

/// `config delete cluster`: the list becomes empty at the next version.
pub fn config_delete(ctx: &Ctx<'_>, key: &[u8]) -> ConfigAnswer {
    let cluster = &ctx.shared.cluster;
    if !cluster.settings.admin {
        return ConfigAnswer::Disabled;
    }
    if key != b"cluster" {
        return ConfigAnswer::NotFound;
    }
    let cur = cluster.membership.get();
    if cur.nodes.is_empty() {
        return ConfigAnswer::NotFound;
    }
    let empty =
        crate::cluster::ClusterConfig::new(cur.version + 1, crate::cluster::NodeList::empty());
    cluster.membership.adopt(empty);
    ConfigAnswer::Done
}
