//! Live messages: a `msg` or `direct` frame from its author, checked (trusted link, author,
//! signature, membership) before it is stored and shown.

use super::{Action, Event, LinkId, NodeState};
use crate::message::Message;

impl NodeState {
    pub(super) fn on_deliver(&mut self, link: LinkId, msg: Message, out: &mut Vec<Action>) {
        let Some(peer) = self.trusted_peer(link) else {
            log::debug!("dropped {} from a link whose key is not bound yet", msg.id);
            return;
        };
        let id = msg.id.clone();
        let Some(mut msg) = self.unseal(link, msg) else {
            log::warn!(
                "dropped {id} from {peer}: not sealed for us, or sealed where it must not be"
            );
            return;
        };
        if msg.from != peer {
            log::warn!(
                "{peer} relayed {} by {}; only authors send",
                msg.id,
                msg.from
            );
            return;
        }
        if let Err(e) = msg.validate() {
            log::warn!("{peer} sent an invalid message: {e}");
            return;
        }
        if self.already_held(&msg) {
            log::debug!("{peer} sent {} again; already held", msg.id);
            return;
        }
        if !self.signed_by_author(&msg) {
            log::warn!(
                "dropped {} from {peer}: not signed by its author's key",
                msg.id
            );
            return;
        }
        // Signed by its author: verified, whatever the (unsigned) flag said.
        msg.unverified = false;
        match &msg.to {
            Some(to) if *to != self.peer_id => {
                log::warn!("{peer} sent us a direct message for {to}");
                return;
            }
            Some(_) => {}
            None if !self.channels.contains_key(&msg.channel) => {
                log::debug!("{peer} wrote to {}, which we have not joined", msg.channel);
                return;
            }
            None if !self.accepts(&msg.channel, &peer, link) => {
                self.challenge(link, &msg.channel, out);
                log::warn!(
                    "dropped {}: {peer} is not a member of {}",
                    msg.id,
                    msg.channel
                );
                self.push_event(Event::NotMember {
                    channel: msg.channel,
                    peer_id: peer,
                });
                return;
            }
            None => {}
        }
        let channel = msg.channel.clone();
        if self.accept_message(msg, out) {
            self.push_unread(&channel);
        }
    }

    /// Whether a validated message (so its id is its `(from, seq)`) is held already: it would
    /// be dropped as a duplicate, so its signature, checked when it was first kept, is not
    /// checked again.
    pub(super) fn already_held(&self, msg: &Message) -> bool {
        self.history
            .channel(&msg.channel)
            .is_some_and(|log| log.contains(&msg.from, msg.seq))
    }

    /// Stores a validated message if new: persist, show. `true` if it counts as unread.
    pub(super) fn accept_message(&mut self, msg: Message, out: &mut Vec<Action>) -> bool {
        self.clock.observe(msg.lamport);
        let unread = msg.from != self.peer_id;
        if !self.history.insert(msg.clone(), unread) {
            return false;
        }
        out.push(Action::Persist(msg.clone()));
        self.push_event(Event::Message(msg));
        unread
    }

    pub(super) fn push_unread(&mut self, channel: &str) {
        let count = self.unread(channel);
        self.push_event(Event::Unread {
            channel: channel.to_string(),
            count,
        });
    }
}
