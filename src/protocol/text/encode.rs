//! Encoders for text-protocol replies. Each appends to `out`.

use crate::protocol::Reply;

/// Appends a one-line reply with its `\r\n`.
pub fn reply(out: &mut Vec<u8>, r: &Reply<'_>) {
    let _ = (out, r);
    todo!()
}

/// Appends `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`.
pub fn value(out: &mut Vec<u8>, key: &[u8], flags: u32, data: &[u8], cas: Option<u64>) {
    let _ = (out, key, flags, data, cas);
    todo!()
}

/// Appends `END\r\n`.
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"END\r\n");
}

/// Appends `STAT <name> <value>\r\n`.
pub fn stat(out: &mut Vec<u8>, name: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    let _ = write!(out, "STAT {name} {value}\r\n");
}
