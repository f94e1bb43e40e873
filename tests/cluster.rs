//! Auto discovery and pool changes (ferrocache only: memcached has no `config` command).
//!
//! Byte-exact discovery replies (text, legacy key, binary 0x60), the admin commands on and
//! off, and a multi-node pool on loopback ports driven through `ferrocache::client`,
//! including a node killed and restarted under it (misses, not errors).

mod common;
use common::*;
use ferrocache::client::{Client as PoolClient, ClientOptions};
use ferrocache::cluster::{ClusterConfig, Node, NodeList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SYNC: &str = "1"; // --cluster-sync-interval, seconds
/// The pool secret every node of these tests shares.
const SECRET: &str = "test-pool-secret-0123456789";

/// A file holding `secret` (one per process and name, removed by the OS temp cleaner).
/// Written beside it and renamed into place: tests run in parallel threads, and a node
/// another test started could read the file between a rewrite's truncation and its write
/// (it then exited at start-up: "the secret must be at least 16 characters").
fn secret_file(name: &str, secret: &str) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let p = dir.join(format!("ferro-secret-{pid}-{name}"));
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("ferro-secret-{pid}-{name}.{n}.tmp"));
    std::fs::write(&tmp, format!("{secret}\n")).expect("secret file");
    std::fs::rename(&tmp, &p).expect("secret file rename");
    p.to_string_lossy().into_owned()
}

/// `payload` sealed with the pool secret, as members push it.
fn sealed(payload: &str) -> Vec<u8> {
    ferrocache::cluster::seal::Secret::from_file_text(SECRET)
        .expect("secret")
        .seal(payload.as_bytes())
}

fn node_args(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--cluster-admin",
        "--cluster-sync-interval",
        SYNC,
        "--cluster-secret-file",
        &secret_file("pool", SECRET),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn start(extra: &[&str]) -> Server {
    let args = node_args(extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(&ferrocache_path(), &refs)
}

/// `(version, payload)` of a node's `config get cluster`, with the length checked.
fn config_of(port: u16) -> (u64, String) {
    let mut c = Client::connect(port);
    c.send(b"config get cluster\r\n");
    let header = c.read_line_str();
    let parts: Vec<&str> = header.trim_end().split(' ').collect();
    assert_eq!(&parts[..3], &["CONFIG", "cluster", "0"], "{header:?}");
    let len: usize = parts[3].parse().expect("length");
    let payload = c.read_exact_n(len);
    c.expect(b"\r\nEND\r\n");
    let text = String::from_utf8(payload).expect("utf-8");
    assert!(text.ends_with('\n'), "payload ends with LF: {text:?}");
    let version: u64 = text.lines().next().unwrap().parse().expect("version");
    assert!(version >= 1);
    (version, text)
}

fn nodes_in(payload: &str) -> Vec<String> {
    payload
        .lines()
        .nth(1)
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Waits (bounded) until every port serves the same payload listing `want` nodes.
fn converge(ports: &[u16], want: usize, limit: Duration) -> (u64, Duration) {
    let t0 = Instant::now();
    loop {
        let all: Vec<(u64, String)> = ports.iter().map(|&p| config_of(p)).collect();
        let same = all.iter().all(|c| c == &all[0]);
        if same && nodes_in(&all[0].1).len() == want {
            return (all[0].0, t0.elapsed());
        }
        assert!(
            t0.elapsed() < limit,
            "no convergence on {want} nodes within {limit:?}: {all:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn discovery_reply_is_byte_exact() {
    let s = start(&[]);
    let me = format!("127.0.0.1|127.0.0.1|{}", s.port);
    let payload = format!("1\n{me}\n");
    let mut c = s.connect();
    c.roundtrip(
        b"config get cluster\r\n",
        format!("CONFIG cluster 0 {}\r\n{payload}\r\nEND\r\n", payload.len()).as_bytes(),
    );
    // The legacy key, as a normal item (alone and among other keys).
    c.roundtrip(
        b"get AmazonElastiCache:cluster\r\n",
        format!(
            "VALUE AmazonElastiCache:cluster 0 {}\r\n{payload}\r\nEND\r\n",
            payload.len()
        )
        .as_bytes(),
    );
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(
        b"get a AmazonElastiCache:cluster\r\n",
        format!(
            "VALUE a 0 1\r\nx\r\nVALUE AmazonElastiCache:cluster 0 {}\r\n{payload}\r\nEND\r\n",
            payload.len()
        )
        .as_bytes(),
    );
    // Unknown sub-commands and keys.
    c.roundtrip(b"config get foo\r\n", b"ERROR\r\n");
    c.roundtrip(b"config fetch cluster\r\n", b"ERROR\r\n");
    c.roundtrip(b"config\r\n", b"ERROR\r\n");

    // Binary 0x60: like a Get hit with 4 bytes of flags 0 and the payload.
    let mut b = s.connect();
    let key = b"cluster";
    let mut req = vec![0x80, 0x60, 0, key.len() as u8, 0, 0, 0, 0];
    req.extend_from_slice(&(key.len() as u32).to_be_bytes());
    req.extend_from_slice(&0xdead_beef_u32.to_be_bytes());
    req.extend_from_slice(&[0; 8]);
    req.extend_from_slice(key);
    b.send(&req);
    let h = b.read_exact_n(24);
    assert_eq!(&h[..2], &[0x81, 0x60]);
    assert_eq!(&h[6..8], &[0, 0], "status");
    assert_eq!(h[4], 4, "extras");
    let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    assert_eq!(&h[12..16], &0xdead_beef_u32.to_be_bytes(), "opaque");
    let rest = b.read_exact_n(body);
    assert_eq!(&rest[..4], &[0, 0, 0, 0]);
    assert_eq!(&rest[4..], payload.as_bytes());
}

#[test]
fn admin_commands_on_and_off() {
    // Off by default: answered as unknown commands, list unchanged.
    let plain = Server::start_with(&ferrocache_path(), &[]);
    let mut c = plain.connect();
    let p9 = "9\nh|1.2.3.4|11211\n";
    c.roundtrip(
        format!("config set cluster 0 {}\r\n{p9}\r\n", p9.len()).as_bytes(),
        b"ERROR\r\n",
    );
    c.roundtrip(b"config delete cluster\r\n", b"ERROR\r\n");
    assert_eq!(config_of(plain.port).0, 1);

    // On, but the connection did not authenticate (no -S/-Y) and the list is not sealed:
    // refused, list unchanged.
    let s = start(&[]);
    let mut c = s.connect();
    let p = "5\nb||11212 a|10.0.0.1|11211\n";
    c.roundtrip(
        format!("config set cluster 0 {}\r\n{p}\r\n", p.len()).as_bytes(),
        b"CLIENT_ERROR unauthenticated\r\n",
    );
    c.roundtrip(
        b"config delete cluster\r\n",
        b"CLIENT_ERROR unauthenticated\r\n",
    );
    assert_eq!(config_of(s.port).0, 1);
    // A list sealed with another secret: refused.
    let other = ferrocache::cluster::seal::Secret::from_file_text("another-pool-secret-xyz")
        .expect("secret")
        .seal(p.as_bytes());
    let mut req = format!("config set cluster 0 {}\r\n", other.len()).into_bytes();
    req.extend_from_slice(&other);
    req.extend_from_slice(b"\r\n");
    c.roundtrip(&req, b"CLIENT_ERROR bad cluster signature\r\n");
    assert_eq!(config_of(s.port).0, 1);

    // An operator authenticated with -Y: accepted.
    let pw = std::env::temp_dir().join(format!("ferro-cluster-pw-{}", std::process::id()));
    std::fs::write(&pw, "alice:secret\n").expect("pw file");
    let s = start(&["-Y", pw.to_str().expect("path")]);
    let mut c = s.connect();
    c.roundtrip(b"set auth 0 0 12\r\nalice secret\r\n", b"STORED\r\n");
    c.roundtrip(
        format!("config set cluster 0 {}\r\n{p}\r\n", p.len()).as_bytes(),
        b"STORED\r\n",
    );
    // Served sorted by host.
    assert_eq!(config_of_authed(s.port), "5\na|10.0.0.1|11211 b||11212\n");
    // Older or equal versions are ignored, and answered so.
    let old = "4\nz||1\n";
    c.roundtrip(
        format!("config set cluster 0 {}\r\n{old}\r\n", old.len()).as_bytes(),
        b"NOT_STORED\r\n",
    );
    // A version far ahead (it would lock the pool) is refused.
    let far = "18446744073709551615\nz||1\n";
    c.roundtrip(
        format!("config set cluster 0 {}\r\n{far}\r\n", far.len()).as_bytes(),
        b"CLIENT_ERROR cluster version too far ahead\r\n",
    );
    assert_eq!(config_of_authed(s.port), "5\na|10.0.0.1|11211 b||11212\n");
    // Bad payloads are rejected without changing the list.
    for bad in [
        "6\nno-port||\n",
        "0\na||1\n",
        "6\na||1",
        "x\na||1\n",
        "6\na|not-ip|1\n",
    ] {
        c.roundtrip(
            format!("config set cluster 0 {}\r\n{bad}\r\n", bad.len()).as_bytes(),
            b"CLIENT_ERROR bad data chunk\r\n",
        );
    }
    assert_eq!(config_of_authed(s.port), "5\na|10.0.0.1|11211 b||11212\n");
    c.roundtrip(b"config delete cluster\r\n", b"DELETED\r\n");
    assert_eq!(config_of_authed(s.port), "6\n\n");
    c.roundtrip(b"config delete cluster\r\n", b"NOT_FOUND\r\n");
    let _ = std::fs::remove_file(pw);

    // A member's push, sealed with the pool secret, needs no -Y.
    let s = start(&[]);
    let mut c = s.connect();
    let body = sealed(p);
    let mut req = format!("config set cluster 0 {}\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"\r\n");
    c.roundtrip(&req, b"STORED\r\n");
    assert_eq!(config_of(s.port).1, "5\na|10.0.0.1|11211 b||11212\n");
}

/// `config get cluster` payload over a connection authenticated with -Y as alice.
fn config_of_authed(port: u16) -> String {
    let mut c = Client::connect(port);
    c.roundtrip(b"set auth 0 0 12\r\nalice secret\r\n", b"STORED\r\n");
    c.send(b"config get cluster\r\n");
    let header = c.read_line_str();
    let len: usize = header
        .trim_end()
        .rsplit(' ')
        .next()
        .expect("len")
        .parse()
        .expect("len");
    let payload = c.read_exact_n(len);
    c.expect(b"\r\nEND\r\n");
    String::from_utf8(payload).expect("utf-8")
}

#[test]
fn cluster_file_and_sighup() {
    let dir = std::env::temp_dir().join(format!("ferro-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nodes");
    std::fs::write(&file, "# pool\nversion 3\nb||11212\na|10.0.0.1|11211\n").unwrap();
    let path = file.to_string_lossy().to_string();
    let s = start(&["--cluster-file", &path]);
    assert_eq!(config_of(s.port).1, "3\na|10.0.0.1|11211 b||11212\n");
    // A malformed file is rejected and the running list kept.
    std::fs::write(&file, "version 4\na|10.0.0.1|11211\nbroken line\n").unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(config_of(s.port).1, "3\na|10.0.0.1|11211 b||11212\n");
    assert!(
        s.log().contains("line 3"),
        "log names the line: {}",
        s.log()
    );
    // A good file is picked up (SIGHUP, or the mtime poll).
    std::fs::write(&file, "version 4\na|10.0.0.1|11211\n").unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status();
    let t0 = Instant::now();
    while config_of(s.port).0 != 4 {
        assert!(t0.elapsed() < Duration::from_secs(5), "file not re-read");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(config_of(s.port).1, "4\na|10.0.0.1|11211\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pool_grows_and_shrinks() {
    let interval = Duration::from_secs(1);
    let a = start(&[]);
    let join_a = format!("127.0.0.1:{}", a.port);
    let b = start(&["--cluster-join", &join_a]);
    let c = start(&["--cluster-join", &join_a]);
    let ports3 = [a.port, b.port, c.port];
    converge(&ports3, 3, Duration::from_secs(10));

    // Errors stay errors here (and the former 1 s timeouts): every call must reach a node.
    let opts = ClientOptions {
        poll_interval: None,
        errors_as_misses: false,
        connect_timeout: Duration::from_secs(1),
        io_timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    };
    let client = PoolClient::new(&join_a, opts).expect("client");
    assert_eq!(client.nodes().len(), 3);
    let n = 30_000;
    let keys: Vec<String> = (0..n).map(|i| format!("key:{i}")).collect();
    let mut owner3 = HashMap::new();
    for k in &keys {
        assert!(client.set(k, k.as_bytes(), 0, 0).expect("set"));
        owner3.insert(k.clone(), client.server_for(k).expect("owner").port);
    }

    // Grow to 4 by --cluster-join.
    let t_join = Instant::now();
    let d = start(&["--cluster-join", &join_a, "--cluster-leave-on-shutdown"]);
    let ports4 = [a.port, b.port, c.port, d.port];
    let (v4, _) = converge(&ports4, 4, interval * 2 + Duration::from_secs(3));
    let took = t_join.elapsed();
    assert!(
        took <= interval * 2 + Duration::from_secs(3),
        "converged in {took:?}"
    );
    assert!(client.refresh().expect("refresh"));
    assert_eq!((client.version(), client.nodes().len()), (v4, 4));
    let moved = keys
        .iter()
        .filter(|k| client.server_for(k).expect("owner").port != owner3[*k])
        .count();
    let hits = keys
        .iter()
        .filter(|k| client.get(k).expect("get").is_some())
        .count();
    let moved_f = moved as f64 / n as f64;
    let hit_f = hits as f64 / n as f64;
    println!("join: converged in {took:?}; moved {moved_f:.3}, still hit {hit_f:.3}");
    assert!(moved_f <= 0.30, "moved {moved_f}");
    assert!(hit_f >= 0.70, "hit {hit_f}");

    // Fresh keys over 4 nodes, then D leaves: exactly D's keys miss.
    let fresh: Vec<String> = (0..n).map(|i| format!("fresh:{i}")).collect();
    let mut on_d = std::collections::HashSet::new();
    for k in &fresh {
        assert!(client.set(k, b"v", 0, 0).expect("set"));
        if client.server_for(k).expect("owner").port == d.port {
            on_d.insert(k.clone());
        }
    }
    let mut d = d;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &d.pid().to_string()])
        .status();
    let st = d.wait_exit(Duration::from_secs(15)).expect("D exits");
    assert!(st.success(), "D exit status {st:?}");
    let (v3, _) = converge(&ports3, 3, interval * 2 + Duration::from_secs(3));
    assert!(v3 > v4);
    assert!(client.refresh().expect("refresh"));
    assert_eq!(client.nodes().len(), 3);
    let missed: std::collections::HashSet<String> = fresh
        .iter()
        .filter(|k| client.get(k).expect("get").is_none())
        .cloned()
        .collect();
    println!(
        "leave: {} of {n} fresh keys were on the leaving node; {} missed",
        on_d.len(),
        missed.len()
    );
    assert_eq!(missed, on_d, "only the leaving node's keys miss");
    drop((a, b, c));
}

#[test]
fn concurrent_joins_all_end_up_in() {
    let a = start(&[]);
    let join_a = format!("127.0.0.1:{}", a.port);
    let joiners: Vec<Server> = (0..3)
        .map(|_| start(&["--cluster-join", &join_a]))
        .collect();
    let mut ports = vec![a.port];
    ports.extend(joiners.iter().map(|s| s.port));
    converge(&ports, 4, Duration::from_secs(15));
}

#[test]
fn a_list_pushed_to_one_node_reaches_the_whole_pool_within_two_intervals() {
    let a = start(&[]);
    let join_a = format!("127.0.0.1:{}", a.port);
    let b = start(&["--cluster-join", &join_a]);
    let c = start(&["--cluster-join", &join_a]);
    let ports = [a.port, b.port, c.port];
    let (v, _) = converge(&ports, 3, Duration::from_secs(10));
    // An operator adds an (unstarted) fourth entry by pushing to C only.
    let (_, payload) = config_of(c.port);
    let mut nodes = nodes_in(&payload);
    nodes.push("z-extra|127.0.0.1|1".into());
    let new = format!("{}\n{}\n", v + 1, nodes.join(" "));
    let t0 = Instant::now();
    let body = sealed(&new);
    let mut req = format!("config set cluster 0 {}\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"\r\n");
    c.connect().roundtrip(&req, b"STORED\r\n");
    let (v2, took) = converge(
        &ports,
        4,
        Duration::from_secs(2) + Duration::from_millis(500),
    );
    assert_eq!(v2, v + 1);
    println!(
        "pushed to one node: pool converged in {:?}",
        t0.elapsed().max(took)
    );
}

#[test]
fn a_killed_node_is_delisted_at_exactly_the_next_version() {
    let fail = ["--cluster-fail-timeout", "2"];
    let a = start(&fail);
    let join_a = format!("127.0.0.1:{}", a.port);
    let b = start(&[&fail[..], &["--cluster-join", &join_a]].concat());
    let c = start(&[&fail[..], &["--cluster-join", &join_a]].concat());
    let (v, _) = converge(&[a.port, b.port, c.port], 3, Duration::from_secs(10));
    let t0 = Instant::now();
    // SAFETY: plain kill(2) of our own child's pid.
    unsafe { libc::kill(c.pid() as i32, libc::SIGKILL) };
    // Fail timeout (2 s) + 2 sync intervals (1 s each), with 1 s of slack.
    let (v2, _) = converge(&[a.port, b.port], 2, Duration::from_secs(5));
    assert_eq!(v2, v + 1, "one failure, one version");
    println!("kill -9: delisted in {:?}", t0.elapsed());
    // Both survivors report the dead node down, and the pool not isolated.
    let st = a.connect().stats_arg("cluster");
    assert_eq!(st.get("cluster_version"), Some(&(v + 1).to_string()));
    assert_eq!(st.get("cluster_isolated").map(String::as_str), Some("0"));
    drop(c);
}

#[test]
fn a_delisted_node_that_answers_again_rejoins_by_itself() {
    let fail = ["--cluster-fail-timeout", "2"];
    let a = start(&fail);
    let join_a = format!("127.0.0.1:{}", a.port);
    let b = start(&[&fail[..], &["--cluster-join", &join_a]].concat());
    let c = start(&[&fail[..], &["--cluster-join", &join_a]].concat());
    let (v, _) = converge(&[a.port, b.port, c.port], 3, Duration::from_secs(10));
    // SAFETY: kill(2) of our own child's pid.
    unsafe { libc::kill(c.pid() as i32, libc::SIGSTOP) };
    let (v2, _) = converge(&[a.port, b.port], 2, Duration::from_secs(6));
    assert_eq!(v2, v + 1);
    let t0 = Instant::now();
    // SAFETY: as above.
    unsafe { libc::kill(c.pid() as i32, libc::SIGCONT) };
    let (v3, _) = converge(&[a.port, b.port, c.port], 3, Duration::from_secs(8));
    assert!(v3 > v2);
    println!("SIGCONT: relisted in {:?}", t0.elapsed());
    assert!(c.log().contains("re-joining"), "{}", c.log());
}

#[test]
fn a_join_with_the_wrong_secret_fails_at_start_up() {
    let a = start(&[]);
    let join_a = format!("127.0.0.1:{}", a.port);
    let wrong = secret_file("wrong", "a-different-secret-000000");
    let mut args = node_args(&["--cluster-join", &join_a]);
    let i = args
        .iter()
        .position(|s| s == "--cluster-secret-file")
        .expect("secret flag");
    args[i + 1] = wrong;
    // Run it directly: it may exit before a harness could even connect to it.
    let mut cmd = std::process::Command::new(ferrocache_path());
    cmd.args(["-p", "-1", "-l", "127.0.0.1"]).args(&args);
    if running_as_root() {
        cmd.args(["-u", "root"]);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("read log");
    assert!(!status.success());
    assert!(log.contains("secret"), "{log}");
    assert_eq!(
        nodes_in(&config_of(a.port).1).len(),
        1,
        "the seed's list is unchanged"
    );
}

#[test]
fn a_killed_node_is_a_miss_until_it_comes_back_on_its_port() {
    let a = Server::start_with(&ferrocache_path(), &[]);
    let b = Server::start_with(&ferrocache_path(), &[]);
    let port_b = b.port;
    let nodes = [
        Node::new("node-a", "127.0.0.1", a.port).expect("node a"),
        Node::new("node-b", "127.0.0.1", port_b).expect("node b"),
    ];
    let config = ClusterConfig::new(1, NodeList::new(nodes).expect("list"));
    let opts = ClientOptions {
        poll_interval: None,
        ..ClientOptions::default()
    };
    let budget = opts.connect_timeout + opts.io_timeout;
    let client = PoolClient::with_config(config, opts).expect("client");
    let keys: Vec<String> = (0..400).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        assert!(client.set(k, b"v", 0, 0).expect("set"));
    }
    let on_b: Vec<&String> = keys
        .iter()
        .filter(|k| client.server_for(k).expect("owner").port == port_b)
        .collect();
    assert!(on_b.len() > 100 && on_b.len() < 300, "{}", on_b.len());

    drop(b); // SIGKILL, reaped
    let t0 = Instant::now();
    let mut hits = 0;
    for k in &keys {
        let t = Instant::now();
        let got = client.get(k).expect("a get never fails");
        assert!(t.elapsed() < budget, "get took {:?}", t.elapsed());
        if got.is_some() {
            hits += 1;
        }
        let t = Instant::now();
        let stored = client.set(k, b"w", 0, 0).expect("a set never fails");
        assert!(t.elapsed() < budget, "set took {:?}", t.elapsed());
        assert_eq!(stored, !on_b.contains(&k), "{k}");
    }
    assert_eq!(hits, keys.len() - on_b.len(), "every key of A still hits");
    let s = client.stats();
    println!("after the kill ({:?}): {s:?}", t0.elapsed());
    assert!(s.errors >= 1 && s.node_marked_dead == 1, "{s:?}");
    assert_eq!(s.misses_due_to_dead_node, on_b.len() as u64);
    assert_eq!(s.dropped_sets, on_b.len() as u64);
    assert_eq!(client.dead_nodes().len(), 1);

    // The same node comes back on the same port (empty): after a backoff the client uses it.
    let p = port_b.to_string();
    let _b2 = Server::start_with(&ferrocache_path(), &["-p", &p]);
    let t1 = Instant::now();
    let probe = on_b[0];
    loop {
        if client.set(probe, b"back", 0, 0).expect("set") {
            break;
        }
        assert!(
            t1.elapsed() < Duration::from_secs(12),
            "not used again: {:?}",
            client.stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("used again {:?} after the restart", t1.elapsed());
    assert_eq!(client.get(probe).expect("get").expect("hit").data, b"back");
    assert!(client.dead_nodes().is_empty());
    assert_eq!(client.stats().node_recovered, 1);
    for k in &on_b[1..] {
        assert_eq!(client.get(k).expect("get"), None, "restarted empty");
    }
}
