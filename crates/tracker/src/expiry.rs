//! Peer expiry without scanning: a min-heap of deadlines with lazy re-keying.
//!
//! Every live peer has exactly one *current* entry `(deadline, id)` in the heap, where the
//! deadline recorded in the peer (`indexed_deadline_ms`) equals the entry's and is never later
//! than the peer's real deadline. A heartbeat only moves `last_seen` forward, which makes the real
//! deadline later and leaves the heap alone: O(1) per heartbeat. When the entry comes due, the
//! sweep looks at the real deadline and either expires the peer or pushes one new entry for it,
//! so a peer that keeps heartbeating costs one heap operation per TTL, not per heartbeat.
//!
//! Entries of removed or re-registered peers are left behind and skipped when they come due (the
//! peer is gone, or its recorded deadline no longer matches). Anything that makes a deadline
//! *earlier* (a shorter TTL) pushes a fresh entry at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::registry::Registry;

/// Maps and queues are shrunk once they are this much larger than needed, and only above
/// [`SHRINK_MIN_CAPACITY`], so memory comes back after a mass expiry without resizing churn.
const SHRINK_FACTOR: usize = 4;
/// See [`SHRINK_FACTOR`].
const SHRINK_MIN_CAPACITY: usize = 1024;

/// Deadlines in ms, earliest first.
#[derive(Debug, Default)]
pub(crate) struct ExpiryQueue {
    heap: BinaryHeap<Reverse<(u64, Arc<str>)>>,
}

impl ExpiryQueue {
    pub(crate) fn push(&mut self, deadline: u64, id: Arc<str>) {
        self.heap.push(Reverse((deadline, id)));
    }

    fn pop_due(&mut self, now: u64) -> Option<(u64, Arc<str>)> {
        match self.heap.peek() {
            Some(Reverse((due, _))) if *due <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.heap.capacity()
    }
}

impl Registry {
    /// Expires every peer whose deadline is at or before `now` and returns their ids.
    ///
    /// Costs O(log n) per entry that has come due and nothing else: it never scans all peers.
    /// An expired peer leaves every channel (empty channels are dropped) and every file's holder
    /// list (files left without holders are dropped). The HTTP layer should call this on a timer
    /// so that expiry does not depend on traffic; every mutating operation also calls it first.
    pub fn sweep(&mut self, now: u64) -> Vec<String> {
        let mut expired = Vec::new();
        while let Some((due, id)) = self.expiry.pop_due(now) {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            if peer.indexed_deadline_ms != due {
                continue;
            }
            let deadline = peer.deadline_ms();
            if deadline > now {
                peer.indexed_deadline_ms = deadline;
                self.expiry.push(deadline, id);
                continue;
            }
            self.drop_peer(&id);
            self.counters.expirations += 1;
            expired.push(id.to_string());
        }
        if !expired.is_empty() {
            self.shrink();
        }
        expired
    }

    /// [`Registry::sweep`] for the start of an operation, where the ids are only logged.
    pub(crate) fn expire(&mut self, now: u64) {
        for id in self.sweep(now) {
            log::debug!("expired {id}");
        }
    }

    /// Keeps the invariant after a peer's deadline changed: a deadline earlier than the indexed
    /// one needs its own entry now, a later one is handled lazily by the sweep.
    pub(crate) fn reindex(&mut self, peer_id: &str) {
        let Some((id, peer)) = self.peers.get_key_value(peer_id) else {
            return;
        };
        let deadline = peer.deadline_ms();
        if deadline < peer.indexed_deadline_ms {
            let id = id.clone();
            self.expiry.push(deadline, id.clone());
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.indexed_deadline_ms = deadline;
            }
        }
    }

    /// Removes a peer from the map, its channels and the file index.
    pub(crate) fn drop_peer(&mut self, peer_id: &str) {
        let Some(peer) = self.peers.remove(peer_id) else {
            return;
        };
        for ch in &peer.channels {
            self.remove_member(peer_id, ch);
        }
        for file in &peer.files {
            self.remove_holder(peer_id, file);
        }
    }

    /// Gives memory back once the registry is much emptier than its allocations.
    pub(crate) fn shrink(&mut self) {
        let too_big =
            |len: usize, cap: usize| cap > SHRINK_MIN_CAPACITY && len * SHRINK_FACTOR < cap;
        if too_big(self.peers.len(), self.peers.capacity()) {
            self.peers.shrink_to(self.peers.len() * 2);
        }
        let heap = &mut self.expiry.heap;
        if too_big(heap.len(), heap.capacity()) {
            heap.shrink_to(heap.len() * 2);
        }
    }
}
