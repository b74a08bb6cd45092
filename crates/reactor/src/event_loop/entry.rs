//! What the loop keeps per entry: its socket, buffers and deadline, and three small state
//! machines — where it is in its life ([`Phase`]), how its socket is read ([`Reading`]) and
//! how its output is written ([`Writing`]).

use super::{DEFAULT_READ_LIMIT, Session};
use crate::file_body::QueuedFile;
use bytes::BytesMut;
use mio::net::TcpStream;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// Where an entry is in its life, as far as the loop is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Dialled, waiting for the connect to complete.
    Connecting,
    /// Open for reading and writing.
    Open,
    /// Closing: flush what is queued, then close — after a lingering close unless `linger` is
    /// off (a connection between messages, which has no answer in flight to protect).
    Closing { linger: bool },
    /// Output is flushed and our side shut down; unread input is discarded until the peer
    /// closes or [`LINGER_TIMEOUT`](super::LINGER_TIMEOUT) passes. Closing with unread input
    /// would make the kernel send a reset, which can destroy the answer (a 400, say) before the
    /// client reads it.
    Lingering,
}

/// How the loop reads an entry's socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reading {
    /// Reading whenever readiness says so.
    Live,
    /// Stopped with readiness not drained (the input was at its cap, or the entry was not open):
    /// edge-triggered readiness will not say so again, so the loop reads again by itself once
    /// there is room.
    Stalled,
    /// The protocol paused reading ([`Cx::pause_reading`](super::Cx::pause_reading));
    /// `stalled` once readiness came meanwhile.
    Paused { stalled: bool },
    /// The peer closed its side: nothing more will be read. `paused` as in `Paused`, so that a
    /// resume still delivers input left unread.
    Eof { paused: bool },
}

impl Reading {
    /// The state after [`Cx::pause_reading`](super::Cx::pause_reading).
    pub(super) fn paused(self) -> Reading {
        match self {
            Reading::Live => Reading::Paused { stalled: false },
            Reading::Stalled => Reading::Paused { stalled: true },
            Reading::Paused { .. } => self,
            Reading::Eof { .. } => Reading::Eof { paused: true },
        }
    }
}

/// How an entry's output reaches its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Writing {
    /// Nothing waits, or what waits has not been handed to the loop yet.
    Idle,
    /// Listed in `Core::dirty` (or in `Core::yielded`, having used its round's budget for file
    /// bodies): written with the round's other output, just before the poll.
    Queued,
    /// The socket took less than was queued: `WRITABLE` interest is on until it drains.
    Blocked,
}

/// How the entry came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// A socketless agent.
    Agent,
    /// A connection we dialled.
    Dialled,
    /// A connection a listener accepted: counts against the connection cap.
    Accepted,
}

pub(super) struct Entry {
    pub(super) generation: u32,
    pub(super) origin: Origin,
    pub(super) socket: Option<TcpStream>,
    pub(super) proto: Option<Session>,
    /// Set by [`Cx::upgrade`](super::Cx::upgrade): replaces `proto` when the current callback
    /// returns.
    pub(super) next_proto: Option<Session>,
    pub(super) input: BytesMut,
    /// Bytes queued for sending, ahead of any file in `files`.
    pub(super) output: BytesMut,
    /// File bodies queued after `output`, each with the bytes queued after it
    /// ([`Cx::send_file`](super::Cx::send_file)): output leaves in the order it was queued.
    pub(super) files: VecDeque<QueuedFile>,
    /// Output bytes the socket has accepted so far (see [`Cx::output_written`](super::Cx::output_written)).
    pub(super) written: u64,
    pub(super) phase: Phase,
    pub(super) reading: Reading,
    pub(super) writing: Writing,
    /// One [`Protocol::on_drained`](super::Protocol::on_drained) is owed once output drains.
    pub(super) notify_drained: bool,
    pub(super) peer: Option<SocketAddr>,
    pub(super) local: Option<SocketAddr>,
    pub(super) read_limit: usize,
    pub(super) deadline: Option<Instant>,
}

impl Entry {
    pub(super) fn new(generation: u32, origin: Origin, proto: Session) -> Entry {
        Entry {
            generation,
            origin,
            socket: None,
            proto: Some(proto),
            next_proto: None,
            input: BytesMut::new(),
            output: BytesMut::new(),
            files: VecDeque::new(),
            written: 0,
            phase: Phase::Open,
            reading: Reading::Live,
            writing: Writing::Idle,
            notify_drained: false,
            peer: None,
            local: None,
            read_limit: DEFAULT_READ_LIMIT,
            deadline: None,
        }
    }

    /// Whether any output (bytes or file) waits to be sent.
    pub(super) fn has_output(&self) -> bool {
        !self.output.is_empty() || !self.files.is_empty()
    }

    /// Bytes waiting to be sent, files included (saturating).
    pub(super) fn pending_output(&self) -> usize {
        self.files.iter().fold(self.output.len(), |sum, file| {
            let body = usize::try_from(file.remaining()).unwrap_or(usize::MAX);
            sum.saturating_add(body).saturating_add(file.then.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Reading;

    #[test]
    fn pausing_keeps_what_readiness_and_eof_said() {
        let check =
            |from: Reading, expected: Reading| assert_eq!(from.paused(), expected, "{from:?}");
        check(Reading::Live, Reading::Paused { stalled: false });
        check(Reading::Stalled, Reading::Paused { stalled: true });
        check(
            Reading::Paused { stalled: true },
            Reading::Paused { stalled: true },
        );
        check(
            Reading::Paused { stalled: false },
            Reading::Paused { stalled: false },
        );
        check(
            Reading::Eof { paused: false },
            Reading::Eof { paused: true },
        );
        check(Reading::Eof { paused: true }, Reading::Eof { paused: true });
    }
}
