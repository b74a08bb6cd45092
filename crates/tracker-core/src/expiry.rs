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

/// Ids an [`Expired`] keeps for the log; the rest of a mass expiry is only counted.
pub const EXPIRED_IDS_KEPT: usize = 16;

/// What one sweep expired: how many peers, and the ids of the first [`EXPIRED_IDS_KEPT`].
///
/// A sweep that expires 100,000 peers allocates no string for each of them: the count is what
/// the log and the counters need, and a few ids say which peers went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// Peers expired.
    pub count: usize,
    /// The ids of the first of them, in expiry order; all of them when `count` is at most
    /// [`EXPIRED_IDS_KEPT`].
    pub ids: Vec<String>,
}

impl Expired {
    /// Whether nothing expired.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `ids` holds every expired id, not only the first few.
    pub fn is_complete(&self) -> bool {
        self.ids.len() == self.count
    }
}

impl Registry {
    /// Expires every peer whose deadline is at or before `now` and returns all their ids.
    ///
    /// For callers that want every id (tests, embedders); it allocates one string per expired
    /// peer, so the timer uses [`Registry::sweep_counted`] instead. See
    /// [`Registry::sweep_each`] for what expiry does and costs.
    pub fn sweep(&mut self, now: u64) -> Vec<String> {
        let mut ids = Vec::new();
        self.sweep_each(now, |id| ids.push(id.to_owned()));
        ids
    }

    /// Expires every peer whose deadline is at or before `now`; answers how many, with the
    /// first [`EXPIRED_IDS_KEPT`] ids.
    pub fn sweep_counted(&mut self, now: u64) -> Expired {
        let mut ids = Vec::new();
        let count = self.sweep_each(now, |id| {
            if ids.len() < EXPIRED_IDS_KEPT {
                ids.push(id.to_owned());
            }
        });
        Expired { count, ids }
    }

    /// Expires every peer whose deadline is at or before `now`, calls `each` with every
    /// expired id, and answers how many expired.
    ///
    /// Costs O(log n) per entry that has come due and nothing else: it never scans all peers.
    /// An expired peer leaves every channel (empty channels are dropped) and every file's holder
    /// list (files left without holders are dropped). The HTTP layer calls this on a timer so
    /// that expiry does not depend on traffic; every mutating operation also calls it first.
    pub fn sweep_each(&mut self, now: u64, mut each: impl FnMut(&str)) -> usize {
        let mut count = 0;
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
            count += 1;
            each(&id);
        }
        if count > 0 {
            self.shrink();
        }
        count
    }

    /// [`Registry::sweep`] for the start of an operation, where the ids are only logged.
    pub(crate) fn expire(&mut self, now: u64) {
        self.sweep_each(now, |id| log::debug!("expired {id}"));
    }

    /// Peers dropped (expired, removed, or replaced by a re-registration) since the last call,
    /// which resets the count: freed memory worth handing back to the system, if the allocator
    /// holds on to it (see `ReleaseMemory` in the `tracker` crate).
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
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
        self.dropped += 1;
        self.count_source(peer.source, -1);
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
