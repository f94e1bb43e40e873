//! Command-line handling of the ferrocache binary (always ferrocache, never memcached).

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run ferrocache with args on an ephemeral loopback port; return (exit code,
/// stdout+stderr). A process still running after 5 s is killed and reported as `None`.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut full = vec!["-p", "-1"];
    if !args.contains(&"-l") {
        full.extend(["-l", "127.0.0.1"]);
    }
    full.extend(args);
    let mut child = Command::new(ferrocache_path())
        .args(&full)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrocache");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (status.and_then(|s| s.code()), text)
}

fn fails(args: &[&str], mention: &str) {
    let (code, text) = run(args);
    let code = code.unwrap_or_else(|| panic!("{args:?} did not exit within 5 s: {text}"));
    assert_ne!(code, 0, "{args:?} exited 0: {text}");
    assert!(!text.trim().is_empty(), "{args:?} failed without a message");
    assert!(
        text.to_lowercase().contains(&mention.to_lowercase()),
        "{args:?}: message does not mention {mention:?}: {text}"
    );
}

#[test]
fn zero_connections_rejected() {
    fails(&["-c", "0"], "");
}

#[test]
fn zero_threads_rejected() {
    fails(&["-t", "0"], "");
}

#[test]
fn bad_listen_address_rejected() {
    fails(&["-l", "fooble"], "fooble");
}

#[test]
fn item_size_too_small_rejected() {
    fails(&["-I", "512"], "");
}

#[test]
fn item_size_too_large_rejected() {
    fails(&["-I", "2g"], "");
}

#[test]
fn garbage_numbers_rejected() {
    fails(&["-m", "lots"], "");
    fails(&["-p", "notaport"], "");
}

#[test]
fn unknown_flag_named() {
    fails(&["--no-such-flag"], "--no-such-flag");
    fails(&["-Q"], "-Q");
}

#[test]
fn version_flag() {
    let (code, text) = run(&["-V"]);
    assert_eq!(code, Some(0), "{text}");
    let t = text.trim();
    assert!(
        !t.is_empty() && t.chars().any(|c| c.is_ascii_digit()),
        "{t:?}"
    );
}

#[test]
fn good_flags_start() {
    let s = Server::start_with(
        &ferrocache_path(),
        &[
            "-m", "16", "-t", "2", "-c", "64", "-I", "2m", "-M", "-C", "-A", "-v",
        ],
    );
    let mut c = s.connect();
    c.set("k", b"v");
    assert_eq!(c.get("k").unwrap(), b"v");
}

/// -k (mlockall; failing is only a warning), -r (core limit), -L (warned) and -o options
/// that only warn do not stop a server from starting and serving.
#[test]
fn operational_flags_start() {
    let s = Server::start_with(
        &ferrocache_path(),
        &["-k", "-r", "-L", "-o", "modern,hashpower=20", "-b", "64"],
    );
    let mut c = s.connect();
    c.set("k", b"v");
    assert_eq!(c.get("k").unwrap(), b"v");
    assert!(
        s.log().contains("hashpower=20"),
        "one warning names it: {}",
        s.log()
    );
}

#[test]
fn check_config_reports_the_bad_line() {
    let dir = std::env::temp_dir().join(format!("ferro-cli-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.conf");
    std::fs::write(&good, "# ok\n-m 32\n-o idle_timeout=5\n").unwrap();
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "-m 32\n-o fooble\n").unwrap();
    let run_check = |path: &std::path::Path| {
        Command::new(ferrocache_path())
            .args(["--config-file", path.to_str().unwrap(), "--check-config"])
            .output()
            .expect("run --check-config")
    };
    let ok = run_check(&good);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("configuration OK"));
    let no = run_check(&bad);
    assert_eq!(no.status.code(), Some(64), "{no:?}");
    let msg = String::from_utf8_lossy(&no.stderr);
    assert!(msg.contains("line 2") && msg.contains("fooble"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn udp_port_zero_accepted() {
    let s = Server::start_with(&ferrocache_path(), &["-U", "0"]);
    s.connect().set("k", b"v");
}

#[test]
fn sigterm_exits_zero() {
    let mut s = Server::start_with(&ferrocache_path(), &[]);
    s.connect().set("k", b"v");
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(s.pid() as i32, libc::SIGTERM);
    }
    let st = s
        .wait_exit(Duration::from_secs(10))
        .expect("no exit after SIGTERM");
    assert!(st.success(), "exit status {st:?}");
}

/// A SIGTERM sent the moment the port first accepts (a supervisor stopping a fresh start)
/// is a clean shutdown, not death by the signal's default action: the handlers are in
/// place before the sockets are bound.
#[test]
fn sigterm_as_soon_as_the_port_accepts_exits_zero() {
    for _ in 0..5 {
        let pf = PortFile::new();
        let mut child = Command::new(ferrocache_path())
            .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0"])
            .env(PORT_FILE_ENV, pf.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ferrocache");
        let port = match pf.wait(&mut child, START_TIMEOUT) {
            Ok(Ports { tcp: Some(p), .. }) => p,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no TCP port reported: {other:?}");
            }
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "port {port} never accepted");
            std::thread::sleep(Duration::from_micros(200));
        }
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("no exit within 5 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(status.success(), "exit status {status:?}");
    }
}
