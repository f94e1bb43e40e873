//! Request encoding: `get`/`set` in the text protocol or as binary Get/Set frames (the
//! binary magic and opcodes live here and are shared with reply.rs).
//!
//! Owns: the bytes of a request. Must not touch: which key comes next (workload.rs), reply
//! parsing, sockets.

use std::io::Write;

use crate::keys::{KeyStyle, push_key};
use crate::workload::Shared;

/// Binary request magic and the opcodes used.
pub(crate) const BIN_REQ: u8 = 0x80;
pub(crate) const BIN_RES: u8 = 0x81;
pub(crate) const BIN_GET: u8 = 0x00;
pub(crate) const BIN_SET: u8 = 0x01;

/// A binary request header (vbucket, opaque and cas 0).
pub(crate) fn push_bin_header(
    out: &mut Vec<u8>,
    op: u8,
    key_len: usize,
    extras_len: u8,
    body_len: usize,
) {
    out.push(BIN_REQ);
    out.push(op);
    out.extend_from_slice(&(key_len as u16).to_be_bytes());
    out.push(extras_len);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
    out.extend_from_slice(&[0; 12]);
}

/// `get <key>` or a binary Get.
pub(crate) fn push_get(sh: &Shared, style: KeyStyle, n: u64, out: &mut Vec<u8>) {
    if sh.args.binary {
        let mut key = Vec::with_capacity(32);
        push_key(&mut key, style, &sh.args.key_prefix, n);
        push_bin_header(out, BIN_GET, key.len(), 0, key.len());
        out.extend_from_slice(&key);
        return;
    }
    out.extend_from_slice(b"get ");
    push_key(out, style, &sh.args.key_prefix, n);
    out.extend_from_slice(b"\r\n");
}

pub(crate) fn push_set(sh: &Shared, style: KeyStyle, n: u64, out: &mut Vec<u8>) {
    let v = sh.values.value(n);
    if sh.args.binary {
        let mut key = Vec::with_capacity(32);
        push_key(&mut key, style, &sh.args.key_prefix, n);
        push_bin_header(out, BIN_SET, key.len(), 8, 8 + key.len() + v.len());
        out.extend_from_slice(&[0; 8]); // flags, exptime
        out.extend_from_slice(&key);
        out.extend_from_slice(v);
        return;
    }
    out.extend_from_slice(b"set ");
    push_key(out, style, &sh.args.key_prefix, n);
    let _ = write!(out, " 0 0 {}\r\n", v.len());
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
}
