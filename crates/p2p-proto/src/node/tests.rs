//! NodeState tests: single-node rules, and a simulated mesh of nodes wired through an
//! in-memory network that carries encoded bytes, so the frame codec is exercised too.

use std::collections::{HashMap, VecDeque};

use bytes::BytesMut;

use super::*;
use crate::channel_key::ChannelKey;
use crate::frame::{FrameDecoder, encode};
use crate::message::tests::msg;

mod duplicate;
mod keyproof;
mod sealed;
mod trust;

const A: &str = "alice";
const B: &str = "bob";
const C: &str = "carol";
/// The key of the tests' key channels.
const KEY: &str = "k1";

enum Packet {
    Bytes {
        to: usize,
        link: LinkId,
        bytes: Vec<u8>,
    },
    Hangup {
        to: usize,
        link: LinkId,
    },
}

/// Nodes joined by wires; a wire is two link ids, one at each end.
struct Net {
    nodes: Vec<NodeState>,
    wires: HashMap<(usize, LinkId), (usize, LinkId)>,
    inputs: HashMap<(usize, LinkId), (FrameDecoder, BytesMut)>,
    queue: VecDeque<Packet>,
    persisted: Vec<Vec<Message>>,
    events: Vec<Vec<Event>>,
    next_link: u64,
    now: u64,
}

impl Net {
    /// Nodes that know each other's keys, as the tracker would tell them.
    fn new(ids: &[&str]) -> Net {
        let mut net = Net::strangers(ids);
        net.bind_all();
        net
    }

    /// Every node learns every node's key, as the tracker would list them.
    fn bind_all(&mut self) {
        let keys: Vec<(String, String)> = self
            .nodes
            .iter()
            .map(|n| {
                let key = n.identity().public().as_str().to_string();
                (n.peer_id().to_string(), key)
            })
            .collect();
        for node in &mut self.nodes {
            for (id, key) in &keys {
                assert!(node.bind_key(id, key).is_empty());
            }
        }
    }

    /// Nodes that know no key but their own.
    fn strangers(ids: &[&str]) -> Net {
        Net {
            nodes: ids
                .iter()
                .map(|id| NodeState::new(*id, id.to_uppercase()).unwrap())
                .collect(),
            wires: HashMap::new(),
            inputs: HashMap::new(),
            queue: VecDeque::new(),
            persisted: vec![Vec::new(); ids.len()],
            events: vec![Vec::new(); ids.len()],
            next_link: 1,
            now: 1_000,
        }
    }

    fn join_all(&mut self, channel: &str, policy: ChannelPolicy, members: &[&str]) {
        for n in 0..self.nodes.len() {
            self.join(n, channel, policy, members);
        }
    }

    /// Node `n` joins `channel`; a key channel with the key every test member holds.
    fn join(&mut self, n: usize, channel: &str, policy: ChannelPolicy, members: &[&str]) {
        let access = match policy {
            ChannelPolicy::Open => ChannelAccess::Open,
            ChannelPolicy::Key => ChannelAccess::Key(ChannelKey::new(KEY)),
        };
        self.join_with(n, channel, access, members);
    }

    fn join_with(&mut self, n: usize, channel: &str, access: ChannelAccess, members: &[&str]) {
        let members = members.iter().map(|m| m.to_string());
        let actions = self.nodes[n].join(channel, access, members).unwrap();
        self.handle(n, actions);
    }

    /// `from` dials `to`; returns the link ids at each end.
    fn dial(&mut self, from: usize, to: usize) -> (LinkId, LinkId) {
        let (lf, lt) = (LinkId(self.next_link), LinkId(self.next_link + 1));
        self.next_link += 2;
        self.wires.insert((from, lf), (to, lt));
        self.wires.insert((to, lt), (from, lf));
        let addr = |n: usize| format!("127.0.0.1:{}", 5001 + n);
        self.nodes[to].link_accepted(lt, &addr(from), self.now);
        let actions = self.nodes[from].link_dialled(lf, &addr(to), self.now);
        self.handle(from, actions);
        (lf, lt)
    }

    /// Drops every connection of node `n` without a bye, as a crash would.
    fn crash_links(&mut self, n: usize) {
        let ends: Vec<_> = self
            .wires
            .keys()
            .filter(|(m, _)| *m == n)
            .copied()
            .collect();
        for end in ends {
            let (other, olink) = self.wires.remove(&end).unwrap();
            self.wires.remove(&(other, olink));
            self.nodes[n].link_closed(end.1);
            self.queue.push_back(Packet::Hangup {
                to: other,
                link: olink,
            });
        }
    }

    fn handle(&mut self, n: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(link, frame) => self.send(n, link, &frame),
                Action::Close(link, _) => {
                    if let Some((other, olink)) = self.wires.remove(&(n, link)) {
                        self.wires.remove(&(other, olink));
                        self.queue.push_back(Packet::Hangup {
                            to: other,
                            link: olink,
                        });
                    }
                    self.nodes[n].link_closed(link);
                }
                Action::Persist(m) => self.persisted[n].push(m),
            }
        }
        let events: Vec<Event> = self.nodes[n].drain_events().collect();
        self.events[n].extend(events);
    }

    fn send(&mut self, n: usize, link: LinkId, frame: &Frame) {
        if let Some(&(to, olink)) = self.wires.get(&(n, link)) {
            let bytes = encode(frame);
            self.queue.push_back(Packet::Bytes {
                to,
                link: olink,
                bytes,
            });
        }
    }

    fn post(&mut self, n: usize, channel: &str, text: &str) -> Message {
        let out = self.nodes[n].post(channel, text, self.now).unwrap();
        let m = out.msg.clone();
        for (link, frame) in self.nodes[n].commit(out) {
            self.send(n, link, &frame);
        }
        self.handle(n, Vec::new());
        m
    }

    fn direct(&mut self, n: usize, to: &str, text: &str) -> (Message, Vec<(LinkId, Frame)>) {
        let out = self.nodes[n].direct(to, text, self.now).unwrap();
        let m = out.msg.clone();
        let frames = self.nodes[n].commit(out);
        for (link, frame) in &frames {
            self.send(n, *link, frame);
        }
        self.handle(n, Vec::new());
        (m, frames)
    }

    /// Delivers packets until the network is quiet.
    fn run(&mut self) {
        let mut steps = 0;
        while let Some(packet) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "the network never went quiet");
            self.deliver(packet);
        }
    }

    /// Hands one packet to its node.
    fn deliver(&mut self, packet: Packet) {
        match packet {
            Packet::Bytes { to, link, bytes } => {
                let (dec, buf) = self.inputs.entry((to, link)).or_default();
                buf.extend_from_slice(&bytes);
                let mut frames = Vec::new();
                while let Some(f) = dec.decode(buf).expect("nodes send valid frames") {
                    frames.push(f);
                }
                for f in frames {
                    let actions = self.nodes[to].on_frame(link, f, self.now);
                    self.handle(to, actions);
                }
            }
            Packet::Hangup { to, link } => {
                self.wires.remove(&(to, link));
                self.nodes[to].link_closed(link);
                self.handle(to, Vec::new());
            }
        }
    }

    fn ids(&self, n: usize, channel: &str) -> Vec<String> {
        self.nodes[n]
            .messages(channel, None, usize::MAX)
            .into_iter()
            .map(|m| m.id)
            .collect()
    }

    /// Ids of the message events node `n` saw, in order.
    fn shown(&self, n: usize) -> Vec<String> {
        self.events[n]
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.id.clone()),
                _ => None,
            })
            .collect()
    }

    fn linked(&self, n: usize) -> Vec<String> {
        self.nodes[n]
            .peers()
            .into_iter()
            .map(|p| p.peer_id)
            .collect()
    }
}

/// Three nodes in `general`, fully linked.
fn mesh() -> Net {
    let mut net = Net::new(&[A, B, C]);
    net.join_all("general", ChannelPolicy::Open, &[A, B, C]);
    net.dial(0, 1);
    net.dial(1, 2);
    net.dial(0, 2);
    net.run();
    net
}

fn assert_unique(ids: &[String]) {
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "duplicates in {ids:?}");
}

#[test]
fn mesh_delivers_once_in_the_same_order() {
    let mut net = mesh();
    assert_eq!(net.linked(0), [B, C]);
    assert_eq!(net.linked(1), [A, C]);
    assert_eq!(net.linked(2), [A, B]);
    // Concurrent posts (nobody has seen the others') tie on Lamport time; `from` breaks it.
    net.post(1, "general", "b1");
    net.post(0, "general", "a1");
    net.post(2, "general", "c1");
    net.run();
    net.post(0, "general", "a2");
    net.run();
    let expected = [
        "alice/general/1",
        "bob/general/1",
        "carol/general/1",
        "alice/general/2",
    ];
    for n in 0..3 {
        assert_eq!(net.ids(n, "general"), expected, "node {n}");
        let shown = net.shown(n);
        assert_eq!(
            shown.len(),
            4,
            "node {n} shows each message once: {shown:?}"
        );
        assert_unique(&shown);
        // Own messages are stored by the caller of post; the node persists the others.
        let others = shown
            .iter()
            .filter(|id| !id.starts_with(&format!("{}/", [A, B, C][n])));
        assert_eq!(net.persisted[n].len(), others.count(), "node {n}");
    }
    assert_eq!(net.nodes[1].unread("general"), 3);
    net.nodes[1].mark_read("general");
    assert_eq!(net.nodes[1].unread("general"), 0);
    let last = net.nodes[1].drain_events().last();
    assert_eq!(
        last,
        Some(Event::Unread {
            channel: "general".into(),
            count: 0
        })
    );
}

#[test]
fn direct_message_reaches_only_its_target() {
    let mut net = mesh();
    let (m, frames) = net.direct(0, C, "psst");
    assert_eq!(frames.len(), 1);
    assert_eq!(m.channel, "dm:alice+carol");
    net.run();
    assert_eq!(net.ids(2, "dm:alice+carol"), std::slice::from_ref(&m.id));
    assert_eq!(net.nodes[2].unread("dm:alice+carol"), 1);
    assert!(net.shown(2).contains(&m.id));
    assert!(net.shown(1).is_empty(), "bob saw {:?}", net.shown(1));
    assert!(net.nodes[1].history().channels().next().is_none());
    // The reply lands in the same channel at alice.
    net.direct(2, A, "hi back");
    net.run();
    assert_eq!(
        net.ids(0, "dm:alice+carol"),
        ["alice/dm:alice+carol/1", "carol/dm:alice+carol/1"]
    );
}

#[test]
fn direct_message_to_an_absent_peer_waits_for_the_link() {
    let mut net = Net::new(&[A, B]);
    let (_, frames) = net.direct(0, B, "when you are back");
    assert!(frames.is_empty());
    net.dial(1, 0);
    net.run();
    assert_eq!(net.ids(1, "dm:alice+bob"), ["alice/dm:alice+bob/1"]);
}

#[test]
fn node_that_missed_messages_catches_up_without_duplicates() {
    let mut net = mesh();
    net.post(0, "general", "before");
    net.run();
    net.crash_links(2);
    net.run();
    assert_eq!(net.linked(0), [B]);
    for text in ["a1", "a2", "a3"] {
        net.post(0, "general", text);
    }
    net.post(1, "general", "b1");
    net.post(2, "general", "carol offline");
    net.run();
    // Back: carol links to both, and both answer her sync with the same messages.
    net.dial(2, 0);
    net.dial(2, 1);
    net.run();
    let all = net.ids(0, "general");
    assert_eq!(all.len(), 6);
    for n in 0..3 {
        assert_eq!(net.ids(n, "general"), all, "node {n}");
        assert_unique(&net.shown(n));
        let persisted: Vec<String> = net.persisted[n].iter().map(|m| m.id.clone()).collect();
        assert_unique(&persisted);
    }
    assert!(
        all.contains(&"carol/general/1".to_string()),
        "carol's offline post reached the others"
    );
    assert_eq!(
        net.persisted[2].len(),
        5,
        "carol stored everything but her own post"
    );
}

#[test]
fn open_channel_accepts_a_peer_that_joined_after_linking() {
    let mut net = Net::new(&[A, B]);
    net.join(0, "lobby", ChannelPolicy::Open, &[A]);
    net.dial(0, 1);
    net.run();
    net.post(0, "lobby", "early");
    net.run();
    // Bob joins later; the tracker list alice holds is stale, but bob's sync-req claims it.
    net.join(1, "lobby", ChannelPolicy::Open, &[A, B]);
    net.run();
    assert_eq!(net.ids(1, "lobby"), ["alice/lobby/1"]);
    net.post(1, "lobby", "hello");
    net.run();
    assert_eq!(net.ids(0, "lobby"), ["alice/lobby/1", "bob/lobby/1"]);
}

#[test]
fn hello_with_our_own_id_closes_the_link() {
    let mut node = NodeState::new(A, "Alice").unwrap();
    node.link_accepted(LinkId(7), "127.0.0.1:9", 0);
    let hello = Hello {
        peer_id: A.into(),
        name: "Alice".into(),
        nonce: 1,
        version: PROTOCOL_VERSION,
        channels: vec![],
        key: node.identity().public().as_str().into(),
        challenge: crate::identity::new_challenge(),
        proof: None,
        max_version: None,
    };
    let actions = node.on_frame(LinkId(7), Frame::Hello(hello), 1);
    assert_eq!(
        actions,
        [
            Action::Send(
                LinkId(7),
                Frame::Bye {
                    reason: "link to self".into()
                }
            ),
            Action::Close(LinkId(7), CloseReason::SelfLink),
        ]
    );
    assert!(node.peers().is_empty());
    assert_eq!(node.drain_events().count(), 0);
    // Dialling our own address: both ends refuse, nobody comes up.
    let mut net = Net::new(&[A]);
    net.dial(0, 0);
    net.run();
    assert!(net.linked(0).is_empty());
    assert!(net.wires.is_empty());
}

#[test]
fn simultaneous_dials_converge_on_one_link() {
    let mut net = Net::new(&[A, B]);
    net.join_all("general", ChannelPolicy::Open, &[A, B]);
    let (a_dial, b_accept) = net.dial(0, 1);
    net.dial(1, 0);
    net.run();
    // Both keep the link alice dialled ("alice" < "bob"), the same wire at both ends.
    assert_eq!(net.nodes[0].link_of(B), Some(a_dial));
    assert_eq!(net.nodes[1].link_of(A), Some(b_accept));
    assert_eq!(net.wires.len(), 2, "the other wire was closed");
    let ups = |n: usize| {
        let net = &net;
        net.events[n]
            .iter()
            .filter(|e| matches!(e, Event::PeerUp { .. }))
            .count()
    };
    assert_eq!((ups(0), ups(1)), (1, 1));
    assert!(
        !net.events[0]
            .iter()
            .any(|e| matches!(e, Event::PeerDown { .. }))
    );
    net.post(1, "general", "still works");
    net.run();
    assert_eq!(net.ids(0, "general"), ["bob/general/1"]);
}

#[test]
fn redial_replaces_a_stale_link() {
    let mut net = Net::new(&[A, B]);
    let (old_a, old_b) = net.dial(0, 1);
    net.run();
    // Alice loses the connection; bob has not noticed yet.
    net.wires.remove(&(0, old_a));
    net.wires.remove(&(1, old_b));
    net.nodes[0].link_closed(old_a);
    let (_, new_b) = net.dial(0, 1);
    net.run();
    assert_eq!(net.nodes[1].link_of(A), Some(new_b));
    assert_eq!(net.linked(0), [B]);
    let downs = net.events[1]
        .iter()
        .filter(|e| matches!(e, Event::PeerDown { .. }))
        .count();
    assert_eq!(downs, 0, "bob never saw alice go down");
}

#[test]
fn relayed_and_misaddressed_messages_are_dropped() {
    let mut net = mesh();
    let link = net.nodes[1].link_of(A).unwrap();
    // A message by carol arriving on alice's link: nobody forwards in a full mesh.
    let forged = msg(C, "general", 1, 1, "not from alice");
    let actions = net.nodes[1].on_frame(link, Frame::Msg(forged), net.now);
    assert!(actions.is_empty());
    // A direct message for carol arriving at bob.
    let mut dm = msg(A, "dm:alice+carol", 1, 1, "for carol");
    dm.to = Some(C.into());
    assert!(
        net.nodes[1]
            .on_frame(link, Frame::Direct(dm), net.now)
            .is_empty()
    );
    // A channel bob has not joined.
    let other = msg(A, "elsewhere", 1, 1, "x");
    assert!(
        net.nodes[1]
            .on_frame(link, Frame::Msg(other), net.now)
            .is_empty()
    );
    assert!(net.nodes[1].history().channels().next().is_none());
}

#[test]
fn silent_link_dies_and_the_peer_goes_down() {
    let mut net = Net::new(&[A, B]);
    net.dial(0, 1);
    net.run();
    let start = net.now;
    assert_eq!(
        net.nodes[0].next_deadline(),
        Some(start + link::PING_INTERVAL_MS)
    );
    let pings = net.nodes[0].tick(start + link::PING_INTERVAL_MS);
    assert!(matches!(pings[..], [Action::Send(_, Frame::Ping { .. })]));
    // Bob's answers never arrive (not run); alice gives up after 45 s of silence.
    let actions = net.nodes[0].tick(start + link::DEAD_AFTER_MS);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Close(_, CloseReason::Timeout)))
    );
    net.handle(0, actions);
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, Event::PeerDown { peer_id, .. } if peer_id == B))
    );
    assert!(net.linked(0).is_empty());
}

#[test]
fn shutdown_says_bye_everywhere() {
    let mut net = mesh();
    let actions = net.nodes[0].shutdown();
    let byes = actions
        .iter()
        .filter(|a| matches!(a, Action::Send(_, Frame::Bye { .. })))
        .count();
    assert_eq!(byes, 2);
    net.handle(0, actions);
    net.run();
    assert_eq!(net.linked(1), [C]);
    assert!(net.events[1].iter().any(
        |e| matches!(e, Event::PeerDown { reason, .. } if reason == "peer said bye: shutting down")
    ));
}

#[test]
fn bad_frame_bytes_close_the_link() {
    let mut net = Net::new(&[A, B]);
    let (la, _) = net.dial(0, 1);
    net.run();
    let actions = net.nodes[0].on_link_error(la, FrameError::Malformed("x".into()));
    assert!(matches!(
        &actions[..],
        [
            Action::Send(_, Frame::Bye { .. }),
            Action::Close(_, CloseReason::Frame(_))
        ]
    ));
}

#[test]
fn post_and_direct_errors() {
    let mut node = NodeState::new(A, "Alice").unwrap();
    assert!(matches!(
        node.post("general", "hi", 0),
        Err(Error::NotJoined(_))
    ));
    node.join("general", ChannelAccess::Open, [A.to_string()])
        .unwrap();
    assert!(matches!(
        node.post("general", "", 0),
        Err(Error::Invalid { field: "text", .. })
    ));
    let long = "x".repeat(crate::message::MAX_TEXT_LEN + 1);
    assert!(matches!(
        node.post("general", &long, 0),
        Err(Error::TextTooLong { .. })
    ));
    assert!(matches!(node.direct(A, "me", 0), Err(Error::DirectToSelf)));
    assert!(matches!(
        node.direct("no/slash", "x", 0),
        Err(Error::Invalid {
            field: "peer_id",
            ..
        })
    ));
    assert!(node.join("dm:a+b", ChannelAccess::Open, []).is_err());
    assert!(NodeState::new("bad id", "x").is_err());
    assert!(node.leave("general"));
    assert!(!node.leave("general"));
}

#[test]
fn a_message_not_committed_leaves_no_trace() {
    let mut node = NodeState::new(A, "Alice").unwrap();
    node.join("general", ChannelAccess::Open, [A.to_string()])
        .unwrap();
    // The store refused it: dropped, not committed.
    let refused = node.post("general", "lost to a full disk", 1).unwrap();
    assert_eq!(refused.msg.seq, 1);
    drop(refused);
    assert!(node.messages("general", None, 10).is_empty());
    assert_eq!(node.drain_events().count(), 0);
    // The next message takes the same seq, so no id is ever used by two messages.
    let kept = node.post("general", "stored", 2).unwrap();
    assert_eq!(kept.msg.id, "alice/general/1");
    let _ = node.commit(kept);
    let texts: Vec<String> = node
        .messages("general", None, 10)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["stored"]);
    assert!(
        node.drain_events()
            .any(|e| matches!(e, Event::Message(m) if m.text == "stored"))
    );
}

#[test]
fn load_continues_seq_and_clock() {
    let mut node = NodeState::new(A, "Alice").unwrap();
    node.load([
        msg(A, "general", 1, 4, "old"),
        msg(B, "general", 1, 9, "theirs"),
    ]);
    assert_eq!(node.drain_events().count(), 0);
    assert_eq!(node.unread("general"), 0);
    node.join("general", ChannelAccess::Open, []).unwrap();
    let out = node.post("general", "new", 5).unwrap();
    let m = out.msg.clone();
    assert!(node.commit(out).is_empty());
    assert_eq!((m.id.as_str(), m.lamport, m.ts), ("alice/general/2", 10, 5));
    let page: Vec<String> = node
        .messages("general", Some(&m.id), 10)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(page, ["old", "theirs"]);
    let info = node.channels();
    assert_eq!(info.len(), 1);
    assert_eq!(
        (info[0].name.as_str(), info[0].policy),
        ("general", ChannelPolicy::Open)
    );
}

#[test]
fn direct_targets_resolve_by_id_or_name() {
    let mut net = Net::new(&[A, B, C, "dave"]);
    net.join_all("general", ChannelPolicy::Open, &[A, B, C, "dave"]);
    net.dial(0, 1);
    net.run();
    let a = &net.nodes[0];
    assert_eq!(a.resolve_peer(B).unwrap(), B);
    assert_eq!(a.resolve_peer("BOB").unwrap(), B);
    assert!(matches!(a.resolve_peer(A), Err(Error::DirectToSelf)));
    assert!(matches!(a.resolve_peer("ALICE"), Err(Error::DirectToSelf)));
    assert!(matches!(a.resolve_peer(C), Err(Error::Unreachable(p)) if p == C));
    assert!(matches!(a.resolve_peer("nobody"), Err(Error::UnknownPeer(p)) if p == "nobody"));
}

#[test]
fn a_name_two_linked_peers_share_is_ambiguous() {
    let mut net = Net::strangers(&[A, B, C]);
    net.nodes[2] = NodeState::new(C, "BOB").unwrap();
    net.bind_all();
    net.dial(0, 1);
    net.dial(0, 2);
    net.dial(2, 1);
    net.run();
    // Carol calls herself BOB too: to her, "BOB" is the linked bob, not herself.
    assert_eq!(net.nodes[2].resolve_peer("BOB").unwrap(), B);
    match net.nodes[0].resolve_peer("BOB") {
        Err(Error::AmbiguousPeer { name, ids }) => {
            assert_eq!(name, "BOB");
            assert_eq!(ids, [B, C]);
        }
        other => panic!("{other:?}"),
    }
}
