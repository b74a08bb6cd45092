//! The duplicate-link race: when two peers dial each other at once, the loser's `bye` and the
//! survivor's last handshake frame travel on different connections, so either may arrive first.
//! Neither order may show the peer going down (and up again); a peer that really goes away
//! during the hand-over still does.

use super::*;

impl Net {
    /// Where the oldest packet queued for `link` at node `to` is.
    fn queued_at(&self, to: usize, link: LinkId) -> Option<usize> {
        self.queue.iter().position(|p| match p {
            Packet::Bytes { to: t, link: l, .. } | Packet::Hangup { to: t, link: l } => {
                (*t, *l) == (to, link)
            }
        })
    }

    /// Delivers the oldest packet queued for `link` at node `to`. One connection keeps its
    /// order; which connection is read first is what these tests choose.
    fn deliver_next(&mut self, to: usize, link: LinkId) {
        let at = self
            .queued_at(to, link)
            .unwrap_or_else(|| panic!("nothing queued for {link:?} at node {to}"));
        let packet = self.queue.remove(at).expect("position is in the queue");
        self.deliver(packet);
    }

    /// Delivers everything queued for `link` at node `to`.
    fn deliver_all(&mut self, to: usize, link: LinkId) {
        while self.queued_at(to, link).is_some() {
            self.deliver_next(to, link);
        }
    }

    /// How many events of node `n` match `f`.
    fn count(&self, n: usize, f: impl Fn(&Event) -> bool) -> usize {
        self.events[n].iter().filter(|e| f(e)).count()
    }
}

fn is_up(e: &Event) -> bool {
    matches!(e, Event::PeerUp { .. })
}

fn is_down(e: &Event) -> bool {
    matches!(e, Event::PeerDown { .. })
}

/// Both ends of the link each side dialled.
struct Race {
    net: Net,
    /// Alice's end of the link she dialled: the survivor ("alice" < "bob").
    a_dial: LinkId,
    /// Bob's end of it.
    b_accept: LinkId,
    /// Bob's end of the link he dialled: the loser.
    b_dial: LinkId,
}

/// Alice and bob dial each other. Bob's dial completes first on both sides and is taken into
/// use; then alice's dial opens at her end, she keeps it and says `bye` on bob's. Queued for
/// bob: her `auth` on her link (which opens it at his end), then her `bye` and hang-up on his.
fn race() -> Race {
    let mut net = Net::new(&[A, B]);
    net.join_all("general", ChannelPolicy::Open, &[A, B]);
    let (a_dial, b_accept) = net.dial(0, 1);
    let (b_dial, a_accept) = net.dial(1, 0);
    net.deliver_next(0, a_accept); // bob's hello: alice answers hello-ack
    net.deliver_next(1, b_dial); // hello-ack: bob's dial opens, he sends auth and uses it
    net.deliver_next(0, a_accept); // bob's auth: alice uses bob's dial too
    net.deliver_next(1, b_accept); // alice's hello: bob answers hello-ack, waits for auth
    net.deliver_next(0, a_dial); // hello-ack: alice keeps her dial, bye on bob's
    assert_eq!(net.nodes[0].link_of(B), Some(a_dial));
    assert_eq!(
        net.nodes[1].link_of(A),
        Some(b_dial),
        "bob has not switched yet"
    );
    Race {
        net,
        a_dial,
        b_accept,
        b_dial,
    }
}

/// After the race settled: one link at both ends, each peer seen up once and never down, and
/// the link carries messages.
fn check_settled(mut race: Race) {
    let net = &mut race.net;
    assert_eq!(net.nodes[0].link_of(B), Some(race.a_dial));
    assert_eq!(net.nodes[1].link_of(A), Some(race.b_accept));
    assert_eq!(net.wires.len(), 2, "the loser's wire is gone");
    for n in 0..2 {
        assert_eq!(net.count(n, is_up), 1, "node {n}: {:?}", net.events[n]);
        assert_eq!(net.count(n, is_down), 0, "node {n}: {:?}", net.events[n]);
    }
    net.post(0, "general", "after the race");
    net.run();
    assert_eq!(net.ids(1, "general"), ["alice/general/1"]);
}

#[test]
fn duplicate_bye_before_the_survivor_opens_is_no_peer_down() {
    let mut race = race();
    let (b_dial, b_accept) = (race.b_dial, race.b_accept);
    // Alice's sync-reqs, her bye and the hang-up: bob's link in use closes.
    race.net.deliver_all(1, b_dial);
    assert!(race.net.nodes[1].link_of(A).is_none(), "nothing to send on");
    race.net.deliver_next(1, b_accept); // alice's auth: the survivor opens
    race.net.run();
    check_settled(race);
}

#[test]
fn duplicate_bye_after_the_survivor_opens_is_no_peer_down() {
    let mut race = race();
    let b_accept = race.b_accept;
    race.net.deliver_next(1, b_accept); // alice's auth: bob keeps her link, closes his own
    race.net.run(); // then her bye and hang-up on the closed one
    check_settled(race);
}

/// Bob reads alice's `bye` on his link in use, and her `auth` on the survivor never comes:
/// bob is handed over, his peer-down held while the survivor may still open.
fn auth_lost() -> Race {
    let mut race = race();
    let (b_dial, b_accept) = (race.b_dial, race.b_accept);
    race.net.deliver_all(1, b_dial);
    race.net
        .queue
        .retain(|p| !matches!(p, Packet::Bytes { to: 1, link, .. } if *link == b_accept));
    assert!(race.net.linked(1).is_empty());
    assert_eq!(race.net.count(1, is_down), 0, "held");
    race
}

/// Bob saw alice go down once, for `reason`, and is not linked to her.
fn check_down(net: &Net, reason: &str) {
    assert!(net.linked(1).is_empty());
    let downs: Vec<&Event> = net.events[1].iter().filter(|e| is_down(e)).collect();
    let expected = Event::PeerDown {
        peer_id: A.into(),
        reason: reason.into(),
    };
    assert_eq!(downs, [&expected]);
}

#[test]
fn peer_gone_during_the_hand_over_is_down() {
    let mut race = auth_lost();
    // Alice crashed: her end of the survivor hangs up.
    race.net.crash_links(0);
    race.net.run();
    check_down(&race.net, "connection closed");
}

#[test]
fn survivor_that_never_proves_itself_leaves_the_peer_down() {
    let mut race = auth_lost();
    // Alice's end stays silent: bob's handshake on the survivor times out.
    let later = race.net.now + link::HANDSHAKE_TIMEOUT_MS;
    let actions = race.net.nodes[1].tick(later);
    race.net.handle(1, actions);
    check_down(&race.net, "handshake timed out");
}

#[test]
fn peer_said_bye_with_no_other_link_is_down() {
    let mut net = Net::new(&[A, B]);
    let (a_link, _) = net.dial(0, 1);
    net.run();
    let actions = net.nodes[0].close_link(a_link, CloseReason::Duplicate);
    net.handle(0, actions);
    net.run();
    assert!(net.linked(1).is_empty());
    assert_eq!(net.count(1, is_down), 1, "{:?}", net.events[1]);
}
