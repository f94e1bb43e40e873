//! memcached's text protocol: line framing, tokenizing and verb dispatch (`parse`), and reply
//! encoding (`encode`). See memcached's `doc/protocol.txt`; the behaviour (down to which
//! malformed line gets which reply) follows memcached 1.6.18's `proto_text.c`, checked against
//! the real binary. Each verb family parses its own arguments in a sibling module:
//! `retrieval` (get/gets/gat/gats/bget), `storage` (set/add/replace/append/prepend/cas),
//! `delete`, `arith` (incr/decr), `touch`, `admin` (flush_all/stats/version/verbosity/quit/
//! shutdown), `meta` (mg/ms/md/ma/mn/me; their replies in `meta_reply`); `num` emulates memcached's `safe_strto*` number parsing.
//!
//! Framing, as memcached does it:
//! - a line ends at the first `\n`; one `\r` before it is dropped (if the line is longer than
//!   that `\r`); the line is cut at its first NUL byte (memcached treats it as a C string);
//! - tokens are separated by runs of spaces only (a tab is part of a token); at most 23 tokens
//!   are looked at (memcached's `MAX_TOKENS` of 24 includes the terminal token), except that
//!   retrieval commands take every key on the line;
//! - more than 2048 bytes without a `\n` closes the connection silently, unless the buffer
//!   starts with `get ` or `gets ` (after at most 100 spaces): those may grow up to
//!   [`Limits::max_get_line`] before we close (memcached grows its buffer without bound).

mod admin;
mod arith;
pub mod config;
mod crawler;
mod delete;
pub mod encode;
pub mod meta;
pub mod meta_reply;
mod num;
mod retrieval;
mod storage;
mod touch;

#[cfg(test)]
mod props;

use std::ops::Range;

use super::{ArithOp, Command, GetKind, Limits, Reply, StoreMode};

/// What the connection must do with a request that could not be parsed. Every error says
/// how many bytes to consume so the stream stays framed (memcached's `conn_swallow`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Reply to send, or `None` when memcached stays silent (`noreply`, or a silent close).
    pub reply: Option<Reply<'static>>,
    /// Bytes at the start of the buffer to drop now: the command line, plus for a bad data
    /// chunk the data block and its two trailer bytes. Always `<= buf.len()`.
    pub consumed: usize,
    /// Further bytes to drop *after* `consumed`, whether already buffered or still to arrive:
    /// `<bytes> + 2` for a storage command whose value is larger than
    /// [`Limits::max_value`] (memcached swallows them unread, without checking the `\r\n`).
    pub swallow: usize,
    /// Close the connection after sending `reply` (over-long line without a newline, or an
    /// HTTP request line).
    pub close: bool,
    /// For a too-large `set` only: the key's byte range in the parsed buffer. memcached then
    /// unlinks the key's current item (`item_unlink` for `NREAD_SET`) so stale data does not
    /// survive a failed overwrite; `add`/`replace`/`append`/`prepend`/`cas` keep it.
    pub unlink_key: Option<Range<usize>>,
}

/// memcached closes a connection that buffered more than this without a newline (unless it
/// is a `get`/`gets` line).
const MAX_UNTERMINATED_LINE: usize = 2048;
/// memcached skips at most this many leading spaces when looking for `get `/`gets `.
const MAX_LEADING_SPACES: usize = 100;
/// Real tokens memcached's tokenizer yields before it stops (`MAX_TOKENS - 1`).
const MAX_TOKENS: usize = 23;

/// Parses one request from the start of `buf`.
///
/// - `Ok(None)`: the request is not complete yet; read more bytes and call again.
/// - `Ok(Some((cmd, consumed)))`: a request of `consumed` bytes (line and data block).
/// - `Err(e)`: a malformed request; see [`ParseError`].
pub fn parse<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Command<'a>, usize)>, ParseError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return unterminated(buf, limits);
    };
    let line = Line::new(buf, nl);
    let cmd = match dispatch(&line, buf, limits)? {
        Parsed::Line(cmd) => (cmd, line.len),
        Parsed::Frame(frame) => return Ok(frame),
    };
    Ok(Some(cmd))
}

/// A storage command (`set`, `add`, `replace`, `append`, `prepend`, `cas`, `ms`,
/// `config set`) whose line is buffered and valid but whose data block is not all there
/// yet (see [`incoming`]).
#[derive(Debug)]
pub struct Incoming<'a> {
    /// The command as it will be, with an empty data block.
    pub cmd: Command<'a>,
    /// Bytes of its line, `\n` included.
    pub line_len: usize,
    /// Bytes of its data block (without the `\r\n` that ends it).
    pub bytes: usize,
}

/// Looks at a request that [`parse`] found incomplete: if it is a storage command whose
/// line is complete and valid and only its data block is missing, says what it is and how
/// long the data block is, so that the data can be received elsewhere (into the item
/// reserved for it) and the command finished with [`parse_received`]. `None` otherwise.
pub fn incoming<'a>(buf: &'a [u8], limits: &Limits) -> Option<Incoming<'a>> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let line = Line::with_body(buf, nl, Body::Probe);
    match dispatch(&line, buf, limits) {
        Ok(Parsed::Frame(Some((cmd, _)))) => line.wanted.get().map(|bytes| Incoming {
            cmd,
            line_len: line.len,
            bytes,
        }),
        _ => None,
    }
}

/// Parses a storage command whose data block of `bytes` bytes was received apart from its
/// line (see [`incoming`]): `line` is the command line with its `\n` and `trailer` the two
/// bytes that followed the data. The command's data is empty: the caller has it. A trailer
/// other than `\r\n` is memcached's `CLIENT_ERROR bad data chunk` (silenced by `noreply`;
/// its `consumed` counts the line only).
pub fn parse_received<'a>(
    line: &'a [u8],
    bytes: usize,
    trailer: &'a [u8],
    limits: &Limits,
) -> Result<Command<'a>, ParseError> {
    let nl = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let l = Line::with_body(line, nl, Body::Received { bytes, trailer });
    match dispatch(&l, line, limits)? {
        Parsed::Frame(Some((cmd, _))) | Parsed::Line(cmd) => Ok(cmd),
        Parsed::Frame(None) => Err(l.client_error("bad data chunk", false)),
    }
}

/// Where a storage command's data block is.
#[derive(Clone, Copy)]
enum Body<'a> {
    /// After the line, in the parsed buffer.
    Inline,
    /// Not looked for: record its length (`Line::wanted`) if it is not all buffered.
    Probe,
    /// Received apart from the line (`bytes` of it, not seen here), with the two bytes
    /// after it.
    Received { bytes: usize, trailer: &'a [u8] },
}

/// No newline buffered yet: wait, or give up on the connection like memcached does.
fn unterminated<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Command<'a>, usize)>, ParseError> {
    if buf.len() <= MAX_UNTERMINATED_LINE || (is_get_line(buf) && buf.len() <= limits.max_get_line)
    {
        return Ok(None);
    }
    Err(ParseError {
        reply: None,
        consumed: buf.len(),
        swallow: 0,
        close: true,
        unlink_key: None,
    })
}

/// memcached's test for "this has to be a large multiget": `get ` or `gets ` after at most
/// 100 leading spaces (`gat`/`gats`/`bget` do not qualify).
fn is_get_line(buf: &[u8]) -> bool {
    let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    if spaces > MAX_LEADING_SPACES {
        return false;
    }
    let rest = &buf[spaces..];
    rest.starts_with(b"get ") || rest.starts_with(b"gets ")
}

/// One command line, tokenized like memcached's `tokenize_command`. Token ranges are offsets
/// into the parsed buffer (the line starts at offset 0).
pub(crate) struct Line<'a> {
    /// The line: up to the `\n`, without one trailing `\r`, cut at the first NUL.
    text: &'a [u8],
    /// `(start, end)` of the first `n` tokens.
    toks: [(usize, usize); MAX_TOKENS],
    /// Number of tokens, at most [`MAX_TOKENS`]; memcached's `ntokens` is `n + 1`.
    n: usize,
    /// Bytes of the line including its `\n`.
    len: usize,
    /// Where its data block is, for a storage command.
    body: Body<'a>,
    /// `Body::Probe`: the length of a data block not all buffered yet.
    wanted: std::cell::Cell<Option<usize>>,
}

impl<'a> Line<'a> {
    /// `nl` is the index of the line's `\n` in `buf`; a data block follows the line.
    fn new(buf: &'a [u8], nl: usize) -> Line<'a> {
        Line::with_body(buf, nl, Body::Inline)
    }

    fn with_body(buf: &'a [u8], nl: usize, body: Body<'a>) -> Line<'a> {
        let mut end = nl;
        // memcached: `if ((el - c->rcurr) > 1 && *(el - 1) == '\r') el--;`
        if nl > 1 && buf.get(nl - 1) == Some(&b'\r') {
            end -= 1;
        }
        let mut text = buf.get(..end).unwrap_or_default();
        if let Some(nul) = text.iter().position(|&b| b == 0) {
            text = &text[..nul];
        }
        let mut toks = [(0, 0); MAX_TOKENS];
        let mut n = 0;
        let mut i = 0;
        while n < MAX_TOKENS && i < text.len() {
            if text[i] == b' ' {
                i += 1;
                continue;
            }
            let start = i;
            while i < text.len() && text[i] != b' ' {
                i += 1;
            }
            toks[n] = (start, i);
            n += 1;
        }
        Line {
            text,
            toks,
            n,
            len: nl + 1,
            body,
            wanted: std::cell::Cell::new(None),
        }
    }

    /// Token `i`, or an empty slice past the last one.
    fn tok(&self, i: usize) -> &'a [u8] {
        match self.toks.get(i) {
            Some(&(s, e)) if i < self.n => self.text.get(s..e).unwrap_or_default(),
            _ => &[],
        }
    }

    /// Byte range of token `i` in the buffer.
    fn range(&self, i: usize) -> Range<usize> {
        match self.toks.get(i) {
            Some(&(s, e)) if i < self.n => s..e,
            _ => 0..0,
        }
    }

    /// The rest of the line from token `i` on (all of it, beyond the 23-token limit).
    fn rest(&self, i: usize) -> &'a [u8] {
        match self.toks.get(i) {
            Some(&(s, _)) if i < self.n => self.text.get(s..).unwrap_or_default(),
            _ => &[],
        }
    }

    /// The last token looked at (memcached's `tokens[ntokens - 2]`).
    fn last(&self) -> &'a [u8] {
        self.tok(self.n.wrapping_sub(1))
    }

    /// memcached's `set_noreply_maybe`: the last token is exactly `noreply`.
    fn noreply(&self) -> bool {
        self.last() == b"noreply"
    }

    /// Error reply for this line, consuming just the line.
    fn fail(&self, reply: Reply<'static>) -> ParseError {
        ParseError {
            reply: Some(reply),
            consumed: self.len,
            swallow: 0,
            close: false,
            unlink_key: None,
        }
    }

    /// `ERROR` (unknown command, wrong number of tokens). Never silenced by `noreply`.
    fn error(&self) -> ParseError {
        self.fail(Reply::Error)
    }

    /// `CLIENT_ERROR <msg>`, silenced when `noreply` (memcached's `out_string`).
    fn client_error(&self, msg: &'static str, noreply: bool) -> ParseError {
        let mut e = self.fail(Reply::ClientError(msg));
        if noreply {
            e.reply = None;
        }
        e
    }

    /// The data block of `bytes` bytes after this line plus its `\r\n`: `Ok(None)` until it
    /// is all buffered, `CLIENT_ERROR bad data chunk` (consuming `bytes + 2`, silenced by
    /// `noreply`) when the trailer is not `\r\n`, else the data and the frame's length.
    /// `Body::Probe`: while it is not all buffered, an empty data block and the line's
    /// length, its length recorded in `wanted`. `Body::Received`: an empty data block (the
    /// caller has it) and the line's length.
    fn data_block(
        &self,
        buf: &'a [u8],
        bytes: usize,
        noreply: bool,
    ) -> Result<Option<(&'a [u8], usize)>, ParseError> {
        let data_end = self.len + bytes;
        let frame_end = data_end + 2;
        let (data, trailer, frame_end) = match self.body {
            Body::Received {
                bytes: got,
                trailer,
            } if got == bytes => (&[][..], trailer, self.len),
            Body::Received { .. } => return Ok(None),
            Body::Inline | Body::Probe => {
                match (buf.get(self.len..data_end), buf.get(data_end..frame_end)) {
                    (Some(data), Some(trailer)) => (data, trailer, frame_end),
                    _ if matches!(self.body, Body::Probe) => {
                        self.wanted.set(Some(bytes));
                        return Ok(Some((&[], self.len)));
                    }
                    _ => return Ok(None),
                }
            }
        };
        if trailer != b"\r\n" {
            let mut e = self.client_error("bad data chunk", noreply);
            e.consumed = frame_end;
            return Err(e);
        }
        Ok(Some((data, frame_end)))
    }

    /// Closes the connection without a reply (an HTTP request line).
    fn close(&self) -> ParseError {
        ParseError {
            reply: None,
            consumed: self.len,
            swallow: 0,
            close: true,
            unlink_key: None,
        }
    }
}

/// `CLIENT_ERROR bad command line format`.
const BAD_FORMAT: &str = "bad command line format";

/// What a verb parser produced.
enum Parsed<'a> {
    /// A command that is just its line.
    Line(Command<'a>),
    /// A storage command's whole frame, or `None` while its data block is incomplete.
    Frame(Option<(Command<'a>, usize)>),
}

/// memcached's `process_command_ascii`: picks the verb, checks the token count.
fn dispatch<'a>(line: &Line<'a>, buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, ParseError> {
    let verb = line.tok(0);
    let n = line.n;
    // "All commands need a minimum of two tokens ... no valid commands shorter than two bytes."
    if verb.len() < 2 {
        return Err(line.error());
    }
    let arity = |ok: bool| if ok { Ok(()) } else { Err(line.error()) };
    let store = |mode: StoreMode| {
        let (lo, hi) = if mode == StoreMode::Cas {
            (6, 7)
        } else {
            (5, 6)
        };
        arity(n == lo || n == hi)?;
        storage::parse(mode, line, buf, limits).map(Parsed::Frame)
    };
    let get = |kind: GetKind| retrieval::parse(kind, line, limits).map(Parsed::Line);
    let line_cmd = |r: Result<Command<'a>, ParseError>| r.map(Parsed::Line);
    match verb {
        // Meta commands (mg, ms, md, ma, mn, me): every 2-byte verb starting with `m`.
        [b'm', _] => meta::parse(line, buf, limits).map(Parsed::Frame),
        [b'g', ..] => {
            arity(n >= 2)?;
            match verb {
                b"get" => get(GetKind::Get),
                b"gets" => get(GetKind::Gets),
                b"gat" => get(GetKind::Gat),
                b"gats" => get(GetKind::Gats),
                _ => Err(line.error()),
            }
        }
        b"set" => store(StoreMode::Set),
        b"add" => store(StoreMode::Add),
        b"replace" => store(StoreMode::Replace),
        b"append" => store(StoreMode::Append),
        b"prepend" => store(StoreMode::Prepend),
        b"cas" => store(StoreMode::Cas),
        b"config" => config::parse(line, buf, limits).map(Parsed::Frame),
        b"stats" => line_cmd(Ok(admin::stats(line))),
        b"slabs" => line_cmd(admin::slabs(line, limits.meta_new)),
        b"shutdown" => line_cmd(admin::shutdown(line)),
        b"incr" | b"decr" => {
            arity(n == 3 || n == 4)?;
            let op = if verb == b"incr" {
                ArithOp::Incr
            } else {
                ArithOp::Decr
            };
            line_cmd(arith::parse(op, line, limits))
        }
        b"delete" => {
            arity((2..=4).contains(&n))?;
            line_cmd(delete::parse(line, limits))
        }
        b"touch" => {
            arity(n == 3 || n == 4)?;
            line_cmd(touch::parse(line, limits))
        }
        // Ancient undocumented alias of `get`, still accepted by memcached.
        b"bget" => {
            arity(n >= 2)?;
            get(GetKind::Get)
        }
        b"flush_all" => {
            arity((1..=3).contains(&n))?;
            line_cmd(admin::flush_all(line))
        }
        b"version" => line_cmd(Ok(Command::Version)),
        b"quit" => line_cmd(Ok(Command::Quit)),
        b"verbosity" => {
            arity(n == 2 || n == 3)?;
            line_cmd(admin::verbosity(line))
        }
        // Verbs memcached knows but we do not implement; memcached's replies to their
        // malformed forms are `ERROR` too, and they never get the HTTP check below.
        b"lru_crawler" => line_cmd(crawler::lru_crawler(line, limits.meta_new)),
        b"cache_memlimit" => line_cmd(crawler::cache_memlimit(line)),
        b"watch" => line_cmd(Ok(admin::watch(line))),
        b"refresh_certs" => line_cmd(Ok(Command::RefreshCerts {
            noreply: line.noreply(),
        })),
        b"lru" | b"extstore" => Err(line.error()),
        // memcached only gets to its final `else` (and the HTTP check) for verbs not starting
        // with one of these letters; e.g. `set / HTTP/1.1` is a plain `ERROR`.
        [b's' | b'a' | b'c' | b'i' | b'd' | b't', ..] => Err(line.error()),
        _ if line.last().starts_with(b"HTTP/") => Err(line.close()),
        _ => Err(line.error()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parses with default limits.
    pub(crate) fn p(buf: &[u8]) -> Result<Option<(Command<'_>, usize)>, ParseError> {
        parse(buf, &Limits::default())
    }

    /// Expects one complete command taking the whole buffer.
    pub(crate) fn cmd(buf: &[u8]) -> Command<'_> {
        match p(buf) {
            Ok(Some((c, n))) => {
                assert_eq!(
                    n,
                    buf.len(),
                    "consumed for {:?}",
                    String::from_utf8_lossy(buf)
                );
                c
            }
            other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    /// Expects an error.
    pub(crate) fn err(buf: &[u8]) -> ParseError {
        match p(buf) {
            Err(e) => e,
            other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(buf)),
        }
    }

    /// An error that consumes `consumed` bytes and sends `reply`, nothing else.
    pub(crate) fn line_err(reply: Option<Reply<'static>>, consumed: usize) -> ParseError {
        ParseError {
            reply,
            consumed,
            swallow: 0,
            close: false,
            unlink_key: None,
        }
    }

    /// `ERROR` for a whole-buffer line.
    pub(crate) fn error(buf: &[u8]) -> ParseError {
        line_err(Some(Reply::Error), buf.len())
    }

    pub(crate) fn client(msg: &'static str, consumed: usize) -> ParseError {
        line_err(Some(Reply::ClientError(msg)), consumed)
    }

    fn closed(consumed: usize) -> ParseError {
        ParseError {
            reply: None,
            consumed,
            swallow: 0,
            close: true,
            unlink_key: None,
        }
    }

    #[test]
    fn empty_buffer_needs_more() {
        assert_eq!(p(b""), Ok(None));
        assert_eq!(p(b"version"), Ok(None));
        assert_eq!(p(b"version\r"), Ok(None));
    }

    #[test]
    fn line_endings() {
        // memcached accepts a bare `\n`.
        assert_eq!(cmd(b"version\n"), Command::Version);
        assert_eq!(cmd(b"version\r\n"), Command::Version);
        // Only one `\r` is stripped: `get a\r\r\n` asks for key "a\r" (memcached: END even
        // though "a" exists).
        let Command::Get { keys, .. } = cmd(b"get a\r\r\n") else {
            panic!()
        };
        assert_eq!(keys.iter().collect::<Vec<_>>(), vec![&b"a\r"[..]]);
        // A `\r` inside the line is part of a token: `version\rx` -> ERROR.
        assert_eq!(err(b"version\rx\r\n"), error(b"version\rx\r\n"));
    }

    #[test]
    fn empty_and_blank_lines_are_error() {
        // memcached: `\r\n`, `\n`, ` \r\n`, `\r\r\n` -> `ERROR\r\n`.
        for l in [&b"\r\n"[..], b"\n", b" \r\n", b"\r\r\n", b"   \n"] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn verbs_are_case_sensitive() {
        // memcached: `GET a` / `VERSION` / `QUIT` -> ERROR.
        for l in [
            &b"GET a\r\n"[..],
            b"VERSION\r\n",
            b"QUIT\r\n",
            b"Set a 0 0 1\r\n",
        ] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn spaces_separate_tokens_tabs_do_not() {
        // memcached: leading/trailing/multiple spaces are fine.
        assert_eq!(cmd(b"  version\r\n"), Command::Version);
        assert_eq!(cmd(b"version  \r\n"), Command::Version);
        // memcached: `version\t` and `\tversion` -> ERROR (tab is part of the verb).
        assert_eq!(err(b"version\t\r\n"), error(b"version\t\r\n"));
        assert_eq!(err(b"\tversion\r\n"), error(b"\tversion\r\n"));
        assert_eq!(err(b"stats\t\r\n"), error(b"stats\t\r\n"));
    }

    #[test]
    fn nul_ends_the_line() {
        // memcached treats the line as a C string: `version\0` -> VERSION, `\0version` ->
        // ERROR, `quit\0x` quits, `set a\0...` is `set a` -> ERROR (and then the data line
        // is parsed as a command: `ERROR\r\nERROR\r\n` in all).
        assert_eq!(cmd(b"version\0\r\n"), Command::Version);
        assert_eq!(err(b"\0version\r\n"), error(b"\0version\r\n"));
        assert_eq!(cmd(b"quit\0x\r\n"), Command::Quit);
        assert_eq!(
            err(b"set a\x000 0 1\r\nx\r\n"),
            line_err(Some(Reply::Error), 13)
        );
    }

    #[test]
    fn unknown_and_short_verbs() {
        // memcached: `ve`, `x`, `mz`, unimplemented admin verbs -> ERROR.
        for l in [
            &b"ve\r\n"[..],
            b"x\r\n",
            b"foo bar\r\n",
            b"misbehave\r\n",
            b"debugtime 1\r\n",
            b"slabs\r\n",
            b"extstore x\r\n",
        ] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn unsupported_verbs_answer_error() {
        // Divergences from memcached, which answers this (lru mode flat -> OK). Not
        // implemented: ERROR. (`watch` is parsed; the executor refuses it.)
        let l = b"lru mode flat\r\n";
        assert_eq!(err(l), error(l));
    }

    #[test]
    fn refresh_certs_takes_any_arguments_and_noreply() {
        // memcached 1.6.18: `refresh_certs foo` -> OK, `refresh_certs noreply` -> nothing.
        assert_eq!(
            cmd(b"refresh_certs\r\n"),
            Command::RefreshCerts { noreply: false }
        );
        assert_eq!(
            cmd(b"refresh_certs foo\r\n"),
            Command::RefreshCerts { noreply: false }
        );
        assert_eq!(
            cmd(b"refresh_certs noreply\r\n"),
            Command::RefreshCerts { noreply: true }
        );
    }

    #[test]
    fn http_request_lines_close_silently() {
        // memcached closes without a reply when an unknown verb's last token starts with
        // `HTTP/` (only in its final `else`, so not for verbs starting with
        // m(2 chars)/g/s/a/c/i/d/t, nor for 1-byte verbs).
        for l in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"POST / HTTP/1.0\r\n",
            b"xx HTTP/1.1\r\n",
            b"ZZ HTTP/\r\n",
            b"HTTP/1.1\r\n",
            b"zz HTTP/1 \r\n",
        ] {
            assert_eq!(err(l), closed(l.len()));
        }
        // Only the line is consumed; the connection closes anyway.
        assert_eq!(err(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), closed(16));
        for l in [
            &b"x HTTP/1.1\r\n"[..],
            b"xx HTTP\r\n",
            b"ZZ http/1.1\r\n",
            b"set / HTTP/1.1\r\n",
            b"replace HTTP/1.1\r\n",
            b"mx HTTP/1.1\r\n",
        ] {
            assert_eq!(err(l), error(l));
        }
        // `mn HTTP/1.1` is a meta no-op (memcached: MN).
        assert_eq!(cmd(b"mn HTTP/1.1\r\n"), Command::MetaNoop);
        // `get / HTTP/1.1` is a get of two keys (memcached: END).
        assert!(matches!(cmd(b"get / HTTP/1.1\r\n"), Command::Get { .. }));
        // `Mn` is not a meta command (uppercase), so it gets the HTTP check.
        assert_eq!(err(b"Mn HTTP/1.1\r\n"), closed(13));
    }

    #[test]
    fn http_check_sees_only_23_tokens() {
        // memcached looks at the 23rd token when there are more: 23 tokens ending in HTTP/
        // -> close; 24 tokens ending in HTTP/ -> ERROR; HTTP/ as 23rd of 24 -> close.
        let l = b"zz b c d e f g h i j k l m n o p q r s t u v HTTP/1\r\n";
        assert_eq!(err(l), closed(l.len()));
        let l = b"zz b c d e f g h i j k l m n o p q r s t u v w HTTP/1\r\n";
        assert_eq!(err(l), error(l));
        let l = b"zz b c d e f g h i j k l m n o p q r s t u v HTTP/1 w\r\n";
        assert_eq!(err(l), closed(l.len()));
    }

    #[test]
    fn too_many_tokens_is_error() {
        // memcached: `set a 0 0 1 noreply x` and the 24-token variant -> ERROR (then the
        // data line `x` is another ERROR).
        let l = b"set a 0 0 1 noreply x\r\n";
        assert_eq!(err(l), error(l));
        let l = b"set a 0 0 1 noreply x y z w v u t s r q p o n m l k j i h g f e d c\r\n";
        assert_eq!(err(l), error(l));
    }

    #[test]
    fn long_line_without_newline_closes() {
        // memcached: 2048 bytes without `\n` -> keeps waiting (then ERROR once the newline
        // arrives); 2049 -> closes without a reply.
        let buf = vec![b'x'; 2048];
        assert_eq!(p(&buf), Ok(None));
        let buf = vec![b'x'; 2049];
        assert_eq!(err(&buf), closed(2049));
        let mut set = b"set ".to_vec();
        set.extend(std::iter::repeat_n(b'k', 2100));
        assert_eq!(err(&set), closed(set.len()));
    }

    #[test]
    fn long_get_lines_wait_up_to_max_get_line() {
        // memcached: a 3000-byte `get k k ...` / `gets ...` without newline keeps waiting
        // (END once the newline comes); `gat`, `get\t`, or >100 leading spaces close.
        let keys = b"k ".repeat(1500);
        for verb in [&b"get "[..], b"gets ", b"     get "] {
            let mut buf = verb.to_vec();
            buf.extend_from_slice(&keys);
            assert_eq!(p(&buf), Ok(None));
            buf.extend_from_slice(b"\r\n");
            assert!(matches!(cmd(&buf), Command::Get { .. }));
        }
        let mut hundred = vec![b' '; 100];
        hundred.extend_from_slice(b"get ");
        hundred.extend_from_slice(&keys);
        assert_eq!(p(&hundred), Ok(None));
        for verb in [&b"gat 0 "[..], b"get\t", b"bget ", &[b' '; 101][..]] {
            let mut buf = verb.to_vec();
            if verb.len() == 101 {
                buf.extend_from_slice(b"get ");
            }
            buf.extend_from_slice(&keys);
            assert_eq!(err(&buf), closed(buf.len()));
        }
        // Our bound on what memcached lets grow without limit: close silently.
        let limits = Limits {
            max_get_line: 4096,
            ..Limits::default()
        };
        let mut buf = b"get ".to_vec();
        buf.extend(std::iter::repeat_n(b'k', 4092));
        assert_eq!(parse(&buf, &limits), Ok(None));
        buf.push(b'k');
        assert_eq!(parse(&buf, &limits), Err(closed(4097)));
    }

    #[test]
    fn long_line_with_newline_is_parsed() {
        // With the newline already buffered memcached processes the line whatever its length
        // (e.g. `version` + 6000 bytes of arguments -> VERSION).
        let mut buf = b"version ".to_vec();
        buf.extend_from_slice(&b"k ".repeat(3000));
        buf.extend_from_slice(b"\r\n");
        assert_eq!(cmd(&buf), Command::Version);
    }

    #[test]
    fn pipelined_commands_parse_one_at_a_time() {
        let buf = b"get a\r\nset b 0 0 1\r\nx\r\ndelete b\r\n";
        let Ok(Some((_, n1))) = p(buf) else { panic!() };
        assert_eq!(n1, 7);
        let Ok(Some((_, n2))) = p(&buf[n1..]) else {
            panic!()
        };
        assert_eq!(n2, 16);
        assert_eq!(
            cmd(&buf[n1 + n2..]),
            Command::Delete {
                key: b"b",
                noreply: false
            }
        );
    }
}
