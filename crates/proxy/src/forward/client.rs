//! The client side: one connection from a client, reading request heads, choosing an upstream,
//! streaming the request body to it and its response back, one exchange at a time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use http_core::write::{write_chunk, write_last_chunk};
use http_core::{
    BodyDecoder, BodyKind, Decoded, Headers, Malformed, Method, ParseError, RequestHead, Response,
    ResponseHead, Status, Version, parse_request_head,
};
use log::{debug, log_enabled, warn};
use reactor::server::write_full_response;
use reactor::{AccessLine, Addr, CloseReason, ConnId, ConnInfo, Cx, Inbox, Protocol, Session};

use super::exchange::{Commit, Exchange, RequestBody, ResponseBody, Retry, log_exchange};
use super::flow::{Credit, Held};
use super::headers::{ClientFraming, Outgoing, write_client_head, write_upstream_head};
use super::status_page::{STATUS_PATH, status_response};
use super::upstream::UpstreamConn;
use super::{
    Attach, Claim, ClientMsg, Failure, READ_LIMIT, Shared, Target, ToClient, ToUpstream,
    UpstreamMsg,
};

/// Where a client connection is.
enum State {
    /// Reading the next request head (or idle between requests).
    Reading,
    /// One request in flight to an upstream.
    Exchange(Box<Exchange>),
    /// Closing, or handed over to a tunnel.
    Done,
}

/// A connection from a client.
pub(crate) struct ClientConn {
    shared: Arc<Shared>,
    id: ConnId,
    /// Where this connection's upstreams answer.
    me: Addr<ClientConn>,
    peer: SocketAddr,
    client_ip: String,
    state: State,
    next_seq: u64,
    head_started: Option<Instant>,
    /// [`Cx::output_written`] when the send timer was last armed: unchanged at its expiry with
    /// output still queued means the client took none of it for `proxy_send_timeout`.
    sent_mark: u64,
    peer_done: bool,
    shutting_down: bool,
}

impl ClientConn {
    pub fn new(shared: Arc<Shared>, info: &ConnInfo, me: Addr<ClientConn>) -> ClientConn {
        ClientConn {
            shared,
            id: info.id,
            me,
            peer: info.peer,
            client_ip: info.peer.ip().to_string(),
            state: State::Reading,
            next_seq: 0,
            head_started: None,
            sent_mark: 0,
            peer_done: false,
            shutting_down: false,
        }
    }

    fn read_head(&mut self, cx: &mut Cx<'_>) {
        if !matches!(self.state, State::Reading) || cx.is_closing() {
            return;
        }
        match parse_request_head(cx.input(), &self.shared.limits) {
            Ok(Some((head, kind))) => {
                self.head_started = None;
                self.begin(cx, head, kind);
            }
            Ok(None) => self.arm(cx),
            Err(e) => self.bad_request(cx, &e),
        }
    }

    fn arm(&mut self, cx: &mut Cx<'_>) {
        match self.state {
            State::Reading if !cx.input().is_empty() => {
                let started = *self.head_started.get_or_insert(cx.now());
                cx.set_deadline(Some(started + self.shared.limits.header_read_timeout));
            }
            State::Reading => {
                self.head_started = None;
                cx.set_timeout(self.shared.limits.idle_wait());
            }
            // Once the request is in, the client is timed only on taking its answer
            // (`proxy_send_timeout`); the upstream times its own silence.
            State::Exchange(ref ex) if matches!(ex.request, RequestBody::Done) => {
                let send_timeout = self.shared.config.hosts[ex.block].send_timeout;
                self.sent_mark = cx.output_written();
                cx.set_timeout(send_timeout);
            }
            // A slow client body is timed by the client's idle limit.
            State::Exchange(_) => cx.set_timeout(self.shared.limits.idle_wait()),
            State::Done => cx.set_deadline(None),
        }
    }

    fn bad_request(&mut self, cx: &mut Cx<'_>, error: &ParseError) {
        debug!("{}: bad request: {error}", self.peer);
        let body = format!("{}: {error}\n", error.status().reason());
        self.answer_and_close(cx, error.status(), body);
    }

    /// Answers from the proxy itself and closes (framing may be lost, or the upstream failed).
    fn answer_and_close(&mut self, cx: &mut Cx<'_>, status: Status, body: String) {
        let response = Response::text(status, body).header("Connection", "close");
        write_full_response(&response, false, cx.output());
        AccessLine::refused(status.code(), response.body.len()).log();
        self.state = State::Done;
        cx.set_deadline(None);
        cx.close();
    }

    /// Whether the connection stays open after answering `head`: the client asks for it, the
    /// idle timeout is not zero (`--keepalive-timeout 0` turns keep-alive off), and neither
    /// side is closing.
    fn keeps_alive(&self, head: &RequestHead) -> bool {
        head.keep_alive()
            && !self.shared.limits.idle_timeout.is_zero()
            && !self.shutting_down
            && !self.peer_done
    }

    /// Answers a request from the proxy itself, keeping the connection when the request allows.
    fn answer_local(&mut self, cx: &mut Cx<'_>, head: &RequestHead, mut response: Response) {
        let keep_alive = self.keeps_alive(head);
        if !keep_alive {
            response.headers.insert("Connection", "close");
        } else if head.version == Version::Http10 {
            response.headers.insert("Connection", "keep-alive");
        }
        write_full_response(&response, head.method == Method::Head, cx.output());
        AccessLine {
            method: Some(&head.method),
            host: head.host(),
            path: Some(head.path()),
            status: response.status.code(),
            bytes: Some(response.body.len()),
            upstream: None,
            started: None,
        }
        .log();
        if keep_alive {
            if !cx.input().is_empty() {
                cx.reread();
            }
            self.arm(cx);
        } else {
            self.state = State::Done;
            cx.set_deadline(None);
            cx.close();
        }
    }

    /// A request head is in: answer it locally, or route it and send it upstream.
    fn begin(&mut self, cx: &mut Cx<'_>, head: RequestHead, kind: BodyKind) {
        if head.version == Version::Http11 && !head.headers.contains("host") {
            let error = ParseError::BadRequest(Malformed::MissingHost);
            return self.bad_request(cx, &error);
        }
        if head.path() == STATUS_PATH && matches!(head.method, Method::Get | Method::Head) {
            if kind != BodyKind::Empty {
                let error = ParseError::BadRequest(Malformed::StatusWithBody);
                return self.bad_request(cx, &error);
            }
            let response = status_response(self.peer.ip(), || self.shared.lock().pools.status());
            return self.answer_local(cx, &head, response);
        }
        let host = head.host().unwrap_or_default().trim().to_owned();
        let Some(block) = self.shared.config.route(head.host()) else {
            let body = format!("Not Found: no proxy host block matches Host \"{host}\"\n");
            if kind == BodyKind::Empty {
                return self.answer_local(cx, &head, Response::text(Status::NOT_FOUND, body));
            }
            return self.answer_and_close(cx, Status::NOT_FOUND, body);
        };
        let wanted = self.shared.config.hosts[block]
            .sticky
            .as_ref()
            .and_then(|sticky| sticky.requested(&head.headers));
        let picked = self
            .shared
            .lock()
            .pools
            .get_mut(block)
            .and_then(|pool| pool.pick_preferring(wanted));
        let Some(backend) = picked else {
            return self.all_down(cx, block);
        };
        let target = self.target(block, backend);
        let mut wire = BytesMut::with_capacity(512);
        let shared = self.shared.clone();
        let conf = &shared.config.hosts[block];
        write_upstream_head(
            &Outgoing {
                head: &head,
                kind,
                block: conf,
                upstream: &conf.upstreams[backend],
                client_ip: &self.client_ip,
            },
            &mut wire,
        );
        let keep_alive = self.keeps_alive(&head);
        let exchange = Exchange {
            path: if log_enabled!(log::Level::Info) {
                head.path().to_owned()
            } else {
                String::new()
            },
            method: head.method,
            version: head.version,
            host,
            started: cx.now(),
            keep_alive,
            upgrade: head.headers.has_token("connection", "upgrade")
                && head.headers.contains("upgrade"),
            kind,
            wire: wire.freeze(),
            block,
            target,
            wanted,
            seq: 0,
            upstream: None,
            retry: Retry::Available,
            request: match kind {
                BodyKind::Empty | BodyKind::Length(0) => RequestBody::Done,
                _ => RequestBody::AwaitingReady,
            },
            commit: Commit::Untouched,
            up: Arc::default(),
            response: ResponseBody::AwaitingHead,
            down: Arc::default(),
            held: Held::default(),
            status: 0,
        };
        self.state = State::Exchange(Box::new(exchange));
        self.dispatch(cx, true);
        self.arm(cx);
    }

    fn target(&self, block: usize, backend: usize) -> Target {
        Target {
            block,
            backend,
            addr: self.shared.addrs[block][backend],
        }
    }

    fn all_down(&mut self, cx: &mut Cx<'_>, block: usize) {
        let host = self.shared.config.hosts[block].host.to_string();
        let body = format!("Bad Gateway: no upstream of host block \"{host}\" is reachable\n");
        self.fail_exchange(cx, Status::BAD_GATEWAY, body);
    }

    /// Sends the current attempt to its upstream: a pooled idle connection when `pooled` and
    /// one is there, else a new connection.
    fn dispatch(&mut self, cx: &mut Cx<'_>, pooled: bool) {
        let State::Exchange(ex) = &mut self.state else {
            return;
        };
        self.next_seq += 1;
        ex.seq = self.next_seq;
        // Fresh counters per attempt: nothing of an abandoned attempt is owed.
        ex.up = Arc::default();
        ex.down = Arc::default();
        ex.held = Held::default();
        let claim = Claim {
            client: self.me.clone(),
            seq: ex.seq,
        };
        let attach = Box::new(Attach {
            client: self.me.clone(),
            client_id: self.id,
            seq: ex.seq,
            target: ex.target,
            wire: ex.wire.clone(),
            method: ex.method.clone(),
            body: ex.kind,
            upgrade: ex.upgrade,
            timeout: self.shared.config.hosts[ex.block].timeout,
            up: ex.up.clone(),
            down: ex.down.clone(),
        });
        let idle = {
            let mut state = self.shared.lock();
            if let Some(pool) = state.pools.get_mut(ex.target.block) {
                pool.acquire(ex.target.backend);
            }
            if pooled {
                state.idle.checkout(&ex.target.addr, claim)
            } else {
                None
            }
        };
        ex.upstream = Some(match idle {
            Some(conn) => {
                let msg = ToUpstream {
                    from: self.id,
                    seq: ex.seq,
                    msg: UpstreamMsg::Attach(attach),
                };
                cx.send(&conn, msg);
                conn
            }
            None => {
                let inbox = Inbox::default();
                let conn = inbox.addr();
                let upstream = UpstreamConn::dial(conn.clone(), self.shared.clone(), attach);
                cx.connect(ex.target.addr, inbox.bind(upstream));
                conn
            }
        });
    }

    /// Moves request body bytes from the input to the upstream while it is allowed.
    fn pump_body(&mut self, cx: &mut Cx<'_>) {
        let State::Exchange(ex) = &mut self.state else {
            return;
        };
        let Some(upstream) = &ex.upstream else {
            return;
        };
        loop {
            let RequestBody::Streaming { decoder, credit } = &mut ex.request else {
                return;
            };
            if *credit == Credit::Paused {
                break;
            }
            let msg = match decoder.decode(cx.input()) {
                Ok(Decoded::Data(data)) => {
                    ex.commit = Commit::BodySent;
                    if ex.up.sent(data.len()) {
                        *credit = Credit::Paused;
                    }
                    UpstreamMsg::Body(data)
                }
                Ok(Decoded::NeedMore) => return,
                Ok(Decoded::Done) => {
                    ex.request = RequestBody::Done;
                    UpstreamMsg::BodyEnd
                }
                Err(e) => return self.body_error(cx, &e),
            };
            let done = matches!(msg, UpstreamMsg::BodyEnd);
            let seq = ex.seq;
            cx.send(
                upstream,
                ToUpstream {
                    from: self.id,
                    seq,
                    msg,
                },
            );
            if done {
                if matches!(ex.response, ResponseBody::Done) {
                    self.finish(cx);
                }
                return;
            }
        }
        cx.pause_reading();
    }

    fn body_error(&mut self, cx: &mut Cx<'_>, error: &ParseError) {
        self.abort_upstream(cx);
        let head_sent = match &self.state {
            State::Exchange(ex) => !matches!(ex.response, ResponseBody::AwaitingHead),
            _ => true,
        };
        self.release();
        if head_sent {
            self.state = State::Done;
            cx.abort();
        } else {
            self.bad_request(cx, error);
        }
    }

    /// Tells the upstream of an unfinished exchange to give up its connection.
    fn abort_upstream(&mut self, cx: &mut Cx<'_>) {
        if let State::Exchange(ex) = &self.state
            && let Some(upstream) = &ex.upstream
        {
            let msg = ToUpstream {
                from: self.id,
                seq: ex.seq,
                msg: UpstreamMsg::Abort,
            };
            cx.send(upstream, msg);
        }
    }

    /// The current attempt no longer counts against its upstream.
    fn release(&mut self) {
        if let State::Exchange(ex) = &mut self.state
            && ex.upstream.take().is_some()
            && let Some(pool) = self.shared.lock().pools.get_mut(ex.target.block)
        {
            pool.release(ex.target.backend);
        }
    }

    /// Both directions are complete: log, then read the next request or close.
    fn finish(&mut self, cx: &mut Cx<'_>) {
        self.release();
        let State::Exchange(mut ex) = std::mem::replace(&mut self.state, State::Reading) else {
            return;
        };
        log_exchange(&ex);
        if ex.request.unpause() {
            cx.resume_reading();
        }
        if ex.keep_alive && !self.shutting_down && !self.peer_done {
            if !cx.input().is_empty() {
                cx.reread();
            }
            self.arm(cx);
        } else {
            self.state = State::Done;
            cx.set_deadline(None);
            cx.close();
        }
    }

    /// Ends an exchange with an answer of the proxy's own when nothing was sent to the client
    /// yet; otherwise the client's connection is cut, since its framing cannot be completed.
    fn fail_exchange(&mut self, cx: &mut Cx<'_>, status: Status, body: String) {
        let head_sent = match &mut self.state {
            State::Exchange(ex) => {
                let head_sent = !matches!(ex.response, ResponseBody::AwaitingHead);
                // A started response keeps the status the client got in the log.
                if !head_sent {
                    ex.status = status.code();
                }
                head_sent
            }
            _ => false,
        };
        self.release();
        if let State::Exchange(ex) = &self.state {
            log_exchange(ex);
        }
        if head_sent {
            self.state = State::Done;
            cx.close();
            return;
        }
        let response = Response::text(status, body).header("Connection", "close");
        write_full_response(&response, false, cx.output());
        self.state = State::Done;
        cx.set_deadline(None);
        cx.close();
    }

    fn on_failure(&mut self, cx: &mut Cx<'_>, failure: Failure) {
        let State::Exchange(ex) = &mut self.state else {
            return;
        };
        let untouched =
            ex.commit == Commit::Untouched && matches!(ex.response, ResponseBody::AwaitingHead);
        let authority = self.shared.config.hosts[ex.block].upstreams[ex.target.backend].authority();
        match failure {
            Failure::Vanished if untouched => self.restart(cx, None),
            Failure::Stale if untouched && ex.method.is_idempotent() => {
                // A pooled connection the upstream had closed: the same upstream, fresh. Only
                // for a method that may be repeated: the upstream may have acted on a POST before
                // the connection broke (nginx and Go's client draw the same line).
                self.restart(cx, None);
            }
            Failure::Connect if untouched && ex.retry == Retry::Available => {
                ex.retry = Retry::Used;
                let (block, failed) = (ex.block, ex.target.backend);
                let other = self
                    .shared
                    .lock()
                    .pools
                    .get_mut(block)
                    .and_then(|pool| pool.pick_other(failed));
                match other {
                    Some(backend) => self.restart(cx, Some(backend)),
                    None => {
                        self.release();
                        self.all_down(cx, block);
                    }
                }
            }
            Failure::Connect | Failure::Vanished | Failure::Stale | Failure::Broken => {
                let body = format!("Bad Gateway: upstream {authority} failed to answer\n");
                self.fail_exchange(cx, Status::BAD_GATEWAY, body);
            }
            Failure::Timeout => {
                let body =
                    format!("Gateway Timeout: upstream {authority} did not answer in time\n");
                self.fail_exchange(cx, Status::GATEWAY_TIMEOUT, body);
            }
        }
    }

    /// Starts the exchange again, on `backend` (or the same upstream) with a new connection.
    fn restart(&mut self, cx: &mut Cx<'_>, backend: Option<usize>) {
        self.release();
        let (block, backend) = match &self.state {
            State::Exchange(ex) => (ex.block, backend.unwrap_or(ex.target.backend)),
            State::Reading | State::Done => return,
        };
        let target = self.target(block, backend);
        let State::Exchange(ex) = &mut self.state else {
            return;
        };
        ex.target = target;
        if ex.request.unpause() {
            cx.resume_reading();
        }
        if matches!(ex.request, RequestBody::Streaming { .. }) {
            ex.request = RequestBody::AwaitingReady;
        }
        // A new connection: the retry must not land on another stale pooled one.
        self.dispatch(cx, false);
    }

    fn on_upstream_msg(&mut self, cx: &mut Cx<'_>, msg: ToClient) {
        let State::Exchange(ex) = &mut self.state else {
            return;
        };
        if msg.seq != ex.seq {
            return;
        }
        match msg.msg {
            ClientMsg::Ready => {
                if matches!(ex.request, RequestBody::AwaitingReady) {
                    ex.request = RequestBody::Streaming {
                        decoder: BodyDecoder::new(ex.kind),
                        credit: Credit::Flowing,
                    };
                    self.pump_body(cx);
                    if !cx.is_closing() {
                        // Input may have stopped at the cap while the body waited.
                        cx.reread();
                    }
                }
            }
            ClientMsg::Interim(wire) => {
                if ex.version == Version::Http11 {
                    cx.write(&wire);
                }
            }
            ClientMsg::Head(head, kind) => self.on_head(cx, *head, kind, None),
            ClientMsg::Switched(head, tunnel) => {
                self.on_head(cx, *head, BodyKind::Empty, Some(tunnel))
            }
            ClientMsg::Body(data) => {
                let ResponseBody::Streaming(framing) = ex.response else {
                    return;
                };
                if framing == ClientFraming::Chunked {
                    write_chunk(&data, cx.output());
                } else {
                    cx.write(&data);
                }
                let pending = cx.pending_output();
                let mut drain = false;
                let resume = ex
                    .held
                    .written(&ex.down, data.len(), pending, || drain = true);
                if resume && let Some(upstream) = &ex.upstream {
                    let msg = ToUpstream {
                        from: self.id,
                        seq: ex.seq,
                        msg: UpstreamMsg::Resume,
                    };
                    cx.send(upstream, msg);
                }
                if drain {
                    cx.notify_drained();
                }
            }
            ClientMsg::End => {
                if let ResponseBody::Streaming(ClientFraming::Chunked) = ex.response {
                    write_last_chunk(&Headers::new(), cx.output());
                }
                let close_delimited = matches!(
                    ex.response,
                    ResponseBody::Streaming(ClientFraming::CloseDelimited)
                );
                ex.response = ResponseBody::Done;
                if close_delimited {
                    ex.keep_alive = false;
                }
                if !matches!(ex.request, RequestBody::Done) {
                    // The upstream answered before the body was complete (its connection is
                    // not reused); rather than read the rest of the body to find the next
                    // request, close after the answer.
                    ex.keep_alive = false;
                    if ex.request.unpause() {
                        cx.resume_reading();
                    }
                    ex.request = RequestBody::Done;
                }
                self.finish(cx);
            }
            ClientMsg::Resume => {
                if ex.request.unpause() {
                    cx.resume_reading();
                    self.pump_body(cx);
                }
            }
            ClientMsg::Failed(failure) => self.on_failure(cx, failure),
        }
    }

    /// The response head; `tunnel` is this connection's half of the tunnel after a `101`.
    fn on_head(
        &mut self,
        cx: &mut Cx<'_>,
        mut head: ResponseHead,
        kind: BodyKind,
        tunnel: Option<Session>,
    ) {
        let State::Exchange(ex) = &mut self.state else {
            return;
        };
        if !matches!(ex.response, ResponseBody::AwaitingHead) {
            return;
        }
        // A client new to the block, or failed over from its upstream, is told where it now is.
        if let Some(sticky) = &self.shared.config.hosts[ex.block].sticky
            && ex.wanted != Some(ex.target.backend)
        {
            head.headers
                .append("Set-Cookie", sticky.set_cookie(ex.target.backend));
        }
        ex.status = head.status.code();
        if head.status.code() == 101 {
            // Only sent for an upgrade request: both sides become a tunnel.
            write_client_head(&head, ClientFraming::Empty, true, ex.version, cx.output());
            log_exchange(ex);
            self.release();
            self.state = State::Done;
            cx.set_deadline(None);
            if let Some(tunnel) = tunnel {
                cx.upgrade(tunnel);
            } else {
                cx.close();
            }
            return;
        }
        if ex.upgrade {
            // Refused upgrade: the client may already be sending the new protocol.
            ex.keep_alive = false;
        }
        let framing = match ClientFraming::for_client(kind, ex.version) {
            ClientFraming::Length(_) | ClientFraming::Chunked | ClientFraming::CloseDelimited
                if ex.method == Method::Head =>
            {
                ClientFraming::Empty
            }
            framing => framing,
        };
        if framing == ClientFraming::CloseDelimited {
            ex.keep_alive = false;
        }
        write_client_head(&head, framing, ex.keep_alive, ex.version, cx.output());
        ex.response = ResponseBody::Streaming(framing);
    }
}

impl Protocol for ClientConn {
    type Message = ToClient;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_read_limit(self.shared.limits.max_head_bytes + READ_LIMIT);
        self.arm(cx);
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        let limit = self.shared.limits.max_head_bytes + READ_LIMIT;
        let before = cx.input().len();
        match self.state {
            State::Reading => self.read_head(cx),
            State::Exchange(_) => self.pump_body(cx),
            State::Done => {}
        }
        if before >= limit && cx.input().len() < before && !cx.is_closing() {
            // The loop stopped reading at the cap; nothing else would wake it.
            cx.reread();
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        self.peer_done = true;
        match &mut self.state {
            State::Exchange(ex) if matches!(ex.request, RequestBody::Done) => {
                // A client that half-closes after its request still gets its answer.
                ex.keep_alive = false;
            }
            State::Exchange(_) => {
                self.abort_upstream(cx);
                self.release();
                self.state = State::Done;
                cx.close();
            }
            State::Reading | State::Done => cx.close(),
        }
    }

    fn on_drained(&mut self, cx: &mut Cx<'_>) {
        if let State::Exchange(ex) = &mut self.state
            && ex.held.drained(&ex.down)
            && let Some(upstream) = &ex.upstream
        {
            let msg = ToUpstream {
                from: self.id,
                seq: ex.seq,
                msg: UpstreamMsg::Resume,
            };
            cx.send(upstream, msg);
        }
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        match self.state {
            State::Reading if self.head_started.is_some() => {
                let body = "Request Timeout: the request was not received in time\n".to_owned();
                self.answer_and_close(cx, Status::REQUEST_TIMEOUT, body);
            }
            State::Exchange(ref ex) if !matches!(ex.request, RequestBody::Done) => {
                // The client stopped sending its body.
                self.abort_upstream(cx);
                self.release();
                self.state = State::Done;
                cx.abort();
            }
            State::Exchange(_)
                if cx.pending_output() > 0 && cx.output_written() == self.sent_mark =>
            {
                warn!(
                    "{}: the client took none of its answer for proxy_send_timeout; dropping it",
                    self.peer
                );
                self.abort_upstream(cx);
                self.release();
                if let State::Exchange(ex) = &self.state {
                    log_exchange(ex);
                }
                self.state = State::Done;
                cx.abort();
            }
            State::Exchange(_) => self.arm(cx),
            State::Reading | State::Done => cx.close(),
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: ToClient) {
        self.on_upstream_msg(cx, msg);
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        self.shutting_down = true;
        match &mut self.state {
            State::Reading if cx.input().is_empty() => cx.close(),
            State::Exchange(ex) => ex.keep_alive = false,
            State::Reading | State::Done => {}
        }
    }

    fn on_close(&mut self, _reason: CloseReason) {
        if let State::Exchange(ex) = &self.state
            && let Some(upstream) = &ex.upstream
        {
            let msg = ToUpstream {
                from: self.id,
                seq: ex.seq,
                msg: UpstreamMsg::Abort,
            };
            self.shared.handle.send(upstream, msg);
        }
        self.release();
    }
}
