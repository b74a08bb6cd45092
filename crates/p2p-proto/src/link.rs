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

use crate::frame::{
    Frame, FrameError, Hello, MAX_PROTOCOL_VERSION, PROTOCOL_VERSION, SyncReply, SyncReq,
};
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

    /// Whether the link closes under the duplicate-link rule, decided by us or (a `bye` with
    /// that reason) by the peer: another link to the same peer is kept.
    pub fn is_duplicate(&self) -> bool {
        match self {
            CloseReason::Duplicate => true,
            CloseReason::Bye(why) => *why == CloseReason::Duplicate.to_string(),
            _ => false,
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
    /// A `channel-challenge` arrived: the peer asks us to prove a channel key.
    KeyChallenged {
        /// The key channel.
        channel: String,
        /// Its nonce.
        nonce: String,
    },
    /// A `channel-proof` arrived: the peer answers our challenge.
    KeyProved {
        /// The key channel.
        channel: String,
        /// The nonce it answers.
        nonce: String,
        /// The MAC.
        proof: String,
    },
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
        local.max_version = Some(MAX_PROTOCOL_VERSION);
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

    /// The protocol version both sides speak on this link, once the peer's hello is in.
    pub fn version(&self) -> u32 {
        self.remote
            .as_ref()
            .map_or(PROTOCOL_VERSION, Hello::agreed_version)
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
            (LinkState::Open, Frame::ChannelChallenge { channel, nonce }) => {
                vec![Action::KeyChallenged { channel, nonce }]
            }
            (
                LinkState::Open,
                Frame::ChannelProof {
                    channel,
                    nonce,
                    proof,
                },
            ) => vec![Action::KeyProved {
                channel,
                nonce,
                proof,
            }],
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
mod tests;
