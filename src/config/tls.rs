//! memcached's TLS settings: `-Z` and the `-o ssl_*` options, and the `notls:`/`btls:`/
//! `mtls:` prefixes of a `-l` entry (memcached 1.6.30).
//!
//! Owns: what each `ssl_*` value means, which values ferrocache can honour with rustls
//! (TLS 1.2 and 1.3 only, the cipher suites rustls offers), and the start-up messages for
//! the rest, each naming its option. Must not touch: files (the certificates are read by
//! `server/net/tls.rs` when the server starts), sockets.

use std::path::PathBuf;

/// `ssl_verify_mode`: memcached's four modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VerifyMode {
    /// 0: no client certificate asked for.
    #[default]
    None,
    /// 1: a client certificate is asked for and checked if sent; none is fine.
    Request,
    /// 2: a valid client certificate is required.
    Require,
    /// 3: required, checked once per connection (no renegotiation here: as 2).
    Once,
}

impl VerifyMode {
    /// The OpenSSL flags memcached prints in `stats settings` (`SSL_VERIFY_PEER` 1,
    /// `FAIL_IF_NO_PEER_CERT` 2, `CLIENT_ONCE` 4).
    pub fn openssl_flags(self) -> u32 {
        match self {
            VerifyMode::None => 0,
            VerifyMode::Request => 1,
            VerifyMode::Require => 3,
            VerifyMode::Once => 7,
        }
    }
}

/// `ssl_min_version`: the lowest TLS version accepted. rustls speaks 1.2 and 1.3 only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MinVersion {
    #[default]
    Tls12,
    Tls13,
}

impl MinVersion {
    /// memcached's name for it (`stats settings`).
    pub fn name(self) -> &'static str {
        match self {
            MinVersion::Tls12 => "tlsv1.2",
            MinVersion::Tls13 => "tlsv1.3",
        }
    }
}

/// memcached's default `ssl_wbuf_size`: 16 KiB.
pub const DEFAULT_WBUF_SIZE: u32 = 16 * 1024;

/// The TLS settings, as given; `server/net/tls.rs` builds the rustls configuration from them.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsSettings {
    /// `-Z`.
    pub enabled: bool,
    pub chain_cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    pub verify_mode: VerifyMode,
    /// `ssl_keyformat`: OpenSSL's file type, 1 (PEM) the only one supported.
    pub keyformat: i32,
    /// `ssl_ciphers` as given (checked by `cipher_names`).
    pub ciphers: Option<String>,
    /// `ssl_wbuf_size` in bytes: the bound on encrypted output a connection holds.
    pub wbuf_size: u32,
    pub session_cache: bool,
    /// `ssl_kernel_tls`: asked for; never in effect (rustls has no kernel offload here).
    pub kernel_tls: bool,
    pub min_version: MinVersion,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            enabled: false,
            chain_cert: None,
            key: None,
            ca_cert: None,
            verify_mode: VerifyMode::None,
            keyformat: 1,
            ciphers: None,
            wbuf_size: DEFAULT_WBUF_SIZE,
            session_cache: false,
            kernel_tls: false,
            min_version: MinVersion::Tls12,
        }
    }
}

/// TLS of one TCP listener, from its `-l` prefix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListenTls {
    /// No prefix: TLS with `-Z` (client certificates as `ssl_verify_mode` says), else plain.
    #[default]
    Default,
    /// `notls:`: plain even with `-Z`.
    Off,
    /// `btls:`: TLS without asking for a client certificate.
    NoPeer,
    /// `mtls:`: TLS requiring a valid client certificate.
    Peer,
}

/// Splits a `-l` entry's TLS prefix off (`notls:127.0.0.1:11211`). memcached matches the
/// prefix and skips one separator character after it.
pub fn split_listen_prefix(entry: &str) -> (ListenTls, &str) {
    let e = entry.trim();
    for (prefix, mode) in [
        ("notls", ListenTls::Off),
        ("btls", ListenTls::NoPeer),
        ("mtls", ListenTls::Peer),
    ] {
        if let Some(rest) = e.strip_prefix(prefix) {
            let rest = rest.get(1..).unwrap_or("");
            return (mode, rest);
        }
    }
    (ListenTls::Default, e)
}

/// memcached's message for a prefix used without `-Z` (it says `otls` for `mtls`).
pub fn prefix_without_tls(mode: ListenTls) -> Option<&'static str> {
    match mode {
        ListenTls::Default => None,
        ListenTls::Off => Some("'notls' option is valid only when SSL is enabled"),
        ListenTls::NoPeer => Some("'btls' option is valid only when SSL is enabled"),
        ListenTls::Peer => Some("'otls' option is valid only when SSL is enabled"),
    }
}

fn value<'a>(name: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("-o {name}: Missing {name} argument"))
}

fn int(name: &str, v: Option<&str>) -> Result<i64, String> {
    let v = value(name, v)?;
    v.trim()
        .parse::<i64>()
        .map_err(|_| format!("-o {name}={v}: could not parse argument to {name}"))
}

/// Applies one `-o ssl_*` option. `Ok(false)`: not a TLS option.
pub fn apply(t: &mut TlsSettings, name: &str, v: Option<&str>) -> Result<bool, String> {
    match name {
        "ssl_chain_cert" => t.chain_cert = Some(PathBuf::from(value(name, v)?)),
        "ssl_key" => t.key = Some(PathBuf::from(value(name, v)?)),
        "ssl_ca_cert" => t.ca_cert = Some(PathBuf::from(value(name, v)?)),
        "ssl_verify_mode" => {
            t.verify_mode = match int(name, v)? {
                0 => VerifyMode::None,
                1 => VerifyMode::Request,
                2 => VerifyMode::Require,
                3 => VerifyMode::Once,
                _ => {
                    return Err(format!(
                        "-o {name}={}: Invalid ssl_verify_mode. Use help to see valid options.",
                        v.unwrap_or("")
                    ));
                }
            }
        }
        "ssl_keyformat" => {
            let n = int(name, v)?;
            if n != 1 {
                return Err(format!(
                    "-o {name}={n}: only 1 (PEM) is supported by ferrocache (no DER or ENGINE keys)"
                ));
            }
            t.keyformat = 1;
        }
        "ssl_ciphers" => {
            let list = value(name, v)?;
            cipher_names(list)?;
            t.ciphers = Some(list.to_string());
        }
        "ssl_wbuf_size" => {
            let kib = int(name, v)?;
            let bytes = u32::try_from(kib)
                .ok()
                .and_then(|k| k.checked_mul(1024))
                .filter(|&b| b >= 1024)
                .ok_or_else(|| format!("-o {name}={kib}: must be between 1 and 4194303 (KiB)"))?;
            t.wbuf_size = bytes;
        }
        "ssl_session_cache" => t.session_cache = true,
        "ssl_kernel_tls" => t.kernel_tls = true,
        "ssl_min_version" => {
            let v = value(name, v)?;
            t.min_version = match v.trim() {
                "2" | "tlsv1.2" => MinVersion::Tls12,
                "3" | "tlsv1.3" => MinVersion::Tls13,
                "0" | "1" | "tlsv1.0" | "tlsv1.1" => {
                    return Err(format!(
                        "-o {name}={v}: TLS 1.0 and 1.1 are not supported (rustls speaks TLS 1.2 and 1.3): use 2 (tlsv1.2) or 3 (tlsv1.3)"
                    ));
                }
                _ => {
                    return Err(format!(
                        "-o {name}={v}: Invalid ssl_min_version. Use help to see valid options."
                    ));
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A cipher suite ferrocache can offer: OpenSSL's name (what `ssl_ciphers` lists) and
/// the IANA name rustls uses.
pub const CIPHERS: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
];

/// The rustls names of the suites an `ssl_ciphers` list names. The list is OpenSSL's
/// syntax (`:`, `,` or space separated); each entry must be a suite rustls offers, by its
/// OpenSSL or IANA name. Keywords and operators (`HIGH`, `!aNULL`, `@STRENGTH`) and
/// suites rustls lacks (CBC, RSA key exchange) are refused by name: ferrocache cannot
/// honour them.
pub fn cipher_names(list: &str) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for part in list
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let found = CIPHERS.iter().find(|(openssl, iana)| {
            part.eq_ignore_ascii_case(openssl)
                || part.eq_ignore_ascii_case(iana)
                || iana
                    .strip_prefix("TLS13_")
                    .is_some_and(|i| part.eq_ignore_ascii_case(&format!("TLS_{i}")))
        });
        match found {
            Some((_, iana)) => {
                if !out.contains(iana) {
                    out.push(*iana);
                }
            }
            None => {
                return Err(format!(
                    "-o ssl_ciphers={list}: Error setting the provided cipher(s): {part:?} is not a cipher suite ferrocache offers (rustls: {})",
                    CIPHERS
                        .iter()
                        .map(|(o, _)| *o)
                        .collect::<Vec<_>>()
                        .join(":")
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "-o ssl_ciphers={list}: Error setting the provided cipher(s): none given"
        ));
    }
    Ok(out)
}

/// Start-up checks once every option is in: what memcached refuses, and what ferrocache
/// cannot honour. `tls_listeners`: TCP listeners that would speak TLS.
pub fn check(t: &TlsSettings, listeners: &[ListenTls]) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if !t.enabled {
        return Ok(warnings);
    }
    if t.chain_cert.is_none() {
        return Err(
            "-Z: Error loading the certificate chain: (null) : -o ssl_chain_cert=FILE is required"
                .into(),
        );
    }
    let needs_ca = t.verify_mode != VerifyMode::None || listeners.contains(&ListenTls::Peer);
    if needs_ca && t.ca_cert.is_none() {
        return Err(format!(
            "-o ssl_verify_mode={}: client certificates are checked against -o ssl_ca_cert=FILE, which is missing",
            match t.verify_mode {
                VerifyMode::None => 0,
                VerifyMode::Request => 1,
                VerifyMode::Require => 2,
                VerifyMode::Once => 3,
            }
        ));
    }
    if t.kernel_tls {
        warnings.push(
            "-o ssl_kernel_tls: kernel TLS offload is not available with rustls; TLS runs in the workers"
                .into(),
        );
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(opts: &[&str]) -> Result<TlsSettings, String> {
        let mut t = TlsSettings::default();
        for o in opts {
            let (n, v) = match o.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (*o, None),
            };
            assert!(apply(&mut t, n, v)?, "{o} not a TLS option");
        }
        Ok(t)
    }

    #[test]
    fn options_parse_as_memcached() {
        let t = set(&[
            "ssl_chain_cert=/c.pem",
            "ssl_key=/k.pem",
            "ssl_ca_cert=/ca.pem",
            "ssl_verify_mode=3",
            "ssl_wbuf_size=32",
            "ssl_session_cache",
            "ssl_min_version=3",
            "ssl_ciphers=ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384",
        ])
        .unwrap();
        assert_eq!(t.verify_mode, VerifyMode::Once);
        assert_eq!(t.verify_mode.openssl_flags(), 7);
        assert_eq!(t.wbuf_size, 32 * 1024);
        assert!(t.session_cache);
        assert_eq!(t.min_version.name(), "tlsv1.3");
        assert_eq!(
            cipher_names(t.ciphers.as_deref().unwrap()).unwrap(),
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS13_AES_256_GCM_SHA384"
            ]
        );
    }

    #[test]
    fn refusals_name_the_option() {
        for (o, needle) in [
            ("ssl_min_version=1", "ssl_min_version=1"),
            ("ssl_min_version=9", "Invalid ssl_min_version"),
            ("ssl_verify_mode=4", "Invalid ssl_verify_mode"),
            ("ssl_verify_mode=x", "could not parse"),
            ("ssl_ciphers=HIGH:!aNULL", "ssl_ciphers"),
            ("ssl_ciphers=AES128-SHA", "\"AES128-SHA\""),
            ("ssl_keyformat=2", "ssl_keyformat"),
            ("ssl_key", "Missing ssl_key"),
        ] {
            let e = set(&[o]).unwrap_err();
            assert!(e.contains(needle), "{o}: {e}");
        }
    }

    #[test]
    fn listen_prefixes() {
        assert_eq!(
            split_listen_prefix("notls:127.0.0.1:1"),
            (ListenTls::Off, "127.0.0.1:1")
        );
        assert_eq!(
            split_listen_prefix("mtls:127.0.0.1"),
            (ListenTls::Peer, "127.0.0.1")
        );
        assert_eq!(
            split_listen_prefix("127.0.0.1"),
            (ListenTls::Default, "127.0.0.1")
        );
    }

    #[test]
    fn start_up_checks() {
        let mut t = set(&["ssl_verify_mode=2"]).unwrap();
        t.enabled = true;
        assert!(check(&t, &[]).unwrap_err().contains("ssl_chain_cert"));
        t.chain_cert = Some("/c".into());
        assert!(check(&t, &[]).unwrap_err().contains("ssl_ca_cert"));
        t.ca_cert = Some("/ca".into());
        assert!(check(&t, &[]).unwrap().is_empty());
    }
}
