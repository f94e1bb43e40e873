//! The observation room: what operators read about a running server. Per-thread counters
//! and the `stats` reply (`stats.rs`), `stats detail` per-prefix counters (`detail.rs`),
//! `watch` log streams (`watch.rs`) and the `-vv` request trace (`trace.rs`).
//!
//! Must not: do socket I/O (the network room sends what these produce) or change items.

pub mod detail;
pub mod stats;
pub mod trace;
pub mod watch;
