//! The plain data types of HTTP/1.1: methods, versions, status codes, headers, requests, responses.

use bytes::Bytes;
use std::fmt;

/// A request method. The common ones are variants; anything else keeps its token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
    /// `CONNECT`
    Connect,
    /// `TRACE`
    Trace,
    /// Any other token, kept verbatim.
    Other(Box<str>),
}

impl Method {
    /// Maps a method token (case-sensitive, as RFC 9110 says) to a `Method`.
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            "CONNECT" => Method::Connect,
            "TRACE" => Method::Trace,
            other => Method::Other(other.into()),
        }
    }

    /// Whether sending the request twice has the effect of sending it once (RFC 9110 §9.2.2), so
    /// that a client may repeat it after a connection failed without an answer.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Method::Get
                | Method::Head
                | Method::Options
                | Method::Trace
                | Method::Put
                | Method::Delete
        )
    }

    /// The method's token as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The protocol version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0: close after each exchange unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: persistent by default.
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// A response status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(pub u16);

impl Status {
    /// 100 Continue
    pub const CONTINUE: Status = Status(100);
    /// 101 Switching Protocols
    pub const SWITCHING_PROTOCOLS: Status = Status(101);
    /// 200 OK
    pub const OK: Status = Status(200);
    /// 201 Created
    pub const CREATED: Status = Status(201);
    /// 202 Accepted
    pub const ACCEPTED: Status = Status(202);
    /// 204 No Content
    pub const NO_CONTENT: Status = Status(204);
    /// 206 Partial Content
    pub const PARTIAL_CONTENT: Status = Status(206);
    /// 301 Moved Permanently
    pub const MOVED_PERMANENTLY: Status = Status(301);
    /// 302 Found
    pub const FOUND: Status = Status(302);
    /// 303 See Other
    pub const SEE_OTHER: Status = Status(303);
    /// 304 Not Modified
    pub const NOT_MODIFIED: Status = Status(304);
    /// 400 Bad Request
    pub const BAD_REQUEST: Status = Status(400);
    /// 401 Unauthorized
    pub const UNAUTHORIZED: Status = Status(401);
    /// 403 Forbidden
    pub const FORBIDDEN: Status = Status(403);
    /// 404 Not Found
    pub const NOT_FOUND: Status = Status(404);
    /// 405 Method Not Allowed
    pub const METHOD_NOT_ALLOWED: Status = Status(405);
    /// 408 Request Timeout
    pub const REQUEST_TIMEOUT: Status = Status(408);
    /// 409 Conflict
    pub const CONFLICT: Status = Status(409);
    /// 411 Length Required
    pub const LENGTH_REQUIRED: Status = Status(411);
    /// 413 Content Too Large
    pub const PAYLOAD_TOO_LARGE: Status = Status(413);
    /// 414 URI Too Long
    pub const URI_TOO_LONG: Status = Status(414);
    /// 415 Unsupported Media Type
    pub const UNSUPPORTED_MEDIA_TYPE: Status = Status(415);
    /// 416 Range Not Satisfiable
    pub const RANGE_NOT_SATISFIABLE: Status = Status(416);
    /// 417 Expectation Failed
    pub const EXPECTATION_FAILED: Status = Status(417);
    /// 429 Too Many Requests
    pub const TOO_MANY_REQUESTS: Status = Status(429);
    /// 431 Request Header Fields Too Large
    pub const HEADER_FIELDS_TOO_LARGE: Status = Status(431);
    /// 500 Internal Server Error
    pub const INTERNAL_SERVER_ERROR: Status = Status(500);
    /// 501 Not Implemented
    pub const NOT_IMPLEMENTED: Status = Status(501);
    /// 502 Bad Gateway
    pub const BAD_GATEWAY: Status = Status(502);
    /// 503 Service Unavailable
    pub const SERVICE_UNAVAILABLE: Status = Status(503);
    /// 504 Gateway Timeout
    pub const GATEWAY_TIMEOUT: Status = Status(504);
    /// 505 HTTP Version Not Supported
    pub const HTTP_VERSION_NOT_SUPPORTED: Status = Status(505);

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// The standard reason phrase, or `""` for an unknown code.
    pub fn reason(self) -> &'static str {
        match self.0 {
            100 => "Continue",
            101 => "Switching Protocols",
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            204 => "No Content",
            206 => "Partial Content",
            301 => "Moved Permanently",
            302 => "Found",
            303 => "See Other",
            304 => "Not Modified",
            307 => "Temporary Redirect",
            308 => "Permanent Redirect",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            409 => "Conflict",
            411 => "Length Required",
            413 => "Content Too Large",
            414 => "URI Too Long",
            415 => "Unsupported Media Type",
            416 => "Range Not Satisfiable",
            417 => "Expectation Failed",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            505 => "HTTP Version Not Supported",
            _ => "",
        }
    }

    /// True for 1xx codes.
    pub fn is_informational(self) -> bool {
        (100..200).contains(&self.0)
    }

    /// True for 2xx codes.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// Whether a response with this status may carry a body (RFC 9110 §6.4.1: not 1xx, 204, 304).
    pub fn allows_body(self) -> bool {
        !(self.is_informational() || self.0 == 204 || self.0 == 304)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

/// An ordered multi-map of header fields. Names compare case-insensitively and keep the case they
/// were given; values are raw bytes (usually ASCII), shared with the buffer they were parsed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(Bytes, Bytes)>,
}

impl Headers {
    /// An empty header map.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// An empty map with room for `n` fields.
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            entries: Vec::with_capacity(n),
        }
    }

    /// Number of fields (a repeated name counts each time).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first value of `name`, as bytes.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_ref())
    }

    /// The first value of `name`, if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_ref())
    }

    /// True if a field called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// True if any value of `name`, read as a comma-separated list, holds `token`
    /// (case-insensitive), e.g. `has_token("connection", "close")`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// Adds a field after the existing ones, keeping any earlier field of the same name.
    pub fn append(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.entries.push((name.into(), value.into()));
    }

    /// Sets `name` to `value`, removing every earlier field of that name.
    pub fn insert(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let name = name.into();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.entries.push((name, value.into()));
    }

    /// Removes every field called `name`; returns whether one was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
        before != self.entries.len()
    }

    /// Keeps only the fields for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        self.entries.retain(|(n, v)| keep(n, v));
    }

    /// Every field as `(name, value)` bytes, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }
}

/// A parsed request head: everything before the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The raw request-target (origin-form `/path?query`, or absolute-form, `*`, authority-form).
    pub target: String,
    /// The protocol version.
    pub version: Version,
    /// The header fields.
    pub headers: Headers,
}

impl RequestHead {
    /// The path part of the target: before `?`, still percent-encoded. For absolute-form targets
    /// (`http://host/p`) the path after the authority (`/` if there is none).
    pub fn path(&self) -> &str {
        let t = absolute_authority(&self.target).map_or(self.target.as_str(), |(_, rest)| rest);
        match t.split_once('?').map_or(t, |(p, _)| p) {
            "" => "/",
            p => p,
        }
    }

    /// The target in origin-form (`/path?query`): absolute-form loses its scheme and authority
    /// (`http://h?q` becomes `/?q`); other forms are returned as they are.
    pub fn origin_form(&self) -> std::borrow::Cow<'_, str> {
        match absolute_authority(&self.target) {
            Some((_, rest)) if rest.starts_with('/') => rest.into(),
            Some((_, rest)) => format!("/{rest}").into(),
            None => self.target.as_str().into(),
        }
    }

    /// The query string after `?`, if any (without the `?`).
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// Whether the connection may stay open after this exchange, per version and `Connection`.
    pub fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.headers.has_token("connection", "close"),
            Version::Http10 => self.headers.has_token("connection", "keep-alive"),
        }
    }

    /// The host the request is for: the authority of an absolute-form target, which wins over
    /// the `Host` field (RFC 9112 §3.2.2), else the `Host` header if present and UTF-8.
    pub fn host(&self) -> Option<&str> {
        match absolute_authority(&self.target) {
            Some((authority, _)) => Some(authority),
            None => self.headers.get_str("host"),
        }
    }

    /// Whether this request asks to switch protocols (`Connection: upgrade` and `Upgrade: x`).
    pub fn is_upgrade(&self) -> bool {
        self.headers.has_token("connection", "upgrade") && self.headers.contains("upgrade")
    }
}

/// A complete request: head, whole body, and trailer fields of a chunked body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method, target, version and headers.
    pub head: RequestHead,
    /// The decoded body (chunked framing removed).
    pub body: Bytes,
    /// Trailer fields of a chunked body (empty otherwise).
    pub trailers: Headers,
}

impl Request {
    /// An HTTP/1.1 request with no headers and no body, handy in tests and for clients.
    pub fn new(method: Method, target: impl Into<String>) -> Request {
        Request {
            head: RequestHead {
                method,
                target: target.into(),
                version: Version::Http11,
                headers: Headers::new(),
            },
            body: Bytes::new(),
            trailers: Headers::new(),
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The raw request-target.
    pub fn target(&self) -> &str {
        &self.head.target
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.head.headers
    }

    /// The path part of the target, still percent-encoded; see [`RequestHead::path`].
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.head.query()
    }

    /// The value of cookie `name` from the `Cookie` header(s).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.head
            .headers
            .get_all("cookie")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(crate::cookie::parse_cookie_header)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// A response head: status and header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The protocol version of the response.
    pub version: Version,
    /// The status code.
    pub status: Status,
    /// The header fields.
    pub headers: Headers,
}

/// A complete response with its whole body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: Status,
    /// The header fields. `Content-Length` is added by the serializer when absent.
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: Status) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// A response with `status`, a `Content-Type` and a body.
    pub fn with_body(
        status: Status,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Response {
        let mut headers = Headers::with_capacity(4);
        headers.append(
            Bytes::from_static(b"Content-Type"),
            Bytes::from_static(content_type.as_bytes()),
        );
        Response {
            status,
            headers,
            body: body.into(),
        }
    }

    /// A `text/plain` response, the usual shape of an error answer.
    pub fn text(status: Status, body: impl Into<Bytes>) -> Response {
        Response::with_body(status, "text/plain; charset=utf-8", body)
    }

    /// Sets a header (replacing earlier ones of that name) and returns the response.
    pub fn header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Response {
        self.headers.insert(name, value);
        self
    }
}

/// Splits an absolute-form target (`scheme://[userinfo@]host[/path][?query]`) into its host and
/// the rest; `None` for the other forms.
fn absolute_authority(target: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    // Userinfo (`user@`) is not part of the host (RFC 9110 §4.2.4).
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some((host, rest))
}
