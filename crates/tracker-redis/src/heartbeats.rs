//! Heartbeats gathered over one loop turn and sent to Redis as one script call.
//!
//! A heartbeat is the tracker's commonest request, and the script's fixed cost per call (the
//! `EVALSHA`, the script's set-up, the clock read, the stats counter) was most of what Redis
//! spent on one. So the first heartbeat into an empty queue asks for a call built when the
//! connection writes it ([`Redis::call_built`]); by then every heartbeat that loop turn read is
//! queued, and they go as one `heartbeats` call, which checks and refreshes each peer in turn,
//! atomically as one script, and answers each its own outcome.

use std::sync::{Arc, Mutex, PoisonError};

use redis_client::{Redis, Replies, Value};
use tracker_core::registry::HeartbeatAck;
use tracker_core::{Done, TrackerError};

use crate::PREFIX;
use crate::script::{self, Script};

/// One heartbeat waiting for the next call.
pub(crate) struct Beat {
    pub(crate) peer_id: String,
    /// The SHA-256 hex of the token presented, empty when none.
    pub(crate) token_hash: String,
    pub(crate) done: Done<HeartbeatAck>,
}

/// The heartbeats queued for the call about to be written.
#[derive(Default)]
pub(crate) struct Heartbeats {
    queue: Mutex<Vec<Beat>>,
}

impl Heartbeats {
    fn take(&self) -> Vec<Beat> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Queues `beat`; the first of a turn asks for the call that will carry them all.
    pub(crate) fn push(self: &Arc<Self>, redis: &Redis, script: &Arc<Script>, beat: Beat) {
        let first = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.push(beat);
            queue.len() == 1
        };
        if !first {
            return;
        }
        let (queue, script, redis_again) = (self.clone(), script.clone(), redis.clone());
        redis.call_built(Box::new(move || {
            let beats = queue.take();
            let mut argv = Vec::with_capacity(2 + 2 * beats.len());
            argv.extend(["heartbeats".to_owned(), PREFIX.to_owned()]);
            for beat in &beats {
                argv.extend([beat.peer_id.clone(), beat.token_hash.clone()]);
            }
            let (pipeline, loading) = script.pipeline(&argv);
            let answer = move |replies: Replies| {
                script.answered(&redis_again, argv, loading, replies, move |reply| {
                    answer(beats, reply)
                });
            };
            (pipeline, Box::new(answer))
        }));
    }
}

/// Tells each beat its outcome: the script answers, per beat in order, the peer's TTL, or 0
/// (not registered), -1 (no token), -2 (wrong token).
fn answer(beats: Vec<Beat>, reply: Result<Value, TrackerError>) {
    let codes = reply.and_then(script::answer).and_then(|reply| {
        let codes = match reply.into_iter().next() {
            Some(Value::Array(codes)) if codes.len() == beats.len() => codes,
            _ => {
                log::error!("redis store: unreadable answer to heartbeats");
                return Err(TrackerError::Unavailable(
                    "unreadable answer from redis to heartbeats".to_owned(),
                ));
            }
        };
        Ok(codes)
    });
    let codes = match codes {
        Ok(codes) => codes,
        Err(e) => {
            for beat in beats {
                (beat.done)(Err(e.clone()));
            }
            return;
        }
    };
    for (beat, code) in beats.into_iter().zip(codes) {
        let id = &beat.peer_id;
        let outcome = match code.as_int() {
            Some(ttl) if ttl > 0 => Ok(HeartbeatAck {
                ttl: u32::try_from(ttl).unwrap_or(u32::MAX),
            }),
            Some(0) => Err(TrackerError::NotFound(format!(
                "peer {id} is not registered"
            ))),
            Some(-1) => Err(TrackerError::Forbidden(format!(
                "missing token for peer {id}"
            ))),
            Some(-2) => Err(TrackerError::Forbidden(format!(
                "wrong token for peer {id}"
            ))),
            _ => Err(TrackerError::Unavailable(
                "unreadable answer from redis to heartbeats".to_owned(),
            )),
        };
        (beat.done)(outcome);
    }
}
