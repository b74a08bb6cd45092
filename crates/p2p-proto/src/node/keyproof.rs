//! Key channels (issue 10, "private stays private"): a peer reads or writes a key channel on a
//! link only after proving, on that link, that it holds the channel's key.
//!
//! Each side challenges the other separately (`channel-challenge` with a fresh nonce) and
//! answers the other's challenges (`channel-proof`, a MAC under the key bound to the link, see
//! [`crate::channel_key`]); the key itself never crosses a link. A peer is challenged once when
//! the link is taken into use or the tracker's list changes, if the tracker lists it or its
//! hello claims the channel, and again whenever it asks for (or writes to) the channel
//! unproven. At most
//! [`MAX_CHALLENGES`] nonces per channel and link are ever sent, so a peer without the key
//! costs a few frames, not a loop. Until the proof checks out, the peer gets none of the
//! channel's history or live messages, and none of its frames for it are stored; then the
//! sync-reqs it sent meanwhile are answered and we ask it for what we lack.
//!
//! A link below [`CHANNEL_PROOF_VERSION`] (a version-2 peer) cannot prove a key, so it never
//! carries a key channel.

use super::{Action, ChannelAccess, LinkId, NodeState, Slot};
use crate::channel_key::{Binding, MAX_NONCE_TEXT, new_nonce};
use crate::frame::{CHANNEL_PROOF_VERSION, Frame};
use crate::message::validate_channel;

/// Most challenges sent for one channel on one link.
pub const MAX_CHALLENGES: usize = 4;

/// Where a peer stands in proving a channel key on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyProof {
    /// Challenged with these nonces (at most [`MAX_CHALLENGES`]), none answered right yet.
    Asked(Vec<String>),
    /// Answered right: the peer holds the key.
    Proven,
}

impl Slot {
    /// Whether the peer proved `channel`'s key on this link.
    pub(super) fn proved(&self, channel: &str) -> bool {
        self.proofs.get(channel) == Some(&KeyProof::Proven)
    }
}

impl NodeState {
    /// Forgets every link's proof for `channel` (left, or joined again with another key).
    pub(super) fn forget_proofs(&mut self, channel: &str) {
        for slot in self.links.values_mut() {
            slot.proofs.remove(channel);
            slot.synced.remove(channel);
        }
    }

    /// Challenges the peer on `link` for `channel`'s key, unless it proved it, we hold no key
    /// for `channel`, the link cannot carry proofs, or we asked [`MAX_CHALLENGES`] times.
    pub(super) fn challenge(&mut self, link: LinkId, channel: &str, out: &mut Vec<Action>) {
        if !matches!(
            self.channels.get(channel).map(|c| &c.access),
            Some(ChannelAccess::Key(_))
        ) {
            return;
        }
        let Some(slot) = self.links.get_mut(&link) else {
            return;
        };
        if slot.link.version() < CHANNEL_PROOF_VERSION {
            log::debug!("link {link:?} speaks version 2: no key channel {channel} on it");
            return;
        }
        let asked = match slot
            .proofs
            .entry(channel.to_string())
            .or_insert_with(|| KeyProof::Asked(Vec::new()))
        {
            KeyProof::Proven => return,
            KeyProof::Asked(asked) if asked.len() >= MAX_CHALLENGES => return,
            KeyProof::Asked(asked) => asked,
        };
        let nonce = new_nonce();
        asked.push(nonce.clone());
        out.push(Action::Send(
            link,
            Frame::ChannelChallenge {
                channel: channel.to_string(),
                nonce,
            },
        ));
    }

    /// Challenges a newly trusted link for each key channel its peer is listed in or claims.
    pub(super) fn challenge_peer(&mut self, link: LinkId, out: &mut Vec<Action>) {
        let Some(peer) = self.remote_id(link) else {
            return;
        };
        let wanted: Vec<String> = self
            .channels
            .keys()
            .filter(|channel| self.worth_asking(link, &peer, channel))
            .cloned()
            .collect();
        for channel in wanted {
            self.challenge(link, &channel, out);
        }
    }

    /// Challenges every trusted link whose peer is listed in key channel `channel` or claims
    /// it (after a join or a new member list).
    pub(super) fn challenge_members(&mut self, channel: &str, out: &mut Vec<Action>) {
        let wanted: Vec<LinkId> = self
            .peers
            .iter()
            .filter(|&(peer, &link)| self.worth_asking(link, peer, channel))
            .map(|(_, &link)| link)
            .collect();
        for link in wanted {
            self.challenge(link, channel, out);
        }
    }

    /// Whether to challenge `peer` on `link` for key channel `channel` unprompted: never asked
    /// there yet, and listed by the tracker or claiming the channel in its hello. (Only the
    /// peer's own requests challenge it again: the tracker's refreshes do not.)
    fn worth_asking(&self, link: LinkId, peer: &str, channel: &str) -> bool {
        let (Some(c), Some(slot)) = (self.channels.get(channel), self.links.get(&link)) else {
            return false;
        };
        let claims = || {
            slot.link
                .remote()
                .is_some_and(|h| h.channels.iter().any(|x| x == channel))
        };
        matches!(c.access, ChannelAccess::Key(_))
            && !slot.proofs.contains_key(channel)
            && (c.members.contains(peer) || claims())
    }

    /// The binding of a proof on `link` for `channel`, with `nonce`; `ours` when we prove.
    fn binding<'a>(
        &'a self,
        link: LinkId,
        channel: &'a str,
        nonce: &'a str,
        ours: bool,
    ) -> Option<Binding<'a>> {
        let l = &self.links.get(&link)?.link;
        let (local, remote) = (l.local(), l.remote()?);
        let (prover, verifier) = if ours {
            (local, remote)
        } else {
            (remote, local)
        };
        Some(Binding {
            channel,
            nonce,
            prover: &prover.peer_id,
            verifier: &verifier.peer_id,
            prover_challenge: &prover.challenge,
            verifier_challenge: &verifier.challenge,
        })
    }

    /// The peer asks us to prove `channel`'s key: answer if we joined it with a key. (A proof
    /// tells the peer that we hold the key, nothing about the key itself.)
    pub(super) fn on_key_challenge(
        &mut self,
        link: LinkId,
        channel: &str,
        nonce: &str,
        out: &mut Vec<Action>,
    ) {
        if nonce.is_empty() || nonce.len() > MAX_NONCE_TEXT || validate_channel(channel).is_err() {
            log::warn!("link {link:?}: unusable channel-challenge, ignored");
            return;
        }
        let Some(ChannelAccess::Key(key)) = self.channels.get(channel).map(|c| &c.access) else {
            log::debug!("link {link:?}: challenged for {channel}, whose key we do not hold");
            return;
        };
        let Some(binding) = self.binding(link, channel, nonce, true) else {
            return;
        };
        let proof = key.prove(&binding);
        out.push(Action::Send(
            link,
            Frame::ChannelProof {
                channel: channel.to_string(),
                nonce: nonce.to_string(),
                proof,
            },
        ));
    }

    /// The peer answers our challenge: if the proof checks out, the channel flows on this
    /// link (the sync-reqs it sent meanwhile are answered, and we ask for what we lack).
    pub(super) fn on_key_proof(
        &mut self,
        link: LinkId,
        channel: &str,
        nonce: &str,
        proof: &str,
        out: &mut Vec<Action>,
    ) {
        let asked = match self.links.get(&link).and_then(|s| s.proofs.get(channel)) {
            Some(KeyProof::Asked(asked)) => asked.iter().any(|n| n == nonce),
            Some(KeyProof::Proven) | None => false,
        };
        let Some(ChannelAccess::Key(key)) = self.channels.get(channel).map(|c| &c.access) else {
            return;
        };
        let checks = asked
            && self
                .binding(link, channel, nonce, false)
                .is_some_and(|b| key.verifies(&b, proof));
        let peer = self.remote_id(link).unwrap_or_default();
        if !checks {
            log::warn!("link {link:?}: {peer} failed to prove the key of {channel}");
            return;
        }
        log::info!("link {link:?}: {peer} proved the key of {channel}");
        let Some(slot) = self.links.get_mut(&link) else {
            return;
        };
        slot.proofs.insert(channel.to_string(), KeyProof::Proven);
        if self.trusted_peer(link).is_none() {
            // Pending: the link's promotion syncs it.
            return;
        }
        let refused = self
            .links
            .get_mut(&link)
            .and_then(|s| s.refused.remove(channel));
        if let Some(have) = refused {
            self.answer_sync(link, channel, &have, out);
        }
        self.request_sync(link, channel, out);
    }
}
