//! One exchange on a client connection, as explicit states: where the request body is, where
//! the response is, whether the attempt is committed and whether its retry was used.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_core::{BodyDecoder, BodyKind, Method, Version};
use reactor::AccessLine;
use reactor::Addr;

use super::Target;
use super::flow::{Credit, Flow, Held};
use super::headers::ClientFraming;
use super::upstream::UpstreamConn;

/// The request side of an exchange.
pub(super) enum RequestBody {
    /// Waiting for the upstream to connect before any body byte is taken from the input, so a
    /// failed connect can still be retried elsewhere.
    AwaitingReady,
    /// Body bytes go to the upstream as they arrive; `credit` pauses reading while the upstream
    /// has too much of them unsent.
    Streaming {
        decoder: BodyDecoder,
        credit: Credit,
    },
    Done,
}

impl RequestBody {
    /// Ends a pause for credit; `true` when reading was paused and must be resumed.
    pub(super) fn unpause(&mut self) -> bool {
        match self {
            RequestBody::Streaming { credit, .. } if *credit == Credit::Paused => {
                *credit = Credit::Flowing;
                true
            }
            _ => false,
        }
    }
}

/// Whether the attempt may still be repeated elsewhere as far as the request is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Commit {
    /// No body byte went to the upstream yet.
    Untouched,
    /// A body byte went: no retry any more.
    BodySent,
}

/// Whether the one retry on another upstream after a failed connect is still available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retry {
    Available,
    Used,
}

/// The response side of an exchange.
pub(super) enum ResponseBody {
    AwaitingHead,
    Streaming(ClientFraming),
    Done,
}

pub(super) struct Exchange {
    pub(super) method: Method,
    pub(super) version: Version,
    pub(super) host: String,
    pub(super) path: String,
    pub(super) started: Instant,
    pub(super) keep_alive: bool,
    pub(super) upgrade: bool,
    pub(super) kind: BodyKind,
    pub(super) wire: Bytes,
    pub(super) block: usize,
    pub(super) target: Target,
    /// The upstream the client's sticky cookie named, if the block has one and it did.
    pub(super) wanted: Option<usize>,
    /// The attempt in flight; messages of other attempts are ignored.
    pub(super) seq: u64,
    pub(super) upstream: Option<Addr<UpstreamConn>>,
    pub(super) retry: Retry,
    pub(super) request: RequestBody,
    pub(super) commit: Commit,
    pub(super) up: Arc<Flow>,
    pub(super) response: ResponseBody,
    pub(super) down: Arc<Flow>,
    /// Response credit held while our output is full.
    pub(super) held: Held,
    pub(super) status: u16,
}

/// Logs one finished exchange (the access log, in the reactor's one format).
pub(super) fn log_exchange(ex: &Exchange) {
    AccessLine {
        method: Some(&ex.method),
        host: Some(&ex.host),
        path: Some(&ex.path),
        status: ex.status,
        bytes: None,
        upstream: Some(&ex.target.addr),
        started: Some(ex.started),
    }
    .log();
}
