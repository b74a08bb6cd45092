//! Direct messages travel sealed (see [`crate::seal`]): a link derives the key of its pair
//! once, at its first direct message, then seals every direct message it carries (live or in a
//! `sync`) and opens every one it receives. A direct message that arrives in the clear, or
//! sealed under another key, is dropped; so is a sealed message outside a direct channel. A
//! version-2 link has no pair key and carries no direct messages: they wait in the history for
//! a version-3 link.

use super::{LinkId, NodeState};
use crate::frame::SEALED_DIRECT_VERSION;
use crate::message::{Message, dm_members};
use crate::seal::PairKey;

impl NodeState {
    /// The pair key of `link`, derived on first use (an X25519 per link that carries a direct
    /// message, none for the others); `None` before the handshake or on a version-2 link.
    fn pair(&self, link: LinkId) -> Option<&PairKey> {
        let slot = self.links.get(&link)?;
        let key = slot.link.remote_key()?;
        slot.pair
            .get_or_init(|| {
                (slot.link.version() >= SEALED_DIRECT_VERSION)
                    .then(|| PairKey::new(&self.identity, key))
            })
            .as_ref()
    }

    /// `msg` as it goes out on `link`: a direct message sealed (`None` on a link without a
    /// pair key), any other as it is.
    pub(super) fn seal_for(&self, link: LinkId, msg: &Message) -> Option<Message> {
        if dm_members(&msg.channel).is_none() {
            return Some(msg.clone());
        }
        self.pair(link)?.seal(msg)
    }

    /// `msg` as it came in on `link`, opened: a direct message must be sealed under the link's
    /// pair key, and nothing else may be sealed. `None` means drop it.
    pub(super) fn unseal(&self, link: LinkId, msg: Message) -> Option<Message> {
        let direct = dm_members(&msg.channel).is_some();
        match (&msg.sealed, direct) {
            (None, false) => Some(msg),
            (Some(_), true) => self.pair(link)?.open(&msg),
            _ => None,
        }
    }
}
