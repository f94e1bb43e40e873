//! Operations that also report CAS uniques, for the binary protocol (which returns the new
//! CAS of every successful store and compares CAS on delete).
//!
//! The store's own operations already assign the uniques; these read them back under a
//! second lookup, so under a concurrent write to the same key the reported CAS can be the
//! later writer's. Clients use it only as a token for a following `cas`, which then fails
//! safely with `Exists`.

use super::{ArithOutcome, DeleteOutcome, SetMode, Store, StoreOutcome};

impl Store {
    /// `store`, plus the new item's CAS unique on success (0 otherwise, and with `-C`).
    pub fn store_cas(
        &self,
        mode: SetMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
    ) -> (StoreOutcome, u64) {
        let outcome = self.store(mode, key, flags, exptime, data);
        let cas = match outcome {
            StoreOutcome::Stored => self.peek_cas(key).unwrap_or(0),
            _ => 0,
        };
        (outcome, cas)
    }

    /// Delete only if `cas` is 0 or equals the item's CAS unique.
    pub fn delete_cas(&self, key: &[u8], cas: u64) -> DeleteOutcome {
        if cas != 0 {
            match self.peek_cas(key) {
                None => return DeleteOutcome::NotFound,
                Some(have) if have != cas => return DeleteOutcome::Exists,
                Some(_) => {}
            }
        }
        if self.delete(key) {
            DeleteOutcome::Deleted
        } else {
            DeleteOutcome::NotFound
        }
    }

    /// `arith`, plus the item's new CAS unique on success (read under the same lock).
    pub fn arith_cas(&self, key: &[u8], incr: bool, delta: u64) -> (ArithOutcome, u64) {
        self.inner.arith_with(key, incr, delta, |e| e.cas())
    }
}
