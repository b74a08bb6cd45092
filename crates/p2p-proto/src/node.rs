//! [`NodeState`]: the pure core of one peer — its channels, links, histories and UI events.
//!
//! The mesh is full: every member of a channel links to every other, so a message is sent once
//! by its author to each linked member and never re-forwarded. A `msg` or `direct` frame is
//! therefore accepted only from its author (`from` must be the link's peer); messages by third
//! parties arrive only in `sync` answers, which is how a peer that was away catches up. There
//! is no flooding to dedupe, only sync answers that overlap.
//!
//! Access control (SPEC §6): a channel message is accepted from a peer the tracker lists as a
//! member ([`NodeState::join`], [`NodeState::set_members`]). For an `open` channel a peer that
//! says it joined (in its `hello`, or by asking to sync the channel) is accepted too, since
//! anyone may join an open channel and the tracker's list may be a heartbeat behind. For a
//! `key` channel only the tracker's list counts: a message from anyone else is dropped and
//! [`Event::NotMember`] tells the driver to refresh the list. Trust in `sync` answers is per
//! link: a listed member may relay others' messages, but every message, relayed or not, must
//! carry its author's signature (see [`trust`](self) and [`crate::identity`]).
//!
//! Trust: a link is used only once its peer has proven a key (the link handshake) and that key
//! is the one bound to its peer id, by the tracker ([`NodeState::bind_key`]) or an earlier
//! link. A proven key that nobody has bound yet leaves the link pending, and
//! [`Event::KeyNeeded`] asks the driver to fetch keys from the tracker; a pending link gets no
//! history and its messages are not stored.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::channel_key::ChannelKey;
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameError, Hello, PROTOCOL_VERSION};
use crate::history::{ChannelLog, History, Lamport};
use crate::identity::{Identity, PublicKey};
use crate::link::{self, CloseReason, Link, Survivor, keep_link};
use crate::message::{
    Message, dm_channel, validate_channel, validate_name, validate_peer_id, validate_text,
};
use crate::seal::PairKey;

pub mod course;
mod deliver;
mod handover;
mod keyproof;
mod resolve;
mod sealed;
mod sync;
mod trust;

pub use trust::KEY_CONFIRM_TIMEOUT_MS;
#[cfg(test)]
mod tests;
mod unread;

/// Most UI events held for the driver; past it the oldest are dropped (the UI can reload).
pub const MAX_PENDING_EVENTS: usize = 10_000;

/// The driver's name for a connection carrying a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

/// A message this peer wrote and has not kept yet ([`NodeState::post`], [`NodeState::direct`]).
///
/// Stored before acknowledged (SPEC §6): the driver appends [`Outgoing::msg`] to its log, then
/// hands this to [`NodeState::commit`]. If the append fails, dropping it leaves no trace: the
/// message is not in the history, not sent to anyone, and its seq is free for the next one.
#[derive(Debug)]
#[must_use = "store it, then commit it; dropping it discards the message"]
pub struct Outgoing {
    /// The message, to store.
    pub msg: Message,
    frames: Vec<(LinkId, Frame)>,
}

/// Who may join a channel, as the tracker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelPolicy {
    /// Anyone may join.
    Open,
    /// Joining needs the key.
    Key,
}

/// How a channel is joined: open, or with its key (kept only as the derived proof key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelAccess {
    /// Anyone may join.
    Open,
    /// Joined with the key; peers must prove it on each link (see [`crate::channel_key`]).
    Key(ChannelKey),
}

impl ChannelAccess {
    /// The policy this access stands for.
    pub fn policy(&self) -> ChannelPolicy {
        match self {
            ChannelAccess::Open => ChannelPolicy::Open,
            ChannelAccess::Key(_) => ChannelPolicy::Key,
        }
    }
}

/// Something the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this frame on the link.
    Send(LinkId, Frame),
    /// Close the link's connection once what was sent is flushed, then call
    /// [`NodeState::link_closed`].
    Close(LinkId, CloseReason),
    /// A new message arrived from a peer: append it to the store.
    Persist(Message),
}

/// Something the UI should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new message, ours or a peer's, in any channel.
    Message(Message),
    /// The peer came up: a link to it was taken into use while none was. (A link that takes
    /// over from a duplicate one the peer closed is not reported: the peer never went down.)
    PeerUp {
        /// Its peer id.
        peer_id: String,
        /// Its display name.
        name: String,
        /// The connection's address, as the driver gave it.
        addr: String,
    },
    /// The peer went down: its link in use closed and no other link to it is coming up.
    PeerDown {
        /// Its peer id.
        peer_id: String,
        /// Why, for the log.
        reason: String,
    },
    /// A channel's unread count changed.
    Unread {
        /// The channel.
        channel: String,
        /// Its unread count now.
        count: usize,
    },
    /// A peer the tracker does not list wrote to (or asked to sync) one of our channels and was
    /// refused; the member list may be stale, so fetch it again.
    NotMember {
        /// The channel.
        channel: String,
        /// The refused peer.
        peer_id: String,
    },
    /// A peer proved a key (on a link, or as the author of a synced message) that no one has
    /// bound to its id yet: fetch keys from the tracker and call [`NodeState::bind_key`].
    KeyNeeded {
        /// The peer whose key is wanted.
        peer_id: String,
    },
}

/// A linked peer, for `/api/peers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its peer id.
    pub peer_id: String,
    /// Its display name.
    pub name: String,
    /// The connection's address.
    pub addr: String,
    /// The link.
    pub link: LinkId,
    /// The channels it said it joined.
    pub channels: Vec<String>,
    /// Round-trip time of its last ping, if any.
    pub rtt_ms: Option<u64>,
}

/// A joined channel, for `/api/channels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Its name.
    pub name: String,
    /// Its policy.
    pub policy: ChannelPolicy,
    /// Members as the tracker last listed them.
    pub members: Vec<String>,
    /// Unread messages.
    pub unread: usize,
}

#[derive(Debug)]
struct Channel {
    access: ChannelAccess,
    members: BTreeSet<String>,
}

#[derive(Debug)]
struct Slot {
    link: Link,
    addr: String,
    /// Open channels the peer said it joined (hello or sync-req).
    claimed: BTreeSet<String>,
    /// Channels we sent a sync-req for on this link, so each is asked once per link.
    synced: BTreeSet<String>,
    /// Sync-reqs refused because the peer was not listed, by channel (joined ones only, so
    /// bounded): answered if the tracker lists the peer later, since it will not ask again.
    refused: BTreeMap<String, BTreeMap<String, u64>>,
    /// Proven but waiting for its key to be bound (see [`trust`](self)).
    pending: bool,
    /// Key channels (joined ones only, so bounded): where the peer stands in proving the key.
    proofs: BTreeMap<String, keyproof::KeyProof>,
    /// The key our direct messages with this peer are sealed under, derived at the first
    /// direct message (none on a version-2 link, which then carries no direct messages).
    pair: OnceCell<Option<PairKey>>,
}

/// The protocol state of one peer. See the module docs for the rules it enforces.
#[derive(Debug)]
pub struct NodeState {
    peer_id: String,
    name: String,
    clock: Lamport,
    history: History,
    channels: BTreeMap<String, Channel>,
    links: HashMap<LinkId, Slot>,
    /// Peer id → its one open link. Sorted so broadcasts go out in a stable order.
    peers: BTreeMap<String, LinkId>,
    /// Peers whose link in use they closed as a duplicate while another link to them was
    /// still coming up; their [`Event::PeerDown`] waits on that link (see the `handover` module).
    handover: BTreeSet<String>,
    events: VecDeque<Event>,
    identity: Identity,
    /// Peer id → the key bound to it (by the tracker or a link), ours included.
    keys: BTreeMap<String, PublicKey>,
    /// Channels whose sync answers held messages by authors with no bound key; synced again
    /// when a key arrives.
    held: BTreeSet<String>,
    /// Peers we asked the driver a key for, so each is asked once until bound.
    wanted: BTreeSet<String>,
    /// Bind an unknown peer's key on its first proven link (no tracker to ask).
    first_use: bool,
}

impl NodeState {
    /// A node with no channels, links or history.
    pub fn new(peer_id: impl Into<String>, name: impl Into<String>) -> Result<NodeState> {
        let (peer_id, name) = (peer_id.into(), name.into());
        validate_peer_id(&peer_id)?;
        validate_name(&name)?;
        let identity = Identity::generate();
        let keys = BTreeMap::from([(peer_id.clone(), identity.public().clone())]);
        Ok(NodeState {
            identity,
            keys,
            held: BTreeSet::new(),
            wanted: BTreeSet::new(),
            first_use: false,
            peer_id,
            name,
            clock: Lamport::default(),
            history: History::default(),
            channels: BTreeMap::new(),
            links: HashMap::new(),
            peers: BTreeMap::new(),
            handover: BTreeSet::new(),
            events: VecDeque::new(),
        })
    }

    /// Keeps `cap` messages per channel in RAM instead of the default; call before
    /// [`NodeState::load`].
    pub fn with_history_cap(mut self, cap: usize) -> NodeState {
        self.history = History::new(cap);
        self
    }

    /// Uses `identity` (the peer's stored key pair) instead of the fresh one of
    /// [`NodeState::new`]; call before any link opens.
    pub fn with_identity(mut self, identity: Identity) -> NodeState {
        self.keys
            .insert(self.peer_id.clone(), identity.public().clone());
        self.identity = identity;
        self
    }

    /// Trust on first use, for a peer with no tracker: the first proven link of an unknown
    /// peer id binds its key (later links must prove the same key). Off by default, so an
    /// unknown key waits for the tracker ([`Event::KeyNeeded`]).
    pub fn with_trust_on_first_use(mut self, on: bool) -> NodeState {
        self.first_use = on;
        self
    }

    /// Our key pair.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Our peer id.
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Our display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Restores history read from the store: no events, nothing unread; our seq counters and
    /// the Lamport clock continue after it.
    pub fn load(&mut self, messages: impl IntoIterator<Item = Message>) {
        for m in messages {
            self.clock.observe(m.lamport);
            self.history.insert(m, false);
        }
    }

    // ---- channels -------------------------------------------------------------------------

    /// Joins (or updates) a channel with its access and the tracker's member list, and asks
    /// linked members for what we lack (a key channel's members prove its key first).
    pub fn join(
        &mut self,
        channel: &str,
        access: ChannelAccess,
        members: impl IntoIterator<Item = String>,
    ) -> Result<Vec<Action>> {
        validate_channel(channel)?;
        let channel_state = Channel {
            access,
            members: members.into_iter().collect(),
        };
        let old = self.channels.insert(channel.to_string(), channel_state);
        if old.is_some_and(|c| c.access != self.channels[channel].access) {
            // Proofs were against the old key (or none was needed): prove again.
            self.forget_proofs(channel);
        }
        Ok(self.sync_members(channel))
    }

    /// Leaves a channel; its history stays readable. `false` if it was not joined.
    pub fn leave(&mut self, channel: &str) -> bool {
        for slot in self.links.values_mut() {
            slot.synced.remove(channel);
            slot.refused.remove(channel);
        }
        self.forget_proofs(channel);
        self.channels.remove(channel).is_some()
    }

    /// Replaces a joined channel's member list (from the tracker) and syncs with members that
    /// just became acceptable. Nothing for a channel not joined.
    pub fn set_members(
        &mut self,
        channel: &str,
        members: impl IntoIterator<Item = String>,
    ) -> Vec<Action> {
        match self.channels.get_mut(channel) {
            Some(c) => c.members = members.into_iter().collect(),
            None => return Vec::new(),
        }
        self.sync_members(channel)
    }

    /// Joined channels, sorted by name.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        self.channels
            .iter()
            .map(|(name, c)| ChannelInfo {
                name: name.clone(),
                policy: c.access.policy(),
                members: c.members.iter().cloned().collect(),
                unread: self.unread(name),
            })
            .collect()
    }

    /// Whether we joined `channel`.
    pub fn is_joined(&self, channel: &str) -> bool {
        self.channels.contains_key(channel)
    }

    /// A page of a channel's history (group or direct), oldest first; see
    /// [`ChannelLog::page`].
    pub fn messages(&self, channel: &str, before: Option<&str>, limit: usize) -> Vec<Message> {
        self.history
            .channel(channel)
            .map_or_else(Vec::new, |log| log.page(before, limit))
    }

    /// All histories.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Unread messages in a channel.
    pub fn unread(&self, channel: &str) -> usize {
        self.history.channel(channel).map_or(0, ChannelLog::unread)
    }

    /// Marks a channel read and tells the UI.
    pub fn mark_read(&mut self, channel: &str) {
        if self.history.channel(channel).is_some() {
            self.history.log_mut(channel).mark_read();
            self.push_event(Event::Unread {
                channel: channel.to_string(),
                count: 0,
            });
        }
    }

    // ---- sending --------------------------------------------------------------------------

    /// Writes a message to a joined channel, stamped `ts_ms` (wall clock, ms since the Unix
    /// epoch). Nothing is kept yet: the caller stores the returned [`Outgoing`], then
    /// [`commit`](NodeState::commit)s it, so a message the disk refused leaves no trace.
    pub fn post(&mut self, channel: &str, text: &str, ts_ms: u64) -> Result<Outgoing> {
        if !self.channels.contains_key(channel) {
            return Err(Error::NotJoined(channel.to_string()));
        }
        validate_text(text)?;
        let msg = self.make(channel, None, text, ts_ms)?;
        let frames = self
            .peers
            .iter()
            .filter(|(peer, link)| self.accepts(channel, peer, **link))
            .map(|(_, &link)| (link, Frame::Msg(msg.clone())))
            .collect();
        Ok(Outgoing { msg, frames })
    }

    /// Writes a direct message, as [`NodeState::post`] does. With no link to the recipient yet
    /// it waits in the `dm:` channel and reaches the recipient by sync when a link opens.
    pub fn direct(&mut self, to: &str, text: &str, ts_ms: u64) -> Result<Outgoing> {
        if to == self.peer_id {
            return Err(Error::DirectToSelf);
        }
        validate_peer_id(to)?;
        validate_text(text)?;
        let channel = dm_channel(&self.peer_id, to);
        let msg = self.make(&channel, Some(to), text, ts_ms)?;
        let frames = self
            .peers
            .get(to)
            .and_then(|&link| Some((link, Frame::Direct(self.seal_for(link, &msg)?))))
            .into_iter()
            .collect();
        Ok(Outgoing { msg, frames })
    }

    /// Keeps a message of ours that the caller has stored: into the history (its seq is now
    /// taken) and the UI events. Answers the frames for the linked recipients.
    pub fn commit(&mut self, out: Outgoing) -> Vec<(LinkId, Frame)> {
        self.history.insert(out.msg.clone(), false);
        self.push_event(Event::Message(out.msg));
        out.frames
    }

    /// A new message of ours with the next seq of its channel. Not kept: see [`Outgoing`].
    fn make(&mut self, channel: &str, to: Option<&str>, text: &str, ts_ms: u64) -> Result<Message> {
        let seq = self
            .history
            .channel(channel)
            .map_or(0, |log| log.highest_seq(&self.peer_id))
            + 1;
        let mut msg = Message {
            id: Message::make_id(&self.peer_id, channel, seq),
            channel: channel.to_string(),
            from: self.peer_id.clone(),
            name: self.name.clone(),
            seq,
            lamport: self.clock.tick(),
            ts: ts_ms,
            text: text.to_string(),
            to: to.map(str::to_string),
            sig: None,
            unverified: false,
            sealed: None,
        };
        msg.validate()?;
        self.identity.sign_message(&mut msg);
        Ok(msg)
    }

    // ---- links ----------------------------------------------------------------------------

    /// We dialled a peer at `addr` and the connection is upgraded: sends our hello. Check
    /// [`NodeState::is_linked`] first; a node never dials a peer it is linked to.
    pub fn link_dialled(&mut self, link: LinkId, addr: &str, mono_ms: u64) -> Vec<Action> {
        let (l, actions) = Link::dial(self.hello(), &self.identity, mono_ms);
        self.links.insert(link, Slot::new(l, addr));
        self.apply(link, actions)
    }

    /// A peer at `addr` dialled us and the connection is upgraded: waits for its hello.
    pub fn link_accepted(&mut self, link: LinkId, addr: &str, mono_ms: u64) {
        let l = Link::accept(self.hello(), &self.identity, mono_ms);
        self.links.insert(link, Slot::new(l, addr));
    }

    /// A frame arrived on a link.
    pub fn on_frame(&mut self, link: LinkId, frame: Frame, mono_ms: u64) -> Vec<Action> {
        match self.links.get_mut(&link) {
            Some(slot) => {
                let actions = slot.link.on_frame(frame, mono_ms);
                self.apply(link, actions)
            }
            None => Vec::new(),
        }
    }

    /// The link's bytes were not a frame: it closes (SPEC §6).
    pub fn on_link_error(&mut self, link: LinkId, error: FrameError) -> Vec<Action> {
        self.close_link(link, CloseReason::Frame(error))
    }

    /// Closes a link from our side (`bye`, then close).
    pub fn close_link(&mut self, link: LinkId, reason: CloseReason) -> Vec<Action> {
        match self.links.get_mut(&link) {
            Some(slot) => {
                let actions = slot.link.close(reason);
                self.apply(link, actions)
            }
            None => Vec::new(),
        }
    }

    /// The driver dropped the link's connection (after a [`Action::Close`], or because the
    /// socket failed); forgets the link.
    pub fn link_closed(&mut self, link: LinkId) {
        self.detach(link, &CloseReason::Disconnected);
        self.links.remove(&link);
    }

    /// Says `bye` on every link, for a clean exit.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        ids.into_iter()
            .flat_map(|id| self.close_link(id, CloseReason::Shutdown))
            .collect()
    }

    /// Runs the links' timers (pings, dead links, handshake timeouts).
    pub fn tick(&mut self, mono_ms: u64) -> Vec<Action> {
        let mut ids: Vec<LinkId> = self.links.keys().copied().collect();
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            if let Some(slot) = self.links.get_mut(&id) {
                let actions = slot.link.tick(mono_ms);
                out.extend(self.apply(id, actions));
            }
            out.extend(self.expire_pending(id, mono_ms));
        }
        out
    }

    /// When [`NodeState::tick`] next has work, if ever, on the monotonic clock of `mono_ms`.
    pub fn next_deadline(&self) -> Option<u64> {
        self.links
            .values()
            .filter_map(|s| {
                let pending = s.pending.then(|| trust::pending_deadline(&s.link));
                [s.link.next_deadline(), pending]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min()
    }

    /// Whether a link to `peer_id` is open.
    pub fn is_linked(&self, peer_id: &str) -> bool {
        self.peers.contains_key(peer_id)
    }

    /// The open link to `peer_id`.
    pub fn link_of(&self, peer_id: &str) -> Option<LinkId> {
        self.peers.get(peer_id).copied()
    }

    /// Linked peers, sorted by peer id.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers
            .iter()
            .filter_map(|(peer_id, &link)| {
                let slot = self.links.get(&link)?;
                let hello = slot.link.remote()?;
                Some(PeerInfo {
                    peer_id: peer_id.clone(),
                    name: hello.name.clone(),
                    addr: slot.addr.clone(),
                    link,
                    channels: hello.channels.clone(),
                    rtt_ms: slot.link.rtt_ms(),
                })
            })
            .collect()
    }

    /// Takes the pending UI events, oldest first.
    pub fn drain_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.events.drain(..)
    }

    // ---- internals ------------------------------------------------------------------------

    fn hello(&self) -> Hello {
        Hello {
            peer_id: self.peer_id.clone(),
            name: self.name.clone(),
            nonce: rand::random::<u64>(),
            version: PROTOCOL_VERSION,
            channels: self.channels.keys().cloned().collect(),
            key: String::new(),
            challenge: String::new(),
            proof: None,
            max_version: None,
        }
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            log::warn!("UI event queue full; dropping the oldest event");
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    fn remote_id(&self, link: LinkId) -> Option<String> {
        Some(self.links.get(&link)?.link.remote()?.peer_id.clone())
    }

    /// Whether `peer` on `link` may write to (and read) group channel `channel`: for an open
    /// channel, a listed or claiming member; for a key channel, only a peer that proved the key
    /// on this link (the tracker's list is not enough: the key is what makes a member).
    fn accepts(&self, channel: &str, peer: &str, link: LinkId) -> bool {
        let Some(c) = self.channels.get(channel) else {
            return false;
        };
        let slot = self.links.get(&link);
        match c.access {
            ChannelAccess::Key(_) => slot.is_some_and(|s| s.proved(channel)),
            ChannelAccess::Open => {
                c.members.contains(peer) || slot.is_some_and(|s| s.claimed.contains(channel))
            }
        }
    }

    /// Turns a link's actions into ours, handling the ones that concern the node.
    fn apply(&mut self, link: LinkId, actions: Vec<link::Action>) -> Vec<Action> {
        let mut out = Vec::new();
        for action in actions {
            match action {
                link::Action::Send(frame) => out.push(Action::Send(link, frame)),
                link::Action::Close(reason) => {
                    // The one line that says why this link closes (SPEC §6 "a logged reason").
                    let addr = self.links.get(&link).map_or("", |s| s.addr.as_str());
                    if reason.is_fault() {
                        log::warn!("link {link:?} with {addr} closing: {reason}");
                    } else {
                        log::info!("link {link:?} with {addr} closing: {reason}");
                    }
                    self.detach(link, &reason);
                    out.push(Action::Close(link, reason));
                }
                link::Action::Opened => self.on_proven(link, &mut out),
                link::Action::Deliver(msg) => self.on_deliver(link, msg, &mut out),
                link::Action::SyncRequested(req) => self.on_sync_req(link, req, &mut out),
                link::Action::SyncReceived(reply) => self.on_sync(link, reply, &mut out),
                link::Action::KeyChallenged { channel, nonce } => {
                    self.on_key_challenge(link, &channel, &nonce, &mut out);
                }
                link::Action::KeyProved {
                    channel,
                    nonce,
                    proof,
                } => self.on_key_proof(link, &channel, &nonce, &proof, &mut out),
            }
        }
        out
    }

    /// A link is open from our side: take it into use.
    fn promote(&mut self, link: LinkId, out: &mut Vec<Action>) {
        let Some(slot) = self.links.get_mut(&link) else {
            return;
        };
        let Some(hello) = slot.link.remote().cloned() else {
            return;
        };
        slot.claimed = hello
            .channels
            .iter()
            .filter(|c| validate_channel(c).is_ok())
            .cloned()
            .collect();
        let peer = hello.peer_id.clone();
        match self.peers.get(&peer).copied() {
            Some(other) if other != link => {
                let older = self.links.get(&other).and_then(|s| s.link.origin());
                let newer = self.links.get(&link).and_then(|s| s.link.origin());
                let survivor = match (older, newer) {
                    (Some(o), Some(n)) => keep_link(&o, &n),
                    _ => Survivor::Newer,
                };
                let loser = match survivor {
                    Survivor::Older => link,
                    Survivor::Newer => {
                        // Re-point first so closing the loser does not report the peer down.
                        self.peers.insert(peer.clone(), link);
                        other
                    }
                };
                log::info!("two links to {peer}; keeping {:?}", self.peers[&peer]);
                out.extend(self.close_link(loser, CloseReason::Duplicate));
                if loser == link {
                    return;
                }
            }
            _ => {
                self.peers.insert(peer.clone(), link);
                if self.handover.remove(&peer) {
                    // The peer closed its link in use for this one: it never went down.
                    log::info!("link {link:?} takes over {peer} from a duplicate link");
                } else {
                    let addr = self
                        .links
                        .get(&link)
                        .map(|s| s.addr.clone())
                        .unwrap_or_default();
                    self.push_event(Event::PeerUp {
                        peer_id: peer.clone(),
                        name: hello.name.clone(),
                        addr,
                    });
                }
            }
        }
        // Catch up on every shared channel and on our direct messages with this peer.
        let shared: Vec<String> = self
            .channels
            .keys()
            .filter(|c| self.accepts(c, &peer, link))
            .cloned()
            .chain([dm_channel(&self.peer_id, &peer)])
            .collect();
        for channel in shared {
            self.request_sync(link, &channel, out);
        }
        self.challenge_peer(link, out);
        self.answer_deferred(link, out);
    }
}

impl Slot {
    fn new(link: Link, addr: &str) -> Slot {
        Slot {
            link,
            addr: addr.to_string(),
            claimed: BTreeSet::new(),
            synced: BTreeSet::new(),
            refused: BTreeMap::new(),
            pending: false,
            proofs: BTreeMap::new(),
            pair: OnceCell::new(),
        }
    }
}
