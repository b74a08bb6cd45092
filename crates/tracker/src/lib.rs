//! The WeApRous tracker: peer registry, channels, the file index, and their HTTP API.
//!
//! The state is pure: [`Registry`] does no I/O and reads no clock; every operation takes `now`,
//! milliseconds on a monotonic clock chosen by the caller, so tests control time. The HTTP API
//! of SPEC §5 and §8 ([`api`]) is a thin layer on top: it deserializes the parameter types here,
//! calls one [`Registry`] method, serializes the answer (adding `"status":"ok"`), and maps a
//! [`TrackerError`] to its [`TrackerError::status`] with `{"error": message}`. [`server`] puts
//! that app on a reactor loop next to a timer agent calling [`Registry::sweep_counted`] every
//! second, so peers expire without traffic; [`console`] is the operator console.
//!
//! - [`registry`]: [`Registry`], registration, heartbeats, updates, removal, listing, lookup;
//! - [`channels`]: open and key-protected channels;
//! - [`files`]: the file index (content ids, holders and their chunks);
//! - [`expiry`]: the deadline queue that finds expired peers without scanning;
//! - [`limits`]: every bound enforced, as named constants;
//! - [`error`]: the error type, [`TrackerError`];
//! - [`api`], [`server`], [`console`]: the HTTP routes, their wiring, the console.
//!
//! Secrets: peer tokens are 128-bit random values handed out as 32 hex digits; channel keys are
//! kept only as SHA-256 hashes; both are compared in constant time, and no view shows either.

pub mod api;
pub mod channels;
pub mod console;
pub mod error;
pub mod expiry;
pub mod files;
pub mod limits;
pub mod registry;
mod secret;
pub mod server;

#[cfg(test)]
mod tests;

pub use api::{StatusView, Tracker};
pub use channels::{ChannelView, JoinParams, Joined, LeaveParams, PolicyKind};
pub use error::{Result, TrackerError};
pub use expiry::{EXPIRED_IDS_KEPT, Expired};
pub use files::{
    ChunkParams, ChunksAdded, FileSummary, FileView, HolderView, PeerFile, PublishParams,
    Published, file_id, file_id_of,
};
pub use registry::{
    BatchOutcome, Config, Credentials, HeartbeatAck, HeartbeatBatch, ListQuery, PeerAddr, PeerView,
    RegisterParams, Registered, Registry, Stats, UpdateParams,
};
