//! [`LinkConn`]: one peer-to-peer link connection on the reactor.
//!
//! A dialled link first speaks HTTP: it writes `GET /p2p/link` with `Upgrade: weaprous-p2p/1`
//! and waits for the `101`; an accepted one starts after the server answered `101`. Then both
//! carry newline-delimited JSON frames ([`FrameDecoder`]), fed to the shared
//! [`NodeState`](crate::NodeState). Every failure closes only this link: bad bytes, an oversized
//! frame, a frame flood, a peer that stops reading.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_core::{Limits, Method, Status, parse_response_head};
use reactor::{Addr, CloseReason as ConnClose, Cx, Protocol, Session};

use super::{Core, LinkCmd, Out, lock, mono_ms};
use crate::frame::FrameDecoder;
use crate::link::CloseReason;
use crate::node::LinkId;

/// The protocol named in the `Upgrade` header.
pub const UPGRADE_TOKEN: &str = "weaprous-p2p/1";
/// Path of the link endpoint.
pub const LINK_PATH: &str = "/p2p/link";
/// How long a dialled link may take to get its `101`.
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// Above this much unsent output the peer is not reading: the link is dropped.
pub const MAX_LINK_OUTPUT: usize = 1024 * 1024;
/// Most frames a peer may send in one [`FLOOD_WINDOW`]; more is a flood and closes the link.
pub const MAX_FRAMES_PER_WINDOW: u32 = 50_000;
/// The window [`MAX_FRAMES_PER_WINDOW`] counts over.
pub const FLOOD_WINDOW: Duration = Duration::from_secs(1);
/// Input held at most: a whole frame plus its newline, and some slack for the next one.
const READ_LIMIT: usize = crate::frame::MAX_FRAME_LEN + 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Dialled: the upgrade request is out, the `101` is awaited.
    Upgrading,
    /// Frames flow.
    Framed(LinkId),
    /// Closed by us; nothing more is read.
    Done,
}

/// One link connection.
pub struct LinkConn {
    /// Where the node sends this link its frames.
    me: Addr<LinkConn>,
    shared: Arc<Mutex<Core>>,
    phase: Phase,
    /// Address given to the node (the remote end of the connection).
    addr: Option<SocketAddr>,
    /// The peer id we dialled, if we know it, so the dial is forgotten when this closes.
    target: Option<String>,
    dialled: bool,
    /// The node's id for this link once upgraded; kept after closing so it is forgotten.
    link: Option<LinkId>,
    decoder: FrameDecoder,
    window_start: Option<Instant>,
    frames_in_window: u32,
    /// Bytes of an unfinished frame held after the last read: a link that drops with some
    /// is logged as dropped mid-frame.
    partial: usize,
    /// The end of the link has been logged.
    end_logged: bool,
}

impl LinkConn {
    /// A link we dial to `addr` (`target` is the peer id the tracker gave for it).
    pub fn dial(shared: Arc<Mutex<Core>>, addr: SocketAddr, target: Option<String>) -> Session {
        Session::with_addr(|me| LinkConn {
            me,
            shared,
            phase: Phase::Upgrading,
            addr: Some(addr),
            target,
            dialled: true,
            link: None,
            decoder: FrameDecoder::default(),
            window_start: None,
            frames_in_window: 0,
            partial: 0,
            end_logged: false,
        })
    }

    /// A link a peer dialled, after our `101`.
    pub fn accepted(shared: Arc<Mutex<Core>>, addr: SocketAddr) -> Session {
        Session::with_addr(|me| LinkConn {
            me,
            shared,
            phase: Phase::Upgrading,
            addr: Some(addr),
            target: None,
            dialled: false,
            link: None,
            decoder: FrameDecoder::default(),
            window_start: None,
            frames_in_window: 0,
            partial: 0,
            end_logged: false,
        })
    }

    /// The peer we dialled refused the upgrade as a course peer does: remember it as one, so
    /// our messages reach it over the course's HTTP.
    fn course_peer(&self) {
        if let (Some(target), Some(addr)) = (&self.target, self.addr) {
            lock(&self.shared).mark_course_peer(target, addr);
        }
    }

    fn addr_text(&self) -> String {
        self.addr.map(|a| a.to_string()).unwrap_or_default()
    }

    /// Registers the link with the node once the connection is upgraded.
    fn open(&mut self, cx: &mut Cx<'_>) {
        cx.set_read_limit(READ_LIMIT);
        cx.set_deadline(None);
        let addr = self.addr_text();
        let mut core = lock(&self.shared);
        let link = core.add_link(cx.id(), self.me.clone());
        self.link = Some(link);
        self.phase = Phase::Framed(link);
        let mono = mono_ms(core.epoch, cx.now());
        if self.dialled {
            let actions = core.state.link_dialled(link, &addr, mono);
            core.apply(actions, &mut Out::Cx(cx));
        } else {
            core.state.link_accepted(link, &addr, mono);
        }
    }

    fn read_upgrade(&mut self, cx: &mut Cx<'_>) {
        match parse_response_head(cx.input(), &Limits::default(), &Method::Get) {
            Ok(Some((head, _))) => {
                let upgraded = head.status == Status::SWITCHING_PROTOCOLS
                    && head
                        .headers
                        .get_str("upgrade")
                        .is_some_and(|u| u.eq_ignore_ascii_case(UPGRADE_TOKEN));
                if upgraded {
                    self.open(cx);
                    self.read_frames(cx);
                } else {
                    log::warn!(
                        "link to {}: upgrade refused ({})",
                        self.addr_text(),
                        head.status.code()
                    );
                    if matches!(head.status.code(), 400 | 404 | 405 | 426) {
                        self.course_peer();
                    }
                    self.phase = Phase::Done;
                    cx.abort();
                }
            }
            Ok(None) => {}
            Err(e) => {
                log::warn!("link to {}: bad upgrade answer: {e}", self.addr_text());
                self.phase = Phase::Done;
                cx.abort();
            }
        }
    }

    fn read_frames(&mut self, cx: &mut Cx<'_>) {
        let Phase::Framed(link) = self.phase else {
            return;
        };
        let shared = self.shared.clone();
        let mut core = lock(&shared);
        loop {
            if cx.is_closing() {
                cx.input().clear();
                self.partial = 0;
                return;
            }
            let decoded = self.decoder.decode(cx.input());
            let actions = match decoded {
                Ok(Some(frame)) => {
                    if self.flooding(cx.now()) {
                        cx.input().clear();
                        let why = format!(
                            "frame flood (more than {MAX_FRAMES_PER_WINDOW} frames in {FLOOD_WINDOW:?})"
                        );
                        core.state.close_link(link, CloseReason::Protocol(why))
                    } else {
                        let mono = mono_ms(core.epoch, cx.now());
                        core.state.on_frame(link, frame, mono)
                    }
                }
                Ok(None) => {
                    self.partial = cx.input().len();
                    return;
                }
                // The node logs the reason as it closes the link.
                Err(e) => {
                    cx.input().clear();
                    core.state.on_link_error(link, e)
                }
            };
            core.apply(actions, &mut Out::Cx(cx));
            if cx.pending_output() > MAX_LINK_OUTPUT {
                log::warn!(
                    "link {link:?} with {}: peer does not read its frames; dropped",
                    self.addr_text()
                );
                self.phase = Phase::Done;
                cx.abort();
                return;
            }
        }
    }

    /// Logs how a framed link ended from the other side, once: a warning naming the bytes of
    /// the unfinished frame if it dropped mid-frame, else a debug line (a peer may just go).
    fn log_end(&mut self, how: &str) {
        let Phase::Framed(link) = self.phase else {
            return;
        };
        if std::mem::replace(&mut self.end_logged, true) {
            return;
        }
        let addr = self.addr_text();
        if self.partial > 0 {
            log::warn!(
                "link {link:?} with {addr} dropped mid-frame: {how}, {} bytes of an unfinished frame discarded",
                self.partial
            );
        } else {
            log::debug!("link {link:?} with {addr}: {how}");
        }
    }

    fn flooding(&mut self, now: Instant) -> bool {
        match self.window_start {
            Some(start) if now.duration_since(start) < FLOOD_WINDOW => {
                self.frames_in_window += 1;
            }
            _ => {
                self.window_start = Some(now);
                self.frames_in_window = 1;
            }
        }
        self.frames_in_window > MAX_FRAMES_PER_WINDOW
    }
}

impl Protocol for LinkConn {
    type Message = LinkCmd;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        if self.dialled {
            let addr = self.addr_text();
            let request = format!(
                "GET {LINK_PATH} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: {UPGRADE_TOKEN}\r\nConnection: Upgrade\r\n\r\n"
            );
            cx.write(request.as_bytes());
            cx.set_timeout(UPGRADE_TIMEOUT);
        } else {
            if self.addr.is_none() {
                self.addr = cx.peer_addr();
            }
            self.open(cx);
        }
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        match self.phase {
            Phase::Upgrading => self.read_upgrade(cx),
            Phase::Framed(_) => self.read_frames(cx),
            Phase::Done => cx.input().clear(),
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        if self.phase == Phase::Upgrading && self.dialled {
            // The course's skeleton peer closes a request it does not understand.
            self.course_peer();
        }
        self.log_end("peer closed the connection");
        cx.close();
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        if self.phase == Phase::Upgrading {
            log::warn!("link to {}: no upgrade answer in time", self.addr_text());
            self.phase = Phase::Done;
            cx.abort();
        }
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, cmd: LinkCmd) {
        if cx.is_closing() {
            return;
        }
        match cmd {
            LinkCmd::Write(bytes) => {
                if cx.pending_output() + bytes.len() > MAX_LINK_OUTPUT {
                    let link = self.link.map(|l| format!("{l:?} ")).unwrap_or_default();
                    log::warn!(
                        "link {link}with {}: peer does not read its frames; dropped",
                        self.addr_text()
                    );
                    self.phase = Phase::Done;
                    cx.abort();
                } else {
                    cx.write(&bytes);
                }
            }
            LinkCmd::Close => cx.close(),
        }
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        match self.phase {
            Phase::Framed(link) => {
                let shared = self.shared.clone();
                let mut core = lock(&shared);
                let actions = core.state.close_link(link, CloseReason::Shutdown);
                core.apply(actions, &mut Out::Cx(cx));
                cx.close();
            }
            Phase::Upgrading | Phase::Done => cx.close(),
        }
    }

    fn on_close(&mut self, reason: ConnClose) {
        match &reason {
            ConnClose::Remote => self.log_end("connection reset by the peer"),
            ConnClose::Io(e) => self.log_end(&format!("connection failed: {e}")),
            ConnClose::Local | ConnClose::ConnectFailed(_) | ConnClose::Shutdown => {}
        }
        let mut core = lock(&self.shared);
        if let Some(target) = &self.target {
            core.dialing.remove(target);
        }
        match self.link {
            Some(link) => {
                log::debug!("link {link:?} to {} closed: {reason:?}", self.addr_text());
                core.remove_link(link);
            }
            None if self.dialled => {
                log::debug!("dial to {} failed: {reason:?}", self.addr_text());
            }
            None => {}
        }
    }
}
