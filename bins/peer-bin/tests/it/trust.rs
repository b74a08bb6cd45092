//! Trusted peers over real sockets (issue 10): an impostor with another peer's id gets no
//! history and no direct messages, cannot evict the real link, and has nothing stored; forged
//! messages in `msg` and `sync` are dropped while the real ones arrive; a peer without a key
//! channel's key gets none of its history.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use http_core::Method;
use p2p::{Frame, Identity, Running, encode};
use serde_json::json;

use crate::{
    call, closed_by_peer, linked, peer_at, raw_peer, read_until, signed, tempdir, texts, wait_for,
};

const WAIT: Duration = Duration::from_secs(10);

/// alice and bob in `general` and the key channel `vault`, linked, with a message in each
/// channel and a direct message from bob to alice.
pub(crate) fn two_peers(dir: &Path, tracker: SocketAddr) -> (Running, Running) {
    let channels = [("general", None), ("vault", Some("k1"))];
    let any = "127.0.0.1:0".parse().unwrap();
    let a = peer_at("alice", any, Some(tracker), dir, &channels);
    let b = peer_at("bob", any, Some(tracker), dir, &channels);
    let (alice, bob) = (a.node.peer_id().to_string(), b.node.peer_id().to_string());
    wait_for("alice and bob linked", WAIT, || {
        a.node.is_linked(&bob) && b.node.is_linked(&alice)
    });
    for (channel, text) in [("general", "hello all"), ("vault", "the vault code")] {
        let target = format!("/api/channels/{channel}/messages");
        let (status, _) = call(b.addr(), Method::Post, &target, Some(json!({"text": text})));
        assert_eq!(status, 201);
    }
    let dm = format!("/api/direct/{alice}");
    let (status, _) = call(
        b.addr(),
        Method::Post,
        &dm,
        Some(json!({"text": "psst alice"})),
    );
    assert_eq!(status, 201);
    wait_for("alice has bob's messages", WAIT, || {
        texts(a.addr(), "vault") == ["bob: the vault code"]
    });
    (a, b)
}

/// Registers `peer_id` with `key` at the tracker, as a real peer would.
fn register(tracker: SocketAddr, peer_id: &str, key: &Identity) {
    let body = json!({"port": 9, "peer_id": peer_id, "key": key.public().as_str(),
        "channels": ["general"]});
    let (status, answer) = call(tracker, Method::Post, "/submit-info", Some(body));
    assert_eq!(status, 200, "{answer}");
}

/// Everything `s` receives up to the pong of a ping sent now: frames on a link are answered
/// in order, so whatever the peer was going to send for earlier frames came before it.
pub(crate) fn drain_until_pong(s: &mut TcpStream) -> String {
    s.write_all(b"{\"type\":\"ping\",\"token\":4242}\n")
        .unwrap();
    read_until(s, b"\"token\":4242", WAIT)
}

#[test]
fn an_impostor_gets_nothing_and_evicts_nothing() {
    let dir = tempdir("impostor");
    let t = crate::tracker(30);
    let (a, b) = two_peers(dir.path(), t.addr);
    let alice = a.node.peer_id().to_string();
    let before = linked(b.addr());

    // Mallory dials bob claiming alice's id, with a key of her own and the smallest nonce.
    let mallory = Identity::generate();
    let (mut s, ack) = raw_peer(b.addr(), &alice, &["general", "vault"], &mallory);
    assert!(ack.contains("hello-ack"), "{ack}");
    let forged = signed(&alice, "general", 99, "I am alice", &mallory);
    let sync_req = json!({"type": "sync-req", "channel": "vault", "have": {}});
    let _ = s.write_all(&encode(&Frame::Msg(forged)));
    let _ = s.write_all(format!("{sync_req}\n").as_bytes());
    let mut seen = String::new();
    assert!(
        closed_by_peer_reading(&mut s, &mut seen),
        "bob closes the impostor's link"
    );
    for secret in ["the vault code", "psst alice", "hello all"] {
        assert!(
            !seen.contains(secret),
            "the impostor saw {secret:?}: {seen}"
        );
    }
    // The real link stands, carries messages, and nothing of mallory's was stored.
    assert_eq!(linked(b.addr()), before);
    let (status, _) = call(
        a.addr(),
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "still me"})),
    );
    assert_eq!(status, 201);
    wait_for("the real alice heard", WAIT, || {
        texts(b.addr(), "general") == ["bob: hello all", "alice: still me"]
    });
    let stored = std::fs::read_to_string(dir.path().join("bob").join("messages.jsonl")).unwrap();
    assert!(!stored.contains("I am alice"), "{stored}");
    drop((a, b, t));
}

/// Reads until the peer closes `s`, keeping what it sent.
fn closed_by_peer_reading(s: &mut TcpStream, seen: &mut String) -> bool {
    seen.push_str(&read_until(s, b"\"type\":\"bye\"", WAIT));
    closed_by_peer(s, WAIT)
}

#[test]
fn forged_messages_are_dropped_and_the_real_one_still_arrives() {
    let dir = tempdir("forged");
    let t = crate::tracker(30);
    let (a, b) = two_peers(dir.path(), t.addr);
    let alice = a.node.peer_id().to_string();

    // Mallory is a real, registered member of general, with her own key.
    let mallory = Identity::generate();
    register(t.addr, "mallory:1", &mallory);
    let (mut s, _) = raw_peer(b.addr(), "mallory:1", &["general"], &mallory);
    wait_for("bob linked to mallory", WAIT, || {
        b.node.is_linked("mallory:1")
    });
    // She takes alice's next general seq twice: as a msg and in a sync answer.
    let next = alice_next_seq(&b, &alice);
    let by_alice = signed(&alice, "general", next, "forged in msg", &mallory);
    let in_sync = signed(&alice, "general", next, "forged in sync", &mallory);
    let sync = json!({"type": "sync", "channel": "general", "messages": [in_sync]});
    s.write_all(&encode(&Frame::Msg(by_alice))).unwrap();
    s.write_all(format!("{sync}\n").as_bytes()).unwrap();
    drain_until_pong(&mut s);
    assert!(
        !texts(b.addr(), "general")
            .iter()
            .any(|t| t.contains("forged"))
    );

    // The real message with that id arrives and is the one shown.
    let (status, _) = call(
        a.addr(),
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "the real one"})),
    );
    assert_eq!(status, 201);
    wait_for("the real message", WAIT, || {
        texts(b.addr(), "general") == ["bob: hello all", "alice: the real one"]
    });
    let (_, page) = call(
        b.addr(),
        Method::Get,
        "/api/channels/general/messages",
        None,
    );
    let real = page.as_array().unwrap().last().unwrap().clone();
    assert_eq!(real["id"], format!("{alice}/general/{next}"));
    assert!(real["sig"].is_string(), "kept with its signature: {real}");
    drop((a, b, t));
}

fn alice_next_seq(b: &Running, alice: &str) -> u64 {
    let (_, page) = call(
        b.addr(),
        Method::Get,
        "/api/channels/general/messages",
        None,
    );
    let count = page
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["from"] == alice)
        .count();
    count as u64 + 1
}

#[test]
fn no_history_of_a_key_channel_or_a_dm_without_proof() {
    let dir = tempdir("nokey");
    let t = crate::tracker(30);
    let (a, b) = two_peers(dir.path(), t.addr);
    let dm = p2p::dm_channel(a.node.peer_id(), b.node.peer_id());

    // Mallory is registered and proves her own key, but never had the vault key.
    let mallory = Identity::generate();
    register(t.addr, "mallory:1", &mallory);
    let (mut s, _) = raw_peer(b.addr(), "mallory:1", &["general", "vault"], &mallory);
    wait_for("bob linked to mallory", WAIT, || {
        b.node.is_linked("mallory:1")
    });
    for channel in ["vault", dm.as_str(), "general"] {
        let req = json!({"type": "sync-req", "channel": channel, "have": {}});
        s.write_all(format!("{req}\n").as_bytes()).unwrap();
    }
    let seen = drain_until_pong(&mut s);
    assert!(seen.contains("hello all"), "general is open to her: {seen}");
    assert!(!seen.contains("the vault code"), "{seen}");
    assert!(!seen.contains("psst alice"), "{seen}");
    drop((a, b, t));
}
