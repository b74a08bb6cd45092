//! The store's one Lua script: loaded once per Redis (`SCRIPT LOAD`) and then called by its
//! SHA-1 (`EVALSHA`), so a heartbeat sends a few dozen bytes, not the script; after a Redis
//! restart (`NOSCRIPT`) the call is repeated with the script itself, which loads it again.

use std::sync::{Arc, Mutex, PoisonError};

use redis_client::{Pipeline, Redis, Replies, Value};
use tracker_core::TrackerError;

pub(crate) struct Script {
    body: &'static str,
    sha: Mutex<Option<String>>,
}

impl Script {
    pub(crate) fn new(body: &'static str) -> Script {
        Script {
            body,
            sha: Mutex::new(None),
        }
    }

    fn sha(&self) -> Option<String> {
        self.sha
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn learn(&self, sha: Option<String>) {
        *self.sha.lock().unwrap_or_else(PoisonError::into_inner) = sha;
    }

    /// Runs the script with `argv`; `done` gets its reply, or why there is none.
    pub(crate) fn call(
        self: &Arc<Self>,
        redis: &Redis,
        argv: Vec<String>,
        done: impl FnOnce(Result<Value, TrackerError>) + Send + 'static,
    ) {
        let (pipeline, loading) = self.pipeline(&argv);
        let (script, redis_again) = (self.clone(), redis.clone());
        redis.call(pipeline, move |replies| {
            script.answered(&redis_again, argv, loading, replies, done);
        });
    }

    /// The pipeline that runs the script with `argv`: by its SHA-1 once known, else loading it
    /// and running it in one round trip (the replies come in order). The flag says which.
    pub(crate) fn pipeline(&self, argv: &[String]) -> (Pipeline, bool) {
        match self.sha() {
            Some(sha) => (evalsha(&sha, argv), false),
            None => {
                let load = Pipeline::new().cmd(&["SCRIPT", "LOAD", self.body]);
                (eval(load, self.body, argv), true)
            }
        }
    }

    /// Hands the replies of [`Script::pipeline`]`(argv)` to `done`: learns the SHA-1 of a
    /// load, and runs `argv` again, loading the script, when Redis forgot it (`NOSCRIPT`).
    pub(crate) fn answered(
        self: &Arc<Self>,
        redis: &Redis,
        argv: Vec<String>,
        loading: bool,
        replies: Replies,
        done: impl FnOnce(Result<Value, TrackerError>) + Send + 'static,
    ) {
        let replies = match replies {
            Ok(r) => r,
            Err(e) => return done(Err(TrackerError::Unavailable(e.to_string()))),
        };
        let mut it = replies.into_iter();
        if loading && let Some(Value::Bulk(sha)) = it.next() {
            self.learn(String::from_utf8(sha).ok());
        }
        match it.next() {
            Some(Value::Error(e)) if !loading && e.starts_with("NOSCRIPT") => {
                self.learn(None);
                self.call(redis, argv, done);
            }
            Some(reply) => done(Ok(reply)),
            None => done(Err(TrackerError::Unavailable(
                "no reply to the store script".to_owned(),
            ))),
        }
    }
}

fn evalsha(sha: &str, argv: &[String]) -> Pipeline {
    let mut args: Vec<&str> = vec!["EVALSHA", sha, "0"];
    args.extend(argv.iter().map(String::as_str));
    Pipeline::new().cmd(&args)
}

fn eval(pipeline: Pipeline, body: &str, argv: &[String]) -> Pipeline {
    let mut args: Vec<&str> = vec!["EVAL", body, "0"];
    args.extend(argv.iter().map(String::as_str));
    pipeline.cmd(&args)
}

/// The script's answer: `{'ok', ...}` gives the rest, `{'err', code, message}` its error.
pub(crate) fn answer(reply: Value) -> Result<Vec<Value>, TrackerError> {
    let items = match reply {
        Value::Array(items) => items,
        Value::Error(e) => {
            log::error!("redis store script failed: {e}");
            return Err(TrackerError::Unavailable(format!("redis refused: {e}")));
        }
        other => {
            log::error!("redis store script answered {other:?}");
            return Err(TrackerError::Unavailable(
                "unreadable answer from redis".into(),
            ));
        }
    };
    let mut it = items.into_iter();
    match it.next().as_ref().and_then(Value::as_str) {
        Some("ok") => Ok(it.collect()),
        Some("err") => {
            let code = it.next().and_then(|v| v.as_str().map(str::to_owned));
            let message = it
                .next()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            Err(match code.as_deref() {
                Some("400") => TrackerError::BadRequest(message),
                Some("403") => TrackerError::Forbidden(message),
                Some("404") => TrackerError::NotFound(message),
                Some("409") => TrackerError::Conflict(message),
                Some("full") => TrackerError::Full,
                _ => TrackerError::Unavailable(format!("store script error: {message}")),
            })
        }
        _ => Err(TrackerError::Unavailable(
            "unreadable answer from redis".into(),
        )),
    }
}
