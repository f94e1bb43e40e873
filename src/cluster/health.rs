//! Failure detection: what this node knows of its peers' health, and the rule that turns it
//! into a membership change. Plain data and pure functions: the server's probers feed it
//! probe results, the sync loop asks it for a [`Plan`].
//!
//! # The rule, and why it is safe
//!
//! Every node probes every listed peer about once a second over a kept-open TCP connection
//! (`stats cluster`, which also returns the peer's own view of the others). A peer that has
//! not answered for half the fail timeout is *suspect*, for the whole fail timeout *down*.
//! A node *reaches* itself and every listed peer that is not down.
//!
//! - **Only a majority changes the list.** A node that reaches at most half of the listed
//!   nodes (itself included) is *isolated*: it keeps serving its last list and changes
//!   nothing. So the minority side of a partition never delists the majority, and two
//!   sides can never both decide.
//! - **One coordinator.** Among the nodes it reaches, the one with the smallest
//!   `(host, port)` decides; the others only follow (they adopt the list by the version rule).
//! - **Confirmed by a majority.** The coordinator delists a peer only when a strict majority
//!   of the listed nodes see it down: itself plus every reached peer whose last reported
//!   view says so. A peer one node cannot reach (an asymmetric fault, a lost link) is not
//!   removed while the others still reach it. This plays the part of SWIM's indirect probes.
//! - **One change, one version.** All peers found down in one step leave together, at
//!   exactly `version + 1` (checked: never wraps).
//!
//! A delisted node that answers again re-joins by itself (`server/cluster.rs`): when it sees
//! a list without itself that it did not ask for, it joins again the way a new node does.
//!
//! Must not: do I/O, read the clock (callers pass `now`), or log.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{ClusterConfig, Node, NodeList};

/// A peer's health as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    Alive,
    /// No answer for half the fail timeout.
    Suspect,
    /// No answer for the whole fail timeout.
    Down,
}

impl PeerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Alive => "alive",
            PeerState::Suspect => "suspect",
            PeerState::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<PeerState> {
        match s {
            "alive" => Some(PeerState::Alive),
            "suspect" => Some(PeerState::Suspect),
            "down" => Some(PeerState::Down),
            _ => None,
        }
    }
}

/// A node's identity in the list: `(host, port)`.
pub type NodeKey = (String, u16);

fn key(n: &Node) -> NodeKey {
    (n.host.clone(), n.port)
}

/// What a peer reported about the others in its last answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub version: u64,
    /// The peers it sees down.
    pub down: Vec<NodeKey>,
}

/// One peer's record.
#[derive(Clone, Debug)]
pub struct PeerHealth {
    /// Last successful probe; `None`: never answered since we started watching it.
    pub last_ok: Option<Instant>,
    /// When we started watching it (a peer that never answered is down after the fail
    /// timeout from then).
    pub watched_since: Instant,
    pub state: PeerState,
    /// When `state` last changed.
    pub changed: Instant,
    /// Its view, from its last answer.
    pub view: Option<View>,
}

/// A state change, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub peer: NodeKey,
    pub from: PeerState,
    pub to: PeerState,
}

/// Every watched peer's health.
#[derive(Clone, Debug)]
pub struct Health {
    fail_timeout: Duration,
    peers: HashMap<NodeKey, PeerHealth>,
}

impl Health {
    pub fn new(fail_timeout: Duration) -> Health {
        Health {
            fail_timeout,
            peers: HashMap::new(),
        }
    }

    pub fn fail_timeout(&self) -> Duration {
        self.fail_timeout
    }

    /// Watch exactly the listed peers (`me` excluded); new ones start alive, as of `now`.
    pub fn watch(&mut self, list: &NodeList, me: &Node, now: Instant) {
        let want: Vec<NodeKey> = list.iter().filter(|n| *n != me).map(key).collect();
        self.peers.retain(|k, _| want.contains(k));
        for k in want {
            self.peers.entry(k).or_insert(PeerHealth {
                last_ok: None,
                watched_since: now,
                state: PeerState::Alive,
                changed: now,
                view: None,
            });
        }
    }

    /// A probe of `peer` answered (with its view) or failed (`None`).
    pub fn observe(&mut self, peer: &NodeKey, answer: Option<View>, now: Instant) {
        if let Some(p) = self.peers.get_mut(peer)
            && let Some(view) = answer
        {
            p.last_ok = Some(now);
            p.view = Some(view);
        }
    }

    /// Recomputes every state as of `now`; returns the changes.
    pub fn refresh(&mut self, now: Instant) -> Vec<Transition> {
        let mut out = Vec::new();
        for (k, p) in self.peers.iter_mut() {
            let silent = now.saturating_duration_since(p.last_ok.unwrap_or(p.watched_since));
            let state = if silent >= self.fail_timeout {
                PeerState::Down
            } else if silent >= self.fail_timeout / 2 {
                PeerState::Suspect
            } else {
                PeerState::Alive
            };
            if state != p.state {
                out.push(Transition {
                    peer: k.clone(),
                    from: p.state,
                    to: state,
                });
                p.state = state;
                p.changed = now;
            }
        }
        out.sort_by(|a, b| a.peer.cmp(&b.peer));
        out
    }

    pub fn state(&self, peer: &NodeKey) -> Option<PeerState> {
        self.peers.get(peer).map(|p| p.state)
    }

    /// Every watched peer, sorted.
    pub fn peers(&self) -> Vec<(NodeKey, PeerHealth)> {
        let mut v: Vec<_> = self
            .peers
            .iter()
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The peers this node sees down (its own view, as `stats cluster` reports it).
    pub fn down(&self) -> Vec<NodeKey> {
        self.peers()
            .into_iter()
            .filter(|(_, p)| p.state == PeerState::Down)
            .map(|(k, _)| k)
            .collect()
    }
}

/// What the sync loop should do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to change (or not ours to change).
    Nothing,
    /// This node reaches at most half of the list: keep serving it, change nothing.
    Isolated { reached: usize, listed: usize },
    /// This node coordinates and these peers are down by a majority: serve `config`.
    Delist {
        config: ClusterConfig,
        removed: Vec<Node>,
    },
}

/// The rule of this module's doc, for the list `current` as seen by `me`.
pub fn plan(current: &ClusterConfig, me: &Node, health: &Health) -> Plan {
    let listed = current.nodes.len();
    if current.nodes.find(&me.host, me.port).is_none() || listed < 2 {
        return Plan::Nothing;
    }
    let reached: Vec<&Node> = current
        .nodes
        .iter()
        .filter(|n| *n == me || health.state(&key(n)) != Some(PeerState::Down))
        .collect();
    if reached.len() * 2 <= listed {
        return Plan::Isolated {
            reached: reached.len(),
            listed,
        };
    }
    let coordinator = reached
        .iter()
        .min_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
    if coordinator.is_none_or(|c| *c != me) {
        return Plan::Nothing;
    }
    let mut removed = Vec::new();
    for n in current.nodes.iter() {
        let k = key(n);
        if n == me || health.state(&k) != Some(PeerState::Down) {
            continue;
        }
        // Votes: this node, plus every reached peer whose last view sees `n` down.
        let votes = 1 + reached
            .iter()
            .filter(|r| **r != me)
            .filter(|r| {
                health
                    .peers
                    .get(&key(r))
                    .and_then(|p| p.view.as_ref())
                    .is_some_and(|v| v.down.contains(&k))
            })
            .count();
        if votes * 2 > listed {
            removed.push(n.clone());
        }
    }
    if removed.is_empty() {
        return Plan::Nothing;
    }
    let Some(version) = current.version.checked_add(1) else {
        return Plan::Nothing;
    };
    let mut nodes = current.nodes.clone();
    for n in &removed {
        nodes.remove(&n.host, n.port);
    }
    Plan::Delist {
        config: ClusterConfig::new(version, nodes),
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: u8) -> Node {
        Node::new(&format!("n{i}"), &format!("10.0.0.{i}"), 11211).expect("node")
    }

    fn five() -> ClusterConfig {
        ClusterConfig::new(7, NodeList::new((1..=5).map(n)).expect("list"))
    }

    fn view(down: &[u8]) -> Option<View> {
        Some(View {
            version: 7,
            down: down.iter().map(|&i| key(&n(i))).collect(),
        })
    }

    /// Health of `me` after `secs` seconds in which `answering` peers answered with `views`.
    fn health_after(
        me: u8,
        answering: &[(u8, &[u8])],
        secs: u64,
        timeout: u64,
    ) -> (Health, Instant) {
        let t0 = Instant::now();
        let mut h = Health::new(Duration::from_secs(timeout));
        h.watch(&five().nodes, &n(me), t0);
        let now = t0 + Duration::from_secs(secs);
        for &(p, down) in answering {
            h.observe(&key(&n(p)), view(down), now);
        }
        h.refresh(now);
        (h, now)
    }

    #[test]
    fn states_follow_the_fail_timeout() {
        let t0 = Instant::now();
        let mut h = Health::new(Duration::from_secs(6));
        h.watch(&five().nodes, &n(1), t0);
        h.observe(&key(&n(2)), view(&[]), t0);
        assert!(h.refresh(t0 + Duration::from_secs(2)).is_empty());
        let t = h.refresh(t0 + Duration::from_secs(3));
        assert_eq!(t.len(), 4, "{t:?}");
        assert!(t.iter().all(|t| t.to == PeerState::Suspect));
        h.refresh(t0 + Duration::from_secs(6));
        assert_eq!(h.state(&key(&n(2))), Some(PeerState::Down));
        h.observe(&key(&n(2)), view(&[]), t0 + Duration::from_secs(7));
        let t = h.refresh(t0 + Duration::from_secs(7));
        assert_eq!(
            t,
            vec![Transition {
                peer: key(&n(2)),
                from: PeerState::Down,
                to: PeerState::Alive
            }]
        );
    }

    #[test]
    fn a_dead_node_is_delisted_by_the_coordinator_at_version_plus_one() {
        // n5 is dead; n1..n4 all see it down.
        let views: &[(u8, &[u8])] = &[(2, &[5]), (3, &[5]), (4, &[5])];
        let (h, _) = health_after(1, views, 10, 6);
        match plan(&five(), &n(1), &h) {
            Plan::Delist { config, removed } => {
                assert_eq!(config.version, 8);
                assert_eq!(removed, vec![n(5)]);
                assert_eq!(config.nodes.len(), 4);
            }
            p => panic!("{p:?}"),
        }
        // Not the coordinator: n2 follows.
        let views: &[(u8, &[u8])] = &[(1, &[5]), (3, &[5]), (4, &[5])];
        let (h, _) = health_after(2, views, 10, 6);
        assert_eq!(plan(&five(), &n(2), &h), Plan::Nothing);
    }

    #[test]
    fn the_coordinator_is_the_smallest_reached_node() {
        // n1 is dead: n2 coordinates.
        let views: &[(u8, &[u8])] = &[(3, &[1]), (4, &[1]), (5, &[1])];
        let (h, _) = health_after(2, views, 10, 6);
        assert!(matches!(plan(&five(), &n(2), &h), Plan::Delist { .. }));
    }

    #[test]
    fn the_minority_side_is_isolated_and_changes_nothing() {
        // n1 and n2 cut off from n3..n5.
        let (h, _) = health_after(1, &[(2, &[3, 4, 5])], 10, 6);
        assert_eq!(
            plan(&five(), &n(1), &h),
            Plan::Isolated {
                reached: 2,
                listed: 5
            }
        );
        // The majority side delists the two.
        let views: &[(u8, &[u8])] = &[(4, &[1, 2]), (5, &[1, 2])];
        let (h, _) = health_after(3, views, 10, 6);
        match plan(&five(), &n(3), &h) {
            Plan::Delist { config, removed } => {
                assert_eq!(removed, vec![n(1), n(2)]);
                assert_eq!(config.version, 8);
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn one_observer_alone_cannot_delist() {
        // n1 cannot reach n5, but n2..n4 can.
        let views: &[(u8, &[u8])] = &[(2, &[]), (3, &[]), (4, &[])];
        let (h, _) = health_after(1, views, 10, 6);
        assert_eq!(h.state(&key(&n(5))), Some(PeerState::Down));
        assert_eq!(plan(&five(), &n(1), &h), Plan::Nothing);
    }

    #[test]
    fn no_change_before_the_timeout_and_never_past_the_last_version() {
        let views: &[(u8, &[u8])] = &[(2, &[5]), (3, &[5]), (4, &[5])];
        let (h, _) = health_after(1, views, 5, 6);
        assert_eq!(plan(&five(), &n(1), &h), Plan::Nothing);
        let (h, _) = health_after(1, views, 10, 6);
        let mut max = five();
        max.version = u64::MAX;
        assert_eq!(plan(&max, &n(1), &h), Plan::Nothing);
    }

    #[test]
    fn a_node_not_in_the_list_changes_nothing() {
        let (h, _) = health_after(1, &[], 10, 6);
        let mut c = five();
        c.nodes.remove("n1", 11211);
        assert_eq!(plan(&c, &n(1), &h), Plan::Nothing);
    }
}
