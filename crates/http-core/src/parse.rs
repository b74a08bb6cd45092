//! Head parsing: request and response heads out of a `BytesMut`, with the RFC 9112 framing and
//! smuggling checks, and [`RequestParser`] for whole requests.
//!
//! The bytes are validated by our own scanner as they arrive (so a bad line fails before the head
//! is complete), then split into fields by httparse. Field names and values are zero-copy slices
//! of the head, which is cut out of the buffer with `split_to(..).freeze()`.

mod error;
mod request_parser;
pub(crate) mod scan;

pub use error::{Malformed, ParseError};
pub use request_parser::RequestParser;

use bytes::{Buf, Bytes, BytesMut};

use crate::body::BodyKind;
use crate::limits::{Limits, MAX_HEADERS};
use crate::types::{Headers, Method, RequestHead, ResponseHead, Status, Version};
use scan::{Codings, Framing, Scanned, Side, StartLine};

/// Parses a request head from the front of `buf`.
///
/// `Ok(None)` means more bytes are needed. On success the head is removed from `buf` and the body
/// (if any) stays there, to be read with a [`BodyDecoder`](crate::BodyDecoder) of the returned
/// kind. Empty lines before the request line are skipped (RFC 9112 §2.2). CONNECT and PRI
/// requests have no body: what follows belongs to the tunnel. A missing `Host` is not checked
/// here (that is the server's call).
///
/// ```
/// # use bytes::BytesMut;
/// # use http_core::{parse_request_head, BodyKind, Limits};
/// let mut buf = BytesMut::from(&b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"[..]);
/// let (head, kind) = parse_request_head(&mut buf, &Limits::default()).unwrap().unwrap();
/// assert_eq!(head.target, "/a");
/// assert_eq!(kind, BodyKind::Length(2));
/// assert_eq!(&buf[..], b"hi");
/// ```
pub fn parse_request_head(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<(RequestHead, BodyKind)>, ParseError> {
    while buf.starts_with(b"\r\n") {
        buf.advance(2);
    }
    if &buf[..] == b"\r" {
        // Perhaps the start of one more empty line.
        return Ok(None);
    }
    let Some(scanned) = scan::scan_head(buf, limits, Side::Request)? else {
        return Ok(None);
    };
    let StartLine::Request {
        method,
        target,
        version,
    } = scanned.start.clone()
    else {
        unreachable!("the request scanner reads request lines");
    };
    if version == Version::Http10 && scanned.framing.transfer_encoding.is_some() {
        return Err(ParseError::BadRequest(Malformed::TransferEncodingOnHttp10));
    }
    let (head, headers) = cut_head(buf, &scanned, limits, Side::Request)?;
    if headers.get_all("host").nth(1).is_some() {
        return Err(ParseError::BadRequest(Malformed::DuplicateHost));
    }
    let method = Method::from_token(ascii(&head[method]));
    check_target(&method, ascii(&head[target.clone()]))?;
    let kind = if matches!(method, Method::Connect) || method.as_str() == "PRI" {
        BodyKind::Empty
    } else {
        request_body_kind(&scanned.framing)?
    };
    let head = RequestHead {
        method,
        target: ascii(&head[target]).to_owned(),
        version,
        headers,
    };
    Ok(Some((head, kind)))
}

/// Parses a response head from the front of `buf`, for a request made with `request_method`.
///
/// The body kind follows RFC 9112 §6.3: nothing after a HEAD request, a 1xx, 204 or 304, or a 2xx
/// to CONNECT; chunked; a length; else the body runs until the server closes.
pub fn parse_response_head(
    buf: &mut BytesMut,
    limits: &Limits,
    request_method: &Method,
) -> Result<Option<(ResponseHead, BodyKind)>, ParseError> {
    let Some(scanned) = scan::scan_head(buf, limits, Side::Response)? else {
        return Ok(None);
    };
    let StartLine::Response { version, status } = scanned.start else {
        unreachable!("the response scanner reads status lines");
    };
    let status = Status(status);
    let (_, headers) = cut_head(buf, &scanned, limits, Side::Response)?;
    let no_body = *request_method == Method::Head
        || !status.allows_body()
        || (*request_method == Method::Connect && status.is_success());
    let kind = if no_body {
        BodyKind::Empty
    } else {
        match &scanned.framing {
            Framing {
                transfer_encoding: Some(codings),
                ..
            } => {
                check_codings(codings)?;
                if codings.chunked {
                    BodyKind::Chunked
                } else {
                    BodyKind::CloseDelimited
                }
            }
            Framing {
                content_length: Some(n),
                ..
            } => BodyKind::Length(*n),
            _ => BodyKind::CloseDelimited,
        }
    };
    Ok(Some((
        ResponseHead {
            version,
            status,
            headers,
        },
        kind,
    )))
}

/// The request-target must have the form its method allows (RFC 9112 §3.2): origin-form
/// (`/p?q`), absolute-form (`scheme://authority/p`), authority-form for CONNECT, `*` for OPTIONS
/// and extension methods (`M-SEARCH *`, `PRI *`). Anything else (`a`, `@evil.com/x`) is refused.
fn check_target(method: &Method, target: &str) -> Result<(), ParseError> {
    let absolute = |t: &str| {
        t.split_once("://").is_some_and(|(scheme, rest)| {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !authority.is_empty()
        })
    };
    let ok = match method {
        Method::Connect => !target.contains(['/', '@', '?']) && target.contains(':'),
        Method::Options | Method::Other(_) if target == "*" => true,
        _ => target.starts_with('/') || absolute(target),
    };
    if ok {
        Ok(())
    } else {
        Err(ParseError::BadRequest(Malformed::Target))
    }
}

/// The body of a request: RFC 9112 §6.3 rules 4-6 (no framing header means no body).
fn request_body_kind(framing: &Framing) -> Result<BodyKind, ParseError> {
    match framing {
        Framing {
            transfer_encoding: Some(codings),
            ..
        } => {
            // Chunked not last: the length cannot be known (400, RFC 9112 §6.3 rule 4). Any
            // coding besides chunked is one we do not decode (501, RFC 9112 §6.1).
            if !codings.chunked {
                return Err(ParseError::BadRequest(Malformed::NotChunkedLast));
            }
            if codings.count > 1 {
                return Err(ParseError::UnsupportedTransferCoding);
            }
            Ok(BodyKind::Chunked)
        }
        Framing {
            content_length: Some(n),
            ..
        } => Ok(BodyKind::Length(*n)),
        _ => Ok(BodyKind::Empty),
    }
}

fn check_codings(codings: &Codings) -> Result<(), ParseError> {
    if codings.unknown {
        Err(ParseError::UnsupportedTransferCoding)
    } else {
        Ok(())
    }
}

/// Cuts the scanned head out of `buf` and splits its fields with httparse, zero-copy.
fn cut_head(
    buf: &mut BytesMut,
    scanned: &Scanned,
    limits: &Limits,
    side: Side,
) -> Result<(Bytes, Headers), ParseError> {
    let head = buf.split_to(scanned.head_len).freeze();
    let headers = split_fields(&head, scanned.line_len, limits.max_headers, side)?;
    Ok((head, headers))
}

/// Splits the field lines of `block[from..]` (already validated, ending in the blank line) into
/// [`Headers`] sharing `block`'s memory.
pub(crate) fn split_fields(
    block: &Bytes,
    from: usize,
    max_fields: usize,
    side: Side,
) -> Result<Headers, ParseError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let fields = &mut storage[..max_fields.min(MAX_HEADERS)];
    match httparse::parse_headers(&block[from..], fields) {
        Ok(httparse::Status::Complete((_, parsed))) => {
            let mut headers = Headers::with_capacity(parsed.len());
            for field in parsed.iter() {
                headers.append(
                    block.slice_ref(field.name.as_bytes()),
                    block.slice_ref(field.value),
                );
            }
            Ok(headers)
        }
        Ok(httparse::Status::Partial) => Err(side.bad(Malformed::IncompleteHead)),
        Err(httparse::Error::TooManyHeaders) => Err(ParseError::TooManyHeaders),
        Err(_) => Err(side.bad(Malformed::FieldLine)),
    }
}

/// The scanner only lets ASCII through for methods and targets.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Version;

    /// Parses `input` as one request head: the body kind, `None` for "need more", or the error.
    fn head(input: &[u8], limits: &Limits) -> Result<Option<BodyKind>, ParseError> {
        let mut buf = BytesMut::from(input);
        parse_request_head(&mut buf, limits).map(|o| o.map(|(_, kind)| kind))
    }

    fn check(input: &str, expected: Result<Option<BodyKind>, ParseError>) {
        assert_eq!(
            head(input.as_bytes(), &Limits::default()),
            expected,
            "{input:?}"
        );
    }

    fn bad(what: Malformed) -> Result<Option<BodyKind>, ParseError> {
        Err(ParseError::BadRequest(what))
    }

    #[test]
    fn framing_of_requests() {
        check(
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Ok(Some(BodyKind::Empty)),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            Ok(Some(BodyKind::Length(5))),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
            Ok(Some(BodyKind::Length(5))),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            Ok(Some(BodyKind::Length(5))),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            Ok(Some(BodyKind::Chunked)),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Err(ParseError::UnsupportedTransferCoding),
        );
        check(
            "CONNECT a:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            Ok(Some(BodyKind::Empty)),
        );
        check("\r\n\r\nGET / HTTP/1.1\r\n\r\n", Ok(Some(BodyKind::Empty)));
        check("\r", Ok(None));
        check("GET / HTTP/1.1\r\nHost: a\r\n\r", Ok(None));
        check("", Ok(None));
    }

    #[test]
    fn smuggling_defences() {
        check(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            bad(Malformed::LengthAndTransferEncoding),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            bad(Malformed::LengthAndTransferEncoding),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n",
            bad(Malformed::ConflictingContentLength),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
            bad(Malformed::ContentLength),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            bad(Malformed::ContentLength),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
            bad(Malformed::ContentLength),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: 1a\r\n\r\n",
            bad(Malformed::ContentLength),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
            bad(Malformed::ContentLength),
        );
        check(
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n",
            bad(Malformed::ContentLength),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            bad(Malformed::NotChunkedLast),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
            bad(Malformed::NotChunkedLast),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n",
            bad(Malformed::ChunkedNotLast),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            bad(Malformed::ChunkedNotLast),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunkedchunked\r\n\r\n",
            bad(Malformed::NotChunkedLast),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: pigeons, chunked\r\n\r\n",
            Err(ParseError::UnsupportedTransferCoding),
        );
        check(
            "POST / HTTP/1.1\r\nTransfer-Encoding: ch@nked\r\n\r\n",
            bad(Malformed::TransferEncoding),
        );
        check(
            "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
            bad(Malformed::ObsFold),
        );
        check("GET / HTTP/1.1\r\n\tA: b\r\n", bad(Malformed::ObsFold));
        check(
            "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
            bad(Malformed::BareCrInValue),
        );
        check(
            "GET / HTTP/1.1\r\nA: b\r\n\rX",
            bad(Malformed::BareCrInHead),
        );
        check(
            "GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n",
            bad(Malformed::BareLfInValue),
        );
        check("GET / HTTP/1.1\r\nA: b\r\n\n", bad(Malformed::BareLfInHead));
        check(
            "GET / HTTP/1.1\nA: b\n\n",
            bad(Malformed::BareLfInStartLine),
        );
        check("GET / HTTP/1.1\r\nA : b\r\n\r\n", bad(Malformed::FieldName));
        check(
            "GET / HTTP/1.1\r\nA\t: b\r\n\r\n",
            bad(Malformed::FieldName),
        );
        check("GET / HTTP/1.1\r\n: b\r\n\r\n", bad(Malformed::FieldName));
        check(
            "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
            bad(Malformed::ValueChar),
        );
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_head_bytes: 64,
            max_headers: 3,
            max_uri_bytes: 16,
            ..Limits::default()
        };
        let over_head = format!("GET / HTTP/1.1\r\nA: {}\r\n\r\n", "x".repeat(60));
        let under_head = format!("GET / HTTP/1.1\r\nA: {}\r\n\r\n", "x".repeat(40));
        let cases: Vec<(String, Result<Option<BodyKind>, ParseError>)> = vec![
            (over_head.clone(), Err(ParseError::HeadTooLarge)),
            (over_head[..70].to_owned(), Err(ParseError::HeadTooLarge)),
            (over_head[..60].to_owned(), Ok(None)),
            (under_head, Ok(Some(BodyKind::Empty))),
            (
                "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n".into(),
                Ok(Some(BodyKind::Empty)),
            ),
            (
                "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD".into(),
                Err(ParseError::TooManyHeaders),
            ),
            (
                format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(15)),
                Ok(Some(BodyKind::Empty)),
            ),
            (
                format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(16)),
                Err(ParseError::UriTooLong),
            ),
            (
                format!("GET /{}", "a".repeat(16)),
                Err(ParseError::UriTooLong),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(head(input.as_bytes(), &limits), expected, "{input:?}");
        }
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=crate::limits::MAX_HEADERS {
            many.push_str(&format!("H{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(
            head(many.as_bytes(), &Limits::default()),
            Err(ParseError::TooManyHeaders)
        );
    }

    #[test]
    fn head_fields_are_zero_copy_slices() {
        let mut buf =
            BytesMut::from(&b"GET /p?q=1 HTTP/1.0\r\nHost:  a.b \r\nX-Y: \t1\r\n\r\nrest"[..]);
        let before = buf.as_ptr() as usize;
        let (head, kind) = parse_request_head(&mut buf, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(kind, BodyKind::Empty);
        assert_eq!(
            (&head.method, head.version),
            (&Method::Get, Version::Http10)
        );
        assert_eq!((head.path(), head.query()), ("/p", Some("q=1")));
        assert_eq!(head.host(), Some("a.b"));
        assert_eq!(head.headers.get("x-y"), Some(&b"1"[..]));
        let host = head.headers.get("host").unwrap().as_ptr() as usize;
        assert!(
            (before..before + 40).contains(&host),
            "the value points into the original buffer"
        );
        assert_eq!(&buf[..], b"rest");
    }

    fn response(input: &str, method: Method) -> Result<Option<(u16, BodyKind)>, ParseError> {
        let mut buf = BytesMut::from(input.as_bytes());
        parse_response_head(&mut buf, &Limits::default(), &method)
            .map(|o| o.map(|(h, k)| (h.status.code(), k)))
    }

    #[test]
    fn framing_of_responses() {
        let cases = [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                Method::Get,
                Ok(Some((200, BodyKind::Length(3)))),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                Method::Head,
                Ok(Some((200, BodyKind::Empty))),
            ),
            (
                "HTTP/1.1 200 OK\r\n\r\n",
                Method::Get,
                Ok(Some((200, BodyKind::CloseDelimited))),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Method::Get,
                Ok(Some((200, BodyKind::Chunked))),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Method::Get,
                Ok(Some((200, BodyKind::CloseDelimited))),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n",
                Method::Get,
                Err(ParseError::UnsupportedTransferCoding),
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\n",
                Method::Post,
                Ok(Some((100, BodyKind::Empty))),
            ),
            (
                "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
                Method::Get,
                Ok(Some((204, BodyKind::Empty))),
            ),
            (
                "HTTP/1.1 304 Not Modified\r\n\r\n",
                Method::Get,
                Ok(Some((304, BodyKind::Empty))),
            ),
            (
                "HTTP/1.1 200 Connection established\r\n\r\n",
                Method::Connect,
                Ok(Some((200, BodyKind::Empty))),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n",
                Method::Get,
                Ok(None),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n",
                Method::Get,
                Err(ParseError::BadResponse(Malformed::ConflictingContentLength)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                Method::Get,
                Err(ParseError::BadResponse(
                    Malformed::LengthAndTransferEncoding,
                )),
            ),
            (
                "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
                Method::Get,
                Err(ParseError::BadResponse(Malformed::ObsFold)),
            ),
            (
                "HTTP/1.1 200 OK\nA: b\n\n",
                Method::Get,
                Err(ParseError::BadResponse(Malformed::BareLfInStartLine)),
            ),
            (
                "SSH-2.0-OpenSSH\r\n",
                Method::Get,
                Err(ParseError::BadResponse(Malformed::Version)),
            ),
        ];
        for (input, method, expected) in cases {
            assert_eq!(response(input, method), expected, "{input:?}");
        }
    }
}
