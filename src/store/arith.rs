//! Number parsing and formatting for `incr`/`decr`, matching memcached's `safe_strtoull`
//! applied to an item's data (which memcached follows with `\r\n`).

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Parse a stored value the way memcached's `do_add_delta` does: `strtoull(data, &end, 10)`
/// must consume at least one digit without overflow, and stop at whitespace, a NUL, or the
/// end of the value. Leading whitespace and a sign are accepted; a `-` is only rejected when
/// the result would be negative as a signed number (so "-0" is 0, "-5" is non-numeric).
pub(super) fn parse_value(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut i = 0;
    while i < v.len() && is_c_space(v[i]) {
        i += 1;
    }
    let neg = match v.get(i) {
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
    let mut acc: u64 = 0;
    while let Some(&d) = v.get(i).filter(|d| d.is_ascii_digit()) {
        acc = acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    if i == start {
        return None;
    }
    if let Some(&b) = v.get(i)
        && !(is_c_space(b) || b == 0)
    {
        return None;
    }
    let val = if neg { acc.wrapping_neg() } else { acc };
    if neg && (val as i64) < 0 {
        return None;
    }
    Some(val)
}

/// `incr` wraps at 2^64, `decr` floors at 0.
pub(super) fn apply(value: u64, incr: bool, delta: u64) -> u64 {
    if incr {
        value.wrapping_add(delta)
    } else {
        value.saturating_sub(delta)
    }
}

/// Decimal digits of `v` into `buf`; returns the used prefix.
pub(super) fn format(v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_memcached() {
        // Cases checked against memcached 1.6.18.
        assert_eq!(parse_value(b"100"), Some(100));
        assert_eq!(parse_value(b"99 "), Some(99));
        assert_eq!(parse_value(b" 12 "), Some(12));
        assert_eq!(parse_value(b"+5   "), Some(5));
        assert_eq!(parse_value(b"000000000000000000001"), Some(1));
        assert_eq!(parse_value(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_value(b"-0"), Some(0));
        assert_eq!(parse_value(b"12\0zz"), Some(12));
        assert_eq!(parse_value(b"12\r\nab"), Some(12));
        assert_eq!(parse_value(b"99999999999999999999"), None);
        assert_eq!(parse_value(b"18446744073709551616"), None);
        assert_eq!(parse_value(b"12a"), None);
        assert_eq!(parse_value(b"-1"), None);
        assert_eq!(parse_value(b""), None);
        assert_eq!(parse_value(b"   "), None);
        assert_eq!(parse_value(b"-"), None);
        assert_eq!(parse_value(b"0x10"), None);
        assert_eq!(parse_value(b"abc"), None);
    }

    #[test]
    fn apply_and_format() {
        assert_eq!(apply(u64::MAX, true, 1), 0);
        assert_eq!(apply(5, false, 10), 0);
        assert_eq!(apply(5, true, 10), 15);
        let mut b = [0; 20];
        assert_eq!(format(0, &mut b), b"0");
        assert_eq!(format(u64::MAX, &mut b), b"18446744073709551615");
        assert_eq!(format(104, &mut b), b"104");
    }
}
