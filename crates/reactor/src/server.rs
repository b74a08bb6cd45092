//! The HTTP/1.1 server driver: one [`Protocol`] per accepted connection, calling a [`Service`].
//!
//! A connection is an explicit state machine (`State`): reading a request, waiting for a
//! deferred reply, streaming a body, sending a file body, or closing. Requests are answered in
//! order; while one is outstanding (a file body until the loop has sent all of it), later
//! pipelined requests wait in the input buffer (bounded by the read limit).

use crate::access_log::AccessLine;
use crate::event_loop::{Addr, CloseReason, ConnId, ConnInfo, Cx, EventLoop, Protocol, Session};
use crate::file_body::{FileBody, Transfer};
use crate::handle::Handle;
use bytes::{Bytes, BytesMut};
use http_core::write::{
    DateCache, write_chunk, write_last_chunk, write_response, write_response_head,
};
use http_core::{
    Headers, Limits, Malformed, Method, ParseError, Request, RequestHead, RequestParser, Response,
    Status, Version,
};
use log::{debug, log_enabled, warn};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

/// Above this much unsent output, a connection stops parsing pipelined requests until drained.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;
/// A streamed body (e.g. Server-Sent Events) whose client lets this much pile up is dropped as a
/// slow consumer, so one stuck client cannot hold unbounded memory.
pub const STREAM_OUTPUT_CAP: usize = 4 * 1024 * 1024;

/// Answers requests. Runs on the loop thread: it must be quick, or return [`Reply::Deferred`]
/// and answer later through a [`Responder`].
pub trait Service: Send + Sync + 'static {
    /// Handles one complete request.
    fn call(&self, req: Request, info: &RequestInfo) -> Reply;
}

impl<F> Service for F
where
    F: Fn(Request, &RequestInfo) -> Reply + Send + Sync + 'static,
{
    fn call(&self, req: Request, info: &RequestInfo) -> Reply {
        self(req, info)
    }
}

/// Where a request came from, and the means to answer it later.
#[derive(Clone)]
pub struct RequestInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
    /// The connection's id in the loop.
    pub conn: ConnId,
    /// A handle to the loop serving the request.
    pub handle: Handle,
    /// Where the connection's [`BodySender`] and [`Responder`] deliver.
    addr: Addr<HttpConn>,
    closed: Arc<AtomicBool>,
}

impl RequestInfo {
    /// A sender for the body of a [`Reply::Stream`] answer to this request.
    pub fn body_sender(&self) -> BodySender {
        BodySender {
            handle: self.handle.clone(),
            conn: self.conn,
            addr: self.addr.clone(),
            closed: self.closed.clone(),
        }
    }

    /// A responder for a [`Reply::Deferred`] answer to this request.
    pub fn responder(&self) -> Responder {
        Responder {
            handle: self.handle.clone(),
            addr: self.addr.clone(),
            done: false,
        }
    }
}

/// What a [`Service`] answers.
pub enum Reply {
    /// A whole response.
    Full(Response),
    /// Status and headers now; the body follows through a [`BodySender`] (chunked on HTTP/1.1).
    /// The response's own body is ignored.
    Stream(Response),
    /// A `101 Switching Protocols` response, after which the session's protocol owns the
    /// connection (any [`Protocol`] converts: `proto.into()`).
    Upgrade(Response, Session),
    /// Status and headers now; the body follows from the file as the client takes it, read
    /// with `pread`, or with `sendfile` when [`Limits::sendfile`] says so (see
    /// [`Cx::send_file`](crate::Cx::send_file); `Content-Length` is set from the body). The
    /// response's own body is ignored.
    File(Response, FileBody),
    /// The answer comes later through a [`Responder`].
    Deferred,
}

impl From<Response> for Reply {
    fn from(response: Response) -> Reply {
        Reply::Full(response)
    }
}

/// Messages a connection receives from its [`BodySender`] or [`Responder`].
pub(crate) enum ServerMsg {
    Chunk(Bytes),
    End,
    Reply(Reply),
    Abandoned,
}

/// Feeds the body of a streamed reply from any thread. Dropping it ends the body.
pub struct BodySender {
    handle: Handle,
    conn: ConnId,
    addr: Addr<HttpConn>,
    closed: Arc<AtomicBool>,
}

impl BodySender {
    /// Sends one piece of the body (empty pieces are skipped).
    pub fn send(&self, data: impl Into<Bytes>) {
        let data = data.into();
        if !data.is_empty() {
            self.handle.send(&self.addr, ServerMsg::Chunk(data));
        }
    }

    /// Whether the client connection is gone: producers drop such senders.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// The connection this sender feeds.
    pub fn conn(&self) -> ConnId {
        self.conn
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        self.handle.send(&self.addr, ServerMsg::End);
    }
}

/// Answers a deferred request from any thread. Dropping it unanswered sends a 500.
pub struct Responder {
    handle: Handle,
    addr: Addr<HttpConn>,
    done: bool,
}

impl Responder {
    /// Sends the answer.
    pub fn respond(mut self, reply: impl Into<Reply>) {
        self.done = true;
        self.handle.send(&self.addr, ServerMsg::Reply(reply.into()));
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.done {
            self.handle.send(&self.addr, ServerMsg::Abandoned);
        }
    }
}

/// Starts serving `service` on `addr` in `event_loop`; returns the bound address.
pub fn serve(
    event_loop: &mut EventLoop,
    addr: SocketAddr,
    service: Arc<dyn Service>,
    limits: Limits,
) -> std::io::Result<SocketAddr> {
    let handle = event_loop.handle();
    let limits = Arc::new(limits);
    event_loop.listen(
        addr,
        Box::new(move |conn: &ConnInfo| {
            Session::with_addr(|me| {
                HttpConn::new(conn, me, service.clone(), handle.clone(), limits.clone())
            })
        }),
    )
}

/// What the exchange being answered needs to remember.
struct Exchange {
    method: Method,
    /// For the access log: the request's host and path, kept only while it is on.
    host: Option<String>,
    path: String,
    version: Version,
    keep_alive: bool,
    started: Instant,
    /// For a streamed body: chunked framing (HTTP/1.1) or close-delimited (HTTP/1.0).
    chunked: bool,
    status: Status,
    bytes: usize,
}

/// Where a server connection is.
enum State {
    /// Reading the next request (or idle between requests).
    Reading,
    /// A deferred reply is outstanding.
    Waiting(Exchange),
    /// Streaming a body from a [`BodySender`].
    Streaming(Exchange),
    /// A file body is queued on the connection ([`Cx::send_file`]); the exchange ends when the
    /// loop has sent all of it.
    Sending(Exchange),
    /// The connection was handed to another protocol, or is closing.
    Done,
}

struct HttpConn {
    service: Arc<dyn Service>,
    info: RequestInfo,
    limits: Arc<Limits>,
    parser: RequestParser,
    state: State,
    /// When the first byte of the request being read arrived (for the header timeout).
    request_started: Option<Instant>,
    /// While answers wait unsent: when the send timeout is due, and how many bytes the socket
    /// had taken when the period began. None taken since then means a client that reads nothing.
    send_watch: Option<(Instant, u64)>,
    /// The state's own deadline (header, idle or handler timeout), set by `arm_timer`.
    state_deadline: Option<Instant>,
    continue_sent: bool,
    peer_done: bool,
    shutting_down: bool,
}

thread_local! {
    static DATE: RefCell<DateCache> = RefCell::new(DateCache::default());
}

fn with_date<R>(f: impl FnOnce(&str) -> R) -> R {
    DATE.with(|cache| f(cache.borrow_mut().get(SystemTime::now())))
}

impl HttpConn {
    fn new(
        conn: &ConnInfo,
        me: Addr<HttpConn>,
        service: Arc<dyn Service>,
        handle: Handle,
        limits: Arc<Limits>,
    ) -> HttpConn {
        HttpConn {
            service,
            info: RequestInfo {
                peer: conn.peer,
                local: conn.local,
                conn: conn.id,
                addr: me,
                handle,
                closed: Arc::new(AtomicBool::new(false)),
            },
            parser: RequestParser::new((*limits).clone()),
            limits,
            state: State::Reading,
            request_started: None,
            send_watch: None,
            state_deadline: None,
            continue_sent: false,
            peer_done: false,
            shutting_down: false,
        }
    }

    /// Parses and answers requests while the connection is free to (answers go in order).
    fn process(&mut self, cx: &mut Cx<'_>) {
        while matches!(self.state, State::Reading) && !cx.is_closing() {
            if cx.pending_output() > OUTPUT_HIGH_WATER {
                cx.notify_drained();
                break;
            }
            match self.parser.parse(cx.input()) {
                Ok(Some(req)) => {
                    self.request_started = None;
                    self.continue_sent = false;
                    self.answer(cx, req);
                }
                Ok(None) => {
                    if let Some(head) = self.parser.awaiting_body()
                        && missing_host(head)
                    {
                        // Refuse before the body arrives: no point waiting for it.
                        self.fail(cx, &ParseError::BadRequest(MISSING_HOST));
                        break;
                    }
                    self.maybe_continue(cx);
                    break;
                }
                Err(e) => {
                    self.fail(cx, &e);
                    break;
                }
            }
        }
        self.arm_timer(cx);
    }

    /// Sends `100 Continue` to a client that waits for it before sending its body.
    fn maybe_continue(&mut self, cx: &mut Cx<'_>) {
        if self.continue_sent {
            return;
        }
        if let Some(head) = self.parser.awaiting_body()
            && head.version == Version::Http11
            && head.headers.has_token("expect", "100-continue")
        {
            cx.write(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.continue_sent = true;
        }
    }

    /// Sets the one deadline: the state's own (header, idle or handler timeout) or the send
    /// timeout, whichever comes first.
    fn arm_timer(&mut self, cx: &mut Cx<'_>) {
        self.state_deadline = match self.state {
            State::Reading => {
                if self.parser.in_progress() || !cx.input().is_empty() {
                    let started = *self.request_started.get_or_insert(cx.now());
                    Some(started + self.limits.header_read_timeout)
                } else {
                    self.request_started = None;
                    Some(cx.now() + self.limits.idle_wait())
                }
            }
            State::Waiting(_) => Some(cx.now() + self.limits.idle_wait()),
            State::Streaming(_) | State::Sending(_) | State::Done => None,
        };
        self.set_deadline(cx);
    }

    /// The earlier of the state's deadline and the send timeout's.
    fn set_deadline(&mut self, cx: &mut Cx<'_>) {
        let send_deadline = self.watch_output(cx).map(|(at, _)| at);
        cx.set_deadline(match (self.state_deadline, send_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        });
    }

    /// Starts the send timeout when output is pending (and keeps it running: re-arming for
    /// other reasons must not restart it), stops it when there is none. A streamed body is
    /// bounded by [`STREAM_OUTPUT_CAP`] instead, since its producer keeps adding output.
    fn watch_output(&mut self, cx: &Cx<'_>) -> Option<(Instant, u64)> {
        if cx.pending_output() == 0 || matches!(self.state, State::Streaming(_)) {
            self.send_watch = None;
        } else if self.send_watch.is_none() {
            let due = cx.now() + self.limits.send_timeout;
            self.send_watch = Some((due, cx.output_written()));
        }
        self.send_watch
    }

    /// The send timeout, if it is due: a client that took no output at all in that time is
    /// dropped with its pending output (`true`); one that took some gets a new period.
    fn send_timed_out(&mut self, cx: &mut Cx<'_>) -> bool {
        let Some((due, written_then)) = self.send_watch else {
            return false;
        };
        if cx.now() < due {
            return false;
        }
        self.send_watch = None;
        if cx.output_written() > written_then {
            return false;
        }
        warn!(
            "{}: no output taken in {:?}, dropping the connection and {} unsent bytes",
            self.info.peer,
            self.limits.send_timeout,
            cx.pending_output()
        );
        self.state = State::Done;
        cx.abort();
        true
    }

    /// Answers a malformed or over-limit request and closes: framing may be lost.
    fn fail(&mut self, cx: &mut Cx<'_>, error: &ParseError) {
        debug!("{}: bad request: {error}", self.info.peer);
        let body = format!("{}: {error}\n", error.status().reason());
        self.error_response(cx, error.status(), body);
    }

    fn error_response(&mut self, cx: &mut Cx<'_>, status: Status, body: String) {
        let response = Response::text(status, body).header("Connection", "close");
        with_date(|date| write_response(&response, false, date, cx.output()));
        AccessLine::refused(status.code(), response.body.len()).log();
        self.state = State::Done;
        self.arm_timer(cx);
        cx.close();
    }

    fn answer(&mut self, cx: &mut Cx<'_>, req: Request) {
        let exchange = Exchange {
            method: req.method().clone(),
            host: log_enabled!(log::Level::Info)
                .then(|| req.head.host().map(str::to_owned))
                .flatten(),
            path: if log_enabled!(log::Level::Info) {
                req.path().to_owned()
            } else {
                String::new()
            },
            version: req.head.version,
            // A zero idle timeout means no keep-alive at all (nginx's `keepalive_timeout 0`).
            keep_alive: req.head.keep_alive()
                && !self.limits.idle_timeout.is_zero()
                && !self.shutting_down
                && !self.peer_done,
            started: cx.now(),
            chunked: req.head.version == Version::Http11,
            status: Status::OK,
            bytes: 0,
        };
        if missing_host(&req.head) {
            return self.fail(cx, &ParseError::BadRequest(MISSING_HOST));
        }
        let service = &self.service;
        let info = &self.info;
        let reply = match catch_unwind(AssertUnwindSafe(|| service.call(req, info))) {
            Ok(reply) => reply,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                warn!(
                    "handler panicked on {} {}: {what}",
                    exchange.method, exchange.path
                );
                Reply::Full(Response::text(
                    Status::INTERNAL_SERVER_ERROR,
                    "Internal Server Error: the handler failed\n",
                ))
            }
        };
        self.reply(cx, exchange, reply);
    }

    fn reply(&mut self, cx: &mut Cx<'_>, mut ex: Exchange, reply: Reply) {
        match reply {
            Reply::Full(mut response) => {
                set_connection_header(&mut response.headers, ex.version, ex.keep_alive);
                ex.status = response.status;
                ex.bytes = response.body.len();
                let head_only = ex.method == Method::Head;
                with_date(|date| write_response(&response, head_only, date, cx.output()));
                self.end_exchange(cx, ex);
            }
            Reply::Stream(mut response) => {
                response.headers.remove("content-length");
                if ex.chunked {
                    response.headers.insert("Transfer-Encoding", "chunked");
                } else {
                    ex.keep_alive = false;
                }
                set_connection_header(&mut response.headers, ex.version, ex.keep_alive);
                with_date(|date| {
                    response
                        .headers
                        .insert("Date", Bytes::copy_from_slice(date.as_bytes()))
                });
                ex.status = response.status;
                write_response_head(
                    Version::Http11,
                    response.status,
                    &response.headers,
                    cx.output(),
                );
                if ex.method == Method::Head {
                    ex.chunked = false;
                    return self.end_exchange(cx, ex);
                }
                self.state = State::Streaming(ex);
                self.arm_timer(cx);
            }
            Reply::File(mut response, body) => {
                set_connection_header(&mut response.headers, ex.version, ex.keep_alive);
                response.headers.remove("transfer-encoding");
                if response.status.allows_body() {
                    response
                        .headers
                        .insert("Content-Length", body.len.to_string());
                }
                ex.status = response.status;
                let head_only = ex.method == Method::Head || !response.status.allows_body();
                response.body = Bytes::new();
                with_date(|date| write_response(&response, true, date, cx.output()));
                if head_only {
                    return self.end_exchange(cx, ex);
                }
                ex.bytes = usize::try_from(body.len).unwrap_or(usize::MAX);
                let transfer = if self.limits.sendfile {
                    Transfer::Sendfile
                } else {
                    Transfer::Pread
                };
                cx.send_file(body, transfer);
                self.state = State::Sending(ex);
                self.arm_timer(cx);
                cx.notify_drained();
            }
            Reply::Upgrade(mut response, protocol) => {
                if response.status != Status::SWITCHING_PROTOCOLS {
                    response.status = Status::SWITCHING_PROTOCOLS;
                }
                ex.status = response.status;
                write_response_head(
                    Version::Http11,
                    response.status,
                    &response.headers,
                    cx.output(),
                );
                log_exchange(&ex);
                self.state = State::Done;
                cx.set_deadline(None);
                cx.upgrade(protocol);
            }
            Reply::Deferred => {
                self.state = State::Waiting(ex);
                self.arm_timer(cx);
            }
        }
    }

    /// Finishes one exchange: log it, then read the next request or close.
    fn end_exchange(&mut self, cx: &mut Cx<'_>, ex: Exchange) {
        log_exchange(&ex);
        if ex.keep_alive && !self.shutting_down {
            self.state = State::Reading;
            if !cx.input().is_empty() {
                // Pipelined requests already waiting: answer them from the loop.
                cx.reread();
            }
            self.arm_timer(cx);
        } else {
            self.state = State::Done;
            self.arm_timer(cx);
            cx.close();
        }
    }

    fn on_server_msg(&mut self, cx: &mut Cx<'_>, msg: ServerMsg) {
        match (std::mem::replace(&mut self.state, State::Done), msg) {
            (State::Streaming(mut ex), ServerMsg::Chunk(data)) => {
                if cx.pending_output() > STREAM_OUTPUT_CAP {
                    warn!(
                        "{}: slow consumer of a streamed body, dropping it",
                        self.info.peer
                    );
                    cx.abort();
                    return;
                }
                ex.bytes += data.len();
                if ex.chunked {
                    write_chunk(&data, cx.output());
                } else {
                    cx.write(&data);
                }
                self.state = State::Streaming(ex);
            }
            (State::Streaming(ex), ServerMsg::End) => {
                if ex.chunked {
                    write_last_chunk(&Headers::new(), cx.output());
                }
                self.end_exchange(cx, ex);
            }
            (State::Waiting(ex), ServerMsg::Reply(reply)) => self.reply(cx, ex, reply),
            (State::Waiting(ex), ServerMsg::Abandoned) => {
                let response = Response::text(
                    Status::INTERNAL_SERVER_ERROR,
                    "Internal Server Error: no answer was produced\n",
                );
                self.reply(cx, ex, Reply::Full(response));
            }
            (state, _) => self.state = state,
        }
    }
}

const MISSING_HOST: Malformed = Malformed::MissingHost;

/// RFC 9112 §3.2: an HTTP/1.1 request without `Host` is answered 400.
fn missing_host(head: &RequestHead) -> bool {
    head.version == Version::Http11 && !head.headers.contains("host")
}

fn set_connection_header(headers: &mut Headers, version: Version, keep_alive: bool) {
    if !keep_alive {
        headers.insert("Connection", "close");
    } else if version == Version::Http10 {
        headers.insert("Connection", "keep-alive");
    }
}

fn log_exchange(ex: &Exchange) {
    AccessLine {
        method: Some(&ex.method),
        host: ex.host.as_deref(),
        path: Some(&ex.path),
        status: ex.status.code(),
        bytes: Some(ex.bytes),
        upstream: None,
        started: Some(ex.started),
    }
    .log();
}

impl Protocol for HttpConn {
    type Message = ServerMsg;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        // Room for a full head plus a buffer's worth of body; the parser consumes as it goes.
        cx.set_read_limit(self.limits.max_head_bytes + 64 * 1024);
        self.arm_timer(cx);
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        self.process(cx);
    }

    fn on_drained(&mut self, cx: &mut Cx<'_>) {
        match std::mem::replace(&mut self.state, State::Done) {
            // The file body is all in the socket: the next request may be answered.
            State::Sending(ex) => self.end_exchange(cx, ex),
            state => {
                self.state = state;
                self.process(cx);
            }
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        self.peer_done = true;
        match self.state {
            // A client that half-closes after its request still gets its answer.
            State::Waiting(ref mut ex) | State::Sending(ref mut ex) => ex.keep_alive = false,
            State::Streaming(_) | State::Reading | State::Done => cx.close(),
        }
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        if self.send_timed_out(cx) {
            return;
        }
        if self.state_deadline.is_none_or(|at| cx.now() < at) {
            // Only the send timeout was due, and the client took some output: wait again.
            return self.set_deadline(cx);
        }
        self.state_deadline = None;
        match self.state {
            State::Reading if self.request_started.is_some() => {
                let body = "Request Timeout: the request was not received in time\n".to_owned();
                self.error_response(cx, Status::REQUEST_TIMEOUT, body);
            }
            State::Reading => cx.close_idle(),
            State::Waiting(_) => {
                let body = "Service Unavailable: the handler did not answer in time\n".to_owned();
                self.error_response(cx, Status::SERVICE_UNAVAILABLE, body);
            }
            State::Streaming(_) | State::Sending(_) | State::Done => {}
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: ServerMsg) {
        self.on_server_msg(cx, msg);
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        self.shutting_down = true;
        match self.state {
            State::Reading if !self.parser.in_progress() && cx.input().is_empty() => {
                cx.close_idle()
            }
            State::Streaming(ref mut ex) => {
                if ex.chunked {
                    write_last_chunk(&Headers::new(), cx.output());
                }
                cx.close();
            }
            // A file body is finished within the grace, then the connection closes.
            State::Sending(ref mut ex) => ex.keep_alive = false,
            // In flight: the answer goes out with `Connection: close`.
            State::Reading | State::Waiting(_) | State::Done => {}
        }
    }

    fn on_close(&mut self, reason: CloseReason) {
        self.info.closed.store(true, Ordering::Relaxed);
        if let (State::Sending(ex), CloseReason::Io(e)) = (&self.state, &reason) {
            // A file that shrank under us ends here too: its length was promised, so the only
            // honest end is to cut the connection.
            warn!("{}: sending {} failed: {e}", self.info.peer, ex.path);
        }
    }
}

/// Writes a whole response into `dst` the way the server does (with `Date`), for protocols that
/// answer HTTP themselves before switching (the proxy, upgrade handshakes).
pub fn write_full_response(response: &Response, head_only: bool, dst: &mut BytesMut) {
    with_date(|date| write_response(response, head_only, date, dst));
}
