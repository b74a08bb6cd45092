//! A course-style peer, written here as the assignment's clients are: it registers at our
//! tracker without keeping a token, heartbeats by address, and posts `/broadcast-peer` and
//! `/send-peer` to our peer in its own spellings. Its messages land in the right channel or
//! direct thread, once, marked unverified, and survive a restart. And the other way: a course
//! peer that refuses our link upgrade gets our broadcasts and direct messages over its HTTP.

use crate::{call, call_with, peer, read_until, tempdir, tracker, wait_for};
use http_core::Method;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `POST path` with a JSON body as a course client sends it (no Content-Type, no token).
fn course_post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = test_support::send(addr, Method::Post, path, &[], &bytes);
    let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status.code(), value)
}

/// Registers a course peer at `addr` named `name` in `general`, the course's way; answers its id.
fn register_course_peer(tracker: SocketAddr, addr: SocketAddr, name: &str) -> String {
    let course = json!({"ip": "127.0.0.1", "port": addr.port(), "username": name});
    let (status, reg) = course_post(tracker, "/submit-info", &course);
    assert_eq!(status, 200, "{reg}");
    let join = json!({"username": name, "room": "general"});
    assert_eq!(course_post(tracker, "/add-list", &join).0, 200);
    reg["peer_id"].as_str().unwrap().to_owned()
}

/// The messages at `target` (a channel's or a direct thread's) as `(name, text, unverified)`.
fn shown(addr: SocketAddr, target: &str) -> Vec<(String, String, bool)> {
    let (status, body) = call(addr, Method::Get, target, None);
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
                m["unverified"] == json!(true),
            )
        })
        .collect()
}

const GENERAL: &str = "/api/channels/general/messages?limit=500";

#[test]
fn a_course_peer_registers_and_its_messages_are_shown_in_channel_and_thread() {
    let dir = tempdir("course-peer");
    let tracker = tracker(30);
    let ours = peer("alice", Some(tracker.addr), dir.path());
    let us = ours.addr();
    wait_for("alice to register", Duration::from_secs(10), || {
        ours.node.tracker_status().registered
    });
    // The course peer registers and heartbeats the course's way: by name, without a token.
    let course = json!({"ip": "127.0.0.1", "port": 7301, "username": "carol"});
    let (status, reg) = course_post(tracker.addr, "/submit-info", &course);
    assert_eq!(status, 200, "{reg}");
    let carol = reg["peer_id"].as_str().unwrap().to_owned();
    let join = json!({"username": "carol", "channel": "general"});
    assert_eq!(course_post(tracker.addr, "/add-list", &join).0, 200);
    assert_eq!(
        course_post(tracker.addr, "/heartbeat", &json!({"username": "carol"})).0,
        200
    );

    // Its broadcast and direct message, in spellings other than ours, twice (a retry).
    let broadcast = json!({"from": carol, "name": "Carol", "message": "hello all", "room": "general", "timestamp": 1_700_000_000});
    let direct =
        json!({"from": carol, "name": "Carol", "content": "just you", "timestamp": "1700000001"});
    for _ in 0..2 {
        let (status, body) = course_post(us, "/broadcast-peer", &broadcast);
        assert_eq!(
            (status, &body["status"]),
            (200, &json!("received")),
            "{body}"
        );
        let (status, body) = course_post(us, "/send-peer", &direct);
        assert_eq!(
            (status, &body["status"]),
            (200, &json!("received")),
            "{body}"
        );
    }
    let carol_said = |text: &str| ("Carol".to_owned(), text.to_owned(), true);
    assert_eq!(shown(us, GENERAL), [carol_said("hello all")]);
    let thread = format!("/api/direct/{carol}");
    assert_eq!(shown(us, &thread), [carol_said("just you")]);

    // A body whose text is in no known spelling is refused, naming the spellings.
    let (status, body) = course_post(us, "/send-peer", &json!({"from": carol, "body": "x"}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("content"),
        "{body}"
    );
    // A broadcast to a channel we are not in is refused, not silently dropped.
    let elsewhere = json!({"from": carol, "msg": "x", "channel": "random"});
    assert_eq!(course_post(us, "/broadcast-peer", &elsewhere).0, 403);

    // The local user's sends take the same spellings.
    let own = json!({"content": "mine", "room": "general"});
    let (status, body) = call(us, Method::Post, "/p2p/msg", Some(own));
    assert_eq!(body["message"]["text"], "mine");
    // No link carries it (carol is a course peer, listening nowhere): never a plain "sent".
    assert_eq!(status, 202, "{body}");
    assert!(
        body["status"] == "queued" || body["status"] == "stored",
        "{body}"
    );

    // Persisted like any other message: a restarted peer shows them again.
    drop(ours);
    let again = peer("alice", None, dir.path());
    let mine = ("alice".to_owned(), "mine".to_owned(), false);
    assert_eq!(
        shown(again.addr(), GENERAL),
        [carol_said("hello all"), mine]
    );
    let (status, _) = call_with(again.addr(), Method::Get, "/api/channels", None, &[]);
    assert_eq!(status, 401, "the local API still needs the user's token");
}

/// What the course-style peer was sent: `(method, path, JSON body)`.
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A minimal course-style peer: a blocking HTTP server that records every request, refuses
/// the link upgrade with 404 as the course's skeleton does, and answers POSTs with
/// `post_status` and `{"status":"received"}`. It serves until the test ends (the listener thread is detached and
/// its accept loop bounded by a deadline).
fn course_peer(post_status: &'static str) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => serve_one(stream, &record, post_status),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        }
    });
    (addr, seen)
}

/// Reads one request (head, then a Content-Length body), records it and answers it.
fn serve_one(mut stream: TcpStream, seen: &Seen, post_status: &str) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let head = read_until(&mut stream, b"\r\n\r\n", Duration::from_secs(5));
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let (method, path) = (
        first.next().unwrap_or_default(),
        first.next().unwrap_or_default(),
    );
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    let _ = stream.read_exact(&mut body);
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock()
        .unwrap()
        .push((method.to_owned(), path.to_owned(), json));
    let (status, body) = if method == "POST" {
        (post_status, r#"{"status":"received"}"#)
    } else {
        ("404 Not Found", r#"{"error":"not found"}"#)
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes());
}

#[test]
fn our_broadcasts_and_direct_messages_reach_a_course_peer_over_its_http() {
    let dir = tempdir("course-out");
    let tracker = tracker(3);
    let (course_addr, seen) = course_peer("200 OK");
    // The course peer registers at its real address and joins general, the course's way.
    let dave = register_course_peer(tracker.addr, course_addr, "dave");

    let ours = peer("alice", Some(tracker.addr), dir.path());
    let us = ours.addr();
    // Alice dials dave from the member list; dave refuses the upgrade, so he is a course peer.
    let asked = |path: &str| {
        let seen = seen.lock().unwrap();
        seen.iter()
            .filter(|(_, p, _)| p.starts_with(path))
            .cloned()
            .collect::<Vec<_>>()
    };
    wait_for(
        "alice to try a link to dave",
        Duration::from_secs(10),
        || !asked("/p2p/link").is_empty(),
    );
    // The link attempt is answered before alice files dave as a course peer: post until the
    // broadcast arrives (each post is a new message, so count only that they arrive).
    let mut posts = 0;
    wait_for("a broadcast to reach dave", Duration::from_secs(10), || {
        if posts < 20 {
            posts += 1;
            let body = json!({"text": format!("hello dave {posts}")});
            let (status, _) = call(
                us,
                Method::Post,
                "/api/channels/general/messages",
                Some(body),
            );
            assert_eq!(status, 201);
        }
        !asked("/broadcast-peer").is_empty()
    });
    let (_, _, broadcast) = asked("/broadcast-peer").remove(0);
    assert_eq!(broadcast["from"], json!(ours.node.peer_id()));
    assert_eq!(broadcast["name"], "alice");
    assert_eq!(broadcast["channel"], "general");
    assert_eq!(broadcast["msg"], broadcast["message"]);
    assert!(
        broadcast["msg"].as_str().unwrap().starts_with("hello dave"),
        "{broadcast}"
    );
    assert!(broadcast["timestamp"].is_u64(), "{broadcast}");

    let direct = json!({"text": "only for dave"});
    let (status, _) = call(
        us,
        Method::Post,
        &format!("/api/direct/{dave}"),
        Some(direct),
    );
    assert_eq!(status, 201);
    wait_for(
        "the direct message to reach dave",
        Duration::from_secs(10),
        || !asked("/send-peer").is_empty(),
    );
    let (_, _, dm) = asked("/send-peer").remove(0);
    assert_eq!(
        (dm["msg"].as_str(), dm["channel"].as_str()),
        (Some("only for dave"), Some("direct"))
    );

    // And dave's answer comes back into alice's thread with him.
    let reply =
        json!({"from": dave, "name": "Dave", "msg": "hi alice", "timestamp": 1_700_000_002});
    assert_eq!(course_post(us, "/send-peer", &reply).0, 200);
    let thread = shown(us, &format!("/api/direct/{dave}"));
    assert!(
        thread.contains(&("Dave".to_owned(), "hi alice".to_owned(), true)),
        "{thread:?}"
    );
}

#[test]
fn a_delivery_that_keeps_failing_is_retried_then_reported() {
    let dir = tempdir("course-fail");
    let tracker = tracker(3);
    let (course_addr, seen) = course_peer("503 Service Unavailable");
    let erin = register_course_peer(tracker.addr, course_addr, "erin");
    let ours = peer("alice", Some(tracker.addr), dir.path());
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    ours.node.subscribe(Box::new(move |event: &p2p::UiEvent| {
        if let p2p::UiEvent::Undelivered { peer_id, error, .. } = event {
            sink.lock().unwrap().push((peer_id.clone(), error.clone()));
        }
        true
    }));
    wait_for(
        "alice to try a link to erin",
        Duration::from_secs(10),
        || {
            seen.lock()
                .unwrap()
                .iter()
                .any(|(_, p, _)| p == "/p2p/link")
        },
    );
    // Post until one is handed to the courier (the first may precede erin's filing).
    let mut posts = 0;
    wait_for(
        "the failure to be reported",
        Duration::from_secs(20),
        || {
            if posts < 10 {
                posts += 1;
                let body = json!({"text": format!("anyone? {posts}")});
                call(
                    ours.addr(),
                    Method::Post,
                    "/api/channels/general/messages",
                    Some(body),
                );
            }
            !reported.lock().unwrap().is_empty()
        },
    );
    let (peer_id, error) = reported.lock().unwrap()[0].clone();
    assert_eq!(
        (peer_id.as_str(), error.as_str()),
        (erin.as_str(), "answered 503")
    );
    let tries = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, p, _)| p.starts_with("/broadcast-peer"))
        .count();
    let attempts = p2p::COURSE_DELIVERY_ATTEMPTS as usize;
    assert!(tries >= attempts, "retried: {tries} tries");
}
