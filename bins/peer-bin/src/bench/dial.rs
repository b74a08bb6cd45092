//! The dialling side of the idle-links measurement (`peer-bench dial ADDR COUNT`), run in a
//! child process so the two ends of 10,000 links do not share one file-descriptor limit.
//!
//! It runs on its own reactor loop: a [`Dialler`] agent keeps [`WINDOW`] handshakes in flight
//! until `COUNT` links are up or failed, prints one JSON line (`up`, `failed`, the first error),
//! then holds the links until its stdin closes. Each [`BenchLink`] answers the peer's pings, so
//! the links stay alive however long the parent holds them (the peer drops a link silent for
//! 45 s).

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use p2p::{Frame, FrameDecoder, Identity, encode};
use reactor::{Addr, CloseReason, Cx, EventLoop, Handle, Protocol, Session};
use serde_json::json;

/// Handshakes in flight at once: enough to keep the peer's loop busy, few enough that its
/// accept backlog never overflows.
pub const WINDOW: usize = 64;
/// How long one handshake (connect, `101`, `hello-ack`) may take.
const HANDSHAKE: Duration = Duration::from_secs(20);
/// Bytes of an upgrade answer head accepted before giving up on it.
const MAX_HEAD: usize = 16 * 1024;

/// What a link tells the dialler.
enum News {
    /// The handshake completed.
    Up,
    /// The handshake failed, for this reason.
    Failed(String),
    /// A link that was up closed.
    Lost,
}

/// Dials `count` links to `target`, keeping [`WINDOW`] in flight.
struct Dialler {
    /// Where the links send their news.
    me: Addr<Dialler>,
    target: SocketAddr,
    count: usize,
    next: usize,
    in_flight: usize,
    up: usize,
    failed: usize,
    lost: usize,
    first_error: Option<String>,
    reported: bool,
    /// One key for every bench link: each has its own peer id, and the target binds the key
    /// to each id on first use.
    identity: Identity,
}

impl Dialler {
    fn fill(&mut self, cx: &mut Cx<'_>) {
        while self.in_flight < WINDOW && self.next < self.count {
            let link = BenchLink {
                index: self.next,
                owner: self.me.clone(),
                handle: cx.handle(),
                target: self.target,
                state: LinkState::Upgrading,
                decoder: FrameDecoder::default(),
                identity: self.identity.clone(),
            };
            cx.connect(self.target, link);
            self.next += 1;
            self.in_flight += 1;
        }
        if !self.reported && self.up + self.failed == self.count {
            self.reported = true;
            println!(
                "{}",
                json!({"up": self.up, "failed": self.failed, "error": self.first_error})
            );
        }
    }
}

impl Protocol for Dialler {
    type Message = News;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        self.fill(cx);
    }

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_message(&mut self, cx: &mut Cx<'_>, news: News) {
        match news {
            News::Up => {
                self.in_flight -= 1;
                self.up += 1;
            }
            News::Failed(why) => {
                self.in_flight -= 1;
                self.failed += 1;
                self.first_error.get_or_insert(why);
            }
            News::Lost => {
                self.lost += 1;
                if self.lost == 1 || self.lost.is_power_of_two() {
                    eprintln!(
                        "peer-bench dial: {} held links closed by the peer",
                        self.lost
                    );
                }
            }
        }
        self.fill(cx);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    /// The upgrade request and hello are out; waiting for `101`.
    Upgrading,
    /// Upgraded; waiting for `hello-ack`.
    Hello,
    /// Up: answering pings.
    Up,
    /// Failed and reported; closing.
    Failed,
}

/// One link of the measurement: a bare-bones peer that says hello and answers pings.
struct BenchLink {
    index: usize,
    owner: Addr<Dialler>,
    handle: Handle,
    target: SocketAddr,
    state: LinkState,
    decoder: FrameDecoder,
    identity: Identity,
}

impl BenchLink {
    fn peer_id(&self) -> String {
        format!("bench-{}:1", self.index)
    }

    fn fail(&mut self, cx: &mut Cx<'_>, why: String) {
        let news = match self.state {
            LinkState::Upgrading | LinkState::Hello => News::Failed(why),
            LinkState::Up => News::Lost,
            LinkState::Failed => return,
        };
        cx.send(&self.owner, news);
        self.state = LinkState::Failed;
        cx.abort();
    }

    fn read_head(&mut self, cx: &mut Cx<'_>) -> bool {
        let input = cx.input();
        let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") else {
            if input.len() > MAX_HEAD {
                self.fail(cx, "upgrade answer head too long".to_string());
            }
            return false;
        };
        let head = input.split_to(end + 4);
        if !head.starts_with(b"HTTP/1.1 101") {
            let line = String::from_utf8_lossy(&head);
            let line = line.lines().next().unwrap_or_default().to_string();
            self.fail(cx, format!("upgrade refused: {line}"));
            return false;
        }
        self.state = LinkState::Hello;
        true
    }
}

impl Protocol for BenchLink {
    type Message = std::convert::Infallible;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        let hello = json!({"type": "hello", "peer_id": self.peer_id(),
            "name": "bench", "nonce": self.index, "version": p2p::PROTOCOL_VERSION,
            "channels": [], "key": self.identity.public().as_str(),
            "challenge": p2p::identity::new_challenge()});
        let target = self.target;
        let request = format!(
            "GET /p2p/link HTTP/1.1\r\nHost: {target}\r\nUpgrade: weaprous-p2p/1\r\nConnection: Upgrade\r\n\r\n{hello}\n"
        );
        cx.write(request.as_bytes());
        cx.set_timeout(HANDSHAKE);
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        if self.state == LinkState::Upgrading && !self.read_head(cx) {
            return;
        }
        loop {
            match self.decoder.decode(cx.input()) {
                Ok(Some(Frame::HelloAck(ack))) if self.state == LinkState::Hello => {
                    // The proof of our key over the peer's challenge; the peer's own proof is
                    // not checked, since the bench only measures the peer.
                    let proof = self
                        .identity
                        .prove(&ack.challenge, &self.peer_id(), &ack.peer_id);
                    cx.write(&encode(&Frame::Auth { proof }));
                    self.state = LinkState::Up;
                    cx.set_deadline(None);
                    cx.send(&self.owner, News::Up);
                }
                Ok(Some(Frame::Ping { token })) => cx.write(&encode(&Frame::Pong { token })),
                Ok(Some(Frame::Bye { reason })) => {
                    return self.fail(cx, format!("peer said bye: {reason}"));
                }
                // hello-ack's followers (sync-req, sync) and pongs need no answer.
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(e) => return self.fail(cx, format!("bad frame from the peer: {e}")),
            }
        }
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        self.fail(cx, format!("no handshake within {HANDSHAKE:?}"));
    }

    fn on_close(&mut self, reason: CloseReason) {
        // A refused connect (EMFILE, say) or a peer that dropped the link: no callback context
        // here, so the news goes through the loop's handle.
        let news = match self.state {
            LinkState::Upgrading | LinkState::Hello => News::Failed(format!("{reason:?}")),
            LinkState::Up => News::Lost,
            LinkState::Failed => return,
        };
        self.handle.send(&self.owner, news);
    }
}

/// Dials `count` links to `target`, prints the outcome as one JSON line, and holds the links
/// until stdin closes.
pub fn run(target: SocketAddr, count: usize) -> Result<(), String> {
    let mut event_loop = EventLoop::new(WINDOW).map_err(|e| e.to_string())?;
    let handle = event_loop.handle();
    event_loop.spawn(Session::with_addr(|me| Dialler {
        me,
        target,
        count,
        next: 0,
        in_flight: 0,
        up: 0,
        failed: 0,
        lost: 0,
        first_error: None,
        reported: false,
        identity: Identity::generate(),
    }));
    let thread = event_loop.spawn_thread("dial").map_err(|e| e.to_string())?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    handle.stop();
    drop(thread);
    Ok(())
}
