//! Number parsing and formatting for `incr`/`decr`, matching memcached's `safe_strtoull`
//! applied to an item's data (which memcached follows with `\r\n`).

/// Parse a stored value the way memcached's `do_add_delta` does: `safe_strtoull` on the item
/// data (one implementation with the text parser's, in [`crate::decimal`]).
pub(super) use crate::decimal::strtoull as parse_value;

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
