//! Test harness shared by the integration tests.
//!
//! Starts a server binary on a free loopback port and talks to it over raw TCP.
//! The binary is ferrocache by default; `FERRO_TEST_SERVER=/usr/bin/memcached` runs the
//! same tests against the real memcached, which is how these tests were validated.
//!
//! Every read has a timeout and every loop is bounded; the child is killed on drop.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Default timeout of every read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Path of the reference memcached used by the differential test.
pub const MEMCACHED: &str = "/usr/bin/memcached";

/// The server binary under test: `FERRO_TEST_SERVER` or the ferrocache binary of this crate.
pub fn server_path() -> PathBuf {
    match std::env::var_os("FERRO_TEST_SERVER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => ferrocache_path(),
    }
}

/// The ferrocache binary built by cargo for these tests.
pub fn ferrocache_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrocache"))
}

/// True when `path` names a memcached binary (not ferrocache).
pub fn path_is_memcached(path: &std::path::Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy().contains("memcached"))
        .unwrap_or(false)
}

/// True when the server under test is the real memcached.
pub fn is_memcached() -> bool {
    path_is_memcached(&server_path())
}

pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Escape bytes for readable assertion messages.
pub fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

fn short(b: &[u8]) -> String {
    if b.len() > 600 {
        format!(
            "{} ...[{} bytes]... {}",
            esc(&b[..300]),
            b.len() - 600,
            esc(&b[b.len() - 300..])
        )
    } else {
        esc(b)
    }
}

/// Whether the server behind `s` reports `pid` in `stats` (memcached and ferrocache both do).
fn served_by(mut s: TcpStream, pid: Option<u32>) -> bool {
    let Some(pid) = pid else { return false };
    if s.set_read_timeout(Some(Duration::from_secs(2))).is_err()
        || s.write_all(b"stats\r\n").is_err()
    {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(2);
    while !got.ends_with(b"END\r\n") && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    // A reply cut short (a server still starting on a loaded machine) is "not yet": the
    // caller asks again on a new connection.
    got.ends_with(b"END\r\n")
        && parse_stats(&got)
            .get("pid")
            .is_some_and(|p| *p == pid.to_string())
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// A running server process listening on 127.0.0.1:`port`.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub path: PathBuf,
    pub args: Vec<String>,
    log_path: PathBuf,
}

impl Server {
    /// Start the server under test with extra args (besides `-p PORT -l 127.0.0.1`).
    pub fn start(args: &[&str]) -> Server {
        Server::start_with(&server_path(), args)
    }

    /// Start a specific binary with extra args.
    pub fn start_with(path: &std::path::Path, args: &[&str]) -> Server {
        let mut last_log = String::new();
        for attempt in 0..8 {
            let port = free_port();
            let log_path = std::env::temp_dir().join(format!(
                "ferro-test-{}-{}-{}.log",
                std::process::id(),
                port,
                attempt
            ));
            let log = File::create(&log_path).expect("create server log file");
            let mut full: Vec<String> = vec![
                "-p".into(),
                port.to_string(),
                "-l".into(),
                "127.0.0.1".into(),
            ];
            if path_is_memcached(path) && running_as_root() && !args.contains(&"-u") {
                full.push("-u".into());
                full.push("root".into());
            }
            full.extend(args.iter().map(|s| s.to_string()));
            let child = Command::new(path)
                .args(&full)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", path.display()));
            let mut server = Server {
                child: Some(child),
                port,
                path: path.to_path_buf(),
                args: full,
                log_path,
            };
            // Servers that refuse unauthenticated or text `stats` are only checked for a
            // connection.
            let text_stats_open = !args
                .iter()
                .any(|a| matches!(*a, "-S" | "-Y" | "binary" | "--enable-sasl" | "--auth-file"));
            // Bounded wait for the port to accept connections (and answer the probe).
            let mut exited = false;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(_status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                    exited = true;
                    break;
                }
                // The port must be served by *our* child: with a port race another test's
                // server may hold it while ours is failing with "in use".
                if let Ok(s) = TcpStream::connect(("127.0.0.1", port))
                    && (!text_stats_open || served_by(s, server.child.as_ref().map(|c| c.id())))
                {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            last_log = server.log();
            if !exited {
                panic!(
                    "{} {:?} did not accept connections within 10 s; log:\n{}",
                    path.display(),
                    server.args,
                    last_log
                );
            }
            // Exited: retry on a new port if it lost a port race, else fail now.
            server.child = None;
            if !last_log.contains("in use") {
                panic!(
                    "{} {:?} exited at start-up; log:\n{}",
                    path.display(),
                    server.args,
                    last_log
                );
            }
        }
        panic!(
            "{} exited at start-up 8 times; last log:\n{}",
            path.display(),
            last_log
        );
    }

    /// What the server wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A new raw client connection.
    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// `stats` (or `stats ARG`) parsed as name -> value, on a fresh connection.
    pub fn stats(&self) -> HashMap<String, String> {
        self.connect().stats()
    }

    pub fn stat_u64(&self, name: &str) -> u64 {
        let s = self.stats();
        parse_stat(&s, name)
    }

    /// Wait (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.log_path);
    }
}

pub fn parse_stat(s: &HashMap<String, String>, name: &str) -> u64 {
    s.get(name)
        .unwrap_or_else(|| panic!("stat {name} missing; have {:?}", s.keys()))
        .parse()
        .unwrap_or_else(|e| panic!("stat {name}={} not a u64: {e}", s[name]))
}

/// A raw text-protocol connection with buffered, time-bounded reads.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub timeout: Duration,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let mut last = None;
        for _ in 0..200 {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
                    stream
                        .set_write_timeout(Some(Duration::from_secs(30)))
                        .unwrap();
                    return Client {
                        stream,
                        buf: Vec::new(),
                        timeout: READ_TIMEOUT,
                    };
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("cannot connect to 127.0.0.1:{port}: {last:?}");
    }

    pub fn send(&mut self, data: &[u8]) {
        self.stream
            .write_all(data)
            .unwrap_or_else(|e| panic!("write {} bytes: {e}", data.len()));
    }

    /// Read more bytes into the buffer, waiting at most until `deadline`.
    /// Returns Ok(0) on EOF, Err(TimedOut) when nothing came in time.
    fn fill(&mut self, deadline: Instant) -> std::io::Result<usize> {
        let now = Instant::now();
        if now >= deadline {
            return Err(std::io::Error::new(ErrorKind::TimedOut, "deadline"));
        }
        self.stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .unwrap();
        let mut tmp = [0u8; 65536];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                    return Err(std::io::Error::new(ErrorKind::TimedOut, "read timed out"));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Read exactly `n` bytes (or fail after the timeout).
    pub fn read_exact_n(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + self.timeout;
        while self.buf.len() < n {
            match self.fill(deadline) {
                Ok(0) => panic!(
                    "EOF after {} of {n} bytes: {}",
                    self.buf.len(),
                    short(&self.buf)
                ),
                Ok(_) => {}
                Err(e) => panic!(
                    "{e} after {} of {n} bytes: {}",
                    self.buf.len(),
                    short(&self.buf)
                ),
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Read exactly `expected.len()` bytes and require them to equal `expected`.
    pub fn expect(&mut self, expected: &[u8]) {
        let deadline = Instant::now() + self.timeout;
        while self.buf.len() < expected.len() {
            let got_so_far_ok = expected.starts_with(&self.buf);
            match self.fill(deadline) {
                Ok(0) | Err(_) => {
                    let why = if got_so_far_ok {
                        "reply too short"
                    } else {
                        "reply differs"
                    };
                    panic!(
                        "{why} (EOF or timeout)\n--- expected ---\n{}\n--- got ---\n{}",
                        short(expected),
                        short(&self.buf)
                    );
                }
                Ok(_) => {
                    if !expected.starts_with(&self.buf[..self.buf.len().min(expected.len())]) {
                        break;
                    }
                }
            }
        }
        let n = expected.len().min(self.buf.len());
        if &self.buf[..n] != expected {
            // Give the server a moment to send the rest, for a fuller diff.
            let _ = self.fill(Instant::now() + Duration::from_millis(100));
            panic!(
                "reply differs\n--- expected ---\n{}\n--- got ---\n{}",
                short(expected),
                short(&self.buf)
            );
        }
        self.buf.drain(..n);
    }

    /// `send` then `expect`.
    pub fn roundtrip(&mut self, send: &[u8], expect: &[u8]) {
        self.send(send);
        self.expect(expect);
    }

    /// Read one line including its trailing "\r\n" (or "\n").
    pub fn read_line(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(i) = self.buf.iter().position(|&c| c == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            match self.fill(deadline) {
                Ok(0) => panic!("EOF before end of line; have {}", short(&self.buf)),
                Ok(_) => {}
                Err(e) => panic!("{e} before end of line; have {}", short(&self.buf)),
            }
        }
    }

    /// A line as a String without the line terminator.
    pub fn read_line_str(&mut self) -> String {
        let l = self.read_line();
        String::from_utf8_lossy(&l)
            .trim_end_matches(['\r', '\n'])
            .to_string()
    }

    /// Read up to and including a line "END\r\n" (a whole get/stats reply), value-aware.
    pub fn read_until_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..1_000_000 {
            let line = self.read_line();
            out.extend_from_slice(&line);
            if line == b"END\r\n" {
                return out;
            }
            if line.starts_with(b"VALUE ") {
                let s = String::from_utf8_lossy(&line);
                let parts: Vec<&str> = s.split_whitespace().collect();
                let len: usize = parts
                    .get(3)
                    .and_then(|x| x.parse().ok())
                    .unwrap_or_else(|| panic!("bad VALUE line {}", esc(&line)));
                out.extend(self.read_exact_n(len + 2));
            } else if !line.starts_with(b"STAT ") && !line.starts_with(b"ITEM ") {
                // An error or other line ends the reply.
                return out;
            }
        }
        panic!("no END after a million lines");
    }

    /// Read whatever arrives until `quiet` passes without data (bounded by `max`).
    pub fn read_quiet(&mut self, quiet: Duration, max: Duration) -> Vec<u8> {
        let end = Instant::now() + max;
        loop {
            let deadline = (Instant::now() + quiet).min(end);
            match self.fill(deadline) {
                Ok(0) => break,
                Ok(_) => {
                    if Instant::now() >= end {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Require that the server closes the connection (EOF or reset) within the timeout,
    /// with no further bytes before it.
    pub fn expect_closed(&mut self) {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.fill(deadline) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    panic!("connection not closed; got {}", short(&self.buf))
                }
                Err(_) => break, // reset counts as closed
            }
        }
        assert!(
            self.buf.is_empty(),
            "unexpected bytes before close: {}",
            short(&self.buf)
        );
    }

    /// True if the connection is closed (EOF/reset) within `wait`; discards bytes read.
    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            match self.fill(deadline) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }

    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    // ---- convenience commands -------------------------------------------------------------

    pub fn set(&mut self, key: &str, value: &[u8]) {
        self.store("set", key, 0, 0, value, b"STORED\r\n");
    }

    pub fn store(
        &mut self,
        cmd: &str,
        key: &str,
        flags: u32,
        exp: i64,
        value: &[u8],
        reply: &[u8],
    ) {
        let mut req = format!("{cmd} {key} {flags} {exp} {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        self.send(&req);
        self.expect(reply);
    }

    /// `get key` -> Some(value) or None.
    pub fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.get_flags(key).map(|(_, v)| v)
    }

    pub fn get_flags(&mut self, key: &str) -> Option<(u32, Vec<u8>)> {
        self.send(format!("get {key}\r\n").as_bytes());
        let line = self.read_line_str();
        if line == "END" {
            return None;
        }
        let p: Vec<&str> = line.split(' ').collect();
        assert!(
            p.len() == 4 && p[0] == "VALUE" && p[1] == key,
            "unexpected get reply line {line:?}"
        );
        let flags: u32 = p[2].parse().unwrap();
        let len: usize = p[3].parse().unwrap();
        let mut v = self.read_exact_n(len + 2);
        assert_eq!(&v[len..], b"\r\n", "value not followed by CRLF");
        v.truncate(len);
        self.expect(b"END\r\n");
        Some((flags, v))
    }

    /// `gets key` -> Some((value, cas)) or None.
    pub fn gets(&mut self, key: &str) -> Option<(Vec<u8>, u64)> {
        self.send(format!("gets {key}\r\n").as_bytes());
        let line = self.read_line_str();
        if line == "END" {
            return None;
        }
        let p: Vec<&str> = line.split(' ').collect();
        assert!(
            p.len() == 5 && p[0] == "VALUE" && p[1] == key,
            "unexpected gets reply line {line:?}"
        );
        let len: usize = p[3].parse().unwrap();
        let cas: u64 = p[4].parse().unwrap();
        let mut v = self.read_exact_n(len + 2);
        v.truncate(len);
        self.expect(b"END\r\n");
        Some((v, cas))
    }

    /// `stats [arg]` parsed into name -> value.
    pub fn stats_arg(&mut self, arg: &str) -> HashMap<String, String> {
        if arg.is_empty() {
            self.send(b"stats\r\n");
        } else {
            self.send(format!("stats {arg}\r\n").as_bytes());
        }
        let raw = self.read_until_end();
        parse_stats(&raw)
    }

    pub fn stats(&mut self) -> HashMap<String, String> {
        self.stats_arg("")
    }
}

/// Parse "STAT name value\r\n...END\r\n".
pub fn parse_stats(raw: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(raw);
    let mut m = HashMap::new();
    let mut ended = false;
    for line in text.split("\r\n") {
        if line.is_empty() {
            continue;
        }
        if line == "END" {
            ended = true;
            continue;
        }
        let rest = line
            .strip_prefix("STAT ")
            .unwrap_or_else(|| panic!("not a STAT line: {line:?} in {}", esc(raw)));
        let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
        m.insert(k.to_string(), v.to_string());
    }
    assert!(ended, "stats reply without END: {}", esc(raw));
    m
}

/// Run a transcript: for each `(send, expect)`, send the bytes and require exactly the reply.
pub fn run_script(c: &mut Client, steps: &[(&str, &str)]) {
    for (i, (send, expect)) in steps.iter().enumerate() {
        c.send(send.as_bytes());
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.expect(expect.as_bytes())));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("transcript step {i}: sent\n{}\n{msg}", esc(send.as_bytes()));
        }
    }
}

/// Run a transcript on a fresh server with default args.
pub fn script(steps: &[(&str, &str)]) {
    let s = Server::start(&[]);
    let mut c = s.connect();
    run_script(&mut c, steps);
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Poll `f` every 20 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// General `stats` fields ferrocache must report (issue 2's list, plus those tools such as
/// memcached-tool read); memcached reports all of them too.
#[allow(dead_code)]
pub const GENERAL_STATS: &[&str] = &[
    "pid",
    "uptime",
    "time",
    "version",
    "pointer_size",
    "rusage_user",
    "rusage_system",
    "max_connections",
    "curr_connections",
    "total_connections",
    "rejected_connections",
    "connection_structures",
    "cmd_get",
    "cmd_set",
    "cmd_flush",
    "cmd_touch",
    "get_hits",
    "get_misses",
    "get_expired",
    "get_flushed",
    "delete_misses",
    "delete_hits",
    "incr_misses",
    "incr_hits",
    "decr_misses",
    "decr_hits",
    "cas_misses",
    "cas_hits",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "threads",
    "bytes_read",
    "bytes_written",
    "limit_maxbytes",
    "curr_items",
    "total_items",
    "bytes",
    "evictions",
    "reclaimed",
    "expired_unfetched",
    "evicted_unfetched",
    "accepting_conns",
    "auth_cmds",
    "auth_errors",
    "slabs_moved",
];
