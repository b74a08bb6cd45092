//! Several tracker-bins on one Redis (`--store redis://…`), as real processes: one consistent
//! view whichever tracker answers (directly or behind proxy-bin's round-robin), a tracker killed
//! or restarted with nothing lost, the token rules atomic across trackers, expiry by Redis
//! itself with every tracker stopped, and a Redis outage answered with 503s and recovered from
//! without restarting the trackers.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use redis_client::Value as RedisValue;
use redis_client::testing::RedisServer;
use serde_json::{Value, json};
use test_support::process::Daemon;

use crate::identity::post_from;
use crate::{get, peer_ids, post, wait_for};

const WAIT: Duration = Duration::from_secs(20);

/// A tracker-bin on a free port with its state in `redis`; killed on drop.
struct TrackerProcess {
    _process: Daemon,
    addr: SocketAddr,
}

impl TrackerProcess {
    fn start(redis: &RedisServer, ttl: u32) -> TrackerProcess {
        TrackerProcess::start_with(redis, ttl, &[])
    }

    /// [`TrackerProcess::start`] with `extra` flags.
    fn start_with(redis: &RedisServer, ttl: u32, extra: &[&str]) -> TrackerProcess {
        let mut process = Daemon::spawn(
            Command::new(env!("CARGO_BIN_EXE_tracker-bin"))
                .args([
                    "--port",
                    "0",
                    "--ttl",
                    &ttl.to_string(),
                    "--store",
                    &redis.url(),
                    // The tests register peers at made-up addresses from loopback, more of them
                    // at once than the per-address registration rate allows.
                    "--allow-advertised-ip",
                    "--register-rate",
                    "off",
                ])
                .args(extra)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let (addr, _) = process.stderr().listening(WAIT);
        wait_for("the tracker's store to be up", WAIT, || {
            get(addr, "/tracker/health").0 == 200
        });
        TrackerProcess {
            _process: process,
            addr,
        }
    }
}

fn register(at: SocketAddr, body: Value) -> (u16, Value) {
    post(at, "/submit-info", &body)
}

fn token_of(body: &Value) -> String {
    body["token"].as_str().unwrap().to_owned()
}

#[test]
fn three_trackers_on_one_redis_serve_one_consistent_view() {
    let redis = RedisServer::start();
    let trackers: Vec<_> = (0..3).map(|_| TrackerProcess::start(&redis, 90)).collect();
    let [a, b, c] = [trackers[0].addr, trackers[1].addr, trackers[2].addr];

    // Registered on a, heartbeat on b, joins on c.
    let (status, alice) = register(a, json!({"ip": "10.0.0.1", "port": 5001, "name": "alice"}));
    assert_eq!(status, 200, "{alice}");
    let alice_id = alice["peer_id"].as_str().unwrap().to_owned();
    let token = token_of(&alice);
    let creds = json!({"peer_id": alice_id, "token": token});
    assert_eq!(
        post(b, "/heartbeat", &creds),
        (200, json!({"status": "ok", "ttl": 90}))
    );
    let join = json!({"peer_id": alice_id, "token": token, "channel": "team", "key": "s3cret"});
    let (status, joined) = post(c, "/add-list", &join);
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["members"], json!([alice_id]));
    let (status, bob) = register(
        b,
        json!({"ip": "10.0.0.2", "port": 5002, "channels": ["general"]}),
    );
    assert_eq!(status, 200, "{bob}");
    let bob_id = bob["peer_id"].as_str().unwrap().to_owned();

    // A key channel's key holds on every tracker.
    let wrong =
        json!({"peer_id": bob_id, "token": token_of(&bob), "channel": "team", "key": "nope"});
    assert_eq!(post(a, "/add-list", &wrong).0, 403);
    let missing = json!({"peer_id": bob_id, "token": token_of(&bob), "channel": "team"});
    assert_eq!(post(b, "/add-list", &missing).0, 403);

    // One answer from every tracker, directly and through proxy-bin's round-robin.
    let conf = format!(
        "host \"*\" {{\n    proxy_pass http://{a};\n    proxy_pass http://{b};\n    proxy_pass http://{c};\n    dist_policy round-robin\n}}\n"
    );
    let proxy = proxy::spawn(
        proxy::parse(&conf, "test.conf").unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let view = |at: SocketAddr| {
        let (_, list) = get(at, "/get-list");
        let (_, team) = get(at, "/get-list?channel=team");
        let (_, channels) = get(at, "/channels");
        (list, team, channels)
    };
    let expected = view(a);
    assert_eq!(
        peer_ids(a, "/get-list"),
        [alice_id.clone(), bob_id.clone()],
        "{expected:?}"
    );
    assert_eq!(
        peer_ids(a, "/get-list?channel=team"),
        std::slice::from_ref(&alice_id)
    );
    assert_eq!(
        expected.2,
        json!([
            {"name": "general", "policy": "open", "members": [bob_id]},
            {"name": "team", "policy": "key", "members": [alice_id]},
        ])
    );
    for at in [b, c, proxy.addr, proxy.addr, proxy.addr] {
        let mut got = view(at);
        // `last_seen` may tick between two views; everything else must agree.
        for list in [&mut got.0, &mut got.1] {
            for p in list["peers"].as_array_mut().unwrap() {
                p["last_seen"] = expected.0["peers"][0]["last_seen"].clone();
            }
        }
        let mut want = expected.clone();
        for list in [&mut want.0, &mut want.1] {
            for p in list["peers"].as_array_mut().unwrap() {
                p["last_seen"] = expected.0["peers"][0]["last_seen"].clone();
            }
        }
        assert_eq!(got, want, "view from {at}");
    }

    // With its token, a peer moves to another advertised address on another tracker. (Every
    // client here calls from loopback, the source alice registered from, which owns her
    // without a token too: the test at the end of this file calls from other addresses.)
    let moved = json!({"peer_id": alice_id, "ip": "10.6.6.6", "port": 6666, "token": token});
    let (status, moved) = register(b, moved);
    assert_eq!(status, 200, "{moved}");
    let (_, found) = post(a, "/connect-peer", &json!({"target": alice_id}));
    assert_eq!(
        (found["ip"].clone(), found["port"].clone()),
        (json!("10.6.6.6"), json!(6666))
    );
    // Re-registration started a fresh session: the old token is refused everywhere.
    assert_eq!(post(c, "/heartbeat", &creds).0, 403);

    let (_, stats) = get(c, "/tracker/stats");
    assert_eq!(
        (stats["peers"].clone(), stats["registrations"].clone()),
        (json!(2), json!(3))
    );
    let (_, health) = get(a, "/tracker/health");
    assert_eq!(health["store"]["kind"], "redis");
}

#[test]
fn a_tracker_killed_or_restarted_loses_nothing() {
    let redis = RedisServer::start();
    let a = TrackerProcess::start(&redis, 90);
    let b = TrackerProcess::start(&redis, 90);
    let (_, peer) = register(
        a.addr,
        json!({"ip": "10.0.0.1", "port": 5001, "channels": ["general"]}),
    );
    let creds = json!({"peer_id": peer["peer_id"], "token": peer["token"]});
    drop(a);

    // b goes on serving what a wrote.
    assert_eq!(
        peer_ids(b.addr, "/get-list?channel=general"),
        ["10.0.0.1:5001"]
    );
    assert_eq!(post(b.addr, "/heartbeat", &creds).0, 200);
    // A new tracker sees it all at once, and takes the peer's token.
    let a2 = TrackerProcess::start(&redis, 90);
    assert_eq!(
        peer_ids(a2.addr, "/get-list?channel=general"),
        ["10.0.0.1:5001"]
    );
    assert_eq!(post(a2.addr, "/heartbeat", &creds).0, 200);
    assert_eq!(post(a2.addr, "/remove", &creds).0, 200);
    assert!(peer_ids(b.addr, "/get-list").is_empty());
    let (_, channels) = get(b.addr, "/channels");
    assert_eq!(channels, json!([]));
}

#[test]
fn peers_expire_by_redis_itself_with_every_tracker_stopped() {
    let redis = RedisServer::start();
    let a = TrackerProcess::start(&redis, 1);
    let (status, peer) = register(
        a.addr,
        json!({"ip": "10.0.0.1", "port": 5001, "channels": ["general"]}),
    );
    assert_eq!(status, 200, "{peer}");
    let key = format!("{}peer:10.0.0.1:5001", tracker_redis::PREFIX);
    assert_eq!(redis.cmd(&["EXISTS", &key]), RedisValue::Int(1));
    drop(a);
    wait_for("redis to expire the peer", WAIT, || {
        redis.cmd(&["EXISTS", &key]) == RedisValue::Int(0)
    });
    let b = TrackerProcess::start(&redis, 1);
    assert!(peer_ids(b.addr, "/get-list").is_empty());
    assert!(peer_ids(b.addr, "/get-list?channel=general").is_empty());
    assert_eq!(get(b.addr, "/channels").1, json!([]));
    // The next sweep clears what the peer left in the sets.
    wait_for("the sweep to clear the channel", WAIT, || {
        redis.cmd(&["EXISTS", &format!("{}channels", tracker_redis::PREFIX)]) == RedisValue::Int(0)
    });
    let creds = json!({"peer_id": peer["peer_id"], "token": peer["token"]});
    assert_eq!(post(b.addr, "/heartbeat", &creds).0, 404);
}

#[test]
fn a_redis_outage_is_503s_then_recovery_without_restarting_the_trackers() {
    let mut redis = RedisServer::start();
    let a = TrackerProcess::start(&redis, 90);
    let (status, peer) = register(a.addr, json!({"ip": "10.0.0.1", "port": 5001}));
    assert_eq!(status, 200);
    let creds = json!({"peer_id": peer["peer_id"], "token": peer["token"]});

    redis.stop();
    wait_for("a 503 while redis is down", WAIT, || {
        register(a.addr, json!({"ip": "10.0.0.2", "port": 5002})).0 == 503
    });
    assert_eq!(post(a.addr, "/heartbeat", &creds).0, 503);
    let (status, body) = get(a.addr, "/get-list");
    assert_eq!(status, 503);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("store unavailable"),
        "{body}"
    );
    let (status, health) = get(a.addr, "/tracker/health");
    assert_eq!((status, health["ok"].clone()), (503, json!(false)));
    assert!(
        health["store"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("down"),
        "{health}"
    );

    redis.restart();
    wait_for("the tracker to reconnect", WAIT, || {
        get(a.addr, "/tracker/health").0 == 200
    });
    // This test's Redis keeps nothing across a restart (the script included: the heartbeat
    // loads it again), so the peer hears 404 and registers again, as a peer does.
    assert_eq!(post(a.addr, "/heartbeat", &creds).0, 404);
    let (status, body) = register(a.addr, json!({"ip": "10.0.0.1", "port": 5001}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(peer_ids(a.addr, "/get-list"), ["10.0.0.1:5001"]);
    let creds = json!({"peer_id": body["peer_id"], "token": body["token"]});
    assert_eq!(post(a.addr, "/heartbeat", &creds).0, 200);
}

/// Registers a peer at `ip:port` through `at` and answers `(peer_id, token)`.
fn peer_at(at: SocketAddr, ip: &str, port: u16) -> (String, String) {
    let (status, body) = register(at, json!({"ip": ip, "port": port}));
    assert_eq!(status, 200, "{body}");
    (
        body["peer_id"].as_str().unwrap().to_owned(),
        token_of(&body),
    )
}

/// The same file-sharing session against `trackers` (taken in turn), every answer recorded.
fn files_session(trackers: &[SocketAddr]) -> Vec<(u16, Value)> {
    let mut turn = trackers.iter().cycle().copied();
    let (alice, alice_token) = peer_at(turn.next().unwrap(), "10.0.0.1", 5001);
    let (bob, bob_token) = peer_at(turn.next().unwrap(), "10.0.0.2", 5002);
    let hashes: Vec<String> = (0..3).map(|i| format!("{:064x}", i + 1)).collect();
    let publish = |name: &str, size: u64, hashes: &[String]| {
        json!({"peer_id": alice, "token": alice_token, "name": name, "size": size,
               "chunk_size": 1000, "chunk_hashes": hashes})
    };
    let mut out = Vec::new();
    let mut record = |answer: (u16, Value)| out.push(answer);
    record(post(
        turn.next().unwrap(),
        "/files/publish",
        &publish("a.bin", 2500, &hashes),
    ));
    let file_id = {
        let (_, files) = get(turn.next().unwrap(), "/files");
        files[0]["file_id"].as_str().unwrap().to_owned()
    };
    let other: Vec<String> = (0..3).map(|i| format!("{:064x}", i + 7)).collect();
    // Another file under the same name: 409. The same content with another size: 409.
    record(post(
        turn.next().unwrap(),
        "/files/publish",
        &publish("a.bin", 2500, &other),
    ));
    record(post(
        turn.next().unwrap(),
        "/files/publish",
        &publish("b.bin", 2600, &hashes),
    ));
    // Too few hashes: 400; a bad hash: 400.
    record(post(
        turn.next().unwrap(),
        "/files/publish",
        &publish("c.bin", 2500, &hashes[..2]),
    ));
    let chunks = |chunks: Value| json!({"peer_id": bob, "token": bob_token, "chunks": chunks});
    let path = format!("/files/{file_id}/chunks");
    record(post(turn.next().unwrap(), &path, &chunks(json!([0, 2, 2]))));
    record(post(turn.next().unwrap(), &path, &chunks(json!([3]))));
    record(post(turn.next().unwrap(), &path, &chunks(json!([1]))));
    record(post(
        turn.next().unwrap(),
        "/files/0000/chunks",
        &chunks(json!([0])),
    ));
    let wrong = json!({"peer_id": bob, "token": "00", "chunks": [0]});
    record(post(turn.next().unwrap(), &path, &wrong));
    record(get(turn.next().unwrap(), "/files"));
    record(get(turn.next().unwrap(), &format!("/files/{file_id}")));
    record(get(turn.next().unwrap(), &format!("/peers/{alice}/files")));
    record(get(turn.next().unwrap(), &format!("/peers/{bob}/files")));
    record(get(turn.next().unwrap(), "/peers/nobody/files"));
    // Alice leaves: bob is the one holder left; bob leaves: the file is gone.
    let creds = |id: &str, token: &str| json!({"peer_id": id, "token": token});
    record(post(
        turn.next().unwrap(),
        "/remove",
        &creds(&alice, &alice_token),
    ));
    record(get(turn.next().unwrap(), &format!("/files/{file_id}")));
    record(post(
        turn.next().unwrap(),
        "/remove",
        &creds(&bob, &bob_token),
    ));
    record(get(turn.next().unwrap(), &format!("/files/{file_id}")));
    record(get(turn.next().unwrap(), "/files"));
    out
}

#[test]
fn the_file_index_in_redis_answers_as_the_memory_store_does() {
    // Like the Redis trackers, it takes the made-up addresses the session registers.
    let mut config = tracker::Config::default();
    config.identity.allow_advertised_ip = true;
    let memory = crate::start_with(config);
    let expected = files_session(&[memory.addr]);
    let redis = RedisServer::start();
    let trackers: Vec<_> = (0..2).map(|_| TrackerProcess::start(&redis, 90)).collect();
    let got = files_session(&[trackers[0].addr, trackers[1].addr]);
    assert_eq!(got.len(), expected.len());
    for (i, (got, expected)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, expected, "answer {i}");
    }
    // And the statuses are the ones the session means to provoke.
    let statuses: Vec<u16> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses,
        [
            200, 409, 409, 400, 200, 400, 200, 404, 403, 200, 200, 200, 200, 404, 200, 200, 200,
            404, 200
        ]
    );
}

/// Regression: a reply larger than one read of the Redis connection (64 KiB) used to stall
/// until the call timed out, so listing a few hundred peers failed with 503.
#[test]
fn a_listing_larger_than_one_read_comes_back_whole() {
    const PEERS: u16 = 800;
    let redis = RedisServer::start();
    let a = TrackerProcess::start(&redis, 90);
    for i in 0..PEERS {
        let body = json!({"ip": "10.1.0.1", "port": 1000 + i, "meta": {"pad": "x".repeat(100)}});
        assert_eq!(register(a.addr, body).0, 200);
    }
    let ids = peer_ids(a.addr, "/get-list");
    assert_eq!(ids.len(), usize::from(PEERS));
}

/// Pages over Redis walk ordered indexes as the memory store's do: registered on one tracker
/// and listed through another, every peer comes once and in id order at any page size, with
/// the channel and role filters applied on every page; channels and files page by their keys
/// with a `Link` to the next.
#[test]
fn pages_over_redis_walk_every_item_once_in_order() {
    const PEERS: u16 = 60;
    let redis = RedisServer::start();
    let (a, b) = (
        TrackerProcess::start(&redis, 90),
        TrackerProcess::start(&redis, 90),
    );
    let (mut all, mut general, mut seeds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut channels, mut tokens) = (Vec::new(), Vec::new());
    for i in 0..PEERS {
        let id = format!("p{i:02}");
        let channel = if i % 3 == 0 {
            "general".to_owned()
        } else {
            format!("c{i:02}")
        };
        let roles: Vec<&str> = if i % 5 == 0 { vec!["seed"] } else { vec![] };
        let body = json!({"ip": "10.1.0.1", "port": 1000 + i, "peer_id": id,
                          "channels": [channel], "roles": roles});
        let (status, answer) = register(a.addr, body);
        assert_eq!(status, 200, "{answer}");
        tokens.push(token_of(&answer));
        if i % 3 == 0 {
            general.push(id.clone());
            if i % 5 == 0 {
                seeds.push(id.clone());
            }
        } else {
            channels.push(channel);
        }
        all.push(id);
    }
    channels.push("general".to_owned());
    for limit in [1, 7, 60, 1000] {
        let first = format!("/get-list?limit={limit}");
        assert_eq!(crate::paging::walk_get(b.addr, &first), all, "{first}");
    }
    let first = "/get-list?limit=4&channel=general";
    assert_eq!(crate::paging::walk_get(b.addr, first), general);
    let first = "/tracker/peers?limit=2&channel=general&role=seed";
    assert_eq!(crate::paging::walk_get(b.addr, first), seeds);
    let walked = crate::paging::walk_links(b.addr, "/channels?limit=6", "name", 60);
    assert_eq!(walked, channels);

    let mut files = Vec::new();
    for n in 0..9u64 {
        let publish = json!({"peer_id": "p01", "token": tokens[1], "name": format!("f{n}"),
                             "size": 10, "chunk_size": 16,
                             "chunk_hashes": [format!("{:064x}", n + 1)]});
        let (status, body) = post(a.addr, "/files/publish", &publish);
        assert_eq!(status, 200, "{body}");
        files.push(body["file_id"].as_str().unwrap().to_owned());
    }
    files.sort();
    assert_eq!(
        crate::paging::walk_links(b.addr, "/files?limit=4", "file_id", 9),
        files
    );
}

#[test]
fn course_calls_name_peers_by_address_or_name_and_need_no_token_from_their_address() {
    let redis = RedisServer::start();
    let flags = ["--trusted-proxy", "127.0.0.1"];
    let a = TrackerProcess::start_with(&redis, 90, &flags);
    let b = TrackerProcess::start_with(&redis, 90, &flags);
    let course = |port: u16, name: &str| {
        let body = json!({"port": port, "username": name});
        let (status, answer) = post_from(a.addr, "10.0.0.1", "/submit-info", &body);
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let alice = course(7001, "alice");
    let alice_id = alice["peer_id"].as_str().unwrap().to_owned();
    let bob_id = course(7002, "bob")["peer_id"].as_str().unwrap().to_owned();
    // By peer_id, ip + port, username or name, with no token, from its address, on any tracker.
    for (body, channel) in [
        (json!({"peer_id": alice_id, "channel": "a"}), "a"),
        (json!({"ip": "10.0.0.1", "port": 7001, "channel": "b"}), "b"),
        (json!({"ip": "10.0.0.1", "port": "7001", "room": "c"}), "c"),
        (json!({"username": "alice", "channel": "d"}), "d"),
        (json!({"name": "alice", "room": "e"}), "e"),
    ] {
        let (status, answer) = post_from(b.addr, "10.0.0.1", "/add-list", &body);
        assert_eq!(status, 200, "{body} → {answer}");
        assert_eq!(
            peer_ids(a.addr, &format!("/list?channel={channel}")),
            [alice_id.as_str()]
        );
    }
    for body in [
        json!({"peer_id": alice_id}),
        json!({"ip": "10.0.0.1", "port": 7001}),
        json!({"username": "alice"}),
    ] {
        let (status, answer) = post_from(a.addr, "10.0.0.1", "/heartbeat", &body);
        assert_eq!(
            (status, &answer["ttl"]),
            (200, &json!(90)),
            "{body} → {answer}"
        );
        // From another address a token-less call is refused; the peer is untouched.
        let (status, answer) = post_from(b.addr, "10.0.0.9", "/heartbeat", &body);
        assert_eq!(status, 403, "{body} → {answer}");
    }
    // The batch shape: bare ids and token-less entries count from the registered source only.
    let batch = json!({"peers": [alice_id, {"peer_id": bob_id}], "load": {"cpu": 0.5}});
    let (status, answer) = post_from(b.addr, "10.0.0.1", "/tracker/heartbeat_batch", &batch);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["updated"], json!([alice_id, bob_id]), "{answer}");
    let (_, answer) = post_from(a.addr, "10.0.0.9", "/tracker/heartbeat_batch", &batch);
    assert_eq!(answer["forbidden"], json!([alice_id, bob_id]), "{answer}");
    // A presented token is still checked, by address or name too.
    let wrong = json!({"username": "alice", "token": "0".repeat(32)});
    assert_eq!(post_from(a.addr, "10.0.0.1", "/heartbeat", &wrong).0, 403);
    let right = json!({"ip": "10.0.0.1", "port": 7001, "token": alice["token"]});
    assert_eq!(post_from(b.addr, "10.0.0.9", "/heartbeat", &right).0, 200);
    // Unknown names and addresses are 404s; a renamed peer goes by its new name.
    assert_eq!(
        post_from(
            a.addr,
            "10.0.0.1",
            "/heartbeat",
            &json!({"username": "nobody"})
        )
        .0,
        404
    );
    let rename = json!({"username": "bob", "name": "robert"});
    let (status, answer) = post_from(a.addr, "10.0.0.1", "/tracker/update", &rename);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        post_from(
            b.addr,
            "10.0.0.1",
            "/heartbeat",
            &json!({"username": "bob"})
        )
        .0,
        404
    );
    let (status, found) = post(b.addr, "/connect-peer", &json!({"target": "robert"}));
    assert_eq!(
        (status, &found["peer_id"]),
        (200, &json!(bob_id)),
        "{found}"
    );
    // A name two live peers share is ambiguous.
    course(7003, "alice");
    let (status, answer) = post_from(
        a.addr,
        "10.0.0.1",
        "/heartbeat",
        &json!({"username": "alice"}),
    );
    assert_eq!(status, 400, "{answer}");
    // Leaving without a token, by address; removing twice is fine.
    let bye = json!({"ip": "10.0.0.1", "port": 7001});
    assert_eq!(post_from(b.addr, "10.0.0.1", "/remove", &bye).0, 200);
    assert_eq!(post_from(a.addr, "10.0.0.1", "/remove", &bye).0, 200);
    assert_eq!(
        peer_ids(a.addr, "/get-list"),
        ["10.0.0.1:7002", "10.0.0.1:7003"]
    );
    // The indexes go with the peer: nothing left under its address.
    let key = format!("{}by-addr", tracker_redis::PREFIX);
    assert_eq!(
        redis.cmd(&["HEXISTS", &key, "10.0.0.1:7001"]),
        RedisValue::Int(0)
    );
    let key = format!("{}by-name:alice", tracker_redis::PREFIX);
    assert_eq!(
        redis.cmd(&["SMEMBERS", &key]),
        RedisValue::Array(vec![RedisValue::Bulk(b"10.0.0.1:7003".to_vec())])
    );
}

#[test]
fn with_require_tokens_a_token_less_call_is_refused_on_redis_too() {
    let redis = RedisServer::start();
    let a = TrackerProcess::start_with(&redis, 90, &["--require-tokens"]);
    let (status, peer) = register(a.addr, json!({"ip": "127.0.0.1", "port": 7001}));
    assert_eq!(status, 200, "{peer}");
    let (status, answer) = post(
        a.addr,
        "/heartbeat",
        &json!({"ip": "127.0.0.1", "port": 7001}),
    );
    assert_eq!(status, 403, "{answer}");
    let creds = json!({"ip": "127.0.0.1", "port": 7001, "token": peer["token"]});
    assert_eq!(post(a.addr, "/heartbeat", &creds).0, 200);
}

#[test]
fn pipelined_heartbeats_each_hear_their_own_answer_and_refresh_last_seen() {
    let redis = RedisServer::start();
    let a = TrackerProcess::start(&redis, 90);
    let mut peers = Vec::new();
    for port in 5001..5004 {
        let (status, peer) = register(a.addr, json!({"ip": "10.0.0.1", "port": port}));
        assert_eq!(status, 200, "{peer}");
        peers.push(peer);
    }
    let beat = |id: &Value, token: &Value| json!({"peer_id": id, "token": token}).to_string();
    let bodies = [
        beat(&peers[0]["peer_id"], &peers[0]["token"]),
        beat(&peers[1]["peer_id"], &json!("0".repeat(32))),
        beat(&json!("nobody:1"), &peers[2]["token"]),
        json!({"peer_id": peers[2]["peer_id"]}).to_string(),
        beat(&peers[2]["peer_id"], &peers[2]["token"]),
        beat(&peers[1]["peer_id"], &peers[1]["token"]),
    ];
    // One write, answered in order (tracker-redis's own test shows heartbeats of one loop
    // turn sharing one script call).
    let request = |body: &String, last: bool| {
        let close = if last { "Connection: close\r\n" } else { "" };
        format!(
            "POST /heartbeat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{close}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let all: String = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| request(b, i + 1 == bodies.len()))
        .collect();
    // The token-less one comes from the address the peer registered from: its own.
    let expected = [200, 403, 404, 200, 200, 200];
    let answers = test_support::raw(a.addr, all.as_bytes(), WAIT);
    assert_eq!(test_support::statuses(&answers), expected, "{answers}");
    let (_, stats) = get(a.addr, "/tracker/stats");
    assert_eq!(stats["heartbeats"], json!(4));
    // The refreshed peers were seen just now.
    let (_, list) = get(a.addr, "/get-list");
    for p in list["peers"].as_array().unwrap() {
        assert_eq!(p["last_seen"], json!(0), "{p}");
    }
}

#[test]
fn the_trusted_proxy_and_the_peers_per_address_hold_across_trackers_on_redis() {
    let redis = RedisServer::start();
    let flags = ["--trusted-proxy", "127.0.0.1", "--max-peers-per-ip", "2"];
    let a = TrackerProcess::start_with(&redis, 90, &flags);
    let b = TrackerProcess::start_with(&redis, 90, &flags);
    // The source is the address the trusted proxy names: it is what the peer is listed at.
    let (status, first) = post_from(a.addr, "10.0.0.5", "/submit-info", &json!({"port": 5001}));
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["peer_id"], "10.0.0.5:5001");
    assert_eq!(first["observed_ip"], "10.0.0.5");
    let (status, _) = post_from(b.addr, "10.0.0.5", "/submit-info", &json!({"port": 5002}));
    assert_eq!(status, 200);
    // A third from that address is refused by either tracker; the count is Redis's.
    for at in [a.addr, b.addr] {
        let (status, body) = post_from(at, "10.0.0.5", "/submit-info", &json!({"port": 5003}));
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("--max-peers-per-ip")
        );
    }
    // Re-registering one of its own is not one more; another address is not affected.
    let again = json!({"port": 5001, "token": first["token"]});
    let (status, again) = post_from(b.addr, "10.0.0.5", "/submit-info", &again);
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        post_from(a.addr, "10.0.0.6", "/submit-info", &json!({"port": 5003})).0,
        200
    );
    // A peer leaving makes room.
    let bye = json!({"peer_id": "10.0.0.5:5001", "token": again["token"]});
    assert_eq!(post_from(a.addr, "10.0.0.5", "/remove", &bye).0, 200);
    assert_eq!(
        post_from(b.addr, "10.0.0.5", "/submit-info", &json!({"port": 5003})).0,
        200
    );
    // Without the trusted proxy's header the source is the connection's own (loopback, which
    // the limit exempts).
    let (_, own) = register(a.addr, json!({"ip": "127.0.0.1", "port": 5009}));
    assert_eq!(own["observed_ip"], "127.0.0.1");
}

#[test]
fn the_takeover_and_key_proof_rules_hold_across_trackers_on_redis() {
    let redis = RedisServer::start();
    let flags = ["--trusted-proxy", "127.0.0.1"];
    let a = TrackerProcess::start_with(&redis, 90, &flags);
    let b = TrackerProcess::start_with(&redis, 90, &flags);
    crate::identity::takeover_rules(a.addr);
    crate::identity::key_proof_rules(a.addr, b.addr);
}
