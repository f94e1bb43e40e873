//! One client connection (TCP or unix socket): its socket, read buffer, queued replies
//! (`outq.rs`) and framing state; on a TLS listener also its TLS session (`tls.rs`), which
//! reads and writes go through, and the client certificate's subject (mutual TLS).
//!
//! Owns: buffer management (fill, lend/give back, compact, flush), the `swallow` count of
//! bytes to drop (data block of a rejected `set`), a storage command's value being read
//! into its reserved item (`Receiving`), the share of the shared input budget it holds, and
//! the decision to stop reading while replies are queued. Must not: parse commands or touch
//! the store (it only holds a `Reservation` the worker got for it).
//!
//! # What a connection costs
//!
//! - **Idle**: about 480 bytes of RSS (this struct, its registry record, its slab slot;
//!   measured with 10,000 idle connections: `scripts/hostile_clients.py --attacks idle`;
//!   memcached 1.6.18: about 650). It holds no buffer: the worker lends its read and output
//!   buffers to the connection it drives (`lend`, `give_back`).
//! - **Mid-request**: its unparsed bytes, exactly sized, up to 16 KiB (`FREE_INPUT`); beyond
//!   that (a long `get` line) they are charged to the [`InputBudget`] shared by all
//!   connections (-m/16, at least 4 MiB). A storage command's long value goes into the item
//!   reserved for it, inside `-m`.
//! - **Replies the client does not read**: at most 16 KiB of copied replies plus one reply
//!   (`outq::COPY_HIGH_WATER`) and 16 KiB of requests read ahead; past the copy bound,
//!   values of 1 KiB or more are spliced from item memory (pinned, inside `-m`), at most
//!   256 KiB queued. About 68
//!   KiB of RSS measured per such connection (`tests/memory_bound.rs`).
//! - **TLS** (`tls.rs`): rustls' state, about 8.7 KB more idle (10,000 connections:
//!   `scripts/tls_idle_rss.py`), plus what rustls bounds while busy: one record or one
//!   handshake message being assembled (at most 64 KiB), 16 KiB of decrypted input (never
//!   read further while it holds any) and `ssl_wbuf_size` of encrypted output (replies wait
//!   in `outq.rs` past it). An unfinished handshake's bytes count with the unparsed input
//!   against `FREE_INPUT` and then the shared [`InputBudget`]: many large partial
//!   handshakes are closed once it is spent, like long request lines.

pub use crate::server::exec::step::Proto;
use crate::server::net::conns::{ConnInfo, ConnState};
use crate::server::net::outq::Out;
use crate::server::net::stream::Stream;
use crate::server::net::tls::{TlsEvent, TlsSession};
use crate::store::Reservation;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes read per `read(2)` call at most (less when the buffer has less room), as
/// memcached's 16 KiB reads: a connection whose replies are blocked holds at most this much
/// input read ahead.
const READ_CHUNK: usize = 16 * 1024;
/// Size of a worker's read buffer, lent to the connection it drives (`lend`).
pub const READ_BUF: usize = 64 * 1024;
/// Buffers larger than this are released when they empty, so idle connections stay small.
const SHRINK_ABOVE: usize = 64 * 1024;

/// Unparsed input a connection may hold (requests read ahead, a partial request) without
/// charging the shared [`InputBudget`]: one read.
const FREE_INPUT: usize = READ_CHUNK;

/// The unparsed input that connections hold beyond `FREE_INPUT` each (long `get` lines,
/// requests being assembled), bounded for the whole server: many clients each sending most
/// of a 1 MB `get` line cannot grow memory past it. A connection that would pass it is
/// answered memcached's `SERVER_ERROR out of memory reading request` and closed.
#[derive(Debug)]
pub struct InputBudget {
    used: AtomicUsize,
    limit: usize,
}

impl InputBudget {
    pub fn new(limit: usize) -> InputBudget {
        InputBudget {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|&t| t <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// Outcome of one attempt to read.
pub enum Fill {
    /// Got this many bytes; the socket may have more. `More(0)` (TLS only: records without
    /// plaintext up to the read cap): come back after a poll round.
    More(usize),
    /// Got this many bytes (maybe 0) and the socket is drained until the next event.
    Drained(usize),
    /// Peer closed its side.
    Eof,
    /// The unparsed input would pass the shared [`InputBudget`].
    NoRoom,
}

/// A storage command whose data block is read straight into the item reserved for it when
/// its line arrived (memcached's `conn_nread`), instead of into the read buffer.
pub struct Receiving {
    /// Its command line with the `\n` (text), or header, extras and key (binary): parsed
    /// again once the value is in.
    pub head: Vec<u8>,
    pub item: Reservation,
    /// Bytes of the value received so far.
    got: usize,
    /// Bytes that must follow the value before the command runs (text: `\r\n`).
    trailer: usize,
}

/// Where a connection is in its life. It only moves forward: `Open`, then possibly
/// `ReadClosed`, then `Closing`; it is closed once `Closing` (or `ReadClosed` with
/// nothing left to do) has flushed its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    Open,
    /// The peer closed its sending side: answer what is buffered, then close.
    ReadClosed,
    /// Close once output is flushed (`quit`, shutdown, a fatal framing error, input over
    /// the budget); `error`: for a protocol error (memcached's `conn_close` reason).
    Closing {
        error: bool,
    },
}

/// What the connection carries besides requests: a dump being streamed (input waits until
/// it is done) or, after `watch`, a log stream (input is ignored for good).
enum Carries {
    Requests,
    Dump(Box<crate::server::exec::dump::Dump>),
    Watch(Arc<crate::server::observe::watch::Watcher>),
}

/// One client connection: its socket, buffered input, queued output and where it is in its
/// life. Fields are private: the worker drives it through the methods below.
pub struct Connection {
    proto: Proto,
    stream: Stream,
    /// Read buffer; its whole length is usable space, the filled part is `rpos..rend`.
    /// While the connection is driven it is the worker's buffer (`lend`); between drives it
    /// holds only unparsed input, exactly sized (empty, unallocated, for most connections),
    /// or a frame larger than the worker's buffer being assembled.
    rbuf: Vec<u8>,
    /// `rbuf` is the worker's buffer, to be given back.
    lent: bool,
    /// The shared bound on unparsed input, and what this connection holds of it.
    budget: Arc<InputBudget>,
    charged: usize,
    /// Start of unparsed input in `rbuf`.
    rpos: usize,
    /// End of filled input in `rbuf`.
    rend: usize,
    /// Replies queued (`outq.rs`: copied bytes and spliced item values).
    out: Out,
    /// Input bytes still to discard (data block of a rejected storage command).
    swallow: usize,
    /// A storage command's value being read into its item.
    rx: Option<Receiving>,
    life: Life,
    carries: Carries,
    /// Readiness, as the poll and the reads reported it.
    ready: Ready,
    /// Authenticated, or no authentication configured.
    authenticated: bool,
    /// This connection's record in the registry (`stats conns`, idle timeout).
    info: Arc<ConnInfo>,
    /// The state last published to `info`.
    state: ConnState,
    /// A command has been received.
    seen_cmd: bool,
    /// The TCP peer (`None` for a unix socket), for `watch connevents`.
    peer: Option<std::net::SocketAddr>,
    /// TLS state on a TLS listener (`tls.rs`): reads and writes go through it.
    tls: Option<Box<TlsSession>>,
    /// Why TLS failed, for the worker's log line and counter.
    tls_failure: Option<TlsEvent>,
    /// The client certificate's subject (mTLS), for authentication and `-vv`.
    tls_peer: Option<Box<str>>,
}

/// What the poll and the reads know of the socket, and what the worker asked of it.
#[derive(Clone, Copy, Debug, Default)]
struct Ready {
    /// The socket may hold unread bytes (edge-triggered readiness not yet drained).
    may_read: bool,
    /// An event reported the peer's FIN (read-closed). A short read then does not mean
    /// drained: the FIN is still to be read, and edge-triggered polling will not report it
    /// again, so reading goes on until it returns 0.
    peer_closed: bool,
    /// Registered for WRITABLE.
    want_write: bool,
    /// Queued in the worker's pending list (yielded because of `-R`, or output freed with
    /// work left).
    pending: bool,
}

impl Connection {
    pub fn new(
        stream: Stream,
        authenticated: bool,
        info: Arc<ConnInfo>,
        peer: Option<std::net::SocketAddr>,
        budget: Arc<InputBudget>,
        store: &crate::store::Store,
        tls: Option<TlsSession>,
    ) -> Connection {
        let state = info.state();
        Connection {
            proto: Proto::Unknown,
            stream,
            rbuf: Vec::new(),
            lent: false,
            budget,
            charged: 0,
            rpos: 0,
            rend: 0,
            out: Out::stream(store),
            swallow: 0,
            rx: None,
            life: Life::Open,
            carries: Carries::Requests,
            ready: Ready {
                may_read: true,
                ..Ready::default()
            },
            authenticated,
            info,
            state,
            seen_cmd: false,
            peer,
            tls: tls.map(Box::new),
            tls_failure: None,
            tls_peer: None,
        }
    }

    /// The connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Why TLS failed (a read then returned an error), taken once.
    pub fn take_tls_failure(&mut self) -> Option<TlsEvent> {
        self.tls_failure.take()
    }

    /// The TLS handshake completed since the last call: the client certificate's subject
    /// (kept on the connection, see `tls_peer`) and whether it was a new session.
    pub fn take_tls_established(&mut self) -> Option<bool> {
        let (subject, new) = self.tls.as_mut()?.take_established()?;
        self.tls_peer = subject.map(String::into_boxed_str);
        Some(new)
    }

    /// The verified client certificate's subject (`CN=..`), with mutual TLS.
    pub fn tls_peer(&self) -> Option<&str> {
        self.tls_peer.as_deref()
    }

    /// Closing: a TLS connection says close_notify (best effort).
    pub fn say_goodbye(&mut self) {
        if let Some(t) = self.tls.as_mut() {
            t.close(&mut self.stream);
        }
    }

    /// The file descriptor.
    pub fn fd(&self) -> i32 {
        self.info.fd
    }

    /// The socket, to register with the worker's poll.
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// This connection's record in the registry.
    pub fn info(&self) -> &Arc<ConnInfo> {
        &self.info
    }

    /// The TCP peer (`None` for a unix socket).
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }

    /// The state last published (`publish_state`).
    pub fn state(&self) -> ConnState {
        self.state
    }

    /// The protocol, once sniffed from the first byte.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    pub fn set_proto(&mut self, proto: Proto) {
        self.proto = proto;
    }

    /// Where the connection is in its life.
    pub fn life(&self) -> Life {
        self.life
    }

    /// Close once the output is flushed; `error`: for a protocol error.
    pub fn close_after_flush(&mut self, error: bool) {
        let error = error || matches!(self.life, Life::Closing { error: true });
        self.life = Life::Closing { error };
    }

    /// The peer closed its sending side (read returned 0).
    pub fn read_closed(&mut self) {
        if self.life == Life::Open {
            self.life = Life::ReadClosed;
        }
    }

    /// The poll reported readiness to read; `fin`: with the peer's FIN (or an error).
    pub fn readable(&mut self, fin: bool) {
        self.ready.may_read = true;
        self.ready.peer_closed |= fin;
    }

    /// The socket may hold unread bytes.
    pub fn may_read(&self) -> bool {
        self.ready.may_read
    }

    /// Registered for WRITABLE.
    pub fn wants_write(&self) -> bool {
        self.ready.want_write
    }

    pub fn set_wants_write(&mut self, on: bool) {
        self.ready.want_write = on;
    }

    /// Queued in the worker's pending list.
    pub fn is_pending(&self) -> bool {
        self.ready.pending
    }

    /// Marks the connection queued in the worker's pending list; `false` if it was already.
    pub fn mark_pending(&mut self) -> bool {
        !std::mem::replace(&mut self.ready.pending, true)
    }

    /// Taken off the worker's pending list.
    pub fn unmark_pending(&mut self) {
        self.ready.pending = false;
    }

    /// Discard the next `n` input bytes as they arrive (the data of a refused command).
    pub fn swallow(&mut self, n: usize) {
        self.swallow = n;
    }

    /// Streams `dump` before reading further input.
    pub fn start_dump(&mut self, dump: Box<crate::server::exec::dump::Dump>) {
        self.carries = Carries::Dump(dump);
    }

    /// A dump is being streamed.
    pub fn is_dumping(&self) -> bool {
        matches!(self.carries, Carries::Dump(_))
    }

    /// The dump being streamed, taken out to fill the next slice (`start_dump` puts it back).
    pub fn take_dump(&mut self) -> Option<Box<crate::server::exec::dump::Dump>> {
        match std::mem::replace(&mut self.carries, Carries::Requests) {
            Carries::Dump(d) => Some(d),
            other => {
                self.carries = other;
                None
            }
        }
    }

    /// From now on the connection carries `w`'s log lines and ignores its input.
    pub fn start_watch(&mut self, w: Arc<crate::server::observe::watch::Watcher>) {
        self.carries = Carries::Watch(w);
    }

    /// The watcher this connection streams, if any.
    pub fn watcher(&self) -> Option<&Arc<crate::server::observe::watch::Watcher>> {
        match &self.carries {
            Carries::Watch(w) => Some(w),
            _ => None,
        }
    }

    /// What the connection waits for now, named as memcached's states; published to the
    /// registry only when it changes.
    pub fn publish_state(&mut self) {
        let input = self.input();
        let s = if matches!(self.carries, Carries::Watch(_)) {
            ConnState::Watch
        } else if self.pending_output() > 0 {
            ConnState::Mwrite
        } else if self.rx.is_some() {
            ConnState::Nread
        } else if self.swallow > 0 {
            ConnState::Swallow
        } else if !input.is_empty() {
            // A complete command line (text) or header (binary) buffered: its data block
            // is still coming.
            let framed = match self.proto {
                Proto::Binary => input.len() >= 24,
                _ => input.contains(&b'\n'),
            };
            if framed {
                ConnState::Nread
            } else {
                ConnState::Read
            }
        } else if self.seen_cmd {
            ConnState::Read
        } else {
            ConnState::NewCmd
        };
        if s != self.state {
            self.state = s;
            self.info.set_state(s);
        }
    }

    /// Unparsed input.
    pub fn input(&self) -> &[u8] {
        &self.rbuf[self.rpos..self.rend]
    }

    /// Unparsed input, the output buffer, the authentication state, the registry record and
    /// the `seen_cmd` flag, borrowed together.
    pub fn io(&mut self) -> (&[u8], &mut Out, &mut bool, &ConnInfo, &mut bool) {
        (
            &self.rbuf[self.rpos..self.rend],
            &mut self.out,
            &mut self.authenticated,
            &self.info,
            &mut self.seen_cmd,
        )
    }

    /// Marks `n` input bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.rpos = (self.rpos + n).min(self.rend);
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
            if !self.lent && self.rbuf.len() > SHRINK_ABOVE {
                self.rbuf = Vec::new();
            }
        }
        if self.charged > 0 {
            self.recharge();
        }
    }

    /// Charges the unparsed input beyond `FREE_INPUT` to the shared budget (or gives back
    /// what it no longer holds). `false`: the budget cannot take it.
    fn recharge(&mut self) -> bool {
        // An unfinished TLS handshake counts what rustls may be holding of it (up to 64 KiB).
        let tls_held = self.tls.as_ref().map_or(0, |t| t.handshake_held());
        let want = (self.rend - self.rpos + tls_held).saturating_sub(FREE_INPUT);
        if want > self.charged && !self.budget.take(want - self.charged) {
            return false;
        }
        if want < self.charged {
            self.budget.give(self.charged - want);
        }
        self.charged = want;
        true
    }

    /// Before driving: read into the worker's buffer `spare` (taken from the worker), with
    /// this connection's unparsed input copied to its front (memcached's read-buffer cache).
    /// A connection assembling a frame larger than that buffer keeps its own. An output with
    /// nothing queued borrows `spare_out` likewise.
    pub fn lend(&mut self, spare: &mut Vec<u8>, spare_out: &mut Vec<u8>) {
        self.out.lend(spare_out);
        let n = self.rend - self.rpos;
        if self.lent || spare.len() < READ_BUF || n > spare.len() || self.rbuf.len() > READ_BUF {
            return;
        }
        spare[..n].copy_from_slice(&self.rbuf[self.rpos..self.rend]);
        self.rbuf = std::mem::take(spare);
        self.rpos = 0;
        self.rend = n;
        self.lent = true;
    }

    /// After driving: give the worker's buffer back and keep a copy of the unparsed input
    /// only. If the buffer had to grow for a large frame, the connection keeps the grown one
    /// and the worker gets a new buffer. The output buffer goes back once it is all sent.
    pub fn give_back(&mut self, spare: &mut Vec<u8>, spare_out: &mut Vec<u8>) {
        self.out.give_back(spare_out);
        if !std::mem::take(&mut self.lent) {
            return;
        }
        if self.rbuf.len() != READ_BUF {
            *spare = vec![0; READ_BUF];
            return;
        }
        let left = self.rbuf[self.rpos..self.rend].to_vec();
        *spare = std::mem::replace(&mut self.rbuf, left);
        self.rend -= self.rpos;
        self.rpos = 0;
    }

    /// The storage command whose line (or binary header, extras and key) is the first
    /// `head_len` bytes of input reads its value into `item` from now on
    /// (`receive_buffered`, and `fill` reads into it); `trailer` bytes must follow it.
    pub fn start_receiving(&mut self, head_len: usize, item: Reservation, trailer: usize) {
        let head = self.input()[..head_len].to_vec();
        self.consume(head_len);
        self.rx = Some(Receiving {
            head,
            item,
            got: 0,
            trailer,
        });
    }

    /// A storage command's value is being read into its item.
    pub fn is_receiving(&self) -> bool {
        self.rx.is_some()
    }

    /// Moves buffered input into the value being received. `true` once the whole value is
    /// in and the bytes that must follow it are buffered.
    pub fn receive_buffered(&mut self) -> bool {
        let Some(rx) = self.rx.as_mut() else {
            return false;
        };
        let len = rx.item.len();
        let n = (len - rx.got).min(self.rend - self.rpos);
        rx.item.value_mut()[rx.got..rx.got + n]
            .copy_from_slice(&self.rbuf[self.rpos..self.rpos + n]);
        rx.got += n;
        let done = rx.got == len;
        let trailer = rx.trailer;
        self.consume(n);
        done && self.input().len() >= trailer
    }

    /// The received command, once `receive_buffered` said it is complete.
    pub fn take_received(&mut self) -> Option<Receiving> {
        self.rx.take()
    }

    /// Drops buffered input owed to `swallow`. Returns true when nothing is left to swallow.
    pub fn swallow_buffered(&mut self) -> bool {
        if self.swallow > 0 {
            let n = self.swallow.min(self.input().len());
            self.consume(n);
            self.swallow -= n;
        }
        self.swallow == 0
    }

    /// Output queued and not yet sent (on TLS, encrypted records waiting count as one).
    pub fn pending_output(&self) -> usize {
        self.out.pending() + usize::from(self.tls.as_ref().is_some_and(|t| t.wants_write()))
    }

    /// The input passed the shared budget: answer memcached's error, drop what is buffered,
    /// and close once it is sent.
    pub fn refuse_input(&mut self) {
        crate::protocol::text::encode::reply(
            &mut self.out,
            &crate::protocol::Reply::OUT_OF_MEMORY_READING,
        );
        let n = self.input().len();
        self.consume(n);
        self.close_after_flush(true);
    }

    /// Copy item values into the output instead of splicing them (`-vv` reads them back).
    pub fn copy_values(&mut self, on: bool) {
        self.out.copy_values(on);
    }

    /// Too much output is queued to execute more (back-pressure, `outq.rs`).
    pub fn output_full(&self) -> bool {
        self.out.is_full()
    }

    /// Reads once (up to a chunk, or more if a large frame is being assembled).
    /// Returns bytes read; a short read means the socket is drained for now. Keeps
    /// `may_read` (edge-triggered readiness) up to date: false once drained or at EOF, but
    /// still true after a short read when the peer's FIN was reported (`peer_closed`),
    /// since no further event will report that FIN.
    pub fn fill(&mut self) -> io::Result<Fill> {
        let mut got = self.read_once();
        if matches!(got, Ok(Fill::More(_) | Fill::Drained(_))) && !self.recharge() {
            got = Ok(Fill::NoRoom);
            // No reply can be sent before the handshake: close, counted and logged.
            if self.tls.as_ref().is_some_and(|t| t.handshaking()) {
                self.tls_failure = Some(TlsEvent::Failed {
                    handshake: true,
                    why: "handshake data past the shared input budget".into(),
                });
                got = Err(io::Error::from(io::ErrorKind::InvalidData));
            }
        }
        // TLS stopped at its cap with the socket not drained: not a short read (`More(n)`,
        // possibly 0: the worker then comes back after a poll round).
        if self.tls.as_mut().is_some_and(|t| t.take_more())
            && let Ok(Fill::Drained(n)) = got
        {
            got = Ok(Fill::More(n));
        }
        self.ready.may_read = match got {
            Ok(Fill::More(_)) => true,
            // TLS saw the end of stream behind the plaintext it returned: come back for it.
            Ok(Fill::Drained(n)) => {
                (self.ready.peer_closed || self.tls.as_ref().is_some_and(|t| t.at_eof())) && n > 0
            }
            Ok(Fill::Eof | Fill::NoRoom) | Err(_) => false,
        };
        got
    }

    fn read_once(&mut self) -> io::Result<Fill> {
        if let Some(rx) = self.rx.as_mut()
            && rx.got < rx.item.len()
            && self.rpos == self.rend
        {
            // The value of a storage command: straight into its item.
            let got = read_into(
                &mut self.stream,
                self.tls.as_deref_mut(),
                &mut self.tls_failure,
                &mut rx.item.value_mut()[rx.got..],
            )?;
            if let Fill::More(n) | Fill::Drained(n) = got {
                rx.got += n;
            }
            return Ok(got);
        }
        // Make room: move unparsed bytes to the front, then grow if the buffer is still
        // nearly full (a large frame is being assembled).
        if self.rpos > 0 && self.rbuf.len() - self.rend < READ_CHUNK {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        if self.rbuf.len() - self.rend < READ_CHUNK {
            let grown = (self.rbuf.len() * 2)
                .max(READ_CHUNK)
                .max(self.rend + READ_CHUNK);
            self.rbuf.resize(grown, 0);
        }
        let end = self.rbuf.len().min(self.rend + READ_CHUNK);
        let got = read_into(
            &mut self.stream,
            self.tls.as_deref_mut(),
            &mut self.tls_failure,
            &mut self.rbuf[self.rend..end],
        )?;
        if let Fill::More(n) | Fill::Drained(n) = got {
            self.rend += n;
        }
        Ok(got)
    }

    /// Writes queued output until done or the socket would block. Returns bytes written.
    pub fn flush(&mut self) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            return self.out.write_to(&mut self.stream);
        };
        tls.flush(&mut self.stream)?;
        let n = if self.out.pending() > 0 {
            self.out.write_to(&mut tls.writer(&mut self.stream))?
        } else {
            0
        };
        tls.flush(&mut self.stream)?;
        Ok(n)
    }
}

/// One `read` into `buf` (not empty), through TLS if the connection speaks it, retried on
/// `Interrupted`: a short read means the socket is drained for now.
fn read_into(
    stream: &mut Stream,
    mut tls: Option<&mut TlsSession>,
    failure: &mut Option<TlsEvent>,
    buf: &mut [u8],
) -> io::Result<Fill> {
    let want = buf.len();
    loop {
        let got = match tls.as_deref_mut() {
            Some(t) => t.read(stream, buf, failure),
            None => stream.read(buf),
        };
        match got {
            Ok(0) => return Ok(Fill::Eof),
            Ok(n) if n < want => return Ok(Fill::Drained(n)),
            Ok(n) => return Ok(Fill::More(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Fill::Drained(0)),
            Err(e) => return Err(e),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.budget.give(self.charged);
    }
}
