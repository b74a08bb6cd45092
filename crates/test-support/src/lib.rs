//! Helpers the daemons' integration tests share, written once: waiting on a condition with a
//! deadline, one request through the blocking client, raw bytes on a socket, and scratch
//! directories that are removed when dropped.
//!
//! A dev-dependency only; nothing here runs in a daemon. [`docs`] reads the HTTP examples of a
//! document for the tests that run them as written; [`process`] runs a built daemon.

pub mod docs;
pub mod process;

use std::ffi::OsStr;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use http_core::{Method, Request};
use reactor::client::{ClientResponse, blocking_request};

pub use tempfile::TempDir;

/// How long [`send`] waits for a whole response.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`wait_for`] asks again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Waits until `cond` holds, failing the test with `what` after `timeout`; never a bare sleep.
pub fn wait_for(what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    assert!(within(timeout, cond), "timed out waiting for {what}");
}

/// Whether `cond` comes to hold within `timeout`, asked again every few milliseconds: for a
/// test that has something to do when it does not.
pub fn within(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Sends one request with the blocking client and answers the whole response.
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
    blocking_request(addr, &req, SEND_TIMEOUT).unwrap()
}

/// The body as text.
pub fn text(resp: &ClientResponse) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// Writes raw bytes, then reads until the server closes or `wait` passes.
pub fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(bytes).unwrap();
    read_to_eof(&mut stream, wait).0
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
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// Reads until `needle` has been seen (or EOF, or `wait`); answers what was read. Reads a byte
/// at a time so nothing after the needle is consumed.
pub fn read_until(stream: &mut TcpStream, needle: &[u8], wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 1];
    while !got.windows(needle.len()).any(|w| w == needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => got.push(buf[0]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// An address on 127.0.0.1 that nothing listens on: bound to an ephemeral port, then released
/// (for a dead tracker or backend, or a port for a daemon that cannot be told `--port 0`).
pub fn closed_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `xtask/browser/SCRIPT` (headless Chromium through playwright) with `args`, fails the
/// test unless it exits 0, and answers its stdout. `cargo xtask ci` installs the node packages.
pub fn run_browser_script(script: &str, args: &[&OsStr]) -> String {
    let browser = repo_root().join("xtask/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "browser test packages missing: run `npm ci --prefix xtask/browser` (cargo xtask ci does)"
    );
    let output = Command::new("node")
        .arg(browser.join(script))
        .args(args)
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// Where a browser test saves screenshot `name`: in `WEAPROUS_SCREENS_DIR` when it is set (set
/// it to the repository's `docs/screens` to refresh the README's), else in `scratch`.
pub fn screenshot_path(scratch: &std::path::Path, name: &str) -> PathBuf {
    std::env::var_os("WEAPROUS_SCREENS_DIR")
        .map_or_else(|| scratch.to_path_buf(), PathBuf::from)
        .join(name)
}

/// The status codes of every response in a raw byte stream, in order.
pub fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// A fresh scratch directory named after `tag`, removed when the guard drops.
pub fn tempdir(tag: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("weaprous-{tag}-"))
        .tempdir()
        .unwrap()
}

/// [`tempdir`] in memory (`/dev/shm`) when the machine has it, else on disk: for tests that
/// write hundreds of MiB, which a shared disk may not have room for and memory does it faster.
pub fn tempdir_in_memory(tag: &str) -> TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        return tempdir(tag);
    }
    tempfile::Builder::new()
        .prefix(&format!("weaprous-{tag}-"))
        .tempdir_in(shm)
        .unwrap_or_else(|_| tempdir(tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn statuses_in_a_stream() {
        let check = |text: &str, expected: &[u16]| assert_eq!(statuses(text), expected, "{text:?}");
        check("", &[]);
        check(
            "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n",
            &[200, 404],
        );
        check("HTTP/1.1 2", &[]);
    }

    #[test]
    fn raw_reads_until_the_server_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let got = read_until(&mut s, b"\r\n\r\n", Duration::from_secs(5));
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
            got
        });
        let answer = raw(addr, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(5));
        assert_eq!(statuses(&answer), [204]);
        assert_eq!(server.join().unwrap(), "GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn tempdirs_are_fresh_and_removed() {
        let dir = tempdir("t");
        let path = dir.path().to_path_buf();
        assert!(path.is_dir());
        assert_ne!(tempdir("t").path(), path);
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    #[should_panic(expected = "timed out waiting for never")]
    fn wait_for_fails_at_its_deadline() {
        wait_for("never", Duration::from_millis(30), || false);
    }
}
