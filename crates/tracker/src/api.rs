//! The tracker's HTTP API (SPEC §5 and §8) as router routes over one shared [`Registry`].
//!
//! Each handler decodes its body into a parameter type of the registry, calls one registry
//! method with the current time, and answers JSON: objects carry `"status":"ok"`, lists are bare
//! arrays, and a [`TrackerError`] becomes its status with `{"error": message}`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http_core::{Method, Response, Status};
use reactor::Reply;
use router::auth::Credentials as Admins;
use router::{App, HttpError, Req, json_response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{ChunkParams, JoinParams, LeaveParams, PublishParams};
use tracker_core::TrackerError;
use tracker_core::dialect::{self, PeerRef};
use tracker_core::identity;
use tracker_core::paging::{Page, PageQuery, Paged};
use tracker_core::rate::{RegisterLimiter, RegisterRate};
use tracker_core::registry::{
    Config, Credentials, HeartbeatBatch, ListQuery, RegisterParams, Registry, Stats, UpdateParams,
};
use tracker_core::{Done, Expired, MemoryStore, Registered, Store, StoreHealth};

/// The tracker as its HTTP layer, console and sweep timer share it: the registry behind a mutex
/// (uncontended: every user runs on the loop thread except the console), the clock it is read
/// with, and counters. Cloning is cheap and shares the state.
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where peers, channels and files live.
    store: Arc<dyn Store>,
    /// This process's own registry: the store itself by default; with a shared store, unused
    /// by the API (the console and the memory release read it).
    memory: Arc<MemoryStore>,
    /// Whether `store` is `memory` (asked once: a shared store's health formats its address).
    local: bool,
    /// The identity rules of the tracker's configuration.
    identity: identity::Rules,
    started: Instant,
    requests: AtomicU64,
    admins: Admins,
    /// Registrations per source address: this process's own, asked before the store.
    limiter: Mutex<RegisterLimiter>,
}

/// Answer of `GET /status` and `GET /tracker/stats`: the registry's counts plus uptime and
/// requests served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatusView {
    /// Registry counts.
    #[serde(flatten)]
    pub stats: Stats,
    /// Whole seconds since the tracker started.
    pub uptime_s: u64,
    /// HTTP requests routed since start.
    pub requests: u64,
}

impl Tracker {
    /// A tracker with an empty in-memory registry; `admins` may log in at `POST /login`.
    pub fn new(config: Config, admins: Admins) -> Tracker {
        let identity = config.identity.clone();
        let memory = Arc::new(MemoryStore::new(Registry::new(config)));
        Tracker::build(memory.clone(), memory, identity, admins)
    }

    /// A tracker whose state lives in `store`, shared with other trackers (e.g. Redis), with
    /// the identity rules of its configuration (the ones the HTTP layer applies itself, such as
    /// the trusted proxy, come from here whatever the store).
    pub fn with_store(store: Arc<dyn Store>, identity: identity::Rules, admins: Admins) -> Tracker {
        Tracker::build(store, Arc::new(MemoryStore::default()), identity, admins)
    }

    fn build(
        store: Arc<dyn Store>,
        memory: Arc<MemoryStore>,
        identity: identity::Rules,
        admins: Admins,
    ) -> Tracker {
        Tracker {
            inner: Arc::new(Inner {
                identity,
                local: store.health().kind == "memory",
                store,
                memory,
                started: Instant::now(),
                requests: AtomicU64::new(0),
                admins,
                limiter: Mutex::new(RegisterLimiter::default()),
            }),
        }
    }

    /// The store, for the sweep timer and for health pages.
    pub fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    /// Whether the state lives in this process (the console shows only such a tracker).
    pub fn is_local(&self) -> bool {
        self.inner.local
    }

    /// HTTP requests routed since start.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Runs a store operation for `req` and answers with `respond` of its outcome.
    fn ask<T: 'static>(
        &self,
        req: &Req,
        op: impl FnOnce(&dyn Store, u64, Done<T>),
        respond: impl FnOnce(T) -> Response + Send + 'static,
    ) -> Reply {
        let now = self.now();
        crate::answer::ask(req, |done| op(&*self.inner.store, now, done), respond)
    }

    /// Charges one registration attempt to its `source` address; over the [`RegisterRate`]
    /// → 429 ([`TrackerError::TooManyRequests`]). Asked before the store, so a refused
    /// registration never reaches it; each tracker process limits on its own.
    pub fn admit_registration(&self, source: IpAddr) -> Result<(), TrackerError> {
        let now = self.now();
        self.limiter().admit(source, now)
    }

    /// Sets the registration rate per source address; `None` lifts the limit. The default is
    /// [`RegisterRate::default`].
    pub fn set_register_rate(&self, rate: Option<RegisterRate>) {
        *self.limiter() = RegisterLimiter::new(rate);
    }

    /// The registration rate per source address, if limited.
    pub fn register_rate(&self) -> Option<RegisterRate> {
        self.limiter().rate()
    }

    fn limiter(&self) -> MutexGuard<'_, RegisterLimiter> {
        // A limiter left midway by a panic is still a usable set of buckets.
        self.inner
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Milliseconds since the tracker started: the `now` every registry call takes.
    pub fn now(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Time since the tracker started.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Runs `f` on this process's registry with the current time (the whole state with the
    /// memory store; an unused, empty one with a shared store).
    pub fn with<R>(&self, f: impl FnOnce(&mut Registry, u64) -> R) -> R {
        let now = self.now();
        f(&mut self.inner.memory.lock(), now)
    }

    /// Expires due peers now and answers how many, with the first few ids, to `done` (the sweep
    /// timer calls this).
    pub fn sweep(&self, done: Done<Expired>) {
        self.inner.store.sweep(self.now(), done);
    }

    /// Counts, uptime and requests served, of this process's registry (see [`Tracker::with`]).
    pub fn status(&self) -> StatusView {
        StatusView {
            stats: self.with(|reg, now| reg.stats(now)),
            uptime_s: self.uptime().as_secs(),
            requests: self.requests(),
        }
    }
}

/// Every route of SPEC §5 and §8 on a new [`App`] over `tracker` (a route refused by the table
/// is reported when the app is served, with any other).
pub fn app(tracker: &Tracker) -> App<Tracker> {
    let mut app = App::with_state(tracker.clone());
    app.before(|t: &Tracker, _req: &Req| {
        t.inner.requests.fetch_add(1, Ordering::Relaxed);
        None
    });
    let post = &[Method::Post];
    let get = &[Method::Get];
    let both = &[Method::Get, Method::Post];

    add(
        &mut app,
        &["/submit-info", "/submit_info", "/tracker/register"],
        &[Method::Post, Method::Put],
        submit_info,
    );
    add(
        &mut app,
        &["/get-list", "/list", "/tracker/peers"],
        both,
        get_list,
    );
    add(
        &mut app,
        &["/add-list", "/tracker/channels/join"],
        post,
        |t, req| {
            let checked = |params: &JoinParams| require("channel", &params.channel);
            on_peer(t, req, checked, <dyn Store>::join, None, |j| ok(&j))
        },
    );
    add(&mut app, &["/tracker/channels/leave"], post, |t, req| {
        let leave = <dyn Store>::leave;
        on_peer(
            t,
            req,
            |_: &LeaveParams| Ok(()),
            leave,
            None,
            |()| ok(&Empty {}),
        )
    });
    add(&mut app, &["/channels"], get, |t, req| {
        let page = query::<PageQuery>(req)?.page()?;
        let asked = page.clone();
        Ok(t.ask(
            req,
            |s, now, done| s.channels(asked, now, done),
            move |c| paged_array("/channels", &page, c),
        ))
    });
    add(
        &mut app,
        &["/heartbeat", "/tracker/heartbeat"],
        post,
        |t, req| {
            let heartbeat = <dyn Store>::heartbeat;
            on_peer(
                t,
                req,
                |_: &Credentials| Ok(()),
                heartbeat,
                None,
                |a| ok(&a),
            )
        },
    );
    add(&mut app, &["/tracker/heartbeat_batch"], post, |t, req| {
        let batch = heartbeat_batch(t, req)?;
        Ok(t.ask(
            req,
            |s, now, done| s.heartbeat_batch(batch, now, done),
            |b| ok(&b),
        ))
    });
    add(&mut app, &["/tracker/update"], post, |t, req| {
        let update = <dyn Store>::update;
        on_peer(t, req, |_: &UpdateParams| Ok(()), update, None, |p| ok(&p))
    });
    let removes = ["/remove", "/tracker/peer/remove", "/leave"];
    add(&mut app, &removes, post, |t, req| {
        // Already gone: removing is idempotent.
        let remove = <dyn Store>::remove;
        on_peer(
            t,
            req,
            |_: &Credentials| Ok(()),
            remove,
            Some(()),
            |()| ok(&Empty {}),
        )
    });
    add(&mut app, &["/connect-peer"], post, |t, req| {
        let params: ConnectParams = router::dialect::body(req)?;
        if params.target.trim().is_empty() {
            let spellings = router::dialect::accepted("target");
            let error = format!("target is required (spelled {spellings})");
            return Err(HttpError::bad_request(error).into());
        }
        let target = params.target;
        Ok(t.ask(req, |s, now, done| s.lookup(target, now, done), |a| ok(&a)))
    });
    add(&mut app, &["/status", "/tracker/stats"], get, |t, req| {
        let (uptime_s, requests) = (t.uptime().as_secs(), t.requests());
        Ok(t.ask(
            req,
            |s, now, done| s.stats(now, done),
            move |stats| {
                ok(&StatusView {
                    stats,
                    uptime_s,
                    requests,
                })
            },
        ))
    });
    add(&mut app, &["/tracker/health"], get, |t, _req| {
        let store = t.inner.store.health();
        let health = Health {
            ok: store.ok,
            uptime_s: t.uptime().as_secs(),
            store,
        };
        let status = if health.ok {
            Status::OK
        } else {
            Status::SERVICE_UNAVAILABLE
        };
        Ok(json_response(status, &health).into())
    });
    add(&mut app, &["/login"], post, login);
    crate::dashboard::routes(&mut app);

    add(&mut app, &["/files"], get, |t, req| {
        let page = query::<PageQuery>(req)?.page()?;
        let asked = page.clone();
        Ok(t.ask(
            req,
            |s, now, done| s.files(asked, now, done),
            move |f| paged_array("/files", &page, f),
        ))
    });
    add(&mut app, &["/files/publish"], post, |t, req| {
        let params: PublishParams = body(req)?;
        require("peer_id", &params.peer_id)?;
        Ok(t.ask(req, |s, now, done| s.publish(params, now, done), |p| ok(&p)))
    });
    add(&mut app, &["/files/:id"], get, |t, req| {
        let id = param(req, "id")?;
        Ok(t.ask(req, |s, now, done| s.file(id, now, done), |f| ok(&f)))
    });
    add(&mut app, &["/files/:id/chunks"], post, |t, req| {
        let id = param(req, "id")?;
        let params: ChunkParams = body(req)?;
        require("peer_id", &params.peer_id)?;
        Ok(t.ask(
            req,
            |s, now, done| s.add_chunks(id, params, now, done),
            |c| ok(&c),
        ))
    });
    add(&mut app, &["/peers/:peer_id/files"], get, |t, req| {
        let id = param(req, "peer_id")?;
        Ok(t.ask(
            req,
            |s, now, done| s.peer_files(id, now, done),
            |f| list(&f),
        ))
    });
    app
}

/// What a tracker handler returns.
type Answer = Result<Reply, ApiError>;

/// The error of a handler: either the registry refused, or the HTTP input was unusable.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl ApiError {
    /// `{"error": message}` with the status; a 429 also says when to retry, in `Retry-After`
    /// and as `"retry_after"` (seconds).
    fn into_response(self) -> Response {
        match self {
            ApiError::Tracker(e) => match e.retry_after_s() {
                Some(seconds) => {
                    #[derive(Serialize)]
                    struct Limited {
                        error: String,
                        retry_after: u64,
                    }
                    let body = Limited {
                        error: e.to_string(),
                        retry_after: seconds,
                    };
                    let mut response = json_response(Status(e.status()), &body);
                    response.headers.insert("Retry-After", seconds.to_string());
                    response
                }
                None => HttpError::new(Status(e.status()), e.to_string()).into_response(),
            },
            ApiError::Http(e) => e.into_response(),
        }
    }
}

/// Adds `handler` under every alias in `patterns`, for each of `methods`.
fn add(
    app: &mut App<Tracker>,
    patterns: &[&str],
    methods: &[Method],
    handler: fn(&Tracker, &Req) -> Answer,
) {
    for pattern in patterns {
        app.route(pattern, methods, move |t: &Tracker, req: &Req| {
            handler(t, req).unwrap_or_else(|e| e.into_response().into())
        });
    }
}

/// `{"status":"ok", ...fields of value}`.
fn ok<T: Serialize>(value: &T) -> Response {
    #[derive(Serialize)]
    struct Ok<'a, T> {
        status: &'static str,
        #[serde(flatten)]
        value: &'a T,
    }
    json_response(
        Status::OK,
        &Ok {
            status: "ok",
            value,
        },
    )
}

/// A bare JSON array.
fn list<T: Serialize>(items: &[T]) -> Response {
    json_response(Status::OK, items)
}

/// One page of `path` as a bare array, the course's shape; when there may be more, the cursor
/// travels in a header: `Link: <path?limit=N&after=KEY>; rel="next"` (keys need no escaping:
/// file ids are hex, channel names `[A-Za-z0-9._-]`).
fn paged_array<T: Serialize>(path: &str, page: &Page, paged: Paged<T>) -> Response {
    let mut response = list(&paged.items);
    if let Some(next) = paged.next {
        let link = format!("<{path}?limit={}&after={next}>; rel=\"next\"", page.limit());
        response.headers.insert("Link", link);
    }
    response
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Health {
    ok: bool,
    uptime_s: u64,
    store: StoreHealth,
}

/// Body of `POST /connect-peer`: the target's id or unique name (the asking peer, which
/// course clients also send, is not needed to answer).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ConnectParams {
    target: String,
}

/// A call on one peer's record, its body read in any of the course's spellings: the peer it
/// names (`peer_id`, `ip` + `port`, or a unique `username`/`name`) is resolved to its id and
/// `token` set to what proves the call (the one presented, or, for a token-less call from the
/// peer's registered address, the store's own, per [`Store::credential`]); then `op` runs with
/// the body as `T`, which `check` saw first. A peer that is gone answers `gone` when given
/// (removing is idempotent).
fn on_peer<T, R>(
    t: &Tracker,
    req: &Req,
    check: impl FnOnce(&T) -> Result<(), HttpError>,
    op: fn(&(dyn Store + 'static), T, u64, Done<R>),
    gone: Option<R>,
    respond: impl FnOnce(R) -> Response + Send + 'static,
) -> Answer
where
    T: DeserializeOwned + 'static,
    R: Send + 'static,
{
    let mut fields = req.fields()?;
    router::dialect::canonicalize(&mut fields);
    dialect::flatten_load(&mut fields);
    let named = PeerRef::of(&fields)?;
    let token = dialect::text(&fields, "token")?;
    // The body is checked before the store is asked; the resolved id and token go in after.
    check(&decode::<T>(Value::Object(fields.clone()))?)?;
    let source = source_ip(t, req);
    let store = t.inner.store.clone();
    Ok(t.ask(
        req,
        move |s, now, done: Done<R>| {
            let then = move |found: Result<Credentials, TrackerError>| {
                let creds = match (found, gone) {
                    (Ok(creds), _) => creds,
                    (Err(TrackerError::NotFound(_)), Some(gone)) => return done(Ok(gone)),
                    (Err(e), _) => return done(Err(e)),
                };
                fields.insert("peer_id".to_owned(), creds.peer_id.into());
                fields.insert("token".to_owned(), creds.token.into());
                match decode::<T>(Value::Object(fields)) {
                    Ok(params) => op(&*store, params, now, done),
                    Err(e) => done(Err(TrackerError::BadRequest(e.to_string()))),
                }
            };
            s.credential(named, token, source, now, Box::new(then));
        },
        respond,
    ))
}

/// The source address of `req` by the tracker's identity rules (a trusted proxy's
/// `X-Forwarded-For` resolved).
fn source_ip(t: &Tracker, req: &Req) -> IpAddr {
    let xff = req.header("X-Forwarded-For");
    identity::source_of(req.peer().ip(), xff, t.inner.identity.trusted_proxy)
}

/// The body of `/tracker/heartbeat_batch`, with `load` as a number or an object, peers as
/// `{peer_id, token}` objects or bare ids, and each token-less entry proven by its registered address where it can be (others stay token-less
/// and come back as `forbidden`).
fn heartbeat_batch(t: &Tracker, req: &Req) -> Result<HeartbeatBatch, ApiError> {
    let mut fields = req.fields()?;
    dialect::flatten_load(&mut fields);
    let source = source_ip(t, req);
    if let Some(Value::Array(peers)) = fields.get_mut("peers") {
        for entry in peers.iter_mut() {
            // A bare id is a token-less entry.
            if let Value::String(id) = entry {
                *entry = serde_json::json!({ "peer_id": id });
            }
        }
        if t.is_local() {
            t.with(|reg, now| {
                for entry in peers.iter_mut().filter_map(Value::as_object_mut) {
                    let id = entry.get("peer_id").and_then(Value::as_str);
                    if let (Some(id), Ok(None)) = (id, dialect::text(entry, "token"))
                        && let Ok(token) = reg.credential(id, None, source, now)
                    {
                        entry.insert("token".to_owned(), token.into());
                    }
                }
            });
        }
    }
    let mut batch: HeartbeatBatch = decode(Value::Object(fields))?;
    batch.source = Some(source);
    Ok(batch)
}

fn require(field: &str, value: &str) -> Result<(), HttpError> {
    if value.trim().is_empty() {
        Err(HttpError::bad_request(format!("{field} is required")))
    } else {
        Ok(())
    }
}

fn param(req: &Req, name: &str) -> Result<String, HttpError> {
    req.param(name)
        .ok_or_else(|| HttpError::bad_request(format!("bad {name} in path")))
}

/// The body as `T`: JSON whatever its Content-Type (an empty body counts as `{}`), or form
/// fields as strings.
fn body<T: DeserializeOwned>(req: &Req) -> Result<T, HttpError> {
    decode(Value::Object(req.fields()?))
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, HttpError> {
    serde_json::from_value(value).map_err(|e| HttpError::bad_request(format!("invalid field: {e}")))
}

/// `POST /submit-info`: JSON or the course's form, with its field names accepted as aliases.
/// Every attempt is charged to the source address first, so malformed ones are limited too.
fn submit_info(t: &Tracker, req: &Req) -> Answer {
    let source = source_ip(t, req);
    t.admit_registration(source)?;
    let (mut fields, from_form) = if req.is_json() {
        match req.json::<Value>()? {
            Value::Object(map) => (map, false),
            _ => return Err(HttpError::bad_request("expected a JSON object").into()),
        }
    } else {
        (req.form_fields(), true)
    };
    for (course, ours) in [
        ("peer_port", "port"),
        ("peer_ip", "ip"),
        ("username", "name"),
    ] {
        if let Some(v) = fields.remove(course) {
            fields.entry(ours).or_insert(v);
        }
    }
    if fields.get("port").is_none_or(Value::is_null) {
        return Err(HttpError::bad_request("port is required").into());
    }
    if from_form {
        coerce_form(&mut fields)?;
    }
    let mut params: RegisterParams = decode(Value::Object(fields))?;
    if let Some(proof) = &params.key_proof
        && !tracker_core::identity::fresh(proof, wall_ms())
    {
        log::info!("{source}: key_proof signed too far from our clock; ignored");
        params.key_proof = None;
    }
    #[derive(Serialize)]
    struct Registration {
        #[serde(flatten)]
        registered: Registered,
        /// What the peer's connection came from, so a peer on a wildcard address learns how
        /// others see it.
        observed_ip: IpAddr,
    }
    Ok(t.ask(
        req,
        |s, now, done| s.register(params, source, now, done),
        move |registered| {
            ok(&Registration {
                registered,
                observed_ip: source,
            })
        },
    ))
}

/// The wall clock in ms since the Unix epoch, for the freshness of signed registrations.
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Form values are strings: numbers become numbers and lists are split at commas, so a form
/// means what the same JSON would.
fn coerce_form(fields: &mut Map<String, Value>) -> Result<(), HttpError> {
    for name in ["port", "ttl"] {
        if let Some(Value::String(s)) = fields.get(name) {
            let n: u32 = s.trim().parse().map_err(|_| {
                HttpError::bad_request(format!("{name} must be a whole number, got {s:?}"))
            })?;
            fields.insert(name.to_owned(), n.into());
        }
    }
    for name in ["channels", "roles"] {
        if let Some(Value::String(s)) = fields.get(name) {
            let items: Vec<Value> = s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect();
            fields.insert(name.to_owned(), Value::Array(items));
        }
    }
    Ok(())
}

/// The query string's parameters as `T` (all values are strings).
fn query<T: DeserializeOwned>(req: &Req) -> Result<T, HttpError> {
    let pairs = req
        .query_pairs()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    decode(Value::Object(pairs))
}

/// `GET`/`POST /get-list`: the filter and page from the query, or from the body of a POST;
/// one page of peers, with `next` when there are more.
fn get_list(t: &Tracker, req: &Req) -> Answer {
    let mut fields = if *req.method() == Method::Post && !req.body().is_empty() {
        req.fields()?
    } else {
        req.query_pairs()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    };
    router::dialect::canonicalize(&mut fields);
    let filter: ListQuery = decode(Value::Object(fields.clone()))?;
    let page: PageQuery = decode(Value::Object(fields))?;
    let page = page.page()?;
    #[derive(Serialize)]
    struct Listed<'a, T> {
        count: usize,
        peers: &'a [T],
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    }
    Ok(t.ask(
        req,
        |s, now, done| s.list(filter, page, now, done),
        |peers| {
            ok(&Listed {
                count: peers.items.len(),
                peers: &peers.items,
                next: peers.next,
            })
        },
    ))
}

/// `POST /login`: a session cookie for the UI's admin pages, as backend-bin gives.
fn login(t: &Tracker, req: &Req) -> Answer {
    let check = |user: &str, password: &str| {
        t.inner
            .admins
            .check(user, password)
            .then(|| user.to_owned())
    };
    let Some(session) = router::auth::login(req, check)? else {
        return Err(HttpError::unauthorized("wrong username or password").into());
    };
    let sid = req.sessions().cookie(&session);
    let user = session.user.as_str();
    #[derive(Serialize)]
    struct LoggedIn<'a> {
        user: &'a str,
    }
    let mut response = ok(&LoggedIn { user });
    response.headers.append("Set-Cookie", sid.to_string());
    response.headers.insert("Cache-Control", "no-store");
    Ok(response.into())
}
