//! Server-Sent Events for `GET /events`: how each UI event is written on the stream.
//!
//! Events: `message` (a [`Message`](crate::Message)), `peer` (`{peer_id, name, addr, state:
//! "up"}` or `{peer_id, state: "down", reason}`), `unread` (`{channel, count}`), and `inbox`
//! (a course-style entry), `tracker` (`/api/me`'s `tracker`: whether the tracker answers, first
//! at start and then on every change), and `file` (a fetch's progress: `{file_id, name, have, chunks, state,
//! error, bytes_per_s, eta_s}`).

use serde_json::json;

use crate::driver::UiEvent;
use crate::node::Event;

/// The first bytes of every stream: how long a browser waits before reconnecting.
pub const PREAMBLE: &str = "retry: 2000\n\n";

/// One event as SSE text, or `None` for events the UI does not see.
pub fn format(event: &UiEvent) -> Option<String> {
    let (name, data) = match event {
        UiEvent::Node(Event::Message(m)) => ("message", serde_json::to_value(m).ok()?),
        UiEvent::Node(Event::PeerUp {
            peer_id,
            name,
            addr,
        }) => (
            "peer",
            json!({"peer_id": peer_id, "name": name, "addr": addr, "state": "up"}),
        ),
        UiEvent::Node(Event::PeerDown { peer_id, reason }) => (
            "peer",
            json!({"peer_id": peer_id, "state": "down", "reason": reason}),
        ),
        UiEvent::Node(Event::Unread { channel, count }) => {
            ("unread", json!({"channel": channel, "count": count}))
        }
        UiEvent::Node(Event::NotMember { .. } | Event::KeyNeeded { .. }) => return None,
        UiEvent::Inbox(entry) => ("inbox", serde_json::to_value(entry).ok()?),
        UiEvent::Tracker(status) => ("tracker", serde_json::to_value(status).ok()?),
        UiEvent::File(progress) => ("file", serde_json::to_value(progress).ok()?),
        UiEvent::Undelivered {
            peer_id,
            message_id,
            error,
        } => (
            "undelivered",
            json!({"peer_id": peer_id, "message_id": message_id, "error": error}),
        ),
    };
    // JSON text has no raw newline, so one `data:` line carries it.
    Some(format!("event: {name}\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(event: UiEvent, expected: Option<&str>) {
        assert_eq!(format(&event).as_deref(), expected);
    }

    #[test]
    fn events() {
        check(
            UiEvent::Node(Event::Unread {
                channel: "general".into(),
                count: 2,
            }),
            Some("event: unread\ndata: {\"channel\":\"general\",\"count\":2}\n\n"),
        );
        check(
            UiEvent::Node(Event::PeerDown {
                peer_id: "a".into(),
                reason: "bye".into(),
            }),
            Some(
                "event: peer\ndata: {\"peer_id\":\"a\",\"reason\":\"bye\",\"state\":\"down\"}\n\n",
            ),
        );
        check(
            UiEvent::Node(Event::NotMember {
                channel: "c".into(),
                peer_id: "p".into(),
            }),
            None,
        );
        let text = "two\nlines";
        let m = crate::Message {
            id: "a/g/1".into(),
            channel: "g".into(),
            from: "a".into(),
            name: "A".into(),
            seq: 1,
            lamport: 1,
            ts: 5,
            text: text.into(),
            to: None,
            sig: None,
            unverified: false,
            sealed: None,
        };
        let out = format(&UiEvent::Node(Event::Message(m))).unwrap();
        assert_eq!(out.lines().filter(|l| l.starts_with("data: ")).count(), 1);
        assert!(out.contains("two\\nlines"));
    }
}
