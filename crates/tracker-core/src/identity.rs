//! Who may claim a peer id and an address (issue 10): the tracker's identity rules, each one
//! function, so the HTTP layer and later dialects apply the same rule.
//!
//! - The advertised `ip` must be the connection's source address ([`advertised_ip`]), unless
//!   the tracker runs with `allow_advertised_ip` (NAT set-ups). A trusted proxy's
//!   `X-Forwarded-For` is resolved into the source by the HTTP layer before this point.
//! - Unusable addresses (unspecified, broadcast, multicast) are refused ([`usable`]).
//! - A live peer id is taken over only by its owner ([`Registry::authorize`]): a caller with
//!   the current token, or (a course client that restarted and lost its token) one calling
//!   from the same source address the peer registered from. A client at another address never
//!   takes over a live peer, unless it re-registers with a [`KeyProof`]: the registration
//!   signed by the Ed25519 key the live peer registered (a peer that restarted without its
//!   token), timestamped within [`KEY_PROOF_WINDOW_MS`] of the tracker's clock ([`fresh`]) and
//!   later than any proof that peer id used before, so a captured one cannot be replayed.
//! - A source address holds at most `max_peers_per_ip` peers. Loopback is exempt: local
//!   processes (tests, benchmarks, one user's peers) share it.
//! - Public keys are checked for shape only ([`public_key`]): the tracker lists them, peers
//!   verify signatures.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

use crate::error::{Result, TrackerError};
use crate::limits::bad;
use crate::registry::{Peer, Registry, not_registered};

/// Default of `max_peers_per_ip`.
pub const DEFAULT_MAX_PEERS_PER_IP: usize = 64;
/// Length of an Ed25519 public key in unpadded URL-safe base64 (32 bytes).
pub const PUBLIC_KEY_LEN: usize = 43;

/// The identity settings of a tracker (its command-line flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Accept an advertised `ip` other than the source address (NAT set-ups).
    pub allow_advertised_ip: bool,
    /// Most live peers registered from one (non-loopback) source address.
    pub max_peers_per_ip: usize,
    /// Refuse token-less calls even from a peer's registered source address.
    pub require_tokens: bool,
    /// A reverse proxy whose `X-Forwarded-For` names the real client (see [`source_of`]).
    pub trusted_proxy: Option<IpAddr>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            allow_advertised_ip: false,
            max_peers_per_ip: DEFAULT_MAX_PEERS_PER_IP,
            require_tokens: false,
            trusted_proxy: None,
        }
    }
}

/// The address to register for a caller at `source` that advertised `ip` (if any). An
/// unspecified address means "where I come from"; so does a loopback address from a remote
/// caller, since it names the tracker's own host to everyone else.
pub fn advertised_ip(ip: Option<&str>, source: IpAddr, allow_advertised: bool) -> Result<IpAddr> {
    let ip = match ip.map(str::trim) {
        None | Some("") => source,
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => source,
            Ok(ip) if ip.is_loopback() && !source.is_loopback() => source,
            Ok(ip) => ip,
            Err(_) => return Err(bad(format!("ip {s:?} is not an IP address"))),
        },
    };
    usable(ip)?;
    if ip != source && !allow_advertised {
        return Err(TrackerError::Forbidden(format!(
            "ip {ip} is not the address this request comes from ({source}); \
             leave ip out, or run the tracker with --allow-advertised-ip"
        )));
    }
    Ok(ip)
}

/// The caller's address: the connection's `peer` address, or, when `peer` is the trusted
/// proxy, the last address in its `X-Forwarded-For` (the one the proxy itself appended; earlier
/// entries come from the client and prove nothing).
pub fn source_of(
    peer: IpAddr,
    forwarded_for: Option<&str>,
    trusted_proxy: Option<IpAddr>,
) -> IpAddr {
    let peer = peer.to_canonical();
    if trusted_proxy.map(|p| p.to_canonical()) != Some(peer) {
        return peer;
    }
    forwarded_for
        .and_then(|h| h.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_canonical())
}

/// Refuses addresses no peer can be dialled at.
pub fn usable(ip: IpAddr) -> Result<()> {
    let unusable = ip.is_unspecified()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if unusable {
        return Err(bad(format!("ip {ip} cannot be dialled")));
    }
    Ok(())
}

/// Whether a caller at `source` presenting `token` owns the live peer `peer_id`: the right
/// token, or a call from the source address it registered from (unless tokens are required).
/// This is the one rule for token-less course clients: their own address stands for a token.
pub(crate) fn owns(
    peer: &Peer,
    peer_id: &str,
    token: Option<&str>,
    source: IpAddr,
    require_tokens: bool,
) -> Result<()> {
    if !require_tokens && peer.source == source {
        return Ok(());
    }
    peer.token.verify(token, peer_id)
}

/// How far the `ts` of a [`KeyProof`] may be from the tracker's wall clock, in ms.
pub const KEY_PROOF_WINDOW_MS: u64 = 60_000;
/// Domain tag of a signed registration, so the signature is never valid as anything else.
const REGISTER_TAG: &str = "weaprous-register/1";

/// A registration signed with the peer's Ed25519 key (`key_proof` in `/submit-info`): how a
/// peer that lost its token takes its live peer id back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeyProof {
    /// When it was signed, ms since the Unix epoch.
    pub ts: u64,
    /// The signature of [`key_proof_payload`], unpadded URL-safe base64.
    pub sig: String,
}

/// The bytes a [`KeyProof`] signs: the JSON array `["weaprous-register/1", peer_id, port, key,
/// ts]`, where `key` is the key the registration carries (empty if none).
pub fn key_proof_payload(peer_id: &str, port: u32, key: &str, ts: u64) -> Vec<u8> {
    serde_json::to_vec(&(REGISTER_TAG, peer_id, port, key, ts)).expect("plain values serialize")
}

/// Whether a key proof was signed within [`KEY_PROOF_WINDOW_MS`] of `wall_ms` (the HTTP
/// layer's clock, ms since the Unix epoch). A stale proof is ignored, not refused: the
/// registration still passes by token or address, so a peer with a wrong clock can register,
/// but an old captured registration takes nothing over.
pub fn fresh(proof: &KeyProof, wall_ms: u64) -> bool {
    proof.ts.abs_diff(wall_ms) <= KEY_PROOF_WINDOW_MS
}

/// Whether `proof` is `key`'s (base64) signature of the registration of `peer_id` at `port`
/// carrying `new_key`, strictly later than `after` (the last proof this peer id used). Public
/// so that a store other than the registry applies the same check.
pub fn proves_key(
    key: &str,
    proof: &KeyProof,
    after: u64,
    (peer_id, port, new_key): (&str, u32, &str),
) -> bool {
    let Some(key) = B64
        .decode(key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .filter(|k| !k.is_weak())
    else {
        return false;
    };
    let Some(sig) = B64
        .decode(&proof.sig)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    let payload = key_proof_payload(peer_id, port, new_key, proof.ts);
    proof.ts > after
        && key
            .verify_strict(&payload, &Signature::from_bytes(&sig))
            .is_ok()
}

/// Checks a public key's shape: [`PUBLIC_KEY_LEN`] characters of URL-safe base64.
pub fn public_key(key: &str) -> Result<()> {
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if key.len() != PUBLIC_KEY_LEN || !key.bytes().all(alphabet) {
        return Err(bad("key must be an Ed25519 public key in URL-safe base64"));
    }
    Ok(())
}

impl Registry {
    /// The one check for a call that changes `peer_id`'s record, made by a caller at
    /// `source`: the peer's token, or (unless tokens are required) its registered source
    /// address. An unknown or expired peer is a 404. Registration applies the
    /// same rule to a live peer id.
    pub fn authorize(
        &self,
        peer_id: &str,
        token: Option<&str>,
        source: IpAddr,
        now: u64,
    ) -> Result<()> {
        let peer = self
            .peers
            .get(peer_id)
            .filter(|p| p.is_live(now))
            .ok_or_else(|| not_registered(peer_id))?;
        owns(
            peer,
            peer_id,
            token,
            source,
            self.config.identity.require_tokens,
        )
    }

    /// Refuses one more new peer from `source` past `max_peers_per_ip`.
    pub(crate) fn check_per_ip(&self, source: IpAddr) -> Result<()> {
        if source.is_loopback() {
            return Ok(());
        }
        let held = self.per_ip.get(&source).copied().unwrap_or(0);
        if held as usize >= self.config.identity.max_peers_per_ip {
            return Err(TrackerError::Forbidden(format!(
                "{source} already registered {held} peers (--max-peers-per-ip)"
            )));
        }
        Ok(())
    }

    pub(crate) fn count_source(&mut self, source: IpAddr, delta: i32) {
        let n = self.per_ip.entry(source).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.per_ip.remove(&source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn advertised_ip_rules() {
        let src = ip("10.0.0.7");
        let check = |given: Option<&str>, allow: bool| {
            advertised_ip(given, src, allow).map_err(|e| e.status())
        };
        assert_eq!(check(None, false), Ok(src));
        assert_eq!(check(Some(""), false), Ok(src));
        assert_eq!(check(Some("0.0.0.0"), false), Ok(src));
        assert_eq!(check(Some("10.0.0.7"), false), Ok(src));
        assert_eq!(check(Some("10.0.0.8"), false), Err(403));
        assert_eq!(check(Some("10.0.0.8"), true), Ok(ip("10.0.0.8")));
        for bad in ["255.255.255.255", "224.0.0.1", "ff02::1"] {
            assert_eq!(check(Some(bad), true), Err(400), "{bad}");
        }
        assert_eq!(check(Some("nope"), true), Err(400));
    }

    #[test]
    fn forwarded_for_only_from_the_trusted_proxy() {
        let proxy = Some(ip("10.0.0.2"));
        let xff = Some("6.6.6.6, 10.9.9.9");
        assert_eq!(source_of(ip("10.0.0.2"), xff, proxy), ip("10.9.9.9"));
        assert_eq!(source_of(ip("10.0.0.3"), xff, proxy), ip("10.0.0.3"));
        assert_eq!(source_of(ip("10.0.0.2"), xff, None), ip("10.0.0.2"));
        assert_eq!(
            source_of(ip("10.0.0.2"), Some("junk"), proxy),
            ip("10.0.0.2")
        );
        assert_eq!(
            source_of(ip("::ffff:10.0.0.2"), None, proxy),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn key_shape() {
        assert!(public_key(&"A".repeat(PUBLIC_KEY_LEN)).is_ok());
        assert!(public_key(&"A".repeat(PUBLIC_KEY_LEN - 1)).is_err());
        assert!(public_key(&format!("{}+", "A".repeat(PUBLIC_KEY_LEN - 1))).is_err());
    }
}
