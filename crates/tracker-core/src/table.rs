//! The peer table: peers by id in a hash map, so a heartbeat costs one hash lookup, with an
//! ordered set of the same ids beside it, so a page of peers in id order costs O(log n + page)
//! instead of collecting and sorting every peer.
//!
//! The two halves change only together, in [`PeerTable::insert`] and [`PeerTable::remove`], so
//! they always hold the same ids; the set shares the map's key allocations (one `Arc` each).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::paging;
use crate::registry::Peer;

/// Every registered peer, by id and in id order.
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    by_id: HashMap<Arc<str>, Peer>,
    order: BTreeSet<Arc<str>>,
}

impl PeerTable {
    pub(crate) fn get(&self, id: &str) -> Option<&Peer> {
        self.by_id.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Peer> {
        self.by_id.get_mut(id)
    }

    pub(crate) fn get_key_value(&self, id: &str) -> Option<(&Arc<str>, &Peer)> {
        self.by_id.get_key_value(id)
    }

    /// Adds `peer` under `id`, replacing and returning any peer already there.
    pub(crate) fn insert(&mut self, id: Arc<str>, peer: Peer) -> Option<Peer> {
        let old = self.by_id.insert(id.clone(), peer);
        if old.is_none() {
            self.order.insert(id);
        }
        old
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Peer> {
        let peer = self.by_id.remove(id)?;
        self.order.remove(id);
        Some(peer)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.by_id.capacity()
    }

    /// Shrinks the map's table; the ordered set frees its nodes as it goes.
    pub(crate) fn shrink_to(&mut self, min_capacity: usize) {
        self.by_id.shrink_to(min_capacity);
    }

    /// The peers whose id sorts after `after` (all of them for `None`), in id order.
    pub(crate) fn after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a Peer)> + 'a {
        self.order
            .range::<str, _>(paging::after(after))
            .filter_map(|id| self.by_id.get_key_value(&**id))
    }
}

#[cfg(test)]
impl PeerTable {
    pub(crate) fn contains_key(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether both halves hold the same ids, sharing one allocation each.
    pub(crate) fn is_consistent(&self) -> bool {
        self.order.len() == self.by_id.len()
            && self.order.iter().all(|id| {
                self.by_id
                    .get_key_value(&**id)
                    .is_some_and(|(k, _)| Arc::ptr_eq(k, id))
            })
    }
}
