//! Numbers in command lines, exactly like memcached's `safe_strtoul`/`safe_strtoull`/
//! `safe_strtol` (util.c) on a 64-bit Linux build. The scanning rules are
//! [`crate::decimal`]'s (shared with the store's `incr`/`decr`); here:
//!
//! - the 32-bit results are the 64-bit value truncated (`*out = l` into a `uint32_t` or
//!   `int32_t`): flags `4294967296` is 0, exptime `4294967295` is -1.

use crate::decimal::scan;
/// `safe_strtoull`: a `u64` (CAS unique, incr/decr delta).
pub(super) use crate::decimal::strtoull;

/// `safe_strtoul`: a `u32` (flags, verbosity level), truncated from 64 bits.
pub(super) fn strtoul(tok: &[u8]) -> Option<u32> {
    strtoull(tok).map(|v| v as u32)
}

/// `safe_strtod`: a finite `f64` (memcached's `strtod`, refusing what overflows it; hex
/// floats, which C's `strtod` also reads, are refused here).
pub(super) fn strtod(tok: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(tok).ok()?;
    let v: f64 = s.strip_prefix('+').unwrap_or(s).parse().ok()?;
    let named = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    (v.is_finite() || named.starts_with("inf")).then_some(v)
}

/// `safe_strtol`: an `i32` (exptime, byte count, flush delay), truncated from `strtol`'s
/// 64-bit `long`.
pub(super) fn strtol(tok: &[u8]) -> Option<i32> {
    let (neg, mag) = scan(tok)?;
    let v = if neg {
        if mag > 1 << 63 {
            return None;
        }
        (mag as i64).wrapping_neg()
    } else {
        i64::try_from(mag).ok()?
    };
    Some(v as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_32() {
        assert_eq!(strtoul(b"0"), Some(0));
        assert_eq!(strtoul(b"4294967295"), Some(u32::MAX));
        // memcached: `set a 4294967296 0 1` -> STORED with flags 0 (truncated).
        assert_eq!(strtoul(b"4294967296"), Some(0));
        // memcached: flags 18446744073709551615 -> VALUE a 4294967295.
        assert_eq!(strtoul(b"18446744073709551615"), Some(u32::MAX));
        // memcached: 18446744073709551616 -> CLIENT_ERROR bad command line format.
        assert_eq!(strtoul(b"18446744073709551616"), None);
        assert_eq!(strtoul(b"-1"), None);
        assert_eq!(strtoul(b"-0"), Some(0));
        // memcached: flags -18446744073709551615 -> VALUE a 1.
        assert_eq!(strtoul(b"-18446744073709551615"), Some(1));
        assert_eq!(strtoul(b"+5"), Some(5));
        assert_eq!(strtoul(b"010"), Some(10));
        assert_eq!(strtoul(b"0x10"), None);
        assert_eq!(strtoul(b"5z"), None);
        assert_eq!(strtoul(b"5\t"), Some(5));
        assert_eq!(strtoul(b"5\tzz"), Some(5));
        assert_eq!(strtoul(b"\t7"), Some(7));
        assert_eq!(strtoul(b"1\r"), Some(1));
        assert_eq!(strtoul(b""), None);
        assert_eq!(strtoul(b"-"), None);
        assert_eq!(strtoul(b"+"), None);
        assert_eq!(strtoul(b"x"), None);
        assert_eq!(strtoul(b"\t"), None);
        // The `-` check looks at the whole token, only for results >= 2^63.
        assert_eq!(strtoul(b"9223372036854775808\t-"), None);
        assert_eq!(strtoul(b"5\t-"), Some(5));
    }

    #[test]
    fn unsigned_64() {
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        // memcached: `incr a -1` -> CLIENT_ERROR invalid numeric delta argument.
        assert_eq!(strtoull(b"-1"), None);
        assert_eq!(strtoull(b"-9223372036854775808"), None);
        assert_eq!(strtoull(b"-9223372036854775809"), Some(9223372036854775807));
    }

    #[test]
    fn signed_32() {
        assert_eq!(strtol(b"0"), Some(0));
        assert_eq!(strtol(b"-1"), Some(-1));
        assert_eq!(strtol(b"2147483647"), Some(i32::MAX));
        // memcached: exptime 2147483648 is accepted (wraps to i32::MIN).
        assert_eq!(strtol(b"2147483648"), Some(i32::MIN));
        // memcached: `set a 0 4294967296 1` never expires (0); 4294967295 is -1 (expired).
        assert_eq!(strtol(b"4294967296"), Some(0));
        assert_eq!(strtol(b"4294967295"), Some(-1));
        // memcached: `set a 0 0 4294967297` reads a 1-byte value.
        assert_eq!(strtol(b"4294967297"), Some(1));
        assert_eq!(strtol(b"9223372036854775807"), Some(-1));
        // memcached: byte count 9223372036854775808 -> CLIENT_ERROR (ERANGE), while
        // -9223372036854775808 is LONG_MIN, truncated to 0.
        assert_eq!(strtol(b"9223372036854775808"), None);
        assert_eq!(strtol(b"-9223372036854775808"), Some(0));
        assert_eq!(strtol(b"-9223372036854775809"), None);
        assert_eq!(strtol(b"99999999999"), Some(99999999999_i64 as i32));
        assert_eq!(strtol(b"1x"), None);
        assert_eq!(strtol(b"+ 1"), None);
        assert_eq!(strtol(b"- 1"), None);
    }
}
