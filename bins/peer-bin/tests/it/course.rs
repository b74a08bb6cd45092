//! A course-style peer, written here as the assignment's clients are: it registers at our
//! tracker without keeping a token, heartbeats by address, and posts `/broadcast-peer` and
//! `/send-peer` to our peer in its own spellings. Its messages land in the right channel or
//! direct thread, once, marked unverified, and survive a restart.

use crate::{call, call_with, peer, tempdir, tracker, wait_for};
use http_core::Method;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// `POST path` with a JSON body as a course client sends it (no Content-Type, no token).
fn course_post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = test_support::send(addr, Method::Post, path, &[], &bytes);
    let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status.code(), value)
}

/// The messages at `target` (a channel's or a direct thread's) as `(name, text, unverified)`.
fn shown(addr: SocketAddr, target: &str) -> Vec<(String, String, bool)> {
    let (status, body) = call(addr, Method::Get, target, None);
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
                m["unverified"] == json!(true),
            )
        })
        .collect()
}

const GENERAL: &str = "/api/channels/general/messages?limit=500";

#[test]
fn a_course_peer_registers_and_its_messages_are_shown_in_channel_and_thread() {
    let dir = tempdir("course-peer");
    let tracker = tracker(30);
    let ours = peer("alice", Some(tracker.addr), dir.path());
    let us = ours.addr();
    wait_for("alice to register", Duration::from_secs(10), || {
        ours.node.tracker_status().registered
    });
    // The course peer registers and heartbeats the course's way: by name, without a token.
    let course = json!({"ip": "127.0.0.1", "port": 7301, "username": "carol"});
    let (status, reg) = course_post(tracker.addr, "/submit-info", &course);
    assert_eq!(status, 200, "{reg}");
    let carol = reg["peer_id"].as_str().unwrap().to_owned();
    let join = json!({"username": "carol", "channel": "general"});
    assert_eq!(course_post(tracker.addr, "/add-list", &join).0, 200);
    assert_eq!(
        course_post(tracker.addr, "/heartbeat", &json!({"username": "carol"})).0,
        200
    );

    // Its broadcast and direct message, in spellings other than ours, twice (a retry).
    let broadcast = json!({"from": carol, "name": "Carol", "message": "hello all", "room": "general", "timestamp": 1_700_000_000});
    let direct =
        json!({"from": carol, "name": "Carol", "content": "just you", "timestamp": "1700000001"});
    for _ in 0..2 {
        let (status, body) = course_post(us, "/broadcast-peer", &broadcast);
        assert_eq!(
            (status, &body["status"]),
            (200, &json!("received")),
            "{body}"
        );
        let (status, body) = course_post(us, "/send-peer", &direct);
        assert_eq!(
            (status, &body["status"]),
            (200, &json!("received")),
            "{body}"
        );
    }
    let carol_said = |text: &str| ("Carol".to_owned(), text.to_owned(), true);
    assert_eq!(shown(us, GENERAL), [carol_said("hello all")]);
    let thread = format!("/api/direct/{carol}");
    assert_eq!(shown(us, &thread), [carol_said("just you")]);

    // A body whose text is in no known spelling is refused, naming the spellings.
    let (status, body) = course_post(us, "/send-peer", &json!({"from": carol, "body": "x"}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("content"),
        "{body}"
    );
    // A broadcast to a channel we are not in is refused, not silently dropped.
    let elsewhere = json!({"from": carol, "msg": "x", "channel": "random"});
    assert_eq!(course_post(us, "/broadcast-peer", &elsewhere).0, 403);

    // Persisted like any other message: a restarted peer shows them again.
    drop(ours);
    let again = peer("alice", None, dir.path());
    assert_eq!(shown(again.addr(), GENERAL), [carol_said("hello all")]);
    let (status, _) = call_with(again.addr(), Method::Get, "/api/channels", None, &[]);
    assert_eq!(status, 401, "the local API still needs the user's token");
}
