//! What an entry is to the loop: the [`Protocol`] it runs, its [`ConnId`], why it closed, and the
//! [`Acceptor`] that makes protocols for accepted connections.

use super::{Cx, Session};
use std::io;
use std::net::SocketAddr;

/// Identifies one entry for its whole life: the slab key plus a generation, so that a message
/// for a closed connection never reaches the next one that reuses its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(super) key: u32,
    pub(super) generation: u32,
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}.{}", self.key, self.generation)
    }
}

/// Why an entry closed, given to [`Protocol::on_close`].
#[derive(Debug)]
pub enum CloseReason {
    /// The protocol asked for it ([`Cx::close`] or [`Cx::abort`]).
    Local,
    /// The peer closed the connection, or reset it.
    Remote,
    /// An outbound connection could not be established: the entry never opened. Reported from
    /// the loop (never from inside the callback that dialled), straight to the protocol.
    ConnectFailed(io::Error),
    /// A read or write failed.
    Io(io::Error),
    /// The loop is stopping.
    Shutdown,
}

/// The behaviour of one entry. Every callback runs on the loop thread and must not block.
pub trait Protocol: Send + 'static {
    /// What other entries and threads send this one through its [`Addr`](crate::Addr);
    /// [`std::convert::Infallible`] for a protocol nobody messages.
    type Message: Send + 'static;

    /// The entry is live: an accepted connection, a dialled one that just connected, or a new agent.
    fn on_open(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }

    /// New bytes are in [`Cx::input`]. Consume what you can; what is left stays for next time.
    fn on_read(&mut self, cx: &mut Cx<'_>);

    /// The peer closed its sending side. By default the connection is closed.
    fn on_eof(&mut self, cx: &mut Cx<'_>) {
        cx.close();
    }

    /// All queued output reached the socket (called only after [`Cx::notify_drained`]).
    fn on_drained(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }

    /// The deadline set with [`Cx::set_deadline`] passed.
    fn on_timeout(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }

    /// A message from another entry ([`Cx::send`]) or another thread
    /// ([`Handle::send`](crate::Handle::send)), in the order they were sent.
    fn on_message(&mut self, cx: &mut Cx<'_>, msg: Self::Message) {
        let _ = (cx, msg);
    }

    /// The loop is shutting down gracefully: finish what is in flight and close. By default the
    /// entry closes at once (after flushing its output).
    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        cx.close();
    }

    /// The entry is gone. Last chance to release what it holds; no I/O is possible.
    fn on_close(&mut self, reason: CloseReason) {
        let _ = reason;
    }
}

/// Makes the protocol for each connection a listener accepts.
pub type Acceptor = Box<dyn FnMut(&ConnInfo) -> Session + Send>;

/// Addresses of a connection, given to an [`Acceptor`].
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// The connection's own id.
    pub id: ConnId,
    /// The remote address.
    pub peer: SocketAddr,
    /// The local address.
    pub local: SocketAddr,
}
