//! One connection to Redis: calls written as they come (pipelined), replies read in order and
//! handed to their callers; every call still waiting fails when the connection goes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Buf;
use reactor::{Addr, CloseReason, Cx, Protocol};
use resp::{Status, Value};

use crate::supervisor::{LinkEvent, Supervisor};
use crate::{CALL_TIMEOUT, CONNECT_TIMEOUT, Call, MAX_REPLY_BYTES, Reply, Shared, State};

/// Replies owed, in the order Redis will send them.
struct Pending {
    /// How many replies make up the answer.
    expected: usize,
    got: Vec<Value>,
    /// The caller; `None` for the link's own `SELECT`.
    reply: Option<Reply>,
    sent: Instant,
}

/// Where the connection is in its life.
enum Phase {
    /// Dialling since this instant; calls wait.
    Dialling(Instant),
    /// Connected.
    Open,
    /// The loop is stopping: close once nothing is owed.
    Draining,
}

/// What the connection is sent.
pub(crate) enum LinkMsg {
    /// A caller's pipeline.
    Call(Call),
    /// From the supervisor right after dialling, so the connect deadline is armed before
    /// `on_open` (an entry gets messages while it dials).
    Arm,
}

pub(crate) struct Link {
    shared: Arc<Shared>,
    supervisor: Addr<Supervisor>,
    phase: Phase,
    /// Calls that came while dialling.
    waiting: Vec<Call>,
    pending: VecDeque<Pending>,
    /// Why the connection is being dropped, when we drop it.
    fault: Option<String>,
}

impl Link {
    pub(crate) fn new(shared: Arc<Shared>, supervisor: Addr<Supervisor>, now: Instant) -> Link {
        Link {
            shared,
            supervisor,
            phase: Phase::Dialling(now),
            waiting: Vec::new(),
            pending: VecDeque::new(),
            fault: None,
        }
    }

    fn write(&mut self, cx: &mut Cx<'_>, call: Call) {
        let counted = match &call {
            Call::Ready { pipeline, .. } => pipeline.len(),
            Call::Later(_) => 1,
        };
        let (pipeline, reply) = call.into_parts();
        for command in &pipeline.commands {
            resp::encode(command, cx.output());
        }
        let expected = pipeline.commands.len();
        if expected != counted {
            let mut conn = self.shared.lock();
            conn.in_flight = (conn.in_flight + expected).saturating_sub(counted);
        }
        self.owe(cx, expected, Some(reply));
    }

    fn owe(&mut self, cx: &mut Cx<'_>, expected: usize, reply: Option<Reply>) {
        if expected == 0 {
            if let Some(reply) = reply {
                reply.send(Ok(Vec::new()));
            }
            return;
        }
        self.pending.push_back(Pending {
            expected,
            got: Vec::with_capacity(expected),
            reply,
            sent: cx.now(),
        });
        self.arm(cx);
    }

    fn arm(&self, cx: &mut Cx<'_>) {
        let deadline = match self.phase {
            Phase::Dialling(since) => Some(since + CONNECT_TIMEOUT),
            _ => self.pending.front().map(|p| p.sent + CALL_TIMEOUT),
        };
        cx.set_deadline(deadline);
    }

    fn fail(&mut self, cx: &mut Cx<'_>, why: String) {
        log::warn!(
            "redis at {}: {why}; dropping the connection",
            self.shared.url.addr
        );
        self.fault = Some(why);
        cx.abort();
    }

    /// A reply for the oldest pending call.
    fn answer(&mut self, cx: &mut Cx<'_>, value: Value) {
        let Some(front) = self.pending.front_mut() else {
            return self.fail(cx, "a reply nobody asked for".to_owned());
        };
        front.got.push(value);
        if front.got.len() < front.expected {
            return;
        }
        let Some(done) = self.pending.pop_front() else {
            return;
        };
        {
            let mut conn = self.shared.lock();
            conn.in_flight = conn.in_flight.saturating_sub(done.expected);
        }
        match done.reply {
            Some(reply) => reply.send(Ok(done.got)),
            None => {
                if let Some(Value::Error(e)) = done.got.first() {
                    let db = self.shared.url.db;
                    self.fail(cx, format!("SELECT {db} refused: {e}"));
                }
            }
        }
    }
}

impl Protocol for Link {
    type Message = LinkMsg;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        self.phase = Phase::Open;
        cx.set_read_limit(MAX_REPLY_BYTES);
        let db = self.shared.url.db;
        if db != 0 {
            resp::encode(&["SELECT".to_owned(), db.to_string()], cx.output());
            self.owe(cx, 1, None);
        }
        self.shared.lock().state = State::Up;
        log::info!("redis at {} is up", self.shared.url);
        cx.send(&self.supervisor, LinkEvent::Up);
        for call in std::mem::take(&mut self.waiting) {
            self.write(cx, call);
        }
        self.arm(cx);
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        loop {
            match resp::parse(cx.input()) {
                Ok(Status::Complete(value, used)) => {
                    cx.input().advance(used);
                    self.answer(cx, value);
                    if self.fault.is_some() {
                        return;
                    }
                }
                Ok(Status::Partial) if cx.input().len() >= MAX_REPLY_BYTES => {
                    return self.fail(cx, format!("a reply over {MAX_REPLY_BYTES} bytes"));
                }
                Ok(Status::Partial) => break,
                Err(e) => return self.fail(cx, format!("protocol error: {e}")),
            }
        }
        if matches!(self.phase, Phase::Draining) && self.pending.is_empty() {
            cx.close();
        }
        self.arm(cx);
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        match self.phase {
            Phase::Dialling(_) => {
                self.fail(cx, format!("no connection within {CONNECT_TIMEOUT:?}"))
            }
            _ if self
                .pending
                .front()
                .is_some_and(|p| cx.now() >= p.sent + CALL_TIMEOUT) =>
            {
                self.fail(cx, format!("no reply within {CALL_TIMEOUT:?}"));
            }
            _ => self.arm(cx),
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: LinkMsg) {
        match (msg, &self.phase) {
            (LinkMsg::Arm, _) => self.arm(cx),
            (LinkMsg::Call(call), Phase::Dialling(_)) => self.waiting.push(call),
            (LinkMsg::Call(call), Phase::Open | Phase::Draining) => self.write(cx, call),
        }
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        // In-flight requests of the daemon may still need their replies: close once none is owed.
        self.phase = Phase::Draining;
        if self.pending.is_empty() {
            cx.close();
        }
    }

    fn on_close(&mut self, reason: CloseReason) {
        let why = match (&self.fault, &reason) {
            (Some(fault), _) => fault.clone(),
            (None, CloseReason::ConnectFailed(e)) => format!("connect failed: {e}"),
            (None, CloseReason::Io(e)) => e.to_string(),
            (None, CloseReason::Remote) => "redis closed the connection".to_owned(),
            (None, CloseReason::Local | CloseReason::Shutdown) => {
                "the client is stopping".to_owned()
            }
        };
        let stopping =
            matches!(reason, CloseReason::Shutdown) || matches!(self.phase, Phase::Draining);
        {
            let mut conn = self.shared.lock();
            conn.link = None;
            conn.in_flight = 0;
            conn.state = State::Down { error: why.clone() };
        }
        let error = self.shared.unavailable(why.clone());
        for pending in self.pending.drain(..) {
            if let Some(reply) = pending.reply {
                reply.send(Err(error.clone()));
            }
        }
        for call in self.waiting.drain(..) {
            call.fail(error.clone());
        }
        if !stopping {
            log::warn!("redis at {} is down: {why}", self.shared.url);
            self.shared.handle.send(&self.supervisor, LinkEvent::Down);
        }
    }
}
