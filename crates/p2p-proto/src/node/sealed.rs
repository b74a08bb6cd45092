//! Direct messages travel sealed (see [`crate::seal`]): each link in use derives the key of its
//! pair once, seals every direct message it carries (live or in a `sync`) and opens every one
//! it receives. A direct message that arrives in the clear, or sealed under another key, is
//! dropped; so is a sealed message outside a direct channel. A version-2 link has no pair key
//! and carries no direct messages: they wait in the history for a version-3 link.

use super::{LinkId, NodeState};
use crate::frame::SEALED_DIRECT_VERSION;
use crate::message::{Message, dm_members};
use crate::seal::PairKey;

impl NodeState {
    /// Derives the pair key of a link being taken into use, if it speaks version 3.
    pub(super) fn pair_up(&mut self, link: LinkId) {
        let Some(slot) = self.links.get_mut(&link) else {
            return;
        };
        if slot.pair.is_some() || slot.link.version() < SEALED_DIRECT_VERSION {
            return;
        }
        if let Some(key) = slot.link.remote_key() {
            slot.pair = Some(PairKey::new(&self.identity, key));
        }
    }

    /// `msg` as it goes out on `link`: a direct message sealed (`None` on a link without a
    /// pair key), any other as it is.
    pub(super) fn seal_for(&self, link: LinkId, msg: &Message) -> Option<Message> {
        if dm_members(&msg.channel).is_none() {
            return Some(msg.clone());
        }
        self.links.get(&link)?.pair.as_ref()?.seal(msg)
    }

    /// `msg` as it came in on `link`, opened: a direct message must be sealed under the link's
    /// pair key, and nothing else may be sealed. `None` means drop it.
    pub(super) fn unseal(&self, link: LinkId, msg: Message) -> Option<Message> {
        let direct = dm_members(&msg.channel).is_some();
        match (&msg.sealed, direct) {
            (None, false) => Some(msg),
            (Some(_), true) => self.links.get(&link)?.pair.as_ref()?.open(&msg),
            _ => None,
        }
    }
}
