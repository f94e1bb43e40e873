//! `-c` in both modes: `maxconns_fast` (default) answers a connection over the limit with
//! `ERROR Too many open connections` and closes it; `-o no_maxconns_fast` stops accepting
//! instead, so the connection waits in the backlog and is served once another closes.
//!
//! Also run against memcached (`FERRO_TEST_SERVER=/usr/bin/memcached`): memcached counts
//! some of its own descriptors against `-c` (and without maxconns_fast it pauses when
//! accept(2) runs out of descriptors), so there only the shape is checked, not the counts.

mod common;

use common::*;
use std::time::Duration;

const EXTRA: usize = 6;

/// `-c`: memcached cannot even start with a dozen descriptors.
fn limit() -> usize {
    if is_memcached() { 50 } else { 12 }
}

/// Opens `first`, waits until it is the only connection counted (bounded), then opens
/// `limit() - 1 + EXTRA` more that each send `version`.
fn fill(s: &Server) -> (Client, Vec<Client>) {
    let mut first = s.connect();
    let settled = wait_until(Duration::from_secs(3), || {
        is_memcached() || first.stats()["curr_connections"] == "1"
    });
    assert!(settled, "curr_connections never settled at 1");
    let mut conns: Vec<Client> = (0..limit() - 1 + EXTRA).map(|_| s.connect()).collect();
    for c in &mut conns {
        c.send(b"version\r\n");
    }
    std::thread::sleep(Duration::from_millis(300));
    (first, conns)
}

#[test]
fn fast_mode_refuses_over_the_limit() {
    let s = Server::start(&["-c", &limit().to_string(), "-t", "2"]);
    let (mut first, mut conns) = fill(&s);
    let mut refused = 0;
    for c in &mut conns {
        let got = c.read_quiet(Duration::from_millis(50), Duration::from_secs(2));
        if got.starts_with(b"VERSION ") {
            continue;
        }
        assert_eq!(esc(&got), esc(b"ERROR Too many open connections\r\n"));
        assert!(
            c.is_closed_within(Duration::from_secs(2)),
            "refused but open"
        );
        refused += 1;
    }
    if is_memcached() {
        assert!(refused >= EXTRA, "{refused} refused");
    } else {
        assert_eq!(refused, EXTRA);
        assert_eq!(
            parse_stat(&first.stats(), "rejected_connections"),
            EXTRA as u64
        );
    }
}

#[test]
fn slow_mode_leaves_connections_waiting() {
    let s = Server::start(&[
        "-c",
        &limit().to_string(),
        "-t",
        "2",
        "-o",
        "no_maxconns_fast",
    ]);
    let (mut first, mut conns) = fill(&s);
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for (i, c) in conns.iter_mut().enumerate() {
        let got = c.read_quiet(Duration::from_millis(50), Duration::from_millis(300));
        if got.is_empty() {
            waiting.push(i);
        } else {
            // Never refused in this mode.
            assert!(
                got.starts_with(b"VERSION "),
                "connection {i}: {}",
                esc(&got)
            );
            served.push(i);
        }
    }
    if is_memcached() {
        assert!(!waiting.is_empty(), "nothing waited at -c {}", limit());
    } else {
        assert_eq!(served.len(), limit() - 1, "served {served:?}");
        assert_eq!(waiting.len(), EXTRA);
        let st = first.stats();
        assert_eq!(parse_stat(&st, "rejected_connections"), 0);
        assert_eq!(parse_stat(&st, "curr_connections"), limit() as u64);
    }
    // Closing served connections lets the waiting ones in, one close each.
    for &i in &served {
        conns[i].stream.shutdown(std::net::Shutdown::Both).ok();
    }
    drop(first);
    for &i in &waiting {
        let got = conns[i].read_quiet(Duration::from_millis(50), Duration::from_secs(5));
        assert!(
            got.starts_with(b"VERSION "),
            "waiting connection {i} never served: {}",
            esc(&got)
        );
    }
    // memcached counts each stop of accepting, and the time spent stopped.
    let st = s.stats();
    assert!(parse_stat(&st, "listen_disabled_num") >= 1, "{st:?}");
    assert!(parse_stat(&st, "time_in_listen_disabled_us") > 0, "{st:?}");
}
