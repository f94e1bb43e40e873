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

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::cluster::discovery;
use crate::cluster::ring::Ring;
use crate::cluster::{ClusterConfig, Node};
use crate::protocol::text::config as config_reply;

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

// ---- wire: requests and reply parsing over any BufRead + Write ----------------------------

/// Something we can write a request to and read its reply from.
trait Wire: BufRead {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl Wire for BufReader<TcpStream> {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let s = self.get_mut();
        s.write_all(bytes)?;
        s.flush()
    }
}

fn check_key(key: &str) -> io::Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("key must be 1..={MAX_KEY_LEN} bytes"),
        ));
    }
    if key
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "key contains whitespace or a control character",
        ));
    }
    Ok(())
}

fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn unexpected(line: &str) -> io::Error {
    invalid_data(format!("unexpected reply `{line}`"))
}

fn is_server_reply(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<ServerReply>())
}

/// The bare `ERROR` line: the server does not know the command.
fn is_plain_error(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<ServerReply>())
        .is_some_and(|r| r.0 == "ERROR")
}

/// Reads one `\r\n`-terminated line (without the terminator). Error lines from the server
/// become [`ServerReply`] errors.
fn read_line<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut buf = Vec::new();
    r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if buf.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let Some(line) = buf.strip_suffix(b"\r\n") else {
        return Err(if buf.len() as u64 >= MAX_LINE {
            invalid_data("reply line too long")
        } else if buf.ends_with(b"\n") {
            invalid_data("reply line not terminated by \\r\\n")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-line")
        });
    };
    let line =
        String::from_utf8(line.to_vec()).map_err(|_| invalid_data("reply line is not UTF-8"))?;
    if line == "ERROR" || line.starts_with("CLIENT_ERROR") || line.starts_with("SERVER_ERROR") {
        return Err(io::Error::other(ServerReply(line)));
    }
    Ok(line)
}

/// Reads `len` data bytes and the `\r\n` after them.
fn read_block<R: BufRead>(r: &mut R, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_VALUE {
        return Err(invalid_data(format!("value of {len} bytes is too large")));
    }
    let mut data = vec![0; len + 2];
    r.read_exact(&mut data)?;
    if !data.ends_with(b"\r\n") {
        return Err(invalid_data("data block not terminated by \\r\\n"));
    }
    data.truncate(len);
    Ok(data)
}

fn parse_num<T: std::str::FromStr>(s: Option<&str>, what: &str, line: &str) -> io::Result<T> {
    s.and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid_data(format!("bad {what} in `{line}`")))
}

/// Reads `VALUE` blocks up to `END`; returns the one for `key` (a single-key get).
fn read_values<R: BufRead>(r: &mut R, key: &[u8]) -> io::Result<Option<Value>> {
    let mut found = None;
    loop {
        let line = read_line(r)?;
        if line == "END" {
            return Ok(found);
        }
        let mut parts = line.split(' ');
        if parts.next() != Some("VALUE") {
            return Err(unexpected(&line));
        }
        let k = parts.next().unwrap_or("");
        let flags: u32 = parse_num(parts.next(), "flags", &line)?;
        let len: usize = parse_num(parts.next(), "length", &line)?;
        let cas = match parts.next() {
            Some(c) => Some(parse_num::<u64>(Some(c), "cas", &line)?),
            None => None,
        };
        if parts.next().is_some() {
            return Err(unexpected(&line));
        }
        let data = read_block(r, len)?;
        if k.as_bytes() == key {
            found = Some(Value { data, flags, cas });
        }
    }
}

fn get_request<W: Wire>(c: &mut W, verb: &str, key: &[u8]) -> io::Result<Option<Value>> {
    let mut req = Vec::with_capacity(verb.len() + key.len() + 3);
    req.extend_from_slice(verb.as_bytes());
    req.push(b' ');
    req.extend_from_slice(key);
    req.extend_from_slice(b"\r\n");
    c.send(&req)?;
    read_values(c, key)
}

fn storage_request<W: Wire>(c: &mut W, head: &str, data: &[u8]) -> io::Result<String> {
    let mut req = Vec::with_capacity(head.len() + data.len() + 4);
    req.extend_from_slice(head.as_bytes());
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(data);
    req.extend_from_slice(b"\r\n");
    c.send(&req)?;
    read_line(c)
}

fn simple_request<W: Wire>(c: &mut W, req: &[u8]) -> io::Result<String> {
    c.send(req)?;
    read_line(c)
}

fn arith_request<W: Wire>(c: &mut W, verb: &str, key: &str, delta: u64) -> io::Result<Option<u64>> {
    let line = simple_request(c, format!("{verb} {key} {delta}\r\n").as_bytes())?;
    if line == "NOT_FOUND" {
        return Ok(None);
    }
    line.parse().map(Some).map_err(|_| unexpected(&line))
}

/// `config get cluster`; on `ERROR` (an older server) falls back to the legacy
/// `get AmazonElastiCache:cluster` on the same connection.
fn config_request<W: Wire>(c: &mut W) -> io::Result<ClusterConfig> {
    c.send(format!("config get {}\r\n", discovery::CONFIG_KEY).as_bytes())?;
    let payload = match read_line(c) {
        Ok(line) => read_config_reply(c, &line)?,
        Err(e) if is_plain_error(&e) => {
            get_request(c, "get", discovery::LEGACY_KEY.as_bytes())?
                .ok_or_else(|| invalid_data("server has no cluster config"))?
                .data
        }
        Err(e) => return Err(e),
    };
    discovery::parse_payload(&payload).map_err(invalid_data)
}

/// Parses the rest of `CONFIG cluster <flags> <bytes>\r\n<payload>\r\nEND\r\n` after its
/// first line, with the protocol's `CONFIG` framing.
fn read_config_reply<R: BufRead>(r: &mut R, line: &str) -> io::Result<Vec<u8>> {
    let header = config_reply::parse_reply_header(line.as_bytes()).map_err(invalid_data)?;
    if header.key != discovery::CONFIG_KEY.as_bytes() {
        return Err(unexpected(line));
    }
    if header.len > MAX_VALUE {
        return Err(invalid_data(format!(
            "value of {} bytes is too large",
            header.len
        )));
    }
    let mut rest = vec![0; header.rest_len()];
    r.read_exact(&mut rest)?;
    let payload = config_reply::reply_payload(&header, &rest).map_err(invalid_data)?;
    Ok(payload.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::NodeList;
    use std::collections::HashMap;
    use std::io::Cursor;
    use std::net::TcpListener;
    use std::time::Instant;

    /// A canned reply stream that records what was sent.
    struct Script {
        reply: Cursor<Vec<u8>>,
        sent: Vec<u8>,
    }

    impl Script {
        fn new(reply: &[u8]) -> Script {
            Script {
                reply: Cursor::new(reply.to_vec()),
                sent: Vec::new(),
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reply.read(buf)
        }
    }

    impl BufRead for Script {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            self.reply.fill_buf()
        }
        fn consume(&mut self, n: usize) {
            self.reply.consume(n)
        }
    }

    impl Wire for Script {
        fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.sent.extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn get_hit_miss_and_gets() {
        let mut s = Script::new(b"VALUE k 5 3\r\nabc\r\nEND\r\n");
        let v = get_request(&mut s, "get", b"k").unwrap().unwrap();
        assert_eq!(
            v,
            Value {
                data: b"abc".to_vec(),
                flags: 5,
                cas: None
            }
        );
        assert_eq!(s.sent, b"get k\r\n");

        let mut s = Script::new(b"END\r\n");
        assert_eq!(get_request(&mut s, "get", b"k").unwrap(), None);

        let mut s = Script::new(b"VALUE k 0 4 99\r\na\r\nb\r\nEND\r\n");
        let v = get_request(&mut s, "gets", b"k").unwrap().unwrap();
        assert_eq!(v.data, b"a\r\nb");
        assert_eq!(v.cas, Some(99));
        assert_eq!(s.sent, b"gets k\r\n");
    }

    #[test]
    fn broken_replies_are_errors() {
        let cases: [(&[u8], io::ErrorKind); 7] = [
            (b"VALUE k 0 3\r\nab", io::ErrorKind::UnexpectedEof),
            (
                b"VALUE k 0 3\r\nabcd\r\nEND\r\n",
                io::ErrorKind::InvalidData,
            ),
            (b"VALUE k x 3\r\nabc\r\nEND\r\n", io::ErrorKind::InvalidData),
            (
                b"VALUE k 0 3 1 2\r\nabc\r\nEND\r\n",
                io::ErrorKind::InvalidData,
            ),
            (b"HELLO\r\n", io::ErrorKind::InvalidData),
            (b"END\n", io::ErrorKind::InvalidData),
            (b"", io::ErrorKind::UnexpectedEof),
        ];
        for (reply, kind) in cases {
            let err = get_request(&mut Script::new(reply), "get", b"k").unwrap_err();
            assert_eq!(err.kind(), kind, "{:?}", String::from_utf8_lossy(reply));
            assert!(!is_server_reply(&err));
        }
        let err = get_request(
            &mut Script::new(b"SERVER_ERROR out of memory\r\n"),
            "get",
            b"k",
        )
        .unwrap_err();
        assert!(is_server_reply(&err));
        assert!(err.to_string().contains("SERVER_ERROR out of memory"));
    }

    #[test]
    fn storage_and_arith_requests() {
        let mut s = Script::new(b"STORED\r\n");
        assert_eq!(
            storage_request(&mut s, "set k 1 0 2", b"hi").unwrap(),
            "STORED"
        );
        assert_eq!(s.sent, b"set k 1 0 2\r\nhi\r\n");

        let mut s = Script::new(b"42\r\n");
        assert_eq!(arith_request(&mut s, "incr", "n", 2).unwrap(), Some(42));
        assert_eq!(s.sent, b"incr n 2\r\n");
        let mut s = Script::new(b"NOT_FOUND\r\n");
        assert_eq!(arith_request(&mut s, "decr", "n", 1).unwrap(), None);
        let mut s =
            Script::new(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
        assert!(is_server_reply(
            &arith_request(&mut s, "incr", "n", 1).unwrap_err()
        ));
    }

    #[test]
    fn config_reply_parsing() {
        let mut s = Script::new(b"CONFIG cluster 0 25\r\n3\nb|127.0.0.1|2 a||11211\n\r\nEND\r\n");
        let c = config_request(&mut s).unwrap();
        assert_eq!(c.version, 3);
        assert_eq!(c.nodes.to_string(), "a||11211 b|127.0.0.1|2");
        assert_eq!(s.sent, b"config get cluster\r\n");

        // Legacy fallback after ERROR.
        let mut s =
            Script::new(b"ERROR\r\nVALUE AmazonElastiCache:cluster 0 7\r\n2\na||1\n\r\nEND\r\n");
        assert_eq!(config_request(&mut s).unwrap().version, 2);
        assert_eq!(
            s.sent,
            b"config get cluster\r\nget AmazonElastiCache:cluster\r\n"
        );

        for bad in [
            &b"CONFIG cluster 0 9\r\n3\na||1\n\r\nEND\r\n"[..],
            b"CONFIG cluster 0 6\r\n3\na||1\n\r\nEND\r\n",
            b"CONFIG cluster 0 7\r\n3\na||1\n\r\nEN\r\n",
            b"CONFIG other 0 7\r\n3\na||1\n\r\nEND\r\n",
            b"CONFIG cluster 0 7\r\n0\na||1\n\r\nEND\r\n",
            b"ERROR\r\nEND\r\n",
        ] {
            assert!(
                config_request(&mut Script::new(bad)).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn keys_are_checked() {
        for bad in ["", "a b", "a\r\n", "\u{7f}", &"k".repeat(251)] {
            assert_eq!(
                check_key(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
        }
        assert!(check_key(&"k".repeat(250)).is_ok());
    }

    // ---- an in-test memcached on 127.0.0.1 -----------------------------------------------

    #[derive(Default)]
    struct FakeState {
        items: HashMap<String, (u32, Vec<u8>, u64)>,
        next_cas: u64,
        config: Vec<u8>,
        config_reads: usize,
    }

    /// Understands just enough text protocol for these tests. Each connection gets a thread
    /// that ends at EOF; the accept thread ends when the fake drops.
    struct Fake {
        port: u16,
        state: Arc<Mutex<FakeState>>,
        stop: Arc<AtomicBool>,
        accept: Option<JoinHandle<()>>,
    }

    impl Fake {
        fn start() -> Fake {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let state = Arc::new(Mutex::new(FakeState::default()));
            let stop = Arc::new(AtomicBool::new(false));
            let (st, sp) = (Arc::clone(&state), Arc::clone(&stop));
            let accept = std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if sp.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { break };
                    let st = Arc::clone(&st);
                    std::thread::spawn(move || {
                        let _ = serve(stream, &st);
                    });
                }
            });
            Fake {
                port,
                state,
                stop,
                accept: Some(accept),
            }
        }

        fn set_config(&self, payload: &[u8]) {
            self.state.lock().config = payload.to_vec();
        }

        fn keys(&self) -> Vec<String> {
            let mut k: Vec<String> = self.state.lock().items.keys().cloned().collect();
            k.sort();
            k
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(("127.0.0.1", self.port));
            if let Some(h) = self.accept.take() {
                let _ = h.join();
            }
        }
    }

    fn serve(stream: TcpStream, state: &Mutex<FakeState>) -> io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut w = stream.try_clone()?;
        let mut r = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let words: Vec<&str> = line.trim_end().split(' ').collect();
            let mut st = state.lock();
            let reply: Vec<u8> = match words.as_slice() {
                ["config", "get", "cluster"] => {
                    st.config_reads += 1;
                    let p = st.config.clone();
                    let mut out = format!("CONFIG cluster 0 {}\r\n", p.len()).into_bytes();
                    out.extend_from_slice(&p);
                    out.extend_from_slice(b"\r\nEND\r\n");
                    out
                }
                [verb @ ("get" | "gets"), key] => {
                    let mut out = Vec::new();
                    if let Some((flags, data, cas)) = st.items.get(*key) {
                        let cas = if *verb == "gets" {
                            format!(" {cas}")
                        } else {
                            String::new()
                        };
                        out.extend_from_slice(
                            format!("VALUE {key} {flags} {}{cas}\r\n", data.len()).as_bytes(),
                        );
                        out.extend_from_slice(data);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"END\r\n");
                    out
                }
                [verb @ ("set" | "cas"), key, flags, _exp, len, rest @ ..] => {
                    let len: usize = len.parse().unwrap_or(0);
                    let mut data = vec![0; len + 2];
                    r.read_exact(&mut data)?;
                    data.truncate(len);
                    let flags = flags.parse().unwrap_or(0);
                    let current = st.items.get(*key).map(|i| i.2);
                    let outcome = match (*verb, rest, current) {
                        ("cas", _, None) => "NOT_FOUND",
                        ("cas", [c], Some(cur)) if c.parse::<u64>().ok() != Some(cur) => "EXISTS",
                        _ => "STORED",
                    };
                    if outcome == "STORED" {
                        st.next_cas += 1;
                        let cas = st.next_cas;
                        st.items.insert(key.to_string(), (flags, data, cas));
                    }
                    format!("{outcome}\r\n").into_bytes()
                }
                ["delete", key] => match st.items.remove(*key) {
                    Some(_) => b"DELETED\r\n".to_vec(),
                    None => b"NOT_FOUND\r\n".to_vec(),
                },
                ["incr", key, delta] => match st.items.get_mut(*key) {
                    Some(item) => {
                        let n: u64 = std::str::from_utf8(&item.1)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                        let n = n + delta.parse::<u64>().unwrap_or(0);
                        item.1 = n.to_string().into_bytes();
                        format!("{n}\r\n").into_bytes()
                    }
                    None => b"NOT_FOUND\r\n".to_vec(),
                },
                _ => b"ERROR\r\n".to_vec(),
            };
            drop(st);
            w.write_all(&reply)?;
        }
    }

    fn opts(poll: Option<Duration>) -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(2),
            poll_interval: poll,
        }
    }

    fn payload_for(version: u64, fakes: &[(&str, &Fake)]) -> Vec<u8> {
        let nodes = fakes
            .iter()
            .map(|(host, f)| Node::new(host, "127.0.0.1", f.port).unwrap());
        discovery::payload(&ClusterConfig::new(version, NodeList::new(nodes).unwrap()))
    }

    #[test]
    fn discovers_routes_and_runs_every_command() {
        let (a, b) = (Fake::start(), Fake::start());
        let p = payload_for(4, &[("node-b", &b), ("node-a", &a)]);
        a.set_config(&p);
        b.set_config(&p);
        let client = Client::new(&format!("127.0.0.1:{}", a.port), opts(None)).unwrap();
        assert_eq!(client.version(), 4);
        let hosts: Vec<String> = client.nodes().into_iter().map(|n| n.host).collect();
        assert_eq!(hosts, ["node-a", "node-b"]);

        let keys: Vec<String> = (0..60).map(|i| format!("user:{i}")).collect();
        for k in &keys {
            assert!(client.set(k, k.as_bytes(), 7, 0).unwrap());
        }
        // Every key sits on the server ketama picked for it, and both servers got some.
        let ring = Ring::from_nodes(&client.config().nodes);
        let mut want_a: Vec<String> = keys
            .iter()
            .filter(|k| ring.lookup(k.as_bytes()) == Some(0))
            .cloned()
            .collect();
        want_a.sort();
        assert_eq!(a.keys(), want_a);
        assert_eq!(a.keys().len() + b.keys().len(), keys.len());
        assert!(!a.keys().is_empty() && !b.keys().is_empty());
        for k in &keys {
            let expect = if want_a.contains(k) {
                "node-a"
            } else {
                "node-b"
            };
            assert_eq!(client.server_for(k).unwrap().host, expect);
        }

        let v = client.get("user:1").unwrap().unwrap();
        assert_eq!(
            (v.data.as_slice(), v.flags, v.cas),
            (&b"user:1"[..], 7, None)
        );
        assert_eq!(client.get("missing").unwrap(), None);

        let g = client.gets("user:2").unwrap().unwrap();
        let cas = g.cas.unwrap();
        assert_eq!(
            client.cas("user:2", b"x", 0, 0, cas + 100).unwrap(),
            CasOutcome::Exists
        );
        assert_eq!(
            client.cas("user:2", b"x", 0, 0, cas).unwrap(),
            CasOutcome::Stored
        );
        assert_eq!(
            client.cas("nope", b"x", 0, 0, 1).unwrap(),
            CasOutcome::NotFound
        );
        assert_eq!(client.get("user:2").unwrap().unwrap().data, b"x");

        assert!(client.set("counter", b"10", 0, 0).unwrap());
        assert_eq!(client.incr("counter", 5).unwrap(), Some(15));
        assert_eq!(client.incr("no-counter", 5).unwrap(), None);

        assert!(client.delete("user:3").unwrap());
        assert!(!client.delete("user:3").unwrap());
        assert_eq!(client.get("user:3").unwrap(), None);
        // An unknown command is a server reply, not a broken connection.
        let err = client.decr("counter", 1).unwrap_err();
        assert!(is_server_reply(&err), "{err}");
        assert_eq!(client.get("counter").unwrap().unwrap().data, b"15");
        assert_eq!(
            client.get("bad key").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn refresh_adopts_only_newer_configs() {
        let (a, b) = (Fake::start(), Fake::start());
        a.set_config(&payload_for(2, &[("node-a", &a)]));
        let client = Client::new(&format!("127.0.0.1:{}", a.port), opts(None)).unwrap();
        assert_eq!(client.nodes().len(), 1);
        assert!(!client.refresh().unwrap(), "same config");

        a.set_config(&payload_for(1, &[("node-a", &a), ("node-b", &b)]));
        assert!(!client.refresh().unwrap(), "older config");
        a.set_config(b"3\n\n");
        assert!(!client.refresh().unwrap(), "empty list");
        assert_eq!(client.version(), 2);

        a.set_config(&payload_for(3, &[("node-a", &a), ("node-b", &b)]));
        assert!(client.refresh().unwrap());
        assert_eq!(client.version(), 3);
        assert_eq!(client.nodes().len(), 2);
    }

    #[test]
    fn refresh_falls_back_to_other_nodes() {
        let (a, b) = (Fake::start(), Fake::start());
        let p = payload_for(5, &[("node-a", &a), ("node-b", &b)]);
        b.set_config(&p);
        let config = discovery::parse_payload(&p).unwrap();
        let client = Client::with_config(config, opts(None)).unwrap();
        // node-a answers `config get` with a bad payload, node-b with a newer one.
        a.set_config(b"garbage");
        b.set_config(&payload_for(6, &[("node-b", &b)]));
        assert!(client.refresh().unwrap());
        assert_eq!(client.version(), 6);
        assert_eq!(client.nodes()[0].host, "node-b");
    }

    #[test]
    fn background_polling_picks_up_changes_and_stops_on_drop() {
        let a = Fake::start();
        a.set_config(&payload_for(1, &[("node-a", &a)]));
        let client = Client::new(
            &format!("127.0.0.1:{}", a.port),
            opts(Some(Duration::from_millis(20))),
        )
        .unwrap();
        a.set_config(&payload_for(9, &[("node-a", &a)]));
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.version() != 9 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(client.version(), 9);
        let started = Instant::now();
        drop(client);
        assert!(started.elapsed() < Duration::from_secs(3));
        // No more polls after the drop.
        let reads = a.state.lock().config_reads;
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(a.state.lock().config_reads, reads);
    }

    #[test]
    fn unreachable_endpoint_is_an_error() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(Client::new(&format!("127.0.0.1:{port}"), opts(None)).is_err());
        assert!(Client::with_config(ClusterConfig::default(), opts(None)).is_err());
    }
}
