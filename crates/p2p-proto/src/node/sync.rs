//! Catching up: `sync-req` on link open and on joining, answers packed into `sync` frames, and
//! the access checks that decide who may read or fill in a channel.

use std::collections::BTreeMap;

use super::{Action, ChannelAccess, Event, LinkId, NodeState};
use crate::frame::{Frame, SyncReply, SyncReq, sync_frames};
use crate::history::ChannelLog;
use crate::message::{dm_channel, dm_members};

impl NodeState {
    /// Sends a sync-req for `channel` on `link` unless one was sent there already.
    pub(super) fn request_sync(&mut self, link: LinkId, channel: &str, out: &mut Vec<Action>) {
        let Some(slot) = self.links.get_mut(&link) else {
            return;
        };
        if !slot.synced.insert(channel.to_string()) {
            return;
        }
        let have = self
            .history
            .channel(channel)
            .map(ChannelLog::have)
            .unwrap_or_default();
        out.push(Action::Send(
            link,
            Frame::SyncReq(SyncReq {
                channel: channel.to_string(),
                have,
            }),
        ));
    }

    pub(super) fn sync_members(&mut self, channel: &str) -> Vec<Action> {
        let mut out = Vec::new();
        self.challenge_members(channel, &mut out);
        let linked: Vec<(String, LinkId)> =
            self.peers.iter().map(|(p, &l)| (p.clone(), l)).collect();
        for (peer, link) in linked {
            if self.accepts(channel, &peer, link) {
                let refused = self
                    .links
                    .get_mut(&link)
                    .and_then(|s| s.refused.remove(channel));
                if let Some(have) = refused {
                    self.answer_sync(link, channel, &have, &mut out);
                }
                self.request_sync(link, channel, &mut out);
            }
        }
        out
    }

    /// Whether `peer` on `link` may sync `channel`; records an open-channel claim on the way.
    pub(super) fn may_sync(
        &mut self,
        link: LinkId,
        peer: &str,
        channel: &str,
        claim: bool,
    ) -> bool {
        if dm_members(channel).is_some() {
            return channel == dm_channel(&self.peer_id, peer);
        }
        let open = self
            .channels
            .get(channel)
            .is_some_and(|c| c.access == ChannelAccess::Open);
        if claim
            && open
            && let Some(slot) = self.links.get_mut(&link)
        {
            slot.claimed.insert(channel.to_string());
        }
        if self.accepts(channel, peer, link) {
            return true;
        }
        if self.channels.contains_key(channel) {
            self.push_event(Event::NotMember {
                channel: channel.to_string(),
                peer_id: peer.to_string(),
            });
        }
        false
    }

    pub(super) fn on_sync_req(&mut self, link: LinkId, req: SyncReq, out: &mut Vec<Action>) {
        let Some(peer) = self.trusted_peer(link) else {
            self.defer_sync_req(link, req);
            return;
        };
        if !self.may_sync(link, &peer, &req.channel, true) {
            log::debug!("{peer} may not sync {}", req.channel);
            // A key channel: the peer may hold the key and not have proven it yet.
            self.challenge(link, &req.channel, out);
            if self.channels.contains_key(&req.channel)
                && let Some(slot) = self.links.get_mut(&link)
            {
                slot.refused.insert(req.channel, req.have);
            }
            return;
        }
        self.answer_sync(link, &req.channel, &req.have, out);
        // The peer joined after the link opened (or we did): catch up the other way too.
        self.request_sync(link, &req.channel, out);
    }

    pub(super) fn answer_sync(
        &self,
        link: LinkId,
        channel: &str,
        have: &BTreeMap<String, u64>,
        out: &mut Vec<Action>,
    ) {
        let missing = self
            .history
            .channel(channel)
            .map(|log| log.missing_for(have))
            .unwrap_or_default()
            .into_iter()
            // A course peer's message carries no signature: it is ours to show, never to relay.
            .filter(|m| !m.unverified)
            .filter_map(|m| self.seal_for(link, &m))
            .collect();
        for frame in sync_frames(channel, missing) {
            out.push(Action::Send(link, frame));
        }
    }

    pub(super) fn on_sync(&mut self, link: LinkId, reply: SyncReply, out: &mut Vec<Action>) {
        let Some(peer) = self.trusted_peer(link) else {
            return;
        };
        if !self.may_sync(link, &peer, &reply.channel, false) {
            log::warn!("{peer} sent sync for {}, refused", reply.channel);
            return;
        }
        let mut unread = false;
        for msg in reply.messages {
            let id = msg.id.clone();
            let Some(mut msg) = self.unseal(link, msg) else {
                log::warn!(
                    "dropped {id} synced by {peer}: not sealed for us, or sealed where it must not be"
                );
                continue;
            };
            if msg.channel != reply.channel {
                log::warn!("{peer} synced {} under {}", msg.id, reply.channel);
                continue;
            }
            if let Err(e) = msg.validate() {
                log::warn!("{peer} synced an invalid message: {e}");
                continue;
            }
            if self.already_held(&msg) {
                continue;
            }
            if !self.keys.contains_key(&msg.from) {
                // Held back, not refused: asked for again once the author's key is bound.
                log::debug!("holding back {}: no key bound for {}", msg.id, msg.from);
                self.held.insert(reply.channel.clone());
                self.want_key(&msg.from);
                continue;
            }
            if !self.signed_by_author(&msg) {
                log::warn!(
                    "dropped {} synced by {peer}: not signed by its author's key",
                    msg.id
                );
                continue;
            }
            // Signed by its author: verified, whatever the (unsigned) flag said.
            msg.unverified = false;
            unread |= self.accept_message(msg, out);
        }
        if unread {
            self.push_unread(&reply.channel);
        }
    }
}
