//! Expiry: from every index, at the right moment, without scanning, and giving memory back.

use serde_json::json;

use super::*;
use crate::{ChunkParams, HeartbeatBatch, JoinParams, ListQuery, UpdateParams};

/// `a` is in an open channel shared with `b`, alone in a key channel, sole holder of one file
/// and co-holder of another; `b` stays alive.
fn world() -> (Registry, String, String, String) {
    let mut r = Registry::default();
    let ta = add(&mut r, "a", 1, T0);
    let tb = add(&mut r, "b", 2, T0);
    let j = |id: &str, t: &str, ch: &str, key: Option<&str>| JoinParams {
        peer_id: id.into(),
        token: Some(t.into()),
        channel: ch.into(),
        key: key.map(Into::into),
    };
    r.join(j("a", &ta, "general", None), T0).unwrap();
    r.join(j("b", &tb, "general", None), T0).unwrap();
    r.join(j("a", &ta, "secret", Some("k")), T0).unwrap();
    let only_a = r
        .publish(publish_params("a", &ta, "mine", 10, 4, 1), T0)
        .unwrap()
        .file_id;
    let shared = r
        .publish(publish_params("b", &tb, "ours", 10, 4, 2), T0)
        .unwrap()
        .file_id;
    let chunks = ChunkParams {
        peer_id: "a".into(),
        token: Some(ta.clone()),
        chunks: vec![1],
    };
    r.add_chunks(&shared, chunks, T0).unwrap();
    r.heartbeat("b", Some(&tb), T0 + 80 * S).unwrap();
    (r, only_a, shared, ta)
}

#[test]
fn expiry_reaches_every_index() {
    let (mut r, only_a, shared, _) = world();
    let live = T0 + 90 * S - 1;
    let dead = T0 + 90 * S;
    let ids = |v: Vec<String>| v.join(",");
    let observe = |r: &Registry, now: u64| {
        json!({
            "list": ids(r.list(&ListQuery::default(), &Page::default(), now).items.into_iter().map(|p| p.peer_id).collect()),
            "general": ids(r.list(&ListQuery { channel: Some("general".into()), role: None }, &Page::default(), now).items.into_iter().map(|p| p.peer_id).collect()),
            "channels": r.channels(&Page::default(), now).items.into_iter().map(|c| format!("{}={}", c.name, c.members.join("+"))).collect::<Vec<_>>(),
            "files": r.files(&Page::default(), now).items.into_iter().map(|f| f.holders.join("+")).collect::<Vec<_>>(),
            "only_a": r.file(&only_a, now).map(|f| f.holders.len()).map_err(|e| e.status()),
            "shared": r.file(&shared, now).map(|f| f.holders.len()).map_err(|e| e.status()),
            "peer": r.peer("a", now).map(|p| p.peer_id).map_err(|e| e.status()),
            "lookup": r.lookup("a", now).map(|p| p.port).map_err(|e| e.status()),
            "peer_files": r.peer_files("a", now).map(|f| f.len()).map_err(|e| e.status()),
        })
    };
    let mut files = vec!["a", "a+b"];
    if shared < only_a {
        files.reverse();
    }
    assert_eq!(
        observe(&r, live),
        json!({"list": "a,b", "general": "a,b", "channels": ["general=a+b", "secret=a"], "files": files,
               "only_a": {"Ok": 1}, "shared": {"Ok": 2}, "peer": {"Ok": "a"}, "lookup": {"Ok": 1},
               "peer_files": {"Ok": 2}})
    );
    // Past the deadline every view hides `a` before any sweep ran...
    let hidden = json!({"list": "b", "general": "b", "channels": ["general=b"], "files": ["b"],
                        "only_a": {"Err": 404}, "shared": {"Ok": 1}, "peer": {"Err": 404},
                        "lookup": {"Err": 404}, "peer_files": {"Err": 404}});
    assert_eq!(observe(&r, dead), hidden);
    assert_eq!(r.peers.len(), 2, "nothing swept yet");
    // ...and the sweep removes it from every index, dropping what it alone kept alive.
    assert_eq!(r.sweep(dead), vec!["a".to_string()]);
    assert_eq!(observe(&r, dead), hidden);
    assert_eq!(r.peers.len(), 1);
    assert_eq!(
        r.channels.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
        vec!["general"]
    );
    assert_eq!(r.files.len(), 1);
    let s = r.stats(dead);
    assert_eq!((s.peers, s.channels, s.files, s.expirations), (1, 1, 1, 1));
    // A dropped key channel can be re-created by anyone.
    assert!(r.sweep(dead).is_empty());
}

#[test]
fn every_mutating_call_expires_due_peers_first() {
    type Op = fn(&mut Registry, &str, u64);
    let ops: [(&str, Op); 4] = [
        ("register", |r, _, now| {
            r.register(params("z", 9), ip("10.0.0.1"), now).unwrap();
        }),
        ("heartbeat of another", |r, _, now| {
            let _ = r.heartbeat("b", None, now);
        }),
        ("stats", |r, _, now| {
            r.stats(now);
        }),
        ("heartbeat of the expired peer", |r, t, now| {
            assert_eq!(status(r.heartbeat("a", Some(t), now)), 404);
        }),
    ];
    for (what, op) in ops {
        let (mut r, _, _, ta) = world();
        op(&mut r, &ta, T0 + 90 * S);
        assert!(!r.peers.contains_key("a"), "{what}");
        assert_eq!(r.stats(T0 + 90 * S).expirations, 1, "{what}");
    }
}

#[test]
fn heartbeats_rekey_lazily() {
    let mut r = Registry::default();
    let mut p = params("a", 1);
    p.ttl = Some(10);
    let t = r.register(p, ip("10.0.0.1"), T0).unwrap().token;
    assert_eq!(r.expiry.len(), 1);
    // Heartbeats only move last_seen: no heap traffic at all.
    for at in [3, 6, 9] {
        r.heartbeat("a", Some(&t), T0 + at * S).unwrap();
        assert_eq!(r.expiry.len(), 1);
    }
    // The original entry comes due at 10 s, finds the real deadline (19 s), re-keys once.
    assert!(r.sweep(T0 + 10 * S).is_empty());
    assert_eq!(r.expiry.len(), 1);
    assert_eq!(r.peers.get("a").unwrap().indexed_deadline_ms, T0 + 19 * S);
    assert!(r.sweep(T0 + 19 * S - 1).is_empty());
    assert_eq!(r.sweep(T0 + 19 * S), vec!["a".to_string()]);
    assert_eq!(r.expiry.len(), 0);
}

#[test]
fn shortening_the_ttl_rekeys_at_once() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    let up = UpdateParams {
        peer_id: "a".into(),
        token: Some(t.clone()),
        ttl: Some(5),
        ..Default::default()
    };
    r.update(up, T0 + S).unwrap();
    assert_eq!(
        r.expiry.len(),
        2,
        "an earlier entry for the earlier deadline"
    );
    assert_eq!(r.sweep(T0 + 6 * S), vec!["a".to_string()]);
    // The stale 90 s entry is skipped even though a new `a` now lives past it.
    let mut p = params("a", 1);
    p.ttl = Some(100);
    r.register(p, ip("10.0.0.1"), T0 + 7 * S).unwrap();
    assert!(r.sweep(T0 + 90 * S).is_empty());
    assert!(r.sweep(T0 + 107 * S - 1).is_empty());
    assert_eq!(r.sweep(T0 + 107 * S), vec!["a".to_string()]);

    // A batch that shortens the TTL re-keys too.
    let t = add(&mut r, "b", 2, T0 + 200 * S);
    let creds = vec![crate::Credentials {
        peer_id: "b".into(),
        token: Some(t),
    }];
    r.heartbeat_batch(
        HeartbeatBatch {
            peers: creds,
            ttl: Some(1),
            load: None,
            source: None,
        },
        T0 + 200 * S,
    )
    .unwrap();
    assert_eq!(r.sweep(T0 + 201 * S), vec!["b".to_string()]);
}

#[test]
fn stale_entries_never_expire_a_newer_session() {
    let mut r = Registry::default();
    let t = add(&mut r, "a", 1, T0);
    r.remove("a", Some(&t), T0 + S).unwrap();
    // Re-registered with the same deadline the old session had.
    let mut p = params("a", 1);
    p.ttl = Some(89);
    r.register(p, ip("10.0.0.1"), T0 + S).unwrap();
    assert_eq!(r.expiry.len(), 2);
    let t = r
        .register(params("a", 1), ip("10.0.0.1"), T0 + 2 * S)
        .unwrap()
        .token;
    r.heartbeat("a", Some(&t), T0 + 80 * S).unwrap();
    assert!(r.sweep(T0 + 90 * S).is_empty(), "old entries skipped");
    assert!(r.sweep(T0 + 170 * S - 1).is_empty());
    assert_eq!(r.sweep(T0 + 170 * S), vec!["a".to_string()]);
    assert_eq!(r.expiry.len(), 0);
}

/// 100,000 peers, half of them kept alive: each sweep expires exactly the right ones, and the
/// registry gives its memory back once empty.
#[test]
fn hundred_thousand_peers() {
    const N: u32 = 100_000;
    let mut r = Registry::default();
    let mut tokens = Vec::with_capacity(N as usize);
    for i in 0..N {
        let mut p = params(&format!("p{i}"), 1 + i % 60_000);
        p.channels = vec!["general".into()];
        let addr = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        tokens.push(r.register(p, addr, T0 + u64::from(i % 1000)).unwrap().token);
    }
    assert_eq!(r.stats(T0 + S).peers, u64::from(N));
    assert_eq!(
        r.channels(&Page::default(), T0 + S).items[0].members.len(),
        N as usize
    );
    for i in (0..N).step_by(2) {
        r.heartbeat(&format!("p{i}"), Some(&tokens[i as usize]), T0 + 60 * S)
            .unwrap();
    }
    assert!(r.sweep(T0 + 89 * S).is_empty());
    let mut gone = r.sweep(T0 + 91 * S);
    gone.sort();
    let mut odd: Vec<String> = (1..N).step_by(2).map(|i| format!("p{i}")).collect();
    odd.sort();
    assert_eq!(gone, odd);
    assert_eq!(r.stats(T0 + 91 * S).peers, u64::from(N / 2));
    assert!(r.peers.is_consistent());
    assert_eq!(r.sweep(T0 + 150 * S).len(), (N / 2) as usize);
    assert!(r.peers.is_empty() && r.channels.is_empty() && r.expiry.len() == 0);
    assert!(
        r.peers.capacity() < 4096,
        "peer map kept {} slots",
        r.peers.capacity()
    );
    assert!(
        r.expiry.capacity() < 4096,
        "expiry queue kept {} slots",
        r.expiry.capacity()
    );
    assert_eq!(r.stats(T0 + 150 * S).expirations, u64::from(N));
}

/// A mass expiry is counted, not spelt out: the timer's sweep keeps only a few ids for its log.
#[test]
fn a_counted_sweep_keeps_a_few_ids() {
    // Many peers from one address, as a NAT would show them.
    let mut r = Registry::new(crate::Config {
        identity: crate::identity::Rules {
            max_peers_per_ip: usize::MAX,
            ..Default::default()
        },
        ..Default::default()
    });
    assert_eq!(r.sweep_counted(T0), crate::Expired::default());
    add(&mut r, "a", 1, T0);
    let one = r.sweep_counted(T0 + 90 * S);
    assert_eq!((one.count, one.ids.as_slice()), (1, &["a".to_string()][..]));
    assert!(one.is_complete() && !one.is_empty());

    let n = crate::EXPIRED_IDS_KEPT + 100;
    for i in 0..n {
        add(&mut r, &format!("p{i}"), 1, T0 + 100 * S);
    }
    let many = r.sweep_counted(T0 + 190 * S);
    assert_eq!(many.count, n);
    assert_eq!(many.ids.len(), crate::EXPIRED_IDS_KEPT);
    assert!(!many.is_complete());
    assert!(many.ids.iter().all(|id| id.starts_with('p')));
    assert!(r.peers.is_empty());
    assert_eq!(r.stats(T0 + 190 * S).expirations, n as u64 + 1);
}

/// What the server counts to decide when to release memory: every peer record dropped, by
/// expiry, removal or re-registration, and nothing else.
#[test]
fn dropped_peers_are_counted_until_taken() {
    let mut r = Registry::default();
    let ta = add(&mut r, "a", 1, T0);
    add(&mut r, "b", 2, T0);
    add(&mut r, "c", 3, T0);
    r.heartbeat("a", Some(&ta), T0 + S).unwrap();
    assert_eq!(
        r.take_dropped(),
        0,
        "registering and heartbeats drop nothing"
    );
    r.remove("a", Some(&ta), T0 + 2 * S).unwrap();
    r.remove("a", Some(&ta), T0 + 2 * S).unwrap();
    add(&mut r, "b", 2, T0 + 3 * S);
    assert_eq!(
        r.take_dropped(),
        2,
        "one removal (the second found nothing), one re-registration"
    );
    assert_eq!(r.take_dropped(), 0);
    r.sweep_each(T0 + 200 * S, |_| {});
    assert_eq!(r.take_dropped(), 2);
}
