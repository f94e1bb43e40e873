//! Binary-protocol differential test: the same binary request streams go to
//! /usr/bin/memcached and to ferrocache (same flags); the reply streams must be
//! byte-identical after masking what must differ: each response header's CAS (only
//! "zero" vs "non-zero" is compared), the Version body, and Stat values (a Stat stream is
//! compared by names: ferrocache reports a subset of memcached's, in memcached's order,
//! as tests/differential.rs `compare_stats` does). `diff_exact` compares every frame,
//! Stat frames included, byte for byte (CAS as zero / non-zero only): for Stat groups
//! whose values must match too (`detail dump`).
//!
//! memcached missing is a failure, not a skip: scripts/test.sh installs it.

mod bincommon;
mod common;
use bincommon::*;
use common::*;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

fn memcached_path() -> &'static Path {
    let p = Path::new(MEMCACHED);
    assert!(
        p.exists(),
        "{MEMCACHED} is missing: the differential test needs Debian's memcached \
         (apt-get install memcached; scripts/test.sh installs it)"
    );
    p
}

/// One step of a script.
enum Step {
    /// Send these bytes, then read until a quiet period.
    Send(Vec<u8>),
    /// Send a single request frame whose cas field is the last non-zero cas this server
    /// returned plus `delta` (so CAS scripts work whatever the server's cas numbering).
    WithCas(Vec<u8>, u64),
    /// Sleep (for expiry-dependent steps).
    Sleep(Duration),
}

use Step::{Send, WithCas};

fn send(b: Vec<u8>) -> Step {
    Send(b)
}

fn cat(frames: &[Vec<u8>]) -> Step {
    Send(frames.concat())
}

/// What a server answered to a script, as normalized tokens.
#[derive(Debug, Default)]
struct Played {
    /// Non-stat frames (masked), in order, plus "<CLOSED>" / "<PARTIAL ...>".
    frames: Vec<String>,
    /// Stat streams: the names of each, in order.
    stat_blocks: Vec<Vec<String>>,
    /// Every frame, Stat frames included, masked as `frames` are.
    all: Vec<String>,
}

fn describe(r: &Resp) -> String {
    let mut m = r.clone();
    let cas = if m.cas == 0 { "cas=0" } else { "cas=N" };
    m.cas = 0;
    if m.opcode == VERSION && m.status == ST_OK {
        m.value = b"<V>".to_vec();
    }
    format!("{cas} {}", esc(&m.bytes()))
}

fn play(port: u16, script: &[Step]) -> Played {
    let mut c = Client::connect(port);
    c.stream.set_nodelay(true).unwrap();
    let mut raw: Vec<u8> = Vec::new();
    let mut parsed = 0;
    let mut out = Played::default();
    let mut last_cas = 0u64;
    let mut block: Option<Vec<String>> = None;
    let mut closed = false;
    for step in script {
        let bytes = match step {
            Step::Sleep(d) => {
                std::thread::sleep(*d);
                continue;
            }
            Send(b) => b.clone(),
            WithCas(b, delta) => {
                let mut b = b.clone();
                b[16..24].copy_from_slice(&last_cas.wrapping_add(*delta).to_be_bytes());
                b
            }
        };
        if c.stream.write_all(&bytes).is_err() {
            out.frames.push("<SEND FAILED>".into());
            break;
        }
        raw.extend(c.read_quiet(Duration::from_millis(120), Duration::from_secs(10)));
        while let Some((r, n)) = split_frame(&raw[parsed..]) {
            parsed += n;
            if r.cas != 0 {
                last_cas = r.cas;
            }
            out.all.push(describe(&r));
            if r.opcode == STAT && r.status == ST_OK {
                let b = block.get_or_insert_with(Vec::new);
                if r.key.is_empty() && r.value.is_empty() {
                    out.stat_blocks.push(std::mem::take(b));
                    out.frames.push("<STATS>".into());
                    block = None;
                } else {
                    b.push(String::from_utf8_lossy(&r.key).into_owned());
                }
                continue;
            }
            out.frames.push(describe(&r));
        }
        if c.is_closed_within(Duration::from_millis(1)) {
            closed = true;
            break;
        }
    }
    if parsed < raw.len() {
        out.frames.push(format!(
            "<PARTIAL {}>",
            esc(&raw[parsed..parsed + 64.min(raw.len() - parsed)])
        ));
    }
    if block.is_some() {
        out.frames.push("<UNTERMINATED STATS>".into());
    }
    if closed {
        out.frames.push("<CLOSED>".into());
    }
    out
}

/// Run `script` against fresh memcached and ferrocache with `args`; compare.
fn diff_args(name: &str, args: &[&str], script: &[Step]) {
    let m = Server::start_with(memcached_path(), args);
    let f = Server::start_with(&ferrocache_path(), args);
    let mp = play(m.port, script);
    let fp = play(f.port, script);
    assert!(
        !mp.frames.is_empty(),
        "script {name}: memcached sent nothing"
    );
    if mp.frames != fp.frames {
        let first = mp
            .frames
            .iter()
            .zip(&fp.frames)
            .position(|(a, b)| a != b)
            .unwrap_or(mp.frames.len().min(fp.frames.len()));
        panic!(
            "script {name}: reply streams differ at frame {first} ({} vs {} frames)\n\
             memcached:  {:?}\nferrocache: {:?}",
            mp.frames.len(),
            fp.frames.len(),
            mp.frames.get(first),
            fp.frames.get(first)
        );
    }
    assert_eq!(
        mp.stat_blocks.len(),
        fp.stat_blocks.len(),
        "script {name}: number of stat streams"
    );
    for (i, (mn, fnames)) in mp.stat_blocks.iter().zip(&fp.stat_blocks).enumerate() {
        let mut last = 0;
        for n in fnames {
            let Some(pos) = mn.iter().position(|x| x == n) else {
                panic!(
                    "script {name}: stat stream {i}: ferrocache reports {n:?}, memcached does not"
                );
            };
            assert!(
                pos >= last,
                "script {name}: stat stream {i}: {n:?} is out of memcached's order"
            );
            last = pos;
        }
        assert_eq!(
            mn.is_empty(),
            fnames.is_empty(),
            "script {name}: stat stream {i}: one side is empty"
        );
    }
}

fn diff(name: &str, script: &[Step]) {
    diff_args(name, &[], script);
}

/// Run `script` against fresh memcached and ferrocache with `args`; every reply frame
/// must be identical (CAS compared as zero / non-zero), Stat values included.
fn diff_exact(name: &str, args: &[&str], script: &[Step]) {
    let m = Server::start_with(memcached_path(), args);
    let f = Server::start_with(&ferrocache_path(), args);
    let mp = play(m.port, script);
    let fp = play(f.port, script);
    assert!(!mp.all.is_empty(), "script {name}: memcached sent nothing");
    let first = mp.all.iter().zip(&fp.all).position(|(a, b)| a != b);
    assert!(
        first.is_none() && mp.all.len() == fp.all.len(),
        "script {name}: reply streams differ at frame {first:?} ({} vs {} frames)\n\
         memcached:  {:#?}\nferrocache: {:#?}",
        mp.all.len(),
        fp.all.len(),
        mp.all,
        fp.all
    );
}

fn noop(o: u32) -> Vec<u8> {
    bare(NOOP, o)
}

// ---------------------------------------------------------------------------------------

#[test]
fn get_family() {
    diff(
        "get_family",
        &[
            send(store(SET, "k", b"value", 0xcafe, 0, 1, 0)),
            send(keyed(GET, "k", 2)),
            send(keyed(GETK, "k", 3)),
            send(keyed(GET, "miss", 4)),
            send(keyed(GETK, "miss", 5)),
            cat(&[
                keyed(GETQ, "miss", 6),
                keyed(GETQ, "k", 7),
                keyed(GETKQ, "miss", 8),
                keyed(GETKQ, "k", 9),
                noop(10),
            ]),
            send(store(SET, "empty", b"", 0, 0, 11, 0)),
            send(keyed(GETK, "empty", 12)),
            send(store(SET, &"x".repeat(250), b"long key", 1, 0, 13, 0)),
            send(keyed(GETK, &"x".repeat(250), 14)),
            send(store(SET, "bin", b"\0\r\n\xff\x80 END\r\n", 0, 0, 15, 0)),
            send(keyed(GETKQ, "bin", 16)),
        ],
    );
}

#[test]
fn storage_and_cas() {
    diff(
        "storage_and_cas",
        &[
            send(store(ADD, "a", b"1", 5, 0, 1, 0)),
            send(store(ADD, "a", b"2", 5, 0, 2, 0)),
            send(store(REPLACE, "nope", b"x", 0, 0, 3, 0)),
            send(store(REPLACE, "a", b"3", 6, 0, 4, 0)),
            WithCas(store(SET, "a", b"4", 0, 0, 5, 0), 0),
            WithCas(store(SET, "a", b"5", 0, 0, 6, 0), 1000),
            WithCas(store(REPLACE, "a", b"6", 0, 0, 7, 0), 0),
            WithCas(store(REPLACE, "a", b"7", 0, 0, 8, 0), 1000),
            WithCas(store(SET, "missing", b"8", 0, 0, 9, 0), 0),
            WithCas(store(ADD, "a", b"9", 0, 0, 10, 0), 0),
            WithCas(store(ADD, "a", b"10", 0, 0, 11, 0), 1000),
            WithCas(store(ADD, "new", b"11", 0, 0, 12, 0), 0),
            send(keyed(GETK, "a", 13)),
            send(keyed(GETK, "new", 14)),
            // Quiet variants: success silent, failures answered.
            cat(&[
                store(SETQ, "q", b"1", 0, 0, 20, 0),
                store(ADDQ, "q2", b"2", 0, 0, 21, 0),
                store(REPLACEQ, "q", b"3", 0, 0, 22, 0),
                store(ADDQ, "q", b"x", 0, 0, 23, 0),
                store(REPLACEQ, "none", b"x", 0, 0, 24, 0),
                store(SETQ, "q", b"x", 0, 0, 25, 12345678),
                noop(26),
            ]),
            send(keyed(GETK, "q", 27)),
            WithCas(store(SETQ, "q", b"y", 0, 0, 28, 0), 0),
            send(noop(29)),
        ],
    );
}

#[test]
fn append_prepend() {
    diff(
        "append_prepend",
        &[
            send(store(SET, "k", b"mid", 42, 0, 1, 0)),
            send(frame(APPEND, &[], b"k", b"-end", 2, 0)),
            send(frame(PREPEND, &[], b"k", b"start-", 3, 0)),
            send(keyed(GET, "k", 4)),
            WithCas(frame(APPEND, &[], b"k", b"!", 5, 0), 1000),
            WithCas(frame(APPEND, &[], b"k", b"!", 6, 0), 0),
            WithCas(frame(PREPEND, &[], b"k", b"?", 7, 0), 0),
            send(frame(APPEND, &[], b"none", b"x", 8, 0)),
            send(frame(PREPEND, &[], b"none", b"x", 9, 0)),
            send(frame(APPEND, &[], b"none", b"x", 10, 77)),
            cat(&[
                frame(APPENDQ, &[], b"k", b"a", 11, 0),
                frame(PREPENDQ, &[], b"k", b"p", 12, 0),
                frame(APPENDQ, &[], b"none", b"a", 13, 0),
                frame(PREPENDQ, &[], b"none", b"a", 14, 0),
                noop(15),
            ]),
            send(keyed(GETK, "k", 16)),
        ],
    );
}

#[test]
fn delete_with_cas() {
    diff(
        "delete",
        &[
            send(set("d", b"1")),
            WithCas(keyed(DELETE, "d", 1), 1000),
            WithCas(keyed(DELETE, "d", 2), 0),
            send(keyed(DELETE, "d", 3)),
            send(frame(DELETE, &[], b"d", &[], 4, 99)),
            send(set("d", b"1")),
            cat(&[keyed(DELETEQ, "d", 5), keyed(DELETEQ, "d", 6), noop(7)]),
            send(keyed(GET, "d", 8)),
        ],
    );
}

#[test]
fn arithmetic() {
    diff(
        "arithmetic",
        &[
            send(arith(INCR, "n", 3, 10, 0, 1)),
            send(arith(INCR, "n", 3, 10, 0, 2)),
            send(arith(DECR, "n", 4, 0, 0, 3)),
            send(keyed(GETK, "n", 4)),
            send(arith(INCR, "none", 1, 5, 0xffffffff, 5)),
            send(arith(DECR, "none", 1, 5, 0xffffffff, 6)),
            send(arith(DECR, "m", 1, 7, 0, 7)),
            cat(&[
                arith(INCRQ, "n", 1, 0, 0, 8),
                arith(DECRQ, "n", 1, 0, 0, 9),
                arith(INCRQ, "none", 1, 0, 0xffffffff, 10),
                noop(11),
            ]),
            send(set("w", b"18446744073709551615")),
            send(arith(INCR, "w", 1, 0, 0, 12)),
            send(arith(INCR, "w", u64::MAX, 0, 0, 13)),
            send(arith(INCR, "w", 2, 0, 0, 14)),
            send(set("f", b"5")),
            send(arith(DECR, "f", 10, 0, 0, 15)),
            send(arith(DECR, "f", u64::MAX, 0, 0, 16)),
            send(arith(INCR, "big", 1, u64::MAX, 0, 17)),
            send(keyed(GETK, "big", 18)),
            send(set("s", b"abc")),
            send(arith(INCR, "s", 1, 0, 0, 19)),
            send(arith(DECRQ, "s", 1, 0, 0, 20)),
            send(set("neg", b"-1")),
            send(arith(INCR, "neg", 1, 0, 0, 21)),
            send(set("long", b"184467440737095516150")),
            send(arith(INCR, "long", 1, 0, 0, 22)),
            send(set("sp", b"12 ")),
            send(arith(INCR, "sp", 1, 0, 0, 23)),
            send(set("lead", b" 12")),
            send(arith(INCR, "lead", 1, 0, 0, 24)),
            send(set("hundred", b"100")),
            send(arith(DECR, "hundred", 1, 0, 0, 25)),
            send(keyed(GET, "hundred", 26)),
        ],
    );
}

#[test]
fn touch_and_gat() {
    diff(
        "touch_and_gat",
        &[
            send(store(SET, "t", b"tv", 9, 0, 0, 0)),
            send(touchlike(TOUCH, "t", 100, 1)),
            send(touchlike(TOUCH, "none", 100, 2)),
            send(touchlike(GAT, "t", 100, 3)),
            send(touchlike(GATK, "t", 100, 4)),
            send(touchlike(GAT, "none", 100, 5)),
            send(touchlike(GATK, "none", 100, 6)),
            cat(&[
                touchlike(GATQ, "none", 100, 7),
                touchlike(GATQ, "t", 100, 8),
                touchlike(GATKQ, "none", 100, 9),
                touchlike(GATKQ, "t", 100, 10),
                noop(11),
            ]),
            // Expire it through touch: gone afterwards.
            send(touchlike(TOUCH, "t", 1, 12)),
            Step::Sleep(Duration::from_millis(2200)),
            send(keyed(GET, "t", 13)),
            send(touchlike(GATK, "t", 100, 14)),
        ],
    );
}

#[test]
fn flush_noop_version() {
    diff(
        "flush_noop_version",
        &[
            send(set("a", b"1")),
            send(bare(FLUSH, 1)),
            send(keyed(GET, "a", 2)),
            send(set("a", b"1")),
            cat(&[bare(FLUSHQ, 3), noop(4)]),
            send(keyed(GET, "a", 5)),
            send(set("a", b"1")),
            send(frame(FLUSH, &100u32.to_be_bytes(), &[], &[], 6, 0)),
            send(keyed(GET, "a", 7)),
            cat(&[frame(FLUSHQ, &0u32.to_be_bytes(), &[], &[], 8, 0), noop(9)]),
            send(keyed(GET, "a", 10)),
            send(noop(0xdeadbeef)),
            send(bare(VERSION, 0x01020304)),
        ],
    );
}

#[test]
fn quit_and_quitq() {
    diff("quit", &[send(noop(1)), send(bare(QUIT, 2)), send(noop(3))]);
    diff(
        "quitq",
        &[
            send(noop(1)),
            cat(&[bare(QUITQ, 2), noop(3)]),
            send(noop(4)),
        ],
    );
}

#[test]
fn stat_streams() {
    diff(
        "stats",
        &[
            send(set("a", b"1")),
            send(frame(STAT, &[], &[], &[], 1, 0)),
            send(frame(STAT, &[], b"settings", &[], 2, 0)),
            send(frame(STAT, &[], b"items", &[], 3, 0)),
            send(frame(STAT, &[], b"slabs", &[], 4, 0)),
            send(frame(STAT, &[], b"bogus", &[], 5, 0)),
            send(frame(STAT, &[], b"reset", &[], 6, 0)),
            send(noop(7)),
            // memcached matches these two groups by prefix.
            send(frame(STAT, &[], b"settingsx", &[], 8, 0)),
            send(frame(STAT, &[], b"resetx", &[], 9, 0)),
            send(frame(STAT, &[], b"itemsx", &[], 10, 0)),
        ],
    );
    diff(
        "stats_empty",
        &[
            send(frame(STAT, &[], b"items", &[], 1, 0)),
            send(frame(STAT, &[], b"slabs", &[], 2, 0)),
        ],
    );
}

#[test]
fn unknown_opcodes() {
    let mut steps = Vec::new();
    let mut ops: Vec<u8> = vec![VERBOSITY];
    ops.extend(0x30..=0x3c);
    ops.extend([0x60, 0x64, 0x66, 0xff]);
    for (i, &op) in ops.iter().enumerate() {
        let o = 0x100 * i as u32;
        steps.push(send(frame(op, &[], &[], &[], o, 0)));
        // A value-only body is skipped. (With extras or a key memcached over-swallows
        // extlen + keylen bytes of the next frame; tests/binary.rs covers ferrocache.)
        steps.push(cat(&[frame(op, &[], &[], b"value", o + 1, 5), noop(o + 2)]));
    }
    // SASL opcodes without -S.
    steps.push(send(bare(SASL_LIST, 1)));
    steps.push(send(frame(
        SASL_AUTH,
        &[],
        b"PLAIN",
        &plain("u", "p"),
        2,
        0,
    )));
    steps.push(send(frame(SASL_STEP, &[], b"PLAIN", b"x", 3, 0)));
    steps.push(send(noop(4)));
    diff("unknown_opcodes", &steps);
}

#[test]
fn invalid_frames_close() {
    let o = 0x1234;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("get_extras", frame(GET, &[0; 4], b"k", &[], o, 0)),
        ("getkq_value", frame(GETKQ, &[], b"k", b"v", o, 0)),
        ("get_nokey", frame(GET, &[], &[], &[], o, 0)),
        ("set_noextras", frame(SET, &[], b"k", b"v", o, 0)),
        ("setq_short_extras", frame(SETQ, &[0; 4], b"k", b"v", o, 0)),
        (
            "set_nokey",
            frame(SET, &store_extras(0, 0), &[], b"v", o, 0),
        ),
        ("add_long_extras", frame(ADD, &[0; 12], b"k", b"v", o, 0)),
        ("incr_short_extras", frame(INCR, &[0; 8], b"k", &[], o, 0)),
        (
            "decr_nokey",
            frame(DECR, &arith_extras(1, 0, 0), &[], &[], o, 0),
        ),
        (
            "incr_value",
            frame(INCR, &arith_extras(1, 0, 0), b"k", b"v", o, 0),
        ),
        ("delete_extras", frame(DELETE, &[0; 4], b"k", &[], o, 0)),
        ("touch_noextras", frame(TOUCH, &[], b"k", &[], o, 0)),
        ("gat_noextras", frame(GAT, &[], b"k", &[], o, 0)),
        ("gatkq_long_extras", frame(GATKQ, &[0; 8], b"k", &[], o, 0)),
        ("touch_nokey", frame(TOUCH, &[0; 4], &[], &[], o, 0)),
        ("noop_key", frame(NOOP, &[], b"k", &[], o, 0)),
        ("version_extras", frame(VERSION, &[0; 4], &[], &[], o, 0)),
        ("quit_value", frame(QUIT, &[], &[], b"v", o, 0)),
        ("quitq_key", frame(QUITQ, &[], b"k", &[], o, 0)),
        ("flush_key", frame(FLUSH, &[], b"k", &[], o, 0)),
        ("flush_long_extras", frame(FLUSH, &[0; 8], &[], &[], o, 0)),
        ("stat_extras", frame(STAT, &[0; 4], &[], &[], o, 0)),
        ("append_extras", frame(APPEND, &[0; 8], b"k", b"v", o, 0)),
        ("prepend_nokey", frame(PREPEND, &[], &[], b"v", o, 0)),
        ("key_251", frame(GET, &[], &[b'k'; 251], &[], o, 0)),
        ("key_longer_than_body", {
            let mut r = raw_header(GET, 5, 0, 3, o);
            r.extend_from_slice(b"abcde");
            r
        }),
        ("extras_longer_than_body", {
            let mut r = raw_header(SET, 1, 8, 4, o);
            r.extend_from_slice(&[0; 9]);
            r
        }),
        ("bad_magic", {
            let mut r = noop(o);
            r[0] = 0x81;
            r
        }),
    ];
    for (name, req) in cases {
        diff(name, &[send(noop(1)), send(req), send(noop(2))]);
    }
}

#[test]
fn too_large_values() {
    let v = vec![b'x'; 2 * 1024 * 1024];
    diff(
        "too_large",
        &[
            send(set("big", b"old")),
            cat(&[store(SET, "big", &v, 0, 0, 1, 0), keyed(GETK, "big", 2)]),
            send(set("s", b"v")),
            cat(&[
                frame(APPEND, &[], b"s", &v, 3, 0),
                store(SETQ, "q", &v, 0, 0, 4, 0),
                store(ADD, "q", &v, 0, 0, 5, 0),
                noop(6),
            ]),
            send(keyed(GETK, "s", 7)),
            send(store(SET, "fits", &v[..1024 * 1024 - 512], 0, 0, 8, 0)),
        ],
    );
    // A larger item limit.
    let v = vec![b'y'; 3 * 1024 * 1024];
    diff_args(
        "too_large_I",
        &["-I", "2m"],
        &[
            cat(&[store(SET, "k", &v, 0, 0, 1, 0), noop(2)]),
            send(store(SET, "k", &v[..1536 * 1024], 0, 0, 3, 0)),
            send(keyed(GETK, "nope", 4)),
        ],
    );
}

#[test]
fn quiet_get_pipeline() {
    let mut sets = Vec::new();
    for i in (0..2000u32).filter(|i| i % 3 == 0) {
        sets.push(store(
            SETQ,
            &format!("key:{i}"),
            format!("value-{i}").as_bytes(),
            i,
            0,
            i,
            0,
        ));
    }
    sets.push(noop(0xfffe));
    let mut gets = Vec::new();
    for i in 0..2000u32 {
        let op = if i % 2 == 0 { GETQ } else { GETKQ };
        gets.push(keyed(op, &format!("key:{i}"), i));
    }
    gets.push(noop(0xffff));
    diff("quiet_pipeline", &[cat(&sets), cat(&gets)]);
}

#[test]
fn split_frames() {
    let mut script = store(SET, "split", b"some value", 3, 0, 0x10, 0);
    script.extend_from_slice(&keyed(GETK, "split", 0x11));
    script.extend_from_slice(&arith(INCR, "ctr", 1, 0, 0, 0x12));
    let mut steps = Vec::new();
    for cut in [1, 2, 12, 23, 24, 25, 31, 32, 33, 40, script.len() - 1] {
        steps.push(send(script[..cut].to_vec()));
        steps.push(send(script[cut..].to_vec()));
    }
    diff("split", &steps);
}

/// Stat `detail on|off|dump` as memcached 1.6.18 answers them (memcached's t/binary.t
/// starts with `detail on`): `on`/`off` the end frame alone, `dump` one `detailed` stat
/// holding the text dump; keys are prefix-matched (`detail onion`, `resetx`); which binary
/// requests count (Get, Touch, GAT, Set, Append, Delete, too-large stores; not Incr).
#[test]
fn stat_detail() {
    let stat = |key: &[u8], o: u32| frame(STAT, &[], key, &[], o, 0);
    let big = vec![b'v'; 1024 * 1024 + 10];
    diff_exact(
        "stat detail",
        &[],
        &[
            send(stat(b"detail dump", 1)),
            send(stat(b"detail on", 2)),
            send(store(SET, "a:b", b"v", 0, 0, 3, 0)),
            send(keyed(GET, "a:c", 4)),
            send(keyed(GETK, "a:b", 5)),
            send(keyed(DELETE, "a:x", 6)),
            send(frame(APPEND, &[], b"q:b", b"v", 7, 0)),
            send(frame(PREPEND, &[], b"q:c", b"v", 8, 0)),
            send(touchlike(TOUCH, "t:t", 0, 9)),
            send(touchlike(GAT, "t:u", 0, 10)),
            send(store(SET, "t:u", b"v", 0, 0, 11, 0)),
            send(touchlike(GATK, "t:u", 0, 12)),
            send(arith(INCR, "n:1", 1, 0, 0, 13)),
            send(store(ADD, "a:b", b"v", 0, 0, 14, 0)),
            send(store(SET, "z:big", &big, 0, 0, 15, 0)),
            send(frame(APPEND, &[], b"y:big", &big, 16, 0)),
            send(store(SET, "nodelim", b"v", 0, 0, 17, 0)),
            send(stat(b"detail dump", 18)),
            send(stat(b"detail off", 19)),
            send(keyed(GET, "a:b", 20)),
            send(stat(b"detail dump", 21)),
            send(stat(b"detail onion", 22)),
            send(keyed(GET, "b:b", 23)),
            send(stat(b"detail dumpster", 24)),
            cat(&[stat(b"detail foo", 25), stat(b"detailed", 26)]),
            cat(&[stat(b"detail  on", 27), stat(b"Detail on", 28), noop(29)]),
            send(stat(b"resetx", 30)),
            send(stat(b"detail dump", 31)),
        ],
    );
    diff_exact(
        "stat detail -X",
        &["-X"],
        &[
            send(stat(b"detail on", 1)),
            send(stat(b"detail dump", 2)),
            send(stat(b"detail off", 3)),
            send(stat(b"detail foo", 4)),
        ],
    );
    diff_exact(
        "stat detail -D/",
        &["-D", "/"],
        &[
            send(stat(b"detail on", 1)),
            send(store(SET, "a/b", b"v", 0, 0, 2, 0)),
            send(store(SET, "a:b", b"v", 0, 0, 3, 0)),
            send(stat(b"detail dump", 4)),
        ],
    );
}
