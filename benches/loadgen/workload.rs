//! Workloads: what each connection sends next. [`Shared`] is the state every client thread
//! reads (arguments, values, the fill/verify key counter, the stop flag, the deadline);
//! [`Mode`] picks mixed / fill / verify; `next_batch` appends one pipelined batch and the
//! [`Expect`]ed reply kinds.
//!
//! Owns: choosing keys and set-vs-get. Must not touch: sockets or the event loop, and the
//! bytes of a request (those are request.rs).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::args::Args;
use crate::keys::{KeyStyle, Rng, Values};
use crate::request::{push_get, push_set};

#[derive(Clone, Copy)]
pub(crate) enum Expect {
    Stored,
    /// A `get` reply; `Some(n)`: the value must equal key `n`'s generated value.
    Value(Option<u64>),
}

pub(crate) struct Shared {
    pub(crate) args: Args,
    pub(crate) values: Values,
    /// Fill / verify: next key number to hand out, and the end of the range.
    pub(crate) next_key: AtomicU64,
    pub(crate) end_key: u64,
    pub(crate) stop: AtomicBool,
    pub(crate) deadline: Instant,
}

impl Shared {
    pub(crate) fn new(args: Args, next_key: u64, end_key: u64, deadline: Instant) -> Arc<Self> {
        let (lo, hi) = args.value_range();
        let values = Values::new(lo, hi, args.seed);
        Arc::new(Shared {
            args,
            values,
            next_key: AtomicU64::new(next_key),
            end_key,
            stop: AtomicBool::new(false),
            deadline,
        })
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// Closed loop, random keys, until `stop`.
    Mixed,
    /// Set keys from the shared counter until `end_key`.
    Fill(KeyStyle),
    /// Get (and check) keys from the shared counter until `end_key`.
    Verify(KeyStyle),
}

/// Appends one batch for a connection; returns false when there is no more work.
pub(crate) fn next_batch(
    sh: &Shared,
    mode: Mode,
    rng: &mut Rng,
    out: &mut Vec<u8>,
    expect: &mut VecDeque<Expect>,
) -> bool {
    let a = &sh.args;
    match mode {
        Mode::Mixed => {
            if sh.stop.load(Ordering::Relaxed) {
                return false;
            }
            let total = a.ratio_sets + a.ratio_gets;
            for _ in 0..a.pipeline {
                let n = rng.below(a.key_max);
                if rng.below(total) < a.ratio_sets {
                    push_set(sh, KeyStyle::Bench, n, out);
                    expect.push_back(Expect::Stored);
                } else {
                    push_get(sh, KeyStyle::Bench, n, out);
                    expect.push_back(Expect::Value(None));
                }
            }
            true
        }
        Mode::Fill(style) | Mode::Verify(style) => {
            let start = sh.next_key.fetch_add(a.pipeline as u64, Ordering::Relaxed);
            if start >= sh.end_key || sh.stop.load(Ordering::Relaxed) {
                return false;
            }
            for n in start..(start + a.pipeline as u64).min(sh.end_key) {
                if let Mode::Fill(_) = mode {
                    push_set(sh, style, n, out);
                    expect.push_back(Expect::Stored);
                } else {
                    push_get(sh, style, n, out);
                    expect.push_back(Expect::Value(Some(n)));
                }
            }
            true
        }
    }
}
