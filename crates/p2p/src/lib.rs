//! A WeApRous chat peer (SPEC §6) on the reactor: the driver around the pure core in
//! [`p2p_proto`], its message store, and its HTTP face.
//!
//! - `driver` (private): link connections, the tracker client, and [`Node`], the handle on a
//!   running peer ([`start`], [`spawn`]);
//! - [`store`]: the append-only `messages.jsonl` format and its file (the one place that
//!   touches the disk);
//! - [`api`], [`sse`]: the peer's HTTP API and its Server-Sent Events.
//!
//! The protocol types are re-exported from [`p2p_proto`] so that users of a running peer need
//! only this crate.

pub mod api;
mod driver;
pub mod sse;
pub mod store;

// The pure core, under the names the driver has always used for it.
pub(crate) use p2p_proto::{error, frame, link, message, node, tracker_client};

pub use driver::course::MAX_ATTEMPTS as COURSE_DELIVERY_ATTEMPTS;
pub use driver::{Config, Node, Peer, Running, UiEvent, WallClock, spawn, start};
pub use p2p_proto::{
    Action, ChannelPolicy, Error, Event, Frame, FrameDecoder, FrameError, LinkId, Message,
    NodeState, dm_channel, encode,
};
