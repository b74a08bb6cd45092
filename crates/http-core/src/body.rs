//! Body framing: [`BodyKind`] says how a body ends, [`BodyDecoder`] streams it out of a buffer
//! (Content-Length, chunked with extensions and trailers, close-delimited), zero-copy.

use bytes::{Buf, Bytes, BytesMut};

use crate::limits::{MAX_CHUNK_LINE_BYTES, MAX_CHUNK_SIZE, MAX_HEADERS, MAX_TRAILER_BYTES};
use crate::parse::scan::{Side, is_tchar, scan_fields};
use crate::parse::{Malformed, ParseError};
use crate::types::Headers;

/// How the body of a message is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the peer closes (responses only).
    CloseDelimited,
}

/// One step of [`BodyDecoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The next piece of body data (never empty).
    Data(Bytes),
    /// The buffer holds no more body data; call again once more bytes arrived.
    NeedMore,
    /// The body (and its trailers) is complete; the next message starts in the buffer.
    Done,
}

/// Streams a body out of a connection's input buffer.
///
/// ```
/// # use bytes::BytesMut;
/// # use http_core::{BodyDecoder, BodyKind, Decoded};
/// let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\nnext"[..]);
/// let mut body = BodyDecoder::new(BodyKind::Chunked);
/// assert_eq!(body.decode(&mut buf).unwrap(), Decoded::Data("abc".into()));
/// assert_eq!(body.decode(&mut buf).unwrap(), Decoded::Done);
/// assert_eq!(&buf[..], b"next");
/// ```
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    trailers: Headers,
    /// Whose fault a malformed body is: the client's (request) or the upstream's (response).
    side: Side,
}

#[derive(Debug)]
enum State {
    Length { remaining: u64 },
    Chunked(Chunked),
    CloseDelimited,
    Done,
}

/// Where a chunked decoder is; `line` counts the bytes of the current chunk-size line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// Hex digits of the chunk size.
    Size { size: u64, line: usize },
    /// After the digits: `BWS ; name [= value]`, up to the CR.
    Extension { size: u64, line: usize, ext: Ext },
    /// The CRLF ending the chunk-size line.
    SizeEnd { size: u64 },
    /// Chunk data still to come.
    Data { remaining: u64 },
    /// The CRLF after the chunk data.
    DataEnd,
    /// The trailer section after the last chunk.
    Trailers,
}

/// Positions in the chunk-extension grammar of RFC 9112 §7.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// Whitespace where only `;` (after more whitespace) may follow.
    Space,
    /// After `;`, before the name.
    NameStart,
    Name,
    /// Whitespace after a name: `=` or `;` must follow.
    AfterName,
    /// After `=`, before the value.
    ValueStart,
    Token,
    Quoted,
    QuotedEscape,
    AfterQuoted,
}

impl Ext {
    /// The state after byte `b`, or `None` if `b` cannot appear here.
    fn next(self, b: u8) -> Option<Ext> {
        let ws = b == b' ' || b == b'\t';
        Some(match (self, b) {
            (Ext::Space | Ext::NameStart | Ext::AfterName | Ext::ValueStart, _) if ws => self,
            (Ext::Space | Ext::Name | Ext::AfterName | Ext::Token | Ext::AfterQuoted, b';') => {
                Ext::NameStart
            }
            (Ext::NameStart | Ext::Name, _) if is_tchar(b) => Ext::Name,
            (Ext::Name, _) if ws => Ext::AfterName,
            (Ext::Name | Ext::AfterName, b'=') => Ext::ValueStart,
            (Ext::ValueStart, b'"') => Ext::Quoted,
            (Ext::ValueStart | Ext::Token, _) if is_tchar(b) => Ext::Token,
            (Ext::Token | Ext::AfterQuoted, _) if ws => Ext::Space,
            (Ext::Quoted, b'"') => Ext::AfterQuoted,
            (Ext::Quoted, b'\\') => Ext::QuotedEscape,
            (Ext::Quoted, b'\t' | b' ' | b'!' | b'#'..=b'[' | b']'..=b'~' | 0x80..=0xff) => {
                Ext::Quoted
            }
            (Ext::QuotedEscape, b'\t' | b' '..=b'~' | 0x80..=0xff) => Ext::Quoted,
            _ => return None,
        })
    }

    /// Whether the line may end (CRLF) here.
    fn may_end(self) -> bool {
        matches!(self, Ext::Name | Ext::Token | Ext::AfterQuoted)
    }
}

/// What one state function did.
enum Step {
    /// Go on in this state.
    Next(Chunked),
    /// The buffer ran out; wait in this state.
    Pause(Chunked),
    /// Hand out this data, then continue in this state.
    Data(Bytes, Chunked),
    /// The body and its trailers are complete.
    Done,
}

const BAD_SIZE: ParseError = ParseError::BadRequest(Malformed::ChunkSize);

impl BodyDecoder {
    /// A decoder for a request body framed as `kind`: framing errors are
    /// [`ParseError::BadRequest`] (the client's fault, 400).
    pub fn new(kind: BodyKind) -> BodyDecoder {
        BodyDecoder::with_side(kind, Side::Request)
    }

    /// A decoder for a response body framed as `kind`: framing errors are
    /// [`ParseError::BadResponse`] (the upstream's fault, 502).
    pub fn response(kind: BodyKind) -> BodyDecoder {
        BodyDecoder::with_side(kind, Side::Response)
    }

    fn with_side(kind: BodyKind, side: Side) -> BodyDecoder {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::Chunked(Chunked::Size { size: 0, line: 0 }),
            BodyKind::CloseDelimited => State::CloseDelimited,
        };
        BodyDecoder {
            state,
            trailers: Headers::new(),
            side,
        }
    }

    /// The next piece of body data available in `buf` (cut out zero-copy), `NeedMore`, or `Done`
    /// once the body ended. Call repeatedly.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ParseError> {
        match &mut self.state {
            State::Done => Ok(Decoded::Done),
            State::CloseDelimited if buf.is_empty() => Ok(Decoded::NeedMore),
            State::CloseDelimited => Ok(Decoded::Data(buf.split().freeze())),
            State::Length { .. } if buf.is_empty() => Ok(Decoded::NeedMore),
            State::Length { remaining } => {
                let n = take_len(*remaining, buf);
                *remaining -= n as u64;
                if *remaining == 0 {
                    self.state = State::Done;
                }
                Ok(Decoded::Data(buf.split_to(n).freeze()))
            }
            State::Chunked(chunked) => {
                let current = *chunked;
                self.decode_chunked(buf, current)
                    .map_err(|e| self.side.blame(e))
            }
        }
    }

    /// Runs the chunked state machine from `current` (errors as the request side's).
    fn decode_chunked(
        &mut self,
        buf: &mut BytesMut,
        mut current: Chunked,
    ) -> Result<Decoded, ParseError> {
        loop {
            let step = match current {
                Chunked::Size { size, line } => size_digits(buf, size, line)?,
                Chunked::Extension { size, line, ext } => extension(buf, size, line, ext)?,
                Chunked::SizeEnd { size } => size_end(buf, size)?,
                Chunked::Data { remaining } => data(buf, remaining),
                Chunked::DataEnd => data_end(buf)?,
                Chunked::Trailers => trailers(buf, &mut self.trailers, self.side)?,
            };
            match step {
                Step::Next(next) => current = next,
                Step::Pause(at) => {
                    self.state = State::Chunked(at);
                    return Ok(Decoded::NeedMore);
                }
                Step::Data(bytes, then) => {
                    self.state = State::Chunked(then);
                    return Ok(Decoded::Data(bytes));
                }
                Step::Done => {
                    self.state = State::Done;
                    return Ok(Decoded::Done);
                }
            }
        }
    }

    /// The peer closed: fine for a close-delimited or finished body, else [`ParseError::IncompleteBody`].
    pub fn finish_on_eof(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::CloseDelimited | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(ParseError::IncompleteBody),
        }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The trailer fields of a chunked body (empty until it is done, and after the first call).
    pub fn take_trailers(&mut self) -> Headers {
        std::mem::take(&mut self.trailers)
    }

    /// Bytes still expected of a Content-Length body; `None` once it is done or for other kinds.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } => Some(remaining),
            _ => None,
        }
    }
}

/// How many of `want` bytes `buf` can give now.
fn take_len(want: u64, buf: &BytesMut) -> usize {
    usize::try_from(want).map_or(buf.len(), |w| w.min(buf.len()))
}

/// Hex digits of a chunk size, with checked arithmetic.
fn size_digits(buf: &mut BytesMut, mut size: u64, mut line: usize) -> Result<Step, ParseError> {
    let mut used = 0;
    let mut next = None;
    for &b in buf.iter() {
        let Some(digit) = (b as char).to_digit(16) else {
            next = Some(b);
            break;
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .filter(|&s| s <= MAX_CHUNK_SIZE)
            .ok_or(ParseError::BadRequest(Malformed::ChunkTooLarge))?;
        used += 1;
        line += 1;
        if line > MAX_CHUNK_LINE_BYTES {
            return Err(ParseError::BadRequest(Malformed::ChunkLineTooLong));
        }
    }
    buf.advance(used);
    let Some(b) = next else {
        return Ok(Step::Pause(Chunked::Size { size, line }));
    };
    if line == 0 {
        return Err(BAD_SIZE);
    }
    match b {
        b'\r' => Ok(Step::Next(Chunked::SizeEnd { size })),
        b';' | b' ' | b'\t' => Ok(Step::Next(Chunked::Extension {
            size,
            line,
            ext: Ext::Space,
        })),
        _ => Err(BAD_SIZE),
    }
}

/// Chunk extensions are validated and dropped: nothing here uses them.
fn extension(
    buf: &mut BytesMut,
    size: u64,
    mut line: usize,
    mut ext: Ext,
) -> Result<Step, ParseError> {
    let mut used = 0;
    for &b in buf.iter() {
        if b == b'\r' {
            if !ext.may_end() {
                return Err(ParseError::BadRequest(Malformed::ChunkExtension));
            }
            buf.advance(used);
            return Ok(Step::Next(Chunked::SizeEnd { size }));
        }
        ext = ext
            .next(b)
            .ok_or(ParseError::BadRequest(Malformed::ChunkExtensionChar))?;
        used += 1;
        line += 1;
        if line > MAX_CHUNK_LINE_BYTES {
            return Err(ParseError::BadRequest(Malformed::ChunkLineTooLong));
        }
    }
    buf.advance(used);
    Ok(Step::Pause(Chunked::Extension { size, line, ext }))
}

/// The CRLF ending a chunk-size line; size 0 is the last chunk.
fn size_end(buf: &mut BytesMut, size: u64) -> Result<Step, ParseError> {
    match crlf(buf, Malformed::ChunkSizeEnd)? {
        false => Ok(Step::Pause(Chunked::SizeEnd { size })),
        true if size == 0 => Ok(Step::Next(Chunked::Trailers)),
        true => Ok(Step::Next(Chunked::Data { remaining: size })),
    }
}

fn data(buf: &mut BytesMut, remaining: u64) -> Step {
    if remaining == 0 {
        return Step::Next(Chunked::DataEnd);
    }
    if buf.is_empty() {
        return Step::Pause(Chunked::Data { remaining });
    }
    let n = take_len(remaining, buf);
    Step::Data(
        buf.split_to(n).freeze(),
        Chunked::Data {
            remaining: remaining - n as u64,
        },
    )
}

fn data_end(buf: &mut BytesMut) -> Result<Step, ParseError> {
    match crlf(buf, Malformed::ChunkDataEnd)? {
        false => Ok(Step::Pause(Chunked::DataEnd)),
        true => Ok(Step::Next(Chunked::Size { size: 0, line: 0 })),
    }
}

/// The trailer section: field lines up to a blank line, validated like a header section.
fn trailers(buf: &mut BytesMut, out: &mut Headers, side: Side) -> Result<Step, ParseError> {
    let window = &buf[..buf.len().min(MAX_TRAILER_BYTES)];
    match scan_fields(window, MAX_HEADERS, side, |_, _| Ok(()))? {
        Some(len) => {
            let block = buf.split_to(len).freeze();
            *out = crate::parse::split_fields(&block, 0, MAX_HEADERS, side)?;
            Ok(Step::Done)
        }
        None if buf.len() > MAX_TRAILER_BYTES => Err(ParseError::HeadTooLarge),
        None => Ok(Step::Pause(Chunked::Trailers)),
    }
}

/// Consumes a CRLF: `Ok(false)` if the buffer is too short to tell, `what` if it is not a CRLF.
fn crlf(buf: &mut BytesMut, what: Malformed) -> Result<bool, ParseError> {
    match &buf[..] {
        [] | [b'\r'] => Ok(false),
        [b'\r', b'\n', ..] => {
            buf.advance(2);
            Ok(true)
        }
        _ => Err(ParseError::BadRequest(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed whole and byte by byte; both must agree. Returns the body, the
    /// trailers, whether it finished, and the bytes left after it — or the error.
    fn decode_all(
        kind: BodyKind,
        input: &[u8],
    ) -> Result<(Vec<u8>, Headers, bool, Vec<u8>), ParseError> {
        let whole = run(kind, &[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let trickled = run(kind, &bytes);
        assert_eq!(
            whole,
            trickled,
            "byte-by-byte differs for {:?}",
            String::from_utf8_lossy(input)
        );
        whole
    }

    fn run(
        kind: BodyKind,
        pieces: &[&[u8]],
    ) -> Result<(Vec<u8>, Headers, bool, Vec<u8>), ParseError> {
        let mut decoder = BodyDecoder::new(kind);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf)? {
                    Decoded::Data(data) => {
                        assert!(!data.is_empty());
                        body.extend_from_slice(&data);
                    }
                    Decoded::NeedMore => break,
                    Decoded::Done => break,
                }
            }
        }
        Ok((
            body,
            decoder.take_trailers(),
            decoder.is_done(),
            buf.to_vec(),
        ))
    }

    fn check(input: &str, expected: Result<(&str, bool, &str), ParseError>) {
        let got = decode_all(BodyKind::Chunked, input.as_bytes());
        let got = got
            .as_ref()
            .map(|(body, _, done, rest)| (&body[..], *done, &rest[..]));
        let expected = expected.map(|(b, d, r)| (b.as_bytes(), d, r.as_bytes()));
        let got = got.map_err(Clone::clone);
        assert_eq!(got, expected, "{input:?}");
    }

    fn bad(what: Malformed) -> Result<(&'static str, bool, &'static str), ParseError> {
        Err(ParseError::BadRequest(what))
    }

    #[test]
    fn response_body_errors_are_the_upstreams() {
        let mut buf = BytesMut::from(&b"zz\r\n"[..]);
        let mut upstream = BodyDecoder::response(BodyKind::Chunked);
        assert_eq!(
            upstream.decode(&mut buf),
            Err(ParseError::BadResponse(Malformed::ChunkSize))
        );
        let mut buf = BytesMut::from(&b"1\r\nab"[..]);
        let mut upstream = BodyDecoder::response(BodyKind::Chunked);
        assert_eq!(upstream.decode(&mut buf), Ok(Decoded::Data("a".into())));
        assert_eq!(
            upstream.decode(&mut buf),
            Err(ParseError::BadResponse(Malformed::ChunkDataEnd))
        );
        let mut buf = BytesMut::from(&b"zz\r\n"[..]);
        let mut client = BodyDecoder::new(BodyKind::Chunked);
        assert_eq!(
            client.decode(&mut buf),
            Err(ParseError::BadRequest(Malformed::ChunkSize))
        );
    }

    #[test]
    fn chunked_bodies() {
        check("0\r\n\r\n", Ok(("", true, "")));
        check("5\r\nhello\r\n0\r\n\r\nnext", Ok(("hello", true, "next")));
        check(
            "5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n",
            Ok(("hello world", true, "")),
        );
        check("A\r\n0123456789\r\n0\r\n\r\n", Ok(("0123456789", true, "")));
        check(
            "5;a=b;c;d=\"x;\\\"y\"\r\nhello\r\n0\r\n\r\n",
            Ok(("hello", true, "")),
        );
        check("5 ; a = b\r\nhello\r\n0\r\n\r\n", Ok(("hello", true, "")));
        check("5\r\nhel", Ok(("hel", false, "")));
        check("5\r\nhello\r\n0\r\n", Ok(("hello", false, "")));
        check(
            "5\r\nhello\r\n0\r\nA: b\r\n",
            Ok(("hello", false, "A: b\r\n")),
        );
        check("10000000000\r\nab", Ok(("ab", false, "")));
        // Beyond MAX_CHUNK_SIZE: refused at the digit, before the line or any data is read.
        check("10000000001\r\nab", bad(Malformed::ChunkTooLarge));
        check("ffffffffffffffff", bad(Malformed::ChunkTooLarge));
    }

    #[test]
    fn bad_chunk_sizes() {
        check("x\r\n", bad(Malformed::ChunkSize));
        check("\r\n", bad(Malformed::ChunkSize));
        check("-1\r\n", bad(Malformed::ChunkSize));
        check("10000000000000000\r\n", bad(Malformed::ChunkTooLarge));
        check("5\r\nhelloX\r\n", bad(Malformed::ChunkDataEnd));
        check("5\r\nhello\n0\r\n\r\n", bad(Malformed::ChunkDataEnd));
        check("3\r\nfoo\r\n\r\n", bad(Malformed::ChunkSize));
        check("5\n", bad(Malformed::ChunkSize));
        check("5\rx", bad(Malformed::ChunkSizeEnd));
        check("5 \r\n", bad(Malformed::ChunkExtension));
        check("2;\r\n", bad(Malformed::ChunkExtension));
        check("2 x\r\n", bad(Malformed::ChunkExtensionChar));
        check("5;a=\"b\r\n", bad(Malformed::ChunkExtension));
        check("5;a=\r\n", bad(Malformed::ChunkExtension));
        check("3 \n  \r\n", bad(Malformed::ChunkExtensionChar));
        let long = format!("1;a={}\r\n", "b".repeat(MAX_CHUNK_LINE_BYTES));
        check(&long, bad(Malformed::ChunkLineTooLong));
        let zeros = format!("{}1\r\n", "0".repeat(MAX_CHUNK_LINE_BYTES));
        check(&zeros, bad(Malformed::ChunkLineTooLong));
    }

    #[test]
    fn trailers() {
        let input = b"3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Other:  two words \r\n\r\nrest";
        let (body, trailers, done, rest) = decode_all(BodyKind::Chunked, input).unwrap();
        assert_eq!(
            (&body[..], done, &rest[..]),
            (&b"abc"[..], true, &b"rest"[..])
        );
        assert_eq!(trailers.get("x-sum"), Some(&b"42"[..]));
        assert_eq!(trailers.get_str("x-other"), Some("two words"));
        check("0\r\nA: b\r\n c\r\n\r\n", bad(Malformed::ObsFold));
        check("0\r\nA: b\nC: d\r\n\r\n", bad(Malformed::BareLfInValue));
        check("0\r\nA : b\r\n\r\n", bad(Malformed::FieldName));
        let huge = format!("0\r\nA: {}\r\n", "x".repeat(MAX_TRAILER_BYTES));
        assert_eq!(
            decode_all(BodyKind::Chunked, huge.as_bytes()),
            Err(ParseError::HeadTooLarge)
        );
    }

    #[test]
    fn length_and_close_delimited_bodies() {
        let (body, _, done, rest) = decode_all(BodyKind::Length(5), b"hello world").unwrap();
        assert_eq!(
            (&body[..], done, &rest[..]),
            (&b"hello"[..], true, &b" world"[..])
        );
        let (body, _, done, _) = decode_all(BodyKind::Length(5), b"hel").unwrap();
        assert_eq!((&body[..], done), (&b"hel"[..], false));
        let (body, _, done, rest) = decode_all(BodyKind::Empty, b"next").unwrap();
        assert_eq!((&body[..], done, &rest[..]), (&b""[..], true, &b"next"[..]));
        let (body, _, done, _) = decode_all(BodyKind::CloseDelimited, b"all of it").unwrap();
        assert_eq!((&body[..], done), (&b"all of it"[..], false));
    }

    #[test]
    fn eof_and_remaining() {
        let mut close = BodyDecoder::new(BodyKind::CloseDelimited);
        assert_eq!(close.finish_on_eof(), Ok(()));
        assert!(close.is_done());
        let mut length = BodyDecoder::new(BodyKind::Length(4));
        let mut buf = BytesMut::from(&b"ab"[..]);
        assert_eq!(length.decode(&mut buf), Ok(Decoded::Data("ab".into())));
        assert_eq!(length.remaining(), Some(2));
        assert_eq!(length.decode(&mut buf), Ok(Decoded::NeedMore));
        assert_eq!(length.finish_on_eof(), Err(ParseError::IncompleteBody));
        let mut chunked = BodyDecoder::new(BodyKind::Chunked);
        assert_eq!(chunked.remaining(), None);
        assert_eq!(chunked.finish_on_eof(), Err(ParseError::IncompleteBody));
        let mut empty = BodyDecoder::new(BodyKind::Length(0));
        assert_eq!(empty.finish_on_eof(), Ok(()));
        assert_eq!(empty.decode(&mut buf), Ok(Decoded::Done));
    }
}
