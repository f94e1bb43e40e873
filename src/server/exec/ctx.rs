//! What every runner and decoder of the execution seam is given ([`Ctx`]), what a command
//! tells the connection to do next ([`Next`]), and the value of a storage command that
//! arrived apart from its line ([`Received`]).
//!
//! Plain data: no runner logic, no reply words.

use crate::protocol::Limits;
use crate::server::Shared;
use crate::server::observe::stats::ThreadStats;
use crate::store::{Reservation, StoreOutcome, Value};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a worker (or the UDP thread) needs to execute commands.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub stats: &'a ThreadStats,
    pub limits: &'a Limits,
    /// The connection's file descriptor (trace lines, `stats conns`).
    pub fd: i32,
    /// The `-vv` trace is on (read once per batch).
    pub trace: bool,
    /// Largest reply one retrieval command may build, in bytes (`usize::MAX`: no limit).
    /// UDP sets one, so a datagram naming many large items cannot grow memory without
    /// bound; past it the reply becomes memcached's out-of-memory error.
    pub reply_limit: usize,
    /// The data block of the storage command being executed, when it was received apart
    /// from its line (its `Command`'s data is then empty): see [`Received`].
    pub received: Cell<Option<Received>>,
}

/// The data block of a storage command that was not parsed with its line: the worker
/// reserved the item when the line arrived and read the value straight into it, or could
/// not reserve one (the command is then answered at once and its data swallowed, as
/// memcached does).
#[derive(Debug)]
pub enum Received {
    Item(Reservation),
    Refused { outcome: StoreOutcome, len: usize },
}

/// What the connection does after the command.
#[derive(Debug)]
pub enum Next {
    Continue,
    /// The output is full part-way through a multi-key reply: flush, then execute the same
    /// command again (it resumes where it stopped, see `Out::take_resume`).
    Again,
    Close,
    /// `lru_crawler metadump`: the worker streams this dump before reading further input.
    Dump(Box<super::dump::Dump>),
    /// `watch`: the connection streams this watcher's lines and ignores its input from now.
    Watch(std::sync::Arc<crate::server::observe::watch::Watcher>),
}

/// Which decoder a runner serves: memcached counts a few outcomes differently per
/// protocol, and each runner keeps those differences in one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Text,
    Meta,
    Binary,
}

/// The value of the storage command being executed, and its length: `data` as parsed, or
/// what the worker received apart (`Ctx::received`).
pub fn store_value<'d>(ctx: &Ctx<'_>, data: &'d [u8]) -> (Value<'d>, usize) {
    match ctx.received.take() {
        Some(Received::Item(res)) => {
            let n = res.len();
            (Value::Reserved(res), n)
        }
        Some(Received::Refused { outcome, len }) => (Value::Refused(outcome), len),
        None => (Value::Bytes(data), data.len()),
    }
}

/// One more for a counter (relaxed: counters are read only by `stats`).
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
