//! Sessions in Redis (`--sessions redis://…`): two backends on one Redis share every login and
//! logout, Redis keeps the expiry (slid on use), and a Redis outage is a 503 that says so, with
//! recovery when Redis is back and no restart of the backends.

use std::net::SocketAddr;
use std::time::Duration;

use backend::{AuthMode, Config};
use http_core::Method;
use reactor::LoopThread;
use reactor::client::ClientResponse;
use redis_client::Value;
use redis_client::testing::RedisServer;
use router::auth::Credentials;

use crate::{send, static_root};
use test_support::wait_for;

const WAIT: Duration = Duration::from_secs(10);

/// A session-mode backend with its sessions in `redis`.
fn backend_on(redis: &RedisServer) -> (SocketAddr, LoopThread) {
    let mut credentials = Credentials::new();
    credentials.add("admin", "password");
    let config = Config {
        static_root: static_root(),
        credentials,
        auth_mode: AuthMode::Session,
        cors_origins: Vec::new(),
    };
    let url = redis_client::Url::parse(&redis.url()).unwrap();
    backend::spawn(config, "127.0.0.1:0".parse().unwrap(), Some(url)).unwrap()
}

fn login(at: SocketAddr) -> ClientResponse {
    send(
        at,
        Method::Post,
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=admin&password=password",
    )
}

/// The `sid` of a login answer.
fn sid(resp: &ClientResponse) -> String {
    resp.headers
        .get_all("set-cookie")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .find_map(|v| {
            v.strip_prefix("sid=")
                .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
        })
        .expect("a sid cookie")
}

fn get(at: SocketAddr, path: &str, sid: &str) -> ClientResponse {
    let cookie = format!("sid={sid}");
    send(at, Method::Get, path, &[("Cookie", &cookie)], b"")
}

fn key(sid: &str) -> String {
    format!("{}{sid}", backend::redis_sessions::KEY_PREFIX)
}

#[test]
fn two_backends_on_one_redis_share_logins_logouts_and_expiry() {
    let redis = RedisServer::start();
    let (a, _a) = backend_on(&redis);
    let (b, _b) = backend_on(&redis);

    let answer = login(a);
    assert_eq!(answer.status.code(), 200);
    let sid = sid(&answer);
    assert_eq!(
        redis.cmd(&["GET", &key(&sid)]),
        Value::Bulk(b"admin".to_vec())
    );

    // The session made on a is good on b.
    assert_eq!(get(b, "/", &sid).status.code(), 200);
    let user = get(b, "/user", &sid);
    assert_eq!(
        String::from_utf8_lossy(&user.body),
        r#"{"auth_mode":"session","user":"admin"}"#
    );
    assert_eq!(
        get(a, "/", "0123456789abcdef0123456789abcdef")
            .status
            .code(),
        401
    );
    assert_eq!(get(a, "/", "not-even-hex").status.code(), 401);

    // Redis keeps the expiry, and each use slides it back to the full TTL.
    redis.cmd(&["PEXPIRE", &key(&sid), "5000"]);
    assert_eq!(get(a, "/", &sid).status.code(), 200);
    let ttl = redis.cmd(&["PTTL", &key(&sid)]).as_int().unwrap();
    assert!(ttl > 5000, "the expiry slid: {ttl} ms left");
    // An expired session is gone, whichever backend asks.
    redis.cmd(&["PEXPIRE", &key(&sid), "1"]);
    wait_for("the key to expire", WAIT, || {
        redis.cmd(&["EXISTS", &key(&sid)]) == Value::Int(0)
    });
    assert_eq!(get(b, "/", &sid).status.code(), 401);

    // A logout on one backend ends the session on both.
    let sid = self::sid(&login(b));
    assert_eq!(get(a, "/", &sid).status.code(), 200);
    let out = send(
        a,
        Method::Post,
        "/logout",
        &[("Cookie", &format!("sid={sid}"))],
        b"",
    );
    assert_eq!(out.status.code(), 200);
    assert_eq!(redis.cmd(&["EXISTS", &key(&sid)]), Value::Int(0));
    assert_eq!(get(b, "/", &sid).status.code(), 401);
}

#[test]
fn a_redis_outage_is_a_clear_503_and_the_backend_recovers_by_itself() {
    let mut redis = RedisServer::start();
    let (a, _a) = backend_on(&redis);
    let sid = sid(&login(a));

    redis.stop();
    wait_for("a 503 while redis is down", WAIT, || {
        get(a, "/", &sid).status.code() == 503
    });
    let answer = get(a, "/", &sid);
    let body = String::from_utf8_lossy(&answer.body).into_owned();
    assert!(body.contains("session store is unreachable"), "{body}");
    assert_eq!(login(a).status.code(), 503);
    // What needs no session still works.
    assert_eq!(send(a, Method::Get, "/login", &[], b"").status.code(), 200);

    redis.restart();
    wait_for("logins to work again", WAIT, || {
        login(a).status.code() == 200
    });
    let sid = self::sid(&login(a));
    assert_eq!(get(a, "/", &sid).status.code(), 200);
}
