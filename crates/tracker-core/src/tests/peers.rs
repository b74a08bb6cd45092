//! Registration, heartbeats, updates, removal, listing, lookup and stats.

use serde_json::json;

use super::*;
use crate::limits::{MAX_BATCH, MAX_CHANNELS_PER_PEER};
use crate::{
    ChunkParams, Config, Credentials, HeartbeatAck, HeartbeatBatch, JoinParams, LeaveParams,
    ListQuery, PeerAddr, Registered, UpdateParams,
};

#[test]
fn register_validates_and_answers() {
    let p = |f: &dyn Fn(&mut RegisterParams)| {
        let mut p = RegisterParams {
            port: 5001,
            ..Default::default()
        };
        f(&mut p);
        p
    };
    let ok = |id: &str, ttl: u32, hb: u32| Ok((id.to_string(), ttl, hb));
    /// `(peer_id, ttl, heartbeat_interval)`.
    type Answer = (String, u32, u32);
    let cases: Vec<(RegisterParams, &str, Expect<Answer>)> = vec![
        (p(&|_| {}), "10.0.0.1", ok("10.0.0.1:5001", 90, 30)),
        (p(&|_| {}), "::1", ok("[::1]:5001", 90, 30)),
        (
            p(&|p| p.peer_id = Some("alice".into())),
            "10.0.0.1",
            ok("alice", 90, 30),
        ),
        (
            p(&|p| p.peer_id = Some("  ".into())),
            "10.0.0.1",
            ok("10.0.0.1:5001", 90, 30),
        ),
        (
            p(&|p| p.ttl = Some(10)),
            "10.0.0.1",
            ok("10.0.0.1:5001", 10, 3),
        ),
        (
            p(&|p| p.ttl = Some(2)),
            "10.0.0.1",
            ok("10.0.0.1:5001", 2, 1),
        ),
        (
            p(&|p| p.port = 65535),
            "10.0.0.1",
            ok("10.0.0.1:65535", 90, 30),
        ),
        (
            p(&|p| p.port = 0),
            "10.0.0.1",
            Err((400, "port must be in 1..=65535, got 0")),
        ),
        (p(&|p| p.port = 65536), "10.0.0.1", Err((400, "got 65536"))),
        (
            p(&|p| p.peer_id = Some("a b".into())),
            "10.0.0.1",
            Err((400, "peer_id \"a b\" has ' '")),
        ),
        (
            p(&|p| p.peer_id = Some("x".repeat(65))),
            "10.0.0.1",
            Err((400, "peer_id longer than 64")),
        ),
        (
            p(&|p| p.name = Some("n\u{7}".into())),
            "10.0.0.1",
            Err((400, "control characters")),
        ),
        (
            p(&|p| p.ttl = Some(0)),
            "10.0.0.1",
            Err((400, "ttl must be in 1..=3600")),
        ),
        (
            p(&|p| p.ttl = Some(3601)),
            "10.0.0.1",
            Err((400, "ttl must be")),
        ),
        (
            p(&|p| p.roles = vec!["r".into(); 9]),
            "10.0.0.1",
            Err((400, "more than 8 roles")),
        ),
        (
            p(&|p| p.roles = vec!["a/b".into()]),
            "10.0.0.1",
            Err((400, "role")),
        ),
        (
            p(&|p| p.meta = json!("m".repeat(600))),
            "10.0.0.1",
            Err((400, "meta is")),
        ),
        (
            p(&|p| p.channels = vec!["bad name".into()]),
            "10.0.0.1",
            Err((400, "channel")),
        ),
        (
            p(&|p| {
                p.channels = (0..=MAX_CHANNELS_PER_PEER)
                    .map(|i| format!("c{i}"))
                    .collect()
            }),
            "10.0.0.1",
            Err((400, "at most 32 channels")),
        ),
    ];
    for (params, addr, expected) in cases {
        let mut r = Registry::default();
        let got = r.register(params.clone(), ip(addr), T0).map(|ok| {
            assert_eq!(ok.token.len(), 32);
            assert!(ok.token.bytes().all(|b| b.is_ascii_hexdigit()));
            (ok.peer_id, ok.ttl, ok.heartbeat_interval)
        });
        let failed = got.is_err();
        check(got, expected);
        if failed {
            assert_eq!(
                snapshot(&r),
                snapshot(&Registry::default()),
                "{params:?} changed state"
            );
        }
    }
}

#[test]
fn register_stores_info_and_joins_open_channels() {
    let mut r = Registry::default();
    let params = RegisterParams {
        port: 5002,
        peer_id: Some("bob".into()),
        name: Some("  Bob  ".into()),
        channels: vec!["general".into(), "dev".into(), "general".into()],
        roles: vec!["admin".into()],
        meta: json!({"v": 1}),
        ttl: Some(60),
        ..Default::default()
    };
    r.register(params, ip("10.0.0.2"), T0).unwrap();
    let view = serde_json::to_value(r.peer("bob", T0 + 2500).unwrap()).unwrap();
    assert_eq!(
        view,
        json!({"peer_id": "bob", "name": "Bob", "ip": "10.0.0.2", "port": 5002,
               "channels": ["dev", "general"], "roles": ["admin"], "meta": {"v": 1}, "last_seen": 2})
    );
    let chans = serde_json::to_value(r.channels(&Page::default(), T0).items).unwrap();
    assert_eq!(
        chans,
        json!([{"name": "dev", "policy": "open", "members": ["bob"]},
               {"name": "general", "policy": "open", "members": ["bob"]}])
    );
}

#[test]
fn register_refuses_key_channels_without_changing_state() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    let join = JoinParams {
        peer_id: "a".into(),
        token: Some(t),
        channel: "vip".into(),
        key: Some("k".into()),
    };
    r.join(join, T0).unwrap();
    let before = snapshot(&r);
    let mut p = params("b", 2);
    p.channels = vec!["general".into(), "vip".into()];
    check(
        r.register(p, ip("10.0.0.1"), T0),
        Err((403, "channel vip needs a key")),
    );
    assert_eq!(snapshot(&r), before);
}

#[test]
fn advertised_ip_when_allowed() {
    let source = ip("192.168.1.7");
    let cases: [(Option<&str>, Expect<IpAddr>); 7] = [
        (None, Ok(source)),
        (Some(""), Ok(source)),
        (Some("0.0.0.0"), Ok(source)),
        (Some("::"), Ok(source)),
        (Some(" 10.1.2.3 "), Ok(ip("10.1.2.3"))),
        (Some("fe80::1"), Ok(ip("fe80::1"))),
        (
            Some("example.com"),
            Err((400, "ip \"example.com\" is not an IP address")),
        ),
    ];
    for (given, expected) in cases {
        check(
            crate::identity::advertised_ip(given, source, true),
            expected,
        );
    }
}

#[test]
fn register_params_deserialize_from_the_spec_body() {
    let p: RegisterParams = serde_json::from_value(json!({
        "port": 5001, "ip": "1.2.3.4", "peer_id": "p", "name": "n", "channels": ["general"],
        "roles": ["r"], "meta": {"a": 1}, "ttl": 30
    }))
    .unwrap();
    assert_eq!(
        (p.port, p.ttl, p.channels.len(), p.token),
        (5001, Some(30), 1, None)
    );
    let minimal: RegisterParams = serde_json::from_value(json!({"port": 5001})).unwrap();
    assert_eq!(
        minimal,
        RegisterParams {
            port: 5001,
            ..Default::default()
        }
    );
}

#[test]
fn re_registration_rules() {
    // (address of the re-registration, token presented, expected status or success)
    #[derive(Clone, Copy)]
    enum Tok {
        None,
        Right,
        Wrong,
    }
    let cases = [
        ("10.0.0.1", 1, Tok::None, None),
        ("10.0.0.1", 1, Tok::Wrong, None),
        ("10.0.0.1", 2, Tok::None, None),
        ("10.0.0.9", 1, Tok::None, Some(403)),
        ("10.0.0.9", 1, Tok::Wrong, Some(403)),
        ("10.0.0.9", 1, Tok::Right, None),
    ];
    for (addr, port, tok, expected) in cases {
        let mut r = Registry::default();
        let t = add(&mut r, "p", 1, T0);
        let j = JoinParams {
            peer_id: "p".into(),
            token: Some(t.clone()),
            channel: "c".into(),
            key: None,
        };
        r.join(j, T0).unwrap();
        r.publish(publish_params("p", &t, "f", 10, 4, 1), T0)
            .unwrap();
        let before = snapshot(&r);
        let mut p = params("p", port);
        p.token = match tok {
            Tok::None => None,
            Tok::Right => Some(t.clone()),
            Tok::Wrong => Some("0".repeat(32)),
        };
        let got = r.register(p, ip(addr), T0 + S);
        match expected {
            Some(code) => {
                assert_eq!(status(got), code);
                assert_eq!(snapshot(&r), before);
                r.heartbeat("p", Some(&t), T0 + S).unwrap();
            }
            None => {
                let new = got.unwrap().token;
                assert_ne!(new, t);
                check(
                    r.heartbeat("p", Some(&t), T0 + S).map(|_| ()),
                    Err((403, "wrong token")),
                );
                r.heartbeat("p", Some(&new), T0 + S).unwrap();
                let v = r.peer("p", T0 + S).unwrap();
                assert_eq!((v.ip, v.port), (ip(addr), port as u16));
                // A fresh session: memberships and files of the old one are gone.
                assert!(v.channels.is_empty());
                assert!(
                    r.channels(&Page::default(), T0 + S).items.is_empty()
                        && r.files(&Page::default(), T0 + S).items.is_empty()
                );
                assert_eq!(r.stats(T0 + S).registrations, 2);
            }
        }
    }
}

#[test]
fn an_expired_peer_id_is_free_for_anyone() {
    let mut r = Registry::default();
    add(&mut r, "p", 1, T0);
    let got = r
        .register(params("p", 7), ip("10.9.9.9"), T0 + 90 * S)
        .unwrap();
    assert_eq!(got.peer_id, "p");
    assert_eq!(r.stats(T0 + 90 * S).expirations, 1);
}

#[test]
fn full_registry() {
    let mut r = Registry::new(Config {
        max_peers: 2,
        default_ttl_s: 10,
        ..Config::default()
    });
    add(&mut r, "a", 1, T0);
    add(&mut r, "b", 2, T0 + 5 * S);
    check(
        r.register(params("c", 3), ip("10.0.0.1"), T0 + 5 * S),
        Err((503, "tracker is full")),
    );
    // Re-registering a known peer needs no new room.
    add(&mut r, "b", 2, T0 + 6 * S);
    // Once `a` expires there is room again.
    add(&mut r, "c", 3, T0 + 10 * S);
    assert_eq!(r.stats(T0 + 10 * S).peers, 2);
}

#[test]
fn heartbeat() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    check(
        r.heartbeat("a", Some(&t), T0 + 80 * S),
        Ok(HeartbeatAck { ttl: 90 }),
    );
    check(
        r.heartbeat("zz", Some(&t), T0),
        Err((404, "peer zz is not registered")),
    );
    check(
        r.heartbeat("a", None, T0),
        Err((403, "missing token for peer a")),
    );
    check(
        r.heartbeat("a", Some("nope"), T0),
        Err((403, "wrong token for peer a")),
    );
    // Alive until 80 + 90 s, then gone, and the heartbeat says 404 so the peer re-registers.
    assert_eq!(
        r.list(&ListQuery::default(), &Page::default(), T0 + 169 * S)
            .items
            .len(),
        1
    );
    assert!(
        r.list(&ListQuery::default(), &Page::default(), T0 + 170 * S)
            .items
            .is_empty()
    );
    check(
        r.heartbeat("a", Some(&t), T0 + 170 * S),
        Err((404, "not registered")),
    );
    assert_eq!(r.stats(T0 + 170 * S).heartbeats, 1);
}

#[test]
fn heartbeat_batch() {
    let mut r = Registry::default();
    let ta = add(&mut r, "a", 1, T0);
    let tb = add(&mut r, "b", 2, T0);
    let cred = |id: &str, t: Option<&str>| Credentials {
        peer_id: id.into(),
        token: t.map(Into::into),
    };
    let batch = HeartbeatBatch {
        peers: vec![
            cred("a", Some(&ta)),
            cred("b", Some(&ta)),
            cred("x", Some(&ta)),
            cred("b", None),
        ],
        ttl: Some(30),
        load: Some(2.5),
        source: None,
    };
    let out = r.heartbeat_batch(batch, T0 + 10 * S).unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"updated": ["a"], "not_found": ["x"], "forbidden": ["b", "b"]})
    );
    let a = r.peer("a", T0 + 10 * S).unwrap();
    assert_eq!((a.load, a.last_seen), (Some(2.5), 0));
    let b = r.peer("b", T0 + 10 * S).unwrap();
    assert_eq!((b.load, b.last_seen), (None, 10));
    // The new 30 s TTL counts from the batch: a lives to 40 s, b (untouched) to 90 s.
    assert_eq!(r.sweep(T0 + 40 * S), vec!["a".to_string()]);
    let _ = tb;

    let before = snapshot(&r);
    let bad_batches = [
        (
            HeartbeatBatch {
                peers: vec![cred("b", Some(&tb))],
                ttl: Some(0),
                load: None,
                source: None,
            },
            "ttl",
        ),
        (
            HeartbeatBatch {
                peers: vec![cred("b", Some(&tb))],
                ttl: None,
                load: Some(-1.0),
                source: None,
            },
            "load",
        ),
        (
            HeartbeatBatch {
                peers: vec![cred("b", Some(&tb)); MAX_BATCH + 1],
                ttl: None,
                load: None,
                source: None,
            },
            "batch",
        ),
    ];
    for (batch, fragment) in bad_batches {
        check(r.heartbeat_batch(batch, T0 + 40 * S), Err((400, fragment)));
        assert_eq!(snapshot(&r), before);
    }
}

#[test]
fn update() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    let up = |f: &dyn Fn(&mut UpdateParams)| {
        let mut p = UpdateParams {
            peer_id: "a".into(),
            token: Some(t.clone()),
            ..Default::default()
        };
        f(&mut p);
        p
    };
    let v = r
        .update(
            up(&|p| {
                p.name = Some("Alice".into());
                p.meta = Some(json!({"k": "v"}));
                p.load = Some(0.25);
                p.ttl = Some(20);
            }),
            T0 + S,
        )
        .unwrap();
    assert_eq!(
        (v.name.as_str(), v.meta.clone(), v.load, v.last_seen),
        ("Alice", json!({"k": "v"}), Some(0.25), 0)
    );
    // Absent fields keep their values; "" resets the name; {} clears the meta.
    let v = r.update(up(&|_| {}), T0 + 2 * S).unwrap();
    assert_eq!(
        (v.name.as_str(), v.meta.clone()),
        ("Alice", json!({"k": "v"}))
    );
    let v = r
        .update(
            up(&|p| {
                p.name = Some(String::new());
                p.meta = Some(json!({}))
            }),
            T0 + 3 * S,
        )
        .unwrap();
    assert_eq!(
        (v.name.as_str(), v.meta.clone()),
        ("a", serde_json::Value::Null)
    );

    let before = snapshot(&r);
    let bad: [(UpdateParams, (u16, &str)); 7] = [
        (up(&|p| p.ttl = Some(0)), (400, "ttl")),
        (
            up(&|p| p.meta = Some(json!("x".repeat(1000)))),
            (400, "meta"),
        ),
        (up(&|p| p.load = Some(f64::INFINITY)), (400, "load")),
        (up(&|p| p.name = Some("x".repeat(65))), (400, "name")),
        (up(&|p| p.token = None), (403, "missing token")),
        (
            up(&|p| {
                p.token = Some("f".repeat(32));
                p.ttl = Some(0)
            }),
            (403, "wrong token"),
        ),
        (up(&|p| p.peer_id = "ghost".into()), (404, "ghost")),
    ];
    for (params, expected) in bad {
        check(r.update(params, T0 + 4 * S).map(|_| ()), Err(expected));
        assert_eq!(snapshot(&r), before);
    }
    // The 20 s TTL set above counts from the last update at 3 s.
    assert!(r.sweep(T0 + 22 * S).is_empty());
    assert_eq!(r.sweep(T0 + 23 * S), vec!["a".to_string()]);
}

#[test]
fn remove() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    let tb = add(&mut r, "b", 2, T0);
    r.join(
        JoinParams {
            peer_id: "a".into(),
            token: Some(t.clone()),
            channel: "c".into(),
            key: None,
        },
        T0,
    )
    .unwrap();
    r.join(
        JoinParams {
            peer_id: "b".into(),
            token: Some(tb.clone()),
            channel: "c".into(),
            key: None,
        },
        T0,
    )
    .unwrap();
    r.publish(publish_params("a", &t, "f", 10, 4, 1), T0)
        .unwrap();
    check(r.remove("a", None, T0), Err((403, "missing token")));
    check(r.remove("a", Some(&tb), T0), Err((403, "wrong token")));
    check(r.remove("a", Some(&t), T0), Ok(()));
    check(r.remove("a", Some(&t), T0), Ok(()));
    check(r.remove("never", None, T0), Ok(()));
    assert_eq!(
        r.channels(&Page::default(), T0).items[0].members,
        vec!["b".to_string()]
    );
    assert!(r.files(&Page::default(), T0).items.is_empty());
    check(r.lookup("a", T0), Err((404, "peer a is not registered")));
    let s = r.stats(T0);
    assert_eq!((s.peers, s.channels, s.files, s.removals), (1, 1, 0, 1));
}

#[test]
fn list_filters() {
    let mut r = Registry::default();
    let reg = |r: &mut Registry, id: &str, chans: &[&str], roles: &[&str]| {
        let mut p = params(id, 1);
        p.channels = chans.iter().map(|s| s.to_string()).collect();
        p.roles = roles.iter().map(|s| s.to_string()).collect();
        r.register(p, ip("10.0.0.1"), T0).unwrap();
    };
    reg(&mut r, "c", &["general"], &["bot"]);
    reg(&mut r, "a", &["general", "dev"], &[]);
    reg(&mut r, "b", &["dev"], &["bot", "admin"]);
    let q = |channel: Option<&str>, role: Option<&str>| ListQuery {
        channel: channel.map(Into::into),
        role: role.map(Into::into),
    };
    let cases: [(ListQuery, &[&str]); 8] = [
        (q(None, None), &["a", "b", "c"]),
        (q(Some(""), Some("")), &["a", "b", "c"]),
        (q(Some("general"), None), &["a", "c"]),
        (q(Some("dev"), None), &["a", "b"]),
        (q(None, Some("bot")), &["b", "c"]),
        (q(Some("dev"), Some("bot")), &["b"]),
        (q(Some("nowhere"), None), &[]),
        (q(None, Some("nobody")), &[]),
    ];
    for (query, expected) in cases {
        let ids: Vec<String> = r
            .list(&query, &Page::default(), T0)
            .items
            .into_iter()
            .map(|v| v.peer_id)
            .collect();
        assert_eq!(ids, expected, "{query:?}");
    }
    let json =
        serde_json::to_string(&r.list(&ListQuery::default(), &Page::default(), T0).items).unwrap();
    assert!(!json.contains("token"), "{json}");
    let q: ListQuery = serde_json::from_value(json!({"channel": "dev"})).unwrap();
    assert_eq!(r.list(&q, &Page::default(), T0).items.len(), 2);
}

#[test]
fn lookup() {
    let mut r = Registry::default();
    r.register(params("a", 4242), ip("10.1.1.1"), T0).unwrap();
    let got = r.lookup("a", T0).unwrap();
    assert_eq!(
        got,
        PeerAddr {
            peer_id: "a".into(),
            ip: ip("10.1.1.1"),
            port: 4242
        }
    );
    assert_eq!(
        serde_json::to_value(got).unwrap(),
        json!({"peer_id": "a", "ip": "10.1.1.1", "port": 4242})
    );
    check(r.lookup("b", T0), Err((404, "peer b is not registered")));
    check(
        r.lookup("a", T0 + 90 * S),
        Err((404, "peer a is not registered")),
    );
}

#[test]
fn stats_shape() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    r.heartbeat("a", Some(&t), T0).unwrap();
    r.join(
        JoinParams {
            peer_id: "a".into(),
            token: Some(t.clone()),
            channel: "c".into(),
            key: None,
        },
        T0,
    )
    .unwrap();
    r.publish(publish_params("a", &t, "f", 1, 1, 1), T0)
        .unwrap();
    assert_eq!(
        serde_json::to_value(r.stats(T0)).unwrap(),
        json!({"peers": 1, "channels": 1, "files": 1, "registrations": 1, "heartbeats": 1,
               "removals": 0, "expirations": 0})
    );
}

#[test]
fn registered_shape() {
    let r = Registered {
        peer_id: "p".into(),
        token: "t".into(),
        ttl: 90,
        heartbeat_interval: 30,
    };
    assert_eq!(
        serde_json::to_value(r).unwrap(),
        json!({"peer_id": "p", "token": "t", "ttl": 90, "heartbeat_interval": 30})
    );
}

/// Every mutating call with a missing or wrong token is refused with 403 and leaves the state
/// exactly as it was (including `last_seen` and the holder's token).
#[test]
fn forbidden_without_the_right_token() {
    let mut r = Registry::default();
    let ta = add(&mut r, "a", 1, T0);
    let tb = add(&mut r, "b", 2, T0);
    r.join(
        JoinParams {
            peer_id: "a".into(),
            token: Some(ta.clone()),
            channel: "c".into(),
            key: None,
        },
        T0,
    )
    .unwrap();
    let file = r
        .publish(publish_params("a", &ta, "f", 10, 4, 1), T0)
        .unwrap()
        .file_id;
    let before = snapshot(&r);
    let now = T0 + 5 * S;
    for token in [None, Some(tb.as_str()), Some(""), Some("not hex at all")] {
        let tok = token.map(str::to_string);
        let calls: Vec<(&str, Result<()>)> = vec![
            ("heartbeat", r.heartbeat("a", token, now).map(drop)),
            (
                "update",
                r.update(
                    UpdateParams {
                        peer_id: "a".into(),
                        token: tok.clone(),
                        ttl: Some(5),
                        ..Default::default()
                    },
                    now,
                )
                .map(drop),
            ),
            ("remove", r.remove("a", token, now)),
            (
                "join",
                r.join(
                    JoinParams {
                        peer_id: "a".into(),
                        token: tok.clone(),
                        channel: "d".into(),
                        key: None,
                    },
                    now,
                )
                .map(drop),
            ),
            (
                "leave",
                r.leave(
                    LeaveParams {
                        peer_id: "a".into(),
                        token: tok.clone(),
                        channel: "c".into(),
                    },
                    now,
                ),
            ),
            (
                "publish",
                r.publish(
                    PublishParams {
                        token: tok.clone(),
                        ..publish_params("a", "", "g", 10, 4, 2)
                    },
                    now,
                )
                .map(drop),
            ),
            (
                "add_chunks",
                r.add_chunks(
                    &file,
                    ChunkParams {
                        peer_id: "a".into(),
                        token: tok.clone(),
                        chunks: vec![0],
                    },
                    now,
                )
                .map(drop),
            ),
            (
                "register elsewhere",
                r.register(
                    RegisterParams {
                        token: tok.clone(),
                        ..params("a", 9)
                    },
                    ip("10.0.0.2"),
                    now,
                )
                .map(drop),
            ),
        ];
        for (what, got) in calls {
            assert_eq!(status(got), 403, "{what} with {token:?}");
            assert_eq!(snapshot(&r), before, "{what} with {token:?} changed state");
        }
        let batch = HeartbeatBatch {
            peers: vec![Credentials {
                peer_id: "a".into(),
                token: tok.clone(),
            }],
            ttl: Some(5),
            load: None,
            source: None,
        };
        assert_eq!(
            r.heartbeat_batch(batch, now).unwrap().forbidden,
            vec!["a".to_string()]
        );
        assert_eq!(snapshot(&r), before);
    }
    r.heartbeat("a", Some(&ta), now).unwrap();
}
