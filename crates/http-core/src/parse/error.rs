//! Parse errors typed by side (request or response) and by case ([`Malformed`]), each mapping
//! to the status a server answers with.

use crate::types::Status;

/// Why a message could not be parsed. Each variant maps to the status a server answers with
/// ([`ParseError::status`]); after any of them the connection's framing is lost.
///
/// The side is in the variant: [`ParseError::BadRequest`] is the client's fault (400),
/// [`ParseError::BadResponse`] the upstream's (502), for heads and chunked bodies alike.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// A malformed request line, header or body framing, or a smuggling attempt (400).
    #[error("{0}")]
    BadRequest(Malformed),
    /// The head exceeds [`Limits::max_head_bytes`](crate::Limits::max_head_bytes) (or trailers
    /// exceed their cap) (431).
    #[error("header section too large")]
    HeadTooLarge,
    /// More header fields than [`Limits::max_headers`](crate::Limits::max_headers) (431).
    #[error("too many header fields")]
    TooManyHeaders,
    /// The request-target exceeds [`Limits::max_uri_bytes`](crate::Limits::max_uri_bytes) (414).
    #[error("request-target too long")]
    UriTooLong,
    /// The body exceeds [`Limits::max_body_bytes`](crate::Limits::max_body_bytes) (413).
    #[error("body too large")]
    BodyTooLarge,
    /// A transfer coding other than chunked (501, RFC 9112 §6.1).
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
    /// A malformed response head or response body framing: the upstream's fault (502).
    #[error("malformed response: {0}")]
    BadResponse(Malformed),
}

impl ParseError {
    /// The status a server answers this error with (502 for the upstream's `BadResponse`).
    pub fn status(&self) -> Status {
        match self {
            ParseError::BadRequest(_) | ParseError::IncompleteBody => Status::BAD_REQUEST,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => {
                Status::HEADER_FIELDS_TOO_LARGE
            }
            ParseError::UriTooLong => Status::URI_TOO_LONG,
            ParseError::BodyTooLarge => Status::PAYLOAD_TOO_LARGE,
            ParseError::UnsupportedTransferCoding | ParseError::UnknownMethod => {
                Status::NOT_IMPLEMENTED
            }
            ParseError::UnsupportedVersion => Status::HTTP_VERSION_NOT_SUPPORTED,
            ParseError::BadResponse(_) => Status::BAD_GATEWAY,
        }
    }

    /// Whether the peer that sent the message is an upstream (a response), not a client.
    pub fn is_upstream(&self) -> bool {
        matches!(self, ParseError::BadResponse(_))
    }
}

/// What exactly was malformed; the side is said by the [`ParseError`] variant around it.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A CR not followed by LF in the header section.
    #[error("bare CR in header section")]
    BareCrInHead,
    /// An LF not preceded by CR in the header section.
    #[error("bare LF in header section")]
    BareLfInHead,
    /// A line starting with whitespace (obsolete line folding, RFC 9112 §5.2).
    #[error("obs-fold or whitespace before a field line")]
    ObsFold,
    /// A field name that is not a token.
    #[error("invalid header field name")]
    FieldName,
    /// A CR not followed by LF in a field value.
    #[error("bare CR in header field value")]
    BareCrInValue,
    /// An LF not preceded by CR in a field value.
    #[error("bare LF in header field value")]
    BareLfInValue,
    /// A control character in a field value.
    #[error("invalid character in header field value")]
    ValueChar,
    /// httparse found the head incomplete after our scanner saw its end.
    #[error("incomplete header section")]
    IncompleteHead,
    /// httparse refused a field line our scanner let through.
    #[error("malformed header field")]
    FieldLine,
    /// A Content-Length that is not a decimal number.
    #[error("invalid content-length")]
    ContentLength,
    /// Two Content-Length values that differ.
    #[error("conflicting content-length values")]
    ConflictingContentLength,
    /// A Transfer-Encoding coding after chunked.
    #[error("chunked is not the final transfer coding")]
    ChunkedNotLast,
    /// A Transfer-Encoding list that is not a list of tokens.
    #[error("invalid transfer-encoding")]
    TransferEncoding,
    /// A request Transfer-Encoding that does not end in chunked (RFC 9112 §6.3 rule 4).
    #[error("transfer-encoding does not end in chunked")]
    NotChunkedLast,
    /// Both Content-Length and Transfer-Encoding (a smuggling attempt).
    #[error("both content-length and transfer-encoding")]
    LengthAndTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: faulty framing).
    #[error("transfer-encoding in an http/1.0 message")]
    TransferEncodingOnHttp10,
    /// More than one Host field (RFC 9112 §3.2).
    #[error("more than one host field")]
    DuplicateHost,
    /// No Host field in an HTTP/1.1 request (RFC 9112 §3.2).
    #[error("missing host header on http/1.1")]
    MissingHost,
    /// A method that is not a token.
    #[error("invalid request method")]
    Method,
    /// Two spaces between method and target.
    #[error("empty request-target")]
    EmptyTarget,
    /// A byte a request-target may not hold.
    #[error("invalid character in request-target")]
    TargetChar,
    /// A request-target in none of the forms of RFC 9112 §3.2.
    #[error("malformed request-target")]
    Target,
    /// A request line without an HTTP version (the HTTP/0.9 form).
    #[error("missing http version")]
    MissingVersion,
    /// The version token is not `HTTP/d.d`.
    #[error("invalid protocol version")]
    Version,
    /// `RTSP/1.0` or `ICE/1.0` (another protocol on the port).
    #[error("method not allowed with this protocol")]
    OtherProtocol,
    /// A status code that is not three digits from 100.
    #[error("invalid status code")]
    StatusCode,
    /// An LF not preceded by CR ending the start line.
    #[error("bare LF after start line")]
    BareLfInStartLine,
    /// A CR not followed by LF ending the start line.
    #[error("bare CR after start line")]
    BareCrInStartLine,
    /// A control character in the start line.
    #[error("invalid character in start line")]
    StartLineChar,
    /// A request with a body follows one that said `Connection: close`.
    #[error("data after connection: close")]
    DataAfterClose,
    /// A chunk-size that is not hex digits.
    #[error("invalid chunk size")]
    ChunkSize,
    /// A chunk-size beyond [`MAX_CHUNK_SIZE`](crate::limits::MAX_CHUNK_SIZE).
    #[error("chunk size too large")]
    ChunkTooLarge,
    /// A chunk-size line longer than
    /// [`MAX_CHUNK_LINE_BYTES`](crate::limits::MAX_CHUNK_LINE_BYTES).
    #[error("chunk-size line too long")]
    ChunkLineTooLong,
    /// A chunk extension cut short before the CRLF.
    #[error("invalid chunk extension")]
    ChunkExtension,
    /// A byte a chunk extension may not hold.
    #[error("invalid character in chunk extension")]
    ChunkExtensionChar,
    /// No LF after the CR of a chunk-size line.
    #[error("expected lf after chunk size")]
    ChunkSizeEnd,
    /// No CRLF after the chunk data.
    #[error("expected crlf after chunk data")]
    ChunkDataEnd,
    /// A request the server refuses by its own rule (e.g. a body on the proxy's status page).
    #[error("a status request has no body")]
    StatusWithBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_statuses() {
        let cases = [
            (ParseError::BadRequest(Malformed::ChunkSize), 400),
            (ParseError::HeadTooLarge, 431),
            (ParseError::TooManyHeaders, 431),
            (ParseError::UriTooLong, 414),
            (ParseError::BodyTooLarge, 413),
            (ParseError::UnsupportedTransferCoding, 501),
            (ParseError::UnknownMethod, 501),
            (ParseError::UnsupportedVersion, 505),
            (ParseError::IncompleteBody, 400),
            (ParseError::BadResponse(Malformed::ChunkSize), 502),
        ];
        for (error, code) in cases {
            assert_eq!(error.status().code(), code, "{error}");
        }
    }

    #[test]
    fn messages_name_the_side() {
        let cases = [
            (
                ParseError::BadRequest(Malformed::ChunkSize),
                "invalid chunk size",
            ),
            (
                ParseError::BadResponse(Malformed::ChunkSize),
                "malformed response: invalid chunk size",
            ),
            (
                ParseError::BadRequest(Malformed::DuplicateHost),
                "more than one host field",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
