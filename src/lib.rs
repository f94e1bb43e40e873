//! ferrocache: a memcached-compatible, multithreaded cache daemon.
//!
//! The crate is layered; each layer may only `use` the ones listed after its arrow:
//!
//! ```text
//!   main.rs  ──► config, server, store, logging, process (main.rs's own OS helpers)
//!   server/  ──► protocol, store, config, cluster, logging (threads, polls, sockets: the only I/O)
//!   protocol/──► decimal                     (pure: bytes -> Command, Reply -> bytes)
//!   store/   ──► decimal                     (items, slabs, LRU, expiry, CAS; no sockets, no protocol types)
//!   config/  ──► (none)                      (flags, config file, -o -> validated Config)
//!   logging  ──► (none)                      (log sink: stderr or --logfile, live level)
//!   decimal  ──► (none)                      (memcached's safe_strtoull; used by protocol and store)
//! ```
//!
//! Request flow: the listener thread accepts sockets and hands them round-robin to worker
//! threads (crossbeam channel + `mio::Waker`). A worker reads into the connection's buffer,
//! calls `protocol::text::parse` until it needs more bytes, runs each command through
//! `server::execute` (the one place that maps protocol commands to store calls) which encodes
//! replies into the connection's write buffer, and flushes that buffer once per read batch.

pub mod auth;
pub mod client;
pub mod cluster;
pub mod config;
pub mod decimal;
pub mod logging;
pub mod protocol;
pub mod server;
pub mod store;
