//! The console from a pipe (`--console`) and the tracker's reachability (issue 13): a tracker
//! that is down from the start is reported at once (console line, `/api/me`, a UI event), and
//! so is its coming back; piped commands are answered, errors say why, our own messages are
//! echoed, and the end of the input stops a `--console` peer with exit 0.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_core::Method;
use p2p::UiEvent;

use crate::daemon::{parse_url, peer_bin};
use crate::{TOKEN, call, peer, tempdir, tracker_at, wait_for};
use test_support::closed_addr;
use test_support::process::{Daemon, Lines};

const WAIT: Duration = Duration::from_secs(15);

/// Waits for a line of `lines` holding `needle`; answers it, or fails naming what was seen.
fn expect_line(lines: &Lines, seen: &mut Vec<String>, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(l) = seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.next(left) {
            Some(l) => seen.push(l),
            None => panic!("no line with {needle:?}; stdout was:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn tracker_down_at_start_is_reported_then_its_return() {
    let tmp = tempdir("reach");
    let dir = tmp.path();
    let addr = closed_addr();
    let a = peer("alice", Some(addr), dir);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    a.node.subscribe(Box::new(move |event| {
        if let UiEvent::Tracker(status) = event {
            sink.lock().unwrap().push(status.reachable);
        }
        true
    }));
    wait_for("/api/me to say the tracker is unreachable", WAIT, || {
        let (_, me) = call(a.addr(), Method::Get, "/api/me", None);
        me["tracker"]["checked"] == true && me["tracker"]["reachable"] == false
    });
    let (_, me) = call(a.addr(), Method::Get, "/api/me", None);
    assert_eq!(me["tracker"]["addr"], addr.to_string(), "{me}");

    let t = tracker_at(addr, 90);
    wait_for("/api/me to say the tracker is back", WAIT * 4, || {
        let (_, me) = call(a.addr(), Method::Get, "/api/me", None);
        me["tracker"]["reachable"] == true
    });
    // The subscription may start after the first report; the change is always heard.
    assert_eq!(events.lock().unwrap().last(), Some(&true));
    drop((a, t));
}

#[test]
fn piped_console_answers_echoes_and_stops_at_end_of_input() {
    let tmp = tempdir("pipe");
    let dir = tmp.path();
    let tracker = closed_addr();
    let mut daemon = Daemon::spawn(
        peer_bin("erin", tracker, &dir.join("erin"))
            .arg("--console")
            .env("WEAPROUS_TOKEN", TOKEN)
            .stdin(Stdio::piped()),
    );
    let mut stdin = daemon.child.stdin.take().unwrap();
    let lines = daemon.stdout();
    let mut seen = Vec::new();
    let url = expect_line(&lines, &mut seen, "?token=");
    let (_, port, _) = parse_url(&url).unwrap();

    // The unreachable tracker is reported without being asked, with its address.
    let down = expect_line(&lines, &mut seen, "unreachable");
    assert!(down.contains(&tracker.to_string()), "{down}");

    // Piped commands are answered; each refusal says why.
    stdin
        .write_all(b"/direct nobody hi\nhello\n/discover\n/peers\n")
        .unwrap();
    stdin.flush().unwrap();
    expect_line(&lines, &mut seen, "not sent: no peer named \"nobody\"");
    let refused = expect_line(
        &lines,
        &mut seen,
        "not sent: not a member of channel general",
    );
    assert!(refused.contains("unreachable"), "{refused}");
    expect_line(&lines, &mut seen, "asked anyway");
    expect_line(&lines, &mut seen, "no linked peers");

    // The tracker comes up: reported, the channel joined, and our own messages echoed with
    // the time of day.
    let t = tracker_at(tracker, 90);
    expect_line(&lines, &mut seen, &format!("tracker {tracker} reachable"));
    let api = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for("erin in general", WAIT, || {
        let (_, channels) = call(api, Method::Get, "/api/channels", None);
        channels[0]["name"] == "general"
    });
    stdin.write_all(b"hello again\n").unwrap();
    stdin.flush().unwrap();
    let echo = expect_line(&lines, &mut seen, "[#general] erin: hello again");
    let stamp = echo.split(' ').next().unwrap();
    assert!(
        stamp.len() == 8 && stamp.chars().filter(|&c| c == ':').count() == 2,
        "{echo}"
    );

    // End of input with --console: the peer says so and stops, exit 0.
    drop(stdin);
    expect_line(&lines, &mut seen, "end of input");
    let exit = daemon.wait_exit(WAIT);
    assert!(exit.success(), "{exit:?}");
    drop(t);
}
