//! Keep-alive on both sides: sequential requests over client connections reuse one pooled
//! upstream connection instead of dialling the upstream for each.

use crate::plain::{self, respond};
use crate::start_proxy;
use crate::streaming::{connect, read_response};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Requests sent over each client connection.
const REQUESTS: usize = 40;

#[test]
fn sequential_requests_share_one_pooled_upstream_connection() {
    // The plain upstream answers each request with its path and keeps the connection.
    let upstream = plain::serve_at("127.0.0.1:0".parse().unwrap(), |head, _reader, stream| {
        respond(stream, &head.path)
    });
    let proxy = start_proxy(&format!(
        "host \"*\" {{\n    proxy_pass http://{};\n}}\n",
        upstream.addr
    ));

    // Two client connections one after the other: the pool outlives a client.
    for client in 0..2 {
        let mut stream = connect(proxy.addr);
        for i in 0..REQUESTS {
            let path = format!("/c{client}/r{i}");
            let request = format!("GET {path} HTTP/1.1\r\nHost: app.local\r\n\r\n");
            stream.write_all(request.as_bytes()).unwrap();
            let answer = read_response(&mut stream);
            assert_eq!(answer.status, 200, "{path}");
            assert_eq!(answer.len, path.len() as u64, "{path}");
            assert_eq!(String::from_utf8_lossy(&answer.first), path);
        }
    }
    assert_eq!(
        upstream.accepted.load(Ordering::SeqCst),
        1,
        "{} sequential requests should reuse one upstream connection",
        2 * REQUESTS
    );
}

/// An upstream that answers `/warm`, and closes without answering the first request for `/drop`
/// it sees (as an upstream that timed the pooled connection out, or crashed on the request);
/// later ones are answered. Returns its address and how many `/drop` requests reached it.
fn dropping_upstream() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    let seen = drops.clone();
    let upstream = plain::serve_at("127.0.0.1:0".parse().unwrap(), move |head, _, stream| {
        if head.path == "/drop" && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            return false;
        }
        respond(stream, &head.path)
    });
    (upstream.addr, drops)
}

/// Sends `method path` (no body) over `stream` and reads the answer.
fn exchange(stream: &mut std::net::TcpStream, method: &str, path: &str) -> u16 {
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: app.local\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    read_response(stream).status
}

/// A proxy in front of [`dropping_upstream`] whose pooled upstream connection has answered
/// once: the proxy (kept alive by the caller), a client connection, and the `/drop` count.
fn warm_pooled_connection() -> (proxy::Running, std::net::TcpStream, Arc<AtomicUsize>) {
    let (upstream, drops) = dropping_upstream();
    let proxy = start_proxy(&format!(
        "host \"*\" {{\n    proxy_pass http://{upstream};\n}}\n"
    ));
    let mut stream = connect(proxy.addr);
    assert_eq!(exchange(&mut stream, "GET", "/warm"), 200);
    (proxy, stream, drops)
}

#[test]
fn a_get_broken_on_a_pooled_connection_is_repeated_on_a_fresh_one() {
    let (_proxy, mut stream, drops) = warm_pooled_connection();
    assert_eq!(exchange(&mut stream, "GET", "/drop"), 200);
    assert_eq!(drops.load(Ordering::SeqCst), 2, "sent, dropped, sent again");
}

/// Regression: a POST whose pooled connection closed before any answer was sent again, though
/// the upstream may already have acted on it.
#[test]
fn a_post_broken_on_a_pooled_connection_is_not_repeated() {
    let (_proxy, mut stream, drops) = warm_pooled_connection();
    assert_eq!(exchange(&mut stream, "POST", "/drop"), 502);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the POST reached the upstream once"
    );
}
