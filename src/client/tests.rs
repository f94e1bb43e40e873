//! The client against fake servers on loopback (discovery, routing, refresh, polling).

use super::*;
use crate::cluster::{NodeList, discovery};
use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

// ---- an in-test memcached on 127.0.0.1 -----------------------------------------------

#[derive(Default)]
struct FakeState {
    items: HashMap<String, (u32, Vec<u8>, u64)>,
    next_cas: u64,
    config: Vec<u8>,
    config_reads: usize,
}

/// Understands just enough text protocol for these tests. Each connection gets a thread
/// that ends at EOF; the accept thread ends when the fake drops.
struct Fake {
    port: u16,
    state: Arc<Mutex<FakeState>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Fake {
    fn start() -> Fake {
        Fake::start_on(0)
    }

    /// On a given port (0: one the kernel picks).
    fn start_on(port: u16) -> Fake {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(FakeState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (Arc::clone(&state), Arc::clone(&stop));
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { break };
                let st = Arc::clone(&st);
                std::thread::spawn(move || {
                    let _ = serve(stream, &st);
                });
            }
        });
        Fake {
            port,
            state,
            stop,
            accept: Some(accept),
        }
    }

    fn set_config(&self, payload: &[u8]) {
        self.state.lock().config = payload.to_vec();
    }

    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.state.lock().items.keys().cloned().collect();
        k.sort();
        k
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<FakeState>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let words: Vec<&str> = line.trim_end().split(' ').collect();
        let mut st = state.lock();
        let reply: Vec<u8> = match words.as_slice() {
            ["config", "get", "cluster"] => {
                st.config_reads += 1;
                let p = st.config.clone();
                let mut out = format!("CONFIG cluster 0 {}\r\n", p.len()).into_bytes();
                out.extend_from_slice(&p);
                out.extend_from_slice(b"\r\nEND\r\n");
                out
            }
            [verb @ ("get" | "gets"), key] => {
                let mut out = Vec::new();
                if let Some((flags, data, cas)) = st.items.get(*key) {
                    let cas = if *verb == "gets" {
                        format!(" {cas}")
                    } else {
                        String::new()
                    };
                    out.extend_from_slice(
                        format!("VALUE {key} {flags} {}{cas}\r\n", data.len()).as_bytes(),
                    );
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"END\r\n");
                out
            }
            [verb @ ("set" | "cas"), key, flags, _exp, len, rest @ ..] => {
                let len: usize = len.parse().unwrap_or(0);
                let mut data = vec![0; len + 2];
                r.read_exact(&mut data)?;
                data.truncate(len);
                let flags = flags.parse().unwrap_or(0);
                let current = st.items.get(*key).map(|i| i.2);
                let outcome = match (*verb, rest, current) {
                    ("cas", _, None) => "NOT_FOUND",
                    ("cas", [c], Some(cur)) if c.parse::<u64>().ok() != Some(cur) => "EXISTS",
                    _ => "STORED",
                };
                if outcome == "STORED" {
                    st.next_cas += 1;
                    let cas = st.next_cas;
                    st.items.insert(key.to_string(), (flags, data, cas));
                }
                format!("{outcome}\r\n").into_bytes()
            }
            ["delete", key] => match st.items.remove(*key) {
                Some(_) => b"DELETED\r\n".to_vec(),
                None => b"NOT_FOUND\r\n".to_vec(),
            },
            ["incr", key, delta] => match st.items.get_mut(*key) {
                Some(item) => {
                    let n: u64 = std::str::from_utf8(&item.1)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let n = n + delta.parse::<u64>().unwrap_or(0);
                    item.1 = n.to_string().into_bytes();
                    format!("{n}\r\n").into_bytes()
                }
                None => b"NOT_FOUND\r\n".to_vec(),
            },
            _ => b"ERROR\r\n".to_vec(),
        };
        drop(st);
        w.write_all(&reply)?;
    }
}

fn opts(poll: Option<Duration>) -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        poll_interval: poll,
        errors_as_misses: false,
        ..ClientOptions::default()
    }
}

fn payload_for(version: u64, fakes: &[(&str, &Fake)]) -> Vec<u8> {
    let nodes = fakes
        .iter()
        .map(|(host, f)| Node::new(host, "127.0.0.1", f.port).unwrap());
    discovery::payload(&ClusterConfig::new(version, NodeList::new(nodes).unwrap()))
}

#[test]
fn discovers_routes_and_runs_every_command() {
    let (a, b) = (Fake::start(), Fake::start());
    let p = payload_for(4, &[("node-b", &b), ("node-a", &a)]);
    a.set_config(&p);
    b.set_config(&p);
    let client = Client::new(&format!("127.0.0.1:{}", a.port), opts(None)).unwrap();
    assert_eq!(client.version(), 4);
    let hosts: Vec<String> = client.nodes().into_iter().map(|n| n.host).collect();
    assert_eq!(hosts, ["node-a", "node-b"]);

    let keys: Vec<String> = (0..60).map(|i| format!("user:{i}")).collect();
    for k in &keys {
        assert!(client.set(k, k.as_bytes(), 7, 0).unwrap());
    }
    // Every key sits on the server ketama picked for it, and both servers got some.
    let ring = Ring::from_nodes(&client.config().nodes);
    let mut want_a: Vec<String> = keys
        .iter()
        .filter(|k| ring.lookup(k.as_bytes()) == Some(0))
        .cloned()
        .collect();
    want_a.sort();
    assert_eq!(a.keys(), want_a);
    assert_eq!(a.keys().len() + b.keys().len(), keys.len());
    assert!(!a.keys().is_empty() && !b.keys().is_empty());
    for k in &keys {
        let expect = if want_a.contains(k) {
            "node-a"
        } else {
            "node-b"
        };
        assert_eq!(client.server_for(k).unwrap().host, expect);
    }

    let v = client.get("user:1").unwrap().unwrap();
    assert_eq!(
        (v.data.as_slice(), v.flags, v.cas),
        (&b"user:1"[..], 7, None)
    );
    assert_eq!(client.get("missing").unwrap(), None);

    let g = client.gets("user:2").unwrap().unwrap();
    let cas = g.cas.unwrap();
    assert_eq!(
        client.cas("user:2", b"x", 0, 0, cas + 100).unwrap(),
        CasOutcome::Exists
    );
    assert_eq!(
        client.cas("user:2", b"x", 0, 0, cas).unwrap(),
        CasOutcome::Stored
    );
    assert_eq!(
        client.cas("nope", b"x", 0, 0, 1).unwrap(),
        CasOutcome::NotFound
    );
    assert_eq!(client.get("user:2").unwrap().unwrap().data, b"x");

    assert!(client.set("counter", b"10", 0, 0).unwrap());
    assert_eq!(client.incr("counter", 5).unwrap(), Some(15));
    assert_eq!(client.incr("no-counter", 5).unwrap(), None);

    assert!(client.delete("user:3").unwrap());
    assert!(!client.delete("user:3").unwrap());
    assert_eq!(client.get("user:3").unwrap(), None);
    // An unknown command is a server reply, not a broken connection.
    let err = client.decr("counter", 1).unwrap_err();
    assert!(is_server_reply(&err), "{err}");
    assert_eq!(client.get("counter").unwrap().unwrap().data, b"15");
    assert_eq!(
        client.get("bad key").unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn refresh_adopts_only_newer_configs() {
    let (a, b) = (Fake::start(), Fake::start());
    a.set_config(&payload_for(2, &[("node-a", &a)]));
    let client = Client::new(&format!("127.0.0.1:{}", a.port), opts(None)).unwrap();
    assert_eq!(client.nodes().len(), 1);
    assert!(!client.refresh().unwrap(), "same config");

    a.set_config(&payload_for(1, &[("node-a", &a), ("node-b", &b)]));
    assert!(!client.refresh().unwrap(), "older config");
    a.set_config(b"3\n\n");
    assert!(!client.refresh().unwrap(), "empty list");
    assert_eq!(client.version(), 2);

    a.set_config(&payload_for(3, &[("node-a", &a), ("node-b", &b)]));
    assert!(client.refresh().unwrap());
    assert_eq!(client.version(), 3);
    assert_eq!(client.nodes().len(), 2);
}

#[test]
fn refresh_falls_back_to_other_nodes() {
    let (a, b) = (Fake::start(), Fake::start());
    let p = payload_for(5, &[("node-a", &a), ("node-b", &b)]);
    b.set_config(&p);
    let config = discovery::parse_payload(&p).unwrap();
    let client = Client::with_config(config, opts(None)).unwrap();
    // node-a answers `config get` with a bad payload, node-b with a newer one.
    a.set_config(b"garbage");
    b.set_config(&payload_for(6, &[("node-b", &b)]));
    assert!(client.refresh().unwrap());
    assert_eq!(client.version(), 6);
    assert_eq!(client.nodes()[0].host, "node-b");
}

#[test]
fn background_polling_picks_up_changes_and_stops_on_drop() {
    let a = Fake::start();
    a.set_config(&payload_for(1, &[("node-a", &a)]));
    let client = Client::new(
        &format!("127.0.0.1:{}", a.port),
        opts(Some(Duration::from_millis(20))),
    )
    .unwrap();
    a.set_config(&payload_for(9, &[("node-a", &a)]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.version() != 9 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(client.version(), 9);
    let started = Instant::now();
    drop(client);
    assert!(started.elapsed() < Duration::from_secs(3));
    // No more polls after the drop.
    let reads = a.state.lock().config_reads;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(a.state.lock().config_reads, reads);
}

#[test]
fn unreachable_endpoint_is_an_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    assert!(Client::new(&format!("127.0.0.1:{port}"), opts(None)).is_err());
    assert!(Client::with_config(ClusterConfig::default(), opts(None)).is_err());
}

// ---- failures: dead nodes answered as misses ------------------------------------------

fn fast_opts() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_millis(100),
        io_timeout: Duration::from_millis(200),
        poll_interval: None,
        errors_as_misses: true,
        retry_backoff_min: Duration::from_millis(50),
        retry_backoff_max: Duration::from_millis(200),
    }
}

/// A config of `node-a` on `a` and `node-b` on `port_b`, and a key of each.
fn two_nodes(a: &Fake, port_b: u16) -> (ClusterConfig, String, String) {
    let nodes = [
        Node::new("node-a", "127.0.0.1", a.port).unwrap(),
        Node::new("node-b", "127.0.0.1", port_b).unwrap(),
    ];
    let config = ClusterConfig::new(1, NodeList::new(nodes).unwrap());
    let ring = Ring::from_nodes(&config.nodes);
    let key_on = |want| {
        (0..1000)
            .map(|i| format!("k{i}"))
            .find(|k| ring.lookup(k.as_bytes()) == Some(want))
            .unwrap()
    };
    let (on_a, on_b) = (key_on(0), key_on(1));
    (config, on_a, on_b)
}

#[test]
fn a_silent_node_is_a_miss_within_the_budget_then_skipped() {
    let a = Fake::start();
    // Accepts connections (the kernel's backlog) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port_b = silent.local_addr().unwrap().port();
    let (config, on_a, on_b) = two_nodes(&a, port_b);
    let o = fast_opts();
    let budget = o.connect_timeout + o.io_timeout;
    let client = Client::with_config(config.clone(), o.clone()).unwrap();
    assert!(client.set(&on_a, b"v", 0, 0).unwrap());

    let t = Instant::now();
    assert_eq!(client.get(&on_b).unwrap(), None);
    let took = t.elapsed();
    assert!(
        took >= o.io_timeout && took < budget + Duration::from_millis(150),
        "{took:?}"
    );
    let s = client.stats();
    assert_eq!(
        (s.errors, s.node_marked_dead, s.misses_due_to_dead_node),
        (1, 1, 1)
    );
    assert_eq!(client.dead_nodes()[0].host, "node-b");

    // While dead: answered at once, nothing sent.
    let t = Instant::now();
    assert!(!client.set(&on_b, b"v", 0, 0).unwrap());
    assert!(!client.delete(&on_b).unwrap());
    assert_eq!(
        client.cas(&on_b, b"v", 0, 0, 1).unwrap(),
        CasOutcome::NotFound
    );
    assert_eq!(client.incr(&on_b, 1).unwrap(), None);
    assert!(t.elapsed() < Duration::from_millis(40), "{:?}", t.elapsed());
    let s = client.stats();
    assert_eq!((s.dropped_sets, s.dropped_deletes, s.errors), (2, 1, 1));
    assert_eq!(s.misses_due_to_dead_node, 2);
    // The other node is untouched, and the key still routes to node-b.
    assert_eq!(client.get(&on_a).unwrap().unwrap().data, b"v");
    assert_eq!(client.server_for(&on_b).unwrap().host, "node-b");

    // The old behaviour: the error comes back.
    let strict = Client::with_config(
        config,
        ClientOptions {
            errors_as_misses: false,
            ..o
        },
    )
    .unwrap();
    let t = Instant::now();
    let err = strict.get(&on_b).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ),
        "{err}"
    );
    assert!(t.elapsed() < budget + Duration::from_millis(150));
    assert_eq!(strict.stats().node_marked_dead, 1);
    drop(silent);
}

#[test]
fn a_refused_node_recovers_after_its_backoff() {
    let a = Fake::start();
    let port_b = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (config, _, on_b) = two_nodes(&a, port_b);
    let client = Client::with_config(config, fast_opts()).unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(client.get(&on_b).unwrap(), None);
        assert!(t.elapsed() < Duration::from_millis(150));
        std::thread::sleep(Duration::from_millis(60));
    }
    assert!(client.stats().errors >= 2, "{:?}", client.stats());
    assert_eq!(client.stats().node_marked_dead, 1);

    let b = Fake::start_on(port_b);
    // Back within the longest backoff (200 ms) and a bit.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !client.set(&on_b, b"back", 0, 0).unwrap() {
        assert!(
            Instant::now() < deadline,
            "not recovered: {:?}",
            client.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(client.get(&on_b).unwrap().unwrap().data, b"back");
    assert_eq!(b.keys(), [on_b]);
    let s = client.stats();
    assert_eq!((s.node_marked_dead, s.node_recovered), (1, 1));
    assert!(client.dead_nodes().is_empty());
}
