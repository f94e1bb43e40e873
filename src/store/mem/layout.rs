//! The item layout inside its chunk (see the table in `mod.rs`): chunk addressing from a
//! `Ref`, the header field accessors, key and value slices (borrowing the caller's shard
//! guard), and the writers of a new item.

use super::*;

/// The item was fetched at least once (for `*_unfetched` stats).
pub(in crate::store) const BIT_FETCHED: u8 = 1;
/// The low bit of the item's 2-bit access frequency (S3-FIFO, `shard.rs`): counted up on
/// fetch (to 3), down when the main queue's tail gives a second chance.
pub(in crate::store) const BIT_REFERENCED: u8 = 2;
/// The high bit of the access frequency.
pub(in crate::store) const BIT_FREQ_HI: u8 = 128;
/// Both frequency bits.
pub(in crate::store) const FREQ_BITS: u8 = BIT_REFERENCED | BIT_FREQ_HI;

/// The access frequency (0 to 3) in an item's bits.
#[inline]
pub(in crate::store) fn freq(bits: u8) -> u8 {
    ((bits >> 1) & 1) | ((bits >> 6) & 2)
}

/// `bits` with access frequency `f` (0 to 3).
#[inline]
pub(in crate::store) fn with_freq(bits: u8, f: u8) -> u8 {
    (bits & !FREQ_BITS) | ((f & 1) << 1) | ((f & 2) << 6)
}
/// Meta commands: invalidated by `md I` (or stored stale by `ms I`).
pub(in crate::store) const BIT_STALE: u8 = 4;
/// Meta commands: a client already won the right to recache the item (`W` was sent).
pub(in crate::store) const BIT_TOKEN_SENT: u8 = 8;
/// Meta commands: the key was given base64-encoded (`b`) and is echoed that way.
pub(in crate::store) const BIT_KEY_BINARY: u8 = 16;
/// Meta `E<cas>`: the CAS unique clients see is not `seq` but the value the client gave,
/// kept in the shard's side table (`shard.rs`), so that the header needs no second CAS.
pub(in crate::store) const BIT_CLIENT_CAS: u8 = 32;
/// S3-FIFO: the item is in its class' small (probationary) queue, not the main one.
pub(in crate::store) const BIT_SMALL: u8 = 64;

const O_PREV: usize = 0;
const O_NEXT: usize = 4;
const O_SEQ: usize = 8;
const O_EXPTIME: usize = 16;
const O_ATIME: usize = 20;
const O_FLAGS: usize = 24;
const O_VLEN: usize = 28;
const O_KLEN: usize = 32;
const O_BITS: usize = 33;

impl Mem {
    /// Class id of the chunk `r` (the large class for large allocations).
    pub(in crate::store) fn class_of(&self, r: Ref) -> usize {
        let kind = self
            .id_slot((r >> IDX_BITS) as usize)
            .kind
            .load(Ordering::Acquire);
        if kind == KIND_LARGE {
            self.geo.large()
        } else {
            kind as usize
        }
    }

    /// Start of chunk `r` and its capacity in bytes.
    #[inline]
    pub(super) fn chunk(&self, r: Ref) -> (*mut u8, usize) {
        let pid = (r >> IDX_BITS) as usize;
        let idx = (r & IDX_MASK) as usize;
        let base = self.id_slot(pid).ptr.load(Ordering::Acquire);
        assert!(!base.is_null(), "dangling item reference {r:#x}");
        let kind = self.id_slot(pid).kind.load(Ordering::Acquire);
        if kind == KIND_LARGE {
            return (base, self.id_slot(pid).len.load(Ordering::Acquire));
        }
        let size = self.geo.chunk_size(kind as usize);
        let len = self.id_slot(pid).len.load(Ordering::Acquire);
        assert!((idx + 1) * size <= len, "chunk index out of page");
        // SAFETY: `base` points to a live allocation of `len` bytes (the page: `PAGE_SIZE`,
        // or `STARTER_SIZE` for a starter page; a page is only freed by `finish_move` when no
        // chunk of it is owned, and the caller owns chunk `r`) and `idx * size + size <= len`
        // was just checked, so the offset stays inside it.
        (unsafe { base.add(idx * size) }, size)
    }

    #[inline]
    pub(super) fn rd_u32(&self, r: Ref, off: usize) -> u32 {
        let (p, cap) = self.chunk(r);
        assert!(off + 4 <= cap);
        // SAFETY: in bounds (checked); the caller owns chunk `r` per the ownership protocol
        // (module docs), so no other thread writes these bytes concurrently.
        unsafe { p.add(off).cast::<u32>().read_unaligned() }
    }

    #[inline]
    pub(super) fn wr_u32(&self, r: Ref, off: usize, v: u32) {
        let (p, cap) = self.chunk(r);
        assert!(off + 4 <= cap);
        // SAFETY: as in `rd_u32`; no shared slice into these header bytes is ever handed out.
        unsafe { p.add(off).cast::<u32>().write_unaligned(v) }
    }

    #[inline]
    pub(super) fn rd_u8(&self, r: Ref, off: usize) -> u8 {
        let (p, cap) = self.chunk(r);
        assert!(off < cap);
        // SAFETY: as in `rd_u32`.
        unsafe { p.add(off).read() }
    }

    #[inline]
    pub(super) fn wr_u8(&self, r: Ref, off: usize, v: u8) {
        let (p, cap) = self.chunk(r);
        assert!(off < cap);
        // SAFETY: as in `wr_u32`.
        unsafe { p.add(off).write(v) }
    }

    pub(in crate::store) fn prev(&self, r: Ref) -> Ref {
        self.rd_u32(r, O_PREV)
    }
    pub(in crate::store) fn set_prev(&self, r: Ref, v: Ref) {
        self.wr_u32(r, O_PREV, v)
    }
    pub(in crate::store) fn next(&self, r: Ref) -> Ref {
        self.rd_u32(r, O_NEXT)
    }
    pub(in crate::store) fn set_next(&self, r: Ref, v: Ref) {
        self.wr_u32(r, O_NEXT, v)
    }
    /// The store sequence number of the item's last store or change: flushes and eviction
    /// age compare it, and it is the CAS unique clients see unless `BIT_CLIENT_CAS` is set
    /// (`ShardCore::cas`).
    pub(in crate::store) fn seq(&self, r: Ref) -> u64 {
        let (p, cap) = self.chunk(r);
        assert!(O_SEQ + 8 <= cap);
        // SAFETY: as in `rd_u32`.
        unsafe { p.add(O_SEQ).cast::<u64>().read_unaligned() }
    }
    pub(in crate::store) fn set_seq(&self, r: Ref, v: u64) {
        let (p, cap) = self.chunk(r);
        assert!(O_SEQ + 8 <= cap);
        // SAFETY: as in `wr_u32`.
        unsafe { p.add(O_SEQ).cast::<u64>().write_unaligned(v) }
    }
    pub(in crate::store) fn exptime(&self, r: Ref) -> u32 {
        self.rd_u32(r, O_EXPTIME)
    }
    pub(in crate::store) fn set_exptime(&self, r: Ref, v: u32) {
        self.wr_u32(r, O_EXPTIME, v)
    }
    pub(in crate::store) fn atime(&self, r: Ref) -> u32 {
        self.rd_u32(r, O_ATIME)
    }
    pub(in crate::store) fn set_atime(&self, r: Ref, v: u32) {
        self.wr_u32(r, O_ATIME, v)
    }
    pub(in crate::store) fn flags(&self, r: Ref) -> u32 {
        self.rd_u32(r, O_FLAGS)
    }
    pub(in crate::store) fn value_len(&self, r: Ref) -> usize {
        self.rd_u32(r, O_VLEN) as usize
    }
    pub(in crate::store) fn key_len(&self, r: Ref) -> usize {
        self.rd_u8(r, O_KLEN) as usize
    }
    pub(in crate::store) fn bits(&self, r: Ref) -> u8 {
        self.rd_u8(r, O_BITS)
    }
    pub(in crate::store) fn set_bits(&self, r: Ref, v: u8) {
        self.wr_u8(r, O_BITS, v)
    }

    /// Header + key + value: the item's size as counted in `bytes`.
    pub(in crate::store) fn item_size(&self, r: Ref) -> usize {
        HEADER + self.key_len(r) + self.value_len(r)
    }

    /// Bounds of key and value of item `r`, checked against its chunk.
    #[inline]
    pub(super) fn body(&self, r: Ref) -> (*mut u8, usize, usize) {
        let (p, cap) = self.chunk(r);
        assert!(HEADER <= cap);
        // SAFETY: header bytes are in bounds (checked) and owned by the caller.
        let klen = unsafe { p.add(O_KLEN).read() } as usize;
        // SAFETY: as above.
        let vlen = unsafe { p.add(O_VLEN).cast::<u32>().read_unaligned() } as usize;
        assert!(HEADER + klen + vlen <= cap, "corrupt item header {r:#x}");
        (p, klen, vlen)
    }

    /// The key of linked item `r`, borrowed for as long as the caller's shard guard.
    pub(in crate::store) fn key<'g>(&'g self, r: Ref, _guard: &'g impl ShardLocked) -> &'g [u8] {
        let (p, klen, _) = self.body(r);
        // SAFETY: in bounds (checked in `body`). `r` is linked in the shard whose guard the
        // caller lends us, so nobody writes these bytes until that guard is released, and the
        // returned lifetime cannot exceed the guard borrow.
        unsafe { std::slice::from_raw_parts(p.add(HEADER), klen) }
    }

    /// The value of linked item `r`, borrowed for as long as the caller's shard guard.
    pub(in crate::store) fn value<'g>(&'g self, r: Ref, _guard: &'g impl ShardLocked) -> &'g [u8] {
        let (p, klen, vlen) = self.body(r);
        // SAFETY: as in `key`.
        unsafe { std::slice::from_raw_parts(p.add(HEADER + klen), vlen) }
    }

    /// Does item `r` (owned by the caller) have key `key`?
    pub(in crate::store) fn key_eq(&self, r: Ref, key: &[u8]) -> bool {
        let (p, klen, _) = self.body(r);
        if klen != key.len() {
            return false;
        }
        // SAFETY: in bounds (checked in `body`); the caller owns `r` and the slice does not
        // escape this function.
        let k = unsafe { std::slice::from_raw_parts(p.add(HEADER), klen) };
        k == key
    }

    /// Initialise private chunk `r` as an unlinked item whose value is the concatenation of
    /// `parts`. `cas` is left 0 (set when linking) and the LRU links NIL.
    pub(in crate::store) fn write_item(
        &self,
        r: Ref,
        key: &[u8],
        flags: u32,
        exptime: u32,
        atime: u32,
        parts: &[&[u8]],
    ) {
        let vlen: usize = parts.iter().map(|p| p.len()).sum();
        self.write_header(r, key, flags, exptime, atime, vlen);
        let (p, _) = self.chunk(r);
        let mut off = HEADER + key.len();
        for src in parts {
            // SAFETY: `off + src.len() <= HEADER + key.len() + vlen <= cap` (checked in
            // `write_header`), so the destination is inside chunk `r`, which the caller owns
            // privately. `src` may point into another chunk (append copies the old value) but
            // never into `r` (callers never hold a slice of a private chunk); `ptr::copy`
            // tolerates overlap anyway.
            unsafe { ptr::copy(src.as_ptr(), p.add(off), src.len()) };
            off += src.len();
        }
    }

    /// Initialise private chunk `r` as an unlinked item with key `key` and a value of `vlen`
    /// bytes, leaving the value bytes as they are (written by `write_item`, or read into
    /// the chunk through `value_ptr` while a storage command's data arrives). `cas` is left
    /// 0 (set when linking) and the LRU links NIL.
    pub(in crate::store) fn write_header(
        &self,
        r: Ref,
        key: &[u8],
        flags: u32,
        exptime: u32,
        atime: u32,
        vlen: usize,
    ) {
        let (p, cap) = self.chunk(r);
        assert!(key.len() <= u8::MAX as usize && vlen <= u32::MAX as usize);
        assert!(
            HEADER + key.len() + vlen <= cap,
            "item does not fit its chunk"
        );
        self.set_prev(r, NIL);
        self.set_next(r, NIL);
        self.set_seq(r, 0);
        self.set_exptime(r, exptime);
        self.set_atime(r, atime);
        self.wr_u32(r, O_FLAGS, flags);
        self.wr_u32(r, O_VLEN, vlen as u32);
        self.wr_u8(r, O_KLEN, key.len() as u8);
        self.wr_u8(r, O_BITS, 0);
        // SAFETY: `HEADER + key.len() <= cap` (checked above): inside chunk `r`, which the
        // caller owns privately; `key` is never a slice of `r` itself.
        unsafe { ptr::copy(key.as_ptr(), p.add(HEADER), key.len()) };
    }

    /// Address and length of the value of private item `r` (header written), for the owner
    /// to fill.
    pub(in crate::store) fn value_ptr(&self, r: Ref) -> (*mut u8, usize) {
        let (p, klen, vlen) = self.body(r);
        // SAFETY: `HEADER + klen + vlen <= cap` (checked in `body`): inside the chunk.
        (unsafe { p.add(HEADER + klen) }, vlen)
    }

    /// Overwrite the value of item `r` in place with `digits` padded with spaces to the old
    /// length (memcached's in-place incr/decr). `digits` must not be longer than the value,
    /// and `r` must not be pinned (a reply may be sending the value from item memory).
    pub(in crate::store) fn overwrite_value_padded(&self, r: Ref, digits: &[u8]) {
        debug_assert!(!self.is_pinned(r), "in-place rewrite of a pinned value");
        let (p, klen, vlen) = self.body(r);
        assert!(digits.len() <= vlen);
        // SAFETY: the value region `[HEADER + klen, HEADER + klen + vlen)` is inside the chunk
        // (checked in `body`); the caller owns `r` (holds its shard lock) and holds no slice
        // into it while calling.
        unsafe {
            let v = p.add(HEADER + klen);
            ptr::copy_nonoverlapping(digits.as_ptr(), v, digits.len());
            ptr::write_bytes(v.add(digits.len()), b' ', vlen - digits.len());
        }
    }
}
