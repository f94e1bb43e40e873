//! ferrocache: a memcached-compatible, multithreaded cache daemon.
//!
//! The crate is layered; each layer may only `use` the ones listed after its arrow:
//!
//! ```text
//!   main.rs  ──► config, server, store, logging, process and portfile (main.rs's own OS helpers)
//!   server/  ──► protocol, store, config, cluster, logging (threads, polls, sockets: the only I/O)
//!   protocol/──► decimal                     (pure: bytes -> Command, Reply -> bytes)
//!   store/   ──► decimal                     (items, slabs, LRU, expiry, CAS; no sockets, no protocol types)
//!   config/  ──► (none)                      (flags, config file, -o -> validated Config)
//!   logging  ──► (none)                      (log sink: stderr or --logfile, live level)
//!   decimal  ──► (none)                      (memcached's safe_strtoull; used by protocol and store)
//! ```
//!
//! Request flow: the listener thread accepts sockets and hands them round-robin to worker
//! threads (crossbeam channel + `mio::Waker`). A worker reads into its buffer, lent to the
//! connection it drives, calls `protocol::text::parse` (or `binary::parse`) until it needs
//! more bytes, runs each command through `server::execute` (the one place that maps protocol
//! commands to store calls), which encodes replies into the connection's output
//! (`server/outq.rs`: copied bytes, and past 16 KiB of them item values spliced in from
//! pinned item memory), and flushes it once per read batch (`writev`). A storage command
//! whose long value is still arriving gets its item reserved (`Store::reserve`) and the value
//! read straight into it.
//!
//! Memory: everything a client can make the server hold is bounded: items, pinned values,
//! values in flight (at most half of `-m`) and the key index count in `-m`; a connection
//! costs about 480 bytes idle and tens of KiB at most when busy (`server/connection.rs`);
//! long request lines share one budget of -m/16. `tests/memory_bound.rs` and
//! `scripts/hostile_clients.py` check it.

pub mod auth;
pub mod client;
pub mod cluster;
pub mod config;
pub mod decimal;
pub mod logging;
pub mod protocol;
pub mod server;
pub mod store;
