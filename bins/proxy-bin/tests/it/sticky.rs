//! `sticky cookie NAME`: a client stays on the upstream named by the proxy's cookie, new clients
//! are still balanced, and a client whose upstream dies fails over once and is told its new one.

use crate::{catch_all, named_root, send, site_at, start_proxy, text};
use http_core::Method;
use reactor::client::ClientResponse;
use std::net::SocketAddr;

/// `GET /name.txt` with `cookie` (if any).
fn name(proxy: SocketAddr, cookie: Option<&str>) -> ClientResponse {
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", *c)).collect();
    send(proxy, "x", Method::Get, "/name.txt", &headers, b"")
}

/// The `srv=…` pair of the answer's `Set-Cookie`, if it set one.
fn srv_cookie(resp: &ClientResponse) -> Option<String> {
    resp.headers
        .get_all("set-cookie")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .find(|v| v.starts_with("srv="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

fn sticky_block(upstreams: &[SocketAddr]) -> String {
    catch_all(upstreams, "round-robin")
        .replace("}\n", "    sticky cookie srv path=/ httponly;\n}\n")
}

#[test]
fn a_client_stays_on_its_upstream_and_new_clients_are_still_balanced() {
    let sites: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| site_at(named_root(n), "127.0.0.1:0"))
        .collect();
    let addrs: Vec<_> = sites.iter().map(|s| s.addr).collect();
    let proxy = start_proxy(&sticky_block(&addrs));

    // Two new clients: round-robin sends them to different upstreams, each told where it is.
    let first = name(proxy.addr, None);
    let second = name(proxy.addr, None);
    assert_ne!(text(&first), text(&second));
    let (c1, c2) = (srv_cookie(&first).unwrap(), srv_cookie(&second).unwrap());
    assert_ne!(c1, c2);
    assert!(
        first
            .headers
            .get("set-cookie")
            .is_some_and(|v| v.ends_with(b"; Path=/; HttpOnly")),
        "{:?}",
        first.headers
    );
    // Each then stays, however the others' requests interleave.
    for _ in 0..5 {
        assert_eq!(text(&name(proxy.addr, Some(&c1))), text(&first));
        assert_eq!(text(&name(proxy.addr, Some(&c2))), text(&second));
        name(proxy.addr, None);
    }
    // A cookie naming no upstream of the block is ignored, and replaced.
    let stranger = name(proxy.addr, Some("srv=0123456789abcdef"));
    assert_eq!(stranger.status.code(), 200);
    assert!(srv_cookie(&stranger).is_some());
}

#[test]
fn a_client_whose_upstream_dies_fails_over_once_and_stays_on_the_new_one() {
    let mut sites: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| Some(site_at(named_root(n), "127.0.0.1:0")))
        .collect();
    let addrs: Vec<_> = sites.iter().map(|s| s.as_ref().unwrap().addr).collect();
    let proxy = start_proxy(&sticky_block(&addrs));

    let first = name(proxy.addr, None);
    let cookie = srv_cookie(&first).unwrap();
    let home = text(&first);
    let dead = usize::from(home == "b");
    drop(sites[dead].take());

    // The next request goes elsewhere at once (a failed connect is retried on the other
    // upstream) and says so in a new cookie; with it the client stays there.
    let moved = name(proxy.addr, Some(&cookie));
    assert_eq!(moved.status.code(), 200, "{}", text(&moved));
    assert_ne!(text(&moved), home);
    let new_cookie = srv_cookie(&moved).expect("a failed-over client is told its new upstream");
    assert_ne!(new_cookie, cookie);
    for _ in 0..5 {
        let again = name(proxy.addr, Some(&new_cookie));
        assert_eq!(text(&again), text(&moved));
        assert!(srv_cookie(&again).is_none());
    }
    // The old cookie, while its upstream is down, also lands on the live one.
    for _ in 0..3 {
        assert_eq!(text(&name(proxy.addr, Some(&cookie))), text(&moved));
    }
}

#[test]
fn a_bad_sticky_directive_is_refused_with_its_position() {
    let conf = "host \"*\" {\n    proxy_pass http://127.0.0.1:9;\n    sticky cookie srv expires=soon;\n}\n";
    let err = proxy::parse(conf, "p.conf").unwrap_err().to_string();
    assert!(err.starts_with("p.conf:3:23: bad expires `soon`"), "{err}");
    let conf = "host \"*\" {\n    proxy_pass http://127.0.0.1:9;\n    sticky route $x;\n}\n";
    let err = proxy::parse(conf, "p.conf").unwrap_err().to_string();
    assert!(
        err.contains("only `sticky cookie NAME` is supported"),
        "{err}"
    );
}
