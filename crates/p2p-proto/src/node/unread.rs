//! Unread counts across a restart: what the driver saves at a graceful exit and restores
//! after [`NodeState::load`], so a conversation that was unread stays unread.

use std::collections::BTreeMap;

use super::NodeState;

impl NodeState {
    /// The channels (group or direct) with unread messages, and how many.
    pub fn unread_counts(&self) -> BTreeMap<String, usize> {
        self.history
            .channels()
            .filter(|(_, log)| log.unread() > 0)
            .map(|(name, log)| (name.to_string(), log.unread()))
            .collect()
    }

    /// Restores counts saved by [`NodeState::unread_counts`]; a channel with no history left is
    /// skipped, and no count exceeds the messages held.
    pub fn restore_unread(&mut self, counts: &BTreeMap<String, usize>) {
        for (channel, &count) in counts {
            if self.history.channel(channel).is_some() {
                self.history.log_mut(channel).set_unread(count);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tests::msg;

    /// Two messages in `g`, one in `h`.
    fn held() -> Vec<crate::Message> {
        vec![
            msg("a", "g", 1, 1, "one"),
            msg("a", "g", 2, 2, "two"),
            msg("b", "h", 1, 3, "three"),
        ]
    }

    #[test]
    fn unread_counts_survive_a_save_and_restore() {
        let mut before = NodeState::new("me", "Me").unwrap();
        before.load(held());
        before.history.log_mut("g").set_unread(2);
        let saved = before.unread_counts();
        assert_eq!(saved, BTreeMap::from([("g".to_string(), 2)]));

        let mut after = NodeState::new("me", "Me").unwrap();
        after.load(held());
        let mut counts = saved.clone();
        counts.insert("gone".into(), 4);
        counts.insert("h".into(), 9);
        after.restore_unread(&counts);
        assert_eq!(after.unread("g"), 2);
        assert_eq!(after.unread("h"), 1, "capped at the messages held");
        assert_eq!(after.unread("gone"), 0);
    }
}
