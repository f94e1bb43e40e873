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
//!   and come back as an `io::Error` whose inner error is a [`ServerReply`].
//! - [`Client::refresh`] asks the known nodes (then the original endpoint) for the config and
//!   adopts it only if it [supersedes](crate::cluster::ClusterConfig::supersedes) the
//!   current one, so the client never goes back to an older list. An empty list is never
//!   adopted.
//! - With [`ClientOptions::poll_interval`] set, a background thread refreshes at that
//!   interval. It holds no reference to the `Client`; dropping the client stops and joins
//!   it (waiting at most for one in-flight config fetch, which is bounded by the timeouts).
//!
//! Non-goals: pipelining, multi-get across servers, binary protocol, failover/ejection.
//!
//! This file owns the public API, the topology (ring + one connection per node) and the
//! refresh/poller; `wire.rs` owns request bytes and reply parsing; `tests.rs` runs the
//! client against fake servers. Must not touch: server internals (it is a plain client).

use std::fmt;
use std::io::{self, BufReader};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::cluster::ring::Ring;
use crate::cluster::{ClusterConfig, Node};

mod wire;
use wire::*;

/// Longest key memcached accepts.
pub const MAX_KEY_LEN: usize = 250;
/// Longest reply line we read before calling the stream broken.
const MAX_LINE: u64 = 8 * 1024;
/// Largest value we agree to read.
const MAX_VALUE: usize = 1 << 30;

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Timeout for each TCP connect.
    pub connect_timeout: Duration,
    /// Read and write timeout on every socket.
    pub io_timeout: Duration,
    /// Refresh the cluster config in the background at this interval (`None`: only when
    /// [`Client::refresh`] is called).
    pub poll_interval: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(1),
            poll_interval: Some(Duration::from_secs(60)),
        }
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
}

type Conn = BufReader<TcpStream>;

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

    /// The node `key` is routed to.
    pub fn server_for(&self, key: &str) -> Option<Node> {
        let topo = self.shared.topology.read();
        let i = topo.ring.lookup(key.as_bytes())?;
        topo.conns.get(i).map(|c| c.node.clone())
    }

    /// `get`: the value, or `None` on a miss.
    pub fn get(&self, key: &str) -> io::Result<Option<Value>> {
        self.shared
            .with_conn(key, |c| get_request(c, "get", key.as_bytes()))
    }

    /// `gets`: the value with its CAS unique, or `None` on a miss.
    pub fn gets(&self, key: &str) -> io::Result<Option<Value>> {
        self.shared
            .with_conn(key, |c| get_request(c, "gets", key.as_bytes()))
    }

    /// `set`: `Ok(true)` on `STORED`, `Ok(false)` on `NOT_STORED`.
    pub fn set(&self, key: &str, data: &[u8], flags: u32, exptime: u32) -> io::Result<bool> {
        let head = format!("set {key} {flags} {exptime} {}", data.len());
        self.shared
            .with_conn(key, |c| match storage_request(c, &head, data)?.as_str() {
                "STORED" => Ok(true),
                "NOT_STORED" => Ok(false),
                other => Err(unexpected(other)),
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
        self.shared
            .with_conn(key, |c| match storage_request(c, &head, data)?.as_str() {
                "STORED" => Ok(CasOutcome::Stored),
                "EXISTS" => Ok(CasOutcome::Exists),
                "NOT_FOUND" => Ok(CasOutcome::NotFound),
                other => Err(unexpected(other)),
            })
    }

    /// `delete`: `Ok(true)` on `DELETED`, `Ok(false)` on `NOT_FOUND`.
    pub fn delete(&self, key: &str) -> io::Result<bool> {
        self.shared.with_conn(key, |c| {
            match simple_request(c, format!("delete {key}\r\n").as_bytes())?.as_str() {
                "DELETED" => Ok(true),
                "NOT_FOUND" => Ok(false),
                other => Err(unexpected(other)),
            }
        })
    }

    /// `incr`: the new value, or `None` when the key does not exist.
    pub fn incr(&self, key: &str, delta: u64) -> io::Result<Option<u64>> {
        self.shared
            .with_conn(key, |c| arith_request(c, "incr", key, delta))
    }

    /// `decr`: the new value, or `None` when the key does not exist.
    pub fn decr(&self, key: &str, delta: u64) -> io::Result<Option<u64>> {
        self.shared
            .with_conn(key, |c| arith_request(c, "decr", key, delta))
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
        let mut candidates: Vec<String> = current
            .config
            .nodes
            .iter()
            .map(Node::connect_addr)
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

    /// Routes `key`, takes that node's connection (connecting if needed) and runs `op`.
    /// A failed connection is dropped unless the failure is a [`ServerReply`].
    fn with_conn<T>(
        &self,
        key: &str,
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
        let mut slot = node.conn.lock();
        let conn = match &mut *slot {
            Some(c) => c,
            None => slot.insert(BufReader::new(connect(
                &node.node.connect_addr(),
                &self.opts,
            )?)),
        };
        let result = op(conn);
        if let Err(e) = &result
            && !is_server_reply(e)
        {
            *slot = None;
        }
        result
    }
}

fn connect(addr: &str, opts: &ClientOptions) -> io::Result<TcpStream> {
    let mut last_err = io::Error::new(io::ErrorKind::NotFound, format!("`{addr}` did not resolve"));
    for sa in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, opts.connect_timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(opts.io_timeout))?;
                s.set_write_timeout(Some(opts.io_timeout))?;
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

/// Reads the cluster config from `addr` over a fresh connection.
fn fetch_config(addr: &str, opts: &ClientOptions) -> io::Result<ClusterConfig> {
    let mut conn = BufReader::new(connect(addr, opts)?);
    config_request(&mut conn)
}

#[cfg(test)]
mod tests;
