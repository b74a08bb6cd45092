//! The WeApRous tracker's HTTP face and timer, around the pure core in [`tracker_core`].
//!
//! The state is pure: [`Registry`] does no I/O and reads no clock; every operation takes `now`,
//! milliseconds on a monotonic clock chosen by the caller, so tests control time. The HTTP API
//! of SPEC §5 and §8 ([`api`]) is a thin layer on top: it deserializes the parameter types here,
//! calls one [`Store`] method (the in-memory [`Registry`] by default, or a store shared by several
//! trackers), serializes the answer (adding `"status":"ok"`), and maps a
//! [`TrackerError`] to its [`TrackerError::status`] with `{"error": message}`. [`server`] puts
//! that app on a reactor loop next to a timer agent calling [`Registry::sweep_counted`] every
//! second, so peers expire without traffic; [`console`] is the operator console.
//!
//! - [`api`], [`server`], [`console`]: the HTTP routes, their wiring, the console;
//! - [`dashboard`]: the read-only web page at `/` for a signed-in operator.
//!
//! The core's types are re-exported so that the daemon needs only this crate.

mod answer;
pub mod api;
pub mod console;
pub mod dashboard;
pub mod server;

pub use api::{StatusView, Tracker};
pub use tracker_core::{
    BatchOutcome, ChannelView, ChunkParams, ChunksAdded, Config, Credentials, EXPIRED_IDS_KEPT,
    Expired, FileSummary, FileView, HeartbeatAck, HeartbeatBatch, HolderView, JoinParams, Joined,
    LeaveParams, ListQuery, MemoryStore, PeerAddr, PeerFile, PeerView, PolicyKind, PublishParams,
    Published, RegisterParams, Registered, Registry, Result, Stats, Store, StoreHealth,
    TrackerError, UpdateParams, file_id, file_id_of, identity, limits, paging, rate,
};
pub use tracker_core::{Page, PageQuery, Paged, RegisterRate};
