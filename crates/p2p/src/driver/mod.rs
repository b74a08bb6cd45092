//! The peer's I/O driver on the reactor: link connections, the tracker-client agent, and
//! [`Node`], the thread-safe handle the HTTP API, the console and tests use.
//!
//! Everything runs on one event loop. The pure [`NodeState`] and the message [`Store`] live in
//! a [`Core`] behind a mutex that only the loop thread holds for long (link callbacks, the
//! agent's timers, HTTP handlers); other threads (the console, tests) lock it briefly to post a
//! message. A connection's output can only be written from its own callback, so frames for a
//! link go to it as [`LinkCmd`] messages, or straight into its buffer when the action arises in
//! that link's own callback.
//!
//! - [`link`]: [`link::LinkConn`], one link connection (the upgrade handshake, then frames);
//! - [`agent`]: the socketless agent (link timers, tracker registration, heartbeats, joins,
//!   member refresh and dialling, graceful exit);
//! - [`tracker`]: the tracker requests and the parsing of their answers;
//! - [`address`]: the address others reach us by (our peer id and what the tracker lists).
//! - [`send`]: our own messages (stored, then sent on links and to course peers) and whom
//!   they reached;
//! - [`course`]: the courier that delivers to course peers over their HTTP.
//! - [`files`]: file sharing (publish, serve, fetch) with its own agent and worker pool.

pub mod address;
pub mod agent;
pub mod course;
pub mod files;
pub mod link;
pub mod send;
pub mod tracker;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use reactor::client::ClientReply;
use reactor::{Addr, ConnId, Cx, EventLoop, Handle, Inbox, LoopThread};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::frame::encode;
use crate::message::Message;
use crate::node::{Action, ChannelInfo, Event, LinkId, NodeState, PeerInfo};
use crate::store::{Fsync, Store};
use agent::Agent;
use link::LinkConn;

/// Most entries kept in the course-style inbox (`GET /p2p/inbox`); the oldest go first.
pub const MAX_INBOX: usize = 1000;

/// Milliseconds since the Unix epoch by the system clock: the stamp of messages and pings.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The wall clock a peer stamps its messages with (ms since the Unix epoch). Only stamps come
/// from it; every timer runs on the loop's monotonic clock ([`Cx::now`]), so a clock step never
/// kills a link. Tests inject one that jumps.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl WallClock {
    /// A clock read through `read`.
    pub fn new(read: impl Fn() -> u64 + Send + Sync + 'static) -> WallClock {
        WallClock(Arc::new(read))
    }

    /// Reads it.
    pub fn now_ms(&self) -> u64 {
        (self.0)()
    }
}

impl Default for WallClock {
    /// The system clock.
    fn default() -> WallClock {
        WallClock::new(now_ms)
    }
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WallClock({})", self.now_ms())
    }
}

/// Milliseconds from `epoch` to `now` on the monotonic clock: the `mono_ms` of the pure core.
pub(crate) fn mono_ms(epoch: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(epoch).as_millis() as u64
}

/// What a link connection is told by others.
#[derive(Debug)]
pub enum LinkCmd {
    /// Write these bytes (one encoded frame).
    Write(Vec<u8>),
    /// Close once what was written is flushed.
    Close,
}

/// What the UI hears: the node's events (course peers' messages among them, as
/// [`Event::Message`]s marked unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiEvent {
    /// An event of the protocol state.
    Node(Event),
    /// A message that came in through `/broadcast-peer` or `/send-peer`.
    Inbox(InboxEntry),
    /// Whether the tracker answers: its first answer (or failure) after start, then every
    /// change.
    Tracker(TrackerStatus),
    /// A fetch's progress.
    File(files::FileEvent),
    /// One of our messages could not be delivered to a course peer, after every retry.
    Undelivered {
        /// The course peer.
        peer_id: String,
        /// Our message.
        message_id: String,
        /// The last failure.
        error: String,
    },
}

/// One entry of the course-style inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxEntry {
    /// Sender's peer id.
    pub from: String,
    /// Sender's display name.
    pub name: String,
    /// The text.
    pub msg: String,
    /// Sender's timestamp, as it gave it.
    pub timestamp: String,
    /// The channel, or `direct`.
    pub channel: String,
}

/// Receives UI events on the loop thread; returns `false` once it wants no more (a closed
/// SSE stream, a dropped receiver). It must not call back into the [`Node`].
pub type Sink = Box<dyn FnMut(&UiEvent) -> bool + Send>;

/// Called once with the outcome of a join: the members, or why it failed.
pub type JoinReply = Box<dyn FnOnce(std::result::Result<Vec<String>, JoinError>) + Send>;

/// Called once with the outcome of a `/connect-peer`: dialled, or why not.
pub type ConnectReply = Box<dyn FnOnce(std::result::Result<(), JoinError>) + Send>;

/// Why joining a channel (or dialling for another peer) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The tracker refused (wrong key: 403, bad name: 400).
    #[error("tracker refused: {message}")]
    Refused {
        /// The tracker's status code.
        status: u16,
        /// Its error message.
        message: String,
    },
    /// The tracker could not be reached, or the peer is not registered yet.
    #[error("tracker unavailable: {0}")]
    Unavailable(String),
    /// The channel name is not valid.
    #[error("{0}")]
    Invalid(String),
}

/// What another part of the peer asks the agent.
pub enum AgentCmd {
    /// Join a channel through the tracker.
    Join {
        /// The channel.
        channel: String,
        /// Its key, for a key channel.
        key: Option<String>,
        /// Told the outcome.
        reply: JoinReply,
    },
    /// Leave a channel.
    Leave(String),
    /// Dial a peer at this address (the local user's `/connect`).
    Dial(SocketAddr),
    /// Dial a peer at this address for another peer (`/connect-peer`): only if the tracker
    /// lists that address (for `peer_id`, if given), or both ends are on loopback.
    DialListed {
        /// The peer id the caller gave, if any.
        peer_id: Option<String>,
        /// Where to dial.
        addr: SocketAddr,
        /// Told whether the dial went ahead.
        reply: ConnectReply,
    },
    /// The member lists may be stale: fetch them again.
    Refresh,
}

/// What the agent receives: commands from the rest of the peer, and the answers to its own
/// tracker requests.
pub enum AgentMsg {
    /// A command.
    Cmd(AgentCmd),
    /// The answer to a tracker request.
    Tracker(ClientReply),
}

/// Settings of one peer.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (HTTP API, web UI and links on one port).
    pub addr: SocketAddr,
    /// Display name.
    pub name: String,
    /// The tracker, if any.
    pub tracker: Option<SocketAddr>,
    /// Channels to join at start, with their keys.
    pub channels: Vec<(String, Option<String>)>,
    /// Where `messages.jsonl` lives; default `data/<peer_id with : replaced>`.
    pub data_dir: Option<PathBuf>,
    /// The local user's token; random when `None`.
    pub token: Option<String>,
    /// Who may also sign in to the web UI with a username and password (`--user`).
    pub users: router::auth::Credentials,
    /// The web UI's directory, served at `/`.
    pub static_root: Option<PathBuf>,
    /// Our peer id; default `ip:port` of the address others reach us by: `advertise`, else the
    /// bound address, else (on a wildcard bind) the local address of the route to the tracker.
    pub peer_id: Option<String>,
    /// The address others reach us by, when not the bound one (`--advertise`).
    pub advertise: Option<address::Advertise>,
    /// What stamps our messages; the system clock by default.
    pub wall_clock: WallClock,
    /// When `messages.jsonl` is flushed to the disk.
    pub fsync: Fsync,
    /// The HTTP server's limits (`--keepalive-timeout` sets the idle timeout, `--sendfile` how
    /// file-sharing chunks are sent).
    pub limits: http_core::Limits,
}

/// Whether the tracker knows us, for `/api/me`, the UI's banner, the console and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrackerStatus {
    /// The tracker's address, if the peer has one.
    pub addr: Option<String>,
    /// A request has been answered or has failed since start: until then `reachable` is not
    /// known yet.
    pub checked: bool,
    /// Registered and not yet told otherwise.
    pub registered: bool,
    /// The last request reached it.
    pub reachable: bool,
    /// Registrations so far (the first plus every re-registration).
    pub registrations: u64,
    /// Heartbeat interval in seconds the tracker advertised.
    pub heartbeat_interval_s: u64,
    /// Our address as the tracker saw it at the last registration.
    pub observed_ip: Option<std::net::IpAddr>,
}

/// Everything the loop shares: the protocol state, the store, and the link bookkeeping.
pub struct Core {
    pub(crate) state: NodeState,
    store: Store,
    /// Each link's connection id (to tell its own callbacks apart) and address.
    conns: HashMap<LinkId, (ConnId, Addr<LinkConn>)>,
    next_link: u64,
    /// Peer ids being dialled, so a refresh does not dial them twice.
    pub(crate) dialing: HashSet<String>,
    sinks: Vec<Sink>,
    inbox: VecDeque<InboxEntry>,
    handle: Handle,
    agent: Option<Addr<Agent>>,
    /// Listed peers that refused the link upgrade, with their address: they get our messages
    /// over the course's HTTP (see [`course`]).
    pub(crate) course_peers: BTreeMap<String, SocketAddr>,
    courier: Option<Addr<course::Courier>>,
    pub(crate) tracker: TrackerStatus,
    /// Our token at the tracker, once registered (file publishing needs it).
    pub(crate) tracker_token: Option<String>,
    /// The origin of the core's `mono_ms` (link timers).
    pub(crate) epoch: Instant,
    wall_clock: WallClock,
}

/// Where the outcome of actions goes: from inside a connection's callback ([`Out::Cx`]) or
/// from anywhere else through the loop's handle ([`Out::Handle`]).
pub enum Out<'a, 'b> {
    /// Inside a callback: frames for this entry go straight into its buffer.
    Cx(&'a mut Cx<'b>),
    /// Outside the loop, or in an HTTP handler.
    Handle(&'a Handle),
}

impl Out<'_, '_> {
    fn link(&mut self, conn: ConnId, addr: &Addr<LinkConn>, cmd: LinkCmd) {
        match self {
            Out::Cx(cx) if cx.id() == conn => match cmd {
                LinkCmd::Write(bytes) => cx.write(&bytes),
                LinkCmd::Close => cx.close(),
            },
            Out::Cx(cx) => cx.send(addr, cmd),
            Out::Handle(handle) => handle.send(addr, cmd),
        }
    }
}

impl Core {
    fn new(state: NodeState, store: Store, handle: Handle, wall_clock: WallClock) -> Core {
        Core {
            epoch: Instant::now(),
            wall_clock,
            state,
            store,
            conns: HashMap::new(),
            next_link: 1,
            dialing: HashSet::new(),
            sinks: Vec::new(),
            inbox: VecDeque::new(),
            handle,
            agent: None,
            course_peers: BTreeMap::new(),
            courier: None,
            tracker: TrackerStatus::default(),
            tracker_token: None,
        }
    }

    /// A new link id for connection `conn`, reachable at `addr`.
    pub(crate) fn add_link(&mut self, conn: ConnId, addr: Addr<LinkConn>) -> LinkId {
        let id = LinkId(self.next_link);
        self.next_link += 1;
        self.conns.insert(id, (conn, addr));
        id
    }

    /// Forgets a link whose connection is gone.
    pub(crate) fn remove_link(&mut self, link: LinkId) {
        self.state.link_closed(link);
        self.conns.remove(&link);
        self.flush_events();
    }

    /// Carries out actions in order, then hands the events to the sinks: a message is stored
    /// before anyone is shown it.
    pub(crate) fn apply(&mut self, actions: Vec<Action>, out: &mut Out<'_, '_>) {
        for action in actions {
            match action {
                Action::Send(link, frame) => {
                    if let Some((conn, addr)) = self.conns.get(&link) {
                        out.link(*conn, addr, LinkCmd::Write(encode(&frame)));
                    }
                }
                Action::Close(link, _) => {
                    if let Some((conn, addr)) = self.conns.get(&link) {
                        out.link(*conn, addr, LinkCmd::Close);
                    }
                }
                Action::Persist(msg) => {
                    if let Err(e) = self.store.append(&msg) {
                        log::error!("cannot store {}: {e}", msg.id);
                    }
                }
            }
        }
        self.flush_events();
    }

    /// Flushes the batch of appended lines to the disk (see [`Fsync::Batch`]).
    pub(crate) fn sync_store(&mut self) {
        if let Err(e) = self.store.sync_pending() {
            log::error!("cannot flush {}: {e}", self.store.path().display());
        }
    }

    fn flush_events(&mut self) {
        let events: Vec<Event> = self.state.drain_events().collect();
        for event in events {
            if let Event::Message(m) = &event
                && m.from != self.state.peer_id()
            {
                if self.inbox.len() >= MAX_INBOX {
                    self.inbox.pop_front();
                }
                self.inbox.push_back(InboxEntry {
                    from: m.from.clone(),
                    name: m.name.clone(),
                    msg: m.text.clone(),
                    timestamp: m.ts.to_string(),
                    channel: if m.is_direct() {
                        "direct".to_string()
                    } else {
                        m.channel.clone()
                    },
                });
            }
            if let Event::NotMember { .. } | Event::KeyNeeded { .. } = event {
                if let Some(agent) = &self.agent {
                    self.handle.send(agent, AgentMsg::Cmd(AgentCmd::Refresh));
                }
                continue;
            }
            self.emit(&UiEvent::Node(event));
        }
    }

    pub(crate) fn emit(&mut self, event: &UiEvent) {
        self.sinks.retain_mut(|sink| sink(event));
    }
}

/// Locks the core; a handler that panicked while holding it leaves consistent-enough state
/// (every method finishes its mutation before calling out), so poisoning is ignored.
pub(crate) fn lock(shared: &Mutex<Core>) -> MutexGuard<'_, Core> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// A cheap, cloneable handle on a running peer, usable from any thread.
#[derive(Clone)]
pub struct Node {
    shared: Arc<Mutex<Core>>,
    handle: Handle,
    agent: Addr<Agent>,
    peer_id: String,
    name: String,
    addr: SocketAddr,
    files: files::Files,
}

impl Node {
    /// Our peer id.
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Our display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Our public key (base64), as registered at the tracker.
    pub fn public_key(&self) -> String {
        lock(&self.shared)
            .state
            .identity()
            .public()
            .as_str()
            .to_string()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The loop's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The peer id `target` names: a linked peer's id or name, else `target` itself (the
    /// history of a conversation stays readable when its peer is away).
    pub fn peer_id_of(&self, target: &str) -> String {
        lock(&self.shared)
            .state
            .resolve_peer(target)
            .unwrap_or_else(|_| target.to_string())
    }

    /// A page of a channel's history, oldest first.
    pub fn messages(&self, channel: &str, before: Option<&str>, limit: usize) -> Vec<Message> {
        lock(&self.shared).state.messages(channel, before, limit)
    }

    /// Linked peers.
    pub fn peers(&self) -> Vec<PeerInfo> {
        lock(&self.shared).state.peers()
    }

    /// Joined channels.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        lock(&self.shared).state.channels()
    }

    /// Marks a channel read.
    pub fn mark_read(&self, channel: &str) {
        let mut core = lock(&self.shared);
        core.state.mark_read(channel);
        core.flush_events();
    }

    /// Joins a channel through the tracker; `reply` hears the outcome (on the loop thread).
    pub fn join(&self, channel: &str, key: Option<String>, reply: JoinReply) {
        let cmd = AgentCmd::Join {
            channel: channel.to_string(),
            key,
            reply,
        };
        self.send_agent(cmd);
    }

    /// Leaves a channel (its history stays readable). `false` if it was not joined.
    pub fn leave(&self, channel: &str) -> bool {
        // Left at once, so the answer is true when it arrives; the agent tells the tracker.
        let joined = lock(&self.shared).state.leave(channel);
        if joined {
            self.send_agent(AgentCmd::Leave(channel.to_string()));
        }
        joined
    }

    /// Dials a peer at `addr` for the local user.
    pub fn connect(&self, addr: SocketAddr) {
        self.send_agent(AgentCmd::Dial(addr));
    }

    /// Dials a peer at `addr` because another peer asked (`/connect-peer`): only an address
    /// the tracker lists (for `peer_id`, if given), or loopback when we run on loopback, so a
    /// stranger cannot make us connect anywhere. `reply` hears the outcome (on the loop thread).
    pub fn connect_listed(&self, peer_id: Option<String>, addr: SocketAddr, reply: ConnectReply) {
        let cmd = AgentCmd::DialListed {
            peer_id,
            addr,
            reply,
        };
        self.send_agent(cmd);
    }

    /// Asks the tracker for the members of our channels again, and dials new ones.
    pub fn discover(&self) {
        self.send_agent(AgentCmd::Refresh);
    }

    fn send_agent(&self, cmd: AgentCmd) {
        self.handle.send(&self.agent, AgentMsg::Cmd(cmd));
    }

    /// Adds a sink for UI events.
    pub fn subscribe(&self, sink: Sink) {
        lock(&self.shared).sinks.push(sink);
    }

    /// Records a course peer's message (`/broadcast-peer`, `/send-peer`): stored and shown in
    /// its channel or direct thread, marked unverified, and in the course-style inbox like
    /// every message from a peer (see
    /// [`NodeState::receive_course`](p2p_proto::NodeState::receive_course)).
    pub fn receive_course(&self, msg: p2p_proto::CourseMessage) -> Result<()> {
        let mut core = lock(&self.shared);
        let now = core.wall_clock.now_ms();
        let actions = core.state.receive_course(msg, now)?;
        core.apply(actions, &mut Out::Handle(&self.handle));
        Ok(())
    }

    /// The course-style inbox, oldest first.
    pub fn inbox(&self) -> Vec<InboxEntry> {
        lock(&self.shared).inbox.iter().cloned().collect()
    }

    /// Empties the inbox; returns how many entries it held.
    pub fn clear_inbox(&self) -> usize {
        let mut core = lock(&self.shared);
        let n = core.inbox.len();
        core.inbox.clear();
        n
    }

    /// Whether a link to `peer_id` is open.
    pub fn is_linked(&self, peer_id: &str) -> bool {
        lock(&self.shared).state.is_linked(peer_id)
    }

    /// The message `id` of `channel`, if held.
    pub fn find_message(&self, channel: &str, id: &str) -> Option<Message> {
        let core = lock(&self.shared);
        let log = core.state.history().channel(channel)?;
        log.iter().find(|m| m.id == id).cloned()
    }

    pub(crate) fn shared(&self) -> Arc<Mutex<Core>> {
        self.shared.clone()
    }

    /// File sharing on this peer.
    pub fn files(&self) -> &files::Files {
        &self.files
    }

    /// The tracker client's view.
    pub fn tracker_status(&self) -> TrackerStatus {
        lock(&self.shared).tracker.clone()
    }
}

/// A peer set up on a loop: its handle and the token of its local user.
pub struct Peer {
    /// The handle.
    pub node: Node,
    /// The local user's token (for `/?token=` and `Authorization: Bearer`).
    pub token: String,
}

/// The default data directory of a peer: `data/<peer_id with : replaced>`.
pub fn default_data_dir(peer_id: &str) -> PathBuf {
    let safe: String = peer_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from("data").join(safe)
}

/// Sets up a peer on `event_loop`: binds `config.addr`, opens the store, starts the agent and
/// serves the HTTP API (with the web UI and links) on the bound port. Run the loop afterwards.
pub fn start(event_loop: &mut EventLoop, config: Config) -> Result<Peer> {
    if config.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
        // An empty token would let anyone who sends `Bearer ` (or `?token=`) act as the user.
        return Err(crate::Error::Invalid {
            field: "token",
            reason: "must not be empty (leave it out for a random one)".into(),
        });
    }
    let slot = Arc::new(crate::api::AppSlot::default());
    let bound = reactor::serve(event_loop, config.addr, slot.clone(), config.limits.clone())
        .map_err(|source| Error::Listen {
            addr: config.addr,
            source,
        })?;
    let public = address::choose(bound, config.advertise, config.tracker);
    let peer_id = config
        .peer_id
        .clone()
        .unwrap_or_else(|| public.addr.to_string());
    let name = if config.name.is_empty() {
        peer_id.clone()
    } else {
        config.name.clone()
    };
    let dir = config
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir(&peer_id));
    // A file of the data directory that cannot be read or written names the directory.
    let in_data_dir = |e: Error| match e {
        Error::Io(source) => Error::DataDir {
            path: dir.clone(),
            source,
        },
        other => other,
    };
    let identity = crate::store::load_or_create_identity(&dir).map_err(in_data_dir)?;
    let mut state = NodeState::new(peer_id.clone(), name.clone())?
        .with_identity(identity)
        .with_trust_on_first_use(config.tracker.is_none());
    let (store, history, warnings) = Store::open(&dir, config.fsync).map_err(in_data_dir)?;
    for w in &warnings {
        log::warn!("{}: {w}", dir.display());
    }
    log::info!(
        "{} messages loaded from {}",
        history.len(),
        store.path().display()
    );
    state.load(history);
    // The channels joined in earlier runs, then the configured ones (whose keys win), and the
    // unread counts of the last exit.
    let saved = crate::joined::load(&dir).map_err(|source| Error::DataDir {
        path: crate::joined::path(&dir),
        source,
    })?;
    state.restore_unread(&saved.unread);
    let mut channels = saved.joined;
    channels.extend(config.channels.iter().cloned());
    let handle = event_loop.handle();
    let shared = Arc::new(Mutex::new(Core::new(
        state,
        store,
        handle.clone(),
        config.wall_clock.clone(),
    )));
    let inbox = Inbox::default();
    let agent = inbox.addr();
    event_loop.spawn(inbox.bind(Agent::new(
        agent.clone(),
        shared.clone(),
        config.tracker,
        public,
        channels.into_iter().collect(),
        dir.clone(),
    )));
    {
        let mut core = lock(&shared);
        core.agent = Some(agent.clone());
        core.tracker.addr = config.tracker.map(|t| t.to_string());
    }
    let sync = config.fsync != crate::store::Fsync::Never;
    let files = files::start(event_loop, &shared, config.tracker, &dir, sync)?;
    let inbox = Inbox::default();
    let courier = inbox.addr();
    event_loop.spawn(inbox.bind(course::Courier::new(courier.clone(), shared.clone())));
    lock(&shared).courier = Some(courier);
    let node = Node {
        shared,
        handle,
        agent,
        peer_id,
        name,
        addr: bound,
        files,
    };
    let token = config
        .token
        .clone()
        .unwrap_or_else(|| http_core::secret::Secret128::random().to_hex());
    let app = crate::api::app(&node, &token, &config.users, config.static_root.as_deref())?;
    slot.set(app);
    Ok(Peer { node, token })
}

/// A peer running on its own thread (tests, benchmarks, embedding). Dropping it stops the
/// loop at once; [`Running::shutdown`] exits gracefully.
pub struct Running {
    /// The peer's handle.
    pub node: Node,
    /// The local user's token.
    pub token: String,
    thread: LoopThread,
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.node.addr
    }

    /// Graceful exit (`bye` on every link, `/remove` at the tracker), waiting for the loop.
    pub fn shutdown(self) -> std::io::Result<()> {
        self.thread.shutdown()
    }
}

/// Starts a peer on a new loop in a new thread.
pub fn spawn(config: Config) -> Result<Running> {
    let mut event_loop = EventLoop::new(http_core::limits::MAX_CONNECTIONS)?;
    let peer = start(&mut event_loop, config)?;
    let thread = event_loop
        .spawn_thread(&format!("peer-{}", peer.node.addr))
        .map_err(Error::Io)?;
    Ok(Running {
        node: peer.node,
        token: peer.token,
        thread,
    })
}
