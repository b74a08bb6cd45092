//! Joining and leaving open and key channels.

use serde_json::json;

use super::*;
use crate::{JoinParams, Joined, LeaveParams};

fn join(id: &str, token: &str, channel: &str, key: Option<&str>) -> JoinParams {
    JoinParams {
        peer_id: id.into(),
        token: Some(token.into()),
        channel: channel.into(),
        key: key.map(Into::into),
    }
}

#[test]
fn join_rules() {
    let mut r = Registry::default();
    let ta = add(&mut r, "a", 1, T0);
    let tb = add(&mut r, "b", 2, T0);
    let members = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let ok = |ch: &str, m: &[&str]| {
        Ok(Joined {
            channel: ch.into(),
            members: members(m),
        })
    };
    let cases: Vec<(JoinParams, Expect<Joined>)> = vec![
        (join("a", &ta, "general", None), ok("general", &["a"])),
        // A key on an open channel is not needed and not checked.
        (
            join("b", &tb, "general", Some("whatever")),
            ok("general", &["a", "b"]),
        ),
        (join("a", &ta, "general", None), ok("general", &["a", "b"])),
        (join("a", &ta, "vip", Some("s3cret")), ok("vip", &["a"])),
        (
            join("b", &tb, "vip", Some("wrong")),
            Err((403, "wrong key for channel vip")),
        ),
        (
            join("b", &tb, "vip", None),
            Err((403, "channel vip needs a key")),
        ),
        (
            join("b", &tb, "vip", Some("")),
            Err((403, "channel vip needs a key")),
        ),
        (
            join("b", &tb, "vip", Some("s3cret")),
            ok("vip", &["a", "b"]),
        ),
        // A member re-joining a key channel still needs the key.
        (join("a", &ta, "vip", Some("nope")), Err((403, "wrong key"))),
        // An empty key creates an open channel.
        (join("a", &ta, "lobby", Some("")), ok("lobby", &["a"])),
        (join("a", &ta, "bad name", None), Err((400, "channel"))),
        (
            join("a", &ta, "", None),
            Err((400, "channel must not be empty")),
        ),
        (
            join("a", &ta, "c", Some(&"k".repeat(129))),
            Err((400, "key longer than 128")),
        ),
        (
            join("ghost", &ta, "c", None),
            Err((404, "peer ghost is not registered")),
        ),
        (join("a", &tb, "c", None), Err((403, "wrong token"))),
    ];
    for (params, expected) in cases {
        let failing = expected.is_err();
        let before = snapshot(&r);
        let label = format!("{params:?}");
        check(r.join(params, T0), expected);
        if failing {
            assert_eq!(snapshot(&r), before, "{label}");
        }
    }
    assert_eq!(
        serde_json::to_value(r.channels(&Page::default(), T0).items).unwrap(),
        json!([
            {"name": "general", "policy": "open", "members": ["a", "b"]},
            {"name": "lobby", "policy": "open", "members": ["a"]},
            {"name": "vip", "policy": "key", "members": ["a", "b"]},
        ])
    );
    let json = serde_json::to_string(&r.channels(&Page::default(), T0).items).unwrap();
    assert!(!json.contains("s3cret") && !json.contains("hash"), "{json}");
}

#[test]
fn per_peer_channel_cap() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    for i in 0..crate::limits::MAX_CHANNELS_PER_PEER {
        r.join(join("a", &t, &format!("c{i}"), None), T0).unwrap();
    }
    let before = snapshot(&r);
    check(
        r.join(join("a", &t, "one-more", None), T0).map(drop),
        Err((400, "at most 32 channels")),
    );
    assert_eq!(snapshot(&r), before);
    // Re-joining one already joined is fine at the cap.
    r.join(join("a", &t, "c0", None), T0).unwrap();
}

#[test]
fn leave_rules() {
    let mut r = Registry::default();
    let ta = add(&mut r, "a", 1, T0);
    let tb = add(&mut r, "b", 2, T0);
    r.join(join("a", &ta, "solo", Some("k")), T0).unwrap();
    r.join(join("a", &ta, "both", None), T0).unwrap();
    r.join(join("b", &tb, "both", None), T0).unwrap();
    let leave = |id: &str, t: &str, ch: &str| LeaveParams {
        peer_id: id.into(),
        token: Some(t.into()),
        channel: ch.into(),
    };
    check(r.leave(leave("a", &ta, "both"), T0), Ok(()));
    check(r.leave(leave("a", &ta, "both"), T0), Ok(()));
    check(r.leave(leave("a", &ta, "never-joined"), T0), Ok(()));
    check(
        r.leave(leave("a", &ta, "bad name"), T0),
        Err((400, "channel")),
    );
    check(
        r.leave(leave("ghost", &ta, "both"), T0),
        Err((404, "ghost")),
    );
    check(
        r.leave(leave("b", &ta, "both"), T0),
        Err((403, "wrong token")),
    );
    let names = |r: &Registry| {
        r.channels(&Page::default(), T0)
            .items
            .into_iter()
            .map(|c| (c.name, c.members))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&r),
        vec![
            ("both".into(), vec!["b".into()]),
            ("solo".into(), vec!["a".into()])
        ]
    );
    // The last member leaving drops the channel, key and all: it can be re-created open.
    r.leave(leave("a", &ta, "solo"), T0).unwrap();
    assert_eq!(names(&r), vec![("both".into(), vec!["b".into()])]);
    r.join(join("b", &tb, "solo", None), T0).unwrap();
    assert_eq!(r.peer("a", T0).unwrap().channels, Vec::<String>::new());
    assert_eq!(
        r.peer("b", T0).unwrap().channels,
        vec!["both".to_string(), "solo".to_string()]
    );
}

#[test]
fn join_and_leave_count_as_heartbeats() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    r.join(join("a", &t, "c", None), T0 + 60 * S).unwrap();
    assert!(r.sweep(T0 + 90 * S).is_empty());
    let leave = LeaveParams {
        peer_id: "a".into(),
        token: Some(t),
        channel: "c".into(),
    };
    r.leave(leave, T0 + 120 * S).unwrap();
    assert!(r.sweep(T0 + 209 * S).is_empty());
    assert_eq!(r.sweep(T0 + 210 * S), vec!["a".to_string()]);
}
