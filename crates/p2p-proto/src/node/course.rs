//! Messages from course peers: the assignment's own clients post `POST /broadcast-peer` and
//! `POST /send-peer` over plain HTTP, with no link, no sequence numbers and no signature. Each
//! is stored like any other message (persisted, shown, counted unread) in its channel or in
//! the direct thread with its sender, marked `unverified`.
//!
//! Course peers number nothing, so a resend is recognised by its sender, text and the sender's
//! own timestamp; a message without a timestamp gets our clock and cannot be told from a
//! resend.

use super::{Action, NodeState};
use crate::error::{Error, Result};
use crate::message::{Message, dm_channel, validate_name, validate_peer_id};

/// What a course peer sent, read from any of the course's field spellings by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseMessage {
    /// The sender's peer id (`from`), or its name when `from` is not a usable id.
    pub from: String,
    /// The sender's display name; its id when empty.
    pub name: String,
    /// The text.
    pub text: String,
    /// The channel of a broadcast; `None` for a direct message to us.
    pub channel: Option<String>,
    /// The sender's timestamp, ms since the Unix epoch, when it gave one we could read.
    pub ts_ms: Option<u64>,
}

/// Reads a course peer's `timestamp`: a number or numeric string of seconds (below 10^11) or
/// milliseconds since the Unix epoch. Anything else is unreadable.
pub fn course_timestamp(value: &serde_json::Value) -> Option<u64> {
    let n = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    // Seconds until the year 5138; any later value is already milliseconds.
    let ms = if n < 1e11 { n * 1000.0 } else { n };
    Some(ms as u64)
}

impl NodeState {
    /// Stores a course peer's message, received at `now_ts_ms` (wall clock). Answers the
    /// actions to carry out (its [`Action::Persist`]), or nothing for a resend. A broadcast to
    /// a channel we have not joined is [`Error::NotJoined`]; a bad sender or text is invalid.
    pub fn receive_course(&mut self, m: CourseMessage, now_ts_ms: u64) -> Result<Vec<Action>> {
        validate_peer_id(&m.from)?;
        let name = if m.name.trim().is_empty() {
            m.from.clone()
        } else {
            m.name.trim().to_owned()
        };
        validate_name(&name)?;
        let (channel, to) = match &m.channel {
            Some(channel) if !self.channels.contains_key(channel) => {
                return Err(Error::NotJoined(channel.clone()));
            }
            Some(channel) => (channel.clone(), None),
            None => (
                dm_channel(&m.from, &self.peer_id),
                Some(self.peer_id.clone()),
            ),
        };
        let log = self.history.channel(&channel);
        if let Some(ts) = m.ts_ms
            && log.is_some_and(|log| {
                log.iter()
                    .any(|old| old.from == m.from && old.ts == ts && old.text == m.text)
            })
        {
            return Ok(Vec::new());
        }
        let seq = log.map_or(0, |log| log.highest_seq(&m.from)) + 1;
        let msg = Message {
            id: Message::make_id(&m.from, &channel, seq),
            channel: channel.clone(),
            from: m.from,
            name,
            seq,
            lamport: self.clock.tick(),
            ts: m.ts_ms.unwrap_or(now_ts_ms),
            text: m.text,
            to,
            // Course peers sign nothing: the message carries no signature and is marked as such.
            sig: None,
            unverified: true,
            sealed: None,
        };
        msg.validate()?;
        let mut out = Vec::new();
        if self.accept_message(msg, &mut out) {
            self.push_unread(&channel);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn course(from: &str, channel: Option<&str>, text: &str, ts: Option<u64>) -> CourseMessage {
        CourseMessage {
            from: from.into(),
            name: "Course".into(),
            text: text.into(),
            channel: channel.map(str::to_owned),
            ts_ms: ts,
        }
    }

    #[test]
    fn course_messages_are_stored_once_in_their_channel_or_thread() {
        let mut node = NodeState::new("me:1", "Me").unwrap();
        node.join("general", crate::ChannelAccess::Open, None)
            .unwrap();
        let actions = node
            .receive_course(course("c:2", Some("general"), "hi", Some(5_000)), 9)
            .unwrap();
        let [Action::Persist(stored)] = actions.as_slice() else {
            panic!("{actions:?}");
        };
        assert!(stored.unverified);
        assert_eq!(
            (stored.ts, stored.seq, stored.name.as_str()),
            (5_000, 1, "Course")
        );
        let again = course("c:2", Some("general"), "hi", Some(5_000));
        assert_eq!(node.receive_course(again, 10).unwrap(), vec![], "a resend");
        // Without a timestamp a message cannot be told from a resend: both are kept.
        for _ in 0..2 {
            let untimed = course("c:2", Some("general"), "hi", None);
            assert_eq!(node.receive_course(untimed, 11).unwrap().len(), 1);
        }
        let dm = node
            .receive_course(course("c:2", None, "psst", Some(6_000)), 12)
            .unwrap();
        let [Action::Persist(dm)] = dm.as_slice() else {
            panic!("{dm:?}");
        };
        assert_eq!(
            (dm.channel.as_str(), dm.to.as_deref()),
            ("dm:c:2+me:1", Some("me:1"))
        );
        assert_eq!(node.messages("general", None, 10).len(), 3);
        let elsewhere = course("c:2", Some("random"), "x", None);
        assert!(matches!(
            node.receive_course(elsewhere, 13),
            Err(Error::NotJoined(_))
        ));
        assert!(
            node.receive_course(course("bad id", None, "x", None), 14)
                .is_err()
        );
    }

    #[test]
    fn course_timestamps_in_seconds_or_milliseconds() {
        assert_eq!(
            course_timestamp(&json!(1_700_000_000)),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            course_timestamp(&json!(1_700_000_000.5)),
            Some(1_700_000_000_500)
        );
        assert_eq!(
            course_timestamp(&json!("1700000000123")),
            Some(1_700_000_000_123)
        );
        assert_eq!(course_timestamp(&json!("yesterday")), None);
        assert_eq!(course_timestamp(&json!(null)), None);
    }
}
