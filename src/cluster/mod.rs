//! Cluster membership: who is in the cluster, at which version, and how nodes agree on it.
//!
//! This module owns the *data* of ElastiCache-style auto discovery and nothing else:
//!
//! - [`Node`]: one `host|ip|port` entry, validated on the way in and printed the same way out.
//! - [`NodeList`]: the node list, always sorted by host then port (libmemcached's
//!   `compare_servers` order) and free of duplicates, so that every node prints the same
//!   list byte for byte.
//! - [`ClusterConfig`]: a version plus a node list; [`ClusterConfig::supersedes`] is the one
//!   convergence rule every node (and our client) applies.
//! - [`Membership`]: the running config behind a `parking_lot::RwLock`, shared by the
//!   server's workers (read: `config get cluster`) and its sync/reload paths (write).
//! - [`discovery`]: the wire payload `"<version>\n<host>|<ip>|<port> ...\n"` (encode and
//!   parse), the `CONFIG cluster ...` reply (that payload in `protocol::text::config`'s
//!   framing, the one codec the server, the peer sync and the client share) and the
//!   `--cluster-file` format.
//! - [`ring`]: the libmemcached-compatible weighted ketama ring that clients route with.
//!
//! Non-goals: no sockets, no threads, no store, no protocol types (only the pure `CONFIG`
//! framing function), never `server`. The server layer polls
//! peers, reads the cluster file and encodes replies by calling into this module; everything
//! here is pure and unit-tested in place.
//!
//! # Convergence
//!
//! Versions start at 1 and never go down. A node adopts a candidate config when its version
//! is greater than the current one. When the versions are equal but the lists differ (two
//! operators bumped the same version on different nodes), the candidate whose payload sorts
//! greater byte-wise wins. That rule is a total order on configs, so whatever order the
//! gossip arrives in, every node ends up holding the same maximum.

pub mod discovery;
pub mod health;
pub mod ring;
pub mod seal;

use std::fmt;
use std::net::IpAddr;

use parking_lot::RwLock;

/// Longest host name accepted (a DNS name is at most 253 characters; leave some slack).
pub const MAX_HOST_LEN: usize = 255;

/// One cluster member as advertised in the discovery payload: `host|ip|port`.
///
/// `host` is the name clients hash on (ketama uses it), `ip` is an optional address that
/// saves clients a DNS lookup (empty when unknown), `port` is the memcached port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub host: String,
    /// Empty when unknown; otherwise a valid IPv4 or IPv6 address.
    pub ip: String,
    pub port: u16,
}

impl Node {
    /// Builds a validated node. See [`Node::parse`] for the rules.
    pub fn new(host: &str, ip: &str, port: u16) -> Result<Node, String> {
        validate_host(host)?;
        validate_ip(ip)?;
        if port == 0 {
            return Err("port must be in 1..65535".to_string());
        }
        Ok(Node {
            host: host.to_string(),
            ip: ip.to_string(),
            port,
        })
    }

    /// Parses `host|ip|port`: host non-empty without spaces, control characters or `|`;
    /// ip empty or a valid IP address; port a decimal in 1..65535. Both `|` are required.
    pub fn parse(s: &str) -> Result<Node, String> {
        let mut parts = s.split('|');
        let (Some(host), Some(ip), Some(port), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("`{s}`: expected host|ip|port"));
        };
        let port = parse_port(port).map_err(|e| format!("`{s}`: {e}"))?;
        Node::new(host, ip, port).map_err(|e| format!("`{s}`: {e}"))
    }

    /// The ip, or `None` when the field is empty.
    pub fn ip(&self) -> Option<&str> {
        if self.ip.is_empty() {
            None
        } else {
            Some(&self.ip)
        }
    }

    /// `ip:port` when the ip is known (brackets around IPv6), else `host:port`: what a
    /// client should connect to.
    pub fn connect_addr(&self) -> String {
        match self.ip() {
            Some(ip) if ip.contains(':') => format!("[{ip}]:{}", self.port),
            Some(ip) => format!("{ip}:{}", self.port),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// Identity of a member: two entries with the same host and port are the same node.
    fn key(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}|{}", self.host, self.ip, self.port)
    }
}

fn validate_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty host".to_string());
    }
    if host.len() > MAX_HOST_LEN {
        return Err(format!("host longer than {MAX_HOST_LEN} bytes"));
    }
    if host
        .chars()
        .any(|c| c == '|' || c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "host `{host}` contains a space, `|`, `#` or control character"
        ));
    }
    Ok(())
}

fn validate_ip(ip: &str) -> Result<(), String> {
    if ip.is_empty() || ip.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!("`{ip}` is not an IP address"))
    }
}

fn parse_port(port: &str) -> Result<u16, String> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad port `{port}`"));
    }
    match port.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(format!("port `{port}` not in 1..65535")),
    }
}

/// The node list: sorted by host, then port, one entry per `host:port`.
///
/// The order is libmemcached's `compare_servers` (strcmp on the host, then the port), which
/// also makes ring indexes agree with libmemcached's on ties. Because the order and the
/// deduplication are enforced here, two nodes holding the same members print the same bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeList(Vec<Node>);

impl NodeList {
    /// An empty list.
    pub fn empty() -> NodeList {
        NodeList(Vec::new())
    }

    /// Sorts and deduplicates. Exact duplicates merge; the same `host:port` with two
    /// different ips is an error (the list would not say where the node is).
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Result<NodeList, String> {
        let mut v: Vec<Node> = nodes.into_iter().collect();
        v.sort_by(|a, b| a.key().cmp(&b.key()).then_with(|| a.ip.cmp(&b.ip)));
        v.dedup();
        if let Some(w) = v.windows(2).find(|w| w[0].key() == w[1].key()) {
            return Err(format!(
                "node {}:{} listed with two ips (`{}` and `{}`)",
                w[0].host, w[0].port, w[0].ip, w[1].ip
            ));
        }
        Ok(NodeList(v))
    }

    pub fn as_slice(&self) -> &[Node] {
        &self.0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Node> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entry for `host:port`, if any.
    pub fn find(&self, host: &str, port: u16) -> Option<&Node> {
        self.position(host, port).ok().map(|i| &self.0[i])
    }

    /// Inserts `node`, replacing the ip of an existing `host:port` entry. Returns whether
    /// the list changed.
    pub fn insert(&mut self, node: Node) -> bool {
        match self.position(&node.host, node.port) {
            Ok(i) if self.0[i] == node => false,
            Ok(i) => {
                self.0[i] = node;
                true
            }
            Err(i) => {
                self.0.insert(i, node);
                true
            }
        }
    }

    /// Removes the `host:port` entry. Returns whether the list changed.
    pub fn remove(&mut self, host: &str, port: u16) -> bool {
        match self.position(host, port) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn position(&self, host: &str, port: u16) -> Result<usize, usize> {
        self.0.binary_search_by(|n| n.key().cmp(&(host, port)))
    }
}

impl fmt::Display for NodeList {
    /// Space-separated `host|ip|port` entries, as in the discovery payload.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a NodeList {
    type Item = &'a Node;
    type IntoIter = std::slice::Iter<'a, Node>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A versioned node list: what `config get cluster` serves.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterConfig {
    /// Starts at 1, only grows.
    pub version: u64,
    pub nodes: NodeList,
}

impl ClusterConfig {
    pub fn new(version: u64, nodes: NodeList) -> ClusterConfig {
        ClusterConfig { version, nodes }
    }

    /// The discovery payload, `"<version>\n<nodes>\n"` (see [`discovery::payload`]).
    pub fn payload(&self) -> Vec<u8> {
        discovery::payload(self)
    }

    /// The convergence rule: should a holder of `current` replace it with `self`?
    ///
    /// Yes when `self.version` is greater; when the versions are equal and the lists
    /// differ, yes when `self`'s node list prints byte-wise greater. Never when the version
    /// is lower. This is a strict total order on distinct configs, so all nodes converge on
    /// the same maximum whatever order they see candidates in.
    pub fn supersedes(&self, current: &ClusterConfig) -> bool {
        match self.version.cmp(&current.version) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => {
                self.nodes != current.nodes
                    && self.nodes.to_string().as_bytes() > current.nodes.to_string().as_bytes()
            }
        }
    }
}

impl Default for ClusterConfig {
    /// Version 1 with no nodes: the config of a node that was given no cluster file.
    fn default() -> ClusterConfig {
        ClusterConfig::new(1, NodeList::empty())
    }
}

/// How far ahead of the running version a pushed or polled list may be. Legitimate
/// changes move one version at a time; an operator's hand-set version may jump, but not by
/// this much.
pub const MAX_AHEAD: u64 = 1_000_000;

/// What [`Membership::adopt`] did with a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adopted {
    Yes,
    /// Not newer than the running list (ignored).
    NotNewer,
    /// More than [`MAX_AHEAD`] versions ahead (refused).
    TooFarAhead,
}

impl Adopted {
    pub fn is_yes(self) -> bool {
        self == Adopted::Yes
    }
}

/// What happened when a cluster file was applied with [`Membership::apply_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOutcome {
    /// The file's list is now the running list, at this version.
    Adopted(u64),
    /// The file says what is already running.
    Unchanged,
    /// The file carries `version N` with N below (or equal to, with a list that loses the
    /// tie-break against) the running version; the running list is kept.
    Stale { file: u64, running: u64 },
}

/// The running cluster config, shared by every worker thread.
///
/// One `parking_lot::RwLock`; no other lock is ever taken while it is held, so it has no
/// place in any lock order. Readers clone what they need and let go at once.
#[derive(Debug, Default)]
pub struct Membership {
    inner: RwLock<ClusterConfig>,
}

impl Membership {
    /// Panics if `initial.version` is 0 (versions start at 1).
    pub fn new(initial: ClusterConfig) -> Membership {
        assert!(initial.version >= 1, "cluster versions start at 1");
        Membership {
            inner: RwLock::new(initial),
        }
    }

    /// A copy of the running config.
    pub fn get(&self) -> ClusterConfig {
        self.inner.read().clone()
    }

    pub fn version(&self) -> u64 {
        self.inner.read().version
    }

    /// Runs `f` on the running config under the read lock (for encoding a reply without
    /// cloning the list).
    pub fn with<R>(&self, f: impl FnOnce(&ClusterConfig) -> R) -> R {
        f(&self.inner.read())
    }

    /// Replaces the running config with `candidate` if it [supersedes](ClusterConfig::supersedes)
    /// it and is not more than [`MAX_AHEAD`] versions ahead (a version pushed near
    /// `u64::MAX` would otherwise lock the pool). Used for `config set cluster` and for peer
    /// polling.
    pub fn adopt(&self, candidate: ClusterConfig) -> Adopted {
        let mut cur = self.inner.write();
        if candidate.version > cur.version.saturating_add(MAX_AHEAD) {
            return Adopted::TooFarAhead;
        }
        if candidate.supersedes(&cur) {
            *cur = candidate;
            Adopted::Yes
        } else {
            Adopted::NotNewer
        }
    }

    /// Adds (or updates the ip of) a node and bumps the version. Returns the new version,
    /// or `None` when the node was already there as given (or the version cannot grow).
    pub fn add_node(&self, node: Node) -> Option<u64> {
        let mut cur = self.inner.write();
        let next = cur.version.checked_add(1)?;
        if cur.nodes.insert(node) {
            cur.version = next;
            Some(next)
        } else {
            None
        }
    }

    /// Removes `host:port` and bumps the version. Returns the new version, or `None` when
    /// there was no such node (or the version cannot grow).
    pub fn remove_node(&self, host: &str, port: u16) -> Option<u64> {
        let mut cur = self.inner.write();
        let next = cur.version.checked_add(1)?;
        if cur.nodes.remove(host, port) {
            cur.version = next;
            Some(next)
        } else {
            None
        }
    }

    /// Applies a parsed `--cluster-file` (at start-up or on SIGHUP).
    ///
    /// With a `version N` line the file is a candidate like any other ([`Membership::adopt`]).
    /// Without one, a different list becomes the running list at the running version + 1,
    /// and the same list changes nothing.
    pub fn apply_file(&self, file: discovery::ClusterFile) -> FileOutcome {
        let mut cur = self.inner.write();
        match file.version {
            Some(v) => {
                let candidate = ClusterConfig::new(v, file.nodes);
                if candidate == *cur {
                    FileOutcome::Unchanged
                } else if candidate.supersedes(&cur) {
                    *cur = candidate;
                    FileOutcome::Adopted(v)
                } else {
                    FileOutcome::Stale {
                        file: v,
                        running: cur.version,
                    }
                }
            }
            None if file.nodes == cur.nodes => FileOutcome::Unchanged,
            None => {
                cur.version += 1;
                cur.nodes = file.nodes;
                FileOutcome::Adopted(cur.version)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(host: &str, ip: &str, port: u16) -> Node {
        Node::new(host, ip, port).unwrap()
    }

    fn list(nodes: &[Node]) -> NodeList {
        NodeList::new(nodes.iter().cloned()).unwrap()
    }

    #[test]
    fn node_parse_and_format_round_trip() {
        for s in [
            "cache1.example.com|10.0.0.1|11211",
            "cache2||11212",
            "h|::1|1",
            "h|2001:db8::7|65535",
        ] {
            let node = Node::parse(s).unwrap();
            assert_eq!(node.to_string(), s);
        }
        let node = Node::parse("cache2||11212").unwrap();
        assert_eq!(node.ip(), None);
        assert_eq!(node.connect_addr(), "cache2:11212");
        assert_eq!(Node::parse("h|::1|5").unwrap().connect_addr(), "[::1]:5");
        assert_eq!(
            Node::parse("h|10.1.2.3|5").unwrap().connect_addr(),
            "10.1.2.3:5"
        );
    }

    #[test]
    fn node_parse_rejects_bad_fields() {
        for bad in [
            "",
            "host",
            "host|11211",
            "host||",
            "|10.0.0.1|11211",
            "host|10.0.0.1|0",
            "host|10.0.0.1|65536",
            "host|10.0.0.1|+1",
            "host|10.0.0.1|-1",
            "host|10.0.0.1|11211 ",
            "host|10.0.0.1|1x",
            "host|10.0.0.1|123456",
            "host|not-an-ip|11211",
            "host|10.0.0.256|11211",
            "ho st|10.0.0.1|11211",
            "host|10.0.0.1|11211|extra",
            "ho\tst||1",
            "ho#st||1",
        ] {
            assert!(Node::parse(bad).is_err(), "accepted {bad:?}");
        }
        assert!(Node::new(&"a".repeat(MAX_HOST_LEN + 1), "", 1).is_err());
        assert!(Node::new(&"a".repeat(MAX_HOST_LEN), "", 1).is_ok());
    }

    #[test]
    fn node_list_sorts_by_host_then_port_and_dedups() {
        let l = list(&[
            n("b", "", 2),
            n("a", "10.0.0.9", 11212),
            n("a", "10.0.0.1", 11211),
            n("b", "", 2),
            n("B", "", 1),
        ]);
        assert_eq!(l.to_string(), "B||1 a|10.0.0.1|11211 a|10.0.0.9|11212 b||2");
        assert_eq!(l.len(), 4);
        // Same host:port, two different ips: ambiguous.
        assert!(NodeList::new([n("a", "10.0.0.1", 1), n("a", "10.0.0.2", 1)]).is_err());
        assert!(NodeList::new([n("a", "", 1), n("a", "10.0.0.2", 1)]).is_err());
    }

    #[test]
    fn node_list_insert_and_remove_keep_order() {
        let mut l = NodeList::empty();
        assert!(l.insert(n("c", "", 1)));
        assert!(l.insert(n("a", "", 1)));
        assert!(l.insert(n("b", "", 1)));
        assert!(!l.insert(n("b", "", 1)));
        assert!(l.insert(n("b", "10.0.0.2", 1)), "ip update is a change");
        assert_eq!(l.to_string(), "a||1 b|10.0.0.2|1 c||1");
        assert_eq!(l.find("b", 1).map(|n| n.ip.as_str()), Some("10.0.0.2"));
        assert!(l.remove("b", 1));
        assert!(!l.remove("b", 1));
        assert!(!l.remove("a", 2));
        assert_eq!(l.to_string(), "a||1 c||1");
    }

    #[test]
    fn supersedes_is_version_then_payload() {
        let a = ClusterConfig::new(2, list(&[n("a", "", 1)]));
        let b = ClusterConfig::new(2, list(&[n("b", "", 1)]));
        let a3 = ClusterConfig::new(3, list(&[n("a", "", 1)]));
        let b1 = ClusterConfig::new(1, list(&[n("b", "", 1)]));
        assert!(b.supersedes(&a));
        assert!(!a.supersedes(&b));
        assert!(!a.supersedes(&a));
        assert!(a3.supersedes(&b));
        assert!(!b1.supersedes(&a));
        assert!(!b.supersedes(&a3));
    }

    #[test]
    fn adopt_only_moves_forward() {
        let m = Membership::new(ClusterConfig::new(5, list(&[n("a", "", 1)])));
        assert!(
            !m.adopt(ClusterConfig::new(4, list(&[n("z", "", 1)])))
                .is_yes()
        );
        assert!(
            !m.adopt(ClusterConfig::new(5, list(&[n("a", "", 1)])))
                .is_yes()
        );
        assert!(
            m.adopt(ClusterConfig::new(6, list(&[n("b", "", 1)])))
                .is_yes()
        );
        assert_eq!(m.version(), 6);
        assert_eq!(m.get().nodes.to_string(), "b||1");
        assert!(!m.adopt(ClusterConfig::new(1, NodeList::empty())).is_yes());
        assert_eq!(m.version(), 6);
        // Far ahead: refused (a pushed u64::MAX would lock the pool).
        assert_eq!(
            m.adopt(ClusterConfig::new(u64::MAX, list(&[n("y", "", 1)]))),
            Adopted::TooFarAhead
        );
        assert_eq!(m.version(), 6);
    }

    #[test]
    fn equal_versions_converge_whatever_the_order() {
        let cands = [
            ClusterConfig::new(7, list(&[n("a", "", 1), n("b", "", 1)])),
            ClusterConfig::new(7, list(&[n("a", "", 1)])),
            ClusterConfig::new(7, list(&[n("a", "", 1), n("c", "", 1)])),
            ClusterConfig::new(6, list(&[n("z", "", 1)])),
        ];
        // Every permutation of arrival order gives the same winner.
        let mut winners = Vec::new();
        let perms = [
            [0, 1, 2, 3],
            [3, 2, 1, 0],
            [1, 3, 0, 2],
            [2, 0, 3, 1],
            [1, 2, 0, 3],
        ];
        for p in perms {
            let m = Membership::new(ClusterConfig::default());
            for i in p {
                m.adopt(cands[i].clone());
            }
            winners.push(m.get());
        }
        assert!(winners.iter().all(|w| *w == winners[0]));
        assert_eq!(winners[0], cands[2]);
    }

    #[test]
    fn add_and_remove_bump_the_version() {
        let m = Membership::new(ClusterConfig::default());
        assert_eq!(m.add_node(n("b", "", 1)), Some(2));
        assert_eq!(m.add_node(n("a", "", 1)), Some(3));
        assert_eq!(m.add_node(n("a", "", 1)), None);
        assert_eq!(m.version(), 3);
        assert_eq!(m.remove_node("a", 2), None);
        assert_eq!(m.remove_node("a", 1), Some(4));
        assert_eq!(m.with(|c| c.nodes.to_string()), "b||1");
    }

    #[test]
    fn apply_file_with_and_without_version() {
        let m = Membership::new(ClusterConfig::new(3, list(&[n("a", "", 1)])));
        let file = |v: Option<u64>, nodes: &[Node]| discovery::ClusterFile {
            version: v,
            nodes: list(nodes),
        };
        assert_eq!(
            m.apply_file(file(None, &[n("a", "", 1)])),
            FileOutcome::Unchanged
        );
        assert_eq!(
            m.apply_file(file(None, &[n("a", "", 1), n("b", "", 1)])),
            FileOutcome::Adopted(4)
        );
        assert_eq!(
            m.apply_file(file(Some(2), &[n("c", "", 1)])),
            FileOutcome::Stale {
                file: 2,
                running: 4
            }
        );
        assert_eq!(
            m.apply_file(file(Some(4), &[n("a", "", 1), n("b", "", 1)])),
            FileOutcome::Unchanged
        );
        assert_eq!(
            m.apply_file(file(Some(10), &[n("c", "", 1)])),
            FileOutcome::Adopted(10)
        );
        assert_eq!(m.get(), ClusterConfig::new(10, list(&[n("c", "", 1)])));
    }

    #[test]
    #[should_panic(expected = "start at 1")]
    fn version_zero_is_refused() {
        let _ = Membership::new(ClusterConfig::new(0, NodeList::empty()));
    }
}
