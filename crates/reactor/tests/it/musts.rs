//! The RFC 9112 "must"s through the reactor's server over real sockets: each malformed request
//! is answered with its status and the connection closed; absolute-form is served by its path.

use crate::server_loop;
use std::thread;
use std::time::Duration;

/// Sends `request` raw and reads until the server closes (5 s at most).
fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    test_support::raw(addr, request.as_bytes(), Duration::from_secs(5))
}

#[test]
fn each_must_is_answered_and_closed() {
    let (event_loop, addr) = server_loop(100);
    let handle = event_loop.handle();
    let thread = thread::spawn(move || event_loop.run());
    let chunked = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let cases = [
        (
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_owned(),
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
                .into(),
            501,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".into(),
            400,
        ),
        (
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        ("GET /\r\n\r\n".into(), 400),
        ("GET a HTTP/1.1\r\nHost: a\r\n\r\n".into(), 400),
        ("GET @evil.com/x HTTP/1.1\r\nHost: a\r\n\r\n".into(), 400),
        // Refused at the size line: the terabytes it announces are never waited for.
        (format!("{chunked}fffffffffff\r\n"), 400),
    ];
    for (request, status) in &cases {
        let answer = exchange(addr, request);
        // read_to_end returned: the server closed after answering.
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?} got {answer:?}"
        );
    }
    let answer = exchange(
        addr,
        "GET http://elsewhere/p?q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("hello /p"), "{answer}");
    handle.stop();
    thread.join().unwrap().unwrap();
}
