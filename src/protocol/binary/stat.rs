//! What a binary Stat request's key asks for, read as memcached 1.6.18's
//! `process_bin_stat` reads it (checked against its binary):
//!
//! * an empty key: the general statistics;
//! * a key *starting* with `reset`, `settings` or `detail` names that group (memcached
//!   compares with `strncmp` over the word's length, so `resetx` resets);
//! * after `detail`, the key must go on with ` on`, ` off` or ` dump` (again a prefix:
//!   `detail onion` turns detail on); anything else is `Not found`. (memcached compares
//!   those bytes even past the end of a shorter key, reading whatever its buffer holds
//!   there; we compare within the key only, which is what memcached answers whenever the
//!   following bytes are another request.)
//! * otherwise exactly `items`, `slabs` or `sizes`; any other key is `Not found`.

use crate::protocol::DetailArg;

/// A Stat request's group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatKey {
    General,
    Reset,
    Settings,
    /// `detail on|off|dump`; [`DetailArg::Usage`]: `detail` followed by anything else
    /// (`Not found`). (1.6.18 serves them with `-X` too.)
    Detail(DetailArg),
    Items,
    Slabs,
    Sizes,
    /// `Not found`.
    Unknown,
}

/// Classifies a Stat request's key.
pub fn stat_key(key: &[u8]) -> StatKey {
    if key.is_empty() {
        return StatKey::General;
    }
    if key.starts_with(b"reset") {
        return StatKey::Reset;
    }
    if key.starts_with(b"settings") {
        return StatKey::Settings;
    }
    if let Some(sub) = key.strip_prefix(b"detail") {
        let arg = if sub.starts_with(b" dump") {
            DetailArg::Dump
        } else if sub.starts_with(b" on") {
            DetailArg::On
        } else if sub.starts_with(b" off") {
            DetailArg::Off
        } else {
            DetailArg::Usage
        };
        return StatKey::Detail(arg);
    }
    match key {
        b"items" => StatKey::Items,
        b"slabs" => StatKey::Slabs,
        b"sizes" => StatKey::Sizes,
        _ => StatKey::Unknown,
    }
}

/// The key of the one stat a binary `detail dump` answers; its value is the text
/// `stats detail dump` prints (`PREFIX ...` lines, then `END`).
pub const DETAIL_DUMP_KEY: &[u8] = b"detailed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_as_memcached_reads_them() {
        use DetailArg::*;
        for (key, want) in [
            (&b""[..], StatKey::General),
            (b"reset", StatKey::Reset),
            (b"resetx", StatKey::Reset),
            (b"rese", StatKey::Unknown),
            (b"settings", StatKey::Settings),
            (b"settingsfoo", StatKey::Settings),
            (b"detail on", StatKey::Detail(On)),
            (b"detail onion", StatKey::Detail(On)),
            (b"detail off", StatKey::Detail(Off)),
            (b"detail dump", StatKey::Detail(Dump)),
            (b"detail dumpster", StatKey::Detail(Dump)),
            (b"detail", StatKey::Detail(Usage)),
            (b"detail o", StatKey::Detail(Usage)),
            (b"detail  on", StatKey::Detail(Usage)),
            (b"detail foo", StatKey::Detail(Usage)),
            (b"detailed", StatKey::Detail(Usage)),
            (b"items", StatKey::Items),
            (b"slabs", StatKey::Slabs),
            (b"sizes", StatKey::Sizes),
            (b"itemsx", StatKey::Unknown),
            (b"item", StatKey::Unknown),
            (b"conns", StatKey::Unknown),
            (b"Detail on", StatKey::Unknown),
        ] {
            assert_eq!(stat_key(key), want, "{:?}", String::from_utf8_lossy(key));
        }
    }
}
