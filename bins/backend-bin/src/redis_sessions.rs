//! Sessions in Redis (`--sessions redis://HOST:PORT/DB`), so every backend behind a balancing
//! proxy knows every login: a session is one key, `weaprous:session:<id>` → the user name, whose
//! expiry Redis keeps (`PX`), slid forward on each use (`GETEX … PX`), exactly as the in-memory
//! store slides its own. Every call goes through the loop's non-blocking [`Redis`] client and
//! answers its request later ([`Reply::Deferred`]); while Redis is unreachable the request gets a
//! 503 that says so, and the client reconnects by itself.

use std::net::SocketAddr;
use std::time::Duration;

use http_core::{Response, Status};
use reactor::{EventLoop, Reply};
use redis_client::{Error, Pipeline, Redis, Url, Value};
use router::session::SESSION_TTL;

/// Prefix of every session key.
pub const KEY_PREFIX: &str = "weaprous:session:";

/// Sessions kept in one Redis database.
#[derive(Clone)]
pub struct RedisSessions {
    redis: Redis,
    ttl: Duration,
}

/// What a lookup found.
pub type Lookup = Result<Option<String>, Error>;

impl RedisSessions {
    /// A client on `event_loop` for the sessions at `url`, living [`SESSION_TTL`] unused.
    pub fn start(event_loop: &mut EventLoop, url: Url) -> RedisSessions {
        RedisSessions {
            redis: Redis::start(event_loop, url),
            ttl: SESSION_TTL,
        }
    }

    /// The same store with sessions living `ttl` unused.
    pub fn with_ttl(mut self, ttl: Duration) -> RedisSessions {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    fn px(&self) -> String {
        self.ttl.as_millis().to_string()
    }

    /// Finds session `id`'s user, sliding its expiry; an id that cannot be ours is not asked for.
    pub fn get(&self, id: &str, done: impl FnOnce(Lookup) + Send + 'static) {
        if !is_session_id(id) {
            return done(Ok(None));
        }
        let key = format!("{KEY_PREFIX}{id}");
        let pipeline = Pipeline::new().cmd(&["GETEX", &key, "PX", &self.px()]);
        self.redis.call(pipeline, move |replies| {
            done(replies.map(|r| r.first().and_then(Value::as_str).map(str::to_owned)))
        });
    }

    /// Starts a session for `user`; `done` gets its id once Redis holds it.
    pub fn create(&self, user: &str, done: impl FnOnce(Result<String, Error>) + Send + 'static) {
        let id = format!("{:032x}", rand::random::<u128>());
        let key = format!("{KEY_PREFIX}{id}");
        // NX: a 128-bit collision would otherwise hand someone else's session over.
        let pipeline = Pipeline::new().cmd(&["SET", &key, user, "PX", &self.px(), "NX"]);
        let addr = self.redis.url().addr;
        self.redis.call(pipeline, move |replies| {
            done(replies.and_then(|r| match r.first() {
                Some(Value::Simple(ok)) if ok == "OK" => Ok(id),
                other => Err(refused(addr, other)),
            }))
        });
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str, done: impl FnOnce(Result<(), Error>) + Send + 'static) {
        if !is_session_id(id) {
            return done(Ok(()));
        }
        let key = format!("{KEY_PREFIX}{id}");
        self.redis
            .call(Pipeline::new().cmd(&["DEL", &key]), move |replies| {
                done(replies.map(drop))
            });
    }
}

/// The 503 of a request that needed the session store while it was unreachable.
pub fn unavailable(error: &Error) -> Reply {
    log::warn!("session store: {error}");
    Reply::Full(
        Response::text(
            Status::SERVICE_UNAVAILABLE,
            format!("Service Unavailable: the session store is unreachable ({error}); try again shortly\n"),
        )
        .header("Retry-After", "1"),
    )
}

fn refused(addr: SocketAddr, reply: Option<&Value>) -> Error {
    Error::Unavailable {
        addr,
        reason: format!("unexpected reply {reply:?}"),
    }
}

/// 32 hex digits, as [`RedisSessions::create`] makes them.
fn is_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Where sessions live (`--sessions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// In the process (the default).
    Memory,
    /// In this Redis.
    Redis(Url),
}

impl Store {
    /// Parses `memory` or `redis://HOST[:PORT][/DB]`.
    pub fn parse(arg: &str) -> Result<Store, String> {
        match arg {
            "memory" => Ok(Store::Memory),
            url => Url::parse(url).map(Store::Redis),
        }
    }

    /// The Redis URL, if sessions go there.
    pub fn redis(self) -> Option<Url> {
        match self {
            Store::Memory => None,
            Store::Redis(url) => Some(url),
        }
    }
}
