//! Task 1 through the proxy: login, cookie, index, with backend-bin as the upstream — one
//! upstream, and the shipped config's round-robin block over two.

use crate::{catch_all, get, send, site_at, site_in_mode, start_proxy, text};
use backend::AuthMode;
use http_core::Method;
use reactor::client::ClientResponse;
use router::Running as Site;
use std::net::SocketAddr;
use std::path::PathBuf;

const HOST: &str = "localhost:8080";

fn static_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../static")
}

/// Logs in through the proxy; returns the answer and its cookies as `name=value`.
fn login(proxy: SocketAddr) -> (ClientResponse, Vec<String>) {
    let login = send(
        proxy,
        HOST,
        Method::Post,
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=admin&password=password",
    );
    let cookies = login
        .headers
        .get_all("set-cookie")
        .map(|v| {
            String::from_utf8_lossy(v)
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    (login, cookies)
}

/// `GET /` through the proxy with `cookies`, as a browser sends them.
fn index(proxy: SocketAddr, cookies: &[String]) -> ClientResponse {
    send(
        proxy,
        HOST,
        Method::Get,
        "/",
        &[("Cookie", &cookies.join("; "))],
        b"",
    )
}

fn is_index_page(resp: &ClientResponse) -> bool {
    text(resp).contains("<title>Welcome · WeApRous</title>")
}

#[test]
fn login_cookie_index_through_the_proxy() {
    let site = site_at(static_root(), "127.0.0.1:0");
    let proxy = start_proxy(&catch_all(&[site.addr], "round-robin"));

    assert_eq!(get(proxy.addr, HOST, "/").status.code(), 401);
    let (login, cookies) = login(proxy.addr);
    assert_eq!(login.status.code(), 200);
    assert!(cookies.iter().any(|c| c == "auth=true"), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("sid=")), "{cookies:?}");

    let index = index(proxy.addr, &cookies);
    assert_eq!(index.status.code(), 200);
    assert!(is_index_page(&index), "{}", text(&index));
}

/// The `localhost:8080` block of the shipped configs/proxy.conf, pointed at `upstreams` in place
/// of 127.0.0.1:9000 and 127.0.0.1:9001, so the test runs the shape users and the demo run.
fn shipped_task1_block(upstreams: [SocketAddr; 2]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/proxy.conf");
    let shipped = std::fs::read_to_string(path).unwrap();
    let start = shipped
        .find("host \"localhost:8080\" {")
        .expect("the shipped config has a localhost:8080 block");
    let len = shipped[start..].find("\n}").expect("the block closes") + 2;
    let block = &shipped[start..start + len];
    assert!(block.contains("dist_policy round-robin"), "{block}");
    let block = block
        .replace("127.0.0.1:9000", &upstreams[0].to_string())
        .replace("127.0.0.1:9001", &upstreams[1].to_string());
    for upstream in upstreams {
        assert!(block.contains(&upstream.to_string()), "{block}");
    }
    block
}

fn two_backends(mode: AuthMode) -> [Site; 2] {
    [
        site_in_mode(static_root(), "127.0.0.1:0", mode),
        site_in_mode(static_root(), "127.0.0.1:0", mode),
    ]
}

/// Regression for the demo: sessions live in one backend's memory, so the demo's two backends
/// behind round-robin run in flag mode, where `auth=true` holds on either.
#[test]
fn flag_mode_task1_works_over_the_shipped_round_robin_block() {
    let sites = two_backends(AuthMode::Flag);
    let proxy = start_proxy(&shipped_task1_block([sites[0].addr, sites[1].addr]));

    let (login, cookies) = login(proxy.addr);
    assert_eq!(login.status.code(), 200, "{}", text(&login));
    assert!(cookies.iter().any(|c| c == "auth=true"), "{cookies:?}");
    for i in 0..6 {
        let index = index(proxy.addr, &cookies);
        assert_eq!(index.status.code(), 200, "GET / number {i}");
        assert!(is_index_page(&index), "GET / number {i}: {}", text(&index));
    }
    // Both backends served: the login and three of the index pages went to one, three to the other.
    let status = text(&get(proxy.addr, HOST, "/__proxy/status"));
    for (site, requests) in sites.iter().zip([4, 3]) {
        let entry = format!(
            r#""address":"{}","healthy":true,"active":0,"requests":{requests}"#,
            site.addr
        );
        assert!(status.contains(&entry), "want {entry} in {status}");
    }
}

/// Why the demo does not use session mode: the session made on one backend is unknown to the
/// other, which refuses it with its 401 page — a clean refusal, not a failure of the proxy.
#[test]
fn session_mode_over_two_backends_refuses_on_the_other_one() {
    let sites = two_backends(AuthMode::Session);
    let proxy = start_proxy(&shipped_task1_block([sites[0].addr, sites[1].addr]));

    let (login, cookies) = login(proxy.addr); // on the first backend
    assert_eq!(login.status.code(), 200, "{}", text(&login));
    let other = index(proxy.addr, &cookies); // on the second
    assert_eq!(other.status.code(), 401);
    assert!(
        text(&other).contains("<title>401 Unauthorized · WeApRous</title>"),
        "{}",
        text(&other)
    );
    let same = index(proxy.addr, &cookies); // back on the first, which knows the session
    assert_eq!(same.status.code(), 200);
    assert!(is_index_page(&same), "{}", text(&same));
}

/// The no-Redis route to session mode over several backends: `sticky cookie` keeps a client on
/// the backend that answered its first request, so the login and everything after it meet the
/// session on the one backend that holds it.
#[test]
fn session_mode_task1_works_over_round_robin_with_a_sticky_cookie() {
    let sites = two_backends(AuthMode::Session);
    let block = shipped_task1_block([sites[0].addr, sites[1].addr]).replace(
        "dist_policy round-robin",
        "dist_policy round-robin\n    sticky cookie srv;",
    );
    let proxy = start_proxy(&block);

    let (login, cookies) = login(proxy.addr);
    assert_eq!(login.status.code(), 200, "{}", text(&login));
    assert!(cookies.iter().any(|c| c.starts_with("srv=")), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("sid=")), "{cookies:?}");
    for i in 0..10 {
        let index = index(proxy.addr, &cookies);
        assert_eq!(index.status.code(), 200, "GET / number {i}");
        assert!(is_index_page(&index), "GET / number {i}: {}", text(&index));
        assert!(
            index.headers.get("set-cookie").is_none(),
            "a client already on its upstream is not told again"
        );
    }
    // Everything went to one backend; the other saw nothing.
    let status = text(&get(proxy.addr, HOST, "/__proxy/status"));
    let served: Vec<bool> = sites
        .iter()
        .map(|site| {
            status.contains(&format!(
                r#""address":"{}","healthy":true,"active":0,"requests":11"#,
                site.addr
            ))
        })
        .collect();
    assert_eq!(served.iter().filter(|s| **s).count(), 1, "{status}");
}

/// The shared-store route to session mode over several backends: both backends keep their
/// sessions in one Redis, so plain round-robin works — the login on one, every later request on
/// either.
#[test]
fn session_mode_task1_works_over_round_robin_with_sessions_in_redis() {
    let redis = redis_client::testing::RedisServer::start();
    let url = redis_client::Url::parse(&redis.url()).unwrap();
    let backends: Vec<_> = (0..2)
        .map(|_| {
            let mut credentials = router::auth::Credentials::new();
            credentials.add("admin", "password");
            let config = backend::Config {
                static_root: static_root(),
                credentials,
                auth_mode: AuthMode::Session,
                cors_origins: Vec::new(),
            };
            backend::spawn(config, "127.0.0.1:0".parse().unwrap(), Some(url.clone())).unwrap()
        })
        .collect();
    let proxy = start_proxy(&shipped_task1_block([backends[0].0, backends[1].0]));

    let (login, cookies) = login(proxy.addr);
    assert_eq!(login.status.code(), 200, "{}", text(&login));
    for i in 0..10 {
        let index = index(proxy.addr, &cookies);
        assert_eq!(index.status.code(), 200, "GET / number {i}");
        assert!(is_index_page(&index), "GET / number {i}: {}", text(&index));
    }
    // Round-robin really spread them: the login and five pages on one, five on the other.
    let status = text(&get(proxy.addr, HOST, "/__proxy/status"));
    for ((addr, _), requests) in backends.iter().zip([6, 5]) {
        let entry =
            format!(r#""address":"{addr}","healthy":true,"active":0,"requests":{requests}"#);
        assert!(status.contains(&entry), "want {entry} in {status}");
    }
}
