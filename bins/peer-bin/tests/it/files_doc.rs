//! Runs every example of docs/PROTOCOL.md's `## Peer file sharing` section, in order, against
//! two fresh peers and a tracker, so the document cannot drift from the code.
//!
//! Blocks are ```` ```http ```` pairs: a request (its `Host` names the peer: `127.0.0.1:5001` is
//! alice, `127.0.0.1:5002` bob) and its response (status line, headers to check, body). `/srv/`
//! stands for the scratch directory, `<token>` for the peers' token; in an expected JSON body a
//! `"<...>"` string matches any value, and a body that is not JSON is compared as text. A `GET`
//! is asked again until it matches (it may show a fetch still running), within a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_core::Method;
use reactor::client::blocking_request;
use serde_json::Value;
use test_support::docs::{examples, header, matches, split};

use crate::{TOKEN, peer, tempdir, tracker, wait_for};

#[test]
fn every_file_sharing_example_in_protocol_md_runs_as_written() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("docs/PROTOCOL.md");
    let examples = examples(&doc, "## Peer file sharing");
    assert!(examples.len() >= 8, "only {} examples", examples.len());

    let tmp = tempdir("files-doc");
    let dir = tmp.path();
    let srv = format!("{}/", dir.display());
    std::fs::write(dir.join("hello.txt"), b"hello world\n").unwrap();
    std::fs::write(dir.join("other.txt"), b"other content").unwrap();
    let t = tracker(90);
    let alice = peer("alice", Some(t.addr), dir);
    let bob = peer("bob", Some(t.addr), dir);
    for p in [&alice, &bob] {
        wait_for("registration", Duration::from_secs(10), || {
            p.node.tracker_status().registered
        });
    }
    let peer_addr = |host: &str| -> SocketAddr {
        match host {
            "127.0.0.1:5001" => alice.addr(),
            "127.0.0.1:5002" => bob.addr(),
            other => panic!("no peer at {other}"),
        }
    };

    for ex in &examples {
        let (line, response) = (ex.line, &ex.response);
        let request = ex.request.replace("/srv/", &srv).replace("<token>", TOKEN);
        let mut req = test_support::docs::request(&request);
        let (method, target) = (req.head.method.clone(), req.head.target.clone());
        // The Host names the peer as the document does; the request goes to the one running.
        let host = req.head.headers.get("host").map(String::from_utf8_lossy);
        let addr = peer_addr(&host.unwrap_or_else(|| panic!("line {line}: a Host names the peer")));
        req.head.headers.remove("host");

        let (expected_head, expected_body) = split(response);
        let status = ex.status();
        let expected_json: Option<Value> = serde_json::from_str(expected_body).ok();
        let at = format!("PROTOCOL.md line {line}: {method} {target}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = blocking_request(addr, &req, Duration::from_secs(10)).unwrap();
            let text = String::from_utf8_lossy(&got.body).replace(&srv, "/srv/");
            let body_ok = match &expected_json {
                Some(expected) => serde_json::from_str::<Value>(&text)
                    .is_ok_and(|actual| matches(expected, &actual)),
                None => text.trim() == expected_body,
            };
            let headers_ok = expected_head[1..].iter().all(|l| {
                let (name, value) = header(l);
                got.headers.get(name).is_some_and(|v| v == value.as_bytes())
            });
            if got.status.code() == status && body_ok && headers_ok {
                break;
            }
            assert!(
                method == Method::Get && Instant::now() < deadline,
                "{at}: got {} {text} with {:?}",
                got.status.code(),
                got.headers
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
