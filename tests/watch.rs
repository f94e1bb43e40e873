//! `watch`: memcached's log stream. The differential test runs one script against the real
//! memcached and ferrocache and compares the watcher's lines (time, port and fd masked,
//! gids kept); the others run against the server under test (`FERRO_TEST_SERVER` may name
//! memcached, except where noted). memcached's logger thread sends lines up to a second
//! late: every read here waits for a line with a bounded timeout.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A connection that sent `watch <args>` and got `OK`.
fn watcher(s: &Server, args: &str) -> Client {
    let mut w = s.connect();
    let cmd = if args.is_empty() {
        "watch\r\n".to_string()
    } else {
        format!("watch {args}\r\n")
    };
    w.send(cmd.as_bytes());
    w.expect(b"OK\r\n");
    w
}

/// The next log line, without its `\n`; checks the `ts=` prefix format on the way.
fn next(w: &mut Client) -> String {
    let raw = w.read_line();
    let line = String::from_utf8_lossy(&raw);
    let line = line
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no \\n: {line:?}"));
    assert!(!line.ends_with('\r'), "log lines end in \\n only: {line:?}");
    if let Some(ts) = line.strip_prefix("ts=") {
        let ts = ts.split(' ').next().unwrap_or_default();
        let (secs, usecs) = ts.split_once('.').unwrap_or(("", ""));
        assert!(secs.parse::<u64>().is_ok(), "{line}");
        // Microseconds unpadded, as memcached prints them (`%d`).
        assert!(usecs.parse::<u32>().is_ok_and(|u| u < 1_000_000), "{line}");
        assert!(usecs == "0" || !usecs.starts_with('0'), "{line}");
    }
    line.to_string()
}

/// Reads lines until one contains `needle`; returns them all (bounded).
fn until(w: &mut Client, needle: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..200_000 {
        let l = next(w);
        let done = l.contains(needle);
        lines.push(l);
        if done {
            return lines;
        }
    }
    panic!("no line with {needle:?} in {lines:?}");
}

/// A line with time and peer details masked: `ts=T`, `rport=P`, `cfd=F`.
fn mask(line: &str) -> String {
    line.split(' ')
        .map(|f| match f.split_once('=') {
            Some(("ts", _)) => "ts=T".to_string(),
            Some(("rport", _)) => "rport=P".to_string(),
            Some(("cfd", _)) => "cfd=F".to_string(),
            _ => f.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split(' ')
        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
}

fn gid(line: &str) -> u64 {
    field(line, "gid")
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no gid in {line:?}"))
}

/// The client's own fd as the server numbers it (`stats conns` lists the asking
/// connection in state `conn_parse_cmd`).
fn own_fd(c: &mut Client) -> String {
    c.send(b"stats conns\r\n");
    let raw = String::from_utf8_lossy(&c.read_until_end()).to_string();
    raw.split("\r\n")
        .find_map(|l| {
            let rest = l.strip_prefix("STAT ")?;
            let (name, value) = rest.split_once(' ')?;
            let (fd, f) = name.split_once(':')?;
            (f == "state" && value == "conn_parse_cmd").then(|| fd.to_string())
        })
        .unwrap_or_else(|| panic!("no own fd in {raw}"))
}

// ---- differential --------------------------------------------------------------------

const SCRIPT: &[&[u8]] = &[
    b"get nokey\r\n",
    b"set foo 5 0 3\r\nbar\r\n",
    b"get foo\r\n",
    b"gets foo nokey foo\r\n",
    b"add foo 0 0 1\r\nx\r\n",
    b"replace nope 0 0 1\r\nx\r\n",
    b"append foo 0 0 2\r\nzz\r\n",
    b"prepend foo 0 0 2\r\naa\r\n",
    b"cas foo 0 0 1 999\r\nx\r\n",
    b"cas nope 0 0 1 1\r\nx\r\n",
    b"set ttl 0 100 1\r\nx\r\n",
    b"set k\xc3\xa9y%+/:~ 0 0 1\r\nx\r\n",
    b"get k\xc3\xa9y%+/:~\r\n",
    b"set n 0 0 1\r\n5\r\n",
    b"incr n 1\r\n",
    b"decr n 1\r\n",
    b"incr nope 1\r\n",
    b"incr foo 1\r\n",
    b"delete n\r\n",
    b"delete n\r\n",
    b"touch foo 10\r\n",
    b"gat 10 foo\r\n",
    b"gats 10 nokey\r\n",
    b"set e 0 0 0\r\n\r\n",
    b"get e\r\n",
    b"mg foo v\r\n",
    b"mg nokey v\r\n",
    b"ms mk 2\r\nhi\r\n",
    b"ms mk 2 MA\r\nzz\r\n",
    b"ms mk3 2 MA\r\nzz\r\n",
    b"ms mk 2 T60\r\nhi\r\n",
    b"md mk\r\n",
    b"md mk\r\n",
    b"ma nope\r\n",
    b"version\r\n",
    b"quit\r\n",
];

/// Runs `SCRIPT` on a fresh server with a `fetchers mutations connevents` watcher; returns
/// the watcher's lines in gid order, masked, gids replaced by their rank. Connection lines
/// of other clients (the harness's start-up probe may close at any time) are left out.
fn watched_script(path: &Path) -> Vec<String> {
    let s = Server::start_with(path, &[]);
    let mut w = watcher(&s, "fetchers mutations connevents");
    let mut c = s.connect();
    let mut ports = vec![c.stream.local_addr().map(|a| a.port()).unwrap_or(0)];
    for step in SCRIPT {
        c.send(step);
        if *step != b"quit\r\n" {
            // One reply line per step (values end in END).
            let first = c.read_line();
            if first.starts_with(b"VA ") {
                c.read_line();
            } else if first.starts_with(b"VALUE ") {
                // No value of the script is `END`.
                for _ in 0..100 {
                    if c.read_line() == b"END\r\n" {
                        break;
                    }
                }
            }
        }
    }
    c.expect_closed();
    // The quit closes on one thread, the sentinel comes from another: memcached may send
    // them in either order, so collect both and sort by gid.
    let mut last = s.connect();
    ports.push(last.stream.local_addr().map(|a| a.port()).unwrap_or(0));
    last.send(b"get sentinel\r\n");
    last.read_until_end();
    // Up to our client's close (the harness probe's close may come first).
    let mut lines = until(
        &mut w,
        &format!(" type=conn_close rip=127.0.0.1 rport={} ", ports[0]),
    );
    if !lines.iter().any(|l| l.contains("key=sentinel")) {
        lines.extend(until(&mut w, "key=sentinel"));
    }
    let mut by_gid: BTreeMap<u64, String> = BTreeMap::new();
    for l in lines {
        let foreign = field(&l, "rport")
            .and_then(|p| p.parse::<u16>().ok())
            .is_some_and(|p| !ports.contains(&p));
        if !foreign {
            by_gid.insert(gid(&l), mask(&l));
        }
    }
    by_gid
        .into_values()
        .enumerate()
        .map(|(i, l)| {
            l.split(' ')
                .map(|f| match f.strip_prefix("gid=") {
                    Some(_) => format!("gid={}", i + 1),
                    None => f.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn diff_log_lines_match_memcached() {
    if !Path::new(MEMCACHED).exists() {
        eprintln!("skipped: {MEMCACHED} not installed");
        return;
    }
    let m = watched_script(Path::new(MEMCACHED));
    let f = watched_script(&ferrocache_path());
    assert_eq!(
        m.join("\n"),
        f.join("\n"),
        "memcached (left) vs ferrocache (right)"
    );
    // Spot checks of what the script must have produced.
    let all = f.join("\n");
    for want in [
        "ts=T gid=1 type=conn_new rip=127.0.0.1 rport=P transport=tcp cfd=F",
        "type=item_get key=nokey status=not_found clsid=0 cfd=F size=0",
        "type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=F size=3",
        "type=item_get key=foo status=found clsid=1 cfd=F size=3",
        "type=item_store key=foo status=stored cmd=append ttl=0 clsid=1 cfd=F size=5",
        "type=item_store key=foo status=exists cmd=cas ttl=0 clsid=1 cfd=F size=1",
        "type=item_store key=ttl status=stored cmd=set ttl=100 clsid=1 cfd=F size=1",
        "type=item_get key=k%C3%A9y%25%2B%2F%3A~ status=found",
        "type=item_store key=mk3 status=not_stored cmd=append",
        "type=conn_close rip=127.0.0.1 rport=P transport=tcp reason=normal cfd=F",
    ] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
}

// ---- replies -------------------------------------------------------------------------

#[test]
fn replies_to_watch() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // Unknown event types: ERROR, and the connection goes on as before.
    c.roundtrip(b"watch bogus\r\n", b"ERROR\r\n");
    c.roundtrip(b"watch fetchers deletions\r\n", b"ERROR\r\n");
    // `noreply` is not an event type: a silenced ERROR.
    c.send(b"watch fetchers noreply\r\nversion\r\n");
    let v = c.read_line_str();
    assert!(v.starts_with("VERSION 1.6.18"), "{v}");
    // Every event type memcached 1.6.18 knows is accepted.
    let _w = watcher(
        &s,
        "fetchers mutations evictions connevents sysevents rawcmds proxyreqs proxyevents proxyuser",
    );
    // A reply queued before `watch` in the same packet goes out first.
    let mut p = s.connect();
    p.send(b"get nokey\r\nwatch\r\n");
    p.expect(b"END\r\nOK\r\n");
}

#[test]
fn refused_with_disable_watch() {
    let s = Server::start(&["-W"]);
    let mut c = s.connect();
    c.roundtrip(b"watch\r\n", b"CLIENT_ERROR watch commands not allowed\r\n");
    c.roundtrip(
        b"watch fetchers\r\n",
        b"CLIENT_ERROR watch commands not allowed\r\n",
    );
    c.send(b"watch noreply\r\n");
    c.roundtrip(b"get a\r\n", b"END\r\n");
}

#[test]
fn twenty_watchers_at_most() {
    let s = Server::start(&[]);
    let ws: Vec<Client> = (0..20).map(|_| watcher(&s, "mutations")).collect();
    let mut c = s.connect();
    c.roundtrip(
        b"watch\r\n",
        b"WATCHER_TOO_MANY log watcher limit reached\r\n",
    );
    c.roundtrip(b"get a\r\n", b"END\r\n");
    drop(ws);
    // Closed watchers free their places (memcached notices within about a second).
    let ok = wait_until(Duration::from_secs(10), || {
        let mut n = s.connect();
        n.send(b"watch\r\n");
        n.read_line() == b"OK\r\n"
    });
    assert!(ok, "no watcher place freed");
}

// ---- lines ---------------------------------------------------------------------------

#[test]
fn default_is_fetchers_and_fds_are_the_clients() {
    let s = Server::start(&[]);
    let mut w = watcher(&s, "");
    let mut c = s.connect();
    let fd = own_fd(&mut c);
    c.set("foo", b"bar");
    assert_eq!(c.get("foo").as_deref(), Some(&b"bar"[..]));
    c.roundtrip(b"get nokey\r\n", b"END\r\n");
    // `set` looks the key up first (memcached's do_store_item); no store line: only
    // fetchers are watched.
    let lines = until(&mut w, "key=nokey");
    let masked: Vec<String> = lines
        .iter()
        .map(|l| {
            l.split_once(" type=")
                .map_or(l.clone(), |(_, t)| t.to_string())
        })
        .collect();
    assert_eq!(
        masked,
        [
            format!("item_get key=foo status=not_found clsid=0 cfd={fd} size=0"),
            format!("item_get key=foo status=found clsid=1 cfd={fd} size=3"),
            format!("item_get key=nokey status=not_found clsid=0 cfd={fd} size=0"),
        ]
    );
    // gids count up by one per line.
    let g: Vec<u64> = lines.iter().map(|l| gid(l)).collect();
    assert_eq!(
        g.windows(2).filter(|p| p[1] != p[0] + 1).count(),
        0,
        "{g:?}"
    );
}

#[test]
fn mutations_only_and_input_on_a_watcher_is_ignored() {
    let s = Server::start(&[]);
    let mut w = watcher(&s, "mutations");
    // What a watcher sends is not executed (its own set would log a store line).
    w.send(b"set mine 0 0 1\r\nx\r\n");
    let mut c = s.connect();
    c.roundtrip(b"get mine\r\n", b"END\r\n");
    c.roundtrip(b"add a 0 0 2\r\nhi\r\n", b"STORED\r\n");
    let fd = own_fd(&mut c);
    let l = next(&mut w);
    assert!(
        l.ends_with(&format!(
            " type=item_store key=a status=stored cmd=add ttl=0 clsid=1 cfd={fd} size=2"
        )),
        "{l}"
    );
}

/// The next connection-event line about the client on local port `port`; lines about
/// other connections (the test harness's start-up probe closing late) are skipped.
fn next_of(w: &mut Client, port: u16) -> String {
    let mine = format!(" rport={port} ");
    for _ in 0..100 {
        let l = next(w);
        if l.contains(&mine) {
            return l;
        }
    }
    panic!("no line about rport {port}");
}

fn local_port(c: &Client) -> u16 {
    c.stream.local_addr().map(|a| a.port()).unwrap_or(0)
}

#[test]
fn connection_events() {
    let s = Server::start(&[]);
    let mut w = watcher(&s, "connevents");
    let mut c = s.connect();
    let port = local_port(&c);
    let new = next_of(&mut w, port);
    assert!(
        new.contains(&format!(
            " type=conn_new rip=127.0.0.1 rport={port} transport=tcp cfd="
        )),
        "{new}"
    );
    c.send(b"quit\r\n");
    c.expect_closed();
    let close = next_of(&mut w, port);
    assert!(
        close.contains(&format!(
            " type=conn_close rip=127.0.0.1 rport={port} transport=tcp reason=normal cfd="
        )),
        "{close}"
    );
    assert_eq!(field(&new, "cfd"), field(&close, "cfd"));
    // A client that just goes away closes normally too.
    let mut d = s.connect();
    let port = local_port(&d);
    assert!(next_of(&mut w, port).contains(" type=conn_new "));
    d.shutdown_write();
    assert!(d.is_closed_within(Duration::from_secs(5)));
    let l = next_of(&mut w, port);
    assert!(
        l.contains(" type=conn_close ") && l.contains(" reason=normal "),
        "{l}"
    );
    // A line too long to be a command: memcached closes the connection as an error.
    let mut e = s.connect();
    let port = local_port(&e);
    assert!(next_of(&mut w, port).contains(" type=conn_new "));
    e.send(&[b'x'; 5000]);
    assert!(e.is_closed_within(Duration::from_secs(5)));
    let l = next_of(&mut w, port);
    assert!(
        l.contains(" type=conn_close ") && l.contains(" reason=error "),
        "{l}"
    );
}

#[test]
fn two_watchers_see_the_same_lines() {
    let s = Server::start(&[]);
    let mut a = watcher(&s, "fetchers");
    let mut b = watcher(&s, "fetchers mutations");
    let mut c = s.connect();
    c.set("k", b"v");
    c.roundtrip(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n");
    let la = until(&mut a, "status=found");
    let lb = until(&mut b, "status=found");
    assert_eq!(la.len(), 2, "{la:?}");
    assert_eq!(lb.len(), 3, "{lb:?}");
    assert_eq!(la[0], lb[0]);
    assert_eq!(la[1], lb[2]);
    assert!(
        lb[1].contains(" type=item_store key=k status=stored "),
        "{lb:?}"
    );
}

#[test]
fn closing_a_watcher() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let watchers = |c: &mut Client| parse_stat(&c.stats(), "log_watchers");
    let mut events = watcher(&s, "connevents");
    let w = watcher(&s, "fetchers");
    let port = w.stream.local_addr().map(|a| a.port()).unwrap_or(0);
    let mine = format!(" rport={port} ");
    let opened = until(&mut events, &mine).pop().unwrap_or_default();
    assert!(opened.contains(" type=conn_new "), "{opened}");
    assert!(wait_until(Duration::from_secs(5), || watchers(&mut c) == 2));
    drop(w);
    // memcached's logger closes a watcher whose peer went away as an error.
    let closed = until(&mut events, &mine).pop().unwrap_or_default();
    assert!(
        closed.contains(" type=conn_close ") && closed.contains(" reason=error "),
        "{closed}"
    );
    assert_eq!(field(&opened, "cfd"), field(&closed, "cfd"));
    assert!(wait_until(Duration::from_secs(5), || watchers(&mut c) == 1));
}

/// A watcher that never reads: other clients go on at full speed, its lines are dropped
/// and counted, and once it reads again a `skipped=N` line says how many it lost.
#[test]
fn a_watcher_that_never_reads_does_not_stall_others() {
    let s = Server::start(&[]);
    // Its socket buffers fill (loopback: a few MB at most), then its queue: the rest is
    // dropped. (A tiny SO_RCVBUF would be quicker to fill, but its window updates stay
    // below the loopback MSS and reading it back then waits on zero-window probes.)
    let mut w = watcher(&s, "fetchers");
    let mut c = s.connect();
    let keys: Vec<String> = (0..100).map(|i| format!("{i:0>200}")).collect();
    let get = format!("get {}\r\n", keys.join(" "));
    let start = Instant::now();
    // 30,000 fetches of 200-byte keys: about 9 MB of lines for the watcher.
    for _ in 0..300 {
        c.roundtrip(get.as_bytes(), b"END\r\n");
    }
    let took = start.elapsed();
    assert!(took < Duration::from_secs(60), "clients stalled: {took:?}");
    // memcached drops at its worker buffers instead (log_worker_dropped).
    if !is_memcached() {
        assert!(s.stat_u64("log_watcher_skipped") > 0);
        assert_eq!(s.stat_u64("log_worker_written"), 30_000);
    }
    // Read everything queued, then one more line: a count of what was lost goes before
    // the first line queued after each run of drops.
    let raw = w.read_quiet(Duration::from_secs(2), Duration::from_secs(60));
    c.roundtrip(b"get last\r\n", b"END\r\n");
    let mut lines: Vec<String> = String::from_utf8_lossy(&raw)
        .lines()
        .map(str::to_string)
        .collect();
    lines.extend(until(&mut w, "key=last"));
    if !is_memcached() {
        let reported: u64 = lines
            .iter()
            .filter_map(|l| l.strip_prefix("skipped="))
            .map(|n| n.parse::<u64>().unwrap_or(0))
            .sum();
        assert!(reported > 0, "no skipped= line");
        assert_eq!(reported, s.stat_u64("log_watcher_skipped"));
        let last = lines.iter().rev().nth(1).map(String::as_str);
        assert!(last.is_some_and(|l| l.starts_with("skipped=")), "{last:?}");
    }
}
