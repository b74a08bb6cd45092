//! Trust decisions of the node: which key is bound to which peer id, when a proven link is
//! taken into use, and whether a message carries its author's signature.
//!
//! A link's handshake proves that the peer holds the key it announced; this file decides
//! whether that key is the right one for the peer id it claims. Bindings come from the tracker
//! ([`NodeState::bind_key`], authoritative, so a rotated key replaces the old one) and stay
//! after the tracker forgets the peer. A link whose key is not bound yet is pending: it gets no
//! history, its messages are not stored, and it never takes over another link to its peer id;
//! if no binding arrives within [`KEY_CONFIRM_TIMEOUT_MS`] it is closed. A peer with no
//! tracker trusts on first use instead ([`NodeState::with_trust_on_first_use`]): the first
//! proven link of an unknown peer id binds its key.

use super::{Action, Event, LinkId, NodeState};
use crate::frame::SyncReq;
use crate::identity::PublicKey;
use crate::link::{CloseReason, Link};
use crate::message::{Message, dm_channel};

/// How long a proven link may wait for its key to be bound, from the link's start, in ms.
pub const KEY_CONFIRM_TIMEOUT_MS: u64 = 10_000;
/// Most peers whose keys we wait for at once; past it, KeyNeeded is not repeated.
const MAX_WANTED: usize = 1024;

/// When a pending link gives up waiting for its key.
pub(super) fn pending_deadline(link: &Link) -> u64 {
    link.started_ms() + KEY_CONFIRM_TIMEOUT_MS
}

impl NodeState {
    /// Binds `key` (base64, as the tracker lists it) to `peer_id`: pending links of that peer
    /// with this key are taken into use, links with another key are closed, and messages
    /// held back for want of this key are asked for again.
    pub fn bind_key(&mut self, peer_id: &str, key: &str) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(key) = PublicKey::parse(key) else {
            log::warn!("tracker lists an invalid key for {peer_id}; ignored");
            return out;
        };
        if peer_id == self.peer_id {
            if key != *self.identity.public() {
                log::warn!("tracker lists another key for our own id; ignored");
            }
            return out;
        }
        self.wanted.remove(peer_id);
        let fresh = self.keys.insert(peer_id.to_string(), key.clone()).as_ref() != Some(&key);
        if !fresh {
            return out;
        }
        let mut links: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, s)| s.link.remote().is_some_and(|h| h.peer_id == peer_id))
            .map(|(&id, _)| id)
            .collect();
        links.sort();
        for link in links {
            let Some(slot) = self.links.get_mut(&link) else {
                continue;
            };
            match slot.link.remote_key() {
                Some(k) if *k == key && slot.pending => {
                    slot.pending = false;
                    self.promote(link, &mut out);
                }
                Some(k) if *k == key => {}
                Some(_) => out.extend(self.close_link(link, CloseReason::KeyMismatch)),
                None => {}
            }
        }
        for channel in std::mem::take(&mut self.held) {
            for slot in self.links.values_mut() {
                slot.synced.remove(&channel);
            }
            out.extend(self.sync_members(&channel));
        }
        out
    }

    /// The key bound to `peer_id`, if any.
    pub fn bound_key(&self, peer_id: &str) -> Option<&PublicKey> {
        self.keys.get(peer_id)
    }

    /// The link's handshake is done: use it if its key is the one bound to its peer id, close
    /// it if another key is bound, wait for a binding if none is.
    pub(super) fn on_proven(&mut self, link: LinkId, out: &mut Vec<Action>) {
        let Some(slot) = self.links.get_mut(&link) else {
            return;
        };
        let (Some(hello), Some(key)) = (slot.link.remote(), slot.link.remote_key()) else {
            return;
        };
        let peer = hello.peer_id.clone();
        match self.keys.get(&peer) {
            Some(bound) if bound == key => self.promote(link, out),
            Some(_) => out.extend(self.close_link(link, CloseReason::KeyMismatch)),
            None if self.first_use => {
                log::info!("link {link:?}: first key seen for {peer}, bound to it");
                self.keys.insert(peer, key.clone());
                self.promote(link, out);
            }
            None => {
                slot.pending = true;
                log::info!("link {link:?} with {peer}: key proven, waiting for the tracker");
                self.want_key(&peer);
            }
        }
    }

    /// Asks the driver for `peer`'s key, once until it is bound.
    pub(super) fn want_key(&mut self, peer: &str) {
        if self.wanted.len() < MAX_WANTED && self.wanted.insert(peer.to_string()) {
            self.push_event(Event::KeyNeeded {
                peer_id: peer.to_string(),
            });
        }
    }

    /// The peer id of `link` if it is the link in use for that peer (proven, key bound).
    pub(super) fn trusted_peer(&self, link: LinkId) -> Option<String> {
        let peer = self.remote_id(link)?;
        (self.peers.get(&peer) == Some(&link)).then_some(peer)
    }

    /// Whether `msg` carries the signature of the key bound to its author.
    pub(super) fn signed_by_author(&self, msg: &Message) -> bool {
        self.keys
            .get(&msg.from)
            .is_some_and(|key| key.verifies_message(msg))
    }

    /// A pending link asked to sync: keep the request (one per joined channel or our direct
    /// channel with it, so bounded) and answer it once the link is in use.
    pub(super) fn defer_sync_req(&mut self, link: LinkId, req: SyncReq) {
        let Some(slot) = self.links.get_mut(&link) else {
            return;
        };
        let Some(peer) = slot.link.remote().map(|h| h.peer_id.clone()) else {
            return;
        };
        let ours = self.channels.contains_key(&req.channel)
            || req.channel == dm_channel(&self.peer_id, &peer);
        if slot.pending && ours {
            slot.refused.insert(req.channel, req.have);
        }
    }

    /// Answers the sync-reqs a link sent while it was pending (or refused before).
    pub(super) fn answer_deferred(&mut self, link: LinkId, out: &mut Vec<Action>) {
        let Some(slot) = self.links.get_mut(&link) else {
            return;
        };
        for (channel, have) in std::mem::take(&mut slot.refused) {
            self.on_sync_req(link, SyncReq { channel, have }, out);
        }
    }

    /// Closes a pending link whose key was not bound in time.
    pub(super) fn expire_pending(&mut self, link: LinkId, mono_ms: u64) -> Vec<Action> {
        match self.links.get(&link) {
            Some(s) if s.pending && mono_ms >= pending_deadline(&s.link) => {
                self.close_link(link, CloseReason::KeyUnconfirmed)
            }
            _ => Vec::new(),
        }
    }
}
