//! The item store: items in slab size classes under a hard memory limit, per-class LRU
//! eviction, lazy and background expiry, CAS uniques.
//!
//! Owns: item memory, the key index, LRU order, expiry, CAS, per-class statistics.
//! Must not touch: sockets, threads other than its own sweeper, protocol types or words.
//! It returns outcome enums; the protocol layer picks the words.
//!
//! (API skeleton: the implementation fills in the bodies.)

use std::sync::Arc;

/// Store settings, already validated by `config`.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Memory limit for items in bytes (`-m` × 1 MiB). Counts slab pages.
    pub mem_limit: usize,
    /// Largest item value in bytes (`-I`).
    pub item_size_max: usize,
    /// Slab growth factor (`-f`, > 1.0).
    pub growth_factor: f64,
    /// Minimum space for key + value + flags in the smallest chunk (`-n`, memcached's 48).
    pub min_chunk: usize,
    /// `false` with `-M`: answer `NoMemory` instead of evicting.
    pub evictions: bool,
    /// `false` with `-C`: CAS uniques are not kept (gets returns 0).
    pub cas: bool,
}

/// How a storage command treats an existing item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    /// Store only if the item's CAS unique equals this.
    Cas(u64),
}

/// Result of a storage command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    /// `add` on an existing key, `replace`/`append`/`prepend` on a missing one.
    NotStored,
    /// `cas` whose unique no longer matches.
    Exists,
    /// `cas` on a missing key.
    NotFound,
    /// The item can never fit (larger than `-I`).
    TooLarge,
    /// No memory could be found (evictions disabled, or nothing evictable).
    NoMemory,
}

/// Result of `incr`/`decr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOutcome {
    Value(u64),
    NotFound,
    NonNumeric,
    /// A new, longer value had to be allocated and no memory could be found.
    NoMemory,
}

/// Result of a lookup; misses are split the way memcached's stats count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<R> {
    Hit(R),
    Miss,
    /// Found but past its exptime (counts `get_expired`).
    Expired,
    /// Found but invalidated by `flush_all` (counts `get_flushed`).
    Flushed,
}

/// A borrowed view of a live item, valid only inside the callback that receives it.
#[derive(Clone, Copy, Debug)]
pub struct ItemView<'a> {
    pub key: &'a [u8],
    pub flags: u32,
    pub cas: u64,
    pub value: &'a [u8],
}

/// Store-wide counters, named as memcached's `stats` fields.
#[derive(Clone, Debug, Default)]
pub struct StoreStats {
    pub curr_items: u64,
    pub total_items: u64,
    pub bytes: u64,
    pub evictions: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub limit_maxbytes: u64,
    pub total_malloced: u64,
}

/// Per slab class figures for `stats slabs` and `stats items`.
#[derive(Clone, Debug, Default)]
pub struct ClassStats {
    pub id: usize,
    pub chunk_size: usize,
    pub chunks_per_page: usize,
    pub total_pages: usize,
    pub total_chunks: usize,
    pub used_chunks: usize,
    pub free_chunks: usize,
    pub number: u64,
    /// Age in seconds of the least recently used item.
    pub age: u64,
    pub mem_requested: u64,
    pub evicted: u64,
    pub evicted_nonzero: u64,
    pub evicted_time: u64,
    pub outofmemory: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub crawler_reclaimed: u64,
}

/// Cheap to clone: a handle to shared state.
#[derive(Clone)]
pub struct Store {
    _inner: Arc<()>,
}
