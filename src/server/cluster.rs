//! The I/O half of auto discovery: polling peers' `config get cluster`, watching the
//! `--cluster-file`, joining a pool at start-up and leaving it before shutdown.
//!
//! The data and the convergence rule live in `crate::cluster`; this file only moves
//! payloads between sockets, files and [`Membership`]. Peer traffic uses the text protocol
//! with short timeouts (1 s connect, 2 s read), so a dead peer never stalls the sync thread
//! for long, and every loop here is bounded.
//!
//! Pushing a list to a peer (`config set cluster`) needs `--cluster-admin` on that peer.

use crate::cluster::discovery::{self, ClusterFile};
use crate::cluster::{ClusterConfig, FileOutcome, Membership, Node};
use crate::config::ClusterSettings;
use crate::protocol::text::config as config_reply;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest reply read from a peer.
const MAX_REPLY: usize = discovery::MAX_PAYLOAD + 1024;

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address")))
}

fn connect(addr: &str) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&resolve(addr)?, CONNECT_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Reads until `buf` ends with `end` (bounded by size and the socket timeout).
fn read_until(s: &mut TcpStream, end: &[u8]) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(end) {
        if buf.len() > MAX_REPLY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        // Single-line error replies end early.
        if (buf.starts_with(b"ERROR") || buf.starts_with(b"CLIENT_ERROR")) && buf.ends_with(b"\r\n")
        {
            break;
        }
    }
    Ok(buf)
}

/// Parses a `CONFIG cluster 0 <bytes>\r\n<payload>\r\nEND\r\n` reply: the protocol's
/// framing, then the discovery payload.
pub fn parse_config_reply(reply: &[u8]) -> Result<ClusterConfig, String> {
    let (header, payload) = config_reply::parse_reply(reply)?;
    if header.key != discovery::CONFIG_KEY.as_bytes() {
        return Err(format!(
            "unexpected reply `CONFIG {}`",
            String::from_utf8_lossy(header.key)
        ));
    }
    discovery::parse_payload(payload)
}

/// Fetches a peer's cluster config.
pub fn fetch(addr: &str) -> Result<ClusterConfig, String> {
    let mut s = connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    s.write_all(b"config get cluster\r\n")
        .map_err(|e| format!("{addr}: {e}"))?;
    let reply = read_until(&mut s, b"END\r\n").map_err(|e| format!("{addr}: {e}"))?;
    parse_config_reply(&reply).map_err(|e| format!("{addr}: {e}"))
}

/// Sends `config set cluster` to a peer; `Ok` when it answered STORED.
pub fn push(addr: &str, config: &ClusterConfig) -> Result<(), String> {
    let payload = config.payload();
    let mut req = format!("config set cluster 0 {}\r\n", payload.len()).into_bytes();
    req.extend_from_slice(&payload);
    req.extend_from_slice(b"\r\n");
    let mut s = connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    s.write_all(&req).map_err(|e| format!("{addr}: {e}"))?;
    let reply = read_until(&mut s, b"\r\n").map_err(|e| format!("{addr}: {e}"))?;
    if reply == b"STORED\r\n" {
        Ok(())
    } else {
        Err(format!(
            "{addr}: answered {:?}",
            String::from_utf8_lossy(&reply).trim_end()
        ))
    }
}

/// Cluster state owned by the server: membership plus what is needed to sync it.
pub struct Cluster {
    pub membership: Arc<Membership>,
    pub settings: ClusterSettings,
    /// This node's own entry.
    pub me: Node,
    file_mtime: parking_lot::Mutex<Option<SystemTime>>,
}

impl Cluster {
    /// Builds the cluster state; reads the cluster file if one is configured (a bad file
    /// at start-up is an error).
    pub fn new(settings: ClusterSettings) -> Result<Cluster, String> {
        let me =
            Node::parse(&settings.advertise).map_err(|e| format!("--cluster-advertise {e}"))?;
        // Without a file, a node lists itself: any node can be the configuration endpoint.
        let own = crate::cluster::NodeList::new([me.clone()])?;
        let c = Cluster {
            membership: Arc::new(Membership::new(ClusterConfig::new(1, own))),
            settings,
            me,
            file_mtime: parking_lot::Mutex::new(None),
        };
        if let Some(path) = c.settings.file.clone() {
            let file = read_file(&path)?;
            c.membership.apply_file(file);
            *c.file_mtime.lock() = mtime(&path);
        }
        Ok(c)
    }

    /// Re-reads the cluster file (SIGHUP, or a changed mtime). A bad file is logged with
    /// its line and the running list kept.
    pub fn reload_file(&self) {
        let Some(path) = &self.settings.file else {
            return;
        };
        *self.file_mtime.lock() = mtime(path);
        match read_file(path) {
            Ok(file) => match self.membership.apply_file(file) {
                FileOutcome::Adopted(v) => {
                    log::info!("cluster file {}: now version {v}", path.display())
                }
                FileOutcome::Unchanged => log::debug!("cluster file {}: unchanged", path.display()),
                FileOutcome::Stale { file, running } => log::warn!(
                    "cluster file {}: version {file} is not newer than the running {running}; kept the running list",
                    path.display()
                ),
            },
            Err(e) => log::error!("{e}; keeping the running cluster list"),
        }
    }

    fn file_changed(&self) -> bool {
        match &self.settings.file {
            Some(path) => mtime(path) != *self.file_mtime.lock(),
            None => false,
        }
    }

    fn peers(&self) -> Vec<Node> {
        self.membership.with(|c| {
            c.nodes
                .iter()
                .filter(|n| !(n.host == self.me.host && n.port == self.me.port))
                .cloned()
                .collect()
        })
    }

    /// One sync round: the file if it changed, then every peer's config.
    pub fn sync_once(&self) {
        if self.file_changed() {
            self.reload_file();
        }
        for peer in self.peers() {
            match fetch(&peer.connect_addr()) {
                Ok(cfg) => {
                    let v = cfg.version;
                    if self.membership.adopt(cfg) {
                        log::info!("cluster: adopted version {v} from {}", peer.connect_addr());
                    }
                }
                Err(e) => log::debug!("cluster: polling {e}"),
            }
        }
    }

    /// Pushes the running list to every peer (best effort).
    fn push_all(&self, also: Option<&str>) {
        let cfg = self.membership.get();
        let mut targets: Vec<String> = self.peers().iter().map(Node::connect_addr).collect();
        if let Some(a) = also
            && !targets.iter().any(|t| t == a)
        {
            targets.push(a.to_string());
        }
        for t in targets {
            if let Err(e) = push(&t, &cfg) {
                log::warn!("cluster: pushing version {}: {e}", cfg.version);
            }
        }
    }

    /// Joins the pool `peer` belongs to: take its list, add ourselves at a higher version,
    /// push it, and re-check until the peer serves a list with us (concurrent joins each
    /// retry until they are in).
    pub fn join(&self, peer: &str, stop: &AtomicBool) -> Result<u64, String> {
        let deadline = Instant::now() + self.settings.sync_interval * 6 + Duration::from_secs(10);
        let mut last_err = String::new();
        while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
            match fetch(peer) {
                Ok(cfg) if cfg.nodes.find(&self.me.host, self.me.port).is_some() => {
                    self.membership.adopt(cfg.clone());
                    log::info!("cluster: joined via {peer} at version {}", cfg.version);
                    return Ok(cfg.version);
                }
                Ok(mut cfg) => {
                    cfg.nodes.insert(self.me.clone());
                    cfg.version = cfg.version.max(self.membership.version()) + 1;
                    self.membership.adopt(cfg);
                    self.push_all(Some(peer));
                }
                Err(e) => last_err = e,
            }
            sleep_unless(stop, Duration::from_millis(300));
        }
        Err(format!("could not join via {peer}: {last_err}"))
    }

    /// Leaves the pool: removes ourselves, pushes the list, and waits (bounded) until every
    /// remaining node serves a list without us.
    pub fn leave(&self) {
        let Some(v) = self.membership.remove_node(&self.me.host, self.me.port) else {
            return;
        };
        log::info!("cluster: leaving at version {v}");
        let deadline = Instant::now() + self.settings.leave_timeout;
        loop {
            self.push_all(None);
            let converged = self.peers().iter().all(|p| {
                fetch(&p.connect_addr()).is_ok_and(|c| {
                    c.version >= v && c.nodes.find(&self.me.host, self.me.port).is_none()
                })
            });
            if converged {
                log::info!("cluster: pool converged without this node");
                return;
            }
            if Instant::now() >= deadline {
                log::warn!("cluster: leave timed out before the pool converged");
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The sync thread: poll every `--cluster-sync-interval` until `stop`.
    pub fn run_sync(self: Arc<Self>, stop: Arc<AtomicBool>) {
        if let Some(peer) = self.settings.join.clone()
            && let Err(e) = self.join(&peer, &stop)
        {
            log::error!("cluster: {e}");
        }
        while !stop.load(Ordering::Acquire) {
            self.sync_once();
            sleep_unless(&stop, self.settings.sync_interval);
        }
    }
}

fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let step = Duration::from_millis(50);
    let end = Instant::now() + total;
    while Instant::now() < end && !stop.load(Ordering::Acquire) {
        std::thread::sleep(step.min(end.saturating_duration_since(Instant::now())));
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_file(path: &Path) -> Result<ClusterFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cluster file {}: {e}", path.display()))?;
    discovery::parse_file(&text).map_err(|e| format!("cluster file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reply_round_trip() {
        let cfg = discovery::parse_payload(b"3\na|127.0.0.1|11211 b||11212\n").unwrap();
        let mut out = Vec::new();
        discovery::text_reply(&cfg, &mut out);
        assert_eq!(parse_config_reply(&out).unwrap(), cfg);
        assert!(parse_config_reply(b"ERROR\r\n").is_err());
        assert!(parse_config_reply(b"CONFIG cluster 0 99\r\n3\n\n\r\nEND\r\n").is_err());
        assert!(parse_config_reply(b"CONFIG cluster 0 3\r\n3\n\n\r\nEN").is_err());
    }
}
