//! The event loop: one thread, one `Poll`, a slab of entries each driven by a [`Protocol`].
//!
//! An entry is either a TCP connection (accepted or dialled) or a socketless *agent* that only
//! receives timers and messages (a tracker's expiry sweep, a peer's heartbeat). Callbacks get a
//! [`Cx`] through which they read input, queue output, set their deadline, dial new connections
//! and message other entries through their typed [`Addr`]. Other threads reach the loop through
//! a [`Handle`].
//!
//! - `entry.rs`: what the loop keeps per entry, and its state machines;
//! - `io_ops.rs`: accepting, reading, writing (file bodies with `pread` or `sendfile`) and
//!   closing sockets;
//! - `work.rs`: callbacks, deferred work, commands from other threads, timers, shutdown;
//! - `mailbox.rs`: typed addresses and the type-erased protocol the loop drives;
//! - `clock.rs`: the one monotonic clock every deadline is measured on.

use crate::handle::{Handle, Shared};
use log::info;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod clock;
mod cx;
mod entry;
mod io_ops;
mod mailbox;
mod protocol;
mod work;

pub use clock::{Clock, SteppedClock, SystemClock};
pub use cx::Cx;
pub use mailbox::{Addr, Inbox, Session};
pub use protocol::{Acceptor, CloseReason, ConnId, ConnInfo, Protocol};

use entry::{Entry, Origin, Phase, Reading, Writing};
use io_ops::Readiness;
use mailbox::Callback;

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

struct Listener {
    socket: TcpListener,
    acceptor: Acceptor,
    paused: bool,
}

/// Work the loop does between poll events, so callbacks never re-enter each other.
enum Deferred {
    Open(ConnId),
    /// One message waits in the entry's mailbox.
    Message(ConnId),
    /// A dial failed at once; reported from the loop, never inside the dialling callback.
    ConnectFailed(ConnId, io::Error),
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
    /// Entries that used their round's budget for file bodies with the socket still writable:
    /// moved to `dirty` once this round's writes are done, so they go on after the next poll.
    yielded: Vec<ConnId>,
    scratch: Box<[u8]>,
    accepted: usize,
    max_connections: usize,
    next_generation: u32,
    shutdown_deadline: Option<Instant>,
    stopped: bool,
    /// The time this round started, read from `clock` once per round.
    now: Instant,
    clock: Box<dyn Clock>,
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
                yielded: Vec::new(),
                scratch: vec![0; READ_CHUNK].into_boxed_slice(),
                accepted: 0,
                max_connections,
                next_generation: 1,
                shutdown_deadline: None,
                stopped: false,
                now: Instant::now(),
                clock: Box::new(SystemClock),
                shared,
            },
        })
    }

    /// Replaces the loop's clock (the [`SystemClock`] by default), e.g. with a
    /// [`SteppedClock`] in a test. Set it before adding entries: deadlines already set were
    /// measured on the old clock.
    pub fn set_clock(&mut self, clock: impl Clock) {
        self.core.now = clock.now();
        self.core.clock = Box::new(clock);
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
    pub fn spawn(&mut self, proto: impl Into<Session>) -> ConnId {
        self.core.spawn(proto.into())
    }

    /// Dials `addr`; `proto` gets `on_open` once connected, or `on_close(ConnectFailed)`.
    pub fn connect(&mut self, addr: SocketAddr, proto: impl Into<Session>) -> ConnId {
        self.core.connect(addr, proto.into())
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
            self.core.now = self.core.clock.now();
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
            self.core.now = self.core.clock.now();
            for event in self.events.iter() {
                match event.token() {
                    WAKER => self.core.run_commands(),
                    SIGNALS => on_signals(self.signals.as_mut(), &mut self.core),
                    Token(t) if t >= FIRST_ENTRY => {
                        self.core
                            .on_socket_event(t - FIRST_ENTRY, Readiness::of(event));
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

/// SIGINT or SIGTERM: a graceful shutdown.
fn on_signals(signals: Option<&mut Signals>, core: &mut Core) {
    let Some(signals) = signals else {
        return;
    };
    let mut got = false;
    for signal in signals.pending() {
        info!(
            "signal {signal}: shutting down, finishing {} open entries",
            core.entries.len()
        );
        got = true;
    }
    if got {
        core.begin_shutdown();
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

    /// Puts `entry` in the slab; returns its key and id.
    fn insert(&mut self, entry: Entry) -> (usize, ConnId) {
        let key = self.entries.insert(entry);
        (key, self.id_of(key))
    }

    /// Binds entry `id`'s mailbox to it, and queues one wake per message sent to it before it
    /// was in the loop.
    fn bind_mailbox(&mut self, key: usize, id: ConnId) {
        let waiting = match &self.entries[key].proto {
            Some(session) => session.driver.bind(id),
            None => 0,
        };
        for _ in 0..waiting {
            self.deferred.push_back(Deferred::Message(id));
        }
    }

    pub(crate) fn spawn(&mut self, proto: Session) -> ConnId {
        let generation = self.new_generation();
        let (key, id) = self.insert(Entry::new(generation, Origin::Agent, proto));
        self.deferred.push_back(Deferred::Open(id));
        self.bind_mailbox(key, id);
        id
    }

    pub(crate) fn connect(&mut self, addr: SocketAddr, proto: Session) -> ConnId {
        let generation = self.new_generation();
        let (key, id) = self.insert(Entry::new(generation, Origin::Dialled, proto));
        let entry = &mut self.entries[key];
        entry.phase = Phase::Connecting;
        entry.peer = Some(addr);
        match TcpStream::connect(addr) {
            Ok(mut socket) => {
                let registered = self.registry.register(
                    &mut socket,
                    Token(FIRST_ENTRY + key),
                    Interest::READABLE | Interest::WRITABLE,
                );
                entry.writing = Writing::Blocked;
                entry.socket = Some(socket);
                if let Err(e) = registered {
                    self.deferred.push_back(Deferred::ConnectFailed(id, e));
                }
            }
            Err(e) => self.deferred.push_back(Deferred::ConnectFailed(id, e)),
        }
        self.bind_mailbox(key, id);
        id
    }
}
