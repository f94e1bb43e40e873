//! Command-line handling of the ferrocache binary (always ferrocache, never memcached).

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run ferrocache with args on a free loopback port; return (exit code, stdout+stderr).
/// A process still running after 5 s is killed and reported as `None`.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut full = vec!["-p", &port];
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
