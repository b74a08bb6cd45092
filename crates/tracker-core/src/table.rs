//! The peer table: peers by id in a hash map, so a heartbeat costs one hash lookup, with an
//! ordered set of the same ids beside it, so a page of peers in id order costs O(log n + page)
//! instead of collecting and sorting every peer.
//!
//! Two indexes answer the course clients' other ways of naming a peer in O(1) plus the few
//! peers that share the key: by the address it registered (`ip` + `port`) and by the name it
//! goes by (its name, or its id when it gave none).
//!
//! Every part changes only together, in [`PeerTable::insert`], [`PeerTable::remove`] and
//! [`PeerTable::rename`] (the only ways to add, drop or rename a peer; its address changes
//! only by re-registering, which removes and inserts), so they always hold the same ids; the
//! set and the indexes share the map's key allocations (one `Arc` each).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use crate::paging;
use crate::registry::Peer;

/// Every registered peer, by id and in id order.
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    by_id: HashMap<Arc<str>, Peer>,
    order: BTreeSet<Arc<str>>,
    /// Ids by registered address, in id order.
    by_addr: HashMap<(IpAddr, u16), Ids>,
    /// Ids by the name they go by ([`known_as`]), in id order.
    by_name: HashMap<Box<str>, Ids>,
}

/// The ids under one index key, sorted. Nearly always one id (an address or a name is usually
/// one peer's), so a sorted `Vec` (16 bytes per id) rather than a `BTreeSet`, whose first node
/// alone costs about 200 bytes per key.
type Ids = Vec<Arc<str>>;

/// The name a peer goes by: its own, or its id when it gave none.
fn known_as<'a>(id: &'a str, peer: &'a Peer) -> &'a str {
    if peer.name.is_empty() { id } else { &peer.name }
}

/// Adds `id` under `key`.
fn index<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Ids>, key: K, id: &Arc<str>) {
    let ids = map.entry(key).or_default();
    if let Err(at) = ids.binary_search(id) {
        ids.insert(at, id.clone());
    }
}

/// Drops `id` from under `key`, and the key once no id is left under it.
fn unindex<K, Q>(map: &mut HashMap<K, Ids>, key: &Q, id: &str)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(ids) = map.get_mut(key) {
        if let Ok(at) = ids.binary_search_by(|held| (**held).cmp(id)) {
            ids.remove(at);
        }
        if ids.is_empty() {
            map.remove(key);
        }
    }
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
        let old = self.remove(&id);
        index(&mut self.by_addr, (peer.ip, peer.port), &id);
        index(&mut self.by_name, known_as(&id, &peer).into(), &id);
        self.order.insert(id.clone());
        self.by_id.insert(id, peer);
        old
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<Peer> {
        let peer = self.by_id.remove(id)?;
        self.order.remove(id);
        unindex(&mut self.by_addr, &(peer.ip, peer.port), id);
        unindex(&mut self.by_name, known_as(id, &peer), id);
        Some(peer)
    }

    /// Gives peer `id` the name `name` (empty: none, it goes by its id).
    pub(crate) fn rename(&mut self, id: &str, name: Box<str>) {
        let Some((key, peer)) = self.by_id.get_key_value(id) else {
            return;
        };
        let key = key.clone();
        unindex(&mut self.by_name, known_as(id, peer), id);
        let peer = self.by_id.get_mut(id).expect("the peer was just found");
        peer.name = name;
        index(&mut self.by_name, known_as(&key, peer).into(), &key);
    }

    /// The ids of the peers registered at `ip`:`port`, in id order.
    pub(crate) fn at_addr(
        &self,
        ip: IpAddr,
        port: u16,
    ) -> impl Iterator<Item = (&Arc<str>, &Peer)> {
        self.by_addr
            .get(&(ip, port))
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get_key_value(&**id))
    }

    /// The peers going by `name` (their name, or their id when they gave none), in id order.
    pub(crate) fn named<'a>(
        &'a self,
        name: &str,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a Peer)> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get_key_value(&**id))
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.by_id.capacity()
    }

    /// Shrinks the maps' tables (the id map's and both indexes'); the ordered set frees its
    /// nodes as it goes.
    pub(crate) fn shrink_to(&mut self, min_capacity: usize) {
        self.by_id.shrink_to(min_capacity);
        self.by_addr.shrink_to(min_capacity);
        self.by_name.shrink_to(min_capacity);
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

    /// Whether the map, the set and both indexes hold the same ids, sharing one allocation
    /// each, and every id is indexed under its peer's current address and name.
    pub(crate) fn is_consistent(&self) -> bool {
        let shared = |id: &Arc<str>| {
            self.by_id
                .get_key_value(&**id)
                .is_some_and(|(k, _)| Arc::ptr_eq(k, id))
        };
        let indexed = |map_len: usize| map_len == self.by_id.len();
        let addr_ids = self.by_addr.values().map(Vec::len).sum();
        let name_ids = self.by_name.values().map(Vec::len).sum();
        let sorted = |ids: &Ids| ids.windows(2).all(|pair| pair[0] < pair[1]);
        self.order.len() == self.by_id.len()
            && self.order.iter().all(shared)
            && indexed(addr_ids)
            && indexed(name_ids)
            && self.by_addr.values().all(sorted)
            && self.by_name.values().all(sorted)
            && self.by_addr.iter().all(|(&(ip, port), ids)| {
                ids.iter().all(|id| {
                    shared(id) && self.by_id[&**id].ip == ip && self.by_id[&**id].port == port
                })
            })
            && self.by_name.iter().all(|(name, ids)| {
                ids.iter()
                    .all(|id| shared(id) && known_as(id, &self.by_id[&**id]) == &**name)
            })
    }
}
