//! A blocking text-protocol connection: writes whole requests, reads reply lines and value
//! blocks from its own buffer, and the few replies the benchmark needs (`STORED`, `VALUE …`
//! / `END`, `stats`, `lru_crawler metadump`).
//!
//! Owns: bytes on one socket. Must not decide what to send (replay.rs, expired.rs).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Conn {
    /// Connects with a 2 s connect timeout and `io_timeout` on every read and write.
    pub fn connect(addr: SocketAddr, io_timeout: Duration) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(io_timeout))?;
        stream.set_write_timeout(Some(io_timeout))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
        })
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads more bytes into the buffer (compacting or growing it first).
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 && self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(())
    }

    /// The next line without its `\r\n` (valid until the next read).
    pub fn line(&mut self) -> io::Result<&[u8]> {
        let mut scanned = self.start;
        loop {
            if let Some(i) = self.buf[scanned..self.end].iter().position(|&b| b == b'\n') {
                let nl = scanned + i;
                let line_start = self.start;
                self.start = nl + 1;
                let line_end = if nl > line_start && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                return Ok(&self.buf[line_start..line_end]);
            }
            let off = self.end - self.start;
            self.fill()?;
            scanned = self.start + off;
        }
    }

    /// Skips `n` bytes (a value block and its `\r\n`).
    pub fn skip(&mut self, mut n: usize) -> io::Result<()> {
        loop {
            let have = self.end - self.start;
            if have >= n {
                self.start += n;
                return Ok(());
            }
            n -= have;
            self.start = self.end;
            self.fill()?;
        }
    }

    /// Reads `n` replies to `set`; returns how many were not `STORED`.
    pub fn stored(&mut self, n: usize) -> io::Result<u64> {
        let mut errors = 0;
        for _ in 0..n {
            if self.line()? != b"STORED" {
                errors += 1;
            }
        }
        Ok(errors)
    }

    /// Reads a `get` reply up to `END`, calling `hit` with each returned key.
    pub fn values(&mut self, mut hit: impl FnMut(&[u8])) -> io::Result<()> {
        // A reply has at most one VALUE per requested key; bounded by the buffer anyway.
        loop {
            let line = self.line()?;
            if line == b"END" {
                return Ok(());
            }
            let mut parts = line.split(|&b| b == b' ');
            if parts.next() != Some(b"VALUE") {
                return Err(bad(format!(
                    "unexpected get reply: {}",
                    String::from_utf8_lossy(line)
                )));
            }
            let key = parts.next().unwrap_or_default();
            let _flags = parts.next();
            let len = parts
                .next()
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| bad("VALUE line without a length".into()))?;
            hit(key);
            self.skip(len + 2)?;
        }
    }

    /// `stats` (or `stats <arg>`) as a map.
    pub fn stats(&mut self, arg: &str) -> io::Result<HashMap<String, String>> {
        let cmd = if arg.is_empty() {
            "stats\r\n".to_string()
        } else {
            format!("stats {arg}\r\n")
        };
        self.send(cmd.as_bytes())?;
        let mut out = HashMap::new();
        for _ in 0..100_000 {
            let line = self.line()?;
            if line == b"END" {
                return Ok(out);
            }
            let s = String::from_utf8_lossy(line);
            let mut w = s.split_whitespace();
            if let (Some("STAT"), Some(k), Some(v)) = (w.next(), w.next(), w.next()) {
                out.insert(k.to_string(), v.to_string());
            } else {
                return Err(bad(format!("unexpected stats line: {s}")));
            }
        }
        Err(bad("stats reply too long".into()))
    }

    /// `lru_crawler metadump all`: calls `item` with each line's `size` field (the server
    /// lists only the items it holds as live, see `expired.rs`); returns Ok(false) if the
    /// server answered `BUSY` (memcached's crawler was running).
    pub fn metadump(&mut self, mut item: impl FnMut(u64)) -> io::Result<bool> {
        self.send(b"lru_crawler metadump all\r\n")?;
        // Bounded by the number of items a -m limit can hold (8 bytes each at least).
        for _ in 0..1u64 << 30 {
            let line = self.line()?;
            if line == b"END" {
                return Ok(true);
            }
            if line.starts_with(b"BUSY") {
                return Ok(false);
            }
            if line.starts_with(b"ERROR") || line.starts_with(b"CLIENT_ERROR") {
                return Err(bad(String::from_utf8_lossy(line).into_owned()));
            }
            let size = line
                .split(|&b| b == b' ')
                .find_map(|f| f.strip_prefix(b"size="))
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<u64>().ok());
            match size {
                Some(s) => item(s),
                None => {
                    return Err(bad(format!(
                        "unexpected metadump line: {}",
                        String::from_utf8_lossy(line)
                    )));
                }
            }
        }
        Err(bad("metadump too long".into()))
    }
}
