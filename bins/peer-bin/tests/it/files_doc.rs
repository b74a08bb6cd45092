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

use http_core::{Method, Request};
use reactor::client::blocking_request;
use serde_json::Value;

use crate::{TOKEN, peer, tempdir, tracker, wait_for};

/// The ```` ```http ```` blocks of the section, paired request → response, with line numbers.
fn examples(doc: &str) -> Vec<(usize, String, String)> {
    let start = doc.find("## Peer file sharing").expect("the section");
    let first_line = doc[..start].lines().count() + 1;
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in doc[start..].lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```http") => current = Some((first_line + n, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), line) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(blocks.len() % 2 == 0, "every request needs its response");
    blocks
        .chunks(2)
        .map(|pair| (pair[0].0, pair[0].1.clone(), pair[1].1.clone()))
        .collect()
}

fn split(block: &str) -> (Vec<&str>, &str) {
    match block.split_once("\n\n") {
        Some((head, body)) => (head.lines().collect(), body.trim()),
        None => (block.trim_end().lines().collect(), ""),
    }
}

/// JSON equality where an expected `"<...>"` string matches any value.
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(s), _) if s.starts_with('<') && s.ends_with('>') => true,
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a))
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, e)| a.get(k).is_some_and(|a| matches(e, a)))
        }
        (e, a) => e == a,
    }
}

#[test]
fn every_file_sharing_example_in_protocol_md_runs_as_written() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("docs/PROTOCOL.md");
    let examples = examples(&doc);
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

    for (line, request, response) in &examples {
        let request = request.replace("/srv/", &srv).replace("<token>", TOKEN);
        let (head, body) = split(&request);
        let mut words = head[0].split_whitespace();
        let (method, target) = (words.next().unwrap(), words.next().unwrap());
        let mut req = Request::new(Method::from_token(method), target);
        let mut addr = None;
        for l in &head[1..] {
            let (name, value) = l
                .split_once(':')
                .map(|(n, v)| (n.trim(), v.trim()))
                .unwrap();
            if name.eq_ignore_ascii_case("host") {
                addr = Some(peer_addr(value));
            } else {
                req.head.headers.append(name.to_owned(), value.to_owned());
            }
        }
        let addr = addr.unwrap_or_else(|| panic!("line {line}: a Host names the peer"));
        req.body = bytes::Bytes::from(body.to_owned());

        let (expected_head, expected_body) = split(response);
        let status: u16 = expected_head[0]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
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
                let (name, value) = l.split_once(':').unwrap();
                got.headers
                    .get(name.trim())
                    .is_some_and(|v| v == value.trim().as_bytes())
            });
            if got.status.code() == status && body_ok && headers_ok {
                break;
            }
            assert!(
                method == "GET" && Instant::now() < deadline,
                "{at}: got {} {text} with {:?}",
                got.status.code(),
                got.headers
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
