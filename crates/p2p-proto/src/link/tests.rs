//! Link state machine tests: the key-proving handshake, refusals, open frames, timers and
//! the duplicate-link rule.

use super::*;
use crate::message::tests::msg;

fn hello(id: &str, nonce: u64) -> Hello {
    Hello {
        peer_id: id.into(),
        name: id.to_uppercase(),
        nonce,
        version: PROTOCOL_VERSION,
        channels: vec!["general".into()],
        key: String::new(),
        challenge: String::new(),
        proof: None,
        max_version: None,
    }
}

fn bye(reason: CloseReason) -> Vec<Action> {
    vec![
        Action::Send(Frame::Bye {
            reason: reason.to_string(),
        }),
        Action::Close(reason),
    ]
}

fn sent(actions: &[Action]) -> Frame {
    match actions.first() {
        Some(Action::Send(f)) => f.clone(),
        other => panic!("expected a frame, got {other:?}"),
    }
}

fn closed_with(actions: &[Action]) -> CloseReason {
    match actions.last() {
        Some(Action::Close(r)) => r.clone(),
        other => panic!("expected a close, got {other:?}"),
    }
}

/// A dialler "a" and an acceptor "b" (keys `ka`, `kb`) after the dialler's hello: the
/// acceptor's answer and both links.
fn start(ka: &Identity, kb: &Identity) -> (Link, Link, Frame) {
    let (d, out) = Link::dial(hello("a", 1), ka, 0);
    let mut acc = Link::accept(hello("b", 2), kb, 0);
    let ack = sent(&acc.on_frame(sent(&out), 1));
    (d, acc, ack)
}

/// Two open ends of one link.
fn pair(now: u64) -> (Link, Link) {
    let (ka, kb) = (Identity::generate(), Identity::generate());
    let (mut d, mut acc, ack) = start(&ka, &kb);
    let out = d.on_frame(ack, now);
    assert_eq!(out[1], Action::Opened);
    assert_eq!(acc.on_frame(sent(&out), now), [Action::Opened]);
    (d, acc)
}

/// An acceptor for "a" that a dialler "b" has finished the handshake with, fed `frames`.
fn check(frames: Vec<Frame>, expected: Vec<Action>) {
    let (_, mut acc) = pair(1);
    let mut last = Vec::new();
    for f in frames {
        last = acc.on_frame(f, 1);
    }
    assert_eq!(last, expected);
}

#[test]
fn handshake_proves_both_keys() {
    let (ka, kb) = (Identity::generate(), Identity::generate());
    let (mut d, out) = Link::dial(hello("a", 1), &ka, 0);
    let Frame::Hello(h) = sent(&out) else {
        panic!()
    };
    assert_eq!(h.key, ka.public().as_str());
    assert!(h.challenge.len() >= 40 && h.proof.is_none());
    assert_eq!(d.state(), LinkState::AwaitingHelloAck);
    let mut acc = Link::accept(hello("b", 2), &kb, 0);
    let out = acc.on_frame(Frame::Hello(h), 5);
    let Frame::HelloAck(ack) = sent(&out) else {
        panic!()
    };
    assert_eq!(out.len(), 1, "not open before the dialler's proof");
    assert_eq!(acc.state(), LinkState::AwaitingAuth);
    assert_eq!(acc.remote_key(), None);
    assert!(ack.proof.is_some());
    let out = d.on_frame(Frame::HelloAck(ack), 6);
    assert!(matches!(&out[0], Action::Send(Frame::Auth { .. })));
    assert_eq!(out[1], Action::Opened);
    assert_eq!(d.remote_key(), Some(kb.public()));
    assert_eq!(acc.on_frame(sent(&out), 7), [Action::Opened]);
    assert_eq!(acc.remote_key(), Some(ka.public()));
    let origin = LinkOrigin {
        dialler: "a".into(),
        nonce: 1,
    };
    assert_eq!(d.origin(), Some(origin.clone()));
    assert_eq!(acc.origin(), Some(origin));
    assert_eq!(acc.remote().map(|h| h.name.as_str()), Some("A"));
}

#[test]
fn unproven_keys_never_open() {
    let (ka, kb, km) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    // An acceptor whose proof is made with another key than the one it announces.
    let (mut d, _, ack) = start(&ka, &kb);
    let Frame::HelloAck(mut forged) = ack.clone() else {
        panic!()
    };
    forged.key = km.public().as_str().to_string();
    let out = d.on_frame(Frame::HelloAck(forged), 2);
    assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
    assert_eq!(d.remote_key(), None);
    // A proof replayed from another link (over another challenge) does not check out.
    let (mut d2, _, _) = start(&ka, &kb);
    let out = d2.on_frame(ack, 2);
    assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
    // A dialler that cannot prove its key: auth signed by another key, or replayed.
    let (mut d, mut acc, ack) = start(&ka, &kb);
    let auth = sent(&d.on_frame(ack, 2));
    let (_, mut acc2, _) = start(&ka, &kb);
    let out = acc2.on_frame(auth.clone(), 3);
    assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
    let out = acc.on_frame(
        Frame::Auth {
            proof: km.sign(b"anything"),
        },
        3,
    );
    assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
    // Nothing but auth is taken before the proof: no message slips in.
    let (_, mut acc, _) = start(&ka, &kb);
    let out = acc.on_frame(Frame::Msg(msg("a", "general", 1, 1, "hi")), 3);
    assert!(matches!(closed_with(&out), CloseReason::Protocol(_)));
    // A hello with no key or no challenge.
    for strip in [
        |h: &mut Hello| h.key.clear(),
        |h: &mut Hello| h.challenge.clear(),
    ] {
        let (_, out) = Link::dial(hello("a", 1), &ka, 0);
        let Frame::Hello(mut h) = sent(&out) else {
            panic!()
        };
        strip(&mut h);
        let out = Link::accept(hello("b", 2), &kb, 0).on_frame(Frame::Hello(h), 1);
        assert!(matches!(closed_with(&out), CloseReason::Unproven(_)));
    }
}

#[test]
fn handshake_refusals() {
    let k = Identity::generate();
    let (_, out) = Link::dial(hello("a", 9), &k, 0);
    let own = sent(&out);
    assert_eq!(
        Link::accept(hello("a", 1), &k, 0).on_frame(own.clone(), 1),
        bye(CloseReason::SelfLink)
    );
    let Frame::Hello(mut old) = own.clone() else {
        panic!()
    };
    old.peer_id = "b".into();
    old.version = 1;
    assert_eq!(
        Link::accept(hello("a", 1), &k, 0).on_frame(Frame::Hello(old.clone()), 1),
        bye(CloseReason::Version {
            ours: PROTOCOL_VERSION,
            theirs: 1
        })
    );
    old.version = PROTOCOL_VERSION;
    old.peer_id = "b/x".into();
    let out = Link::accept(hello("a", 1), &k, 0).on_frame(Frame::Hello(old), 1);
    assert!(matches!(closed_with(&out), CloseReason::Protocol(w) if w.contains("bad hello")));
    let out = Link::accept(hello("a", 1), &k, 0).on_frame(Frame::Ping { token: 1 }, 1);
    assert!(matches!(closed_with(&out), CloseReason::Protocol(w) if w.contains("unexpected ping")));
    // A dialler is answered with hello-ack, never hello.
    let (mut d, _) = Link::dial(hello("a", 1), &k, 0);
    let out = d.on_frame(own, 1);
    assert!(matches!(closed_with(&out), CloseReason::Protocol(_)));
}

#[test]
fn open_frames() {
    check(
        vec![Frame::Ping { token: 4 }],
        vec![Action::Send(Frame::Pong { token: 4 })],
    );
    let m = msg("a", "general", 1, 1, "hi");
    check(
        vec![Frame::Msg(m.clone())],
        vec![Action::Deliver(m.clone())],
    );
    let (_, mut acc) = pair(1);
    let out = acc.on_frame(Frame::Direct(m.clone()), 2);
    assert!(
        matches!(closed_with(&out), CloseReason::Protocol(_)),
        "direct without to"
    );
    check(
        vec![Frame::ChannelChallenge {
            channel: "vault".into(),
            nonce: "n".into(),
        }],
        vec![Action::KeyChallenged {
            channel: "vault".into(),
            nonce: "n".into(),
        }],
    );
    check(
        vec![Frame::ChannelProof {
            channel: "vault".into(),
            nonce: "n".into(),
            proof: "p".into(),
        }],
        vec![Action::KeyProved {
            channel: "vault".into(),
            nonce: "n".into(),
            proof: "p".into(),
        }],
    );
    check(
        vec![Frame::Bye {
            reason: "later".into(),
        }],
        vec![Action::Close(CloseReason::Bye("later".into()))],
    );
    check(
        vec![Frame::Auth { proof: "x".into() }],
        bye(CloseReason::Protocol(
            "unexpected auth frame in state Open".into(),
        )),
    );
    // After bye nothing more is acted on.
    check(
        vec![
            Frame::Bye {
                reason: String::new(),
            },
            Frame::Ping { token: 1 },
        ],
        vec![],
    );
}

#[test]
fn keepalive_and_death() {
    let (mut d, _) = pair(0);
    assert_eq!(d.next_deadline(), Some(PING_INTERVAL_MS));
    assert!(d.tick(PING_INTERVAL_MS - 1).is_empty());
    assert_eq!(
        d.tick(PING_INTERVAL_MS),
        [Action::Send(Frame::Ping { token: 1 })]
    );
    d.on_frame(Frame::Pong { token: 1 }, PING_INTERVAL_MS + 3);
    assert_eq!(d.rtt_ms(), Some(3));
    let heard = PING_INTERVAL_MS + 3;
    assert_eq!(
        d.tick(2 * PING_INTERVAL_MS),
        [Action::Send(Frame::Ping { token: 2 })]
    );
    assert_eq!(
        d.tick(3 * PING_INTERVAL_MS),
        [Action::Send(Frame::Ping { token: 3 })]
    );
    assert_eq!(
        d.tick(4 * PING_INTERVAL_MS),
        [Action::Send(Frame::Ping { token: 4 })]
    );
    assert_eq!(d.next_deadline(), Some(heard + DEAD_AFTER_MS));
    assert!(d.tick(heard + DEAD_AFTER_MS - 1).is_empty());
    assert_eq!(d.tick(heard + DEAD_AFTER_MS), bye(CloseReason::Timeout));
    assert_eq!(d.state(), LinkState::Closing);
    assert_eq!(d.next_deadline(), None);
    assert!(d.tick(u64::MAX).is_empty());
    d.closed();
    assert_eq!(d.state(), LinkState::Closed);
}

#[test]
fn handshake_timeout() {
    let k = Identity::generate();
    let mut l = Link::accept(hello("a", 1), &k, 100);
    assert_eq!(l.next_deadline(), Some(100 + HANDSHAKE_TIMEOUT_MS));
    assert!(l.tick(99 + HANDSHAKE_TIMEOUT_MS).is_empty());
    assert_eq!(
        l.tick(100 + HANDSHAKE_TIMEOUT_MS),
        bye(CloseReason::HandshakeTimeout)
    );
    assert!(
        l.close(CloseReason::Shutdown).is_empty(),
        "closing twice sends one bye"
    );
    // A dialler that never proves its key is dropped on the same deadline.
    let (_, mut acc, _) = start(&k, &Identity::generate());
    assert_eq!(acc.state(), LinkState::AwaitingAuth);
    assert_eq!(
        acc.tick(HANDSHAKE_TIMEOUT_MS),
        bye(CloseReason::HandshakeTimeout)
    );
}

#[test]
fn both_sides_keep_the_same_link() {
    let o = |d: &str, n| LinkOrigin {
        dialler: d.into(),
        nonce: n,
    };
    // (link dialled by a, link dialled by b, expected survivor's dialler)
    let cases = [
        (o("a", 900), o("b", 1), "a"),
        (o("a", 1), o("b", 900), "a"),
        (
            o("127.0.0.1:5002", 5),
            o("127.0.0.1:5001", 7),
            "127.0.0.1:5001",
        ),
    ];
    for (la, lb, winner) in cases {
        // Each side may have seen either link open first.
        for (older, newer) in [(&la, &lb), (&lb, &la)] {
            let kept = match keep_link(older, newer) {
                Survivor::Older => older,
                Survivor::Newer => newer,
            };
            assert_eq!(kept.dialler, winner, "{older:?} then {newer:?}");
        }
    }
    // Same dialler: it re-dialled after losing the old link, so the new one wins.
    assert_eq!(keep_link(&o("a", 1), &o("a", 2)), Survivor::Newer);
    assert_eq!(keep_link(&o("a", 2), &o("a", 1)), Survivor::Newer);
}

#[test]
fn duplicate_closes_are_known_at_both_ends() {
    let check = |reason: CloseReason, expected: bool| {
        assert_eq!(reason.is_duplicate(), expected, "{reason:?}");
    };
    check(CloseReason::Duplicate, true);
    // The peer's bye carries our own reason text.
    check(CloseReason::Bye(CloseReason::Duplicate.to_string()), true);
    check(CloseReason::Bye("shutting down".into()), false);
    check(CloseReason::Disconnected, false);
    check(CloseReason::Timeout, false);
}
