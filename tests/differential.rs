//! Differential test: the same raw request scripts go to /usr/bin/memcached and to ferrocache
//! (same flags); the reply streams must be byte-identical after masking what must differ:
//! CAS uniques in `VALUE` lines, the `VERSION` text, and every `STAT` value (stats blocks
//! are compared by `compare_stats`: ferrocache reports a subset of memcached's names, in
//! memcached's order, including every required one).
//!
//! memcached missing is a failure, not a skip: scripts/test.sh installs it.

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

/// One step: bytes to send, then read replies until a quiet period.
type Step = Vec<u8>;

struct Script {
    name: &'static str,
    steps: Vec<Step>,
}

fn sc(name: &'static str, steps: &[&str]) -> Script {
    Script {
        name,
        steps: steps.iter().map(|s| s.as_bytes().to_vec()).collect(),
    }
}

fn memcached_path() -> &'static Path {
    let p = Path::new(MEMCACHED);
    assert!(
        p.exists(),
        "{MEMCACHED} is missing: the differential test needs Debian's memcached \
         (apt-get install memcached; scripts/test.sh installs it)"
    );
    p
}

/// Play a script against a server: returns the raw reply stream, one chunk per step,
/// with "<CLOSED>" appended when the server closed the connection.
fn play(port: u16, script: &[Step]) -> Vec<u8> {
    let mut c = Client::connect(port);
    c.stream.set_nodelay(true).unwrap();
    let mut out = Vec::new();
    for step in script {
        if c.send_checked(step).is_err() {
            out.extend_from_slice(b"<SEND FAILED>\r\n");
            break;
        }
        let got = c.read_quiet(Duration::from_millis(120), Duration::from_secs(10));
        out.extend_from_slice(&got);
        out.extend_from_slice(b"<STEP>\r\n");
        if c.is_closed_within(Duration::from_millis(1)) {
            out.extend_from_slice(b"<CLOSED>\r\n");
            break;
        }
    }
    out
}

trait SendChecked {
    fn send_checked(&mut self, data: &[u8]) -> std::io::Result<()>;
}
impl SendChecked for Client {
    fn send_checked(&mut self, data: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.stream.write_all(data)
    }
}

/// Mask CAS uniques, version text and stats values; sort each block of STAT lines.
fn mask(raw: &[u8]) -> String {
    fn flush(block: &mut Vec<String>, out: &mut Vec<String>) {
        block.sort();
        out.append(block);
    }
    let mut out: Vec<String> = Vec::new();
    let mut block: Vec<String> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|j| i + j + 2)
            .unwrap_or(raw.len());
        let line = String::from_utf8_lossy(&raw[i..end]).to_string();
        i = end;
        if let Some(rest) = line.strip_prefix("STAT ") {
            let name = rest.split(' ').next().unwrap_or("");
            block.push(format!("STAT {name} <V>\r\n"));
            continue;
        }
        flush(&mut block, &mut out);
        if line.starts_with("VALUE ") {
            let body = line.trim_end_matches("\r\n");
            let mut parts: Vec<String> = body.split(' ').map(String::from).collect();
            if parts.len() == 5 {
                parts[4] = "<CAS>".into();
            }
            out.push(format!("{}\r\n", parts.join(" ")));
            if let Some(len) = parts.get(3).and_then(|l| l.parse::<usize>().ok()) {
                let take = (len + 2).min(raw.len() - i);
                out.push(String::from_utf8_lossy(&raw[i..i + take]).to_string());
                i += take;
            }
        } else if line.starts_with("VERSION ") {
            out.push("VERSION <V>\r\n".into());
        } else {
            out.push(line);
        }
    }
    flush(&mut block, &mut out);
    out.concat()
}

/// A short summary of how two masked streams differ: the first differing line, then the
/// lines only one side has (as multisets).
fn line_diff(m: &str, f: &str) -> String {
    let ml: Vec<&str> = m.split_inclusive("\r\n").collect();
    let fl: Vec<&str> = f.split_inclusive("\r\n").collect();
    let first = ml
        .iter()
        .zip(&fl)
        .position(|(a, b)| a != b)
        .unwrap_or(ml.len().min(fl.len()));
    let mut only_m = Vec::new();
    let mut rest_f = fl.clone();
    for l in &ml {
        if let Some(i) = rest_f.iter().position(|x| x == l) {
            rest_f.remove(i);
        } else {
            only_m.push(l.trim_end());
        }
    }
    let only_f: Vec<&str> = rest_f.iter().map(|l| l.trim_end()).collect();
    format!(
        "first difference at line {first}: memcached {:?} / ferrocache {:?}\n\
         only memcached ({}): {}\nonly ferrocache ({}): {}\n",
        ml.get(first).map(|l| l.trim_end()),
        fl.get(first).map(|l| l.trim_end()),
        only_m.len(),
        only_m.join(" | "),
        only_f.len(),
        only_f.join(" | ")
    )
}

/// Run every script against fresh memcached and ferrocache servers started with `args`;
/// panic listing every mismatch.
fn compare(args: &[&str], scripts: Vec<Script>) {
    compare_with(args, scripts, mask);
}

/// `compare` with a chosen masking function.
fn compare_with(args: &[&str], scripts: Vec<Script>, mask: fn(&[u8]) -> String) {
    let mc = memcached_path();
    let fc = ferrocache_path();
    let mut failures = Vec::new();
    for s in &scripts {
        let m = Server::start_with(mc, args);
        let f = Server::start_with(&fc, args);
        let (mp, fp) = (m.port, f.port);
        let steps = s.steps.clone();
        let th = std::thread::spawn(move || play(mp, &steps));
        let got_f = play(fp, &s.steps);
        let got_m = th.join().unwrap();
        let (mm, mf) = (mask(&got_m), mask(&got_f));
        if mm != mf {
            failures.push(format!(
                "=== script {:?} ===\n{}--- memcached ---\n{}\n--- ferrocache ---\n{}",
                s.name,
                line_diff(&mm, &mf),
                esc(mm.as_bytes()),
                esc(mf.as_bytes())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scripts differ:\n{}",
        failures.len(),
        scripts.len(),
        failures.join("\n")
    );
}

#[test]
fn mask_hides_cas_and_stats_values() {
    let a = mask(b"VALUE k 0 1 17\r\nx\r\nEND\r\nSTAT pid 1\r\nSTAT a 2\r\nEND\r\n");
    let b = mask(b"VALUE k 0 1 99\r\nx\r\nEND\r\nSTAT a 5\r\nSTAT pid 7\r\nEND\r\n");
    assert_eq!(a, b);
    // a value that looks like a STAT line is not masked
    let c = mask(b"VALUE k 0 8 1\r\nSTAT a 1\r\nEND\r\n");
    let d = mask(b"VALUE k 0 8 1\r\nSTAT a 2\r\nEND\r\n");
    assert_ne!(c, d);
}

#[test]
fn diff_storage() {
    compare(
        &[],
        vec![
            sc(
                "set/get",
                &[
                    "set foo 0 0 3\r\nbar\r\n",
                    "get foo\r\n",
                    "set foo 4294967295 0 0\r\n\r\n",
                    "get foo\r\n",
                ],
            ),
            sc("set noreply", &["set a 0 0 1 noreply\r\nx\r\nget a\r\n"]),
            sc(
                "add",
                &[
                    "add a 1 0 1\r\nx\r\n",
                    "add a 2 0 1\r\ny\r\n",
                    "add a 2 0 1 noreply\r\ny\r\nadd b 3 0 1 noreply\r\nz\r\nget a b\r\n",
                ],
            ),
            sc(
                "replace",
                &[
                    "replace a 0 0 1\r\nx\r\n",
                    "set a 0 0 1\r\nx\r\nreplace a 5 0 2\r\nyy\r\nget a\r\n",
                    "replace a 0 0 1 noreply\r\nz\r\nreplace q 0 0 1 noreply\r\nz\r\nget a q\r\n",
                ],
            ),
            sc(
                "append/prepend",
                &[
                    "append a 0 0 1\r\nx\r\nprepend a 0 0 1\r\nx\r\n",
                    "set a 3 0 2\r\nmm\r\nappend a 9 9 1\r\nz\r\nprepend a 9 9 1\r\na\r\ngets a\r\n",
                    "append a 0 0 1 noreply\r\n!\r\nprepend a 0 0 1 noreply\r\n^\r\nget a\r\n",
                ],
            ),
            sc(
                "cas",
                &[
                    "cas a 0 0 1 1\r\nx\r\n",
                    "set a 0 0 1\r\nx\r\ncas a 0 0 1 999999\r\ny\r\n",
                    "cas a 0 0 1 1 noreply\r\ny\r\ncas q 0 0 1 1 noreply\r\ny\r\nget a\r\n",
                ],
            ),
            sc(
                "binary value",
                &["set b 0 0 10\r\n\0\r\n\r\nEND\r\n\r\nget b\r\n"],
            ),
            sc(
                "key 250",
                &[&format!(
                    "set {0} 0 0 1\r\nx\r\nget {0}\r\n",
                    "k".repeat(250)
                )],
            ),
            sc(
                "negative exptime",
                &[
                    "set a 0 -1 1\r\nx\r\nget a\r\n",
                    "set a 0 0 1\r\nx\r\ntouch a -1\r\nget a\r\n",
                ],
            ),
        ],
    );
}

#[test]
fn diff_retrieval() {
    compare(
        &[],
        vec![
            sc(
                "multi get",
                &[
                    "get a b c\r\n",
                    "set a 1 0 1\r\nA\r\nset c 3 0 3\r\nCCC\r\n",
                    "get a b c a\r\n",
                    "gets a b c\r\n",
                    "get   a   c  \r\n",
                    "get a\n",
                ],
            ),
            sc(
                "gat gats",
                &[
                    "gat 100 a\r\n",
                    "set a 1 0 1\r\nA\r\nset b 2 0 1\r\nB\r\n",
                    "gat 100 a b x\r\n",
                    "gats 100 a b\r\n",
                    "gat 100\r\n",
                    "gat -1 a\r\nget a\r\n",
                ],
            ),
            sc(
                "delete",
                &[
                    "delete a\r\n",
                    "set a 0 0 1\r\nx\r\ndelete a\r\ndelete a\r\n",
                    "set a 0 0 1\r\nx\r\ndelete a noreply\r\nget a\r\n",
                    "set a 0 0 1\r\nx\r\ndelete a 0\r\ndelete a 5\r\n",
                ],
            ),
            sc(
                "touch",
                &[
                    "touch a 10\r\n",
                    "set a 0 0 1\r\nx\r\ntouch a 10\r\n",
                    "touch a 10 noreply\r\ntouch q 10 noreply\r\nget a\r\n",
                ],
            ),
        ],
    );
}

#[test]
fn diff_arith() {
    compare(
        &[],
        vec![
            sc(
                "incr decr",
                &[
                    "incr n 1\r\ndecr n 1\r\n",
                    "set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 6\r\nget n\r\n",
                    "incr n 1 noreply\r\ndecr n 1 noreply\r\nincr q 1 noreply\r\nget n\r\n",
                    "decr n 100\r\nget n\r\n",
                ],
            ),
            sc(
                "wrap",
                &[
                    "set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\nget n\r\n",
                    "set n 0 0 1\r\n5\r\nincr n 18446744073709551615\r\n",
                ],
            ),
            sc(
                "padding",
                &[
                    "set n 0 0 3\r\n100\r\ndecr n 1\r\nget n\r\nincr n 1\r\nget n\r\nincr n 900\r\nget n\r\n",
                ],
            ),
            sc(
                "non numeric",
                &[
                    "set s 0 0 3\r\nabc\r\nincr s 1\r\ndecr s 1\r\n",
                    "set s 0 0 3\r\n12a\r\nincr s 1\r\n",
                    "set s 0 0 3\r\n 12\r\nincr s 1\r\n",
                    "set s 0 0 0\r\n\r\nincr s 1\r\n",
                    "set s 0 0 20\r\n18446744073709551616\r\nincr s 1\r\n",
                ],
            ),
            sc(
                "bad delta",
                &[
                    "set n 0 0 1\r\n1\r\n",
                    "incr n abc\r\nincr n -1\r\ndecr n 18446744073709551616\r\nincr n\r\n",
                    "incr n x noreply\r\nget n\r\n",
                ],
            ),
        ],
    );
}

#[test]
fn diff_errors() {
    let k251 = "k".repeat(251);
    let mut big = b"set big 0 0 2000000\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 2_000_000));
    big.extend_from_slice(b"\r\nget big\r\n");
    let mut long_line = b"set ".to_vec();
    long_line.extend(std::iter::repeat_n(b'a', 8192));
    let mut scripts = vec![
        sc(
            "unknown",
            &[
                "foo\r\n",
                "GET a\r\n",
                "\r\n",
                "foo noreply\r\n",
                "get\r\ngets\r\ngat\r\ntouch a\r\nincr a\r\ndelete\r\nverbosity\r\n",
                "a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n",
                "set a 0 0\r\nset a 0 0 1 2 3\r\ncas a 0 0 1\r\n",
                "stats bogus\r\n",
            ],
        ),
        sc(
            "bad command line",
            &[
                "set a 0 0 -1\r\n",
                "set a 0 0 abc\r\n",
                "set a abc 0 1\r\nx\r\n",
                "set a -1 0 1\r\nx\r\n",
                "set a 0 abc 1\r\nx\r\n",
                "cas a 0 0 1 abc\r\nx\r\n",
                "set a 0 0 01\r\nx\r\nset b 0 0 +1\r\ny\r\nget a b\r\n",
            ],
        ),
        sc(
            "key too long",
            &[
                &format!("set {k251} 0 0 1\r\nx\r\n"),
                &format!("get {k251}\r\n"),
                &format!("get a {k251}\r\n"),
                &format!("delete {k251}\r\nincr {k251} 1\r\ntouch {k251} 1\r\n"),
            ],
        ),
        sc(
            "bad data chunk",
            &[
                "set a 0 0 1\r\nxyz\r\n",
                "set a 0 0 1\r\nxy\nget a\r\n",
                "set a 0 0 1 noreply\r\nxyz\r\n",
                "set a 0 0 1\r\nx\rget a\r\n",
                "get a\r\n",
            ],
        ),
        sc(
            "bad numbers",
            &[
                "touch a abc\r\ngat abc a\r\nflush_all abc\r\n",
                "verbosity abc\r\n",
                "delete a 5\r\n",
            ],
        ),
        sc(
            "whitespace",
            &[
                "set  k  0  0  1\r\nx\r\n",
                " get k\r\nget k \r\n",
                "set k 0 0 1 garbage\r\ny\r\nget k\r\n",
                "set k 0 0 1\nz\r\nget k\n",
            ],
        ),
        sc("shutdown refused", &["shutdown\r\n", "get a\r\n"]),
        sc("quit", &["set a 0 0 1\r\nx\r\nquit\r\nget a\r\n"]),
    ];
    scripts.push(Script {
        name: "object too large swallowed",
        steps: vec![big, b"get a\r\n".to_vec()],
    });
    scripts.push(Script {
        name: "long line closes",
        steps: vec![long_line],
    });
    compare(&[], scripts);
}

#[test]
fn diff_admin() {
    compare(
        &[],
        vec![
            sc("version", &["version\r\n"]),
            sc(
                "verbosity",
                &[
                    "verbosity 1\r\nverbosity 0\r\n",
                    "verbosity 1 noreply\r\nget a\r\n",
                ],
            ),
            sc(
                "flush_all",
                &[
                    "set a 0 0 1\r\nx\r\nflush_all\r\nget a\r\n",
                    "set a 0 0 1\r\nx\r\nflush_all 0\r\nget a\r\n",
                    "set a 0 0 1\r\nx\r\nflush_all noreply\r\nget a\r\n",
                    "set a 0 0 1\r\nx\r\nflush_all 0 noreply\r\nget a\r\n",
                    "set a 0 0 1\r\nx\r\nflush_all 100\r\nget a\r\n",
                ],
            ),
        ],
    );
}

#[test]
fn diff_pipelined() {
    let mut req = String::new();
    for i in 0..500 {
        req.push_str(&format!(
            "set k{i} {i} 0 {}\r\n{i}\r\n",
            i.to_string().len()
        ));
        req.push_str(&format!("get k{i} k{}\r\n", i / 2));
        req.push_str(&format!("incr k{i} 1\r\n"));
        req.push_str(&format!("append k{i} 0 0 1 noreply\r\nx\r\n"));
        req.push_str(&format!("delete k{} noreply\r\n", i / 3));
        req.push_str("bogus\r\n");
    }
    req.push_str("get k499 k498 k0\r\n");
    // A script sent one byte per step.
    let small = "set a 0 0 2\r\nab\r\nget a\r\nincr a 1\r\ndelete a\r\n";
    let bytes: Vec<Step> = small.bytes().map(|b| vec![b]).collect();
    compare(
        &[],
        vec![
            Script {
                name: "pipelined 3000 commands",
                steps: vec![req.into_bytes()],
            },
            Script {
                name: "byte at a time",
                steps: bytes,
            },
        ],
    );
}

/// Splits a reply stream into STAT-name blocks (in order) and the other lines.
fn stat_blocks(raw: &[u8]) -> (Vec<Vec<String>>, Vec<String>) {
    let text = String::from_utf8_lossy(raw);
    let (mut blocks, mut other, mut cur) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.split_inclusive("\r\n") {
        if let Some(rest) = line.strip_prefix("STAT ") {
            cur.push(rest.split(' ').next().unwrap_or("").to_string());
        } else {
            if !cur.is_empty() {
                blocks.push(std::mem::take(&mut cur));
            }
            other.push(line.to_string());
        }
    }
    if !cur.is_empty() {
        blocks.push(cur);
    }
    (blocks, other)
}

/// A `stats items`/`stats slabs` name with ferrocache's slab class id replaced by the id
/// memcached gives the class of the same sizes (default `-n`/`-f`): ferrocache's class 1
/// holds items of up to 64 bytes (its header is 34 bytes), which memcached keeps in its
/// class 1 (96-byte chunks), and the `-n` progression starts at class 2, so its class N >= 2
/// is memcached's N - 1 (README: compatibility). Other names are returned unchanged.
fn memcached_class_name(name: &str) -> String {
    let (prefix, rest) = match name.strip_prefix("items:") {
        Some(rest) => ("items:", rest),
        None => ("", name),
    };
    match rest
        .split_once(':')
        .map(|(id, field)| (id.parse::<usize>(), field))
    {
        Some((Ok(id), field)) => format!("{prefix}{}:{field}", id.saturating_sub(1).max(1)),
        _ => name.to_string(),
    }
}

#[test]
fn class_ids_map_to_memcached_s() {
    assert_eq!(memcached_class_name("items:1:number"), "items:1:number");
    assert_eq!(memcached_class_name("items:2:number"), "items:1:number");
    assert_eq!(memcached_class_name("20:chunk_size"), "19:chunk_size");
    assert_eq!(memcached_class_name("1:used_chunks"), "1:used_chunks");
    assert_eq!(memcached_class_name("active_slabs"), "active_slabs");
    assert_eq!(memcached_class_name("curr_items"), "curr_items");
}

/// Stats replies: every non-STAT line byte-identical; every STAT name ferrocache reports is
/// one memcached reports in the same block, in memcached's relative order (class ids mapped
/// by `memcached_class_name`); and every name in `required` is reported. Names memcached reports for machinery ferrocache does not
/// have (libevent, extstore, TLS, the segmented LRU's hot/warm/cold queues, its log
/// watchers) are left out rather than invented: see the closing note of issue 2.
fn compare_stats(args: &[&str], steps: &[&str], required: &[&str]) {
    let m = Server::start_with(memcached_path(), args);
    let f = Server::start_with(&ferrocache_path(), args);
    let steps: Vec<Vec<u8>> = steps.iter().map(|s| s.as_bytes().to_vec()).collect();
    let (mb, mo) = stat_blocks(&play(m.port, &steps));
    let (fb, fo) = stat_blocks(&play(f.port, &steps));
    // Step boundaries are not compared: memcached holds a reply while it waits for the
    // data block of the next command in the same read; ferrocache sends it at once.
    let lines = |v: Vec<String>| -> Vec<String> {
        v.into_iter().filter(|l| !l.starts_with("<STEP>")).collect()
    };
    assert_eq!(lines(mo), lines(fo), "non-STAT lines differ");
    assert_eq!(mb.len(), fb.len(), "number of STAT blocks differs");
    for (i, (mnames, fnames)) in mb.iter().zip(&fb).enumerate() {
        let mut last = 0;
        for n in fnames.iter().map(|n| memcached_class_name(n)) {
            let pos = mnames.iter().position(|x| *x == n);
            let Some(pos) = pos else {
                panic!("block {i}: ferrocache reports {n:?}, memcached does not");
            };
            assert!(pos >= last, "block {i}: {n:?} is out of memcached's order");
            last = pos;
        }
    }
    let all: std::collections::HashSet<&String> = fb.iter().flatten().collect();
    let missing: Vec<&&str> = required
        .iter()
        .filter(|r| !all.contains(&r.to_string()))
        .collect();
    assert!(missing.is_empty(), "ferrocache lacks {missing:?}");
}

#[test]
fn diff_stats_general() {
    compare_stats(
        &[],
        &[
            "set a 0 0 1\r\nx\r\nget a\r\n",
            "stats\r\n",
            "stats reset\r\n",
        ],
        GENERAL_STATS,
    );
}

#[test]
fn diff_stats_settings() {
    compare_stats(
        &[],
        &["stats settings\r\n"],
        &[
            "maxbytes",
            "maxconns",
            "tcpport",
            "udpport",
            "verbosity",
            "evictions",
            "growth_factor",
            "chunk_size",
            "num_threads",
            "reqs_per_event",
            "cas_enabled",
            "tcp_backlog",
            "item_size_max",
            "slab_reassign",
            "slab_automove",
        ],
    );
}

#[test]
fn diff_stats_items_slabs() {
    let big = format!("{}\r\n", "y".repeat(5000));
    compare_stats(
        &[],
        &[
            "stats items\r\nstats slabs\r\n",
            "set a 0 0 1\r\nx\r\nset b 0 0 5000\r\n",
            &big,
            "stats items\r\n",
            "stats slabs\r\n",
        ],
        &[
            "items:1:number",
            "items:1:age",
            "items:1:evicted",
            "items:1:outofmemory",
            "1:chunk_size",
            "1:chunks_per_page",
            "1:total_pages",
            "1:total_chunks",
            "1:used_chunks",
            "1:free_chunks",
            "active_slabs",
            "total_malloced",
        ],
    );
}

#[test]
fn diff_stats_sizes() {
    compare(
        &[],
        vec![sc("stats sizes", &["stats sizes\r\n", "stats bogus\r\n"])],
    );
}

#[test]
fn diff_flags() {
    compare(
        &["-I", "2m", "-C"],
        vec![sc(
            "-C and -I 2m",
            &[
                "set a 0 0 1\r\nx\r\ngets a\r\n",
                &format!(
                    "set b 0 0 1500000\r\n{}\r\nget c\r\n",
                    "z".repeat(1_500_000)
                ),
                &format!(
                    "set b 0 0 2097153\r\n{}\r\nget b\r\n",
                    "z".repeat(2_097_153)
                ),
            ],
        )],
    );
}

/// `mask`, plus what meta replies may legitimately print differently: CAS values (` c<n>`
/// return flags, `cas=` of `me`), and `me`'s slab class and item size (`cls=`, `size=`),
/// which depend on each server's item layout.
fn mask_meta(raw: &[u8]) -> String {
    let masked = mask(raw);
    let mut out = String::with_capacity(masked.len());
    for line in masked.split_inclusive("\r\n") {
        let is_meta = ["VA ", "HD", "NS", "EX", "NF", "EN", "ME "]
            .iter()
            .any(|p| line.starts_with(p));
        if !is_meta {
            out.push_str(line);
            continue;
        }
        let body = line.trim_end_matches("\r\n");
        let toks: Vec<String> = body
            .split(' ')
            .map(|t| {
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                if t.len() > 1 && t.starts_with('c') && digits(&t[1..]) {
                    "c<CAS>".to_string()
                } else if let Some(v) = ["cas=", "cls=", "size="]
                    .iter()
                    .find(|p| t.starts_with(**p))
                {
                    format!("{v}<V>")
                } else {
                    t.to_string()
                }
            })
            .collect();
        out.push_str(&toks.join(" "));
        out.push_str(&line[body.len()..]);
    }
    out
}

/// `compare` with `mask_meta`.
fn compare_meta(scripts: Vec<Script>) {
    compare_with(&[], scripts, mask_meta);
}

#[test]
fn mask_meta_hides_cas_only() {
    assert_eq!(
        mask_meta(b"HD c5 kfoo Oc1\r\n"),
        mask_meta(b"HD c77 kfoo Oc1\r\n")
    );
    assert_ne!(mask_meta(b"HD kfoo\r\n"), mask_meta(b"HD kbar\r\n"));
    assert_eq!(
        mask_meta(b"ME a exp=-1 la=0 cas=3 fetch=no cls=1 size=60\r\n"),
        mask_meta(b"ME a exp=-1 la=0 cas=9 fetch=no cls=2 size=41\r\n")
    );
}

#[test]
fn diff_meta_get_set() {
    compare_meta(vec![
        sc(
            "mg flags",
            &[
                "ms foo 2 T0 F5\r\nhi\r\n",
                "mg foo v k f s t c h l O123 q\r\nmg foo v\r\nmg foo h\r\nmg foo\r\n",
                "mg miss v\r\nmg miss v q k Oab\r\nmn\r\nmg miss Oab k\r\n",
                "mg foo s v u\r\nmg foo h t T100\r\nmg foo t\r\nmg foo T-1\r\nmg foo v\r\n",
            ],
        ),
        sc(
            "ms modes",
            &[
                "ms a 1 MA\r\nx\r\nms a 1 MR\r\nx\r\nms a 1 ME c\r\nx\r\nms a 1 ME c\r\ny\r\n",
                "ms a 1 MA c\r\nz\r\nms a 1 MP\r\nw\r\nmg a v c f t s\r\n",
                "ms a 1 C1\r\nq\r\nms a 1 C999 MR\r\nq\r\nms nx 1 C5\r\nq\r\nms nx 1 C5 MR\r\nq\r\n",
                "ms nx 1 C5 ME\r\nq\r\nms a 1 q\r\nq\r\nms a 1 ME q Oxx k\r\nq\r\nmn\r\n",
                "ms x 1 c\r\na\r\nms x 1 C0\r\nb\r\nms x 1 MA C1\r\nb\r\nms x 1 MA C0 c\r\nb\r\n",
                "mg x v\r\nms x 1 MP I C1\r\nc\r\nms x 1 MS I C999999\r\nc\r\n",
                "ms b 2 T100 F4294967295\r\nbb\r\nmg b t f v\r\nms b 2 F4294967296\r\nbb\r\n",
                "mg b f\r\nms b 2 T-1\r\nbb\r\nmg b v\r\nms e 0\r\n\r\nmg e v s\r\n",
            ],
        ),
        sc(
            "base64 keys",
            &[
                "mg foo k b\r\nms Zm9v 2 b k c\r\nxy\r\nmg Zm9v b k v\r\nmg foo k v\r\n",
                "mg !!!! b\r\nms YQ== 1 b\r\nz\r\nmg Y!Q== b k v\r\nmg YQ==YQ== b k\r\n",
                "mg YQ=a b k\r\nmg Y=== b k\r\nmg ==== b k\r\nmg YR== b k\r\n",
                "mg bm9uZQ== b q\r\nmg bm9uZQ== b k\r\nmd bm9uZQ== b k\r\nma bm9uZQ== b k\r\nmn\r\n",
                "ms a 1 k b\r\nx\r\nmd YQ== b k q\r\nmg YQ== b k\r\n",
            ],
        ),
    ]);
}

#[test]
fn diff_meta_errors() {
    let long_key = "k".repeat(251);
    let l1 = format!("ms {long_key} 1\r\nx\r\nmg {long_key} v\r\nmd {long_key}\r\n");
    let l2 = format!("ma {long_key}\r\nme {long_key}\r\n");
    let steps: Vec<&str> = vec![
        "mg\r\nms\r\nmd\r\nma\r\nmx\r\nmgg a\r\nmn x y\r\n",
        "mg foo Q\r\nmg foo v v\r\nmg foo E5\r\nmg foo Tx\r\nmg foo N\r\nmg foo R1x\r\n",
        "mg foo O012345678901234567890123456789012\r\nmg foo O0123456789012345678901234567890\r\n",
        "mg a O1 a b c d e f g h i j k l m n o p q\r\nmg a s t c f h l k v O1 q u P L N0 R0\r\n",
        "ms foo\r\nms foo x\r\nxx\r\nms foo 2 Z\r\nxx\r\nms foo 2 MX\r\nxx\r\nms foo 2 MSS\r\nxx\r\n",
        "ms a 1 q q\r\nx\r\nms b -1\r\nbb\r\nms b 2 Tx\r\nbb\r\nms b 2 Fx\r\nbb\r\nms b 2 S\r\nbb\r\n",
        "ms b 2 O01234567890123456789012345678901\r\nbb\r\nms b 2 O01234567890123456789012345678901 MX\r\nbb\r\n",
        "ms kk 3 c k Oo\r\nabcde\r\nmg kk v\r\nms kk 3\r\nab\r\n\r\nms kk 3 q\r\nabcde\r\n",
        "md s x\r\nmd s E5\r\nmd s b\r\nmd s q q\r\nma n Dx\r\nma n Jx N0\r\nma n Mxx\r\nma n MX\r\n",
        "md a 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\r\nme\r\nme a b\r\nme nokey\r\n",
        &l1,
        &l2,
    ];
    compare_meta(vec![sc("meta errors", &steps)]);
}

#[test]
fn diff_meta_stale_while_revalidate() {
    compare_meta(vec![
        sc(
            "invalidate and recache",
            &[
                "ms s 3 T100\r\nabc\r\nmd s I T30 Oz k\r\nmg s v c t\r\nmg s v c t\r\nmg s\r\n",
                "mg s c\r\n",
                "ms s 3 I C1\r\nnew\r\nmg s v t\r\nms s 3\r\nxyz\r\nmg s v\r\n",
                "md s q\r\nmd s q\r\nmd s C1\r\nms s 1\r\na\r\nmd s C1 k\r\nmd s I\r\nmg s\r\nmn\r\n",
            ],
        ),
        sc(
            "vivify and recache",
            &[
                "mg v N30 v t s\r\nmg v N30 v t s\r\nmg v s v\r\nmg r R30 v\r\n",
                "ms r 1 T10\r\nr\r\nmg r R30\r\nmg r R30\r\nmg r R5\r\nmg r T0 t\r\n",
                "mg r R30\r\nmg r h t T50\r\nmg r t\r\nmg w T10 R30 N5 t\r\nmg w t\r\n",
            ],
        ),
    ]);
}

#[test]
fn diff_meta_arith_and_debug() {
    compare_meta(vec![
        sc(
            "ma",
            &[
                "ma n\r\nma n q\r\nma n N0 J10 v\r\nma n v\r\nma n D5 MD v t\r\nma n MI D3\r\n",
                "ma n M- D100 v\r\nma n M+ v k Oq\r\nma n C1\r\nma n q D2\r\nmg n v\r\n",
                "ms t 3\r\nabc\r\nma t\r\nma t q\r\nma n N0 T100 t v\r\nma nn N0 T100 t v\r\n",
                "ma nn2 T100 N50 t v\r\nma cc q v N0 J5\r\nma cc q v\r\nma dd q N0 J5\r\nmn\r\n",
                "ms big9 20\r\n18446744073709551615\r\nma big9 v\r\nmg big9 v\r\nma n D99999999999 v\r\n",
            ],
        ),
        sc(
            "me",
            &[
                "ms foo 2\r\nhi\r\nme foo\r\nme foo q\r\nme nokey\r\nmg foo\r\nme foo\r\n",
                "ms YQ== 1 b T100\r\nz\r\nme YQ== b\r\nme YQ==\r\n",
            ],
        ),
    ]);
}

#[test]
fn diff_slabs_runtime_commands() {
    compare(
        &[],
        vec![sc(
            "slabs automove / reassign",
            &[
                "slabs automove 0\r\nslabs automove 1\r\nslabs automove 2\r\n",
                "slabs automove 3\r\nslabs automove x\r\nslabs automove\r\n",
                "slabs reassign 1 2\r\nslabs reassign 99 2\r\nslabs reassign 1 1\r\n",
                "slabs reassign x 2\r\nslabs reassign -1 0\r\nslabs reassign -5 2\r\n",
                "set a 0 0 1\r\nx\r\nslabs reassign 1 2\r\n",
                "slabs foo\r\nslabs\r\nslabs reassign 1\r\n",
                // 1.6.18's ratio form, noreply on every form, and forms it does not know.
                "slabs automove ratio 0.5\r\nslabs automove ratio\r\nslabs automove ratio x\r\n",
                "slabs automove ratio 1e3\r\nslabs automove ratio 0.25 noreply\r\nmn\r\n",
                "slabs automove 1 noreply\r\nslabs automove 7 noreply\r\nslabs automove x noreply\r\n",
                "slabs automove ratio x noreply\r\nslabs automove 1 2\r\nmn\r\n",
                "slabs automove window 5\r\nslabs automove freeratio 0.5\r\nslabs automove -1\r\n",
            ],
        )],
    );
}

#[test]
fn mask_dump_hides_times_cas_sizes_and_order_only() {
    let a = b"key=b exp=100 la=5 cas=1 fetch=no cls=1 size=65\nkey=a exp=-1 la=6 cas=2 fetch=no cls=1 size=60\nEND\r\n";
    let b = b"key=a exp=-1 la=7 cas=9 fetch=no cls=1 size=36\nkey=b exp=200 la=8 cas=3 fetch=no cls=1 size=37\nEND\r\n";
    assert_eq!(mask_dump(a), mask_dump(b));
    let c = b"key=a exp=-1 la=7 cas=9 fetch=yes cls=1 size=36\nEND\r\n";
    let d = b"key=a exp=-1 la=7 cas=9 fetch=no cls=1 size=36\nEND\r\n";
    assert_ne!(mask_dump(c), mask_dump(d));
    assert_ne!(mask_dump(b"key=a exp=-1\n"), mask_dump(b"key=a exp=5\n"));
    assert_eq!(
        mask_dump(b"OK\r\nmg b\r\nmg a\r\nEN\r\n"),
        "OK\r\nmg a\r\nmg b\r\nEN\r\n"
    );
}

/// `lru_crawler metadump` and its class lists as memcached 1.6.18 answers them: no leading
/// `OK`, no `flags=` (memcached-tool and the exporters of its era read it so), and
/// `lru_crawler mgdump` (1.6.19) is unknown: `ERROR`.
#[test]
fn diff_lru_crawler_dumps() {
    let items = "set a 5 0 1\r\nx\r\nset b%20c 0 100 2\r\nyy\r\nms AP8g 3 b F9\r\nabc\r\nget a\r\n";
    compare_with(
        &[],
        vec![
            sc(
                "metadump",
                &[
                    items,
                    "lru_crawler metadump all\r\n",
                    "lru_crawler metadump hash\r\n",
                    "lru_crawler metadump 1\r\n",
                    "lru_crawler metadump 1,,2\r\n",
                    "lru_crawler metadump ,1,\r\n",
                    "lru_crawler metadump 63\r\n",
                    "lru_crawler metadump 64\r\n",
                    "lru_crawler metadump 0\r\n",
                    "lru_crawler metadump x\r\n",
                    "lru_crawler metadump 1,x\r\n",
                    "flush_all\r\n",
                    "lru_crawler metadump all\r\n",
                ],
            ),
            sc(
                "mgdump is unknown",
                &[
                    items,
                    "lru_crawler mgdump all\r\nlru_crawler mgdump hash\r\nlru_crawler mgdump 1\r\n",
                    "lru_crawler mgdump 0\r\nlru_crawler mgdump\r\nlru_crawler mgdump all x\r\n",
                ],
            ),
            // memcached then fails every later metadump ("an unknown error happened": the
            // crawler keeps the refused client); each of these ends its script.
            sc("metadump of no class", &["lru_crawler metadump ,\r\n"]),
            sc(
                "crawl class lists",
                &["lru_crawler crawl hash\r\nlru_crawler crawl ,\r\nlru_crawler crawl 64\r\n"],
            ),
            sc("crawl 63", &["lru_crawler crawl 63\r\n"]),
            sc("crawl 1,,2", &["lru_crawler crawl ,1,,2\r\n"]),
        ],
        mask_dump,
    );
}
