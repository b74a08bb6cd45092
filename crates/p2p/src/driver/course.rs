//! Our messages to course peers: peers listed by the tracker that refuse the link upgrade (404,
//! 400, 426 or a closed socket) speak only the assignment's HTTP, so each of our broadcasts and
//! direct messages reaches them as one `POST /broadcast-peer/` or `POST /send-peer/` with
//! `{from, name, msg, message, channel, timestamp}`.
//!
//! The [`Courier`] is a socketless loop entry. Each course peer has its own queue, sent in
//! order, one request at a time, over keep-alive connections from a [`reactor::pool::Pool`]
//! (so a burst of messages costs one connection, not one each). At most [`MAX_IN_FLIGHT`]
//! peers have a request open at once; the rest wait their turn. A failed delivery is tried
//! again after a back-off that doubles with each failure in a row to that peer (from
//! [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`]), while the messages behind it wait, so a peer that
//! comes back gets them all, in order. A message that failed [`MAX_ATTEMPTS`] times, or was
//! pushed out of a full queue (the oldest goes, [`MAX_QUEUED_PER_PEER`]), is reported to the UI
//! and the log as [`UiEvent::Undelivered`]: never a silent "sent".

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_core::{Method, Request};
use reactor::client::ClientReply;
use reactor::pool::{Pool, PoolConfig, PoolEvent};
use reactor::{Addr, Cx, Protocol};
use serde_json::json;

use super::{Core, UiEvent, lock};
use crate::message::Message;

/// Course peers with a request open at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Messages waiting for one course peer; a new one beyond it pushes out the oldest.
pub const MAX_QUEUED_PER_PEER: usize = 256;
/// Messages waiting for all course peers together; beyond it a new one fails at once.
pub const MAX_QUEUED: usize = 4096;
/// Tries per message, the first included.
pub const MAX_ATTEMPTS: u32 = 5;
/// Wait after a first failure to a peer; doubled for each further failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between tries to one peer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Keep-alive connections to one course peer (one carries its requests; a second may open
/// while the first is closing).
pub const MAX_CONNECTIONS_PER_PEER: usize = 2;
/// How long an unused connection to a course peer stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
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
    /// Deliver this (boxed: a message is large beside pool news).
    Send(Box<Delivery>),
    /// News from the connection pool.
    Pool(PoolEvent),
}

/// Where one course peer's queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// Nothing in flight and nothing due.
    Idle,
    /// Its head is due, waiting for one of the [`MAX_IN_FLIGHT`] slots.
    Waiting,
    /// Its head is in flight with this tag.
    Sending(u64),
    /// Its head failed; the next try is at this time.
    Backoff(Instant),
}

/// One course peer's messages, oldest (the one being tried) first.
struct PeerQueue {
    addr: SocketAddr,
    messages: VecDeque<Delivery>,
    turn: Turn,
    /// Failures in a row to this peer: the back-off grows with them.
    failures: u32,
}

/// The loop entry that delivers to course peers (see the module docs).
pub struct Courier {
    shared: Arc<Mutex<Core>>,
    pool: Pool<Courier>,
    peers: HashMap<String, PeerQueue>,
    /// Peers whose head is due and waits for a slot, in the order they became due.
    due: VecDeque<String>,
    /// Peer ids by the tag of their request in flight.
    in_flight: HashMap<u64, String>,
    queued: usize,
    next_tag: u64,
}

impl Courier {
    /// A courier reporting failures through `shared`'s UI sinks.
    pub fn new(me: Addr<Courier>, shared: Arc<Mutex<Core>>) -> Courier {
        let config = PoolConfig {
            max_per_origin: MAX_CONNECTIONS_PER_PEER,
            idle_timeout: IDLE_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        };
        Courier {
            shared,
            pool: Pool::new(me, CourierMsg::Pool, config),
            peers: HashMap::new(),
            due: VecDeque::new(),
            in_flight: HashMap::new(),
            queued: 0,
            next_tag: 0,
        }
    }

    fn enqueue(&mut self, cx: &mut Cx<'_>, delivery: Delivery) {
        if self.queued >= MAX_QUEUED {
            self.fail(&delivery, "too many messages waiting for course peers");
            return;
        }
        let peer = self
            .peers
            .entry(delivery.peer_id.clone())
            .or_insert_with(|| PeerQueue {
                addr: delivery.addr,
                messages: VecDeque::new(),
                turn: Turn::Idle,
                failures: 0,
            });
        peer.addr = delivery.addr;
        if peer.messages.len() >= MAX_QUEUED_PER_PEER {
            // The oldest that is not on the wire goes.
            let oldest = usize::from(matches!(peer.turn, Turn::Sending(_)));
            if let Some(dropped) = peer.messages.remove(oldest) {
                self.queued -= 1;
                self.fail(&dropped, "too many messages waiting for this peer");
            }
        }
        let peer = self.peers.get_mut(&delivery.peer_id).expect("just added");
        let id = delivery.peer_id.clone();
        peer.messages.push_back(delivery);
        self.queued += 1;
        if peer.turn == Turn::Idle {
            self.make_due(cx, id);
        }
    }

    /// `peer_id`'s head is due: send it if a slot is free, else queue the peer for one.
    fn make_due(&mut self, cx: &mut Cx<'_>, peer_id: String) {
        if self.in_flight.len() < MAX_IN_FLIGHT {
            self.send_head(cx, peer_id);
        } else if let Some(peer) = self.peers.get_mut(&peer_id) {
            peer.turn = Turn::Waiting;
            self.due.push_back(peer_id);
        }
    }

    fn send_head(&mut self, cx: &mut Cx<'_>, peer_id: String) {
        let Some(peer) = self.peers.get_mut(&peer_id) else {
            return;
        };
        let Some(head) = peer.messages.front_mut() else {
            peer.turn = Turn::Idle;
            return;
        };
        head.attempts += 1;
        let tag = self.next_tag;
        self.next_tag += 1;
        peer.turn = Turn::Sending(tag);
        self.pool.request(cx, peer.addr, &head.request(), tag);
        self.in_flight.insert(tag, peer_id);
    }

    fn finished(&mut self, cx: &mut Cx<'_>, reply: ClientReply) {
        let Some(peer_id) = self.in_flight.remove(&reply.tag) else {
            return;
        };
        let error = match reply.result {
            Ok(r) if r.status.is_success() => None,
            Ok(r) => Some(format!("answered {}", r.status.code())),
            Err(e) => Some(e.to_string()),
        };
        let peer = self
            .peers
            .get_mut(&peer_id)
            .expect("a peer in flight has a queue");
        let head = peer
            .messages
            .front()
            .expect("the head was in flight")
            .clone();
        match error {
            None => {
                log::debug!("{} delivered to course peer {peer_id}", head.msg.id);
                peer.failures = 0;
                peer.messages.pop_front();
                self.queued -= 1;
                self.next_of(cx, peer_id);
            }
            Some(error) => {
                let wait = FIRST_BACKOFF
                    .saturating_mul(2u32.saturating_pow(peer.failures))
                    .min(MAX_BACKOFF);
                peer.failures += 1;
                peer.turn = Turn::Backoff(cx.now() + wait);
                if head.attempts >= MAX_ATTEMPTS {
                    peer.messages.pop_front();
                    self.queued -= 1;
                    self.fail(&head, &error);
                } else {
                    log::debug!(
                        "{} to course peer {peer_id}: {error}; retry in {wait:?}",
                        head.msg.id
                    );
                }
            }
        }
        // A slot came free.
        while self.in_flight.len() < MAX_IN_FLIGHT
            && let Some(next) = self.due.pop_front()
        {
            self.send_head(cx, next);
        }
    }

    /// After a success: the peer's next message, if any, or it rests.
    fn next_of(&mut self, cx: &mut Cx<'_>, peer_id: String) {
        let Some(peer) = self.peers.get_mut(&peer_id) else {
            return;
        };
        if peer.messages.is_empty() {
            peer.turn = Turn::Idle;
        } else {
            self.make_due(cx, peer_id);
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

    /// Sends the heads whose back-off passed, forgets peers with nothing left, and sets the
    /// next deadline.
    fn arm(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        let due: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, p)| matches!(p.turn, Turn::Backoff(at) if at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for peer_id in due {
            self.next_of(cx, peer_id);
        }
        self.peers
            .retain(|_, p| !(p.turn == Turn::Idle && p.messages.is_empty()) || p.failures > 0);
        let next = self
            .peers
            .values()
            .filter_map(|p| match p.turn {
                Turn::Backoff(at) => Some(at),
                _ => None,
            })
            .min();
        cx.set_deadline(next);
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
            CourierMsg::Send(delivery) => self.enqueue(cx, *delivery),
            CourierMsg::Pool(event) => {
                if let Some(reply) = self.pool.on_event(cx, event) {
                    self.finished(cx, reply);
                }
            }
        }
        self.arm(cx);
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        for peer in self.peers.values() {
            let waiting = usize::from(matches!(peer.turn, Turn::Sending(_)));
            for delivery in peer.messages.iter().skip(waiting) {
                self.fail(delivery, "the peer is shutting down");
            }
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
    /// recipient of a direct message, or the course peers among a channel's members. Answers
    /// their ids.
    pub(super) fn deliver_to_course_peers(&self, msg: &Message) -> Vec<String> {
        let Some(courier) = &self.courier else {
            return Vec::new();
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
        targets
            .into_iter()
            .map(|(peer_id, addr)| {
                let delivery = Delivery::new(peer_id.clone(), *addr, msg.clone());
                self.handle
                    .send(courier, CourierMsg::Send(Box::new(delivery)));
                peer_id.clone()
            })
            .collect()
    }
}
