//! Forwarding on the reactor: one [`Protocol`](reactor::Protocol) per client connection, one per
//! upstream connection, a byte tunnel after an upgrade, and a health agent probing down upstreams.
//!
//! A client entry and the upstream entry serving its current request talk only through
//! `cx.send` to each other's typed [`Addr`]: the client sends the request head, body pieces and flow control; the upstream
//! sends the response head, body pieces, flow control, or why it failed. Every message carries
//! the attempt number (`seq`) of the request it belongs to, so a late message from an earlier
//! attempt (after a retry) or for an earlier request (after a pooled connection changed hands)
//! is ignored. Bodies are never held whole: a producer pauses its own reading once more than
//! [`OUTPUT_CAP`] bytes it sent are queued or unsent on the other side (see `flow.rs`).

mod client;
mod exchange;
mod flow;
pub mod headers;
mod probe;
pub mod status_page;
mod tunnel;
mod upstream;

pub(crate) use client::ClientConn;
pub(crate) use probe::HealthAgent;
pub(crate) use upstream::UpstreamConn;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_core::{BodyKind, Limits, Method, ResponseHead};
use reactor::{Addr, ConnId, Handle, Session};

use crate::config::Config;
use crate::pool::Pools;
use crate::upstream_pool::UpstreamPool;
use flow::Flow;

/// Unsent output above which the producing side is asked to pause reading.
pub const OUTPUT_CAP: usize = 256 * 1024;
/// Unread input a proxy connection buffers before the loop stops reading it.
pub const READ_LIMIT: usize = 64 * 1024;
/// How long a pooled upstream connection may sit idle before it is closed; below the 60 s
/// upstreams themselves allow (SPEC §2), so the proxy is the side that closes.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What every proxy entry on one loop shares.
pub(crate) struct Shared {
    pub config: Config,
    /// Resolved address of each upstream, indexed like the config's blocks and upstreams.
    pub addrs: Vec<Vec<SocketAddr>>,
    pub limits: Limits,
    pub handle: Handle,
    pub state: Mutex<State>,
}

/// The mutable part; only the loop thread locks it, so the lock is never contended.
pub(crate) struct State {
    pub pools: Pools,
    pub idle: UpstreamPool<SocketAddr, Addr<UpstreamConn>, Claim>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain counters behind: keep going with them.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Who took an idle upstream connection: the client and its attempt.
#[derive(Debug)]
pub(crate) struct Claim {
    pub client: Addr<ClientConn>,
    pub seq: u64,
}

/// Which upstream of which block an attempt goes to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub block: usize,
    pub backend: usize,
    pub addr: SocketAddr,
}

/// Everything an upstream connection needs to start one exchange.
pub(crate) struct Attach {
    pub client: Addr<ClientConn>,
    /// The client's id, which its messages carry as `from`.
    pub client_id: ConnId,
    pub seq: u64,
    pub target: Target,
    /// The serialized request head.
    pub wire: Bytes,
    pub method: Method,
    /// The request body's framing towards the upstream.
    pub body: BodyKind,
    pub upgrade: bool,
    pub timeout: Duration,
    /// Request body (and client → upstream tunnel) bytes: the client produces.
    pub up: Arc<Flow>,
    /// Response body (and upstream → client tunnel) bytes: the upstream produces.
    pub down: Arc<Flow>,
}

/// Client → upstream.
pub(crate) struct ToUpstream {
    pub from: ConnId,
    pub seq: u64,
    pub msg: UpstreamMsg,
}

pub(crate) enum UpstreamMsg {
    /// Take this exchange (sent to an idle pooled connection).
    Attach(Box<Attach>),
    /// A piece of the request body, unframed.
    Body(Bytes),
    /// The request body is complete.
    BodyEnd,
    /// Response credit came back: read again.
    Resume,
    /// The client is gone mid-exchange: the connection cannot be reused.
    Abort,
}

/// Upstream → client.
pub(crate) struct ToClient {
    pub seq: u64,
    pub msg: ClientMsg,
}

pub(crate) enum ClientMsg {
    /// The upstream is connected: the request body may flow.
    Ready,
    /// A serialized 1xx interim response (not 101).
    Interim(Bytes),
    /// The response head and how its body is framed upstream.
    Head(Box<ResponseHead>, BodyKind),
    /// The upstream answered `101` to an upgrade and became one half of a tunnel; this is the
    /// other half, already addressed by it, for the client connection to become.
    Switched(Box<ResponseHead>, Session),
    /// A piece of the response body, unframed.
    Body(Bytes),
    /// The response is complete.
    End,
    /// Request body credit came back: read again.
    Resume,
    /// The attempt failed.
    Failed(Failure),
}

/// Why an attempt failed, which decides between a retry, 502 and 504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The TCP connect failed: nothing was sent.
    Connect,
    /// A pooled connection closed before the request was written to it: nothing was sent.
    Vanished,
    /// A reused pooled connection closed before answering anything; the request may have
    /// reached the upstream.
    Stale,
    /// The connection broke, or the answer was not valid HTTP.
    Broken,
    /// The upstream stayed silent past the block's timeout.
    Timeout,
}
