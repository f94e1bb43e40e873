//! Storage: set / add / replace / append / prepend / cas with memcached's rules, meta `ms`
//! options (invalidating CAS, base64 keys, CAS-checked append/prepend, its failure rule),
//! and reservations (item memory allocated before a value arrives, read into in place).
//!
//! Owns: the mode rules (memcached 1.6.18 `do_store_item`), the failure rule (which failed
//! stores unlink the old item), the in-flight budget of reservations (`RESERVED_SHARE`).
//! Must not touch: protocol words or flag letters.
//!
//! Locking follows `shard.rs`: allocate with no lock held, then lock the key's shard once to
//! apply the rules, then free what was replaced after unlocking. Append and prepend size the
//! new item from the old one: they read it under the lock, allocate without it, and re-check
//! that the old item is unchanged before linking; otherwise they retry.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::delete::DeleteOpts;
use super::engine::Inner;
use super::mem::{BIT_KEY_BINARY, BIT_STALE, BIT_TOKEN_SENT, HEADER, Ref};
use super::shard::{Liveness, liveness};

/// Items reserved for values still arriving hold at most `1 / RESERVED_SHARE` of the memory
/// limit.
const RESERVED_SHARE: usize = 2;

/// How a storage command treats an existing item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetMode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    /// Store only if the item's CAS unique equals this.
    Cas(u64),
}

/// Result of a storage command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    /// `add` on an existing key, `replace`/`append`/`prepend` on a missing one.
    NotStored,
    /// `cas` whose unique no longer matches.
    Exists,
    /// `cas` on a missing key.
    NotFound,
    /// The item can never fit (larger than `-I`).
    TooLarge,
    /// No memory could be found (evictions disabled, or nothing evictable).
    NoMemory,
}

/// Options of `Store::set`. `SetOpts::default()` is a plain `set` (flags 0, never expiring);
/// `SetOpts::new(mode, flags, exptime)` covers the text and binary storage commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetOpts {
    pub mode: SetMode,
    /// Client flags of the new item (append/prepend keep the old item's).
    pub flags: u32,
    /// Exptime as the client sent it (append/prepend keep the old item's).
    pub exptime: i64,
    /// Meta `I`: with `SetMode::Cas`, a CAS lower than the item's still stores, keeping the
    /// old exptime and win-token state and marking the new item stale.
    pub invalidate: bool,
    /// The key was given base64-encoded; remember it so replies encode it again.
    pub key_binary: bool,
    /// For `Append`/`Prepend`: store only if this is 0 or the item's CAS unique (binary
    /// protocol, meta `C`); `Exists` otherwise, a missing item is `NotStored`.
    pub concat_cas: u64,
    /// A store that is too large or finds no memory unlinks the key's old item: in `Set` mode
    /// only (memcached's `process_update_command`, text and binary: the default), or with
    /// this, in every mode (meta `ms`).
    pub fail_unlinks_any_mode: bool,
    /// For `Append`/`Prepend` (meta `ms MA|MP N<ttl>`, 1.6.45): a missing item is created
    /// with the data, `flags` and `exptime` instead of `NotStored`.
    pub vivify: bool,
    /// The stored item's CAS unique (meta `E<cas>`) instead of a new one.
    pub cas_in: Option<u64>,
}

impl Default for SetOpts {
    fn default() -> SetOpts {
        SetOpts::new(SetMode::Set, 0, 0)
    }
}

impl SetOpts {
    /// A classic storage command: `mode`, client flags, exptime; everything else off.
    pub fn new(mode: SetMode, flags: u32, exptime: i64) -> SetOpts {
        SetOpts {
            mode,
            flags,
            exptime,
            invalidate: false,
            key_binary: false,
            concat_cas: 0,
            fail_unlinks_any_mode: false,
            vivify: false,
            cas_in: None,
        }
    }
}

/// The value of a storage command.
#[derive(Debug)]
pub enum Value<'a> {
    /// Bytes to copy into a new item.
    Bytes(&'a [u8]),
    /// An item reserved for it, with the value read in (`Store::reserve`).
    Reserved(Reservation),
    /// The reservation failed (`TooLarge` or `NoMemory`): the store answers that, with the
    /// same side effects as a store that found no memory.
    Refused(StoreOutcome),
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(b: &'a [u8]) -> Value<'a> {
        Value::Bytes(b)
    }
}

impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(b: &'a Vec<u8>) -> Value<'a> {
        Value::Bytes(b)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Value<'a> {
    fn from(b: &'a [u8; N]) -> Value<'a> {
        Value::Bytes(b)
    }
}

/// Item memory reserved for a storage command whose value is still arriving: the item is
/// allocated when the command's header arrives (counted in `-m`, evicting others as any
/// store does) and the value is read straight into it (memcached's `conn_nread` into the
/// item). Pass it to a store as `Value::Reserved`; dropping it frees the memory (a client
/// that disconnects mid-value).
pub struct Reservation {
    store: Arc<Inner>,
    /// `None` once handed to the store.
    chunk: Option<Ref>,
    /// Bytes charged to the store's in-flight budget until this is dropped.
    charged: usize,
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the chunk is private to this handle (see `mem/mod.rs`): no other thread reads or
// writes it until it is passed to the store or freed by `Drop`. The handle owns an `Arc` of
// the store, which is `Send + Sync`.
unsafe impl Send for Reservation {}

impl Reservation {
    /// Reserve an item for `key` with a value of `value_len` bytes still to arrive: see
    /// `Store::reserve`.
    pub(super) fn new(
        inner: &Arc<Inner>,
        key: &[u8],
        value_len: usize,
    ) -> Result<Reservation, StoreOutcome> {
        let (r, charged) = inner.reserve(key, value_len)?;
        let (ptr, len) = inner.mem.value_ptr(r);
        let Some(ptr) = std::ptr::NonNull::new(ptr) else {
            inner.mem.free(r);
            inner.end_reservation(charged);
            return Err(StoreOutcome::NoMemory);
        };
        Ok(Reservation {
            store: inner.clone(),
            chunk: Some(r),
            charged,
            ptr,
            len,
        })
    }

    /// The value's bytes, to be filled in.
    pub fn value_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr`/`len` is the value region of the chunk (`Mem::value_ptr`), which this
        // handle owns privately and exclusively (`&mut self`); the chunk is not freed before
        // `Drop`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The value's bytes.
    pub fn value(&self) -> &[u8] {
        // SAFETY: as in `value_mut`, shared.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hands the chunk over (to be linked or freed by the caller); `Drop` then does nothing.
    fn take_chunk(&mut self) -> Option<Ref> {
        self.chunk.take()
    }

    /// The reserved item has key `key`.
    fn key_is(&self, key: &[u8]) -> bool {
        self.chunk.is_some_and(|r| self.store.mem.key_eq(r, key))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(r) = self.chunk.take() {
            self.store.mem.free(r);
        }
        self.store.end_reservation(self.charged);
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation({:?}, {} bytes)", self.chunk, self.len)
    }
}

impl Inner {
    /// See `Store::set`: the mode rules; returns the new CAS unique (0 unless stored).
    /// See `Store::set_len`: the outcome, the CAS unique and the stored value's length.
    pub(super) fn set(
        &self,
        key: &[u8],
        mut value: Value<'_>,
        opts: &SetOpts,
    ) -> (StoreOutcome, u64, usize) {
        let SetOpts {
            mode,
            flags,
            exptime,
            ..
        } = *opts;
        let fail = |o: StoreOutcome| {
            if opts.fail_unlinks_any_mode || mode == SetMode::Set {
                self.delete(key, &DeleteOpts::default());
            }
            (o, 0, 0)
        };
        let concat = matches!(mode, SetMode::Append | SetMode::Prepend);
        // An item reserved for this value becomes the item itself (not for append/prepend,
        // whose item holds the old value too: they copy from it).
        let mut reserved = match &mut value {
            Value::Refused(o) => return fail(*o),
            Value::Reserved(res) if !concat && res.key_is(key) => {
                res.take_chunk().map(|r| (r, res.len()))
            }
            _ => None,
        };
        let data: &[u8] = match (&value, reserved) {
            (Value::Bytes(b), None) => b,
            (Value::Reserved(res), None) => res.value(),
            // Already in the reserved chunk.
            _ => &[],
        };
        let data_len = reserved.map_or(data.len(), |(_, n)| n);
        if !self.item_size_ok(key.len(), data_len) {
            if let Some((r, _)) = reserved {
                self.mem.free(r);
            }
            return fail(StoreOutcome::TooLarge);
        }
        let at = self.slot(key);
        let mem = &self.mem;
        let exp = self.clock.rel_exptime(exptime);
        let key_bit = if opts.key_binary { BIT_KEY_BINARY } else { 0 };
        // Append/prepend size the new item from the old one: read, allocate, re-check.
        let mut extra = 0usize;
        for round in 0..64 {
            let prefilled = reserved.is_some();
            let new = match reserved.take() {
                Some((r, _)) => r,
                None => match self.alloc(HEADER + key.len() + data_len + extra, at.shard) {
                    Some(r) => r,
                    None if concat => return (StoreOutcome::NotStored, 0, 0),
                    None => return fail(StoreOutcome::NoMemory),
                },
            };
            let now = self.clock.now();
            let fs = self.flush_seq(now);
            let mut g = self.lock(at.shard);
            if round == 0 {
                // memcached counts every storage command whose item it allocated, in the
                // class of that item (for append/prepend: of the data alone).
                g.cmds(mem, new).cmd_set += 1;
            }
            let old = g.lookup(mem, at.tag, key);
            let live = old.filter(|&(_, r)| liveness(mem, r, now, fs) == Liveness::Live);
            let dead = old.filter(|_| live.is_none());
            if let Some((pos, o)) = dead {
                g.unlink_at(mem, pos, o);
            }
            // The live item's CAS unique as clients see it.
            let live_cas = live.map_or(0, |(_, r)| self.shown_cas(g.cas(mem, r)));
            let outcome = match (mode, live) {
                (SetMode::Add, Some(_)) => StoreOutcome::NotStored,
                (SetMode::Append | SetMode::Prepend, None) if opts.vivify => StoreOutcome::Stored,
                (SetMode::Replace | SetMode::Append | SetMode::Prepend, None) => {
                    StoreOutcome::NotStored
                }
                (SetMode::Cas(_), None) => StoreOutcome::NotFound,
                (SetMode::Cas(u), Some(_)) if u != live_cas => {
                    if opts.invalidate && u < live_cas {
                        StoreOutcome::Stored
                    } else {
                        StoreOutcome::Exists
                    }
                }
                // memcached: append/prepend compare a non-zero CAS given with `C`.
                (SetMode::Append | SetMode::Prepend, Some(_))
                    if opts.concat_cas != 0 && opts.concat_cas != live_cas =>
                {
                    StoreOutcome::Exists
                }
                _ => StoreOutcome::Stored,
            };
            if let Some((_, r)) = live {
                match outcome {
                    StoreOutcome::Exists => g.cmds(mem, r).cas_badval += 1,
                    StoreOutcome::Stored if matches!(mode, SetMode::Cas(_)) => {
                        g.cmds(mem, r).cas_hits += 1
                    }
                    _ => {}
                }
            }
            if outcome != StoreOutcome::Stored {
                drop(g);
                mem.free(new);
                if let Some((_, o)) = dead {
                    mem.free(o);
                }
                return (outcome, 0, 0);
            }
            let mut bits = key_bit;
            if let (SetMode::Append | SetMode::Prepend, Some((pos, r))) = (mode, live) {
                {
                    let old_len = mem.value_len(r);
                    if old_len != extra {
                        // Sized for another old value: retry with the right size.
                        extra = old_len;
                        drop(g);
                        mem.free(new);
                        if !self.item_size_ok(key.len(), data_len + extra) {
                            return (StoreOutcome::NotStored, 0, 0);
                        }
                        continue;
                    }
                    let old_val = mem.value(r, &*g);
                    let parts: [&[u8]; 2] = if mode == SetMode::Append {
                        [old_val, data]
                    } else {
                        [data, old_val]
                    };
                    mem.write_item(new, key, mem.flags(r), mem.exptime(r), now, &parts);
                    bits |= mem.bits(r) & BIT_KEY_BINARY;
                    mem.set_bits(new, bits);
                    let cas = self.stamp(&mut g, new, opts.cas_in);
                    g.replace(mem, pos, r, new);
                    drop(g);
                    mem.free(r);
                    return (StoreOutcome::Stored, cas, data_len + old_len);
                }
            }
            let mut exp_now = exp;
            if let (SetMode::Cas(u), Some((_, r))) = (mode, live)
                && u != live_cas
            {
                // Invalidating store of an older value: keep TTL and token, mark stale.
                exp_now = mem.exptime(r);
                bits |= BIT_STALE | (mem.bits(r) & BIT_TOKEN_SENT);
            }
            if prefilled {
                mem.write_header(new, key, flags, exp_now, now, data_len);
            } else {
                mem.write_item(new, key, flags, exp_now, now, &[data]);
            }
            mem.set_bits(new, bits);
            let cas = self.stamp(&mut g, new, opts.cas_in);
            match live {
                Some((pos, o)) => g.replace(mem, pos, o, new),
                None => g.link_new(mem, at.tag, new),
            }
            drop(g);
            if let Some((_, o)) = live.or(dead) {
                mem.free(o);
            }
            return (StoreOutcome::Stored, cas, data_len);
        }
        (StoreOutcome::NotStored, 0, 0)
    }

    /// A private item for `key` with room for a value of `value_len` bytes, header written
    /// (flags and exptime 0, set when it is stored), and the bytes charged to the in-flight
    /// budget (give them back with `end_reservation`). Values in flight may hold at most
    /// half of the memory limit (`RESERVED_SHARE`): clients that announce values and send
    /// them slowly (or never) cannot evict the whole cache; past it, `NoMemory`.
    pub(super) fn reserve(
        &self,
        key: &[u8],
        value_len: usize,
    ) -> Result<(Ref, usize), StoreOutcome> {
        if !self.item_size_ok(key.len(), value_len) {
            return Err(StoreOutcome::TooLarge);
        }
        let total = HEADER + key.len() + value_len;
        let cap = self.mem.limit() / RESERVED_SHARE;
        let charged = self
            .reserved
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                n.checked_add(total).filter(|&t| t <= cap)
            })
            .is_ok();
        if !charged {
            self.mem.count_oom(self.mem.geo.class_for(total));
            return Err(StoreOutcome::NoMemory);
        }
        let at = self.slot(key);
        let Some(r) = self.alloc(total, at.shard) else {
            self.end_reservation(total);
            return Err(StoreOutcome::NoMemory);
        };
        self.mem.write_header(r, key, 0, 0, 0, value_len);
        Ok((r, total))
    }

    /// A reservation of `total` bytes was stored or dropped.
    pub(super) fn end_reservation(&self, total: usize) {
        self.reserved.fetch_sub(total, Ordering::AcqRel);
    }
}
