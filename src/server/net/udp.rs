//! UDP (`-U PORT`): one thread with its own `Poll` over every UDP socket, executing
//! requests through the same `execute` path as TCP, with its own [`ThreadStats`] block.
//!
//! Framing is memcached's: every datagram starts with an 8-byte header (request id,
//! sequence number, total datagrams, reserved; big-endian u16s). A request must fit one
//! datagram: memcached silently drops datagrams of 8 bytes or less and those whose header
//! announces more than one datagram, and so do we. The payload may hold several commands,
//! text or binary (decided by its first byte, as on TCP). Each command's reply is one
//! message: split into datagrams of at most 1400 bytes (header included), numbered
//! 0..total, each echoing the request id.
//!
//! Bounded by construction: one 64 KiB receive buffer per socket, one reply in flight per
//! socket (a `get` reply is capped by `Ctx::reply_limit`), a budget of commands per socket
//! per poll round, and a socket whose send buffer is full stops reading until it drains
//! (the kernel drops what arrives meanwhile, which UDP clients must expect anyway). No
//! call blocks. A request that ends inside a command (a data block cut short) is dropped
//! without reply; memcached instead keeps parsing it with the next datagram's bytes.

use crate::protocol::Limits;
use crate::server::Shared;
use crate::server::exec::step::{self, Stepped};
use crate::server::exec::{Ctx, Next};
use crate::server::net::connection::Proto;
use crate::server::net::outq::Out;
use crate::server::observe::stats::ThreadStats;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Bytes of memcached's UDP frame header.
pub const HEADER: usize = 8;
/// memcached's UDP_MAX_PAYLOAD_SIZE: largest datagram we send, header included.
pub const MAX_DATAGRAM: usize = 1400;
/// Reply bytes per datagram.
const DATA_PER_DATAGRAM: usize = MAX_DATAGRAM - HEADER;
/// Receive buffer: the largest UDP payload (memcached's UDP_READ_BUFFER_SIZE).
const READ_BUF: usize = 65536;
/// Commands executed per socket before other sockets get a turn.
const BUDGET: usize = 64;
/// A reply buffer larger than this is released once sent.
const SHRINK_ABOVE: usize = 256 * 1024;

const WAKE: Token = Token(usize::MAX);

/// Binds one UDP socket, non-blocking.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("failed to listen on udp {addr}: {e}")))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The largest reply one command may build over UDP: a frame counts at most 65535
/// datagrams, and memory stays bounded whatever a datagram asks for.
fn reply_limit(item_size_max: usize) -> usize {
    let frame_max = usize::from(u16::MAX) * DATA_PER_DATAGRAM;
    (2 * item_size_max).max(1 << 20).min(frame_max / 2)
}

/// One UDP socket with the request it is executing and the reply it is sending.
struct Port {
    sock: UdpSocket,
    /// The request datagram; `rbuf[rpos..rend]` is still to execute.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    /// Protocol of the datagram being executed.
    proto: Proto,
    /// Sender and request id of that datagram.
    peer: SocketAddr,
    request_id: u16,
    /// Reply being sent: `out`, as datagrams `seq..total`.
    out: Out,
    seq: usize,
    total: usize,
    /// Readiness not yet drained (edge-triggered).
    may_read: bool,
    /// Registered for WRITABLE (a send would block).
    want_write: bool,
}

pub struct UdpServer {
    shared: Arc<Shared>,
    poll: Poll,
    waker: Arc<Waker>,
    ports: Vec<Port>,
    stats: Arc<ThreadStats>,
    limits: Limits,
    reply_limit: usize,
    /// One outgoing datagram, reused.
    dgram: Vec<u8>,
}

/// What a port needs after being driven.
#[derive(PartialEq, Eq)]
enum Wait {
    /// Nothing to do until the next event.
    Event,
    /// Budget spent with work left: come back after the next (zero-timeout) poll.
    Again,
}

impl UdpServer {
    pub fn new(
        shared: Arc<Shared>,
        sockets: Vec<std::net::UdpSocket>,
        stats: Arc<ThreadStats>,
    ) -> io::Result<UdpServer> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let mut ports = Vec::with_capacity(sockets.len());
        for (i, s) in sockets.into_iter().enumerate() {
            s.set_nonblocking(true)?;
            let peer = s.local_addr()?;
            let mut sock = UdpSocket::from_std(s);
            poll.registry()
                .register(&mut sock, Token(i), Interest::READABLE)?;
            ports.push(Port {
                sock,
                rbuf: vec![0; READ_BUF],
                rpos: 0,
                rend: 0,
                proto: Proto::Unknown,
                peer,
                request_id: 0,
                out: Out::datagram(),
                seq: 0,
                total: 0,
                may_read: true,
                want_write: false,
            });
        }
        let item_size_max = shared.config.item_size_max;
        Ok(UdpServer {
            limits: Limits {
                max_key: 250,
                max_value: item_size_max,
                max_get_line: item_size_max.max(64 * 1024),
                meta_new: shared.config.meta_new,
            },
            reply_limit: reply_limit(item_size_max),
            shared,
            poll,
            waker,
            ports,
            stats,
            dgram: Vec::with_capacity(MAX_DATAGRAM),
        })
    }

    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(64);
        // Ports to drive this round; all of them first (data may predate registration).
        let mut again: Vec<bool> = vec![true; self.ports.len()];
        loop {
            let timeout = again.contains(&true).then_some(Duration::ZERO);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("udp poll failed: {e}");
                break;
            }
            if self.shared.is_shutting_down() {
                break;
            }
            for ev in events.iter() {
                let i = ev.token().0;
                if let (Some(p), Some(a)) = (self.ports.get_mut(i), again.get_mut(i)) {
                    if ev.is_readable() || ev.is_error() {
                        p.may_read = true;
                    }
                    *a = true;
                }
            }
            for (i, a) in again.iter_mut().enumerate() {
                if *a {
                    *a = self.drive(i) == Wait::Again;
                    self.update_interest(i);
                }
            }
        }
        log::debug!("udp thread stopped");
    }

    fn update_interest(&mut self, i: usize) {
        let Some(p) = self.ports.get_mut(i) else {
            return;
        };
        let want_write = p.seq < p.total;
        if want_write == p.want_write {
            return;
        }
        let interest = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if let Err(e) = self
            .poll
            .registry()
            .reregister(&mut p.sock, Token(i), interest)
        {
            log::warn!("udp reregister failed: {e}");
        }
        p.want_write = want_write;
    }

    /// Sends, executes and receives on port `i` as far as it can go now.
    fn drive(&mut self, i: usize) -> Wait {
        let mut budget = BUDGET;
        loop {
            let Some(p) = self.ports.get_mut(i) else {
                return Wait::Event;
            };
            if p.seq < p.total {
                if !send_reply(p, &mut self.dgram, &self.stats) {
                    // Resumed by WRITABLE; no reading meanwhile.
                    return Wait::Event;
                }
                continue;
            }
            if p.rpos < p.rend {
                if budget == 0 {
                    return Wait::Again;
                }
                budget -= 1;
                let ctx = Ctx {
                    shared: &self.shared,
                    stats: &self.stats,
                    limits: &self.limits,
                    fd: std::os::fd::AsRawFd::as_raw_fd(&p.sock),
                    trace: crate::server::observe::trace::on(&self.shared),
                    reply_limit: self.reply_limit,
                    received: std::cell::Cell::new(None),
                };
                execute_one(p, &ctx);
                continue;
            }
            if !p.may_read {
                return Wait::Event;
            }
            if budget == 0 {
                return Wait::Again;
            }
            budget -= 1;
            match p.sock.recv_from(&mut p.rbuf) {
                Ok((n, peer)) => {
                    self.stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                    accept_request(p, n, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    p.may_read = false;
                    return Wait::Event;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // E.g. an ICMP error reported on the socket: nothing to answer.
                    log::debug!("udp receive failed: {e}");
                }
            }
        }
    }
}

/// Takes a received datagram of `n` bytes as the request to execute, or drops it.
fn accept_request(p: &mut Port, n: usize, peer: SocketAddr) {
    // memcached: 8 bytes or less is nothing; a request spanning datagrams is dropped.
    let Some(h) = p.rbuf.get(..HEADER).filter(|_| n > HEADER) else {
        return;
    };
    if h[4] != 0 || h[5] != 1 {
        log::debug!("udp: dropped a multi-datagram request from {peer}");
        return;
    }
    p.request_id = u16::from_be_bytes([h[0], h[1]]);
    p.peer = peer;
    p.rpos = HEADER;
    p.rend = n;
    p.proto = Proto::Unknown;
}

/// Executes the next command of the current request into `p.out` and frames the reply.
fn execute_one(p: &mut Port, ctx: &Ctx<'_>) {
    let input = &p.rbuf[p.rpos..p.rend];
    if p.proto == Proto::Unknown {
        p.proto = step::sniff(ctx, input.first());
    }
    // Every datagram starts unauthenticated: UDP has no session to authenticate.
    let mut authed = !ctx.shared.config.auth_required();
    p.out.clear();
    // Bytes of the request this command used; `None`: drop the rest of the datagram.
    let used: Option<usize> = match step::step(p.proto, input, ctx, &mut authed, &mut p.out) {
        Stepped::Incomplete => None,
        Stepped::Ran { consumed, next } => match next {
            // A datagram output never stops part-way.
            Next::Continue | Next::Again => Some(consumed),
            Next::Close => None,
            // A log stream needs a connection: memcached 1.6.18 sends nothing back to a
            // `watch` over UDP, and neither do we.
            Next::Watch(w) => {
                ctx.shared.observe.watch.remove(&w);
                p.out.clear();
                Some(consumed)
            }
            // A dump streams for as long as the client reads: not over datagrams.
            Next::Dump(_) => {
                crate::protocol::text::encode::reply(
                    &mut p.out,
                    &crate::protocol::Reply::METADUMP_NOT_OVER_UDP,
                );
                Some(consumed)
            }
        },
        Stepped::Refused {
            consumed,
            swallow,
            close,
        } => (!close).then_some(consumed.saturating_add(swallow)),
    };
    let n = input.len();
    match used {
        // A zero-length step cannot happen for a well-formed parser; guard anyway.
        Some(u) if u > 0 => p.rpos += u.min(n),
        _ => p.rpos = p.rend,
    }
    let total = p.out.len().div_ceil(DATA_PER_DATAGRAM);
    if total > usize::from(u16::MAX) {
        log::warn!(
            "udp: a reply of {} bytes does not fit one frame",
            p.out.len()
        );
        p.out.clear();
        crate::protocol::text::encode::reply(
            &mut p.out,
            &crate::protocol::Reply::ServerError("out of memory writing get response"),
        );
        p.total = 1;
    } else {
        p.total = total;
    }
    p.seq = 0;
}

/// Sends the rest of `p`'s reply. False: the socket would block (resume on WRITABLE).
fn send_reply(p: &mut Port, dgram: &mut Vec<u8>, stats: &ThreadStats) -> bool {
    // `total` fits a u16 (checked when framing).
    let total = u16::try_from(p.total).unwrap_or(u16::MAX);
    while p.seq < p.total {
        let start = p.seq * DATA_PER_DATAGRAM;
        let end = (start + DATA_PER_DATAGRAM).min(p.out.len());
        let seq = u16::try_from(p.seq).unwrap_or(u16::MAX);
        dgram.clear();
        dgram.extend_from_slice(&p.request_id.to_be_bytes());
        dgram.extend_from_slice(&seq.to_be_bytes());
        dgram.extend_from_slice(&total.to_be_bytes());
        dgram.extend_from_slice(&[0, 0]);
        dgram.extend_from_slice(&p.out[start..end]);
        match p.sock.send_to(dgram, p.peer) {
            Ok(n) => {
                stats.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
                p.seq += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Unreachable peer and the like: the rest of this reply is lost.
                log::debug!("udp send to {} failed: {e}", p.peer);
                p.seq = p.total;
            }
        }
    }
    p.seq = 0;
    p.total = 0;
    p.out.clear();
    if p.out.capacity() > SHRINK_ABOVE {
        p.out = Out::datagram();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_limit_fits_a_frame() {
        for ism in [1024, 1 << 20, 64 << 20, 1 << 30] {
            let l = reply_limit(ism);
            assert!(l >= (1 << 20).min(usize::from(u16::MAX) * DATA_PER_DATAGRAM / 2));
            assert!(l <= usize::from(u16::MAX) * DATA_PER_DATAGRAM / 2);
        }
        assert_eq!(DATA_PER_DATAGRAM, 1392);
    }
}
