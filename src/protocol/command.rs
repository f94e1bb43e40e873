//! Protocol-neutral commands, borrowing their keys and data from the read buffer.

use std::borrow::Cow;

/// Which of the retrieval verbs was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetKind {
    /// `get`: values without CAS.
    Get,
    /// `gets`: values with CAS.
    Gets,
    /// `gat <exptime>`: get and touch.
    Gat,
    /// `gats <exptime>`: get and touch, with CAS.
    Gats,
}

impl GetKind {
    /// Whether the reply carries the CAS unique.
    pub fn with_cas(self) -> bool {
        matches!(self, GetKind::Gets | GetKind::Gats)
    }
}

/// Which storage verb was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

/// `incr` or `decr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Incr,
    Decr,
}

/// The keys of a multi-key retrieval, kept as the raw space-separated slice of the command
/// line so that parsing a `get` with many keys allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys<'a>(pub &'a [u8]);

impl<'a> Keys<'a> {
    /// Iterates over the keys (separated by one or more spaces).
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.split(|&b| b == b' ').filter(|k| !k.is_empty())
    }
}

/// The argument of `stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsArg<'a> {
    /// Plain `stats`.
    General,
    /// `stats settings`.
    Settings,
    /// `stats items`.
    Items,
    /// `stats slabs`.
    Slabs,
    /// `stats sizes`.
    Sizes,
    /// `stats sizes_enable` / `stats sizes_disable` (answered without `END`, as memcached).
    SizesTracking(bool),
    /// `stats reset`.
    Reset,
    /// `stats conns`.
    Conns,
    /// `stats cluster` (ferrocache: pool membership and each peer's health).
    Cluster,
    /// `stats detail on|off|dump`.
    Detail(DetailArg),
    /// `stats cachedump <class> <limit>`.
    Cachedump(CachedumpArg),
    /// Any other sub-command, verbatim (the rest of the line, trimmed).
    Other(&'a [u8]),
}

/// The argument of `stats detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetailArg {
    On,
    Off,
    Dump,
    /// Missing or unknown: `CLIENT_ERROR usage: stats detail on|off|dump`.
    Usage,
}

/// The arguments of `stats cachedump`, or what is wrong with them. The executor checks
/// `-X` first: memcached refuses every form when dumping is disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CachedumpArg {
    Dump {
        class: u32,
        limit: u32,
    },
    /// Fewer than two arguments: `CLIENT_ERROR bad command line`.
    BadLine,
    /// Not numbers: `CLIENT_ERROR bad command line format`.
    BadFormat,
    /// Class 64 or more: `CLIENT_ERROR Illegal slab id`.
    IllegalId,
}

/// The event types a `watch` asks for (memcached's `LOG_*` bits, same values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchEvents(pub u32);

impl WatchEvents {
    pub const SYSEVENTS: u32 = 1 << 1;
    pub const FETCHERS: u32 = 1 << 2;
    pub const MUTATIONS: u32 = 1 << 3;
    pub const CONNEVENTS: u32 = 1 << 5;
    pub const EVICTIONS: u32 = 1 << 6;
    pub const RAWCMDS: u32 = 1 << 9;
    pub const PROXYREQS: u32 = 1 << 10;
    pub const PROXYEVENTS: u32 = 1 << 11;
    pub const PROXYUSER: u32 = 1 << 12;

    /// The bit of one `watch` argument, as memcached 1.6.18 spells them.
    pub fn bit(word: &[u8]) -> Option<u32> {
        Some(match word {
            b"rawcmds" => Self::RAWCMDS,
            b"evictions" => Self::EVICTIONS,
            b"fetchers" => Self::FETCHERS,
            b"mutations" => Self::MUTATIONS,
            b"sysevents" => Self::SYSEVENTS,
            b"connevents" => Self::CONNEVENTS,
            b"proxyreqs" => Self::PROXYREQS,
            b"proxyevents" => Self::PROXYEVENTS,
            b"proxyuser" => Self::PROXYUSER,
            _ => return None,
        })
    }
}

/// One parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `get|gets <key>*` and `gat|gats <exptime> <key>*`.
    Get {
        kind: GetKind,
        /// Only for `gat`/`gats`.
        exptime: i64,
        keys: Keys<'a>,
    },
    /// `set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]` and
    /// `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]`, with the data block.
    Store {
        mode: StoreMode,
        key: &'a [u8],
        flags: u32,
        exptime: i64,
        /// The data block without its trailing `\r\n`.
        data: &'a [u8],
        /// Only meaningful for `cas`.
        cas: u64,
        noreply: bool,
    },
    /// `delete <key> [0] [noreply]`.
    Delete { key: &'a [u8], noreply: bool },
    /// `incr|decr <key> <value> [noreply]`.
    Arith {
        op: ArithOp,
        key: &'a [u8],
        delta: u64,
        noreply: bool,
    },
    /// `touch <key> <exptime> [noreply]`.
    Touch {
        key: &'a [u8],
        exptime: i64,
        noreply: bool,
    },
    /// `flush_all [delay] [noreply]`. `bad_delay`: the delay is not a number (memcached
    /// answers `CLIENT_ERROR invalid exptime argument`, after its `-F` check).
    FlushAll {
        delay: i64,
        noreply: bool,
        bad_delay: bool,
    },
    /// `stats [arg]`.
    Stats(StatsArg<'a>),
    /// `version`.
    Version,
    /// `refresh_certs [anything] [noreply]`: reload the TLS certificates.
    RefreshCerts { noreply: bool },
    /// `verbosity <level> [noreply]`.
    Verbosity { level: u32, noreply: bool },
    /// `quit`.
    Quit,
    /// `slabs automove <0|1|2>`, `slabs automove ratio <r>` (and, with 1.6.45's meta
    /// protocol, `window <n>` and `freeratio <r>`), each with an optional `noreply`.
    SlabsAutomove { set: Automove, noreply: bool },
    /// `slabs reassign <src> <dst>` (`-1` as source: any class; `0` as destination: the
    /// global page pool).
    SlabsReassign { src: i32, dst: i32 },
    /// `lru_crawler <sub-command>`.
    LruCrawler(CrawlerCmd),
    /// `cache_memlimit <megabytes> [noreply]`.
    CacheMemlimit { megabytes: u32, noreply: bool },
    /// ElastiCache `config get <key>`.
    ConfigGet { key: &'a [u8] },
    /// ElastiCache `config set <key> <flags> <bytes> [noreply]` with its data block.
    ConfigSet {
        key: &'a [u8],
        data: &'a [u8],
        noreply: bool,
    },
    /// ElastiCache `config delete <key>`.
    ConfigDelete { key: &'a [u8] },
    /// `shutdown [graceful]`.
    ///
    /// Without `-A` memcached refuses every form with `ERROR: shutdown not enabled`; with it,
    /// anything but plain `shutdown` or `shutdown graceful` is answered
    /// `CLIENT_ERROR invalid shutdown mode` (`invalid_mode`, `graceful` then false).
    Shutdown { graceful: bool, invalid_mode: bool },
    /// `watch [event types] [noreply]`: turn the connection into a log stream. `events` is
    /// `None` when an argument is not an event type (memcached: `ERROR`, silenced by a
    /// trailing `noreply`, which is itself not an event type).
    Watch {
        noreply: bool,
        events: Option<WatchEvents>,
    },
    /// `mg`, `ms`, `md`, `ma`, `me`.
    Meta(MetaCmd<'a>),
    /// `mn`: answered `MN` (end of a quiet pipeline).
    MetaNoop,
}

/// Which meta command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaVerb {
    Get,
    Set,
    Delete,
    Arith,
    /// `me`: debug information about an item.
    Debug,
}

/// The storage mode of `ms` (`M` flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetaSetMode {
    #[default]
    Set,
    /// `ME`.
    Add,
    Append,
    Prepend,
    Replace,
}

/// One meta flag, typed; its argument (if any) is in the matching [`MetaFlags`] field. The
/// parser validated it once (memcached's `_meta_flag_preparse`); each letter appears at
/// most once per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaFlag {
    /// `b`: the key is base64 encoded ([`MetaFlags::base64`]).
    Base64,
    /// `c`: return the CAS unique.
    Cas,
    /// `f`: return the client flags.
    ClientFlags,
    /// `h`: return whether the item was fetched before (`0`/`1`).
    Hit,
    /// `k`: return the key.
    Key,
    /// `l`: return the seconds since the last access.
    LastAccess,
    /// `O<opaque>`: echo the opaque ([`MetaFlags::opaque`]).
    Opaque,
    /// `q`: quiet mode ([`MetaFlags::quiet`]).
    Quiet,
    /// `s`: return the value's size.
    Size,
    /// `t`: return the remaining TTL (`-1`: never expires).
    Ttl,
    /// `u`: do not bump the item in the LRU ([`MetaFlags::no_update`]).
    NoUpdate,
    /// `v`: return the value ([`MetaFlags::value`]).
    Value,
    /// `T<ttl>`: set a new exptime ([`MetaFlags::ttl`]).
    SetTtl,
    /// `N<ttl>`: vivify on miss ([`MetaFlags::vivify`]).
    Vivify,
    /// `R<ttl>`: win the recache token when the TTL is below this ([`MetaFlags::recache`]).
    Recache,
    /// `C<cas>`: compare CAS ([`MetaFlags::cas`]).
    CompareCas,
    /// `F<flags>`: client flags to store ([`MetaFlags::client_flags`]).
    SetClientFlags,
    /// `M<mode>` ([`MetaFlags::set_mode`], [`MetaFlags::incr`]).
    Mode,
    /// `J<initial>` ([`MetaFlags::initial`]).
    Initial,
    /// `D<delta>` ([`MetaFlags::delta`]).
    Delta,
    /// `I`: invalidate ([`MetaFlags::invalidate`]).
    Invalidate,
    /// `P` or `L`: proxy hints, accepted and ignored by memcached 1.6.18.
    Proxy,
    /// `E<cas>` (`--meta-protocol 1.6.45`): the CAS the item gets ([`MetaFlags::cas_in`]).
    SetCas,
    /// `x` (`--meta-protocol 1.6.45`): `md` empties the value and keeps the item
    /// ([`MetaFlags::remove_value`]).
    RemoveValue,
}

/// Most flags one meta command can carry: memcached takes at most 20 tokens counting its
/// terminal one, and the verb and key are two of them.
pub const MAX_META_FLAGS: usize = 17;

/// The flags of one request in request order, in a fixed array (no allocation). memcached
/// echoes return flags in this order, and the order of `t`/`T`/`N`/`R` matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaFlagList {
    flags: [MetaFlag; MAX_META_FLAGS],
    len: u8,
}

impl Default for MetaFlagList {
    fn default() -> Self {
        MetaFlagList {
            flags: [MetaFlag::Proxy; MAX_META_FLAGS],
            len: 0,
        }
    }
}

impl MetaFlagList {
    /// Appends a flag; false (and nothing kept) when the list is full, which the parser's
    /// token limit rules out.
    pub fn push(&mut self, f: MetaFlag) -> bool {
        let Some(slot) = self.flags.get_mut(usize::from(self.len)) else {
            return false;
        };
        *slot = f;
        self.len += 1;
        true
    }

    /// The flags in request order.
    pub fn as_slice(&self) -> &[MetaFlag] {
        &self.flags[..usize::from(self.len)]
    }

    /// Whether the request carried `f`.
    pub fn contains(&self, f: MetaFlag) -> bool {
        self.as_slice().contains(&f)
    }
}

/// The parsed flags of a meta command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaFlags<'a> {
    /// Every flag, typed, in request order.
    pub list: MetaFlagList,
    /// `O<opaque>`: the opaque without its `O` (at most 31 bytes), echoed as ` O<opaque>`.
    pub opaque: Option<&'a [u8]>,
    /// `b`: the key was base64 encoded (and is decoded in [`MetaCmd::key`]).
    pub base64: bool,
    /// `q`: quiet mode.
    pub quiet: bool,
    /// `v`: return the value.
    pub value: bool,
    /// `u`: do not bump the item in the LRU.
    pub no_update: bool,
    /// `I`: invalidate (md: mark stale; ms with CAS: a lower CAS stores a stale value).
    pub invalidate: bool,
    /// `N<ttl>`: vivify on miss with this exptime.
    pub vivify: Option<i64>,
    /// `R<ttl>`: win the recache token if the TTL is below this.
    pub recache: Option<i64>,
    /// `T<ttl>`: new exptime.
    pub ttl: Option<i64>,
    /// `F<flags>`.
    pub client_flags: u32,
    /// `C<cas>`: compare CAS.
    pub cas: Option<u64>,
    /// `M<mode>` for ms.
    pub set_mode: MetaSetMode,
    /// `M<mode>` for ma: `false` for decrement.
    pub incr: bool,
    /// `J<initial>` for ma (default 0).
    pub initial: u64,
    /// `D<delta>` for ma (default 1).
    pub delta: u64,
    /// `E<cas>` (1.6.45): the CAS unique the stored, created or changed item gets.
    pub cas_in: Option<u64>,
    /// `x` (1.6.45, md): replace the item by an empty one instead of deleting it.
    pub remove_value: bool,
    /// Parsed as memcached 1.6.45 (`--meta-protocol 1.6.45`).
    pub new: bool,
}

impl MetaFlags<'_> {
    /// The flags in request order.
    pub fn iter(&self) -> impl Iterator<Item = MetaFlag> + '_ {
        self.list.as_slice().iter().copied()
    }

    /// The exptime changes `mg` and `ma` make, in request order (at most two): `T` always,
    /// `N` only on an item this request created. A `t` or `R` sees the exptime left by the
    /// changes before it (memcached applies them while walking the flags).
    pub fn exptime_changes(&self, created: bool) -> impl Iterator<Item = i64> + '_ {
        self.iter().filter_map(move |f| match f {
            MetaFlag::SetTtl => self.ttl,
            MetaFlag::Vivify if created => self.vivify,
            _ => None,
        })
    }
}

/// One meta command (other than `mn`), parsed by `text::meta`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaCmd<'a> {
    pub verb: MetaVerb,
    /// The key, base64-decoded when `flags.base64`.
    pub key: Cow<'a, [u8]>,
    pub flags: MetaFlags<'a>,
    /// `ms` only: the data block without its `\r\n`.
    pub data: &'a [u8],
}

/// Slab classes named by `lru_crawler crawl|metadump|mgdump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classes {
    All,
    /// `metadump|mgdump hash`: walk the hash table instead of the LRUs (same items).
    Hash,
    /// Class ids, each in memcached's 1..=63; empty for a list of commas only (memcached
    /// then answers `NOTSTARTED no items to crawl`).
    List(Vec<usize>),
    /// A malformed list or an id out of range: `BADCLASS invalid class id`.
    Invalid,
}

/// `lru_crawler` sub-commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrawlerCmd {
    Enable,
    Disable,
    /// Reclaim expired items of these classes now.
    Crawl(Classes),
    /// Stream `key=... exp=... la=... cas=... fetch=... cls=... size=...` lines.
    Metadump(Classes),
    /// `--meta-protocol 1.6.45` only (memcached 1.6.19): stream `mg <key>` lines.
    Mgdump(Classes),
    /// Items to look at per class per run (0 = all).
    ToCrawl(u32),
    /// Microseconds to sleep between items (at most one second).
    Sleep(u32),
}

/// What a `slabs automove` command sets. Ratios are `f64` bits (so commands stay `Eq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Automove {
    /// The automove mode: 0 off, 1 or 2 on.
    Mode(u32),
    /// `slab_automove_ratio` (memcached's automove 2 tuning; shown in `stats settings`).
    Ratio(u64),
    /// `slab_automove_window`, 3 to 1800 (memcached 1.6.45).
    Window(u32),
    /// `slab_automove_freeratio` (memcached 1.6.45).
    FreeRatio(u64),
}
