//! Head parsing: request and response heads out of a `BytesMut`, with the RFC 9112 framing and
//! smuggling checks, and [`RequestParser`] for whole requests.
//!
//! The bytes are validated by our own scanner as they arrive (so a bad line fails before the head
//! is complete), then split into fields by httparse. Field names and values are zero-copy slices
//! of the head, which is cut out of the buffer with `split_to(..).freeze()`.

mod request_parser;
pub(crate) mod scan;

pub use request_parser::RequestParser;

use bytes::{Bytes, BytesMut};

use crate::body::BodyKind;
use crate::limits::{Limits, MAX_HEADERS};
use crate::types::{Headers, Method, RequestHead, ResponseHead, Status};
use scan::{Codings, Framing, Scanned, Side, StartLine};

/// Why a message could not be parsed. Each variant maps to the status a server answers with
/// ([`ParseError::status`]); after any of them the connection's framing is lost.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A malformed request line or header, bad framing or a smuggling attempt (400); says what.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The head exceeds [`Limits::max_head_bytes`] (or trailers exceed their cap) (431).
    #[error("header section too large")]
    HeadTooLarge,
    /// More header fields than [`Limits::max_headers`] (431).
    #[error("too many header fields")]
    TooManyHeaders,
    /// The request-target exceeds [`Limits::max_uri_bytes`] (414).
    #[error("request-target too long")]
    UriTooLong,
    /// The body exceeds [`Limits::max_body_bytes`] (413).
    #[error("body too large")]
    BodyTooLarge,
    /// A transfer coding we cannot frame or do not know (501).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// A well-formed HTTP version other than 1.0 and 1.1 (505).
    #[error("unsupported http version")]
    UnsupportedVersion,
    /// A method token that is not a registered method (501, RFC 9110 §9.1).
    #[error("unknown method")]
    UnknownMethod,
    /// The peer closed before the body was complete.
    #[error("connection closed before the body was complete")]
    IncompleteBody,
    /// A malformed response (client side); says what.
    #[error("malformed response: {0}")]
    BadResponse(&'static str),
}

impl ParseError {
    /// The status a server answers this error with (502 for the client-side `BadResponse`).
    pub fn status(&self) -> Status {
        match self {
            ParseError::BadRequest(_) | ParseError::IncompleteBody => Status::BAD_REQUEST,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => Status::HEADER_FIELDS_TOO_LARGE,
            ParseError::UriTooLong => Status::URI_TOO_LONG,
            ParseError::BodyTooLarge => Status::PAYLOAD_TOO_LARGE,
            ParseError::UnsupportedTransferCoding | ParseError::UnknownMethod => Status::NOT_IMPLEMENTED,
            ParseError::UnsupportedVersion => Status::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::BadResponse(_) => Status::BAD_GATEWAY,
        }
    }
}

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
        let _ = buf.split_to(2);
    }
    let Some(scanned) = scan::scan_head(buf, limits, Side::Request)? else {
        return Ok(None);
    };
    let StartLine::Request { method, target, version } = scanned.start.clone() else {
        unreachable!("the request scanner reads request lines");
    };
    let (head, headers) = cut_head(buf, &scanned, limits, Side::Request)?;
    let method = Method::from_token(ascii(&head[method]));
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
    Ok(Some((ResponseHead { version, status, headers }, kind)))
}

/// The body of a request: RFC 9112 §6.3 rules 4-6 (no framing header means no body).
fn request_body_kind(framing: &Framing) -> Result<BodyKind, ParseError> {
    match framing {
        Framing {
            transfer_encoding: Some(codings),
            ..
        } => {
            if !codings.chunked {
                return Err(ParseError::BadRequest("transfer-encoding does not end in chunked"));
            }
            check_codings(codings)?;
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
                headers.append(block.slice_ref(field.name.as_bytes()), block.slice_ref(field.value));
            }
            Ok(headers)
        }
        Ok(httparse::Status::Partial) => Err(side.bad("incomplete header section")),
        Err(httparse::Error::TooManyHeaders) => Err(ParseError::TooManyHeaders),
        Err(_) => Err(side.bad("malformed header field")),
    }
}

/// The scanner only lets ASCII through for methods and targets.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

