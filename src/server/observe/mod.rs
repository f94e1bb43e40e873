//! The observation room: what operators read about a running server. Per-thread counters
//! and the `stats` reply (`stats.rs`), `stats detail` per-prefix counters (`detail.rs`),
//! `watch` log streams (`watch.rs`) and the `-vv` request trace (`trace.rs`).
//!
//! Must not: do socket I/O (the network room sends what these produce) or change items.

pub mod detail;
pub mod stats;
pub mod trace;
pub mod watch;

/// What operators observe, shared by every thread.
pub struct Observe {
    /// One counter block per worker thread, then one for the UDP thread when `-U` is on.
    pub threads: Vec<std::sync::Arc<stats::ThreadStats>>,
    /// Listener counters.
    pub listener: std::sync::Arc<stats::ListenerStats>,
    /// `stats detail` per-prefix counters.
    pub detail: detail::Detail,
    /// `watch` log streams.
    pub watch: watch::Registry,
}
