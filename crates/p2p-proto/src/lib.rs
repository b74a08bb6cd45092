//! The pure core of a WeApRous chat peer (SPEC §6): what a peer decides, with no I/O.
//!
//! Nothing here opens a socket, starts a thread, touches a file or reads a clock. Every input
//! that depends on time takes it as an argument, so tests control time; every output is a value
//! ([`Action`], [`Event`]) that a driver carries out. The driver on the reactor is the `p2p`
//! crate; this crate depends on neither the reactor nor the router.
//!
//! Two clocks, never mixed: `mono_ms` (milliseconds on a monotonic clock, any origin) drives
//! every timer (pings, dead links, handshakes); `ts_ms` (wall clock, milliseconds since the
//! Unix epoch) only stamps the messages this peer writes.
//!
//! - [`frame`]: the newline-delimited JSON link frames, [`FrameDecoder`] and [`encode`];
//! - [`message`]: [`Message`], ids, direct channels and validation;
//! - [`identity`]: the peer's Ed25519 key, message signatures and link proofs;
//! - [`channel_key`]: proofs that a peer holds a key channel's key, bound to one link;
//! - [`seal`]: end-to-end encryption of direct messages (X25519 and ChaCha20-Poly1305);
//! - [`history`]: per-channel ordered, deduplicated, bounded history and the Lamport clock;
//! - [`link`]: the state machine of one link (handshake, keep-alive, duplicate rule, `bye`);
//! - [`node`]: [`NodeState`], one peer's channels, links and histories, and the messages of
//!   course peers ([`CourseMessage`], unsigned and unlinked);
//! - [`tracker_client`]: when to register, heartbeat, register again and retry the tracker;
//! - [`files`]: file sharing (SPEC §8): chunk digests, file ids, and [`files::Fetch`], the
//!   decisions of a download (rarest first, windows, penalties, resume);
//! - [`error`]: the error type, [`Error`].
//!
//! How a driver uses it: for every upgraded connection call [`NodeState::link_dialled`] or
//! [`NodeState::link_accepted`]; feed input bytes to a per-link [`FrameDecoder`] and each frame
//! to [`NodeState::on_frame`] (a decode error to [`NodeState::on_link_error`]); call
//! [`NodeState::tick`] at [`NodeState::next_deadline`]; carry out the returned actions in order
//! (persist [`Action::Persist`], write [`Action::Send`] frames, close on [`Action::Close`] once
//! the bye is flushed, then report [`NodeState::link_closed`]); and finally drain
//! [`NodeState::drain_events`] to the UI, so a message is stored before it is shown.

pub mod channel_key;
pub mod error;
pub mod files;
pub mod frame;
pub mod history;
pub mod identity;
pub mod link;
pub mod message;
pub mod node;
pub mod seal;
pub mod tracker_client;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use channel_key::ChannelKey;
pub use error::{Error, Result};
pub use frame::{Frame, FrameDecoder, FrameError, encode};
pub use identity::{Identity, PublicKey};
pub use message::{Message, dm_channel};
pub use node::course::{CourseMessage, course_timestamp};
pub use node::{Action, ChannelAccess, ChannelPolicy, Event, LinkId, NodeState, Outgoing};
