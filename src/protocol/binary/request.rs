//! Request framing and validation: bytes in, [`BinRequest`] (or [`BinError`]) out.
//!
//! Owns: [`parse`], which decides — exactly where memcached 1.6.18 decides — whether a
//! frame is complete, well formed, implemented, and small enough, and how many bytes
//! it occupies. It borrows key/extras/value from the caller's buffer and never
//! allocates. It does not touch the store, the clock or the socket: what a valid
//! request *does* is the server's business.
//!
//! Decision order (memcached's `try_read_command_binary` + `dispatch_bin_command`):
//! 1. fewer than 24 bytes -> `Ok(None)`;
//! 2. magic != 0x80 -> close, no reply;
//! 3. fewer than 24 + extras + key bytes -> `Ok(None)` (bounded: at most 65,814 bytes);
//! 4. key + extras > body -> `Unknown command`, close;
//! 5. key > 250 -> `Invalid arguments`, close;
//! 6. per-opcode extras/key/body shape wrong -> `Invalid arguments`, close;
//! 7. unimplemented opcode -> `Unknown command`, body swallowed, connection stays open;
//! 8. storage value > `max_body` -> `Too large.`, body swallowed (decided before the
//!    value arrives);
//! 9. storage commands wait for the whole value; everything else is complete already.

use super::header::{HEADER_LEN, MAX_KEY_LEN, Opcode, REQUEST_MAGIC, RequestHeader, Status};
use std::cell::Cell;

/// Incr/decr `exptime` meaning "do not create a missing counter" (reply `Not found`).
pub const NO_AUTOCREATE: u32 = 0xffff_ffff;

/// Set/Add/Replace and their quiet forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Set,
    Add,
    Replace,
}

/// What a well-formed, implemented request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinCommand<'a> {
    /// Get, GetQ, GetK, GetKQ.
    Get {
        key: &'a [u8],
    },
    /// GAT, GATQ, GATK, GATKQ: get and touch.
    Gat {
        key: &'a [u8],
        exptime: u32,
    },
    /// Touch: hit answers flags (as extras) and cas, no value.
    Touch {
        key: &'a [u8],
        exptime: u32,
    },
    /// Set/Add/Replace(+Q). A non-zero header cas makes it a compare-and-swap.
    Store {
        op: StoreOp,
        key: &'a [u8],
        flags: u32,
        exptime: u32,
        value: &'a [u8],
    },
    /// Append/Prepend(+Q); the value may be empty. Header cas is honoured.
    Concat {
        append: bool,
        key: &'a [u8],
        value: &'a [u8],
    },
    /// Delete(+Q); header cas, when non-zero, must match.
    Delete {
        key: &'a [u8],
    },
    /// Increment/Decrement(+Q). `exptime == NO_AUTOCREATE`: a miss is `Not found`;
    /// otherwise a miss stores `initial` (and answers it).
    Arith {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        initial: u64,
        exptime: u32,
    },
    /// Flush(+Q); `exptime` is 0 when the request carried no extras.
    Flush {
        exptime: u32,
    },
    /// Stat: empty key = all stats; otherwise a sub-group ("settings", "items", ...).
    Stat {
        key: &'a [u8],
    },
    Version,
    NoOp,
    /// Quit (answered, then close) and QuitQ (close silently).
    Quit,
    /// ElastiCache `config get <key>` (0x60); answered like a Get.
    ConfigGet {
        key: &'a [u8],
    },
    /// ElastiCache `config set <key>` (0x64): the value is the new configuration.
    ConfigSet {
        key: &'a [u8],
        value: &'a [u8],
    },
    /// ElastiCache `config delete <key>` (0x66).
    ConfigDelete {
        key: &'a [u8],
    },
    /// SASL list mechanisms.
    SaslListMechs,
    /// SASL auth (`step: false`) or step: `mech` is the key, `data` the body.
    SaslAuth {
        step: bool,
        mech: &'a [u8],
        data: &'a [u8],
    },
}

/// A complete, valid request borrowing from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinRequest<'a> {
    /// Opcode as sent (quiet opcodes stay quiet); echo `opcode.as_u8()` in the reply.
    pub opcode: Opcode,
    /// Quiet variant: see [`super::should_reply`].
    pub quiet: bool,
    /// GetK/GetKQ/GATK/GATKQ: hit and miss replies carry the key.
    pub with_key: bool,
    pub opaque: u32,
    pub cas: u64,
    /// Ignored by memcached.
    pub vbucket: u16,
    /// Ignored by memcached.
    pub data_type: u8,
    pub extras: &'a [u8],
    pub key: &'a [u8],
    /// Body after extras and key (only storage commands have one).
    pub value: &'a [u8],
    pub command: BinCommand<'a>,
}

/// A request that cannot be executed. The server writes [`BinError::write_reply`] (if
/// any), then either closes (`close`) or discards `swallow` bytes and carries on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinError {
    /// Reply status; `None` = write nothing (bad magic).
    pub status: Option<Status>,
    /// Opcode byte as sent, to echo.
    pub opcode: u8,
    /// Opaque as sent, to echo (0 for bad magic).
    pub opaque: u32,
    /// Bytes to discard, counted from the start of this frame (header included). May be
    /// larger than what is buffered: keep discarding as the rest arrives. 0 when `close`.
    pub swallow: usize,
    /// Close after writing the reply; the stream is no longer framed.
    pub close: bool,
    /// Extras length of the rejected frame (locates the key, see [`BinError::key`]).
    pub extras_len: u8,
    /// Key length of the rejected frame.
    pub key_len: u16,
}

impl BinError {
    /// The rejected frame's key, taken from the same buffer `parse` saw (empty for bad
    /// magic). memcached unlinks this key when a Set(Q) is `Too large.`
    /// (see [`BinError::unlinks_key`]).
    pub fn key<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        if self.status.is_none() {
            return &[];
        }
        let start = HEADER_LEN + usize::from(self.extras_len);
        buf.get(start..start + usize::from(self.key_len))
            .unwrap_or(&[])
    }

    /// memcached deletes the existing item when a Set/SetQ value is too large, so a
    /// failed overwrite never leaves stale data.
    pub fn unlinks_key(&self) -> bool {
        self.status == Some(Status::ValueTooLarge)
            && Opcode::from_u8(self.opcode).map(Opcode::loud) == Some(Opcode::Set)
    }

    /// Append the error reply (nothing for bad magic). Errors are sent even for quiet
    /// opcodes.
    pub fn write_reply(&self, out: &mut Vec<u8>) {
        if let Some(status) = self.status {
            super::encode::error(out, self.opcode, status, self.opaque);
        }
    }
}

/// Parse one request from the front of `buf`.
///
/// * `Ok(None)`: need more bytes (never an error while a frame is incomplete).
/// * `Ok(Some((req, consumed)))`: drop `consumed` bytes after handling `req`.
///   `consumed <= buf.len()`. It is 24 + body length except for Touch/GAT*/Stat, where
///   memcached consumes only header + extras + key and parses any trailing body bytes
///   as the next frame; we do the same.
/// * `Err(e)`: see [`BinError`].
///
/// `max_body` is the largest value (body minus extras and key) a Set/Add/Replace/
/// Append/Prepend may carry; larger ones are answered `Too large.` without waiting for
/// the value. memcached's own limit is item-size based (`-I` minus item overhead), so
/// pass the value limit the store can actually hold.
pub fn parse(buf: &[u8], max_body: usize) -> Result<Option<(BinRequest<'_>, usize)>, BinError> {
    parse_frame(buf, max_body, Body::Inline)
}

/// A storage request (Set, Add, Replace, Append, Prepend, SASL auth, config set) whose
/// header, extras and key are buffered and valid but whose value is not all there yet (see
/// [`incoming`]).
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The request as it will be, with an empty value.
    pub req: BinRequest<'a>,
    /// Bytes of header, extras and key.
    pub head_len: usize,
    /// Bytes of the value.
    pub value_len: usize,
}

/// Looks at a request that [`parse`] found incomplete: if only its value is missing, says
/// what it is and how long the value is, so that the value can be received elsewhere (into
/// the item reserved for it) and the request finished with [`parse_received`].
pub fn incoming(buf: &[u8], max_body: usize) -> Option<Incoming<'_>> {
    let wanted = Cell::new(None);
    match parse_frame(buf, max_body, Body::Probe(&wanted)) {
        Ok(Some((req, head_len))) => wanted.get().map(|value_len| Incoming {
            req,
            head_len,
            value_len,
        }),
        _ => None,
    }
}

/// Parses a request whose value of `value_len` bytes was received apart from its header,
/// extras and key (`head`, see [`incoming`]). The request's value is empty: the caller has
/// it.
pub fn parse_received(
    head: &[u8],
    value_len: usize,
    max_body: usize,
) -> Result<BinRequest<'_>, BinError> {
    match parse_frame(head, max_body, Body::Received(value_len))? {
        Some((req, _)) => Ok(req),
        None => Err(BinError {
            status: Some(Status::InvalidArguments),
            opcode: head.get(1).copied().unwrap_or(0),
            opaque: 0,
            swallow: 0,
            close: true,
            extras_len: 0,
            key_len: 0,
        }),
    }
}

/// Where a request's value is.
#[derive(Clone, Copy)]
enum Body<'c> {
    /// After the key, in the parsed buffer.
    Inline,
    /// Not looked for: record its length if it is not all buffered.
    Probe(&'c Cell<Option<usize>>),
    /// Received apart (this many bytes, not seen here).
    Received(usize),
}

fn parse_frame<'a>(
    buf: &'a [u8],
    max_body: usize,
    body: Body<'_>,
) -> Result<Option<(BinRequest<'a>, usize)>, BinError> {
    let Some(h) = RequestHeader::parse(buf) else {
        return Ok(None);
    };
    let fail = |status: Status, swallow: usize, close: bool| BinError {
        status: Some(status),
        opcode: h.opcode,
        opaque: h.opaque,
        swallow: if close { 0 } else { swallow },
        close,
        extras_len: h.extras_len,
        key_len: h.key_len,
    };
    if h.magic != REQUEST_MAGIC {
        return Err(BinError {
            status: None,
            opaque: 0,
            swallow: 0,
            close: true,
            ..fail(Status::InvalidArguments, 0, true)
        });
    }

    let ext_len = usize::from(h.extras_len);
    let key_len = usize::from(h.key_len);
    // Saturates only on 16-bit targets; on those a >64 KiB body is never buffered anyway.
    let body_len = usize::try_from(h.body_len).unwrap_or(usize::MAX);
    let fixed = HEADER_LEN + ext_len + key_len; // <= 24 + 255 + 65535
    let (Some(extras), Some(key)) = (
        buf.get(HEADER_LEN..HEADER_LEN + ext_len),
        buf.get(HEADER_LEN + ext_len..fixed),
    ) else {
        return Ok(None);
    };
    if ext_len + key_len > body_len {
        return Err(fail(Status::UnknownCommand, 0, true));
    }
    if key_len > MAX_KEY_LEN {
        return Err(fail(Status::InvalidArguments, 0, true));
    }
    let value_len = body_len - ext_len - key_len;
    let frame = HEADER_LEN.saturating_add(body_len);
    let invalid = || Err(fail(Status::InvalidArguments, 0, true));
    let unknown = || Err(fail(Status::UnknownCommand, frame, false));

    let Some(opcode) = Opcode::from_u8(h.opcode) else {
        return unknown();
    };
    let no_body = ext_len == 0 && key_len == 0 && body_len == 0;
    let key_only = ext_len == 0 && key_len > 0 && body_len == key_len;

    let (command, consumed, value): (BinCommand<'_>, usize, &[u8]) = match opcode.loud() {
        Opcode::Version if no_body => (BinCommand::Version, fixed, &[]),
        Opcode::NoOp if no_body => (BinCommand::NoOp, fixed, &[]),
        Opcode::Quit if no_body => (BinCommand::Quit, fixed, &[]),
        Opcode::Flush if key_len == 0 && body_len == ext_len && (ext_len == 0 || ext_len == 4) => {
            let exptime = be32(extras, 0).unwrap_or(0);
            (BinCommand::Flush { exptime }, fixed, &[])
        }
        Opcode::Get | Opcode::GetK if key_only => (BinCommand::Get { key }, fixed, &[]),
        Opcode::Delete if key_only => (BinCommand::Delete { key }, fixed, &[]),
        Opcode::Increment | Opcode::Decrement
            if key_len > 0 && ext_len == 20 && body_len == key_len + 20 =>
        {
            let (Some(delta), Some(initial), Some(exptime)) =
                (be64(extras, 0), be64(extras, 8), be32(extras, 16))
            else {
                return invalid();
            };
            let incr = opcode.loud() == Opcode::Increment;
            let cmd = BinCommand::Arith {
                incr,
                key,
                delta,
                initial,
                exptime,
            };
            (cmd, fixed, &[])
        }
        Opcode::Stat if ext_len == 0 => (BinCommand::Stat { key }, fixed, &[]),
        Opcode::Touch | Opcode::Gat | Opcode::GatK if ext_len == 4 && key_len > 0 => {
            let Some(exptime) = be32(extras, 0) else {
                return invalid();
            };
            let cmd = if opcode == Opcode::Touch {
                BinCommand::Touch { key, exptime }
            } else {
                BinCommand::Gat { key, exptime }
            };
            (cmd, fixed, &[])
        }
        Opcode::Set | Opcode::Add | Opcode::Replace if ext_len == 8 && key_len > 0 => {
            let Some((value, consumed)) =
                value_part(buf, fixed, value_len, max_body, frame, &fail, body)?
            else {
                return Ok(None);
            };
            let (Some(flags), Some(exptime)) = (be32(extras, 0), be32(extras, 4)) else {
                return invalid();
            };
            let op = match opcode.loud() {
                Opcode::Add => StoreOp::Add,
                Opcode::Replace => StoreOp::Replace,
                _ => StoreOp::Set,
            };
            let cmd = BinCommand::Store {
                op,
                key,
                flags,
                exptime,
                value,
            };
            (cmd, consumed, value)
        }
        Opcode::Append | Opcode::Prepend if ext_len == 0 && key_len > 0 => {
            let Some((value, consumed)) =
                value_part(buf, fixed, value_len, max_body, frame, &fail, body)?
            else {
                return Ok(None);
            };
            let append = opcode.loud() == Opcode::Append;
            (BinCommand::Concat { append, key, value }, consumed, value)
        }
        // The executor answers these `Unknown command` when SASL is off (as memcached
        // started without -S does).
        Opcode::SaslListMechs if no_body => (BinCommand::SaslListMechs, fixed, &[]),
        Opcode::SaslAuth | Opcode::SaslStep if ext_len == 0 && key_len > 0 => {
            let Some((data, consumed)) =
                value_part(buf, fixed, value_len, max_body, frame, &fail, body)?
            else {
                return Ok(None);
            };
            let step = opcode.loud() == Opcode::SaslStep;
            (
                BinCommand::SaslAuth {
                    step,
                    mech: key,
                    data,
                },
                consumed,
                data,
            )
        }
        // Shape checks failed for an implemented opcode.
        Opcode::Version
        | Opcode::NoOp
        | Opcode::Quit
        | Opcode::Flush
        | Opcode::Get
        | Opcode::GetK
        | Opcode::Delete
        | Opcode::Increment
        | Opcode::Decrement
        | Opcode::Stat
        | Opcode::Touch
        | Opcode::Gat
        | Opcode::GatK
        | Opcode::Set
        | Opcode::Add
        | Opcode::Replace
        | Opcode::Append
        | Opcode::Prepend
        | Opcode::SaslListMechs
        | Opcode::SaslAuth
        | Opcode::SaslStep => return invalid(),
        // ElastiCache auto discovery (not in memcached): config get/set/delete. The
        // executor answers `Unknown command` unless cluster discovery applies.
        Opcode::ConfigGet if key_only => (BinCommand::ConfigGet { key }, fixed, &[]),
        Opcode::ConfigDelete if key_only => (BinCommand::ConfigDelete { key }, fixed, &[]),
        Opcode::ConfigSet if key_len > 0 && (ext_len == 0 || ext_len == 8) => {
            let Some((value, consumed)) =
                value_part(buf, fixed, value_len, max_body, frame, &fail, body)?
            else {
                return Ok(None);
            };
            (BinCommand::ConfigSet { key, value }, consumed, value)
        }
        // Verbosity, range ops, malformed config ops: not implemented by memcached 1.6.18.
        _ => return unknown(),
    };

    let req = BinRequest {
        opcode,
        quiet: opcode.is_quiet(),
        with_key: opcode.with_key(),
        opaque: h.opaque,
        cas: h.cas,
        vbucket: h.vbucket,
        data_type: h.data_type,
        extras,
        key,
        value,
        command,
    };
    Ok(Some((req, consumed)))
}

/// The value of a storage command and the frame's length: `Err` if over the limit,
/// `Ok(None)` until buffered. `Body::Probe`: while not all buffered, an empty value and the
/// length up to the key, its length recorded. `Body::Received`: an empty value (the caller
/// has it) and the length up to the key.
fn value_part<'a>(
    buf: &'a [u8],
    fixed: usize,
    value_len: usize,
    max_body: usize,
    frame: usize,
    fail: &impl Fn(Status, usize, bool) -> BinError,
    body: Body<'_>,
) -> Result<Option<(&'a [u8], usize)>, BinError> {
    if value_len > max_body {
        return Err(fail(Status::ValueTooLarge, frame, false));
    }
    let inline = buf.get(fixed..fixed.saturating_add(value_len));
    Ok(match (body, inline) {
        (Body::Received(n), _) => (n == value_len).then_some((&[][..], fixed)),
        (Body::Inline | Body::Probe(_), Some(v)) => Some((v, frame)),
        (Body::Probe(wanted), None) => {
            wanted.set(Some(value_len));
            Some((&[][..], fixed))
        }
        (Body::Inline, None) => None,
    })
}

fn be32(s: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = s.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn be64(s: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = s.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}
