//! Key-channel proofs: history and live messages of a key channel flow on a link only after
//! the peer proved the key there; wrong keys, version-2 links and pestering get nothing.

use super::*;
use crate::frame::SyncReq;
use crate::identity::Identity;
use crate::node::keyproof::MAX_CHALLENGES;

fn wrong_key() -> ChannelAccess {
    ChannelAccess::Key(ChannelKey::new("guess"))
}

/// alice and bob hold the key of `secret`; carol holds a wrong one, though the tracker lists
/// her (a stale or lying list). All three are linked; alice has posted.
fn carol_with_a_wrong_key() -> Net {
    let mut net = Net::new(&[A, B, C]);
    net.join(0, "secret", ChannelPolicy::Key, &[A, B, C]);
    net.join(1, "secret", ChannelPolicy::Key, &[A, B, C]);
    net.join_with(2, "secret", wrong_key(), &[A, B, C]);
    net.dial(0, 1);
    net.dial(1, 2);
    net.dial(0, 2);
    net.run();
    net.post(0, "secret", "members only");
    net.run();
    net
}

#[test]
fn a_wrong_key_gets_no_history_and_no_live_messages() {
    let mut net = carol_with_a_wrong_key();
    assert_eq!(net.ids(1, "secret"), ["alice/secret/1"]);
    assert!(net.ids(2, "secret").is_empty(), "nothing by sync");
    net.post(1, "secret", "still members only");
    net.run();
    assert!(net.ids(2, "secret").is_empty(), "nothing live");
    // She writes anyway, straight on her link to alice: dropped.
    let intruder = net.post(2, "secret", "let me in");
    let link = net.nodes[2].link_of(A).unwrap();
    net.send(2, link, &Frame::Msg(intruder.clone()));
    net.run();
    for n in [0, 1] {
        assert_eq!(net.ids(n, "secret"), ["alice/secret/1", "bob/secret/1"]);
        assert!(!net.shown(n).contains(&intruder.id), "node {n}");
    }
    // Joined again with the right key, she proves it and both sides catch up.
    net.join(2, "secret", ChannelPolicy::Key, &[A, B, C]);
    net.run();
    let all = ["alice/secret/1", "bob/secret/1", "carol/secret/1"];
    for n in 0..3 {
        let mut ids = net.ids(n, "secret");
        ids.sort();
        assert_eq!(ids, all, "node {n}");
    }
}

#[test]
fn the_key_is_enough_without_the_trackers_list() {
    // Bob joined after alice's last list: she does not list him, but he proves the key.
    let mut net = Net::new(&[A, B]);
    net.join(0, "secret", ChannelPolicy::Key, &[A]);
    net.post(0, "secret", "before bob");
    net.dial(0, 1);
    net.run();
    net.join(1, "secret", ChannelPolicy::Key, &[A, B]);
    net.run();
    assert_eq!(net.ids(1, "secret"), ["alice/secret/1"]);
    net.post(1, "secret", "hi");
    net.run();
    assert_eq!(net.ids(0, "secret"), ["alice/secret/1", "bob/secret/1"]);
}

#[test]
fn rejoining_with_another_key_needs_a_new_proof() {
    let mut net = Net::new(&[A, B]);
    net.join_all("secret", ChannelPolicy::Key, &[A, B]);
    net.dial(0, 1);
    net.run();
    net.post(0, "secret", "one");
    net.run();
    assert_eq!(net.ids(1, "secret"), ["alice/secret/1"]);
    net.join_with(0, "secret", wrong_key(), &[A, B]);
    net.run();
    net.post(0, "secret", "two");
    net.run();
    assert_eq!(
        net.ids(1, "secret"),
        ["alice/secret/1"],
        "bob cannot prove k2"
    );
}

/// Frames of `actions` that are channel challenges.
fn challenges(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Send(_, Frame::ChannelChallenge { .. })))
        .count()
}

#[test]
fn challenges_are_bounded_and_wrong_proofs_change_nothing() {
    let mut net = carol_with_a_wrong_key();
    let link = net.nodes[0].link_of(C).unwrap();
    let mut sent = 0;
    for i in 0..20 {
        let req = Frame::SyncReq(SyncReq {
            channel: "secret".into(),
            have: BTreeMap::new(),
        });
        let actions = net.nodes[0].on_frame(link, req, net.now);
        sent += challenges(&actions);
        // An answer with no matching nonce, or garbage, proves nothing.
        let proof = Frame::ChannelProof {
            channel: "secret".into(),
            nonce: format!("n{i}"),
            proof: "AAAA".into(),
        };
        let actions = net.nodes[0].on_frame(link, proof, net.now);
        assert!(actions.is_empty(), "{actions:?}");
    }
    // One was sent when the link came up, the rest asked for by carol.
    assert!(sent < MAX_CHALLENGES, "{sent} more challenges");
    assert!(net.ids(2, "secret").is_empty());
}

#[test]
fn a_challenge_for_a_key_we_lack_is_not_answered() {
    let mut net = Net::new(&[A, B]);
    net.join_all("general", ChannelPolicy::Open, &[A, B]);
    net.dial(0, 1);
    net.run();
    let link = net.nodes[0].link_of(B).unwrap();
    let ask = |channel: &str, nonce: &str| Frame::ChannelChallenge {
        channel: channel.into(),
        nonce: nonce.into(),
    };
    for frame in [
        ask("secret", "n"),
        ask("general", "n"),
        ask("secret", ""),
        ask("dm:a+b", "n"),
    ] {
        assert!(net.nodes[0].on_frame(link, frame, net.now).is_empty());
    }
}

/// Bob's half of a handshake with alice done by hand, his hello stripped of `max_version`
/// as a version-2 peer sends it. Answers alice's link id.
fn version_2_link(alice: &mut NodeState, bob: &Identity) -> LinkId {
    let link = LinkId(1);
    alice.link_accepted(link, "127.0.0.1:9", 0);
    let mut hello = alice.hello();
    hello.peer_id = B.into();
    let (mut dialler, out) = Link::dial(hello, bob, 0);
    let [link::Action::Send(Frame::Hello(h))] = out.as_slice() else {
        panic!("{out:?}")
    };
    let mut h = h.clone();
    h.max_version = None;
    let actions = alice.on_frame(link, Frame::Hello(h.clone()), 1);
    let Some(Action::Send(_, ack)) = actions.first() else {
        panic!("{actions:?}")
    };
    let out = dialler.on_frame(ack.clone(), 1);
    let Some(link::Action::Send(auth)) = out.first() else {
        panic!("{out:?}")
    };
    let actions = alice.on_frame(link, auth.clone(), 1);
    assert!(
        challenges(&actions) == 0,
        "no challenge on a version-2 link"
    );
    link
}

#[test]
fn a_version_2_link_carries_no_key_channel_and_no_direct_message() {
    let bob = Identity::generate();
    let mut alice = NodeState::new(A, "ALICE").unwrap();
    alice.bind_key(B, bob.public().as_str());
    let access = ChannelAccess::Key(ChannelKey::new(KEY));
    alice
        .join("secret", access, [A.to_string(), B.to_string()])
        .unwrap();
    let link = version_2_link(&mut alice, &bob);
    assert!(alice.is_linked(B));
    let req = Frame::SyncReq(SyncReq {
        channel: "secret".into(),
        have: BTreeMap::new(),
    });
    assert!(alice.on_frame(link, req, 2).is_empty());
    let out = alice.post("secret", "not for version 2", 3).unwrap();
    assert!(alice.commit(out).is_empty(), "no live message either");
    // Nor a direct message: it cannot be sealed on this link, so it waits for a newer one.
    let out = alice.direct(B, "sealed or nothing", 4).unwrap();
    assert!(alice.commit(out).is_empty());
}
