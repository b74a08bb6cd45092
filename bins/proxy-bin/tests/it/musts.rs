//! The RFC 9112 "must"s through proxy-bin over real sockets: malformed requests are refused
//! before any upstream sees them, absolute-form is routed by its authority and forwarded in
//! origin-form.

use crate::errors::raw;
use crate::plain::{self, respond};
use crate::{named_site, start_proxy};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn malformed_requests_are_refused_before_the_upstream() {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    let upstream = plain::serve(move |_head, _reader, stream| {
        seen.fetch_add(1, Ordering::SeqCst);
        respond(stream, "upstream")
    });
    let proxy = start_proxy(&format!("host \"*\" {{ proxy_pass http://{upstream}; }}"));
    let cases = [
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET @evil.com/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /\r\n\r\n", 400),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            400,
        ),
        // §6.1: faulty framing, answered and closed (read_to_end returns).
        (
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
    ];
    for (request, status) in cases {
        let answer = raw(proxy.addr, request);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?} got {answer:?}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no malformed request reaches the upstream"
    );
}

#[test]
fn absolute_form_is_routed_by_its_authority_and_forwarded_in_origin_form() {
    let a = named_site("a");
    let b = named_site("b");
    let proxy = start_proxy(&format!(
        "host \"a.local\" {{ proxy_pass http://{}; }}\nhost \"b.local\" {{ proxy_pass http://{}; }}",
        a.addr, b.addr
    ));
    let answer = raw(
        proxy.addr,
        "GET http://b.local/name.txt HTTP/1.1\r\nHost: a.local\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\nb"), "{answer}");

    let upstream = plain::serve(|head, _reader, stream| respond(stream, &head.path));
    let proxy = start_proxy(&format!("host \"*\" {{ proxy_pass http://{upstream}; }}"));
    for (target, forwarded) in [
        ("http://x.example/p?q=1", "/p?q=1"),
        ("http://x.example?q=1", "/?q=1"),
        ("http://user@x.example", "/"),
    ] {
        let answer = raw(
            proxy.addr,
            &format!("GET {target} HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n"),
        );
        assert!(answer.starts_with("HTTP/1.1 200 "), "{target}: {answer}");
        assert!(
            answer.ends_with(&format!("\r\n\r\n{forwarded}")),
            "{target}: {answer}"
        );
    }
}

#[test]
fn a_malformed_upstream_answer_is_the_upstreams_fault() {
    let upstream = plain::serve(|_head, _reader, stream| {
        use std::io::Write;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx");
        false
    });
    let proxy = start_proxy(&format!("host \"*\" {{ proxy_pass http://{upstream}; }}"));
    let answer = raw(
        proxy.addr,
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 502 "), "{answer}");
    assert!(answer.contains(&upstream.to_string()), "{answer}");
}
