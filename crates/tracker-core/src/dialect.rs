//! The course clients' ways of naming a peer, and who may act for it without a token.
//!
//! Course clients name the peer a call is about by `peer_id`, by `ip` + `port`, or by
//! `username`/`name` when that name is unique among live peers; they send no token, so a call
//! from the peer's registered address is taken as the peer's own (see [`Registry::authorize`], in [`crate::identity`]).
//! Their `load` may be a number or an object such as `{"cpu": 0.4, "mem": 0.7}`.
//! Field aliases shared with the peer's API (`room`, `to`, `message`, …) are renamed by
//! `router::dialect` before these run.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::limits::bad;
use crate::registry::{Registry, not_registered};

/// What a 400 says when a body names no peer.
pub const PEER_FIELDS: &str =
    "name the peer with peer_id, with ip and port, or with a unique username or name";

/// How a body names the peer a call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerRef {
    /// `peer_id`.
    Id(String),
    /// `ip` + `port`: the address the peer registered.
    Addr(IpAddr, u16),
    /// `username` or `name`, which must name exactly one live peer.
    Name(String),
}

impl PeerRef {
    /// The peer named by `fields`, in order of precedence: `peer_id`, `ip` + `port`,
    /// `username`, `name`. Numbers may come as strings (forms send nothing else).
    pub fn of(fields: &Map<String, Value>) -> Result<PeerRef> {
        if let Some(id) = text(fields, "peer_id")? {
            return Ok(PeerRef::Id(id));
        }
        if let (Some(ip), Some(port)) = (text(fields, "ip")?, fields.get("port")) {
            let ip = ip
                .parse()
                .map_err(|_| bad(format!("ip {ip:?} is not an IP address")))?;
            let port = match port {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| bad(format!("port must be 1..=65535, got {port}")))?;
            return Ok(PeerRef::Addr(ip, port));
        }
        for field in ["username", "name"] {
            if let Some(name) = text(fields, field)? {
                return Ok(PeerRef::Name(name));
            }
        }
        Err(bad(PEER_FIELDS))
    }
}

/// `fields[name]` as a trimmed non-empty string; absent, null or blank is `None`, and any other
/// type is a 400, so a mistyped field is never taken for an absent one.
pub fn text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(other) => Err(bad(format!("{name} must be a string, got {other}"))),
    }
}

/// Rewrites a `load` object as one number: its `cpu`, else its `load`, else its largest
/// numeric field (the busiest resource); an object with no number drops the field. A number,
/// or anything else, is left for the decoder.
pub fn flatten_load(fields: &mut Map<String, Value>) {
    let Some(Value::Object(load)) = fields.get("load") else {
        return;
    };
    let named = ["cpu", "load"]
        .into_iter()
        .find_map(|k| load.get(k).and_then(Value::as_f64));
    let figure = named.or_else(|| load.values().filter_map(Value::as_f64).reduce(f64::max));
    match figure {
        Some(n) => fields.insert("load".to_owned(), n.into()),
        None => fields.remove("load"),
    };
}

impl Registry {
    /// The id of the live peer `named`. An unknown id, address or name is a 404; a name that
    /// several live peers share is a 400 asking for the peer id.
    pub fn resolve(&self, named: &PeerRef, now: u64) -> Result<String> {
        match named {
            PeerRef::Id(id) => Ok(id.clone()),
            PeerRef::Addr(ip, port) => self
                .peers
                .at_addr(*ip, *port)
                .find(|(_, p)| p.is_live(now))
                .map(|(id, _)| id.to_string())
                .ok_or_else(|| not_registered(&std::net::SocketAddr::new(*ip, *port).to_string())),
            PeerRef::Name(name) => {
                let mut ids: Vec<_> = self
                    .peers
                    .named(name)
                    .filter(|(_, p)| p.is_live(now))
                    .map(|(id, _)| id.to_string())
                    .collect();
                match ids.len() {
                    0 => Err(not_registered(name)),
                    1 => Ok(ids.remove(0)),
                    n => Err(bad(format!("{n} peers are named {name:?}; use peer_id"))),
                }
            }
        }
    }

    /// Where to dial `target`: the live peer with that id, else the one live peer with that
    /// name (as [`Registry::resolve`] finds it).
    pub fn find(&self, target: &str, now: u64) -> Result<crate::PeerAddr> {
        self.lookup(target, now).or_else(|_| {
            let id = self.resolve(&PeerRef::Name(target.to_owned()), now)?;
            self.lookup(&id, now)
        })
    }

    /// The token for the registry call, once [`Registry::authorize`] (the one rule) let the
    /// call through: the one presented, which the registry call still checks (a wrong token is
    /// a 403 from anywhere), or the peer's own for a token-less call. It stays inside the
    /// tracker (the HTTP layer hands it straight to the registry call).
    pub fn credential(
        &self,
        peer_id: &str,
        token: Option<&str>,
        source: IpAddr,
        now: u64,
    ) -> Result<String> {
        self.authorize(peer_id, token, source, now)?;
        match token {
            Some(t) => Ok(t.to_owned()),
            None => self
                .peers
                .get(peer_id)
                .map(|p| p.token.to_hex())
                .ok_or_else(|| not_registered(peer_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RegisterParams, UpdateParams};
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn named(v: Value) -> Result<PeerRef> {
        PeerRef::of(&fields(v))
    }

    fn register(r: &mut Registry, port: u32, name: &str) -> String {
        let params = RegisterParams {
            port,
            name: Some(name.into()),
            ..Default::default()
        };
        r.register(params, "10.0.0.1".parse().unwrap(), 0)
            .unwrap()
            .peer_id
    }

    #[test]
    fn a_peer_is_named_three_ways() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(named(json!({"peer_id": "a"})), Ok(PeerRef::Id("a".into())));
        assert_eq!(
            named(json!({"ip": "10.0.0.1", "port": "5001"})),
            Ok(PeerRef::Addr(ip, 5001))
        );
        assert_eq!(
            named(json!({"ip": "10.0.0.1", "port": 5001, "username": "x"})),
            Ok(PeerRef::Addr(ip, 5001))
        );
        assert_eq!(
            named(json!({"username": "bob"})),
            Ok(PeerRef::Name("bob".into()))
        );
        assert_eq!(
            named(json!({"name": "bob"})),
            Ok(PeerRef::Name("bob".into()))
        );
        assert_eq!(named(json!({"channel": "x"})), Err(bad(PEER_FIELDS)));
        assert_eq!(
            named(json!({"ip": "nope", "port": 1})).map_err(|e| e.status()),
            Err(400)
        );

        let mut r = Registry::default();
        let a = register(&mut r, 5001, "alice");
        register(&mut r, 5002, "twin");
        register(&mut r, 5003, "twin");
        let unnamed = register(&mut r, 5004, "");
        assert_eq!(r.resolve(&PeerRef::Addr(ip, 5001), 0), Ok(a.clone()));
        assert_eq!(r.resolve(&PeerRef::Name("alice".into()), 0), Ok(a.clone()));
        let status = |n: &str| {
            r.resolve(&PeerRef::Name(n.into()), 0)
                .map_err(|e| e.status())
        };
        assert_eq!(status("twin"), Err(400));
        assert_eq!(status("nobody"), Err(404));
        assert_eq!(
            status(&unnamed),
            Ok(unnamed.clone()),
            "an unnamed peer goes by its id"
        );
    }

    /// Guards the name and address indexes: lookups follow expiry, re-registration at another
    /// address, renaming and removal, and pick the one peer among many.
    #[test]
    fn lookups_by_name_and_address_follow_every_change() {
        const S: u64 = 1000;
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut r = Registry::default();
        let by_addr = |r: &Registry, port, now| {
            r.resolve(&PeerRef::Addr(ip, port), now)
                .map_err(|e| e.status())
        };
        let by_name = |r: &Registry, name: &str, now| {
            r.resolve(&PeerRef::Name(name.into()), now)
                .map_err(|e| e.status())
        };
        for port in 10_000..10_050 {
            register(&mut r, port, &format!("n{port}"));
        }
        assert_eq!(by_name(&r, "n10049", 0), by_addr(&r, 10_049, 0));
        assert!(by_name(&r, "n10049", 0).is_ok());

        let params = |port, ttl| RegisterParams {
            peer_id: Some("moving".into()),
            port,
            name: Some("mover".into()),
            ttl: Some(ttl),
            ..Default::default()
        };
        r.register(params(5001, 10), ip, 0).unwrap();
        assert_eq!(by_addr(&r, 5001, 0), Ok("moving".into()));
        r.register(params(5002, 10), ip, S).unwrap();
        assert_eq!(
            by_addr(&r, 5001, S),
            Err(404),
            "the old address is forgotten"
        );
        assert_eq!(by_addr(&r, 5002, S), Ok("moving".into()));
        assert_eq!(by_name(&r, "mover", S), Ok("moving".into()));

        let token = r.credential("moving", None, ip, S).unwrap();
        let rename = UpdateParams {
            peer_id: "moving".into(),
            token: Some(token),
            name: Some("renamed".into()),
            ..Default::default()
        };
        r.update(rename, S).unwrap();
        assert_eq!(by_name(&r, "mover", S), Err(404));
        assert_eq!(by_name(&r, "renamed", S), Ok("moving".into()));
        assert!(r.peers.is_consistent());

        assert_eq!(
            by_name(&r, "renamed", 12 * S),
            Err(404),
            "a dead peer is not found"
        );
        assert!(r.sweep(12 * S).contains(&"moving".to_owned()));
        assert_eq!(by_addr(&r, 5002, 12 * S), Err(404));
        assert!(r.peers.is_consistent());

        r.register(params(5002, 10), ip, 13 * S).unwrap();
        assert_eq!(by_name(&r, "mover", 13 * S), Ok("moving".into()));
        r.remove("moving", None, 13 * S).ok();
        let id = register(&mut r, 5003, "");
        r.remove(&id, Some(&r.credential(&id, None, ip, 0).unwrap()), 0)
            .unwrap();
        assert_eq!(by_name(&r, &id, 0), Err(404));
        assert_eq!(by_addr(&r, 5003, 0), Err(404));
        assert!(r.peers.is_consistent());
    }

    #[test]
    fn token_less_calls_count_from_the_registered_address_only() {
        let mut r = Registry::default();
        let id = register(&mut r, 5001, "alice");
        let own: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        let token = r.credential(&id, None, own, 0).unwrap();
        r.heartbeat(&id, Some(&token), 1).unwrap();
        assert_eq!(r.credential(&id, Some(&token), other, 0), Ok(token));
        let status = |t: Option<&str>, s| r.credential(&id, t, s, 0).map_err(|e| e.status());
        assert_eq!(status(None, other), Err(403));
        assert_eq!(status(Some(&"0".repeat(32)), other), Err(403));
        assert_eq!(
            r.credential("nobody", None, own, 0).map_err(|e| e.status()),
            Err(404)
        );
    }

    #[test]
    fn load_may_be_an_object() {
        let check = |input: Value, expected: Value| {
            let mut f = fields(input);
            flatten_load(&mut f);
            assert_eq!(Value::Object(f), expected);
        };
        check(json!({"load": 0.5}), json!({"load": 0.5}));
        check(
            json!({"load": {"cpu": 0.4, "mem": 0.9}}),
            json!({"load": 0.4}),
        );
        check(
            json!({"load": {"mem": 0.9, "disk": 0.2}}),
            json!({"load": 0.9}),
        );
        check(json!({"load": {"host": "x"}}), json!({}));
    }
}
