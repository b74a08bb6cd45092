//! The identity rules through the registry: per-address limits, advertised addresses,
//! takeovers, required tokens and keys.

use super::*;
use crate::Config;

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
