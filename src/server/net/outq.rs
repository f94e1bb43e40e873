//! A connection's queued replies: bytes copied into one buffer, with item values spliced in
//! by reference (pinned in item memory, not copied), sent with `writev` (memcached's iovecs
//! over the item).
//!
//! Owns: the output buffer, the splices and their order, partial writes, compaction, the
//! back-pressure bound, and where a multi-key reply stopped. Must not: choose reply words
//! (`protocol/`) or look items up (`store/`).
//!
//! ```text
//!   buf:      [ VALUE a 0 5000\r\n | \r\nVALUE b 0 9\r\nbbbbbbbbb\r\nVALUE c 0 8000\r\n | \r\nEND\r\n ]
//!   splices:                       ^ at=18: a's 5000 bytes           ^ at=..: c's 8000 bytes
//!   sent on the wire: buf[..18] a buf[18..at2] c buf[at2..]
//! ```
//!
//! Values are copied while the copied bytes queued stay within `COPY_HIGH_WATER` (a few
//! KiB of `memcpy` cost less than a pin and an iovec: a request-reply client's 4 KiB value
//! is copied); past that, values of at least `PIN_MIN` bytes are spliced (a pipelined
//! batch of 4 KiB values, anything over 16 KiB). A stream connection stops executing commands while
//! more than `HIGH_WATER` bytes, or more than `COPY_HIGH_WATER` copied bytes, are queued
//! (`is_full`), and a multi-key `get` stops between keys (`resume`), so what one connection
//! holds is bounded whatever it asks for: at most `COPY_HIGH_WATER` plus one reply of
//! copied bytes (its own memory), and pins on the items it is being sent (item memory,
//! counted in `-m`). Between drives, a connection with nothing queued holds no buffer: the
//! worker lends it one (`lend`, `give_back`). Datagram outputs (UDP) copy everything and
//! never stop: the UDP port bounds a reply by size instead.

use crate::store::{PinnedValue, Store};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// Values at least this long are sent from item memory instead of being copied.
pub const PIN_MIN: usize = 1024;
/// A stream connection stops executing while more than this many bytes are queued...
pub const HIGH_WATER: usize = 256 * 1024;
/// ... or more than this many of them are copied bytes (its own memory; spliced values are
/// item memory, inside `-m`).
pub const COPY_HIGH_WATER: usize = 16 * 1024;
/// A buffer larger than this is released when it empties, so idle connections stay small.
const SHRINK_ABOVE: usize = 16 * 1024;
/// Sent bytes at the front of the buffer are dropped once there are this many (and they are
/// at least half of it), so a client that keeps reading slowly cannot grow it for ever.
const COMPACT_AT: usize = 64 * 1024;
/// iovecs per `writev`.
const MAX_IOV: usize = 64;

/// An item value to be sent after `buf[..at]`.
struct Splice {
    at: usize,
    value: PinnedValue,
    /// Bytes of it already sent.
    sent: usize,
}

/// Queued output. Derefs to the byte buffer that replies are encoded into; bytes appended
/// there follow every splice already queued. Truncating it is only valid back to a point
/// after the last splice (UDP truncates, and never splices).
pub struct Out {
    buf: Vec<u8>,
    /// Bytes of `buf` already sent.
    sent: usize,
    splices: VecDeque<Splice>,
    /// Unsent bytes of the splices.
    spliced: usize,
    /// A stream (TCP, unix): values may be spliced and replies may stop at `HIGH_WATER`.
    stream: bool,
    /// Copy values even on a stream (the `-vv` trace reads replies back from `buf`).
    copy_all: bool,
    /// Keys of the current multi-key reply already answered (0: none in progress).
    resume: usize,
    /// This connection's own handle of the store, which keeps the store alive for its
    /// pins without touching a count that other threads share.
    keep: Option<Arc<Store>>,
}

impl Deref for Out {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for Out {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Out {
    /// The output of a stream connection that splices values of `store`.
    pub fn stream(store: &Store) -> Out {
        Out {
            keep: Some(Arc::new(store.clone())),
            ..Out::new(true)
        }
    }

    /// The output of a datagram port: copies, never stops part-way.
    pub fn datagram() -> Out {
        Out::new(false)
    }

    fn new(stream: bool) -> Out {
        Out {
            buf: Vec::new(),
            sent: 0,
            splices: VecDeque::new(),
            spliced: 0,
            stream,
            copy_all: false,
            resume: 0,
            keep: None,
        }
    }

    /// Appends an item's value: copied while the copied bytes queued stay within
    /// `COPY_HIGH_WATER` (one `memcpy` of a few KiB is cheaper than a pin), else spliced
    /// from item memory if it is at least `PIN_MIN` long and `pin` pins it (through the
    /// connection's store handle it is given).
    pub fn value(&mut self, bytes: &[u8], pin: impl FnOnce(&Arc<Store>) -> Option<PinnedValue>) {
        let copied = self.buf.len() - self.sent;
        if self.stream
            && !self.copy_all
            && bytes.len() >= PIN_MIN
            && copied + bytes.len() > COPY_HIGH_WATER
            && let Some(keep) = &self.keep
            && let Some(value) = pin(keep)
        {
            self.spliced += value.len();
            self.splices.push_back(Splice {
                at: self.buf.len(),
                value,
                sent: 0,
            });
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Copy every value from now on (`true`), or splice long ones again.
    pub fn copy_values(&mut self, on: bool) {
        self.copy_all = on;
    }

    /// Bytes queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.sent + self.spliced
    }

    /// Too much is queued: stop executing until the client reads (streams only).
    pub fn is_full(&self) -> bool {
        self.stream && (self.pending() > HIGH_WATER || self.buf.len() - self.sent > COPY_HIGH_WATER)
    }

    /// Between drives an empty output holds no buffer: lend it the worker's (`spare`).
    pub fn lend(&mut self, spare: &mut Vec<u8>) {
        if self.buf.capacity() == 0 && self.pending() == 0 {
            std::mem::swap(&mut self.buf, spare);
        }
    }

    /// Once everything is sent, the buffer goes back to the worker (or is freed if the worker
    /// has one); until then the connection keeps it (bounded by `is_full`).
    pub fn give_back(&mut self, spare: &mut Vec<u8>) {
        if self.pending() > 0 {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        self.sent = 0;
        if spare.capacity() == 0 && buf.capacity() <= HIGH_WATER {
            buf.clear();
            *spare = buf;
        }
    }

    /// Where the multi-key reply in progress stopped (keys already answered), taken: the
    /// command resumes after them. 0 when none is in progress.
    pub fn take_resume(&mut self) -> usize {
        std::mem::take(&mut self.resume)
    }

    /// The multi-key reply stops after `done` keys because the output is full; the command
    /// is executed again (with `take_resume`) once the client has read.
    pub fn stop_at(&mut self, done: usize) {
        self.resume = done;
    }

    /// A multi-key reply stopped part-way and waits to be resumed.
    pub fn in_progress(&self) -> bool {
        self.resume > 0
    }

    /// Writes queued output until done or `w` would block. Returns bytes written.
    pub fn write_to(&mut self, w: &mut impl Write) -> io::Result<usize> {
        let mut total = 0;
        while self.pending() > 0 {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            // Nothing spliced: a plain `write` (cheaper than `writev` of one iovec).
            let sent = if self.splices.is_empty() {
                w.write(&self.buf[self.sent..])
            } else {
                let n = self.gather(&mut iov);
                w.write_vectored(&iov[..n])
            };
            match sent {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    self.advance(k);
                    total += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.tidy();
        Ok(total)
    }

    /// Fills `iov` with the unsent output in order; returns how many entries it used.
    fn gather<'a>(&'a self, iov: &mut [IoSlice<'a>; MAX_IOV]) -> usize {
        let mut n = 0;
        let mut pos = self.sent;
        for s in &self.splices {
            if pos < s.at {
                iov[n] = IoSlice::new(&self.buf[pos..s.at]);
                n += 1;
            }
            if n == MAX_IOV {
                return n;
            }
            iov[n] = IoSlice::new(&s.value.bytes()[s.sent..]);
            n += 1;
            pos = s.at;
            if n == MAX_IOV {
                return n;
            }
        }
        if pos < self.buf.len() {
            iov[n] = IoSlice::new(&self.buf[pos..]);
            n += 1;
        }
        n
    }

    /// Marks `n` more bytes as sent; fully sent splices are dropped (unpinned).
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let seg_end = self.splices.front().map_or(self.buf.len(), |s| s.at);
            if self.sent < seg_end {
                let k = (seg_end - self.sent).min(n);
                self.sent += k;
                n -= k;
                continue;
            }
            let Some(s) = self.splices.front_mut() else {
                break;
            };
            let k = (s.value.len() - s.sent).min(n);
            s.sent += k;
            self.spliced -= k;
            n -= k;
            if s.sent == s.value.len() {
                self.splices.pop_front();
            }
        }
    }

    /// Empties a fully sent buffer (releasing a large one) or drops a long sent prefix.
    fn tidy(&mut self) {
        if self.pending() == 0 {
            self.buf.clear();
            self.sent = 0;
            if self.buf.capacity() > SHRINK_ABOVE {
                self.buf = Vec::new();
            }
        } else if self.sent >= COMPACT_AT && self.sent * 2 >= self.buf.len() {
            // Every splice starts at or after `sent` (a splice is sent after the bytes
            // before it).
            let cut = self.sent;
            self.buf.drain(..cut);
            self.sent = 0;
            for s in &mut self.splices {
                s.at -= cut;
            }
        }
    }

    #[cfg(test)]
    fn splices(&self) -> usize {
        self.splices.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeleteOpts, DeleteOutcome, GetOpts, Lookup, SetOpts, Store, StoreConfig};

    fn store() -> Store {
        Store::new(StoreConfig {
            mem_limit: 8 << 20,
            item_size_max: 1 << 20,
            growth_factor: 1.25,
            min_chunk: 48,
            evictions: true,
            cas: true,
            crawler_enabled: false,
            slab_chunk_max: StoreConfig::DEFAULT_SLAB_CHUNK_MAX,
            slab_sizes: None,
            track_sizes: false,
        })
    }

    /// Appends a stored value the way the get path does.
    fn put(out: &mut Out, s: &Store, key: &[u8]) {
        let hit = s.get(key, &GetOpts::default(), |v| {
            out.value(v.value(), |keep| v.pin_with(keep))
        });
        assert!(matches!(hit, Lookup::Hit(())));
    }

    /// A writer that takes at most `step` bytes per call, then would block every other call.
    struct Trickle {
        got: Vec<u8>,
        step: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(b)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(self.step - n);
                self.got.extend_from_slice(&b[..k]);
                n += k;
                if n == self.step {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn splices_go_out_in_order_through_partial_writes_and_unpin() {
        let s = store();
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let small = b"tiny".to_vec();
        assert_eq!(
            s.set(b"big", &big, &SetOpts::default()).0,
            crate::store::StoreOutcome::Stored
        );
        assert_eq!(
            s.set(b"small", &small, &SetOpts::default()).0,
            crate::store::StoreOutcome::Stored
        );
        let mut out = Out::stream(&s);
        let mut want = Vec::new();
        for i in 0..3 {
            out.extend_from_slice(format!("<{i}>").as_bytes());
            put(&mut out, &s, b"big");
            put(&mut out, &s, b"small");
            want.extend_from_slice(format!("<{i}>").as_bytes());
            want.extend_from_slice(&big);
            want.extend_from_slice(&small);
        }
        out.extend_from_slice(b"END");
        want.extend_from_slice(b"END");
        assert_eq!(out.splices(), 3);
        assert_eq!(s.pinned(), 3);
        assert_eq!(out.pending(), want.len());
        // The item is overwritten and deleted while its value is queued: the queued bytes
        // are the old value, intact.
        assert_eq!(
            s.set(b"big", b"new", &SetOpts::default()).0,
            crate::store::StoreOutcome::Stored
        );
        assert!((s.delete(b"big", &DeleteOpts::default()) == DeleteOutcome::Deleted));
        let mut w = Trickle {
            got: Vec::new(),
            step: 777,
            calls: 0,
        };
        for _ in 0..10_000 {
            if out.pending() == 0 {
                break;
            }
            out.write_to(&mut w).expect("write");
        }
        assert_eq!(w.got, want);
        assert_eq!((out.pending(), out.splices(), s.pinned()), (0, 0, 0));
        assert!(out.is_empty());
    }

    #[test]
    fn datagram_output_copies_and_never_fills() {
        let s = store();
        let big = vec![b'x'; 300 * 1024];
        s.set(b"big", &big, &SetOpts::default());
        let mut out = Out::datagram();
        put(&mut out, &s, b"big");
        assert_eq!((out.splices(), s.pinned(), out.len()), (0, 0, big.len()));
        assert!(!out.is_full());
        let mut out = Out::stream(&s);
        put(&mut out, &s, b"big");
        assert!(out.is_full() && out.is_empty());
        drop(out);
        assert_eq!(s.pinned(), 0, "dropping queued output unpins");
    }

    #[test]
    fn long_sent_prefix_is_compacted() {
        let s = store();
        s.set(b"v", &[b'v'; 20_000], &SetOpts::default());
        let mut out = Out::stream(&s);
        let mut want = Vec::new();
        for _ in 0..4 {
            out.extend_from_slice(&[b'h'; 40_000]);
            put(&mut out, &s, b"v");
            want.extend_from_slice(&[b'h'; 40_000]);
            want.extend_from_slice(&[b'v'; 20_000]);
        }
        // 130,000 bytes go out: 90,000 of the 160,000 buffered, more than half of them.
        let mut w = Trickle {
            got: Vec::new(),
            step: 130_000,
            calls: 0,
        };
        out.write_to(&mut w).expect("write");
        assert_eq!(out.sent, 0, "sent prefix dropped");
        assert_eq!(out.len(), 70_000);
        for _ in 0..100 {
            out.write_to(&mut w).expect("write");
        }
        assert_eq!(w.got, want);
        assert_eq!(s.pinned(), 0);
    }
}
