//! memcached's binary protocol on the wire: every opcode, quiet semantics, opaque/CAS,
//! framing and error handling, as raw bytes.
//!
//! Validated against the real daemon: `FERRO_TEST_SERVER=/usr/bin/memcached cargo test
//! --test binary` (the SASL tests need Cyrus SASL files Debian's memcached does not have,
//! so they only run against ferrocache; the `-Y` ascii-auth tests run against both).

mod bincommon;
mod common;
use bincommon::*;
use common::*;
use std::io::Write;
use std::time::Duration;

fn start() -> (Server, Client) {
    let s = Server::start(&[]);
    let c = s.connect();
    c.stream.set_nodelay(true).unwrap();
    (s, c)
}

/// Error reply: opcode echoed, status, memcached's message, cas 0, opaque echoed.
fn assert_err(r: &Resp, op: u8, status: u16, msg: &str, opaque: u32) {
    assert_eq!(
        (r.opcode, r.status, r.opaque, r.cas),
        (op, status, opaque, 0),
        "error header: {r:?}"
    );
    assert!(r.extras.is_empty() && r.key.is_empty(), "{r:?}");
    assert_eq!(String::from_utf8_lossy(&r.value), msg, "error body");
}

/// Bare success: no body, opcode and opaque echoed.
fn assert_ok_empty(r: &Resp, op: u8, opaque: u32) {
    assert_eq!(
        (r.opcode, r.status, r.opaque),
        (op, ST_OK, opaque),
        "ok header: {r:?}"
    );
    assert!(
        r.extras.is_empty() && r.key.is_empty() && r.value.is_empty(),
        "{r:?}"
    );
}

/// A get/gat hit: flags extras, optional key, value, non-zero cas.
fn assert_hit(r: &Resp, op: u8, key: Option<&str>, value: &[u8], flags: u32, opaque: u32) {
    assert_eq!(
        (r.opcode, r.status, r.opaque, r.data_type),
        (op, ST_OK, opaque, 0),
        "hit header: {r:?}"
    );
    assert_eq!(r.flags(), flags);
    assert_eq!(r.key, key.unwrap_or("").as_bytes());
    assert_eq!(r.value, value);
    assert_ne!(r.cas, 0, "hit without cas");
}

fn noop_fence(c: &mut Client, opaque: u32) {
    let r = call(c, &bare(NOOP, opaque));
    assert_ok_empty(&r, NOOP, opaque);
    assert_eq!(r.cas, 0);
}

/// Nothing more arrives within a short quiet period.
fn assert_silent(c: &mut Client) {
    let got = c.read_quiet(Duration::from_millis(150), Duration::from_secs(2));
    assert!(got.is_empty(), "unexpected bytes: {}", esc(&got));
}

// ---------------------------------------------------------------------------------------
// Retrieval

#[test]
fn get_family_hits_and_misses() {
    let (_s, mut c) = start();
    let r = call(&mut c, &store(SET, "k", b"val", 0xdeadbeef, 0, 1, 0));
    assert_ok_empty(&r, SET, 1);
    let cas = r.cas;
    assert_ne!(cas, 0, "set returns the new cas");

    let r = call(&mut c, &keyed(GET, "k", 0x01020304));
    assert_hit(&r, GET, None, b"val", 0xdeadbeef, 0x01020304);
    assert_eq!(r.cas, cas, "get returns the item's cas");
    let r = call(&mut c, &keyed(GETK, "k", 7));
    assert_hit(&r, GETK, Some("k"), b"val", 0xdeadbeef, 7);
    assert_eq!(r.cas, cas);

    // Misses: Get says "Not found"; GetK carries the key and no message.
    let r = call(&mut c, &keyed(GET, "nope", 8));
    assert_err(&r, GET, ST_NOT_FOUND, "Not found", 8);
    let r = call(&mut c, &keyed(GETK, "nope", 9));
    assert_eq!(
        (r.opcode, r.status, r.opaque, r.cas),
        (GETK, ST_NOT_FOUND, 9, 0)
    );
    assert_eq!(r.key, b"nope");
    assert!(r.extras.is_empty() && r.value.is_empty(), "{r:?}");

    // Quiet: hits answered (opcode stays quiet), misses silent.
    c.send(&keyed(GETQ, "nope", 10));
    c.send(&keyed(GETQ, "k", 11));
    c.send(&keyed(GETKQ, "nope", 12));
    c.send(&keyed(GETKQ, "k", 13));
    let r = read_resp(&mut c);
    assert_hit(&r, GETQ, None, b"val", 0xdeadbeef, 11);
    let r = read_resp(&mut c);
    assert_hit(&r, GETKQ, Some("k"), b"val", 0xdeadbeef, 13);
    noop_fence(&mut c, 14);
}

#[test]
fn binary_values_and_big_opaques() {
    let (_s, mut c) = start();
    let v: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let r = call(&mut c, &store(SET, "bin", &v, 1, 0, 0xffffffff, 0));
    assert_ok_empty(&r, SET, 0xffffffff);
    let r = call(&mut c, &keyed(GET, "bin", 0x80000001));
    assert_hit(&r, GET, None, &v, 1, 0x80000001);
    // Empty value.
    let r = call(&mut c, &store(SET, "empty", b"", 0, 0, 3, 0));
    assert_ok_empty(&r, SET, 3);
    let r = call(&mut c, &keyed(GETK, "empty", 4));
    assert_hit(&r, GETK, Some("empty"), b"", 0, 4);
    // A 250-byte key works.
    let long = "x".repeat(250);
    assert_eq!(call(&mut c, &set(&long, b"L")).status, ST_OK);
    let r = call(&mut c, &keyed(GETK, &long, 5));
    assert_hit(&r, GETK, Some(&long), b"L", 0, 5);
}

// ---------------------------------------------------------------------------------------
// Storage

#[test]
fn set_add_replace_with_and_without_cas() {
    let (_s, mut c) = start();
    // Add: new key stored, existing key "Data exists for key.".
    let r = call(&mut c, &store(ADD, "a", b"1", 5, 0, 1, 0));
    assert_ok_empty(&r, ADD, 1);
    let cas1 = r.cas;
    assert_ne!(cas1, 0);
    let r = call(&mut c, &store(ADD, "a", b"2", 0, 0, 2, 0));
    assert_err(&r, ADD, ST_EXISTS, "Data exists for key.", 2);
    // Replace: missing key "Not found", existing replaced with a new cas.
    let r = call(&mut c, &store(REPLACE, "nope", b"x", 0, 0, 3, 0));
    assert_err(&r, REPLACE, ST_NOT_FOUND, "Not found", 3);
    let r = call(&mut c, &store(REPLACE, "a", b"3", 6, 0, 4, 0));
    assert_ok_empty(&r, REPLACE, 4);
    let cas2 = r.cas;
    assert_ne!(cas2, cas1);
    assert_hit(&call(&mut c, &keyed(GET, "a", 5)), GET, None, b"3", 6, 5);

    // Set with CAS: stale -> exists, current -> stored, missing key -> not found.
    let r = call(&mut c, &store(SET, "a", b"4", 0, 0, 6, cas1));
    assert_err(&r, SET, ST_EXISTS, "Data exists for key.", 6);
    let r = call(&mut c, &store(SET, "a", b"4", 0, 0, 7, cas2));
    assert_ok_empty(&r, SET, 7);
    let cas3 = r.cas;
    assert_ne!(cas3, cas2);
    let r = call(&mut c, &store(SET, "missing", b"4", 0, 0, 8, cas3));
    assert_err(&r, SET, ST_NOT_FOUND, "Not found", 8);
    // Replace with CAS behaves the same.
    let r = call(&mut c, &store(REPLACE, "a", b"5", 0, 0, 9, cas2));
    assert_err(&r, REPLACE, ST_EXISTS, "Data exists for key.", 9);
    let r = call(&mut c, &store(REPLACE, "a", b"5", 0, 0, 10, cas3));
    assert_ok_empty(&r, REPLACE, 10);
    assert_hit(&call(&mut c, &keyed(GET, "a", 11)), GET, None, b"5", 0, 11);
}

#[test]
fn add_with_cas_is_a_cas() {
    // memcached turns any storage command with a non-zero cas into a CAS (process_bin_update:
    // `if (ITEM_get_cas(it) != 0) c->cmd = NREAD_CAS`), Add included.
    let (_s, mut c) = start();
    let cas = call(&mut c, &set("a", b"1")).cas;
    let r = call(&mut c, &store(ADD, "a", b"2", 0, 0, 1, cas));
    assert_ok_empty(&r, ADD, 1);
    assert_hit(&call(&mut c, &keyed(GET, "a", 2)), GET, None, b"2", 0, 2);
    let r = call(&mut c, &store(ADD, "a", b"3", 0, 0, 3, cas));
    assert_err(&r, ADD, ST_EXISTS, "Data exists for key.", 3);
    let r = call(&mut c, &store(ADD, "new", b"3", 0, 0, 4, cas));
    assert_err(&r, ADD, ST_NOT_FOUND, "Not found", 4);
}

#[test]
fn quiet_storage_is_silent_on_success_only() {
    let (_s, mut c) = start();
    c.send(&store(SETQ, "q", b"1", 0, 0, 1, 0));
    c.send(&store(ADDQ, "q2", b"2", 0, 0, 2, 0));
    c.send(&store(REPLACEQ, "q", b"3", 0, 0, 3, 0));
    c.send(&frame(APPENDQ, &[], b"q", b"a", 4, 0));
    c.send(&frame(PREPENDQ, &[], b"q", b"p", 5, 0));
    noop_fence(&mut c, 6);
    assert_hit(&call(&mut c, &keyed(GET, "q", 7)), GET, None, b"p3a", 0, 7);
    // Failures are answered with the quiet opcode echoed.
    c.send(&store(ADDQ, "q", b"x", 0, 0, 8, 0));
    c.send(&store(REPLACEQ, "none", b"x", 0, 0, 9, 0));
    c.send(&store(SETQ, "q", b"x", 0, 0, 10, 12345));
    c.send(&frame(APPENDQ, &[], b"none", b"a", 11, 0));
    c.send(&frame(PREPENDQ, &[], b"none", b"a", 12, 0));
    assert_err(
        &read_resp(&mut c),
        ADDQ,
        ST_EXISTS,
        "Data exists for key.",
        8,
    );
    assert_err(&read_resp(&mut c), REPLACEQ, ST_NOT_FOUND, "Not found", 9);
    assert_err(
        &read_resp(&mut c),
        SETQ,
        ST_EXISTS,
        "Data exists for key.",
        10,
    );
    assert_err(
        &read_resp(&mut c),
        APPENDQ,
        ST_NOT_STORED,
        "Not stored.",
        11,
    );
    assert_err(
        &read_resp(&mut c),
        PREPENDQ,
        ST_NOT_STORED,
        "Not stored.",
        12,
    );
    noop_fence(&mut c, 13);
}

#[test]
fn append_prepend() {
    let (_s, mut c) = start();
    let cas0 = call(&mut c, &store(SET, "k", b"mid", 42, 0, 0, 0)).cas;
    let r = call(&mut c, &frame(APPEND, &[], b"k", b"-end", 1, 0));
    assert_ok_empty(&r, APPEND, 1);
    let cas1 = r.cas;
    assert!(cas1 != 0 && cas1 != cas0);
    let r = call(&mut c, &frame(PREPEND, &[], b"k", b"start-", 2, 0));
    assert_ok_empty(&r, PREPEND, 2);
    let cas2 = r.cas;
    assert_hit(
        &call(&mut c, &keyed(GET, "k", 3)),
        GET,
        None,
        b"start-mid-end",
        42,
        3,
    );
    // With cas: stale -> exists, current -> stored.
    let r = call(&mut c, &frame(APPEND, &[], b"k", b"!", 4, cas1));
    assert_err(&r, APPEND, ST_EXISTS, "Data exists for key.", 4);
    let r = call(&mut c, &frame(APPEND, &[], b"k", b"!", 5, cas2));
    assert_ok_empty(&r, APPEND, 5);
    // Missing key: "Not stored.".
    let r = call(&mut c, &frame(APPEND, &[], b"none", b"x", 6, 0));
    assert_err(&r, APPEND, ST_NOT_STORED, "Not stored.", 6);
    let r = call(&mut c, &frame(PREPEND, &[], b"none", b"x", 7, 0));
    assert_err(&r, PREPEND, ST_NOT_STORED, "Not stored.", 7);
    // Extras are not allowed on append.
    let r = call(
        &mut c,
        &frame(APPEND, &store_extras(0, 0), b"k", b"x", 8, 0),
    );
    assert_err(&r, APPEND, ST_EINVAL, "Invalid arguments", 8);
    c.expect_closed();
}

#[test]
fn append_with_cas_on_missing_key_is_not_stored() {
    let (_s, mut c) = start();
    let r = call(&mut c, &frame(APPEND, &[], b"none", b"x", 1, 77));
    assert_err(&r, APPEND, ST_NOT_STORED, "Not stored.", 1);
    let r = call(&mut c, &frame(PREPENDQ, &[], b"none", b"x", 2, 77));
    assert_err(&r, PREPENDQ, ST_NOT_STORED, "Not stored.", 2);
}

#[test]
fn delete_with_and_without_cas() {
    let (_s, mut c) = start();
    let cas = call(&mut c, &set("d", b"1")).cas;
    let r = call(&mut c, &frame(DELETE, &[], b"d", &[], 1, cas + 1000));
    assert_err(&r, DELETE, ST_EXISTS, "Data exists for key.", 1);
    let r = call(&mut c, &frame(DELETE, &[], b"d", &[], 2, cas));
    assert_ok_empty(&r, DELETE, 2);
    assert_eq!(r.cas, 0);
    let r = call(&mut c, &keyed(DELETE, "d", 3));
    assert_err(&r, DELETE, ST_NOT_FOUND, "Not found", 3);
    let r = call(&mut c, &frame(DELETE, &[], b"d", &[], 4, 99));
    assert_err(&r, DELETE, ST_NOT_FOUND, "Not found", 4);
    // DeleteQ: success silent, miss answered.
    call(&mut c, &set("d", b"1"));
    c.send(&keyed(DELETEQ, "d", 5));
    c.send(&keyed(DELETEQ, "d", 6));
    assert_err(&read_resp(&mut c), DELETEQ, ST_NOT_FOUND, "Not found", 6);
    noop_fence(&mut c, 7);
    assert_err(
        &call(&mut c, &keyed(GET, "d", 8)),
        GET,
        ST_NOT_FOUND,
        "Not found",
        8,
    );
}

// ---------------------------------------------------------------------------------------
// Arithmetic

#[test]
fn incr_decr_initial_and_no_create() {
    let (_s, mut c) = start();
    // Missing key with an exptime other than 0xffffffff: created with the initial value.
    let r = call(&mut c, &arith(INCR, "n", 3, 10, 0, 1));
    assert_eq!((r.opcode, r.status, r.opaque), (INCR, ST_OK, 1), "{r:?}");
    assert_eq!(r.counter(), 10, "creation returns the initial value");
    assert!(r.extras.is_empty() && r.key.is_empty());
    let cas1 = r.cas;
    assert_ne!(cas1, 0);
    let r = call(&mut c, &arith(INCR, "n", 3, 10, 0, 2));
    assert_eq!(r.counter(), 13);
    assert!(r.cas != 0 && r.cas != cas1);
    let r = call(&mut c, &arith(DECR, "n", 4, 0, 0, 3));
    assert_eq!((r.opcode, r.status, r.counter()), (DECR, ST_OK, 9));
    // memcached shrinks a counter in place, padding with spaces ("13" -> "9 ").
    assert_hit(&call(&mut c, &keyed(GET, "n", 4)), GET, None, b"9 ", 0, 4);
    // 0xffffffff: no auto-create.
    let r = call(&mut c, &arith(INCR, "none", 1, 5, 0xffffffff, 5));
    assert_err(&r, INCR, ST_NOT_FOUND, "Not found", 5);
    let r = call(&mut c, &arith(DECR, "none", 1, 5, 0xffffffff, 6));
    assert_err(&r, DECR, ST_NOT_FOUND, "Not found", 6);
    // Decrement creation also returns the initial value.
    let r = call(&mut c, &arith(DECR, "m", 1, 7, 0, 7));
    assert_eq!(r.counter(), 7);
    // Quiet: success silent, failures answered.
    c.send(&arith(INCRQ, "n", 1, 0, 0, 8));
    c.send(&arith(DECRQ, "n", 1, 0, 0, 9));
    c.send(&arith(INCRQ, "none", 1, 0, 0xffffffff, 10));
    assert_err(&read_resp(&mut c), INCRQ, ST_NOT_FOUND, "Not found", 10);
    noop_fence(&mut c, 11);
    assert_eq!(call(&mut c, &arith(INCR, "n", 0, 0, 0, 12)).counter(), 9);
}

#[test]
fn incr_wraps_and_decr_floors() {
    let (_s, mut c) = start();
    call(&mut c, &set("w", b"18446744073709551615"));
    let r = call(&mut c, &arith(INCR, "w", 1, 0, 0, 1));
    assert_eq!(r.counter(), 0, "incr wraps at 2^64");
    let r = call(&mut c, &arith(INCR, "w", u64::MAX, 0, 0, 2));
    assert_eq!(r.counter(), u64::MAX);
    let r = call(&mut c, &arith(INCR, "w", 2, 0, 0, 3));
    assert_eq!(r.counter(), 1);
    call(&mut c, &set("f", b"5"));
    let r = call(&mut c, &arith(DECR, "f", 10, 0, 0, 4));
    assert_eq!(r.counter(), 0, "decr floors at 0");
    let r = call(&mut c, &arith(DECR, "f", u64::MAX, 0, 0, 5));
    assert_eq!(r.counter(), 0);
    // Large initial values round-trip.
    let r = call(&mut c, &arith(INCR, "big", 1, u64::MAX, 0, 6));
    assert_eq!(r.counter(), u64::MAX);
    assert_hit(
        &call(&mut c, &keyed(GET, "big", 7)),
        GET,
        None,
        b"18446744073709551615",
        0,
        7,
    );
}

#[test]
fn incr_non_numeric() {
    let (_s, mut c) = start();
    call(&mut c, &set("s", b"abc"));
    let msg = "Non-numeric server-side value for incr or decr";
    assert_err(
        &call(&mut c, &arith(INCR, "s", 1, 0, 0, 1)),
        INCR,
        ST_NON_NUMERIC,
        msg,
        1,
    );
    assert_err(
        &call(&mut c, &arith(DECRQ, "s", 1, 0, 0, 2)),
        DECRQ,
        ST_NON_NUMERIC,
        msg,
        2,
    );
    call(&mut c, &set("neg", b"-1"));
    assert_err(
        &call(&mut c, &arith(INCR, "neg", 1, 0, 0, 3)),
        INCR,
        ST_NON_NUMERIC,
        msg,
        3,
    );
    // Too long to be a number.
    call(&mut c, &set("long", b"184467440737095516150"));
    assert_err(
        &call(&mut c, &arith(INCR, "long", 1, 0, 0, 4)),
        INCR,
        ST_NON_NUMERIC,
        msg,
        4,
    );
    assert_hit(&call(&mut c, &keyed(GET, "s", 5)), GET, None, b"abc", 0, 5);
}

// ---------------------------------------------------------------------------------------
// Touch / GAT

#[test]
fn touch_and_gat_family() {
    let (_s, mut c) = start();
    let cas = call(&mut c, &store(SET, "t", b"tv", 9, 0, 0, 0)).cas;
    // Touch hit: flags as extras, no key, no value, the item's cas.
    let r = call(&mut c, &touchlike(TOUCH, "t", 100, 1));
    assert_hit(&r, TOUCH, None, b"", 9, 1);
    assert_eq!(r.cas, cas);
    let r = call(&mut c, &touchlike(TOUCH, "none", 100, 2));
    assert_err(&r, TOUCH, ST_NOT_FOUND, "Not found", 2);

    let r = call(&mut c, &touchlike(GAT, "t", 100, 3));
    assert_hit(&r, GAT, None, b"tv", 9, 3);
    assert_eq!(r.cas, cas);
    let r = call(&mut c, &touchlike(GATK, "t", 100, 4));
    assert_hit(&r, GATK, Some("t"), b"tv", 9, 4);
    let r = call(&mut c, &touchlike(GAT, "none", 100, 5));
    assert_err(&r, GAT, ST_NOT_FOUND, "Not found", 5);
    let r = call(&mut c, &touchlike(GATK, "none", 100, 6));
    assert_eq!((r.opcode, r.status, r.opaque), (GATK, ST_NOT_FOUND, 6));
    assert_eq!(r.key, b"none");
    assert!(r.value.is_empty() && r.extras.is_empty());

    c.send(&touchlike(GATQ, "none", 100, 7));
    c.send(&touchlike(GATQ, "t", 100, 8));
    c.send(&touchlike(GATKQ, "none", 100, 9));
    c.send(&touchlike(GATKQ, "t", 100, 10));
    assert_hit(&read_resp(&mut c), GATQ, None, b"tv", 9, 8);
    assert_hit(&read_resp(&mut c), GATKQ, Some("t"), b"tv", 9, 10);
    noop_fence(&mut c, 11);
}

#[test]
fn touch_and_gat_change_the_expiry() {
    let (_s, mut c) = start();
    call(&mut c, &store(SET, "a", b"1", 0, 1, 0, 0));
    call(&mut c, &store(SET, "b", b"2", 0, 1, 0, 0));
    call(&mut c, &store(SET, "c", b"3", 0, 100, 0, 0));
    assert_eq!(call(&mut c, &touchlike(TOUCH, "a", 100, 1)).status, ST_OK);
    assert_eq!(call(&mut c, &touchlike(GAT, "b", 100, 2)).status, ST_OK);
    assert_eq!(call(&mut c, &touchlike(GATK, "c", 1, 3)).status, ST_OK);
    std::thread::sleep(Duration::from_millis(2600));
    assert_hit(&call(&mut c, &keyed(GET, "a", 4)), GET, None, b"1", 0, 4);
    assert_hit(&call(&mut c, &keyed(GET, "b", 5)), GET, None, b"2", 0, 5);
    assert_err(
        &call(&mut c, &keyed(GET, "c", 6)),
        GET,
        ST_NOT_FOUND,
        "Not found",
        6,
    );
}

// ---------------------------------------------------------------------------------------
// Flush, NoOp, Version, Quit

#[test]
fn flush_now_quiet_and_delayed() {
    let (_s, mut c) = start();
    call(&mut c, &set("a", b"1"));
    let r = call(&mut c, &bare(FLUSH, 1));
    assert_ok_empty(&r, FLUSH, 1);
    assert_eq!(r.cas, 0);
    assert_eq!(call(&mut c, &keyed(GET, "a", 2)).status, ST_NOT_FOUND);
    call(&mut c, &set("a", b"1"));
    c.send(&bare(FLUSHQ, 3));
    noop_fence(&mut c, 4);
    assert_eq!(call(&mut c, &keyed(GET, "a", 5)).status, ST_NOT_FOUND);
    // Delayed flush (4-byte exptime extras): items survive until then.
    call(&mut c, &set("a", b"1"));
    let r = call(&mut c, &frame(FLUSH, &2u32.to_be_bytes(), &[], &[], 6, 0));
    assert_ok_empty(&r, FLUSH, 6);
    assert_eq!(call(&mut c, &keyed(GET, "a", 7)).status, ST_OK);
    let gone = wait_until(Duration::from_secs(5), || {
        call(&mut c, &keyed(GET, "a", 8)).status == ST_NOT_FOUND
    });
    assert!(gone, "delayed flush never took effect");
    // FlushQ with exptime 0 extras.
    call(&mut c, &set("b", b"1"));
    c.send(&frame(FLUSHQ, &0u32.to_be_bytes(), &[], &[], 9, 0));
    noop_fence(&mut c, 10);
    assert_eq!(call(&mut c, &keyed(GET, "b", 11)).status, ST_NOT_FOUND);
}

#[test]
fn noop_and_version() {
    let (_s, mut c) = start();
    noop_fence(&mut c, 0xabcdef01);
    let r = call(&mut c, &bare(VERSION, 0x11223344));
    assert_eq!(
        (r.opcode, r.status, r.opaque, r.cas),
        (VERSION, 0, 0x11223344, 0)
    );
    assert!(r.extras.is_empty() && r.key.is_empty());
    let v = String::from_utf8(r.value).unwrap();
    assert!(v.starts_with("1.6."), "version {v:?}");
}

#[test]
fn quit_answers_then_closes() {
    let (_s, mut c) = start();
    let r = call(&mut c, &bare(QUIT, 77));
    assert_ok_empty(&r, QUIT, 77);
    assert_eq!(r.cas, 0);
    c.expect_closed();
}

#[test]
fn quitq_closes_silently() {
    let (_s, mut c) = start();
    noop_fence(&mut c, 1);
    c.send(&bare(QUITQ, 2));
    c.expect_closed();
}

/// Binary Touch and GAT count as touches only (`cmd_get` untouched), as memcached 1.6.18
/// counts them (checked with `FERRO_TEST_SERVER=/usr/bin/memcached`).
#[test]
fn touch_and_gat_count_touches_not_gets() {
    let (_s, mut c) = start();
    call(&mut c, &set("k", b"v"));
    call(&mut c, &touchlike(GAT, "k", 0, 1));
    call(&mut c, &touchlike(GAT, "nope", 0, 2));
    call(&mut c, &touchlike(TOUCH, "k", 0, 3));
    c.send(&frame(STAT, &[], &[], &[], 4, 0));
    let general = read_stats(&mut c, 4);
    let get = |k: &str| {
        general
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let got: Vec<String> = ["cmd_get", "cmd_touch", "touch_hits", "touch_misses"]
        .iter()
        .map(|k| format!("{k}={}", get(k)))
        .collect();
    assert_eq!(
        got,
        ["cmd_get=0", "cmd_touch=3", "touch_hits=2", "touch_misses=1"]
    );
}

// ---------------------------------------------------------------------------------------
// Stat

#[test]
fn stat_streams() {
    let (_s, mut c) = start();
    call(&mut c, &set("a", b"1"));
    c.send(&frame(STAT, &[], &[], &[], 0x5151, 0));
    let general = read_stats(&mut c, 0x5151);
    let names: Vec<&str> = general.iter().map(|(k, _)| k.as_str()).collect();
    for want in [
        "pid",
        "uptime",
        "version",
        "cmd_get",
        "cmd_set",
        "curr_items",
    ] {
        assert!(
            names.contains(&want),
            "general stats lack {want}: {names:?}"
        );
    }
    let get = |k: &str| general.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("cmd_set"), "1");
    assert_eq!(get("curr_items"), "1");

    for group in ["settings", "items", "slabs"] {
        c.send(&frame(STAT, &[], group.as_bytes(), &[], 0x77, 0));
        let list = read_stats(&mut c, 0x77);
        assert!(!list.is_empty(), "stats {group} is empty");
    }
    c.send(&frame(STAT, &[], b"settings", &[], 1, 0));
    let settings = read_stats(&mut c, 1);
    assert!(
        settings
            .iter()
            .any(|(k, v)| k == "item_size_max" && v == "1048576"),
        "{settings:?}"
    );
    c.send(&frame(STAT, &[], b"items", &[], 2, 0));
    let items = read_stats(&mut c, 2);
    assert!(
        items.iter().any(|(k, _)| k.starts_with("items:")),
        "{items:?}"
    );

    let r = call(&mut c, &frame(STAT, &[], b"bogus", &[], 3, 0));
    assert_err(&r, STAT, ST_NOT_FOUND, "Not found", 3);
    noop_fence(&mut c, 4);
}

#[test]
fn stat_items_of_an_empty_cache_is_just_the_terminator() {
    let (_s, mut c) = start();
    c.send(&frame(STAT, &[], b"items", &[], 9, 0));
    assert!(read_stats(&mut c, 9).is_empty());
    c.send(&frame(STAT, &[], b"reset", &[], 10, 0));
    assert!(read_stats(&mut c, 10).is_empty());
}

// ---------------------------------------------------------------------------------------
// Unknown opcodes, validation, sizes, framing

#[test]
fn unknown_opcodes_are_answered_and_framing_kept() {
    let (_s, mut c) = start();
    let mut ops: Vec<u8> = vec![VERBOSITY];
    ops.extend(0x30..=0x3c);
    ops.push(0xff);
    for (i, &op) in ops.iter().enumerate() {
        let opaque = 0xa000_0000 + i as u32;
        // Without a body, and with a value-only body (skipped, the next frame parsed).
        let r = call(&mut c, &frame(op, &[], &[], &[], opaque, 0));
        assert_err(&r, op, ST_UNKNOWN, "Unknown command", opaque);
        let mut req = frame(op, &[], &[], b"value", opaque + 1, 9);
        req.extend(bare(NOOP, opaque + 2));
        c.send(&req);
        assert_err(
            &read_resp(&mut c),
            op,
            ST_UNKNOWN,
            "Unknown command",
            opaque + 1,
        );
        assert_ok_empty(&read_resp(&mut c), NOOP, opaque + 2);
    }
    // SASL opcodes without -S: unknown too.
    assert_err(
        &call(&mut c, &bare(SASL_LIST, 5)),
        SASL_LIST,
        ST_UNKNOWN,
        "Unknown command",
        5,
    );
    assert_err(
        &call(
            &mut c,
            &frame(SASL_AUTH, &[], b"PLAIN", &plain("u", "p"), 6, 0),
        ),
        SASL_AUTH,
        ST_UNKNOWN,
        "Unknown command",
        6,
    );
    call(&mut c, &set("still", b"ok"));
    let r = call(&mut c, &keyed(GET, "still", 7));
    assert_hit(&r, GET, None, b"ok", 0, 7);
}

#[test]
fn unknown_opcode_with_extras_and_key_skips_exactly_the_frame() {
    // memcached 1.6.18 swallows `bodylen` bytes *after* the extras and key it has already
    // consumed, so it eats extlen + keylen bytes of the next frame (verified: padding the
    // stream by 7 bytes after a 4-byte-extras, 3-byte-key unknown frame re-frames it).
    // ferrocache skips exactly the frame, as the protocol spec says.
    if is_memcached() {
        eprintln!("skipped: memcached over-swallows unknown frames with extras/key");
        return;
    }
    let (_s, mut c) = start();
    for op in [VERBOSITY, 0x30, 0x3c, 0xff] {
        let mut req = frame(op, &[1, 2, 3, 4], b"key", b"value", 0x77, 9);
        req.extend(bare(NOOP, 0x78));
        c.send(&req);
        assert_err(&read_resp(&mut c), op, ST_UNKNOWN, "Unknown command", 0x77);
        assert_ok_empty(&read_resp(&mut c), NOOP, 0x78);
    }
}

/// Send `req`, expect "Invalid arguments" with its opcode/opaque, then a closed connection.
fn expect_einval_close(req: &[u8]) {
    let (_s, mut c) = start();
    let r = call(&mut c, req);
    assert_err(&r, req[1], ST_EINVAL, "Invalid arguments", 0x1234);
    c.expect_closed();
}

#[test]
fn bad_extras_lengths_close_the_connection() {
    let o = 0x1234;
    // Get with extras.
    expect_einval_close(&frame(GET, &[0; 4], b"k", &[], o, 0));
    // GetKQ with a value.
    expect_einval_close(&frame(GETKQ, &[], b"k", b"v", o, 0));
    // Get without a key.
    expect_einval_close(&frame(GET, &[], &[], &[], o, 0));
    // Set without / with short extras.
    expect_einval_close(&frame(SET, &[], b"k", b"v", o, 0));
    expect_einval_close(&frame(SETQ, &[0; 4], b"k", b"v", o, 0));
    // Add with 12 bytes of extras.
    expect_einval_close(&frame(ADD, &[0; 12], b"k", b"v", o, 0));
    // Incr with 8 bytes of extras, and without a key.
    expect_einval_close(&frame(INCR, &[0; 8], b"k", &[], o, 0));
    expect_einval_close(&frame(DECR, &arith_extras(1, 0, 0), &[], &[], o, 0));
    // Delete with extras.
    expect_einval_close(&frame(DELETE, &[0; 4], b"k", &[], o, 0));
    // Touch / GAT without extras.
    expect_einval_close(&frame(TOUCH, &[], b"k", &[], o, 0));
    expect_einval_close(&frame(GAT, &[], b"k", &[], o, 0));
    expect_einval_close(&frame(GATKQ, &[0; 8], b"k", &[], o, 0));
    // NoOp / Version / Quit with a body.
    expect_einval_close(&frame(NOOP, &[], b"k", &[], o, 0));
    expect_einval_close(&frame(VERSION, &[0; 4], &[], &[], o, 0));
    expect_einval_close(&frame(QUIT, &[], &[], b"v", o, 0));
    // Flush with a key / 8 bytes of extras.
    expect_einval_close(&frame(FLUSH, &[], b"k", &[], o, 0));
    expect_einval_close(&frame(FLUSH, &[0; 8], &[], &[], o, 0));
    // Stat with extras.
    expect_einval_close(&frame(STAT, &[0; 4], &[], &[], o, 0));
    // Key longer than 250 bytes.
    expect_einval_close(&frame(GET, &[], &[b'k'; 251], &[], o, 0));
}

#[test]
fn key_and_extras_longer_than_body_is_unknown_and_closes() {
    let (_s, mut c) = start();
    // key_len 5, body 3.
    let mut req = raw_header(GET, 5, 0, 3, 0x42);
    req.extend_from_slice(b"abcde");
    let r = call(&mut c, &req);
    assert_err(&r, GET, ST_UNKNOWN, "Unknown command", 0x42);
    c.expect_closed();
}

#[test]
fn bad_magic_closes_without_reply() {
    let (_s, mut c) = start();
    noop_fence(&mut c, 1);
    let mut req = bare(NOOP, 2);
    req[0] = 0x81;
    c.send(&req);
    c.expect_closed();
}

#[test]
fn too_large_value_is_swallowed() {
    let (_s, mut c) = start();
    call(&mut c, &set("big", b"old"));
    let v = vec![b'x'; 2 * 1024 * 1024];
    let mut req = store(SET, "big", &v, 0, 0, 0x99, 0);
    // Next request in the same write: answered after the swallowed body.
    req.extend_from_slice(&keyed(GETK, "big", 0x9a));
    c.send(&req);
    assert_err(&read_resp(&mut c), SET, ST_TOO_LARGE, "Too large.", 0x99);
    // The failed overwrite unlinked the old value.
    let r = read_resp(&mut c);
    assert_eq!(
        (r.opcode, r.status, r.opaque),
        (GETK, ST_NOT_FOUND, 0x9a),
        "{r:?}"
    );
    // Append and quiet set too.
    call(&mut c, &set("s", b"v"));
    let mut req = frame(APPEND, &[], b"s", &v, 0x9b, 0);
    req.extend_from_slice(&store(SETQ, "q", &v, 0, 0, 0x9c, 0));
    req.extend_from_slice(&bare(NOOP, 0x9d));
    c.send(&req);
    assert_err(&read_resp(&mut c), APPEND, ST_TOO_LARGE, "Too large.", 0x9b);
    assert_err(&read_resp(&mut c), SETQ, ST_TOO_LARGE, "Too large.", 0x9c);
    assert_ok_empty(&read_resp(&mut c), NOOP, 0x9d);
    assert_hit(
        &call(&mut c, &keyed(GET, "s", 0x9e)),
        GET,
        None,
        b"v",
        0,
        0x9e,
    );
}

#[test]
fn values_just_under_the_item_limit() {
    let (_s, mut c) = start();
    let v = vec![b'y'; 1024 * 1024 - 512];
    let r = call(&mut c, &store(SET, "k", &v, 0, 0, 1, 0));
    assert_ok_empty(&r, SET, 1);
    assert_hit(&call(&mut c, &keyed(GET, "k", 2)), GET, None, &v, 0, 2);
}

#[test]
fn frames_split_at_every_byte_boundary() {
    let (_s, mut c) = start();
    let mut script = store(SET, "split", b"some value", 3, 0, 0x10, 0);
    script.extend_from_slice(&keyed(GETK, "split", 0x11));
    script.extend_from_slice(&arith(INCR, "ctr", 1, 0, 0, 0x12));
    let n = script.len();
    for cut in 1..n {
        c.stream.write_all(&script[..cut]).unwrap();
        c.stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        c.stream.write_all(&script[cut..]).unwrap();
        let r = read_resp(&mut c);
        assert_eq!((r.opcode, r.status, r.opaque), (SET, 0, 0x10), "cut {cut}");
        let r = read_resp(&mut c);
        assert_hit(&r, GETK, Some("split"), b"some value", 3, 0x11);
        let r = read_resp(&mut c);
        assert_eq!((r.opcode, r.status), (INCR, 0), "cut {cut}: {r:?}");
        assert_eq!(r.counter(), (cut - 1) as u64, "cut {cut}");
    }
    // Byte by byte.
    for &b in &script {
        c.stream.write_all(&[b]).unwrap();
    }
    assert_eq!(read_resp(&mut c).opaque, 0x10);
    assert_eq!(read_resp(&mut c).opaque, 0x11);
    assert_eq!(read_resp(&mut c).counter(), (n - 1) as u64);
}

// ---------------------------------------------------------------------------------------
// Quiet pipelines

#[test]
fn quiet_get_pipeline_returns_exactly_the_hits_in_order() {
    let (_s, mut c) = start();
    // Store every third key quietly.
    let mut req = Vec::new();
    for i in (0..2000).filter(|i| i % 3 == 0) {
        req.extend(store(
            SETQ,
            &format!("key:{i}"),
            format!("value-{i}").as_bytes(),
            i,
            0,
            i,
            0,
        ));
    }
    c.send(&req);
    noop_fence(&mut c, 0xfffe);
    let mut req = Vec::new();
    for i in 0..2000u32 {
        let op = if i % 2 == 0 { GETQ } else { GETKQ };
        req.extend(keyed(op, &format!("key:{i}"), i));
    }
    req.extend(bare(NOOP, 0xffff));
    c.send(&req);
    for i in (0..2000u32).filter(|i| i % 3 == 0) {
        let r = read_resp(&mut c);
        let k = format!("key:{i}");
        if i % 2 == 0 {
            assert_hit(&r, GETQ, None, format!("value-{i}").as_bytes(), i, i);
        } else {
            assert_hit(&r, GETKQ, Some(&k), format!("value-{i}").as_bytes(), i, i);
        }
    }
    assert_ok_empty(&read_resp(&mut c), NOOP, 0xffff);
    assert_silent(&mut c);
}

#[test]
fn pipelined_mixed_commands_answer_in_order() {
    let (_s, mut c) = start();
    let mut req = Vec::new();
    req.extend(store(SET, "a", b"1", 0, 0, 1, 0));
    req.extend(keyed(GET, "a", 2));
    req.extend(arith(INCR, "a", 5, 0, 0, 3));
    req.extend(keyed(DELETE, "a", 4));
    req.extend(keyed(GETK, "a", 5));
    req.extend(bare(VERSION, 6));
    req.extend(bare(NOOP, 7));
    c.send(&req);
    let ops: Vec<(u8, u16, u32)> = (0..7)
        .map(|_| {
            let r = read_resp(&mut c);
            (r.opcode, r.status, r.opaque)
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            (SET, 0, 1),
            (GET, 0, 2),
            (INCR, 0, 3),
            (DELETE, 0, 4),
            (GETK, 1, 5),
            (VERSION, 0, 6),
            (NOOP, 0, 7)
        ]
    );
}

#[test]
fn binary_and_text_connections_coexist() {
    let s = Server::start(&[]);
    let mut b = s.connect();
    let mut t = s.connect();
    call(&mut b, &store(SET, "shared", b"from-binary", 5, 0, 0, 0));
    assert_eq!(t.get_flags("shared"), Some((5, b"from-binary".to_vec())));
    t.set("t", b"from-text");
    assert_hit(
        &call(&mut b, &keyed(GETK, "t", 1)),
        GETK,
        Some("t"),
        b"from-text",
        0,
        1,
    );
}

// ---------------------------------------------------------------------------------------
// SASL (ferrocache only: Debian's memcached -S needs Cyrus SASL configuration)

fn pwfile(tag: &str, contents: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ferro-binary-{tag}-{}.pw", std::process::id()));
    std::fs::write(&p, contents).unwrap();
    p
}

fn sasl_server() -> (Server, std::path::PathBuf) {
    let p = pwfile("sasl", "alice:secret\nbob:hunter2\n");
    let s = Server::start_with(
        &ferrocache_path(),
        &["-S", "--sasl-pwdb", p.to_str().unwrap()],
    );
    (s, p)
}

fn bconnect(s: &Server) -> Client {
    let c = s.connect();
    c.stream.set_nodelay(true).unwrap();
    c
}

#[test]
fn sasl_every_command_before_auth_is_refused_and_closes() {
    let (s, p) = sasl_server();
    let reqs: Vec<Vec<u8>> = vec![
        keyed(GET, "k", 0x21),
        keyed(GETQ, "k", 0x21),
        keyed(GETK, "k", 0x21),
        keyed(GETKQ, "k", 0x21),
        set("k", b"v"),
        store(ADDQ, "k", b"v", 0, 0, 0x21, 0),
        store(REPLACE, "k", b"v", 0, 0, 0x21, 0),
        keyed(DELETE, "k", 0x21),
        arith(INCR, "k", 1, 0, 0, 0x21),
        arith(DECRQ, "k", 1, 0, 0, 0x21),
        bare(FLUSH, 0x21),
        bare(NOOP, 0x21),
        bare(QUIT, 0x21),
        bare(QUITQ, 0x21),
        frame(APPEND, &[], b"k", b"v", 0x21, 0),
        frame(STAT, &[], &[], &[], 0x21, 0),
        touchlike(TOUCH, "k", 0, 0x21),
        touchlike(GATKQ, "k", 0, 0x21),
    ];
    for req in &reqs {
        let mut req = req.clone();
        req[12..16].copy_from_slice(&0x21u32.to_be_bytes());
        let mut c = bconnect(&s);
        let r = call(&mut c, &req);
        assert_err(&r, req[1], ST_AUTH_ERROR, "Auth failure.", 0x21);
        c.expect_closed();
    }
    // Version is answered before authentication, and the connection stays usable.
    let mut c = bconnect(&s);
    let r = call(&mut c, &bare(VERSION, 3));
    assert_eq!((r.opcode, r.status, r.opaque), (VERSION, ST_OK, 3));
    let r = call(&mut c, &bare(SASL_LIST, 4));
    assert_eq!((r.opcode, r.status, r.opaque), (SASL_LIST, ST_OK, 4));
    assert!(
        String::from_utf8_lossy(&r.value)
            .split(' ')
            .any(|m| m == "PLAIN"),
        "mechs {:?}",
        r.value
    );
    let _ = std::fs::remove_file(p);
}

#[test]
fn sasl_wrong_then_right_password() {
    let (s, p) = sasl_server();
    let mut c = bconnect(&s);
    for (i, bad) in [
        plain("alice", "wrong"),
        plain("alice", ""),
        plain("carol", "secret"),
        b"alice\0secret".to_vec(),
        b"".to_vec(),
    ]
    .iter()
    .enumerate()
    {
        let r = call(
            &mut c,
            &frame(SASL_AUTH, &[], b"PLAIN", bad, 100 + i as u32, 0),
        );
        assert_err(
            &r,
            SASL_AUTH,
            ST_AUTH_ERROR,
            "Auth failure.",
            100 + i as u32,
        );
    }
    // Still open, still unauthenticated... and an unknown mechanism also fails.
    let r = call(&mut c, &frame(SASL_AUTH, &[], b"CRAM-MD5", b"x", 110, 0));
    assert_err(&r, SASL_AUTH, ST_AUTH_ERROR, "Auth failure.", 110);
    let r = call(
        &mut c,
        &frame(SASL_AUTH, &[], b"PLAIN", &plain("alice", "secret"), 111, 0),
    );
    assert_eq!(
        (r.opcode, r.status, r.opaque, r.cas),
        (SASL_AUTH, ST_OK, 111, 0)
    );
    assert_eq!(r.value, b"Authenticated");
    assert_ok_empty(&call(&mut c, &set("k", b"v")), SET, 0);
    assert_hit(
        &call(&mut c, &keyed(GET, "k", 112)),
        GET,
        None,
        b"v",
        0,
        112,
    );
    noop_fence(&mut c, 113);

    // Another user, with an authzid equal to the user.
    let mut c2 = bconnect(&s);
    let r = call(
        &mut c2,
        &frame(SASL_AUTH, &[], b"PLAIN", b"bob\0bob\0hunter2", 1, 0),
    );
    assert_eq!(r.status, ST_OK);
    assert_hit(&call(&mut c2, &keyed(GET, "k", 2)), GET, None, b"v", 0, 2);
    let _ = std::fs::remove_file(p);
}

#[test]
fn sasl_text_connections_are_closed_without_reply() {
    let (s, p) = sasl_server();
    let mut c = s.connect();
    c.send(b"version\r\n");
    c.expect_closed();
    let mut c = s.connect();
    c.send(b"get k\r\n");
    c.expect_closed();
    let _ = std::fs::remove_file(p);
}

// ---------------------------------------------------------------------------------------
// -Y ascii authentication (memcached supports it without Cyrus: runs against both)

fn ascii_auth_server() -> (Server, std::path::PathBuf) {
    let p = pwfile("ascii", "alice:secret\n");
    let s = Server::start(&["-Y", p.to_str().unwrap()]);
    (s, p)
}

#[test]
fn ascii_auth_unauthenticated_commands_are_refused() {
    let (s, p) = ascii_auth_server();
    for cmd in ["get k\r\n", "version\r\n", "stats\r\n", "delete k\r\n"] {
        let mut c = s.connect();
        c.send(cmd.as_bytes());
        c.expect(b"CLIENT_ERROR unauthenticated\r\n");
        // memcached 1.6.18 keeps the connection open; so do we.
        assert!(!c.is_closed_within(Duration::from_millis(300)));
        c.roundtrip(b"get k\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    }
    let _ = std::fs::remove_file(p);
}

#[test]
fn ascii_auth_with_set() {
    let (s, p) = ascii_auth_server();
    let mut c = s.connect();
    c.send(b"set x 0 0 12\r\nalice secret\r\n");
    c.expect(b"STORED\r\n");
    c.set("k", b"v");
    assert_eq!(c.get("k"), Some(b"v".to_vec()));
    // The auth set stores nothing.
    assert_eq!(c.get("x"), None);

    let mut c = s.connect();
    c.send(b"set x 0 0 11\r\nalice wrong\r\n");
    c.expect(b"CLIENT_ERROR authentication failure\r\n");
    let _ = std::fs::remove_file(p);
}
