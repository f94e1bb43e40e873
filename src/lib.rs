//! ferrocache: a memcached-compatible, multithreaded cache daemon.
//!
//! This page is the map: the layers, the path of a request, the threads, the lock order,
//! and where each kind of change goes. Every module's own `//!` doc says what it owns and
//! what it must not touch.
//!
//! # Layers
//!
//! Each layer may only `use` the ones after its arrow (checked by grep in review: no
//! `crate::server` outside `server/`, no `crate::store` in `protocol/`, and so on).
//!
//! ```text
//!   main.rs   ──► config, server, store, cluster, logging; process.rs and portfile.rs
//!                 (its own OS helpers: daemonize, -u, pid file, MEMCACHED_PORT_FILENAME)
//!   server/   ──► protocol, store, cluster, config, logging   (threads, polls, sockets: the only I/O)
//!   cluster/  ──► protocol                 (membership, discovery payload, ketama ring; no sockets)
//!   client/   ──► cluster, protocol        (a Rust client with auto-discovery, for tests and tools)
//!   protocol/ ──► decimal                  (pure: bytes -> Command, outcome -> reply bytes)
//!   store/    ──► decimal                  (items, slabs, eviction, expiry, CAS; no sockets, no protocol types)
//!   config/   ──► auth, cluster::seal      (flags, config file, -o and ssl_* -> validated Config)
//!   auth, logging, decimal ──► (none)      (SASL/ascii credentials, log sink, safe_strtoull)
//! ```
//!
//! # The path of a request
//!
//! ```text
//!  socket ─► server/net/listener.rs ─(channel + Waker)─► server/net/worker.rs (one per -t)
//!              accept, -c, listener's TLS mode              poll, lend read/output buffers
//!                                                               │
//!   server/net/drive.rs: flush queued output, read (connection.rs; through tls.rs on a
//!   TLS listener: records in, plaintext out), then per request:
//!   server/exec/step.rs: sniff text/binary ─► protocol::text::parse / binary::parse ─► Command
//!                                  │
//!   server/exec/{text,meta,binary}.rs   decoders: one arm per command, no counting
//!                                  │
//!   server/exec/{get,store,delete,arith,touch,admin,crawler}.rs   runners: one per operation,
//!                                  │      owning counters, `stats detail` and watch lines
//!   store::Store::{get,set,delete,arith,touch,...}   one method per operation, typed outcome
//!                                  │
//!   protocol::text::{encode,meta_reply} / protocol::binary::encode   choose the reply bytes
//!                                  │
//!   server/net/outq.rs: copied bytes, and past 16 KiB of them item values spliced from pinned
//!   item memory ─► one writev per read batch (TLS: encrypted by tls.rs, bounded by
//!   ssl_wbuf_size)
//! ```
//!
//! UDP datagrams (`server/net/udp.rs`) go through the same step and runners. A storage command
//! whose long value is still arriving gets its item reserved and the value read straight into
//! it (`server/net/receive.rs`). A connection that sent `watch` streams log lines instead
//! (`server/observe/watch.rs`); `lru_crawler metadump` streams a dump (`server/exec/crawler.rs`).
//!
//! # Threads
//!
//! - **listener** (1): accepts TCP and unix sockets, enforces `-c`, hands sockets round-robin.
//! - **workers** (`-t`, default 4): each its own `mio::Poll` and `Slab` of connections; a
//!   connection lives on one worker for its life. `-R` requests per event, then it yields.
//! - **udp** (1, with `-U`): one poll over the UDP sockets.
//! - **sweeper** (1, `store`): every 100 ms reclaims expired items, moves pages (automove),
//!   gives memory back after `cache_memlimit` lowered it.
//! - **cluster sync** (1: `server/cluster.rs`): polls peers and the node file, detects
//!   failures and delists (`cluster/health.rs`), re-joins, pushes sealed lists; with a pool
//!   secret, one **prober** per listed peer (`stats cluster` on a kept-open connection).
//!   **lru-crawl** (transient): `lru_crawler crawl`.
//! - **signals** (`main.rs`): SIGTERM/SIGINT shut down, SIGHUP reloads the config file.
//!
//! Threads share one [`server::Shared`]: `config`, `store`, `cluster`, `live` settings,
//! `clients` (counts, registry, input budget), `observe` (counters, detail, watch).
//!
//! # Lock order
//!
//! Inside the store (`store/shard.rs` has the full rules): page mover mutex → one shard mutex
//! (never two at once) → class allocator mutex → id pool mutex; the pin stripes, the flush
//! mutex and the class/id mutexes are leaves. Outside the store every lock is a leaf held
//! for a few instructions and never across a store call that could take another: the
//! connection registry (`net/conns.rs`), the watch registry and each watcher's queue
//! (`observe/watch.rs`), the `stats detail` table, the cluster membership `RwLock`. A watch
//! line is formatted before its queue is locked; store callbacks (which run under the shard
//! mutex) only copy bytes into the output and never take another lock.
//!
//! # Memory
//!
//! Everything a client can make the server hold is bounded: items, pinned values, values in
//! flight (at most half of `-m`) and the key index count in `-m`; a connection costs about 480
//! bytes idle (about 8.7 KiB more over TLS: rustls' state) and tens of KiB at most when busy
//! (`server/net/connection.rs`, `server/net/tls.rs`); long request
//! lines share one budget of -m/16. `tests/memory_bound.rs` and `scripts/hostile_clients.py`
//! check it.
//!
//! # Where a change goes
//!
//! - **A new command or flag**: parse it in `protocol/text/` (or `protocol/binary/`), give it
//!   its words in `protocol/` (`reply.rs`, `text/encode.rs`, `text/meta_reply.rs`), use or add
//!   a runner in `server/exec/`, then one arm in each decoder that speaks it.
//! - **A new store behaviour** (eviction, expiry, item layout): `store/` only; a new option
//!   goes in the operation's `*Opts`, a new result in its outcome enum, and the public method
//!   stays in `store/api.rs`.
//! - **A counter or `stats` field**: the runner counts it (`server/exec/`), `server/observe/
//!   stats.rs` prints it.
//! - **Sockets, buffers, back-pressure, TLS**: `server/net/` (the worker and `drive.rs`
//!   drive a connection; `connection.rs` owns its buffers and lifecycle; `tls.rs` the TLS
//!   context, its reload and one connection's rustls session). TLS options: `config/tls.rs`.
//!   The pool's peer connections over TLS: `server/cluster.rs`.
//! - **Pool membership**: the rules in `cluster/` (plain data, testable without sockets:
//!   versions in `mod.rs`, failure detection in `health.rs`, the seal in `seal.rs`), the I/O
//!   that moves them in `server/cluster.rs`.
//! - **A command-line option**: `config/cli.rs` (clap), checked in `config/validate.rs`, `-o`
//!   options in `config/extended.rs`.
//! - **Tests**: integration tests in `tests/` start the real binary through
//!   `tests/common/mod.rs` (ephemeral port reported through `MEMCACHED_PORT_FILENAME`, as
//!   memcached's own test suite does); differential tests run the same bytes against
//!   memcached. Benchmarks live in `benches/loadgen/` and `scripts/`.

pub mod auth;
pub mod client;
pub mod cluster;
pub mod config;
pub mod decimal;
pub mod logging;
pub mod protocol;
pub mod server;
pub mod store;
