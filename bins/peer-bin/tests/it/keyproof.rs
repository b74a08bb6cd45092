//! Private stays private over real sockets (issue 10): a peer gets a key channel's history and
//! live messages only after proving the key on its link, by answering a `channel-challenge`; a
//! peer the tracker lists but that cannot prove the key gets nothing. Direct messages travel
//! sealed: only the other party can open them.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use http_core::Method;
use p2p::channel_key::{Binding, ChannelKey};
use p2p::seal::PairKey;
use p2p::{Identity, Running};
use serde_json::{Value, json};

use crate::trust::{drain_until_pong, two_peers};
use crate::{call, raw_link, read_until, tempdir, wait_for};

const WAIT: Duration = Duration::from_secs(10);

/// A raw peer's side of a link: the stream, and what its proofs are bound to.
struct RawMember {
    s: TcpStream,
    id: String,
    ours: String,
    theirs: String,
    them: String,
    their_key: String,
}

/// Registers `id` with `key` at the tracker and joins `vault` there with the right key, so
/// the tracker lists it as a member whatever it can prove on a link.
fn register_member(tracker: SocketAddr, id: &str, key: &Identity) {
    let body = json!({"port": 9, "peer_id": id, "key": key.public().as_str()});
    let (status, answer) = call(tracker, Method::Post, "/submit-info", Some(body));
    assert_eq!(status, 200, "{answer}");
    let body = json!({"peer_id": id, "token": answer["token"], "channel": "vault", "key": "k1"});
    let (status, answer) = call(tracker, Method::Post, "/add-list", Some(body));
    assert_eq!(status, 200, "{answer}");
}

/// A version-3 raw link to `peer` as `id`, claiming `general` and `vault`.
fn link_as(peer: &Running, id: &str, key: &Identity) -> RawMember {
    let mut s = raw_link(peer.addr());
    let ours = p2p::identity::new_challenge();
    let hello = json!({"type": "hello", "peer_id": id, "name": "raw", "nonce": 1,
        "version": p2p::PROTOCOL_VERSION, "max_version": p2p::MAX_PROTOCOL_VERSION,
        "channels": ["general", "vault"], "key": key.public().as_str(), "challenge": ours});
    s.write_all(format!("{hello}\n").as_bytes()).unwrap();
    let ack: Value = serde_json::from_str(read_until(&mut s, b"\n", WAIT).trim()).unwrap();
    assert_eq!(ack["type"], "hello-ack", "{ack}");
    let theirs = ack["challenge"].as_str().unwrap().to_string();
    let them = ack["peer_id"].as_str().unwrap().to_string();
    let their_key = ack["key"].as_str().unwrap().to_string();
    let auth = json!({"type": "auth", "proof": key.prove(&theirs, id, &them)});
    s.write_all(format!("{auth}\n").as_bytes()).unwrap();
    wait_for("linked to the raw peer", WAIT, || peer.node.is_linked(id));
    RawMember {
        s,
        id: id.to_string(),
        ours,
        theirs,
        them,
        their_key,
    }
}

impl RawMember {
    /// Asks for the history of general and vault, reads the peer's first challenge and
    /// answers it under `key`; answers everything received up to then.
    fn prove_vault(&mut self, key: &str) -> String {
        for channel in ["general", "vault"] {
            let req = json!({"type": "sync-req", "channel": channel, "have": {}});
            self.s.write_all(format!("{req}\n").as_bytes()).unwrap();
        }
        let mut seen = read_until(&mut self.s, b"\"type\":\"channel-challenge\"", WAIT);
        seen.push_str(&read_until(&mut self.s, b"\n", WAIT));
        let start = seen
            .rfind("{\"type\":\"channel-challenge\"")
            .expect("a challenge");
        let frame: Value = serde_json::from_str(seen[start..].trim()).unwrap();
        assert_eq!(frame["channel"], "vault", "{frame}");
        let nonce = frame["nonce"].as_str().unwrap();
        let binding = Binding {
            channel: "vault",
            nonce,
            prover: &self.id,
            verifier: &self.them,
            prover_challenge: &self.ours,
            verifier_challenge: &self.theirs,
        };
        let proof = ChannelKey::new(key).prove(&binding);
        let answer = json!({"type": "channel-proof", "channel": "vault", "nonce": nonce,
            "proof": proof});
        self.s.write_all(format!("{answer}\n").as_bytes()).unwrap();
        seen
    }
}

fn post(peer: &Running, channel: &str, text: &str) {
    let target = format!("/api/channels/{channel}/messages");
    let (status, _) = call(
        peer.addr(),
        Method::Post,
        &target,
        Some(json!({"text": text})),
    );
    assert_eq!(status, 201);
}

#[test]
fn only_a_peer_that_proves_the_key_gets_a_key_channel() {
    let dir = tempdir("keyproof");
    let t = crate::tracker(30);
    let (a, b) = two_peers(dir.path(), t.addr);

    // Mallory is a listed member at the tracker, but on the link she proves a wrong key.
    let mallory = Identity::generate();
    register_member(t.addr, "mallory:1", &mallory);
    let mut m = link_as(&b, "mallory:1", &mallory);
    let mut seen = m.prove_vault("k2");
    seen.push_str(&drain_until_pong(&mut m.s));
    // A link carries frames in order: had the vault message gone to her, it would come first.
    post(&b, "vault", "live secret");
    post(&b, "general", "live open");
    seen.push_str(&read_until(&mut m.s, b"live open", WAIT));
    assert!(seen.contains("hello all"), "general is open to her: {seen}");
    assert!(seen.contains("live open"), "{seen}");
    assert!(!seen.contains("the vault code"), "no history: {seen}");
    assert!(!seen.contains("live secret"), "no live message: {seen}");

    // Carol proves the right key: history first, then live messages.
    let carol = Identity::generate();
    register_member(t.addr, "carol:1", &carol);
    let mut c = link_as(&b, "carol:1", &carol);
    let mut seen = c.prove_vault("k1");
    seen.push_str(&read_until(&mut c.s, b"live secret", WAIT));
    assert!(seen.contains("the vault code"), "history: {seen}");
    assert!(seen.contains("live secret"), "history: {seen}");
    post(&a, "vault", "alice was here");
    post(&b, "vault", "a later secret");
    let live = read_until(&mut c.s, b"a later secret", WAIT);
    assert!(live.contains("a later secret"), "{live}");
    // Mallory still hears nothing of the vault, up to a general message posted after it.
    post(&b, "general", "end of test");
    let late = read_until(&mut m.s, b"end of test", WAIT);
    assert!(late.contains("end of test"), "{late}");
    assert!(!late.contains("secret"), "{late}");
    drop((a, b, t));
}

#[test]
fn direct_messages_are_sealed_on_the_wire() {
    let dir = tempdir("sealed");
    let t = crate::tracker(30);
    let (a, b) = two_peers(dir.path(), t.addr);
    let carol = Identity::generate();
    register_member(t.addr, "carol:1", &carol);
    let mut c = link_as(&b, "carol:1", &carol);
    let (status, _) = call(
        b.addr(),
        Method::Post,
        "/api/direct/carol:1",
        Some(json!({"text": "for carol only"})),
    );
    assert_eq!(status, 201);
    let seen = read_until(&mut c.s, b"\"type\":\"direct\"", WAIT);
    assert!(seen.ends_with("\"type\":\"direct\""), "{seen}");
    let rest = read_until(&mut c.s, b"\n", WAIT);
    assert!(!rest.contains("for carol only"), "in the clear: {rest}");
    let frame: p2p::Frame = serde_json::from_str(&format!("{{\"type\":\"direct\"{rest}")).unwrap();
    let p2p::Frame::Direct(sealed) = frame else {
        panic!("{rest}")
    };
    let bob_key = p2p::identity::PublicKey::parse(&c.their_key).unwrap();
    let opened = PairKey::new(&carol, &bob_key)
        .open(&sealed)
        .expect("sealed for carol");
    assert_eq!(opened.text, "for carol only");
    assert!(bob_key.verifies_message(&opened), "signed by bob");
    // Nobody else's pair key opens it.
    let eve = Identity::generate();
    assert!(PairKey::new(&eve, &bob_key).open(&sealed).is_none());
    drop((a, b, t));
}
