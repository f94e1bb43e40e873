//! The network room: sockets, threads, buffers and TLS. The listener accepts and hands
//! sockets to the workers; a worker polls its connections (TLS sessions included, `tls.rs`),
//! reads requests, runs them through
//! [`crate::server::exec`] and writes the replies; the UDP thread does the same per
//! datagram.
//!
//! Must not: choose reply words (that is `protocol`), count operations or log watch lines
//! (that is `exec`), or touch item memory other than through `exec` and the pinned values
//! `outq` sends.

pub(crate) mod connection;
pub mod conns;
pub(crate) mod drive;
pub(crate) mod listener;
pub(crate) mod outq;
pub(crate) mod receive;
pub(crate) mod stream;
pub mod tls;
pub mod udp;
pub(crate) mod worker;

/// The server's client connections, shared by the listener, the workers and `stats`.
pub struct Clients {
    /// Client connections open now (`curr_connections`).
    pub open: std::sync::atomic::AtomicUsize,
    /// Connection structures ever allocated at once (high-water mark).
    pub max_seen: std::sync::atomic::AtomicUsize,
    /// Every open socket, for `stats conns` and the idle timeout.
    pub registry: conns::Registry,
    /// Bound on the unparsed input all connections hold together.
    pub input_budget: std::sync::Arc<connection::InputBudget>,
}
