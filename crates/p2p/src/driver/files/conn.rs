//! [`ChunkConn`]: one keep-alive connection from a fetcher to a holder, asking for one chunk
//! at a time (`GET /files/:id/chunks/:n`) and handing each answer to its owner, the files
//! agent. The agent keeps several per holder, so a holder's link stays busy while the agent
//! verifies what came.
//!
//! States: idle (connected, nothing asked), awaiting a head, reading a body of a known length.
//! Whatever ends the connection, the owner hears once which chunk (if any) was lost with it.

use bytes::BytesMut;
use http_core::{BodyKind, Limits, Method, parse_response_head};
use p2p_proto::files::{ChunkHasher, Digest, MAX_CHUNK_SIZE};
use reactor::{Addr, CloseReason, Cx, Handle, Protocol};
use std::time::Duration;

use super::agent::{FilesAgent, FilesMsg};
use super::buffers::Buffers;

/// How long a holder may take to answer one chunk request before the connection is dropped.
pub const CHUNK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may sit idle before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest error body read before giving up on a connection.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// Bytes read per wake-up: a sizeable slice of a chunk per loop turn.
const READ_LIMIT: usize = 512 * 1024;

/// What the agent tells a connection.
#[derive(Debug)]
pub enum ConnCmd {
    /// Ask for this chunk.
    Get(usize),
    /// Close now.
    Close,
}

/// What a connection tells the agent.
#[derive(Debug)]
pub struct ConnEvent {
    /// The agent's tag for the connection.
    pub slot: u64,
    /// What happened.
    pub kind: ConnEventKind,
}

/// See [`ConnEvent`].
#[derive(Debug)]
pub enum ConnEventKind {
    /// The connection is up.
    Open,
    /// The bytes of a chunk (not yet verified).
    Chunk {
        /// Its index.
        chunk: usize,
        /// Its bytes, in a buffer of the shelf (give it back when done).
        data: BytesMut,
        /// The digest of `data`, taken as the bytes arrived; to be checked against the chunk's
        /// known digest before the bytes are written.
        digest: Digest,
    },
    /// The holder answered with an error status.
    Refused {
        /// The chunk asked for.
        chunk: usize,
        /// The status code.
        status: u16,
    },
    /// The connection is gone, with the chunk that was being asked for.
    Closed {
        /// The chunk lost with it.
        chunk: Option<usize>,
        /// Why, in words.
        why: String,
    },
}

enum State {
    Idle,
    Head {
        chunk: usize,
    },
    Body {
        chunk: usize,
        status: u16,
        remaining: usize,
        body: BytesMut,
        /// Hashes the body as it arrives, while its bytes are in cache.
        hasher: Box<ChunkHasher>,
    },
}

/// See the module docs.
pub struct ChunkConn {
    owner: Addr<FilesAgent>,
    slot: u64,
    handle: Handle,
    buffers: Buffers,
    file_id: String,
    host: String,
    state: State,
    told_closed: bool,
}

impl ChunkConn {
    /// A connection for `owner`, known to it as `slot`, that will ask `host` for `first` of
    /// `file_id` once connected.
    pub fn new(
        (owner, slot, handle): (Addr<FilesAgent>, u64, Handle),
        buffers: Buffers,
        file_id: &str,
        host: String,
        first: usize,
    ) -> ChunkConn {
        ChunkConn {
            owner,
            slot,
            handle,
            buffers,
            file_id: file_id.to_string(),
            host,
            state: State::Head { chunk: first },
            told_closed: false,
        }
    }

    fn tell(&self, cx: &mut Cx<'_>, kind: ConnEventKind) {
        let slot = self.slot;
        cx.send(&self.owner, FilesMsg::Conn(ConnEvent { slot, kind }));
    }

    fn ask(&mut self, cx: &mut Cx<'_>, chunk: usize) {
        let request = format!(
            "GET /files/{}/chunks/{chunk} HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.file_id, self.host
        );
        cx.write(request.as_bytes());
        cx.set_timeout(CHUNK_TIMEOUT);
        self.state = State::Head { chunk };
    }

    fn current(&self) -> Option<usize> {
        match self.state {
            State::Idle => None,
            State::Head { chunk } | State::Body { chunk, .. } => Some(chunk),
        }
    }

    fn fail(&mut self, cx: &mut Cx<'_>, why: String) {
        self.told_closed = true;
        let chunk = self.current();
        self.tell(cx, ConnEventKind::Closed { chunk, why });
        cx.abort();
    }

    /// Reads what it can: a head, then body bytes; answers whether to read on.
    fn step(&mut self, cx: &mut Cx<'_>) -> bool {
        match &mut self.state {
            State::Idle => {
                if !cx.input().is_empty() {
                    self.fail(cx, "the holder sent bytes nobody asked for".to_string());
                }
                false
            }
            State::Head { chunk } => {
                let chunk = *chunk;
                let parsed = parse_response_head(cx.input(), &Limits::default(), &Method::Get);
                let (head, kind) = match parsed {
                    Ok(Some(pair)) => pair,
                    Ok(None) => return false,
                    Err(e) => {
                        self.fail(cx, format!("bad answer: {e}"));
                        return false;
                    }
                };
                let status = head.status.code();
                let length = match kind {
                    BodyKind::Empty => 0,
                    BodyKind::Length(n) if status == 200 && n <= MAX_CHUNK_SIZE => n,
                    BodyKind::Length(n) if status != 200 && n <= MAX_ERROR_BODY => n,
                    _ => {
                        self.fail(cx, format!("unusable answer framing ({status})"));
                        return false;
                    }
                };
                let body = match status {
                    200 => self.buffers.take(length as usize),
                    _ => BytesMut::new(),
                };
                self.state = State::Body {
                    chunk,
                    status,
                    remaining: length as usize,
                    body,
                    hasher: Box::default(),
                };
                true
            }
            State::Body {
                chunk,
                status,
                remaining,
                body,
                hasher,
            } => {
                let input = cx.input();
                let take = (*remaining).min(input.len());
                if *status == 200 {
                    body.extend_from_slice(&input[..take]);
                    hasher.update(&input[..take]);
                }
                bytes::Buf::advance(input, take);
                *remaining -= take;
                if *remaining > 0 {
                    return false;
                }
                let kind = match *status {
                    200 => ConnEventKind::Chunk {
                        chunk: *chunk,
                        data: std::mem::take(body),
                        digest: hasher.finish(),
                    },
                    status => ConnEventKind::Refused {
                        chunk: *chunk,
                        status,
                    },
                };
                self.state = State::Idle;
                cx.set_timeout(IDLE_TIMEOUT);
                self.tell(cx, kind);
                true
            }
        }
    }
}

impl Protocol for ChunkConn {
    type Message = ConnCmd;

    fn on_open(&mut self, cx: &mut Cx<'_>) {
        cx.set_read_limit(READ_LIMIT);
        if let Some(chunk) = self.current() {
            self.ask(cx, chunk);
        }
        self.tell(cx, ConnEventKind::Open);
    }

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        while !cx.is_closing() && self.step(cx) {}
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        if !self.told_closed {
            self.fail(cx, "the holder closed the connection".to_string());
        }
    }

    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        let why = match self.state {
            State::Idle => "idle".to_string(),
            _ => format!("no answer within {CHUNK_TIMEOUT:?}"),
        };
        self.fail(cx, why);
    }

    fn on_message(&mut self, cx: &mut Cx<'_>, cmd: ConnCmd) {
        match cmd {
            ConnCmd::Get(chunk) if matches!(self.state, State::Idle) => self.ask(cx, chunk),
            ConnCmd::Get(chunk) => {
                log::warn!("chunk {chunk} asked of a busy connection; ignored");
            }
            ConnCmd::Close => {
                self.told_closed = true;
                let chunk = self.current();
                let why = "closed by the fetcher".to_string();
                self.tell(cx, ConnEventKind::Closed { chunk, why });
                cx.abort();
            }
        }
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        cx.abort();
    }

    fn on_close(&mut self, reason: CloseReason) {
        // A close no callback saw (connect failed, reset, shutdown) is told from here.
        if !self.told_closed {
            let why = match reason {
                CloseReason::ConnectFailed(e) => format!("cannot connect: {e}"),
                CloseReason::Io(e) => format!("i/o error: {e}"),
                other => format!("closed: {other:?}"),
            };
            let chunk = self.current();
            let kind = ConnEventKind::Closed { chunk, why };
            let event = ConnEvent {
                slot: self.slot,
                kind,
            };
            self.handle.send(&self.owner, FilesMsg::Conn(event));
        }
    }
}
