//! Binary-protocol helpers shared by tests/binary.rs and tests/differential_binary.rs:
//! request builders (raw bytes, independent of ferrocache's codec) and a frame reader on
//! top of `common::Client` (time-bounded reads).

#![allow(dead_code)]

use super::common::Client;

pub const GET: u8 = 0x00;
pub const SET: u8 = 0x01;
pub const ADD: u8 = 0x02;
pub const REPLACE: u8 = 0x03;
pub const DELETE: u8 = 0x04;
pub const INCR: u8 = 0x05;
pub const DECR: u8 = 0x06;
pub const QUIT: u8 = 0x07;
pub const FLUSH: u8 = 0x08;
pub const GETQ: u8 = 0x09;
pub const NOOP: u8 = 0x0a;
pub const VERSION: u8 = 0x0b;
pub const GETK: u8 = 0x0c;
pub const GETKQ: u8 = 0x0d;
pub const APPEND: u8 = 0x0e;
pub const PREPEND: u8 = 0x0f;
pub const STAT: u8 = 0x10;
pub const SETQ: u8 = 0x11;
pub const ADDQ: u8 = 0x12;
pub const REPLACEQ: u8 = 0x13;
pub const DELETEQ: u8 = 0x14;
pub const INCRQ: u8 = 0x15;
pub const DECRQ: u8 = 0x16;
pub const QUITQ: u8 = 0x17;
pub const FLUSHQ: u8 = 0x18;
pub const APPENDQ: u8 = 0x19;
pub const PREPENDQ: u8 = 0x1a;
pub const VERBOSITY: u8 = 0x1b;
pub const TOUCH: u8 = 0x1c;
pub const GAT: u8 = 0x1d;
pub const GATQ: u8 = 0x1e;
pub const SASL_LIST: u8 = 0x20;
pub const SASL_AUTH: u8 = 0x21;
pub const SASL_STEP: u8 = 0x22;
pub const GATK: u8 = 0x23;
pub const GATKQ: u8 = 0x24;

pub const ST_OK: u16 = 0x0000;
pub const ST_NOT_FOUND: u16 = 0x0001;
pub const ST_EXISTS: u16 = 0x0002;
pub const ST_TOO_LARGE: u16 = 0x0003;
pub const ST_EINVAL: u16 = 0x0004;
pub const ST_NOT_STORED: u16 = 0x0005;
pub const ST_NON_NUMERIC: u16 = 0x0006;
pub const ST_AUTH_ERROR: u16 = 0x0020;
pub const ST_UNKNOWN: u16 = 0x0081;

/// A request frame from its parts.
pub fn frame(op: u8, extras: &[u8], key: &[u8], value: &[u8], opaque: u32, cas: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(24 + extras.len() + key.len() + value.len());
    v.push(0x80);
    v.push(op);
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.push(extras.len() as u8);
    v.push(0);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    v.extend_from_slice(&opaque.to_be_bytes());
    v.extend_from_slice(&cas.to_be_bytes());
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}

/// A header with explicit (possibly inconsistent) lengths, no body.
pub fn raw_header(op: u8, key_len: u16, extras_len: u8, body_len: u32, opaque: u32) -> Vec<u8> {
    let mut v = vec![0x80, op];
    v.extend_from_slice(&key_len.to_be_bytes());
    v.push(extras_len);
    v.push(0);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&body_len.to_be_bytes());
    v.extend_from_slice(&opaque.to_be_bytes());
    v.extend_from_slice(&0u64.to_be_bytes());
    v
}

pub fn store_extras(flags: u32, exptime: u32) -> Vec<u8> {
    let mut e = flags.to_be_bytes().to_vec();
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

pub fn arith_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

/// Set/Add/Replace (and quiet variants) with flags, exptime and cas.
#[allow(clippy::too_many_arguments)]
pub fn store(
    op: u8,
    key: &str,
    value: &[u8],
    flags: u32,
    exptime: u32,
    opaque: u32,
    cas: u64,
) -> Vec<u8> {
    frame(
        op,
        &store_extras(flags, exptime),
        key.as_bytes(),
        value,
        opaque,
        cas,
    )
}

pub fn set(key: &str, value: &[u8]) -> Vec<u8> {
    store(SET, key, value, 0, 0, 0, 0)
}

/// Get-family / Delete: key only.
pub fn keyed(op: u8, key: &str, opaque: u32) -> Vec<u8> {
    frame(op, &[], key.as_bytes(), &[], opaque, 0)
}

pub fn arith(op: u8, key: &str, delta: u64, initial: u64, exptime: u32, opaque: u32) -> Vec<u8> {
    frame(
        op,
        &arith_extras(delta, initial, exptime),
        key.as_bytes(),
        &[],
        opaque,
        0,
    )
}

/// Touch / GAT family: 4-byte exptime extras.
pub fn touchlike(op: u8, key: &str, exptime: u32, opaque: u32) -> Vec<u8> {
    frame(op, &exptime.to_be_bytes(), key.as_bytes(), &[], opaque, 0)
}

pub fn bare(op: u8, opaque: u32) -> Vec<u8> {
    frame(op, &[], &[], &[], opaque, 0)
}

/// A decoded response frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resp {
    pub magic: u8,
    pub opcode: u8,
    pub data_type: u8,
    pub status: u16,
    pub opaque: u32,
    pub cas: u64,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl Resp {
    /// The 4-byte flags of a get/touch hit.
    pub fn flags(&self) -> u32 {
        assert_eq!(self.extras.len(), 4, "no flags extras in {self:?}");
        u32::from_be_bytes(self.extras[..4].try_into().unwrap())
    }

    /// The 8-byte counter of an incr/decr success.
    pub fn counter(&self) -> u64 {
        assert_eq!(self.value.len(), 8, "no 8-byte counter in {self:?}");
        u64::from_be_bytes(self.value[..8].try_into().unwrap())
    }

    /// Re-encode (for byte comparisons with the cas masked by the caller).
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = vec![self.magic, self.opcode];
        v.extend_from_slice(&(self.key.len() as u16).to_be_bytes());
        v.push(self.extras.len() as u8);
        v.push(self.data_type);
        v.extend_from_slice(&self.status.to_be_bytes());
        let body = self.extras.len() + self.key.len() + self.value.len();
        v.extend_from_slice(&(body as u32).to_be_bytes());
        v.extend_from_slice(&self.opaque.to_be_bytes());
        v.extend_from_slice(&self.cas.to_be_bytes());
        v.extend_from_slice(&self.extras);
        v.extend_from_slice(&self.key);
        v.extend_from_slice(&self.value);
        v
    }
}

/// Split one response frame off the front of `buf`: `Some((resp, consumed))` or `None`
/// if incomplete.
pub fn split_frame(buf: &[u8]) -> Option<(Resp, usize)> {
    if buf.len() < 24 {
        return None;
    }
    let key_len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let ext_len = usize::from(buf[4]);
    let body = u32::from_be_bytes(buf[8..12].try_into().unwrap()) as usize;
    if buf.len() < 24 + body {
        return None;
    }
    let b = &buf[24..24 + body];
    let ek = (ext_len + key_len).min(body);
    Some((
        Resp {
            magic: buf[0],
            opcode: buf[1],
            data_type: buf[5],
            status: u16::from_be_bytes([buf[6], buf[7]]),
            opaque: u32::from_be_bytes(buf[12..16].try_into().unwrap()),
            cas: u64::from_be_bytes(buf[16..24].try_into().unwrap()),
            extras: b[..ext_len.min(body)].to_vec(),
            key: b[ext_len.min(body)..ek].to_vec(),
            value: b[ek..].to_vec(),
        },
        24 + body,
    ))
}

/// Read one response frame (panics on timeout/EOF).
pub fn read_resp(c: &mut Client) -> Resp {
    let h = c.read_exact_n(24);
    assert_eq!(h[0], 0x81, "bad response magic in {h:02x?}");
    let body = u32::from_be_bytes(h[8..12].try_into().unwrap()) as usize;
    let mut all = h;
    all.extend(c.read_exact_n(body));
    split_frame(&all).unwrap().0
}

/// Send a request and read one response.
pub fn call(c: &mut Client, req: &[u8]) -> Resp {
    c.send(req);
    read_resp(c)
}

/// A Stat stream up to its terminator: (name, value) pairs.
pub fn read_stats(c: &mut Client, opaque: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let r = read_resp(c);
        assert_eq!(r.opcode, STAT, "non-stat frame in a stat stream: {r:?}");
        assert_eq!(r.status, ST_OK, "stat error: {r:?}");
        assert_eq!(r.opaque, opaque, "stat opaque");
        assert_eq!(r.cas, 0, "stat cas");
        if r.key.is_empty() && r.value.is_empty() && r.extras.is_empty() {
            return out;
        }
        out.push((
            String::from_utf8_lossy(&r.key).into_owned(),
            String::from_utf8_lossy(&r.value).into_owned(),
        ));
    }
    panic!("stat stream without terminator after 100000 frames");
}

/// SASL PLAIN message `\0user\0password`.
pub fn plain(user: &str, pass: &str) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(user.as_bytes());
    v.push(0);
    v.extend_from_slice(pass.as_bytes());
    v
}
