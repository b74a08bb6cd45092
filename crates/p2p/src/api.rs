//! The peer's HTTP API (SPEC §6) as router routes over a [`Node`].
//!
//! Open to other peers: `GET /p2p/link` (the link upgrade), `POST /connect-peer`,
//! `/broadcast-peer`, `/send-peer`, `GET /p2p/whoami`, `/p2p/ping`. Everything under `/api/`,
//! `GET /events`, `POST /p2p/msg` and `/p2p/inbox*` belong to the local user and need a session
//! (opened by `GET /?token=T` or `POST /login`) or `Authorization: Bearer T`; without one they
//! answer 401 `{"error": …}`. Handlers never block: a join, which needs the tracker, answers
//! through a [`Responder`](reactor::Responder) when the tracker has.

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::OnceLock;

use http_core::secret::ct_eq;
use http_core::{Request, Response, Status};
use reactor::{Reply, RequestInfo, Service};
use router::auth::{Credentials, bearer_token};
use router::statics::Served;
use router::{App, HttpError, Json, Req, StaticDir, json_response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::driver::link::{LinkConn, UPGRADE_TOKEN};
use crate::driver::{JoinError, Node};
use crate::error::Error;
use crate::message::dm_channel;

/// Messages per page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 50;
/// Largest page.
pub const MAX_PAGE: usize = 500;

/// The app, set once the peer's identity is known (after the port is bound). Until then (the
/// loop is not running, so never in practice) requests get a 503.
#[derive(Default)]
pub struct AppSlot(OnceLock<App<Site>>);

impl AppSlot {
    /// Installs the app; a second call is ignored.
    pub fn set(&self, app: App<Site>) {
        let _ = self.0.set(app);
    }
}

impl Service for AppSlot {
    fn call(&self, req: Request, info: &RequestInfo) -> Reply {
        match self.0.get() {
            Some(app) => app.call(req, info),
            None => Reply::Full(Response::text(Status::SERVICE_UNAVAILABLE, "starting up\n")),
        }
    }
}

/// The state every route and hook of the peer's app is given: the running peer, the local
/// user's token and accounts, and the web UI's index.
pub struct Site {
    pub(crate) node: Node,
    token: String,
    users: Credentials,
    index: Option<StaticDir>,
}

impl Site {
    fn bearer(&self, req: &Req) -> bool {
        bearer_token(req).is_some_and(|t| ct_eq(t.as_bytes(), self.token.as_bytes()))
    }

    fn authorized(&self, req: &Req) -> bool {
        req.session().is_some() || self.bearer(req)
    }

    /// The refusal of a request that rides on the session cookie from another site.
    fn refuse_cross_site(&self, req: &Req) -> Option<Response> {
        // Only a request riding on the cookie can be forged by another site: a bearer token is
        // never added by a browser, and without either the request gets a 401 anyway.
        if self.bearer(req) || req.session().is_none() {
            return None;
        }
        let why = crate::guard::cross_site(req)?;
        log::warn!(
            "{} {} from {}: {why}",
            req.method().as_str(),
            req.path(),
            req.peer()
        );
        Some(HttpError::forbidden(why).into_response())
    }

    fn session_cookie(&self, req: &Req) -> String {
        let session = req.sessions().create(self.node.name());
        req.sessions().cookie(&session).to_string()
    }

    fn index(&self, req: &Req) -> Response {
        if let Some(token) = req.query("token") {
            if !ct_eq(token.as_bytes(), self.token.as_bytes()) {
                return crate::stale::page(&self.node, !self.users.is_empty());
            }
            let cookie = self.session_cookie(req);
            return Response::new(Status::SEE_OTHER)
                .header("Location", "/")
                .header("Set-Cookie", cookie)
                .header("Cache-Control", "no-store");
        }
        if let Some(dir) = &self.index
            && let Served::Found(Reply::Full(response)) = dir.serve("/", req.headers())
        {
            return response;
        }
        Response::with_body(
            Status::OK,
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><title>{0}</title><p>Peer {0} ({1}). The web UI is not installed; use the API under /api/.</p>\n",
                html_escape(self.node.name()),
                html_escape(self.node.peer_id())
            ),
        )
    }

    fn login(&self, req: &Req) -> Response {
        // A username means a `--user` account; without one, the token (in `token`, or in
        // `password` as the course's clients send it).
        let refusal = Cell::new("wrong token");
        let check = |user: &str, given: &str| {
            if user.is_empty() {
                return ct_eq(given.as_bytes(), self.token.as_bytes())
                    .then(|| self.node.name().to_owned());
            }
            if self.users.is_empty() {
                refusal.set(
                    "this peer has no user accounts (start it with --user NAME:PASSWORD); \
                     open it with its token instead",
                );
                return None;
            }
            refusal.set("wrong username or password");
            self.users.check(user, given).then(|| user.to_owned())
        };
        let session = match router::auth::login(req, check) {
            Ok(Some(session)) => session,
            Ok(None) => return HttpError::unauthorized(refusal.get()).into_response(),
            Err(e) => return e.into_response(),
        };
        let cookie = req.sessions().cookie(&session).to_string();
        json_response(
            Status::OK,
            &json!({"status": "ok", "name": self.node.name()}),
        )
        .header("Set-Cookie", cookie)
    }
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn p2p_error(e: Error) -> HttpError {
    match e {
        Error::NotJoined(_) => HttpError::forbidden(e.to_string()),
        Error::UnknownPeer(_) => HttpError::not_found(e.to_string()),
        Error::AmbiguousPeer { .. } | Error::Unreachable(_) => {
            HttpError::new(Status::CONFLICT, e.to_string())
        }
        Error::Io(_) | Error::Listen { .. } | Error::DataDir { .. } => {
            HttpError::new(Status::INTERNAL_SERVER_ERROR, e.to_string())
        }
        _ => HttpError::bad_request(e.to_string()),
    }
}

/// Body of the local user's sends, in any of the course's spellings (`router::dialect`): the
/// text as `text`, `msg`, `message` or `content`; the recipient as `to`, `target`, …; the
/// channel as `channel` or `room`.
#[derive(Deserialize)]
struct TextBody {
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    channel: Option<String>,
}

impl TextBody {
    fn text(&self) -> Result<&str, HttpError> {
        self.msg.as_deref().ok_or_else(|| {
            let spellings = router::dialect::accepted("msg");
            HttpError::bad_request(format!("missing text ({spellings})"))
        })
    }
}

#[derive(Deserialize, Default)]
struct JoinBody {
    #[serde(default)]
    key: Option<String>,
}

#[derive(Deserialize)]
struct ConnectBody {
    #[serde(default)]
    peer_id: Option<String>,
    ip: String,
    port: u16,
}

/// Body of `/broadcast-peer` and `/send-peer` as course peers send it, in any of the
/// course's spellings (`router::dialect`): text as `msg`, `message`, `content` or `text`, the
/// channel as `channel` or `room`, the sender as `from` (else its `username` or `name`).
#[derive(Deserialize)]
struct CourseMsg {
    #[serde(default)]
    from: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    timestamp: Value,
    #[serde(default)]
    channel: Option<String>,
}

impl CourseMsg {
    fn read(req: &Req) -> Result<CourseMsg, HttpError> {
        let body: CourseMsg = router::dialect::body(req)?;
        if body.msg.is_empty() {
            let spellings = router::dialect::accepted("msg");
            return Err(HttpError::bad_request(format!(
                "the text is required ({spellings})"
            )));
        }
        Ok(body)
    }

    /// Stores it in `channel` (`None`: a direct message to us) and answers the course's reply.
    fn deliver(self, node: &Node, channel: Option<String>) -> Result<Json<Value>, HttpError> {
        let from = [self.from, self.username, self.name.clone()]
            .into_iter()
            .map(|s| s.trim().to_owned())
            .find(|s| !s.is_empty())
            .ok_or_else(|| HttpError::bad_request("from (or username or name) is required"))?;
        let msg = p2p_proto::CourseMessage {
            ts_ms: p2p_proto::course_timestamp(&self.timestamp),
            from,
            name: self.name,
            text: self.msg,
            channel,
        };
        node.receive_course(msg).map_err(p2p_error)?;
        Ok(Json(json!({"status": "received"})))
    }
}

fn is_local_path(path: &str) -> bool {
    path.starts_with("/api/")
        || path == "/events"
        || path == "/p2p/msg"
        || path.starts_with("/p2p/inbox")
}

/// Builds the peer's app: the API above, and the web UI of `static_root` at `/`.
pub fn app(
    node: &Node,
    token: &str,
    users: &Credentials,
    static_root: Option<&Path>,
) -> Result<App<Site>, Error> {
    let index = static_root.and_then(|root| match StaticDir::new("/", root) {
        Ok(dir) => Some(dir),
        Err(e) => {
            log::warn!("web UI not served: {}: {e}", root.display());
            None
        }
    });
    let serve_static = index.is_some();
    let mut app = App::with_state(Site {
        node: node.clone(),
        token: token.to_string(),
        users: users.clone(),
        index,
    });
    // Cookies are per host, not per port: two peers on one machine must not share a name.
    app.session_cookie(&format!("sid-{}", node.addr().port()));

    app.before(|s: &Site, req: &Req| {
        let path = req.path();
        if !is_local_path(path) && path != "/login" && path != "/logout" {
            return None;
        }
        if let Some(refusal) = s.refuse_cross_site(req) {
            return Some(refusal.into());
        }
        (is_local_path(path) && !s.authorized(req)).then(|| {
            HttpError::unauthorized("log in first: open the URL with ?token= the peer printed")
                .into_response()
                .into()
        })
    });

    app.get("/", |s: &Site, req: &Req| s.index(req));
    app.post("/login", |s: &Site, req: &Req| s.login(req));
    app.post("/logout", |_, req: &Req| {
        req.end_session();
        json_response(Status::OK, &json!({"status": "logged out"}))
            .header("Set-Cookie", req.sessions().expired_cookie().to_string())
    });

    peer_routes(&mut app);
    user_routes(&mut app);
    crate::files_api::routes(&mut app);
    app.check().map_err(|e| Error::Routes(Box::new(e)))?;

    if serve_static && let Some(root) = static_root {
        app.static_dir("/", root)?;
    }
    Ok(app)
}

/// The routes open to other peers.
fn peer_routes(app: &mut App<Site>) {
    app.get("/p2p/link", |s: &Site, req: &Req| -> Reply {
        let asked = req
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case(UPGRADE_TOKEN));
        if !asked {
            return HttpError::new(
                Status(426),
                format!("this endpoint needs Upgrade: {UPGRADE_TOKEN}"),
            )
            .into_response()
            .header("Upgrade", UPGRADE_TOKEN)
            .into();
        }
        let response = Response::new(Status::SWITCHING_PROTOCOLS)
            .header("Upgrade", UPGRADE_TOKEN)
            .header("Connection", "Upgrade");
        let link = LinkConn::accepted(s.node.shared(), req.peer());
        Reply::Upgrade(response, link)
    });

    app.get("/p2p/whoami", |s: &Site, _req: &Req| {
        Json(
            json!({"peer_id": s.node.peer_id(), "name": s.node.name(), "key": s.node.public_key()}),
        )
    });
    app.get("/p2p/ping", |s: &Site, _req: &Req| {
        Json(json!({"status": "ok", "peer_id": s.node.peer_id(), "ts": crate::driver::now_ms()}))
    });

    app.post(
        "/connect-peer",
        |s: &Site, req: &Req| -> Result<Reply, HttpError> {
            let body: ConnectBody = req.json()?;
            let ip: IpAddr = body.ip.parse().map_err(|_| {
                HttpError::bad_request(format!("ip {:?} is not an IP address", body.ip))
            })?;
            if body.port == 0 {
                return Err(HttpError::bad_request("port must be 1..=65535"));
            }
            let answer =
                json!({"status": "ok", "peer_id": s.node.peer_id(), "name": s.node.name()});
            if body.peer_id.as_deref().is_some_and(|p| s.node.is_linked(p)) {
                return Ok(Reply::Full(json_response(Status::OK, &answer)));
            }
            let responder = req.info().responder();
            let addr = SocketAddr::new(ip, body.port);
            s.node.connect_listed(
                body.peer_id,
                addr,
                Box::new(move |result| {
                    responder.respond(match result {
                        Ok(()) => json_response(Status::OK, &answer),
                        Err(e) => join_error_response(e),
                    });
                }),
            );
            Ok(Reply::Deferred)
        },
    );

    app.post(
        "/broadcast-peer",
        |s: &Site, req: &Req| -> Result<Json<Value>, HttpError> {
            let body = CourseMsg::read(req)?;
            let channel = body
                .channel
                .clone()
                .unwrap_or_else(|| "general".to_string());
            body.deliver(&s.node, Some(channel))
        },
    );
    app.post(
        "/send-peer",
        |s: &Site, req: &Req| -> Result<Json<Value>, HttpError> {
            CourseMsg::read(req)?.deliver(&s.node, None)
        },
    );
}

fn join_error_response(e: JoinError) -> Response {
    match e {
        JoinError::Refused { status, message } => {
            HttpError::new(Status(status), message).into_response()
        }
        JoinError::Unavailable(why) => {
            HttpError::new(Status::SERVICE_UNAVAILABLE, why).into_response()
        }
        JoinError::Invalid(why) => HttpError::bad_request(why).into_response(),
    }
}

fn page_params(req: &Req) -> Result<(Option<String>, usize), HttpError> {
    let limit = match req.query("limit") {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| HttpError::bad_request("limit must be a number"))?
            .clamp(1, MAX_PAGE),
        None => DEFAULT_PAGE,
    };
    Ok((req.query("before").filter(|b| !b.is_empty()), limit))
}

/// The local user's routes (the `before` hook checks the session).
fn user_routes(app: &mut App<Site>) {
    app.get("/api/me", |s: &Site, _req: &Req| {
        Json(json!({
            "peer_id": s.node.peer_id(),
            "name": s.node.name(),
            "key": s.node.public_key(),
            "addr": s.node.addr().to_string(),
            "tracker": s.node.tracker_status(),
        }))
    });

    app.get("/api/peers", |s: &Site, _req: &Req| {
        let peers: Vec<Value> = s
            .node
            .peers()
            .into_iter()
            .map(|p| json!({"peer_id": p.peer_id, "name": p.name, "addr": p.addr, "channels": p.channels, "rtt_ms": p.rtt_ms, "link": p.link.0}))
            .collect();
        Json(peers)
    });

    app.get("/api/channels", |s: &Site, _req: &Req| {
        let channels: Vec<Value> = s
            .node
            .channels()
            .into_iter()
            .map(|c| json!({"name": c.name, "unread": c.unread, "policy": c.policy, "members": c.members}))
            .collect();
        Json(channels)
    });

    app.post(
        "/api/channels/:ch/join",
        |s: &Site, req: &Req| -> Result<Reply, HttpError> {
            let channel = req.param("ch").unwrap_or_default();
            let body: JoinBody = if req.body().is_empty() {
                JoinBody::default()
            } else {
                req.json()?
            };
            let responder = req.info().responder();
            let name = channel.clone();
            s.node.join(
                &channel,
                body.key.filter(|k| !k.is_empty()),
                Box::new(move |result| {
                    let response = match result {
                        Ok(members) => json_response(
                            Status::OK,
                            &json!({"status": "ok", "channel": name, "members": members}),
                        ),
                        Err(e) => join_error_response(e),
                    };
                    responder.respond(response);
                }),
            );
            Ok(Reply::Deferred)
        },
    );

    app.post("/api/channels/:ch/leave", |s: &Site, req: &Req| {
        let channel = req.param("ch").unwrap_or_default();
        if s.node.leave(&channel) {
            Ok(Json(json!({"status": "ok"})))
        } else {
            Err(HttpError::not_found(format!("not in channel {channel}")))
        }
    });

    app.get(
        "/api/channels/:ch/messages",
        |s: &Site, req: &Req| -> Result<Json<Value>, HttpError> {
            let channel = req.param("ch").unwrap_or_default();
            let (before, limit) = page_params(req)?;
            Ok(Json(json!(s.node.messages(
                &channel,
                before.as_deref(),
                limit
            ))))
        },
    );
    app.post(
        "/api/channels/:ch/messages",
        |s: &Site, req: &Req| -> Result<(Status, Json<Value>), HttpError> {
            let channel = req.param("ch").unwrap_or_default();
            let body: TextBody = router::dialect::body(req)?;
            let msg = s.node.post(&channel, body.text()?).map_err(p2p_error)?;
            Ok((Status::CREATED, Json(json!(msg))))
        },
    );
    // Messages are immutable: GET only, so PUT and DELETE answer 405 with `Allow: GET, HEAD`.
    app.get(
        "/api/channels/:ch/messages/:id",
        |s: &Site, req: &Req| -> Result<Json<Value>, HttpError> {
            let channel = req.param("ch").unwrap_or_default();
            let id = req.param("id").unwrap_or_default();
            s.node
                .find_message(&channel, &id)
                .map(|m| Json(json!(m)))
                .ok_or_else(|| HttpError::not_found(format!("no message {id} in {channel}")))
        },
    );

    app.post("/api/channels/:ch/read", |s: &Site, req: &Req| {
        let channel = req.param("ch").unwrap_or_default();
        s.node.mark_read(&channel);
        Json(json!({"status": "ok", "channel": channel, "unread": 0}))
    });

    app.post(
        "/api/direct/:peer",
        |s: &Site, req: &Req| -> Result<(Status, Json<Value>), HttpError> {
            let peer = req.param("peer").unwrap_or_default();
            let body: TextBody = router::dialect::body(req)?;
            let msg = s.node.direct(&peer, body.text()?).map_err(p2p_error)?;
            Ok((Status::CREATED, Json(json!(msg))))
        },
    );
    app.get(
        "/api/direct/:peer",
        |s: &Site, req: &Req| -> Result<Json<Value>, HttpError> {
            let peer = req.param("peer").unwrap_or_default();
            let (before, limit) = page_params(req)?;
            let channel = dm_channel(s.node.peer_id(), &s.node.peer_id_of(&peer));
            Ok(Json(json!(s.node.messages(
                &channel,
                before.as_deref(),
                limit
            ))))
        },
    );

    app.get("/events", |s: &Site, req: &Req| -> Reply {
        let sender = req.info().body_sender();
        sender.send(crate::sse::PREAMBLE);
        s.node.subscribe(Box::new(move |event| {
            if sender.is_closed() {
                return false;
            }
            if let Some(text) = crate::sse::format(event) {
                sender.send(text);
            }
            true
        }));
        let response = Response::new(Status::OK)
            .header("Content-Type", "text/event-stream")
            .header("Cache-Control", "no-store");
        Reply::Stream(response)
    });

    app.post(
        "/p2p/msg",
        |s: &Site, req: &Req| -> Result<Json<Value>, HttpError> {
            let body: TextBody = router::dialect::body(req)?;
            let text = body.text()?;
            let msg = match &body.target {
                Some(to) => s.node.direct(to, text),
                None => s
                    .node
                    .post(body.channel.as_deref().unwrap_or("general"), text),
            }
            .map_err(p2p_error)?;
            Ok(Json(json!({"status": "sent", "message": msg})))
        },
    );
    app.get("/p2p/inbox", |s: &Site, _req: &Req| {
        Json(json!({"status": "ok", "messages": s.node.inbox()}))
    });
    app.post("/p2p/inbox/clear", |s: &Site, _req: &Req| {
        Json(json!({"status": "ok", "cleared": s.node.clear_inbox()}))
    });
}
