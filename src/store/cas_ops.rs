//! Operations that also report or compare CAS uniques, for the binary protocol (which
//! returns the new CAS of every successful store, and compares CAS on delete and on
//! append/prepend). Each is exact: the CAS is read or compared under the same shard lock as
//! the operation.

use super::{ArithOutcome, DeleteOutcome, SetMode, Store, StoreOutcome, Value};

impl Store {
    /// `store`, plus the new item's CAS unique on success (0 otherwise, and with `-C`).
    /// For `Append`/`Prepend`, a non-zero `concat_cas` must equal the item's unique
    /// (`Exists` otherwise; a missing item is `NotStored`).
    pub fn store_cas<'v>(
        &self,
        mode: SetMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: impl Into<Value<'v>>,
        concat_cas: u64,
    ) -> (StoreOutcome, u64) {
        self.inner
            .store_classic(mode, key, flags, exptime, data.into(), concat_cas)
    }

    /// Delete only if `cas` is 0 or equals the item's CAS unique.
    pub fn delete_cas(&self, key: &[u8], cas: u64) -> DeleteOutcome {
        self.inner.delete_cas(key, (cas != 0).then_some(cas))
    }

    /// `arith`, plus the item's new CAS unique on success (read under the same lock).
    pub fn arith_cas(&self, key: &[u8], incr: bool, delta: u64) -> (ArithOutcome, u64) {
        self.inner.arith_with(key, incr, delta, |e| e.cas())
    }
}
