//! The state machine of one peer-to-peer link (SPEC §6): handshake, keep-alive, `bye`.
//!
//! ```text
//!  dial ──► AwaitingHelloAck ──hello-ack (proof ok) / auth──────────────┐
//!                                                                        ├─► Open ─► Closing ─► Closed
//!  accept ─► AwaitingHello ──hello / hello-ack──► AwaitingAuth ──auth ok─┘
//! ```
//!
//! The handshake proves keys both ways: each `hello` carries the sender's public key and a fresh
//! random challenge; the acceptor's `hello-ack` carries its signature over the dialler's
//! challenge, and the dialler's `auth` its signature over the acceptor's. A link opens only when
//! the other side's proof checks out, so [`Link::remote_key`] of an open link is a key the peer
//! holds. Whether that key is the right one for its peer id is the node's business.
//!
//! A [`Link`] does no I/O: each input returns [`Action`]s for the caller. It checks the frame
//! order and the handshake (self-link, version, proofs); what a message means is the node's.
//!
//! Its timers read only `mono_ms`: milliseconds on a monotonic clock of the driver's choosing
//! (any origin). The wall clock never reaches them, so a clock step cannot kill a link.

use std::fmt;

use crate::frame::{Frame, FrameError, Hello, PROTOCOL_VERSION, SyncReply, SyncReq};
use crate::identity::{Identity, PublicKey, check_proof, new_challenge};
use crate::message::{Message, validate_name, validate_peer_id};

/// Interval between pings on an open link, in ms.
pub const PING_INTERVAL_MS: u64 = 15_000;
/// A link with nothing received for this long is dead, in ms.
pub const DEAD_AFTER_MS: u64 = 45_000;
/// A handshake not finished within this long is abandoned, in ms.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Longest challenge text accepted in a hello (ours are 43 characters of base64).
const MAX_CHALLENGE_TEXT: usize = 128;

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
    /// Accepted, `hello-ack` with our proof sent; waiting for the dialler's `auth`.
    AwaitingAuth,
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
    /// The peer did not prove it holds the key it announced.
    Unproven(String),
    /// The peer proved a key, but not the one bound to its peer id (by the tracker or an
    /// earlier link).
    KeyMismatch,
    /// Nobody (tracker or earlier link) vouched for the peer's key in time.
    KeyUnconfirmed,
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
            | CloseReason::Unproven(_)
            | CloseReason::KeyMismatch
            | CloseReason::KeyUnconfirmed
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
            CloseReason::Unproven(why) => write!(f, "key not proven: {why}"),
            CloseReason::KeyMismatch => {
                f.write_str("key does not match the one bound to this peer id")
            }
            CloseReason::KeyUnconfirmed => f.write_str("key not confirmed by the tracker"),
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
    identity: Identity,
    remote: Option<Hello>,
    remote_key: Option<PublicKey>,
    started_ms: u64,
    last_heard_ms: u64,
    last_ping_ms: u64,
    ping_token: u64,
    rtt_ms: Option<u64>,
}

impl Link {
    /// A link we dialled: sends our `hello` (`local`, with a fresh nonce; its key and challenge
    /// are filled in from `identity`) at once.
    pub fn dial(local: Hello, identity: &Identity, mono_ms: u64) -> (Link, Vec<Action>) {
        let link = Link::new(
            Role::Dialler,
            LinkState::AwaitingHelloAck,
            local,
            identity,
            mono_ms,
        );
        let hello = Frame::Hello(link.local.clone());
        (link, vec![Action::Send(hello)])
    }

    /// A link the peer dialled: waits for its `hello`, answered with `local` and our proof.
    pub fn accept(local: Hello, identity: &Identity, mono_ms: u64) -> Link {
        Link::new(
            Role::Acceptor,
            LinkState::AwaitingHello,
            local,
            identity,
            mono_ms,
        )
    }

    fn new(
        role: Role,
        state: LinkState,
        mut local: Hello,
        identity: &Identity,
        mono_ms: u64,
    ) -> Link {
        local.key = identity.public().as_str().to_string();
        local.challenge = new_challenge();
        local.proof = None;
        Link {
            role,
            state,
            local,
            identity: identity.clone(),
            remote: None,
            remote_key: None,
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

    /// The key the peer proved it holds, once the link is open.
    pub fn remote_key(&self) -> Option<&PublicKey> {
        match self.state {
            LinkState::Open => self.remote_key.as_ref(),
            _ => None,
        }
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

    /// When the link started, on the monotonic clock.
    pub fn started_ms(&self) -> u64 {
        self.started_ms
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
            (LinkState::AwaitingHello, Frame::Hello(h)) => self.on_hello(h),
            (LinkState::AwaitingHelloAck, Frame::HelloAck(h)) => self.on_hello_ack(h, mono_ms),
            (LinkState::AwaitingAuth, Frame::Auth { proof }) => {
                if !self.proof_checks(&proof) {
                    return self.close(CloseReason::Unproven("bad auth proof".into()));
                }
                self.open(mono_ms)
            }
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

    /// Acceptor: checks the dialler's hello, answers with our hello and our proof over its
    /// challenge, and waits for its proof.
    fn on_hello(&mut self, h: Hello) -> Vec<Action> {
        if let Some(refusal) = self.check_hello(h) {
            return refusal;
        }
        let remote = self.remote.as_ref().expect("check_hello keeps the hello");
        let mut ack = self.local.clone();
        ack.proof = Some(self.identity.prove(
            &remote.challenge,
            &self.local.peer_id,
            &remote.peer_id,
        ));
        self.state = LinkState::AwaitingAuth;
        vec![Action::Send(Frame::HelloAck(ack))]
    }

    /// Dialler: checks the acceptor's hello-ack and its proof over our challenge, then proves
    /// our key over its challenge; the link is open.
    fn on_hello_ack(&mut self, h: Hello, mono_ms: u64) -> Vec<Action> {
        let proof = h.proof.clone().unwrap_or_default();
        if let Some(refusal) = self.check_hello(h) {
            return refusal;
        }
        if !self.proof_checks(&proof) {
            return self.close(CloseReason::Unproven("bad hello-ack proof".into()));
        }
        let remote = self.remote.as_ref().expect("check_hello keeps the hello");
        let auth = Frame::Auth {
            proof: self
                .identity
                .prove(&remote.challenge, &self.local.peer_id, &remote.peer_id),
        };
        let mut out = vec![Action::Send(auth)];
        out.extend(self.open(mono_ms));
        out
    }

    /// Checks a hello or hello-ack and keeps it with its key; the closing actions if refused.
    fn check_hello(&mut self, h: Hello) -> Option<Vec<Action>> {
        if h.peer_id == self.local.peer_id {
            return Some(self.close(CloseReason::SelfLink));
        }
        if h.version != PROTOCOL_VERSION {
            return Some(self.close(CloseReason::Version {
                ours: PROTOCOL_VERSION,
                theirs: h.version,
            }));
        }
        if let Err(e) = validate_peer_id(&h.peer_id).and_then(|()| validate_name(&h.name)) {
            return Some(self.close(CloseReason::Protocol(format!("bad hello: {e}"))));
        }
        if h.challenge.is_empty() || h.challenge.len() > MAX_CHALLENGE_TEXT {
            return Some(self.close(CloseReason::Unproven("no usable challenge".into())));
        }
        let Some(key) = PublicKey::parse(&h.key) else {
            return Some(self.close(CloseReason::Unproven("no valid public key".into())));
        };
        self.remote_key = Some(key);
        self.remote = Some(h);
        None
    }

    /// Whether `proof` is the peer's signature over our challenge on this link.
    fn proof_checks(&self, proof: &str) -> bool {
        match (&self.remote, &self.remote_key) {
            (Some(remote), Some(key)) => check_proof(
                key,
                &self.local.challenge,
                &remote.peer_id,
                &self.local.peer_id,
                proof,
            ),
            _ => false,
        }
    }

    fn open(&mut self, mono_ms: u64) -> Vec<Action> {
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
            LinkState::AwaitingHello | LinkState::AwaitingHelloAck | LinkState::AwaitingAuth => {
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
            LinkState::AwaitingHello | LinkState::AwaitingHelloAck | LinkState::AwaitingAuth => {
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
            key: String::new(),
            challenge: String::new(),
            proof: None,
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

    fn sent(actions: &[Action]) -> Frame {
        match actions.first() {
            Some(Action::Send(f)) => f.clone(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    fn closed_with(actions: &[Action]) -> CloseReason {
        match actions.last() {
            Some(Action::Close(r)) => r.clone(),
            other => panic!("expected a close, got {other:?}"),
        }
    }

    /// A dialler "a" and an acceptor "b" (keys `ka`, `kb`) after the dialler's hello: the
    /// acceptor's answer and both links.
    fn start(ka: &Identity, kb: &Identity) -> (Link, Link, Frame) {
        let (d, out) = Link::dial(hello("a", 1), ka, 0);
        let mut acc = Link::accept(hello("b", 2), kb, 0);
        let ack = sent(&acc.on_frame(sent(&out), 1));
        (d, acc, ack)
    }

    /// Two open ends of one link.
    fn pair(now: u64) -> (Link, Link) {
        let (ka, kb) = (Identity::generate(), Identity::generate());
        let (mut d, mut acc, ack) = start(&ka, &kb);
        let out = d.on_frame(ack, now);
        assert_eq!(out[1], Action::Opened);
        assert_eq!(acc.on_frame(sent(&out), now), [Action::Opened]);
        (d, acc)
    }

    /// An acceptor for "a" that a dialler "b" has finished the handshake with, fed `frames`.
    fn check(frames: Vec<Frame>, expected: Vec<Action>) {
        let (_, mut acc) = pair(1);
        let mut last = Vec::new();
        for f in frames {
            last = acc.on_frame(f, 1);
        }
        assert_eq!(last, expected);
    }

    #[test]
    fn handshake_proves_both_keys() {
        let (ka, kb) = (Identity::generate(), Identity::generate());
        let (mut d, out) = Link::dial(hello("a", 1), &ka, 0);
        let Frame::Hello(h) = sent(&out) else {
            panic!()
        };
        assert_eq!(h.key, ka.public().as_str());
        assert!(h.challenge.len() >= 40 && h.proof.is_none());
        assert_eq!(d.state(), LinkState::AwaitingHelloAck);
        let mut acc = Link::accept(hello("b", 2), &kb, 0);
        let out = acc.on_frame(Frame::Hello(h), 5);
        let Frame::HelloAck(ack) = sent(&out) else {
            panic!()
        };
        assert_eq!(out.len(), 1, "not open before the dialler's proof");
        assert_eq!(acc.state(), LinkState::AwaitingAuth);
        assert_eq!(acc.remote_key(), None);
        assert!(ack.proof.is_some());
        let out = d.on_frame(Frame::HelloAck(ack), 6);
        assert!(matches!(&out[0], Action::Send(Frame::Auth { .. })));
        assert_eq!(out[1], Action::Opened);
        assert_eq!(d.remote_key(), Some(kb.public()));
        assert_eq!(acc.on_frame(sent(&out), 7), [Action::Opened]);
        assert_eq!(acc.remote_key(), Some(ka.public()));
        let origin = LinkOrigin {
            dialler: "a".into(),
            nonce: 1,
        };
        assert_eq!(d.origin(), Some(origin.clone()));
        assert_eq!(acc.origin(), Some(origin));
        assert_eq!(acc.remote().map(|h| h.name.as_str()), Some("A"));
    }

    #[test]
    fn unproven_keys_never_open() {
        let (ka, kb, km) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        // An acceptor whose proof is made with another key than the one it announces.
        let (mut d, _, ack) = start(&ka, &kb);
        let Frame::HelloAck(mut forged) = ack.clone() else {
            panic!()
        };
        forged.key = km.public().as_str().to_string();
        let out = d.on_frame(Frame::HelloAck(forged), 2);
        assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
        assert_eq!(d.remote_key(), None);
        // A proof replayed from another link (over another challenge) does not check out.
        let (mut d2, _, _) = start(&ka, &kb);
        let out = d2.on_frame(ack, 2);
        assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
        // A dialler that cannot prove its key: auth signed by another key, or replayed.
        let (mut d, mut acc, ack) = start(&ka, &kb);
        let auth = sent(&d.on_frame(ack, 2));
        let (_, mut acc2, _) = start(&ka, &kb);
        let out = acc2.on_frame(auth.clone(), 3);
        assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
        let out = acc.on_frame(
            Frame::Auth {
                proof: km.sign(b"anything"),
            },
            3,
        );
        assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
        // Nothing but auth is taken before the proof: no message slips in.
        let (_, mut acc, _) = start(&ka, &kb);
        let out = acc.on_frame(Frame::Msg(msg("a", "general", 1, 1, "hi")), 3);
        assert!(matches!(closed_with(&out), CloseReason::Protocol(_)));
        // A hello with no key or no challenge.
        for strip in [
            |h: &mut Hello| h.key.clear(),
            |h: &mut Hello| h.challenge.clear(),
        ] {
            let (_, out) = Link::dial(hello("a", 1), &ka, 0);
            let Frame::Hello(mut h) = sent(&out) else {
                panic!()
            };
            strip(&mut h);
            let out = Link::accept(hello("b", 2), &kb, 0).on_frame(Frame::Hello(h), 1);
            assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
        }
    }

    #[test]
    fn handshake_refusals() {
        let k = Identity::generate();
        let (_, out) = Link::dial(hello("a", 9), &k, 0);
        let own = sent(&out);
        assert_eq!(
            Link::accept(hello("a", 1), &k, 0).on_frame(own.clone(), 1),
            bye(CloseReason::SelfLink)
        );
        let Frame::Hello(mut old) = own.clone() else {
            panic!()
        };
        old.peer_id = "b".into();
        old.version = 1;
        assert_eq!(
            Link::accept(hello("a", 1), &k, 0).on_frame(Frame::Hello(old.clone()), 1),
            bye(CloseReason::Version {
                ours: PROTOCOL_VERSION,
                theirs: 1
            })
        );
        old.version = PROTOCOL_VERSION;
        old.peer_id = "b/x".into();
        let out = Link::accept(hello("a", 1), &k, 0).on_frame(Frame::Hello(old), 1);
        assert!(matches!(closed_with(&out), CloseReason::Protocol(w) if w.contains("bad hello")));
        let out = Link::accept(hello("a", 1), &k, 0).on_frame(Frame::Ping { token: 1 }, 1);
        assert!(
            matches!(closed_with(&out), CloseReason::Protocol(w) if w.contains("unexpected ping"))
        );
        // A dialler is answered with hello-ack, never hello.
        let (mut d, _) = Link::dial(hello("a", 1), &k, 0);
        let out = d.on_frame(own, 1);
        assert!(matches!(closed_with(&out), CloseReason::Protocol(_)));
    }

    #[test]
    fn open_frames() {
        check(
            vec![Frame::Ping { token: 4 }],
            vec![Action::Send(Frame::Pong { token: 4 })],
        );
        let m = msg("a", "general", 1, 1, "hi");
        check(
            vec![Frame::Msg(m.clone())],
            vec![Action::Deliver(m.clone())],
        );
        let (_, mut acc) = pair(1);
        let out = acc.on_frame(Frame::Direct(m.clone()), 2);
        assert!(
            matches!(closed_with(&out), CloseReason::Protocol(_)),
            "direct without to"
        );
        check(
            vec![Frame::Bye {
                reason: "later".into(),
            }],
            vec![Action::Close(CloseReason::Bye("later".into()))],
        );
        check(
            vec![Frame::Auth { proof: "x".into() }],
            bye(CloseReason::Protocol(
                "unexpected auth frame in state Open".into(),
            )),
        );
        // After bye nothing more is acted on.
        check(
            vec![
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
        let (mut d, _) = pair(0);
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
        let k = Identity::generate();
        let mut l = Link::accept(hello("a", 1), &k, 100);
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
        // A dialler that never proves its key is dropped on the same deadline.
        let (_, mut acc, _) = start(&k, &Identity::generate());
        assert_eq!(acc.state(), LinkState::AwaitingAuth);
        assert_eq!(
            acc.tick(HANDSHAKE_TIMEOUT_MS),
            bye(CloseReason::HandshakeTimeout)
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
