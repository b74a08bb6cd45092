//! A WeApRous chat peer (SPEC §6) on the reactor: the driver around the pure core in
//! [`p2p_proto`], its message store, and its HTTP face.
//!
//! - `driver` (private): link connections, the tracker client, and [`Node`], the handle on a
//!   running peer ([`start`], [`spawn`]);
//! - [`joined`]: `channels.json`, the joined channels and their keys;
//! - [`store`]: the append-only `messages.jsonl` format and its file (the one place that
//!   touches the disk);
//! - [`api`], [`sse`]: the peer's HTTP API and its Server-Sent Events; `files_api`, its
//!   file-sharing routes (SPEC §8) over [`Files`];
//! - [`guard`]: the refusal of cross-site requests that ride on the session cookie.
//!
//! The protocol types are re-exported from [`p2p_proto`] so that users of a running peer need
//! only this crate.

pub mod api;
mod driver;
mod files_api;
pub mod guard;
pub mod joined;
pub mod sse;
mod stale;
mod state_file;
pub mod store;

// The pure core, under the names the driver has always used for it.
pub(crate) use p2p_proto::{error, frame, link, message, node, tracker_client};

/// The pure file-sharing core, for its constants and types.
pub use p2p_proto::files;

pub use driver::address::Advertise;
pub use driver::course::MAX_ATTEMPTS as COURSE_DELIVERY_ATTEMPTS;
pub use driver::course::MAX_QUEUED_PER_PEER as COURSE_QUEUE_PER_PEER;
pub use driver::files::{
    FetchPhase, FetchStarted, FetchView, FileError, FileEvent, FileReply, Files, LocalFile,
    NetworkFile, Published,
};
pub use driver::send::{CourseRecipient, Delivery, Sent};
pub use driver::{Config, Node, Peer, Running, TrackerStatus, UiEvent, WallClock, spawn, start};
pub use p2p_proto::frame::{MAX_PROTOCOL_VERSION, PROTOCOL_VERSION};
pub use p2p_proto::{
    Action, ChannelPolicy, Error, Event, Frame, FrameDecoder, FrameError, Identity, LinkId,
    Message, NodeState, dm_channel, encode,
};
pub use p2p_proto::{channel_key, identity, seal};
