//! Boots ferrocache the way systemd would, without systemd: the `ExecStart=` line of
//! `systemd/ferrocache.service` with the shipped `systemd/ferrocache.conf` (copied, only its
//! `-p` line moved to `-p -1`, an ephemeral port read back from the port file),
//! `$NOTIFY_SOCKET` pointing at a datagram socket of ours
//! (the unit is `Type=notify`). Checks readiness, that it listens only where configured,
//! SIGHUP reload (good and bad file), and a clean SIGTERM stop within 2 s.
//!
//! Also runs a stock Debian `/etc/memcached.conf` unchanged (`-d`, `logfile`, `-u`, `-P`),
//! overriding only its port and paths on the command line.
//!
//! Always ferrocache (these are ferrocache's operational features).

mod common;
use common::*;
use std::collections::HashSet;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferro-service-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The unit's ExecStart= argv, with its binary and config paths pointed at ours.
fn exec_start(conf: &Path) -> Vec<String> {
    let unit = std::fs::read_to_string(Path::new(REPO).join("systemd/ferrocache.service"))
        .expect("read systemd/ferrocache.service");
    assert!(
        unit.lines().any(|l| l.trim() == "Type=notify"),
        "the unit is expected to be Type=notify"
    );
    assert!(
        unit.lines()
            .any(|l| l.trim() == "ExecReload=/bin/kill -HUP $MAINPID"),
        "the unit reloads with SIGHUP"
    );
    let line = unit
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))
        .expect("ExecStart= line");
    let mut argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    assert_eq!(argv[0], "/usr/local/bin/ferrocache");
    argv[0] = ferrocache_path().to_string_lossy().into_owned();
    let at = argv
        .iter()
        .position(|a| a == "/etc/ferrocache/ferrocache.conf")
        .expect("ExecStart names /etc/ferrocache/ferrocache.conf");
    argv[at] = conf.to_string_lossy().into_owned();
    argv
}

/// The shipped config with its `-p 11211` line moved to `port` (the only change; the
/// tests pass "-1", an ephemeral port reported through `MEMCACHED_PORT_FILENAME`).
fn shipped_config(port: &str) -> String {
    let text = std::fs::read_to_string(Path::new(REPO).join("systemd/ferrocache.conf"))
        .expect("read systemd/ferrocache.conf");
    let mut moved = 0;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim() == "-p 11211" {
                moved += 1;
                format!("-p {port}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_eq!(
        moved, 1,
        "the shipped config has exactly one `-p 11211` line"
    );
    out.join("\n") + "\n"
}

/// Socket inodes the process holds open.
fn socket_inodes(pid: u32) -> HashSet<String> {
    let mut out = HashSet::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for e in rd.flatten() {
        if let Ok(t) = std::fs::read_link(e.path()) {
            let t = t.to_string_lossy().into_owned();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                out.insert(inode.to_string());
            }
        }
    }
    out
}

/// Decodes a /proc/net/{tcp,udp} address (`0100007F:2B67`) for IPv4.
fn v4_addr(hex: &str) -> String {
    let (ip, port) = hex.split_once(':').unwrap();
    let ip = u32::from_str_radix(ip, 16).unwrap();
    let port = u16::from_str_radix(port, 16).unwrap();
    let b = ip.to_le_bytes();
    format!("{}.{}.{}.{}:{port}", b[0], b[1], b[2], b[3])
}

/// What the process listens on: (table, local address as in /proc, state) for each of its
/// sockets found in /proc/net/{tcp,tcp6,udp,udp6}, plus listening unix sockets.
fn listening(pid: u32) -> Vec<String> {
    let inodes = socket_inodes(pid);
    let mut out = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || !inodes.contains(f[9]) {
                continue;
            }
            // tcp: 0A = LISTEN; udp: every bound socket receives.
            let listens = table.starts_with("udp") || f[3] == "0A";
            if listens {
                let addr = if table == "tcp" || table == "udp" {
                    v4_addr(f[1])
                } else {
                    f[1].to_string()
                };
                out.push(format!("{table} {addr}"));
            }
        }
    }
    let unix = std::fs::read_to_string(format!("/proc/{pid}/net/unix")).unwrap_or_default();
    for line in unix.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Flags 00010000 = __SO_ACCEPTCON: a listening socket.
        if f.len() >= 7 && inodes.contains(f[6]) && f[3] == "00010000" {
            out.push(format!("unix {}", f.get(7).unwrap_or(&"")));
        }
    }
    out.sort();
    out
}

/// Collects the sd_notify datagrams received so far.
fn notifications(sock: &UnixDatagram, into: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        into.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

fn wait_for_notification(
    sock: &UnixDatagram,
    seen: &mut Vec<String>,
    what: &str,
    max: Duration,
) -> bool {
    let deadline = Instant::now() + max;
    loop {
        notifications(sock, seen);
        if seen.iter().any(|m| m.lines().any(|l| l == what)) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill({sig})");
}

/// Polls `stats settings` until `name` has `value` (bounded).
fn wait_setting(port: u16, name: &str, value: &str, max: Duration) -> String {
    let deadline = Instant::now() + max;
    loop {
        let got = Client::connect(port)
            .stats_arg("settings")
            .get(name)
            .cloned()
            .unwrap_or_default();
        if got == value || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn unit_exec_start_with_shipped_config() {
    let dir = tmpdir("unit");
    let pf = PortFile::new();
    let conf = dir.join("ferrocache.conf");
    std::fs::write(&conf, shipped_config("-1")).unwrap();
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_nonblocking(true).unwrap();
    let log_path = dir.join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let argv = exec_start(&conf);
    let started = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("NOTIFY_SOCKET", &notify_path)
        .env(PORT_FILE_ENV, pf.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn the unit's ExecStart");
    let mut seen = Vec::new();
    let ready = wait_for_notification(&notify, &mut seen, "READY=1", Duration::from_secs(10));
    if !ready {
        let _ = child.kill();
        panic!(
            "no READY=1 within 10 s; got {seen:?}; log:\n{}",
            read_log(&log_path)
        );
    }
    eprintln!("READY=1 after {:?}", started.elapsed());
    // The port file is written before READY=1.
    let port = match pf.wait(&mut child, Duration::from_secs(1)) {
        Ok(Ports { tcp: Some(p), .. }) => p,
        other => {
            let _ = child.kill();
            panic!("no TCP port in the port file: {other:?}");
        }
    };

    // Ready means serving.
    let mut c = Client::connect(port);
    c.roundtrip(b"set unit 0 0 2\r\nok\r\n", b"STORED\r\n");
    c.roundtrip(b"get unit\r\n", b"VALUE unit 0 2\r\nok\r\nEND\r\n");

    // Listens only where the shipped config says: one TCP socket on 127.0.0.1:port.
    assert_eq!(
        listening(child.id()),
        vec![format!("tcp 127.0.0.1:{port}")],
        "sockets of the service"
    );
    let s = c.stats_arg("settings");
    assert_eq!(s["maxconns"], "1024");
    assert_eq!(s["maxbytes"], (64u64 << 20).to_string());
    assert_eq!(s["num_threads"], "4");

    // SIGHUP with a changed file: -m, -c and -v change live; the log says what was applied.
    let changed = shipped_config("-1")
        .replace("-m 64", "-m 128")
        .replace("-c 1024", "-c 500")
        .replace("# -v\n", "-v\n");
    std::fs::write(&conf, changed).unwrap();
    signal(&child, libc::SIGHUP);
    assert_eq!(
        wait_setting(port, "maxconns", "500", Duration::from_secs(5)),
        "500"
    );
    assert_eq!(
        wait_setting(port, "verbosity", "1", Duration::from_secs(5)),
        "1"
    );
    assert!(
        wait_for_notification(&notify, &mut seen, "RELOADING=1", Duration::from_secs(2)),
        "RELOADING=1 on SIGHUP; got {seen:?}"
    );
    let readies = seen.iter().filter(|m| m.as_str() == "READY=1").count();
    assert!(readies >= 2, "READY=1 again after the reload; got {seen:?}");

    // A bad file is rejected, naming its line; the running config stays.
    let bad = shipped_config("-1").replace("-c 1024", "-c 700\n--no-such-flag");
    std::fs::write(&conf, &bad).unwrap();
    let bad_line = bad.lines().position(|l| l == "--no-such-flag").unwrap() + 1;
    signal(&child, libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !read_log(&log_path).contains("config rejected") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let logged = read_log(&log_path);
    assert!(
        logged.contains(&format!("line {bad_line}")),
        "the rejection names line {bad_line}; log:\n{logged}"
    );
    assert_eq!(c.stats_arg("settings")["maxconns"], "500");
    c.roundtrip(b"get unit\r\n", b"VALUE unit 0 2\r\nok\r\nEND\r\n");

    // SIGTERM: exit 0 within 2 s, STOPPING=1 sent.
    let t = Instant::now();
    signal(&child, libc::SIGTERM);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if t.elapsed() > Duration::from_secs(2) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let Some(status) = status else {
        let _ = child.kill();
        panic!("still running 2 s after SIGTERM");
    };
    eprintln!("stopped {:?} after SIGTERM", t.elapsed());
    assert!(status.success(), "exit status {status:?}");
    notifications(&notify, &mut seen);
    assert!(seen.iter().any(|m| m == "STOPPING=1"), "{seen:?}");
    let logged = read_log(&log_path);
    assert!(logged.contains("applied"), "reload logged; log:\n{logged}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Debian's /etc/memcached.conf as shipped by the memcached 1.6.18 package.
const DEBIAN_CONF: &str = include_str!("fixtures/debian-memcached.conf");

/// Whether `pid` runs (a zombie waiting for a reaper that is not us counts as exited).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').next() == Some(name))
}

#[test]
fn debian_memcached_conf_daemonizes() {
    let dir = tmpdir("debian");
    // Like /var/run/memcached, owned by the user the daemon becomes, so that it can remove
    // its pid file at exit.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = dir.join("memcached.conf");
    std::fs::write(&conf, DEBIAN_CONF).unwrap();
    if let Ok(installed) = std::fs::read_to_string("/etc/memcached.conf") {
        // When Debian's package is installed, ours is its file, comments aside.
        let flags = |t: &str| -> Vec<String> {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            flags(&installed),
            flags(DEBIAN_CONF),
            "/etc/memcached.conf flags"
        );
    }
    let pf = PortFile::new();
    let pid_file = dir.join("memcached.pid");
    let log_file = dir.join("memcached.log");
    let mut args: Vec<&str> = vec!["--config-file", conf.to_str().unwrap(), "-p", "-1"];
    let pid_s = pid_file.to_str().unwrap().to_string();
    let log_s = log_file.to_str().unwrap().to_string();
    args.extend(["-P", &pid_s, "--logfile", &log_s, "-vv"]);
    // Root drops to `memcache` as the file says when that user exists (Debian's package
    // creates it); otherwise to root itself. Non-root: -u is ignored, as in memcached.
    if running_as_root() && !user_exists("memcache") {
        args.extend(["-u", "root"]);
    }
    let out = Command::new(ferrocache_path())
        .args(&args)
        .env(PORT_FILE_ENV, pf.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run ferrocache -d");
    // -d: the starting process returns at once with 0; the daemon keeps running.
    assert!(out.status.success(), "{out:?}");
    // `-d`: the daemon writes the port file once serving.
    let mut port = None;
    wait_until(Duration::from_secs(10), || {
        port = std::fs::read_to_string(pf.path())
            .ok()
            .and_then(|t| parse_port_file(&t).tcp);
        port.is_some()
    });
    let port = port.unwrap_or_else(|| {
        panic!(
            "no TCP port in the port file; log:\n{}",
            read_log(&log_file)
        )
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let pid = loop {
        if let Some(p) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "no pid file; log:\n{}",
            read_log(&log_file)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut c = Client::connect(port);
    c.roundtrip(b"set deb 0 0 1\r\nx\r\n", b"STORED\r\n");
    let s = c.stats_arg("settings");
    assert_eq!(s["maxbytes"], (64u64 << 20).to_string());
    // The daemon is in its own session, detached from our terminal.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[3],
        pid.to_string(),
        "session id is its own pid (setsid)"
    );
    drop(c);
    // -vv traces to the log file.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !read_log(&log_file).contains("listening on") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        read_log(&log_file).contains("listening on"),
        "log:\n{}",
        read_log(&log_file)
    );
    // SIGHUP reopens the log file (logrotate moved it away), then logs the reload there.
    let rotated = dir.join("memcached.log.1");
    std::fs::rename(&log_file, &rotated).unwrap();
    // SAFETY: kill(2) with a pid we read from the daemon's own pid file.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !read_log(&log_file).contains("SIGHUP") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        read_log(&log_file).contains("SIGHUP"),
        "reopened log:\n{}",
        read_log(&log_file)
    );
    assert!(!read_log(&rotated).contains("SIGHUP"));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!alive(pid), "daemon still running 2 s after SIGTERM");
    assert!(!pid_file.exists(), "pid file removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}
