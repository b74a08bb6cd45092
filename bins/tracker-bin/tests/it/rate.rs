//! Registrations are rate-limited per source address: a burst beyond the bucket (malformed
//! attempts included) gets 429 with `Retry-After` and a JSON body that says why, while other
//! addresses (clients bound to 127.0.0.3, 127.0.0.4 on loopback) register as usual, and
//! heartbeats are never limited.

use crate::{post, start_default, wait_for};
use reactor::client::ResponseReader;
use serde_json::{Value, json};
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tracker::RegisterRate;

const RATE: RegisterRate = RegisterRate {
    per_second: 1,
    burst: 5,
};

/// `POST /submit-info` with `body` from a socket bound to `source`; answers status,
/// `Retry-After` and the JSON body.
fn register_from(source: &str, tracker: SocketAddr, body: &Value) -> (u16, Option<String>, Value) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect(&tracker.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.to_string();
    let request = format!(
        "POST /submit-info HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut wire = Vec::new();
    stream.read_to_end(&mut wire).unwrap();
    let mut input = bytes::BytesMut::from(&wire[..]);
    let response = ResponseReader::default()
        .feed(&mut input, &http_core::Method::Post)
        .unwrap()
        .expect("a whole response");
    let retry = response
        .headers
        .get("retry-after")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let json = serde_json::from_slice(&response.body).unwrap();
    (response.status.code(), retry, json)
}

#[test]
fn a_burst_beyond_the_bucket_gets_429_and_other_addresses_are_unaffected() {
    let tracker = start_default();
    tracker.tracker.set_register_rate(Some(RATE));
    let addr = tracker.addr;
    let peer = |n: u32| json!({"port": 5000 + n, "peer_id": format!("p{n}")});

    for n in 0..RATE.burst {
        let (status, _, body) = register_from("127.0.0.2", addr, &peer(n));
        assert_eq!(status, 200, "registration {n}: {body}");
    }
    let (status, retry, body) = register_from("127.0.0.2", addr, &peer(99));
    assert_eq!((status, retry.as_deref()), (429, Some("1")), "{body}");
    assert_eq!(
        body,
        json!({
            "error": "too many requests: registrations from 127.0.0.2 are limited to 1/s (bursts of 5); retry in 1 s",
            "retry_after": 1
        })
    );
    // Refused before anything was stored.
    assert_eq!(crate::get(addr, "/status").1["peers"], RATE.burst);

    // Other sources have buckets of their own.
    for (k, source) in [(1, "127.0.0.3"), (2, "127.0.0.4")] {
        for n in 0..RATE.burst {
            let (status, _, body) = register_from(source, addr, &peer(100 * k + n));
            assert_eq!(status, 200, "{source}: {body}");
        }
    }
    // Malformed attempts count too: five 400s use up a bucket.
    for _ in 0..RATE.burst {
        let (status, _, _) = register_from("127.0.0.5", addr, &json!({"port": "x"}));
        assert_eq!(status, 400);
    }
    let (status, _, _) = register_from("127.0.0.5", addr, &peer(500));
    assert_eq!(status, 429);
    // Heartbeats are not registrations.
    let (status, body) = post(addr, "/submit-info", &json!({"port": 6000}));
    assert_eq!(status, 200, "{body}");
    let creds = json!({"peer_id": body["peer_id"], "token": body["token"]});
    for _ in 0..50 {
        assert_eq!(post(addr, "/heartbeat", &creds).0, 200);
    }
    // The bucket refills at its rate: one more registration within a few seconds.
    wait_for("the bucket to refill", Duration::from_secs(5), || {
        register_from("127.0.0.2", addr, &peer(99)).0 == 200
    });
}
