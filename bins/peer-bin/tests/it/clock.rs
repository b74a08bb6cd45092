//! One clock for timers: a peer whose wall clock jumps by hours keeps its links, because link
//! timers (pings, dead links) run on the loop's monotonic clock and the wall clock only stamps
//! messages. The test steps that monotonic clock (a [`reactor::SteppedClock`]) to the first
//! ping instead of waiting for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_core::Method;
use serde_json::{Value, json};

use p2p_proto::link::{DEAD_AFTER_MS, PING_INTERVAL_MS};
use reactor::{EventLoop, LoopThread, SteppedClock};

use crate::{call, config, linked, logs, peer, tempdir, texts, tracker, wait_for};
use test_support::within;

/// Two hours: far past the 45 s after which a silent link is dead.
const JUMP_MS: u64 = 2 * 60 * 60 * 1000;

/// How far the test steps the monotonic clock: past the first ping, short of a dead link.
const STEP: Duration = Duration::from_millis(PING_INTERVAL_MS + 1_000);
const _: () = assert!(PING_INTERVAL_MS + 1_000 < DEAD_AFTER_MS);

/// At most this many steps: the first ping, and the first of a link that replaced the one seen.
const MAX_STEPS: usize = 3;

/// How long a step's ping may take to come back, on a loaded machine.
const STEP_WAIT: Duration = Duration::from_secs(5);

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
    logs::capture();
    let dir = tempdir("clock");
    let t = tracker(30);
    let offset = Arc::new(AtomicU64::new(0));
    let jumped = offset.clone();
    let wall_clock = p2p::WallClock::new(move || p2p_now_ms() + jumped.load(Ordering::Relaxed));
    let monotonic = SteppedClock::default();
    let (a, alice_loop) = stepped_peer(
        p2p::Config {
            wall_clock,
            ..config(
                "alice",
                any(),
                Some(t.addr),
                dir.path(),
                &[("general", None)],
            )
        },
        &monotonic,
    );
    let b = peer("bob", Some(t.addr), dir.path());
    let bob = b.node.peer_id().to_string();
    // Every time alice loses bob (a link declared dead, or a duplicate link's bye shown as bob
    // going down).
    let downs = Arc::new(Mutex::new(Vec::new()));
    let seen = downs.clone();
    a.node.subscribe(Box::new(move |event| {
        if let p2p::UiEvent::Node(p2p::Event::PeerDown { peer_id, reason }) = event {
            seen.lock().unwrap().push(format!("{peer_id}: {reason}"));
        }
        true
    }));
    wait_for("alice and bob linked", Duration::from_secs(15), || {
        linked(a.node.addr()) == [bob.clone()]
    });
    let before = link_to(a.node.addr(), &bob).unwrap();
    assert!(before["rtt_ms"].is_null(), "no ping yet: {before}");

    let jump_at = p2p_now_ms();
    offset.store(JUMP_MS, Ordering::Relaxed);

    // A message written after the jump carries the jumped stamp and still crosses the link.
    let (status, body) = call(
        a.node.addr(),
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "after the jump"})),
    );
    assert_eq!(status, 201, "{body}");
    assert!(body["ts"].as_u64().unwrap() >= jump_at + JUMP_MS, "{body}");
    wait_for("the message at bob", Duration::from_secs(10), || {
        texts(b.addr(), "general") == ["alice: after the jump"]
    });

    // The first ping falls due 15 s after the handshake on the monotonic clock: step alice's
    // there. The round that sends it runs every timer that fell due, with the wall clock two
    // hours ahead; a link answers the ping, and alice never lost bob: nothing was declared dead.
    // (Which link answers may differ from the first one seen: when both peers dial at once, the
    // duplicate-link rule keeps one, and that can settle after the first link is seen, even
    // after the step on a loaded machine; the winner's first ping is then one step further.
    // Each step is answered by a pong, so no step leaves a link silent long enough to die. Bob's
    // `bye` on the loser may reach alice before she has promoted the winner; that hands bob over
    // to the winner without a peer-down.)
    let answered = (0..MAX_STEPS).any(|_| {
        monotonic.advance(STEP);
        alice_loop.handle().wake();
        within(STEP_WAIT, || {
            link_to(a.node.addr(), &bob).is_some_and(|l| !l["rtt_ms"].is_null())
        })
    });
    assert!(answered, "no ping round trip after {MAX_STEPS} steps");
    // One down is not the product's fault: a step of 16 s also ends a handshake still in flight
    // (10 s). If that was the winner's, bob's `bye` on the loser leaves alice with no link to
    // bob, for real, until she dials again. Alice logs that timeout; without it, any down fails.
    let downs = downs.lock().unwrap();
    let killed = logs::lines(|l| l.contains("closing: handshake timed out"));
    let lost_winner = format!("{bob}: peer said bye: duplicate link");
    assert!(
        downs.is_empty() || (!killed.is_empty() && *downs == [lost_winner]),
        "alice lost bob: {downs:?} (first link {before}; handshakes the steps ended: {killed:?})"
    );
}

/// A peer started from `config` on a loop of its own that reads the time from `monotonic`.
/// Dropping the thread stops the loop.
fn stepped_peer(config: p2p::Config, monotonic: &SteppedClock) -> (p2p::Peer, LoopThread) {
    let mut event_loop = EventLoop::new(http_core::limits::MAX_CONNECTIONS).unwrap();
    event_loop.set_clock(monotonic.clone());
    let peer = p2p::start(&mut event_loop, config).unwrap();
    let thread = event_loop
        .spawn_thread(&peer.node.addr().to_string())
        .unwrap();
    (peer, thread)
}

/// An ephemeral port on the loopback.
fn any() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The system clock in ms since the Unix epoch.
fn p2p_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
