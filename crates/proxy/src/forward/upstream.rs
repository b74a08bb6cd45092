//! The upstream side: one keep-alive connection to an upstream, serving one exchange at a time
//! for whichever client attached it, and idling in the pool in between.

use std::net::SocketAddr;
use std::sync::Arc;

use super::flow::{Flow, Held};
use std::time::Instant;

use bytes::BytesMut;
use http_core::write::{write_chunk, write_last_chunk, write_response_head};
use http_core::{BodyDecoder, BodyKind, Decoded, Headers, Method, Version, parse_response_head};
use log::debug;
use reactor::{CloseReason, ConnId, Cx, Message, Protocol};

use super::tunnel::Tunnel;
use super::{
    Attach, ClientMsg, Failure, READ_LIMIT, Shared, Target, ToClient, ToUpstream,
    UPSTREAM_IDLE_TIMEOUT, UpstreamMsg,
};

/// Where an upstream connection is.
enum State {
    /// Dialled for this exchange; waiting for the connect.
    Connecting(Box<Attach>),
    /// In the pool, waiting for a client.
    Idle,
    /// Serving one exchange.
    Busy(Box<Busy>),
    /// Closing; the client, if any, has been told.
    Done,
}

/// One exchange in progress.
struct Busy {
    client: ConnId,
    seq: u64,
    method: Method,
    timeout: std::time::Duration,
    /// The request body is re-encoded chunked.
    req_chunked: bool,
    req_done: bool,
    /// `None` until the response head is in.
    response: Option<BodyDecoder>,
    /// Any byte of response arrived.
    answered: bool,
    /// The response lets the connection be reused.
    reusable: bool,
    /// This exchange runs on a pooled connection (a close before any answer is "stale").
    reused: bool,
    /// Request body credit held while our output is full.
    held: Held,
    up: Arc<Flow>,
    down: Arc<Flow>,
    /// Reading paused for lack of response credit.
    paused: bool,
    upgrade: bool,
}

/// A connection to one upstream.
pub(crate) struct UpstreamConn {
    shared: Arc<Shared>,
    addr: SocketAddr,
    id: Option<ConnId>,
    state: State,
    shutting_down: bool,
}

impl UpstreamConn {
    /// A connection to be dialled for `attach`.
    pub fn dial(shared: Arc<Shared>, attach: Box<Attach>) -> UpstreamConn {
        UpstreamConn {
            shared,
            addr: attach.target.addr,
            id: None,
            state: State::Connecting(attach),
            shutting_down: false,
        }
    }

    fn start(&mut self, cx: &mut Cx<'_>, attach: Attach, reused: bool) {
        let Attach {
            client,
            seq,
            wire,
            method,
            body,
            upgrade,
            timeout,
            up,
            down,
            ..
        } = attach;
        cx.write(&wire);
        let req_done = matches!(body, BodyKind::Empty | BodyKind::Length(0));
        if !req_done {
            cx.send(
                client,
                Box::new(ToClient {
                    seq,
                    msg: ClientMsg::Ready,
                }),
            );
        }
        self.state = State::Busy(Box::new(Busy {
            client,
            seq,
            method,
            timeout,
            req_chunked: body == BodyKind::Chunked,
            req_done,
            response: None,
            answered: false,
            reusable: true,
            reused,
            held: Held::default(),
            up,
            down,
            paused: false,
            upgrade,
        }));
        self.arm(cx);
    }

    /// The upstream's silence is timed once the whole request is out; before that the client's
    /// pace rules.
    fn arm(&self, cx: &mut Cx<'_>) {
        match &self.state {
            State::Busy(b) if b.req_done => cx.set_timeout(b.timeout),
            State::Busy(_) | State::Connecting(_) | State::Done => cx.set_deadline(None),
            State::Idle => cx.set_timeout(UPSTREAM_IDLE_TIMEOUT),
        }
    }

    /// Tells the client of the current exchange that it failed, and closes.
    fn fail(&mut self, cx: &mut Cx<'_>, failure: Failure) {
        if let State::Busy(b) = std::mem::replace(&mut self.state, State::Done) {
            debug!("upstream {}: exchange failed: {failure:?}", self.addr);
            tell(cx, b.client, b.seq, ClientMsg::Failed(failure));
        }
        cx.abort();
    }

    fn read_response(&mut self, cx: &mut Cx<'_>) {
        let State::Busy(b) = &mut self.state else {
            return;
        };
        if !cx.input().is_empty() {
            b.answered = true;
            if b.req_done {
                cx.set_timeout(b.timeout);
            }
        }
        loop {
            let Some(decoder) = b.response.as_mut() else {
                match parse_response_head(cx.input(), &self.shared.limits, &b.method) {
                    Ok(None) => return,
                    Ok(Some((head, kind))) => {
                        let code = head.status.code();
                        if code == 101 && b.upgrade {
                            let client = b.client;
                            tell(cx, client, b.seq, ClientMsg::Head(Box::new(head), kind));
                            let tunnel = Tunnel::new(
                                client,
                                self.shared.handle.clone(),
                                b.down.clone(),
                                b.up.clone(),
                            );
                            if b.paused {
                                cx.resume_reading();
                            }
                            self.state = State::Done;
                            cx.set_deadline(None);
                            cx.upgrade(Box::new(tunnel));
                            return;
                        }
                        if head.status.is_informational() {
                            if code == 101 {
                                return self.fail(cx, Failure::Broken);
                            }
                            let mut wire = BytesMut::new();
                            write_response_head(
                                Version::Http11,
                                head.status,
                                &head.headers,
                                &mut wire,
                            );
                            tell(cx, b.client, b.seq, ClientMsg::Interim(wire.freeze()));
                            continue;
                        }
                        b.reusable = head.version == Version::Http11
                            && !head.headers.has_token("connection", "close")
                            && kind != BodyKind::CloseDelimited
                            && !b.upgrade;
                        b.response = Some(BodyDecoder::response(kind));
                        tell(cx, b.client, b.seq, ClientMsg::Head(Box::new(head), kind));
                        continue;
                    }
                    Err(e) => {
                        debug!("upstream {}: bad response: {e}", self.addr);
                        return self.fail(cx, Failure::Broken);
                    }
                }
            };
            match decoder.decode(cx.input()) {
                Ok(Decoded::Data(data)) => {
                    if b.down.sent(data.len()) && !b.paused {
                        b.paused = true;
                        cx.pause_reading();
                    }
                    tell(cx, b.client, b.seq, ClientMsg::Body(data));
                }
                Ok(Decoded::NeedMore) => return,
                Ok(Decoded::Done) => return self.response_done(cx),
                Err(e) => {
                    debug!("upstream {}: bad response body: {e}", self.addr);
                    return self.fail(cx, Failure::Broken);
                }
            }
        }
    }

    /// The response is complete: back to the pool, or closed when it cannot be reused.
    fn response_done(&mut self, cx: &mut Cx<'_>) {
        let State::Busy(b) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        tell(cx, b.client, b.seq, ClientMsg::End);
        let reuse = b.reusable && b.req_done && !self.shutting_down && cx.input().is_empty();
        if b.paused {
            // Reading was paused for this client; the next one starts fresh.
            cx.resume_reading();
        }
        if reuse && let Some(id) = self.id {
            let kept = self.shared.lock().idle.checkin(self.addr, id);
            if kept {
                self.state = State::Idle;
                self.arm(cx);
                return;
            }
        }
        cx.set_deadline(None);
        cx.close();
    }

    fn on_client_msg(&mut self, cx: &mut Cx<'_>, msg: ToUpstream) {
        if let UpstreamMsg::Attach(attach) = msg.msg {
            if matches!(self.state, State::Idle) {
                if let Some(id) = self.id {
                    self.shared.lock().idle.attached(id);
                }
                self.start(cx, *attach, true);
            }
            return;
        }
        let State::Busy(b) = &mut self.state else {
            return;
        };
        if b.client != msg.from || b.seq != msg.seq {
            return;
        }
        match msg.msg {
            UpstreamMsg::Attach(_) => {}
            UpstreamMsg::Body(data) => {
                if b.req_chunked {
                    write_chunk(&data, cx.output());
                } else {
                    cx.write(&data);
                }
                let pending = cx.pending_output();
                let mut drain = false;
                if b.held.written(&b.up, data.len(), pending, || drain = true) {
                    tell(cx, b.client, b.seq, ClientMsg::Resume);
                }
                if drain {
                    cx.notify_drained();
                }
            }
            UpstreamMsg::BodyEnd => {
                if b.req_chunked {
                    write_last_chunk(&Headers::new(), cx.output());
                }
                b.req_done = true;
                if b.response.as_ref().is_some_and(BodyDecoder::is_done) {
                    return self.response_done(cx);
                }
                self.arm(cx);
            }
            UpstreamMsg::Resume => {
                b.paused = false;
                cx.resume_reading();
            }
            UpstreamMsg::Abort => {
                self.state = State::Done;
                cx.abort();
            }
        }
    }
}

fn tell(cx: &mut Cx<'_>, client: ConnId, seq: u64, msg: ClientMsg) {
    cx.send(client, Box::new(ToClient { seq, msg }));
}

impl Protocol for UpstreamConn {
    fn on_open(&mut self, cx: &mut Cx<'_>) {
        self.id = Some(cx.id());
        cx.set_read_limit(READ_LIMIT);
        if let State::Connecting(attach) = std::mem::replace(&mut self.state, State::Done) {
            let Target { block, backend, .. } = attach.target;
            if let Some(pool) = self.shared.lock().pools.get_mut(block) {
                pool.record_connect_success(backend);
            }
            self.start(cx, *attach, false);
        }
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        let was_full = cx.input().len() >= READ_LIMIT;
        match self.state {
            State::Busy(_) => self.read_response(cx),
            // An idle upstream has nothing to say; whatever it sent breaks the framing.
            State::Idle => {
                self.state = State::Done;
                cx.abort();
            }
            State::Connecting(_) | State::Done => {}
        }
        if was_full && cx.input().len() < READ_LIMIT && !cx.is_closing() {
            // The loop stopped reading at the cap; nothing else would wake it.
            cx.reread();
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        match &mut self.state {
            State::Busy(b) => {
                let ends_here = b
                    .response
                    .as_mut()
                    .is_some_and(|d| d.finish_on_eof().is_ok());
                if ends_here {
                    b.reusable = false;
                    return self.response_done(cx);
                }
                let failure = if b.reused && !b.answered {
                    Failure::Stale
                } else {
                    Failure::Broken
                };
                self.fail(cx, failure);
            }
            State::Idle | State::Connecting(_) | State::Done => {
                self.state = State::Done;
                cx.close();
            }
        }
    }

    fn on_drained(&mut self, cx: &mut Cx<'_>) {
        if let State::Busy(b) = &mut self.state
            && b.held.drained(&b.up)
        {
            tell(cx, b.client, b.seq, ClientMsg::Resume);
        }
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        match self.state {
            State::Busy(_) => self.fail(cx, Failure::Timeout),
            State::Idle => {
                self.state = State::Done;
                cx.close();
            }
            State::Connecting(_) | State::Done => {}
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: Message) {
        if let Ok(msg) = msg.downcast::<ToUpstream>() {
            self.on_client_msg(cx, *msg);
        }
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        self.shutting_down = true;
        if matches!(self.state, State::Idle | State::Done) {
            cx.close();
        }
    }

    fn on_close(&mut self, reason: CloseReason) {
        let shared = self.shared.clone();
        let mut state = shared.lock();
        if let Some(id) = self.id
            && let Some(claim) = state.idle.remove(&self.addr, id)
        {
            // Taken from the pool, but closed before the attach arrived.
            let msg = ToClient {
                seq: claim.seq,
                msg: ClientMsg::Failed(Failure::Vanished),
            };
            shared.handle.send(claim.client, Box::new(msg));
        }
        match std::mem::replace(&mut self.state, State::Done) {
            State::Connecting(attach) => {
                let failure = match reason {
                    CloseReason::ConnectFailed(e) => {
                        debug!("connect to {} failed: {e}", self.addr);
                        let Target { block, backend, .. } = attach.target;
                        if let Some(pool) = state.pools.get_mut(block) {
                            pool.record_connect_failure(backend, Instant::now());
                        }
                        Failure::Connect
                    }
                    _ => Failure::Broken,
                };
                let msg = ToClient {
                    seq: attach.seq,
                    msg: ClientMsg::Failed(failure),
                };
                shared.handle.send(attach.client, Box::new(msg));
            }
            State::Busy(b) => {
                let failure = if b.reused && !b.answered {
                    Failure::Stale
                } else {
                    Failure::Broken
                };
                let msg = ToClient {
                    seq: b.seq,
                    msg: ClientMsg::Failed(failure),
                };
                shared.handle.send(b.client, Box::new(msg));
            }
            State::Idle | State::Done => {}
        }
    }
}
