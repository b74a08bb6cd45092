//! Trust tests: impostors, unbound keys, forged signatures in `msg` and `sync`, and private
//! history that stays with the peers that proved their keys.

use super::*;
use crate::identity::Identity;

const M: usize = 3;

/// alice, bob and carol know each other's keys; node 3 is mallory, who claims alice's id
/// with a key of her own.
fn with_impostor() -> Net {
    let mut net = Net::new(&[A, B, C, A]);
    let real = net.nodes[0].identity().public().as_str().to_string();
    let fake = Identity::generate();
    net.nodes[M] = NodeState::new(A, "Alice").unwrap().with_identity(fake);
    for n in 0..M {
        net.nodes[n].bind_key(A, &real);
    }
    net
}

fn closed(net: &Net, n: usize) -> bool {
    net.events[n]
        .iter()
        .any(|e| matches!(e, Event::PeerUp { .. }))
}

#[test]
fn impostor_gets_no_history_no_dm_and_cannot_evict_the_real_link() {
    let mut net = with_impostor();
    net.join_all("vault", ChannelPolicy::Key, &[A, B]);
    net.dial(0, 1);
    net.run();
    net.post(1, "vault", "secret plans");
    net.direct(1, A, "for alice only");
    net.run();
    let real_link = net.nodes[1].link_of(A).unwrap();
    assert_eq!(net.ids(0, "vault"), ["bob/vault/1"]);
    // Mallory dials bob as "alice", with nonce 0 so she would win any tie-break.
    let before = net.nodes[1].peers();
    net.dial(M, 1);
    net.run();
    assert!(
        net.persisted[M].is_empty(),
        "mallory got {:?}",
        net.persisted[M]
    );
    assert!(net.nodes[M].messages("vault", None, 10).is_empty());
    assert!(
        net.nodes[M]
            .messages(&dm_channel(A, B), None, 10)
            .is_empty()
    );
    assert!(!closed(&net, M), "no link opened for mallory");
    assert_eq!(net.nodes[1].link_of(A), Some(real_link), "real link kept");
    assert_eq!(net.nodes[1].peers(), before);
    // The real link still carries messages both ways.
    net.post(0, "vault", "still here");
    net.run();
    assert_eq!(net.ids(1, "vault"), ["bob/vault/1", "alice/vault/1"]);
}

#[test]
fn impostor_frames_are_not_stored() {
    let mut net = with_impostor();
    net.join_all("general", ChannelPolicy::Open, &[A, B]);
    // Bob does not know alice's key yet: mallory's proven link waits, it does not open.
    net.nodes[1] = NodeState::new(B, "BOB").unwrap();
    net.join(1, "general", ChannelPolicy::Open, &[A, B]);
    let (m_link, _) = net.dial(M, 1);
    net.run();
    assert!(net.linked(1).is_empty());
    assert!(
        net.events[1]
            .iter()
            .any(|e| matches!(e, Event::KeyNeeded { peer_id } if peer_id == A))
    );
    // Whatever she sends now is dropped, signed or not.
    net.post(M, "general", "I am alice");
    let mut forged = msg(A, "general", 2, 2, "forged");
    forged.sig = None;
    net.send(M, m_link, &Frame::Msg(forged));
    net.run();
    assert!(net.persisted[1].is_empty());
    // The tracker then says alice's key is the real one: mallory's link is closed.
    let real = net.nodes[0].identity().public().as_str().to_string();
    let actions = net.nodes[1].bind_key(A, &real);
    net.handle(1, actions);
    net.run();
    assert!(net.linked(1).is_empty());
    assert!(net.wires.is_empty(), "mallory's wire is gone");
    // And the real alice links fine, her seq slots untouched by the forgeries.
    let real_key = net.nodes[1].identity().public().as_str().to_string();
    net.nodes[0].bind_key(B, &real_key);
    net.dial(0, 1);
    net.post(0, "general", "the real one");
    net.run();
    assert_eq!(net.ids(1, "general"), ["alice/general/1"]);
    assert_eq!(
        net.nodes[1].messages("general", None, 1)[0].text,
        "the real one"
    );
}

#[test]
fn unbound_key_waits_for_the_tracker_then_opens_or_times_out() {
    let mut net = Net::strangers(&[A, B]);
    net.join_all("general", ChannelPolicy::Open, &[A, B]);
    let key = |net: &Net, n: usize| net.nodes[n].identity().public().as_str().to_string();
    let (ka, kb) = (key(&net, 0), key(&net, 1));
    net.nodes[0].bind_key(B, &kb);
    net.post(0, "general", "before");
    net.dial(0, 1);
    net.run();
    assert_eq!(net.linked(0), [B], "alice knows bob's key");
    assert!(net.linked(1).is_empty(), "bob waits for alice's key");
    assert!(net.ids(1, "general").is_empty());
    let actions = net.nodes[1].bind_key(A, &ka);
    net.handle(1, actions);
    net.run();
    assert_eq!(net.linked(1), [A]);
    assert_eq!(net.ids(1, "general"), ["alice/general/1"]);
    // A pending link nobody vouches for is closed after the deadline.
    let mut net = Net::strangers(&[A, B]);
    let kb = key(&net, 1);
    net.nodes[0].bind_key(B, &kb);
    net.dial(0, 1);
    net.run();
    assert!(net.linked(1).is_empty());
    let deadline = net.nodes[1].next_deadline().unwrap();
    assert!(deadline <= net.now + KEY_CONFIRM_TIMEOUT_MS);
    let actions = net.nodes[1].tick(net.now + KEY_CONFIRM_TIMEOUT_MS);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Close(_, CloseReason::KeyUnconfirmed)))
    );
}

#[test]
fn forged_msg_and_sync_entries_are_dropped_and_the_real_message_still_arrives() {
    let mut net = mesh();
    let b_link_at_a = net.nodes[0].link_of(B).unwrap();
    // Bob relays a message "by carol" that he signed himself, in a sync answer.
    let bob = net.nodes[1].identity().clone();
    let mut forged = msg(C, "general", 1, 1, "carol never said this");
    bob.sign_message(&mut forged);
    let mut unsigned = msg(C, "general", 2, 2, "nor this");
    unsigned.sig = None;
    let sync = Frame::Sync(crate::frame::SyncReply {
        channel: "general".into(),
        messages: vec![forged.clone(), unsigned],
    });
    let actions = net.nodes[0].on_frame(b_link_at_a, sync, net.now);
    assert!(actions.is_empty(), "{actions:?}");
    // A msg by bob himself, but with a tampered text.
    let mut own = net.nodes[1]
        .post("general", "original", net.now)
        .unwrap()
        .msg;
    own.text = "tampered".into();
    let actions = net.nodes[0].on_frame(b_link_at_a, Frame::Msg(own), net.now);
    assert!(actions.is_empty());
    assert!(net.ids(0, "general").is_empty());
    // Carol's real message with the id the forgery tried to take still arrives.
    let real = net.post(2, "general", "hello from carol");
    net.run();
    assert_eq!(real.id, forged.id);
    let got = net.nodes[0].messages("general", None, 10);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "hello from carol");
}

#[test]
fn synced_messages_by_unknown_authors_wait_for_their_key() {
    let mut net = Net::new(&[A, B, C]);
    net.join_all("general", ChannelPolicy::Open, &[A, B, C]);
    net.dial(1, 2);
    net.run();
    net.post(2, "general", "carol was here");
    net.run();
    // Alice knows bob but not carol: carol's message in bob's sync answer is held back.
    let mut alice = NodeState::new(A, "ALICE").unwrap();
    alice.bind_key(B, net.nodes[1].identity().public().as_str());
    let carol = net.nodes[2].identity().public().as_str().to_string();
    net.nodes[0] = alice;
    net.join(0, "general", ChannelPolicy::Open, &[A, B, C]);
    let bob_key = net.nodes[0].identity().public().as_str().to_string();
    net.nodes[1].bind_key(A, &bob_key);
    net.dial(0, 1);
    net.run();
    assert!(net.ids(0, "general").is_empty());
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, Event::KeyNeeded { peer_id } if peer_id == C))
    );
    let actions = net.nodes[0].bind_key(C, &carol);
    net.handle(0, actions);
    net.run();
    assert_eq!(net.ids(0, "general"), ["carol/general/1"]);
}

#[test]
fn trust_on_first_use_binds_the_first_key_and_refuses_others() {
    let mut net = with_impostor();
    net.nodes[1] = NodeState::new(B, "BOB")
        .unwrap()
        .with_trust_on_first_use(true);
    let kb = net.nodes[1].identity().public().as_str().to_string();
    net.nodes[0].bind_key(B, &kb);
    net.nodes[M].bind_key(B, &kb);
    net.dial(0, 1);
    net.run();
    assert_eq!(net.linked(1), [A]);
    // Mallory comes later with alice's id: the first key seen for it stays bound.
    let real = net.nodes[1].link_of(A);
    net.dial(M, 1);
    net.run();
    assert_eq!(net.nodes[1].link_of(A), real);
    assert_eq!(
        net.nodes[1].bound_key(A),
        Some(net.nodes[0].identity().public())
    );
}

#[test]
fn messages_already_held_are_dropped_and_stay_unchanged() {
    let mut net = mesh();
    let b_link_at_a = net.nodes[0].link_of(B).unwrap();
    let ours = net.post(0, "general", "alice's own");
    let bobs = net.post(1, "general", "bob's");
    net.run();
    net.events[0].clear();
    // Bob sends both back: alice's own, and his own again with another text under the old
    // signature (dropped as a duplicate before any signature check). Neither is stored again,
    // shown, or changes what alice holds.
    let mut again = bobs.clone();
    again.text = "changed".into();
    let sync = Frame::Sync(crate::frame::SyncReply {
        channel: "general".into(),
        messages: vec![ours, again.clone()],
    });
    assert!(net.nodes[0].on_frame(b_link_at_a, sync, net.now).is_empty());
    assert!(
        net.nodes[0]
            .on_frame(b_link_at_a, Frame::Msg(again), net.now)
            .is_empty()
    );
    let events: Vec<Event> = net.nodes[0].drain_events().collect();
    assert!(events.is_empty(), "{events:?}");
    let texts: Vec<String> = net.nodes[0]
        .messages("general", None, 10)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["alice's own", "bob's"]);
}
