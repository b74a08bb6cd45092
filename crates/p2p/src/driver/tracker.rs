//! The tracker's API as the peer uses it (SPEC §5): the requests, and the parsing of answers.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_core::{Method, Request};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::identity::Identity;

/// How long one tracker request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

fn post(target: &str, body: &Value) -> Request {
    let mut req = Request::new(Method::Post, target);
    req.head.headers.insert("Content-Type", "application/json");
    req.body = Bytes::from(body.to_string());
    req
}

/// `POST /submit-info`: `ip` is left out when we listen on every address, so the tracker
/// takes the connection's source address. The registration is signed with our key
/// (`key_proof`), so a live session of ours whose token we lost is taken back.
pub fn register(
    identity: &Identity,
    peer_id: &str,
    name: &str,
    ip: Option<IpAddr>,
    port: u16,
) -> Request {
    let ts = crate::driver::now_ms();
    let key_proof = json!({"ts": ts, "sig": identity.sign_registration(peer_id, port, ts)});
    let key = identity.public().as_str();
    let mut body = json!({"port": port, "peer_id": peer_id, "name": name, "key": key,
        "key_proof": key_proof});
    if let Some(ip) = ip {
        body["ip"] = json!(ip.to_string());
    }
    post("/submit-info", &body)
}

/// `POST /add-list`.
pub fn join(peer_id: &str, token: &str, channel: &str, key: Option<&str>) -> Request {
    let mut body = json!({"peer_id": peer_id, "token": token, "channel": channel});
    if let Some(key) = key {
        body["key"] = json!(key);
    }
    post("/add-list", &body)
}

/// `POST /tracker/channels/leave`.
pub fn leave(peer_id: &str, token: &str, channel: &str) -> Request {
    post(
        "/tracker/channels/leave",
        &json!({"peer_id": peer_id, "token": token, "channel": channel}),
    )
}

/// `POST /heartbeat`.
pub fn heartbeat(peer_id: &str, token: &str) -> Request {
    post("/heartbeat", &json!({"peer_id": peer_id, "token": token}))
}

/// `POST /remove`.
pub fn remove(peer_id: &str, token: &str) -> Request {
    post("/remove", &json!({"peer_id": peer_id, "token": token}))
}

/// `GET /get-list?channel=…` (channel names need no escaping).
pub fn list(channel: &str) -> Request {
    Request::new(Method::Get, format!("/get-list?channel={channel}"))
}

/// `GET /get-list`: every peer, for their keys.
pub fn list_all() -> Request {
    Request::new(Method::Get, "/get-list")
}

/// The useful part of a registration answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The id the tracker filed us under.
    pub peer_id: String,
    /// Our token for mutating calls.
    pub token: String,
    /// How often to heartbeat.
    pub interval: Duration,
    /// Our source address as the tracker saw it (trackers before `observed_ip` leave it out).
    pub observed_ip: Option<IpAddr>,
}

#[derive(Deserialize)]
struct RegisteredBody {
    peer_id: String,
    token: String,
    heartbeat_interval: u64,
    #[serde(default)]
    observed_ip: Option<IpAddr>,
}

/// Reads a `/submit-info` answer.
pub fn parse_registered(body: &[u8]) -> Result<Registered, String> {
    let b: RegisteredBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(Registered {
        peer_id: b.peer_id,
        token: b.token,
        interval: Duration::from_secs(b.heartbeat_interval.max(1)),
        observed_ip: b.observed_ip,
    })
}

/// A peer as `/get-list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its id.
    pub peer_id: String,
    /// Where to dial it.
    pub addr: SocketAddr,
    /// Its public key, if it registered one.
    pub key: Option<String>,
}

#[derive(Deserialize)]
struct ListBody {
    #[serde(default)]
    peers: Vec<ListedBody>,
}

#[derive(Deserialize)]
struct ListedBody {
    peer_id: String,
    ip: IpAddr,
    port: u16,
    #[serde(default)]
    key: Option<String>,
}

/// Reads a `/get-list` answer.
pub fn parse_list(body: &[u8]) -> Result<Vec<Listed>, String> {
    let b: ListBody = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(b.peers
        .into_iter()
        .map(|p| Listed {
            peer_id: p.peer_id,
            addr: SocketAddr::new(p.ip, p.port),
            key: p.key,
        })
        .collect())
}

/// Reads the `members` of a `/add-list` answer.
pub fn parse_members(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Joined {
        #[serde(default)]
        members: Vec<String>,
    }
    serde_json::from_slice::<Joined>(body)
        .map(|j| j.members)
        .map_err(|e| e.to_string())
}

/// The `error` of an error answer, or the body as text.
pub fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_list(body: &str, expected: &[(&str, &str)]) {
        let got = parse_list(body.as_bytes()).unwrap();
        let got: Vec<(String, String)> = got
            .into_iter()
            .map(|l| (l.peer_id, l.addr.to_string()))
            .collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn list_answers() {
        check_list(r#"{"status":"ok","count":0,"peers":[]}"#, &[]);
        check_list(
            r#"{"status":"ok","count":1,"peers":[{"peer_id":"a","name":"A","ip":"127.0.0.1","port":5001,"channels":["general"],"roles":[],"meta":null,"last_seen":0}]}"#,
            &[("a", "127.0.0.1:5001")],
        );
        assert!(parse_list(b"nope").is_err());
    }

    #[test]
    fn registration_answers() {
        let r = parse_registered(
            br#"{"status":"ok","peer_id":"p","token":"t","ttl":90,"heartbeat_interval":30}"#,
        )
        .unwrap();
        assert_eq!(r.interval, Duration::from_secs(30));
        assert_eq!((r.peer_id.as_str(), r.token.as_str()), ("p", "t"));
        assert_eq!(r.observed_ip, None);
        let r = parse_registered(
            br#"{"peer_id":"p","token":"t","heartbeat_interval":3,"observed_ip":"10.0.0.2"}"#,
        )
        .unwrap();
        assert_eq!(r.observed_ip, Some("10.0.0.2".parse().unwrap()));
        assert!(parse_registered(br#"{"error":"bad port"}"#).is_err());
    }

    #[test]
    fn error_messages() {
        assert_eq!(error_message(br#"{"error":"wrong key"}"#), "wrong key");
        assert_eq!(error_message(b"plain\n"), "plain");
    }

    #[test]
    fn requests_carry_json() {
        let req = join("p", "t", "secret", Some("k"));
        let v: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            v,
            json!({"peer_id":"p","token":"t","channel":"secret","key":"k"})
        );
        let me = Identity::generate();
        let req = register(&me, "p", "n", None, 5);
        let v: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            (&v["peer_id"], &v["name"], &v["port"]),
            (&json!("p"), &json!("n"), &json!(5))
        );
        assert_eq!(v["key"], me.public().as_str());
        let ts = v["key_proof"]["ts"].as_u64().unwrap();
        assert_eq!(v["key_proof"]["sig"], me.sign_registration("p", 5, ts));
        assert!(v.get("ip").is_none());
        assert_eq!(list("general").target(), "/get-list?channel=general");
    }
}
