//! Starting and stopping the servers under test: each run gets a fresh process on an unused
//! loopback port, which is killed when the [`Server`] is dropped (also on a panic), and
//! with `PR_SET_PDEATHSIG` so it dies with the benchmark even if that is killed.
//!
//! Owns: server processes, their ports and CPU time. Must not send workload requests.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::proto::Conn;

/// A server to test: a label and a memcached-compatible binary.
#[derive(Clone, Debug)]
pub struct Spec {
    pub label: String,
    pub bin: String,
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

/// A loopback port nobody listens on now (bound then released; the start retries if it is
/// taken before the server binds it).
fn unused_port() -> io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl Server {
    /// Starts `spec` with `-m mem_mb -t threads` on 127.0.0.1, waits (at most 10 s per
    /// attempt, 3 attempts) until it answers `version`.
    pub fn start(spec: &Spec, mem_mb: u64, threads: u32) -> io::Result<Server> {
        let mut last_err = io::Error::other("not started");
        for _ in 0..3 {
            let port = unused_port()?;
            let mut cmd = Command::new(&spec.bin);
            cmd.args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"])
                .args(["-m", &mem_mb.to_string(), "-t", &threads.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // memcached refuses to run as root without -u.
            if spec.bin.ends_with("memcached") && unsafe { libc::geteuid() } == 0 {
                cmd.args(["-u", "root"]);
            }
            // SAFETY: prctl is async-signal-safe; it only sets this child's death signal.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = cmd.spawn()?;
            let mut server = Server {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last_err = io::Error::other(format!("{} exited: {status}", spec.bin));
                    break;
                }
                if server.ping().is_ok() {
                    return Ok(server);
                }
                sleep(Duration::from_millis(50));
            }
            if Instant::now() >= deadline {
                last_err = io::Error::other(format!("{} did not answer in 10 s", spec.bin));
            }
            // Dropping `server` kills it; try another port.
        }
        Err(last_err)
    }

    fn ping(&self) -> io::Result<()> {
        let mut c = Conn::connect(self.addr, Duration::from_secs(1))?;
        c.send(b"version\r\n")?;
        let l = c.line()?;
        if l.starts_with(b"VERSION") {
            Ok(())
        } else {
            Err(io::Error::other("no VERSION"))
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `stats` on a fresh connection.
    pub fn stats(&self) -> io::Result<HashMap<String, String>> {
        Conn::connect(self.addr, Duration::from_secs(10))?.stats("")
    }

    /// User + system CPU seconds the server has used so far.
    pub fn cpu_secs(&self) -> io::Result<f64> {
        cpu_secs(self.pid())
    }
}

/// utime + stime of a process from `/proc/PID/stat` (fields 14 and 15, counted after the
/// `comm` field, which may contain spaces).
pub fn cpu_secs(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(") ")
        .ok_or_else(|| io::Error::other("bad /proc stat"))?
        .1;
    let w: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| w.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11) + ticks(12)) / hz.max(1.0))
}

impl Drop for Server {
    /// SIGTERM, then SIGKILL if it has not exited within 3 s; always reaped.
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
