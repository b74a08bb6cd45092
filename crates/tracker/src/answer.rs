//! Answering from a [`Store`](tracker_core::Store) that may answer now or later: the memory
//! store calls back before the handler returns, so the reply goes out at once as before; a
//! shared store calls back from its connection, and the reply goes out through the request's
//! responder then.

use std::sync::{Arc, Mutex, PoisonError};

use http_core::{Response, Status};
use reactor::{Reply, Responder};
use router::{HttpError, Req};
use tracker_core::{Done, TrackerError};

/// Where a store's answer goes.
enum Slot {
    /// The handler is still running and has not heard back.
    Waiting,
    /// Heard back while the handler was running.
    Ready(Response),
    /// The handler returned [`Reply::Deferred`]; the answer goes here.
    Deferred(Responder),
    /// Answered.
    Done,
}

/// A store error as the client sees it: its status and `{"error": message}`.
pub(crate) fn error_response(e: &TrackerError) -> Response {
    HttpError::new(Status(e.status()), e.to_string()).into_response()
}

/// Runs `op` with a callback that turns its outcome into a response with `respond`, and
/// answers with it: now if the store answered during `op`, later otherwise.
pub(crate) fn ask<T: 'static>(
    req: &Req,
    op: impl FnOnce(Done<T>),
    respond: impl FnOnce(T) -> Response + Send + 'static,
) -> Reply {
    let slot = Arc::new(Mutex::new(Slot::Waiting));
    let heard = slot.clone();
    op(Box::new(move |outcome| {
        let response = match outcome {
            Ok(value) => respond(value),
            Err(e) => error_response(&e),
        };
        let mut slot = heard.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *slot, Slot::Done) {
            Slot::Waiting => *slot = Slot::Ready(response),
            Slot::Deferred(responder) => responder.respond(response),
            Slot::Ready(_) | Slot::Done => {}
        }
    }));
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    match std::mem::replace(&mut *slot, Slot::Done) {
        Slot::Ready(response) => Reply::Full(response),
        Slot::Waiting => {
            *slot = Slot::Deferred(req.info().responder());
            Reply::Deferred
        }
        // The callback cannot have answered a responder it has not been given yet.
        Slot::Deferred(_) | Slot::Done => Reply::Full(error_response(&TrackerError::Unavailable(
            "no answer".into(),
        ))),
    }
}
