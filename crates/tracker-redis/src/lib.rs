//! The tracker's state in Redis: a [`Store`] several trackers share, so a peer may register on
//! one, heartbeat on another and be listed by a third, and a tracker's restart loses nothing.
//!
//! Every operation is one call of one Lua script (`store.lua`, loaded once per Redis and then
//! called by its SHA-1), so token checks, the re-registration rules and the channel keys are
//! checked and applied atomically, and a refused operation writes nothing. Peers expire by Redis
//! key expiry (no tracker owns a peer: they expire with every tracker stopped), on Redis's clock
//! (one clock for every tracker); each tracker's sweep timer runs the script's `sweep`, which
//! clears what expired peers left in channel sets. Tokens and channel keys are stored as
//! SHA-256 hashes only. The calls go through [`redis_client`], on the tracker's own loop.
//!
//! The file index (SPEC §8) lives there too: a file's metadata, its holders with the name each
//! gave it, and each holder's chunks as a Redis bitmap.

mod files;
mod heartbeats;
mod script;
mod views;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reactor::EventLoop;
use redis_client::{Redis, State, Url, Value};
use sha2::{Digest, Sha256};
use tracker_core::channels::{ChannelView, JoinParams, Joined, LeaveParams};
use tracker_core::dialect::PeerRef;
use tracker_core::files::{
    ChunkParams, ChunksAdded, FileSummary, FileView, PeerFile, PublishParams, Published,
};
use tracker_core::paging::{PAGE_SCAN_BUDGET, Page, Paged};
use tracker_core::registry::{
    BatchOutcome, Config, Credentials, HeartbeatAck, HeartbeatBatch, ListQuery, PeerAddr, PeerView,
    RegisterParams, Registered, Stats, UpdateParams,
};
use tracker_core::{Done, Expired, Store, StoreHealth, TrackerError, limits};

use heartbeats::{Beat, Heartbeats};
use script::Script;

/// The prefix of every key the tracker writes.
pub const PREFIX: &str = "weaprous:tracker:";
/// Most expired peers one sweep clears (the next second's sweep goes on).
pub const SWEEP_BATCH: usize = 10_000;

/// The tracker store in Redis. See the crate docs.
pub struct RedisStore {
    redis: Redis,
    script: Arc<Script>,
    heartbeats: Arc<Heartbeats>,
    config: Config,
}

impl RedisStore {
    /// A store in the Redis at `url`, its client on `event_loop`; `config` as for the memory
    /// store (the most peers, the default TTL).
    pub fn start(event_loop: &mut EventLoop, url: Url, config: Config) -> RedisStore {
        RedisStore {
            redis: Redis::start(event_loop, url),
            script: Arc::new(Script::new(include_str!("store.lua"))),
            heartbeats: Arc::default(),
            config,
        }
    }

    /// Runs operation `op` with `args`; `done` gets the script's `ok` answer (after the `"ok"`)
    /// or its error.
    fn run<T: 'static>(
        &self,
        op: &str,
        args: Vec<String>,
        done: Done<T>,
        parse: impl FnOnce(Vec<Value>) -> Option<T> + Send + 'static,
    ) {
        run_on(&self.redis, &self.script, op, args, done, parse);
    }
}

/// [`RedisStore::run`] on a given client and script, for a call made from another's answer.
fn run_on<T: 'static>(
    redis: &Redis,
    script: &Arc<Script>,
    op: &str,
    args: Vec<String>,
    done: Done<T>,
    parse: impl FnOnce(Vec<Value>) -> Option<T> + Send + 'static,
) {
    let mut argv = vec![op.to_owned(), PREFIX.to_owned()];
    argv.extend(args);
    let op = op.to_owned();
    script.call(redis, argv, move |outcome| {
        done(outcome.and_then(|reply| {
            let reply = script::answer(reply)?;
            parse(reply).ok_or_else(|| {
                log::error!("redis store: unreadable answer to {op}");
                TrackerError::Unavailable(format!("unreadable answer from redis to {op}"))
            })
        }));
    });
}

/// SHA-256 hex of a presented secret (lower-cased, as tokens are hex); empty when none.
fn secret_hash(secret: Option<&str>) -> String {
    match secret {
        None | Some("") => String::new(),
        Some(s) => views::hex(&Sha256::digest(s.to_ascii_lowercase().as_bytes())),
    }
}

/// A channel key's hash; keys are case-sensitive, unlike tokens.
fn key_hash(key: Option<&str>) -> String {
    key.map(|k| views::hex(&Sha256::digest(k.as_bytes())))
        .unwrap_or_default()
}

/// A page's arguments to the script: `after` (empty for the start), `limit`, and the work
/// budget, the memory store's [`PAGE_SCAN_BUDGET`].
fn page_args(page: &Page) -> [String; 3] {
    [
        page.cursor().unwrap_or_default().to_owned(),
        page.limit().to_string(),
        PAGE_SCAN_BUDGET.to_string(),
    ]
}

impl Store for RedisStore {
    fn health(&self) -> StoreHealth {
        let url = self.redis.url();
        let (ok, state) = match self.redis.state() {
            State::Up => (true, "up".to_owned()),
            State::Connecting => (false, "connecting".to_owned()),
            State::Down { error } => (false, format!("down: {error}")),
        };
        StoreHealth {
            kind: "redis",
            ok,
            detail: format!("{state} ({url})"),
        }
    }

    fn register(&self, params: RegisterParams, source: IpAddr, _now: u64, done: Done<Registered>) {
        let checked = (|| {
            let port = limits::port(params.port)?;
            let ip = tracker_core::identity::advertised_ip(
                params.ip.as_deref(),
                source,
                self.config.identity.allow_advertised_ip,
            )?;
            let id = match params.peer_id.as_deref().map(str::trim) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => SocketAddr::new(ip, port).to_string(),
            };
            limits::peer_id(&id)?;
            let key = match params.key.as_deref().map(str::trim) {
                None | Some("") => String::new(),
                Some(k) => {
                    tracker_core::identity::public_key(k)?;
                    k.to_owned()
                }
            };
            let name = limits::name(params.name.as_deref().unwrap_or(""))?;
            let name = if name == id { "" } else { name }.to_owned();
            let ttl = limits::ttl(params.ttl.unwrap_or(self.config.default_ttl_s))?;
            let roles: Vec<String> = limits::roles(&params.roles)?
                .iter()
                .map(|r| r.to_string())
                .collect();
            let meta = limits::meta(params.meta.clone())?
                .map(|m| m.to_string())
                .unwrap_or_default();
            let mut channels: Vec<String> = Vec::new();
            for ch in &params.channels {
                limits::channel(ch)?;
                if !channels.contains(ch) {
                    channels.push(ch.clone());
                }
                if channels.len() > limits::MAX_CHANNELS_PER_PEER {
                    return Err(limits::bad(format!(
                        "a peer may be in at most {} channels",
                        limits::MAX_CHANNELS_PER_PEER
                    )));
                }
            }
            Ok((id, ip, port, key, name, ttl, roles, meta, channels))
        })();
        let (id, ip, port, key, name, ttl, roles, meta, channels) = match checked {
            Ok(v) => v,
            Err(e) => return done(Err(e)),
        };
        let token = format!("{:032x}", rand::random::<u128>());
        let mut args = vec![
            id.clone(),
            ip.to_string(),
            port.to_string(),
            name,
            ttl.to_string(),
            serde_json::to_string(&roles).unwrap_or_else(|_| "[]".to_owned()),
            meta,
            secret_hash(Some(&token)),
            secret_hash(params.token.as_deref()),
            self.config.max_peers.to_string(),
            key.clone(),
            source.to_canonical().to_string(),
            // Loopback is exempt, as in the memory store: local processes share it.
            if source.is_loopback() {
                "0".to_owned()
            } else {
                self.config.identity.max_peers_per_ip.to_string()
            },
            // The source that owns a live peer without its token: none when tokens are required.
            if self.config.identity.require_tokens {
                String::new()
            } else {
                source.to_canonical().to_string()
            },
        ];
        let registered = move |_| {
            Some(Registered {
                peer_id: id,
                token,
                ttl,
                heartbeat_interval: (ttl / 3).max(1),
            })
        };
        let Some(proof) = params.key_proof else {
            args.extend(["".to_owned(), "0".to_owned()]);
            args.extend(channels);
            return self.run("register", args, done, registered);
        };
        // A key proof is checked here, against the key Redis holds for the peer id; the script
        // then takes it only if that key is still the peer's and the proof is later than the
        // last one used, so a proof is good once.
        let (redis, script) = (self.redis.clone(), self.script.clone());
        let signed_port = params.port;
        let peer_id = args[0].clone();
        let read_args = vec![peer_id.clone()];
        let read = Box::new(move |stored: tracker_core::Result<(String, u64)>| {
            let (stored_key, after) = match stored {
                Ok(v) => v,
                Err(e) => return done(Err(e)),
            };
            let signed = (peer_id.as_str(), signed_port, key.as_str());
            if tracker_core::identity::proves_key(&stored_key, &proof, after, signed) {
                args.extend([stored_key, proof.ts.to_string()]);
            } else {
                args.extend(["".to_owned(), "0".to_owned()]);
            }
            args.extend(channels);
            run_on(&redis, &script, "register", args, done, registered);
        });
        self.run("peer_key", read_args, read, |reply| {
            let mut it = reply.into_iter();
            let key = it.next()?.as_str()?.to_owned();
            let ts = it.next()?.as_str()?.parse().ok()?;
            Some((key, ts))
        });
    }

    fn credential(
        &self,
        named: PeerRef,
        token: Option<String>,
        source: IpAddr,
        _now: u64,
        done: Done<Credentials>,
    ) {
        let token = token.filter(|t| !t.is_empty());
        let (kind, value) = match named {
            // The commonest call needs no round trip: every script checks the token itself.
            PeerRef::Id(peer_id) if token.is_some() => {
                return done(Ok(Credentials { peer_id, token }));
            }
            PeerRef::Id(id) => ("id", id),
            PeerRef::Addr(ip, port) => ("addr", SocketAddr::new(ip, port).to_string()),
            PeerRef::Name(name) => ("name", name),
        };
        let source = if self.config.identity.require_tokens {
            String::new()
        } else {
            source.to_canonical().to_string()
        };
        // A token-less call from the peer's own address is proven by a fresh secret that only
        // this tracker and (hashed) Redis know, good for the next call on that peer.
        let proof = format!("{:032x}", rand::random::<u128>());
        let args = vec![
            kind.to_owned(),
            value,
            secret_hash(token.as_deref()),
            source,
            secret_hash(Some(&proof)),
        ];
        self.run("credential", args, done, move |reply| {
            let mut it = reply.into_iter();
            let peer_id = it.next()?.as_str()?.to_owned();
            let proven = it.next()?.as_int()? == 1;
            Some(Credentials {
                peer_id,
                token: if proven { Some(proof) } else { token },
            })
        });
    }

    fn heartbeat(&self, creds: Credentials, _now: u64, done: Done<HeartbeatAck>) {
        let beat = Beat {
            token_hash: secret_hash(creds.token.as_deref()),
            peer_id: creds.peer_id,
            done,
        };
        self.heartbeats.push(&self.redis, &self.script, beat);
    }

    fn heartbeat_batch(&self, batch: HeartbeatBatch, _now: u64, done: Done<BatchOutcome>) {
        if batch.peers.len() > limits::MAX_BATCH {
            return done(Err(limits::bad(format!(
                "more than {} peers in one batch",
                limits::MAX_BATCH
            ))));
        }
        let checked = (|| {
            let ttl = batch.ttl.map(limits::ttl).transpose()?;
            let load = limits::load(batch.load)?;
            Ok((ttl, load))
        })();
        let (ttl, load) = match checked {
            Ok(v) => v,
            Err(e) => return done(Err(e)),
        };
        let source = match batch.source {
            Some(ip) if !self.config.identity.require_tokens => ip.to_canonical().to_string(),
            _ => String::new(),
        };
        let mut args = vec![
            ttl.map(|t| t.to_string()).unwrap_or_default(),
            load.map(|l| l.to_string()).unwrap_or_default(),
            source,
        ];
        for peer in batch.peers {
            args.push(peer.peer_id);
            args.push(secret_hash(peer.token.as_deref()));
        }
        self.run("heartbeat_batch", args, done, |reply| {
            let mut lists = reply.into_iter().map(views::strings);
            Some(BatchOutcome {
                updated: lists.next()??,
                not_found: lists.next()??,
                forbidden: lists.next()??,
            })
        });
    }

    fn update(&self, params: UpdateParams, _now: u64, done: Done<PeerView>) {
        let checked = (|| {
            let mut fields = Vec::new();
            if let Some(ttl) = params.ttl.map(limits::ttl).transpose()? {
                fields.extend(["ttl".to_owned(), ttl.to_string()]);
            }
            if let Some(meta) = params.meta.clone().map(limits::meta).transpose()? {
                // `{}` clears, as in the memory store.
                let meta = meta
                    .filter(|m| m.as_object().is_none_or(|o| !o.is_empty()))
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                fields.extend(["meta".to_owned(), meta]);
            }
            if let Some(load) = limits::load(params.load)? {
                fields.extend(["load".to_owned(), load.to_string()]);
            }
            if let Some(name) = params.name.as_deref().map(limits::name).transpose()? {
                let name = if name == params.peer_id { "" } else { name };
                fields.extend(["name".to_owned(), name.to_owned()]);
            }
            Ok(fields)
        })();
        let fields = match checked {
            Ok(f) => f,
            Err(e) => return done(Err(e)),
        };
        let mut args = vec![params.peer_id, secret_hash(params.token.as_deref())];
        args.extend(fields);
        self.run("update", args, done, |reply| {
            let mut it = reply.into_iter();
            let now = it.next()?.as_int()?;
            views::peer(it.next()?, now)
        });
    }

    fn remove(&self, creds: Credentials, _now: u64, done: Done<()>) {
        let args = vec![creds.peer_id, secret_hash(creds.token.as_deref())];
        self.run("remove", args, done, |_| Some(()));
    }

    fn list(&self, query: ListQuery, page: Page, _now: u64, done: Done<Paged<PeerView>>) {
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty()).unwrap_or_default();
        let mut args = vec![nonempty(query.channel), nonempty(query.role)];
        args.extend(page_args(&page));
        self.run("list", args, done, move |reply| {
            let mut it = reply.into_iter();
            let now = it.next()?.as_int()?;
            let next = views::cursor(it.next()?)?;
            let Value::Array(records) = it.next()? else {
                return None;
            };
            let items = records
                .into_iter()
                .map(|r| views::peer(r, now))
                .collect::<Option<Vec<PeerView>>>()?;
            Some(Paged { items, next })
        });
    }

    fn lookup(&self, target: String, _now: u64, done: Done<PeerAddr>) {
        self.run("lookup", vec![target], done, move |reply| {
            let mut it = reply.into_iter();
            Some(PeerAddr {
                peer_id: it.next()?.as_str()?.to_owned(),
                ip: it.next()?.as_str()?.parse().ok()?,
                port: it.next()?.as_str()?.parse().ok()?,
            })
        });
    }

    fn join(&self, params: JoinParams, _now: u64, done: Done<Joined>) {
        let checked = (|| {
            limits::channel(&params.channel)?;
            Ok(key_hash(limits::key(params.key.as_deref())?))
        })();
        let key = match checked {
            Ok(k) => k,
            Err(e) => return done(Err(e)),
        };
        let channel = params.channel.clone();
        let token = secret_hash(params.token.as_deref());
        let args = vec![params.peer_id, token, params.channel, key];
        self.run("join", args, done, move |reply| {
            let mut members = views::strings(reply.into_iter().next()?)?;
            members.sort_unstable();
            Some(Joined { channel, members })
        });
    }

    fn leave(&self, params: LeaveParams, _now: u64, done: Done<()>) {
        if let Err(e) = limits::channel(&params.channel) {
            return done(Err(e));
        }
        let token = secret_hash(params.token.as_deref());
        let args = vec![params.peer_id, token, params.channel];
        self.run("leave", args, done, |_| Some(()));
    }

    fn channels(&self, page: Page, _now: u64, done: Done<Paged<ChannelView>>) {
        self.run("channels", page_args(&page).into(), done, |reply| {
            views::paged(reply, views::channel)
        });
    }

    fn publish(&self, params: PublishParams, _now: u64, done: Done<Published>) {
        let args = match files::publish_args(&params) {
            Ok(args) => args,
            Err(e) => return done(Err(e)),
        };
        let mut argv = vec![params.peer_id, secret_hash(params.token.as_deref())];
        argv.extend(args.argv);
        let file_id = args.file_id;
        self.run("publish", argv, done, move |reply| {
            let chunks = u64::try_from(reply.first()?.as_int()?).ok()?;
            Some(Published { file_id, chunks })
        });
    }

    fn add_chunks(&self, file_id: String, params: ChunkParams, _now: u64, done: Done<ChunksAdded>) {
        if params.chunks.len() as u64 > limits::MAX_FILE_CHUNKS {
            return done(Err(limits::bad(format!(
                "more than {} chunk indices",
                limits::MAX_FILE_CHUNKS
            ))));
        }
        let mut argv = vec![
            params.peer_id,
            secret_hash(params.token.as_deref()),
            file_id.clone(),
            limits::MAX_FILES_PER_PEER.to_string(),
        ];
        argv.extend(params.chunks.iter().map(u64::to_string));
        self.run("add_chunks", argv, done, move |reply| {
            let mut it = reply.iter().map(Value::as_int);
            let have = u64::try_from(it.next()??).ok()?;
            let chunks = u64::try_from(it.next()??).ok()?;
            Some(ChunksAdded {
                file_id,
                have,
                chunks,
                complete: have == chunks,
            })
        });
    }

    fn files(&self, page: Page, _now: u64, done: Done<Paged<FileSummary>>) {
        self.run("files", page_args(&page).into(), done, |reply| {
            views::paged(reply, files::summary)
        });
    }

    fn file(&self, file_id: String, _now: u64, done: Done<FileView>) {
        self.run("file", vec![file_id.clone()], done, move |reply| {
            files::view(file_id, reply)
        });
    }

    fn peer_files(&self, peer_id: String, _now: u64, done: Done<Vec<PeerFile>>) {
        self.run("peer_files", vec![peer_id], done, |reply| {
            views::sorted(reply, files::peer_file, |f| f.name.clone())
        });
    }

    fn stats(&self, _now: u64, done: Done<Stats>) {
        self.run("stats", Vec::new(), done, |reply| {
            let n: Vec<u64> = reply
                .iter()
                .map(|v| v.as_int().and_then(|n| u64::try_from(n).ok()))
                .collect::<Option<_>>()?;
            let [
                peers,
                channels,
                files,
                registrations,
                heartbeats,
                removals,
                expirations,
            ] = n[..]
            else {
                return None;
            };
            Some(Stats {
                peers,
                channels,
                files,
                registrations,
                heartbeats,
                removals,
                expirations,
            })
        });
    }

    fn sweep(&self, _now: u64, done: Done<Expired>) {
        let args = vec![SWEEP_BATCH.to_string()];
        self.run("sweep", args, done, |reply| {
            let ids = views::strings(reply.into_iter().next()?)?;
            Some(Expired {
                count: ids.len(),
                ids: ids
                    .into_iter()
                    .take(tracker_core::EXPIRED_IDS_KEPT)
                    .collect(),
            })
        });
    }
}
