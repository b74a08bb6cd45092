//! Restarting a peer on the same data directory (issue 13): the channels it joined while
//! running, with their keys, are joined again; one it left is not; unread counts are kept.

use http_core::Method;
use serde_json::json;

use crate::{call, peer_at, tracker, wait_for};

/// Issue 13: channels joined through the API (and their keys) are joined again after a
/// restart on the same data directory, and a channel left stays left.
#[test]
fn joined_channels_and_keys_survive_a_restart() {
    let wait = std::time::Duration::from_secs(10);
    let tmp = crate::tempdir("rejoin");
    let dir = tmp.path();
    let t = tracker(90);
    let any = "127.0.0.1:0".parse().unwrap();
    let names = |addr| -> Vec<String> {
        let (_, channels) = call(addr, Method::Get, "/api/channels", None);
        let mut names: Vec<String> = channels
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let a = peer_at("alice", any, Some(t.addr), dir, &[("general", None)]);
    wait_for("alice in general", wait, || names(a.addr()) == ["general"]);
    for (channel, body) in [
        ("team", json!({"key": "s3cret"})),
        ("random", json!({})),
        ("gone", json!({})),
    ] {
        let target = format!("/api/channels/{channel}/join");
        let (status, answer) = call(a.addr(), Method::Post, &target, Some(body));
        assert_eq!(status, 200, "{channel}: {answer}");
    }
    let (status, _) = call(a.addr(), Method::Post, "/api/channels/gone/leave", None);
    assert_eq!(status, 200);
    a.shutdown().unwrap();

    let a = peer_at("alice", any, Some(t.addr), dir, &[("general", None)]);
    wait_for("alice back in her channels", wait, || {
        names(a.addr()) == ["general", "random", "team"]
    });
    // The key came back too: the tracker let her into the key channel again.
    let (_, members) = call(t.addr, Method::Get, "/get-list?channel=team", None);
    assert_eq!(members["count"], 1, "{members}");
    drop((a, t));
}

/// Issue 13: what was unread before a graceful exit is still unread after the restart.
#[test]
fn unread_counts_survive_a_graceful_restart() {
    let wait = std::time::Duration::from_secs(10);
    let tmp = crate::tempdir("unread");
    let dir = tmp.path();
    let t = tracker(90);
    let any = "127.0.0.1:0".parse().unwrap();
    let unread = |addr| {
        let (_, channels) = call(addr, Method::Get, "/api/channels", None);
        channels[0]["unread"].as_u64()
    };
    let a = peer_at("alice", any, Some(t.addr), dir, &[("general", None)]);
    let b = peer_at("bob", any, Some(t.addr), dir, &[("general", None)]);
    let alice = a.node.peer_id().to_string();
    wait_for("bob linked to alice", wait, || b.node.is_linked(&alice));
    for text in ["one", "two"] {
        b.node.post("general", text).unwrap();
    }
    wait_for("two unread at alice", wait, || unread(a.addr()) == Some(2));
    let addr = a.addr();
    a.shutdown().unwrap();

    let a = peer_at("alice", addr, Some(t.addr), dir, &[("general", None)]);
    wait_for("alice back in general", wait, || unread(a.addr()).is_some());
    assert_eq!(unread(a.addr()), Some(2));
    drop((a, b, t));
}
