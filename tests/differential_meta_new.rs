//! Differential test of the meta flags memcached added after 1.6.18: the same raw request
//! scripts go to memcached 1.6.45 and to ferrocache started with `--meta-protocol 1.6.45`;
//! the reply streams must be byte-identical after masking the CAS uniques the two servers
//! hand out from their own counters (` c<n>` with 0 < n < 1,000,000: the scripts give the
//! CAS values they check with `E`, at 1,000,000 or more, or `E0`).
//!
//! `lru_crawler metadump` / `mgdump` replies are compared with `common::mask_dump` (item
//! times, CAS and sizes masked, item lines sorted).
//!
//! (Without `--meta-protocol 1.6.45` ferrocache answers as 1.6.18, which rejects these flags:
//! `tests/differential.rs` checks that against Debian's memcached.)
//!
//! The 1.6.45 binary: `MEMCACHED_1645` (scripts/test.sh exports it), else the build
//! script's cached result, else built once by the script (`MEMCACHED_1645_BUILD`, default
//! `/work/shared/reference/build-memcached.sh`; about a minute). Missing is a failure.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

const CACHED: &str = "/tmp/ref-memcached/memcached-1.6.45/memcached";
const BUILD_SCRIPT: &str = "/work/shared/reference/build-memcached.sh";

fn memcached_1645() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("MEMCACHED_1645").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            assert!(p.exists(), "MEMCACHED_1645={} does not exist", p.display());
            return p;
        }
        if Path::new(CACHED).exists() {
            return PathBuf::from(CACHED);
        }
        let script = std::env::var("MEMCACHED_1645_BUILD").unwrap_or_else(|_| BUILD_SCRIPT.into());
        let out = std::process::Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        assert!(
            out.status.success(),
            "{script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(
            p.exists(),
            "{script} printed {}, which is missing",
            p.display()
        );
        p
    })
}

/// Play each step (bytes to send), reading replies until a quiet period after each.
fn play(port: u16, steps: &[&str]) -> Vec<u8> {
    let mut c = Client::connect(port);
    c.stream.set_nodelay(true).unwrap();
    let mut out = Vec::new();
    for step in steps {
        c.send(step.as_bytes());
        out.extend_from_slice(&c.read_quiet(Duration::from_millis(120), Duration::from_secs(10)));
        out.extend_from_slice(b"<STEP>\r\n");
    }
    out
}

/// Masks ` c<n>` tokens of meta status lines with 0 < n < 1,000,000 (counter-assigned CAS
/// uniques), and nothing else.
fn mask(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive("\r\n") {
        let is_status = ["VA ", "HD", "NS", "EX", "NF", "EN"]
            .iter()
            .any(|p| line.starts_with(p));
        if !is_status {
            out.push_str(line);
            continue;
        }
        let body = line.trim_end_matches("\r\n");
        let toks: Vec<String> = body
            .split(' ')
            .map(|t| match t.strip_prefix('c').map(str::parse::<u64>) {
                Some(Ok(n)) if (1..1_000_000).contains(&n) => "c<CAS>".to_string(),
                _ => t.to_string(),
            })
            .collect();
        out.push_str(&toks.join(" "));
        out.push_str(&line[body.len()..]);
    }
    out
}

#[test]
fn mask_hides_counter_cas_only() {
    assert_eq!(mask(b"HD c5 kfoo\r\n"), mask(b"HD c77 kfoo\r\n"));
    assert_ne!(mask(b"HD c0\r\n"), mask(b"HD c3\r\n"));
    assert_ne!(mask(b"HD c1000000\r\n"), mask(b"HD c1000001\r\n"));
    assert_ne!(mask(b"VA 1 s1\r\nc5\r\n"), mask(b"VA 1 s1\r\nc6\r\n"));
}

/// Runs each script against fresh servers; panics listing every mismatch.
fn compare(scripts: &[(&str, &[&str])]) {
    compare_with(&[], mask, scripts);
}

/// `compare` with server flags `args` (given to both) and a chosen masking function.
fn compare_with(args: &[&str], mask: fn(&[u8]) -> String, scripts: &[(&str, &[&str])]) {
    let mc = memcached_1645();
    let fc = ferrocache_path();
    let mut failures = Vec::new();
    let mut f_args = args.to_vec();
    f_args.extend(["--meta-protocol", "1.6.45"]);
    for (name, steps) in scripts {
        let m = Server::start_with(mc, args);
        let f = Server::start_with(&fc, &f_args);
        let (mp, fp) = (m.port, f.port);
        let owned: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        let th = std::thread::spawn(move || {
            let s: Vec<&str> = owned.iter().map(String::as_str).collect();
            play(mp, &s)
        });
        let got_f = mask(&play(fp, steps));
        let got_m = mask(&th.join().unwrap());
        if got_m != got_f {
            failures.push(format!(
                "=== {name} ===\n--- memcached 1.6.45 ---\n{got_m}\n--- ferrocache ---\n{got_f}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn diff_e_sets_the_cas() {
    compare(&[
        (
            "ms E",
            &[
                "ms a 1 E1000001 c\r\nx\r\nmg a c v\r\nms a 1 C1000001 E1000002 c\r\ny\r\nmg a c\r\n",
                "ms a 1 C5 E1000003 c\r\nz\r\nmg a c v\r\nms a 1 MA E1000004 c s\r\nz\r\nmg a c v\r\n",
                "ms b 1 E0 c\r\nx\r\nms b 1 E18446744073709551615 c\r\nx\r\nmg b c\r\n",
                "ms b 1 E0000000000000000000001 c\r\nx\r\nmg b c\r\nms b 1 E q\r\nx\r\n",
                "ms b 1 E00000000000000000000001\r\nx\r\nms b 1 E18446744073709551616\r\nx\r\n",
                "ms b 1 E-1\r\nx\r\nms b 1 E+1\r\nx\r\nms b 1 E1x\r\nx\r\nms b 1 E1 E2\r\nx\r\nmg b c\r\n",
                "ms c 1 ME E1000009 c\r\nx\r\nms c 1 ME E1000010 c\r\ny\r\nmg c c v\r\n",
            ],
        ),
        (
            "mg/md/ma E",
            &[
                "mg v N30 E1000020 c s v\r\nmg v c\r\nmg w N30 E0 c\r\nmg w c\r\nmg v E1000099 c\r\n",
                "mg x E\r\nmg x Ex\r\nmg x E1 E2\r\n",
                "ms d 1 T100\r\nx\r\nmd d I E1000030\r\nmg d c v\r\nmd d E1000031\r\nmg d\r\n",
                "md d Ex\r\nmd d E\r\nmd nope E5\r\nmd nope E5 q\r\nmn\r\n",
                "ma n N0 J5 E1000040 c v\r\nma n E1000041 c v\r\nma n E0 c\r\nmg n c v\r\n",
                "ma n Ex\r\nma n E\r\nma n C1000000 E7\r\nma n C0 E1000042 c\r\nma nope E5\r\n",
            ],
        ),
    ]);
}

#[test]
fn diff_md_x_empties_the_value() {
    compare(&[(
        "md x",
        &[
            "ms a 3 T100 F5\r\nabc\r\nmd a x\r\nmg a v s f t c\r\nmd a x k Oo\r\nmg a v\r\n",
            "ms b 3 T100 F5 E1000001\r\nabc\r\nmd b x F9 T50 c\r\nmg b v f t c h\r\n",
            "ms c 3 E1000002\r\nabc\r\nmd c x I T30\r\nmg c v c t\r\nmg c v c t\r\n",
            "ms d 3 E1000003\r\nabc\r\nmd d x I E1000004\r\nmg d c v\r\nmd d x E1000005\r\nmg d c v\r\n",
            "ms e 3 E1000006\r\nabc\r\nmd e x C1\r\nmd e x C1000006 q\r\nmg e v c\r\nmn\r\n",
            "md nope x\r\nmd nope x q\r\nmn\r\nms YQ== 1 b\r\nz\r\nmd YQ== b x k\r\nmg YQ== b k v\r\n",
            "ms f 1\r\nz\r\nmd f x x\r\nmd f xy\r\nmg f v\r\n",
        ],
    )]);
}

#[test]
fn diff_mg_c_conditional_fetch() {
    compare(&[(
        "mg C",
        &[
            "ms a 5 E1000001 T100\r\nhello\r\nmg a v C1000001 s c t\r\nmg a v C1000002 s c\r\n",
            "mg a C1000001 k Oq\r\nmg a v q C1000001\r\nmg a v C1000001 f h l\r\nmn\r\n",
            "mg nope v C1000001\r\nmg a v Cx\r\nmg a v C\r\nmg a v C0\r\n",
            "ms z 0 E0\r\n\r\nmg z v C0 c\r\nmg z v C1 c\r\n",
        ],
    )]);
}

#[test]
fn diff_ms_s_returns_the_size() {
    compare(&[(
        "ms s",
        &[
            "ms a 5 s\r\nhello\r\nms a 3 s MA k\r\nabc\r\nms a 2 MP s c\r\nxy\r\nmg a v s\r\n",
            "ms a 1 ME s\r\nq\r\nms n 4 MR s\r\nabcd\r\nms n 4 MA s O1\r\nabcd\r\n",
            "ms a 1 C1 s\r\nq\r\nms n 2 C9 s\r\nqq\r\nms a 0 s\r\n\r\nms a 3 s q\r\nabc\r\nmn\r\n",
        ],
    )]);
}

#[test]
fn diff_ms_append_vivify() {
    compare(&[(
        "ms MA/MP N",
        &[
            "ms a 2 MA N100 s t\r\nab\r\nmg a v t f s\r\nms a 2 MA N30 T5\r\ncd\r\nmg a v t\r\n",
            "ms p 2 MP N0 F7\r\nab\r\nmg p v f t\r\nms p 2 MP N50\r\ncd\r\nmg p v t\r\n",
            "ms q 2 MA\r\nab\r\nms q 2 MP\r\nab\r\nms r 2 MA N20 C5\r\nab\r\nmg r v t\r\n",
            "ms r 2 MA N20 C99\r\nab\r\nms s 2 MS N20\r\nab\r\nmg s t\r\nms t 2 ME N20\r\nab\r\nmg t t\r\n",
            "ms u 2 MA Nx\r\nab\r\nms u 2 MA N\r\nab\r\nmg u\r\n",
            "ms w 2 MA N20 E1000001 c\r\nab\r\nms w 1 MA N20 E1000002 c\r\nc\r\nmg w c v\r\n",
        ],
    )]);
}

#[test]
fn diff_ma_o_k_and_quiet() {
    compare(&[(
        "ma O k q",
        &[
            "ma n O1 k\r\nma n N0 O1 k\r\nma n O2 k v\r\nma n q O3 k\r\nma n N0 q k\r\nmn\r\n",
            "ma m N0 q v O4\r\nma m C1 O5 k\r\nma m MD O6 k c\r\nma YQ== b k O7\r\nmn\r\n",
            "ms t 1\r\nx\r\nma t O8 k\r\nma t q O9\r\nmn\r\n",
        ],
    )]);
}

#[test]
fn diff_parser_changes_for_new_flags() {
    compare(&[(
        "errors",
        &[
            "md a Tx\r\nmd a v v\r\nmd a Q\r\nmd a b\r\nmd a Nx\r\nmd a Cx\r\nmd a x E5 Tx\r\n",
            "ms a 2 MSS\r\nhi\r\nmg a v\r\nms a 2 M\r\nhi\r\nms a 2 MX\r\nhi\r\nma a M\r\n",
            "mg a x\r\nms a 1 x\r\nz\r\nma a x\r\n",
        ],
    )]);
}

#[test]
fn diff_slabs_automove_window_bounds() {
    // 1.6.45 bounds the automove window (memcached commit 6ab74b58: 0 or huge windows
    // crashed it) and knows `freeratio`.
    compare(&[(
        "slabs automove window / freeratio",
        &[
            "slabs automove window 2\r\nslabs automove window 1801\r\nslabs automove window 3\r\n",
            "slabs automove window 1800\r\nslabs automove window\r\nslabs automove window x\r\n",
            "slabs automove freeratio x\r\nslabs automove freeratio 0.5\r\nslabs automove freeratio\r\n",
            "slabs automove window 0 noreply\r\nslabs automove ratio 0.5\r\nmn\r\n",
        ],
    )]);
}

/// `lru_crawler mgdump` (1.6.19) and `metadump` as 1.6.45 frames them: a leading `OK`
/// (1.6.43), `mg <key>` lines (base64 with ` b` for keys stored base64-encoded) then `EN`;
/// metadump lines with `flags=<n> ` (1.6.24). `hash` walks the hash table: the same items.
#[test]
fn diff_lru_crawler_mgdump_and_metadump() {
    let items = "set a 5 0 1\r\nx\r\nset b%20c 4294967295 100 2\r\nyy\r\n\
                 ms AP8g 3 b F9\r\nabc\r\nms Zm9v 1 b\r\nz\r\nget a\r\nmg b%20c v\r\n";
    compare_with(
        &[],
        mask_dump,
        &[
            (
                "dumps",
                &[
                    items,
                    "lru_crawler mgdump all\r\n",
                    "lru_crawler mgdump hash\r\n",
                    "lru_crawler mgdump 1\r\n",
                    "lru_crawler mgdump 1,,2\r\n",
                    "lru_crawler mgdump 5\r\n",
                    "lru_crawler mgdump 63\r\n",
                    "lru_crawler mgdump 64\r\n",
                    "lru_crawler mgdump 0\r\n",
                    "lru_crawler mgdump 1,x\r\n",
                    "lru_crawler mgdump\r\n",
                    "lru_crawler mgdump all extra\r\n",
                    "lru_crawler metadump all\r\n",
                    "lru_crawler metadump hash\r\n",
                    "lru_crawler metadump 1\r\n",
                    "lru_crawler metadump 5\r\n",
                    "lru_crawler metadump 0\r\n",
                    "md a\r\nflush_all\r\n",
                    "lru_crawler mgdump all\r\n",
                    "lru_crawler metadump all\r\n",
                ],
            ),
            (
                "pipelined",
                &["set a 0 0 1\r\nx\r\nlru_crawler mgdump all\r\n", "mn\r\n"],
            ),
            // memcached then fails every later dump (it keeps the refused client): last.
            ("no class", &["lru_crawler mgdump ,\r\n"]),
        ],
    );
    compare_with(
        &["-X"],
        mask_dump,
        &[(
            "-X",
            &[
                "lru_crawler mgdump all\r\n",
                "lru_crawler mgdump 0\r\n",
                "lru_crawler metadump all\r\n",
            ],
        )],
    );
    compare_with(
        &["-o", "no_lru_crawler"],
        mask_dump,
        &[(
            "crawler off",
            &["lru_crawler mgdump all\r\n", "lru_crawler metadump all\r\n"],
        )],
    );
}
