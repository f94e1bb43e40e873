//! Number parsing exactly like memcached's `safe_strtoul`/`safe_strtoull`/`safe_strtol`
//! (util.c) on a 64-bit Linux build, which wrap glibc's `strtoul`/`strtoull`/`strtol`:
//!
//! - leading C whitespace (`\t \n \v \f \r`; spaces cannot occur inside a token) is skipped;
//! - an optional `+` or `-` sign, then decimal digits (no `0x`; `010` is ten);
//! - out of the 64-bit range (`ERANGE`) or no digits: rejected;
//! - the digits must be followed by the end of the token or a C whitespace byte, after which
//!   anything goes (`5\tzz` is 5);
//! - the unsigned parsers accept a `-`: `strtoul("-1")` is `2^64 - 1`, and memcached only
//!   rejects it when the result is negative as a signed 64-bit number and the token contains a
//!   `-` (so `-0` is 0 and `-18446744073709551615` is 1);
//! - the 32-bit results are the 64-bit value truncated (`*out = l` into a `uint32_t` or
//!   `int32_t`): flags `4294967296` is 0, exptime `4294967295` is -1.

/// C's `isspace` in the "C" locale, minus the space that tokenizing already removed.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The sign and magnitude of a token, or `None` where `strto*` fails or memcached's
/// end-of-number check does.
fn scan(tok: &[u8]) -> Option<(bool, u64)> {
    let mut i = tok.iter().take_while(|&&b| is_c_space(b)).count();
    let neg = match tok.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut mag: u64 = 0;
    let mut overflow = false;
    while let Some(&d) = tok.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        match mag
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(d - b'0')))
        {
            Some(m) => mag = m,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start || overflow {
        return None;
    }
    match tok.get(i) {
        None => Some((neg, mag)),
        Some(&b) if is_c_space(b) => Some((neg, mag)),
        Some(_) => None,
    }
}

/// `safe_strtoull`: a `u64` (CAS unique, incr/decr delta).
pub(super) fn strtoull(tok: &[u8]) -> Option<u64> {
    let (neg, mag) = scan(tok)?;
    let v = if neg { mag.wrapping_neg() } else { mag };
    if (v as i64) < 0 && tok.contains(&b'-') {
        return None;
    }
    Some(v)
}

/// `safe_strtoul`: a `u32` (flags, verbosity level), truncated from 64 bits.
pub(super) fn strtoul(tok: &[u8]) -> Option<u32> {
    strtoull(tok).map(|v| v as u32)
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
