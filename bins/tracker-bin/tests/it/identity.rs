//! The tracker's identity rules over real sockets (issue 10): nobody at another address takes
//! over a live peer, the advertised ip must be the source address unless a flag allows it,
//! unusable addresses are refused, and one address holds a bounded number of peers.
//!
//! Every test client connects from 127.0.0.1. To be "another client", a test runs the tracker
//! with `--trusted-proxy 127.0.0.1` and names the client's address in `X-Forwarded-For`, as a
//! reverse proxy would; one test checks that the header is ignored from anyone else.

use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signer, SigningKey};
use http_core::Method;
use router::auth::Credentials;
use serde_json::{Value, json};
use tracker::identity::{Rules, key_proof_payload};
use tracker::server::{Running, spawn};
use tracker::{Config, Tracker};

use crate::send;

fn start(rules: Rules) -> Running {
    let config = Config {
        identity: rules,
        ..Config::default()
    };
    spawn(
        Tracker::new(config, Credentials::new()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap()
}

fn behind_proxy() -> Running {
    start(Rules {
        trusted_proxy: Some("127.0.0.1".parse().unwrap()),
        ..Rules::default()
    })
}

/// `POST target` as a client at `from` (through the trusted proxy, if any).
pub(crate) fn post_from(addr: SocketAddr, from: &str, target: &str, body: &Value) -> (u16, Value) {
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Forwarded-For", from),
    ];
    let r = send(
        addr,
        Method::Post,
        target,
        &headers,
        body.to_string().as_bytes(),
    );
    (r.status.code(), serde_json::from_slice(&r.body).unwrap())
}

#[test]
fn a_client_elsewhere_never_takes_over_a_live_peer() {
    takeover_rules(behind_proxy().addr);
}

#[test]
fn a_live_peer_id_is_taken_back_with_its_key_once() {
    let t = behind_proxy();
    key_proof_rules(t.addr, t.addr);
}

/// The takeover rules, on a tracker at `addr` that trusts 127.0.0.1 as its proxy (either store).
pub(crate) fn takeover_rules(addr: SocketAddr) {
    let real = json!({"ip": "10.0.0.1", "port": 5001});
    let (status, body) = post_from(addr, "10.0.0.1", "/submit-info", &real);
    assert_eq!(status, 200, "{body}");
    let id = body["peer_id"].as_str().unwrap().to_string();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(id, "10.0.0.1:5001");

    // The squatter at 10.0.0.66 tries every spelling of the real peer's identity.
    for attempt in [
        json!({"port": 5001, "peer_id": id}),
        json!({"ip": "10.0.0.1", "port": 5001}),
        json!({"ip": "10.0.0.66", "port": 5001, "peer_id": id}),
        json!({"port": 5001, "peer_id": id, "token": "0123456789abcdef0123456789abcdef"}),
    ] {
        let (status, body) = post_from(addr, "10.0.0.66", "/submit-info", &attempt);
        assert_eq!(status, 403, "{attempt}: {body}");
    }
    // The real peer never noticed: its token still works.
    let beat = json!({"peer_id": id, "token": token});
    assert_eq!(post_from(addr, "10.0.0.1", "/heartbeat", &beat).0, 200);
    // The squatter can register itself, under its own address, without locking anyone out.
    let (status, body) = post_from(addr, "10.0.0.66", "/submit-info", &json!({"port": 5001}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["peer_id"], "10.0.0.66:5001");
    assert_eq!(post_from(addr, "10.0.0.1", "/heartbeat", &beat).0, 200);
    // A course client restarting on the real peer's machine, token lost, gets back in.
    let (status, body) = post_from(addr, "10.0.0.1", "/submit-info", &real);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["peer_id"], id.as_str());
    // So does a peer that moved, with its token.
    let moved = json!({"port": 5001, "peer_id": id, "token": body["token"]});
    let (status, body) = post_from(addr, "10.0.0.2", "/submit-info", &moved);
    assert_eq!(status, 200, "{body}");
}

/// A registration of peer id `kp` at port 5001 carrying `key`, with a `key_proof` by `signer`
/// at `ts` (ms since the Unix epoch).
fn signed(key: &str, signer: &SigningKey, ts: u64) -> Value {
    let sig = signer.sign(&key_proof_payload("kp", 5001, key, ts));
    json!({"peer_id": "kp", "port": 5001, "key": key,
           "key_proof": {"ts": ts, "sig": B64.encode(sig.to_bytes())}})
}

/// The key-proof rules on trackers that trust 127.0.0.1 as their proxy: the peer registers at
/// `first`, then takes its peer id back at `second` (the same tracker, or another on one
/// Redis) from another address with its key; a replay and a wrong key are refused.
pub(crate) fn key_proof_rules(first: SocketAddr, second: SocketAddr) {
    let sk = SigningKey::from_bytes(&[7; 32]);
    let key = B64.encode(sk.verifying_key().to_bytes());
    let body = json!({"peer_id": "kp", "port": 5001, "key": key});
    let (status, body) = post_from(first, "10.0.0.1", "/submit-info", &body);
    assert_eq!(status, 200, "{body}");
    let old = body["token"].clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let now = u64::try_from(now).unwrap();
    // Restarted elsewhere without its token: its key gets it a fresh session.
    let proof = signed(&key, &sk, now);
    let (status, body) = post_from(second, "10.0.0.2", "/submit-info", &proof);
    assert_eq!(status, 200, "{body}");
    let new = body["token"].clone();
    assert_ne!(new, old);
    let beat = |token: &Value| json!({"peer_id": "kp", "token": token});
    assert_eq!(
        post_from(first, "10.0.0.1", "/heartbeat", &beat(&old)).0,
        403
    );
    // The same proof again, or an older one, is a replay; a wrong key is refused too.
    let wrong = SigningKey::from_bytes(&[8; 32]);
    for attempt in [
        proof,
        signed(&key, &sk, now - 1),
        signed(&key, &wrong, now + 1),
    ] {
        for at in [first, second] {
            let (status, body) = post_from(at, "10.0.0.3", "/submit-info", &attempt);
            assert_eq!(status, 403, "{attempt}: {body}");
        }
    }
    // The session taken back is untouched; a later proof works again.
    assert_eq!(
        post_from(first, "10.0.0.2", "/heartbeat", &beat(&new)).0,
        200
    );
    let later = signed(&key, &sk, now + 2);
    assert_eq!(post_from(first, "10.0.0.3", "/submit-info", &later).0, 200);
}

#[test]
fn the_advertised_ip_must_be_the_source_unless_allowed() {
    let t = start(Rules::default());
    // Not behind a trusted proxy: X-Forwarded-For proves nothing.
    let spoof = json!({"ip": "10.9.9.9", "port": 5001});
    let (status, body) = post_from(t.addr, "10.9.9.9", "/submit-info", &spoof);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--allow-advertised-ip")
    );
    for (ip, port) in [
        ("255.255.255.255", 5001),
        ("224.0.0.1", 5001),
        ("127.0.0.1", 0),
    ] {
        let body = json!({"ip": ip, "port": port});
        let (status, answer) = post_from(t.addr, "", "/submit-info", &body);
        assert_eq!(status, 400, "{body}: {answer}");
    }
    // With the flag (NAT set-ups), the advertised address is taken; unusable ones still not.
    let nat = start(Rules {
        allow_advertised_ip: true,
        ..Rules::default()
    });
    let (status, body) = post_from(nat.addr, "", "/submit-info", &spoof);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["peer_id"], "10.9.9.9:5001");
    let bcast = json!({"ip": "255.255.255.255", "port": 5001});
    assert_eq!(post_from(nat.addr, "", "/submit-info", &bcast).0, 400);
}

#[test]
fn one_address_holds_a_bounded_number_of_peers() {
    let t = start(Rules {
        trusted_proxy: Some("127.0.0.1".parse().unwrap()),
        max_peers_per_ip: 2,
        ..Rules::default()
    });
    for port in [5001, 5002] {
        let body = json!({"port": port});
        assert_eq!(post_from(t.addr, "10.0.0.5", "/submit-info", &body).0, 200);
    }
    let (status, body) = post_from(t.addr, "10.0.0.5", "/submit-info", &json!({"port": 5003}));
    assert_eq!(status, 403, "{body}");
    // Another address is not affected, and a peer leaving makes room.
    assert_eq!(
        post_from(t.addr, "10.0.0.6", "/submit-info", &json!({"port": 5003})).0,
        200
    );
    let (_, again) = post_from(t.addr, "10.0.0.5", "/submit-info", &json!({"port": 5001}));
    let bye = json!({"peer_id": "10.0.0.5:5001", "token": again["token"]});
    assert_eq!(post_from(t.addr, "10.0.0.5", "/remove", &bye).0, 200);
    assert_eq!(
        post_from(t.addr, "10.0.0.5", "/submit-info", &json!({"port": 5003})).0,
        200
    );
}
