//! The head scanner: validates a start line and field lines byte by byte, before and while the
//! head is incomplete, so smuggling attempts and over-limit heads fail early instead of waiting.
//!
//! httparse does the final split into fields; this pass enforces what httparse leaves to us
//! (RFC 9112): CRLF-only line endings, no obs-fold, no whitespace before the colon, the limits,
//! the method/version pairing, and the framing headers (Content-Length, Transfer-Encoding).

use std::ops::Range;

use super::{Malformed, ParseError};
use crate::limits::{Limits, MAX_HEADERS};
use crate::types::Version;

/// Which side of the exchange a head comes from; decides the start line and the error variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

impl Side {
    /// The malformed-message error of this side.
    pub(crate) fn bad(self, what: Malformed) -> ParseError {
        match self {
            Side::Request => ParseError::BadRequest(what),
            Side::Response => ParseError::BadResponse(what),
        }
    }

    /// `error` as this side's: a malformed message from a response is the upstream's fault.
    pub(crate) fn blame(self, error: ParseError) -> ParseError {
        match (self, error) {
            (Side::Response, ParseError::BadRequest(what)) => ParseError::BadResponse(what),
            _ => error,
        }
    }
}

/// What the start line said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StartLine {
    Request {
        method: Range<usize>,
        target: Range<usize>,
        version: Version,
    },
    Response {
        version: Version,
        status: u16,
    },
}

/// The transfer codings named by every Transfer-Encoding field, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Codings {
    /// Number of codings seen.
    pub count: usize,
    /// Whether `chunked` was seen (it must then be the last one).
    pub chunked: bool,
    /// Whether a coding outside the registered set was seen.
    pub unknown: bool,
}

/// The framing headers of a head.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Framing {
    pub content_length: Option<u64>,
    pub transfer_encoding: Option<Codings>,
}

/// A complete, validated head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Bytes up to and including the blank line.
    pub head_len: usize,
    /// Bytes of the start line including its CRLF.
    pub line_len: usize,
    pub start: StartLine,
    pub framing: Framing,
}

/// Scans `buf` for a complete head. `Ok(None)`: need more bytes (and nothing seen so far is wrong).
pub(crate) fn scan_head(
    buf: &[u8],
    limits: &Limits,
    side: Side,
) -> Result<Option<Scanned>, ParseError> {
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let partial = || {
        if buf.len() > limits.max_head_bytes {
            Err(ParseError::HeadTooLarge)
        } else {
            Ok(None)
        }
    };
    let start = match side {
        Side::Request => request_line(window, limits)?,
        Side::Response => status_line(window)?,
    };
    let Some((line_len, start)) = start else {
        return partial();
    };
    let mut framing = Framing::default();
    let max_fields = limits.max_headers.min(MAX_HEADERS);
    let fields = scan_fields(&window[line_len..], max_fields, side, |name, value| {
        observe_framing(&mut framing, name, value, side)
    })?;
    match fields {
        Some(len) => Ok(Some(Scanned {
            head_len: line_len + len,
            line_len,
            start,
            framing,
        })),
        None => partial(),
    }
}

/// Scans field lines up to and including the blank line ending them (a header or trailer section).
/// Calls `observe(name, trimmed value)` for each complete line. `Ok(None)`: need more bytes.
pub(crate) fn scan_fields(
    buf: &[u8],
    max_fields: usize,
    side: Side,
    mut observe: impl FnMut(&[u8], &[u8]) -> Result<(), ParseError>,
) -> Result<Option<usize>, ParseError> {
    let mut pos = 0;
    let mut count = 0;
    loop {
        let line = &buf[pos..];
        match line.first() {
            None => return Ok(None),
            Some(b'\r') => {
                return match line.get(1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some(pos + 2)),
                    Some(_) => Err(side.bad(Malformed::BareCrInHead)),
                };
            }
            Some(b'\n') => return Err(side.bad(Malformed::BareLfInHead)),
            Some(b' ' | b'\t') => {
                return Err(side.bad(Malformed::ObsFold));
            }
            Some(_) => {}
        }
        count += 1;
        if count > max_fields {
            return Err(ParseError::TooManyHeaders);
        }
        let Some(field) = field_line(line, side)? else {
            return Ok(None);
        };
        observe(
            &line[..field.name_end],
            line[field.name_end + 1..field.value_end].trim_ascii(),
        )?;
        pos += field.len;
    }
}

struct FieldLine {
    name_end: usize,
    value_end: usize,
    len: usize,
}

/// One `name: value CRLF` line. `Ok(None)` while the line is incomplete.
fn field_line(line: &[u8], side: Side) -> Result<Option<FieldLine>, ParseError> {
    let name_end = line
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(line.len());
    match line.get(name_end) {
        None => return Ok(None),
        Some(b':') if name_end > 0 => {}
        Some(_) => return Err(side.bad(Malformed::FieldName)),
    }
    let mut i = name_end + 1;
    while let Some(&b) = line.get(i) {
        match b {
            b'\r' => {
                return match line.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some(FieldLine {
                        name_end,
                        value_end: i,
                        len: i + 2,
                    })),
                    Some(_) => Err(side.bad(Malformed::BareCrInValue)),
                };
            }
            b'\n' => return Err(side.bad(Malformed::BareLfInValue)),
            b'\t' | b' '..=b'~' | 0x80..=0xff => i += 1,
            _ => return Err(side.bad(Malformed::ValueChar)),
        }
    }
    Ok(None)
}

/// Records Content-Length and Transfer-Encoding, rejecting the ambiguous combinations of RFC 9112
/// §6.1-6.3 as soon as the offending line is complete.
fn observe_framing(
    framing: &mut Framing,
    name: &[u8],
    value: &[u8],
    side: Side,
) -> Result<(), ParseError> {
    if name.eq_ignore_ascii_case(b"content-length") {
        let length = parse_content_length(value).ok_or(side.bad(Malformed::ContentLength))?;
        match framing.content_length {
            Some(earlier) if earlier != length => {
                return Err(side.bad(Malformed::ConflictingContentLength));
            }
            _ => framing.content_length = Some(length),
        }
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        let codings = framing
            .transfer_encoding
            .get_or_insert_with(Codings::default);
        for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if coding.is_empty() {
                continue;
            }
            if codings.chunked {
                return Err(side.bad(Malformed::ChunkedNotLast));
            }
            // Parameters (`;q=...`) do not change which coding it is.
            let token = coding
                .split(|&b| b == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            if !token.iter().all(|&b| is_tchar(b)) || token.is_empty() {
                return Err(side.bad(Malformed::TransferEncoding));
            }
            codings.count += 1;
            if token.eq_ignore_ascii_case(b"chunked") {
                codings.chunked = true;
            } else if !KNOWN_CODINGS
                .iter()
                .any(|known| token.eq_ignore_ascii_case(known))
            {
                codings.unknown = true;
            }
        }
    } else {
        return Ok(());
    }
    if framing.content_length.is_some() && framing.transfer_encoding.is_some() {
        return Err(side.bad(Malformed::LengthAndTransferEncoding));
    }
    Ok(())
}

/// Transfer codings of the IANA registry that may precede `chunked` (we frame them, the
/// application decides whether it can decode them).
const KNOWN_CODINGS: &[&[u8]] = &[b"gzip", b"x-gzip", b"deflate", b"compress", b"x-compress"];

/// A Content-Length value: digits, or a list of identical digit strings (RFC 9110 §8.6).
fn parse_content_length(value: &[u8]) -> Option<u64> {
    let mut result = None;
    for item in value.split(|&b| b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = item.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        match result {
            Some(earlier) if earlier != n => return None,
            _ => result = Some(n),
        }
    }
    result
}

/// Methods of the IANA registry (plus the few llhttp also knows) that an HTTP/1.x request may use.
const HTTP_METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"ACL",
    b"BIND",
    b"CHECKOUT",
    b"COPY",
    b"LINK",
    b"LOCK",
    b"M-SEARCH",
    b"MERGE",
    b"MKACTIVITY",
    b"MKCALENDAR",
    b"MKCOL",
    b"MOVE",
    b"NOTIFY",
    b"PRI",
    b"PROPFIND",
    b"PROPPATCH",
    b"PURGE",
    b"QUERY",
    b"REBIND",
    b"REPORT",
    b"SEARCH",
    b"SOURCE",
    b"SUBSCRIBE",
    b"UNBIND",
    b"UNLINK",
    b"UNLOCK",
    b"UNSUBSCRIBE",
];

/// Methods RTSP/1.0 defines (RFC 2326); RTSP messages are framed like HTTP/1.0.
const RTSP_METHODS: &[&[u8]] = &[
    b"OPTIONS",
    b"DESCRIBE",
    b"ANNOUNCE",
    b"SETUP",
    b"PLAY",
    b"PAUSE",
    b"TEARDOWN",
    b"GET_PARAMETER",
    b"SET_PARAMETER",
    b"REDIRECT",
    b"RECORD",
    b"FLUSH",
    b"GET",
    b"POST",
];

/// Protocol tokens a request line may end with, and how the message is framed.
const REQUEST_VERSIONS: &[&[u8]] = &[b"HTTP/1.1", b"HTTP/1.0", b"RTSP/1.0", b"ICE/1.0"];

/// Protocol tokens a status line may start with.
const RESPONSE_VERSIONS: &[&[u8]] = &[b"HTTP/1.1", b"HTTP/1.0"];

/// `method SP request-target SP version CRLF`; a line without version (HTTP/0.9 form) is refused.
/// Errors as soon as the bytes seen cannot start a valid line.
fn request_line(w: &[u8], limits: &Limits) -> Result<Option<(usize, StartLine)>, ParseError> {
    let bad = ParseError::BadRequest;
    let method_end = w.iter().position(|&b| !is_tchar(b)).unwrap_or(w.len());
    match w.get(method_end) {
        None => return Ok(None),
        Some(b' ') if method_end > 0 => {}
        Some(_) => return Err(bad(Malformed::Method)),
    }
    let method = &w[..method_end];
    if !HTTP_METHODS.contains(&method) && !RTSP_METHODS.contains(&method) {
        return Err(ParseError::UnknownMethod);
    }
    let target_start = method_end + 1;
    let mut i = target_start;
    while let Some(&b) = w.get(i) {
        if !(b'!'..=b'~').contains(&b) {
            break;
        }
        i += 1;
        if i - target_start > limits.max_uri_bytes {
            return Err(ParseError::UriTooLong);
        }
    }
    let target = target_start..i;
    let version = match w.get(i) {
        None => return Ok(None),
        _ if target.is_empty() => return Err(bad(Malformed::EmptyTarget)),
        Some(b' ') => {
            let start = i + 1;
            let end = w[start..]
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .map_or(w.len(), |p| start + p);
            let token = &w[start..end];
            if end == w.len() {
                return partial_version(token, REQUEST_VERSIONS, Side::Request);
            }
            i = end;
            request_version(method, token)?
        }
        // The HTTP/0.9 form `GET /` has no version: we speak HTTP/1.x only.
        Some(b'\r' | b'\n') => return Err(bad(Malformed::MissingVersion)),
        Some(_) => return Err(bad(Malformed::TargetChar)),
    };
    match line_end(&w[i..], Side::Request)? {
        None => Ok(None),
        Some(n) => Ok(Some((
            i + n,
            StartLine::Request {
                method: 0..method_end,
                target,
                version,
            },
        ))),
    }
}

/// The version of a complete request line, checked against its method.
fn request_version(method: &[u8], token: &[u8]) -> Result<Version, ParseError> {
    let http = HTTP_METHODS.contains(&method);
    match token {
        b"HTTP/1.1" if http => Ok(Version::Http11),
        b"HTTP/1.0" if http => Ok(Version::Http10),
        b"HTTP/1.1" | b"HTTP/1.0" => Err(ParseError::UnknownMethod),
        b"RTSP/1.0" if RTSP_METHODS.contains(&method) => Ok(Version::Http10),
        b"ICE/1.0" if method == b"SOURCE" => Ok(Version::Http10),
        b"RTSP/1.0" | b"ICE/1.0" => Err(ParseError::BadRequest(Malformed::OtherProtocol)),
        _ if unsupported_http_version(token, REQUEST_VERSIONS) => {
            Err(ParseError::UnsupportedVersion)
        }
        _ => Err(ParseError::BadRequest(Malformed::Version)),
    }
}

/// `Ok(None)` while `token` can still become an accepted version (or at least an HTTP one).
fn partial_version(
    token: &[u8],
    accepted: &[&[u8]],
    side: Side,
) -> Result<Option<(usize, StartLine)>, ParseError> {
    if accepted.iter().any(|v| v.starts_with(token)) {
        return Ok(None);
    }
    if unsupported_http_version(token, accepted) {
        return Err(ParseError::UnsupportedVersion);
    }
    let shape = b"HTTP/0.0";
    let prefix_of_shape = token.len() < shape.len()
        && token.iter().zip(shape).all(|(&t, &s)| {
            if s == b'0' {
                t.is_ascii_digit()
            } else {
                t == s
            }
        });
    if prefix_of_shape {
        Ok(None)
    } else {
        Err(side.bad(Malformed::Version))
    }
}

/// `HTTP/d.d`: a well-formed version we may simply not support (→ 505 rather than 400).
fn is_http_version_shape(token: &[u8]) -> bool {
    matches!(token, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// Whether `token` starts with an `HTTP/d.d` that is none of `accepted` (505). Judged on those 8
/// bytes alone, as soon as they are in, so that the answer does not depend on where a read ended
/// (fuzzing found `HTTP/2.1` then junk answered 505 or 400 depending on the reads).
fn unsupported_http_version(token: &[u8], accepted: &[&[u8]]) -> bool {
    token
        .get(..8)
        .is_some_and(|version| is_http_version_shape(version) && !accepted.contains(&version))
}

/// `HTTP-version SP 3DIGIT [SP reason-phrase] CRLF`.
fn status_line(w: &[u8]) -> Result<Option<(usize, StartLine)>, ParseError> {
    let bad = ParseError::BadResponse;
    let end = w.iter().position(|&b| b == b' ').unwrap_or(w.len());
    let token = &w[..end];
    if end == w.len() {
        return partial_version(token, RESPONSE_VERSIONS, Side::Response);
    }
    let version = match token {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        _ if unsupported_http_version(token, RESPONSE_VERSIONS) => {
            return Err(ParseError::UnsupportedVersion);
        }
        _ => return Err(bad(Malformed::Version)),
    };
    let code = &w[end + 1..w.len().min(end + 4)];
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(bad(Malformed::StatusCode));
    }
    if code.len() < 3 {
        return Ok(None);
    }
    let status = code
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if status < 100 {
        return Err(bad(Malformed::StatusCode));
    }
    let mut i = end + 4;
    match w.get(i) {
        None => return Ok(None),
        Some(b' ') => {
            i += 1;
            while let Some(&b) = w.get(i) {
                match b {
                    b'\t' | b' '..=b'~' | 0x80..=0xff => i += 1,
                    _ => break,
                }
            }
        }
        Some(_) => {}
    }
    match line_end(&w[i..], Side::Response)? {
        None => Ok(None),
        Some(n) => Ok(Some((i + n, StartLine::Response { version, status }))),
    }
}

/// Expects CRLF at the start of `rest`: `Ok(Some(2))`, `Ok(None)` if cut short, else an error.
fn line_end(rest: &[u8], side: Side) -> Result<Option<usize>, ParseError> {
    match rest {
        [] | [b'\r'] => Ok(None),
        [b'\r', b'\n', ..] => Ok(Some(2)),
        [b'\n', ..] => Err(side.bad(Malformed::BareLfInStartLine)),
        [b'\r', ..] => Err(side.bad(Malformed::BareCrInStartLine)),
        _ => Err(side.bad(Malformed::StartLineChar)),
    }
}

/// `tchar` of RFC 9110 §5.6.2: the characters of tokens (methods, field names, codings).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_cl(input: &str, expected: Option<u64>) {
        assert_eq!(
            parse_content_length(input.as_bytes()),
            expected,
            "{input:?}"
        );
    }

    #[test]
    fn content_length_values() {
        check_cl("0", Some(0));
        check_cl("003", Some(3));
        check_cl("42, 42", Some(42));
        check_cl("18446744073709551615", Some(u64::MAX));
        check_cl("18446744073709551616", None);
        check_cl("5, 6", None);
        check_cl("", None);
        check_cl("+5", None);
        check_cl("-5", None);
        check_cl("4 2", None);
        check_cl("0x10", None);
        check_cl("5,", None);
    }

    fn check_line(input: &str, expected: Result<Option<Version>, ParseError>) {
        let got = request_line(input.as_bytes(), &Limits::default()).map(|o| {
            o.map(|(_, line)| match line {
                StartLine::Request { version, .. } => version,
                StartLine::Response { .. } => unreachable!("a request line"),
            })
        });
        assert_eq!(got, expected, "{input:?}");
    }

    #[test]
    fn request_lines() {
        let bad = |s| Err(ParseError::BadRequest(s));
        check_line("GET / HTTP/1.1\r\n", Ok(Some(Version::Http11)));
        check_line("GET / HTTP/1.0\r\n", Ok(Some(Version::Http10)));
        check_line("GET /\r\n", bad(Malformed::MissingVersion));
        check_line("GET / HTTP/1.", Ok(None));
        check_line("GET / HT", Ok(None));
        check_line("GET / HTTP/5.6", Err(ParseError::UnsupportedVersion));
        check_line("GET / HTTP/2.0\r\n", Err(ParseError::UnsupportedVersion));
        check_line("GET / HTTP/2.01\r\n", Err(ParseError::UnsupportedVersion));
        check_line("GET / HTTP/1.10\r\n", bad(Malformed::Version));
        check_line("GET / IHTTP/1.0\r\n", bad(Malformed::Version));
        check_line("GET / ICE/1.0\r\n", bad(Malformed::OtherProtocol));
        check_line("SOURCE / ICE/1.0\r\n", Ok(Some(Version::Http10)));
        check_line("ANNOUNCE / RTSP/1.0\r\n", Ok(Some(Version::Http10)));
        check_line("ANNOUNCE / HTTP/1.0\r\n", Err(ParseError::UnknownMethod));
        check_line("MKCOLA / HTTP/1.1\r\n", Err(ParseError::UnknownMethod));
        check_line("GET  / HTTP/1.1\r\n", bad(Malformed::EmptyTarget));
        check_line("GET /a b HTTP/1.1\r\n", bad(Malformed::Version));
        check_line("GET /\u{e9} HTTP/1.1\r\n", bad(Malformed::TargetChar));
        check_line("GET / HTTP/1.1\n", bad(Malformed::BareLfInStartLine));
        check_line("GET / HTTP/1.1\rX", bad(Malformed::BareCrInStartLine));
        check_line("G@T / HTTP/1.1\r\n", bad(Malformed::Method));
    }

    fn check_status(input: &str, expected: Result<Option<u16>, ParseError>) {
        let got = status_line(input.as_bytes()).map(|o| {
            o.map(|(_, line)| match line {
                StartLine::Response { status, .. } => status,
                StartLine::Request { .. } => unreachable!("a status line"),
            })
        });
        assert_eq!(got, expected, "{input:?}");
    }

    #[test]
    fn status_lines() {
        let bad = |s| Err(ParseError::BadResponse(s));
        check_status("HTTP/1.1 200 OK\r\n", Ok(Some(200)));
        check_status("HTTP/1.0 404 \r\n", Ok(Some(404)));
        check_status("HTTP/1.1 204\r\n", Ok(Some(204)));
        check_status("HTTP/1.1 20", Ok(None));
        check_status("HTTP/1.1 2x0 OK\r\n", bad(Malformed::StatusCode));
        check_status("HTTP/1.1 099 OK\r\n", bad(Malformed::StatusCode));
        check_status("HTTP/2.0 200 OK\r\n", Err(ParseError::UnsupportedVersion));
        check_status("HTTP/2.01 200 OK\r\n", Err(ParseError::UnsupportedVersion));
        check_status("HTTP/1.10 200 OK\r\n", bad(Malformed::Version));
        check_status("HTTX/1.1 200 OK\r\n", bad(Malformed::Version));
        check_status("HTTP/1.1 200 OK\n", bad(Malformed::BareLfInStartLine));
    }
}
