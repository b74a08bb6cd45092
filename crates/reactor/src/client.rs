//! The HTTP client driver: one request per connection, on the loop, answer delivered as a
//! typed message to its owner; plus a small blocking client for consoles, tools and tests.

use crate::event_loop::{Addr, CloseReason, ConnId, Cx, Protocol};
use crate::handle::Handle;
use bytes::{Bytes, BytesMut};
use http_core::write::write_request_head;
use http_core::{
    BodyDecoder, Decoded, Headers, Limits, Method, ParseError, Request, Status, Version,
    parse_response_head,
};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Largest response body a client accepts.
pub const MAX_CLIENT_BODY: usize = 16 * 1024 * 1024;

/// A complete response received by a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientResponse {
    /// The status code.
    pub status: Status,
    /// The header fields.
    pub headers: Headers,
    /// The whole decoded body.
    pub body: Bytes,
}

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connect failed.
    #[error("connect failed: {0}")]
    Connect(#[source] io::Error),
    /// Reading or writing failed, or the server closed early.
    #[error("i/o error: {0}")]
    Io(#[source] io::Error),
    /// No complete answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// The answer was not valid HTTP.
    #[error("bad response: {0}")]
    BadResponse(#[from] ParseError),
    /// The body was larger than [`MAX_CLIENT_BODY`].
    #[error("response body too large")]
    TooLarge,
}

/// What a loop client tells its owner when done, wrapped in the owner's message type.
#[derive(Debug)]
pub struct ClientReply {
    /// The tag the owner gave to [`start`], to tell its requests apart.
    pub tag: u64,
    /// The answer or the failure.
    pub result: Result<ClientResponse, ClientError>,
}

/// Sends `req` to `addr` from the loop. The entry at `owner` receives one [`ClientReply`],
/// wrapped by `wrap` into its message type, through `on_message`, whatever happens. `Host`,
/// `Content-Length` and `Connection: close` are added.
pub fn start<P: Protocol>(
    cx: &mut Cx<'_>,
    addr: SocketAddr,
    req: Request,
    owner: Addr<P>,
    wrap: fn(ClientReply) -> P::Message,
    tag: u64,
    timeout: Duration,
) -> ConnId {
    let mut wire = BytesMut::with_capacity(256 + req.body.len());
    encode_request(&req, addr, &mut wire, "close");
    let proto = ClientConn {
        handle: cx.handle(),
        owner,
        wrap,
        tag,
        method: req.head.method,
        wire: Some(wire),
        timeout,
        reader: ResponseReader::default(),
        done: false,
    };
    cx.connect(addr, proto)
}

/// Serializes a client request with the framing headers it needs and `Connection: connection`.
pub(crate) fn encode_request(
    req: &Request,
    addr: SocketAddr,
    dst: &mut BytesMut,
    connection: &'static str,
) {
    let mut headers = req.head.headers.clone();
    if !headers.contains("host") {
        headers.insert("Host", addr.to_string());
    }
    if !req.body.is_empty() || matches!(req.head.method, Method::Post | Method::Put | Method::Patch)
    {
        headers.insert("Content-Length", req.body.len().to_string());
    }
    headers.insert("Connection", connection);
    write_request_head(
        &req.head.method,
        &req.head.target,
        req.head.version,
        &headers,
        dst,
    );
    dst.extend_from_slice(&req.body);
}

/// Reads one response: head, then body through a [`BodyDecoder`], capped at [`MAX_CLIENT_BODY`].
#[derive(Default)]
pub struct ResponseReader {
    head: Option<(Status, Headers, BodyDecoder)>,
    body: BytesMut,
    /// Whether the last head read lets the connection carry another exchange.
    keep_alive: bool,
}

impl ResponseReader {
    /// Consumes what it can of `input`; `Some` once the whole response is in.
    pub fn feed(
        &mut self,
        input: &mut BytesMut,
        method: &Method,
    ) -> Result<Option<ClientResponse>, ClientError> {
        if self.head.is_none() {
            match parse_response_head(input, &Limits::default(), method)? {
                Some((head, kind)) => {
                    self.keep_alive = match head.version {
                        Version::Http11 => !head.headers.has_token("connection", "close"),
                        Version::Http10 => head.headers.has_token("connection", "keep-alive"),
                    };
                    self.head = Some((head.status, head.headers, BodyDecoder::response(kind)))
                }
                None => return Ok(None),
            }
        }
        let (_, _, decoder) = self.head.as_mut().expect("head was just parsed");
        loop {
            match decoder.decode(input)? {
                Decoded::Data(data) => {
                    if self.body.len() + data.len() > MAX_CLIENT_BODY {
                        return Err(ClientError::TooLarge);
                    }
                    self.body.extend_from_slice(&data);
                }
                Decoded::NeedMore => return Ok(None),
                Decoded::Done => return Ok(Some(self.take())),
            }
        }
    }

    /// Whether the last response read lets its connection carry another exchange (its version
    /// and `Connection` field allow it).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the head of a response is in and its body not yet complete.
    pub fn started(&self) -> bool {
        self.head.is_some()
    }

    /// The server closed: the response, if its framing allows ending there.
    pub fn finish_on_eof(&mut self) -> Result<ClientResponse, ClientError> {
        let complete = self
            .head
            .as_mut()
            .is_some_and(|(_, _, d)| d.finish_on_eof().is_ok());
        match complete {
            true => Ok(self.take()),
            false => Err(ClientError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed before the answer was complete",
            ))),
        }
    }

    fn take(&mut self) -> ClientResponse {
        let (status, headers, _) = self.head.take().expect("a response has a head");
        ClientResponse {
            status,
            headers,
            body: std::mem::take(&mut self.body).freeze(),
        }
    }
}

struct ClientConn<P: Protocol> {
    handle: Handle,
    owner: Addr<P>,
    wrap: fn(ClientReply) -> P::Message,
    tag: u64,
    method: Method,
    wire: Option<BytesMut>,
    timeout: Duration,
    reader: ResponseReader,
    done: bool,
}

impl<P: Protocol> ClientConn<P> {
    fn finish(&mut self, result: Result<ClientResponse, ClientError>) {
        if !self.done {
            self.done = true;
            let reply = ClientReply {
                tag: self.tag,
                result,
            };
            self.handle.send(&self.owner, (self.wrap)(reply));
        }
    }
}

impl<P: Protocol> Protocol for ClientConn<P> {
    type Message = std::convert::Infallible;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_timeout(self.timeout);
        if let Some(wire) = self.wire.take() {
            cx.output().unsplit(wire);
        }
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        match self.reader.feed(cx.input(), &self.method) {
            Ok(Some(response)) => {
                self.finish(Ok(response));
                cx.close();
            }
            Ok(None) => {}
            Err(e) => {
                self.finish(Err(e));
                cx.abort();
            }
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        let result = self.reader.finish_on_eof();
        self.finish(result);
        cx.close();
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        self.finish(Err(ClientError::Timeout));
        cx.abort();
    }

    fn on_shutdown(&mut self, _cx: &mut Cx<'_>) {
        // Let the request finish within the grace period: its owner may be saying goodbye.
    }

    fn on_close(&mut self, reason: CloseReason) {
        let error = match reason {
            CloseReason::ConnectFailed(e) => ClientError::Connect(e),
            CloseReason::Io(e) => ClientError::Io(e),
            other => ClientError::Io(io::Error::other(format!("connection closed: {other:?}"))),
        };
        self.finish(Err(error));
    }
}

/// Sends `req` to `addr` and waits for the answer, with one overall `timeout`. For consoles,
/// tools and tests — never call it on the loop thread.
pub fn blocking_request(
    addr: SocketAddr,
    req: &Request,
    timeout: Duration,
) -> Result<ClientResponse, ClientError> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(ClientError::Connect)?;
    let mut wire = BytesMut::new();
    encode_request(req, addr, &mut wire, "close");
    stream
        .set_write_timeout(Some(timeout))
        .map_err(ClientError::Io)?;
    stream.write_all(&wire).map_err(ClientError::Io)?;
    let mut input = BytesMut::new();
    let mut reader = ResponseReader::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(response) = reader.feed(&mut input, &req.head.method)? {
            return Ok(response);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::Timeout);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(ClientError::Io)?;
        match stream.read(&mut buf) {
            Ok(0) => return reader.finish_on_eof(),
            Ok(n) => input.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ClientError::Timeout);
            }
            Err(e) => return Err(ClientError::Io(e)),
        }
    }
}
