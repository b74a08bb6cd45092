//! Per-channel message history: deduplicated, in the same order on every peer, bounded in RAM.
//!
//! Order: every peer sorts a channel by `(lamport, from)` ([`Message::order_key`]), so the
//! same set of messages displays the same way everywhere, whatever order they arrived in.
//!
//! Memory: a channel keeps its last [`DEFAULT_HISTORY_CAP`] messages (configurable) in RAM;
//! older ones live only in `messages.jsonl`. Deduplication does not depend on that window: for
//! each author the log keeps the highest seq with no gap below it plus the seqs seen above it,
//! and since a valid id is `<from>/<channel>/<seq>` that identifies every message ever seen.
//! Gaps above are bounded too ([`MAX_GAPS`]): past that, the oldest gap is given up as lost,
//! so a message that arrives after its gap was abandoned is treated as already seen.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::message::Message;

/// Messages kept in RAM per channel unless [`History::new`] is given another cap.
pub const DEFAULT_HISTORY_CAP: usize = 1000;
/// Most messages one page can hold, whatever the caller asks for.
pub const MAX_PAGE: usize = 500;
/// Most out-of-order seqs remembered per author per channel before the oldest gap is abandoned.
pub const MAX_GAPS: usize = 1024;

/// A Lamport clock: one per node, shared by all its channels.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lamport {
    time: u64,
}

impl Lamport {
    /// Advances the clock for a message we send and returns its time.
    pub fn tick(&mut self) -> u64 {
        self.time += 1;
        self.time
    }

    /// Takes in the time of a message we received, so our next message sorts after it.
    pub fn observe(&mut self, time: u64) {
        self.time = self.time.max(time);
    }

    /// The current time (that of the last message made or seen).
    pub fn time(&self) -> u64 {
        self.time
    }
}

/// Which seqs of one author a channel holds.
#[derive(Debug, Default, Clone)]
struct Seqs {
    /// Every seq in `1..=contiguous` is held (or given up as lost).
    contiguous: u64,
    /// Seqs held above `contiguous + 1`.
    above: BTreeSet<u64>,
}

impl Seqs {
    fn contains(&self, seq: u64) -> bool {
        seq <= self.contiguous || self.above.contains(&seq)
    }

    fn add(&mut self, seq: u64) {
        if seq == self.contiguous + 1 {
            self.contiguous = seq;
        } else {
            self.above.insert(seq);
        }
        if self.above.len() > MAX_GAPS {
            // Give up on the oldest gap: everything below the first seq above is deemed held.
            if let Some(first) = self.above.pop_first() {
                self.contiguous = first;
            }
        }
        while self.above.remove(&(self.contiguous + 1)) {
            self.contiguous += 1;
        }
    }

    fn highest(&self) -> u64 {
        self.above.last().copied().unwrap_or(0).max(self.contiguous)
    }
}

/// One channel's history.
#[derive(Debug, Clone)]
pub struct ChannelLog {
    cap: usize,
    /// The latest `cap` messages, sorted by [`Message::order_key`].
    window: VecDeque<Message>,
    seqs: HashMap<String, Seqs>,
    unread: usize,
}

impl ChannelLog {
    /// An empty log keeping at most `cap` messages in RAM (at least one).
    pub fn new(cap: usize) -> ChannelLog {
        ChannelLog {
            cap: cap.max(1),
            window: VecDeque::new(),
            seqs: HashMap::new(),
            unread: 0,
        }
    }

    /// Adds a message unless it was seen before; `true` if it is new. A new message counts as
    /// unread when `mark_unread` (not for our own, nor for ones loaded from disk). The caller
    /// has validated it, so its id is determined by `(from, seq)`.
    pub fn insert(&mut self, msg: Message, mark_unread: bool) -> bool {
        let seqs = self.seqs.entry(msg.from.clone()).or_default();
        if seqs.contains(msg.seq) {
            return false;
        }
        seqs.add(msg.seq);
        if mark_unread {
            self.unread += 1;
        }
        // Messages mostly arrive in order, so this is usually a push at the back.
        let at = self
            .window
            .partition_point(|m| m.order_key() < msg.order_key());
        self.window.insert(at, msg);
        if self.window.len() > self.cap {
            self.window.pop_front();
        }
        true
    }

    /// Whether the message by `from` numbered `seq` has been seen.
    pub fn contains(&self, from: &str, seq: u64) -> bool {
        self.seqs.get(from).is_some_and(|s| s.contains(seq))
    }

    /// Per author, the highest seq held with no gap below it: the `have` of a `sync-req`.
    pub fn have(&self) -> BTreeMap<String, u64> {
        self.seqs
            .iter()
            .filter(|(_, s)| s.contiguous > 0)
            .map(|(from, s)| (from.clone(), s.contiguous))
            .collect()
    }

    /// The highest seq seen from `from`, gaps or not; 0 if none.
    pub fn highest_seq(&self, from: &str) -> u64 {
        self.seqs.get(from).map_or(0, Seqs::highest)
    }

    /// What a peer that holds `have` lacks, from the RAM window, in display order. A message
    /// above the peer's contiguous seq may be one it already holds; it drops the duplicate.
    pub fn missing_for(&self, have: &BTreeMap<String, u64>) -> Vec<Message> {
        self.window
            .iter()
            .filter(|m| m.seq > have.get(&m.from).copied().unwrap_or(0))
            .cloned()
            .collect()
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) messages, oldest first: the latest ones, or with
    /// `before` the ones just before the message with that id. An id no longer in RAM (or
    /// never seen) gives an empty page.
    pub fn page(&self, before: Option<&str>, limit: usize) -> Vec<Message> {
        let end = match before {
            None => self.window.len(),
            Some(id) => match self.window.iter().position(|m| m.id == id) {
                Some(i) => i,
                None => return Vec::new(),
            },
        };
        let start = end.saturating_sub(limit.min(MAX_PAGE));
        self.window.range(start..end).cloned().collect()
    }

    /// The messages in RAM, in display order.
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.window.iter()
    }

    /// How many messages are in RAM.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// Whether no message is in RAM.
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// Messages counted unread since the last [`ChannelLog::mark_read`].
    pub fn unread(&self) -> usize {
        self.unread
    }

    /// Marks everything read.
    pub fn mark_read(&mut self) {
        self.unread = 0;
    }

    /// Restores an unread count saved at the last exit, at most the messages held.
    pub fn set_unread(&mut self, count: usize) {
        self.unread = count.min(self.window.len());
    }
}

/// All channels' logs of one node.
#[derive(Debug, Clone)]
pub struct History {
    cap: usize,
    logs: HashMap<String, ChannelLog>,
}

impl Default for History {
    fn default() -> History {
        History::new(DEFAULT_HISTORY_CAP)
    }
}

impl History {
    /// Empty histories keeping `cap` messages per channel in RAM.
    pub fn new(cap: usize) -> History {
        History {
            cap,
            logs: HashMap::new(),
        }
    }

    /// Adds a message to its channel's log; `true` if new (see [`ChannelLog::insert`]).
    pub fn insert(&mut self, msg: Message, mark_unread: bool) -> bool {
        self.log_mut(&msg.channel).insert(msg, mark_unread)
    }

    /// A channel's log, if any message was ever added to it.
    pub fn channel(&self, channel: &str) -> Option<&ChannelLog> {
        self.logs.get(channel)
    }

    /// A channel's log, created empty if needed.
    pub fn log_mut(&mut self, channel: &str) -> &mut ChannelLog {
        if !self.logs.contains_key(channel) {
            self.logs
                .insert(channel.to_string(), ChannelLog::new(self.cap));
        }
        self.logs.get_mut(channel).expect("inserted above")
    }

    /// Every channel with a log.
    pub fn channels(&self) -> impl Iterator<Item = (&str, &ChannelLog)> {
        self.logs.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::msg;

    fn ids(log: &ChannelLog) -> Vec<&str> {
        log.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn lamport() {
        let mut c = Lamport::default();
        assert_eq!(c.tick(), 1);
        c.observe(10);
        c.observe(3);
        assert_eq!(c.time(), 10);
        assert_eq!(c.tick(), 11);
    }

    #[test]
    fn same_order_whatever_the_arrival() {
        let all = [
            msg("b", "g", 1, 1, "b1"),
            msg("a", "g", 1, 1, "a1"),
            msg("a", "g", 2, 2, "a2"),
            msg("c", "g", 1, 5, "c1"),
            msg("b", "g", 2, 3, "b2"),
        ];
        let expected = ["a/g/1", "b/g/1", "a/g/2", "b/g/2", "c/g/1"];
        let orders: [[usize; 5]; 4] = [
            [0, 1, 2, 3, 4],
            [4, 3, 2, 1, 0],
            [2, 0, 4, 1, 3],
            [3, 4, 1, 2, 0],
        ];
        for order in orders {
            let mut log = ChannelLog::new(10);
            for &i in &order {
                assert!(log.insert(all[i].clone(), true));
                assert!(!log.insert(all[i].clone(), true), "duplicate accepted");
            }
            assert_eq!(ids(&log), expected, "arrival {order:?}");
            assert_eq!(log.unread(), 5);
        }
    }

    #[test]
    fn have_and_missing() {
        let mut log = ChannelLog::new(10);
        for (from, seq) in [("a", 1), ("a", 2), ("a", 4), ("b", 2)] {
            log.insert(msg(from, "g", seq, seq, "t"), false);
        }
        assert_eq!(log.have(), BTreeMap::from([("a".to_string(), 2)]));
        assert_eq!(log.highest_seq("a"), 4);
        assert_eq!(log.highest_seq("b"), 2);
        assert_eq!(log.highest_seq("z"), 0);
        log.insert(msg("a", "g", 3, 3, "t"), false);
        log.insert(msg("b", "g", 1, 1, "t"), false);
        assert_eq!(
            log.have(),
            BTreeMap::from([("a".to_string(), 4), ("b".to_string(), 2)])
        );

        let missing = |have: &[(&str, u64)]| -> Vec<String> {
            let have = have.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            log.missing_for(&have).into_iter().map(|m| m.id).collect()
        };
        assert_eq!(missing(&[("a", 4), ("b", 2)]), Vec::<String>::new());
        assert_eq!(missing(&[("a", 2)]), ["b/g/1", "b/g/2", "a/g/3", "a/g/4"]);
        assert_eq!(missing(&[]).len(), 6);
    }

    #[test]
    fn bounded_window_still_dedupes() {
        let mut log = ChannelLog::new(3);
        for seq in 1..=10 {
            log.insert(msg("a", "g", seq, seq, "t"), false);
        }
        assert_eq!(ids(&log), ["a/g/8", "a/g/9", "a/g/10"]);
        assert!(
            !log.insert(msg("a", "g", 1, 1, "t"), false),
            "evicted ids stay known"
        );
        // A late old message is counted but does not push newer ones out.
        log.insert(msg("b", "g", 1, 0, "old"), true);
        assert_eq!(ids(&log), ["a/g/8", "a/g/9", "a/g/10"]);
        assert!(log.contains("b", 1));
    }

    #[test]
    fn gaps_are_bounded() {
        let mut log = ChannelLog::new(5);
        for seq in 2..=(MAX_GAPS as u64 + 2) {
            log.insert(msg("a", "g", seq, seq, "t"), false);
        }
        // Seq 1 never came; once too many seqs waited above it, it was given up.
        assert_eq!(log.have()["a"], MAX_GAPS as u64 + 2);
        assert!(!log.insert(msg("a", "g", 1, 1, "t"), false));
    }

    #[test]
    fn paging() {
        let mut log = ChannelLog::new(100);
        for seq in 1..=10 {
            log.insert(msg("a", "g", seq, seq, "t"), false);
        }
        let page = |before: Option<&str>, limit| -> Vec<u64> {
            log.page(before, limit).iter().map(|m| m.seq).collect()
        };
        assert_eq!(page(None, 3), [8, 9, 10]);
        assert_eq!(page(Some("a/g/8"), 3), [5, 6, 7]);
        assert_eq!(page(Some("a/g/3"), 5), [1, 2]);
        assert_eq!(page(Some("a/g/1"), 5), Vec::<u64>::new());
        assert_eq!(page(Some("a/g/99"), 5), Vec::<u64>::new());
        assert_eq!(page(None, 0), Vec::<u64>::new());
        assert_eq!(page(None, usize::MAX).len(), 10);
    }

    #[test]
    fn unread_and_history() {
        let mut h = History::new(10);
        assert!(h.insert(msg("a", "g", 1, 1, "t"), true));
        assert!(h.insert(msg("a", "g", 2, 2, "t"), false));
        assert!(!h.insert(msg("a", "g", 2, 2, "t"), true));
        assert_eq!(h.channel("g").map(ChannelLog::unread), Some(1));
        h.log_mut("g").mark_read();
        assert_eq!(h.channel("g").map(ChannelLog::unread), Some(0));
        assert!(h.channel("other").is_none());
        assert_eq!(h.channels().count(), 1);
    }
}
