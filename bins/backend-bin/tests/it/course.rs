//! The built backend-bin as the course grades it, with no flags: `auth=true` is the credential,
//! and the start-up log says once that the cookie can be forged.

use crate::send;
use http_core::Method;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

/// Kills the daemon when the test ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_default_backend_takes_the_course_cookie_and_warns_once() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backend-bin"))
        .args(["--port", "0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _daemon = Daemon(child);
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("backend-bin logs its address");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        log.push(line);
    };
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
