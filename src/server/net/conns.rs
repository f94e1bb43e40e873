//! The cross-thread registry of open sockets behind `stats conns` and the idle timeout.
//!
//! Each worker owns one slot list (indexed by its connection key) and is the only thread
//! that inserts or removes there; `stats conns` locks every list briefly to take a snapshot.
//! A record is small and shared (`Arc`): the worker updates its last-command time with one
//! relaxed store per request and its state only when it changes.
//!
//! Addresses are kept as memcached prints them (`tcp:127.0.0.1:11211`, `unix:/path`,
//! `udp:...`), so other transports only have to supply a string.
//!
//! Owns: the records and the seconds clock they are stamped with. Must not: do I/O.

use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

/// What a socket is doing, named as memcached's `conn_states` (`stats conns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    /// A listening socket.
    Listening = 0,
    /// A fresh connection that has not sent a command yet.
    NewCmd = 1,
    /// Waiting for (the rest of) a command line.
    Read = 2,
    /// Executing a command (the connection asking for `stats conns`).
    ParseCmd = 3,
    /// Waiting for the data block of a storage command.
    Nread = 4,
    /// Discarding the data block of a rejected storage command.
    Swallow = 5,
    /// Blocked writing replies.
    Mwrite = 6,
    /// Streaming a `watch` log (never idle-kicked).
    Watch = 7,
}

impl ConnState {
    pub fn name(self) -> &'static str {
        match self {
            ConnState::Listening => "conn_listening",
            ConnState::NewCmd => "conn_new_cmd",
            ConnState::Read => "conn_read",
            ConnState::ParseCmd => "conn_parse_cmd",
            ConnState::Nread => "conn_nread",
            ConnState::Swallow => "conn_swallow",
            ConnState::Mwrite => "conn_mwrite",
            ConnState::Watch => "conn_watch",
        }
    }

    fn from_u8(v: u8) -> ConnState {
        match v {
            0 => ConnState::Listening,
            1 => ConnState::NewCmd,
            2 => ConnState::Read,
            3 => ConnState::ParseCmd,
            4 => ConnState::Nread,
            5 => ConnState::Swallow,
            7 => ConnState::Watch,
            _ => ConnState::Mwrite,
        }
    }
}

/// memcached's address text: `tcp:1.2.3.4:11211`, `tcp6:[::1]:11211`.
pub fn tcp_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("tcp:{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("tcp6:[{}]:{}", a.ip(), a.port()),
    }
}

/// memcached's `addr` of a UDP socket.
pub fn udp_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("udp:{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("udp6:[{}]:{}", a.ip(), a.port()),
    }
}

/// One open socket.
#[derive(Debug)]
pub struct ConnInfo {
    /// The real file descriptor.
    pub fd: i32,
    /// The peer (clients) or the bound address (listeners).
    pub addr: String,
    /// The listening address the client came in on; `None` for listeners.
    pub listen_addr: Option<String>,
    /// [`Registry::now`] at the last command (listeners: registration).
    last_cmd: AtomicU64,
    state: AtomicU8,
}

impl ConnInfo {
    pub fn new(fd: i32, addr: String, listen_addr: Option<String>, now: u64) -> ConnInfo {
        let state = if listen_addr.is_none() {
            ConnState::Listening
        } else {
            ConnState::NewCmd
        };
        ConnInfo {
            fd,
            addr,
            listen_addr,
            last_cmd: AtomicU64::new(now),
            state: AtomicU8::new(state as u8),
        }
    }

    /// Stamps a command (the one per-request cost: a relaxed store).
    #[inline]
    pub fn touch(&self, now: u64) {
        self.last_cmd.store(now, Ordering::Relaxed);
    }

    pub fn last_cmd(&self) -> u64 {
        self.last_cmd.load(Ordering::Relaxed)
    }

    pub fn set_state(&self, s: ConnState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub fn state(&self) -> ConnState {
        ConnState::from_u8(self.state.load(Ordering::Relaxed))
    }
}

/// All open sockets: listeners, and one slot list per worker.
pub struct Registry {
    started: Instant,
    listeners: Mutex<Vec<Arc<ConnInfo>>>,
    workers: Vec<Mutex<Vec<Option<Arc<ConnInfo>>>>>,
}

impl Registry {
    pub fn new(workers: usize) -> Registry {
        Registry {
            started: Instant::now(),
            listeners: Mutex::new(Vec::new()),
            workers: (0..workers).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Whole seconds since the registry was created (a monotonic clock).
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn add_listener(&self, fd: i32, addr: String) {
        // memcached shows its UDP sockets as reading, not listening.
        let udp = addr.starts_with("udp");
        let info = Arc::new(ConnInfo::new(fd, addr, None, self.now()));
        if udp {
            info.set_state(ConnState::Read);
        }
        self.listeners.lock().push(info);
    }

    /// memcached's `listen_addr` for a client whose local address is `local`: the listener
    /// bound to that port (a wildcard one as bound), else `local` itself.
    pub fn listen_addr_for(&self, local: &SocketAddr) -> String {
        let mine = tcp_addr(local);
        let port = format!(":{}", local.port());
        let ls = self.listeners.lock();
        ls.iter()
            .find(|l| l.addr == mine)
            .or_else(|| {
                ls.iter().find(|l| {
                    l.addr.ends_with(&port)
                        && (l.addr.starts_with("tcp:0.0.0.0:") || l.addr.starts_with("tcp6:[::]:"))
                })
            })
            .map(|l| l.addr.clone())
            .unwrap_or(mine)
    }

    /// Records a client connection of worker `worker` under its connection key.
    pub fn insert(&self, worker: usize, key: usize, info: Arc<ConnInfo>) {
        if let Some(list) = self.workers.get(worker) {
            let mut list = list.lock();
            if list.len() <= key {
                list.resize(key + 1, None);
            }
            list[key] = Some(info);
        }
    }

    pub fn remove(&self, worker: usize, key: usize) {
        if let Some(list) = self.workers.get(worker) {
            let mut list = list.lock();
            if let Some(slot) = list.get_mut(key) {
                *slot = None;
            }
            while list.last().is_some_and(|s| s.is_none()) {
                list.pop();
            }
        }
    }

    /// Every socket, ordered by fd (as memcached walks its fd-indexed table).
    pub fn snapshot(&self) -> Vec<Arc<ConnInfo>> {
        let mut all: Vec<Arc<ConnInfo>> = self.listeners.lock().clone();
        for w in &self.workers {
            all.extend(w.lock().iter().flatten().cloned());
        }
        all.sort_by_key(|c| c.fd);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_orders_by_fd_and_forgets_closed() {
        let r = Registry::new(2);
        r.add_listener(7, "tcp:127.0.0.1:11211".into());
        let a = Arc::new(ConnInfo::new(
            12,
            "tcp:127.0.0.1:5".into(),
            Some("x".into()),
            0,
        ));
        let b = Arc::new(ConnInfo::new(
            9,
            "tcp:127.0.0.1:6".into(),
            Some("x".into()),
            0,
        ));
        r.insert(0, 3, a);
        r.insert(1, 0, b);
        let fds: Vec<i32> = r.snapshot().iter().map(|c| c.fd).collect();
        assert_eq!(fds, [7, 9, 12]);
        r.remove(0, 3);
        let fds: Vec<i32> = r.snapshot().iter().map(|c| c.fd).collect();
        assert_eq!(fds, [7, 9]);
        assert_eq!(r.snapshot()[0].state(), ConnState::Listening);
        assert_eq!(r.snapshot()[1].state(), ConnState::NewCmd);
    }

    #[test]
    fn listen_addr_prefers_exact_then_wildcard() {
        let r = Registry::new(1);
        r.add_listener(3, "tcp:0.0.0.0:11211".into());
        r.add_listener(4, "tcp:127.0.0.1:11212".into());
        let local: SocketAddr = "127.0.0.1:11211".parse().unwrap();
        assert_eq!(r.listen_addr_for(&local), "tcp:0.0.0.0:11211");
        let local: SocketAddr = "127.0.0.1:11212".parse().unwrap();
        assert_eq!(r.listen_addr_for(&local), "tcp:127.0.0.1:11212");
        let v6: SocketAddr = "[::1]:5".parse().unwrap();
        assert_eq!(tcp_addr(&v6), "tcp6:[::1]:5");
    }
}
