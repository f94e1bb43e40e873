//! memcached's binary protocol (magic 0x80/0x81), as a pure codec.
//!
//! Owns: framing, validation and typed decoding of binary requests ([`parse`]), and
//! byte-exact response encoding ([`encode`]), matching memcached 1.6.18. Must not touch:
//! sockets, threads, the store, clocks, configuration.
//!
//! What the server around it has to do (memcached's behaviour, verified on the wire):
//! * **Protocol choice** is per connection: memcached treats a connection whose very
//!   first byte is 0x80 as binary, anything else as text. Once binary, a frame with a
//!   bad magic closes the connection without a reply ([`BinError::status`] is `None`).
//! * **Quiet opcodes**: use [`should_reply`]. Success is silent; errors are always sent;
//!   for GetQ/GetKQ/GATQ/GATKQ hits are sent and misses are silent. QuitQ closes silently.
//! * **NoOp** answers and flushes everything pipelined before it; clients rely on it
//!   to learn that preceding quiet gets missed.
//! * **Quit** answers (status-only, cas 0), then closes.
//! * **Errors** ([`BinError`]): write [`BinError::write_reply`]; then close if
//!   `close`, else discard `swallow` bytes (from the frame start, possibly more than is
//!   buffered yet). A Set/SetQ that is `Too large.` also deletes the key
//!   ([`BinError::unlinks_key`]).
//! * **Flush** when flushing is disabled (`-F`) answers `Status::AuthError` ("Auth failure.").
//! * **Stat** answers one [`encode::stat`] frame per statistic, then [`encode::stat_end`];
//!   an unknown group answers `Not found`. Which group a key names: [`stat::stat_key`]
//!   (`detail on|off` answer the end frame alone; `detail dump` one stat, `detailed`,
//!   whose value is the text dump).

pub mod encode;
pub mod header;
pub mod request;
pub mod stat;

#[cfg(test)]
mod tests;

pub use header::{
    HEADER_LEN, MAX_KEY_LEN, Opcode, REQUEST_MAGIC, RESPONSE_MAGIC, RequestHeader, ResponseHeader,
    Status,
};
pub use request::{
    BinCommand, BinError, BinRequest, Incoming, NO_AUTOCREATE, StoreOp, incoming, parse,
    parse_received,
};
pub use stat::{DETAIL_DUMP_KEY, StatKey, stat_key};

/// Whether a reply with `status` to `opcode` goes on the wire (quiet-mode rules).
///
/// Non-quiet: always. Quiet get/gat family: everything but a miss. Other quiet
/// opcodes: everything but success (so `DeleteQ` of a missing key still answers
/// `Not found`, `AddQ` of an existing key still answers `Data exists for key.`).
pub fn should_reply(opcode: Opcode, status: Status) -> bool {
    if !opcode.is_quiet() {
        true
    } else if opcode.is_retrieval() {
        status != Status::KeyNotFound
    } else {
        status != Status::Success
    }
}
