//! The socket side of the loop: accepting, reading until `WouldBlock`, writing what is queued
//! (bytes, and file bodies with `pread` or `sendfile`), lingering closes, and freeing an entry.

use super::Callback;
use super::{
    CloseReason, ConnId, ConnInfo, Core, Deferred, Entry, FIRST_ENTRY, FIRST_LISTENER,
    LINGER_MAX_BYTES, LINGER_TIMEOUT, Origin, Phase, Reading, Writing,
};
use crate::file_body::{FILE_ROUND_BUDGET, Moved, QueuedFile};
use bytes::{Buf, BytesMut};
use log::warn;
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// What one poll event says about a socket.
#[derive(Clone, Copy)]
pub(super) struct Readiness {
    readable: bool,
    /// The peer closed its side (or the socket failed): read until EOF.
    read_closed: bool,
    writable: bool,
}

impl Readiness {
    pub(super) fn of(event: &mio::event::Event) -> Readiness {
        Readiness {
            readable: event.is_readable() || event.is_read_closed(),
            read_closed: event.is_read_closed() || event.is_error(),
            writable: event.is_writable() || event.is_error() || event.is_write_closed(),
        }
    }
}

/// How a failed read or write closes the entry.
fn close_reason(e: io::Error) -> CloseReason {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => CloseReason::Remote,
        _ => CloseReason::Io(e),
    }
}

impl Core {
    pub(super) fn accept(&mut self, index: usize) {
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
            let mut new = Entry::new(generation, Origin::Accepted, proto);
            new.socket = Some(socket);
            new.peer = Some(peer);
            new.local = Some(local);
            entry.insert(new);
            self.accepted += 1;
            self.bind_mailbox(key, id);
            self.dispatch(key, Callback::Open);
        }
    }

    pub(super) fn pause_listeners(&mut self) {
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

    pub(super) fn on_socket_event(&mut self, key: usize, ready: Readiness) {
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
            self.dispatch(key, Callback::Open);
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
    pub(super) fn read(&mut self, key: usize, drain_to_eof: bool) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.phase == Phase::Lingering {
            return self.discard_input(key);
        }
        match entry.reading {
            Reading::Eof { .. } => return,
            Reading::Paused { .. } => {
                entry.reading = Reading::Paused { stalled: true };
                return;
            }
            Reading::Live | Reading::Stalled if entry.phase != Phase::Open => {
                entry.reading = Reading::Stalled;
                return;
            }
            Reading::Live | Reading::Stalled => entry.reading = Reading::Live,
        }
        let Some(socket) = entry.socket.as_mut() else {
            return;
        };
        let mut got = false;
        let mut failure = None;
        loop {
            if entry.input.len() >= entry.read_limit {
                entry.reading = Reading::Stalled;
                break;
            }
            let room = (entry.read_limit - entry.input.len()).min(self.scratch.len());
            match socket.read(&mut self.scratch[..room]) {
                Ok(0) => {
                    entry.reading = Reading::Eof { paused: false };
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
        let eof = matches!(entry.reading, Reading::Eof { .. });
        let id = ConnId {
            key: key as u32,
            generation: entry.generation,
        };
        if got {
            self.dispatch(key, Callback::Read);
        }
        if let Some(e) = failure {
            if self.key_of(id).is_some() {
                self.finish(key, close_reason(e));
            }
            return;
        }
        if eof && self.key_of(id).is_some() {
            self.dispatch(key, Callback::Eof);
        }
        // Reading stopped at the input cap: edge-triggered readiness will not say again that
        // bytes are waiting, so once the protocol has made room, read again from the loop.
        if let Some(key) = self.key_of(id) {
            let entry = &self.entries[key];
            let room = entry.input.len() < entry.read_limit;
            if entry.reading == Reading::Stalled && room && entry.phase == Phase::Open {
                self.deferred.push_back(Deferred::Read(id));
            }
        }
    }

    /// Writes queued output, bytes and file bodies in order, until done, `WouldBlock`, or the
    /// round's [`FILE_ROUND_BUDGET`] for file bodies is spent; keeps `WRITABLE` interest only
    /// while the socket is full. An entry that used its budget is written again next round.
    pub(super) fn flush(&mut self, key: usize) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.phase == Phase::Connecting {
            return;
        }
        let Some(socket) = entry.socket.as_mut() else {
            entry.output.clear();
            entry.files.clear();
            return;
        };
        let flushed = match write_out(
            socket,
            &mut entry.output,
            &mut entry.files,
            &mut entry.written,
        ) {
            Ok(flushed) => flushed,
            Err(e) => return self.finish(key, close_reason(e)),
        };
        // WRITABLE interest must be on exactly while the socket is full.
        let blocked = flushed == Flushed::Blocked;
        if blocked != (entry.writing == Writing::Blocked) {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) = self
                .registry
                .reregister(socket, Token(FIRST_ENTRY + key), interest)
            {
                return self.finish(key, CloseReason::Io(e));
            }
        }
        entry.writing = match (flushed, entry.writing) {
            (Flushed::Blocked, _) => Writing::Blocked,
            // Still listed in `dirty`: the listing clears it (and writes again if need be).
            (_, Writing::Queued) => Writing::Queued,
            (Flushed::Yielded, _) => {
                let id = ConnId {
                    key: key as u32,
                    generation: entry.generation,
                };
                self.yielded.push(id);
                Writing::Queued
            }
            (Flushed::Drained, _) => Writing::Idle,
        };
        if flushed == Flushed::Drained {
            if matches!(entry.phase, Phase::Closing { .. }) {
                return self.linger(key);
            }
            if entry.notify_drained {
                entry.notify_drained = false;
                self.dispatch(key, Callback::Drained);
            }
        }
    }

    /// Starts a lingering close: shut our side, then discard input (see [`Phase::Lingering`]).
    pub(super) fn linger(&mut self, key: usize) {
        let entry = &mut self.entries[key];
        let Some(socket) = entry.socket.as_ref() else {
            return self.finish(key, CloseReason::Local);
        };
        let wanted = entry.phase != (Phase::Closing { linger: false });
        let eof = matches!(entry.reading, Reading::Eof { .. });
        if !wanted || eof || socket.shutdown(std::net::Shutdown::Write).is_err() {
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

    /// Closes an entry for good: `on_close`, deregister, free the slot (which drops its
    /// mailbox, so addresses of it stop working).
    pub(super) fn finish(&mut self, key: usize, reason: CloseReason) {
        let Some(mut entry) = self.entries.try_remove(key) else {
            return;
        };
        if let Some(mut socket) = entry.socket.take() {
            let _ = self.registry.deregister(&mut socket);
        }
        if let Some(mut proto) = entry.proto.take() {
            proto.driver.close(reason);
        }
        if entry.origin == Origin::Accepted {
            self.accepted -= 1;
            self.resume_listeners();
        }
    }
}

/// Where one [`Core::flush`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flushed {
    /// Everything queued is sent.
    Drained,
    /// The socket is full: wait for it to be writable.
    Blocked,
    /// The socket may take more, but this round's budget for file bodies is spent.
    Yielded,
}

/// Writes an entry's output in the order it was queued — `output`, then each file body and
/// the bytes queued after it — until all is sent, the socket is full, or [`FILE_ROUND_BUDGET`]
/// bytes of file bodies have moved. Counts what the socket took in `written`.
fn write_out(
    socket: &mut TcpStream,
    output: &mut BytesMut,
    files: &mut VecDeque<QueuedFile>,
    written: &mut u64,
) -> io::Result<Flushed> {
    let mut budget = FILE_ROUND_BUDGET;
    loop {
        while !output.is_empty() {
            match socket.write(output) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    output.advance(n);
                    *written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let Some(file) = files.front_mut() else {
            return Ok(Flushed::Drained);
        };
        if file.remaining() == 0 {
            // All of it is in the socket: the bytes queued after it are next.
            *output = std::mem::take(&mut file.then);
            files.pop_front();
            continue;
        }
        if budget == 0 {
            return Ok(Flushed::Yielded);
        }
        match file.advance(&*socket, output, budget) {
            Ok(Moved::Sent(n)) => {
                *written += n as u64;
                budget -= n;
            }
            // Read into `output` (`pread`): written at the loop's top.
            Ok(Moved::Read(n)) => budget = budget.saturating_sub(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
