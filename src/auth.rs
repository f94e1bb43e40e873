//! Credentials for SASL PLAIN (`-S` with `--sasl-pwdb`) and memcached's ascii
//! authentication (`-Y`): a file of `user:password` lines, as memcached's
//! `MEMCACHED_SASL_PWDB` and `-Y` files.
//!
//! Owns: loading the file and checking a user/password pair in constant time (no early
//! exit on the first differing byte, every entry examined). Never logs a password. Must not
//! touch sockets or protocol types.

use std::fmt;
use std::path::Path;

/// The users allowed in.
#[derive(Clone, Default)]
pub struct Credentials {
    users: Vec<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print passwords.
        write!(f, "Credentials({} users)", self.users.len())
    }
}

/// Equal in time that depends only on the lengths (`subtle`, which also keeps the compiler
/// from turning the comparison back into an early exit).
fn ct_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}

impl Credentials {
    /// Parses `user:password` lines (blank lines and `#` comments skipped). The password is
    /// everything after the first `:` (a trailing `\r` is dropped).
    pub fn parse(text: &str) -> Result<Credentials, String> {
        let mut users = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((u, p)) if !u.is_empty() && !p.is_empty() => {
                    users.push((u.as_bytes().to_vec(), p.as_bytes().to_vec()))
                }
                _ => return Err(format!("line {}: expected user:password", i + 1)),
            }
        }
        if users.is_empty() {
            return Err("no user:password lines".into());
        }
        Ok(Credentials { users })
    }

    /// Reads and parses a credentials file.
    pub fn load(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Credentials::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `user` / `password` is one of the entries.
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let mut ok = subtle::Choice::from(0);
        for (u, p) in &self.users {
            // Both compared every time, every entry examined: no short-circuit.
            ok |= ct_eq(u, user) & ct_eq(p, password);
        }
        ok.into()
    }

    /// SASL PLAIN: `[authzid] NUL authcid NUL password`; an authzid, if given, must equal
    /// the authcid.
    pub fn check_plain(&self, message: &[u8]) -> bool {
        let mut parts = message.splitn(3, |&b| b == 0);
        let (Some(authz), Some(user), Some(pass)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        (authz.is_empty() || authz == user) && self.check(user, pass)
    }

    /// memcached's ascii auth: the data of the first `set` is `user password`.
    pub fn check_ascii(&self, data: &[u8]) -> bool {
        match data.iter().position(|&b| b == b' ') {
            Some(sp) => self.check(&data[..sp], &data[sp + 1..]),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_check() {
        let c = Credentials::parse("# users\nalice:secret\n\nbob:p:w\r\n").unwrap();
        assert!(c.check(b"alice", b"secret"));
        assert!(c.check(b"bob", b"p:w"));
        assert!(!c.check(b"alice", b"secre"));
        assert!(!c.check(b"alice", b"secret2"));
        assert!(!c.check(b"carol", b"secret"));
        assert!(!c.check(b"", b""));
        assert!(format!("{c:?}").contains("2 users"));
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(
            Credentials::parse("alice:x\nnocolon\n").unwrap_err(),
            "line 2: expected user:password"
        );
        assert!(Credentials::parse("").is_err());
        assert!(Credentials::parse(":pw\n").is_err());
    }

    #[test]
    fn sasl_plain_and_ascii_forms() {
        let c = Credentials::parse("alice:secret\n").unwrap();
        assert!(c.check_plain(b"\0alice\0secret"));
        assert!(c.check_plain(b"alice\0alice\0secret"));
        assert!(!c.check_plain(b"bob\0alice\0secret"));
        assert!(!c.check_plain(b"\0alice\0wrong"));
        assert!(!c.check_plain(b"alice secret"));
        assert!(c.check_ascii(b"alice secret"));
        assert!(!c.check_ascii(b"alice secret "));
        assert!(!c.check_ascii(b"alicesecret"));
    }
}
