//! The local API: sessions, the course endpoints, immutability, and Server-Sent Events.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use http_core::Method;
use serde_json::json;

use crate::{call, call_with, linked, peer, read_until, tempdir, wait_for};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn sessions_course_endpoints_and_immutability() {
    let tmp = tempdir("api");
    let dir = tmp.path();
    let a = peer("alice", None, dir);
    let addr = a.addr();

    let (status, body) = call_with(addr, Method::Get, "/api/me", None, &[]);
    assert_eq!(status, 401);
    assert!(body["error"].is_string());
    let (status, _) = call_with(
        addr,
        Method::Get,
        "/api/me",
        None,
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!(status, 401);
    let (status, _) = call_with(addr, Method::Get, "/?token=nope", None, &[]);
    assert_eq!(status, 401);

    // The printed URL opens a session.
    let mut req = http_core::Request::new(Method::Get, "/?token=test-token");
    req.head.headers.insert("Accept", "text/html");
    let response = reactor::client::blocking_request(addr, &req, WAIT).unwrap();
    assert_eq!(response.status.code(), 303);
    let cookie = response
        .headers
        .get_str("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, me) = call_with(addr, Method::Get, "/api/me", None, &[("Cookie", &cookie)]);
    assert_eq!(status, 200);
    assert_eq!(me["name"], "alice");
    assert_eq!(me["peer_id"], a.node.peer_id());
    let (status, _) = call_with(
        addr,
        Method::Post,
        "/login",
        Some(json!({"password": "test-token"})),
        &[],
    );
    assert_eq!(status, 200);
    let (status, _) = call_with(
        addr,
        Method::Post,
        "/login",
        Some(json!({"password": "x"})),
        &[],
    );
    assert_eq!(status, 401);

    // Course endpoints are open to peers.
    let (status, who) = call_with(addr, Method::Get, "/p2p/whoami", None, &[]);
    assert_eq!((status, who["name"].as_str()), (200, Some("alice")));
    let (status, _) = call_with(addr, Method::Get, "/p2p/ping", None, &[]);
    assert_eq!(status, 200);
    let msg = json!({"from": "bob", "name": "Bob", "msg": "hello", "timestamp": 1});
    let (status, body) = call_with(
        addr,
        Method::Post,
        "/broadcast-peer",
        Some(msg.clone()),
        &[],
    );
    assert_eq!((status, body["status"].as_str()), (200, Some("received")));
    let (status, _) = call_with(addr, Method::Post, "/send-peer", Some(msg), &[]);
    assert_eq!(status, 200);
    let (_, inbox) = call(addr, Method::Get, "/p2p/inbox", None);
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 2, "{inbox}");
    let (_, cleared) = call(addr, Method::Post, "/p2p/inbox/clear", None);
    assert_eq!(cleared["cleared"], 2);
    let (status, _) = call_with(addr, Method::Get, "/p2p/inbox", None, &[]);
    assert_eq!(status, 401);

    // Channels, pages, reads, and messages that cannot change.
    let (status, sent) = call(
        addr,
        Method::Post,
        "/p2p/msg",
        Some(json!({"text": "old api"})),
    );
    assert_eq!(
        (status, &sent["status"]),
        (202, &json!("stored")),
        "alone: {sent}"
    );
    let (_, channels) = call(addr, Method::Get, "/api/channels", None);
    assert_eq!(channels[0]["name"], "general");
    assert_eq!(channels[0]["unread"], 1, "bob's course broadcast");
    let (_, page) = call(
        addr,
        Method::Get,
        "/api/channels/general/messages?limit=1",
        None,
    );
    let full_id = page[0]["id"].as_str().unwrap().to_string();
    // An id holds `/`, so it travels percent-encoded in a path segment.
    let id = full_id.replace('/', "%2F");
    for m in [Method::Put, Method::Delete] {
        let (status, _) = call(
            addr,
            m,
            &format!("/api/channels/general/messages/{id}"),
            Some(json!({"text": "edited"})),
        );
        assert_eq!(status, 405);
    }
    let (status, got) = call(
        addr,
        Method::Get,
        &format!("/api/channels/general/messages/{id}"),
        None,
    );
    assert_eq!((status, got["text"].as_str()), (200, Some("old api")));
    let (status, _) = call(addr, Method::Post, "/api/channels/general/read", None);
    assert_eq!(status, 200);
    let (status, _) = call(addr, Method::Post, "/api/channels/general/leave", None);
    assert_eq!(status, 200);
    let (status, _) = call(
        addr,
        Method::Post,
        "/api/channels/general/messages",
        Some(json!({"text": "x"})),
    );
    assert_eq!(status, 403);
    drop(a);
}

#[test]
fn events_stream_messages_and_peers() {
    let tmp = tempdir("sse");
    let dir = tmp.path();
    let a = peer("alice", None, dir);
    let b = peer("bob", None, dir);
    let mut s = TcpStream::connect(a.addr()).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-token\r\n\r\n")
        .unwrap();
    let head = read_until(&mut s, b"retry: 2000", WAIT);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("text/event-stream"),
        "{head}"
    );

    b.node.connect(a.addr());
    let up = read_until(&mut s, b"\"state\":\"up\"", WAIT);
    assert!(up.contains("event: peer"), "{up}");
    wait_for("bob linked", WAIT, || linked(b.addr()).len() == 1);
    b.node.post("general", "over sse").unwrap();
    let got = read_until(&mut s, b"over sse", WAIT);
    assert!(got.contains("event: message"), "{got}");
    let unread = read_until(&mut s, b"event: unread", WAIT);
    assert!(unread.contains("event: unread"), "{unread}");

    // Bob leaves: a peer-down event naming him and why.
    let bob = b.node.peer_id().to_string();
    b.shutdown().unwrap();
    let down = read_until(&mut s, b"\"state\":\"down\"", WAIT);
    let event = down.rsplit("event: ").next().unwrap_or_default();
    assert!(event.starts_with("peer\n"), "{down}");
    assert!(event.contains(&format!("\"peer_id\":\"{bob}\"")), "{event}");
    assert!(event.contains("shutting down"), "{event}");
    drop(a);
}

#[test]
fn connect_peer_peers_paging_direct_and_allow() {
    let tmp = tempdir("api-paths");
    let dir = tmp.path();
    let a = peer("alice", None, dir);
    let b = peer("bob", None, dir);
    let (alice, bob) = (a.node.peer_id().to_string(), b.node.peer_id().to_string());

    // Bob asks alice to connect (course endpoint, no session): she answers who she is and
    // dials him back.
    let ask = json!({"peer_id": bob, "name": "bob", "ip": "127.0.0.1", "port": b.addr().port()});
    let (status, body) = call_with(a.addr(), Method::Post, "/connect-peer", Some(ask), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "ok", "peer_id": alice, "name": "alice"})
    );
    wait_for("alice dialled bob back", WAIT, || {
        a.node.is_linked(&bob) && b.node.is_linked(&alice)
    });
    for bad in [
        json!({"peer_id": "x", "name": "x", "ip": "not-an-ip", "port": 5}),
        json!({"peer_id": "x", "name": "x", "ip": "127.0.0.1", "port": 0}),
    ] {
        let (status, body) = call_with(a.addr(), Method::Post, "/connect-peer", Some(bad), &[]);
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].is_string(), "{body}");
    }

    // /api/peers: id, name and address of each linked peer. Alice dialled bob, so she has his
    // listening address; he sees her connection's source address.
    let (status, peers) = call(a.addr(), Method::Get, "/api/peers", None);
    assert_eq!(status, 200);
    assert_eq!(peers.as_array().unwrap().len(), 1, "{peers}");
    assert_eq!(peers[0]["peer_id"], bob);
    assert_eq!(peers[0]["name"], "bob");
    assert_eq!(peers[0]["addr"], b.addr().to_string());
    let (_, peers) = call(b.addr(), Method::Get, "/api/peers", None);
    assert_eq!(
        (&peers[0]["peer_id"], &peers[0]["name"]),
        (&json!(alice), &json!("alice"))
    );
    let seen: std::net::SocketAddr = peers[0]["addr"].as_str().unwrap().parse().unwrap();
    assert_eq!(seen.ip(), a.addr().ip());

    // ?before= pages backwards through a channel.
    for i in 0..5 {
        let (status, _) = call(
            a.addr(),
            Method::Post,
            "/api/channels/general/messages",
            Some(json!({"text": format!("m{i}")})),
        );
        assert_eq!(status, 201);
    }
    let page = |target: String| -> Vec<(String, String)> {
        let (status, body) = call(a.addr(), Method::Get, &target, None);
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_string(),
                    m["text"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let texts_of = |p: &[(String, String)]| p.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    let last = page("/api/channels/general/messages?limit=2".to_string());
    assert_eq!(texts_of(&last), ["m3", "m4"]);
    let before = page(format!(
        "/api/channels/general/messages?limit=2&before={}",
        last[0].0
    ));
    assert_eq!(texts_of(&before), ["m1", "m2"]);
    let first = page(format!(
        "/api/channels/general/messages?limit=10&before={}",
        before[0].0
    ));
    assert_eq!(texts_of(&first), ["m0"]);
    let none = page(format!(
        "/api/channels/general/messages?before={}",
        first[0].0
    ));
    assert!(none.is_empty(), "{none:?}");

    // GET /api/direct/:peer shows the conversation with that peer, on both sides.
    let (status, _) = call(
        a.addr(),
        Method::Post,
        &format!("/api/direct/{bob}"),
        Some(json!({"text": "psst"})),
    );
    assert_eq!(status, 201);
    wait_for("the direct message at bob", WAIT, || {
        let (_, dms) = call(b.addr(), Method::Get, &format!("/api/direct/{alice}"), None);
        dms.as_array().is_some_and(|d| d.len() == 1)
    });
    for (at, other) in [(a.addr(), &bob), (b.addr(), &alice)] {
        let (status, dms) = call(at, Method::Get, &format!("/api/direct/{other}"), None);
        assert_eq!(status, 200);
        assert_eq!(dms.as_array().unwrap().len(), 1, "{dms}");
        assert_eq!(
            (&dms[0]["text"], &dms[0]["from"]),
            (&json!("psst"), &json!(alice))
        );
    }

    // A message cannot change: PUT and DELETE answer 405 and say what is allowed.
    let id = last[1].0.replace('/', "%2F");
    for method in [Method::Put, Method::Delete] {
        let mut req =
            http_core::Request::new(method, format!("/api/channels/general/messages/{id}"));
        req.head
            .headers
            .insert("Authorization", format!("Bearer {}", crate::TOKEN));
        let response = reactor::client::blocking_request(a.addr(), &req, WAIT).unwrap();
        assert_eq!(response.status.code(), 405);
        let allow = response
            .headers
            .get_str("allow")
            .unwrap_or_default()
            .to_string();
        let allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
        assert!(allowed.contains(&"GET"), "Allow: {allow}");
        assert!(
            !allowed.contains(&"PUT") && !allowed.contains(&"DELETE"),
            "Allow: {allow}"
        );
    }
    drop((a, b));
}
