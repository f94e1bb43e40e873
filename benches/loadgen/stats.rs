//! `--stats`: one blocking connection, `stats`, the reply printed as `name=value` lines.
//!
//! Owns: this one request and its output. Must not touch: the event loop or the workload
//! (it is deliberately a plain blocking socket, or blocking TLS with `--tls-ca`).

use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;
use std::process::ExitCode;
use std::time::Duration;

use crate::args::Args;
use crate::event_loop::resolve;

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

pub(crate) fn stats(args: &Args) -> ExitCode {
    let result = (|| -> Result<(), String> {
        let addr = resolve(args.addr.as_deref().unwrap_or_default())?;
        let timeout = Duration::from_secs_f64(args.timeout.unwrap_or(10.0));
        let sock = StdTcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut s: Box<dyn ReadWrite> = match args.tls_ca.as_deref() {
            None => Box::new(sock),
            Some(ca) => {
                let cfg =
                    crate::tls::config(ca, args.tls_cert.as_deref(), args.tls_key.as_deref())?;
                let host = args
                    .addr
                    .as_deref()
                    .and_then(|a| a.rsplit_once(':'))
                    .map_or("localhost", |(h, _)| h);
                let conn = crate::tls::session(&cfg, host)?;
                Box::new(rustls::StreamOwned::new(conn, sock))
            }
        };
        s.write_all(b"stats\r\n").map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.ends_with(b"END\r\n") {
            let n = s
                .read(&mut chunk)
                .map_err(|e| format!("reading stats: {e}"))?;
            if n == 0 || buf.len() > 1 << 20 {
                return Err("stats: connection closed before END".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        for line in String::from_utf8_lossy(&buf).lines() {
            let mut p = line.splitn(3, ' ');
            if let (Some("STAT"), Some(k), Some(v)) = (p.next(), p.next(), p.next()) {
                println!("{k}={v}");
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(1)
        }
    }
}
