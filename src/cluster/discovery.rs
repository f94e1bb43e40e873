//! The auto-discovery wire payload, the `CONFIG cluster` reply and the `--cluster-file` format.
//!
//! The payload is what ElastiCache serves and what libmemcached's ElastiCache client and the
//! PHP/Java cluster clients parse:
//!
//! ```text
//! <version>\n
//! <host>|<ip>|<port> <host>|<ip>|<port> ...\n
//! ```
//!
//! Both line feeds belong to the payload, so its length (the `<bytes>` field of the reply)
//! counts them. The three ways of asking for it wrap the same bytes:
//!
//! - text `config get cluster` → [`text_reply`]: `CONFIG cluster 0 <bytes>\r\n<payload>\r\nEND\r\n`;
//! - text `get AmazonElastiCache:cluster` ([`LEGACY_KEY`]) → an ordinary `VALUE` reply, flags 0;
//! - binary opcode [`BINARY_OPCODE_CONFIG_GET`] with key [`CONFIG_KEY`] → a Get response
//!   (status 0, 4 bytes of flags = 0, the payload as the value).
//!
//! `config set cluster 0 <bytes>\r\n<payload>\r\n` carries the same payload the other way;
//! [`parse_payload`] checks it.
//!
//! Owns the payload (both ways); the `CONFIG` reply's framing is `protocol::text::config`'s.
//! Pure: no I/O. Reading the file and logging its errors is the server's job. Must not
//! import `server`.

use super::{ClusterConfig, Node, NodeList};

/// The key of `config get cluster` / `config set cluster` and of binary opcode 0x60.
pub const CONFIG_KEY: &str = "cluster";
/// The pre-1.4.14 ElastiCache key, answered by a plain `get`.
pub const LEGACY_KEY: &str = "AmazonElastiCache:cluster";
/// Binary protocol "config get" opcode (ElastiCache).
pub const BINARY_OPCODE_CONFIG_GET: u8 = 0x60;
/// Largest payload [`parse_payload`] accepts (a few thousand nodes).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// `"<version>\n<nodes space-separated>\n"`.
pub fn payload(config: &ClusterConfig) -> Vec<u8> {
    format!("{}\n{}\n", config.version, config.nodes).into_bytes()
}

/// Appends `CONFIG cluster 0 <bytes>\r\n<payload>\r\nEND\r\n` to `out`, where `<bytes>` is
/// the payload's exact length (both of its LFs, not the closing CRLF): this payload in the
/// protocol's `CONFIG` framing (`protocol::text::config::encode_reply`). The executor's
/// entry point for `config get cluster`.
pub fn text_reply(config: &ClusterConfig, out: &mut Vec<u8>) {
    crate::protocol::text::config::encode_reply(out, CONFIG_KEY.as_bytes(), 0, &payload(config));
}

/// Parses a payload strictly: a decimal version ≥ 1 (digits only), `\n`, zero or more
/// valid `host|ip|port` entries separated by single spaces, and a final `\n` with nothing
/// after it. The list goes through [`NodeList::new`] (sorted, duplicates merged, one ip per
/// `host:port`).
///
/// An empty node list (`"3\n\n"`) is accepted: it is what a node without a cluster file
/// serves, and `config set` must round-trip what `config get` prints. Clients should not
/// route with it (ours keeps its previous list).
pub fn parse_payload(bytes: &[u8]) -> Result<ClusterConfig, String> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(format!("payload longer than {MAX_PAYLOAD} bytes"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "payload is not UTF-8".to_string())?;
    let body = text
        .strip_suffix('\n')
        .ok_or_else(|| "payload must end with \\n".to_string())?;
    let (version, nodes) = body
        .split_once('\n')
        .ok_or_else(|| "payload needs a version line and a node line".to_string())?;
    if nodes.contains('\n') {
        return Err("payload has more than two lines".to_string());
    }
    let version = parse_version(version)?;
    let nodes = if nodes.is_empty() {
        NodeList::empty()
    } else {
        let parsed = nodes
            .split(' ')
            .map(Node::parse)
            .collect::<Result<Vec<_>, _>>()?;
        NodeList::new(parsed)?
    };
    Ok(ClusterConfig::new(version, nodes))
}

fn parse_version(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad version `{s}`"));
    }
    match s.parse::<u64>() {
        Ok(0) => Err("version must be at least 1".to_string()),
        Ok(v) => Ok(v),
        Err(_) => Err(format!("version `{s}` out of range")),
    }
}

/// A parsed `--cluster-file`: the node list and the version, if the file names one.
/// Apply it with [`super::Membership::apply_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterFile {
    pub version: Option<u64>,
    pub nodes: NodeList,
}

/// Parses the cluster file format:
///
/// ```text
/// # comments run from `#` to the end of the line; blank lines are skipped
/// version 12                       # optional, at most once, ≥ 1
/// cache-a.example|10.0.0.1|11211
/// cache-b.example||11211           # ip may be empty, both `|` stay
/// ```
///
/// One `host|ip|port` per line; surrounding whitespace is ignored. Errors name the 1-based
/// line (`line 3: ...`) so the server can log them and keep its running list. A file with no
/// nodes is refused: an empty list is far more often a half-written file than an intent.
pub fn parse_file(text: &str) -> Result<ClusterFile, String> {
    let mut version = None;
    let mut nodes = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("version")
            && (rest.is_empty() || rest.starts_with(char::is_whitespace))
        {
            if version.is_some() {
                return Err(format!("line {lineno}: second `version` line"));
            }
            let v = parse_version(rest.trim()).map_err(|e| format!("line {lineno}: {e}"))?;
            version = Some(v);
            continue;
        }
        let node = Node::parse(line).map_err(|e| format!("line {lineno}: {e}"))?;
        nodes.push((lineno, node));
    }
    if nodes.is_empty() {
        return Err("no nodes in cluster file".to_string());
    }
    // Name the line of a conflicting duplicate rather than just the node.
    let mut seen: std::collections::HashMap<(String, u16), &str> = Default::default();
    for (lineno, node) in &nodes {
        if let Some(ip) = seen.insert((node.host.clone(), node.port), &node.ip)
            && ip != node.ip
        {
            return Err(format!(
                "line {lineno}: node {}:{} already listed with ip `{ip}`",
                node.host, node.port
            ));
        }
    }
    let nodes = NodeList::new(nodes.into_iter().map(|(_, n)| n))?;
    Ok(ClusterFile { version, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(version: u64, nodes: &[&str]) -> ClusterConfig {
        let nodes = nodes.iter().map(|s| Node::parse(s).unwrap());
        ClusterConfig::new(version, NodeList::new(nodes).unwrap())
    }

    #[test]
    fn payload_is_version_lf_sorted_nodes_lf() {
        let c = config(
            12,
            &[
                "node-b.example|10.0.0.2|11211",
                "node-a.example|10.0.0.1|11211",
                "node-c.example||11212",
            ],
        );
        let p = payload(&c);
        assert_eq!(
            p,
            b"12\nnode-a.example|10.0.0.1|11211 node-b.example|10.0.0.2|11211 node-c.example||11212\n"
        );
        assert_eq!(p.last(), Some(&b'\n'));
        assert_eq!(payload(&ClusterConfig::default()), b"1\n\n");
    }

    #[test]
    fn text_reply_is_byte_exact() {
        let c = config(1, &["h1|127.0.0.1|11211", "h0||11212"]);
        let mut out = b"prefix".to_vec();
        text_reply(&c, &mut out);
        let body = "1\nh0||11212 h1|127.0.0.1|11211\n";
        assert_eq!(body.len(), 31);
        let expect = format!("prefixCONFIG cluster 0 31\r\n{body}\r\nEND\r\n");
        assert_eq!(String::from_utf8(out).unwrap(), expect);
    }

    #[test]
    fn text_reply_length_always_matches_payload() {
        for c in [
            ClusterConfig::default(),
            config(9, &["a||1"]),
            config(10, &["a||1"]),
            config(u64::MAX, &["x|::1|65535", "y|10.9.8.7|1"]),
        ] {
            let mut out = Vec::new();
            text_reply(&c, &mut out);
            let text = String::from_utf8(out).unwrap();
            let (header, rest) = text.split_once("\r\n").unwrap();
            let n: usize = header
                .strip_prefix("CONFIG cluster 0 ")
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(&rest.as_bytes()[..n], payload(&c).as_slice());
            assert_eq!(&rest[n..], "\r\nEND\r\n");
            assert_eq!(parse_payload(&rest.as_bytes()[..n]).unwrap(), c);
        }
    }

    #[test]
    fn parse_payload_round_trips_and_sorts() {
        let c = parse_payload(b"3\nz||1 a|10.0.0.1|2\n").unwrap();
        assert_eq!(c.version, 3);
        assert_eq!(payload(&c), b"3\na|10.0.0.1|2 z||1\n");
        let empty = parse_payload(b"4\n\n").unwrap();
        assert_eq!(empty.version, 4);
        assert!(empty.nodes.is_empty());
    }

    #[test]
    fn parse_payload_is_strict() {
        for bad in [
            &b""[..],
            b"1",
            b"1\n",
            b"1\na||1",
            b"0\na||1\n",
            b"-1\na||1\n",
            b"+1\na||1\n",
            b" 1\na||1\n",
            b"x\na||1\n",
            b"18446744073709551616\na||1\n",
            b"1\na||1\n\n",
            b"1\na||1\nb||1\n",
            b"1\na||1  b||1\n",
            b"1\na||1 \n",
            b"1\n a||1\n",
            b"1\na||1\r\n",
            b"1\r\na||1\n",
            b"1\na|1\n",
            b"1\na|10.0.0.1|0\n",
            b"1\na|bogus|1\n",
            b"1\na|10.0.0.1|1 a|10.0.0.2|1\n",
            b"1\n\xff||1\n",
        ] {
            assert!(
                parse_payload(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_payload(b"18446744073709551615\na||1\n")
                .unwrap()
                .version,
            u64::MAX
        );
        // Exact duplicates merge.
        assert_eq!(parse_payload(b"1\na||1 a||1\n").unwrap().nodes.len(), 1);
    }

    #[test]
    fn parse_file_accepts_comments_blanks_and_version() {
        let f = parse_file(
            "# cluster\n\
             \n\
             version 7   # bumped by ops\n\
             \x20 cache-b||11211  \n\
             cache-a|10.0.0.1|11211 # primary\n\
             cache-a|10.0.0.1|11211\n",
        )
        .unwrap();
        assert_eq!(f.version, Some(7));
        assert_eq!(f.nodes.to_string(), "cache-a|10.0.0.1|11211 cache-b||11211");
        let f = parse_file("a||1\r\nb||2\r\n").unwrap();
        assert_eq!(f.version, None);
        assert_eq!(f.nodes.len(), 2);
    }

    #[test]
    fn parse_file_errors_name_the_line() {
        let cases = [
            ("a||1\nb|x|2\n", "line 2:"),
            ("# c\n\na||1\nversion 0\n", "line 4:"),
            ("version 2\nversion 3\na||1\n", "line 2:"),
            ("version\na||1\n", "line 1:"),
            ("version two\na||1\n", "line 1:"),
            ("a||1\na b||1\n", "line 2:"),
            ("a|10.0.0.1|1\n\na|10.0.0.2|1\n", "line 3:"),
            ("a||99999\n", "line 1:"),
        ];
        for (text, want) in cases {
            let err = parse_file(text).unwrap_err();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
        assert!(parse_file("# nothing\n\n").is_err());
        assert!(parse_file("version 3\n").is_err());
        // `versionx` is not the version keyword, and not a valid node either.
        assert!(parse_file("versionx\n").unwrap_err().starts_with("line 1:"));
    }
}
