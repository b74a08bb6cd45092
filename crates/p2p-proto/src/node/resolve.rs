//! Who a user means by "alice": a direct message's target given as a peer id or a display
//! name, resolved against the open links before anything is stored.
//!
//! The user sees names everywhere (console lines, the UI), so a name must work; a peer id
//! always wins over a name. A target that names nobody, several peers, or a peer with no open
//! link is an error, never a message stored for a peer that will not get it.

use super::NodeState;
use crate::error::{Error, Result};
use crate::message::dm_members;

impl NodeState {
    /// The peer id that `target` (a peer id or a display name) names among the linked peers.
    ///
    /// - our own id, or our name when no linked peer has it: [`Error::DirectToSelf`];
    /// - a linked peer's id, or the name of exactly one linked peer: its id;
    /// - the name of several linked peers: [`Error::AmbiguousPeer`] with their ids;
    /// - a peer we know (a member of a joined channel, or one we exchanged direct messages
    ///   with) but have no link to: [`Error::Unreachable`];
    /// - anything else: [`Error::UnknownPeer`].
    pub fn resolve_peer(&self, target: &str) -> Result<String> {
        if target == self.peer_id {
            return Err(Error::DirectToSelf);
        }
        if self.peers.contains_key(target) {
            return Ok(target.to_string());
        }
        let named: Vec<String> = self
            .peers()
            .into_iter()
            .filter(|p| p.name == target)
            .map(|p| p.peer_id)
            .collect();
        match named.len() {
            1 => return Ok(named[0].clone()),
            // Our own name, when no linked peer shares it.
            0 if target == self.name => return Err(Error::DirectToSelf),
            0 => {}
            _ => {
                return Err(Error::AmbiguousPeer {
                    name: target.to_string(),
                    ids: named,
                });
            }
        }
        if self.knows(target) {
            Err(Error::Unreachable(target.to_string()))
        } else {
            Err(Error::UnknownPeer(target.to_string()))
        }
    }

    /// Whether `peer_id` is a member of a joined channel or the other end of a conversation.
    fn knows(&self, peer_id: &str) -> bool {
        self.channels.values().any(|c| c.members.contains(peer_id))
            || self.history.channels().any(|(channel, _)| {
                dm_members(channel).is_some_and(|(a, b)| {
                    (a == peer_id && b == self.peer_id) || (b == peer_id && a == self.peer_id)
                })
            })
    }
}
