//! The course's curl sequence, as written in the assignment, and expiry within TTL + 1 s.

use crate::{get, peer_ids, post, register, send, start, start_default, wait_for};
use http_core::Method;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long a wait on the tracker's timers may take before the test calls it a hang.
const HANG_GUARD: Duration = Duration::from_secs(30);

#[test]
fn the_course_sequence_works_as_written() {
    let tracker = start_default();
    let addr = tracker.addr;
    // `curl -X POST .../submit-info/ -d '{...}'`: curl labels it a form; it is still JSON.
    let response = send(
        addr,
        Method::Post,
        "/submit-info/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        br#"{"ip":"127.0.0.1","port":5001}"#,
    );
    assert_eq!(response.status.code(), 200);
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["peer_id"], "127.0.0.1:5001");
    assert_eq!(body["heartbeat_interval"], 30);
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);

    assert_eq!(peer_ids(addr, "/get-list/"), ["127.0.0.1:5001"]);
    let (other, _) = register(addr, 5002);

    let join = json!({"peer_id": "127.0.0.1:5001", "token": token, "channel": "general"});
    let (status, body) = post(addr, "/add-list/", &join);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "ok", "channel": "general", "members": ["127.0.0.1:5001"]})
    );
    assert_eq!(
        peer_ids(addr, "/get-list?channel=general"),
        ["127.0.0.1:5001"]
    );
    assert_eq!(
        peer_ids(addr, "/get-list?channel=nothing"),
        Vec::<String>::new()
    );
    assert_eq!(
        peer_ids(addr, "/get-list"),
        ["127.0.0.1:5001", other.as_str()]
    );

    let beat = json!({"peer_id": "127.0.0.1:5001", "token": token});
    let (status, body) = post(addr, "/heartbeat/", &beat);
    assert_eq!((status, body), (200, json!({"status": "ok", "ttl": 90})));

    let (status, body) = post(addr, "/remove/", &beat);
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    assert_eq!(peer_ids(addr, "/get-list"), [other.as_str()]);
    let (status, body) = get(addr, "/channels");
    assert_eq!(
        (status, body),
        (200, json!([])),
        "the emptied channel is dropped"
    );
    let (status, _) = post(addr, "/remove/", &beat);
    assert_eq!(status, 200, "removing again is harmless");
    let (status, _) = post(addr, "/heartbeat/", &beat);
    assert_eq!(status, 404, "a removed peer must register again");
}

#[test]
fn bad_ports_are_refused() {
    let tracker = start_default();
    for body in [
        json!({"ip": "127.0.0.1"}),
        json!({"ip": "127.0.0.1", "port": 0}),
        json!({"ip": "127.0.0.1", "port": 70000}),
        json!({"ip": "127.0.0.1", "port": -1}),
        json!({"ip": "127.0.0.1", "port": "5001x"}),
        json!({"ip": "not-an-ip", "port": 5001}),
    ] {
        let (status, answer) = post(tracker.addr, "/submit-info", &body);
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(peer_ids(tracker.addr, "/get-list"), Vec::<String>::new());
}

#[test]
fn the_course_form_and_the_source_address() {
    let tracker = start_default();
    let form = |body: &str| {
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        let response = send(
            tracker.addr,
            Method::Post,
            "/submit-info",
            &headers,
            body.as_bytes(),
        );
        let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        (response.status.code(), value)
    };
    let (status, body) = form("peer_ip=0.0.0.0&peer_port=5003&username=carol&channels=a,b");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["peer_id"], "127.0.0.1:5003");
    let (status, body) = form("peer_port=70000");
    assert_eq!(status, 400, "{body}");
    let (status, body) = form("peer_port=many");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("port must be a whole number, got \"many\""))
    );
    let (status, body) = post(tracker.addr, "/submit-info", &json!({"port": 5004}));
    assert_eq!(
        (status, body["peer_id"].as_str()),
        (200, Some("127.0.0.1:5004"))
    );
    let (_, list) = get(tracker.addr, "/get-list?channel=b");
    assert_eq!(list["peers"][0]["name"], "carol");
    assert_eq!(list["peers"][0]["channels"], json!(["a", "b"]));
}

#[test]
fn a_silent_peer_is_gone_from_every_list_after_its_ttl() {
    let tracker = start(2, 1000);
    let addr = tracker.addr;
    let (quiet, quiet_token) = register(addr, 6001);
    let (alive, alive_token) = register(addr, 6002);
    for (id, token) in [(&quiet, &quiet_token), (&alive, &alive_token)] {
        let join = json!({"peer_id": id, "token": token, "channel": "room"});
        assert_eq!(post(addr, "/add-list", &join).0, 200);
    }
    let registered = Instant::now();
    let beat = json!({"peer_id": alive, "token": alive_token});
    // The live peer heartbeats every 200 ms (well inside its TTL) while the list is polled.
    // The deadlines only catch a hang: how soon the sweep runs is not a wall-clock bound to
    // assert on a busy machine; "not before its TTL" is.
    let mut last_beat: Option<Instant> = None;
    wait_for("the silent peer to expire", HANG_GUARD, || {
        if last_beat.is_none_or(|at| at.elapsed() >= Duration::from_millis(200)) {
            assert_eq!(
                post(addr, "/heartbeat", &beat).0,
                200,
                "heartbeats keep a peer"
            );
            last_beat = Some(Instant::now());
        }
        peer_ids(addr, "/get-list") == [alive.as_str()]
    });
    assert!(
        registered.elapsed() >= Duration::from_millis(1900),
        "not before its TTL"
    );
    assert_eq!(peer_ids(addr, "/get-list?channel=room"), [alive.as_str()]);
    let (_, channels) = get(addr, "/channels");
    assert_eq!(
        channels,
        json!([{"name": "room", "policy": "open", "members": [alive]}])
    );
    // The timer sweep, not a read, removes it: the expiry is counted without any mutating call.
    wait_for("the sweep to count it", HANG_GUARD, || {
        get(addr, "/status").1["expirations"] == 1
    });
    let (status, _) = post(
        addr,
        "/heartbeat",
        &json!({"peer_id": quiet, "token": quiet_token}),
    );
    assert_eq!(status, 404, "an expired peer must register again");
}

/// Registers `name` at `port` from 127.0.0.1 the course's way (no token kept).
fn course_register(addr: std::net::SocketAddr, port: u16, name: &str) -> String {
    let body = json!({"ip": "127.0.0.1", "port": port, "username": name});
    let (status, answer) = post(addr, "/submit-info", &body);
    assert_eq!(status, 200, "{answer}");
    answer["peer_id"].as_str().unwrap().to_owned()
}

#[test]
fn every_spelling_of_peer_target_and_channel_is_accepted() {
    let tracker = start_default();
    let addr = tracker.addr;
    let alice = course_register(addr, 7001, "alice");
    let bob = course_register(addr, 7002, "bob");
    // A peer by peer_id, ip + port, username or name; a channel by channel or room; no token.
    for (body, channel) in [
        (json!({"peer_id": alice, "channel": "a"}), "a"),
        (
            json!({"ip": "127.0.0.1", "port": 7001, "channel": "b"}),
            "b",
        ),
        (json!({"ip": "127.0.0.1", "port": "7001", "room": "c"}), "c"),
        (json!({"username": "alice", "channel": "d"}), "d"),
        (json!({"name": "alice", "room": "e", "extra": [1]}), "e"),
    ] {
        let (status, answer) = post(addr, "/add-list", &body);
        assert_eq!(status, 200, "{body} → {answer}");
        assert_eq!(
            peer_ids(addr, &format!("/list?channel={channel}")),
            [alice.as_str()]
        );
    }
    // A target by target, to, target_username, to_peer_id or peer; by id or unique name.
    for body in [
        json!({"peer_id": alice, "target": bob}),
        json!({"peer_id": alice, "to": "bob"}),
        json!({"username": "alice", "target_username": "bob"}),
        json!({"to_peer_id": bob}),
        json!({"peer": "bob"}),
    ] {
        let (status, answer) = post(addr, "/connect-peer", &body);
        assert_eq!(status, 200, "{body} → {answer}");
        assert_eq!(
            (answer["peer_id"].as_str(), answer["port"].as_u64()),
            (Some(bob.as_str()), Some(7002))
        );
    }
    // Bodies that name nothing are refused with the fields that would have worked.
    let (status, answer) = post(addr, "/add-list", &json!({"channel": "x"}));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("ip and port"),
        "{answer}"
    );
    let (status, answer) = post(addr, "/connect-peer", &json!({"who": "bob"}));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("target_username"),
        "{answer}"
    );
    // A name two peers share is ambiguous.
    course_register(addr, 7003, "bob");
    let (status, answer) = post(addr, "/heartbeat", &json!({"username": "bob"}));
    assert_eq!(status, 400, "{answer}");
    // The aliases of registration: PUT, /submit_info, a JSON body with no Content-Type.
    let (status, answer) = parse_send(send(
        addr,
        Method::Put,
        "/submit_info",
        &[],
        br#"{"port": 7004, "username": "dave"}"#,
    ));
    assert_eq!(
        (status, answer["peer_id"].as_str()),
        (200, Some("127.0.0.1:7004"))
    );
    // /login reads a JSON body without a Content-Type too (one body rule for every daemon).
    let login = br#"{"username": "admin", "password": "password"}"#;
    let (status, answer) = parse_send(send(addr, Method::Post, "/login", &[], login));
    assert_eq!(
        (status, answer["user"].as_str()),
        (200, Some("admin")),
        "{answer}"
    );
}

fn parse_send(response: reactor::client::ClientResponse) -> (u16, serde_json::Value) {
    let value = serde_json::from_slice(&response.body).unwrap();
    (response.status.code(), value)
}

#[test]
fn a_token_less_peer_stays_listed_while_it_heartbeats_and_leaves_when_it_asks() {
    // The registry's clock is read at offsets, so the TTL only has to outlast the test.
    const TTL_MS: u64 = 60_000;
    let tracker = start(60, 1000);
    let addr = tracker.addr;
    let clock = &tracker.tracker;
    let id = course_register(addr, 7101, "carol");
    // Registered (or last heartbeat) no later than this, so its deadline is at most
    // `seen_by + TTL_MS`.
    let mut seen_by = clock.now();
    let spellings = [
        json!({"peer_id": id}),
        json!({"ip": "127.0.0.1", "port": 7101}),
        json!({"username": "carol"}),
    ];
    for body in spellings {
        // A heartbeat strictly later than the last one: the deadline it gives is later too.
        wait_for(
            "the tracker's clock to tick",
            Duration::from_secs(10),
            || clock.now() > seen_by,
        );
        let before = clock.now();
        let (status, answer) = post(addr, "/heartbeat", &body);
        assert_eq!(status, 200, "{body} → {answer}");
        let after = clock.now();
        clock.with(|reg, _| {
            // Without a token, the heartbeat moved its deadline: it is live past the one the
            // last beat gave, and still for one TTL only.
            assert!(reg.peer(&id, before - 1 + TTL_MS).is_ok(), "{body}");
            assert!(reg.peer(&id, after + TTL_MS).is_err(), "{body}");
        });
        assert_eq!(peer_ids(addr, "/get-list"), [id.as_str()]);
        seen_by = after;
    }
    // The batch shape with a load object, with bare ids.
    let batch = json!({"peers": [id], "load": {"cpu": 0.25, "mem": 0.5}});
    let (status, answer) = post(addr, "/tracker/heartbeat_batch", &batch);
    assert_eq!(
        (status, &answer["updated"]),
        (200, &json!([id])),
        "{answer}"
    );
    let update = json!({"username": "carol", "load": {"cpu": 0.75}});
    let (status, answer) = post(addr, "/tracker/update", &update);
    assert_eq!((status, &answer["load"]), (200, &json!(0.75)), "{answer}");
    let (status, _) = post(addr, "/remove", &json!({"username": "carol"}));
    assert_eq!(status, 200);
    assert_eq!(peer_ids(addr, "/list"), Vec::<String>::new());
}
