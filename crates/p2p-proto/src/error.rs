//! The error type of the p2p crate: invalid input from the local user or the disk.

use crate::frame::FrameError;

/// What went wrong in a p2p operation; frames from peers never surface here (a bad frame
/// closes its link instead), only the local user's requests and the store do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A peer id, name, channel name or text broke a rule of [`crate::message`].
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field was wrong.
        field: &'static str,
        /// Why, for the user.
        reason: String,
    },
    /// A message's id is not `<from>/<channel>/<seq>`.
    #[error("message id {got:?} should be {expected:?}")]
    IdMismatch {
        /// The id the message carried.
        got: String,
        /// The id its fields call for.
        expected: String,
    },
    /// The text is longer than [`crate::message::MAX_TEXT_LEN`].
    #[error("text is {len} bytes, more than {max}")]
    TextTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Posting to, or reading, a channel this peer has not joined.
    #[error("not a member of channel {0}")]
    NotJoined(String),
    /// A direct message addressed to its own sender.
    #[error("cannot send a direct message to oneself")]
    DirectToSelf,
    /// No linked peer and no member of a joined channel has this id or name.
    #[error("no peer named {0:?}: see /peers for who is linked")]
    UnknownPeer(String),
    /// More than one linked peer has this name.
    #[error("{name:?} is ambiguous: it names {}; use a peer id", ids.join(", "))]
    AmbiguousPeer {
        /// The name given.
        name: String,
        /// The peer ids it names.
        ids: Vec<String>,
    },
    /// The peer is known (a channel member, or an earlier conversation) but no link to it is
    /// open, so a message would not arrive now.
    #[error("peer {0} is not reachable: no open link to it")]
    Unreachable(String),
    /// The peer's port could not be bound (in use, not permitted, no such address).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The data directory (or a file in it) could not be opened.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading or appending `messages.jsonl` failed.
    #[error("message store: {0}")]
    Io(#[from] std::io::Error),
    /// A frame could not be decoded.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The HTTP face's routes were refused (a bug in the peer): the router's own error, kept
    /// whole (this crate knows no router), naming every refused route.
    #[error("HTTP routes: {0}")]
    Routes(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
