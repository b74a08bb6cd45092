//! Answers the proxy gives itself: unknown Host, missing Host, upstream timeout, status page,
//! and the forwarding headers the upstream sees.

use crate::plain::{self, respond};
use crate::{catch_all, get, named_site, start_proxy, text};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

#[test]
fn unknown_host_is_404_naming_it() {
    let site = named_site("a");
    let proxy = start_proxy(&format!(
        "host \"a.local\" {{ proxy_pass http://{}; }}",
        site.addr
    ));
    let resp = get(proxy.addr, "nope.example:8080", "/name.txt");
    assert_eq!(resp.status.code(), 404);
    assert!(text(&resp).contains("nope.example:8080"), "{}", text(&resp));
    let ok = get(proxy.addr, "a.local:8080", "/name.txt");
    assert_eq!((ok.status.code(), text(&ok)), (200, "a".to_owned()));
}

/// Sends `request` as raw bytes and reads until the proxy closes (5 s at most).
pub fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    test_support::raw(addr, request.as_bytes(), Duration::from_secs(5))
}

#[test]
fn missing_host_on_http11_is_400() {
    let site = named_site("a");
    let proxy = start_proxy(&catch_all(&[site.addr], "round-robin"));
    let answer = raw(proxy.addr, "GET /name.txt HTTP/1.1\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(
        answer.contains(&http_core::Malformed::MissingHost.to_string()),
        "{answer}"
    );
    // HTTP/1.0 may omit Host: the catch-all serves it.
    let answer = raw(proxy.addr, "GET /name.txt HTTP/1.0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\na"), "{answer}");
}

#[test]
fn silent_upstream_is_504_naming_it() {
    // The upstream reads the request and says nothing until the test is over.
    let (release_tx, release) = mpsc::channel::<()>();
    let release = Mutex::new(release);
    let upstream = plain::serve(move |_head, _reader, _stream| {
        let _ = release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        false
    });
    let proxy = start_proxy(&format!(
        "host \"*\" {{ proxy_pass http://{upstream}; proxy_timeout 300ms; }}"
    ));
    let resp = get(proxy.addr, "x", "/");
    release_tx.send(()).unwrap();
    let body = text(&resp);
    assert_eq!(resp.status.code(), 504, "{body}");
    assert!(body.starts_with("Gateway Timeout: "), "{body}");
    assert!(body.contains(&upstream.to_string()), "{body}");
}

#[test]
fn upstream_sees_forwarding_headers_and_set_headers() {
    let upstream = plain::serve(|head, _reader, stream| {
        let seen: Vec<String> = head
            .headers
            .iter()
            .map(|(n, v)| format!("{}={v}", n.to_ascii_lowercase()))
            .collect();
        respond(stream, &seen.join("\n"))
    });
    let proxy = start_proxy(&format!(
        "host \"*\" {{\n\tproxy_set_header Host $host;\n\tproxy_set_header X-Real-IP $remote_addr;\n\
         \tproxy_pass http://{upstream};\n}}"
    ));
    let resp = crate::send(
        proxy.addr,
        "app.local:8080",
        http_core::Method::Get,
        "/",
        &[("X-Forwarded-For", "10.1.1.1"), ("Keep-Alive", "timeout=5")],
        b"",
    );
    let seen = text(&resp);
    for line in [
        "host=app.local:8080",
        "x-forwarded-for=10.1.1.1, 127.0.0.1",
        "x-forwarded-host=app.local:8080",
        "x-forwarded-proto=http",
        "x-real-ip=127.0.0.1",
    ] {
        assert!(seen.lines().any(|l| l == line), "missing {line} in\n{seen}");
    }
    assert!(!seen.contains("keep-alive="), "{seen}");
    assert!(!seen.contains("connection="), "{seen}");
}

#[test]
fn status_page_lists_upstreams() {
    let site = named_site("a");
    let proxy = start_proxy(&catch_all(&[site.addr], "least-conn"));
    get(proxy.addr, "x", "/name.txt");
    let resp = get(proxy.addr, "x", "/__proxy/status");
    assert_eq!(resp.status.code(), 200);
    let status = text(&resp);
    assert!(status.contains(r#""policy":"least-conn""#), "{status}");
    assert!(
        status.contains(&format!(
            r#""address":"{}","healthy":true,"active":0,"requests":1"#,
            site.addr
        )),
        "{status}"
    );
}
