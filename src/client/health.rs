//! Per-node health for the cluster client, and the client's failure counters.
//!
//! A node whose connect or request fails is *dead* for a backoff period:
//! [`ClientOptions::retry_backoff_min`](super::ClientOptions::retry_backoff_min) after the
//! first failure, doubling on each failed retry up to
//! [`ClientOptions::retry_backoff_max`](super::ClientOptions::retry_backoff_max), and reset
//! by the first success. While dead, calls routed to it are not sent (the caller answers
//! them as misses); once the period is over, one call at a time is let through as a probe.
//!
//! Owns: the dead/alive state machine and the counters. Must not touch: sockets, routing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What [`Health::admit`] lets a call do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// The node is alive: send.
    Go,
    /// The node is dead but its backoff is over: send, as the one probe.
    Probe,
    /// The node is dead: do not send.
    Skip,
}

#[derive(Debug, Default)]
struct State {
    /// Marked dead and not yet seen to answer again.
    dead: bool,
    /// When the next probe may go (meaningful while `dead`).
    retry_at: Option<Instant>,
    /// The current dead period.
    backoff: Duration,
}

/// One node's health.
#[derive(Debug, Default)]
pub(super) struct Health {
    state: Mutex<State>,
}

impl Health {
    /// Whether a call at `now` may go to the node. A probe holds the node for `hold` (the
    /// longest a call may take), so concurrent callers keep skipping meanwhile.
    pub(super) fn admit(&self, now: Instant, hold: Duration) -> Admit {
        let mut s = self.state.lock();
        if !s.dead {
            return Admit::Go;
        }
        match s.retry_at {
            Some(at) if now < at => Admit::Skip,
            _ => {
                s.retry_at = Some(now + hold);
                Admit::Probe
            }
        }
    }

    /// True while the node is marked dead.
    pub(super) fn is_dead(&self) -> bool {
        self.state.lock().dead
    }

    /// Records a failure at `now`; true when this marked an alive node dead.
    pub(super) fn failed(&self, now: Instant, min: Duration, max: Duration) -> bool {
        let mut s = self.state.lock();
        let newly = !s.dead;
        s.backoff = if newly {
            min
        } else {
            s.backoff.saturating_mul(2).clamp(min, max.max(min))
        };
        s.dead = true;
        s.retry_at = Some(now + s.backoff);
        newly
    }

    /// Records an answer from the node; true when this brought a dead node back.
    pub(super) fn succeeded(&self) -> bool {
        let mut s = self.state.lock();
        let was_dead = s.dead;
        *s = State::default();
        was_dead
    }
}

/// The client's failure counters, as read by [`Client::stats`](super::Client::stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// `get`/`gets`/`incr`/`decr` calls answered as a miss (`None`) because their node was
    /// dead or failed during the call.
    pub misses_due_to_dead_node: u64,
    /// `set`/`cas` calls dropped (`false` / `NotFound`) for the same reason.
    pub dropped_sets: u64,
    /// `delete` calls dropped (`false`) for the same reason.
    pub dropped_deletes: u64,
    /// Calls that failed on the wire: connect, I/O or timeout errors, replies that could
    /// not be framed, or the node's connection busy past the call's time budget (whether
    /// the call then returned a miss or the error).
    pub errors: u64,
    /// Times an alive node was marked dead.
    pub node_marked_dead: u64,
    /// Times a dead node answered again.
    pub node_recovered: u64,
}

/// What kind of call fell back to a miss, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Read,
    Store,
    Delete,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    misses: AtomicU64,
    dropped_sets: AtomicU64,
    dropped_deletes: AtomicU64,
    errors: AtomicU64,
    marked_dead: AtomicU64,
    recovered: AtomicU64,
}

impl Counters {
    pub(super) fn missed(&self, kind: Kind) {
        let c = match kind {
            Kind::Read => &self.misses,
            Kind::Store => &self.dropped_sets,
            Kind::Delete => &self.dropped_deletes,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn marked_dead(&self) {
        self.marked_dead.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn recovered(&self) {
        self.recovered.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            misses_due_to_dead_node: get(&self.misses),
            dropped_sets: get(&self.dropped_sets),
            dropped_deletes: get(&self.dropped_deletes),
            errors: get(&self.errors),
            node_marked_dead: get(&self.marked_dead),
            node_recovered: get(&self.recovered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_millis(350);

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_on_success() {
        let h = Health::default();
        let t0 = Instant::now();
        let hold = Duration::from_secs(1);
        assert_eq!(h.admit(t0, hold), Admit::Go);
        assert!(h.failed(t0, MIN, MAX), "first failure marks dead");
        assert!(h.is_dead());
        assert_eq!(h.admit(t0 + MIN / 2, hold), Admit::Skip);
        // Backoff over: one probe, the others keep skipping while it is out.
        assert_eq!(h.admit(t0 + MIN, hold), Admit::Probe);
        assert_eq!(h.admit(t0 + MIN, hold), Admit::Skip);
        let mut t = t0 + MIN;
        for want in [200, 350, 350] {
            assert!(!h.failed(t, MIN, MAX), "already dead");
            let period = Duration::from_millis(want);
            assert_eq!(
                h.admit(t + period - Duration::from_millis(1), hold),
                Admit::Skip
            );
            assert_eq!(h.admit(t + period, hold), Admit::Probe);
            t += period;
        }
        assert!(h.succeeded(), "recovered");
        assert!(!h.succeeded(), "already alive");
        assert_eq!(h.admit(t, hold), Admit::Go);
        assert!(h.failed(t, MIN, MAX), "dead again, backoff back to MIN");
        assert_eq!(h.admit(t + MIN, hold), Admit::Probe);
    }

    #[test]
    fn counters_snapshot() {
        let c = Counters::default();
        c.missed(Kind::Read);
        c.missed(Kind::Store);
        c.missed(Kind::Store);
        c.missed(Kind::Delete);
        c.error();
        c.marked_dead();
        c.recovered();
        let s = c.snapshot();
        assert_eq!(
            (s.misses_due_to_dead_node, s.dropped_sets, s.dropped_deletes),
            (1, 2, 1)
        );
        assert_eq!((s.errors, s.node_marked_dead, s.node_recovered), (1, 1, 1));
    }
}
