//! Authenticated membership: a pool's members share a secret (`--cluster-secret-file`), and
//! every list a member pushes to another (`config set cluster`) carries an HMAC-SHA256 of
//! its payload under that secret. A node refuses a pushed list whose seal does not verify,
//! so only members (and operators holding the secret) can change the pool.
//!
//! Wire form: the discovery payload (`"<version>\n<nodes>\n"`) followed by one more line,
//! `mac <64 lowercase hex digits>\n`. The MAC covers the payload bytes before that line.
//! A replayed seal only replays an old version, which the version rule ignores.
//!
//! Owns: the seal's format and its check. Uses the RustCrypto `hmac` and `sha2` crates (no
//! hand-rolled cryptography); the comparison is constant-time (`Mac::verify_slice`).
//! Must not: do I/O or parse the payload itself (that is `discovery`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of the seal line.
const MAC_PREFIX: &[u8] = b"mac ";
/// Hex digits of an HMAC-SHA256.
const MAC_HEX: usize = 64;
/// Shortest secret accepted: 16 bytes (128 bits) of whatever the operator put in the file.
pub const MIN_SECRET: usize = 16;

/// The pool's shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a pushed payload's seal says.
#[derive(Debug, PartialEq, Eq)]
pub enum Sealed<'a> {
    /// No seal line: the payload as given.
    Unsealed(&'a [u8]),
    /// A seal line that verifies: the payload without it.
    Valid(&'a [u8]),
    /// A seal line that does not verify (wrong secret, altered payload) or is malformed.
    Invalid,
}

impl Secret {
    /// The secret from the text of a secret file: its first line, trimmed. At least
    /// [`MIN_SECRET`] bytes.
    pub fn from_file_text(text: &str) -> Result<Secret, String> {
        let line = text.lines().next().unwrap_or("").trim();
        if line.len() < MIN_SECRET {
            return Err(format!(
                "the secret must be at least {MIN_SECRET} characters on the first line"
            ));
        }
        Ok(Secret(line.as_bytes().to_vec()))
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut m = match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        m.update(payload);
        m
    }

    /// `payload` followed by its seal line.
    pub fn seal(&self, payload: &[u8]) -> Vec<u8> {
        let tag = self.mac(payload).finalize().into_bytes();
        let mut out = Vec::with_capacity(payload.len() + MAC_PREFIX.len() + MAC_HEX + 1);
        out.extend_from_slice(payload);
        out.extend_from_slice(MAC_PREFIX);
        for b in tag.iter() {
            out.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        out.push(b'\n');
        out
    }

    /// Splits a pushed payload into the list and its seal, and checks the seal.
    pub fn open<'a>(&self, data: &'a [u8]) -> Sealed<'a> {
        match split(data) {
            None => Sealed::Unsealed(data),
            Some((body, hex)) => match decode_hex(hex) {
                Some(tag) if self.mac(body).verify_slice(&tag).is_ok() => Sealed::Valid(body),
                _ => Sealed::Invalid,
            },
        }
    }
}

/// Whether `data` ends with a seal line (whatever its MAC).
pub fn is_sealed(data: &[u8]) -> bool {
    split(data).is_some()
}

/// `(payload, hex)` when the last line of `data` is `mac <hex>`.
fn split(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = data.strip_suffix(b"\n")?;
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = &body[start..];
    let hex = line.strip_prefix(MAC_PREFIX)?;
    Some((&data[..start], hex))
}

fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if hex.len() != MAC_HEX {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    hex.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::from_file_text("0123456789abcdef0123\n").expect("secret")
    }

    #[test]
    fn seal_round_trip_and_tamper() {
        let s = secret();
        let payload = b"3\na|10.0.0.1|11211 b|10.0.0.2|11211\n";
        let sealed = s.seal(payload);
        assert!(is_sealed(&sealed));
        assert_eq!(s.open(&sealed), Sealed::Valid(&payload[..]));
        // Altered list, same seal.
        let mut bad = sealed.clone();
        bad[0] = b'4';
        assert_eq!(s.open(&bad), Sealed::Invalid);
        // Another secret.
        let other = Secret::from_file_text("another-secret-of-16+").expect("secret");
        assert_eq!(other.open(&sealed), Sealed::Invalid);
        // No seal.
        assert_eq!(s.open(payload), Sealed::Unsealed(&payload[..]));
        // Malformed seal lines.
        assert_eq!(s.open(b"3\na||1\nmac xyz\n"), Sealed::Invalid);
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Secret::from_file_text("short\n").is_err());
        assert!(Secret::from_file_text("").is_err());
        assert!(Secret::from_file_text("  0123456789abcdef  \nrest").is_ok());
    }
}
