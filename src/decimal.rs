//! memcached's `safe_strtoull` (util.c on a 64-bit Linux build, wrapping glibc's
//! `strtoull`), the one decimal parser of the crate: the text protocol reads numbers in
//! command lines with it, the store reads an item's value with it for `incr`/`decr`
//! (memcached's `do_add_delta` calls the same function on the item data).
//!
//! - leading C whitespace (`\t \n \v \f \r` and space) is skipped;
//! - an optional `+` or `-` sign, then decimal digits (no `0x`; `010` is ten);
//! - out of the 64-bit range (`ERANGE`) or no digits: rejected;
//! - the digits must be followed by the end, a C whitespace byte or a NUL, after which
//!   anything goes (`5\tzz` is 5);
//! - a `-` is accepted: `strtoull("-1")` is `2^64 - 1`, and memcached only rejects it when the
//!   result is negative as a signed 64-bit number and the text contains a `-` (so `-0` is 0
//!   and `-18446744073709551615` is 1).
//!
//! A leaf module: it depends on nothing, so both `protocol` and `store` may use it.

/// C's `isspace` in the "C" locale.
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The sign and magnitude of `s`, or `None` where `strto*` fails or memcached's
/// end-of-number check does.
pub fn scan(s: &[u8]) -> Option<(bool, u64)> {
    let mut i = s.iter().take_while(|&&b| is_c_space(b)).count();
    let neg = match s.get(i) {
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
    while let Some(&d) = s.get(i).filter(|d| d.is_ascii_digit()) {
        mag = mag.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    if i == start {
        return None;
    }
    match s.get(i) {
        Some(&b) if !(is_c_space(b) || b == 0) => None,
        _ => Some((neg, mag)),
    }
}

/// `safe_strtoull`: a `u64`.
pub fn strtoull(s: &[u8]) -> Option<u64> {
    let (neg, mag) = scan(s)?;
    let v = if neg { mag.wrapping_neg() } else { mag };
    if (v as i64) < 0 && s.contains(&b'-') {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_memcached() {
        assert_eq!(strtoull(b"100"), Some(100));
        assert_eq!(strtoull(b" 12 "), Some(12));
        assert_eq!(strtoull(b"+5\tzz"), Some(5));
        assert_eq!(strtoull(b"7\0junk"), Some(7));
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        assert_eq!(strtoull(b"-0"), Some(0));
        assert_eq!(strtoull(b"-18446744073709551615"), Some(1));
        assert_eq!(strtoull(b"-5"), None);
        assert_eq!(strtoull(b""), None);
        assert_eq!(strtoull(b"-"), None);
        assert_eq!(strtoull(b"12abc"), None);
        assert_eq!(strtoull(b"0x10"), None);
    }
}
