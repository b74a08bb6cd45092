//! The peer's socketless agent: link timers, and the tracker client (SPEC §6 start-up).
//!
//! Register, join the channels, fetch their members and dial them, then heartbeat at the
//! interval the tracker advertises and refresh the member lists after each heartbeat (so the
//! access control of key channels follows the tracker, and new members get dialled). A 404 on
//! heartbeat, or the tracker answering again after being unreachable, means register and
//! re-join; while it is unreachable the agent retries at the heartbeat interval. Those decisions
//! are [`TrackerClient`]'s (pure, unit-tested); the agent carries out its [`Step`]s. Every
//! request goes through [`reactor::client::start`], so nothing here waits on the network.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_core::{Request, Status};
use reactor::client::{ClientReply, ClientResponse};
use reactor::{Addr, Cx, Protocol};

use super::address::{Public, Source};
use super::link::LinkConn;
use super::tracker::{self, REQUEST_TIMEOUT};
use super::{
    AgentCmd, AgentMsg, ConnectReply, Core, JoinError, JoinReply, Out, UiEvent, lock, mono_ms,
};
use crate::channel_key::ChannelKey;
use crate::message::validate_channel;
use crate::node::ChannelAccess;
use crate::tracker_client::{Step, TrackerClient};

/// How often link timers (pings, dead links, handshakes) are checked and, with `--fsync batch`,
/// the message log is flushed to the disk.
pub const TICK: Duration = crate::store::BATCH_INTERVAL;
/// How long the `/remove` at exit may take before the agent gives up on it.
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Member refreshes asked for by refused messages are spaced at least this far apart.
const MIN_REFRESH_GAP: Duration = Duration::from_secs(1);

enum Pending {
    Register,
    Join {
        channel: String,
        key: Option<String>,
        reply: Option<JoinReply>,
    },
    Leave,
    Heartbeat,
    List(String),
    /// Every peer, read for their keys only.
    Keys,
    /// Every peer, to check an address another peer asked us to dial.
    Vouch {
        peer_id: Option<String>,
        addr: SocketAddr,
        reply: ConnectReply,
    },
    Remove,
}

/// The agent. See the module docs.
pub struct Agent {
    /// Where the answers to our tracker requests come.
    me: Addr<Agent>,
    shared: Arc<Mutex<Core>>,
    tracker: Option<SocketAddr>,
    /// Where peers reach us, and how the tracker learns it.
    public: Public,
    /// Channels we mean to be in, with their keys: re-joined after every registration.
    wanted: BTreeMap<String, Option<String>>,
    /// When to register, heartbeat and retry.
    client: TrackerClient,
    next_tick: Option<Instant>,
    last_refresh: Option<Instant>,
    /// A refresh asked for too soon after the last one, done when the gap has passed.
    refresh_at: Option<Instant>,
    pending: HashMap<u64, Pending>,
    /// Joins asked for before the first registration, sent once registered.
    queued: Vec<(String, Option<String>, JoinReply)>,
    next_tag: u64,
    leaving: bool,
    /// The tracker answered at least once: a later answer after an outage is news.
    reached_before: bool,
    /// The data directory, where `wanted` is saved ([`crate::joined`]).
    data_dir: PathBuf,
}

impl Agent {
    /// An agent for the node in `shared`, itself at `me`, reachable by peers at `public`.
    pub fn new(
        me: Addr<Agent>,
        shared: Arc<Mutex<Core>>,
        tracker: Option<SocketAddr>,
        public: Public,
        channels: Vec<(String, Option<String>)>,
        data_dir: PathBuf,
    ) -> Agent {
        Agent {
            me,
            shared,
            tracker,
            public,
            wanted: channels.into_iter().collect(),
            client: TrackerClient::default(),
            next_tick: None,
            last_refresh: None,
            refresh_at: None,
            pending: HashMap::new(),
            queued: Vec::new(),
            next_tag: 1,
            leaving: false,
            reached_before: false,
            data_dir,
        }
    }

    /// Saves the channels we mean to be in and the unread counts, after a join or a leave and
    /// at exit; a failure is logged (the channels stay joined for this run).
    fn save_wanted(&self) {
        let saved = crate::joined::Saved {
            joined: self.wanted.clone(),
            unread: lock(&self.shared).state.unread_counts(),
        };
        if let Err(e) = crate::joined::save(&self.data_dir, &saved) {
            log::error!(
                "cannot save {}: {e}",
                crate::joined::path(&self.data_dir).display()
            );
        }
    }

    fn ids(&self) -> (String, String) {
        let core = lock(&self.shared);
        (
            core.state.peer_id().to_string(),
            core.state.name().to_string(),
        )
    }

    fn request(&mut self, cx: &mut Cx<'_>, req: Request, pending: Pending) {
        let Some(addr) = self.tracker else {
            return;
        };
        let tag = self.next_tag;
        self.next_tag += 1;
        self.pending.insert(tag, pending);
        let owner = self.me.clone();
        reactor::client::start(
            cx,
            addr,
            req,
            owner,
            AgentMsg::Tracker,
            tag,
            REQUEST_TIMEOUT,
        );
    }

    fn arm(&mut self, cx: &mut Cx<'_>) {
        if self.leaving {
            return;
        }
        let next = [self.next_tick, self.client.next_beat(), self.refresh_at]
            .into_iter()
            .flatten()
            .min();
        cx.set_deadline(next);
    }

    /// Carries out what the tracker client decided.
    fn step(&mut self, cx: &mut Cx<'_>, step: Step) {
        match step {
            Step::Register => {
                let (peer_id, name) = self.ids();
                let ip = self.public.registered_ip();
                let identity = lock(&self.shared).state.identity().clone();
                let port = self.public.addr.port();
                let req = tracker::register(&identity, &peer_id, &name, ip, port);
                self.request(cx, req, Pending::Register);
            }
            Step::Heartbeat(token) => {
                let (peer_id, _) = self.ids();
                let req = tracker::heartbeat(&peer_id, &token);
                self.request(cx, req, Pending::Heartbeat);
            }
            Step::Wait => {}
        }
    }

    fn refresh(&mut self, cx: &mut Cx<'_>) {
        self.last_refresh = Some(cx.now());
        let channels: Vec<String> = self.wanted.keys().cloned().collect();
        for channel in channels {
            let req = tracker::list(&channel);
            self.request(cx, req, Pending::List(channel));
        }
        self.request(cx, tracker::list_all(), Pending::Keys);
    }

    /// Records whether the tracker answered. The first outcome after start is announced
    /// whatever it is (the client starts out "unreachable", so a tracker that is down from the
    /// start is not a change), then every change: in the log and to the UI and console.
    fn set_reachable(&mut self, reachable: bool) {
        let changed = self.client.set_reachable(reachable);
        let mut core = lock(&self.shared);
        let first = !core.tracker.checked;
        if changed || first {
            if reachable && self.reached_before {
                log::info!("tracker reachable again");
            } else if reachable {
                log::info!("tracker reached");
                self.reached_before = true;
            } else {
                log::warn!(
                    "tracker {} unreachable; links keep working, retrying every {:?}",
                    core.tracker.addr.as_deref().unwrap_or("-"),
                    self.client.interval()
                );
            }
        }
        core.tracker.reachable = reachable;
        core.tracker.checked = true;
        if !reachable {
            core.tracker.registered = false;
        }
        if changed || first {
            let status = core.tracker.clone();
            core.emit(&UiEvent::Tracker(status));
        }
    }

    fn join_local(
        &mut self,
        channel: &str,
        key: Option<&str>,
        members: Vec<String>,
        cx: &mut Cx<'_>,
    ) {
        let access = key.map_or(ChannelAccess::Open, |k| {
            ChannelAccess::Key(ChannelKey::new(k))
        });
        let shared = self.shared.clone();
        let mut core = lock(&shared);
        match core.state.join(channel, access, members) {
            Ok(actions) => core.apply(actions, &mut Out::Cx(cx)),
            Err(e) => log::warn!("cannot join {channel}: {e}"),
        }
    }

    fn on_reply(
        &mut self,
        cx: &mut Cx<'_>,
        pending: Pending,
        result: Result<ClientResponse, String>,
    ) {
        if self.leaving && !matches!(pending, Pending::Remove) {
            return;
        }
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("tracker request failed: {e}");
                self.set_reachable(false);
                match pending {
                    Pending::Join {
                        reply: Some(reply), ..
                    } => {
                        reply(Err(JoinError::Unavailable(e)));
                    }
                    Pending::Remove => cx.close(),
                    Pending::Vouch { reply, .. } => reply(Err(JoinError::Unavailable(e))),
                    _ => {}
                }
                return;
            }
        };
        self.set_reachable(true);
        let status = response.status;
        let body = &response.body;
        match pending {
            Pending::Register if status == Status::OK => match tracker::parse_registered(body) {
                Ok(reg) => self.registered(cx, reg),
                Err(e) => {
                    self.client.registration_failed();
                    log::warn!("tracker: unreadable registration answer: {e}");
                }
            },
            Pending::Register => {
                self.client.registration_failed();
                log::warn!(
                    "tracker refused registration ({}): {}",
                    status.code(),
                    tracker::error_message(body)
                );
            }
            Pending::Join {
                channel,
                key,
                reply,
            } => self.joined(cx, channel, key, reply, status, body),
            Pending::Leave => {}
            Pending::Heartbeat if status == Status::OK => self.refresh(cx),
            Pending::Heartbeat => {
                log::info!("tracker forgot us ({}): registering again", status.code());
                lock(&self.shared).tracker.registered = false;
                let step = self.client.forgotten();
                self.step(cx, step);
            }
            Pending::List(channel) if status == Status::OK => match tracker::parse_list(body) {
                Ok(listed) => self.listed(cx, &channel, listed),
                Err(e) => log::warn!("tracker: unreadable peer list: {e}"),
            },
            Pending::List(channel) => log::warn!(
                "tracker: listing {channel} failed ({}): {}",
                status.code(),
                tracker::error_message(body)
            ),
            Pending::Keys if status == Status::OK => match tracker::parse_list(body) {
                Ok(listed) => self.bind_keys(cx, &listed),
                Err(e) => log::warn!("tracker: unreadable peer list: {e}"),
            },
            Pending::Keys => log::warn!("tracker: listing peers failed ({})", status.code()),
            Pending::Vouch {
                peer_id,
                addr,
                reply,
            } => {
                let listed = match tracker::parse_list(body) {
                    Ok(listed) if status == Status::OK => listed,
                    _ => {
                        let why = format!("tracker answered {}", status.code());
                        return reply(Err(JoinError::Unavailable(why)));
                    }
                };
                self.bind_keys(cx, &listed);
                let vouched = listed
                    .iter()
                    .any(|p| p.addr == addr && peer_id.as_deref().is_none_or(|id| id == p.peer_id));
                if vouched {
                    self.dial(cx, addr);
                    reply(Ok(()));
                } else {
                    log::warn!(
                        "not dialling {addr} for /connect-peer: the tracker does not list it"
                    );
                    reply(Err(JoinError::Refused {
                        status: 403,
                        message: format!("the tracker does not list a peer at {addr}"),
                    }));
                }
            }
            Pending::Remove => cx.close(),
        }
    }

    /// Binds the keys the tracker lists to their peer ids (before any dial to them).
    fn bind_keys(&mut self, cx: &mut Cx<'_>, listed: &[tracker::Listed]) {
        let mut core = lock(&self.shared);
        for peer in listed {
            if let Some(key) = &peer.key {
                let actions = core.state.bind_key(&peer.peer_id, key);
                core.apply(actions, &mut Out::Cx(cx));
            }
        }
    }

    fn registered(&mut self, cx: &mut Cx<'_>, reg: tracker::Registered) {
        let (peer_id, _) = self.ids();
        if reg.peer_id != peer_id {
            log::warn!("tracker filed us as {} instead of {peer_id}", reg.peer_id);
        }
        log::info!(
            "registered with the tracker as {}; heartbeat every {:?}",
            reg.peer_id,
            reg.interval
        );
        if let Some(seen) = reg.observed_ip
            && self.public.source == Source::Route
            && seen != self.public.addr.ip()
        {
            log::warn!(
                "the tracker sees us at {seen}, but we named ourselves after {}: a NAT between? \
                 pass --advertise with the address other peers reach us by",
                self.public.addr.ip()
            );
        }
        self.client
            .registered(cx.now(), reg.token.clone(), reg.interval);
        {
            let mut core = lock(&self.shared);
            core.tracker.observed_ip = reg.observed_ip;
            core.tracker_token = Some(reg.token);
            core.tracker.registered = true;
            core.tracker.registrations += 1;
            core.tracker.heartbeat_interval_s = reg.interval.as_secs();
        }
        let wanted: Vec<(String, Option<String>)> = self
            .wanted
            .iter()
            .map(|(c, k)| (c.clone(), k.clone()))
            .collect();
        for (channel, key) in wanted {
            self.send_join(cx, channel, key, None);
        }
        for (channel, key, reply) in std::mem::take(&mut self.queued) {
            self.send_join(cx, channel, key, Some(reply));
        }
    }

    fn send_join(
        &mut self,
        cx: &mut Cx<'_>,
        channel: String,
        key: Option<String>,
        reply: Option<JoinReply>,
    ) {
        let Some(token) = self.client.token().map(str::to_string) else {
            // Not registered yet (or again): the join goes out with the next registration.
            if let Some(reply) = reply {
                self.queued.push((channel, key, reply));
            }
            return;
        };
        let (peer_id, _) = self.ids();
        let req = tracker::join(&peer_id, &token, &channel, key.as_deref());
        self.request(
            cx,
            req,
            Pending::Join {
                channel,
                key,
                reply,
            },
        );
    }

    fn joined(
        &mut self,
        cx: &mut Cx<'_>,
        channel: String,
        key: Option<String>,
        reply: Option<JoinReply>,
        status: Status,
        body: &[u8],
    ) {
        if status != Status::OK {
            let message = tracker::error_message(body);
            log::warn!("joining {channel} refused ({}): {message}", status.code());
            if status == Status::NOT_FOUND {
                let step = self.client.forgotten();
                self.step(cx, step);
            } else if reply.is_none() {
                self.wanted.remove(&channel);
                self.save_wanted();
            }
            if let Some(reply) = reply {
                reply(Err(JoinError::Refused {
                    status: status.code(),
                    message,
                }));
            }
            return;
        }
        let members = match tracker::parse_members(body) {
            Ok(m) => m,
            Err(e) => {
                log::warn!("tracker: unreadable join answer: {e}");
                Vec::new()
            }
        };
        self.join_local(&channel, key.as_deref(), members.clone(), cx);
        if self.wanted.get(&channel) != Some(&key) {
            self.wanted.insert(channel.clone(), key);
            self.save_wanted();
        }
        if let Some(reply) = reply {
            reply(Ok(members));
        }
        let req = tracker::list(&channel);
        self.request(cx, req, Pending::List(channel));
    }

    fn listed(&mut self, cx: &mut Cx<'_>, channel: &str, listed: Vec<tracker::Listed>) {
        self.bind_keys(cx, &listed);
        let shared = self.shared.clone();
        let mut core = lock(&shared);
        let ids: Vec<String> = listed.iter().map(|l| l.peer_id.clone()).collect();
        let actions = core.state.set_members(channel, ids);
        core.apply(actions, &mut Out::Cx(cx));
        for peer in listed {
            if let Some(addr) = core.course_peers.get_mut(&peer.peer_id) {
                // A course peer is not dialled again; it may have moved.
                *addr = peer.addr;
                continue;
            }
            if peer.peer_id == core.state.peer_id()
                || core.state.is_linked(&peer.peer_id)
                || core.dialing.contains(&peer.peer_id)
            {
                continue;
            }
            log::debug!("dialling {} at {}", peer.peer_id, peer.addr);
            core.dialing.insert(peer.peer_id.clone());
            let link = LinkConn::dial(shared.clone(), peer.addr, Some(peer.peer_id));
            cx.connect(peer.addr, link);
        }
    }

    fn dial(&mut self, cx: &mut Cx<'_>, addr: SocketAddr) {
        if addr == self.public.addr {
            return;
        }
        let shared = self.shared.clone();
        cx.connect(addr, LinkConn::dial(shared, addr, None));
    }

    fn on_cmd(&mut self, cx: &mut Cx<'_>, cmd: AgentCmd) {
        match cmd {
            AgentCmd::Join {
                channel,
                key,
                reply,
            } => {
                if let Err(e) = validate_channel(&channel) {
                    return reply(Err(JoinError::Invalid(e.to_string())));
                }
                if self.tracker.is_none() {
                    self.join_local(&channel, key.as_deref(), Vec::new(), cx);
                    self.wanted.insert(channel, key);
                    self.save_wanted();
                    return reply(Ok(Vec::new()));
                }
                self.send_join(cx, channel, key, Some(reply));
            }
            AgentCmd::Leave(channel) => {
                self.wanted.remove(&channel);
                self.save_wanted();
                lock(&self.shared).state.leave(&channel);
                if let Some(token) = self.client.token().map(str::to_string) {
                    let (peer_id, _) = self.ids();
                    let req = tracker::leave(&peer_id, &token, &channel);
                    self.request(cx, req, Pending::Leave);
                }
            }
            AgentCmd::Dial(addr) => self.dial(cx, addr),
            AgentCmd::DialListed {
                peer_id,
                addr,
                reply,
            } => {
                if self
                    .public
                    .registered_ip()
                    .is_some_and(|ip| ip.is_loopback())
                    && addr.ip().is_loopback()
                {
                    self.dial(cx, addr);
                    reply(Ok(()));
                } else if self.tracker.is_none() {
                    reply(Err(JoinError::Refused {
                        status: 403,
                        message: "without a tracker only loopback peers are dialled".into(),
                    }));
                } else {
                    let pending = Pending::Vouch {
                        peer_id,
                        addr,
                        reply,
                    };
                    self.request(cx, tracker::list_all(), pending);
                }
            }
            AgentCmd::Refresh => match self.last_refresh {
                Some(at) if cx.now().duration_since(at) < MIN_REFRESH_GAP => {
                    self.refresh_at = Some(at + MIN_REFRESH_GAP);
                }
                _ if self.client.token().is_some() => self.refresh(cx),
                _ => {}
            },
        }
    }
}

impl Protocol for Agent {
    type Message = AgentMsg;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        self.next_tick = Some(cx.now() + TICK);
        if self.tracker.is_some() {
            let step = self.client.start(cx.now());
            self.step(cx, step);
        } else {
            let wanted: Vec<(String, Option<String>)> = self
                .wanted
                .iter()
                .map(|(c, k)| (c.clone(), k.clone()))
                .collect();
            for (channel, key) in wanted {
                self.join_local(&channel, key.as_deref(), Vec::new(), cx);
            }
        }
        self.arm(cx);
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        if self.leaving {
            log::warn!("tracker did not answer our /remove in time");
            cx.close();
            return;
        }
        let now = cx.now();
        if self.next_tick.is_some_and(|at| at <= now) {
            self.next_tick = Some(now + TICK);
            let shared = self.shared.clone();
            let mut core = lock(&shared);
            let mono = mono_ms(core.epoch, now);
            let actions = core.state.tick(mono);
            core.apply(actions, &mut Out::Cx(cx));
            core.sync_store();
        }
        let step = self.client.on_timer(now);
        self.step(cx, step);
        if self.refresh_at.is_some_and(|at| at <= now) {
            self.refresh_at = None;
            if self.client.token().is_some() {
                self.refresh(cx);
            }
        }
        self.arm(cx);
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: AgentMsg) {
        match msg {
            AgentMsg::Tracker(ClientReply { tag, result }) => {
                if let Some(pending) = self.pending.remove(&tag) {
                    self.on_reply(cx, pending, result.map_err(|e| e.to_string()));
                }
            }
            AgentMsg::Cmd(cmd) => self.on_cmd(cx, cmd),
        }
        self.arm(cx);
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        self.leaving = true;
        lock(&self.shared).sync_store();
        self.save_wanted();
        // The links are not closed from here: each gets its own `on_shutdown` and writes its
        // `bye` straight into its buffer. A bye sent from here would arrive as a message after
        // that link had already closed, and be dropped.
        match self.client.leave() {
            Some(token) if self.tracker.is_some() => {
                let (peer_id, _) = self.ids();
                let req = tracker::remove(&peer_id, &token);
                self.request(cx, req, Pending::Remove);
                cx.set_timeout(REMOVE_TIMEOUT);
            }
            _ => cx.close(),
        }
    }
}
