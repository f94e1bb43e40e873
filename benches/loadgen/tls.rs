//! `--tls-ca FILE` (with `--tls-cert`/`--tls-key` for mutual TLS): the client side of TLS
//! for the load generator, with rustls. The event loop's connections keep a
//! [`rustls::ClientConnection`] and move bytes through it without blocking (`read`,
//! `write`, `flush` here); `--stats` uses a blocking [`rustls::StreamOwned`].
//!
//! Owns: the client configuration and the non-blocking record plumbing. Must not touch:
//! the workload or reply parsing.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// The client configuration: trusts `ca`, presents `cert`+`key` if both are given.
pub(crate) fn config(
    ca: &str,
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{ca}: {e}"))? {
        roots
            .add(c.map_err(|e| format!("{ca}: {e}"))?)
            .map_err(|e| format!("{ca}: {e}"))?;
    }
    // ring: no cmake/C toolchain needed (deprecated only for lacking post-quantum kx).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let cfg = match (cert, key) {
        (Some(c), Some(k)) => {
            let chain = CertificateDer::pem_file_iter(c)
                .map_err(|e| format!("{c}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{c}: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| format!("{k}: {e}"))?;
            b.with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
        _ => b.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// A new client session for `host` (the name the server certificate must carry).
pub(crate) fn session(cfg: &Arc<ClientConfig>, host: &str) -> Result<ClientConnection, String> {
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
    ClientConnection::new(cfg.clone(), name).map_err(|e| e.to_string())
}

/// Sends queued records until done or the socket would block.
pub(crate) fn flush(tls: &mut ClientConnection, sock: &mut impl Write) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Encrypts `buf`; returns how much rustls took (it buffers until the handshake is done).
pub(crate) fn write(
    tls: &mut ClientConnection,
    sock: &mut impl Write,
    buf: &[u8],
) -> io::Result<usize> {
    let n = tls.writer().write(buf)?;
    flush(tls, sock)?;
    if n == 0 {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    Ok(n)
}

/// Reads plaintext into `buf`: `Ok(0)` at end of stream, `WouldBlock` once the socket is
/// drained and no plaintext is left.
pub(crate) fn read(
    tls: &mut ClientConnection,
    sock: &mut (impl Read + Write),
    buf: &mut [u8],
) -> io::Result<usize> {
    loop {
        match tls.reader().read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        match tls.read_tls(sock) {
            Ok(0) => return Ok(0),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        tls.process_new_packets().map_err(io::Error::other)?;
        flush(tls, sock)?;
    }
}
