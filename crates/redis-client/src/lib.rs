//! A Redis client for code running on the reactor's loop, which must never block.
//!
//! [`Redis::start`] adds a supervisor agent to the loop; it dials Redis and keeps one connection
//! (`link.rs`) up, dialling again with back-off after a failure. [`Redis::call`] hands a pipeline of
//! commands to that connection as a loop message; the connection writes them at once behind any
//! others in flight (pipelining: no round trip is waited for), reads the replies in order with the
//! sans-IO [`resp`] codec, and calls the caller's callback with them on the loop thread.
//!
//! While Redis is unreachable a call fails at once with [`Error::Unavailable`], never waits, so a
//! daemon answers 503 and stays responsive; a call whose connection breaks before the answer
//! fails the same way. A pipeline's commands reach Redis back to back on one connection, and a
//! `MULTI … EXEC` or `EVAL` inside one is atomic as Redis makes it.
//!
//! A [`Redis`] is a cheap clone, usable from any thread (the callback still runs on the loop).

mod link;
mod supervisor;
#[cfg(feature = "test-util")]
pub mod testing;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reactor::{Addr, EventLoop, Handle, Session};
use serde::Serialize;

pub use resp::Value;

/// How long a reply may take before the connection is deemed dead and dropped.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The first wait before dialling again; it doubles after each failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two dials.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The most commands in flight on the connection; a call beyond it fails with [`Error::Busy`].
pub const MAX_IN_FLIGHT: usize = 100_000;
/// The most reply bytes held unparsed: a reply must fit whole before it is parsed, so this is
/// the largest reply the client takes (a tracker listing 100,000 peers is about 20 MiB).
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// Why a call got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No connection to Redis (down, refused, timed out, broken): try again later.
    #[error("redis at {addr} is unavailable: {reason}")]
    Unavailable {
        /// Where Redis was expected.
        addr: SocketAddr,
        /// What went wrong last.
        reason: String,
    },
    /// Too many commands in flight.
    #[error("redis at {0} is overloaded: too many commands in flight")]
    Busy(SocketAddr),
}

/// What a caller hears: the replies of its commands, in order (a command Redis refused is a
/// [`Value::Error`] among them), or why there are none.
pub type Replies = Result<Vec<Value>, Error>;

/// `redis://HOST[:PORT][/DB]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Where Redis listens (the host is resolved once, when parsed).
    pub addr: SocketAddr,
    /// The database number (`SELECT`).
    pub db: u32,
}

impl Url {
    /// Parses and resolves `redis://HOST[:PORT][/DB]` (port 6379, database 0 by default).
    ///
    /// ```
    /// let url = redis_client::Url::parse("redis://127.0.0.1:6380/2").unwrap();
    /// assert_eq!((url.addr.port(), url.db), (6380, 2));
    /// assert!(redis_client::Url::parse("http://127.0.0.1").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = text
            .strip_prefix("redis://")
            .ok_or_else(|| format!("{text:?}: expected redis://HOST[:PORT][/DB]"))?;
        let (authority, db) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(format!(
                "{text:?}: credentials in the URL are not supported"
            ));
        }
        let db = match db {
            "" => 0,
            n => n
                .parse()
                .map_err(|_| format!("{text:?}: the database must be a number, not {n:?}"))?,
        };
        let with_port = if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:6379")
        } else {
            authority.to_owned()
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{text:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("{text:?}: no address"))?;
        Ok(Url { addr, db })
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis://{}/{}", self.addr, self.db)
    }
}

/// The connection's state, for health pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum State {
    /// Dialling.
    Connecting,
    /// Connected and selected.
    Up,
    /// Waiting to dial again.
    Down {
        /// What went wrong.
        error: String,
    },
}

/// A pipeline for one call: commands, each a list of arguments.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub(crate) commands: Vec<Vec<Vec<u8>>>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Appends a command.
    pub fn cmd<A: AsRef<[u8]>>(mut self, args: &[A]) -> Pipeline {
        self.commands
            .push(args.iter().map(|a| a.as_ref().to_vec()).collect());
        self
    }

    /// How many commands it holds.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

/// A callback that is called exactly once: with the replies, or, if it is dropped unanswered
/// (its connection gone, the loop stopping), with [`Error::Unavailable`].
pub(crate) struct Reply {
    callback: Option<Box<dyn FnOnce(Replies) + Send>>,
    addr: SocketAddr,
}

impl Reply {
    pub(crate) fn send(mut self, replies: Replies) {
        if let Some(callback) = self.callback.take() {
            callback(replies);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(callback) = self.callback.take() {
            callback(Err(Error::Unavailable {
                addr: self.addr,
                reason: "the connection closed before the reply".to_owned(),
            }));
        }
    }
}

/// What [`Redis::call_built`] is given: it builds a pipeline and the callback for its replies.
pub type Build = Box<dyn FnOnce() -> (Pipeline, Box<dyn FnOnce(Replies) + Send>) + Send>;

/// One call on its way to the connection.
pub(crate) enum Call {
    /// Its pipeline is known.
    Ready { pipeline: Pipeline, reply: Reply },
    /// Its pipeline is built when the connection writes it; if it never is (the connection
    /// went first), it is built then and its callback told why.
    Later(Later),
}

/// A [`Build`] not run yet; dropped unrun, it runs and fails its callback.
pub(crate) struct Later {
    build: Option<Build>,
    addr: SocketAddr,
}

impl Call {
    /// The commands and their reply, building them now if the call was built late.
    pub(crate) fn into_parts(self) -> (Pipeline, Reply) {
        match self {
            Call::Ready { pipeline, reply } => (pipeline, reply),
            Call::Later(mut later) => {
                let addr = later.addr;
                let build = later.build.take().expect("a Later is built once");
                let (pipeline, callback) = build();
                let reply = Reply {
                    callback: Some(callback),
                    addr,
                };
                (pipeline, reply)
            }
        }
    }

    /// Fails the call with `error`.
    pub(crate) fn fail(self, error: Error) {
        self.into_parts().1.send(Err(error));
    }
}

impl Drop for Later {
    fn drop(&mut self) {
        if let Some(build) = self.build.take() {
            let (_, callback) = build();
            callback(Err(Error::Unavailable {
                addr: self.addr,
                reason: "the connection closed before the call was written".to_owned(),
            }));
        }
    }
}

/// What the supervisor and the connection share with callers.
pub(crate) struct Shared {
    pub(crate) url: Url,
    pub(crate) handle: Handle,
    pub(crate) conn: Mutex<Conn>,
}

pub(crate) struct Conn {
    /// The connection calls go to (dialling or up), if any.
    pub(crate) link: Option<Addr<link::Link>>,
    pub(crate) state: State,
    /// Commands sent and not yet answered.
    pub(crate) in_flight: usize,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn unavailable(&self, reason: impl Into<String>) -> Error {
        Error::Unavailable {
            addr: self.url.addr,
            reason: reason.into(),
        }
    }
}

/// A client of one Redis, on one loop. See the crate docs.
#[derive(Clone)]
pub struct Redis {
    shared: Arc<Shared>,
}

impl Redis {
    /// Adds the client to `event_loop` (before it runs, or from outside it); it dials at once.
    pub fn start(event_loop: &mut EventLoop, url: Url) -> Redis {
        let shared = Arc::new(Shared {
            url,
            handle: event_loop.handle(),
            conn: Mutex::new(Conn {
                link: None,
                state: State::Connecting,
                in_flight: 0,
            }),
        });
        let agent = shared.clone();
        event_loop.spawn(Session::with_addr(move |me| {
            supervisor::Supervisor::new(me, agent)
        }));
        Redis { shared }
    }

    /// Sends `pipeline`; `callback` gets its replies on the loop thread. It is called exactly
    /// once — at once, with an error, when Redis is unreachable.
    pub fn call(&self, pipeline: Pipeline, callback: impl FnOnce(Replies) + Send + 'static) {
        let reply = Reply {
            callback: Some(Box::new(callback)),
            addr: self.shared.url.addr,
        };
        self.send(Call::Ready { pipeline, reply });
    }

    /// Like [`call`](Redis::call), but the pipeline and its callback are made by `build` when
    /// the connection is about to write them (or at once, to be failed, while Redis is
    /// unreachable). Work queued until then goes in one pipeline: a caller that collects
    /// requests and asks for one `call_built` when its queue was empty sends everything one
    /// loop turn gathered as one command.
    pub fn call_built(&self, build: Build) {
        let later = Later {
            build: Some(build),
            addr: self.shared.url.addr,
        };
        self.send(Call::Later(later));
    }

    fn send(&self, call: Call) {
        // A call built later counts as one command until it is written.
        let commands = match &call {
            Call::Ready { pipeline, .. } => pipeline.len(),
            Call::Later(_) => 1,
        };
        let link = {
            let mut conn = self.shared.lock();
            match (&conn.state, conn.link.clone()) {
                (State::Down { error }, _) => Err(self.shared.unavailable(error.clone())),
                (_, None) => Err(self.shared.unavailable("not connected yet")),
                _ if conn.in_flight + commands > MAX_IN_FLIGHT => {
                    Err(Error::Busy(self.shared.url.addr))
                }
                (_, Some(link)) => {
                    conn.in_flight += commands;
                    Ok(link)
                }
            }
        };
        match link {
            Ok(link) => self.shared.handle.send(&link, link::LinkMsg::Call(call)),
            Err(e) => call.fail(e),
        }
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.shared.lock().state.clone()
    }

    /// Where Redis is.
    pub fn url(&self) -> &Url {
        &self.shared.url
    }
}
