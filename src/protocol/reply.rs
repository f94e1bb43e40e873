//! Replies that are a fixed word or a short line. Values and stats are streamed by the
//! encoders in `text::encode` straight into the output buffer instead.

/// A one-line reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Stored,
    NotStored,
    Exists,
    NotFound,
    Deleted,
    Touched,
    Ok,
    End,
    Reset,
    /// `ERROR`.
    Error,
    /// `ERROR <msg>` (e.g. memcached's `ERROR Too many open connections`).
    ErrorMsg(&'a str),
    /// memcached's `ERROR: shutdown not enabled` (no space after `ERROR`).
    ShutdownNotEnabled,
    /// The new value after `incr`/`decr`.
    Number(u64),
    /// `CLIENT_ERROR <msg>`.
    ClientError(&'a str),
    /// `SERVER_ERROR <msg>`.
    ServerError(&'a str),
    /// `VERSION <v>`.
    Version(&'a str),
    /// A whole line as given, e.g. memcached's `BADCLASS invalid class id`.
    Line(&'a str),
}

/// Replies with a fixed text, named here so that the executors choose no protocol words.
impl Reply<'static> {
    /// A value above `-I` (storage commands).
    pub const TOO_LARGE: Reply<'static> = Reply::ServerError("object too large for cache");
    /// No memory for a new item.
    pub const OUT_OF_MEMORY_STORING: Reply<'static> =
        Reply::ServerError("out of memory storing object");
    /// No memory for `incr`/`decr`/`ma`'s new value.
    pub const OUT_OF_MEMORY: Reply<'static> = Reply::ServerError("out of memory");
    /// A retrieval reply too large to buffer.
    pub const OUT_OF_MEMORY_WRITING_GET: Reply<'static> =
        Reply::ServerError("out of memory writing get response");
    /// A request too large to buffer (the connection closes).
    pub const OUT_OF_MEMORY_READING: Reply<'static> =
        Reply::ServerError("out of memory reading request");
    /// `lru_crawler metadump` on UDP.
    pub const METADUMP_NOT_OVER_UDP: Reply<'static> =
        Reply::ServerError("lru_crawler metadump is not available over UDP");
    /// `incr`/`decr`/`ma` on a value that is not a number.
    pub const NON_NUMERIC: Reply<'static> =
        Reply::ClientError("cannot increment or decrement non-numeric value");
    /// A data block not ended by `\r\n`.
    pub const BAD_DATA_CHUNK: Reply<'static> = Reply::ClientError("bad data chunk");
    /// Wrong text-protocol credentials.
    pub const AUTH_FAILURE: Reply<'static> = Reply::ClientError("authentication failure");
    /// A command before authenticating.
    pub const UNAUTHENTICATED: Reply<'static> = Reply::ClientError("unauthenticated");
    /// `config set cluster` with a seal that does not verify.
    pub const CLUSTER_BAD_SEAL: Reply<'static> = Reply::ClientError("bad cluster signature");
    /// `config set cluster` with a version far ahead of the running one.
    pub const CLUSTER_VERSION_TOO_FAR: Reply<'static> =
        Reply::ClientError("cluster version too far ahead");
    /// `refresh_certs` on a server without TLS (memcached's words; sent even with noreply).
    pub const TLS_NOT_ENABLED: Reply<'static> = Reply::Line("Error TLS not enabled");
    /// `flush_all` with `-F`.
    pub const FLUSH_ALL_NOT_ALLOWED: Reply<'static> = Reply::ClientError("flush_all not allowed");
    /// `flush_all` with a delay that is not a number.
    pub const INVALID_EXPTIME: Reply<'static> = Reply::ClientError("invalid exptime argument");
    /// `watch` when watching is disabled.
    pub const WATCH_NOT_ALLOWED: Reply<'static> = Reply::ClientError("watch commands not allowed");
    /// `shutdown` with an unknown argument.
    pub const INVALID_SHUTDOWN_MODE: Reply<'static> = Reply::ClientError("invalid shutdown mode");
    /// `stats detail` without a known argument.
    pub const DETAIL_USAGE: Reply<'static> = Reply::ClientError("usage: stats detail on|off|dump");
    /// `stats cachedump` with `-X`.
    pub const CACHEDUMP_NOT_ALLOWED: Reply<'static> =
        Reply::ClientError("stats cachedump not allowed");
    /// `stats cachedump` with too few arguments.
    pub const BAD_COMMAND_LINE: Reply<'static> = Reply::ClientError("bad command line");
    /// Malformed arguments.
    pub const BAD_COMMAND_LINE_FORMAT: Reply<'static> =
        Reply::ClientError("bad command line format");
    /// `stats cachedump` with a class of 64 or more.
    pub const ILLEGAL_SLAB_ID: Reply<'static> = Reply::ClientError("Illegal slab id");
    /// `lru_crawler crawl|metadump` while the crawler is off.
    pub const CRAWLER_DISABLED: Reply<'static> = Reply::ClientError("lru crawler disabled");
    /// `lru_crawler enable` when it is already on.
    pub const CRAWLER_START_FAILED: Reply<'static> =
        Reply::ErrorMsg("failed to start lru crawler thread");
    /// `lru_crawler metadump` with `-X`.
    pub const METADUMP_NOT_ALLOWED: Reply<'static> = Reply::ErrorMsg("metadump not allowed");
    /// `lru_crawler metadump` after replies still queued.
    pub const METADUMP_PIPELINED: Reply<'static> =
        Reply::ErrorMsg("cannot pipeline other commands before metadump");
    /// `lru_crawler mgdump` with `-X` (memcached 1.6.45's words).
    pub const MGDUMP_NOT_ALLOWED: Reply<'static> = Reply::ErrorMsg("key dump not allowed");
    /// `lru_crawler mgdump` after replies still queued.
    pub const MGDUMP_PIPELINED: Reply<'static> =
        Reply::ErrorMsg("cannot pipeline other commands before mgdump");
    /// The crawler could not start.
    pub const CRAWLER_UNKNOWN_ERROR: Reply<'static> = Reply::ErrorMsg("an unknown error happened");
    /// `lru_crawler` with a bad class list.
    pub const BAD_CLASS: Reply<'static> = Reply::Line("BADCLASS invalid class id");
    /// `lru_crawler crawl|metadump|mgdump` naming no class (a list of commas only).
    pub const CRAWLER_NOT_STARTED: Reply<'static> = Reply::Line("NOTSTARTED no items to crawl");
    /// `lru_crawler crawl` while a crawl runs.
    pub const CRAWLER_BUSY: Reply<'static> =
        Reply::Line("BUSY currently processing crawler request");
    /// `cache_memlimit` below 8.
    pub const MEMLIMIT_TOO_SMALL: Reply<'static> =
        Reply::Line("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m");
    /// `cache_memlimit` above 10^9.
    pub const MEMLIMIT_NOT_MEGABYTES: Reply<'static> =
        Reply::Line("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes");
    /// `cache_memlimit` the store refused.
    pub const MEMLIMIT_ADJUST_FAILED: Reply<'static> =
        Reply::Line("MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust");
    /// `watch` with every watcher slot taken.
    pub const WATCHER_TOO_MANY: Reply<'static> =
        Reply::Line("WATCHER_TOO_MANY log watcher limit reached");
    /// `slabs reassign` with a bad class.
    /// memcached 1.6.45's `slabs automove window` outside 3..=1800.
    pub const AUTOMOVE_WINDOW: Reply<'static> =
        Reply::ClientError("automove window too low or too high");
    pub const REASSIGN_BAD_CLASS: Reply<'static> =
        Reply::Line("BADCLASS invalid src or dst class id");
    /// `slabs reassign` while one runs.
    pub const REASSIGN_BUSY: Reply<'static> =
        Reply::Line("BUSY currently processing reassign request");
    /// `slabs reassign` from a class without a free page.
    pub const REASSIGN_NO_SPARE: Reply<'static> =
        Reply::Line("NOSPARE source class has no spare pages");
    /// `slabs reassign` within one class.
    pub const REASSIGN_SAME: Reply<'static> = Reply::Line("SAME src and dst class are identical");
}
