//! The real peer-bin binary as a daemon (stdin not a terminal) against an in-process tracker
//! and peer: the URL it prints, `--token`, a quiet stdout, and SIGTERM → `bye` to its links,
//! `/remove` at the tracker, exit 0. `--port 0` lets the kernel pick its port, read back from
//! the printed URL, so there is no race for a free port.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_core::Method;
use p2p::Event;
use p2p::UiEvent;
use test_support::process::Daemon;

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

/// The built peer-bin as `name` on an ephemeral port of 127.0.0.1, with `tracker` and its data
/// in `data_dir`; stdout (where it prints its URL) piped, no stdin, no log. Callers add the
/// rest.
pub(crate) fn peer_bin(name: &str, tracker: SocketAddr, data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_peer-bin"));
    command
        .args(["--host", "127.0.0.1", "--port", "0", "--name", name])
        .arg("--tracker")
        .arg(format!("http://{tracker}"))
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
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

    let mut daemon = Daemon::spawn(
        peer_bin("dave", t.addr, &dir.join("dave"))
            .args(["--token", TOKEN])
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut stdin = daemon.child.stdin.take().unwrap();
    // Every stdout line, as it comes; the log (stderr) for failure messages.
    let lines = daemon.stdout();
    let log = daemon.stderr();
    let log_text = || log.rest().join("\n");

    // At start: one line with the URL and the token given.
    let first = lines.next(WAIT).unwrap_or_else(|| {
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
    daemon.signal("TERM");
    let exit = daemon.wait_exit(WAIT);
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
    let rest = lines.rest();
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
