//! The proxy's two timeouts over the built binary: `proxy_read_timeout` times only the upstream's
//! silence (a client pausing longer still gets the whole body), and `proxy_send_timeout` drops a
//! client that takes none of its answer.

use crate::{ProxyProcess, named_root, site_at};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Larger than every buffer between the upstream and the client (socket buffers both ways and
/// the proxy's flow-control window), so a pausing client really stalls the transfer.
const FILE_LEN: usize = 32 * 1024 * 1024;
/// The read timeout the test configs set; the client pauses longer than it.
const READ_TIMEOUT_SECS: u64 = 1;
/// How long the client stops reading.
const PAUSE: Duration = Duration::from_secs(3);

fn file_bytes() -> Vec<u8> {
    (0..FILE_LEN).map(|i| (i % 251) as u8).collect()
}

/// A proxy-bin over a site that serves `big.bin`, with `extra` directives in its block.
fn proxy_over_big_file(extra: &str) -> (ProxyProcess, router::Running) {
    let root = named_root("big");
    std::fs::write(root.join("big.bin"), file_bytes()).unwrap();
    let site = site_at(root, "127.0.0.1:0");
    let conf = format!(
        "host \"*\" {{\n    proxy_pass http://{};\n    proxy_read_timeout {READ_TIMEOUT_SECS}s;\n{extra}}}\n",
        site.addr
    );
    (ProxyProcess::start(&conf), site)
}

/// A client of `proxy` whose reads give up after 30 s (a hung test fails instead of hanging).
fn connect(proxy: &ProxyProcess) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Sends `GET /big.bin`, reads the head and returns the body bytes that came with it.
fn request_big(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert!(
                head.contains(&format!("ontent-Length: {FILE_LEN}")),
                "{head}"
            );
            return got[end + 4..].to_vec();
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the head");
        got.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until EOF, a reset, or `FILE_LEN` bytes; a read timing out fails the test.
fn read_rest(stream: &mut TcpStream, body: &mut Vec<u8>) {
    let mut chunk = vec![0u8; 256 * 1024];
    while body.len() < FILE_LEN {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) => panic!("reading the body: {e}"),
        }
    }
}

#[test]
fn a_client_pausing_longer_than_the_read_timeout_gets_the_whole_body() {
    let (proxy, _site) = proxy_over_big_file("");
    let mut stream = connect(&proxy);
    let mut body = request_big(&mut stream);
    // The pause is the behaviour under test: longer than proxy_read_timeout, while the proxy
    // holds a full window for us and has paused its upstream.
    std::thread::sleep(PAUSE);
    read_rest(&mut stream, &mut body);
    assert_eq!(body.len(), FILE_LEN, "the download was cut");
    assert!(body == file_bytes(), "the body differs");
}

#[test]
fn a_client_taking_nothing_for_the_send_timeout_is_dropped() {
    let (proxy, _site) = proxy_over_big_file("    proxy_send_timeout 1s;\n");
    let mut stream = connect(&proxy);
    let mut body = request_big(&mut stream);
    // Taking nothing for over twice the send timeout: the timer checks progress once per period.
    std::thread::sleep(PAUSE);
    read_rest(&mut stream, &mut body);
    assert!(
        body.len() < FILE_LEN,
        "a client that took nothing for 3 s was still served all {FILE_LEN} bytes"
    );
    // The proxy still serves others.
    let mut other = connect(&proxy);
    let mut body = request_big(&mut other);
    read_rest(&mut other, &mut body);
    assert_eq!(body.len(), FILE_LEN);
}
