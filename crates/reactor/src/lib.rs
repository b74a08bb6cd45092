//! The one place WeApRous-rs touches sockets: a mio event loop with HTTP drivers on top.
//!
//! - [`EventLoop`]: `Poll`, listeners, a slab of entries (connections and socketless agents),
//!   one deadline per entry, a [`Handle`] for other threads, graceful shutdown on SIGINT/SIGTERM.
//! - [`Protocol`] and [`Cx`]: how an entry behaves, and what it may do from a callback — read
//!   input, queue output, pause reading (backpressure), dial, message other entries through
//!   their typed [`Addr`], switch protocols after a `101`.
//! - [`Clock`]: the one monotonic clock a loop measures every deadline on; a test may inject
//!   a [`SteppedClock`].
//! - [`server`]: the HTTP/1.1 server driver (keep-alive, pipelining, limits, timeouts,
//!   streamed bodies, file bodies sent with `pread` or `sendfile` in bounded steps ([`FileBody`]),
//!   deferred replies, upgrades) calling a [`Service`].
//! - [`client`]: an HTTP client on the loop, and a blocking one for tools and tests.
//! - [`pool`]: a keep-alive HTTP client on the loop: persistent connections per origin,
//!   reused across requests, a request that met a server's idle close sent again once.
//! - [`AccessLine`]: the one access-log line format of every daemon.
//!
//! Nothing here blocks the loop thread: every socket is non-blocking, every buffer has a cap.

mod access_log;
pub mod client;
mod event_loop;
mod file_body;
mod handle;
pub mod pool;
pub mod server;
mod thread;

pub use access_log::AccessLine;
pub use event_loop::{
    Acceptor, Addr, Clock, CloseReason, ConnId, ConnInfo, Cx, DEFAULT_READ_LIMIT, EventLoop, Inbox,
    Protocol, SHUTDOWN_GRACE, Session, SteppedClock, SystemClock,
};
pub use file_body::{FILE_HIGH_WATER, FILE_ROUND_BUDGET, FILE_SLICE, FileBody, Transfer};
pub use handle::Handle;
pub use server::{BodySender, Reply, RequestInfo, Responder, Service, serve};
pub use thread::{LoopThread, Running};
