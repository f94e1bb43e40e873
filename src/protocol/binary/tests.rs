//! Tests for the binary codec: per-opcode request parsing, byte-exact responses taken
//! from transcripts of memcached 1.6.18 (`memcached -p PORT -U 0`, python socket
//! client), and property tests (no panics, split frames, pipelines).

use super::encode;
use super::*;
use proptest::prelude::*;

const MAX: usize = 1024 * 1024;

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex"))
        .collect()
}

/// A request frame; `body_len` overrides the computed total body length.
fn frame(op: u8, key: &[u8], extras: &[u8], value: &[u8], opaque: u32, cas: u64) -> Vec<u8> {
    frame_bl(op, key, extras, value, opaque, cas, None)
}

fn frame_bl(
    op: u8,
    key: &[u8],
    extras: &[u8],
    value: &[u8],
    opaque: u32,
    cas: u64,
    body_len: Option<u32>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let computed = (extras.len() + key.len() + value.len()) as u32;
    RequestHeader {
        magic: 0x80,
        opcode: op,
        key_len: key.len() as u16,
        extras_len: extras.len() as u8,
        data_type: 0,
        vbucket: 0,
        body_len: body_len.unwrap_or(computed),
        opaque,
        cas,
    }
    .encode(&mut out);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

fn ok(buf: &[u8]) -> (BinRequest<'_>, usize) {
    match parse(buf, MAX) {
        Ok(Some(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn err(buf: &[u8]) -> BinError {
    match parse(buf, MAX) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn set_extras(flags: u32, exptime: u32) -> Vec<u8> {
    [flags.to_be_bytes(), exptime.to_be_bytes()].concat()
}

fn incr_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&delta.to_be_bytes());
    v.extend_from_slice(&initial.to_be_bytes());
    v.extend_from_slice(&exptime.to_be_bytes());
    v
}

// ---------------------------------------------------------------- request parsing

#[test]
fn parse_get_family() {
    for (op, quiet, with_key) in [
        (0x00, false, false),
        (0x09, true, false),
        (0x0c, false, true),
        (0x0d, true, true),
    ] {
        let buf = frame(op, b"k1", b"", b"", 6, 0);
        let (r, n) = ok(&buf);
        assert_eq!(n, 26);
        assert_eq!(r.opcode.as_u8(), op);
        assert_eq!((r.quiet, r.with_key, r.opaque), (quiet, with_key, 6));
        assert_eq!(r.command, BinCommand::Get { key: b"k1" });
    }
}

#[test]
fn parse_get_literal_bytes() {
    // Get "nokey", opaque 0x11223344, as a client sends it.
    let buf = hex("80000005 00000000 00000005 11223344 0000000000000000 6e6f6b6579");
    let (r, n) = ok(&buf);
    assert_eq!(n, buf.len());
    assert_eq!(r.opaque, 0x1122_3344);
    assert_eq!(r.key, b"nokey");
    assert_eq!(r.command, BinCommand::Get { key: b"nokey" });
}

#[test]
fn parse_storage() {
    for (op, want, quiet) in [
        (0x01, StoreOp::Set, false),
        (0x02, StoreOp::Add, false),
        (0x03, StoreOp::Replace, false),
        (0x11, StoreOp::Set, true),
        (0x12, StoreOp::Add, true),
        (0x13, StoreOp::Replace, true),
    ] {
        let buf = frame(op, b"k1", &set_extras(0xdead_beef, 300), b"hello", 5, 77);
        let (r, n) = ok(&buf);
        assert_eq!(n, buf.len());
        assert_eq!((r.quiet, r.cas, r.value), (quiet, 77, &b"hello"[..]));
        assert_eq!(
            r.command,
            BinCommand::Store {
                op: want,
                key: b"k1",
                flags: 0xdead_beef,
                exptime: 300,
                value: b"hello"
            }
        );
    }
    // Empty value is fine.
    let buf = frame(0x01, b"k", &set_extras(0, 0), b"", 1, 0);
    assert!(matches!(
        ok(&buf).0.command,
        BinCommand::Store { value: b"", .. }
    ));
}

#[test]
fn parse_concat() {
    for (op, append, quiet) in [
        (0x0e, true, false),
        (0x0f, false, false),
        (0x19, true, true),
        (0x1a, false, true),
    ] {
        let buf = frame(op, b"k1", b"", b"++", 9, 3);
        let (r, n) = ok(&buf);
        assert_eq!((n, r.quiet, r.cas), (buf.len(), quiet, 3));
        assert_eq!(
            r.command,
            BinCommand::Concat {
                append,
                key: b"k1",
                value: b"++"
            }
        );
    }
    // memcached accepts an empty append (answers from the store).
    let buf = frame(0x0e, b"k1", b"", b"", 9, 0);
    assert!(matches!(
        ok(&buf).0.command,
        BinCommand::Concat { value: b"", .. }
    ));
}

#[test]
fn parse_delete() {
    for (op, quiet) in [(0x04, false), (0x14, true)] {
        let buf = frame(op, b"k2", b"", b"", 10, 5);
        let (r, n) = ok(&buf);
        assert_eq!((n, r.quiet, r.cas), (26, quiet, 5));
        assert_eq!(r.command, BinCommand::Delete { key: b"k2" });
    }
}

#[test]
fn parse_arith() {
    for (op, incr, quiet) in [
        (0x05, true, false),
        (0x06, false, false),
        (0x15, true, true),
        (0x16, false, true),
    ] {
        let buf = frame(op, b"n", &incr_extras(5, 100, NO_AUTOCREATE), b"", 11, 0);
        let (r, n) = ok(&buf);
        assert_eq!((n, r.quiet), (buf.len(), quiet));
        assert_eq!(
            r.command,
            BinCommand::Arith {
                incr,
                key: b"n",
                delta: 5,
                initial: 100,
                exptime: NO_AUTOCREATE
            }
        );
    }
}

#[test]
fn parse_touch_and_gat() {
    let exp = 100u32.to_be_bytes();
    let buf = frame(0x1c, b"k1", &exp, b"", 14, 0);
    let (r, n) = ok(&buf);
    assert_eq!(n, 30);
    assert_eq!(
        r.command,
        BinCommand::Touch {
            key: b"k1",
            exptime: 100
        }
    );
    for (op, quiet, with_key) in [
        (0x1d, false, false),
        (0x1e, true, false),
        (0x23, false, true),
        (0x24, true, true),
    ] {
        let buf = frame(op, b"k1", &exp, b"", 14, 0);
        let (r, n) = ok(&buf);
        assert_eq!((n, r.quiet, r.with_key), (30, quiet, with_key));
        assert_eq!(
            r.command,
            BinCommand::Gat {
                key: b"k1",
                exptime: 100
            }
        );
    }
}

#[test]
fn touch_and_stat_with_trailing_body_consume_only_header_extras_key() {
    // memcached consumes header+extras+key and parses the rest as the next frame.
    let mut buf = frame_bl(0x10, b"reset", b"", b"", 3, 0, Some(5 + 24));
    buf.extend(frame(0x0a, b"", b"", b"", 9, 0));
    let (r, n) = ok(&buf);
    assert_eq!((n, r.command), (29, BinCommand::Stat { key: b"reset" }));
    let (r, n) = ok(&buf[29..]);
    assert_eq!((n, r.command, r.opaque), (24, BinCommand::NoOp, 9));

    let mut buf = frame(0x1c, b"k1", &[0; 4], b"zz", 3, 0);
    buf.extend(frame(0x0a, b"", b"", b"", 9, 0));
    let (_, n) = ok(&buf);
    assert_eq!(n, 30);
    assert!(err(&buf[n..]).close); // "zz" + ... is a bad magic: memcached closes too
}

#[test]
fn parse_flush_version_noop_quit_stat() {
    for (op, quiet) in [(0x08, false), (0x18, true)] {
        let buf = frame(op, b"", b"", b"", 3, 0);
        let (r, n) = ok(&buf);
        assert_eq!(
            (n, r.quiet, r.command),
            (24, quiet, BinCommand::Flush { exptime: 0 })
        );
        let buf = frame(op, b"", &60u32.to_be_bytes(), b"", 3, 0);
        let (r, n) = ok(&buf);
        assert_eq!((n, r.command), (28, BinCommand::Flush { exptime: 60 }));
    }
    let buf = frame(0x0b, b"", b"", b"", 1, 0);
    assert_eq!(ok(&buf).0.command, BinCommand::Version);
    let buf = frame(0x0a, b"", b"", b"", 1, 0);
    assert_eq!(ok(&buf).0.command, BinCommand::NoOp);
    let buf = frame(0x07, b"", b"", b"", 1, 0);
    let (r, _) = ok(&buf);
    assert_eq!((r.command, r.quiet), (BinCommand::Quit, false));
    let buf = frame(0x17, b"", b"", b"", 1, 0);
    let (r, _) = ok(&buf);
    assert_eq!((r.command, r.quiet), (BinCommand::Quit, true));
    let buf = frame(0x10, b"", b"", b"", 7, 55);
    let (r, n) = ok(&buf);
    assert_eq!(
        (r.command, n, r.cas),
        (BinCommand::Stat { key: b"" }, 24, 55)
    );
    let buf = frame(0x10, b"items", b"", b"", 7, 0);
    let (r, _) = ok(&buf);
    assert_eq!(r.command, BinCommand::Stat { key: b"items" });
}

#[test]
fn header_fields_are_passed_through() {
    let mut buf = frame(0x00, b"k1", b"", b"", 3, 0);
    buf[5] = 1; // data type
    buf[6..8].copy_from_slice(&5u16.to_be_bytes()); // vbucket
    let (r, _) = ok(&buf);
    assert_eq!((r.data_type, r.vbucket), (1, 5));
}

#[test]
fn incomplete_frames_wait() {
    assert_eq!(parse(&[], MAX), Ok(None));
    assert_eq!(parse(&[0x80; 23], MAX), Ok(None));
    // Key bytes missing, even when the lengths are already invalid (memcached waits).
    let buf = frame(0x00, &[b'a'; 300], b"", b"", 3, 0);
    for cut in [24, 25, 323] {
        assert_eq!(parse(&buf[..cut], MAX), Ok(None));
    }
    let buf = frame_bl(0x00, b"kkk", b"", b"", 3, 0, Some(1));
    assert_eq!(parse(&buf[..26], MAX), Ok(None));
    // Set value missing.
    let buf = frame(0x01, b"k", &set_extras(0, 0), b"value", 3, 0);
    assert_eq!(parse(&buf[..buf.len() - 1], MAX), Ok(None));
}

// ---------------------------------------------------------------- request errors

fn assert_closes(e: &BinError, status: Status, opcode: u8, opaque: u32) {
    assert_eq!(e.status, Some(status));
    assert_eq!(
        (e.opcode, e.opaque, e.close, e.swallow),
        (opcode, opaque, true, 0)
    );
}

#[test]
fn bad_magic_closes_silently() {
    let mut buf = frame(0x0a, b"", b"", b"", 1, 0);
    buf[0] = 0x81;
    let e = err(&buf);
    assert_eq!((e.status, e.close), (None, true));
    let mut out = Vec::new();
    e.write_reply(&mut out);
    assert!(out.is_empty());
    assert_eq!(e.key(&buf), b"");
    assert!(err(&[0u8; 24]).close);
}

#[test]
fn key_and_extras_longer_than_body_is_unknown_command_and_close() {
    let buf = frame_bl(0x00, b"kkk", b"", b"", 3, 0, Some(1));
    assert_closes(&err(&buf), Status::UnknownCommand, 0x00, 3);
    let buf = frame_bl(0x01, b"kkk", &[0; 8], b"", 3, 0, Some(5));
    assert_closes(&err(&buf), Status::UnknownCommand, 0x01, 3);
    // Even for unknown opcodes: this check comes first.
    let buf = frame_bl(0x50, b"kkk", b"", b"", 3, 0, Some(1));
    assert_closes(&err(&buf), Status::UnknownCommand, 0x50, 3);
}

#[test]
fn key_over_250_is_invalid_and_close() {
    let buf = frame(0x00, &[b'a'; 251], b"", b"", 3, 0);
    assert_closes(&err(&buf), Status::InvalidArguments, 0x00, 3);
    let buf = frame(0x50, &[b'a'; 251], b"", b"", 3, 0);
    assert_closes(&err(&buf), Status::InvalidArguments, 0x50, 3);
    let buf = frame(0x00, &[b'a'; 250], b"", b"", 3, 0);
    assert_eq!(ok(&buf).1, 274);
}

#[test]
fn wrong_shapes_are_invalid_and_close() {
    let e4 = [0u8; 4];
    let e8 = set_extras(0, 0);
    let e20 = incr_extras(1, 0, 0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("get with extras", frame(0x00, b"k", &e4, b"", 3, 0)),
        ("get without key", frame(0x00, b"", b"", b"", 3, 0)),
        ("get with value", frame(0x00, b"k", b"", b"zz", 3, 0)),
        ("getkq with value", frame(0x0d, b"k", b"", b"zz", 3, 0)),
        ("set extras 4", frame(0x01, b"k", &e4, b"v", 3, 0)),
        ("set without key", frame(0x01, b"", &e8, b"v", 3, 0)),
        ("addq extras 0", frame(0x12, b"k", b"", b"v", 3, 0)),
        ("noop with body", frame(0x0a, b"", b"", b"x", 3, 0)),
        ("version with key", frame(0x0b, b"x", b"", b"", 3, 0)),
        ("quit with key", frame(0x07, b"x", b"", b"", 3, 0)),
        ("quitq with value", frame(0x17, b"", b"", b"x", 3, 0)),
        ("incr extras 8", frame(0x05, b"n", &e8, b"", 3, 0)),
        ("incr with value", frame(0x05, b"n", &e20, b"zz", 3, 0)),
        ("decrq no key", frame(0x16, b"", &e20, b"", 3, 0)),
        ("flush extras 8", frame(0x08, b"", &e8, b"", 3, 0)),
        ("flush with key", frame(0x08, b"k", b"", b"", 3, 0)),
        ("flush with value", frame(0x18, b"", b"", b"v", 3, 0)),
        ("touch extras 0", frame(0x1c, b"k", b"", b"", 3, 0)),
        ("touch without key", frame(0x1c, b"", &e4, b"", 3, 0)),
        ("gatkq extras 8", frame(0x24, b"k", &e8, b"", 3, 0)),
        ("append with extras", frame(0x0e, b"k", &e4, b"v", 3, 0)),
        ("prependq without key", frame(0x1a, b"", b"", b"v", 3, 0)),
        ("delete with extras", frame(0x04, b"k", &e4, b"", 3, 0)),
        ("delete with value", frame(0x14, b"k", b"", b"v", 3, 0)),
        ("stat with extras", frame(0x10, b"x", &e4, b"", 3, 0)),
        ("sasl list with key", frame(0x20, b"x", b"", b"", 3, 0)),
        ("sasl auth without key", frame(0x21, b"", b"", b"pw", 3, 0)),
        (
            "sasl step with extras",
            frame(0x22, b"PLAIN", b"ab", b"pw", 3, 0),
        ),
    ];
    for (name, buf) in cases {
        let e = err(&buf);
        assert_eq!(e.status, Some(Status::InvalidArguments), "{name}");
        assert!(e.close && e.swallow == 0, "{name}");
        assert_eq!((e.opcode, e.opaque), (buf[1], 3), "{name}");
    }
}

#[test]
fn unknown_opcodes_swallow_the_frame_and_stay_open() {
    for op in [
        0x1b, 0x1f, 0x25, 0x2f, 0x30, 0x3c, 0x3d, 0x60, 0x64, 0x66, 0xff,
    ] {
        let buf = frame(op, b"ab", b"xy", b"123", 3, 0);
        let e = err(&buf);
        assert_eq!(e.status, Some(Status::UnknownCommand), "{op:#x}");
        assert_eq!((e.close, e.swallow, e.opcode), (false, 24 + 7, op));
    }
    // Decided from header+extras+key alone; the body may not have arrived.
    let buf = frame_bl(0x50, b"", b"", b"", 3, 0, Some(u32::MAX));
    assert_eq!(err(&buf).swallow, 24 + u32::MAX as usize);
}

#[test]
fn sasl_requests_are_surfaced_whole() {
    let buf = frame(0x20, b"", b"", b"", 3, 0);
    let (req, n) = parse(&buf, 1 << 20).expect("ok").expect("complete");
    assert_eq!((req.command, n), (BinCommand::SaslListMechs, 24));
    for (op, step) in [(0x21, false), (0x22, true)] {
        let buf = frame(op, b"PLAIN", b"", b"\0u\0p", 3, 0);
        let (req, n) = parse(&buf, 1 << 20).expect("ok").expect("complete");
        assert_eq!(n, buf.len());
        assert_eq!(
            req.command,
            BinCommand::SaslAuth {
                step,
                mech: b"PLAIN",
                data: b"\0u\0p"
            }
        );
        // Incomplete data waits.
        assert_eq!(parse(&buf[..buf.len() - 1], 1 << 20), Ok(None));
    }
}

#[test]
fn too_large_swallows_before_the_value_arrives() {
    let mut buf = frame(0x01, b"big", &set_extras(0, 0), &[b'x'; 11], 2, 0);
    buf.truncate(24 + 8 + 3); // header + extras + key only
    let e = parse(&buf, 10).expect_err("too large");
    assert_eq!(e.status, Some(Status::ValueTooLarge));
    assert_eq!((e.close, e.swallow, e.opaque), (false, 24 + 8 + 3 + 11, 2));
    assert_eq!(e.key(&buf), b"big");
    assert!(e.unlinks_key());
    // Exactly the limit is fine.
    let buf = frame(0x11, b"big", &set_extras(0, 0), &[b'x'; 10], 2, 0);
    assert!(matches!(parse(&buf, 10), Ok(Some(_))));
    // SetQ too large still answers (errors ignore quiet) and unlinks.
    let buf = frame(0x11, b"big", &set_extras(0, 0), &[b'x'; 11], 2, 0);
    let e = parse(&buf, 10).expect_err("too large");
    assert!(e.unlinks_key() && should_reply(Opcode::SetQ, Status::ValueTooLarge));
    // Add/append too large do not unlink.
    for (op, ext) in [(0x02u8, set_extras(0, 0)), (0x0e, vec![]), (0x1a, vec![])] {
        let buf = frame(op, b"big", &ext, &[b'x'; 11], 2, 0);
        let e = parse(&buf, 10).expect_err("too large");
        assert_eq!(
            (e.status, e.unlinks_key()),
            (Some(Status::ValueTooLarge), false)
        );
        assert_eq!(e.swallow, buf.len());
    }
}

#[test]
fn error_reply_bytes() {
    let mut buf = frame(0x00, b"k", &[1, 2, 3, 4], b"", 3, 0);
    let mut out = Vec::new();
    err(&buf).write_reply(&mut out);
    assert_eq!(
        out,
        hex("810000000000000400000011000000030000000000000000496e76616c696420617267756d656e7473")
    );
    buf = frame(0x1b, b"", &[0, 0, 0, 1], b"", 3, 0);
    out.clear();
    err(&buf).write_reply(&mut out);
    assert_eq!(
        out,
        hex("811b0000000000810000000f000000030000000000000000556e6b6e6f776e20636f6d6d616e64")
    );
}

#[test]
fn quiet_reply_rules() {
    use Opcode::*;
    use Status::*;
    assert!(should_reply(Get, KeyNotFound) && should_reply(Set, Success));
    assert!(!should_reply(GetQ, KeyNotFound) && should_reply(GetQ, Success));
    assert!(!should_reply(GetKQ, KeyNotFound) && should_reply(GetKQ, Success));
    assert!(!should_reply(GatQ, KeyNotFound) && should_reply(GatKQ, Success));
    assert!(!should_reply(SetQ, Success) && should_reply(AddQ, KeyExists));
    assert!(!should_reply(DeleteQ, Success) && should_reply(DeleteQ, KeyNotFound));
    assert!(!should_reply(IncrementQ, Success) && should_reply(DecrementQ, NonNumeric));
    assert!(!should_reply(FlushQ, Success) && !should_reply(QuitQ, Success));
    assert!(should_reply(PrependQ, NotStored) && should_reply(ReplaceQ, KeyNotFound));
}

// ---------------------------------------------------------------- responses (memcached 1.6.18 transcripts)

fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

#[test]
fn transcript_get_family() {
    // Get miss: "Not found" body, cas 0.
    assert_eq!(
        enc(|o| encode::get_miss(o, 0x00, 0x1122_3344, None)),
        hex("8100000000000001000000091122334400000000000000004e6f7420666f756e64")
    );
    // GetK miss: status 1, the key, no message.
    assert_eq!(
        enc(|o| encode::get_miss(o, 0x0c, 1, Some(b"nokey"))),
        hex("810c000500000001000000050000000100000000000000006e6f6b6579")
    );
    // Get/GetQ hit: flags extras, value, cas; GetK/GetKQ also the key.
    assert_eq!(
        enc(|o| encode::get_hit(o, 0x00, 6, 1, 0xdead_beef, None, b"hello")),
        hex("810000000400000000000009000000060000000000000001deadbeef68656c6c6f")
    );
    assert_eq!(
        enc(|o| encode::get_hit(o, 0x09, 6, 1, 0xdead_beef, None, b"hello")),
        hex("810900000400000000000009000000060000000000000001deadbeef68656c6c6f")
    );
    assert_eq!(
        enc(|o| encode::get_hit(o, 0x0c, 6, 1, 0xdead_beef, Some(b"k1"), b"hello")),
        hex("810c0002040000000000000b000000060000000000000001deadbeef6b3168656c6c6f")
    );
    assert_eq!(
        enc(|o| encode::get_hit(o, 0x0d, 6, 1, 0xdead_beef, Some(b"k1"), b"hello")),
        hex("810d0002040000000000000b000000060000000000000001deadbeef6b3168656c6c6f")
    );
}

#[test]
fn transcript_touch_and_gat() {
    assert_eq!(
        enc(|o| encode::touch_hit(o, 0x1c, 14, 3, 0xdead_beef)),
        hex("811c000004000000000000040000000e0000000000000003deadbeef")
    );
    assert_eq!(
        enc(|o| encode::get_miss(o, 0x1c, 14, None)),
        hex("811c000000000001000000090000000e00000000000000004e6f7420666f756e64")
    );
    assert_eq!(
        enc(|o| encode::get_hit(o, 0x1d, 14, 3, 0xdead_beef, None, b"hello++")),
        hex("811d0000040000000000000b0000000e0000000000000003deadbeef68656c6c6f2b2b")
    );
    assert_eq!(
        enc(|o| encode::get_hit(o, 0x23, 14, 3, 0xdead_beef, Some(b"k1"), b"hello++")),
        hex("81230002040000000000000d0000000e0000000000000003deadbeef6b3168656c6c6f2b2b")
    );
    assert_eq!(
        enc(|o| encode::get_hit(o, 0x24, 14, 3, 0xdead_beef, Some(b"k1"), b"hello++")),
        hex("81240002040000000000000d0000000e0000000000000003deadbeef6b3168656c6c6f2b2b")
    );
    assert_eq!(
        enc(|o| encode::get_miss(o, 0x23, 14, Some(b"kx"))),
        hex("8123000200000001000000020000000e00000000000000006b78")
    );
}

#[test]
fn transcript_storage() {
    // Set success carries the new cas, no body.
    assert_eq!(
        enc(|o| encode::status_only(o, 0x01, Status::Success, 5, 1)),
        hex("810100000000000000000000000000050000000000000001")
    );
    assert_eq!(
        enc(|o| encode::status_only(o, 0x0e, Status::Success, 9, 3)),
        hex("810e00000000000000000000000000090000000000000003")
    );
    // Add of an existing key / Set with a stale cas / Incr with a stale cas.
    let exists = "446174612065786973747320666f72206b65792e";
    assert_eq!(
        enc(|o| encode::error(o, 0x02, Status::KeyExists, 7)),
        hex(&format!(
            "810200000000000200000014000000070000000000000000{exists}"
        ))
    );
    assert_eq!(
        enc(|o| encode::error(o, 0x12, Status::KeyExists, 7)),
        hex(&format!(
            "811200000000000200000014000000070000000000000000{exists}"
        ))
    );
    // Replace miss / Set with cas on a missing key.
    assert_eq!(
        enc(|o| encode::error(o, 0x03, Status::KeyNotFound, 8)),
        hex("8103000000000001000000090000000800000000000000004e6f7420666f756e64")
    );
    // Append miss.
    assert_eq!(
        enc(|o| encode::error(o, 0x0e, Status::NotStored, 9)),
        hex("810e0000000000050000000b0000000900000000000000004e6f742073746f7265642e")
    );
    assert_eq!(
        enc(|o| encode::error(o, 0x1a, Status::NotStored, 9)),
        hex("811a0000000000050000000b0000000900000000000000004e6f742073746f7265642e")
    );
    // Too large (Set, then SetQ: errors are never quiet).
    assert_eq!(
        enc(|o| encode::error(o, 0x01, Status::ValueTooLarge, 2)),
        hex("81010000000000030000000a000000020000000000000000546f6f206c617267652e")
    );
    assert_eq!(
        enc(|o| encode::error(o, 0x11, Status::ValueTooLarge, 2)),
        hex("81110000000000030000000a000000020000000000000000546f6f206c617267652e")
    );
}

#[test]
fn transcript_delete_arith() {
    // Delete success: cas 0.
    assert_eq!(
        enc(|o| encode::status_only(o, 0x04, Status::Success, 10, 0)),
        hex("8104000000000000000000000000000a0000000000000000")
    );
    assert_eq!(
        enc(|o| encode::error(o, 0x14, Status::KeyNotFound, 10)),
        hex("8114000000000001000000090000000a00000000000000004e6f7420666f756e64")
    );
    // Incr creating the counter from `initial` (100), cas 4.
    assert_eq!(
        enc(|o| encode::incr_result(o, 0x05, 11, 4, 100)),
        hex("8105000000000000000000080000000b00000000000000040000000000000064")
    );
    assert_eq!(
        enc(|o| encode::incr_result(o, 0x06, 2, 15, 7)),
        hex("81060000000000000000000800000002000000000000000f0000000000000007")
    );
    assert_eq!(
        enc(|o| encode::error(o, 0x05, Status::NonNumeric, 11)),
        hex("81050000000000060000002e0000000b0000000000000000\
             4e6f6e2d6e756d65726963207365727665722d736964652076616c756520666f7220696e6372206f722064656372")
    );
}

#[test]
fn transcript_misc() {
    assert_eq!(
        enc(|o| encode::version(o, 12, b"1.6.18")),
        hex("810b000000000000000000060000000c0000000000000000312e362e3138")
    );
    assert_eq!(
        enc(|o| encode::status_only(o, 0x0a, Status::Success, 0xdead, 0)),
        hex("810a000000000000000000000000dead0000000000000000")
    );
    assert_eq!(
        enc(|o| encode::status_only(o, 0x07, Status::Success, 3, 0)),
        hex("810700000000000000000000000000030000000000000000")
    );
    assert_eq!(
        enc(|o| encode::status_only(o, 0x08, Status::Success, 3, 0)),
        hex("810800000000000000000000000000030000000000000000")
    );
    // Flush with -F (flush disabled).
    assert_eq!(
        enc(|o| encode::error(o, 0x08, Status::AuthError, 9)),
        hex("81080000000000200000000d00000009000000000000000041757468206661696c7572652e")
    );
    // SASL list mechs without SASL; Verbosity; key+extras > body.
    let unknown = "0000000f000000030000000000000000556e6b6e6f776e20636f6d6d616e64";
    for op in ["20", "1b", "00"] {
        let byte = u8::from_str_radix(op, 16).expect("hex");
        assert_eq!(
            enc(|o| encode::error(o, byte, Status::UnknownCommand, 3)),
            hex(&format!("81{op}00000000 0081 {unknown}"))
        );
    }
}

#[test]
fn transcript_stats() {
    // "stats" streams one frame per stat (key = name, body = value, cas 0) ...
    assert_eq!(
        enc(|o| encode::stat(o, 7, b"pid", b"9309")),
        hex("81100003000000000000000700000007000000000000000070696439333039")
    );
    assert_eq!(
        enc(|o| encode::stat(o, 7, b"1:chunk_size", b"96")),
        hex("8110000c000000000000000e000000070000000000000000313a6368756e6b5f73697a653936")
    );
    // ... and ends with an empty one (also the whole answer to "reset" / empty "items");
    // cas 0 even if the request had a cas.
    assert_eq!(
        enc(|o| encode::stat_end(o, 7)),
        hex("811000000000000000000000000000070000000000000000")
    );
    // Unknown group.
    assert_eq!(
        enc(|o| encode::error(o, 0x10, Status::KeyNotFound, 7)),
        hex("8110000000000001000000090000000700000000000000004e6f7420666f756e64")
    );
}

#[test]
fn raw_header_encoder() {
    let out = enc(|o| encode::header(o, 0x01, Status::KeyExists, 1, 2, 3, 4, 5));
    assert_eq!(
        out,
        hex("81010001 02000002 00000003 00000004 0000000000000005")
    );
}

// ---------------------------------------------------------------- properties

fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
    let ops = prop::sample::select(vec![
        0x00u8, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c, 0x1d, 0x1e,
        0x23, 0x24,
    ]);
    (
        ops,
        prop::collection::vec(any::<u8>(), 1..40),
        prop::collection::vec(any::<u8>(), 0..60),
        any::<u32>(),
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(|(op, key, value, opaque, cas, x)| {
            let x4 = x.to_be_bytes();
            let x8 = set_extras(x, x.rotate_left(7));
            let x20 = incr_extras(u64::from(x), u64::from(x) << 3, x);
            match Opcode::from_u8(op).map(Opcode::loud) {
                Some(Opcode::Set | Opcode::Add | Opcode::Replace) => {
                    frame(op, &key, &x8, &value, opaque, cas)
                }
                Some(Opcode::Append | Opcode::Prepend) => frame(op, &key, b"", &value, opaque, cas),
                Some(Opcode::Increment | Opcode::Decrement) => {
                    frame(op, &key, &x20, b"", opaque, cas)
                }
                Some(Opcode::Touch | Opcode::Gat | Opcode::GatK) => {
                    frame(op, &key, &x4, b"", opaque, cas)
                }
                Some(Opcode::Flush) => frame(op, b"", &x4, b"", opaque, cas),
                Some(Opcode::Stat) => frame(op, &key, b"", b"", opaque, cas),
                Some(Opcode::Get | Opcode::GetK | Opcode::Delete) => {
                    frame(op, &key, b"", b"", opaque, cas)
                }
                _ => frame(op, b"", b"", b"", opaque, cas),
            }
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..400), max in 0usize..300) {
        match parse(&buf, max) {
            Ok(Some((_, n))) => prop_assert!(n <= buf.len() && n >= HEADER_LEN),
            Ok(None) => {}
            Err(e) => {
                let _ = e.key(&buf);
                let mut out = Vec::new();
                e.write_reply(&mut out);
                prop_assert!(e.close || e.swallow >= HEADER_LEN);
            }
        }
    }

    #[test]
    fn random_header_with_magic_never_panics(
        head in prop::collection::vec(any::<u8>(), 23),
        tail in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut buf = vec![0x80];
        buf.extend(head);
        buf.extend(tail);
        if let Ok(Some((_, n))) = parse(&buf, 64) {
            prop_assert!(n <= buf.len());
        }
    }

    #[test]
    fn split_at_every_boundary(f in arb_frame()) {
        let whole = parse(&f, MAX);
        let (req, n) = whole.expect("valid").expect("complete");
        prop_assert_eq!(n, f.len());
        for cut in 0..f.len() {
            prop_assert_eq!(parse(&f[..cut], MAX), Ok(None), "cut {}", cut);
        }
        // Extra bytes after the frame change nothing.
        let mut more = f.clone();
        more.extend_from_slice(&[0x80, 0x0a, 0, 0]);
        prop_assert_eq!(parse(&more, MAX), Ok(Some((req, n))));
    }

    #[test]
    fn pipeline_of_quiet_gets_and_noop(keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..20), 1..50)) {
        let mut buf = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let op = if i % 2 == 0 { 0x09 } else { 0x0d };
            buf.extend(frame(op, k, b"", b"", i as u32, 0));
        }
        buf.extend(frame(0x0a, b"", b"", b"", 0xffff, 0));
        let mut at = 0;
        for (i, k) in keys.iter().enumerate() {
            let (r, n) = parse(&buf[at..], MAX).expect("valid").expect("complete");
            prop_assert!(r.quiet);
            prop_assert_eq!(r.opaque, i as u32);
            prop_assert_eq!(r.with_key, i % 2 == 1);
            prop_assert_eq!(r.command, BinCommand::Get { key: k.as_slice() });
            at += n;
        }
        let (r, n) = parse(&buf[at..], MAX).expect("valid").expect("complete");
        prop_assert_eq!((r.command, r.opaque), (BinCommand::NoOp, 0xffff));
        prop_assert_eq!(at + n, buf.len());
    }
}

#[test]
fn elasticache_config_opcodes_parse() {
    let buf = frame(0x60, b"cluster", b"", b"", 3, 0);
    let (req, n) = parse(&buf, 1 << 20).expect("ok").expect("complete");
    assert_eq!(
        (req.command, n),
        (BinCommand::ConfigGet { key: b"cluster" }, buf.len())
    );
    let buf = frame(0x66, b"cluster", b"", b"", 3, 0);
    let (req, _) = parse(&buf, 1 << 20).expect("ok").expect("complete");
    assert_eq!(req.command, BinCommand::ConfigDelete { key: b"cluster" });
    for extras in [&b""[..], &[0u8; 8][..]] {
        let buf = frame(0x64, b"cluster", extras, b"2\nh|1.2.3.4|11211\n", 3, 0);
        let (req, n) = parse(&buf, 1 << 20).expect("ok").expect("complete");
        assert_eq!(n, buf.len());
        assert_eq!(
            req.command,
            BinCommand::ConfigSet {
                key: b"cluster",
                value: b"2\nh|1.2.3.4|11211\n"
            }
        );
    }
}
