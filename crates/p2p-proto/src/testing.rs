//! Helpers for tests of this crate and of its drivers (feature `test-util`).

use crate::message::Message;

/// A valid channel message from `from` (named after it in upper case) with the given seq,
/// Lamport time and text.
pub fn msg(from: &str, channel: &str, seq: u64, lamport: u64, text: &str) -> Message {
    Message {
        id: Message::make_id(from, channel, seq),
        channel: channel.to_string(),
        from: from.to_string(),
        name: from.to_uppercase(),
        seq,
        lamport,
        ts: 1_700_000_000_000 + lamport,
        text: text.to_string(),
        to: None,
        sig: None,
        unverified: false,
        sealed: None,
    }
}
