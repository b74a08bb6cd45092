//! The local API against other sites (issue 10): a page on another origin (another port of
//! the same host included) cannot use the user's session cookie to read or change anything;
//! `/connect-peer` dials only what the tracker vouches for; an empty token is refused.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use http_core::{Method, Request};
use reactor::client::blocking_request;
use serde_json::json;

use crate::{TOKEN, call, call_with, peer, peer_at, tempdir, texts, tracker, wait_for};

const WAIT: Duration = Duration::from_secs(10);

/// A session cookie from the URL the peer prints.
fn session(addr: SocketAddr) -> String {
    let req = Request::new(Method::Get, format!("/?token={TOKEN}"));
    let response = blocking_request(addr, &req, WAIT).unwrap();
    assert_eq!(response.status.code(), 303);
    let set = response.headers.get_str("set-cookie").unwrap();
    set.split(';').next().unwrap().to_string()
}

/// A raw POST with `content_type` and `headers`; answers the status.
fn post_raw(
    addr: SocketAddr,
    target: &str,
    content_type: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let mut req = Request::new(Method::Post, target);
    req.head
        .headers
        .insert("Content-Type", content_type.to_string());
    for (k, v) in headers {
        req.head.headers.append(k.to_string(), v.to_string());
    }
    req.body = bytes::Bytes::from(body.to_string());
    blocking_request(addr, &req, WAIT).unwrap().status.code()
}

#[test]
fn cross_site_requests_with_the_cookie_are_refused() {
    let dir = tempdir("csrf");
    let a = peer("alice", None, dir.path());
    let addr = a.addr();
    let cookie = session(addr);
    let own = format!("http://{addr}");
    let other_port = format!("http://127.0.0.1:{}", addr.port() + 1);
    let post = "/api/channels/general/messages";

    // What another page can send with no preflight: text/plain and form posts, cookie attached.
    let forged = [
        (
            "text/plain",
            r#"{"text":"forged 1"}"#,
            vec![("Cookie", cookie.as_str()), ("Origin", other_port.as_str())],
        ),
        (
            "application/x-www-form-urlencoded",
            "text=forged+2",
            vec![
                ("Cookie", cookie.as_str()),
                ("Origin", "http://evil.example"),
            ],
        ),
        (
            "text/plain",
            r#"{"text":"forged 3"}"#,
            vec![("Cookie", cookie.as_str()), ("Sec-Fetch-Site", "same-site")],
        ),
        (
            "text/plain",
            r#"{"text":"forged 4"}"#,
            vec![("Cookie", cookie.as_str())],
        ),
    ];
    for (kind, body, headers) in &forged {
        assert_eq!(
            post_raw(addr, post, kind, body, headers),
            403,
            "{kind} {headers:?}"
        );
    }
    assert!(texts(addr, "general").is_empty(), "nothing was posted");

    // Cross-origin reads are refused too; the peer's own pages are served.
    let read = |headers: &[(&str, &str)]| call_with(addr, Method::Get, "/api/me", None, headers).0;
    assert_eq!(read(&[("Cookie", &cookie), ("Origin", &other_port)]), 403);
    assert_eq!(
        read(&[("Cookie", &cookie), ("Sec-Fetch-Site", "cross-site")]),
        403
    );
    assert_eq!(read(&[("Cookie", &cookie), ("Origin", &own)]), 200);
    assert_eq!(
        read(&[("Cookie", &cookie), ("Sec-Fetch-Site", "same-origin")]),
        200
    );

    // The UI's own calls: a matching Origin, or the custom header.
    let body = r#"{"text":"from the UI"}"#;
    let json = "application/json";
    assert_eq!(
        post_raw(
            addr,
            post,
            json,
            body,
            &[("Cookie", &cookie), ("Origin", &own)]
        ),
        201
    );
    assert_eq!(
        post_raw(
            addr,
            post,
            json,
            body,
            &[("Cookie", &cookie), ("X-WeApRous", "1")]
        ),
        201
    );
    // And the bearer token, which no browser adds by itself.
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        post_raw(addr, post, json, body, &[("Authorization", &bearer)]),
        201
    );
    assert_eq!(texts(addr, "general").len(), 3);
    drop(a);
}

#[test]
fn connect_peer_dials_only_what_the_tracker_lists() {
    let dir = tempdir("connect");
    let t = tracker(30);
    // Alice listens on every address, so the loopback exception does not apply to her.
    let a = peer_at(
        "alice",
        "0.0.0.0:0".parse().unwrap(),
        Some(t.addr),
        dir.path(),
        &[],
    );
    let b = peer("bob", Some(t.addr), dir.path());
    let alice_port = a.addr().port();
    let alice = SocketAddr::from(([127, 0, 0, 1], alice_port));
    wait_for("bob registered", WAIT, || {
        let (_, list) = call(t.addr, Method::Get, "/get-list", None);
        list["count"] == 2
    });

    // A listener nobody registered: alice must not dial it.
    let stranger = TcpListener::bind("127.0.0.1:0").unwrap();
    let ask =
        json!({"peer_id": "x:1", "ip": "127.0.0.1", "port": stranger.local_addr().unwrap().port()});
    let (status, body) = call_with(alice, Method::Post, "/connect-peer", Some(ask), &[]);
    assert_eq!(status, 403, "{body}");
    // Bob's real address, under bob's id: dialled.
    let ask = json!({"peer_id": b.node.peer_id(), "ip": "127.0.0.1", "port": b.addr().port()});
    let (status, body) = call_with(alice, Method::Post, "/connect-peer", Some(ask), &[]);
    assert_eq!(status, 200, "{body}");
    wait_for("alice dialled bob", WAIT, || {
        a.node.is_linked(b.node.peer_id())
    });
    // The stranger never saw a connection: it would be queued before bob's link came up.
    stranger.set_nonblocking(true).unwrap();
    assert!(
        stranger.accept().is_err(),
        "alice dialled an address the tracker does not list"
    );
    drop((a, b, t));
}

#[test]
fn an_empty_token_is_refused_at_start() {
    let dir = tempdir("empty-token");
    let config = p2p::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        name: "e".into(),
        tracker: None,
        channels: Vec::new(),
        data_dir: Some(dir.path().join("e")),
        token: Some(String::new()),
        static_root: None,
        peer_id: None,
        wall_clock: p2p::WallClock::default(),
        fsync: p2p::store::Fsync::default(),
        users: router::auth::Credentials::new(),
        advertise: None,
        limits: http_core::Limits::default(),
    };
    let err = p2p::spawn(config)
        .err()
        .expect("an empty token must be refused");
    assert!(err.to_string().contains("token"), "{err}");
}
