//! A WeApRous chat peer (SPEC §6): pure protocol state, and its driver on the reactor.
//!
//! Nothing in the protocol modules opens a socket, starts a thread or reads a clock. Every input that depends on
//! time takes `now_ms`, milliseconds since the Unix epoch read once by the driver, so tests
//! control time; every output is a value ([`Action`], [`Event`]) that the driver carries out.
//! The only I/O is [`store::Store`], which appends to `messages.jsonl` with `std::fs`.
//!
//! - [`frame`]: the newline-delimited JSON link frames, [`FrameDecoder`] and [`encode`];
//! - [`message`]: [`Message`], ids, direct channels and validation;
//! - [`history`]: per-channel ordered, deduplicated, bounded history and the Lamport clock;
//! - [`store`]: the append-only `messages.jsonl` format and its file;
//! - [`link`]: the state machine of one link (handshake, keep-alive, duplicate rule, `bye`);
//! - [`node`]: [`NodeState`], one peer's channels, links and histories;
//! - [`tracker_client`]: when to register, heartbeat, register again and retry the tracker;
//! - [`error`]: the error type, [`Error`];
//! - [`driver`]: the I/O around it on the reactor — link connections, the tracker client, and
//!   [`Node`], the handle on a running peer ([`start`], [`spawn`]);
//! - [`api`], [`sse`]: the peer's HTTP API and its Server-Sent Events.
//!
//! How a driver uses it: for every upgraded connection call [`NodeState::link_dialled`] or
//! [`NodeState::link_accepted`]; feed input bytes to a per-link [`FrameDecoder`] and each frame
//! to [`NodeState::on_frame`] (a decode error to [`NodeState::on_link_error`]); call
//! [`NodeState::tick`] at [`NodeState::next_deadline`]; carry out the returned actions in order
//! (append [`Action::Persist`] to the store, write [`Action::Send`] frames, close on
//! [`Action::Close`] once the bye is flushed, then report [`NodeState::link_closed`]); and
//! finally drain [`NodeState::drain_events`] to the UI, so a message is stored before it is shown.

pub mod api;
pub mod driver;
pub mod error;
pub mod frame;
pub mod history;
pub mod link;
pub mod message;
pub mod node;
pub mod sse;
pub mod store;
pub mod tracker_client;

pub use driver::{Config, Node, Running, spawn, start};
pub use error::Error;
pub use frame::{Frame, FrameDecoder, FrameError, encode};
pub use message::{Message, dm_channel};
pub use node::{Action, ChannelPolicy, Event, LinkId, NodeState};
