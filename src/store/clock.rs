//! The store's coarse clock and memcached's exptime rules.
//!
//! Time inside the store is "relative seconds": whole seconds since the store started, plus
//! `BASE` (2), so that relative time 1 is always in the past (memcached starts its clock the
//! same way). Item exptimes are stored as relative seconds in a `u32`; 0 means "never".
//!
//! Exptime rules (memcached `realtime()`):
//! - 0: never expires;
//! - negative: already expired (stored, but invisible at once);
//! - 1..=2_592_000 (30 days): relative to now;
//! - larger: an absolute unix time; one at or before the store's start is already expired.
//!
//! An item is expired when `exptime != 0 && exptime <= now`, so `exptime 1` expires at the
//! next whole-second tick: within 0–1 s, like memcached.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Relative time of the start instant.
const BASE: u64 = 2;
/// Exptimes above this are absolute unix times.
pub(super) const MAX_RELATIVE: i64 = 60 * 60 * 24 * 30;
/// Relative time that is always in the past.
const PAST: u32 = 1;

pub(super) struct Clock {
    start: Instant,
    start_unix: u64,
    /// Seconds added by `advance` (tests).
    offset: AtomicU64,
}

impl Clock {
    pub(super) fn new() -> Clock {
        let start_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Clock {
            start: Instant::now(),
            start_unix,
            offset: AtomicU64::new(0),
        }
    }

    /// Whole seconds since the store started (plus any test offset).
    pub(super) fn uptime(&self) -> u64 {
        self.start.elapsed().as_secs() + self.offset.load(Ordering::Relaxed)
    }

    /// Current unix time in seconds, as the store sees it.
    pub(super) fn unix_time(&self) -> u64 {
        self.start_unix + self.uptime()
    }

    /// Current relative time.
    #[inline]
    pub(super) fn now(&self) -> u32 {
        (self.uptime() + BASE).min(u32::MAX as u64 - 1) as u32
    }

    /// Move the clock forward (tests only: there is no way back).
    pub(super) fn advance(&self, secs: u64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }

    /// Unix time of relative time `rel` (an exptime or access time).
    pub(super) fn unix_of(&self, rel: u32) -> i64 {
        self.start_unix as i64 - BASE as i64 + rel as i64
    }

    /// Relative expiry time for a protocol exptime (see module docs); 0 = never.
    pub(super) fn rel_exptime(&self, exptime: i64) -> u32 {
        if exptime == 0 {
            return 0;
        }
        if exptime < 0 {
            return PAST;
        }
        let rel = if exptime > MAX_RELATIVE {
            // Absolute: relative time of that unix second.
            let started = self.start_unix.saturating_sub(BASE) as i64;
            if exptime <= started {
                return PAST;
            }
            (exptime - started) as u64
        } else {
            self.now() as u64 + exptime as u64
        };
        rel.clamp(PAST as u64, u32::MAX as u64) as u32
    }
}

/// Is an item with relative `exptime` expired at relative time `now`?
#[inline]
pub(super) fn is_expired(exptime: u32, now: u32) -> bool {
    exptime != 0 && exptime <= now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exptime_rules() {
        let c = Clock::new();
        let now = c.now();
        assert_eq!(c.rel_exptime(0), 0);
        assert!(is_expired(c.rel_exptime(-1), now));
        assert!(is_expired(c.rel_exptime(i64::MIN), now));
        assert_eq!(c.rel_exptime(10), now + 10);
        assert_eq!(c.rel_exptime(MAX_RELATIVE), now + MAX_RELATIVE as u32);
        // Absolute, in the past (any value > 30 days that is before the start).
        assert!(is_expired(c.rel_exptime(MAX_RELATIVE + 1), now));
        // Absolute, in the future.
        let soon = c.unix_time() as i64 + 100;
        let rel = c.rel_exptime(soon);
        assert!(!is_expired(rel, now));
        assert!((now + 99..=now + 101).contains(&rel));
        assert!(!is_expired(c.rel_exptime(i64::MAX), now));
        assert!(!is_expired(0, now));
        // unix_of inverts rel_exptime for absolute times and matches unix_time for now.
        assert_eq!(c.unix_of(c.rel_exptime(soon)), soon);
        assert_eq!(c.unix_of(c.now()), c.unix_time() as i64);
    }

    #[test]
    fn advance_moves_time() {
        let c = Clock::new();
        let rel = c.rel_exptime(5);
        assert!(!is_expired(rel, c.now()));
        c.advance(4);
        assert!(!is_expired(rel, c.now()));
        c.advance(1);
        assert!(is_expired(rel, c.now()));
        assert!(c.uptime() >= 5);
    }
}
