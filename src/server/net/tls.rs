//! TLS for client connections (`-Z`), with rustls, inside the workers' polls: no thread per
//! connection and no blocking handshake. The handshake advances as the socket becomes
//! readable or writable, like any request.
//!
//! Owns: the server's TLS context (certificates, key, client CA, verify mode, cipher
//! suites, session cache, built from `config::tls::TlsSettings`; swapped whole by
//! `refresh_certs` and SIGHUP, so established connections keep the context they started
//! with), the TLS counters of `stats`, and [`TlsSession`]: one connection's rustls state,
//! which turns socket bytes into plaintext for `connection.rs` (`read`) and queued replies
//! into records (`write`, `flush`). Must not: parse requests, choose reply words, or touch
//! the store. The pool's peer traffic (`server/cluster.rs`) uses [`TlsContext::client`].
//!
//! # What a TLS connection holds
//!
//! Bounded by rustls, per connection: encrypted input being assembled into a record (at most
//! one record, about 16 KiB, or one handshake message during the handshake, at most 64 KiB),
//! decrypted input not yet read (at most 16 KiB: rustls stops reading the socket past it;
//! this file never reads the socket while it holds any), and encrypted output not yet sent
//! (`ssl_wbuf_size`, default 16 KiB: `write` takes no more plaintext past it, so replies
//! wait in `outq.rs` under its own bound and back-pressure works as over plain TCP). An
//! unfinished handshake's bytes are charged with the connection's unparsed input
//! (`handshake_held`, `connection.rs`): past 16 KiB they draw on the shared input budget.
//! Idle, rustls keeps a 4 KiB read buffer: measured RSS per idle connection is in README.md.

use crate::config::tls::{ListenTls, MinVersion, TlsSettings, VerifyMode};
use crate::server::net::stream::Stream;
use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{self, IoSlice, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most handshake bytes rustls buffers (one 64 KiB handshake message and a 4 KiB read).
const MAX_HANDSHAKE_HELD: usize = 68 * 1024;

/// Sessions kept for resumption with `ssl_session_cache`.
const SESSION_CACHE_ENTRIES: usize = 4096;

/// The TLS counters memcached prints in `stats`.
#[derive(Debug, Default)]
pub struct TlsStats {
    /// Handshakes that failed (bad ClientHello, plain text on a TLS port, a refused client
    /// certificate, a peer that left mid-handshake).
    pub handshake_errors: AtomicU64,
    /// TLS errors after the handshake (a bad record, a bad MAC).
    pub proto_errors: AtomicU64,
    /// Full handshakes with `ssl_session_cache` (resumed sessions are not new).
    pub new_sessions: AtomicU64,
}

/// The server configurations a listener may use: one per kind of `-l` entry.
struct Configs {
    /// No prefix: client certificates as `ssl_verify_mode` says.
    default: Arc<ServerConfig>,
    /// `btls:`: no client certificate asked for.
    no_peer: Arc<ServerConfig>,
    /// `mtls:`: a valid client certificate required (needs `ssl_ca_cert`).
    peer: Option<Arc<ServerConfig>>,
}

/// The server's TLS context, shared by every worker.
pub struct TlsContext {
    settings: TlsSettings,
    configs: RwLock<Arc<Configs>>,
    /// What the pool's client side trusts (`ssl_ca_cert`) and presents (our certificate).
    client: RwLock<Option<Arc<rustls::ClientConfig>>>,
    pub stats: TlsStats,
    /// Uptime (seconds) of the last successful `refresh_certs`/SIGHUP reload; `u64::MAX`:
    /// none since start-up.
    refreshed_at: AtomicU64,
}

/// The crypto provider: ring, limited to the suites `ssl_ciphers` names. As with
/// OpenSSL's cipher list, TLS 1.3 suites stay all on unless the list names some.
fn provider(s: &TlsSettings) -> Result<Arc<CryptoProvider>, String> {
    // Deprecated since 0.23.48 only for lacking post-quantum key exchange, which needs the
    // aws-lc-rs provider (cmake and a C toolchain on every machine): ring is the choice.
    #[allow(deprecated)]
    let mut p = rustls::crypto::ring::default_provider();
    if let Some(list) = &s.ciphers {
        let names = crate::config::tls::cipher_names(list)?;
        let named_13 = names.iter().any(|n| n.starts_with("TLS13_"));
        p.cipher_suites.retain(|cs| {
            let name = format!("{:?}", cs.suite());
            let is_13 = name.starts_with("TLS13_");
            names.contains(&name.as_str()) || (is_13 && !named_13)
        });
        if p.cipher_suites.is_empty() {
            return Err(format!(
                "Error setting the provided cipher(s): {list}: none available"
            ));
        }
    }
    Ok(Arc::new(p))
}

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn versions(s: &TlsSettings) -> &'static [&'static rustls::SupportedProtocolVersion] {
    match s.min_version {
        MinVersion::Tls12 => rustls::ALL_VERSIONS,
        MinVersion::Tls13 => TLS13_ONLY,
    }
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "Error loading the certificate chain: {} : {e}",
            path.display()
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    if certs.is_empty() {
        return Err(fail(&"no certificate in the file"));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        let why = match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PEM private key in the file (-o ssl_key=FILE)".to_string()
            }
            e => e.to_string(),
        };
        format!("Error loading the key: {} : {why}", path.display())
    })
}

fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, String> {
    let fail = |e: &dyn std::fmt::Display| {
        format!("Error loading the CA certificate: {} : {e}", path.display())
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(&e))? {
        roots
            .add(cert.map_err(|e| fail(&e))?)
            .map_err(|e| fail(&e))?;
    }
    if roots.is_empty() {
        return Err(fail(&"no certificate in the file"));
    }
    Ok(Arc::new(roots))
}

/// What the certificate files hold, read once per load.
struct Loaded {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Option<Arc<RootCertStore>>,
}

fn load_files(s: &TlsSettings) -> Result<Loaded, String> {
    let chain_path = s
        .chain_cert
        .as_deref()
        .ok_or("Error loading the certificate chain: (null)")?;
    let chain = load_chain(chain_path)?;
    // memcached: the key may be in the chain file.
    let key = load_key(s.key.as_deref().unwrap_or(chain_path))?;
    let roots = match &s.ca_cert {
        Some(p) => Some(load_roots(p)?),
        None => None,
    };
    Ok(Loaded { chain, key, roots })
}

fn server_config(
    s: &TlsSettings,
    files: &Loaded,
    verify: VerifyMode,
) -> Result<Arc<ServerConfig>, String> {
    let builder = ServerConfig::builder_with_provider(provider(s)?)
        .with_protocol_versions(versions(s))
        .map_err(|e| format!("Error setting the protocol versions: {e}"))?;
    let builder = match (verify, &files.roots) {
        (VerifyMode::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err("Error loading the CA certificate: (null) : client certificates need -o ssl_ca_cert".into());
        }
        (mode, Some(roots)) => {
            let v = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider(s)?);
            let v = if mode == VerifyMode::Request {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v
                .build()
                .map_err(|e| format!("Error loading the CA certificate: {e}"))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut cfg = builder
        .with_single_cert(files.chain.clone(), files.key.clone_key())
        .map_err(|e| format!("Error validating the certificate: {e}"))?;
    if s.session_cache {
        cfg.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    } else {
        cfg.session_storage = Arc::new(NoServerSessionStorage {});
        cfg.send_tls13_tickets = 0;
    }
    Ok(Arc::new(cfg))
}

fn client_config(s: &TlsSettings, files: &Loaded) -> Result<Arc<rustls::ClientConfig>, String> {
    let Some(roots) = &files.roots else {
        return Err("the pool over TLS needs -o ssl_ca_cert to check its peers".into());
    };
    let cfg = rustls::ClientConfig::builder_with_provider(provider(s)?)
        .with_protocol_versions(versions(s))
        .map_err(|e| format!("Error setting the protocol versions: {e}"))?
        .with_root_certificates(roots.clone())
        .with_client_auth_cert(files.chain.clone(), files.key.clone_key())
        .map_err(|e| format!("Error validating the certificate: {e}"))?;
    Ok(Arc::new(cfg))
}

fn build(s: &TlsSettings) -> Result<(Configs, Option<Arc<rustls::ClientConfig>>), String> {
    let files = load_files(s)?;
    let configs = Configs {
        default: server_config(s, &files, s.verify_mode)?,
        no_peer: server_config(s, &files, VerifyMode::None)?,
        peer: match files.roots {
            Some(_) => Some(server_config(s, &files, VerifyMode::Require)?),
            None => None,
        },
    };
    let client = client_config(s, &files).ok();
    Ok((configs, client))
}

impl TlsContext {
    /// Reads the certificates and builds the context; `Ok(None)` without `-Z`. The error
    /// is memcached's start-up message (exit 64).
    pub fn load(s: &TlsSettings) -> Result<Option<Arc<TlsContext>>, String> {
        if !s.enabled {
            return Ok(None);
        }
        let (configs, client) = build(s)?;
        Ok(Some(Arc::new(TlsContext {
            settings: s.clone(),
            configs: RwLock::new(Arc::new(configs)),
            client: RwLock::new(client),
            stats: TlsStats::default(),
            refreshed_at: AtomicU64::new(u64::MAX),
        })))
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Re-reads the certificate, key and CA files (`refresh_certs`, SIGHUP): new
    /// connections use them, established ones keep theirs. On failure nothing changes and
    /// the error is memcached's message.
    pub fn refresh(&self, uptime: u64) -> Result<(), String> {
        let (configs, client) = build(&self.settings)?;
        *self.configs.write() = Arc::new(configs);
        *self.client.write() = client;
        self.refreshed_at.store(uptime, Ordering::Relaxed);
        Ok(())
    }

    /// `time_since_server_cert_refresh`: memcached stamps its first load at relative time
    /// 0, before its clock starts, so until a refresh it prints its relative clock
    /// (`clock_now`); after one, the seconds since.
    pub fn since_refresh(&self, uptime: u64, clock_now: u64) -> u64 {
        match self.refreshed_at.load(Ordering::Relaxed) {
            u64::MAX => clock_now,
            at => uptime.saturating_sub(at),
        }
    }

    /// A new session for a connection accepted on a listener of kind `mode`; `None`:
    /// plain (`notls:`).
    pub fn session(&self, mode: ListenTls) -> Option<io::Result<TlsSession>> {
        let configs = self.configs.read().clone();
        let cfg = match mode {
            ListenTls::Off => return None,
            ListenTls::Default => configs.default.clone(),
            ListenTls::NoPeer => configs.no_peer.clone(),
            ListenTls::Peer => configs.peer.clone()?,
        };
        Some(
            ServerConnection::new(cfg)
                .map(|mut conn| {
                    conn.set_buffer_limit(Some(self.settings.wbuf_size as usize));
                    TlsSession {
                        conn,
                        eof: false,
                        established: false,
                        received: false,
                        more: false,
                        handshake_bytes: 0,
                        announced: false,
                        session_cache: self.settings.session_cache,
                    }
                })
                .map_err(io::Error::other),
        )
    }

    /// The pool's client configuration: trusts `ssl_ca_cert`, presents our certificate.
    /// `None` without `ssl_ca_cert`.
    pub fn client(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.client.read().clone()
    }
}

/// What a read through TLS found, besides plaintext.
#[derive(Debug)]
pub enum TlsEvent {
    /// The handshake failed or a record was bad: the connection must close.
    Failed { handshake: bool, why: String },
}

/// One connection's TLS state.
pub struct TlsSession {
    conn: ServerConnection,
    /// The socket reached end of file (or the peer sent close_notify).
    eof: bool,
    /// The handshake completed.
    established: bool,
    /// Some bytes came from the peer.
    received: bool,
    /// `read` stopped at its cap with the socket not drained.
    more: bool,
    /// Bytes received before the handshake completed (what rustls may be holding).
    handshake_bytes: usize,
    /// The worker was told of the completed handshake (`take_established`).
    announced: bool,
    session_cache: bool,
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

impl TlsSession {
    /// Reads plaintext into `buf` (not empty). Returns `Ok(n)` with `n == buf.len()`
    /// while more may follow, a shorter `n` only once the socket is drained (so
    /// edge-triggered readiness stays correct), `Ok(0)` at end of stream, `WouldBlock`
    /// when no plaintext is there yet (mid-handshake included). Handshake replies are
    /// sent as they are produced. A TLS error is returned as `InvalidData` (after
    /// queueing the alert and trying to send it) with the reason in `failure`.
    pub fn read(
        &mut self,
        sock: &mut Stream,
        buf: &mut [u8],
        failure: &mut Option<TlsEvent>,
    ) -> io::Result<usize> {
        let mut got = 0;
        // Bounded: each round either fills `buf`, returns, or reads up to 4 KiB from the
        // socket. A peer sending records with little or no plaintext (tiny or empty records)
        // could keep the worker here: past the cap the session says `more` (the socket is not
        // drained) and the worker comes back after a poll round.
        for _ in 0..64 {
            let ended = match self.conn.reader().read(&mut buf[got..]) {
                Ok(0) => true,
                Ok(n) => {
                    got += n;
                    if got == buf.len() {
                        return Ok(got);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.eof,
                // The peer closed the socket without close_notify: end of stream.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => true,
                Err(e) => return Err(e),
            };
            if ended {
                // A peer that closes before sending anything (a port probe) is no error,
                // as in memcached.
                if !self.established && self.received {
                    *failure = Some(TlsEvent::Failed {
                        handshake: true,
                        why: "peer closed the connection during the TLS handshake".into(),
                    });
                    return Err(io::Error::from(io::ErrorKind::InvalidData));
                }
                return Ok(got);
            }
            match self.conn.read_tls(sock) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.received = true;
                    if !self.established {
                        self.handshake_bytes = self.handshake_bytes.saturating_add(n);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flush(sock)?;
                    return if got > 0 { Ok(got) } else { Err(would_block()) };
                }
                Err(e) => {
                    // rustls' own refusals (a handshake message over 64 KiB) and any socket
                    // error mid-handshake are TLS failures; a reset later is just a close.
                    if self.conn.is_handshaking() || e.kind() == io::ErrorKind::Other {
                        *failure = Some(TlsEvent::Failed {
                            handshake: self.conn.is_handshaking(),
                            why: e.to_string(),
                        });
                    }
                    return Err(e);
                }
            }
            if let Err(e) = self.conn.process_new_packets() {
                // The alert rustls queued goes out if the socket takes it now.
                let _ = self.flush(sock);
                *failure = Some(TlsEvent::Failed {
                    handshake: self.conn.is_handshaking(),
                    why: e.to_string(),
                });
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if !self.established && !self.conn.is_handshaking() {
                self.established = true;
            }
            self.flush(sock)?;
        }
        self.more = true;
        if got > 0 { Ok(got) } else { Err(would_block()) }
    }

    /// The last `read` stopped at its cap with the socket not drained (taken once).
    pub fn take_more(&mut self) -> bool {
        std::mem::take(&mut self.more)
    }

    /// The handshake completed since the last call: the peer certificate's subject (if the
    /// client sent one) and whether this was a new session (for `ssl_new_sessions`).
    pub fn take_established(&mut self) -> Option<(Option<String>, bool)> {
        if !self.established || self.announced {
            return None;
        }
        self.announced = true;
        let subject = self
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| subject(c.as_ref()));
        let new = self.session_cache
            && self.conn.handshake_kind() != Some(rustls::HandshakeKind::Resumed);
        Some((subject, new))
    }

    /// What rustls may hold of an unfinished handshake, as `connection.rs` charges it to the
    /// shared input budget: the bytes received so far, at most what rustls buffers; 0 once
    /// established.
    pub fn handshake_held(&self) -> usize {
        if self.established {
            0
        } else {
            self.handshake_bytes.min(MAX_HANDSHAKE_HELD)
        }
    }

    /// The handshake has not completed.
    pub fn handshaking(&self) -> bool {
        !self.established
    }

    /// The socket reached end of stream; a reader must come back for it.
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// Encrypted bytes are waiting for the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Sends queued records until done or the socket would block.
    pub fn flush(&mut self, sock: &mut Stream) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(sock) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Queues close_notify and tries once to send it (the connection is being closed).
    pub fn close(&mut self, sock: &mut Stream) {
        self.conn.send_close_notify();
        let _ = self.flush(sock);
    }

    /// A writer that encrypts into this session and sends to `sock`.
    pub fn writer<'a>(&'a mut self, sock: &'a mut Stream) -> TlsWriter<'a> {
        TlsWriter { tls: self, sock }
    }
}

/// Plaintext in, records out: what `outq.rs` writes replies to on a TLS connection. Takes
/// plaintext only while the encrypted output is under `ssl_wbuf_size`; then `WouldBlock`.
pub struct TlsWriter<'a> {
    tls: &'a mut TlsSession,
    sock: &'a mut Stream,
}

impl TlsWriter<'_> {
    fn accept(&mut self, n: usize) -> io::Result<usize> {
        // Send what was just encrypted; a socket that blocks keeps it queued (bounded).
        self.tls.flush(self.sock)?;
        if n == 0 {
            return Err(would_block());
        }
        Ok(n)
    }
}

impl Write for TlsWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tls.flush(self.sock)?;
        let n = self.tls.conn.writer().write(buf)?;
        self.accept(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.tls.flush(self.sock)?;
        let n = self.tls.conn.writer().write_vectored(bufs)?;
        self.accept(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tls.flush(self.sock)
    }
}

/// The subject of a DER certificate as `CN=..,O=..` (the attributes memcached's users
/// look at), or `None` if it cannot be read. A bounded walk over the DER structure: no
/// allocation beyond the result, no recursion.
pub fn subject(der: &[u8]) -> Option<String> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version?, serial, sigAlg,
    // issuer, validity, subject, ... }, ... }
    let (_, cert, _) = tlv(der)?;
    let (_, mut tbs, _) = tlv(cert)?;
    let (tag, _, rest) = tlv(tbs)?;
    if tag == 0xa0 {
        tbs = rest;
    }
    for _ in 0..4 {
        let (_, _, rest) = tlv(tbs)?;
        tbs = rest;
    }
    let (tag, mut name, _) = tlv(tbs)?;
    if tag != 0x30 {
        return None;
    }
    let mut parts = Vec::new();
    // Name ::= SEQUENCE OF SET OF SEQUENCE { OID, value }
    for _ in 0..32 {
        if name.is_empty() {
            break;
        }
        let (_, set, rest) = tlv(name)?;
        name = rest;
        let (_, atv, _) = tlv(set)?;
        let (_, oid, rest) = tlv(atv)?;
        let (_, value, _) = tlv(rest)?;
        let key = match oid {
            [0x55, 0x04, 0x03] => "CN",
            [0x55, 0x04, 0x06] => "C",
            [0x55, 0x04, 0x07] => "L",
            [0x55, 0x04, 0x08] => "ST",
            [0x55, 0x04, 0x0a] => "O",
            [0x55, 0x04, 0x0b] => "OU",
            _ => continue,
        };
        let text: String = String::from_utf8_lossy(value)
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        parts.push(format!("{key}={text}"));
    }
    Some(parts.join(","))
}

/// One DER tag-length-value: (tag, value, what follows).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    let value = b.get(head..end)?;
    Some((tag, value, &b[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_refuses_truncated_input() {
        assert!(tlv(&[]).is_none());
        assert!(tlv(&[0x30]).is_none());
        assert!(tlv(&[0x30, 0x05, 1, 2]).is_none());
        assert!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert_eq!(
            tlv(&[0x04, 0x01, 7, 9]),
            Some((0x04, &[7u8][..], &[9u8][..]))
        );
        assert!(subject(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_none());
    }
}
