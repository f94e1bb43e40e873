//! Replies that are a fixed word or a short line. Values and stats are streamed by the
//! encoders in `text::encode` straight into the output buffer instead.

/// A one-line reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Stored,
    NotStored,
    Exists,
    NotFound,
    Deleted,
    Touched,
    Ok,
    End,
    Reset,
    /// `ERROR`.
    Error,
    /// `ERROR <msg>` (e.g. memcached's `ERROR Too many open connections`).
    ErrorMsg(&'a str),
    /// memcached's `ERROR: shutdown not enabled` (no space after `ERROR`).
    ShutdownNotEnabled,
    /// The new value after `incr`/`decr`.
    Number(u64),
    /// `CLIENT_ERROR <msg>`.
    ClientError(&'a str),
    /// `SERVER_ERROR <msg>`.
    ServerError(&'a str),
    /// `VERSION <v>`.
    Version(&'a str),
    /// A whole line as given, e.g. memcached's `BADCLASS invalid class id`.
    Line(&'a str),
}
