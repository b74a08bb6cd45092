//! Sealed direct messages between nodes: the text and signature never travel in the clear,
//! live or by sync, and a direct message in the clear (or sealed for someone else) is dropped.

use super::*;
use crate::seal::PairKey;

fn clear_on_the_wire(frame: &Frame, text: &str) -> bool {
    String::from_utf8(encode(frame)).unwrap().contains(text)
}

#[test]
fn direct_messages_travel_sealed_live_and_by_sync() {
    let mut net = Net::new(&[A, B]);
    // Before any link: the message reaches bob by sync.
    let (early, frames) = net.direct(0, B, "before the link");
    assert!(frames.is_empty());
    net.dial(0, 1);
    net.run();
    let (live, frames) = net.direct(0, B, "a secret for bob");
    let [(_, frame)] = frames.as_slice() else {
        panic!("{frames:?}")
    };
    let Frame::Direct(sealed) = frame else {
        panic!("{frame:?}")
    };
    assert!(sealed.sealed.is_some() && sealed.text.is_empty() && sealed.sig.is_none());
    assert!(!clear_on_the_wire(frame, "a secret for bob"));
    net.run();
    let dm = dm_channel(A, B);
    let got = net.nodes[1].messages(&dm, None, 10);
    assert_eq!(
        got,
        [early.clone(), live.clone()],
        "opened, signatures kept"
    );
    assert_eq!(net.persisted[1], [early, live], "stored in the clear");
    // What bob re-serves by sync is sealed again.
    let link = net.nodes[1].link_of(A).unwrap();
    let actions = net.nodes[1].on_frame(
        link,
        Frame::SyncReq(crate::frame::SyncReq {
            channel: dm,
            have: BTreeMap::new(),
        }),
        net.now,
    );
    let syncs: Vec<&Frame> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(_, f @ Frame::Sync(_)) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(syncs.len(), 1, "{actions:?}");
    assert!(!clear_on_the_wire(syncs[0], "a secret for bob"));
    assert!(!clear_on_the_wire(syncs[0], "before the link"));
}

#[test]
fn a_direct_message_in_the_clear_or_sealed_for_another_is_dropped() {
    let mut net = Net::new(&[A, B, C]);
    net.dial(0, 1);
    net.run();
    let link = net.nodes[0].link_of(B).unwrap();
    let dm = dm_channel(A, B);
    let mut clear = msg(A, &dm, 1, 1, "in the clear");
    clear.to = Some(B.into());
    net.nodes[0].identity().sign_message(&mut clear);
    net.send(0, link, &Frame::Direct(clear.clone()));
    // Sealed under the pair key of alice and carol: bob cannot open it.
    let carol = net.nodes[2].identity().public().clone();
    let mut other = clear.clone();
    other.text = "for carol's eyes".into();
    net.nodes[0].identity().sign_message(&mut other);
    let wrong = PairKey::new(net.nodes[0].identity(), &carol)
        .seal(&other)
        .unwrap();
    net.send(0, link, &Frame::Direct(wrong));
    // A sealed group message is not a thing either.
    let mut group = msg(A, "general", 1, 1, "hi");
    net.nodes[0].identity().sign_message(&mut group);
    let b_key = net.nodes[1].identity().public().clone();
    let mut sealed_group = PairKey::new(net.nodes[0].identity(), &b_key)
        .seal(&group)
        .unwrap();
    sealed_group.to = None;
    net.send(0, link, &Frame::Msg(sealed_group));
    net.run();
    assert!(net.persisted[1].is_empty(), "{:?}", net.persisted[1]);
}
