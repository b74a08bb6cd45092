//! The peer's tracker client against a real tracker: `/remove` on exit, and registering again
//! by itself when a heartbeat answers 404 (the tracker forgot it) — SPEC §6 start-up and exit.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_core::Method;

use crate::{call, peer, tempdir, tracker, wait_for};

const WAIT: Duration = Duration::from_secs(10);

/// Peer ids the tracker lists.
fn listed(tracker: SocketAddr) -> Vec<String> {
    let (status, body) = call(tracker, Method::Get, "/get-list", None);
    assert_eq!(status, 200, "{body}");
    body["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn exit_removes_the_peer_from_the_tracker_at_once() {
    let tmp = tempdir("remove");
    let dir = tmp.path();
    // TTL 90 s: only an explicit /remove can drop the peer within this test.
    let t = tracker(90);
    let a = peer("alice", Some(t.addr), dir);
    let b = peer("bob", Some(t.addr), dir);
    let (alice, bob) = (a.node.peer_id().to_string(), b.node.peer_id().to_string());
    // Registered on both sides: the tracker lists them and they hold their tokens.
    wait_for("both registered", WAIT, || {
        listed(t.addr).len() == 2
            && a.node.tracker_status().registered
            && b.node.tracker_status().registered
    });

    // shutdown() returns once the loop has finished, and the agent finishes only when the
    // tracker has answered the /remove: the list is already short, with no waiting.
    a.shutdown().unwrap();
    assert_eq!(
        listed(t.addr),
        std::slice::from_ref(&bob),
        "{alice} still listed"
    );
    let (_, channels) = call(t.addr, Method::Get, "/channels", None);
    assert_eq!(
        channels[0]["members"],
        serde_json::json!([bob]),
        "{channels}"
    );
    drop((b, t));
}

#[test]
fn heartbeat_404_makes_the_peer_register_again_by_itself() {
    let tmp = tempdir("forgot");
    let dir = tmp.path();
    // TTL 3 s: heartbeats every second.
    let t = tracker(3);
    let a = peer("alice", Some(t.addr), dir);
    let alice = a.node.peer_id().to_string();
    wait_for("registered", WAIT, || {
        a.node.tracker_status().registered && listed(t.addr) == [alice.clone()]
    });
    assert_eq!(a.node.tracker_status().registrations, 1);
    let interval = Duration::from_secs(a.node.tracker_status().heartbeat_interval_s);
    assert_eq!(interval, Duration::from_secs(1));

    // The tracker forgets every peer, as if their TTL had passed; it stays up.
    let forgotten = t.tracker.with(|reg, now| reg.sweep(now + 3_600_000));
    assert_eq!(forgotten, std::slice::from_ref(&alice));
    let forgot_at = Instant::now();
    assert!(listed(t.addr).is_empty());

    // The next heartbeat gets 404, and the peer registers and joins again: within two
    // heartbeat intervals.
    wait_for("registered again", 2 * interval, || {
        a.node.tracker_status().registrations >= 2 && listed(t.addr) == [alice.clone()]
    });
    assert!(forgot_at.elapsed() < 2 * interval);
    let status = a.node.tracker_status();
    assert!(status.registered && status.reachable, "{status:?}");
    wait_for("back in general", WAIT, || {
        let (_, channels) = call(t.addr, Method::Get, "/channels", None);
        channels[0]["members"] == serde_json::json!([alice])
    });
    drop((a, t));
}
