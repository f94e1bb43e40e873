//! The fixed 24-byte binary-protocol header, opcodes and status codes.
//!
//! Owns: [`RequestHeader`] parsing (magic `0x80`), [`ResponseHeader`] encoding (magic
//! `0x81`), the [`Opcode`] table (every opcode memcached's `protocol_binary.h` names,
//! plus the ElastiCache `config` opcodes so they can be recognised), and the [`Status`]
//! table with the exact error bodies memcached 1.6.18 sends.
//!
//! All multi-byte fields are big-endian on the wire. The opaque is echoed byte for byte
//! (memcached never byte-swaps it); reading and writing it big-endian gives the same bytes.

/// Length of every request and response header.
pub const HEADER_LEN: usize = 24;
/// First byte of every request.
pub const REQUEST_MAGIC: u8 = 0x80;
/// First byte of every response.
pub const RESPONSE_MAGIC: u8 = 0x81;
/// Longest key memcached accepts (`KEY_MAX_LENGTH`); longer keys get `Invalid arguments`
/// and the connection is closed.
pub const MAX_KEY_LEN: usize = 250;
/// The only data type memcached defines (`PROTOCOL_BINARY_RAW_BYTES`); it ignores the
/// field in requests and always sends 0.
pub const RAW_BYTES: u8 = 0x00;

/// Every opcode memcached's `protocol_binary.h` defines, plus Verbosity (from the spec)
/// and the ElastiCache `config` opcodes. Only some are implemented; see
/// [`super::request`] for which ones parse into requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    Get = 0x00,
    Set = 0x01,
    Add = 0x02,
    Replace = 0x03,
    Delete = 0x04,
    Increment = 0x05,
    Decrement = 0x06,
    Quit = 0x07,
    Flush = 0x08,
    GetQ = 0x09,
    NoOp = 0x0a,
    Version = 0x0b,
    GetK = 0x0c,
    GetKQ = 0x0d,
    Append = 0x0e,
    Prepend = 0x0f,
    Stat = 0x10,
    SetQ = 0x11,
    AddQ = 0x12,
    ReplaceQ = 0x13,
    DeleteQ = 0x14,
    IncrementQ = 0x15,
    DecrementQ = 0x16,
    QuitQ = 0x17,
    FlushQ = 0x18,
    AppendQ = 0x19,
    PrependQ = 0x1a,
    /// In the spec, but memcached 1.6.18 answers it `Unknown command`.
    Verbosity = 0x1b,
    Touch = 0x1c,
    Gat = 0x1d,
    GatQ = 0x1e,
    SaslListMechs = 0x20,
    SaslAuth = 0x21,
    SaslStep = 0x22,
    GatK = 0x23,
    GatKQ = 0x24,
    /// Range operations (0x30..=0x3c): named in the header, never implemented by memcached.
    RGet = 0x30,
    RSet = 0x31,
    RSetQ = 0x32,
    RAppend = 0x33,
    RAppendQ = 0x34,
    RPrepend = 0x35,
    RPrependQ = 0x36,
    RDelete = 0x37,
    RDeleteQ = 0x38,
    RIncr = 0x39,
    RIncrQ = 0x3a,
    RDecr = 0x3b,
    RDecrQ = 0x3c,
    /// ElastiCache auto-discovery; memcached answers `Unknown command`.
    ConfigGet = 0x60,
    ConfigSet = 0x64,
    ConfigDelete = 0x66,
}

impl Opcode {
    /// The opcode for a wire byte, `None` for bytes no table names.
    pub const fn from_u8(b: u8) -> Option<Opcode> {
        use Opcode::*;
        Some(match b {
            0x00 => Get,
            0x01 => Set,
            0x02 => Add,
            0x03 => Replace,
            0x04 => Delete,
            0x05 => Increment,
            0x06 => Decrement,
            0x07 => Quit,
            0x08 => Flush,
            0x09 => GetQ,
            0x0a => NoOp,
            0x0b => Version,
            0x0c => GetK,
            0x0d => GetKQ,
            0x0e => Append,
            0x0f => Prepend,
            0x10 => Stat,
            0x11 => SetQ,
            0x12 => AddQ,
            0x13 => ReplaceQ,
            0x14 => DeleteQ,
            0x15 => IncrementQ,
            0x16 => DecrementQ,
            0x17 => QuitQ,
            0x18 => FlushQ,
            0x19 => AppendQ,
            0x1a => PrependQ,
            0x1b => Verbosity,
            0x1c => Touch,
            0x1d => Gat,
            0x1e => GatQ,
            0x20 => SaslListMechs,
            0x21 => SaslAuth,
            0x22 => SaslStep,
            0x23 => GatK,
            0x24 => GatKQ,
            0x30 => RGet,
            0x31 => RSet,
            0x32 => RSetQ,
            0x33 => RAppend,
            0x34 => RAppendQ,
            0x35 => RPrepend,
            0x36 => RPrependQ,
            0x37 => RDelete,
            0x38 => RDeleteQ,
            0x39 => RIncr,
            0x3a => RIncrQ,
            0x3b => RDecr,
            0x3c => RDecrQ,
            0x60 => ConfigGet,
            0x64 => ConfigSet,
            0x66 => ConfigDelete,
            _ => return None,
        })
    }

    /// The wire byte.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Quiet variants: success is not answered (for the get/gat family: a miss is not
    /// answered, a hit is). Errors are always answered. See [`super::should_reply`].
    pub const fn is_quiet(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            GetQ | GetKQ
                | SetQ
                | AddQ
                | ReplaceQ
                | DeleteQ
                | IncrementQ
                | DecrementQ
                | QuitQ
                | FlushQ
                | AppendQ
                | PrependQ
                | GatQ
                | GatKQ
                | RSetQ
                | RAppendQ
                | RPrependQ
                | RDeleteQ
                | RIncrQ
                | RDecrQ
        )
    }

    /// The non-quiet opcode this one behaves like (`SetQ` -> `Set`); itself otherwise.
    pub const fn loud(self) -> Opcode {
        use Opcode::*;
        match self {
            GetQ => Get,
            GetKQ => GetK,
            SetQ => Set,
            AddQ => Add,
            ReplaceQ => Replace,
            DeleteQ => Delete,
            IncrementQ => Increment,
            DecrementQ => Decrement,
            QuitQ => Quit,
            FlushQ => Flush,
            AppendQ => Append,
            PrependQ => Prepend,
            GatQ => Gat,
            GatKQ => GatK,
            RSetQ => RSet,
            RAppendQ => RAppend,
            RPrependQ => RPrepend,
            RDeleteQ => RDelete,
            RIncrQ => RIncr,
            RDecrQ => RDecr,
            other => other,
        }
    }

    /// GetK, GetKQ, GATK, GATKQ: hits and misses carry the key.
    pub const fn with_key(self) -> bool {
        matches!(
            self,
            Opcode::GetK | Opcode::GetKQ | Opcode::GatK | Opcode::GatKQ
        )
    }

    /// The get/gat family (Get, GetQ, GetK, GetKQ, Gat, GatQ, GatK, GatKQ): in quiet mode
    /// their misses, not their hits, are suppressed.
    pub const fn is_retrieval(self) -> bool {
        matches!(
            self.loud(),
            Opcode::Get | Opcode::GetK | Opcode::Gat | Opcode::GatK
        )
    }
}

/// Response status codes as memcached defines them.
///
/// Note: memcached uses 0x20/0x21 for auth error/continue (the old wiki spec listed
/// 0x08/0x09); 0x07 and 0x83..0x86 come from the spec and memcached never sends them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Status {
    Success = 0x0000,
    KeyNotFound = 0x0001,
    KeyExists = 0x0002,
    ValueTooLarge = 0x0003,
    InvalidArguments = 0x0004,
    NotStored = 0x0005,
    NonNumeric = 0x0006,
    NotMyVbucket = 0x0007,
    AuthError = 0x0020,
    AuthContinue = 0x0021,
    UnknownCommand = 0x0081,
    OutOfMemory = 0x0082,
    NotSupported = 0x0083,
    InternalError = 0x0084,
    Busy = 0x0085,
    TemporaryFailure = 0x0086,
}

impl Status {
    /// The wire value.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The status for a wire value, `None` if unknown.
    pub const fn from_u16(v: u16) -> Option<Status> {
        use Status::*;
        Some(match v {
            0x0000 => Success,
            0x0001 => KeyNotFound,
            0x0002 => KeyExists,
            0x0003 => ValueTooLarge,
            0x0004 => InvalidArguments,
            0x0005 => NotStored,
            0x0006 => NonNumeric,
            0x0007 => NotMyVbucket,
            0x0020 => AuthError,
            0x0021 => AuthContinue,
            0x0081 => UnknownCommand,
            0x0082 => OutOfMemory,
            0x0083 => NotSupported,
            0x0084 => InternalError,
            0x0085 => Busy,
            0x0086 => TemporaryFailure,
            _ => return None,
        })
    }

    /// The body memcached 1.6.18 sends with this status in an error response
    /// (`write_bin_error`), byte for byte. Success and AuthContinue carry no message;
    /// the spec-only codes get a descriptive text memcached never sends.
    pub const fn message(self) -> &'static str {
        use Status::*;
        match self {
            Success | AuthContinue => "",
            KeyNotFound => "Not found",
            KeyExists => "Data exists for key.",
            ValueTooLarge => "Too large.",
            InvalidArguments => "Invalid arguments",
            NotStored => "Not stored.",
            NonNumeric => "Non-numeric server-side value for incr or decr",
            AuthError => "Auth failure.",
            UnknownCommand => "Unknown command",
            OutOfMemory => "Out of memory",
            NotMyVbucket => "Not my vbucket",
            NotSupported => "Not supported",
            InternalError => "Internal error",
            Busy => "Busy",
            TemporaryFailure => "Temporary failure",
        }
    }
}

/// A decoded request header. Lengths are as sent; nothing is validated but the magic
/// (that is [`super::parse`]'s job).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub magic: u8,
    /// Raw opcode byte (may name no [`Opcode`]).
    pub opcode: u8,
    pub key_len: u16,
    pub extras_len: u8,
    pub data_type: u8,
    /// "reserved" in memcached; ignored.
    pub vbucket: u16,
    /// extras + key + value.
    pub body_len: u32,
    pub opaque: u32,
    pub cas: u64,
}

impl RequestHeader {
    /// Decode the first 24 bytes of `buf`; `None` if fewer are available.
    pub fn parse(buf: &[u8]) -> Option<RequestHeader> {
        let h: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(RequestHeader {
            magic: h[0],
            opcode: h[1],
            key_len: u16::from_be_bytes([h[2], h[3]]),
            extras_len: h[4],
            data_type: h[5],
            vbucket: u16::from_be_bytes([h[6], h[7]]),
            body_len: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            cas: u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]),
        })
    }

    /// Append the 24 header bytes (client side / tests).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.magic);
        out.push(self.opcode);
        out.extend_from_slice(&self.key_len.to_be_bytes());
        out.push(self.extras_len);
        out.push(self.data_type);
        out.extend_from_slice(&self.vbucket.to_be_bytes());
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out.extend_from_slice(&self.opaque.to_be_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
    }
}

/// A response header (magic `0x81`, data type always 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHeader {
    /// Echo of the request's opcode byte as sent (quiet opcodes stay quiet).
    pub opcode: u8,
    pub key_len: u16,
    pub extras_len: u8,
    /// Raw status (usually `Status::code()`).
    pub status: u16,
    pub body_len: u32,
    pub opaque: u32,
    pub cas: u64,
}

impl ResponseHeader {
    /// Append the 24 header bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(RESPONSE_MAGIC);
        out.push(self.opcode);
        out.extend_from_slice(&self.key_len.to_be_bytes());
        out.push(self.extras_len);
        out.push(RAW_BYTES);
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out.extend_from_slice(&self.opaque.to_be_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
    }

    /// Decode a response header (tests / client side); `None` if short or magic isn't 0x81.
    pub fn parse(buf: &[u8]) -> Option<ResponseHeader> {
        let h = RequestHeader::parse(buf)?;
        if h.magic != RESPONSE_MAGIC {
            return None;
        }
        Some(ResponseHeader {
            opcode: h.opcode,
            key_len: h.key_len,
            extras_len: h.extras_len,
            status: h.vbucket,
            body_len: h.body_len,
            opaque: h.opaque,
            cas: h.cas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_round_trips() {
        let mut named = 0;
        for b in 0..=255u8 {
            if let Some(op) = Opcode::from_u8(b) {
                assert_eq!(op.as_u8(), b);
                assert!(!op.loud().is_quiet(), "{op:?}");
                if op.is_quiet() {
                    assert_ne!(op.loud(), op);
                } else {
                    assert_eq!(op.loud(), op);
                }
                named += 1;
            }
        }
        // 0x00..=0x1e (31) + 0x20..=0x24 (5) + 0x30..=0x3c (13) + 3 config ops.
        assert_eq!(named, 31 + 5 + 13 + 3);
        assert_eq!(Opcode::from_u8(0x1f), None);
        assert_eq!(Opcode::from_u8(0x2f), None);
    }

    #[test]
    fn quiet_table_matches_memcached() {
        let quiet: Vec<u8> = (0..=255u8)
            .filter_map(Opcode::from_u8)
            .filter(|o| o.is_quiet())
            .map(Opcode::as_u8)
            .collect();
        assert_eq!(
            quiet,
            [
                0x09, 0x0d, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1e, 0x24,
                0x32, 0x34, 0x36, 0x38, 0x3a, 0x3c
            ]
        );
        assert!(Opcode::GetKQ.with_key() && Opcode::GatK.with_key());
        assert!(!Opcode::GetQ.with_key() && !Opcode::Touch.with_key());
        assert!(Opcode::GatKQ.is_retrieval() && !Opcode::Touch.is_retrieval());
    }

    #[test]
    fn status_round_trips_and_messages() {
        for v in 0..=0xffu16 {
            if let Some(s) = Status::from_u16(v) {
                assert_eq!(s.code(), v);
            }
        }
        assert_eq!(Status::AuthError.code(), 0x20);
        assert_eq!(Status::KeyExists.message(), "Data exists for key.");
        assert_eq!(Status::UnknownCommand.message(), "Unknown command");
        assert_eq!(Status::Success.message(), "");
    }

    #[test]
    fn request_header_parse_and_encode() {
        let bytes = [
            0x80, 0x01, 0x00, 0x02, 0x08, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x0f, 0xde, 0xad,
            0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0x01, 0x02,
        ];
        let h = RequestHeader::parse(&bytes).expect("24 bytes");
        assert_eq!(
            h,
            RequestHeader {
                magic: 0x80,
                opcode: 0x01,
                key_len: 2,
                extras_len: 8,
                data_type: 0,
                vbucket: 5,
                body_len: 15,
                opaque: 0xdead_beef,
                cas: 0x0102,
            }
        );
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(RequestHeader::parse(&bytes[..23]), None);
    }

    #[test]
    fn response_header_encode() {
        let mut out = Vec::new();
        ResponseHeader {
            opcode: 0x00,
            key_len: 0,
            extras_len: 0,
            status: Status::KeyNotFound.code(),
            body_len: 9,
            opaque: 0x1122_3344,
            cas: 0,
        }
        .encode(&mut out);
        assert_eq!(
            out,
            [
                0x81, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0, 0, 0,
                0
            ]
        );
        let back = ResponseHeader::parse(&out).expect("response");
        assert_eq!(back.status, 1);
        assert_eq!(back.opaque, 0x1122_3344);
    }
}
