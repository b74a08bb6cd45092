//! The peer registry: registration, heartbeats, updates, removal, listing and lookup.
//!
//! Time is passed in as `now`, milliseconds on a monotonic clock chosen by the caller (for
//! example `start.elapsed().as_millis() as u64`); nothing here reads a clock. A peer is live while
//! `now < last_seen + ttl`. Every `&mut self` operation first expires the peers whose deadline has
//! passed (see [`Registry::sweep`]), and every `&self` view skips peers past their deadline, so no
//! answer ever shows an expired peer whether or not a sweep ran.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channels::Channel;
use crate::error::{Result, TrackerError};
use crate::expiry::ExpiryQueue;
use crate::files::FileEntry;
use crate::identity;
use crate::limits::{self, bad};
use crate::paging::{self, Page, Paged};
use crate::secret::Token;
use crate::table::PeerTable;

/// Settings of one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most peers held at once; a registration of a new peer beyond it fails with
    /// [`TrackerError::Full`].
    pub max_peers: usize,
    /// TTL in seconds for peers that do not ask for one.
    pub default_ttl_s: u32,
    /// Who may claim a peer id and an address.
    pub identity: identity::Rules,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_peers: limits::DEFAULT_MAX_PEERS,
            default_ttl_s: limits::DEFAULT_TTL_S,
            identity: identity::Rules::default(),
        }
    }
}

/// The tracker's whole state: peers, channels and the file index.
///
/// ```
/// use tracker_core::{Registry, RegisterParams};
/// let mut reg = Registry::default();
/// let ip = "10.0.0.5".parse().unwrap();
/// let params = RegisterParams { port: 5001, name: Some("alice".into()), ..Default::default() };
/// let ok = reg.register(params, ip, 0).unwrap();
/// assert_eq!(ok.peer_id, "10.0.0.5:5001");
/// reg.heartbeat(&ok.peer_id, Some(&ok.token), 30_000).unwrap();
/// assert_eq!(reg.list(&Default::default(), &Default::default(), 60_000).items.len(), 1);
/// assert_eq!(reg.sweep(30_000 + 90_000), vec!["10.0.0.5:5001".to_string()]);
/// ```
#[derive(Debug, Default)]
pub struct Registry {
    pub(crate) config: Config,
    pub(crate) peers: PeerTable,
    pub(crate) channels: BTreeMap<Arc<str>, Channel>,
    pub(crate) files: BTreeMap<Arc<str>, FileEntry>,
    pub(crate) expiry: ExpiryQueue,
    pub(crate) counters: Stats,
    /// Peers dropped since [`Registry::take_dropped`] last ran.
    pub(crate) dropped: u64,
    /// Live peers per source address, for `max_peers_per_ip`.
    pub(crate) per_ip: HashMap<IpAddr, u32>,
}

/// One registered peer. Kept small (no per-peer maps, boxed slices instead of vectors, no heap
/// at all for an absent name, meta or role list) because the tracker must hold 100,000 of them
/// in well under 1 KiB each.
#[derive(Debug)]
pub(crate) struct Peer {
    /// Empty means "no name given": views show the peer id instead.
    pub(crate) name: Box<str>,
    pub(crate) ip: IpAddr,
    pub(crate) port: u16,
    /// The connection's source address at registration (may differ from `ip` behind NAT).
    pub(crate) source: IpAddr,
    /// The peer's Ed25519 public key (base64), listed so other peers can check its proofs.
    pub(crate) key: Option<Box<str>>,
    /// Shares the channel map's key allocation.
    pub(crate) channels: Box<[Arc<str>]>,
    pub(crate) roles: Box<[Box<str>]>,
    /// Ids of the files this peer holds chunks of; shares the file map's key allocation.
    pub(crate) files: Box<[Arc<str>]>,
    pub(crate) meta: Option<Box<Value>>,
    pub(crate) token: Token,
    pub(crate) last_seen_ms: u64,
    /// The deadline under which this peer's one live entry sits in the expiry queue; never later
    /// than the real deadline (see `expiry.rs`).
    pub(crate) indexed_deadline_ms: u64,
    pub(crate) ttl_s: u32,
    pub(crate) load: Option<f32>,
    /// `ts` of the last key proof this peer id re-registered with (0: none); a proof must be
    /// later to count, so none is used twice.
    pub(crate) proof_ts: u64,
}

impl Peer {
    pub(crate) fn deadline_ms(&self) -> u64 {
        self.last_seen_ms
            .saturating_add(u64::from(self.ttl_s) * 1000)
    }

    pub(crate) fn is_live(&self, now: u64) -> bool {
        now < self.deadline_ms()
    }
}

/// Body of `POST /submit-info`; the address registered is decided by
/// [`crate::identity::advertised_ip`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RegisterParams {
    /// Port the peer listens on, 1..=65535 (wider type so a bad value gets a clear 400).
    pub port: u32,
    /// Address the peer is reachable at; missing, empty or unspecified means the source address.
    pub ip: Option<String>,
    /// Defaults to `ip:port` (`[ip]:port` for IPv6).
    pub peer_id: Option<String>,
    /// Display name; defaults to the peer id.
    pub name: Option<String>,
    /// Open channels to join (created if absent); key channels must be joined with their key.
    pub channels: Vec<String>,
    /// Free-form roles, used as a filter by [`Registry::list`].
    pub roles: Vec<String>,
    /// Free-form JSON shown to other peers, at most [`limits::MAX_META_BYTES`].
    pub meta: Value,
    /// Seconds without a heartbeat before the peer expires.
    pub ttl: Option<u32>,
    /// The current token, which lets an existing peer id re-register from a new address.
    pub token: Option<String>,
    /// The peer's Ed25519 public key, base64 (43 characters).
    pub key: Option<String>,
    /// The registration signed with the live peer's registered key, which stands for its
    /// token (see [`crate::identity`]).
    pub key_proof: Option<identity::KeyProof>,
}

/// Answer to a registration: `{peer_id, token, ttl, heartbeat_interval}` (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registered {
    /// The id to use in every later call.
    pub peer_id: String,
    /// 32 hex digits; required by every mutating call for this peer.
    pub token: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// How often to heartbeat, in seconds: a third of the TTL.
    pub heartbeat_interval: u32,
}

/// A peer id and its token, the body of `/heartbeat` and `/remove`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Credentials {
    /// The peer.
    pub peer_id: String,
    /// Its token; a missing token is a 403.
    pub token: Option<String>,
}

/// Answer to a heartbeat: `{ttl}` in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeartbeatAck {
    /// The peer's TTL in seconds.
    pub ttl: u32,
}

/// Body of `POST /tracker/heartbeat_batch`: many peers of one process at once.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HeartbeatBatch {
    /// At most [`limits::MAX_BATCH`] peers.
    pub peers: Vec<Credentials>,
    /// New TTL in seconds for every updated peer.
    pub ttl: Option<u32>,
    /// New load figure for every updated peer.
    pub load: Option<f64>,
    /// Where the request came from, set by the tracker, never read from the body: a store that
    /// proves token-less entries itself (Redis) takes each one whose peer registered from
    /// there as the peer's own. The memory store is handed their tokens instead.
    #[serde(skip)]
    pub source: Option<std::net::IpAddr>,
}

/// Answer to a heartbeat batch: `{updated, not_found, forbidden}` (peer ids).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    /// Peers refreshed.
    pub updated: Vec<String>,
    /// Unknown or expired peers, which should register again.
    pub not_found: Vec<String>,
    /// Peers whose token was missing or wrong; left untouched.
    pub forbidden: Vec<String>,
}

/// Body of `POST /tracker/update`. Absent fields (and `null`) leave the value as it is; an empty
/// `name` resets it to the peer id; `meta: {}` clears the meta.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UpdateParams {
    /// The peer.
    pub peer_id: String,
    /// Its token.
    pub token: Option<String>,
    /// New TTL in seconds.
    pub ttl: Option<u32>,
    /// New meta.
    pub meta: Option<Value>,
    /// New load figure.
    pub load: Option<f64>,
    /// New display name.
    pub name: Option<String>,
}

/// Query of `GET /get-list`; an empty value means no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// Only members of this channel.
    pub channel: Option<String>,
    /// Only peers with this role.
    pub role: Option<String>,
}

/// What other peers see of a peer: never the token.
///
/// JSON: `{"peer_id","name","ip","port","channels":[..],"roles":[..],"meta","last_seen"}` plus
/// `"load"` when the peer reported one. `last_seen` is whole seconds since the peer's last
/// heartbeat (the tracker has no wall clock, and "seconds ago" needs no clock agreement).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerView {
    /// The peer's id.
    pub peer_id: String,
    /// Its display name (its id when it gave none).
    pub name: String,
    /// Address to dial.
    pub ip: IpAddr,
    /// Port to dial.
    pub port: u16,
    /// Channels it is a member of, sorted.
    pub channels: Vec<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its free-form meta, `null` when none.
    pub meta: Value,
    /// Its Ed25519 public key (base64), when it registered one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Seconds since its last heartbeat.
    pub last_seen: u64,
    /// Its last reported load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<f32>,
}

/// Where to dial a peer, the answer to `POST /connect-peer`: `{peer_id, ip, port}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerAddr {
    /// The peer's id.
    pub peer_id: String,
    /// Address to dial.
    pub ip: IpAddr,
    /// Port to dial.
    pub port: u16,
}

/// Counts for `GET /tracker/stats`: `{peers, channels, files, registrations, heartbeats,
/// removals, expirations}`. Uptime and requests served belong to the HTTP layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Live peers.
    pub peers: u64,
    /// Channels with at least one member.
    pub channels: u64,
    /// Files with at least one holder.
    pub files: u64,
    /// Successful registrations since start.
    pub registrations: u64,
    /// Successful heartbeats (single or batched) since start.
    pub heartbeats: u64,
    /// Peers removed on request since start.
    pub removals: u64,
    /// Peers expired since start.
    pub expirations: u64,
}

impl Registry {
    /// Its settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// An empty registry with these settings.
    pub fn new(config: Config) -> Registry {
        Registry {
            config,
            ..Registry::default()
        }
    }

    /// Registers a peer calling from `source` (the connection's address, or what a trusted
    /// proxy says it is), or re-registers an existing peer id.
    ///
    /// The address registered is `source` unless `params.ip` advertises another and the config
    /// allows it (see [`crate::identity`]). Re-registration starts a fresh session: a new token,
    /// the given address and info, and only the channels listed (old memberships and file
    /// holdings are dropped, as a restarted peer re-joins and re-publishes). To stop anyone
    /// from hijacking a live peer id, it needs the current token or the source address the
    /// peer registered from; otherwise 403.
    pub fn register(
        &mut self,
        params: RegisterParams,
        source: IpAddr,
        now: u64,
    ) -> Result<Registered> {
        self.expire(now);
        let port = limits::port(params.port)?;
        let ip = identity::advertised_ip(
            params.ip.as_deref(),
            source,
            self.config.identity.allow_advertised_ip,
        )?;
        let public_key = match params.key.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(k) => {
                identity::public_key(k)?;
                Some(Box::from(k))
            }
        };
        let id = match params.peer_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => SocketAddr::new(ip, port).to_string(),
        };
        limits::peer_id(&id)?;
        let name = limits::name(params.name.as_deref().unwrap_or(""))?;
        let ttl_s = limits::ttl(params.ttl.unwrap_or(self.config.default_ttl_s))?;
        let roles = limits::roles(&params.roles)?;
        let meta = limits::meta(params.meta)?;
        let channels = self.check_open_channels(&params.channels)?;

        let mut proof_ts = 0;
        if let Some(old) = self.peers.get(id.as_str()) {
            let require = self.config.identity.require_tokens;
            let signed = (
                id.as_str(),
                params.port,
                public_key.as_deref().unwrap_or(""),
            );
            let by_key = old
                .key
                .as_deref()
                .zip(params.key_proof.as_ref())
                .filter(|(key, proof)| identity::proves_key(key, proof, old.proof_ts, signed));
            proof_ts = by_key.map_or(old.proof_ts, |(_, proof)| proof.ts);
            if by_key.is_none() {
                identity::owns(old, &id, params.token.as_deref(), source, require).map_err(
                    |_| {
                        TrackerError::Forbidden(format!(
                            "peer_id {id} is live and registered from another address; \
                             re-register from there, present its token, or sign with its key"
                        ))
                    },
                )?;
            }
            self.drop_peer(&id);
        } else if self.peers.len() >= self.config.max_peers {
            return Err(TrackerError::Full);
        }
        self.check_per_ip(source)?;

        let token = Token::random();
        let key: Arc<str> = id.as_str().into();
        let deadline = now.saturating_add(u64::from(ttl_s) * 1000);
        let peer = Peer {
            name: if name == id { "".into() } else { name.into() },
            ip,
            port,
            source,
            key: public_key,
            channels: Box::default(),
            roles,
            files: Box::default(),
            meta,
            token,
            last_seen_ms: now,
            indexed_deadline_ms: deadline,
            ttl_s,
            load: None,
            proof_ts,
        };
        self.peers.insert(key.clone(), peer);
        self.count_source(source, 1);
        self.expiry.push(deadline, key.clone());
        for ch in &channels {
            self.add_member(&key, ch, None)?;
        }
        self.counters.registrations += 1;
        log::debug!("registered {id} at {}", SocketAddr::new(ip, port));
        Ok(Registered {
            peer_id: id,
            token: token.to_hex(),
            ttl: ttl_s,
            heartbeat_interval: (ttl_s / 3).max(1),
        })
    }

    /// Refreshes a peer's deadline. Unknown (or expired) → 404 so that the peer registers again.
    pub fn heartbeat(
        &mut self,
        peer_id: &str,
        token: Option<&str>,
        now: u64,
    ) -> Result<HeartbeatAck> {
        self.expire(now);
        let peer = self.authed(peer_id, token)?;
        let ttl = peer.ttl_s;
        self.touch(peer_id, now);
        self.counters.heartbeats += 1;
        Ok(HeartbeatAck { ttl })
    }

    /// Heartbeats many peers; a bad `ttl` or `load` or an oversized batch fails the whole batch.
    pub fn heartbeat_batch(&mut self, batch: HeartbeatBatch, now: u64) -> Result<BatchOutcome> {
        self.expire(now);
        if batch.peers.len() > limits::MAX_BATCH {
            return Err(bad(format!(
                "more than {} peers in one batch",
                limits::MAX_BATCH
            )));
        }
        let ttl = batch.ttl.map(limits::ttl).transpose()?;
        let load = limits::load(batch.load)?;
        let mut out = BatchOutcome::default();
        for Credentials { peer_id, token } in batch.peers {
            match self.authed(&peer_id, token.as_deref()) {
                Ok(peer) => {
                    if let Some(ttl) = ttl {
                        peer.ttl_s = ttl;
                    }
                    if load.is_some() {
                        peer.load = load;
                    }
                    self.touch(&peer_id, now);
                    self.counters.heartbeats += 1;
                    out.updated.push(peer_id);
                }
                Err(TrackerError::NotFound(_)) => out.not_found.push(peer_id),
                Err(_) => out.forbidden.push(peer_id),
            }
        }
        Ok(out)
    }

    /// Changes a peer's TTL, meta, load or name, refreshes its deadline, and returns its record.
    pub fn update(&mut self, params: UpdateParams, now: u64) -> Result<PeerView> {
        self.expire(now);
        // Authenticate before validating, so a stranger gets 403 rather than hints from a 400;
        // the second lookup below borrows the record mutably once the input is known good.
        self.authed(&params.peer_id, params.token.as_deref())?;
        let ttl = params.ttl.map(limits::ttl).transpose()?;
        let meta = params.meta.map(limits::meta).transpose()?;
        let load = limits::load(params.load)?;
        let name = params.name.as_deref().map(limits::name).transpose()?;
        let id = params.peer_id.as_str();
        let peer = self.authed(id, params.token.as_deref())?;
        if let Some(ttl) = ttl {
            peer.ttl_s = ttl;
        }
        if let Some(meta) = meta {
            // `{}` clears: an empty object carries nothing worth a heap block.
            peer.meta = meta.filter(|m| m.as_object().is_none_or(|o| !o.is_empty()));
        }
        if load.is_some() {
            peer.load = load;
        }
        if let Some(name) = name {
            let name = if name == id { "".into() } else { name.into() };
            self.peers.rename(id, name);
        }
        self.touch(id, now);
        self.peer(id, now)
    }

    /// Deregisters a peer: it leaves every channel and the file index. Already gone → `Ok`.
    pub fn remove(&mut self, peer_id: &str, token: Option<&str>, now: u64) -> Result<()> {
        self.expire(now);
        match self.authed(peer_id, token) {
            Err(TrackerError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        self.drop_peer(peer_id);
        self.counters.removals += 1;
        self.shrink();
        log::debug!("removed {peer_id}");
        Ok(())
    }

    /// One peer's public record; unknown or expired → 404.
    pub fn peer(&self, peer_id: &str, now: u64) -> Result<PeerView> {
        match self.peers.get_key_value(peer_id) {
            Some((id, p)) if p.is_live(now) => Ok(view(id, p, now)),
            _ => Err(not_registered(peer_id)),
        }
    }

    /// One page of the live peers in id order, optionally only the members of `channel`
    /// and/or holders of `role`; an unknown channel gives an empty page. Costs O(log n) plus
    /// the entries the page examines (see [`paging`]), never a walk over every peer.
    pub fn list(&self, query: &ListQuery, page: &Page, now: u64) -> Paged<PeerView> {
        let role = query.role.as_deref().filter(|s| !s.is_empty());
        let shown = |id: &str, p: &Peer| {
            let has_role = role.is_none_or(|r| p.roles.iter().any(|x| **x == *r));
            (p.is_live(now) && has_role).then(|| view(id, p, now))
        };
        match query.channel.as_deref().filter(|s| !s.is_empty()) {
            Some(ch) => {
                let Some(channel) = self.channels.get(ch) else {
                    return Paged {
                        items: Vec::new(),
                        next: None,
                    };
                };
                // Members are a sorted set of ids: the channel is its own ordered index.
                let members = channel
                    .members
                    .range::<str, _>(page.keys())
                    .map(|id| (&**id, self.peers.get(id)));
                paging::collect(page, members, |id, p| p.and_then(|p| shown(id, p)))
            }
            None => {
                let peers = self.peers.after(page.cursor()).map(|(id, p)| (&**id, p));
                paging::collect(page, peers, shown)
            }
        }
    }

    /// Where to dial `target` (a peer id); unknown or expired → 404.
    pub fn lookup(&self, target: &str, now: u64) -> Result<PeerAddr> {
        match self.peers.get_key_value(target) {
            Some((id, p)) if p.is_live(now) => Ok(PeerAddr {
                peer_id: id.to_string(),
                ip: p.ip,
                port: p.port,
            }),
            _ => Err(not_registered(target)),
        }
    }

    /// Current counts; expires due peers first so the counts are exact.
    pub fn stats(&mut self, now: u64) -> Stats {
        self.expire(now);
        Stats {
            peers: self.peers.len() as u64,
            channels: self.channels.len() as u64,
            files: self.files.len() as u64,
            ..self.counters
        }
    }

    /// The peer if it exists and `token` is its token: 404 first (so a forgotten peer learns to
    /// register again), then 403.
    pub(crate) fn authed(&mut self, peer_id: &str, token: Option<&str>) -> Result<&mut Peer> {
        let peer = self
            .peers
            .get_mut(peer_id)
            .ok_or_else(|| not_registered(peer_id))?;
        peer.token.verify(token, peer_id)?;
        Ok(peer)
    }

    /// The map's own `Arc` for `peer_id`, so sets can share it instead of copying the string.
    pub(crate) fn key_of(&self, peer_id: &str) -> Option<Arc<str>> {
        self.peers.get_key_value(peer_id).map(|(k, _)| k.clone())
    }

    /// Marks a peer as seen at `now`. Any authenticated call proves the peer alive, so every
    /// successful mutating call ends here.
    pub(crate) fn touch(&mut self, peer_id: &str, now: u64) {
        if let Some(p) = self.peers.get_mut(peer_id) {
            p.last_seen_ms = p.last_seen_ms.max(now);
        }
        self.reindex(peer_id);
    }
}

pub(crate) fn not_registered(peer_id: &str) -> TrackerError {
    TrackerError::NotFound(format!("peer {peer_id} is not registered"))
}

pub(crate) fn view(id: &str, p: &Peer, now: u64) -> PeerView {
    PeerView {
        peer_id: id.to_string(),
        name: if p.name.is_empty() {
            id.to_string()
        } else {
            p.name.to_string()
        },
        ip: p.ip,
        port: p.port,
        channels: p.channels.iter().map(|c| c.to_string()).collect(),
        roles: p.roles.iter().map(|r| r.to_string()).collect(),
        meta: p.meta.as_deref().cloned().unwrap_or(Value::Null),
        key: p.key.as_deref().map(str::to_string),
        last_seen: now.saturating_sub(p.last_seen_ms) / 1000,
        load: p.load,
    }
}
