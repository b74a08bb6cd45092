//! Chat messages: the [`Message`] record, its id, direct channels, and the validation rules.
//!
//! Identifier alphabets match the tracker's (crates/tracker `limits.rs`) so that anything the
//! tracker accepts is accepted here: peer ids are `[A-Za-z0-9._:@\[\]-]`, channel names
//! `[A-Za-z0-9._-]`. Neither alphabet has `/`, so `<from>/<channel>/<seq>` splits one way only,
//! and neither channel alphabet has `:` or `+`, so a direct channel `dm:<a>+<b>` can never clash
//! with a group channel.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest message text in bytes. With JSON escaping (at most 6 bytes per input byte) and the
/// other bounded fields, a message still fits a 64 KiB frame.
pub const MAX_TEXT_LEN: usize = 8 * 1024;
/// Longest peer id in bytes (as the tracker).
pub const MAX_PEER_ID_LEN: usize = 64;
/// Longest display name in bytes (as the tracker).
pub const MAX_NAME_LEN: usize = 64;
/// Longest group channel name in bytes (as the tracker).
pub const MAX_CHANNEL_LEN: usize = 32;
/// Prefix of direct-message channels.
pub const DM_PREFIX: &str = "dm:";

/// One chat message, as stored, sent in `msg`/`direct`/`sync` frames, and shown by the API.
///
/// `id, channel, from, name, text, ts` are the API shape; `seq` (per sender per channel, from 1)
/// and `lamport` (the display order) travel on the wire too, and `to` only on direct messages.
/// Messages are immutable: nothing edits or deletes one once made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `<from>/<channel>/<seq>`, unique across the mesh.
    pub id: String,
    /// Group channel name, or `dm:<a>+<b>` for a direct message.
    pub channel: String,
    /// Peer id of the author.
    pub from: String,
    /// Display name of the author when it was sent.
    pub name: String,
    /// Per-author, per-channel counter from 1.
    pub seq: u64,
    /// Lamport time; display order is `(lamport, from)`.
    pub lamport: u64,
    /// Wall-clock time of sending on the author's machine, ms since the Unix epoch. Shown, but
    /// never used for ordering, because peers' clocks disagree.
    pub ts: u64,
    /// The text.
    pub text: String,
    /// Recipient peer id of a direct message; absent on channel messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The author's Ed25519 signature over every other field (see [`crate::identity`]);
    /// receivers drop a message whose signature is missing or not its author's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// Received from a course peer over plain HTTP: nothing proves who wrote it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
    /// On the wire only, in a direct channel: `text` and `sig` sealed for the other party
    /// (`text` empty and `sig` absent meanwhile; see [`crate::seal`]). Never stored or shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

impl Message {
    /// The id a message by `from` in `channel` numbered `seq` must carry.
    pub fn make_id(from: &str, channel: &str, seq: u64) -> String {
        format!("{from}/{channel}/{seq}")
    }

    /// Whether this is a direct (one-to-one) message.
    pub fn is_direct(&self) -> bool {
        self.to.is_some()
    }

    /// The key every peer sorts a channel by: Lamport time, then author, then `seq` (which only
    /// matters for a misbehaving author that reuses a Lamport time).
    pub fn order_key(&self) -> (u64, &str, u64) {
        (self.lamport, &self.from, self.seq)
    }

    /// Checks every field and their consistency: id, channel kind versus `to`, lengths.
    pub fn validate(&self) -> Result<()> {
        validate_peer_id(&self.from)?;
        validate_name(&self.name)?;
        validate_text(&self.text)?;
        if self.seq == 0 {
            return Err(invalid("seq", "counts from 1"));
        }
        match &self.to {
            Some(to) => {
                validate_peer_id(to)?;
                if *to == self.from {
                    return Err(Error::DirectToSelf);
                }
                let expected = dm_channel(&self.from, to);
                if self.channel != expected {
                    return Err(invalid(
                        "channel",
                        format!(
                            "a direct message goes in {expected:?}, not {:?}",
                            self.channel
                        ),
                    ));
                }
            }
            None => validate_channel(&self.channel)?,
        }
        let expected = Message::make_id(&self.from, &self.channel, self.seq);
        if self.id != expected {
            return Err(Error::IdMismatch {
                got: self.id.clone(),
                expected,
            });
        }
        Ok(())
    }
}

/// The channel of direct messages between `a` and `b`: `dm:<smaller>+<larger>`, the same
/// whichever side computes it.
pub fn dm_channel(a: &str, b: &str) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    format!("{DM_PREFIX}{lo}+{hi}")
}

/// The two peer ids of a direct channel, smaller first, or `None` for a group channel.
pub fn dm_members(channel: &str) -> Option<(&str, &str)> {
    let (a, b) = channel.strip_prefix(DM_PREFIX)?.split_once('+')?;
    Some((a, b))
}

/// Checks a peer id: 1 to [`MAX_PEER_ID_LEN`] bytes of `[A-Za-z0-9._:@\[\]-]`.
pub fn validate_peer_id(id: &str) -> Result<()> {
    token("peer_id", id, MAX_PEER_ID_LEN, b"._-:@[]")
}

/// Checks a group channel name: 1 to [`MAX_CHANNEL_LEN`] bytes of `[A-Za-z0-9._-]`.
pub fn validate_channel(name: &str) -> Result<()> {
    token("channel", name, MAX_CHANNEL_LEN, b"._-")
}

/// Checks a display name: at most [`MAX_NAME_LEN`] bytes, no control characters.
pub fn validate_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("name", format!("longer than {MAX_NAME_LEN} bytes")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "has control characters"));
    }
    Ok(())
}

/// Checks a message text: not blank, at most [`MAX_TEXT_LEN`] bytes. Newlines and tabs are
/// fine; other control characters are refused so a console cannot be driven by a peer.
pub fn validate_text(text: &str) -> Result<()> {
    if text.len() > MAX_TEXT_LEN {
        return Err(Error::TextTooLong {
            len: text.len(),
            max: MAX_TEXT_LEN,
        });
    }
    if text.trim().is_empty() {
        return Err(invalid("text", "is empty"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid("text", "has control characters"));
    }
    Ok(())
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        reason: reason.into(),
    }
}

fn token(field: &'static str, s: &str, max: usize, extra: &[u8]) -> Result<()> {
    if s.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    if s.len() > max {
        return Err(invalid(field, format!("longer than {max} bytes")));
    }
    if let Some(c) = s
        .bytes()
        .find(|b| !b.is_ascii_alphanumeric() && !extra.contains(b))
    {
        return Err(invalid(field, format!("{s:?} has {:?}", char::from(c))));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) use crate::testing::msg;

    fn check(m: &Message, expected: Result<(), &str>) {
        match (m.validate(), expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(want)) => {
                let got = e.to_string();
                assert!(got.contains(want), "error {got:?} lacks {want:?}");
            }
            (got, want) => panic!("{m:?}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn dm_channel_is_symmetric() {
        assert_eq!(dm_channel("b:2", "a:1"), "dm:a:1+b:2");
        assert_eq!(dm_channel("a:1", "b:2"), "dm:a:1+b:2");
        assert_eq!(dm_members("dm:a:1+b:2"), Some(("a:1", "b:2")));
        assert_eq!(dm_members("general"), None);
    }

    #[test]
    fn validation() {
        let ok = msg("alice", "general", 1, 1, "hi");
        check(&ok, Ok(()));
        check(
            &Message {
                seq: 0,
                id: "alice/general/0".into(),
                ..ok.clone()
            },
            Err("seq"),
        );
        check(
            &Message {
                id: "alice/general/2".into(),
                ..ok.clone()
            },
            Err("should be"),
        );
        check(
            &Message {
                text: "  ".into(),
                ..ok.clone()
            },
            Err("text: is empty"),
        );
        check(
            &Message {
                text: "a\u{1b}[2J".into(),
                ..ok.clone()
            },
            Err("control"),
        );
        check(
            &Message {
                text: "line\nnext\ttab".into(),
                ..ok.clone()
            },
            Ok(()),
        );
        let long = "x".repeat(MAX_TEXT_LEN + 1);
        check(
            &Message {
                text: long,
                ..ok.clone()
            },
            Err("more than 8192"),
        );
        check(
            &Message {
                text: "x".repeat(MAX_TEXT_LEN),
                ..ok.clone()
            },
            Ok(()),
        );
        check(
            &Message {
                from: "a/b".into(),
                ..ok.clone()
            },
            Err("has '/'"),
        );
        check(
            &Message {
                name: "n\n".into(),
                ..ok.clone()
            },
            Err("name"),
        );
        let bad_ch = Message {
            channel: "dm:a+b".into(),
            id: "alice/dm:a+b/1".into(),
            ..ok.clone()
        };
        check(&bad_ch, Err("has ':'"));

        let dm = Message {
            channel: dm_channel("alice", "bob"),
            id: Message::make_id("alice", "dm:alice+bob", 1),
            to: Some("bob".into()),
            ..ok.clone()
        };
        check(&dm, Ok(()));
        check(
            &Message {
                to: Some("carol".into()),
                ..dm.clone()
            },
            Err("goes in"),
        );
        check(
            &Message {
                to: Some("alice".into()),
                ..dm.clone()
            },
            Err("oneself"),
        );
    }

    #[test]
    fn wire_shape() {
        let m = msg("alice", "general", 3, 9, "hi");
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["id"], "alice/general/3");
        assert!(v.get("to").is_none(), "channel messages carry no `to`");
        let back: Message = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }
}
