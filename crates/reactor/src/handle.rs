//! [`Handle`]: how other threads reach a running [`EventLoop`](crate::EventLoop).

use crate::event_loop::{Addr, ConnId, Protocol, Session};
use mio::Waker;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// What another thread asks the loop to do.
pub(crate) enum Command {
    /// One message waits in this entry's mailbox.
    Message(ConnId),
    Spawn(Session, mpsc::Sender<ConnId>),
    Connect(SocketAddr, Session, mpsc::Sender<ConnId>),
    /// Nothing but a loop round (its clock is read again).
    Wake,
    Shutdown,
    Stop,
}

/// The state a [`Handle`] shares with its loop.
pub(crate) struct Shared {
    pub(crate) commands: Mutex<Vec<Command>>,
    pub(crate) waker: Waker,
}

/// A cheap, cloneable, thread-safe way to talk to a running loop. Commands are queued and the
/// loop is woken; they run between poll rounds, on the loop thread.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    fn push(&self, command: Command) {
        let mut queue = self.shared.commands.lock().expect("command queue");
        let was_empty = queue.is_empty();
        queue.push(command);
        drop(queue);
        // One wake per batch: the loop drains the whole queue when it wakes.
        if was_empty {
            let _ = self.shared.waker.wake();
        }
    }

    /// Delivers `msg` to the [`Protocol::on_message`] of the entry at `to`; dropped if that
    /// entry is gone.
    pub fn send<P: Protocol>(&self, to: &Addr<P>, msg: P::Message) {
        if let Some(id) = to.push(msg) {
            self.push(Command::Message(id));
        }
    }

    /// Adds a socketless agent and returns its id. Blocks until the loop has run the command, so
    /// never call it from the loop thread (use [`Cx::spawn`](crate::Cx::spawn) there).
    pub fn spawn(&self, proto: impl Into<Session>) -> Option<ConnId> {
        let (tx, rx) = mpsc::channel();
        self.push(Command::Spawn(proto.into(), tx));
        rx.recv().ok()
    }

    /// Dials `addr` and returns the new entry's id. Blocks like [`spawn`](Handle::spawn).
    pub fn connect(&self, addr: SocketAddr, proto: impl Into<Session>) -> Option<ConnId> {
        let (tx, rx) = mpsc::channel();
        self.push(Command::Connect(addr, proto.into(), tx));
        rx.recv().ok()
    }

    /// Runs a loop round now, which reads the loop's clock again: after stepping a
    /// [`SteppedClock`](crate::SteppedClock), so that deadlines it passed fire.
    pub fn wake(&self) {
        self.push(Command::Wake);
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn shutdown(&self) {
        self.push(Command::Shutdown);
    }

    /// Stops the loop at once, closing every entry.
    pub fn stop(&self) {
        self.push(Command::Stop);
    }
}
