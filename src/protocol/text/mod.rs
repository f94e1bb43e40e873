//! memcached's text protocol: framing and verb dispatch (`parse`), and reply encoding
//! (`encode`). See memcached's `doc/protocol.txt`.

pub mod encode;

use super::{Command, Limits};

/// What the connection must do with a request that could not be parsed. Every error says
/// how many bytes to consume so the stream stays framed (memcached's `conn_swallow`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Reply to send, or `None` when memcached stays silent (e.g. `noreply`).
    pub reply: Option<super::Reply<'static>>,
    /// Bytes of the buffer to drop now (the command line, and any data already buffered).
    pub consumed: usize,
    /// Further bytes to drop as they arrive (data block of a too-large `set`).
    pub swallow: usize,
    /// Close the connection after sending `reply` (over-long line without a newline).
    pub close: bool,
}

/// Parses one request from the start of `buf`.
///
/// - `Ok(None)`: the request is not complete yet; read more bytes and call again.
/// - `Ok(Some((cmd, consumed)))`: a request of `consumed` bytes (line and data block).
/// - `Err(e)`: a malformed request; see [`ParseError`].
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Option<(Command<'a>, usize)>, ParseError> {
    let _ = (buf, limits);
    todo!("text parser")
}
