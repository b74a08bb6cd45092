//! The identity rules through the registry: per-address limits, advertised addresses,
//! takeovers, required tokens and keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signer, SigningKey};

use super::*;
use crate::Config;
use crate::identity::{KEY_PROOF_WINDOW_MS, KeyProof, fresh, key_proof_payload};

#[test]
fn identity_rules_per_source_address() {
    let mut r = Registry::new(Config {
        identity: crate::identity::Rules {
            max_peers_per_ip: 2,
            ..Default::default()
        },
        ..Config::default()
    });
    add(&mut r, "a", 1, T0);
    add(&mut r, "b", 2, T0);
    check(
        r.register(params("c", 3), ip("10.0.0.1"), T0).map(drop),
        Err((403, "max-peers-per-ip")),
    );
    // Re-registering one of its own peers is not a new one; loopback is never limited.
    add(&mut r, "b", 2, T0 + S);
    for port in 10..20 {
        r.register(params(&format!("l{port}"), port), ip("127.0.0.1"), T0)
            .unwrap();
    }
    // When a peer leaves, its address has room again.
    let tok = add(&mut r, "a", 1, T0 + S);
    r.remove("a", Some(&tok), T0 + S).unwrap();
    add(&mut r, "c", 3, T0 + S);
    // An advertised ip other than the source is refused; a squatter elsewhere cannot take "c".
    let mut p = params("d", 4);
    p.ip = Some("10.0.0.99".into());
    check(
        r.register(p, ip("10.0.0.5"), T0 + S).map(drop),
        Err((403, "not the address")),
    );
    check(
        r.register(params("c", 3), ip("10.0.0.5"), T0 + S).map(drop),
        Err((403, "registered from another address")),
    );
    // With tokens required, even the same address needs the token.
    let mut strict = Registry::new(Config {
        identity: crate::identity::Rules {
            require_tokens: true,
            ..Default::default()
        },
        ..Config::default()
    });
    let tok = add(&mut strict, "a", 1, T0);
    check(
        strict
            .register(params("a", 1), ip("10.0.0.1"), T0)
            .map(drop),
        Err((403, "registered from another address")),
    );
    let mut p = params("a", 1);
    p.token = Some(tok);
    strict.register(p, ip("10.0.0.1"), T0).unwrap();
}

#[test]
fn keys_are_listed_and_checked() {
    let mut r = Registry::default();
    let key = "A".repeat(crate::identity::PUBLIC_KEY_LEN);
    let mut p = params("a", 1);
    p.key = Some(key.clone());
    r.register(p, ip("10.0.0.1"), T0).unwrap();
    assert_eq!(r.peer("a", T0).unwrap().key, Some(key));
    let mut p = params("b", 2);
    p.key = Some("not a key".into());
    check(
        r.register(p, ip("10.0.0.1"), T0).map(drop),
        Err((400, "public key")),
    );
}

#[test]
fn authorize_is_the_one_rule_for_token_less_calls() {
    let mut r = Registry::default();
    let tok = add(&mut r, "a", 1, T0);
    let own = ip("10.0.0.1");
    // From its registered address no token is needed; from elsewhere only the right one works.
    r.authorize("a", None, own, T0).unwrap();
    r.authorize("a", Some(&tok), ip("10.0.0.9"), T0).unwrap();
    assert_eq!(status(r.authorize("a", None, ip("10.0.0.9"), T0)), 403);
    assert_eq!(
        status(r.authorize("a", Some(&"0".repeat(32)), ip("10.0.0.9"), T0)),
        403
    );
    assert_eq!(status(r.authorize("nobody", None, own, T0)), 404);
    assert_eq!(
        status(r.authorize("a", None, own, T0 + 90 * S)),
        404,
        "expired"
    );
}

/// A key pair for the key-proof tests, and its public key as registered.
fn key_pair(seed: u8) -> (SigningKey, String) {
    let sk = SigningKey::from_bytes(&[seed; 32]);
    let public = B64.encode(sk.verifying_key().to_bytes());
    (sk, public)
}

/// Registration of "a" at port 1 carrying `key`, signed at `ts` by `signer`.
fn signed(key: &str, signer: &SigningKey, ts: u64) -> RegisterParams {
    let mut p = params("a", 1);
    p.key = Some(key.to_string());
    let sig = signer.sign(&key_proof_payload("a", 1, key, ts));
    p.key_proof = Some(KeyProof {
        ts,
        sig: B64.encode(sig.to_bytes()),
    });
    p
}

#[test]
fn a_live_peer_id_is_taken_back_with_its_key() {
    let mut r = Registry::default();
    let (sk, key) = key_pair(7);
    let mut p = params("a", 1);
    p.key = Some(key.clone());
    let old = r.register(p, ip("10.0.0.1"), T0).unwrap().token;
    // Restarted elsewhere without its token: its key gets it a fresh session.
    let new = r
        .register(signed(&key, &sk, 5_000), ip("10.0.0.2"), T0 + S)
        .unwrap()
        .token;
    assert_ne!(new, old);
    assert_eq!(status(r.heartbeat("a", Some(&old), T0 + S)), 403);
    // The same proof again, or an older one, is a replay: refused, the session kept.
    for ts in [5_000, 4_999] {
        check(
            r.register(signed(&key, &sk, ts), ip("10.0.0.3"), T0 + 2 * S)
                .map(drop),
            Err((403, "sign with its key")),
        );
    }
    // A wrong key is refused too, and a garbled signature.
    let (wrong, _) = key_pair(8);
    check(
        r.register(signed(&key, &wrong, 6_000), ip("10.0.0.3"), T0 + 2 * S)
            .map(drop),
        Err((403, "sign with its key")),
    );
    let mut garbled = signed(&key, &sk, 6_000);
    garbled.key_proof.as_mut().unwrap().sig = "AAAA".into();
    assert_eq!(status(r.register(garbled, ip("10.0.0.3"), T0 + 2 * S)), 403);
    r.heartbeat("a", Some(&new), T0 + 2 * S).unwrap();
    // A later proof works again; a signature over another port or key does not.
    let mut moved = signed(&key, &sk, 7_000);
    moved.port = 2;
    assert_eq!(status(r.register(moved, ip("10.0.0.3"), T0 + 2 * S)), 403);
    r.register(signed(&key, &sk, 7_000), ip("10.0.0.3"), T0 + 2 * S)
        .unwrap();
}

#[test]
fn the_key_stands_for_the_token_even_when_tokens_are_required() {
    let mut strict = Registry::new(Config {
        identity: crate::identity::Rules {
            require_tokens: true,
            ..Default::default()
        },
        ..Config::default()
    });
    let (sk, key) = key_pair(9);
    let mut p = params("a", 1);
    p.key = Some(key.clone());
    strict.register(p, ip("10.0.0.1"), T0).unwrap();
    strict
        .register(signed(&key, &sk, 1), ip("10.0.0.1"), T0 + S)
        .unwrap();
    // A peer registered without a key cannot be taken back by one.
    let (other, other_key) = key_pair(10);
    let mut p = params("b", 2);
    p.key = None;
    strict.register(p, ip("10.0.0.1"), T0).unwrap();
    let mut p = signed(&other_key, &other, 1);
    p.peer_id = Some("b".into());
    assert_eq!(status(strict.register(p, ip("10.0.0.1"), T0 + S)), 403);
}

#[test]
fn key_proofs_must_be_fresh() {
    let proof = |ts| KeyProof {
        ts,
        sig: String::new(),
    };
    let now = 1_800_000_000_000;
    assert!(fresh(&proof(now), now));
    assert!(fresh(&proof(now - KEY_PROOF_WINDOW_MS), now));
    assert!(fresh(&proof(now + KEY_PROOF_WINDOW_MS), now));
    for ts in [
        now - KEY_PROOF_WINDOW_MS - 1,
        now + KEY_PROOF_WINDOW_MS + 1,
        0,
    ] {
        assert!(!fresh(&proof(ts), now), "{ts}");
    }
}
