//! [`Cx`]: what a protocol callback may do — its entry's buffers and deadline, and the loop
//! around it (dial, spawn, message, upgrade, close).

use super::{Addr, ConnId, Core, Deferred, Entry, Phase, Protocol, Reading, Session};
use crate::file_body::{FileBody, QueuedFile, Transfer};
use crate::handle::Handle;
use bytes::BytesMut;
use std::cmp::Reverse;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a protocol callback can do: its own buffers and deadline, and the loop around it.
pub struct Cx<'a> {
    pub(super) core: &'a mut Core,
    pub(super) key: usize,
    pub(super) id: ConnId,
}

impl Cx<'_> {
    fn entry(&mut self) -> &mut Entry {
        &mut self.core.entries[self.key]
    }

    /// This entry's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The time the loop woke up for this round, on the loop's monotonic [`Clock`]
    /// (`Instant::now` unless a test injected another, see
    /// [`EventLoop::set_clock`](super::EventLoop::set_clock)). Every deadline — this entry's
    /// [`set_deadline`](Cx::set_deadline), lingering closes, the shutdown grace — is measured
    /// on it, so protocols compute theirs from it and never from `Instant::now` or the wall
    /// clock.
    ///
    /// [`Clock`]: super::Clock
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// The remote address, for connections.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.core.entries[self.key].peer
    }

    /// The local address, for connections.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.core.entries[self.key].local
    }

    /// Bytes received and not yet consumed. Consume with `split_to`/`advance`.
    pub fn input(&mut self) -> &mut BytesMut {
        &mut self.entry().input
    }

    /// Bytes queued for sending. Append to it; the loop writes it out after the callback, after
    /// whatever was queued before (a file body from [`send_file`](Cx::send_file) included).
    pub fn output(&mut self) -> &mut BytesMut {
        let entry = self.entry();
        match entry.files.back_mut() {
            Some(file) => &mut file.then,
            None => &mut entry.output,
        }
    }

    /// Queues `data` for sending.
    pub fn write(&mut self, data: &[u8]) {
        self.output().extend_from_slice(data);
    }

    /// Queues a file body after the output already queued. The loop sends it as the socket
    /// takes it, in bounded steps so that other connections get their turn: with `sendfile(2)`
    /// straight from the page cache ([`Transfer::Sendfile`]; where the kernel refuses that for
    /// the file, as below), or read with `pread` into the output buffer a slice at a time
    /// ([`Transfer::Pread`]). Output queued later follows the file. If the file turns out
    /// shorter than `body.len`, the connection is closed
    /// ([`CloseReason::Io`](super::CloseReason::Io)): the length was promised.
    pub fn send_file(&mut self, body: FileBody, transfer: Transfer) {
        if body.len > 0 {
            self.entry()
                .files
                .push_back(QueuedFile::new(body, transfer));
        }
    }

    /// Bytes queued and not yet accepted by the socket (file bodies included); producers stop
    /// above their cap.
    pub fn pending_output(&self) -> usize {
        self.core.entries[self.key].pending_output()
    }

    /// Output bytes the socket has accepted since the entry opened: a protocol compares two
    /// readings to tell whether its peer is taking any output at all (a send timeout).
    pub fn output_written(&self) -> u64 {
        self.core.entries[self.key].written
    }

    /// Asks for one [`Protocol::on_drained`] call when all queued output has been written.
    pub fn notify_drained(&mut self) {
        let entry = self.entry();
        if !entry.has_output() {
            entry.notify_drained = false;
            self.core.deferred.push_back(Deferred::Drained(self.id));
        } else {
            entry.notify_drained = true;
        }
    }

    /// Sets how many unread input bytes may pile up before reading pauses.
    pub fn set_read_limit(&mut self, limit: usize) {
        self.entry().read_limit = limit.max(1);
    }

    /// Stops reading from the socket (backpressure) until [`resume_reading`](Cx::resume_reading).
    pub fn pause_reading(&mut self) {
        let entry = self.entry();
        entry.reading = entry.reading.paused();
    }

    /// Resumes reading; bytes that arrived meanwhile are delivered from the loop.
    pub fn resume_reading(&mut self) {
        let entry = self.entry();
        let (next, stalled) = match entry.reading {
            Reading::Paused { stalled } => (Reading::Live, stalled),
            Reading::Eof { paused: true } => (Reading::Eof { paused: false }, false),
            Reading::Live | Reading::Stalled | Reading::Eof { paused: false } => return,
        };
        entry.reading = next;
        if stalled || !entry.input.is_empty() {
            self.core.deferred.push_back(Deferred::Read(self.id));
        }
    }

    /// Asks for another `on_read` from the loop even though no new bytes came, e.g. after the
    /// protocol stopped consuming to wait for output space.
    pub fn reread(&mut self) {
        self.core.deferred.push_back(Deferred::Read(self.id));
    }

    /// Sets (or clears) this entry's one deadline; [`Protocol::on_timeout`] runs when it passes.
    pub fn set_deadline(&mut self, at: Option<Instant>) {
        let key = self.key;
        let entry = self.entry();
        if entry.deadline == at {
            return;
        }
        entry.deadline = at;
        let generation = entry.generation;
        if let Some(at) = at {
            self.core.timers.push(Reverse((at, key, generation)));
        }
    }

    /// Sets the deadline `after` from now.
    pub fn set_timeout(&mut self, after: Duration) {
        let at = self.core.now + after;
        self.set_deadline(Some(at));
    }

    /// Closes after the queued output is written, then lingers: our side is shut and input is
    /// read and dropped for a while, so that a client still sending does not get a reset that
    /// could destroy the answer before it reads it.
    pub fn close(&mut self) {
        self.entry().phase = Phase::Closing { linger: true };
    }

    /// Closes after the queued output is written, without lingering: for a connection between
    /// messages (an idle keep-alive connection), where no answer is in flight that a reset could
    /// destroy. Shutting down does not then wait on idle clients to close their side.
    pub fn close_idle(&mut self) {
        self.entry().phase = Phase::Closing { linger: false };
    }

    /// Closes at once, dropping queued output (file bodies included).
    pub fn abort(&mut self) {
        let entry = self.entry();
        entry.output.clear();
        entry.files.clear();
        entry.phase = Phase::Closing { linger: true };
    }

    /// Whether [`close`](Cx::close), [`close_idle`](Cx::close_idle) or [`abort`](Cx::abort) was
    /// called.
    pub fn is_closing(&self) -> bool {
        matches!(self.core.entries[self.key].phase, Phase::Closing { .. })
    }

    /// Whether the loop is shutting down gracefully.
    pub fn is_shutting_down(&self) -> bool {
        self.core.shutdown_deadline.is_some()
    }

    /// Hands this connection to `next` when the current callback returns (e.g. after a
    /// `101 Switching Protocols`). `next` gets `on_open`, then `on_read` if input is waiting.
    /// It reads its own mailbox: addresses of the protocol it replaces stop working.
    pub fn upgrade(&mut self, next: impl Into<Session>) {
        self.entry().next_proto = Some(next.into());
    }

    /// Dials `addr` with `proto`; see [`EventLoop::connect`](super::EventLoop::connect).
    pub fn connect(&mut self, addr: SocketAddr, proto: impl Into<Session>) -> ConnId {
        self.core.connect(addr, proto.into())
    }

    /// Adds a socketless agent; see [`EventLoop::spawn`](super::EventLoop::spawn).
    pub fn spawn(&mut self, proto: impl Into<Session>) -> ConnId {
        self.core.spawn(proto.into())
    }

    /// Delivers `msg` to the entry at `to` after this callback, in order with this loop's other
    /// messages to it; dropped if that entry is gone.
    pub fn send<P: Protocol>(&mut self, to: &Addr<P>, msg: P::Message) {
        if let Some(id) = to.push(msg) {
            self.core.deferred.push_back(Deferred::Message(id));
        }
    }

    /// Whether entry `id` is still alive.
    pub fn is_alive(&self, id: ConnId) -> bool {
        self.core.key_of(id).is_some()
    }

    /// A handle for other threads.
    pub fn handle(&self) -> Handle {
        Handle::new(self.core.shared.clone())
    }

    /// Starts a graceful shutdown of the whole loop.
    pub fn shutdown_loop(&mut self) {
        self.core.begin_shutdown();
    }
}
