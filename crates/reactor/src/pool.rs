//! A keep-alive HTTP client on the loop: a [`Pool`] of persistent connections per origin,
//! reused across requests, owned by one loop entry.
//!
//! The owner keeps the [`Pool`] in its own state, calls [`Pool::request`] to send, and hands
//! every [`PoolEvent`] it receives (wrapped in its message type) to [`Pool::on_event`], which
//! answers the [`ClientReply`] of a finished request, if one finished. Each origin has at most
//! [`PoolConfig::max_per_origin`] connections; requests beyond them wait in order for one to
//! come free. A connection runs one request at a time (no pipelining), stays open after an
//! answer that allows it, and closes after [`PoolConfig::idle_timeout`] unused.
//!
//! A server may close an idle connection at any moment, even as we write the next request on
//! it. A request that fails on a reused connection before any byte of its answer came back
//! never reached the server's application (or the server dropped it unanswered), so it is
//! sent once more on a fresh connection; any other failure is the owner's to handle, since
//! a request the server may have acted on is not ours to repeat.

use crate::client::{ClientError, ClientReply, ClientResponse, ResponseReader, encode_request};
use crate::event_loop::{Addr, CloseReason, Cx, Inbox, Protocol};
use crate::handle::Handle;
use bytes::{Bytes, BytesMut};
use http_core::{Method, Request};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// How a [`Pool`] treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections open at once to one origin.
    pub max_per_origin: usize,
    /// How long an unused connection stays open.
    pub idle_timeout: Duration,
    /// How long one request may take, from when it is written.
    pub request_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_per_origin: 4,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// What a pooled connection tells its pool's owner; hand it to [`Pool::on_event`].
#[derive(Debug)]
pub struct PoolEvent(Event);

#[derive(Debug)]
enum Event {
    /// The connection's request finished. `retryable` when it failed on a reused connection
    /// before any byte of the answer came; `reusable` when the connection may carry another.
    Done {
        conn: u64,
        result: Result<ClientResponse, ClientError>,
        retryable: bool,
        reusable: bool,
    },
    /// The connection closed.
    Closed { conn: u64 },
}

/// One request, encoded, with what the pool needs to send it again.
#[derive(Debug, Clone)]
struct Job {
    tag: u64,
    method: Method,
    wire: Bytes,
    /// Sent once more already after failing on a reused connection.
    retried: bool,
}

/// The pool's view of one connection.
struct Conn<P: Protocol> {
    origin: SocketAddr,
    addr: Addr<PooledConn<P>>,
    job: Option<Job>,
    /// It answered a request before: a failure on it may be the server's idle close.
    reused: bool,
}

#[derive(Default)]
struct Origin {
    /// Free connections, the most recently used last.
    idle: Vec<u64>,
    /// Requests waiting for a connection, oldest first.
    waiting: VecDeque<Job>,
    open: usize,
}

/// Keep-alive connections per origin, owned by the loop entry running protocol `P` (see the
/// module docs).
pub struct Pool<P: Protocol> {
    owner: Addr<P>,
    wrap: fn(PoolEvent) -> P::Message,
    config: PoolConfig,
    origins: HashMap<SocketAddr, Origin>,
    conns: HashMap<u64, Conn<P>>,
    next_conn: u64,
}

impl<P: Protocol> Pool<P> {
    /// A pool whose connections report to `owner`, their events wrapped by `wrap`.
    pub fn new(owner: Addr<P>, wrap: fn(PoolEvent) -> P::Message, config: PoolConfig) -> Self {
        Pool {
            owner,
            wrap,
            config,
            origins: HashMap::new(),
            conns: HashMap::new(),
            next_conn: 0,
        }
    }

    /// Connections open (busy or idle), over every origin.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Sends `req` to `addr` on a free connection, a new one, or the first to come free. Exactly
    /// one [`ClientReply`] with `tag` comes out of [`Pool::on_event`] for it, whatever happens.
    /// `Host` and `Content-Length` are added. The pool does not cap how many requests wait for
    /// a connection: its owner bounds what it has in flight (the courier sends one request per
    /// course peer at a time).
    pub fn request(&mut self, cx: &mut Cx<'_>, addr: SocketAddr, req: &Request, tag: u64) {
        let mut wire = BytesMut::with_capacity(256 + req.body.len());
        encode_request(req, addr, &mut wire, "keep-alive");
        let job = Job {
            tag,
            method: req.head.method.clone(),
            wire: wire.freeze(),
            retried: false,
        };
        self.dispatch(cx, addr, job);
    }

    /// Takes in an event from one of the pool's connections; the reply of the request it
    /// finished, if it finished one.
    pub fn on_event(&mut self, cx: &mut Cx<'_>, event: PoolEvent) -> Option<ClientReply> {
        match event.0 {
            Event::Done {
                conn,
                result,
                retryable,
                reusable,
            } => self.done(cx, conn, result, retryable, reusable),
            Event::Closed { conn } => self.closed(cx, conn),
        }
    }

    fn done(
        &mut self,
        cx: &mut Cx<'_>,
        key: u64,
        result: Result<ClientResponse, ClientError>,
        retryable: bool,
        reusable: bool,
    ) -> Option<ClientReply> {
        let conn = self.conns.get_mut(&key)?;
        let job = conn.job.take()?;
        let origin = conn.origin;
        match result {
            Ok(response) => {
                conn.reused = true;
                if reusable {
                    self.next_for(cx, key);
                } else {
                    self.forget(key);
                    self.drain_waiting(cx, origin);
                }
                Some(ClientReply {
                    tag: job.tag,
                    result: Ok(response),
                })
            }
            // The connection is closing: it no longer counts, and its `Closed` finds nothing.
            Err(error) => {
                self.forget(key);
                self.retry_or_fail(cx, origin, job, retryable, error)
            }
        }
    }

    fn closed(&mut self, cx: &mut Cx<'_>, key: u64) -> Option<ClientReply> {
        let conn = self.forget(key)?;
        let reply = conn.job.and_then(|job| {
            // Our request went to a connection already gone: it never reached the server.
            let error = ClientError::Io(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the connection closed before the request was sent",
            ));
            self.retry_or_fail(cx, conn.origin, job, conn.reused, error)
        });
        self.drain_waiting(cx, conn.origin);
        reply
    }

    fn retry_or_fail(
        &mut self,
        cx: &mut Cx<'_>,
        origin: SocketAddr,
        mut job: Job,
        retryable: bool,
        error: ClientError,
    ) -> Option<ClientReply> {
        if retryable && !job.retried {
            log::debug!("request to {origin} failed on a reused connection ({error}); resending");
            job.retried = true;
            self.dial(cx, origin, job);
            return None;
        }
        self.drain_waiting(cx, origin);
        Some(ClientReply {
            tag: job.tag,
            result: Err(error),
        })
    }

    /// Removes connection `key` from the books; it is closing or closed.
    fn forget(&mut self, key: u64) -> Option<Conn<P>> {
        let conn = self.conns.remove(&key)?;
        if let Some(origin) = self.origins.get_mut(&conn.origin) {
            origin.open -= 1;
            origin.idle.retain(|&k| k != key);
            if origin.open == 0 && origin.waiting.is_empty() {
                self.origins.remove(&conn.origin);
            }
        }
        Some(conn)
    }

    /// Gives free connection `key` the next waiting request of its origin, or parks it.
    fn next_for(&mut self, cx: &mut Cx<'_>, key: u64) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let Some(origin) = self.origins.get_mut(&conn.origin) else {
            return;
        };
        match origin.waiting.pop_front() {
            Some(job) => {
                cx.send(&conn.addr, job.clone());
                conn.job = Some(job);
            }
            None => origin.idle.push(key),
        }
    }

    fn dispatch(&mut self, cx: &mut Cx<'_>, addr: SocketAddr, job: Job) {
        let origin = self.origins.entry(addr).or_default();
        if let Some(key) = origin.idle.pop() {
            let conn = self.conns.get_mut(&key).expect("idle connections are open");
            cx.send(&conn.addr, job.clone());
            conn.job = Some(job);
        } else if origin.open < self.config.max_per_origin {
            self.dial(cx, addr, job);
        } else {
            origin.waiting.push_back(job);
        }
    }

    /// Starts the oldest waiting requests of `addr` on new connections, as room allows.
    fn drain_waiting(&mut self, cx: &mut Cx<'_>, addr: SocketAddr) {
        while let Some(origin) = self.origins.get_mut(&addr)
            && origin.open < self.config.max_per_origin
            && let Some(job) = origin.waiting.pop_front()
        {
            self.dial(cx, addr, job);
        }
    }

    fn dial(&mut self, cx: &mut Cx<'_>, addr: SocketAddr, job: Job) {
        let key = self.next_conn;
        self.next_conn += 1;
        let inbox = Inbox::default();
        let conn = Conn {
            origin: addr,
            addr: inbox.addr(),
            job: Some(job.clone()),
            reused: false,
        };
        let proto = PooledConn {
            key,
            handle: cx.handle(),
            owner: self.owner.clone(),
            wrap: self.wrap,
            config: self.config,
            state: ConnState::Connecting(Some(job)),
            served: 0,
        };
        cx.connect(addr, inbox.bind(proto));
        self.origins.entry(addr).or_default().open += 1;
        self.conns.insert(key, conn);
    }
}

/// Where one pooled connection is.
enum ConnState {
    /// Dialling, with the first request to write once connected.
    Connecting(Option<Job>),
    /// A request is written; its answer is being read.
    Busy {
        method: Method,
        reader: ResponseReader,
        /// Some byte of the answer came.
        answered: bool,
    },
    /// Free, waiting for the next request or its idle deadline.
    Idle,
    /// Closing; every request it is given fails.
    Closed,
}

/// One keep-alive connection of a [`Pool`]: writes each request it is sent, reads its answer,
/// reports it, and waits for the next.
struct PooledConn<P: Protocol> {
    key: u64,
    /// Reports go through it, since `on_close` has no [`Cx`]; they stay in order either way.
    handle: Handle,
    owner: Addr<P>,
    wrap: fn(PoolEvent) -> P::Message,
    config: PoolConfig,
    state: ConnState,
    /// Answers read on it so far.
    served: u32,
}

impl<P: Protocol> PooledConn<P> {
    fn report(&self, event: Event) {
        self.handle.send(&self.owner, (self.wrap)(PoolEvent(event)));
    }

    fn start(&mut self, cx: &mut Cx<'_>, job: Job) {
        cx.output().extend_from_slice(&job.wire);
        cx.set_timeout(self.config.request_timeout);
        self.state = ConnState::Busy {
            method: job.method,
            reader: ResponseReader::default(),
            answered: false,
        };
    }

    /// Ends the request in flight, if any, with `error`, and closes the connection.
    fn fail(&mut self, cx: &mut Cx<'_>, error: ClientError) {
        self.finish(Err(error), false);
        self.state = ConnState::Closed;
        cx.abort();
    }

    /// Reports the end of the request in flight, if there is one.
    fn finish(&mut self, result: Result<ClientResponse, ClientError>, reusable: bool) {
        let retryable = match &self.state {
            ConnState::Busy { answered, .. } => result.is_err() && !answered && self.served > 0,
            ConnState::Connecting(Some(_)) => false,
            _ => return,
        };
        self.state = ConnState::Idle;
        self.report(Event::Done {
            conn: self.key,
            result,
            retryable,
            reusable,
        });
    }
}

impl<P: Protocol> Protocol for PooledConn<P> {
    type Message = Job;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        if let ConnState::Connecting(job) = &mut self.state
            && let Some(job) = job.take()
        {
            self.start(cx, job);
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, job: Job) {
        match self.state {
            ConnState::Idle => self.start(cx, job),
            _ => {
                // Closing (the server hung up as the request came): never written, so the pool
                // may send it again; its books still hold the job and `Closed` tells them.
                cx.close_idle();
            }
        }
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        let ConnState::Busy {
            method,
            reader,
            answered,
        } = &mut self.state
        else {
            // Bytes nobody asked for: the connection is no longer in step.
            self.state = ConnState::Closed;
            cx.abort();
            return;
        };
        *answered |= !cx.input().is_empty();
        match reader.feed(cx.input(), method) {
            Ok(None) => {}
            Ok(Some(response)) => {
                let reusable = reader.keep_alive() && cx.input().is_empty();
                self.served += 1;
                self.finish(Ok(response), reusable);
                if reusable {
                    cx.set_timeout(self.config.idle_timeout);
                } else {
                    self.state = ConnState::Closed;
                    cx.close_idle();
                }
            }
            Err(e) => self.fail(cx, e),
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        if let ConnState::Busy { reader, .. } = &mut self.state
            && reader.started()
        {
            let result = reader.finish_on_eof();
            self.finish(result, false);
        } else {
            self.finish(Err(closed_early()), false);
        }
        self.state = ConnState::Closed;
        cx.close_idle();
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        match self.state {
            ConnState::Idle => {
                self.state = ConnState::Closed;
                cx.close_idle();
            }
            _ => self.fail(cx, ClientError::Timeout),
        }
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        // A request in flight may finish within the grace period; an idle connection goes now.
        if matches!(self.state, ConnState::Idle) {
            self.state = ConnState::Closed;
            cx.close_idle();
        }
    }

    fn on_close(&mut self, reason: CloseReason) {
        let error = match reason {
            CloseReason::ConnectFailed(e) => Some(ClientError::Connect(e)),
            CloseReason::Io(e) => Some(ClientError::Io(e)),
            _ => None,
        };
        let retryable = matches!(
            self.state,
            ConnState::Busy {
                answered: false,
                ..
            }
        ) && self.served > 0;
        let unfinished = matches!(
            self.state,
            ConnState::Busy { .. } | ConnState::Connecting(Some(_))
        );
        if unfinished {
            self.report(Event::Done {
                conn: self.key,
                result: Err(error.unwrap_or_else(closed_early)),
                retryable,
                reusable: false,
            });
        }
        self.report(Event::Closed { conn: self.key });
    }
}

fn closed_early() -> ClientError {
    ClientError::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "server closed before the answer was complete",
    ))
}
