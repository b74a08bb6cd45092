//! Pure tracker state for WeApRous: the peer registry, channels and the file index.
//!
//! This crate does no I/O and reads no clock: every operation takes `now`, milliseconds on a
//! monotonic clock chosen by the caller, so tests control time. The HTTP API of SPEC §5 and §8
//! is a thin layer on top: it deserializes the parameter types here, calls one [`Registry`]
//! method, serializes the answer (adding `"status":"ok"`), and maps a [`TrackerError`] to its
//! [`TrackerError::status`] with `{"error": message}`. It should also call [`Registry::sweep`]
//! on a timer (say every second), so peers expire without traffic.
//!
//! - [`registry`]: [`Registry`], registration, heartbeats, updates, removal, listing, lookup;
//! - [`channels`]: open and key-protected channels;
//! - [`files`]: the file index (content ids, holders and their chunks);
//! - [`expiry`]: the deadline queue that finds expired peers without scanning;
//! - [`limits`]: every bound enforced, as named constants;
//! - [`error`]: the error type, [`TrackerError`].
//!
//! Secrets: peer tokens are 128-bit random values handed out as 32 hex digits; channel keys are
//! kept only as SHA-256 hashes; both are compared in constant time, and no view shows either.

pub mod channels;
pub mod error;
pub mod expiry;
pub mod files;
pub mod limits;
pub mod registry;
mod secret;

#[cfg(test)]
mod tests;

pub use channels::{ChannelView, JoinParams, Joined, LeaveParams, PolicyKind};
pub use error::{Result, TrackerError};
pub use files::{
    ChunkParams, ChunksAdded, FileSummary, FileView, HolderView, PeerFile, PublishParams,
    Published, file_id, file_id_of,
};
pub use registry::{
    BatchOutcome, Config, Credentials, HeartbeatAck, HeartbeatBatch, ListQuery, PeerAddr, PeerView,
    RegisterParams, Registered, Registry, Stats, UpdateParams,
};
