//! Load and faults: many concurrent clients, slow clients, graceful shutdown of the real binary.

use crate::{read_to_eof, start, statuses};
use backend::AuthMode;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use test_support::process::{self, Lines};

const GET: &[u8] = b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n";

/// How long the daemon may take to log a line the test waits for.
const LOG_WAIT: Duration = Duration::from_secs(20);

/// Reads one response with a Content-Length body from a keep-alive connection.
fn read_response(stream: &mut TcpStream) -> u16 {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return head[9..12].parse().unwrap();
            }
        }
        let n = stream.read(&mut buf).expect("response");
        assert!(n > 0, "server closed early");
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_thousand_concurrent_keep_alive_clients_are_all_answered() {
    let server = start(AuthMode::Session);
    let mut clients: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    for round in 0..2 {
        for client in &mut clients {
            client.write_all(GET).unwrap();
        }
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            assert_eq!(read_response(client), 200, "client {i} round {round}");
        }
    }
}

#[test]
fn slow_half_open_clients_do_not_stall_a_normal_one() {
    let server = start(AuthMode::Session);
    let mut slow: Vec<TcpStream> = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        slow.push(s);
    }
    let mut client = TcpStream::connect(server.addr).unwrap();
    client.write_all(GET).unwrap();
    // Only a hang guard: a loop stuck behind the slow clients would answer (if at all) after
    // their header timeout, which the check below catches without timing anything.
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(read_response(&mut client), 200);
    // Answered while every slow client is still connected and unanswered: not after the server
    // gave up on them (a 408 or a close would be waiting on their sockets).
    for (i, s) in slow.iter_mut().enumerate() {
        s.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        match s.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("slow client {i} was no longer waiting: {other:?}"),
        }
    }
}

/// The built binary, started on an ephemeral port; its log says where it listens.
pub(crate) struct Daemon {
    pub(crate) process: process::Daemon,
    pub(crate) addr: SocketAddr,
    /// The daemon's log lines, as they come.
    log: Lines,
}

impl Daemon {
    fn start() -> Daemon {
        Daemon::serving(&crate::static_root())
    }

    /// The binary serving `static_root`.
    pub(crate) fn serving(static_root: &std::path::Path) -> Daemon {
        let mut process = process::Daemon::spawn(
            Command::new(env!("CARGO_BIN_EXE_backend-bin"))
                .args(["--port", "0", "--static-root"])
                .arg(static_root)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let log = process.stderr();
        let (addr, _) = log.listening(LOG_WAIT);
        Daemon { process, addr, log }
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let mut daemon = Daemon::start();
    let mut in_flight = TcpStream::connect(daemon.addr).unwrap();
    in_flight
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n[1,")
        .unwrap();
    // The partial request was in the server's socket before this connection existed, so by the
    // time the loop answers here it has read it: the signal finds a request in flight.
    let mut idle = TcpStream::connect(daemon.addr).unwrap();
    idle.write_all(GET).unwrap();
    assert_eq!(read_response(&mut idle), 200);
    daemon.process.signal("TERM");
    daemon.log.until("shutting down", LOG_WAIT);
    in_flight.write_all(b"2,3]").unwrap();
    let text = read_to_eof(&mut in_flight, Duration::from_secs(5)).0;
    assert_eq!(statuses(&text), vec![200], "{text}");
    assert!(text.contains("Connection: close"));
    assert!(text.ends_with(r#"{"received":[1,2,3]}"#), "{text}");
    assert_eq!(
        daemon.process.wait_exit(Duration::from_secs(10)).code(),
        Some(0)
    );
    assert!(
        TcpStream::connect(daemon.addr).is_err(),
        "no longer accepting"
    );
}

#[test]
fn sigint_exits_zero_like_sigterm() {
    let mut daemon = Daemon::start();
    let mut idle = TcpStream::connect(daemon.addr).unwrap();
    idle.write_all(GET).unwrap();
    assert_eq!(read_response(&mut idle), 200);
    daemon.process.signal("INT");
    daemon.log.until("shutting down", LOG_WAIT);
    // The idle keep-alive connection is closed, not kept open until the client goes.
    let (rest, closed) = read_to_eof(&mut idle, Duration::from_secs(20));
    assert!(closed && rest.is_empty(), "closed: {closed}, {rest}");
    // A generous deadline that only catches a hang; that idle connections are closed without
    // lingering (so they do not hold shutdown) is checked on a frozen clock in the reactor's
    // `graceful_shutdown_closes_idle_connections_without_lingering`.
    assert_eq!(
        daemon.process.wait_exit(Duration::from_secs(20)).code(),
        Some(0)
    );
}
