//! Keep-alive on both sides: sequential requests over client connections reuse one pooled
//! upstream connection instead of dialling the upstream for each.

use crate::plain::{self, respond};
use crate::start_proxy;
use crate::streaming::{connect, read_response};
use std::io::Write;
use std::sync::atomic::Ordering;

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
