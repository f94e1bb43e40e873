//! One TCP connection of the cluster client: connect with a timeout, every read and write
//! bounded by the current call's deadline, and a check that a pooled connection is still
//! open before it is reused (a node that restarted closed it).
//!
//! Owns: sockets and their timeouts. Must not touch: request bytes (`wire.rs`), routing and
//! health (`mod.rs`, `health.rs`).

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A node connection as the wire code sees it.
pub(super) type Conn = BufReader<Stream>;

/// A socket whose reads and writes fail with `TimedOut` once `deadline` has passed.
pub(super) struct Stream {
    tcp: TcpStream,
    deadline: Instant,
}

impl Stream {
    /// Connects to `addr` within `timeout` (for each address it resolves to; name
    /// resolution itself is the system's).
    pub(super) fn connect(addr: &str, timeout: Duration) -> io::Result<Conn> {
        let tcp = connect(addr, timeout, timeout)?;
        Ok(BufReader::new(Stream {
            tcp,
            deadline: Instant::now() + timeout,
        }))
    }

    /// Every read and write from now on must finish by `deadline`.
    pub(super) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// The time left, or `TimedOut` when none is.
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "call timed out"));
        }
        Ok(left)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.tcp.set_write_timeout(Some(left))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// True when a pooled connection must not be reused: bytes nobody asked for are waiting,
/// or the peer closed or reset it (a killed or restarted node), or we cannot tell.
pub(super) fn is_stale(conn: &Conn) -> bool {
    if !conn.buffer().is_empty() {
        return true;
    }
    let tcp = &conn.get_ref().tcp;
    if tcp.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let stale = match tcp.peek(&mut byte) {
        Ok(_) => true, // 0: closed by the peer; 1: an unsolicited byte
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    tcp.set_nonblocking(false).is_err() || stale
}

/// A plain blocking socket to `addr`: connect within `connect_timeout`, then reads and
/// writes bounded by `io_timeout` each.
pub(super) fn connect(
    addr: &str,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> io::Result<TcpStream> {
    // Zero durations are rejected by the socket calls: at least a millisecond.
    let connect_timeout = connect_timeout.max(Duration::from_millis(1));
    let io_timeout = io_timeout.max(Duration::from_millis(1));
    let mut last_err = io::Error::new(io::ErrorKind::NotFound, format!("`{addr}` did not resolve"));
    for sa in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, connect_timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(io_timeout))?;
                s.set_write_timeout(Some(io_timeout))?;
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}
