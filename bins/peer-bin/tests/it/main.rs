//! peer-bin over real sockets on 127.0.0.1: a tracker and several peers in-process, the mesh,
//! the tracker going away and coming back, restarts with persisted history, key channels,
//! hostile peers, and the local API.

mod api;
mod browser;
mod clock;
mod console;
mod course;
mod course_delivery;
mod csrf;
mod daemon;
mod direct;
mod disk;
mod files;
mod files_doc;
mod hostile;
mod keyproof;
mod logs;
mod mesh;
mod multihost;
mod rejoin;
mod signin;
mod startup;
mod swarm;
mod tracker_client;
mod trust;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use http_core::{Method, Request};
use p2p::Running;
use reactor::client::blocking_request;
use router::auth::Credentials;
use serde_json::Value;
pub use test_support::{read_until, tempdir, wait_for};

/// Starts a tracker at `addr` (port 0 for any) whose peers live `ttl_s` seconds.
pub fn tracker_at(addr: SocketAddr, ttl_s: u32) -> tracker::server::Running {
    let config = tracker::Config {
        max_peers: 10_000,
        default_ttl_s: ttl_s,
        ..tracker::Config::default()
    };
    tracker::server::spawn(tracker::Tracker::new(config, Credentials::new()), addr).unwrap()
}

/// A tracker on an ephemeral port.
pub fn tracker(ttl_s: u32) -> tracker::server::Running {
    tracker_at("127.0.0.1:0".parse().unwrap(), ttl_s)
}

/// The token every test peer uses.
pub const TOKEN: &str = "test-token";

/// Starts a peer named `name` on `addr`, with its data in `dir`.
pub fn peer_at(
    name: &str,
    addr: SocketAddr,
    tracker: Option<SocketAddr>,
    dir: &Path,
    channels: &[(&str, Option<&str>)],
) -> Running {
    p2p::spawn(config(name, addr, tracker, dir, channels)).unwrap()
}

/// The settings of a test peer.
pub fn config(
    name: &str,
    addr: SocketAddr,
    tracker: Option<SocketAddr>,
    dir: &Path,
    channels: &[(&str, Option<&str>)],
) -> p2p::Config {
    p2p::Config {
        addr,
        name: name.to_string(),
        tracker,
        channels: channels
            .iter()
            .map(|(c, k)| (c.to_string(), k.map(str::to_string)))
            .collect(),
        data_dir: Some(dir.join(name)),
        token: Some(TOKEN.to_string()),
        users: router::auth::Credentials::new(),
        static_root: None,
        peer_id: None,
        advertise: None,
        wall_clock: p2p::WallClock::default(),
        fsync: p2p::store::Fsync::default(),
        limits: http_core::Limits::default(),
    }
}

/// A peer in `general` on an ephemeral port.
pub fn peer(name: &str, tracker: Option<SocketAddr>, dir: &Path) -> Running {
    peer_at(
        name,
        "127.0.0.1:0".parse().unwrap(),
        tracker,
        dir,
        &[("general", None)],
    )
}

/// Sends one request to a peer's API with the bearer token; answers status and JSON body.
pub fn call(addr: SocketAddr, method: Method, target: &str, body: Option<Value>) -> (u16, Value) {
    call_with(
        addr,
        method,
        target,
        body,
        &[("Authorization", "Bearer test-token")],
    )
}

/// [`call`] with explicit headers.
pub fn call_with(
    addr: SocketAddr,
    method: Method,
    target: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = Request::new(method, target);
    for (k, v) in headers {
        req.head.headers.append(k.to_string(), v.to_string());
    }
    if let Some(body) = body {
        req.head.headers.insert("Content-Type", "application/json");
        req.body = bytes::Bytes::from(body.to_string());
    }
    let response = blocking_request(addr, &req, Duration::from_secs(10)).unwrap();
    let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status.code(), value)
}

/// Message texts of a channel as `name: text`, in display order.
pub fn texts(addr: SocketAddr, channel: &str) -> Vec<String> {
    let (status, body) = call(
        addr,
        Method::Get,
        &format!("/api/channels/{channel}/messages?limit=500"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m["name"].as_str().unwrap(),
                m["text"].as_str().unwrap()
            )
        })
        .collect()
}

/// Ids of linked peers.
pub fn linked(addr: SocketAddr) -> Vec<String> {
    let (_, body) = call(addr, Method::Get, "/api/peers", None);
    let mut ids: Vec<String> = body
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["peer_id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// A raw link to `addr`: the upgrade done, nothing else sent yet.
pub fn raw_link(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        format!(
            "GET /p2p/link HTTP/1.1\r\nHost: {addr}\r\nUpgrade: weaprous-p2p/1\r\nConnection: Upgrade\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let head = read_until(&mut s, b"\r\n\r\n", Duration::from_secs(5));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// Whether the peer closes `s` within `wait` (reading and dropping whatever it sends first).
pub fn closed_by_peer(s: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// A hello frame for `peer_id` joined to `channels`, with `key`'s public key and a fresh
/// challenge; its nonce is 0, the smallest, so it would win any tie-break it could reach.
pub fn hello(peer_id: &str, channels: &[&str], key: &p2p::Identity) -> String {
    format!(
        "{}\n",
        serde_json::json!({"type": "hello", "peer_id": peer_id, "name": "raw",
            "nonce": 0, "version": p2p::PROTOCOL_VERSION, "channels": channels,
            "key": key.public().as_str(), "challenge": p2p::identity::new_challenge()})
    )
}

/// A message by `from` in `channel` numbered `seq`, signed with `key`.
pub fn signed(
    from: &str,
    channel: &str,
    seq: u64,
    text: &str,
    key: &p2p::Identity,
) -> p2p::Message {
    let mut m = p2p::Message {
        id: p2p::Message::make_id(from, channel, seq),
        channel: channel.to_string(),
        from: from.to_string(),
        name: "raw".to_string(),
        seq,
        lamport: seq,
        ts: 0,
        text: text.to_string(),
        to: None,
        sig: None,
        unverified: false,
        sealed: None,
    };
    key.sign_message(&mut m);
    m
}

/// A raw link to `addr` that went through the handshake as `peer_id` holding `key`: hello,
/// the acceptor's hello-ack, then our proof over its challenge. Answers the stream and the
/// hello-ack line.
pub fn raw_peer(
    addr: SocketAddr,
    peer_id: &str,
    channels: &[&str],
    key: &p2p::Identity,
) -> (TcpStream, String) {
    let mut s = raw_link(addr);
    s.write_all(hello(peer_id, channels, key).as_bytes())
        .unwrap();
    let ack = read_until(&mut s, b"\n", Duration::from_secs(5));
    let frame: Value = serde_json::from_str(ack.trim()).unwrap_or_default();
    if frame["type"] == "hello-ack" {
        let challenge = frame["challenge"].as_str().unwrap_or_default();
        let them = frame["peer_id"].as_str().unwrap_or_default();
        let auth =
            serde_json::json!({"type": "auth", "proof": key.prove(challenge, peer_id, them)});
        s.write_all(format!("{auth}\n").as_bytes()).unwrap();
    }
    (s, ack)
}
