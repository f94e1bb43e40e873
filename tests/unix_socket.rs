//! Unix domain socket (`-s PATH`, `-a MASK`): commands over the socket, the file's mode
//! bits, a stale socket file replaced, anything else at the path refused, `-c` applied,
//! the file removed on SIGTERM. Raw bytes over `std::os::unix::net::UnixStream`.
//!
//! `FERRO_TEST_SERVER=/usr/bin/memcached cargo test --test unix_socket` runs the same
//! checks against memcached 1.6.18 (it leaves its socket file behind on exit, so that one
//! check is ferrocache's only).

mod common;

use common::{esc, is_memcached, parse_stats, server_path};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A private directory for one test's socket, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ferro-unix-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    fn sock(&self) -> PathBuf {
        self.0.join("mc.sock")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct UnixServer {
    child: Option<Child>,
    path: PathBuf,
}

fn spawn(path: &Path, extra: &[&str]) -> Child {
    let mut args: Vec<String> = vec!["-s".into(), path.display().to_string()];
    // SAFETY: geteuid has no preconditions.
    if is_memcached() && unsafe { libc::geteuid() } == 0 {
        args.extend(["-u".into(), "root".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(server_path())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server")
}

impl UnixServer {
    /// Starts the server on `path` and waits (bounded) until it accepts.
    fn start(path: &Path, extra: &[&str]) -> UnixServer {
        let mut child = spawn(path, extra);
        for _ in 0..300 {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("server exited at start-up: {st}");
            }
            if UnixStream::connect(path).is_ok() {
                return UnixServer {
                    child: Some(child),
                    path: path.to_path_buf(),
                };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not accept on {} within 3 s", path.display());
    }

    fn connect(&self) -> Conn {
        let s = UnixStream::connect(&self.path).expect("connect unix socket");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Conn { s }
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let pid = i32::try_from(child.id()).ok()?;
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Conn {
    s: UnixStream,
}

impl Conn {
    /// Sends `req` and reads until the reply ends with `end` (bounded by the timeout).
    fn ask(&mut self, req: &[u8], end: &[u8]) -> Vec<u8> {
        self.s.write_all(req).expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 16384];
        for _ in 0..10_000 {
            if got.ends_with(end) {
                break;
            }
            match self.s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("read after {}: {e}", esc(&got)),
            }
        }
        got
    }

    fn stats(&mut self, arg: &str) -> std::collections::HashMap<String, String> {
        let req = if arg.is_empty() {
            "stats\r\n".to_string()
        } else {
            format!("stats {arg}\r\n")
        };
        parse_stats(&self.ask(req.as_bytes(), b"END\r\n"))
    }
}

#[test]
fn commands_over_the_socket() {
    let dir = TempDir::new();
    let s = UnixServer::start(&dir.sock(), &[]);
    let mut c = s.connect();
    assert_eq!(c.ask(b"set k 7 0 3\r\nabc\r\n", b"\r\n"), b"STORED\r\n");
    assert_eq!(
        esc(&c.ask(b"get k\r\n", b"END\r\n")),
        esc(b"VALUE k 7 3\r\nabc\r\nEND\r\n")
    );
    let gets = String::from_utf8(c.ask(b"gets k\r\n", b"END\r\n")).unwrap();
    let cas: u64 = gets
        .strip_prefix("VALUE k 7 3 ")
        .and_then(|r| r.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad gets reply {gets:?}"));
    let req = format!("cas k 0 0 1 {cas}\r\nz\r\n");
    assert_eq!(c.ask(req.as_bytes(), b"\r\n"), b"STORED\r\n");
    assert_eq!(c.ask(b"delete k\r\n", b"\r\n"), b"DELETED\r\n");
    assert_eq!(c.ask(b"delete k\r\n", b"\r\n"), b"NOT_FOUND\r\n");
    // Pipelined on a second connection, with a value larger than one read.
    let mut c2 = s.connect();
    let big = vec![b'q'; 100_000];
    let mut req = b"set big 0 0 100000\r\n".to_vec();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\nget big\r\n");
    let got = c2.ask(&req, b"END\r\n");
    assert!(got.starts_with(b"STORED\r\nVALUE big 0 100000\r\n"));
    assert_eq!(got.len(), 8 + 20 + 100_000 + 7);

    let st = c.stats("");
    assert!(
        st["curr_connections"].parse::<u64>().unwrap() >= 2,
        "{st:?}"
    );
    assert!(st["cmd_get"].parse::<u64>().unwrap() >= 3);
    let settings = c.stats("settings");
    assert_eq!(settings["domain_socket"], s.path.display().to_string());
    // No network listeners: memcached prints NULL.
    assert_eq!(settings["inter"], "NULL");
    assert_eq!(settings["udpport"], "0");
}

#[test]
fn mode_bits_come_from_the_mask() {
    for (mask, want) in [(None, 0o700), (Some("770"), 0o770), (Some("666"), 0o666)] {
        let dir = TempDir::new();
        let extra: Vec<&str> = mask.map(|m| vec!["-a", m]).unwrap_or_default();
        let s = UnixServer::start(&dir.sock(), &extra);
        let meta = std::fs::symlink_metadata(&s.path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(
            meta.permissions().mode() & 0o777,
            want,
            "-a {mask:?}: mode {:o}",
            meta.permissions().mode()
        );
    }
}

#[test]
fn stale_socket_file_is_replaced_other_files_are_not() {
    let dir = TempDir::new();
    let path = dir.sock();
    // A socket file nobody listens on (a crashed server's leftover).
    drop(UnixListener::bind(&path).unwrap());
    assert!(UnixStream::connect(&path).is_err());
    let s = UnixServer::start(&path, &[]);
    assert_eq!(s.connect().ask(b"version\r\n", b"\r\n")[..8], *b"VERSION ");
    drop(s);

    // A regular file at the path is not removed; the server fails to start.
    let file = dir.0.join("regular");
    std::fs::write(&file, b"keep me").unwrap();
    let mut child = spawn(&file, &[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server started on a regular file");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!status.success());
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[test]
fn connection_limit_applies_to_unix_connections() {
    let dir = TempDir::new();
    let limit = 20;
    let s = UnixServer::start(&dir.sock(), &["-c", &limit.to_string(), "-t", "2"]);
    // Wait (bounded) until only `first` is open: the start-up probe may still count.
    let mut first = s.connect();
    let settled = (0..100).any(|_| {
        let n = first.stats("")["curr_connections"].clone();
        std::thread::sleep(Duration::from_millis(10));
        n == "1" || is_memcached()
    });
    assert!(settled, "curr_connections never settled at 1");
    let mut conns: Vec<UnixStream> = (0..limit + 9)
        .filter_map(|_| UnixStream::connect(&s.path).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = 0;
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(n) if n > 0 => {
                assert_eq!(esc(&buf[..n]), esc(b"ERROR Too many open connections\r\n"));
                refused += 1;
            }
            Ok(_) => {}
            Err(e) => assert!(matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut
            )),
        }
    }
    if is_memcached() {
        // memcached counts its own descriptors against -c too.
        assert!(refused >= 10, "{refused} refused");
    } else {
        assert_eq!(refused, 10);
    }
    drop(conns);
    // Closing them makes room again (bounded wait for the workers to notice).
    let ok = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        let mut c = s.connect();
        c.s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        c.ask(b"version\r\n", b"\r\n").starts_with(b"VERSION ")
    });
    assert!(ok, "no connection admitted after the others closed");
}

#[test]
fn socket_file_removed_on_sigterm() {
    if is_memcached() {
        // memcached 1.6.18 leaves the file; it removes a stale one at the next start.
        return;
    }
    let dir = TempDir::new();
    let mut s = UnixServer::start(&dir.sock(), &[]);
    let mut c = s.connect();
    assert_eq!(c.ask(b"set a 0 0 1\r\n1\r\n", b"\r\n"), b"STORED\r\n");
    let st = s.terminate().expect("server did not exit after SIGTERM");
    assert!(st.success(), "exit status {st}");
    assert!(!s.path.exists(), "socket file left behind");
}
