//! backend-bin over real sockets on 127.0.0.1: Task 1 as the course grades it, hostile input,
//! load and faults.

mod browser;
mod faults;
mod hostile;
mod startup;
mod task1;

use backend::{AuthMode, Config};
use http_core::{Method, Request};
use reactor::client::{ClientResponse, blocking_request};
use router::Running;
use router::auth::Credentials;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The repository's static site.
pub fn static_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../static")
}

/// Starts the Task 1 app in-process on an ephemeral port.
pub fn start(mode: AuthMode) -> Running {
    let mut credentials = Credentials::new();
    credentials.add("admin", "password");
    let config = Config {
        static_root: static_root(),
        credentials,
        auth_mode: mode,
        cors_origins: Vec::new(),
    };
    backend::app(config).unwrap().spawn("127.0.0.1:0").unwrap()
}

/// Sends one request with the blocking client.
pub fn send(
    addr: SocketAddr,
    method: Method,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> ClientResponse {
    let mut req = Request::new(method, target);
    for (name, value) in headers {
        req.head.headers.append(name.to_string(), value.to_string());
    }
    req.body = bytes::Bytes::copy_from_slice(body);
    blocking_request(addr, &req, Duration::from_secs(10)).unwrap()
}

/// Writes raw bytes, then reads until the server closes or `wait` passes.
pub fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(bytes).unwrap();
    read_until_close(&mut stream, wait)
}

/// Reads everything until EOF or `wait`.
pub fn read_until_close(stream: &mut TcpStream, wait: Duration) -> String {
    read_to_eof(stream, wait).0
}

/// Reads everything until EOF or `wait`; the flag says whether EOF came (the peer closed).
pub fn read_to_eof(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let closed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A reset after the answer is a close too; a timeout is not.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// The status codes of every response in a raw byte stream, in order.
pub fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// Waits for `cond` with a deadline, never a bare sleep.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
