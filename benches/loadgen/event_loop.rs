//! Event loop: one `mio` poll per client thread driving many connections ([`Conn`]: write
//! buffer, read buffer, expected replies), and `run`, which spreads connections over
//! threads, stops a mixed run after its duration and merges the per-thread results.
//!
//! Owns: sockets, non-blocking I/O, per-batch latency, the `--timeout` deadline check.
//! Must not touch: what is sent (workload.rs / request.rs), how replies parse (reply.rs),
//! what gets printed (the modes).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::histogram::Histogram;
use crate::keys::Rng;
use crate::reply::{Counts, Parsed, parse_reply};
use crate::workload::{Expect, Mode, Shared, next_batch};

pub(crate) struct Conn {
    stream: TcpStream,
    /// `--tls-ca`: requests and replies go through this session.
    tls: Option<Box<rustls::ClientConnection>>,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Bytes read and not parsed yet: `rbuf[rstart..rend]`.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    expect: VecDeque<Expect>,
    batch_start: Instant,
    rng: Rng,
    done: bool,
}

impl Conn {
    pub(crate) fn start_batch(&mut self, sh: &Shared, mode: Mode) -> bool {
        self.wbuf.clear();
        self.wpos = 0;
        if !next_batch(sh, mode, &mut self.rng, &mut self.wbuf, &mut self.expect) {
            return false;
        }
        self.batch_start = Instant::now();
        true
    }

    /// Writes what it can; Err on a broken connection.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if let Some(t) = self.tls.as_mut() {
            crate::tls::flush(t, &mut self.stream)?;
        }
        while self.wpos < self.wbuf.len() {
            let wrote = match self.tls.as_mut() {
                Some(t) => crate::tls::write(t, &mut self.stream, &self.wbuf[self.wpos..]),
                None => self.stream.write(&self.wbuf[self.wpos..]),
            };
            match wrote {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until WouldBlock and parses every complete reply; Err on a broken connection.
    pub(crate) fn read_and_parse(&mut self, sh: &Shared, c: &mut Counts) -> Result<(), String> {
        loop {
            if self.rbuf.len() - self.rend < 16 * 1024 {
                if self.rstart > 0 {
                    self.rbuf.copy_within(self.rstart..self.rend, 0);
                    self.rend -= self.rstart;
                    self.rstart = 0;
                }
                if self.rbuf.len() - self.rend < 16 * 1024 {
                    let len = self.rbuf.len();
                    self.rbuf.resize(len * 2, 0);
                }
            }
            let got = match self.tls.as_mut() {
                Some(t) => crate::tls::read(t, &mut self.stream, &mut self.rbuf[self.rend..]),
                None => self.stream.read(&mut self.rbuf[self.rend..]),
            };
            match got {
                Ok(0) => return Err("connection closed by server".into()),
                Ok(n) => self.rend += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
            self.parse(sh, c)?;
        }
    }

    pub(crate) fn parse(&mut self, sh: &Shared, c: &mut Counts) -> Result<(), String> {
        while let Some(&exp) = self.expect.front() {
            match parse_reply(&self.rbuf[self.rstart..self.rend], exp, sh, c) {
                Parsed::Incomplete => break,
                Parsed::Done(n) => {
                    self.rstart += n;
                    self.expect.pop_front();
                }
                Parsed::Broken(msg) => return Err(msg),
            }
        }
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.expect.is_empty() {
            return Err("server sent more replies than requests".into());
        }
        Ok(())
    }
}

pub(crate) struct ThreadResult {
    counts: Counts,
    hist: Histogram,
    timed_out: bool,
}

pub(crate) fn run_thread(
    sh: &Shared,
    mode: Mode,
    addr: SocketAddr,
    nconns: usize,
    seed: u64,
) -> ThreadResult {
    let mut counts = Counts::default();
    let mut hist = Histogram::new();
    let fail = |counts: &mut Counts, msg: String| {
        counts.conn_errors += 1;
        if counts.first_error.is_none() {
            counts.first_error = Some(msg);
        }
    };
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            fail(&mut counts, format!("poll: {e}"));
            return ThreadResult {
                counts,
                hist,
                timed_out: false,
            };
        }
    };
    let tls_cfg = match sh.args.tls_ca.as_deref() {
        None => None,
        Some(ca) => {
            match crate::tls::config(ca, sh.args.tls_cert.as_deref(), sh.args.tls_key.as_deref()) {
                Ok(c) => Some(c),
                Err(e) => {
                    fail(&mut counts, format!("--tls-ca: {e}"));
                    return ThreadResult {
                        counts,
                        hist,
                        timed_out: false,
                    };
                }
            }
        }
    };
    let host = sh
        .args
        .addr
        .as_deref()
        .and_then(|a| a.rsplit_once(':'))
        .map_or("localhost", |(h, _)| h)
        .to_string();
    let mut conns = Vec::with_capacity(nconns);
    for i in 0..nconns {
        let connect = StdTcpStream::connect_timeout(&addr, Duration::from_secs(5)).and_then(|s| {
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        let std_stream = match connect {
            Ok(s) => s,
            Err(e) => {
                fail(&mut counts, format!("connect {addr}: {e}"));
                continue;
            }
        };
        let tls = match &tls_cfg {
            None => None,
            Some(cfg) => match crate::tls::session(cfg, &host) {
                Ok(s) => Some(Box::new(s)),
                Err(e) => {
                    fail(&mut counts, format!("tls: {e}"));
                    continue;
                }
            },
        };
        let mut stream = TcpStream::from_std(std_stream);
        let tok = Token(conns.len());
        if let Err(e) =
            poll.registry()
                .register(&mut stream, tok, Interest::READABLE | Interest::WRITABLE)
        {
            fail(&mut counts, format!("register: {e}"));
            continue;
        }
        conns.push(Conn {
            stream,
            tls,
            wbuf: Vec::with_capacity(4096),
            wpos: 0,
            rbuf: vec![0; 64 * 1024],
            rstart: 0,
            rend: 0,
            expect: VecDeque::new(),
            batch_start: Instant::now(),
            rng: Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
            done: false,
        });
    }
    let mut active = 0;
    for c in conns.iter_mut() {
        if c.start_batch(sh, mode) {
            if let Err(e) = c.flush() {
                fail(&mut counts, format!("write: {e}"));
                c.done = true;
                continue;
            }
            active += 1;
        } else {
            c.done = true;
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut timed_out = false;
    while active > 0 {
        let now = Instant::now();
        if now >= sh.deadline {
            timed_out = true;
            break;
        }
        let wait = (sh.deadline - now).min(Duration::from_millis(200));
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            fail(&mut counts, format!("poll: {e}"));
            break;
        }
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.done {
                continue;
            }
            let mut result = Ok(());
            if ev.is_writable() || ev.is_write_closed() {
                result = c.flush().map_err(|e| format!("write: {e}"));
            }
            if result.is_ok() && (ev.is_readable() || ev.is_read_closed() || ev.is_error()) {
                result = c.read_and_parse(sh, &mut counts);
            }
            // Batches done one after another on this connection: start the next at once.
            while result.is_ok() && c.expect.is_empty() && c.wpos == c.wbuf.len() {
                let us = c.batch_start.elapsed().as_micros() as u64;
                hist.record(us);
                if !c.start_batch(sh, mode) {
                    c.done = true;
                    active -= 1;
                    break;
                }
                result = c.flush().map_err(|e| format!("write: {e}"));
                if result.is_ok() {
                    // Replies may already be waiting (tiny batches on a fast server).
                    result = c.read_and_parse(sh, &mut counts);
                }
            }
            if let Err(msg) = result {
                fail(&mut counts, msg);
                c.done = true;
                active -= 1;
            }
        }
    }
    ThreadResult {
        counts,
        hist,
        timed_out,
    }
}

pub(crate) struct RunResult {
    pub(crate) counts: Counts,
    pub(crate) hist: Histogram,
    pub(crate) secs: f64,
    pub(crate) timed_out: bool,
}

/// Runs `mode` on `conns` connections over `threads` threads; stops Mixed after `duration`.
pub(crate) fn run(
    sh: Arc<Shared>,
    mode: Mode,
    conns: usize,
    threads: usize,
    duration: Option<f64>,
) -> RunResult {
    let addr = resolve(sh.args.addr.as_deref().unwrap_or_default());
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let sh = Arc::clone(&sh);
            let n = conns / threads + usize::from(t < conns % threads);
            let seed = sh.args.seed.wrapping_add(t as u64 * 7919);
            let addr = addr.clone();
            std::thread::spawn(move || match addr {
                Ok(addr) => run_thread(&sh, mode, addr, n, seed),
                Err(e) => {
                    let counts = Counts {
                        conn_errors: 1,
                        first_error: Some(e),
                        ..Counts::default()
                    };
                    ThreadResult {
                        counts,
                        hist: Histogram::new(),
                        timed_out: false,
                    }
                }
            })
        })
        .collect();
    if let Some(d) = duration {
        let end = start + Duration::from_secs_f64(d);
        while Instant::now() < end && handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(10).min(end - Instant::now()));
        }
        sh.stop.store(true, Ordering::Relaxed);
    }
    let mut res = RunResult {
        counts: Counts::default(),
        hist: Histogram::new(),
        secs: 0.0,
        timed_out: false,
    };
    for h in handles {
        match h.join() {
            Ok(r) => {
                res.counts.merge(r.counts);
                res.hist.merge(&r.hist);
                res.timed_out |= r.timed_out;
            }
            Err(_) => res.counts.conn_errors += 1,
        }
    }
    res.secs = start.elapsed().as_secs_f64();
    res
}

pub(crate) fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}
