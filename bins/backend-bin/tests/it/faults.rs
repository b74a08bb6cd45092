//! Load and faults: many concurrent clients, slow clients, graceful shutdown of the real binary.

use crate::{read_until_close, start, statuses, wait_for};
use backend::AuthMode;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GET: &[u8] = b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n";

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
    let started = Instant::now();
    let mut client = TcpStream::connect(server.addr).unwrap();
    client.write_all(GET).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(read_response(&mut client), 200);
    // Generous bound: the point is "not stuck behind 200 slow clients", not a speed claim.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(slow);
}

/// The built binary, started on an ephemeral port; its log says where it listens.
struct Daemon {
    child: Child,
    addr: SocketAddr,
}

impl Daemon {
    fn start() -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backend-bin"))
            .args(["--port", "0", "--static-root"])
            .arg(crate::static_root())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the daemon logs its address");
        Daemon {
            child,
            addr: addr.parse().unwrap(),
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let mut daemon = Daemon::start();
    let mut in_flight = TcpStream::connect(daemon.addr).unwrap();
    in_flight
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n[1,")
        .unwrap();
    let mut idle = TcpStream::connect(daemon.addr).unwrap();
    idle.write_all(GET).unwrap();
    assert_eq!(read_response(&mut idle), 200);
    // Let the server see the partial request before the signal.
    std::thread::sleep(Duration::from_millis(100));
    daemon.signal("TERM");
    std::thread::sleep(Duration::from_millis(100));
    in_flight.write_all(b"2,3]").unwrap();
    let text = read_until_close(&mut in_flight, Duration::from_secs(5));
    assert_eq!(statuses(&text), vec![200], "{text}");
    assert!(text.contains("Connection: close"));
    assert!(text.ends_with(r#"{"received":[1,2,3]}"#), "{text}");
    let mut status = None;
    wait_for("the daemon to exit", Duration::from_secs(10), || {
        status = daemon.child.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(0));
    assert!(
        TcpStream::connect(daemon.addr).is_err(),
        "no longer accepting"
    );
}
