//! The loop's own work between socket events: running a callback and applying what it asked
//! for, deferred work, commands from other threads, timers, and shutdown.

use super::{
    Callback, CloseReason, Core, Cx, DEFERRED_BUDGET, Deferred, Phase, SHUTDOWN_GRACE, Writing,
};
use crate::handle::Command;
use std::cmp::Reverse;
use std::time::Duration;

impl Core {
    /// Calls one protocol callback with the protocol taken out of its entry, then applies what
    /// the callback asked for (upgrade, output, close).
    pub(super) fn dispatch(&mut self, key: usize, callback: Callback) {
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
        proto.driver.call(
            &mut Cx {
                core: self,
                key,
                id,
            },
            callback,
        );
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if entry.generation != id.generation {
            return;
        }
        match entry.next_proto.take() {
            Some(mut next) => {
                next.driver.skip_wakes(proto.driver.retire());
                drop(proto);
                entry.proto = Some(next);
                // The new protocol starts from the loop: open, then any bytes already read, then
                // whatever was sent to its address before it took over.
                self.deferred.push_back(Deferred::Open(id));
                self.deferred.push_back(Deferred::Read(id));
                self.bind_mailbox(key, id);
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
        if entry.has_output() {
            if entry.writing == Writing::Idle {
                entry.writing = Writing::Queued;
                let id = self.id_of(key);
                self.dirty.push(id);
            }
        } else if matches!(entry.phase, Phase::Closing { .. }) {
            self.linger(key);
        }
    }

    /// Writes the output callbacks queued this round (see `dirty`). Flushing can run
    /// `on_drained`, which may queue more; what is left after a few passes waits a round, as do
    /// entries that used their round's budget for file bodies (`yielded`).
    pub(super) fn flush_dirty(&mut self) {
        for _ in 0..4 {
            if self.dirty.is_empty() {
                break;
            }
            for id in std::mem::take(&mut self.dirty) {
                if let Some(key) = self.key_of(id) {
                    let entry = &mut self.entries[key];
                    if entry.writing == Writing::Queued {
                        entry.writing = Writing::Idle;
                        self.flush(key);
                    }
                }
            }
        }
        self.dirty.append(&mut self.yielded);
    }

    /// Runs queued work, including work it queues (a proxied request hops client → upstream →
    /// client through messages, and each hop should not cost a poll), up to
    /// [`DEFERRED_BUDGET`] items; the rest waits until after a poll, so a protocol that keeps
    /// re-reading cannot starve other sockets' writes.
    pub(super) fn run_deferred(&mut self) {
        for _ in 0..DEFERRED_BUDGET {
            let Some(work) = self.deferred.pop_front() else {
                break;
            };
            match work {
                Deferred::Open(id) => {
                    if let Some(key) = self.key_of(id) {
                        self.dispatch(key, Callback::Open);
                    }
                }
                Deferred::Message(id) => {
                    if let Some(key) = self.key_of(id) {
                        self.dispatch(key, Callback::Message);
                    }
                }
                Deferred::ConnectFailed(id, e) => {
                    if let Some(key) = self.key_of(id) {
                        self.finish(key, CloseReason::ConnectFailed(e));
                    }
                }
                Deferred::Accept(index) => self.accept(index),
                Deferred::Drained(id) => {
                    if let Some(key) = self.key_of(id) {
                        self.dispatch(key, Callback::Drained);
                    }
                }
                Deferred::Read(id) => {
                    if let Some(key) = self.key_of(id) {
                        if !self.entries[key].input.is_empty() {
                            self.dispatch(key, Callback::Read);
                        }
                        self.read(key, true);
                    }
                }
            }
        }
    }

    pub(super) fn run_commands(&mut self) {
        let commands = std::mem::take(&mut *self.shared.commands.lock().expect("command queue"));
        for command in commands {
            match command {
                Command::Message(id) => self.deferred.push_back(Deferred::Message(id)),
                Command::Spawn(proto, reply) => {
                    let id = self.spawn(proto);
                    let _ = reply.send(id);
                }
                Command::Connect(addr, proto, reply) => {
                    let id = self.connect(addr, proto);
                    let _ = reply.send(id);
                }
                Command::Wake => {}
                Command::Shutdown => self.begin_shutdown(),
                Command::Stop => self.stopped = true,
            }
        }
    }

    pub(super) fn poll_timeout(&mut self) -> Option<Duration> {
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

    pub(super) fn fire_timers(&mut self) {
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
                self.write_before_timeout(key, generation);
            }
        }
    }

    /// Tells entry `key` its deadline passed — after trying once more to write its output if
    /// the socket was full. The kernel says a full socket is writable again only once a third
    /// of its buffer is free, which a slow reader may take longer than a send timeout to free
    /// (sendfile's page-backed buffers drain slowly on loopback); one write shows whether the
    /// peer took anything at all, in [`Cx::output_written`](super::Cx::output_written).
    fn write_before_timeout(&mut self, key: usize, generation: u32) {
        if self.entries[key].writing == Writing::Blocked {
            self.flush(key);
        }
        // Unless the write closed the entry, or a callback it ran (`on_drained`) set a new
        // deadline, which supersedes the one that passed.
        if self.entries.get(key).is_some_and(|e| {
            e.generation == generation && e.phase != Phase::Lingering && e.deadline.is_none()
        }) {
            self.dispatch(key, Callback::Timeout);
        }
    }

    pub(super) fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(self.now + SHUTDOWN_GRACE);
        self.pause_listeners();
        let keys: Vec<usize> = self.entries.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.dispatch(key, Callback::Shutdown);
        }
    }

    pub(super) fn shutdown_finished(&self) -> bool {
        match self.shutdown_deadline {
            Some(deadline) => self.entries.is_empty() || self.now >= deadline,
            None => false,
        }
    }

    pub(super) fn close_all(&mut self) {
        let keys: Vec<usize> = self.entries.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.flush(key);
            self.finish(key, CloseReason::Shutdown);
        }
    }
}
