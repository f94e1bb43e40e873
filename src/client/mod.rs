//! A small blocking cluster client: auto discovery plus libmemcached-compatible ketama routing.
//!
//! ```text
//!   Client::new("cfg-endpoint:11211")
//!     │  config get cluster  ──► ClusterConfig (cluster::discovery::parse_payload)
//!     ▼
//!   Topology { config, Ring (cluster::ring), one NodeConn per node }
//!     │  key ──ketama──► node index ──► that node's TcpStream (lazily connected)
//!     ▼
//!   get / gets / set / cas / delete / incr / decr   (memcached text protocol)
//! ```
//!
//! Keys land on the same server as with libmemcached / PHP `Memcached` using
//! `OPT_LIBKETAMA_COMPATIBLE` (weighted ketama, MD5) fed the same discovery list.
//!
//! - One connection per node, behind a mutex: concurrent callers on the same node take
//!   turns. A connection that fails (I/O error, timeout, reply we cannot frame) is dropped
//!   and reopened by the next call; server-reported errors (`SERVER_ERROR ...`) leave it open
//!   and come back as an `io::Error` whose inner error is a [`ServerReply`]. A pooled
//!   connection the node closed (it restarted) is noticed before reuse and reopened.
//! - Failures (`health.rs`): a node whose connect or request fails is marked dead for a
//!   backoff ([`ClientOptions::retry_backoff_min`] doubling to
//!   [`ClientOptions::retry_backoff_max`], reset by a success). With
//!   [`ClientOptions::errors_as_misses`] (the default) the failing call and every call routed
//!   to a dead node return at once as a miss (`get` → `Ok(None)`, `set`/`delete` →
//!   `Ok(false)`, `cas` → `NotFound`, `incr`/`decr` → `Ok(None)`) and are counted in
//!   [`Client::stats`]; after the backoff one call probes the node. Keys are never moved to
//!   another node on a failure (that would serve stale copies later): only a new list from
//!   the pool changes the routing.
//! - Every call is bounded by `connect_timeout + io_timeout`, waiting for the node's
//!   connection included (name resolution of a node without an ip aside).
//! - [`Client::refresh`] asks the known nodes (then the original endpoint) for the config and
//!   adopts it only if it [supersedes](crate::cluster::ClusterConfig::supersedes) the
//!   current one, so the client never goes back to an older list. An empty list is never
//!   adopted.
//! - With [`ClientOptions::poll_interval`] set, a background thread refreshes at that
//!   interval. It holds no reference to the `Client`; dropping the client stops and joins
//!   it (waiting at most for one in-flight config fetch, which is bounded by the timeouts).
//!
//! Non-goals: pipelining, multi-get across servers, binary protocol, rehashing on failure.
//!
//! This file owns the public API, the topology (ring + one connection per node), the call
//! path (health check, deadline, miss fallback) and the refresh/poller; `wire.rs` owns
//! request bytes and reply parsing; `conn.rs` sockets and timeouts; `health.rs` the
//! dead/alive state and counters; `tests.rs` runs the client against fake servers. Must not
//! touch: server internals (it is a plain client).

use std::fmt;
use std::io::{self, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::cluster::ring::Ring;
use crate::cluster::{ClusterConfig, Node};

mod conn;
mod health;
mod wire;
use conn::{Conn, Stream, is_stale};
pub use health::ClientStats;
use health::{Admit, Counters, Health, Kind};
use wire::*;

/// Longest key memcached accepts.
pub const MAX_KEY_LEN: usize = 250;
/// Longest reply line we read before calling the stream broken.
const MAX_LINE: u64 = 8 * 1024;
/// Largest value we agree to read.
const MAX_VALUE: usize = 1 << 30;

/// Client settings.
///
/// The defaults suit a pool on one network: 250 ms to connect (a loopback or LAN connect
/// takes well under a millisecond; a node that is down refuses at once, one that is
/// unreachable costs this much once per backoff), 500 ms for a request's I/O (a cache that
/// answers slower than that is worth less than a miss), dead for 100 ms doubling to 5 s.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Timeout for each TCP connect (default 250 ms).
    pub connect_timeout: Duration,
    /// Budget for a request's reads and writes, all together (default 500 ms). A call takes
    /// at most `connect_timeout + io_timeout`.
    pub io_timeout: Duration,
    /// Refresh the cluster config in the background at this interval (`None`: only when
    /// [`Client::refresh`] is called; default 60 s).
    pub poll_interval: Option<Duration>,
    /// `true` (default): a call that cannot reach its node returns as a miss (see the module
    /// doc) and is counted in [`Client::stats`]. `false`: it returns the `io::Error`, and
    /// every call tries the node (dead nodes are still tracked and counted).
    pub errors_as_misses: bool,
    /// How long a node stays dead after its first failure (default 100 ms).
    pub retry_backoff_min: Duration,
    /// The longest dead period, reached by doubling on each failed retry (default 5 s).
    pub retry_backoff_max: Duration,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_millis(250),
            io_timeout: Duration::from_millis(500),
            poll_interval: Some(Duration::from_secs(60)),
            errors_as_misses: true,
            retry_backoff_min: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(5),
        }
    }
}

impl ClientOptions {
    /// The longest a call may take.
    fn call_budget(&self) -> Duration {
        self.connect_timeout.saturating_add(self.io_timeout)
    }
}

/// A stored item as returned by `get`/`gets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub data: Vec<u8>,
    pub flags: u32,
    /// Present for `gets`.
    pub cas: Option<u64>,
}

/// What a `cas` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CasOutcome {
    Stored,
    /// Someone else changed the item since the `gets`.
    Exists,
    NotFound,
}

/// An error line from the server (`ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`), carried
/// inside an `io::Error` of kind `Other`. The connection stays usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerReply(pub String);

impl fmt::Display for ServerReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server replied `{}`", self.0)
    }
}

impl std::error::Error for ServerReply {}

/// The cluster client. `Send + Sync`: share it by reference or in an `Arc`.
pub struct Client {
    shared: Arc<Shared>,
    poller: Option<Poller>,
}

struct Shared {
    /// The configuration endpoint given to [`Client::new`], asked after the known nodes.
    endpoint: Option<String>,
    opts: ClientOptions,
    topology: RwLock<Arc<Topology>>,
    /// Set when the client drops, so a refresh in flight stops trying further nodes.
    closing: AtomicBool,
    counters: Counters,
}

struct Topology {
    config: ClusterConfig,
    ring: Ring,
    /// Same order as `config.nodes` (the ring's server indexes).
    conns: Vec<Arc<NodeConn>>,
}

struct NodeConn {
    node: Node,
    conn: Mutex<Option<Conn>>,
    health: Health,
}

/// Why a call did not get an answer.
enum Failure {
    /// The node failed (connect, I/O, timeout, framing): it is marked dead.
    Node(io::Error),
    /// Another call held the node's connection past this call's budget: not the node's
    /// fault as far as this call knows.
    Busy,
    /// The node was marked dead while this call waited for its connection.
    Dead,
}

struct Poller {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

impl Client {
    /// Connects to the configuration endpoint (`host:port`), reads `config get cluster`
    /// (falling back to `get AmazonElastiCache:cluster`), and builds the ring. Fails if the
    /// endpoint cannot be read or lists no nodes.
    pub fn new(endpoint: &str, opts: ClientOptions) -> io::Result<Client> {
        let config = fetch_config(endpoint, &opts)?;
        Client::build(Some(endpoint.to_string()), config, opts)
    }

    /// A client for a known config, without a configuration endpoint: [`Client::refresh`]
    /// then asks the listed nodes.
    pub fn with_config(config: ClusterConfig, opts: ClientOptions) -> io::Result<Client> {
        Client::build(None, config, opts)
    }

    fn build(
        endpoint: Option<String>,
        config: ClusterConfig,
        opts: ClientOptions,
    ) -> io::Result<Client> {
        if config.nodes.is_empty() {
            return Err(invalid_data("cluster config lists no nodes"));
        }
        let topology = Topology::new(config, None);
        let shared = Arc::new(Shared {
            endpoint,
            opts,
            topology: RwLock::new(Arc::new(topology)),
            closing: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let poller = match shared.opts.poll_interval {
            Some(interval) => Some(Poller::start(Arc::clone(&shared), interval)?),
            None => None,
        };
        Ok(Client { shared, poller })
    }

    /// Re-reads the config from the first node (then the endpoint) that answers and adopts
    /// it if it supersedes the current one. `Ok(true)` when the topology changed, `Ok(false)`
    /// when nothing newer was found; `Err` with the last error when nobody answered.
    pub fn refresh(&self) -> io::Result<bool> {
        self.shared.refresh()
    }

    /// The node list in use (sorted by host, then port).
    pub fn nodes(&self) -> Vec<Node> {
        self.shared.topology.read().config.nodes.as_slice().to_vec()
    }

    /// The config version in use.
    pub fn version(&self) -> u64 {
        self.shared.topology.read().config.version
    }

    /// The whole config in use.
    pub fn config(&self) -> ClusterConfig {
        self.shared.topology.read().config.clone()
    }

    /// The failure counters since the client was built.
    pub fn stats(&self) -> ClientStats {
        self.shared.counters.snapshot()
    }

    /// The nodes currently marked dead (their calls return as misses until a probe
    /// succeeds).
    pub fn dead_nodes(&self) -> Vec<Node> {
        let topo = self.shared.topology.read();
        topo.conns
            .iter()
            .filter(|c| c.health.is_dead())
            .map(|c| c.node.clone())
            .collect()
    }

    /// The node `key` is routed to.
    pub fn server_for(&self, key: &str) -> Option<Node> {
        let topo = self.shared.topology.read();
        let i = topo.ring.lookup(key.as_bytes())?;
        topo.conns.get(i).map(|c| c.node.clone())
    }

    /// `get`: the value, or `None` on a miss.
    pub fn get(&self, key: &str) -> io::Result<Option<Value>> {
        self.shared.with_conn(key, Kind::Read, None, |c| {
            get_request(c, "get", key.as_bytes())
        })
    }

    /// `gets`: the value with its CAS unique, or `None` on a miss.
    pub fn gets(&self, key: &str) -> io::Result<Option<Value>> {
        self.shared.with_conn(key, Kind::Read, None, |c| {
            get_request(c, "gets", key.as_bytes())
        })
    }

    /// `set`: `Ok(true)` on `STORED`, `Ok(false)` on `NOT_STORED`.
    pub fn set(&self, key: &str, data: &[u8], flags: u32, exptime: u32) -> io::Result<bool> {
        let head = format!("set {key} {flags} {exptime} {}", data.len());
        self.shared.with_conn(key, Kind::Store, false, |c| {
            match storage_request(c, &head, data)?.as_str() {
                "STORED" => Ok(true),
                "NOT_STORED" => Ok(false),
                other => Err(unexpected(other)),
            }
        })
    }

    /// `cas` with the unique from a previous [`Client::gets`].
    pub fn cas(
        &self,
        key: &str,
        data: &[u8],
        flags: u32,
        exptime: u32,
        cas: u64,
    ) -> io::Result<CasOutcome> {
        let head = format!("cas {key} {flags} {exptime} {} {cas}", data.len());
        self.shared.with_conn(
            key,
            Kind::Store,
            CasOutcome::NotFound,
            |c| match storage_request(c, &head, data)?.as_str() {
                "STORED" => Ok(CasOutcome::Stored),
                "EXISTS" => Ok(CasOutcome::Exists),
                "NOT_FOUND" => Ok(CasOutcome::NotFound),
                other => Err(unexpected(other)),
            },
        )
    }

    /// `delete`: `Ok(true)` on `DELETED`, `Ok(false)` on `NOT_FOUND`.
    pub fn delete(&self, key: &str) -> io::Result<bool> {
        self.shared.with_conn(key, Kind::Delete, false, |c| {
            match simple_request(c, format!("delete {key}\r\n").as_bytes())?.as_str() {
                "DELETED" => Ok(true),
                "NOT_FOUND" => Ok(false),
                other => Err(unexpected(other)),
            }
        })
    }

    /// `incr`: the new value, or `None` when the key does not exist.
    pub fn incr(&self, key: &str, delta: u64) -> io::Result<Option<u64>> {
        self.shared.with_conn(key, Kind::Read, None, |c| {
            arith_request(c, "incr", key, delta)
        })
    }

    /// `decr`: the new value, or `None` when the key does not exist.
    pub fn decr(&self, key: &str, delta: u64) -> io::Result<Option<u64>> {
        self.shared.with_conn(key, Kind::Read, None, |c| {
            arith_request(c, "decr", key, delta)
        })
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        if let Some(Poller { stop, handle }) = self.poller.take() {
            drop(stop);
            // The thread only waits on the channel or on one socket with timeouts.
            let _ = handle.join();
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.shared.endpoint)
            .field("config", &self.shared.topology.read().config)
            .finish()
    }
}

impl Poller {
    fn start(shared: Arc<Shared>, interval: Duration) -> io::Result<Poller> {
        let (stop, rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("ferrocache-discovery".into())
            .spawn(move || {
                // Any message or a dropped sender ends the loop.
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(interval) {
                    if let Err(e) = shared.refresh() {
                        log::debug!("cluster config refresh failed: {e}");
                    }
                }
            })?;
        Ok(Poller { stop, handle })
    }
}

impl Topology {
    /// Builds the ring and the per-node slots, keeping the open connections of nodes that
    /// are still there (same host, ip and port).
    fn new(config: ClusterConfig, old: Option<&Topology>) -> Topology {
        let ring = Ring::from_nodes(&config.nodes);
        let conns = config
            .nodes
            .iter()
            .map(|node| {
                old.and_then(|t| t.conns.iter().find(|c| c.node == *node))
                    .map(Arc::clone)
                    .unwrap_or_else(|| {
                        Arc::new(NodeConn {
                            node: node.clone(),
                            conn: Mutex::new(None),
                            health: Health::default(),
                        })
                    })
            })
            .collect();
        Topology {
            config,
            ring,
            conns,
        }
    }
}

impl Shared {
    fn refresh(&self) -> io::Result<bool> {
        let current = Arc::clone(&self.topology.read());
        // Alive nodes first: a dead one would likely cost a connect timeout.
        let (alive, dead): (Vec<_>, Vec<_>) =
            current.conns.iter().partition(|c| !c.health.is_dead());
        let mut candidates: Vec<String> = alive
            .iter()
            .chain(dead.iter())
            .map(|c| c.node.connect_addr())
            .collect();
        candidates.extend(self.endpoint.iter().cloned());
        let mut last_err = io::Error::new(io::ErrorKind::NotFound, "no node to ask");
        for addr in candidates {
            if self.closing.load(Ordering::Relaxed) {
                return Ok(false);
            }
            match fetch_config(&addr, &self.opts) {
                Ok(config) => return Ok(self.install(config)),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Adopts `config` if it supersedes the one in use and lists at least one node.
    fn install(&self, config: ClusterConfig) -> bool {
        let mut topo = self.topology.write();
        if config.nodes.is_empty() || !config.supersedes(&topo.config) {
            return false;
        }
        let next = Topology::new(config, Some(&topo));
        *topo = Arc::new(next);
        true
    }

    /// Routes `key` and runs `op` on that node's connection within the call budget. When
    /// the node is dead or fails and `errors_as_misses` is set, returns `Ok(miss)` and
    /// counts it under `kind`; server error replies always come back as `Err`.
    fn with_conn<T>(
        &self,
        key: &str,
        kind: Kind,
        miss: T,
        op: impl FnOnce(&mut Conn) -> io::Result<T>,
    ) -> io::Result<T> {
        check_key(key)?;
        let node = {
            let topo = self.topology.read();
            let i = topo
                .ring
                .lookup(key.as_bytes())
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no servers"))?;
            Arc::clone(&topo.conns[i])
        };
        let tolerant = self.opts.errors_as_misses;
        let start = Instant::now();
        let budget = self.opts.call_budget();
        let admit = node.health.admit(start, budget);
        if tolerant && admit == Admit::Skip {
            self.counters.missed(kind);
            return Ok(miss);
        }
        let skip_if_dead = tolerant && admit == Admit::Go;
        match self.run(&node, start + budget, skip_if_dead, op) {
            Ok(v) => {
                if node.health.succeeded() {
                    log::info!("node {} answers again", node.node);
                    self.counters.recovered();
                }
                Ok(v)
            }
            Err(Failure::Node(e)) if is_server_reply(&e) => {
                // The node answered: it is alive.
                if node.health.succeeded() {
                    self.counters.recovered();
                }
                Err(e)
            }
            Err(Failure::Dead) => {
                self.counters.missed(kind);
                Ok(miss)
            }
            Err(failure) => {
                self.counters.error();
                let e = match failure {
                    Failure::Node(e) => {
                        let (min, max) = (self.opts.retry_backoff_min, self.opts.retry_backoff_max);
                        if node.health.failed(Instant::now(), min, max) {
                            log::warn!("node {} marked dead: {e}", node.node);
                            self.counters.marked_dead();
                        }
                        e
                    }
                    _ => io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("node {} busy past the call budget", node.node),
                    ),
                };
                if tolerant {
                    self.counters.missed(kind);
                    Ok(miss)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Takes `node`'s connection (waiting at most until `deadline`), reopens it if needed
    /// and runs `op` with its I/O bounded by `io_timeout` and `deadline`. A failed
    /// connection is dropped unless the failure is a [`ServerReply`].
    fn run<T>(
        &self,
        node: &NodeConn,
        deadline: Instant,
        skip_if_dead: bool,
        op: impl FnOnce(&mut Conn) -> io::Result<T>,
    ) -> Result<T, Failure> {
        let mut slot = node.conn.try_lock_until(deadline).ok_or(Failure::Busy)?;
        if skip_if_dead && node.health.is_dead() {
            return Err(Failure::Dead);
        }
        if slot.as_ref().is_some_and(is_stale) {
            *slot = None;
        }
        let conn = match &mut *slot {
            Some(c) => c,
            None => {
                let left = deadline.saturating_duration_since(Instant::now());
                let timeout = self.opts.connect_timeout.min(left);
                let c =
                    Stream::connect(&node.node.connect_addr(), timeout).map_err(Failure::Node)?;
                slot.insert(c)
            }
        };
        let io_deadline = (Instant::now() + self.opts.io_timeout).min(deadline);
        conn.get_mut().set_deadline(io_deadline);
        let result = op(conn);
        if let Err(e) = &result
            && !is_server_reply(e)
        {
            *slot = None;
        }
        result.map_err(Failure::Node)
    }
}

/// Reads the cluster config from `addr` over a fresh connection.
fn fetch_config(addr: &str, opts: &ClientOptions) -> io::Result<ClusterConfig> {
    let mut conn = BufReader::new(conn::connect(addr, opts.connect_timeout, opts.io_timeout)?);
    config_request(&mut conn)
}

#[cfg(test)]
mod tests;
