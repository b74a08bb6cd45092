//! The event loop: one thread, one `Poll`, a slab of entries each driven by a [`Protocol`].
//!
//! An entry is either a TCP connection (accepted or dialled) or a socketless *agent* that only
//! receives timers and messages (a tracker's expiry sweep, a peer's heartbeat). Callbacks get a
//! [`Cx`] through which they read input, queue output, set their deadline, dial new connections
//! and message other entries. Other threads reach the loop through a [`Handle`].

use crate::handle::{Command, Handle, Shared};
use bytes::{Buf, BytesMut};
use log::{info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod cx;
mod protocol;

pub use cx::Cx;
pub use protocol::{Acceptor, CloseReason, ConnId, ConnInfo, Message, Protocol};

/// Token of the [`Waker`] other threads use to hand commands to the loop.
const WAKER: Token = Token(0);
/// Token of the SIGINT/SIGTERM source.
const SIGNALS: Token = Token(1);
/// Listeners take tokens from here up to [`FIRST_ENTRY`].
const FIRST_LISTENER: usize = 16;
/// Entries (connections and agents) take tokens from here on: token = slab key + FIRST_ENTRY.
const FIRST_ENTRY: usize = 1 << 20;

/// Bytes read from a socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Default cap on an entry's unread input; reading pauses at the cap until the protocol consumes.
pub const DEFAULT_READ_LIMIT: usize = 64 * 1024;
/// How long a graceful shutdown waits for in-flight work before the loop exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a closing connection keeps discarding input before it is closed anyway.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// How much input a lingering connection discards before it is closed anyway.
const LINGER_MAX_BYTES: usize = 1024 * 1024;
/// Most deferred items run between two polls.
const DEFERRED_BUDGET: usize = 1024;
/// Cap on events handled per `poll` call.
const EVENTS_CAPACITY: usize = 1024;

/// Where an entry is in its life, as far as the loop is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Dialled, waiting for the connect to complete.
    Connecting,
    /// Open for reading and writing.
    Open,
    /// Closing: flush what is queued, then close — after a lingering close unless `linger` is
    /// off (a connection between messages, which has no answer in flight to protect).
    Closing { linger: bool },
    /// Output is flushed and our side shut down; unread input is discarded until the peer
    /// closes or [`LINGER_TIMEOUT`] passes. Closing with unread input would make the kernel send
    /// a reset, which can destroy the answer (a 400, say) before the client reads it.
    Lingering,
}

struct Entry {
    generation: u32,
    socket: Option<TcpStream>,
    proto: Option<Box<dyn Protocol>>,
    /// Set by [`Cx::upgrade`]: replaces `proto` when the current callback returns.
    next_proto: Option<Box<dyn Protocol>>,
    input: BytesMut,
    output: BytesMut,
    /// Output bytes the socket has accepted so far (see [`Cx::output_written`]).
    written: u64,
    phase: Phase,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    read_limit: usize,
    reading_paused: bool,
    /// Readiness not fully drained because reading was paused or the input was at its cap.
    read_pending: bool,
    eof: bool,
    writable_interest: bool,
    notify_drained: bool,
    deadline: Option<Instant>,
    /// Accepted by a listener: counts against the connection cap.
    accepted: bool,
    /// Listed in `Core::dirty`: output waits to be written with the round's other output.
    flush_queued: bool,
}

impl Entry {
    fn new(generation: u32, socket: Option<TcpStream>, proto: Box<dyn Protocol>) -> Entry {
        Entry {
            generation,
            socket,
            proto: Some(proto),
            next_proto: None,
            input: BytesMut::new(),
            output: BytesMut::new(),
            written: 0,
            phase: Phase::Open,
            peer: None,
            local: None,
            read_limit: DEFAULT_READ_LIMIT,
            reading_paused: false,
            read_pending: false,
            eof: false,
            writable_interest: false,
            notify_drained: false,
            deadline: None,
            accepted: false,
            flush_queued: false,
        }
    }
}

struct Listener {
    socket: TcpListener,
    acceptor: Acceptor,
    paused: bool,
}

/// Work the loop does between poll events, so callbacks never re-enter each other.
enum Deferred {
    Open(ConnId),
    Message(ConnId, Message),
    Read(ConnId),
    Drained(ConnId),
    /// Accept on listener `index`: queued, never done inside another entry's handling, so a
    /// freed slab key cannot be reused while its old entry is still being processed.
    Accept(usize),
}

/// Everything a callback may touch through [`Cx`]: all of the loop but the `Poll` itself.
pub(crate) struct Core {
    registry: Registry,
    entries: Slab<Entry>,
    listeners: Vec<Option<Listener>>,
    timers: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    deferred: VecDeque<Deferred>,
    /// Entries with output queued by callbacks this round, written just before the next poll so
    /// that output from several callbacks leaves in one `send`.
    dirty: Vec<ConnId>,
    scratch: Box<[u8]>,
    accepted: usize,
    max_connections: usize,
    next_generation: u32,
    shutdown_deadline: Option<Instant>,
    stopped: bool,
    now: Instant,
    shared: Arc<Shared>,
}

/// The event loop. Build it, add listeners and agents, then [`run`](EventLoop::run) it.
pub struct EventLoop {
    poll: Poll,
    events: Events,
    signals: Option<Signals>,
    core: Core,
}

impl EventLoop {
    /// A new loop; `max_connections` caps accepted connections (SPEC §2 default 10,000).
    pub fn new(max_connections: usize) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let registry = poll.registry().try_clone()?;
        let shared = Arc::new(Shared {
            commands: Mutex::new(Vec::new()),
            waker,
        });
        Ok(EventLoop {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            signals: None,
            core: Core {
                registry,
                entries: Slab::with_capacity(1024),
                listeners: Vec::new(),
                timers: BinaryHeap::new(),
                deferred: VecDeque::new(),
                dirty: Vec::new(),
                scratch: vec![0; READ_CHUNK].into_boxed_slice(),
                accepted: 0,
                max_connections,
                next_generation: 1,
                shutdown_deadline: None,
                stopped: false,
                now: Instant::now(),
                shared,
            },
        })
    }

    /// A handle for other threads (and for protocols that outlive a callback).
    pub fn handle(&self) -> Handle {
        Handle::new(self.core.shared.clone())
    }

    /// Binds `addr` and accepts connections, each driven by a protocol from `acceptor`.
    /// Returns the bound address (useful with port 0).
    pub fn listen(&mut self, addr: SocketAddr, acceptor: Acceptor) -> io::Result<SocketAddr> {
        let mut socket = TcpListener::bind(addr)?;
        let local = socket.local_addr()?;
        let index = self.core.listeners.len();
        if FIRST_LISTENER + index >= FIRST_ENTRY {
            return Err(io::Error::other("too many listeners"));
        }
        self.core.registry.register(
            &mut socket,
            Token(FIRST_LISTENER + index),
            Interest::READABLE,
        )?;
        self.core.listeners.push(Some(Listener {
            socket,
            acceptor,
            paused: false,
        }));
        Ok(local)
    }

    /// Adds a socketless agent: it gets `on_open`, timers and messages.
    pub fn spawn(&mut self, proto: Box<dyn Protocol>) -> ConnId {
        self.core.spawn(proto)
    }

    /// Dials `addr`; `proto` gets `on_open` once connected, or `on_close(ConnectFailed)`.
    pub fn connect(&mut self, addr: SocketAddr, proto: Box<dyn Protocol>) -> ConnId {
        self.core.connect(addr, proto)
    }

    /// Turns SIGINT and SIGTERM into a graceful shutdown (see [`Protocol::on_shutdown`]).
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Runs until stopped ([`Handle::stop`]) or until a graceful shutdown has closed every entry
    /// (or its grace period has passed).
    pub fn run(mut self) -> io::Result<()> {
        loop {
            self.core.now = Instant::now();
            self.core.run_deferred();
            self.core.flush_dirty();
            if self.core.stopped || self.core.shutdown_finished() {
                break;
            }
            let timeout = self.core.poll_timeout();
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.core.now = Instant::now();
            for event in self.events.iter() {
                match event.token() {
                    WAKER => self.core.run_commands(),
                    SIGNALS => {
                        if let Some(signals) = &mut self.signals {
                            let mut got = false;
                            for signal in signals.pending() {
                                info!(
                                    "signal {signal}: shutting down, finishing {} open entries",
                                    self.core.entries.len()
                                );
                                got = true;
                            }
                            if got {
                                self.core.begin_shutdown();
                            }
                        }
                    }
                    Token(t) if t >= FIRST_ENTRY => {
                        let key = t - FIRST_ENTRY;
                        self.core.on_socket_event(
                            key,
                            Readiness {
                                readable: event.is_readable() || event.is_read_closed(),
                                read_closed: event.is_read_closed() || event.is_error(),
                                writable: event.is_writable()
                                    || event.is_error()
                                    || event.is_write_closed(),
                            },
                        );
                    }
                    Token(t) if t >= FIRST_LISTENER => self.core.accept(t - FIRST_LISTENER),
                    Token(_) => {}
                }
            }
            self.core.fire_timers();
        }
        self.core.close_all();
        Ok(())
    }
}

impl Core {
    fn new_generation(&mut self) -> u32 {
        let g = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        g
    }

    fn id_of(&self, key: usize) -> ConnId {
        ConnId {
            key: key as u32,
            generation: self.entries[key].generation,
        }
    }

    fn key_of(&self, id: ConnId) -> Option<usize> {
        let key = id.key as usize;
        match self.entries.get(key) {
            Some(e) if e.generation == id.generation => Some(key),
            _ => None,
        }
    }

    pub(crate) fn spawn(&mut self, proto: Box<dyn Protocol>) -> ConnId {
        let generation = self.new_generation();
        let key = self.entries.insert(Entry::new(generation, None, proto));
        let id = self.id_of(key);
        self.deferred.push_back(Deferred::Open(id));
        id
    }

    pub(crate) fn connect(&mut self, addr: SocketAddr, proto: Box<dyn Protocol>) -> ConnId {
        let generation = self.new_generation();
        let key = self.entries.insert(Entry::new(generation, None, proto));
        let id = self.id_of(key);
        match TcpStream::connect(addr) {
            Ok(mut socket) => {
                let registered = self.registry.register(
                    &mut socket,
                    Token(FIRST_ENTRY + key),
                    Interest::READABLE | Interest::WRITABLE,
                );
                let entry = &mut self.entries[key];
                entry.phase = Phase::Connecting;
                entry.peer = Some(addr);
                entry.writable_interest = true;
                entry.socket = Some(socket);
                if let Err(e) = registered {
                    self.finish(key, CloseReason::ConnectFailed(e));
                }
            }
            Err(e) => {
                // Report the failure from the loop, never from inside the caller's callback.
                self.entries[key].phase = Phase::Connecting;
                let err = Message::from(Box::new(ConnectError(e)));
                self.deferred.push_back(Deferred::Message(id, err));
            }
        }
        id
    }

    fn accept(&mut self, index: usize) {
        loop {
            if self.accepted >= self.max_connections || self.shutdown_deadline.is_some() {
                self.pause_listeners();
                return;
            }
            let Some(Some(listener)) = self.listeners.get_mut(index) else {
                return;
            };
            let (mut socket, peer) = match listener.socket.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE, ECONNABORTED…: log and keep the listener alive.
                    warn!("accept failed: {e}");
                    return;
                }
            };
            let _ = socket.set_nodelay(true);
            let local = socket.local_addr().unwrap_or(peer);
            let generation = self.next_generation;
            self.next_generation = self.next_generation.wrapping_add(1).max(1);
            let entry = self.entries.vacant_entry();
            let key = entry.key();
            let id = ConnId {
                key: key as u32,
                generation,
            };
            let proto = (listener.acceptor)(&ConnInfo { id, peer, local });
            if let Err(e) =
                self.registry
                    .register(&mut socket, Token(FIRST_ENTRY + key), Interest::READABLE)
            {
                warn!("register failed: {e}");
                continue;
            }
            let mut new = Entry::new(generation, Some(socket), proto);
            new.peer = Some(peer);
            new.local = Some(local);
            new.accepted = true;
            entry.insert(new);
            self.accepted += 1;
            self.dispatch(key, |p, cx| p.on_open(cx));
        }
    }

    fn pause_listeners(&mut self) {
        for listener in self.listeners.iter_mut().flatten() {
            if !listener.paused {
                let _ = self.registry.deregister(&mut listener.socket);
                listener.paused = true;
            }
        }
    }

    fn resume_listeners(&mut self) {
        if self.shutdown_deadline.is_some() || self.accepted >= self.max_connections {
            return;
        }
        for (index, listener) in self.listeners.iter_mut().enumerate() {
            if let Some(listener) = listener
                && listener.paused
            {
                let token = Token(FIRST_LISTENER + index);
                if self
                    .registry
                    .register(&mut listener.socket, token, Interest::READABLE)
                    .is_ok()
                {
                    listener.paused = false;
                }
            }
        }
        // Connections may have queued while we were paused; edge-triggered readiness will not
        // report them again, so look from the loop.
        for index in 0..self.listeners.len() {
            self.deferred.push_back(Deferred::Accept(index));
        }
    }

    fn on_socket_event(&mut self, key: usize, ready: Readiness) {
        let Readiness {
            readable,
            read_closed,
            writable,
        } = ready;
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.phase == Phase::Connecting {
            if !writable && !readable {
                return;
            }
            let socket = entry
                .socket
                .as_ref()
                .expect("connecting entries have a socket");
            match socket.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return self.finish(key, CloseReason::ConnectFailed(e)),
            }
            match socket.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.finish(key, CloseReason::ConnectFailed(e)),
            }
            let _ = socket.set_nodelay(true);
            entry.local = socket.local_addr().ok();
            entry.phase = Phase::Open;
            let id = self.id_of(key);
            self.dispatch(key, |p, cx| p.on_open(cx));
            if self.key_of(id).is_none() {
                return;
            }
        }
        if writable {
            self.flush(key);
        }
        if readable {
            self.read(key, read_closed);
        }
    }

    /// Reads until `WouldBlock` (or a short read), EOF, or the input cap, then hands the bytes
    /// to the protocol. `drain_to_eof` when the peer may have closed: read until `Ok(0)`.
    fn read(&mut self, key: usize, drain_to_eof: bool) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.phase == Phase::Lingering {
            return self.discard_input(key);
        }
        if entry.reading_paused || entry.phase != Phase::Open || entry.eof {
            entry.read_pending = !entry.eof;
            return;
        }
        let Some(socket) = entry.socket.as_mut() else {
            return;
        };
        let mut got = false;
        entry.read_pending = false;
        let mut failure = None;
        loop {
            if entry.input.len() >= entry.read_limit {
                entry.read_pending = true;
                break;
            }
            let room = (entry.read_limit - entry.input.len()).min(self.scratch.len());
            match socket.read(&mut self.scratch[..room]) {
                Ok(0) => {
                    entry.eof = true;
                    break;
                }
                Ok(n) => {
                    entry.input.extend_from_slice(&self.scratch[..n]);
                    got = true;
                    // A short read drained the socket: with edge-triggered readiness, bytes that
                    // arrive later raise a new event, so the read that would say WouldBlock is
                    // saved. Not when the peer has closed: its EOF would raise no new event.
                    if n < room && !drain_to_eof {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let eof = entry.eof;
        let id = ConnId {
            key: key as u32,
            generation: entry.generation,
        };
        if got {
            self.dispatch(key, |p, cx| p.on_read(cx));
        }
        if let Some(e) = failure {
            let reason = match e.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => CloseReason::Remote,
                _ => CloseReason::Io(e),
            };
            if self.key_of(id).is_some() {
                self.finish(key, reason);
            }
            return;
        }
        if eof && self.key_of(id).is_some() {
            self.dispatch(key, |p, cx| p.on_eof(cx));
        }
        // Reading stopped at the input cap: edge-triggered readiness will not say again that
        // bytes are waiting, so once the protocol has made room, read again from the loop.
        if let Some(key) = self.key_of(id) {
            let entry = &self.entries[key];
            let room = entry.input.len() < entry.read_limit;
            if entry.read_pending && room && !entry.reading_paused && entry.phase == Phase::Open {
                self.deferred.push_back(Deferred::Read(id));
            }
        }
    }

    /// Writes queued output until done or `WouldBlock`; keeps `WRITABLE` interest only while
    /// output is pending.
    fn flush(&mut self, key: usize) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.phase == Phase::Connecting {
            return;
        }
        let Some(socket) = entry.socket.as_mut() else {
            entry.output.clear();
            return;
        };
        let mut failure = None;
        while !entry.output.is_empty() {
            match socket.write(&entry.output) {
                Ok(0) => {
                    failure = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => {
                    entry.output.advance(n);
                    entry.written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            let reason = match e.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => CloseReason::Remote,
                _ => CloseReason::Io(e),
            };
            return self.finish(key, reason);
        }
        let drained = entry.output.is_empty();
        // WRITABLE interest must be on exactly while output is pending.
        if drained == entry.writable_interest {
            let interest = if drained {
                Interest::READABLE
            } else {
                Interest::READABLE | Interest::WRITABLE
            };
            if let Err(e) = self
                .registry
                .reregister(socket, Token(FIRST_ENTRY + key), interest)
            {
                return self.finish(key, CloseReason::Io(e));
            }
            entry.writable_interest = !drained;
        }
        if drained {
            if matches!(entry.phase, Phase::Closing { .. }) {
                return self.linger(key);
            }
            if entry.notify_drained {
                entry.notify_drained = false;
                self.dispatch(key, |p, cx| p.on_drained(cx));
            }
        }
    }

    /// Calls one protocol callback with the protocol taken out of its entry, then applies what
    /// the callback asked for (upgrade, output, close).
    fn dispatch(&mut self, key: usize, f: impl FnOnce(&mut dyn Protocol, &mut Cx<'_>)) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.phase == Phase::Lingering {
            return;
        }
        let Some(mut proto) = entry.proto.take() else {
            return;
        };
        let id = self.id_of(key);
        f(
            proto.as_mut(),
            &mut Cx {
                core: self,
                key,
                id,
            },
        );
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.generation != id.generation {
            return;
        }
        match entry.next_proto.take() {
            Some(next) => {
                drop(proto);
                entry.proto = Some(next);
                // The new protocol starts from the loop: open, then any bytes already read.
                self.deferred.push_back(Deferred::Open(id));
                self.deferred.push_back(Deferred::Read(id));
            }
            None => entry.proto = Some(proto),
        }
        self.after_callback(key);
    }

    fn after_callback(&mut self, key: usize) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.socket.is_none() {
            if matches!(entry.phase, Phase::Closing { .. }) {
                self.finish(key, CloseReason::Local);
            }
            return;
        }
        if !entry.output.is_empty() && !entry.writable_interest {
            if !entry.flush_queued {
                entry.flush_queued = true;
                let id = ConnId {
                    key: key as u32,
                    generation: entry.generation,
                };
                self.dirty.push(id);
            }
        } else if entry.output.is_empty() && matches!(entry.phase, Phase::Closing { .. }) {
            self.linger(key);
        }
    }

    /// Writes the output callbacks queued this round (see `dirty`). Flushing can run
    /// `on_drained`, which may queue more; what is left after a few passes waits a round.
    fn flush_dirty(&mut self) {
        for _ in 0..4 {
            if self.dirty.is_empty() {
                return;
            }
            for id in std::mem::take(&mut self.dirty) {
                if let Some(key) = self.key_of(id) {
                    self.entries[key].flush_queued = false;
                    self.flush(key);
                }
            }
        }
    }

    /// Starts a lingering close: shut our side, then discard input (see [`Phase::Lingering`]).
    fn linger(&mut self, key: usize) {
        let entry = &mut self.entries[key];
        let Some(socket) = entry.socket.as_ref() else {
            return self.finish(key, CloseReason::Local);
        };
        let wanted = entry.phase != (Phase::Closing { linger: false });
        if !wanted || entry.eof || socket.shutdown(std::net::Shutdown::Write).is_err() {
            return self.finish(key, CloseReason::Local);
        }
        entry.phase = Phase::Lingering;
        entry.input.clear();
        let at = self.now + LINGER_TIMEOUT;
        entry.deadline = Some(at);
        let generation = entry.generation;
        self.timers.push(Reverse((at, key, generation)));
        self.discard_input(key);
    }

    /// Reads and drops input of a lingering connection; closes it at EOF, on error, or past
    /// [`LINGER_MAX_BYTES`].
    fn discard_input(&mut self, key: usize) {
        let entry = &mut self.entries[key];
        let Some(socket) = entry.socket.as_mut() else {
            return self.finish(key, CloseReason::Local);
        };
        let mut discarded = 0;
        loop {
            match socket.read(&mut self.scratch) {
                Ok(0) => break,
                Ok(n) => {
                    discarded += n;
                    if discarded > LINGER_MAX_BYTES {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        self.finish(key, CloseReason::Local);
    }

    /// Closes an entry for good: `on_close`, deregister, free the slot.
    fn finish(&mut self, key: usize, reason: CloseReason) {
        let Some(mut entry) = self.entries.try_remove(key) else {
            return;
        };
        if let Some(mut socket) = entry.socket.take() {
            let _ = self.registry.deregister(&mut socket);
        }
        if let Some(mut proto) = entry.proto.take() {
            proto.on_close(reason);
        }
        if entry.accepted {
            self.accepted -= 1;
            self.resume_listeners();
        }
    }

    /// Runs queued work, including work it queues (a proxied request hops client → upstream →
    /// client through messages, and each hop should not cost a poll), up to
    /// [`DEFERRED_BUDGET`] items; the rest waits until after a poll, so a protocol that keeps
    /// re-reading cannot starve other sockets' writes.
    fn run_deferred(&mut self) {
        for _ in 0..DEFERRED_BUDGET {
            let Some(work) = self.deferred.pop_front() else {
                break;
            };
            match work {
                Deferred::Open(id) => {
                    if let Some(key) = self.key_of(id) {
                        self.dispatch(key, |p, cx| p.on_open(cx));
                    }
                }
                Deferred::Message(id, msg) => {
                    let Some(key) = self.key_of(id) else { continue };
                    match msg.downcast::<ConnectError>() {
                        Ok(err) => self.finish(key, CloseReason::ConnectFailed(err.0)),
                        Err(msg) => self.dispatch(key, |p, cx| p.on_message(cx, msg)),
                    }
                }
                Deferred::Accept(index) => self.accept(index),
                Deferred::Drained(id) => {
                    if let Some(key) = self.key_of(id) {
                        self.dispatch(key, |p, cx| p.on_drained(cx));
                    }
                }
                Deferred::Read(id) => {
                    if let Some(key) = self.key_of(id) {
                        let pending = &self.entries[key];
                        if !pending.input.is_empty() {
                            self.dispatch(key, |p, cx| p.on_read(cx));
                        }
                        self.read(key, true);
                    }
                }
            }
        }
    }

    fn run_commands(&mut self) {
        let commands = std::mem::take(&mut *self.shared.commands.lock().expect("command queue"));
        for command in commands {
            match command {
                Command::Message(id, msg) => self.deferred.push_back(Deferred::Message(id, msg)),
                Command::Spawn(proto, reply) => {
                    let id = self.spawn(proto);
                    let _ = reply.send(id);
                }
                Command::Connect(addr, proto, reply) => {
                    let id = self.connect(addr, proto);
                    let _ = reply.send(id);
                }
                Command::Shutdown => self.begin_shutdown(),
                Command::Stop => self.stopped = true,
            }
        }
    }

    fn poll_timeout(&mut self) -> Option<Duration> {
        let mut next = self.shutdown_deadline;
        while let Some(Reverse((at, key, generation))) = self.timers.peek().copied() {
            let live = self
                .entries
                .get(key)
                .is_some_and(|e| e.generation == generation && e.deadline == Some(at));
            if live {
                next = Some(next.map_or(at, |n| n.min(at)));
                break;
            }
            self.timers.pop();
        }
        if !self.deferred.is_empty() || !self.dirty.is_empty() {
            return Some(Duration::ZERO);
        }
        // Round up so that a timer is never woken for a fraction of a millisecond too early.
        next.map(|at| at.saturating_duration_since(self.now) + Duration::from_micros(500))
    }

    fn fire_timers(&mut self) {
        while let Some(Reverse((at, key, generation))) = self.timers.peek().copied() {
            if at > self.now {
                break;
            }
            self.timers.pop();
            let due = match self.entries.get_mut(key) {
                Some(e) if e.generation == generation && e.deadline == Some(at) => {
                    e.deadline = None;
                    true
                }
                _ => false,
            };
            if due && self.entries[key].phase == Phase::Lingering {
                self.finish(key, CloseReason::Local);
            } else if due {
                self.dispatch(key, |p, cx| p.on_timeout(cx));
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(self.now + SHUTDOWN_GRACE);
        self.pause_listeners();
        let keys: Vec<usize> = self.entries.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.dispatch(key, |p, cx| p.on_shutdown(cx));
        }
    }

    fn shutdown_finished(&self) -> bool {
        match self.shutdown_deadline {
            Some(deadline) => self.entries.is_empty() || self.now >= deadline,
            None => false,
        }
    }

    fn close_all(&mut self) {
        let keys: Vec<usize> = self.entries.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.flush(key);
            self.finish(key, CloseReason::Shutdown);
        }
    }
}

/// What one poll event says about a socket.
#[derive(Clone, Copy)]
struct Readiness {
    readable: bool,
    /// The peer closed its side (or the socket failed): read until EOF.
    read_closed: bool,
    writable: bool,
}

/// A connect error carried through the deferred queue, so it is reported from the loop.
struct ConnectError(io::Error);
