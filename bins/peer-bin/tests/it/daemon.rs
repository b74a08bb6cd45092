//! The real peer-bin binary as a daemon (stdin not a terminal) against an in-process tracker
//! and peer: the URL it prints, `--token`, a quiet stdout, and SIGTERM → `bye` to its links,
//! `/remove` at the tracker, exit 0. `--port 0` lets the kernel pick its port, read back from
//! the printed URL, so there is no race for a free port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_core::Method;
use p2p::Event;
use p2p::UiEvent;

use crate::{TOKEN, call, call_with, peer, tempdir, tracker, wait_for};

const WAIT: Duration = Duration::from_secs(15);

/// The port of a `http://HOST:PORT/?token=T` URL in `line`, with its host and token.
pub(crate) fn parse_url(line: &str) -> Option<(String, u16, String)> {
    let rest = &line[line.find("http://")? + "http://".len()..];
    let (authority, query) = rest.split_once("/?token=")?;
    let (host, port) = authority.rsplit_once(':')?;
    let token = query.split_whitespace().next()?;
    Some((host.to_string(), port.parse().ok()?, token.to_string()))
}

/// Kills the child if the test fails before it exits.
pub(crate) struct Daemon(pub(crate) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn daemon_prints_its_url_honours_the_token_and_exits_cleanly_on_sigterm() {
    let tmp = tempdir("daemon");
    let dir = tmp.path();
    let t = tracker(90);
    let b = peer("bob", Some(t.addr), dir);
    let downs = Arc::new(Mutex::new(Vec::new()));
    let seen = downs.clone();
    b.node.subscribe(Box::new(move |event| {
        if let UiEvent::Node(Event::PeerDown { peer_id, reason }) = event {
            seen.lock().unwrap().push((peer_id.clone(), reason.clone()));
        }
        true
    }));

    let mut child = Command::new(env!("CARGO_BIN_EXE_peer-bin"))
        .args(["--host", "127.0.0.1", "--port", "0", "--name", "dave"])
        .arg("--tracker")
        .arg(format!("http://{}", t.addr))
        .arg("--token")
        .arg(TOKEN)
        .arg("--data-dir")
        .arg(dir.join("dave"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let daemon = Daemon(child);
    // Every stdout line, as it comes; stderr (the log) kept for failure messages.
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let log = Arc::new(Mutex::new(String::new()));
    let log_sink = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            log_sink
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let log_text = || log.lock().unwrap().clone();

    // At start: one line with the URL and the token given.
    let first = lines.recv_timeout(WAIT).unwrap_or_else(|_| {
        panic!("no URL printed; log:\n{}", log_text());
    });
    let (host, port, token) = parse_url(&first).unwrap_or_else(|| panic!("{first}"));
    assert_eq!(
        (host.as_str(), token.as_str()),
        ("127.0.0.1", TOKEN),
        "{first}"
    );
    assert_ne!(port, 0);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // --token is honoured: Bearer T opens the local API, another token does not.
    let (status, me) = call(addr, Method::Get, "/api/me", None);
    assert_eq!((status, me["name"].as_str()), (200, Some("dave")), "{me}");
    let dave = me["peer_id"].as_str().unwrap().to_string();
    assert_eq!(dave, addr.to_string());
    let (status, _) = call_with(
        addr,
        Method::Get,
        "/api/me",
        None,
        &[("Authorization", "Bearer not-the-token")],
    );
    assert_eq!(status, 401);

    // It registers and links to bob through the tracker.
    wait_for("dave linked to bob", WAIT, || b.node.is_linked(&dave));
    let (_, listed) = call(t.addr, Method::Get, "/get-list", None);
    assert_eq!(listed["count"], 2, "{listed}");

    // Console commands on a stdin that is not a terminal are not read: nothing answers them.
    stdin
        .write_all(b"/help\n/peers\nhello from stdin\n")
        .unwrap();
    stdin.flush().unwrap();

    // SIGTERM: bye to bob, /remove at the tracker, exit 0.
    let pid = daemon.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let mut daemon = daemon;
    let mut exit = None;
    wait_for("peer-bin to exit", WAIT, || {
        exit = daemon.0.try_wait().unwrap();
        exit.is_some()
    });
    let exit = exit.unwrap();
    assert!(exit.success(), "{exit:?}; log:\n{}", log_text());
    let (_, listed) = call(t.addr, Method::Get, "/get-list", None);
    assert_eq!(listed["count"], 1, "removed at once: {listed}");
    assert_eq!(listed["peers"][0]["peer_id"], b.node.peer_id());
    wait_for("bob hearing dave go", WAIT, || {
        !downs.lock().unwrap().is_empty()
    });
    let downs = downs.lock().unwrap().clone();
    assert_eq!(downs.len(), 1, "{downs:?}");
    assert_eq!(downs[0].0, dave);
    assert!(
        downs[0].1.contains("bye") && downs[0].1.contains("shutting down"),
        "bob was told why: {downs:?}"
    );
    assert!(
        texts_none_from_stdin(&b),
        "stdin text must not be posted when it is not a terminal"
    );

    // The process has exited, so its stdout is complete: the URL line and nothing else.
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(
        rest.is_empty(),
        "console output without a terminal: {rest:?}"
    );
    drop((b, t));
}

/// Whether bob never got the plain-text line written to dave's stdin.
fn texts_none_from_stdin(b: &p2p::Running) -> bool {
    b.node
        .messages("general", None, 500)
        .iter()
        .all(|m| m.text != "hello from stdin")
}
