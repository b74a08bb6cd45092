//! The built backend-bin as the course grades it, with no flags: `auth=true` is the credential,
//! and the start-up log says once that the cookie can be forged; and behind the course's
//! skeleton proxy, which reads each answer until the backend closes.

use crate::{read_to_eof, send};
use http_core::Method;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use test_support::process::Daemon;

/// Starts the built backend-bin with `args`; answers it, its address and the log lines before
/// it said where it listens.
fn start(args: &[&str]) -> (Daemon, SocketAddr, Vec<String>) {
    let mut daemon = Daemon::spawn(
        Command::new(env!("CARGO_BIN_EXE_backend-bin"))
            .args(["--port", "0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null()),
    );
    let (addr, log) = daemon.stderr().listening(Duration::from_secs(20));
    (daemon, addr, log)
}

#[test]
fn the_default_backend_takes_the_course_cookie_and_warns_once() {
    let (_daemon, addr, log) = start(&[]);
    let warnings: Vec<_> = log
        .iter()
        .filter(|l| l.contains("--auth-mode session"))
        .collect();
    assert_eq!(warnings.len(), 1, "one start-up warning: {log:?}");
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);

    let flagged = send(addr, Method::Get, "/", &[("Cookie", "auth=true")], b"");
    assert_eq!(flagged.status.code(), 200);
    let bare = send(addr, Method::Get, "/", &[], b"");
    assert_eq!(bare.status.code(), 401);
    let user = send(addr, Method::Get, "/user", &[("Cookie", "auth=true")], b"");
    let user: serde_json::Value = serde_json::from_slice(&user.body).unwrap();
    assert_eq!(
        user["auth_mode"], "flag",
        "the index page explains the mode"
    );
}

#[test]
fn a_proxy_that_reads_until_close_gets_its_answer_with_keepalive_off() {
    let (_daemon, addr, _) = start(&["--keepalive-timeout", "0"]);
    // The skeleton proxy forwards an HTTP/1.1 request (keep-alive by default) and reads until
    // EOF. The wait is far below the 60 s a default idle connection would be held.
    let mut upstream = TcpStream::connect(addr).unwrap();
    let request = "GET / HTTP/1.1\r\nHost: x\r\nCookie: auth=true\r\n\r\n";
    upstream.write_all(request.as_bytes()).unwrap();
    let (answer, closed) = read_to_eof(&mut upstream, Duration::from_secs(10));
    assert!(
        closed,
        "backend-bin kept the connection open: {answer:.200}"
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer:.400}"
    );
}
