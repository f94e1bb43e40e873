//! Test harness shared by the integration tests.
//!
//! Starts a server binary on an ephemeral loopback port and talks to it over raw TCP.
//! Every server is started with `-p -1` and `MEMCACHED_PORT_FILENAME` (memcached's own
//! mechanism, which ferrocache implements the same way): the server binds a port the
//! kernel picks and reports it in the port file once listening, so there is no port to
//! guess and no race to retry. Readiness is "the port file appears, then a connect
//! succeeds", bounded by `START_TIMEOUT`.
//! The binary is ferrocache by default; `FERRO_TEST_SERVER=/usr/bin/memcached` runs the
//! same tests against the real memcached, which is how these tests were validated.
//!
//! Every read has a timeout and every loop is bounded; the child is killed on drop.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// How long a server may take from spawn to listening (a loaded 2-core machine included).
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The environment variable memcached (and ferrocache) write their bound ports to.
pub const PORT_FILE_ENV: &str = "MEMCACHED_PORT_FILENAME";

/// The ports a server reported in its port file (first TCP and first UDP socket).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ports {
    pub tcp: Option<u16>,
    pub udp: Option<u16>,
}

/// Parses memcached's port file: `TCP INET: 11211`, `TCP INET6: …`, `UDP INET: …` lines.
pub fn parse_port_file(text: &str) -> Ports {
    let mut p = Ports::default();
    for line in text.lines() {
        let Some((kind, port)) = line.split_once(": ") else {
            continue;
        };
        let Ok(port) = port.trim().parse::<u16>() else {
            continue;
        };
        let slot = match kind {
            "TCP INET" | "TCP INET6" => &mut p.tcp,
            "UDP INET" | "UDP INET6" => &mut p.udp,
            _ => continue,
        };
        slot.get_or_insert(port);
    }
    p
}

/// A unique port file path for one server start (removed on drop, with its `.lck`).
pub struct PortFile {
    path: PathBuf,
}

impl PortFile {
    pub fn new() -> PortFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ferro-test-ports-{}-{n}", std::process::id()));
        let pf = PortFile { path };
        pf.remove();
        pf
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
        let mut lck = self.path.clone().into_os_string();
        lck.push(".lck");
        let _ = std::fs::remove_file(lck);
    }

    /// Bounded wait for the file: the server renames it into place once every socket is
    /// bound and listening. Err(why) when the child exits first or `timeout` passes.
    pub fn wait(&self, child: &mut Child, timeout: Duration) -> Result<Ports, String> {
        let deadline = Instant::now() + timeout;
        loop {
            // Read before checking for exit: `-d` writes the file, then its parent exits.
            if let Ok(text) = std::fs::read_to_string(&self.path) {
                return Ok(parse_port_file(&text));
            }
            match child.try_wait() {
                Ok(Some(st)) => return Err(format!("exited at start-up ({st})")),
                Ok(None) => {}
                Err(e) => return Err(format!("cannot wait for the child: {e}")),
            }
            if Instant::now() >= deadline {
                return Err(format!("no port file within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Default for PortFile {
    fn default() -> Self {
        PortFile::new()
    }
}

impl Drop for PortFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Bounded wait until 127.0.0.1:`port` accepts a connection.
pub fn wait_connectable(port: u16, timeout: Duration) -> bool {
    wait_until(timeout, || TcpStream::connect(("127.0.0.1", port)).is_ok())
}

/// A port known before the server starts, for the few tests that need one: those asserting
/// that `stats settings` reports the port given (memcached reports -1 for an ephemeral
/// one). Picked below the kernel's ephemeral range (`ip_local_port_range`), which port-0
/// binds never use, so it cannot collide with the ephemeral ports every other server gets;
/// checked free for TCP and UDP on 127.0.0.1. Everything else uses `-p -1` and the port file.
pub fn known_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    let span = u32::from(low.saturating_sub(1024).min(8192)).max(1);
    let base = u32::from(low) - span;
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..256 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) as u32;
        let port = (base + seed.wrapping_add(n.wrapping_mul(97)) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port below the ephemeral range ({low})");
}

/// A running server process listening on 127.0.0.1:`port`.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    /// The UDP port, when the server opened one (`-U`).
    pub udp_port: Option<u16>,
    pub path: PathBuf,
    pub args: Vec<String>,
    log_path: PathBuf,
}

impl Server {
    /// Start the server under test with extra args (besides `-p -1 -l 127.0.0.1`).
    pub fn start(args: &[&str]) -> Server {
        Server::start_with(&server_path(), args)
    }

    /// Start a specific binary with extra args, on an ephemeral port (`-p -1`, unless the
    /// args name a port) learnt from its port file; returns once a connection succeeds.
    pub fn start_with(path: &std::path::Path, args: &[&str]) -> Server {
        let pf = PortFile::new();
        let log_path = std::env::temp_dir().join(format!(
            "ferro-test-{}.log",
            pf.path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let log = File::create(&log_path).expect("create server log file");
        let log_err = log.try_clone().expect("clone server log file");
        let mut full: Vec<String> = vec!["-p".into(), "-1".into(), "-l".into(), "127.0.0.1".into()];
        if path_is_memcached(path) && running_as_root() && !args.contains(&"-u") {
            full.push("-u".into());
            full.push("root".into());
        }
        full.extend(args.iter().map(|s| s.to_string()));
        let child = Command::new(path)
            .args(&full)
            .env(PORT_FILE_ENV, pf.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", path.display()));
        let mut server = Server {
            child: Some(child),
            port: 0,
            udp_port: None,
            path: path.to_path_buf(),
            args: full,
            log_path,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let waited = match server.child.as_mut() {
            Some(c) => pf.wait(c, START_TIMEOUT),
            None => Err("no child".into()),
        };
        let ports = waited.unwrap_or_else(|why| server.fail(&why));
        let Some(port) = ports.tcp else {
            server.fail("the port file names no TCP port");
        };
        server.port = port;
        server.udp_port = ports.udp;
        // The file appears after listen(2), so this normally succeeds at once.
        if !wait_connectable(port, deadline.saturating_duration_since(Instant::now())) {
            server.fail(&format!("port {port} did not accept connections"));
        }
        server
    }

    /// Panics with the server's command line and log.
    fn fail(&self, why: &str) -> ! {
        panic!(
            "{} {:?}: {why}; log:\n{}",
            self.path.display(),
            self.args,
            self.log()
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

/// Masks what two servers' `lru_crawler metadump` lines must differ in and sorts each run
/// of them (memcached walks its LRUs or hash table, ferrocache its index: the same items in
/// another order): the values of `la=`, `cas=` and `size=` (ferrocache's item header is
/// not memcached's, so an item's size differs), and `exp=` unless `-1`. Everything else
/// (framing, keys, `fetch=`, `cls=`, `flags=`, spacing) is kept. Runs of `mg <key>` lines
/// (`lru_crawler mgdump`) are sorted too. Non-dump lines pass through.
pub fn mask_dump(raw: &[u8]) -> String {
    fn flush(block: &mut Vec<String>, out: &mut String) {
        block.sort();
        for l in block.drain(..) {
            out.push_str(&l);
        }
    }
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut dump: Vec<String> = Vec::new();
    let mut mg: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("key=") {
            let body = line.trim_end_matches('\n');
            let masked: Vec<String> = body
                .split(' ')
                .map(|t| match t.split_once('=') {
                    Some((k @ ("la" | "cas" | "size"), _)) => format!("{k}=<V>"),
                    Some(("exp", v)) if v != "-1" => "exp=<T>".to_string(),
                    _ => t.to_string(),
                })
                .collect();
            dump.push(format!("{}{}", masked.join(" "), &line[body.len()..]));
            continue;
        }
        flush(&mut dump, &mut out);
        if line.starts_with("mg ") {
            mg.push(line.to_string());
            continue;
        }
        flush(&mut mg, &mut out);
        out.push_str(line);
    }
    flush(&mut dump, &mut out);
    flush(&mut mg, &mut out);
    out
}
