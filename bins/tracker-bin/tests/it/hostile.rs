//! Bad input never harms the tracker: malformed and mistyped JSON, huge arrays, a 10 MiB body and
//! 100,000 registrations from one client each get a clear answer while others keep being served.

use crate::{get, post, register, send, start, start_default};
use bytes::BytesMut;
use http_core::Method;
use reactor::client::{ClientResponse, ResponseReader};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Sends `body` raw to `path` and expects `status` with a JSON error naming `needle`.
fn check(addr: SocketAddr, path: &str, body: &[u8], status: u16, needle: &str) {
    let headers = [("Content-Type", "application/json")];
    let response = send(addr, Method::Post, path, &headers, body);
    let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
    assert_eq!(response.status.code(), status, "{path} {shown}");
    let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(needle),
        "{path} {shown} → {error:?} lacks {needle:?}"
    );
}

#[test]
fn malformed_and_mistyped_json_is_a_clear_400() {
    let tracker = start_default();
    let addr = tracker.addr;
    let (id, token) = register(addr, 5001);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, String, &str)> = vec![
        ("/heartbeat", "{bad".into(), "invalid JSON"),
        ("/heartbeat", "[1, 2".into(), "invalid JSON"),
        ("/heartbeat", "null".into(), "expected a JSON object"),
        ("/heartbeat", deep.clone(), "invalid JSON"),
        (
            "/heartbeat",
            r#"{"peer_id": 5}"#.into(),
            "peer_id must be a string",
        ),
        (
            "/heartbeat",
            format!(r#"{{"peer_id": "{id}", "token": 7}}"#),
            "token must be a string",
        ),
        ("/heartbeat", "{}".into(), "name the peer with peer_id"),
        ("/submit-info", "{bad".into(), "invalid JSON"),
        ("/submit-info", "[5001]".into(), "expected a JSON object"),
        ("/submit-info", deep, "invalid JSON"),
        ("/submit-info", r#"{"port": "5001"}"#.into(), "invalid type"),
        (
            "/submit-info",
            r#"{"port": 5001, "channels": "general"}"#.into(),
            "invalid type",
        ),
        (
            "/submit-info",
            r#"{"port": 5001, "ttl": -5}"#.into(),
            "invalid value",
        ),
        (
            "/submit-info",
            r#"{"port": 5001, "ttl": 999999}"#.into(),
            "ttl must be in",
        ),
        ("/submit-info", r#"{"port": 1e3}"#.into(), "invalid type"),
        (
            "/add-list",
            format!(r#"{{"peer_id": "{id}", "token": "{token}", "channel": ["x"]}}"#),
            "invalid type",
        ),
        (
            "/add-list",
            format!(r#"{{"peer_id": "{id}", "token": "{token}", "channel": "a b"}}"#),
            "channel",
        ),
        (
            "/tracker/update",
            format!(r#"{{"peer_id": "{id}", "token": "{token}", "load": "high"}}"#),
            "invalid type",
        ),
        (
            "/tracker/heartbeat_batch",
            r#"{"peers": 5}"#.into(),
            "invalid type",
        ),
        (
            "/files/publish",
            format!(r#"{{"peer_id": "{id}", "token": "{token}", "name": "a", "size": -1}}"#),
            "invalid value",
        ),
        ("/connect-peer", "{}".into(), "target is required"),
    ];
    for (path, body, needle) in &cases {
        check(addr, path, body.as_bytes(), 400, needle);
    }
    let (status, _) = post(addr, "/heartbeat", &json!({"peer_id": id, "token": token}));
    assert_eq!(status, 200, "the peer is untouched by all that");
}

#[test]
fn huge_arrays_are_refused_without_harm() {
    let tracker = start_default();
    let addr = tracker.addr;
    let (id, token) = register(addr, 5001);
    let many = |n: usize, item: &dyn Fn(usize) -> serde_json::Value| {
        serde_json::Value::Array((0..n).map(item).collect())
    };
    let cases = [
        (
            "/submit-info",
            json!({"port": 5002, "channels": many(80_000, &|i| json!(format!("c{i}")))}),
            "channels",
        ),
        (
            "/submit-info",
            json!({"port": 5002, "roles": many(80_000, &|i| json!(format!("r{i}")))}),
            "more than 8 roles",
        ),
        (
            "/submit-info",
            json!({"port": 5002, "meta": {"blob": "x".repeat(900_000)}}),
            "meta is",
        ),
        (
            "/tracker/heartbeat_batch",
            json!({"peers": many(20_000, &|i| json!({"peer_id": format!("p{i}")}))}),
            "more than 1024 peers",
        ),
        (
            "/files/publish",
            json!({"peer_id": id, "token": token, "name": "big", "size": 1u64 << 40, "chunk_size": 1,
                   "chunk_hashes": many(10, &|_| json!("00"))}),
            "more than 65536",
        ),
    ];
    for (path, body, needle) in &cases {
        let bytes = serde_json::to_vec(body).unwrap();
        // Under the 1 MiB body limit, so the registry's own bounds answer.
        assert!(
            bytes.len() < 1024 * 1024,
            "{path} body is {} bytes",
            bytes.len()
        );
        check(addr, path, &bytes, 400, needle);
    }
    let (_, list) = get(addr, "/get-list");
    assert_eq!(list["count"], 1, "nothing was registered: {list}");
}

#[test]
fn a_ten_mib_body_gets_413_and_the_tracker_keeps_serving() {
    let tracker = start_default();
    let mut stream = TcpStream::connect(tracker.addr).unwrap();
    let head = format!(
        "POST /submit-info HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).unwrap();
    // Some of the body, but not all: the server answers without reading 10 MiB, and a client
    // still writing after its close would get a reset that could swallow the answer.
    let _ = stream.write_all(&vec![b' '; 64 * 1024]);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let (status, _) = get(tracker.addr, "/tracker/health");
    assert_eq!(status, 200);
}

/// Sends `requests` pipelined in windows over one connection; answers each response in order.
pub(crate) fn pipeline(
    addr: SocketAddr,
    requests: &[Vec<u8>],
    window: usize,
) -> Vec<ClientResponse> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answers = Vec::with_capacity(requests.len());
    let mut input = BytesMut::new();
    let mut reader = ResponseReader::default();
    let mut buf = vec![0u8; 256 * 1024];
    for batch in requests.chunks(window) {
        stream.write_all(&batch.concat()).unwrap();
        let expected = answers.len() + batch.len();
        while answers.len() < expected {
            if let Some(response) = reader.feed(&mut input, &Method::Post).unwrap() {
                answers.push(response);
                continue;
            }
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the tracker closed after {} answers", answers.len());
            input.extend_from_slice(&buf[..n]);
        }
    }
    answers
}

#[test]
fn a_hundred_thousand_registrations_from_one_client_are_each_answered() {
    const TOTAL: usize = 100_000;
    const CAP: usize = 60_000;
    const CONNECTIONS: usize = 4;
    let tracker = start(90, CAP);
    // This test is about the count limit; the rate limit has its own tests (rate.rs).
    tracker.tracker.set_register_rate(None);
    let addr = tracker.addr;
    let requests: Vec<Vec<u8>> = (0..TOTAL)
        .map(|i| {
            let body = format!(r#"{{"peer_id":"flood-{i}","port":{}}}"#, 1024 + i % 60_000);
            format!(
                "POST /submit-info HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect();

    let done = AtomicBool::new(false);
    let (answers, served) = std::thread::scope(|s| {
        let other = s.spawn(|| {
            // Another client, served all along: each request answered within the client timeout.
            let mut served = 0u32;
            while !done.load(Ordering::Relaxed) {
                assert_eq!(get(addr, "/tracker/health").0, 200);
                served += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            served
        });
        let floods: Vec<_> = requests
            .chunks(TOTAL / CONNECTIONS)
            .map(|part| s.spawn(move || pipeline(addr, part, 256)))
            .collect();
        let answers: Vec<ClientResponse> =
            floods.into_iter().flat_map(|h| h.join().unwrap()).collect();
        done.store(true, Ordering::Relaxed);
        (answers, other.join().unwrap())
    });

    assert_eq!(answers.len(), TOTAL);
    let ok = answers.iter().filter(|r| r.status.code() == 200).count();
    let full: Vec<_> = answers.iter().filter(|r| r.status.code() == 503).collect();
    assert_eq!((ok, full.len()), (CAP, TOTAL - CAP));
    assert_eq!(&full[0].body[..], br#"{"error":"tracker is full"}"#);
    assert!(served > 0, "the other client was served during the flood");
    let (_, status) = get(addr, "/status");
    assert_eq!(status["peers"], CAP);
    let (status, _) = post(addr, "/submit-info", &json!({"port": 5001}));
    assert_eq!(status, 503);
}
