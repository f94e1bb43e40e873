//! [`Entry`]: the handle on a live item under its shard lock that `Store::get` and
//! `Store::arith` pass to their callback. It reads what the protocols report (key, value,
//! flags, CAS, remaining life, last access, the meta state bits) and changes what they may
//! change under the same lock (exptime, the win-token bit), and pins the value for a reply
//! sent from item memory.
//!
//! Owns: nothing; it borrows the shard guard, so it cannot outlive the lock.
//! The stale / win-token / binary-key state lives in spare bits of the item header's bits
//! byte (`BIT_STALE`, `BIT_TOKEN_SENT`, `BIT_KEY_BINARY` in `mem/layout.rs`), so per-item
//! overhead is unchanged.

use std::sync::Arc;

use super::api::Store;
use super::engine::Inner;
use super::mem::{BIT_FETCHED, BIT_KEY_BINARY, BIT_STALE, BIT_TOKEN_SENT, Ref};
use super::shard::ShardCore;

/// A live item under its shard lock, valid only inside the callback that receives it. Reads
/// report the state as it was before this request's own LRU bump (fetched bit, last access).
pub struct Entry<'g> {
    pub(super) inner: &'g Inner,
    pub(super) guard: &'g ShardCore,
    pub(super) r: Ref,
    pub(super) now: u32,
    pub(super) created: bool,
}

impl<'g> Entry<'g> {
    pub fn key(&self) -> &[u8] {
        self.inner.mem.key(self.r, self.guard)
    }
    pub fn value(&self) -> &[u8] {
        self.inner.mem.value(self.r, self.guard)
    }
    pub fn flags(&self) -> u32 {
        self.inner.mem.flags(self.r)
    }
    /// The CAS unique as clients see it (0 with `-C`).
    pub fn cas(&self) -> u64 {
        self.inner
            .shown_cas(self.guard.cas(&self.inner.mem, self.r))
    }
    /// Remaining seconds to live, or -1 for "never" (memcached's `t` flag).
    pub fn ttl(&self) -> i64 {
        match self.inner.mem.exptime(self.r) {
            0 => -1,
            e => i64::from(e.wrapping_sub(self.now)),
        }
    }
    /// memcached's `me` field `exp`: `current_time - exptime` as a C int (negative while the
    /// item lives), -1 for "never".
    pub fn exp_debug(&self) -> i64 {
        match self.inner.mem.exptime(self.r) {
            0 => -1,
            e => i64::from(self.now.wrapping_sub(e) as i32),
        }
    }
    /// Give the item a new exptime (protocol rules: 0 never, negative expired, ...).
    pub fn set_exptime(&mut self, exptime: i64) {
        let e = self.inner.clock.rel_exptime(exptime);
        self.inner.mem.set_exptime(self.r, e);
    }
    /// Seconds since the last access before this request.
    pub fn last_access(&self) -> u32 {
        self.now.wrapping_sub(self.inner.mem.atime(self.r))
    }
    /// Fetched at least once before this request.
    pub fn fetched(&self) -> bool {
        self.bits() & BIT_FETCHED != 0
    }
    /// Marked stale by an invalidation.
    pub fn stale(&self) -> bool {
        self.bits() & BIT_STALE != 0
    }
    /// A client already won the right to recache it.
    pub fn token_sent(&self) -> bool {
        self.bits() & BIT_TOKEN_SENT != 0
    }
    /// Stored with a base64-encoded (binary) key.
    pub fn key_binary(&self) -> bool {
        self.bits() & BIT_KEY_BINARY != 0
    }
    /// Created by this request (`GetOpts::vivify`, `ArithOpts::vivify`).
    pub fn created(&self) -> bool {
        self.created
    }
    /// memcached's `R` rule: no token sent yet, not just created, and the item expires
    /// before `exptime` would.
    pub fn recache_due(&self, exptime: i64) -> bool {
        let e = self.inner.mem.exptime(self.r);
        !self.token_sent() && !self.created && e != 0 && e < self.inner.clock.rel_exptime(exptime)
    }
    /// Pin the value for a reply that sends it from item memory (see [`PinnedValue`]),
    /// keeping the store alive through `keep`, a handle of this store that only one thread
    /// uses (a connection's): a pin updates no count that other threads share. `None` if
    /// `keep` is another store.
    pub fn pin_with(&self, keep: &Arc<Store>) -> Option<PinnedValue> {
        if !std::ptr::eq(Arc::as_ptr(&keep.inner), self.inner) {
            return None;
        }
        let (ptr, len) = self.inner.mem.pin(self.r);
        let Some(ptr) = std::ptr::NonNull::new(ptr.cast_mut()) else {
            self.inner.mem.unpin(self.r);
            return None;
        };
        Some(PinnedValue {
            store: keep.clone(),
            chunk: self.r,
            ptr,
            len,
        })
    }
    /// Record that a win token was handed out.
    pub fn set_token_sent(&mut self) {
        let b = self.bits();
        self.inner.mem.set_bits(self.r, b | BIT_TOKEN_SENT);
    }
    /// Slab class id (1-based, as in `stats slabs`).
    pub fn class_id(&self) -> usize {
        self.inner.mem.class_of(self.r) + 1
    }
    /// Header + key + value bytes.
    pub fn item_size(&self) -> usize {
        self.inner.mem.item_size(self.r)
    }
    fn bits(&self) -> u8 {
        self.inner.mem.bits(self.r)
    }
}

impl std::fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry({:#x})", self.r)
    }
}

/// An item's value held for a reply that sends it straight from item memory, without a
/// copy (memcached's item reference count): until this is dropped the bytes neither change
/// nor move and their memory is not reused, even if the item is overwritten, deleted,
/// evicted or its page moved (the store skips or waits for pinned items, and frees one that
/// was unlinked meanwhile when its last pin goes). Pins hold slab memory, which counts in
/// `-m`: whoever keeps them must bound how many it keeps (the server does per connection).
pub struct PinnedValue {
    pub(super) store: Arc<Store>,
    pub(super) chunk: Ref,
    pub(super) ptr: std::ptr::NonNull<u8>,
    pub(super) len: usize,
}

// SAFETY: the pinned bytes are immutable and kept alive by the pin (see `mem/pins.rs`); the
// handle owns an `Arc` of a store handle, which is `Send + Sync`. Nothing here is tied to the
// thread that pinned it.
unsafe impl Send for PinnedValue {}

impl PinnedValue {
    /// The value's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr`/`len` were read from the chunk's header under its shard lock when it
        // was pinned and lie inside the chunk (checked by `Mem::pin`); a pinned chunk's value
        // bytes are not written and its memory is not freed or reused until `unpin` in our
        // `Drop`, so the slice is valid and unchanging for as long as `&self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for PinnedValue {
    fn drop(&mut self) {
        self.store.inner.mem.unpin(self.chunk);
    }
}

impl std::fmt::Debug for PinnedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinnedValue({:#x}, {} bytes)", self.chunk, self.len)
    }
}
