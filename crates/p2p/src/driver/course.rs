//! Our messages to course peers: peers listed by the tracker that refuse the link upgrade (404,
//! 400, 426 or a closed socket) speak only the assignment's HTTP, so each of our broadcasts and
//! direct messages reaches them as one `POST /broadcast-peer` or `POST /send-peer` with
//! `{from, name, msg, message, channel, timestamp}`.
//!
//! The [`Courier`] is a socketless loop entry: it keeps at most [`MAX_IN_FLIGHT`] requests open
//! (the rest wait in a bounded queue), retries a failed delivery with exponential back-off up to
//! [`MAX_ATTEMPTS`] times, and reports a delivery that never succeeded to the UI and the log as
//! [`UiEvent::Undelivered`]: never a silent "sent".

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_core::{Method, Request};
use reactor::client::ClientReply;
use reactor::{Addr, Cx, Protocol};
use serde_json::json;

use super::{Core, UiEvent, lock};
use crate::message::Message;

/// Requests to course peers open at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Deliveries waiting for a free slot or their retry; beyond it a delivery fails at once.
pub const MAX_QUEUED: usize = 4096;
/// Tries per delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 4;
/// Wait before the first retry; doubled for each later one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Course peers remembered at once.
pub const MAX_COURSE_PEERS: usize = 1024;

/// One message on its way to one course peer.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The course peer's id.
    pub peer_id: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The message.
    pub msg: Message,
    /// Tries made so far.
    attempts: u32,
}

impl Delivery {
    /// A delivery of `msg` to the course peer `peer_id` at `addr`.
    pub fn new(peer_id: String, addr: SocketAddr, msg: Message) -> Delivery {
        Delivery {
            peer_id,
            addr,
            msg,
            attempts: 0,
        }
    }

    /// The course's request: `/send-peer` for a direct message, else `/broadcast-peer`.
    fn request(&self) -> Request {
        let path = if self.msg.is_direct() {
            "/send-peer/"
        } else {
            "/broadcast-peer/"
        };
        let channel = if self.msg.is_direct() {
            "direct"
        } else {
            self.msg.channel.as_str()
        };
        let body = json!({
            "from": self.msg.from,
            "name": self.msg.name,
            "msg": self.msg.text,
            "message": self.msg.text,
            "channel": channel,
            "timestamp": self.msg.ts,
        });
        let mut req = Request::new(Method::Post, path);
        req.head.headers.insert("Content-Type", "application/json");
        req.body = Bytes::from(body.to_string());
        req
    }
}

/// What the courier is told.
pub enum CourierMsg {
    /// Deliver this (boxed: a message is large beside a reply).
    Send(Box<Delivery>),
    /// A request finished.
    Reply(ClientReply),
}

/// The loop entry that delivers to course peers (see the module docs).
pub struct Courier {
    me: Addr<Courier>,
    shared: Arc<Mutex<Core>>,
    /// Waiting for a slot, oldest first.
    ready: VecDeque<Delivery>,
    /// Waiting for their retry time.
    backoff: Vec<(Instant, Delivery)>,
    /// In flight, by tag.
    in_flight: Vec<(u64, Delivery)>,
    next_tag: u64,
}

impl Courier {
    /// A courier reporting failures through `shared`'s UI sinks.
    pub fn new(me: Addr<Courier>, shared: Arc<Mutex<Core>>) -> Courier {
        Courier {
            me,
            shared,
            ready: VecDeque::new(),
            backoff: Vec::new(),
            in_flight: Vec::new(),
            next_tag: 0,
        }
    }

    fn queued(&self) -> usize {
        self.ready.len() + self.backoff.len()
    }

    fn start_ready(&mut self, cx: &mut Cx<'_>) {
        while self.in_flight.len() < MAX_IN_FLIGHT
            && let Some(mut delivery) = self.ready.pop_front()
        {
            delivery.attempts += 1;
            let tag = self.next_tag;
            self.next_tag += 1;
            reactor::client::start(
                cx,
                delivery.addr,
                delivery.request(),
                self.me.clone(),
                CourierMsg::Reply,
                tag,
                REQUEST_TIMEOUT,
            );
            self.in_flight.push((tag, delivery));
        }
    }

    fn finished(&mut self, cx: &mut Cx<'_>, reply: ClientReply) {
        let Some(at) = self.in_flight.iter().position(|(t, _)| *t == reply.tag) else {
            return;
        };
        let (_, delivery) = self.in_flight.swap_remove(at);
        let error = match reply.result {
            Ok(r) if r.status.is_success() => {
                log::debug!(
                    "{} delivered to course peer {}",
                    delivery.msg.id,
                    delivery.peer_id
                );
                return;
            }
            Ok(r) => format!("answered {}", r.status.code()),
            Err(e) => e.to_string(),
        };
        if delivery.attempts < MAX_ATTEMPTS {
            let wait = FIRST_BACKOFF * 2u32.pow(delivery.attempts - 1);
            log::debug!(
                "{} to course peer {}: {error}; retry in {wait:?}",
                delivery.msg.id,
                delivery.peer_id
            );
            self.backoff.push((cx.now() + wait, delivery));
        } else {
            self.fail(&delivery, &error);
        }
    }

    fn fail(&self, delivery: &Delivery, error: &str) {
        log::warn!(
            "message {} not delivered to course peer {} at {}: {error}",
            delivery.msg.id,
            delivery.peer_id,
            delivery.addr
        );
        lock(&self.shared).emit(&UiEvent::Undelivered {
            peer_id: delivery.peer_id.clone(),
            message_id: delivery.msg.id.clone(),
            error: error.to_owned(),
        });
    }

    fn arm(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        let (due, waiting): (Vec<_>, Vec<_>) =
            self.backoff.drain(..).partition(|(at, _)| *at <= now);
        self.backoff = waiting;
        self.ready.extend(due.into_iter().map(|(_, d)| d));
        self.start_ready(cx);
        cx.set_deadline(self.backoff.iter().map(|(at, _)| *at).min());
    }
}

impl Protocol for Courier {
    type Message = CourierMsg;

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        self.arm(cx);
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: CourierMsg) {
        match msg {
            CourierMsg::Send(delivery) if self.queued() >= MAX_QUEUED => {
                self.fail(&delivery, "too many messages waiting for course peers");
            }
            CourierMsg::Send(delivery) => self.ready.push_back(*delivery),
            CourierMsg::Reply(reply) => self.finished(cx, reply),
        }
        self.arm(cx);
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        for delivery in self.ready.iter().chain(self.backoff.iter().map(|(_, d)| d)) {
            self.fail(delivery, "the peer is shutting down");
        }
        cx.close();
    }
}

impl Core {
    /// Remembers `peer_id` at `addr` as a course peer (it refused the link upgrade).
    pub(crate) fn mark_course_peer(&mut self, peer_id: &str, addr: SocketAddr) {
        let known = self.course_peers.contains_key(peer_id);
        if !known && self.course_peers.len() >= MAX_COURSE_PEERS {
            log::warn!("{peer_id} speaks only the course's HTTP, but too many peers already do");
            return;
        }
        if !known {
            log::info!("{peer_id} at {addr} is a course peer: our messages reach it over HTTP");
        }
        self.course_peers.insert(peer_id.to_owned(), addr);
    }

    /// Hands our message to the courier for each course peer that should get it: the
    /// recipient of a direct message, or the course peers among a channel's members.
    pub(super) fn deliver_to_course_peers(&self, msg: &Message) {
        let Some(courier) = &self.courier else {
            return;
        };
        let targets: Vec<(&String, &SocketAddr)> = match &msg.to {
            Some(to) => self.course_peers.get_key_value(to).into_iter().collect(),
            None => {
                let members = self
                    .state
                    .channels()
                    .into_iter()
                    .find(|c| c.name == msg.channel)
                    .map(|c| c.members)
                    .unwrap_or_default();
                self.course_peers
                    .iter()
                    .filter(|(id, _)| members.contains(id))
                    .collect()
            }
        };
        for (peer_id, addr) in targets {
            let delivery = Delivery::new(peer_id.clone(), *addr, msg.clone());
            self.handle
                .send(courier, CourierMsg::Send(Box::new(delivery)));
        }
    }
}
