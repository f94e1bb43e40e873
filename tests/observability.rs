//! Observability: `stats conns`, `-o idle_timeout`, `stats detail`, the `-vv` command trace,
//! `-F` / `-X` / `-W`, and the `stats settings` values behind them.
//!
//! Single-server tests run against ferrocache (or `FERRO_TEST_SERVER=/usr/bin/memcached`);
//! the `diff_` tests run the same bytes against both and compare them, masking only what
//! legitimately differs (fd numbers, client ports, seconds, CAS uniques).
//! Every wait is bounded.

mod common;
use common::*;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

fn memcached() -> &'static Path {
    let p = Path::new(MEMCACHED);
    assert!(
        p.exists(),
        "{MEMCACHED} is missing (scripts/test.sh installs it)"
    );
    p
}

/// Sends `req` and reads until `quiet` passes without data.
fn ask(c: &mut Client, req: &[u8]) -> Vec<u8> {
    c.send(req);
    c.read_quiet(Duration::from_millis(150), Duration::from_secs(5))
}

/// Plays the same steps on fresh memcached and ferrocache servers started with `args`;
/// returns both reply streams (one entry per step).
fn both(args: &[&str], steps: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let run = |path: &Path| {
        let s = Server::start_with(path, args);
        let mut c = s.connect();
        steps.iter().map(|st| ask(&mut c, st)).collect::<Vec<_>>()
    };
    (run(memcached()), run(&ferrocache_path()))
}

fn assert_same(m: &[Vec<u8>], f: &[Vec<u8>], steps: &[&[u8]]) {
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(
            esc(&m[i]),
            esc(&f[i]),
            "step {i} ({}): memcached vs ferrocache",
            esc(step)
        );
    }
}

// ---- stats conns -----------------------------------------------------------------------

/// `stats conns` as (fd, field, value) triples.
fn conns(c: &mut Client) -> Vec<(i32, String, String)> {
    c.send(b"stats conns\r\n");
    let raw = c.read_until_end();
    let text = String::from_utf8_lossy(&raw).to_string();
    let mut out = Vec::new();
    for line in text.split("\r\n") {
        if line.is_empty() || line == "END" {
            continue;
        }
        let rest = line
            .strip_prefix("STAT ")
            .unwrap_or_else(|| panic!("not a STAT line {line:?}"));
        let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
        let (fd, field) = name
            .split_once(':')
            .unwrap_or_else(|| panic!("no fd in {name:?}"));
        out.push((
            fd.parse().unwrap_or_else(|_| panic!("fd {fd:?}")),
            field.to_string(),
            value.to_string(),
        ));
    }
    out
}

fn local_port(s: &TcpStream) -> u16 {
    s.local_addr().unwrap().port()
}

/// Opens connections in known states, then checks the `stats conns` blocks.
fn stats_conns_scenario(s: &Server) -> String {
    let mut fresh = s.connect(); // never sends: conn_new_cmd
    let mut idle = s.connect(); // one command done: conn_read
    idle.send(b"version\r\n");
    let _ = idle.read_line();
    let mut nread = s.connect(); // waiting for a data block: conn_nread
    nread.send(b"set k 0 0 5\r\nab");
    let mut swallow = s.connect(); // too large, being swallowed: conn_swallow
    swallow.send(b"set k 0 0 5000000\r\nab");
    let mut partial = s.connect(); // half a command line: conn_read
    partial.send(b"get k");
    std::thread::sleep(Duration::from_millis(300));
    let mut me = s.connect();
    let rows = conns(&mut me);

    let by_port = |port: u16| -> HashMap<String, String> {
        let addr = format!("tcp:127.0.0.1:{port}");
        let fd = rows
            .iter()
            .find(|(_, f, v)| f == "addr" && *v == addr)
            .map(|r| r.0)
            .unwrap_or_else(|| panic!("no block for {addr}: {rows:?}"));
        rows.iter()
            .filter(|r| r.0 == fd)
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect()
    };
    // The listener.
    let l = by_port(s.port);
    assert_eq!(l["state"], "conn_listening");
    assert!(!l.contains_key("listen_addr"));
    l["secs_since_last_cmd"].parse::<u64>().unwrap();
    // Clients: fields in memcached's order, states as memcached names them.
    let listen = format!("tcp:127.0.0.1:{}", s.port);
    for (c, state) in [
        (&fresh, "conn_new_cmd"),
        (&idle, "conn_read"),
        (&nread, "conn_nread"),
        (&swallow, "conn_swallow"),
        (&partial, "conn_read"),
        (&me, "conn_parse_cmd"),
    ] {
        let b = by_port(local_port(&c.stream));
        assert_eq!(b["listen_addr"], listen);
        assert_eq!(b["state"], state, "{b:?}");
        assert!(b["secs_since_last_cmd"].parse::<u64>().unwrap() <= 2);
    }
    // Blocks come in fd order, each addr [listen_addr] state secs_since_last_cmd.
    let fds: Vec<i32> = rows.iter().map(|r| r.0).collect();
    assert!(
        fds.windows(2).all(|w| w[0] <= w[1]),
        "not in fd order: {fds:?}"
    );
    let mut shape = String::new();
    for (_, f, _) in &rows {
        shape.push_str(f);
        shape.push(' ');
    }
    let _ = (&mut fresh, &mut partial);
    shape
}

#[test]
fn stats_conns_shows_every_socket_with_its_state() {
    let s = Server::start(&[]);
    stats_conns_scenario(&s);
}

#[test]
fn diff_stats_conns_field_sequence() {
    // Same connections, same sequence of fields (fds, ports and seconds differ).
    let m = Server::start_with(memcached(), &[]);
    let f = Server::start_with(&ferrocache_path(), &[]);
    assert_eq!(stats_conns_scenario(&m), stats_conns_scenario(&f));
}

#[test]
fn stats_conns_forgets_closed_connections() {
    let s = Server::start(&[]);
    let gone = s.connect();
    let port = local_port(&gone.stream);
    drop(gone);
    let mut me = s.connect();
    let addr = format!("tcp:127.0.0.1:{port}");
    let ok = wait_until(Duration::from_secs(3), || {
        !conns(&mut me)
            .iter()
            .any(|(_, f, v)| f == "addr" && *v == addr)
    });
    assert!(ok, "closed connection still listed");
}

// ---- idle_timeout ----------------------------------------------------------------------

#[test]
fn idle_timeout_closes_idle_connections_silently() {
    let s = Server::start(&["-o", "idle_timeout=1"]);
    let mut idle = s.connect();
    idle.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    let mut fresh = s.connect();
    // A connection in the middle of a request (data block pending) is not kicked.
    let mut busy = s.connect();
    busy.send(b"set b 0 0 5\r\nab");
    // An active one is not either.
    let mut active = s.connect();
    let t0 = Instant::now();
    // memcached: more than N whole seconds without a command (its clock ticks per second).
    assert!(!idle.is_closed_within(Duration::from_millis(700)));
    while t0.elapsed() < Duration::from_millis(3500) {
        active.roundtrip(b"get a\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n");
        std::thread::sleep(Duration::from_millis(250));
    }
    // Closed without a word by now (expect_closed: no bytes, EOF within its timeout).
    idle.expect_closed();
    fresh.expect_closed();
    assert!(!busy.is_closed_within(Duration::from_millis(10)));
    busy.roundtrip(b"cde\r\n", b"STORED\r\n");
    let st = active.stats();
    assert_eq!(parse_stat(&st, "idle_kicks"), 2, "{st:?}");
    let set = active.stats_arg("settings");
    assert_eq!(set["idle_timeout"], "1");
}

#[test]
fn no_idle_kicks_stat_without_idle_timeout() {
    // memcached prints idle_kicks only while an idle timeout is set.
    let s = Server::start(&[]);
    let st = s.stats();
    assert!(!st.contains_key("idle_kicks"));
}

// ---- stats detail ----------------------------------------------------------------------

const DETAIL_STEPS: &[&[u8]] = &[
    b"stats detail\r\n",
    b"stats detail foo\r\n",
    b"stats detail ON\r\n",
    b"stats detail dump\r\n",
    b"set a:b 0 0 1\r\nx\r\n",
    b"stats detail on\r\n",
    b"stats detail on x\r\n",
    b"set a:b 0 0 1\r\nx\r\n",
    b"get a:b a:c nokey\r\n",
    b"delete a:b\r\n",
    b"set x 0 0 1\r\nx\r\n",
    b"get x\r\n",
    b"add b:1 0 0 1\r\nx\r\n",
    b"add b:1 0 0 1\r\nx\r\n",
    b"replace b:1 0 0 1\r\ny\r\n",
    b"append b:1 0 0 1\r\nx\r\n",
    b"prepend b:1 0 0 1\r\nx\r\n",
    b"delete b:2\r\n",
    b"incr b:1 1\r\n",
    b"touch b:1 10\r\n",
    b"gat 10 b:1\r\n",
    b"mg b:1 v\r\n",
    b"ms b:3 1\r\nx\r\n",
    b"md b:3\r\n",
    b"set :x 0 0 1\r\nx\r\n",
    b"get :x c: :: d:1:2\r\n",
    b"set d/1 0 0 1\r\nx\r\n",
    b"stats detail dump\r\n",
    b"stats detail off\r\n",
    b"set a:z 0 0 1\r\nx\r\n",
    b"stats detail dump\r\n",
    b"stats reset\r\n",
    b"stats detail dump\r\n",
];

#[test]
fn diff_stats_detail() {
    let (m, f) = both(&[], DETAIL_STEPS);
    assert_same(&m, &f, DETAIL_STEPS);
    // Sanity: the interesting step really counted something.
    let dump = String::from_utf8_lossy(&f[27]).to_string();
    assert!(
        dump.contains("PREFIX a get 2 hit 1 set 1 del 1\r\n"),
        "{dump}"
    );
}

#[test]
fn diff_stats_detail_with_delimiter() {
    let steps: &[&[u8]] = &[
        b"stats detail on\r\n",
        b"set d/1 0 0 1\r\nx\r\n",
        b"set a:1 0 0 1\r\nx\r\n",
        b"get d/1 e/2\r\n",
        b"stats detail dump\r\n",
        b"stats settings\r\n",
    ];
    let (m, f) = both(&["-D", "/"], &steps[..5]);
    assert_same(&m, &f, &steps[..5]);
    let s = Server::start(&["-D", "/"]);
    let mut c = s.connect();
    c.roundtrip(steps[0], b"OK\r\n");
    let set = c.stats_arg("settings");
    assert_eq!(set["stat_key_prefix"], "/");
    assert_eq!(set["detail_enabled"], "yes");
}

// ---- -F / -X / -W ----------------------------------------------------------------------

const REFUSED_STEPS: &[&[u8]] = &[
    b"flush_all\r\n",
    b"flush_all noreply\r\n",
    b"flush_all 0\r\n",
    b"flush_all x\r\n",
    b"flush_all 1 2 3\r\n",
    b"stats cachedump 1 1\r\n",
    b"stats cachedump\r\n",
    b"lru_crawler metadump all\r\n",
    b"lru_crawler metadump\r\n",
    b"watch\r\n",
    b"watch fetchers\r\n",
    b"watch noreply\r\n",
    b"get a\r\n",
];

#[test]
fn diff_flush_dump_watch_disabled() {
    let (m, f) = both(&["-F", "-X", "-W"], REFUSED_STEPS);
    assert_same(&m, &f, REFUSED_STEPS);
    assert_eq!(f[0], b"CLIENT_ERROR flush_all not allowed\r\n");
}

#[test]
fn diff_flush_all_arguments_and_cachedump_errors() {
    // Without the flags: the argument errors memcached checks after them.
    let steps: &[&[u8]] = &[
        b"flush_all x\r\n",
        b"flush_all x noreply\r\n",
        b"flush_all noreply x\r\n",
        b"flush_all 0\r\n",
        b"stats cachedump\r\n",
        b"stats cachedump 1\r\n",
        b"stats cachedump x y\r\n",
        b"stats cachedump -1 1\r\n",
        b"stats cachedump 64 1\r\n",
        b"lru_crawler metadump all extra\r\n",
        b"stats\r\n",
    ];
    let (m, f) = both(&[], &steps[..10]);
    assert_same(&m, &f, &steps[..10]);
    // memcached counts every flush_all it parsed, refused or not.
    let s = Server::start(&["-F"]);
    let mut c = s.connect();
    for st in &REFUSED_STEPS[..5] {
        ask(&mut c, st);
    }
    assert_eq!(parse_stat(&c.stats(), "cmd_flush"), 4);
}

#[test]
fn diff_metadump_without_crawler() {
    let steps: &[&[u8]] = &[b"lru_crawler metadump all\r\n"];
    let (m, f) = both(&["-X", "-o", "no_lru_crawler"], steps);
    assert_same(&m, &f, steps);
    assert_eq!(f[0], b"CLIENT_ERROR lru crawler disabled\r\n");
}

#[test]
fn diff_binary_flush_disabled() {
    // memcached -F answers Flush and FlushQ with "Auth failure." (status 0x20).
    let flush = |op: u8, opaque: u32| {
        let mut h = vec![0x80, op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        h.extend_from_slice(&opaque.to_be_bytes());
        h.extend_from_slice(&[0; 8]);
        h
    };
    let mut both_q = flush(0x18, 1);
    both_q.extend(flush(0x0a, 2));
    let steps_owned = [flush(0x08, 0xdead_beef), both_q];
    let steps: Vec<&[u8]> = steps_owned.iter().map(|v| v.as_slice()).collect();
    let (m, f) = both(&["-F"], &steps);
    assert_same(&m, &f, &steps);
    assert_eq!(&f[0][..8], &[0x81, 0x08, 0, 0, 0, 0, 0, 0x20]);
    assert!(f[0].ends_with(b"Auth failure."));
}

// ---- stats settings --------------------------------------------------------------------

#[test]
fn diff_stats_settings_values() {
    let args = [
        "-F",
        "-X",
        "-D",
        "#",
        "-o",
        "idle_timeout=7,no_lru_crawler,track_sizes,no_maxconns_fast,slab_chunk_max=262144",
    ];
    let get = |path: &Path| {
        let s = Server::start_with(path, &args);
        let mut c = s.connect();
        c.roundtrip(b"stats detail on\r\n", b"OK\r\n");
        c.stats_arg("settings")
    };
    let (m, f) = (get(memcached()), get(&ferrocache_path()));
    for name in [
        "stat_key_prefix",
        "detail_enabled",
        "maxconns_fast",
        "slab_reassign",
        "slab_chunk_max",
        "lru_crawler",
        "flush_enabled",
        "dump_enabled",
        "idle_timeout",
        "track_sizes",
    ] {
        assert_eq!(f.get(name), m.get(name), "stats settings {name}");
    }
}

// ---- -vv trace -------------------------------------------------------------------------

/// `<17 x` / `>17 x` / `17: x` with the fd replaced by `FD`.
fn mask_fd(l: &str) -> String {
    let (dir, rest) = match l.chars().next() {
        Some(c @ ('<' | '>')) => (c.to_string(), &l[1..]),
        _ => (String::new(), l),
    };
    let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        format!("{dir}FD{}", &rest[digits..])
    } else {
        l.to_string()
    }
}

/// The server log without ferrocache's `[time LEVEL target] ` prefixes, fds as `FD`.
fn trace_lines(s: &Server) -> Vec<String> {
    s.log()
        .lines()
        .map(|l| match l.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map(|x| x.1).unwrap_or(rest),
            None => l,
        })
        .map(mask_fd)
        .collect()
}

/// Requires `want` to appear in `lines` in this order (other lines may come between).
fn assert_in_order(lines: &[String], want: &[&str]) {
    let mut i = 0;
    for w in want {
        match lines[i..].iter().position(|l| l == w) {
            Some(p) => i += p + 1,
            None => panic!("trace line {w:?} missing (after line {i}); trace:\n{lines:#?}"),
        }
    }
}

fn wait_for_log(s: &Server, needle: &str) {
    let ok = wait_until(Duration::from_secs(3), || s.log().contains(needle));
    assert!(ok, "log never showed {needle:?}:\n{}", s.log());
}

#[test]
fn vv_traces_commands_and_replies() {
    let s = Server::start(&["-vv"]);
    let mut c = s.connect();
    c.roundtrip(b"set foo 0 0 3\r\nbar\r\n", b"STORED\r\n");
    c.roundtrip(b"get foo nope\r\n", b"VALUE foo 0 3\r\nbar\r\nEND\r\n");
    c.send(b"set q 0 0 1 noreply\r\nx\r\n");
    c.roundtrip(
        b"incr foo 1\r\n",
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    );
    c.roundtrip(b"bogus\r\n", b"ERROR\r\n");
    c.roundtrip(b"stats detail on\r\n", b"OK\r\n");
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    c.send(b"quit\r\n");
    c.expect_closed();
    wait_for_log(&s, "connection closed.");
    let lines = trace_lines(&s);
    assert_in_order(
        &lines,
        &[
            "<FD new auto-negotiating client connection",
            "FD: Client using the ascii protocol",
            "<FD set foo 0 0 3",
            ">FD STORED",
            "<FD get foo nope",
            ">FD sending key foo",
            ">FD END",
            "<FD set q 0 0 1 noreply",
            ">FD NOREPLY STORED",
            "<FD incr foo 1",
            ">FD CLIENT_ERROR cannot increment or decrement non-numeric value",
            "<FD bogus",
            ">FD ERROR",
            "<FD stats detail on",
            ">FD OK",
            "<FD mn",
            ">FD MN",
            "<FD quit",
            "<FD connection closed.",
        ],
    );
    // Data blocks are never logged.
    assert!(!lines.iter().any(|l| l.contains("bar")), "{lines:#?}");
}

#[test]
fn verbosity_2_turns_the_trace_on_at_run_time() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"get before\r\n", b"END\r\n");
    c.roundtrip(b"verbosity 2\r\n", b"OK\r\n");
    c.roundtrip(b"get after\r\n", b"END\r\n");
    c.roundtrip(b"verbosity 0\r\n", b"OK\r\n");
    c.roundtrip(b"get later\r\n", b"END\r\n");
    wait_for_log(&s, "get after");
    std::thread::sleep(Duration::from_millis(200));
    let log = s.log();
    assert!(!log.contains("get before"), "{log}");
    assert!(!log.contains("get later"), "{log}");
    let lines = trace_lines(&s);
    // memcached: the reply to `verbosity 2` is traced (it is on by then), the command not.
    assert_in_order(
        &lines,
        &[">FD OK", "<FD get after", ">FD END", "<FD verbosity 0"],
    );
}

#[test]
fn vv_never_logs_ascii_auth_credentials() {
    let dir = std::env::temp_dir().join(format!("ferro-obs-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("pw");
    std::fs::File::create(&pw)
        .and_then(|mut f| f.write_all(b"alice:s3cretpw\n"))
        .unwrap();
    let s = Server::start(&["-vv", "-Y", pw.to_str().unwrap()]);
    let mut c = s.connect();
    c.roundtrip(b"set x 0 0 14\r\nalice s3cretpw\r\n", b"STORED\r\n");
    c.roundtrip(b"set x 0 0 14\r\nalice s3cretpw\r\n", b"STORED\r\n");
    c.roundtrip(b"get y\r\n", b"END\r\n");
    wait_for_log(&s, "get y");
    assert!(!s.log().contains("s3cretpw"), "{}", s.log());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vv_trace_goes_to_the_logfile() {
    if is_memcached() {
        return; // --logfile is ferrocache's
    }
    let path = std::env::temp_dir().join(format!("ferro-obs-trace-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let s = Server::start(&["-vv", "--logfile", path.to_str().unwrap()]);
    let mut c = s.connect();
    c.roundtrip(b"get traced\r\n", b"END\r\n");
    let ok = wait_until(Duration::from_secs(3), || {
        std::fs::read_to_string(&path).is_ok_and(|l| l.contains("get traced"))
    });
    let log = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    assert!(ok, "trace not in the log file:\n{log}");
    assert!(log.contains("ferrocache::trace"), "{log}");
}

#[test]
fn diff_vv_trace_lines() {
    // The same session against both; the trace lines (fds masked, ferrocache's log prefix
    // removed, our VERSION text aside) are the same.
    let steps: &[&[u8]] = &[
        b"set a 0 0 1 noreply\r\nx\r\n",
        b"get a b\r\n",
        b"set n 0 0 1\r\n5\r\n",
        b"incr n 3\r\n",
        b"decr n 1 noreply\r\n",
        b"bogus\r\n",
        b"mg a v\r\n",
        b"md zz\r\n",
        b"stats\r\n",
        b"touch a 1\r\n",
        b"get\r\n",
        b"stats detail dump\r\n",
        b"stats detail x\r\n",
        b"flush_all\r\n",
    ];
    let run = |path: &Path| {
        let s = Server::start_with(path, &["-vv"]);
        {
            let mut c = s.connect();
            for st in steps {
                ask(&mut c, st);
            }
        }
        // The start-up probe's connection and ours.
        let ok = wait_until(Duration::from_secs(3), || {
            s.log().matches("connection closed.").count() >= 2
        });
        assert!(ok, "{}", s.log());
        trace_lines(&s)
            .into_iter()
            .filter(|l| l.starts_with('<') || l.starts_with('>') || l.starts_with("FD:"))
            .filter(|l| !l.contains("server listening"))
            .collect::<Vec<_>>()
    };
    let (m, f) = (run(memcached()), run(&ferrocache_path()));
    // The start-up probe's open/close lines interleave with ours at random: compare the
    // rest, and the number of those lines.
    let split = |v: Vec<String>| -> (Vec<String>, usize) {
        let events = [
            "<FD new auto-negotiating client connection",
            "<FD connection closed.",
        ];
        let n = v.iter().filter(|l| events.contains(&l.as_str())).count();
        (
            v.into_iter()
                .filter(|l| !events.contains(&l.as_str()))
                .collect(),
            n,
        )
    };
    let ((m, mn), (f, fnum)) = (split(m), split(f));
    assert_eq!(m, f);
    assert_eq!((mn, fnum), (4, 4));
}
