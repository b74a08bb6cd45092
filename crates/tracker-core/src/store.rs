//! The store seam: where the tracker's state lives. The HTTP layer asks a [`Store`] and answers
//! when the store does; the in-memory [`Registry`] (behind a mutex) answers at once, a shared
//! store (Redis, in the `tracker-redis` crate) answers later, from its own connection, on the same
//! loop. Nothing here does I/O or reads a clock: the memory store takes `now` from the caller,
//! and a shared store uses a clock of its own (Redis's), so trackers sharing it agree.
//!
//! Each operation takes a [`Done`] callback and calls it exactly once.

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use crate::channels::{ChannelView, JoinParams, Joined, LeaveParams};
use crate::dialect::PeerRef;
use crate::error::Result;
use crate::expiry::Expired;
use crate::files::{
    ChunkParams, ChunksAdded, FileSummary, FileView, PeerFile, PublishParams, Published,
};
use crate::paging::{Page, Paged};
use crate::registry::{
    BatchOutcome, Credentials, HeartbeatAck, HeartbeatBatch, ListQuery, PeerAddr, PeerView,
    RegisterParams, Registered, Registry, Stats, UpdateParams,
};

/// Told the outcome of a store operation, once.
pub type Done<T> = Box<dyn FnOnce(Result<T>) + Send>;

/// What `/tracker/health` says of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreHealth {
    /// `memory` or `redis`.
    pub kind: &'static str,
    /// Whether the store answers now.
    pub ok: bool,
    /// A word on its state (`up`, `connecting`, `down: why`), and where it is.
    pub detail: String,
}

/// Where the tracker's peers, channels and files live. Every method mirrors the [`Registry`]
/// method of the same name; `now` is the caller's monotonic milliseconds, used by stores without
/// a clock of their own. The lists (`list`, `channels`, `files`) answer one [`Page`] in key
/// order, with the cursor of the next.
pub trait Store: Send + Sync {
    /// The store's state.
    fn health(&self) -> StoreHealth;
    /// See [`Registry::register`].
    fn register(&self, params: RegisterParams, ip: IpAddr, now: u64, done: Done<Registered>);
    /// Who a call on one peer's record is about and what proves it, as course clients call:
    /// the id of the live peer `named` (see [`Registry::resolve`]) and the token to present
    /// to the store for it — the one presented (which that call still checks), or, for a
    /// token-less call from the source address the peer registered from (unless tokens are
    /// required), one the store accepts from this tracker for that peer (see
    /// [`Registry::credential`]; it never leaves the tracker).
    fn credential(
        &self,
        named: PeerRef,
        token: Option<String>,
        source: IpAddr,
        now: u64,
        done: Done<Credentials>,
    );
    /// See [`Registry::heartbeat`].
    fn heartbeat(&self, creds: Credentials, now: u64, done: Done<HeartbeatAck>);
    /// See [`Registry::heartbeat_batch`].
    fn heartbeat_batch(&self, batch: HeartbeatBatch, now: u64, done: Done<BatchOutcome>);
    /// See [`Registry::update`].
    fn update(&self, params: UpdateParams, now: u64, done: Done<PeerView>);
    /// See [`Registry::remove`].
    fn remove(&self, creds: Credentials, now: u64, done: Done<()>);
    /// See [`Registry::list`].
    fn list(&self, query: ListQuery, page: Page, now: u64, done: Done<Paged<PeerView>>);
    /// Where to dial `target`, a peer id or a unique name: see [`Registry::find`].
    fn lookup(&self, target: String, now: u64, done: Done<PeerAddr>);
    /// See [`Registry::join`].
    fn join(&self, params: JoinParams, now: u64, done: Done<Joined>);
    /// See [`Registry::leave`].
    fn leave(&self, params: LeaveParams, now: u64, done: Done<()>);
    /// See [`Registry::channels`].
    fn channels(&self, page: Page, now: u64, done: Done<Paged<ChannelView>>);
    /// See [`Registry::publish`].
    fn publish(&self, params: PublishParams, now: u64, done: Done<Published>);
    /// See [`Registry::add_chunks`].
    fn add_chunks(&self, file_id: String, params: ChunkParams, now: u64, done: Done<ChunksAdded>);
    /// See [`Registry::files`].
    fn files(&self, page: Page, now: u64, done: Done<Paged<FileSummary>>);
    /// See [`Registry::file`].
    fn file(&self, file_id: String, now: u64, done: Done<FileView>);
    /// See [`Registry::peer_files`].
    fn peer_files(&self, peer_id: String, now: u64, done: Done<Vec<PeerFile>>);
    /// See [`Registry::stats`].
    fn stats(&self, now: u64, done: Done<Stats>);
    /// Drops peers past their deadline (the tracker's sweep timer calls it every second).
    fn sweep(&self, now: u64, done: Done<Expired>);
}

/// The in-memory store, the default: one tracker's own registry. Every call answers before it
/// returns, so the HTTP layer answers at once, as it did before the seam.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<Registry>);

impl MemoryStore {
    /// A store holding `registry`.
    pub fn new(registry: Registry) -> MemoryStore {
        MemoryStore(Mutex::new(registry))
    }

    /// The registry itself, for the operator console and the memory release.
    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        // A call that panicked midway leaves the registry as consistent as any single call
        // leaves it; refusing every later request would be worse.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn health(&self) -> StoreHealth {
        StoreHealth {
            kind: "memory",
            ok: true,
            detail: "up".to_owned(),
        }
    }
    fn register(&self, params: RegisterParams, ip: IpAddr, now: u64, done: Done<Registered>) {
        done(self.lock().register(params, ip, now));
    }
    fn credential(
        &self,
        named: PeerRef,
        token: Option<String>,
        source: IpAddr,
        now: u64,
        done: Done<Credentials>,
    ) {
        // The lock is let go before `done`, which may call the store again.
        let found = {
            let reg = self.lock();
            reg.resolve(&named, now).and_then(|peer_id| {
                let token = reg.credential(&peer_id, token.as_deref(), source, now)?;
                Ok(Credentials {
                    peer_id,
                    token: Some(token),
                })
            })
        };
        done(found);
    }
    fn heartbeat(&self, creds: Credentials, now: u64, done: Done<HeartbeatAck>) {
        done(
            self.lock()
                .heartbeat(&creds.peer_id, creds.token.as_deref(), now),
        );
    }
    fn heartbeat_batch(&self, batch: HeartbeatBatch, now: u64, done: Done<BatchOutcome>) {
        done(self.lock().heartbeat_batch(batch, now));
    }
    fn update(&self, params: UpdateParams, now: u64, done: Done<PeerView>) {
        done(self.lock().update(params, now));
    }
    fn remove(&self, creds: Credentials, now: u64, done: Done<()>) {
        done(
            self.lock()
                .remove(&creds.peer_id, creds.token.as_deref(), now),
        );
    }
    fn list(&self, query: ListQuery, page: Page, now: u64, done: Done<Paged<PeerView>>) {
        let peers = self.lock().list(&query, &page, now);
        done(Ok(peers));
    }
    fn lookup(&self, target: String, now: u64, done: Done<PeerAddr>) {
        done(self.lock().find(&target, now));
    }
    fn join(&self, params: JoinParams, now: u64, done: Done<Joined>) {
        done(self.lock().join(params, now));
    }
    fn leave(&self, params: LeaveParams, now: u64, done: Done<()>) {
        done(self.lock().leave(params, now));
    }
    fn channels(&self, page: Page, now: u64, done: Done<Paged<ChannelView>>) {
        let channels = self.lock().channels(&page, now);
        done(Ok(channels));
    }
    fn publish(&self, params: PublishParams, now: u64, done: Done<Published>) {
        done(self.lock().publish(params, now));
    }
    fn add_chunks(&self, file_id: String, params: ChunkParams, now: u64, done: Done<ChunksAdded>) {
        done(self.lock().add_chunks(&file_id, params, now));
    }
    fn files(&self, page: Page, now: u64, done: Done<Paged<FileSummary>>) {
        let files = self.lock().files(&page, now);
        done(Ok(files));
    }
    fn file(&self, file_id: String, now: u64, done: Done<FileView>) {
        done(self.lock().file(&file_id, now));
    }
    fn peer_files(&self, peer_id: String, now: u64, done: Done<Vec<PeerFile>>) {
        done(self.lock().peer_files(&peer_id, now));
    }
    fn stats(&self, now: u64, done: Done<Stats>) {
        let stats = self.lock().stats(now);
        done(Ok(stats));
    }
    fn sweep(&self, now: u64, done: Done<Expired>) {
        let expired = self.lock().sweep_counted(now);
        done(Ok(expired));
    }
}
