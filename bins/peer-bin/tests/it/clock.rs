//! One clock for timers: a peer whose wall clock jumps by hours keeps its links, because link
//! timers (pings, dead links) run on the loop's monotonic clock and the wall clock only stamps
//! messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_core::Method;
use serde_json::{Value, json};

use crate::{call, linked, peer, peer_with, tempdir, texts, tracker, wait_for};

/// Two hours: far past the 45 s after which a silent link is dead.
const JUMP_MS: u64 = 2 * 60 * 60 * 1000;

/// Longer than one ping interval (15 s), with slack for a loaded machine.
const PING_WAIT: Duration = Duration::from_secs(40);

/// The link to `peer_id` as `/api/peers` shows it.
fn link_to(addr: std::net::SocketAddr, peer_id: &str) -> Option<Value> {
    let (_, body) = call(addr, Method::Get, "/api/peers", None);
    body.as_array()?
        .iter()
        .find(|p| p["peer_id"] == peer_id)
        .cloned()
}

#[test]
fn links_survive_a_wall_clock_jump() {
    let dir = tempdir("clock");
    let t = tracker(30);
    let offset = Arc::new(AtomicU64::new(0));
    let jumped = offset.clone();
    let clock = p2p::WallClock::new(move || p2p_now_ms() + jumped.load(Ordering::Relaxed));
    let a = peer_with("alice", Some(t.addr), dir.path(), clock);
    let b = peer("bob", Some(t.addr), dir.path());
    let bob = b.node.peer_id().to_string();
    // Every time alice loses bob (a link declared dead and not replaced at once).
    let downs = Arc::new(Mutex::new(Vec::new()));
    let seen = downs.clone();
    a.node.subscribe(Box::new(move |event| {
        if let p2p::UiEvent::Node(p2p::Event::PeerDown { peer_id, reason }) = event {
            seen.lock().unwrap().push(format!("{peer_id}: {reason}"));
        }
        true
    }));
    wait_for("alice and bob linked", Duration::from_secs(15), || {
        linked(a.addr()) == [bob.clone()]
    });
    let before = link_to(a.addr(), &bob).unwrap();
    assert!(before["rtt_ms"].is_null(), "no ping yet: {before}");

    let jump_at = p2p_now_ms();
    offset.store(JUMP_MS, Ordering::Relaxed);

    // A message written after the jump carries the jumped stamp and still crosses the link.
    let (status, body) = call(
        a.addr(),
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "after the jump"})),
    );
    assert_eq!(status, 201, "{body}");
    assert!(body["ts"].as_u64().unwrap() >= jump_at + JUMP_MS, "{body}");
    wait_for("the message at bob", Duration::from_secs(10), || {
        texts(b.addr(), "general") == ["alice: after the jump"]
    });

    // The first ping falls due 15 s after the handshake on the monotonic clock; by then the
    // one-second timer has run many times with the wall clock two hours ahead. A link answers
    // it, and alice never lost bob: nothing was declared dead. (Which link answers may differ
    // from the first one seen: when both peers dial at once, the duplicate-link rule keeps one,
    // and that can settle after the first link is seen. Replacing a link never reports the
    // peer down.)
    wait_for("a ping round trip on the link", PING_WAIT, || {
        link_to(a.addr(), &bob).is_some_and(|l| !l["rtt_ms"].is_null())
    });
    let downs = downs.lock().unwrap();
    assert!(
        downs.is_empty(),
        "alice lost bob after the jump: {downs:?} (first link {before})"
    );
}

/// The system clock in ms since the Unix epoch.
fn p2p_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
