//! Nobody can change another peer: with `--require-tokens`, every mutating call with a missing
//! or wrong token is a 403, even from the peer's own address, and the state is exactly as
//! before. (Without it a call from the peer's registered address is its own: `course.rs`.)

use crate::{get, post, register, start_with};
use serde_json::{Value, json};

const WRONG: &str = "0123456789abcdef0123456789abcdef";
const FILE_ID: &str = "62921829630f561dc99d369b703a84365667dbf7c64d74b7df5ea57bf3b93a1b";

/// Everything a client can see, to compare before and after.
fn snapshot(addr: std::net::SocketAddr) -> Value {
    let mut peers = get(addr, "/get-list").1;
    // `last_seen` ticks with the clock, not with the state.
    for p in peers["peers"].as_array_mut().unwrap() {
        p["last_seen"] = json!(null);
    }
    json!({
        "peers": peers,
        "channels": get(addr, "/channels").1,
        "files": get(addr, "/files").1,
        "file": get(addr, &format!("/files/{FILE_ID}")).1,
    })
}

#[test]
fn every_mutating_call_needs_the_peers_own_token() {
    let tracker = start_with(tracker::Config {
        identity: tracker::identity::Rules {
            require_tokens: true,
            ..Default::default()
        },
        ..tracker::Config::default()
    });
    let addr = tracker.addr;
    let (alice, alice_token) = register(addr, 5001);
    let (bob, _) = register(addr, 5002);
    let auth = |extra: Value| {
        let mut body = json!({"peer_id": alice, "token": alice_token});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let hashes = json!([
        "2850459f91fca1b8ca435e518708137a0eee63750d71056a67d700eb3d3ae9c9",
        "9413f219292fc7d0f60fcaea2a3ab7a7b73d89a938e5b9e9be040a9b7984f98e"
    ]);
    let publish = json!({"name": "hello.txt", "size": 12, "chunk_size": 8, "chunk_hashes": hashes});
    assert_eq!(
        post(addr, "/add-list", &auth(json!({"channel": "general"}))).0,
        200
    );
    assert_eq!(post(addr, "/files/publish", &auth(publish.clone())).0, 200);

    let before = snapshot(addr);
    let chunks = format!("/files/{FILE_ID}/chunks");
    let calls: Vec<(&str, Value)> = vec![
        ("/add-list", json!({"channel": "other"})),
        ("/tracker/channels/join", json!({"channel": "other"})),
        ("/tracker/channels/leave", json!({"channel": "general"})),
        ("/heartbeat", json!({})),
        ("/tracker/heartbeat", json!({})),
        ("/tracker/update", json!({"name": "mallory", "ttl": 1})),
        ("/remove", json!({})),
        ("/tracker/peer/remove", json!({})),
        ("/leave", json!({})),
        (
            "/files/publish",
            json!({"name": "evil.txt", "size": 12, "chunk_size": 8, "chunk_hashes": hashes}),
        ),
        (chunks.as_str(), json!({"chunks": [0]})),
    ];
    for (path, extra) in &calls {
        for token in [None, Some(WRONG), Some("not hex at all")] {
            for who in [&alice, &bob] {
                let mut body = json!({"peer_id": who});
                body.as_object_mut()
                    .unwrap()
                    .extend(extra.as_object().unwrap().clone());
                if let Some(token) = token {
                    body["token"] = json!(token);
                }
                let (status, answer) = post(addr, path, &body);
                assert_eq!(status, 403, "{path} {body} → {answer}");
                assert!(
                    answer["error"].as_str().unwrap().starts_with("forbidden"),
                    "{answer}"
                );
            }
        }
    }
    // A registration of alice's id from elsewhere without her token is a takeover attempt.
    let takeover = json!({"ip": "10.9.9.9", "port": 5001, "peer_id": alice});
    assert_eq!(post(addr, "/submit-info", &takeover).0, 403);
    // Heartbeat batches refuse such peers one by one and change nothing either.
    let batch = json!({"peers": [{"peer_id": alice, "token": WRONG}, {"peer_id": bob}], "ttl": 1});
    let (status, answer) = post(addr, "/tracker/heartbeat_batch", &batch);
    assert_eq!(status, 200);
    assert_eq!(answer["forbidden"], json!([alice, bob]));
    assert_eq!(snapshot(addr), before, "state changed by refused calls");
    let stats = get(addr, "/status").1;
    assert_eq!(
        (stats["peers"].clone(), stats["removals"].clone()),
        (json!(2), json!(0))
    );
}
