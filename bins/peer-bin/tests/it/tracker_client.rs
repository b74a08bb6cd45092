//! The peer's tracker client against a real tracker: `/remove` on exit, and registering again
//! by itself when a heartbeat answers 404 (the tracker forgot it) — SPEC §6 start-up and exit.

use std::net::SocketAddr;
use std::time::Duration;

use http_core::Method;
use p2p::Running;
use serde_json::json;

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
    assert!(listed(t.addr).is_empty());

    // The next heartbeat gets 404, and the peer registers and joins again by itself. WAIT only
    // catches a peer that never does (how soon is the heartbeat timer's business, not a
    // wall-clock bound on a busy machine); it re-registers once, not in a loop.
    wait_for("registered again", WAIT, || {
        a.node.tracker_status().registrations >= 2 && listed(t.addr) == [alice.clone()]
    });
    let status = a.node.tracker_status();
    assert!(status.registered && status.reachable, "{status:?}");
    assert_eq!(status.registrations, 2, "{status:?}");
    wait_for("back in general", WAIT, || {
        let (_, channels) = call(t.addr, Method::Get, "/channels", None);
        channels[0]["members"] == serde_json::json!([alice])
    });
    drop((a, t));
}

/// A tracker on an ephemeral port that requires tokens (no take-over by address).
fn strict_tracker() -> tracker::server::Running {
    let config = tracker::Config {
        identity: tracker::identity::Rules {
            require_tokens: true,
            ..Default::default()
        },
        ..tracker::Config::default()
    };
    let t = tracker::Tracker::new(config, router::auth::Credentials::new());
    tracker::server::spawn(t, "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// A peer with id `id` whose data directory holds `key`'s secret.
fn peer_with_key(id: &str, dir: &std::path::Path, key: &p2p::Identity, t: SocketAddr) -> Running {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join(p2p::store::KEY_FILE), key.secret()).unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let config = p2p::Config {
        peer_id: Some("alice-id".into()),
        data_dir: Some(data),
        ..crate::config(id, any, Some(t), dir, &[("general", None)])
    };
    p2p::spawn(config).unwrap()
}

#[test]
fn a_restart_without_the_token_takes_the_live_id_back_by_its_key() {
    let tmp = tempdir("bykey");
    let t = strict_tracker();
    let alice = p2p::Identity::generate();
    // Alice's earlier session is still live; its token is lost (the peer keeps none on disk).
    let old = json!({"port": 9, "peer_id": "alice-id", "key": alice.public().as_str()});
    let (status, body) = call(t.addr, Method::Post, "/submit-info", Some(old));
    assert_eq!(status, 200, "{body}");

    // Mallory claims the id with another key: refused, the live session untouched.
    let m = peer_with_key("mallory", tmp.path(), &p2p::Identity::generate(), t.addr);
    wait_for("mallory's registration answered", WAIT, || {
        m.node.tracker_status().reachable
    });
    assert!(!m.node.tracker_status().registered);
    assert_eq!(port_of(t.addr, "alice-id"), 9);

    // Alice restarts with her key: her signed registration stands for the lost token.
    let a = peer_with_key("alice", tmp.path(), &alice, t.addr);
    wait_for("alice registered again", WAIT, || {
        a.node.tracker_status().registered
    });
    assert_eq!(port_of(t.addr, "alice-id"), u64::from(a.addr().port()));
    drop((a, m, t));
}

/// The port the tracker lists for `peer_id`.
fn port_of(tracker: SocketAddr, peer_id: &str) -> u64 {
    let (_, body) = call(tracker, Method::Get, "/get-list", None);
    body["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_id"] == peer_id)
        .and_then(|p| p["port"].as_u64())
        .unwrap_or_default()
}
