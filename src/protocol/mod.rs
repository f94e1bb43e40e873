//! Wire protocols: bytes in, [`Command`] out; replies in, bytes out.
//!
//! Owns: parsing and encoding of memcached's text protocol (and later binary and meta).
//! Must not touch: sockets, threads, the store, clocks. Every function here is pure and
//! unit-tested on byte slices; "need more bytes" is `Ok(None)`, never an error.

pub mod binary;
pub mod command;
pub mod reply;
pub mod text;

pub use command::{
    ArithOp, Automove, CachedumpArg, Classes, Command, CrawlerCmd, DetailArg, GetKind, Keys,
    MAX_META_FLAGS, MetaCmd, MetaFlag, MetaFlagList, MetaFlags, MetaSetMode, MetaVerb, StatsArg,
    StoreMode, WatchEvents,
};
pub use reply::Reply;

/// Limits the parser enforces; passed in so the protocol layer needs no global config.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest key in bytes (memcached: 250).
    pub max_key: usize,
    /// Largest value a storage command may carry (`-I`); larger ones are swallowed and
    /// answered `SERVER_ERROR object too large for cache`.
    pub max_value: usize,
    /// Longest `get`/`gets`/`gat`/`gats` line we buffer while waiting for its newline.
    /// Other commands are cut off after 2048 bytes without a newline (memcached closes them).
    pub max_get_line: usize,
    /// `--meta-protocol 1.6.45`: the meta flags memcached added after 1.6.18 (`E`, `md x`,
    /// `mg C`, `ms s`, `ms MA/MP N`, ...) answered as 1.6.45 answers them. Off (the
    /// default), meta commands answer exactly as 1.6.18, which rejects those flags.
    pub meta_new: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key: 250,
            max_value: 1024 * 1024,
            max_get_line: 1024 * 1024,
            meta_new: false,
        }
    }
}
