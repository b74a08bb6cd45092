//! The pure core of the WeApRous tracker: peer registry, channels, the file index, expiry,
//! limits and secrets.
//!
//! [`Registry`] does no I/O and reads no clock; every operation takes `now`, milliseconds on a
//! monotonic clock chosen by the caller, so tests control time. This crate depends on neither
//! the reactor nor the router: the `tracker` crate is its HTTP face and timer.
//!
//! - [`registry`]: [`Registry`], registration, heartbeats, updates, removal, listing, lookup;
//! - [`dialect`]: the course clients' ways of naming a peer, and token-less calls;
//! - [`channels`]: open and key-protected channels;
//! - [`files`]: the file index (content ids, holders and their chunks);
//! - [`expiry`]: the deadline queue that finds expired peers without scanning;
//! - [`identity`]: who may claim a peer id and an address (source address, tokens, keys);
//! - [`limits`]: every bound enforced, as named constants;
//! - [`paging`]: pages of long lists, `?limit=&after=` and a `next` cursor;
//! - [`rate`]: registrations per source address, a token bucket each;
//! - [`error`]: the error type, [`TrackerError`];
//! - [`store`]: the store seam, [`Store`], and its in-memory implementation, [`MemoryStore`].
//!
//! Secrets: peer tokens are 128-bit random values handed out as 32 hex digits; channel keys are
//! kept only as SHA-256 hashes; both are compared in constant time, and no view shows either.

pub mod channels;
pub mod dialect;
pub mod error;
pub mod expiry;
pub mod files;
pub mod identity;
pub mod limits;
pub mod paging;
pub mod rate;
pub mod registry;
mod secret;
pub mod store;
mod table;

#[cfg(test)]
mod tests;

pub use channels::{ChannelView, JoinParams, Joined, LeaveParams, PolicyKind};
pub use error::{Result, TrackerError};
pub use expiry::{EXPIRED_IDS_KEPT, Expired};
pub use files::{
    ChunkParams, ChunksAdded, FileSummary, FileView, HolderView, PeerFile, PublishParams,
    Published, file_id, file_id_of,
};
pub use paging::{Page, PageQuery, Paged};
pub use rate::{RegisterLimiter, RegisterRate};
pub use registry::{
    BatchOutcome, Config, Credentials, HeartbeatAck, HeartbeatBatch, ListQuery, PeerAddr, PeerView,
    RegisterParams, Registered, Registry, Stats, UpdateParams,
};
pub use store::{Done, MemoryStore, Store, StoreHealth};
