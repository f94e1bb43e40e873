//! The I/O half of auto discovery and pool membership: polling peers' `config get cluster`,
//! watching the `--cluster-file`, joining a pool at start-up and leaving it before shutdown,
//! probing every member (`stats cluster`) for failure detection, delisting failed members
//! by the rule of `cluster/health.rs`, and re-joining by itself after being delisted.
//!
//! The data and the rules live in `crate::cluster`; this file only moves payloads between
//! sockets, files and [`Membership`]. Peer traffic uses the text protocol with short
//! timeouts, so a dead peer never stalls anything for long; every loop here is bounded.
//! Lists pushed to peers are sealed with the pool's secret (`cluster/seal.rs`).
//! When the node runs with TLS (`-Z`), every peer connection (sync, join, leave, probes) is
//! TLS too, blocking rustls over the same timeouts, checking the peer's certificate against
//! `ssl_ca_cert` and presenting this node's own certificate (`server/net/tls.rs` builds
//! the client configuration; `refresh_certs` renews it).

use crate::cluster::discovery::{self, ClusterFile};
use crate::cluster::health::{self, Health, NodeKey, PeerState, Plan, View};
use crate::cluster::{ClusterConfig, FileOutcome, Membership, Node};
use crate::config::ClusterSettings;
use crate::protocol::text::config as config_reply;
use std::collections::HashSet;
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

/// How peer connections are made: plain, or TLS checked against `ssl_ca_cert`.
#[derive(Clone)]
pub enum PeerTls {
    Plain,
    Tls(Arc<rustls::ClientConfig>),
    /// `-Z` without `ssl_ca_cert`: peers cannot be checked, so they are not contacted.
    NoCa,
}

/// A connection to a peer.
enum PeerStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for PeerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            PeerStream::Plain(s) => s.read(buf),
            PeerStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for PeerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PeerStream::Plain(s) => s.write(buf),
            PeerStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            PeerStream::Plain(s) => s.flush(),
            PeerStream::Tls(s) => s.flush(),
        }
    }
}

/// Connects to `addr` (`host:port`) with the timeouts; over TLS, the handshake happens
/// with the first request (within the same timeouts) and the certificate must name `host`.
fn connect(addr: &str, connect: Duration, io: Duration, tls: &PeerTls) -> io::Result<PeerStream> {
    if matches!(tls, PeerTls::NoCa) {
        return Err(io::Error::other(
            "the pool over TLS needs -o ssl_ca_cert to check its peers",
        ));
    }
    let s = TcpStream::connect_timeout(&resolve(addr)?, connect)?;
    s.set_read_timeout(Some(io))?;
    s.set_write_timeout(Some(io))?;
    s.set_nodelay(true)?;
    let PeerTls::Tls(cfg) = tls else {
        return Ok(PeerStream::Plain(s));
    };
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => addr,
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
    let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?;
    Ok(PeerStream::Tls(Box::new(rustls::StreamOwned::new(conn, s))))
}

/// Reads until `buf` ends with `end` (bounded by size and the socket timeout).
fn read_until(s: &mut PeerStream, end: &[u8]) -> io::Result<Vec<u8>> {
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

/// Marks an error that retrying cannot fix: one side does not trust the other's TLS
/// certificate (a join gives up at once, as for a wrong pool secret).
const CERT_REFUSED: &str = "TLS certificate refused";

/// A peer I/O error as a message, marked with `CERT_REFUSED` when it is a certificate
/// refusal (ours of the peer's, or the peer's of ours).
fn io_message(addr: &str, e: &io::Error) -> String {
    use rustls::AlertDescription as A;
    let refused = matches!(
        e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        Some(
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::AlertReceived(
                    A::BadCertificate
                        | A::UnknownCA
                        | A::CertificateRequired
                        | A::CertificateUnknown
                        | A::UnsupportedCertificate
                        | A::CertificateExpired
                        | A::AccessDenied
                )
        )
    );
    if refused {
        format!("{addr}: {CERT_REFUSED}: {e}")
    } else {
        format!("{addr}: {e}")
    }
}

/// Fetches a peer's cluster config.
pub fn fetch(addr: &str, tls: &PeerTls) -> Result<ClusterConfig, String> {
    let mut s =
        connect(addr, CONNECT_TIMEOUT, IO_TIMEOUT, tls).map_err(|e| io_message(addr, &e))?;
    s.write_all(b"config get cluster\r\n")
        .map_err(|e| io_message(addr, &e))?;
    let reply = read_until(&mut s, b"END\r\n").map_err(|e| io_message(addr, &e))?;
    parse_config_reply(&reply).map_err(|e| format!("{addr}: {e}"))
}

/// Why a push was not stored.
#[derive(Debug)]
pub enum PushError {
    /// Could not talk to the peer.
    Io(String),
    /// The peer answered something else than `STORED`.
    Refused(String),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::Io(e) => f.write_str(e),
            PushError::Refused(r) => write!(f, "answered {r:?}"),
        }
    }
}

/// Sends `config set cluster` to a peer, sealed with `secret` when there is one; `Ok` when
/// it answered STORED.
pub fn push(
    addr: &str,
    config: &ClusterConfig,
    secret: Option<&crate::cluster::seal::Secret>,
    tls: &PeerTls,
) -> Result<(), PushError> {
    let plain = config.payload();
    let payload = match secret {
        Some(s) => s.seal(&plain),
        None => plain,
    };
    let mut req = format!("config set cluster 0 {}\r\n", payload.len()).into_bytes();
    req.extend_from_slice(&payload);
    req.extend_from_slice(b"\r\n");
    let io = |e: io::Error| PushError::Io(io_message(addr, &e));
    let mut s = connect(addr, CONNECT_TIMEOUT, IO_TIMEOUT, tls).map_err(io)?;
    s.write_all(&req).map_err(io)?;
    let reply = read_until(&mut s, b"\r\n").map_err(io)?;
    if reply == b"STORED\r\n" {
        Ok(())
    } else {
        Err(PushError::Refused(
            String::from_utf8_lossy(&reply).trim_end().to_string(),
        ))
    }
}

/// Asks a peer for `stats cluster` on a kept-open connection: its view of the others.
fn probe(
    conn: &mut Option<PeerStream>,
    addr: &str,
    timeout: Duration,
    tls: &PeerTls,
) -> Option<View> {
    if conn.is_none() {
        *conn = connect(addr, timeout, timeout, tls).ok();
    }
    let s = conn.as_mut()?;
    let answer = s
        .write_all(b"stats cluster\r\n")
        .and_then(|()| read_until(s, b"END\r\n"));
    match answer {
        Ok(reply) => Some(parse_view(&reply)),
        Err(_) => {
            *conn = None;
            None
        }
    }
}

/// A peer's `stats cluster` reply as a [`View`]: its version and the peers it sees down.
fn parse_view(reply: &[u8]) -> View {
    let mut view = View::default();
    for line in String::from_utf8_lossy(reply).lines() {
        let mut t = line.split(' ');
        if t.next() != Some("STAT") {
            continue;
        }
        match (t.next(), t.next()) {
            (Some("cluster_version"), Some(v)) => view.version = v.parse().unwrap_or(0),
            (Some(name), Some(state)) if name.starts_with("peer:") => {
                let Some((host, port)) = name["peer:".len()..].rsplit_once(':') else {
                    continue;
                };
                if PeerState::parse(state) == Some(PeerState::Down)
                    && let Ok(port) = port.parse::<u16>()
                {
                    view.down.push((host.to_string(), port));
                }
            }
            _ => {}
        }
    }
    view
}

/// Cluster state owned by the server: membership plus what is needed to sync it.
pub struct Cluster {
    pub membership: Arc<Membership>,
    pub settings: ClusterSettings,
    /// This node's own entry.
    pub me: Node,
    file_mtime: parking_lot::Mutex<Option<SystemTime>>,
    /// What this node knows of its peers' health (probers write, the sync loop and
    /// `stats cluster` read).
    pub health: parking_lot::Mutex<Health>,
    /// This node reaches at most half of the list (it changes nothing meanwhile).
    pub isolated: AtomicBool,
    /// This node has been in the served list since it started (a list without it that it
    /// did not ask for means it was delisted: it re-joins).
    member: AtomicBool,
    /// Leaving on shutdown: do not re-join.
    leaving: AtomicBool,
    /// Peers with a running prober thread.
    probing: parking_lot::Mutex<HashSet<NodeKey>>,
    /// The node's TLS (`-Z`), set once at start-up: peer traffic uses it too.
    tls: std::sync::OnceLock<Arc<crate::server::net::tls::TlsContext>>,
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
            settings: settings.clone(),
            health: parking_lot::Mutex::new(Health::new(settings.fail_timeout)),
            me,
            file_mtime: parking_lot::Mutex::new(None),
            isolated: AtomicBool::new(false),
            member: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
            probing: parking_lot::Mutex::new(HashSet::new()),
            tls: std::sync::OnceLock::new(),
        };
        if let Some(path) = c.settings.file.clone() {
            let file = read_file(&path)?;
            c.membership.apply_file(file);
            *c.file_mtime.lock() = mtime(&path);
        }
        Ok(c)
    }

    /// With `-Z`: peer traffic goes over TLS from now on (call before the sync thread and
    /// any join start).
    pub fn use_tls(&self, tls: Arc<crate::server::net::tls::TlsContext>) {
        let _ = self.tls.set(tls);
    }

    /// How to reach peers now (the client configuration follows `refresh_certs`).
    fn peer_tls(&self) -> PeerTls {
        match self.tls.get() {
            None => PeerTls::Plain,
            Some(t) => t.client().map_or(PeerTls::NoCa, PeerTls::Tls),
        }
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
            // A peer that does not answer probes would only stall this loop for the fetch
            // timeout (a stopped process accepts and never replies): skip it until it does.
            if !self.answers(&peer) {
                continue;
            }
            match fetch(&peer.connect_addr(), &self.peer_tls()) {
                Ok(cfg) => {
                    let v = cfg.version;
                    match self.membership.adopt(cfg) {
                        crate::cluster::Adopted::Yes => {
                            log::info!("cluster: adopted version {v} from {}", peer.connect_addr())
                        }
                        crate::cluster::Adopted::TooFarAhead => log::warn!(
                            "cluster: {} serves version {v}, too far ahead of ours: ignored",
                            peer.connect_addr()
                        ),
                        crate::cluster::Adopted::NotNewer => {}
                    }
                }
                Err(e) => log::debug!("cluster: polling {e}"),
            }
        }
    }

    /// `peer` answers its probes (or is not watched: no secret, or just listed). Polls and
    /// pushes skip the others, which would only stall the sync loop for a timeout.
    fn answers(&self, peer: &Node) -> bool {
        !matches!(
            self.health.lock().state(&(peer.host.clone(), peer.port)),
            Some(PeerState::Suspect | PeerState::Down)
        )
    }

    /// Pushes the running list to every peer that answers (best effort).
    fn push_all(&self, also: Option<&str>) {
        let cfg = self.membership.get();
        let mut targets: Vec<String> = self
            .peers()
            .iter()
            .filter(|p| self.answers(p))
            .map(Node::connect_addr)
            .collect();
        if let Some(a) = also
            && !targets.iter().any(|t| t == a)
        {
            targets.push(a.to_string());
        }
        for t in targets {
            if let Err(e) = push(&t, &cfg, self.settings.secret.as_ref(), &self.peer_tls()) {
                log::debug!("cluster: pushing version {} to {t}: {e}", cfg.version);
            }
        }
    }

    /// Joins the pool `peer` belongs to: take its list, add ourselves at the next version,
    /// push it (sealed), and re-check until the peer serves a list with us (concurrent joins
    /// each retry until they are in). Bounded; a refusal that retrying cannot fix (another
    /// secret, a seed without one) fails at once with the cause.
    pub fn join(&self, peer: &str, stop: &AtomicBool) -> Result<u64, String> {
        let deadline = Instant::now() + self.settings.sync_interval * 6 + Duration::from_secs(10);
        let mut last_err = String::from("no answer");
        for _ in 0..JOIN_ATTEMPTS {
            if Instant::now() >= deadline || stop.load(Ordering::Acquire) {
                break;
            }
            match fetch(peer, &self.peer_tls()) {
                Ok(cfg) if cfg.nodes.find(&self.me.host, self.me.port).is_some() => {
                    self.membership.adopt(cfg.clone());
                    self.member.store(true, Ordering::Release);
                    log::info!(
                        "cluster: joined via {peer} at version {} ({} nodes)",
                        cfg.version,
                        cfg.nodes.len()
                    );
                    return Ok(cfg.version);
                }
                Ok(mut cfg) => {
                    cfg.nodes.insert(self.me.clone());
                    let Some(next) = cfg.version.checked_add(1) else {
                        return Err(format!("{peer} serves the last possible version"));
                    };
                    cfg.version = next;
                    match push(peer, &cfg, self.settings.secret.as_ref(), &self.peer_tls()) {
                        Ok(()) => {
                            // Tell the rest of the pool at once rather than at its next
                            // poll, then confirm (no pause: the seed has it).
                            self.membership.adopt(cfg);
                            self.push_all(Some(peer));
                            continue;
                        }
                        Err(PushError::Refused(r)) if r.contains("bad cluster signature") => {
                            return Err(format!(
                                "{peer} refused the join: it holds another --cluster-secret-file secret (or none)"
                            ));
                        }
                        Err(PushError::Refused(r))
                            if r.starts_with("ERROR") || r.contains("unauthenticated") =>
                        {
                            return Err(format!(
                                "{peer} refused the join ({r}): start it with the pool's --cluster-secret-file"
                            ));
                        }
                        // Lost a race with another change: fetch again.
                        Err(PushError::Refused(r)) => last_err = format!("{peer} answered {r}"),
                        Err(PushError::Io(e)) if e.contains(CERT_REFUSED) => {
                            return Err(format!("could not join via {peer}: {e}"));
                        }
                        Err(PushError::Io(e)) => last_err = e,
                    }
                }
                Err(e) if e.contains(CERT_REFUSED) => {
                    return Err(format!("could not join via {peer}: {e}"));
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
        self.leaving.store(true, Ordering::Release);
        let Some(v) = self.membership.remove_node(&self.me.host, self.me.port) else {
            return;
        };
        log::info!("cluster: leaving at version {v}");
        let deadline = Instant::now() + self.settings.leave_timeout;
        loop {
            self.push_all(None);
            let converged = self.peers().iter().all(|p| {
                fetch(&p.connect_addr(), &self.peer_tls()).is_ok_and(|c| {
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

    /// How often each peer is probed: four times per fail timeout, at most once a second.
    fn probe_every(&self) -> Duration {
        (self.settings.fail_timeout / 4).min(Duration::from_secs(1))
    }

    /// Starts a prober for every listed peer that has none (one thread each, bounded by
    /// [`MAX_PROBERS`]); a prober ends when its peer leaves the list or on `stop`.
    fn start_probers(self: &Arc<Self>, stop: &Arc<AtomicBool>) {
        for peer in self.peers() {
            let key: NodeKey = (peer.host.clone(), peer.port);
            let mut probing = self.probing.lock();
            if probing.contains(&key) || probing.len() >= MAX_PROBERS {
                continue;
            }
            probing.insert(key.clone());
            drop(probing);
            let (me, stop2) = (self.clone(), stop.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("probe-{}", peer.port))
                .spawn(move || me.probe_loop(peer, key, &stop2));
            if let Err(e) = spawned {
                log::warn!("cluster: cannot start a prober: {e}");
            }
        }
    }

    fn probe_loop(&self, peer: Node, key: NodeKey, stop: &AtomicBool) {
        let addr = peer.connect_addr();
        let every = self.probe_every();
        let timeout = every.max(Duration::from_millis(200));
        let mut conn = None;
        while !stop.load(Ordering::Acquire) && self.listed(&key) {
            let t0 = Instant::now();
            let answer = probe(&mut conn, &addr, timeout, &self.peer_tls());
            self.health.lock().observe(&key, answer, Instant::now());
            sleep_unless(stop, every.saturating_sub(t0.elapsed()));
        }
        self.probing.lock().remove(&key);
    }

    fn listed(&self, key: &NodeKey) -> bool {
        self.membership
            .with(|c| c.nodes.find(&key.0, key.1).is_some())
    }

    /// One failure-detection step: refresh the peers' states, then apply the plan.
    fn detect(&self) {
        let now = Instant::now();
        let current = self.membership.get();
        let plan = {
            let mut h = self.health.lock();
            h.watch(&current.nodes, &self.me, now);
            for t in h.refresh(now) {
                let secs = h.fail_timeout().as_secs();
                match t.to {
                    PeerState::Down => log::warn!(
                        "cluster: {}:{} is down (no answer for {secs} s)",
                        t.peer.0,
                        t.peer.1
                    ),
                    PeerState::Suspect => {
                        log::info!("cluster: {}:{} is suspect", t.peer.0, t.peer.1)
                    }
                    PeerState::Alive => {
                        log::info!("cluster: {}:{} answers again", t.peer.0, t.peer.1)
                    }
                }
            }
            health::plan(&current, &self.me, &h)
        };
        match plan {
            Plan::Isolated { reached, listed } => {
                if !self.isolated.swap(true, Ordering::AcqRel) {
                    log::warn!(
                        "cluster: isolated: this node reaches {reached} of {listed} listed nodes; serving version {} unchanged until it reaches a majority",
                        current.version
                    );
                }
                return;
            }
            _ => {
                if self.isolated.swap(false, Ordering::AcqRel) {
                    log::info!("cluster: no longer isolated");
                }
            }
        }
        if let Plan::Delist { config, removed } = plan {
            let v = config.version;
            if self.membership.adopt(config).is_yes() {
                for n in &removed {
                    log::warn!(
                        "cluster: delisted {} (failed: no answer for {} s from a majority), version {v}",
                        n,
                        self.settings.fail_timeout.as_secs()
                    );
                }
                self.push_all(None);
            }
        }
    }

    /// A member that finds itself out of the served list without having left was delisted
    /// (it was down, or cut off): it re-joins through any listed node, once it answers.
    fn rejoin_if_delisted(&self, stop: &AtomicBool) {
        let current = self.membership.get();
        let listed = current.nodes.find(&self.me.host, self.me.port).is_some();
        if listed {
            self.member.store(true, Ordering::Release);
            return;
        }
        if !self.member.load(Ordering::Acquire)
            || self.leaving.load(Ordering::Acquire)
            || self.settings.secret.is_none()
        {
            return;
        }
        log::warn!(
            "cluster: this node is not in version {} (it was delisted); re-joining",
            current.version
        );
        for peer in current.nodes.iter() {
            match self.join(&peer.connect_addr(), stop) {
                Ok(v) => {
                    log::info!("cluster: rejoined at version {v}");
                    return;
                }
                Err(e) => log::warn!("cluster: re-joining: {e}"),
            }
            if stop.load(Ordering::Acquire) {
                return;
            }
        }
    }

    /// The sync thread until `stop`: probe and detect failures every probe period, poll
    /// peers and the file every `--cluster-sync-interval`, re-join if delisted.
    pub fn run_sync(self: Arc<Self>, stop: Arc<AtomicBool>) {
        if self
            .membership
            .with(|c| c.nodes.find(&self.me.host, self.me.port).is_some())
        {
            self.member.store(true, Ordering::Release);
        }
        let mut next_sync = Instant::now();
        while !stop.load(Ordering::Acquire) {
            if self.settings.secret.is_some() {
                self.start_probers(&stop);
                self.detect();
            }
            if Instant::now() >= next_sync {
                self.sync_once();
                self.rejoin_if_delisted(&stop);
                next_sync = Instant::now() + self.settings.sync_interval;
            }
            sleep_unless(&stop, self.probe_every());
        }
    }

    /// `stats cluster`: the version, the node count, whether isolated, and each watched
    /// peer's state and seconds since it changed.
    pub fn stats(&self) -> Vec<(String, String)> {
        let (version, nodes) = self.membership.with(|c| (c.version, c.nodes.len()));
        let mut out = vec![
            ("cluster_version".to_string(), version.to_string()),
            ("cluster_nodes".to_string(), nodes.to_string()),
            (
                "cluster_isolated".to_string(),
                u8::from(self.isolated.load(Ordering::Acquire)).to_string(),
            ),
        ];
        let now = Instant::now();
        for ((host, port), p) in self.health.lock().peers() {
            out.push((
                format!("peer:{host}:{port}"),
                format!(
                    "{} {}",
                    p.state.as_str(),
                    now.saturating_duration_since(p.changed).as_secs()
                ),
            ));
        }
        out
    }
}

/// At most this many rounds of a join (fetch, push), within its deadline.
const JOIN_ATTEMPTS: usize = 200;

/// At most this many prober threads (one per listed peer).
const MAX_PROBERS: usize = 64;

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
