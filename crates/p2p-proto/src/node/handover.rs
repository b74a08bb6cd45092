//! When a peer goes down: the link in use closing is not always the peer leaving.
//!
//! Two peers that dial each other at once end up with two links, and the duplicate-link rule
//! ([`keep_link`](crate::link::keep_link)) has each side close the same one. The side that
//! decides first says `bye` ("duplicate link") on the loser, and that `bye` and the survivor's
//! last handshake frame travel on different connections: the other side may read the `bye`
//! while the loser is still its link in use and the survivor not yet open at its end. Reporting
//! the peer down there would show it down and up again a moment later.
//!
//! So a link in use that closes as a duplicate while another link to the same peer is coming
//! up (past the peer's `hello`, or proven and waiting for its key) hands the peer over: it is
//! no longer linked (nothing is sent on the closing link), but [`Event::PeerDown`] is held.
//! The survivor's promotion ends the hand-over without an [`Event::PeerUp`]; if every link
//! coming up closes instead, the peer is down after all, with the reason of the last one.
//! Every link closes through [`NodeState::detach`], so the hand-over cannot outlive its links.

use super::{Event, LinkId, NodeState};
use crate::link::{CloseReason, LinkState};

impl NodeState {
    /// Stops using a link for its peer: the peer is down unless another link took over, or one
    /// coming up will (see the module docs). Called once or more per closing link.
    pub(super) fn detach(&mut self, link: LinkId, reason: &CloseReason) {
        let Some(peer) = self.remote_id(link) else {
            return;
        };
        if self.peers.get(&peer) == Some(&link) {
            self.peers.remove(&peer);
            if reason.is_duplicate() && self.coming_up(&peer, link) {
                log::info!("{peer} closed {link:?} as a duplicate; another link is coming up");
                self.handover.insert(peer);
                return;
            }
        } else if !self.handover.contains(&peer) || self.coming_up(&peer, link) {
            return;
        }
        self.handover.remove(&peer);
        self.push_event(Event::PeerDown {
            peer_id: peer,
            reason: reason.to_string(),
        });
    }

    /// Whether a link to `peer` other than `except` may still be taken into use: the peer's
    /// `hello` is in and its proof awaited, or it is proven and its key awaited.
    fn coming_up(&self, peer: &str, except: LinkId) -> bool {
        self.links.iter().any(|(&id, slot)| {
            let coming = match slot.link.state() {
                LinkState::AwaitingAuth => true,
                LinkState::Open => slot.pending,
                _ => false,
            };
            id != except && coming && slot.link.remote().is_some_and(|h| h.peer_id == peer)
        })
    }
}
