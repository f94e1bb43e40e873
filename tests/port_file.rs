//! `MEMCACHED_PORT_FILENAME` and ephemeral ports (`-p -1`, `-U -1`, `-p 0`), compared with
//! Debian's memcached 1.6.18 (`/usr/bin/memcached`): the same lines in the same order, the
//! same `stats settings` ports, the `.lck` file renamed away, no file with `-s`.
//! The cases are memcached's own `t/issue_67.t`, on loopback.

mod common;
use common::*;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server started directly (not through `Server`, which always adds `-p -1`).
struct Started {
    child: Child,
    text: String,
    ports: Ports,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch(path: &Path, args: &[&str], pf: &PortFile) -> Child {
    let mut full: Vec<&str> = Vec::new();
    if path_is_memcached(path) && running_as_root() {
        full.extend(["-u", "root"]);
    }
    full.extend(args);
    Command::new(path)
        .args(&full)
        .env(PORT_FILE_ENV, pf.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", path.display()))
}

fn start(path: &Path, args: &[&str]) -> Started {
    let pf = PortFile::new();
    let mut child = launch(path, args, &pf);
    let ports = pf
        .wait(&mut child, START_TIMEOUT)
        .unwrap_or_else(|why| panic!("{} {args:?}: {why}", path.display()));
    let text = std::fs::read_to_string(pf.path()).expect("read the port file");
    let mut lck = pf.path().as_os_str().to_owned();
    lck.push(".lck");
    assert!(!Path::new(&lck).exists(), "{args:?}: .lck left behind");
    Started { child, text, ports }
}

/// The file's lines with each port replaced by `P` (ephemeral ports differ run to run).
fn shape(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.split_once(": ") {
            Some((kind, _)) => format!("{kind}: P"),
            None => l.to_string(),
        })
        .collect()
}

fn settings_ports(port: u16) -> (String, String) {
    let s = Client::connect(port).stats_arg("settings");
    (s["tcpport"].clone(), s["udpport"].clone())
}

fn udp_answers(port: u16) -> bool {
    let Ok(c) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    if c.connect(("127.0.0.1", port)).is_err()
        || c.set_read_timeout(Some(Duration::from_secs(2))).is_err()
    {
        return false;
    }
    let mut req = vec![0, 1, 0, 0, 0, 1, 0, 0];
    req.extend_from_slice(b"version\r\n");
    let mut buf = [0u8; 1500];
    c.send(&req).is_ok() && c.recv(&mut buf).is_ok_and(|n| n > 8)
}

fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

fn compare(args: &[&str]) {
    let m = start(Path::new(MEMCACHED), args);
    let f = start(&ferrocache_path(), args);
    assert_eq!(shape(&f.text), shape(&m.text), "{args:?}: port file lines");
    assert_eq!(f.ports.tcp.is_some(), m.ports.tcp.is_some(), "{args:?}");
    assert_eq!(f.ports.udp.is_some(), m.ports.udp.is_some(), "{args:?}");
    for p in [f.ports.tcp, f.ports.udp].into_iter().flatten() {
        assert!(p != 0 && p != 11211, "{args:?}: port {p} is not ephemeral");
    }
    if let (Some(mp), Some(fp)) = (m.ports.tcp, f.ports.tcp) {
        assert!(wait_connectable(fp, START_TIMEOUT), "{args:?}: tcp {fp}");
        assert_eq!(
            settings_ports(fp),
            settings_ports(mp),
            "{args:?}: stats settings"
        );
    }
    if let (Some(mp), Some(fp)) = (m.ports.udp, f.ports.udp) {
        assert_eq!(udp_answers(fp), udp_answers(mp), "{args:?}: udp");
    }
}

#[test]
fn tcp_ephemeral() {
    compare(&["-l", "127.0.0.1", "-p", "-1"]);
}

#[test]
fn udp_ephemeral_alone_makes_tcp_ephemeral_too() {
    compare(&["-l", "127.0.0.1", "-U", "-1"]);
}

#[test]
fn tcp_and_udp_ephemeral() {
    compare(&["-l", "127.0.0.1", "-p", "-1", "-U", "-1"]);
}

#[test]
fn tcp_ephemeral_udp_off() {
    compare(&["-l", "127.0.0.1", "-p", "-1", "-U", "0"]);
}

#[test]
fn tcp_off_udp_ephemeral() {
    compare(&["-l", "127.0.0.1", "-p", "0", "-U", "-1"]);
}

#[test]
fn tcp_off_gives_an_empty_file() {
    compare(&["-l", "127.0.0.1", "-p", "0"]);
    let f = start(&ferrocache_path(), &["-l", "127.0.0.1", "-p", "0"]);
    assert_eq!(f.text, "");
}

#[test]
fn one_line_per_interface() {
    if !ipv6_loopback() {
        eprintln!("no ::1 here: skipped");
        return;
    }
    compare(&["-l", "127.0.0.1,::1", "-p", "-1", "-U", "-1"]);
}

#[test]
fn no_file_with_a_unix_socket() {
    for path in [Path::new(MEMCACHED).to_path_buf(), ferrocache_path()] {
        let dir = std::env::temp_dir().join(format!(
            "ferro-portfile-unix-{}-{}",
            std::process::id(),
            path_is_memcached(&path)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sock = dir.join("s.sock");
        let sock_s = sock.to_string_lossy().into_owned();
        let pf = PortFile::new();
        let mut child = launch(&path, &["-s", &sock_s, "-p", "-1"], &pf);
        let up = wait_until(START_TIMEOUT, || {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(up, "{}: unix socket never accepted", path.display());
        assert!(!pf.path().exists(), "{}: port file written", path.display());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
