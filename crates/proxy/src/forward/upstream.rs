//! The upstream side: one keep-alive connection to an upstream, serving one exchange at a time
//! for whichever client attached it, and idling in the pool in between.

use std::net::SocketAddr;
use std::sync::Arc;

use super::flow::{Credit, Flow, Held};
use std::time::Instant;

use bytes::BytesMut;
use http_core::write::{write_chunk, write_last_chunk, write_response_head};
use http_core::{BodyDecoder, BodyKind, Decoded, Headers, Method, Version, parse_response_head};
use log::debug;
use reactor::{Addr, CloseReason, ConnId, Cx, Inbox, Protocol};

use super::client::ClientConn;
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
    client: Addr<ClientConn>,
    /// The client's id, which its messages carry.
    client_id: ConnId,
    seq: u64,
    method: Method,
    timeout: std::time::Duration,
    request: Sending,
    response: Answer,
    /// Reading paused for lack of response credit.
    reading: Credit,
    conn: Reuse,
    /// Request body credit held while our output is full.
    held: Held,
    up: Arc<Flow>,
    down: Arc<Flow>,
    upgrade: bool,
}

/// Where the request body towards the upstream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sending {
    /// Body pieces are written as they come.
    Plain,
    /// Body pieces are re-encoded chunked.
    Chunked,
    /// The whole request is out: the upstream's silence is timed from here.
    Done,
}

/// Where the upstream's answer is.
enum Answer {
    /// Not a byte yet: a reused connection closing now was stale.
    Silent,
    /// Some of the head arrived.
    Head,
    /// The head is in and its body being decoded; `reusable` when the response lets the
    /// connection serve another exchange.
    Body {
        decoder: BodyDecoder,
        reusable: bool,
    },
}

/// Whether the exchange runs on a connection fresh from a dial or reused from the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reuse {
    Fresh,
    Pooled,
}

impl Busy {
    /// Whether the exchange is waiting on the upstream: the request is all out and the client
    /// is taking the response as fast as it comes.
    fn waits_on_upstream(&self) -> bool {
        self.request == Sending::Done && self.reading == Credit::Flowing
    }

    /// Why the exchange failed when the connection broke now.
    fn broken(&self) -> Failure {
        match (self.conn, &self.response) {
            (Reuse::Pooled, Answer::Silent) => Failure::Stale,
            _ => Failure::Broken,
        }
    }

    /// The response is complete.
    fn response_complete(&self) -> bool {
        matches!(&self.response, Answer::Body { decoder, .. } if decoder.is_done())
    }
}

/// A connection to one upstream.
pub(crate) struct UpstreamConn {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// This connection, as the idle pool knows it.
    me: Addr<UpstreamConn>,
    state: State,
    shutting_down: bool,
}

impl UpstreamConn {
    /// A connection to be dialled for `attach`, reachable at `me`.
    pub fn dial(me: Addr<UpstreamConn>, shared: Arc<Shared>, attach: Box<Attach>) -> UpstreamConn {
        UpstreamConn {
            shared,
            addr: attach.target.addr,
            me,
            state: State::Connecting(attach),
            shutting_down: false,
        }
    }

    fn start(&mut self, cx: &mut Cx<'_>, attach: Attach, conn: Reuse) {
        let Attach {
            client,
            client_id,
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
        let request = match body {
            BodyKind::Empty | BodyKind::Length(0) => Sending::Done,
            BodyKind::Chunked => Sending::Chunked,
            _ => Sending::Plain,
        };
        if request != Sending::Done {
            tell(cx, &client, seq, ClientMsg::Ready);
        }
        self.state = State::Busy(Box::new(Busy {
            client,
            client_id,
            seq,
            method,
            timeout,
            request,
            response: Answer::Silent,
            reading: Credit::Flowing,
            conn,
            held: Held::default(),
            up,
            down,
            upgrade,
        }));
        self.arm(cx);
    }

    /// The upstream's silence (`proxy_read_timeout`) is timed only while the proxy waits on it:
    /// once the whole request is out, and not while reading is paused because the client is slow
    /// to take the response (the client's own send timeout covers that).
    fn arm(&self, cx: &mut Cx<'_>) {
        match &self.state {
            State::Busy(b) if b.waits_on_upstream() => cx.set_timeout(b.timeout),
            State::Busy(_) | State::Connecting(_) | State::Done => cx.set_deadline(None),
            State::Idle => cx.set_timeout(UPSTREAM_IDLE_TIMEOUT),
        }
    }

    /// Tells the client of the current exchange that it failed, and closes.
    fn fail(&mut self, cx: &mut Cx<'_>, failure: Failure) {
        if let State::Busy(b) = std::mem::replace(&mut self.state, State::Done) {
            debug!("upstream {}: exchange failed: {failure:?}", self.addr);
            tell(cx, &b.client, b.seq, ClientMsg::Failed(failure));
        }
        cx.abort();
    }

    fn read_response(&mut self, cx: &mut Cx<'_>) {
        let State::Busy(b) = &mut self.state else {
            return;
        };
        if !cx.input().is_empty() {
            if let Answer::Silent = b.response {
                b.response = Answer::Head;
            }
            if b.waits_on_upstream() {
                cx.set_timeout(b.timeout);
            }
        }
        loop {
            let Answer::Body { decoder, .. } = &mut b.response else {
                match parse_response_head(cx.input(), &self.shared.limits, &b.method) {
                    Ok(None) => return,
                    Ok(Some((head, kind))) => {
                        let code = head.status.code();
                        if code == 101 && b.upgrade {
                            // Both halves of the tunnel are made here, each addressed to the
                            // other; the client's half travels to the client to take over.
                            let (ours, theirs) = (Inbox::default(), Inbox::default());
                            let handle = self.shared.handle.clone();
                            let tunnel = Tunnel::new(
                                theirs.addr(),
                                handle.clone(),
                                b.down.clone(),
                                b.up.clone(),
                            );
                            let client_half = theirs.bind(Tunnel::new(
                                ours.addr(),
                                handle,
                                b.up.clone(),
                                b.down.clone(),
                            ));
                            let msg = ClientMsg::Switched(Box::new(head), client_half);
                            tell(cx, &b.client, b.seq, msg);
                            if b.reading == Credit::Paused {
                                cx.resume_reading();
                            }
                            self.state = State::Done;
                            cx.set_deadline(None);
                            cx.upgrade(ours.bind(tunnel));
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
                            tell(cx, &b.client, b.seq, ClientMsg::Interim(wire.freeze()));
                            continue;
                        }
                        let reusable = head.version == Version::Http11
                            && !head.headers.has_token("connection", "close")
                            && kind != BodyKind::CloseDelimited
                            && !b.upgrade;
                        b.response = Answer::Body {
                            decoder: BodyDecoder::response(kind),
                            reusable,
                        };
                        tell(cx, &b.client, b.seq, ClientMsg::Head(Box::new(head), kind));
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
                    if b.down.sent(data.len()) && b.reading == Credit::Flowing {
                        b.reading = Credit::Paused;
                        cx.pause_reading();
                        // Waiting on the client now, not on the upstream.
                        cx.set_deadline(None);
                    }
                    tell(cx, &b.client, b.seq, ClientMsg::Body(data));
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
        tell(cx, &b.client, b.seq, ClientMsg::End);
        let reusable = matches!(b.response, Answer::Body { reusable: true, .. });
        let reuse =
            reusable && b.request == Sending::Done && !self.shutting_down && cx.input().is_empty();
        if b.reading == Credit::Paused {
            // Reading was paused for this client; the next one starts fresh.
            cx.resume_reading();
        }
        if reuse && self.shared.lock().idle.checkin(self.addr, self.me.clone()) {
            self.state = State::Idle;
            self.arm(cx);
            return;
        }
        cx.set_deadline(None);
        cx.close();
    }

    fn on_client_msg(&mut self, cx: &mut Cx<'_>, msg: ToUpstream) {
        if let UpstreamMsg::Attach(attach) = msg.msg {
            if matches!(self.state, State::Idle) {
                self.shared.lock().idle.attached(self.me.clone());
                self.start(cx, *attach, Reuse::Pooled);
            }
            return;
        }
        let State::Busy(b) = &mut self.state else {
            return;
        };
        if b.client_id != msg.from || b.seq != msg.seq {
            return;
        }
        match msg.msg {
            UpstreamMsg::Attach(_) => {}
            UpstreamMsg::Body(data) => {
                if b.request == Sending::Chunked {
                    write_chunk(&data, cx.output());
                } else {
                    cx.write(&data);
                }
                let pending = cx.pending_output();
                let mut drain = false;
                if b.held.written(&b.up, data.len(), pending, || drain = true) {
                    tell(cx, &b.client, b.seq, ClientMsg::Resume);
                }
                if drain {
                    cx.notify_drained();
                }
            }
            UpstreamMsg::BodyEnd => {
                if b.request == Sending::Chunked {
                    write_last_chunk(&Headers::new(), cx.output());
                }
                b.request = Sending::Done;
                if b.response_complete() {
                    return self.response_done(cx);
                }
                self.arm(cx);
            }
            UpstreamMsg::Resume => {
                b.reading = Credit::Flowing;
                cx.resume_reading();
                self.arm(cx);
            }
            UpstreamMsg::Abort => {
                self.state = State::Done;
                cx.abort();
            }
        }
    }
}

fn tell(cx: &mut Cx<'_>, client: &Addr<ClientConn>, seq: u64, msg: ClientMsg) {
    cx.send(client, ToClient { seq, msg });
}

impl Protocol for UpstreamConn {
    type Message = ToUpstream;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_read_limit(READ_LIMIT);
        if let State::Connecting(attach) = std::mem::replace(&mut self.state, State::Done) {
            let Target { block, backend, .. } = attach.target;
            if let Some(pool) = self.shared.lock().pools.get_mut(block) {
                pool.record_connect_success(backend);
            }
            self.start(cx, *attach, Reuse::Fresh);
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
                if let Answer::Body { decoder, reusable } = &mut b.response
                    && decoder.finish_on_eof().is_ok()
                {
                    *reusable = false;
                    return self.response_done(cx);
                }
                let failure = b.broken();
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
            tell(cx, &b.client, b.seq, ClientMsg::Resume);
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

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: ToUpstream) {
        self.on_client_msg(cx, msg);
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
        if let Some(claim) = state.idle.remove(&self.addr, self.me.clone()) {
            // Taken from the pool, but closed before the attach arrived.
            let msg = ToClient {
                seq: claim.seq,
                msg: ClientMsg::Failed(Failure::Vanished),
            };
            shared.handle.send(&claim.client, msg);
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
                shared.handle.send(&attach.client, msg);
            }
            State::Busy(b) => {
                let msg = ToClient {
                    seq: b.seq,
                    msg: ClientMsg::Failed(b.broken()),
                };
                shared.handle.send(&b.client, msg);
            }
            State::Idle | State::Done => {}
        }
    }
}
