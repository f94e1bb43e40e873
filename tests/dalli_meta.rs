//! A client written for the newest meta protocol works unchanged: the requests Dalli 5 (the
//! Ruby client, which speaks only the meta protocol) sends for get, gat, set/add/replace/
//! append/prepend with CAS, delete, incr/decr with auto-create, noop, and the `N`/`R`/`W`
//! "recache" dance of its `fetch_with_lock` (thundering-herd protection), replayed over raw
//! sockets. Each script goes to memcached and to ferrocache; the reply streams must be
//! byte-identical once the CAS uniques each server counts out itself are masked.
//!
//! Two pairs: Debian's memcached 1.6.18 against ferrocache with its defaults, and memcached
//! 1.6.45 (`MEMCACHED_1645`, as in `differential_meta_new.rs`) against ferrocache started
//! with `--meta-protocol 1.6.45`.
//!
//! Dalli's request shapes (lib/dalli/protocol/meta/request_formatter.rb): keys base64 (`b`)
//! when they are not plain ASCII, `mg <key> v f` (+ `c` for CAS, `T<ttl>` for gat, `k q s`
//! for multi-get), `ms <key> <len> c F<flags> T<ttl> M<mode> C<cas> q`, `md <key> C<cas>
//! T<ttl> q`, `ma <key> v D<delta> J<initial> N<ttl> C<cas> M<I|D> q`, `mn` after quiet
//! batches.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CACHED_1645: &str = "/tmp/ref-memcached/memcached-1.6.45/memcached";

fn memcached_1645() -> PathBuf {
    if let Some(p) = std::env::var_os("MEMCACHED_1645").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    assert!(
        Path::new(CACHED_1645).exists(),
        "memcached 1.6.45 missing: set MEMCACHED_1645 (scripts/test.sh builds it)"
    );
    PathBuf::from(CACHED_1645)
}

/// The last CAS unique in `replies`: a ` c<n>` token of a meta status line.
fn last_cas(replies: &str) -> Option<String> {
    replies
        .split("\r\n")
        .filter(|l| {
            ["VA ", "HD", "EN", "NS", "EX", "NF"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .flat_map(|l| l.split(' '))
        .filter_map(|t| t.strip_prefix('c'))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .last()
        .map(str::to_string)
}

/// Play the steps on one connection, as a client that remembers the CAS it was last given:
/// `{cas}` in a step becomes the last CAS unique the server sent. Returns the replies with
/// every CAS unique written as `c<CAS>`.
fn play(port: u16, steps: &[&str]) -> String {
    let mut c = Client::connect(port);
    c.stream.set_nodelay(true).expect("nodelay");
    let mut out = String::new();
    let mut cas = String::from("0");
    for step in steps {
        let step = step.replace("{cas}", &cas);
        c.send(step.as_bytes());
        let got = c.read_quiet(Duration::from_millis(120), Duration::from_secs(10));
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(n) = last_cas(&text) {
            cas = n;
        }
        for line in text.split_inclusive("\r\n") {
            let masked: Vec<String> = line
                .trim_end_matches("\r\n")
                .split(' ')
                .map(|t| match t.strip_prefix('c') {
                    Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                        "c<CAS>".to_string()
                    }
                    _ => t.to_string(),
                })
                .collect();
            out.push_str(&masked.join(" "));
            out.push_str(if line.ends_with("\r\n") { "\r\n" } else { "" });
        }
        out.push_str("<STEP>\r\n");
    }
    out
}

fn compare(reference: &Path, ferro_args: &[&str], scripts: &[(&str, &[&str])]) {
    let mut failures = Vec::new();
    for (name, steps) in scripts {
        let m = Server::start_with(reference, &[]);
        let f = Server::start_with(&ferrocache_path(), ferro_args);
        let (mp, fp) = (m.port, f.port);
        let owned: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        let th = std::thread::spawn(move || {
            let s: Vec<&str> = owned.iter().map(String::as_str).collect();
            play(mp, &s)
        });
        let got_f = play(fp, steps);
        let got_m = th.join().expect("reference player");
        // The scripts must exercise something: every step answered.
        assert!(got_m.matches("<STEP>").count() == steps.len() && got_m.len() > 20 * steps.len());
        if got_m != got_f {
            failures.push(format!(
                "=== {name} ===\n--- {} ---\n{got_m}\n--- ferrocache {ferro_args:?} ---\n{got_f}",
                reference.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// "dalli" base64: `ZGFsbGk=`; "lock:report" base64: `bG9jazpyZXBvcnQ=`.
const SCRIPTS: &[(&str, &[&str])] = &[
    (
        "get, gat, set modes and CAS",
        &[
            // set (Dalli: c to learn the CAS, F flags, T ttl, MS mode), then get and gat.
            "ms dalli:k1 5 c F3 T0 MS\r\nhello\r\n",
            "mg dalli:k1 v f c\r\nmg dalli:k1 v f c T300\r\nmg dalli:none v f c\r\n",
            // multi-get: quiet gets with k and s, closed by mn; misses are silent.
            "mg dalli:k1 v f c k q s\r\nmg dalli:none v f c k q s\r\nmg ZGFsbGk= b v f c k q s\r\nmn\r\n",
            // add on an existing key, replace of a missing one, append and prepend.
            "ms dalli:k1 1 c F0 T0 ME q\r\nx\r\nms dalli:k2 1 c F0 T0 MR q\r\nx\r\nmn\r\n",
            "ms dalli:k1 3 c F0 T0 MA q\r\nabc\r\nms dalli:k1 2 c F0 T0 MP q\r\n<<\r\nmn\r\n",
            "mg dalli:k1 v f c\r\n",
            // cas: the CAS just read, then a stale one.
            "ms dalli:k1 3 c F1 T0 MS C{cas}\r\nnew\r\n",
            "ms dalli:k1 3 c F1 T0 MS C999999\r\nold\r\nmg dalli:k1 v f\r\n",
            // base64 keys are echoed base64 with k.
            "ms ZGFsbGk= 2 b c F0 T0 MS\r\nhi\r\nmg ZGFsbGk= b v f c k\r\n",
        ],
    ),
    (
        "delete, incr/decr, noop",
        &[
            "ms dalli:d 1 c T0 MS\r\nx\r\nmd dalli:d C999999 q\r\nmd dalli:d q\r\nmd dalli:d q\r\nmn\r\n",
            "ms dalli:d 1 c T0 MS\r\nx\r\nmd dalli:d C{cas}\r\nmg dalli:d v\r\n",
            // incr with auto-create (N ttl, J initial), then incr, decr below zero, and CAS.
            "ma dalli:n v N0 J10 D1 MI\r\nma dalli:n v N0 J10 D5 MI\r\nma dalli:n v D100 MD\r\n",
            "ma dalli:n v c D7 MI\r\n",
            "ma dalli:n v D1 MI C{cas}\r\nma dalli:n v D1 MI C999999\r\nma dalli:miss v D1 MI\r\n",
            "ma dalli:n D1 MI q\r\nma dalli:miss D1 MI q\r\nmn\r\nmg dalli:n v\r\n",
            "ma ZGFsbGk=n b v N0 J1 D1 MI\r\nmn\r\n",
        ],
    ),
    (
        "fetch_with_lock: N, R, W, Z, X",
        &[
            // First caller misses: the item is created empty and it wins (W).
            "mg bG9jazpyZXBvcnQ= b v f c N30 R15 s\r\n",
            // Another caller sees the token was given (Z) and waits or serves stale.
            "mg bG9jazpyZXBvcnQ= b v f c N30 R15 s\r\n",
            // The winner stores the value with the CAS it was given.
            "ms bG9jazpyZXBvcnQ= 6 b c F0 T60 MS C{cas}\r\nreport\r\n",
            "mg bG9jazpyZXBvcnQ= b v f c N30 R15 s\r\n",
            // Near expiry (TTL below R): one caller wins the recache, the next sees Z.
            "ms bG9jazpyZXBvcnQ= 6 b c F0 T10 MS\r\nreport\r\n",
            "mg bG9jazpyZXBvcnQ= b v f c N30 R15 s\r\nmg bG9jazpyZXBvcnQ= b v f c N30 R15 s\r\n",
            // Invalidation (md I): stale value (X), one winner, then Z.
            "ms bG9jazpyZXBvcnQ= 6 b c F0 T60 MS\r\nreport\r\nmd bG9jazpyZXBvcnQ= b I T30 q\r\nmn\r\n",
            "mg bG9jazpyZXBvcnQ= b v f c N30 R15 s\r\nmg bG9jazpyZXBvcnQ= b v f c N30 R15 s\r\n",
            // The winner's store with its (stale item's) CAS replaces it; all is fresh again.
            "mg bG9jazpyZXBvcnQ= b c\r\n",
            "ms bG9jazpyZXBvcnQ= 5 b c F0 T60 MS C{cas}\r\nfresh\r\nmg bG9jazpyZXBvcnQ= b v f s\r\n",
        ],
    ),
];

#[test]
fn dalli_requests_answer_as_memcached_1_6_18() {
    compare(Path::new(MEMCACHED), &[], SCRIPTS);
}

#[test]
fn dalli_requests_answer_as_memcached_1_6_45() {
    compare(&memcached_1645(), &["--meta-protocol", "1.6.45"], SCRIPTS);
}

#[test]
fn last_cas_reads_meta_status_lines_only() {
    assert_eq!(
        last_cas("HD c5\r\nVA 2 f0 c77\r\nc9\r\n").as_deref(),
        Some("77")
    );
    assert_eq!(last_cas("EN\r\nMN\r\n"), None);
}
