//! Signing in to the chat (issue 13): `--user NAME:PASSWORD` accounts work with their own
//! password (not the token), a username on a peer without accounts is refused with the reason,
//! and a stale `?token=` link gets an HTML page saying how to get a fresh one.

use std::time::Duration;

use http_core::{Method, Request};
use reactor::client::blocking_request;
use serde_json::json;

use crate::{TOKEN, call_with, tempdir};

const WAIT: Duration = Duration::from_secs(10);

fn peer_with_users(name: &str, dir: &std::path::Path, users: &[(&str, &str)]) -> p2p::Running {
    let mut creds = router::auth::Credentials::new();
    for (u, p) in users {
        creds.add(u, p);
    }
    p2p::spawn(p2p::Config {
        users: creds,
        ..crate::config(name, "127.0.0.1:0".parse().unwrap(), None, dir, &[])
    })
    .unwrap()
}

#[test]
fn user_accounts_sign_in_with_their_own_password() {
    let tmp = tempdir("signin");
    let dir = tmp.path();
    let a = peer_with_users("alice", dir, &[("admin", "password")]);
    let login = |body| call_with(a.addr(), Method::Post, "/login", Some(body), &[]);
    let (status, body) = login(json!({"username": "admin", "password": "password"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = login(json!({"username": "admin", "password": TOKEN}));
    assert_eq!(status, 401, "the token is not admin's password: {body}");
    assert_eq!(body["error"], "wrong username or password");
    let (status, _) = login(json!({"username": "root", "password": "password"}));
    assert_eq!(status, 401);
    // The token still opens the peer, as the course's clients send it.
    let (status, _) = login(json!({"password": TOKEN}));
    assert_eq!(status, 200);

    let b = peer_with_users("bob", dir, &[]);
    let (status, body) = call_with(
        b.addr(),
        Method::Post,
        "/login",
        Some(json!({"username": "admin", "password": TOKEN})),
        &[],
    );
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("--user"), "{body}");
    drop((a, b));
}

#[test]
fn a_stale_token_link_explains_how_to_get_a_fresh_one() {
    let tmp = tempdir("stale");
    let dir = tmp.path();
    let a = peer_with_users("alice", dir, &[]);
    let mut req = Request::new(Method::Get, "/?token=from-yesterday");
    req.head.headers.insert("Accept", "text/html");
    let response = blocking_request(a.addr(), &req, WAIT).unwrap();
    assert_eq!(response.status.code(), 401);
    let kind = response.headers.get_str("content-type").unwrap_or_default();
    assert!(kind.starts_with("text/html"), "{kind}");
    let page = String::from_utf8_lossy(&response.body);
    for needle in ["This link has expired", "?token=", "target/demo/urls.txt"] {
        assert!(page.contains(needle), "{needle:?} not in\n{page}");
    }
    assert!(response.headers.get_str("set-cookie").is_none());
    drop(a);
}
