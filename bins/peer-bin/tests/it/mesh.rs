//! Three peers through a real tracker: the full mesh, ordering, direct messages, the tracker
//! going away and coming back empty, and a restart with persisted history.

use std::time::Duration;

use http_core::Method;
use serde_json::json;

use crate::{call, linked, peer, peer_at, tempdir, texts, tracker, tracker_at, wait_for};

const LINK_WAIT: Duration = Duration::from_secs(15);

fn registered(tracker: std::net::SocketAddr) -> usize {
    let (status, body) = crate::call(tracker, Method::Get, "/get-list", None);
    assert_eq!(status, 200);
    body["count"].as_u64().unwrap() as usize
}

#[test]
fn mesh_order_direct_tracker_outage_and_restart() {
    let tmp = tempdir("mesh");
    let dir = tmp.path();
    // TTL 3 s: heartbeats every second, so re-registration is quick to observe.
    let t = tracker(3);
    let tracker_addr = t.addr;
    let a = peer("alice", Some(tracker_addr), dir);
    let b = peer("bob", Some(tracker_addr), dir);
    let c = peer("carol", Some(tracker_addr), dir);
    let all = [&a, &b, &c];
    for p in all {
        wait_for("a full mesh", LINK_WAIT, || linked(p.addr()).len() == 2);
    }

    // Interleaved posts from all three; every peer shows all of them once, in one order.
    for round in 0..5 {
        for p in all {
            let (status, body) = call(
                p.addr(),
                Method::Post,
                "/api/channels/general/messages",
                Some(json!({"text": format!("m{round}")})),
            );
            assert_eq!(status, 201, "{body}");
            assert_eq!(body["channel"], "general");
            assert!(
                body["id"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/general/{}", round + 1))
            );
        }
    }
    for p in all {
        wait_for("15 messages everywhere", LINK_WAIT, || {
            texts(p.addr(), "general").len() == 15
        });
    }
    let order = texts(a.addr(), "general");
    // Each message once: the 15 texts are exactly the 15 posted, none twice.
    let mut got = order.clone();
    got.sort();
    let mut expected: Vec<String> = (0..5)
        .flat_map(|round| ["alice", "bob", "carol"].map(|name| format!("{name}: m{round}")))
        .collect();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(texts(b.addr(), "general"), order);
    assert_eq!(texts(c.addr(), "general"), order);

    // A direct message reaches its target only.
    let bob = b.node.peer_id().to_string();
    let (status, body) = call(
        a.addr(),
        Method::Post,
        &format!("/api/direct/{bob}"),
        Some(json!({"text": "psst"})),
    );
    assert_eq!(status, 201, "{body}");
    let dm = body["channel"].as_str().unwrap().to_string();
    wait_for("the direct message", LINK_WAIT, || {
        texts(b.addr(), &dm) == ["alice: psst"]
    });
    assert!(texts(c.addr(), &dm).is_empty());
    assert!(c.node.inbox().iter().all(|e| e.msg != "psst"));

    // The tracker goes away: messages keep flowing over the links.
    drop(t);
    call(
        b.addr(),
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "no tracker"})),
    );
    let alice = a.node.peer_id().to_string();
    call(
        c.addr(),
        Method::Post,
        &format!("/api/direct/{alice}"),
        Some(json!({"text": "still here"})),
    );
    for p in [&a, &c] {
        wait_for("a message without the tracker", LINK_WAIT, || {
            texts(p.addr(), "general").last().map(String::as_str) == Some("bob: no tracker")
        });
    }
    let dm_ac = p2p::dm_channel(a.node.peer_id(), c.node.peer_id());
    wait_for("a direct message without the tracker", LINK_WAIT, || {
        texts(a.addr(), &dm_ac) == ["carol: still here"]
    });
    wait_for("peers noticing the outage", LINK_WAIT, || {
        all.iter().all(|p| !p.node.tracker_status().reachable)
    });

    // It comes back empty on the same address: everyone registers again by itself on a later
    // retry. LINK_WAIT only catches a peer that never does: how soon is the heartbeat timer's
    // business, not a wall-clock bound on a busy machine.
    let t = tracker_at(tracker_addr, 3);
    // Registering and re-joining are two calls: wait for both, or a join still in flight
    // reads as a missing member.
    let general_members = || {
        let (_, members) = call(tracker_addr, Method::Get, "/get-list?channel=general", None);
        members["count"].as_u64().unwrap_or(0)
    };
    wait_for("re-registration", LINK_WAIT, || {
        registered(tracker_addr) == 3 && general_members() == 3
    });
    let (_, channels) = call(tracker_addr, Method::Get, "/channels", None);
    assert_eq!(channels[0]["name"], "general");
    assert_eq!(
        channels[0]["members"].as_array().unwrap().len(),
        3,
        "{channels}"
    );
    for p in all {
        assert!(p.node.tracker_status().registrations >= 2);
    }
    drop(t);
}

#[test]
fn restart_shows_history_and_syncs_what_was_missed() {
    let tmp = tempdir("restart");
    let dir = tmp.path();
    let t = tracker(3);
    let a = peer("alice", Some(t.addr), dir);
    let c = peer("carol", Some(t.addr), dir);
    wait_for("a link", LINK_WAIT, || linked(a.addr()).len() == 1);
    for text in ["one", "two"] {
        call(
            a.addr(),
            Method::Post,
            "/api/channels/general/messages",
            Some(json!({"text": text})),
        );
    }
    call(
        c.addr(),
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "three"})),
    );
    wait_for("three messages at carol", LINK_WAIT, || {
        texts(c.addr(), "general").len() == 3
    });

    let carol_addr = c.addr();
    c.shutdown().unwrap();
    wait_for("carol gone", LINK_WAIT, || linked(a.addr()).is_empty());
    for text in ["missed 1", "missed 2"] {
        call(
            a.addr(),
            Method::Post,
            "/api/channels/general/messages",
            Some(json!({"text": text})),
        );
    }

    let c = peer_at("carol", carol_addr, Some(t.addr), dir, &[("general", None)]);
    let expected = texts(a.addr(), "general");
    assert_eq!(expected.len(), 5);
    wait_for("carol caught up", LINK_WAIT, || {
        texts(c.addr(), "general") == expected
    });
    // Nothing twice, in memory or on disk.
    let log = std::fs::read_to_string(dir.join("carol").join("messages.jsonl")).unwrap();
    let mut ids: Vec<&str> = log
        .lines()
        .map(|l| {
            let start = l.find("\"id\":\"").unwrap() + 6;
            &l[start..start + l[start..].find('"').unwrap()]
        })
        .collect();
    assert_eq!(ids.len(), 5, "{log}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "{log}");
    drop((a, c, t));
}

#[test]
fn key_channels_need_the_key_and_drop_non_members() {
    let tmp = tempdir("key");
    let dir = tmp.path();
    let t = tracker(30);
    let a = peer("alice", Some(t.addr), dir);
    let b = peer("bob", Some(t.addr), dir);
    let (status, body) = call(
        a.addr(),
        Method::Post,
        "/api/channels/secret/join",
        Some(json!({"key": "k1"})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        b.addr(),
        Method::Post,
        "/api/channels/secret/join",
        Some(json!({"key": "nope"})),
    );
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(
        b.addr(),
        Method::Post,
        "/api/channels/secret/messages",
        Some(json!({"text": "x"})),
    );
    assert_eq!(status, 403, "posting to a channel not joined");

    // A peer the tracker lists, but not as a member of the key channel, writes to it: dropped.
    // Its message to the open channel it claimed in its hello is taken, so the link works.
    let mallory = p2p::Identity::generate();
    let (status, body) = call(
        t.addr,
        Method::Post,
        "/submit-info",
        Some(json!({"port": 9, "peer_id": "mallory:1", "key": mallory.public().as_str()})),
    );
    assert_eq!(status, 200, "{body}");
    let (mut s, ack) = crate::raw_peer(a.addr(), "mallory:1", &["secret", "general"], &mallory);
    assert!(ack.contains("hello-ack"), "{ack}");
    wait_for("alice bound mallory's key", LINK_WAIT, || {
        a.node.is_linked("mallory:1")
    });
    use std::io::Write;
    for channel in ["secret", "general"] {
        let mut msg = crate::signed("mallory:1", channel, 1, "hi", &mallory);
        msg.name = "mallory".into();
        mallory.sign_message(&mut msg);
        let frame = p2p::encode(&p2p::Frame::Msg(msg));
        s.write_all(&frame).unwrap();
    }
    wait_for("the open-channel message", LINK_WAIT, || {
        texts(a.addr(), "general") == ["mallory: hi"]
    });
    assert!(texts(a.addr(), "secret").is_empty());

    // A member with the key gets in and is heard.
    let (status, body) = call(
        b.addr(),
        Method::Post,
        "/api/channels/secret/join",
        Some(json!({"key": "k1"})),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("bob linked to alice", LINK_WAIT, || {
        a.node.is_linked(b.node.peer_id())
    });
    call(
        b.addr(),
        Method::Post,
        "/api/channels/secret/messages",
        Some(json!({"text": "with key"})),
    );
    wait_for("the member's message", LINK_WAIT, || {
        texts(a.addr(), "secret") == ["bob: with key"]
    });
    drop((a, b, t));
}
