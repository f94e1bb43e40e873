//! TLS (`-Z`, issue 12) against the real binary over 127.0.0.1: a rustls client and
//! `openssl s_client`; text, meta and binary over TLS; mutual TLS accepted and refused;
//! `notls:` and `mtls:` listeners beside TLS ones; an untrusted server certificate;
//! `refresh_certs` and SIGHUP swapping certificates under an established connection; bad
//! input (plain text to a TLS port, a ClientHello to a plain port, truncated, stalled and
//! 1,000 half-open handshakes); and the same request scripts through TLS to Debian's
//! `memcached -Z`, replies byte-identical.
//!
//! The test PKI is made once per run by `scripts/tls-test-certs.sh` (the openssl CLI) in a
//! temp dir: nothing secret is committed and no certificate in the tree can expire.

mod common;
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The test PKI (see `scripts/tls-test-certs.sh`), made once per test binary.
fn pki() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ferro-tls-pki-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tls-test-certs.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("run scripts/tls-test-certs.sh (needs openssl)");
        assert!(
            out.status.success(),
            "tls-test-certs.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn pem(name: &str) -> String {
    pki().join(name).display().to_string()
}

/// `-Z` with the test server certificate, plus `extra` `-o` options.
fn tls_args(extra: &str) -> Vec<String> {
    let mut o = format!(
        "ssl_chain_cert={},ssl_key={}",
        pem("server.crt"),
        pem("server.key")
    );
    if !extra.is_empty() {
        o.push(',');
        o.push_str(extra);
    }
    vec!["-Z".into(), "-o".into(), o]
}

fn start_tls(extra: &str, more: &[&str]) -> Server {
    let mut args = tls_args(extra);
    args.extend(more.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&refs)
}

#[allow(deprecated)] // ring lacks post-quantum key exchange; fine for tests
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting `ca` (a file in the PKI), presenting `cert` if given.
fn client_cfg(ca: &str, cert: Option<&str>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki().join(ca)).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let b = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match cert {
        None => b.with_no_client_auth(),
        Some(name) => {
            let chain: Vec<_> = CertificateDer::pem_file_iter(pki().join(format!("{name}.crt")))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(pki().join(format!("{name}.key"))).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
    };
    Arc::new(cfg)
}

/// A blocking TLS client with a read timeout on every read.
struct Tls {
    s: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl Tls {
    /// Connects and completes the handshake.
    fn connect(port: u16, cfg: &Arc<ClientConfig>) -> std::io::Result<Tls> {
        let sock = TcpStream::connect(("127.0.0.1", port))?;
        sock.set_read_timeout(Some(READ_TIMEOUT))?;
        sock.set_write_timeout(Some(READ_TIMEOUT))?;
        sock.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(cfg.clone(), name).map_err(std::io::Error::other)?;
        let mut s = StreamOwned::new(conn, sock);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(Tls { s, buf: Vec::new() })
    }

    fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.s.write_all(b)?;
        self.s.flush()
    }

    /// Reads until `buf` ends with `end`; the bytes read.
    fn read_until(&mut self, end: &[u8]) -> std::io::Result<Vec<u8>> {
        let deadline = Instant::now() + READ_TIMEOUT;
        let mut tmp = [0u8; 16384];
        while !self.buf.ends_with(end) {
            if Instant::now() > deadline {
                return Err(ErrorKind::TimedOut.into());
            }
            match self.s.read(&mut tmp)? {
                0 => return Err(ErrorKind::UnexpectedEof.into()),
                n => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// Sends `req`, reads until the reply ends with `end`.
    fn ask(&mut self, req: &[u8], end: &[u8]) -> std::io::Result<Vec<u8>> {
        self.send(req)?;
        self.read_until(end)
    }

    /// Reads until nothing arrives for `quiet` (or `max` passes): a differential step.
    fn read_quiet(&mut self, quiet: Duration, max: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + max;
        let mut tmp = [0u8; 16384];
        let mut closed = false;
        let _ = self.s.sock.set_read_timeout(Some(quiet));
        while Instant::now() < deadline {
            match self.s.read(&mut tmp) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break;
                }
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        let _ = self.s.sock.set_read_timeout(Some(READ_TIMEOUT));
        (std::mem::take(&mut self.buf), closed)
    }
}

/// True if the server refuses this client: the handshake or the first round trip fails
/// (with TLS 1.3 a refused client certificate shows on the first read).
fn refused(port: u16, cfg: &Arc<ClientConfig>) -> bool {
    match Tls::connect(port, cfg) {
        Err(_) => true,
        Ok(mut c) => c.ask(b"version\r\n", b"\r\n").is_err(),
    }
}

fn stat(s: &std::collections::HashMap<String, String>, name: &str) -> u64 {
    s.get(name)
        .unwrap_or_else(|| panic!("no {name} in stats"))
        .parse()
        .unwrap()
}

/// `stats` (or `stats ARG`) over TLS, with a client certificate (mutual-TLS servers take it,
/// others never ask for it).
fn tls_stats(port: u16, arg: &str) -> std::collections::HashMap<String, String> {
    tls_stats_with(port, &client_cfg("ca.crt", Some("client")), arg)
}

/// `stats` (or `stats ARG`) over TLS with client configuration `cfg`.
fn tls_stats_with(
    port: u16,
    cfg: &Arc<ClientConfig>,
    arg: &str,
) -> std::collections::HashMap<String, String> {
    let mut c = Tls::connect(port, cfg).unwrap();
    let req = if arg.is_empty() {
        "stats\r\n".to_string()
    } else {
        format!("stats {arg}\r\n")
    };
    parse_stats(&c.ask(req.as_bytes(), b"END\r\n").unwrap())
}

/// Waits (bounded) until `stats` says `name` is at least `want`; returns the last value.
fn wait_stat(port: u16, name: &str, want: u64, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let v = stat(&tls_stats(port, ""), name);
        if v >= want || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A binary-protocol request.
fn bin(opcode: u8, key: &[u8], extras: &[u8], value: &[u8]) -> Vec<u8> {
    let body = extras.len() + key.len() + value.len();
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.push(extras.len() as u8);
    p.extend_from_slice(&[0, 0, 0]);
    p.extend_from_slice(&(body as u32).to_be_bytes());
    p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

/// Reads one binary response: (status, value).
fn bin_reply(c: &mut Tls) -> (u16, Vec<u8>) {
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut tmp = [0u8; 4096];
    let need = |b: &[u8]| {
        if b.len() < 24 {
            return 24;
        }
        24 + u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize
    };
    while c.buf.len() < need(&c.buf) {
        assert!(Instant::now() < deadline, "binary reply timed out");
        let n = c.s.read(&mut tmp).expect("read binary reply");
        assert!(n > 0, "closed mid-reply");
        c.buf.extend_from_slice(&tmp[..n]);
    }
    let n = need(&c.buf);
    let p: Vec<u8> = c.buf.drain(..n).collect();
    assert_eq!(p[0], 0x81, "response magic");
    let status = u16::from_be_bytes([p[6], p[7]]);
    let (extras, key) = (p[4] as usize, u16::from_be_bytes([p[2], p[3]]) as usize);
    (status, p[24 + extras + key..].to_vec())
}

#[test]
fn text_meta_and_binary_over_tls() {
    let s = start_tls("", &[]);
    let mut c = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
    assert_eq!(
        c.ask(b"set k 5 0 5\r\nhello\r\n", b"\r\n").unwrap(),
        b"STORED\r\n"
    );
    assert_eq!(
        c.ask(b"get k\r\n", b"END\r\n").unwrap(),
        b"VALUE k 5 5\r\nhello\r\nEND\r\n"
    );
    // A long value arrives in several records and is read straight into its item.
    let big = vec![b'x'; 300_000];
    let mut req = b"set big 0 0 300000\r\n".to_vec();
    req.extend_from_slice(&big);
    // The `get` pipelined behind the value, in the same write, is answered at once
    // (memcached 1.6.18 -Z waits for more bytes here).
    req.extend_from_slice(b"\r\nget big\r\n");
    let got = c.ask(&req, b"END\r\n").unwrap();
    assert_eq!(
        got.len(),
        "STORED\r\nVALUE big 0 300000\r\n".len() + 300_000 + 7
    );
    // Pipelined: many requests in one record, replies in order.
    let mut many = Vec::new();
    for i in 0..200 {
        many.extend_from_slice(format!("set p{i} 0 0 1\r\n{}\r\n", i % 10).as_bytes());
    }
    many.extend_from_slice(b"mn\r\n");
    let got = c.ask(&many, b"MN\r\n").unwrap();
    assert_eq!(got.len(), 200 * 8 + 4);
    // meta
    assert_eq!(c.ask(b"ms m 2 T0\r\nhi\r\n", b"\r\n").unwrap(), b"HD\r\n");
    assert_eq!(c.ask(b"mg m v\r\n", b"hi\r\n").unwrap(), b"VA 2\r\nhi\r\n");
    // binary, sniffed from the first decrypted byte of a fresh connection
    let mut b = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
    b.send(&bin(0x01, b"bk", &[0, 0, 0, 7, 0, 0, 0, 0], b"bval"))
        .unwrap();
    assert_eq!(bin_reply(&mut b).0, 0);
    b.send(&bin(0x00, b"bk", &[], &[])).unwrap();
    let (status, value) = bin_reply(&mut b);
    assert_eq!((status, value.as_slice()), (0, &b"bval"[..]));
    // TLS counters and settings as memcached prints them.
    let st = tls_stats(s.port, "");
    assert_eq!(stat(&st, "ssl_handshake_errors"), 0);
    assert!(st.contains_key("time_since_server_cert_refresh"));
    assert!(
        !st.contains_key("ssl_new_sessions"),
        "only with ssl_session_cache"
    );
    let set = tls_stats(s.port, "settings");
    assert_eq!(set["ssl_enabled"], "yes");
    assert_eq!(set["ssl_chain_cert"], pem("server.crt"));
    assert_eq!(set["ssl_verify_mode"], "0");
    assert_eq!(set["ssl_min_version"], "tlsv1.2");
    assert_eq!(set["ssl_ca_cert"], "NULL");
}

#[test]
fn mutual_tls_accepts_a_valid_client_certificate_and_refuses_others() {
    let ca = format!("ssl_verify_mode=2,ssl_ca_cert={}", pem("ca.crt"));
    let s = start_tls(&ca, &["-vv"]);
    let mut c = Tls::connect(s.port, &client_cfg("ca.crt", Some("client"))).unwrap();
    assert_eq!(c.ask(b"version\r\n", b"\r\n").unwrap()[..8], *b"VERSION ");
    assert!(
        refused(s.port, &client_cfg("ca.crt", None)),
        "no certificate"
    );
    assert!(
        refused(s.port, &client_cfg("ca.crt", Some("other"))),
        "a certificate from an untrusted CA"
    );
    // The accepted connection still works; the refusals were counted and logged.
    assert_eq!(c.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
    assert!(wait_stat(s.port, "ssl_handshake_errors", 2, Duration::from_secs(5)) >= 2);
    let log = s.log();
    assert!(log.contains("client certificate CN=client"), "{log}");
    assert!(log.contains("TLS handshake failed"), "{log}");
    assert_eq!(tls_stats(s.port, "settings")["ssl_verify_mode"], "3");
}

#[test]
fn verify_mode_request_takes_clients_with_and_without_certificates() {
    let ca = format!("ssl_verify_mode=1,ssl_ca_cert={}", pem("ca.crt"));
    let s = start_tls(&ca, &[]);
    for cert in [None, Some("client")] {
        let mut c = Tls::connect(s.port, &client_cfg("ca.crt", cert)).unwrap();
        assert_eq!(c.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n", "{cert:?}");
    }
    assert!(refused(s.port, &client_cfg("ca.crt", Some("other"))));
}

#[test]
fn notls_and_mtls_listeners_beside_a_tls_one() {
    let (plain, mtls) = (known_port(), known_port());
    let s = start_tls(
        &format!("ssl_ca_cert={}", pem("ca.crt")),
        &[
            "-l",
            &format!("notls:127.0.0.1:{plain}"),
            "-l",
            &format!("mtls:127.0.0.1:{mtls}"),
        ],
    );
    // The default listener: TLS without a client certificate (ssl_verify_mode=0).
    let mut t = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
    assert_eq!(
        t.ask(b"set a 0 0 1\r\nx\r\n", b"\r\n").unwrap(),
        b"STORED\r\n"
    );
    // notls: plain text, same cache.
    let mut p = Client::connect(plain);
    p.roundtrip(b"get a\r\n", b"VALUE a 0 1\r\nx\r\nEND\r\n");
    // mtls: a client certificate is required there only.
    assert!(refused(mtls, &client_cfg("ca.crt", None)));
    let mut m = Tls::connect(mtls, &client_cfg("ca.crt", Some("client"))).unwrap();
    assert_eq!(
        m.ask(b"get a\r\n", b"END\r\n").unwrap(),
        b"VALUE a 0 1\r\nx\r\nEND\r\n"
    );
}

#[test]
fn a_client_rejects_an_untrusted_server_certificate() {
    let s = start_tls("", &[]);
    assert!(Tls::connect(s.port, &client_cfg("rogue.crt", None)).is_err());
    // The server counted the aborted handshake and goes on serving.
    assert!(wait_stat(s.port, "ssl_handshake_errors", 1, Duration::from_secs(5)) >= 1);
}

/// A client configuration trusting the test CA that speaks only `version`.
fn client_cfg_version(version: &'static rustls::SupportedProtocolVersion) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki().join("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn session_cache_resumes_and_counts_new_sessions_only() {
    let s = start_tls("ssl_session_cache", &[]);
    let cfg = client_cfg("ca.crt", None);
    let mut first = Tls::connect(s.port, &cfg).unwrap();
    // The session ticket arrives with the first reply.
    assert_eq!(first.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
    let mut second = Tls::connect(s.port, &cfg).unwrap();
    assert_eq!(
        second.s.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    let raw = second.ask(b"stats\r\n", b"END\r\n").unwrap();
    assert!(
        String::from_utf8_lossy(&raw).contains("STAT ssl_new_sessions 1\r\n"),
        "{}",
        esc(&raw)
    );
    // Without ssl_session_cache nothing is resumed.
    let plain = start_tls("", &[]);
    let mut a = Tls::connect(plain.port, &cfg).unwrap();
    assert_eq!(a.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
    let b = Tls::connect(plain.port, &cfg).unwrap();
    assert_ne!(
        b.s.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
}

#[test]
fn min_version_and_ciphers_are_honoured() {
    let s = start_tls("ssl_min_version=3", &[]);
    assert!(refused(
        s.port,
        &client_cfg_version(&rustls::version::TLS12)
    ));
    let mut c = Tls::connect(s.port, &client_cfg_version(&rustls::version::TLS13)).unwrap();
    assert_eq!(c.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
    assert_eq!(tls_stats(s.port, "settings")["ssl_min_version"], "tlsv1.3");

    let s = start_tls("ssl_ciphers=ECDHE-ECDSA-CHACHA20-POLY1305", &[]);
    let c = Tls::connect(s.port, &client_cfg_version(&rustls::version::TLS12)).unwrap();
    assert_eq!(
        format!("{:?}", c.s.conn.negotiated_cipher_suite().unwrap().suite()),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
    );
    assert_eq!(
        tls_stats(s.port, "settings")["ssl_ciphers"],
        "ECDHE-ECDSA-CHACHA20-POLY1305"
    );
}

#[test]
fn tiny_records_are_reassembled_without_stalling() {
    // 32-byte records with about 10 bytes of plaintext each: thousands of records per value,
    // many socket reads per buffer of plaintext, a long value read into its item.
    let s = start_tls("", &[]);
    let mut cfg = (*client_cfg("ca.crt", None)).clone();
    cfg.max_fragment_size = Some(32);
    let mut c = Tls::connect(s.port, &Arc::new(cfg)).unwrap();
    let value: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut req = b"set tiny 0 0 100000\r\n".to_vec();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    for i in 0..50 {
        req.extend_from_slice(format!("set t{i} 0 0 1\r\n{}\r\n", i % 10).as_bytes());
    }
    let got = c.ask(&req, b"STORED\r\n".repeat(51).as_slice()).unwrap();
    assert_eq!(got, b"STORED\r\n".repeat(51));
    let got = c.ask(b"get tiny\r\n", b"END\r\n").unwrap();
    let head = b"VALUE tiny 0 100000\r\n".len();
    assert!(got.starts_with(b"VALUE tiny 0 100000\r\n"));
    assert!(got[head..head + 100_000] == value[..], "value differs");
}

/// Copies `from`'s certificate and key over the files the server was started with.
fn install(dir: &Path, from: &str) {
    std::fs::copy(pki().join(format!("{from}.crt")), dir.join("live.crt")).unwrap();
    std::fs::copy(pki().join(format!("{from}.key")), dir.join("live.key")).unwrap();
}

#[test]
fn refresh_certs_and_sighup_swap_certificates_under_an_established_connection() {
    let dir = std::env::temp_dir().join(format!("ferro-tls-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    install(&dir, "server");
    let o = format!(
        "ssl_chain_cert={},ssl_key={}",
        dir.join("live.crt").display(),
        dir.join("live.key").display()
    );
    let s = Server::start(&["-Z", "-o", &o]);
    let (ca1, ca2) = (client_cfg("ca.crt", None), client_cfg("ca2.crt", None));
    let mut old = Tls::connect(s.port, &ca1).unwrap();
    assert_eq!(
        old.ask(b"set k 0 0 1\r\n1\r\n", b"\r\n").unwrap(),
        b"STORED\r\n"
    );
    assert!(refused(s.port, &ca2));

    // A broken file: refresh_certs says why and nothing changes.
    std::fs::write(dir.join("live.crt"), b"not a certificate").unwrap();
    let e = old.ask(b"refresh_certs\r\n", b"\r\n").unwrap();
    assert!(
        e.starts_with(b"Error loading the certificate chain: "),
        "{}",
        esc(&e)
    );
    assert!(!refused(s.port, &ca1));

    // refresh_certs: new connections get the CA-2 certificate, the old one keeps going.
    install(&dir, "server2");
    assert_eq!(old.ask(b"refresh_certs\r\n", b"\r\n").unwrap(), b"OK\r\n");
    assert!(refused(s.port, &ca1));
    let mut new = Tls::connect(s.port, &ca2).unwrap();
    assert_eq!(
        new.ask(b"get k\r\n", b"END\r\n").unwrap(),
        b"VALUE k 0 1\r\n1\r\nEND\r\n"
    );
    assert_eq!(old.ask(b"incr k 1\r\n", b"\r\n").unwrap(), b"2\r\n");
    assert!(
        stat(
            &tls_stats_with(s.port, &ca2, ""),
            "time_since_server_cert_refresh"
        ) <= 2
    );

    // SIGHUP: back to the CA-1 certificate (signals are asynchronous: bounded retries).
    install(&dir, "server");
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(s.pid() as i32, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while refused(s.port, &ca1) {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload: {}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(old.ask(b"incr k 1\r\n", b"\r\n").unwrap(), b"3\r\n");
    assert_eq!(new.ask(b"incr k 1\r\n", b"\r\n").unwrap(), b"4\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refresh_certs_without_tls_is_memcached_error() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // Sent even with noreply, as memcached does.
    c.roundtrip(b"refresh_certs noreply\r\n", b"Error TLS not enabled\r\n");
}

#[test]
fn openssl_s_client_round_trip() {
    let s = start_tls("", &[]);
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{}", s.port))
        .args(["-CAfile", &pem("ca.crt"), "-verify_return_error"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"set s 0 0 2\r\nok\r\nget s\r\nquit\r\n")
        .unwrap();
    // s_client exits when the server closes after `quit`; bounded by the timeout below.
    let out = std::thread::spawn(move || child.wait_with_output());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !out.is_finished() {
        assert!(Instant::now() < deadline, "openssl s_client did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let out = out.join().unwrap().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("STORED\r\nVALUE s 0 2\r\nok\r\nEND\r\n"),
        "{text:?}"
    );
}

/// The first bytes a rustls client sends: a ClientHello record.
fn client_hello() -> Vec<u8> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(client_cfg("ca.crt", None), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

#[test]
fn plain_text_to_a_tls_port_is_refused_logged_and_counted() {
    let s = start_tls("", &["-v"]);
    let mut c = s.connect();
    c.send(b"get a\r\n");
    // The server answers with a TLS alert, not a memcached reply, and closes.
    let got = c.read_quiet(Duration::from_millis(200), Duration::from_secs(5));
    assert!(
        !got.starts_with(b"END") && !got.starts_with(b"ERROR"),
        "{}",
        esc(&got)
    );
    assert!(c.is_closed_within(Duration::from_secs(5)));
    assert!(wait_stat(s.port, "ssl_handshake_errors", 1, Duration::from_secs(5)) >= 1);
    assert!(s.log().contains("TLS handshake failed"), "{}", s.log());
}

#[test]
fn a_client_hello_to_a_plain_port_gets_memcached_errors_and_a_log_line() {
    // The same ClientHello bytes to memcached and ferrocache, plain: the same replies
    // (text protocol sniffed from 0x16: ERROR lines, one per line end in the random bytes).
    let hello = client_hello();
    let m = Server::start_with(Path::new(MEMCACHED), &[]);
    let f = Server::start_with(&ferrocache_path(), &["-v"]);
    let mut replies = Vec::new();
    for s in [&m, &f] {
        let mut c = s.connect();
        c.send(&hello);
        replies.push(c.read_quiet(Duration::from_millis(300), Duration::from_secs(3)));
    }
    assert_eq!(esc(&replies[0]), esc(&replies[1]));
    // Other clients are served; the operator is told.
    let mut other = f.connect();
    other.roundtrip(b"version\r\n", b"VERSION ");
    assert!(
        f.log().contains("TLS ClientHello on a plain"),
        "{}",
        f.log()
    );
}

#[test]
fn truncated_and_stalled_handshakes() {
    let s = start_tls("", &["-v"]);
    let hello = client_hello();
    // Truncated: half a ClientHello, then close.
    {
        let mut c = s.connect();
        c.send(&hello[..hello.len() / 2]);
    }
    assert!(wait_stat(s.port, "ssl_handshake_errors", 1, Duration::from_secs(5)) >= 1);
    // Stalled: half a ClientHello and nothing more; others are served meanwhile.
    let mut stalled = s.connect();
    stalled.send(&hello[..hello.len() / 2]);
    let mut c = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
    assert_eq!(c.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
    // A garbled record after the handshake is a protocol error.
    let mut g = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
    g.s.sock.write_all(&[0x17, 0x03, 0x03, 0x00, 0x20]).unwrap();
    g.s.sock.write_all(&[0x55; 32]).unwrap();
    assert!(wait_stat(s.port, "ssl_proto_errors", 1, Duration::from_secs(5)) >= 1);
    assert!(s.log().contains("TLS error"), "{}", s.log());
}

#[test]
fn idle_timeout_closes_a_stalled_handshake() {
    let s = start_tls("idle_timeout=1", &[]);
    let hello = client_hello();
    let mut stalled = s.connect();
    stalled.send(&hello[..hello.len() / 2]);
    assert!(
        stalled.is_closed_within(Duration::from_secs(5)),
        "a stalled handshake outlived -o idle_timeout=1"
    );
    assert!(stat(&tls_stats(s.port, ""), "idle_kicks") >= 1);
}

#[test]
fn clients_that_do_not_read_their_replies_hold_bounded_memory() {
    const N: usize = 20;
    let s = start_tls("", &["-m", "64"]);
    let mut c = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
    let mut req = b"set big 0 0 500000\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'v', 500_000));
    req.extend_from_slice(b"\r\n");
    assert_eq!(c.ask(&req, b"\r\n").unwrap(), b"STORED\r\n");
    let rss0 = rss_kib(s.pid());
    // Each asks for 1,000 copies of a 500 KB value (500 MB of replies) and reads nothing.
    let gets = b"get big\r\n".repeat(1000);
    let mut stuck: Vec<Tls> = (0..N)
        .map(|_| {
            let mut t = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
            t.send(&gets).unwrap();
            t
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let grown = rss_kib(s.pid()).saturating_sub(rss0);
    eprintln!("{N} TLS clients not reading 500 MB of replies each: RSS +{grown} KiB");
    // About 40 KiB each measured: 16 KiB of copied replies, ssl_wbuf_size of records.
    assert!(grown < (N as u64) * 128, "RSS grew {grown} KiB");
    // Others are served meanwhile, and a stuck client still gets its replies in order.
    assert_eq!(c.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
    let mut tmp = vec![0u8; 600_000];
    let mut got = 0;
    while got < 19 {
        got += stuck[0].s.read(&mut tmp[got..]).unwrap();
    }
    assert_eq!(&tmp[..19], b"VALUE big 0 500000\r");
}

/// Raises this process's open-file limit to its hard limit (the test's own sockets).
fn raise_nofile(want: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        if r.rlim_cur < want {
            r.rlim_cur = want.min(r.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Median round trip of `n` requests on an established TLS connection.
fn median_rtt(c: &mut Tls, n: usize) -> Duration {
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            assert_eq!(c.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
            start.elapsed()
        })
        .collect();
    t.sort();
    t[n / 2]
}

#[test]
fn a_thousand_half_open_handshakes() {
    const N: usize = 1000;
    raise_nofile(4096);
    let s = start_tls("", &["-c", "2048", "-v"]);
    let mut c = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
    let before = median_rtt(&mut c, 50);
    let rss0 = rss_kib(s.pid());
    let hello = client_hello();
    let mut half_open = Vec::with_capacity(N);
    for _ in 0..N {
        let mut h = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        h.write_all(&hello[..hello.len() - 10]).unwrap();
        half_open.push(h);
    }
    // All accepted (bounded wait), memory bounded, others served as fast as before.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stat(&tls_stats(s.port, ""), "curr_connections") < N as u64 {
        assert!(
            Instant::now() < deadline,
            "half-open connections not all accepted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let during = median_rtt(&mut c, 50);
    let grown = rss_kib(s.pid()).saturating_sub(rss0);
    eprintln!("{N} half-open handshakes: RSS +{grown} KiB; median rtt {before:?} -> {during:?}");
    assert!(
        grown < 64 * 1024,
        "RSS grew {grown} KiB for {N} half-open handshakes"
    );
    assert!(
        during < before * 5 + Duration::from_millis(20),
        "latency {before:?} -> {during:?}"
    );
    drop(half_open);
    // Each abandoned handshake is counted.
    let n = wait_stat(
        s.port,
        "ssl_handshake_errors",
        N as u64,
        Duration::from_secs(10),
    );
    assert!(n >= N as u64, "ssl_handshake_errors {n}");
    assert_eq!(c.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
}

/// A handshake message as large as rustls takes (64 KiB), sent all but its last bytes.
fn huge_partial_handshake() -> Vec<u8> {
    const MSG: usize = 0xfff0;
    let mut msg = vec![0x01, 0x00, (MSG >> 8) as u8, (MSG & 0xff) as u8];
    msg.extend(std::iter::repeat_n(0x41u8, MSG - 16));
    let mut out = Vec::new();
    for chunk in msg.chunks(16 * 1024) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[test]
fn large_partial_handshakes_hold_bounded_memory() {
    const N: usize = 200;
    raise_nofile(4096);
    // -m 64: the shared input budget is 4 MiB, and each connection may hold 16 KiB free.
    let s = start_tls("", &["-v", "-m", "64"]);
    let rss0 = rss_kib(s.pid());
    let hs = huge_partial_handshake();
    let mut held = Vec::with_capacity(N);
    for _ in 0..N {
        let mut h = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        // The server may close it (budget spent) while it is still being written.
        let _ = h.write_all(&hs);
        held.push(h);
    }
    let mut c = Tls::connect(s.port, &client_cfg("ca.crt", None)).unwrap();
    assert_eq!(c.ask(b"mn\r\n", b"\r\n").unwrap(), b"MN\r\n");
    // Past the budget (about 85 of them, 48 KiB charged each), the rest are closed.
    let refused = wait_stat(s.port, "ssl_handshake_errors", 100, Duration::from_secs(10));
    assert!(refused >= 100, "only {refused} refused");
    assert!(
        s.log().contains("past the shared input budget"),
        "{}",
        s.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let grown = rss_kib(s.pid()).saturating_sub(rss0);
    eprintln!(
        "{N} connections sending a 64 KiB partial handshake: RSS +{grown} KiB, {refused} refused"
    );
    // 4 MiB of budget, 16 KiB free each, plus rustls' own state.
    assert!(grown < 4096 + (N as u64) * 40, "RSS grew {grown} KiB");
    drop(held);
    assert!(
        wait_stat(
            s.port,
            "ssl_handshake_errors",
            N as u64,
            Duration::from_secs(10)
        ) >= N as u64
    );
}

#[test]
fn a_handshake_message_over_64_kib_is_refused_by_rustls() {
    // -m 1024: a 64 MiB input budget, so rustls' own limit is the one reached.
    let s = start_tls("", &["-v", "-m", "1024"]);
    let mut over = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut big = huge_partial_handshake();
    big.extend_from_slice(&[0x16, 0x03, 0x01, 0x40, 0x00]);
    big.extend(std::iter::repeat_n(0x41u8, 0x4000));
    let _ = over.write_all(&big);
    assert!(wait_stat(s.port, "ssl_handshake_errors", 1, Duration::from_secs(5)) >= 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.log().contains("message buffer full") {
        assert!(Instant::now() < deadline, "no log line: {}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Bad option values are refused at start-up, naming the option, with exit code 64.
#[test]
fn start_up_refusals_name_the_option() {
    for (args, needle) in [
        (tls_args("ssl_min_version=1"), "ssl_min_version"),
        (tls_args("ssl_ciphers=HIGH"), "ssl_ciphers"),
        (
            vec![
                "-Z".to_string(),
                "-o".into(),
                "ssl_chain_cert=/nonexistent.pem".into(),
            ],
            "Error loading the certificate chain: /nonexistent.pem",
        ),
        (
            vec![
                "-Z".to_string(),
                "-o".into(),
                format!(
                    "ssl_chain_cert={},ssl_key=/nonexistent.key",
                    pem("server.crt")
                ),
            ],
            "Error loading the key: /nonexistent.key",
        ),
        (tls_args("ssl_verify_mode=2"), "ssl_ca_cert"),
        (
            vec![
                "-Z".to_string(),
                "-o".into(),
                "ssl_chain_cert=/nonexistent.pem".into(),
                "--check-config".into(),
            ],
            "Error loading the certificate chain: /nonexistent.pem",
        ),
        (
            vec!["-l".to_string(), "notls:127.0.0.1".into()],
            "'notls' option is valid only when SSL is enabled",
        ),
    ] {
        let out = Command::new(ferrocache_path())
            .args(&args)
            .args(["-p", "-1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

// ---- differential: the same scripts through TLS to memcached -Z and ferrocache -Z ----

fn play_tls(port: u16, steps: &[&[u8]]) -> Vec<u8> {
    let mut c = Tls::connect(port, &client_cfg("ca.crt", None)).unwrap();
    let mut out = Vec::new();
    for step in steps {
        if c.send(step).is_err() {
            out.extend_from_slice(b"<SEND FAILED>\r\n");
            break;
        }
        let (got, closed) = c.read_quiet(Duration::from_millis(150), Duration::from_secs(10));
        out.extend_from_slice(&got);
        out.extend_from_slice(b"<STEP>\r\n");
        if closed {
            out.extend_from_slice(b"<CLOSED>\r\n");
            break;
        }
    }
    out
}

/// Masks what must differ: CAS uniques in `VALUE` lines and the `VERSION` text.
fn mask(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split_inclusive("\r\n")
        .map(|l| {
            if l.starts_with("VERSION ") {
                return "VERSION <V>\r\n".to_string();
            }
            let parts: Vec<&str> = l.trim_end().split(' ').collect();
            if parts[0] == "VALUE" && parts.len() == 5 {
                return format!(
                    "{} {} {} {} <CAS>\r\n",
                    parts[0], parts[1], parts[2], parts[3]
                );
            }
            l.to_string()
        })
        .collect()
}

#[test]
fn differential_through_tls_against_memcached() {
    let mc = Path::new(MEMCACHED);
    assert!(
        mc.exists(),
        "{MEMCACHED} missing: scripts/test.sh installs it"
    );
    // The first eight are tests/differential.rs scripts verbatim (diff_storage,
    // diff_retrieval); the rest add what TLS changes: values across many records, binary
    // frames sniffed from decrypted bytes, refresh_certs, and quit's close_notify.
    let key250 = format!("set {0} 0 0 1\r\nx\r\nget {0}\r\n", "k".repeat(250));
    let mut big = b"set big 0 0 200000\r\n".to_vec();
    big.extend((0..200_000u32).map(|i| b'a' + (i % 26) as u8));
    // (A `get` pipelined in the same write as this value is not answered by memcached
    // 1.6.18 -Z until more bytes arrive: it misses requests left inside OpenSSL's buffer.
    // ferrocache answers at once, see `tiny_records_are_reassembled_without_stalling`; here
    // the `get` goes in its own step.)
    big.extend_from_slice(b"\r\n");
    let scripts: Vec<(&str, Vec<&[u8]>)> = vec![
        (
            "set/get",
            vec![
                b"set foo 0 0 3\r\nbar\r\n",
                b"get foo\r\n",
                b"set foo 4294967295 0 0\r\n\r\n",
                b"get foo\r\n",
            ],
        ),
        (
            "add",
            vec![
                b"add a 1 0 1\r\nx\r\n",
                b"add a 2 0 1\r\ny\r\n",
                b"add a 2 0 1 noreply\r\ny\r\nadd b 3 0 1 noreply\r\nz\r\nget a b\r\n",
            ],
        ),
        (
            "append/prepend",
            vec![
                b"append a 0 0 1\r\nx\r\nprepend a 0 0 1\r\nx\r\n",
                b"set a 3 0 2\r\nmm\r\nappend a 9 9 1\r\nz\r\nprepend a 9 9 1\r\na\r\ngets a\r\n",
                b"append a 0 0 1 noreply\r\n!\r\nprepend a 0 0 1 noreply\r\n^\r\nget a\r\n",
            ],
        ),
        (
            "cas",
            vec![
                b"cas a 0 0 1 1\r\nx\r\n",
                b"set a 0 0 1\r\nx\r\ncas a 0 0 1 999999\r\ny\r\n",
                b"cas a 0 0 1 1 noreply\r\ny\r\ncas q 0 0 1 1 noreply\r\ny\r\nget a\r\n",
            ],
        ),
        (
            "binary value",
            vec![b"set b 0 0 10\r\n\0\r\n\r\nEND\r\n\r\nget b\r\n"],
        ),
        ("key 250", vec![key250.as_bytes()]),
        (
            "multi get",
            vec![
                b"get a b c\r\n",
                b"set a 1 0 1\r\nA\r\nset c 3 0 3\r\nCCC\r\n",
                b"get a b c a\r\n",
                b"gets a b c\r\n",
                b"get   a   c  \r\n",
                b"get a\n",
            ],
        ),
        (
            "gat gats",
            vec![
                b"gat 100 a\r\n",
                b"set a 1 0 1\r\nA\r\nset b 2 0 1\r\nB\r\n",
                b"gat 100 a b x\r\n",
                b"gats 100 a b\r\n",
                b"gat 100\r\n",
                b"gat -1 a\r\nget a\r\n",
            ],
        ),
        ("200 KB value", vec![&big, b"get big big\r\n"]),
        (
            "storage",
            vec![
                b"set a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\nreplace a 5 0 2\r\nzz\r\n",
                b"append a 0 0 1\r\n+\r\nprepend a 0 0 1\r\n-\r\nget a\r\n",
                b"set n 0 0 2 noreply\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr a 1\r\n",
                b"gets a\r\ndelete a\r\ndelete a\r\ntouch n 100\r\ngat 0 n\r\n",
            ],
        ),
        (
            "errors",
            vec![
                b"bogus\r\n",
                b"set k 0 0 abc\r\n",
                b"get\r\n",
                b"set k 0 0 3\r\ntoolong\r\n",
                b"incr\r\nverbosity\r\nflush_all\r\nversion\r\n",
            ],
        ),
        (
            "meta",
            vec![
                b"ms m 3 T0 F5\r\nabc\r\nmg m v f t s\r\nmn\r\n",
                b"ma m\r\nms c 1\r\n1\r\nma c MI D10\r\nma c v\r\nmd c q\r\nmg c\r\nmn\r\n",
                b"mg missing v\r\nmg m k v q\r\nmn\r\n",
            ],
        ),
        (
            "binary",
            vec![
                &[
                    0x80, 0x01, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00,
                    0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, b'b', b'v',
                ],
                &[
                    0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
                    0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, b'b',
                ],
                &[
                    0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
                    0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, b'z',
                ],
            ],
        ),
        (
            "refresh_certs",
            vec![b"refresh_certs\r\nrefresh_certs x noreply\r\nmn\r\n"],
        ),
        ("quit", vec![b"set q 0 0 1\r\nq\r\nquit\r\n", b"get q\r\n"]),
    ];
    let args = tls_args("");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut failures = Vec::new();
    for (name, steps) in &scripts {
        let m = Server::start_with(mc, &refs);
        let f = Server::start_with(&ferrocache_path(), &refs);
        let (mp, fp) = (m.port, f.port);
        let owned: Vec<Vec<u8>> = steps.iter().map(|s| s.to_vec()).collect();
        let th = std::thread::spawn(move || {
            let s: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            play_tls(mp, &s)
        });
        let got_f = play_tls(fp, steps);
        let got_m = th.join().unwrap();
        let (mm, mf) = (mask(&got_m), mask(&got_f));
        if mm != mf {
            failures.push(format!(
                "=== {name} ===\n--- memcached ---\n{}\n--- ferrocache ---\n{}",
                esc(mm.as_bytes()),
                esc(mf.as_bytes())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- the pool over TLS ----

/// Pool flags: a shared secret, 1 s sync.
fn pool_args(cert: &str, ca: &str, extra: &[&str]) -> Vec<String> {
    let secret = std::env::temp_dir().join(format!("ferro-tls-secret-{}", std::process::id()));
    std::fs::write(&secret, "tls-pool-secret-0123456789abcdef\n").unwrap();
    let mut v: Vec<String> = vec![
        "-Z".into(),
        "-o".into(),
        format!(
            "ssl_chain_cert={},ssl_key={},ssl_ca_cert={}",
            pem(&format!("{cert}.crt")),
            pem(&format!("{cert}.key")),
            pem(ca)
        ),
        "--cluster-admin".into(),
        "--cluster-sync-interval".into(),
        "1".into(),
        "--cluster-secret-file".into(),
        secret.display().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn start_node(cert: &str, ca: &str, extra: &[&str]) -> Server {
    let args = pool_args(cert, ca, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&refs)
}

/// The node list a node serves (`config get cluster` over TLS).
fn cluster_nodes(port: u16) -> String {
    let mut c = Tls::connect(port, &client_cfg("ca.crt", Some("client"))).unwrap();
    let raw = c.ask(b"config get cluster\r\n", b"END\r\n").unwrap();
    String::from_utf8_lossy(&raw)
        .lines()
        .nth(2)
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_pool_over_tls_forms_and_refuses_an_untrusted_node() {
    let a = start_node("server", "ca.crt", &[]);
    let join = format!("127.0.0.1:{}", a.port);
    let b = start_node("server", "ca.crt", &["--cluster-join", &join]);
    let c = start_node("server", "ca.crt", &["--cluster-join", &join]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let lists: Vec<String> = [a.port, b.port, c.port]
            .iter()
            .map(|&p| cluster_nodes(p))
            .collect();
        if lists.iter().all(|l| l == &lists[0]) && lists[0].split(' ').count() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence over TLS: {lists:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A node whose certificate the pool does not trust, and which does not trust the
    // pool's, cannot join: it exits non-zero at once (retrying cannot fix a certificate),
    // and the pool stays at three.
    // (Started by hand: it may exit before the harness could see it listen.)
    let args = pool_args("server2", "ca2.crt", &["--cluster-join", &join]);
    let mut x = Command::new(ferrocache_path())
        .args(["-p", "-1", "-l", "127.0.0.1"])
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the untrusted node");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = x.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = x.kill();
            panic!("the untrusted node did not give up within 5 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = x.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(!status.success(), "an untrusted node joined: {err}");
    assert!(err.contains("TLS certificate refused"), "{err}");
    assert_eq!(cluster_nodes(a.port).split(' ').count(), 3);
    // The refused handshakes were counted by the pool node.
    assert!(stat(&tls_stats(a.port, ""), "ssl_handshake_errors") >= 1);
}
