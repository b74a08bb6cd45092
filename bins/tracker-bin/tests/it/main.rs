//! tracker-bin over real sockets on 127.0.0.1: the course's sequence, token checks, hostile
//! input and load, the examples of docs/PROTOCOL.md, and the binary's console and signals.

mod course;
mod daemon;
mod hostile;
mod identity;
mod load;
mod paging;
mod protocol;
mod rate;
mod redis;
mod sweep;
mod tokens;

use http_core::Method;
use reactor::client::ClientResponse;
use router::auth::Credentials;
use serde_json::{Value, json};
use std::net::SocketAddr;
pub use test_support::{send, wait_for};
use tracker::server::{Running, spawn};
use tracker::{Config, Tracker};

/// Starts a tracker in-process on an ephemeral port.
pub fn start(ttl_s: u32, max_peers: usize) -> Running {
    start_with(Config {
        max_peers,
        default_ttl_s: ttl_s,
        ..Config::default()
    })
}

/// A tracker with these registry settings on an ephemeral port (admin/password for the UI).
pub fn start_with(config: Config) -> Running {
    let mut admins = Credentials::new();
    admins.add("admin", "password");
    spawn(Tracker::new(config, admins), "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// A tracker with the defaults of tracker-bin.
pub fn start_default() -> Running {
    start(
        tracker::limits::DEFAULT_TTL_S,
        tracker_daemon::DEFAULT_MAX_PEERS,
    )
}

/// `POST target` with a JSON body; answers the status and the parsed body.
pub fn post(addr: SocketAddr, target: &str, body: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(body).unwrap();
    let headers = [("Content-Type", "application/json")];
    parse(send(addr, Method::Post, target, &headers, &body))
}

/// `GET target`; answers the status and the parsed body.
pub fn get(addr: SocketAddr, target: &str) -> (u16, Value) {
    parse(send(addr, Method::Get, target, &[], b""))
}

fn parse(response: ClientResponse) -> (u16, Value) {
    let value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "{} answered a non-JSON body ({e}): {:?}",
            response.status.code(),
            String::from_utf8_lossy(&response.body)
        )
    });
    (response.status.code(), value)
}

/// Registers `port` from 127.0.0.1 and returns `(peer_id, token)`.
pub fn register(addr: SocketAddr, port: u16) -> (String, String) {
    let (status, body) = post(
        addr,
        "/submit-info",
        &json!({"ip": "127.0.0.1", "port": port}),
    );
    assert_eq!(status, 200, "{body}");
    let field = |name: &str| body[name].as_str().unwrap().to_owned();
    (field("peer_id"), field("token"))
}

/// The ids of `GET target`'s peers.
pub fn peer_ids(addr: SocketAddr, target: &str) -> Vec<String> {
    let (status, body) = get(addr, target);
    assert_eq!(status, 200, "{body}");
    ids_of(&body)
}

/// The ids of the peers of a `/get-list` answer.
pub fn ids_of(body: &Value) -> Vec<String> {
    body["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap().to_owned())
        .collect()
}
