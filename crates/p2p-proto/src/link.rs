//! The state machine of one peer-to-peer link (SPEC §6): handshake, keep-alive, `bye`.
//!
//! ```text
//!  dial ──► AwaitingHelloAck ──hello-ack──┐
//!                                         ├──► Open ──close()/timeout──► Closing ──► Closed
//!  accept ─► AwaitingHello ──hello/ack────┘      └──────bye from peer───────────────────┘
//! ```
//!
//! A [`Link`] does no I/O: each input returns [`Action`]s for the caller. It checks the frame
//! order and the handshake (self-link, version); what a message means is the node's business.
//!
//! Its timers read only `mono_ms`: milliseconds on a monotonic clock of the driver's choosing
//! (any origin). The wall clock never reaches them, so a clock step cannot kill a link.

use std::fmt;

use crate::frame::{Frame, FrameError, Hello, PROTOCOL_VERSION, SyncReply, SyncReq};
use crate::message::{Message, validate_name, validate_peer_id};

/// Interval between pings on an open link, in ms.
pub const PING_INTERVAL_MS: u64 = 15_000;
/// A link with nothing received for this long is dead, in ms.
pub const DEAD_AFTER_MS: u64 = 45_000;
/// A handshake not finished within this long is abandoned, in ms.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We opened the connection and sent `hello`.
    Dialler,
    /// The other side opened it; we answer its `hello`.
    Acceptor,
}

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Accepted; waiting for the dialler's `hello`.
    AwaitingHello,
    /// Dialled and `hello` sent; waiting for `hello-ack`.
    AwaitingHelloAck,
    /// Handshake done; frames flow both ways.
    Open,
    /// We decided to close: `bye` queued, waiting for the driver to flush and drop the socket.
    Closing,
    /// The socket is gone (or the peer said `bye`).
    Closed,
}

/// Why a link closes; its text is the `bye` reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The other end is ourselves.
    SelfLink,
    /// The peer speaks another protocol version.
    Version {
        /// Ours.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
    /// Another link to the same peer won the duplicate-link rule.
    Duplicate,
    /// Nothing received for [`DEAD_AFTER_MS`].
    Timeout,
    /// No handshake within [`HANDSHAKE_TIMEOUT_MS`].
    HandshakeTimeout,
    /// A frame out of place or a bad `hello`.
    Protocol(String),
    /// Bytes that were not a frame.
    Frame(FrameError),
    /// The peer said `bye` with this reason.
    Bye(String),
    /// The connection dropped without a `bye`.
    Disconnected,
    /// We are shutting down.
    Shutdown,
}

impl CloseReason {
    /// Whether the other end misbehaved (or is broken), so the close is logged as a warning;
    /// the ordinary ends of a link (duplicate, `bye`, shutdown, a dropped connection) are not.
    pub fn is_fault(&self) -> bool {
        match self {
            CloseReason::SelfLink
            | CloseReason::Version { .. }
            | CloseReason::Timeout
            | CloseReason::HandshakeTimeout
            | CloseReason::Protocol(_)
            | CloseReason::Frame(_) => true,
            CloseReason::Duplicate
            | CloseReason::Bye(_)
            | CloseReason::Disconnected
            | CloseReason::Shutdown => false,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::SelfLink => f.write_str("link to self"),
            CloseReason::Version { ours, theirs } => {
                write!(
                    f,
                    "protocol version {theirs} not supported (ours is {ours})"
                )
            }
            CloseReason::Duplicate => f.write_str("duplicate link"),
            CloseReason::Timeout => f.write_str("link silent too long"),
            CloseReason::HandshakeTimeout => f.write_str("handshake timed out"),
            CloseReason::Protocol(why) => write!(f, "protocol error: {why}"),
            CloseReason::Frame(e) => write!(f, "{e}"),
            CloseReason::Bye(why) => write!(f, "peer said bye: {why}"),
            CloseReason::Disconnected => f.write_str("connection closed"),
            CloseReason::Shutdown => f.write_str("shutting down"),
        }
    }
}

/// What the caller must do after feeding the link an input, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this frame.
    Send(Frame),
    /// Close the connection once what was sent is flushed.
    Close(CloseReason),
    /// The handshake completed; [`Link::remote`] now holds the peer's hello.
    Opened,
    /// A `msg` (no `to`) or `direct` (with `to`) frame arrived.
    Deliver(Message),
    /// A `sync-req` arrived.
    SyncRequested(SyncReq),
    /// A `sync` arrived.
    SyncReceived(SyncReply),
}

/// Who dialled a link, the key of the duplicate-link rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LinkOrigin {
    /// Peer id of the side that dialled.
    pub dialler: String,
    /// The nonce of the dialler's `hello`.
    pub nonce: u64,
}

/// Which of two links to the same peer survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Survivor {
    /// The link that opened first.
    Older,
    /// The link that opened second.
    Newer,
}

/// The duplicate-link rule: of two open links to the same peer, which one both sides keep.
///
/// Dialled by different peers (both dialled at once): the one dialled by the smaller
/// `(peer_id, nonce)`, as SPEC §6 says. This does not depend on which link each side saw open
/// first, so both sides agree. Dialled by the same peer: a node never dials a peer it is linked
/// to, so a second dial means the dialler lost the first link, which is then a stale half-open
/// connection on our side; the newer link wins. (Taking the smaller nonce there would keep the
/// stale link half the time.)
pub fn keep_link(older: &LinkOrigin, newer: &LinkOrigin) -> Survivor {
    if older.dialler == newer.dialler || newer < older {
        Survivor::Newer
    } else {
        Survivor::Older
    }
}

/// One link's protocol state.
#[derive(Debug, Clone)]
pub struct Link {
    role: Role,
    state: LinkState,
    local: Hello,
    remote: Option<Hello>,
    started_ms: u64,
    last_heard_ms: u64,
    last_ping_ms: u64,
    ping_token: u64,
    rtt_ms: Option<u64>,
}

impl Link {
    /// A link we dialled: sends our `hello` (`local`, with a fresh nonce) at once.
    pub fn dial(local: Hello, mono_ms: u64) -> (Link, Vec<Action>) {
        let hello = Frame::Hello(local.clone());
        let link = Link::new(Role::Dialler, LinkState::AwaitingHelloAck, local, mono_ms);
        (link, vec![Action::Send(hello)])
    }

    /// A link the peer dialled: waits for its `hello`, answered with `local`.
    pub fn accept(local: Hello, mono_ms: u64) -> Link {
        Link::new(Role::Acceptor, LinkState::AwaitingHello, local, mono_ms)
    }

    fn new(role: Role, state: LinkState, local: Hello, mono_ms: u64) -> Link {
        Link {
            role,
            state,
            local,
            remote: None,
            started_ms: mono_ms,
            last_heard_ms: mono_ms,
            last_ping_ms: mono_ms,
            ping_token: 0,
            rtt_ms: None,
        }
    }

    /// Which end we are.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the link is.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// The peer's hello, once received.
    pub fn remote(&self) -> Option<&Hello> {
        self.remote.as_ref()
    }

    /// Our hello on this link.
    pub fn local(&self) -> &Hello {
        &self.local
    }

    /// Who dialled, once the handshake is done.
    pub fn origin(&self) -> Option<LinkOrigin> {
        let remote = self.remote.as_ref()?;
        let dialler = match self.role {
            Role::Dialler => &self.local,
            Role::Acceptor => remote,
        };
        Some(LinkOrigin {
            dialler: dialler.peer_id.clone(),
            nonce: dialler.nonce,
        })
    }

    /// Round-trip time of the last answered ping.
    pub fn rtt_ms(&self) -> Option<u64> {
        self.rtt_ms
    }

    /// Feeds one frame from the peer.
    pub fn on_frame(&mut self, frame: Frame, mono_ms: u64) -> Vec<Action> {
        match self.state {
            LinkState::Closing | LinkState::Closed => return Vec::new(),
            _ => self.last_heard_ms = mono_ms,
        }
        if let Frame::Bye { reason } = frame {
            self.state = LinkState::Closed;
            return vec![Action::Close(CloseReason::Bye(reason))];
        }
        match (self.state, frame) {
            (LinkState::AwaitingHello, Frame::Hello(h)) => {
                let mut out = self.handshake(h, mono_ms);
                if self.state == LinkState::Open {
                    out.insert(0, Action::Send(Frame::HelloAck(self.local.clone())));
                }
                out
            }
            (LinkState::AwaitingHelloAck, Frame::HelloAck(h)) => self.handshake(h, mono_ms),
            (LinkState::Open, Frame::Ping { token }) => vec![Action::Send(Frame::Pong { token })],
            (LinkState::Open, Frame::Pong { token }) => {
                if token == self.ping_token {
                    self.rtt_ms = Some(mono_ms.saturating_sub(self.last_ping_ms));
                }
                Vec::new()
            }
            (LinkState::Open, Frame::Msg(m)) if m.to.is_none() => vec![Action::Deliver(m)],
            (LinkState::Open, Frame::Direct(m)) if m.to.is_some() => vec![Action::Deliver(m)],
            (LinkState::Open, Frame::SyncReq(r)) => vec![Action::SyncRequested(r)],
            (LinkState::Open, Frame::Sync(s)) => vec![Action::SyncReceived(s)],
            (state, frame) => self.close(CloseReason::Protocol(format!(
                "unexpected {} frame in state {state:?}",
                frame.kind()
            ))),
        }
    }

    fn handshake(&mut self, h: Hello, mono_ms: u64) -> Vec<Action> {
        if h.peer_id == self.local.peer_id {
            return self.close(CloseReason::SelfLink);
        }
        if h.version != PROTOCOL_VERSION {
            return self.close(CloseReason::Version {
                ours: PROTOCOL_VERSION,
                theirs: h.version,
            });
        }
        if let Err(e) = validate_peer_id(&h.peer_id).and_then(|()| validate_name(&h.name)) {
            return self.close(CloseReason::Protocol(format!("bad hello: {e}")));
        }
        self.remote = Some(h);
        self.state = LinkState::Open;
        self.last_ping_ms = mono_ms;
        vec![Action::Opened]
    }

    /// Closes the link from our side: `bye` then close. Nothing if already closing.
    pub fn close(&mut self, reason: CloseReason) -> Vec<Action> {
        match self.state {
            LinkState::Closing | LinkState::Closed => Vec::new(),
            _ => {
                self.state = LinkState::Closing;
                vec![
                    Action::Send(Frame::Bye {
                        reason: reason.to_string(),
                    }),
                    Action::Close(reason),
                ]
            }
        }
    }

    /// The driver dropped the connection.
    pub fn closed(&mut self) {
        self.state = LinkState::Closed;
    }

    /// Timers: handshake timeout, ping every [`PING_INTERVAL_MS`], dead after
    /// [`DEAD_AFTER_MS`] of silence. Call at [`Link::next_deadline`] (earlier is harmless).
    pub fn tick(&mut self, mono_ms: u64) -> Vec<Action> {
        match self.state {
            LinkState::AwaitingHello | LinkState::AwaitingHelloAck => {
                if mono_ms.saturating_sub(self.started_ms) >= HANDSHAKE_TIMEOUT_MS {
                    return self.close(CloseReason::HandshakeTimeout);
                }
                Vec::new()
            }
            LinkState::Open => {
                if mono_ms.saturating_sub(self.last_heard_ms) >= DEAD_AFTER_MS {
                    return self.close(CloseReason::Timeout);
                }
                if mono_ms.saturating_sub(self.last_ping_ms) >= PING_INTERVAL_MS {
                    self.last_ping_ms = mono_ms;
                    self.ping_token = self.ping_token.wrapping_add(1);
                    return vec![Action::Send(Frame::Ping {
                        token: self.ping_token,
                    })];
                }
                Vec::new()
            }
            LinkState::Closing | LinkState::Closed => Vec::new(),
        }
    }

    /// When [`Link::tick`] next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.state {
            LinkState::AwaitingHello | LinkState::AwaitingHelloAck => {
                Some(self.started_ms + HANDSHAKE_TIMEOUT_MS)
            }
            LinkState::Open => {
                Some((self.last_ping_ms + PING_INTERVAL_MS).min(self.last_heard_ms + DEAD_AFTER_MS))
            }
            LinkState::Closing | LinkState::Closed => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::msg;

    fn hello(id: &str, nonce: u64) -> Hello {
        Hello {
            peer_id: id.into(),
            name: id.to_uppercase(),
            nonce,
            version: PROTOCOL_VERSION,
            channels: vec!["general".into()],
        }
    }

    fn bye(reason: CloseReason) -> Vec<Action> {
        vec![
            Action::Send(Frame::Bye {
                reason: reason.to_string(),
            }),
            Action::Close(reason),
        ]
    }

    /// Feeds `frames` to a fresh acceptor for "a" and checks the last answer.
    fn check(frames: Vec<Frame>, expected: Vec<Action>) {
        let mut link = Link::accept(hello("a", 1), 0);
        let mut last = Vec::new();
        for f in frames {
            last = link.on_frame(f, 1);
        }
        assert_eq!(last, expected);
    }

    #[test]
    fn handshake_both_ends() {
        let (mut d, out) = Link::dial(hello("a", 1), 0);
        assert_eq!(out, [Action::Send(Frame::Hello(hello("a", 1)))]);
        assert_eq!(d.state(), LinkState::AwaitingHelloAck);
        let mut acc = Link::accept(hello("b", 2), 0);
        let out = acc.on_frame(Frame::Hello(hello("a", 1)), 5);
        assert_eq!(
            out,
            [Action::Send(Frame::HelloAck(hello("b", 2))), Action::Opened]
        );
        assert_eq!(
            d.on_frame(Frame::HelloAck(hello("b", 2)), 6),
            [Action::Opened]
        );
        assert_eq!(d.state(), LinkState::Open);
        let origin = LinkOrigin {
            dialler: "a".into(),
            nonce: 1,
        };
        assert_eq!(d.origin(), Some(origin.clone()));
        assert_eq!(acc.origin(), Some(origin));
        assert_eq!(acc.remote().map(|h| h.name.as_str()), Some("A"));
    }

    #[test]
    fn handshake_refusals() {
        check(
            vec![Frame::Hello(hello("a", 9))],
            bye(CloseReason::SelfLink),
        );
        let mut v2 = hello("b", 2);
        v2.version = 2;
        check(
            vec![Frame::Hello(v2)],
            bye(CloseReason::Version { ours: 1, theirs: 2 }),
        );
        let mut bad = hello("b/x", 2);
        bad.name = "ok".into();
        let out = Link::accept(hello("a", 1), 0).on_frame(Frame::Hello(bad), 1);
        assert!(
            matches!(&out[1], Action::Close(CloseReason::Protocol(w)) if w.contains("bad hello"))
        );
        let out = Link::accept(hello("a", 1), 0).on_frame(Frame::Ping { token: 1 }, 1);
        assert!(
            matches!(&out[1], Action::Close(CloseReason::Protocol(w)) if w.contains("unexpected ping"))
        );
        // A dialler is answered with hello-ack, never hello.
        let (mut d, _) = Link::dial(hello("a", 1), 0);
        let out = d.on_frame(Frame::Hello(hello("b", 2)), 1);
        assert!(matches!(&out[1], Action::Close(CloseReason::Protocol(_))));
        // The acceptor's side of a self-dial is refused too.
        let (mut d, _) = Link::dial(hello("a", 1), 0);
        assert_eq!(
            d.on_frame(Frame::HelloAck(hello("a", 1)), 1),
            bye(CloseReason::SelfLink)
        );
    }

    #[test]
    fn open_frames() {
        let open = || Frame::Hello(hello("b", 2));
        check(
            vec![open(), Frame::Ping { token: 4 }],
            vec![Action::Send(Frame::Pong { token: 4 })],
        );
        let m = msg("b", "general", 1, 1, "hi");
        check(
            vec![open(), Frame::Msg(m.clone())],
            vec![Action::Deliver(m.clone())],
        );
        let out = Link::accept(hello("a", 1), 0);
        let mut l = out;
        l.on_frame(open(), 1);
        let out = l.on_frame(Frame::Direct(m.clone()), 2);
        assert!(
            matches!(&out[1], Action::Close(CloseReason::Protocol(_))),
            "direct without to"
        );
        check(
            vec![
                open(),
                Frame::Bye {
                    reason: "later".into(),
                },
            ],
            vec![Action::Close(CloseReason::Bye("later".into()))],
        );
        check(
            vec![open(), open()],
            bye(CloseReason::Protocol(
                "unexpected hello frame in state Open".into(),
            )),
        );
        // After bye nothing more is acted on.
        check(
            vec![
                open(),
                Frame::Bye {
                    reason: String::new(),
                },
                Frame::Ping { token: 1 },
            ],
            vec![],
        );
    }

    #[test]
    fn keepalive_and_death() {
        let (mut d, _) = Link::dial(hello("a", 1), 0);
        d.on_frame(Frame::HelloAck(hello("b", 2)), 0);
        assert_eq!(d.next_deadline(), Some(PING_INTERVAL_MS));
        assert!(d.tick(PING_INTERVAL_MS - 1).is_empty());
        assert_eq!(
            d.tick(PING_INTERVAL_MS),
            [Action::Send(Frame::Ping { token: 1 })]
        );
        d.on_frame(Frame::Pong { token: 1 }, PING_INTERVAL_MS + 3);
        assert_eq!(d.rtt_ms(), Some(3));
        let heard = PING_INTERVAL_MS + 3;
        assert_eq!(
            d.tick(2 * PING_INTERVAL_MS),
            [Action::Send(Frame::Ping { token: 2 })]
        );
        assert_eq!(
            d.tick(3 * PING_INTERVAL_MS),
            [Action::Send(Frame::Ping { token: 3 })]
        );
        assert_eq!(
            d.tick(4 * PING_INTERVAL_MS),
            [Action::Send(Frame::Ping { token: 4 })]
        );
        assert_eq!(d.next_deadline(), Some(heard + DEAD_AFTER_MS));
        assert!(d.tick(heard + DEAD_AFTER_MS - 1).is_empty());
        assert_eq!(d.tick(heard + DEAD_AFTER_MS), bye(CloseReason::Timeout));
        assert_eq!(d.state(), LinkState::Closing);
        assert_eq!(d.next_deadline(), None);
        assert!(d.tick(u64::MAX).is_empty());
        d.closed();
        assert_eq!(d.state(), LinkState::Closed);
    }

    #[test]
    fn handshake_timeout() {
        let mut l = Link::accept(hello("a", 1), 100);
        assert_eq!(l.next_deadline(), Some(100 + HANDSHAKE_TIMEOUT_MS));
        assert!(l.tick(99 + HANDSHAKE_TIMEOUT_MS).is_empty());
        assert_eq!(
            l.tick(100 + HANDSHAKE_TIMEOUT_MS),
            bye(CloseReason::HandshakeTimeout)
        );
        assert!(
            l.close(CloseReason::Shutdown).is_empty(),
            "closing twice sends one bye"
        );
    }

    #[test]
    fn both_sides_keep_the_same_link() {
        let o = |d: &str, n| LinkOrigin {
            dialler: d.into(),
            nonce: n,
        };
        // (link dialled by a, link dialled by b, expected survivor's dialler)
        let cases = [
            (o("a", 900), o("b", 1), "a"),
            (o("a", 1), o("b", 900), "a"),
            (
                o("127.0.0.1:5002", 5),
                o("127.0.0.1:5001", 7),
                "127.0.0.1:5001",
            ),
        ];
        for (la, lb, winner) in cases {
            // Each side may have seen either link open first.
            for (older, newer) in [(&la, &lb), (&lb, &la)] {
                let kept = match keep_link(older, newer) {
                    Survivor::Older => older,
                    Survivor::Newer => newer,
                };
                assert_eq!(kept.dialler, winner, "{older:?} then {newer:?}");
            }
        }
        // Same dialler: it re-dialled after losing the old link, so the new one wins.
        assert_eq!(keep_link(&o("a", 1), &o("a", 2)), Survivor::Newer);
        assert_eq!(keep_link(&o("a", 2), &o("a", 1)), Survivor::Newer);
    }
}
