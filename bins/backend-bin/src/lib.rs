//! Task 1 of the course as a router [`App`]: login, cookie access control, logout, `/user`,
//! `/echo` and the static site. The binary only parses arguments and runs it.
//!
//! Sessions live in the app's memory by default, or in Redis ([`redis_sessions`]) so that
//! several backends behind a balancing proxy share them.

pub mod redis_sessions;

use http_core::cookie::SetCookie;
use http_core::{Response, Status};
use reactor::{EventLoop, LoopThread, Reply};
use redis_sessions::RedisSessions;
use router::auth::{Credentials, authenticated_user};
use router::{App, Cors, HttpError, Json, Req};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod login_page;

use login_page::Notice;

/// Default port of backend-bin (SPEC §1).
pub const DEFAULT_PORT: u16 = 9000;
/// The course's cookie flag.
pub const AUTH_COOKIE: &str = "auth";

/// How `GET /` decides that a client is logged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// A live session (`sid` cookie) or Basic credentials; `auth=true` alone is refused because
    /// anyone can forge it.
    Session,
    /// The course's literal rule: `Cookie: auth=true` suffices.
    Flag,
}

impl AuthMode {
    /// The one line to log at start when this mode lets anyone in.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            AuthMode::Flag => Some(
                "--auth-mode flag (the course's rule): anyone can forge the auth=true cookie; \
                 deploy with --auth-mode session",
            ),
            AuthMode::Session => None,
        }
    }
}

/// Everything the Task 1 app needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of login.html, index.html, 401.html, 404.html and assets.
    pub static_root: PathBuf,
    /// Who may log in.
    pub credentials: Credentials,
    /// How `/` is guarded.
    pub auth_mode: AuthMode,
    /// Origins allowed cross-origin (empty: same origin only).
    pub cors_origins: Vec<String>,
}

/// The Task 1 app's state, given to every handler: the pages, who may log in, how `/` is
/// guarded, and where sessions live.
pub struct Site {
    root: PathBuf,
    credentials: Credentials,
    auth_mode: AuthMode,
    /// Sessions in Redis; `None` keeps them in the app's own store.
    shared: Option<RedisSessions>,
    /// The app's session store: its sessions when `shared` is `None`, its cookie either way.
    cookies: Arc<router::SessionStore>,
}

/// Who a request is from, as far as can be told without waiting.
enum Who {
    /// Known now (Basic credentials, an in-memory session, the flag in flag mode).
    Known(String),
    /// Nobody.
    Nobody,
    /// A session id to look up in Redis.
    Ask(String),
}

impl Site {
    fn page(&self, name: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.root.join(name))
    }

    fn html(&self, status: Status, name: &str) -> Response {
        match self.page(name) {
            Ok(body) => Response::with_body(status, "text/html; charset=utf-8", body),
            Err(e) => {
                log::error!("cannot read {name} from {}: {e}", self.root.display());
                Response::text(
                    Status::INTERNAL_SERVER_ERROR,
                    format!("missing page {name}\n"),
                )
            }
        }
    }

    /// The login page with `notice` on it (never cached: it may hold the typed username).
    fn login_page(&self, status: Status, notice: Notice<'_>) -> Response {
        match std::fs::read_to_string(self.root.join("login.html")) {
            Ok(page) => Response::with_body(
                status,
                "text/html; charset=utf-8",
                login_page::render(&page, notice),
            )
            .header("Cache-Control", "no-store"),
            Err(_) => self.html(status, "login.html"),
        }
    }

    /// The protected index page: never cached, so Back after logout cannot show it.
    fn protected(&self, status: Status, name: &str) -> Response {
        self.html(status, name).header("Cache-Control", "no-store")
    }

    fn who(&self, req: &Req) -> Who {
        if let Some(user) = authenticated_user(req, &self.credentials) {
            return Who::Known(user);
        }
        if self.auth_mode == AuthMode::Flag && req.cookie(AUTH_COOKIE) == Some("true") {
            return Who::Known("guest".to_owned());
        }
        match (&self.shared, req.cookie(req.sessions().cookie_name())) {
            (Some(_), Some(sid)) => Who::Ask(sid.to_owned()),
            _ => Who::Nobody,
        }
    }

    /// Answers with `answer(user)` once the user is known: at once, or after Redis replied.
    fn with_user(
        &self,
        req: &Req,
        answer: impl FnOnce(Option<String>) -> Reply + Send + 'static,
    ) -> Reply {
        match (self.who(req), &self.shared) {
            (Who::Known(user), _) => answer(Some(user)),
            (Who::Ask(sid), Some(shared)) => {
                let responder = req.info().responder();
                shared.get(&sid, move |found| {
                    responder.respond(match found {
                        Ok(user) => answer(user),
                        Err(e) => redis_sessions::unavailable(&e),
                    });
                });
                Reply::Deferred
            }
            _ => answer(None),
        }
    }

    fn index(self: &Arc<Self>, req: &Req) -> Reply {
        let s = self.clone();
        self.with_user(req, move |user| {
            Reply::Full(match user {
                Some(_) => s.protected(Status::OK, "index.html"),
                None => s.protected(Status::UNAUTHORIZED, "401.html"),
            })
        })
    }

    fn user_json(&self, req: &Req) -> Reply {
        let auth_mode = self.auth_mode;
        self.with_user(req, move |user| {
            Reply::Full(match user {
                Some(user) => {
                    let body = serde_json::json!({ "user": user, "auth_mode": auth_mode });
                    router::json_response(Status::OK, &body)
                }
                None => HttpError::unauthorized("not logged in").into_response(),
            })
        })
    }

    fn login(self: &Arc<Self>, req: &Req) -> Result<Reply, HttpError> {
        let check = |user: &str, password: &str| {
            self.credentials
                .check(user, password)
                .then(|| user.to_owned())
        };
        let Some(shared) = &self.shared else {
            let Some(session) = router::auth::login(req, check)? else {
                return self.refused(req);
            };
            return Ok(Reply::Full(
                self.logged_in(&req.sessions().cookie(&session)),
            ));
        };
        let Some(user) = router::auth::login_user(req, check)? else {
            return self.refused(req);
        };
        let (s, responder) = (self.clone(), req.info().responder());
        let name = user.clone();
        shared.create(&user, move |created| {
            responder.respond(match created {
                Ok(id) => {
                    let session = router::Session { id, user: name };
                    Reply::Full(s.logged_in(&s.cookies.cookie(&session)))
                }
                Err(e) => redis_sessions::unavailable(&e),
            });
        });
        Ok(Reply::Deferred)
    }

    /// The answer to refused credentials: a form post gets the form back, saying why and
    /// keeping the username; a script (curl, fetch) gets the course's 401 page.
    fn refused(&self, req: &Req) -> Result<Reply, HttpError> {
        if req.wants_html() {
            let fields = req.fields()?;
            let user = fields
                .get("username")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            return Ok(Reply::Full(
                self.login_page(Status::UNAUTHORIZED, Notice::Refused(user)),
            ));
        }
        Ok(Reply::Full(
            self.protected(Status::UNAUTHORIZED, "401.html"),
        ))
    }

    /// The answer to a good login: the index page, the course's flag and the session cookie.
    fn logged_in(&self, sid: &SetCookie) -> Response {
        let flag = SetCookie::new(AUTH_COOKIE, "true").path("/");
        let mut response = self.protected(Status::OK, "index.html");
        response.headers.append("Set-Cookie", flag.to_string());
        response.headers.append("Set-Cookie", sid.to_string());
        response
    }

    fn logout(self: &Arc<Self>, req: &Req) -> Reply {
        let sid = req.cookie(req.sessions().cookie_name()).map(str::to_owned);
        let (Some(shared), Some(sid)) = (&self.shared, sid) else {
            req.end_session();
            return Reply::Full(self.logged_out(req.wants_html()));
        };
        let (s, responder, html) = (self.clone(), req.info().responder(), req.wants_html());
        shared.remove(&sid, move |removed| {
            responder.respond(match removed {
                Ok(()) => Reply::Full(s.logged_out(html)),
                Err(e) => redis_sessions::unavailable(&e),
            });
        });
        Reply::Deferred
    }

    /// The answer to a logout: to the login page, which confirms it (a browser), or a JSON
    /// note; cookies deleted.
    fn logged_out(&self, wants_html: bool) -> Response {
        let mut response = if wants_html {
            Response::new(Status::SEE_OTHER).header("Location", "/login?logged-out")
        } else {
            router::json_response(Status::OK, &serde_json::json!({"status": "logged out"}))
        };
        response.headers.insert("Cache-Control", "no-store");
        let flag = SetCookie::new(AUTH_COOKIE, "").path("/").expired();
        response.headers.append("Set-Cookie", flag.to_string());
        response
            .headers
            .append("Set-Cookie", self.cookies.expired_cookie().to_string());
        response
    }
}

/// Why the Task 1 app could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Routes were refused (a bug in this file): every one is named, rather than reported as
    /// an I/O error.
    #[error(transparent)]
    Routes(#[from] router::RouteErrors),
    /// The static root could not be opened.
    #[error("static root: {0}")]
    StaticRoot(#[source] io::Error),
    /// The listener or the loop could not be set up.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<router::StartError> for AppError {
    fn from(e: router::StartError) -> AppError {
        match e {
            router::StartError::Routes(routes) => AppError::Routes(routes),
            router::StartError::Io(io) => AppError::Io(io),
        }
    }
}

/// Builds the Task 1 app, its sessions in its own memory.
pub fn app(config: Config) -> Result<App<Arc<Site>>, AppError> {
    app_with_sessions(config, None)
}

/// Builds the Task 1 app with its sessions in Redis when `shared` is given.
pub fn app_with_sessions(
    config: Config,
    shared: Option<RedisSessions>,
) -> Result<App<Arc<Site>>, AppError> {
    let cookies = Arc::new(router::SessionStore::default());
    let site = Arc::new(Site {
        root: config.static_root.clone(),
        credentials: config.credentials,
        auth_mode: config.auth_mode,
        shared,
        cookies: cookies.clone(),
    });
    let mut app = App::with_state(site.clone());
    app.session_store(cookies);
    app.get("/login", |s: &Arc<Site>, req: &Req| {
        if req.query("logged-out").is_some() {
            s.login_page(Status::OK, Notice::LoggedOut)
        } else {
            s.html(Status::OK, "login.html")
        }
    });
    app.get("/login.html", |s: &Arc<Site>, _req: &Req| {
        s.html(Status::OK, "login.html")
    });
    app.post("/login", |s: &Arc<Site>, req: &Req| s.login(req));
    app.get("/", |s: &Arc<Site>, req: &Req| s.index(req));
    app.get("/index.html", |s: &Arc<Site>, req: &Req| s.index(req));
    app.post("/logout", |s: &Arc<Site>, req: &Req| s.logout(req));
    app.get("/user", |s: &Arc<Site>, req: &Req| s.user_json(req));
    app.post("/echo", |_, req: &Req| {
        req.json::<serde_json::Value>()
            .map(|value| Json(serde_json::json!({ "received": value })))
    });
    app.check()?;

    app.static_dir("/", &config.static_root)
        .map_err(AppError::StaticRoot)?;
    for (status, name) in [
        (Status::NOT_FOUND, "404.html"),
        (Status::UNAUTHORIZED, "401.html"),
    ] {
        if let Ok(page) = site.page(name) {
            app.error_page(status, page);
        }
    }
    if !config.cors_origins.is_empty() {
        app.cors(Cors {
            allow_origins: config.cors_origins,
            allow_credentials: true,
            max_age: 600,
            ..Cors::default()
        });
    }
    Ok(app)
}

/// Serves the Task 1 app on a new loop at `addr` until SIGINT/SIGTERM, its sessions in Redis
/// at `sessions` when given (the Redis client runs on the same loop, never blocking it).
pub fn run(
    config: Config,
    addr: SocketAddr,
    sessions: Option<redis_client::Url>,
    limits: http_core::Limits,
) -> Result<(), AppError> {
    let mut event_loop = EventLoop::new(limits.max_connections)?;
    event_loop.handle_signals()?;
    let bound = serve_on(&mut event_loop, config, addr, sessions, limits)?;
    log::info!("listening on http://{bound}");
    Ok(event_loop.run()?)
}

/// Adds the Task 1 app to `event_loop` at `addr` (sessions as in [`run`]) with these HTTP
/// `limits` (a zero idle timeout turns keep-alive off); the bound address.
pub fn serve_on(
    event_loop: &mut EventLoop,
    config: Config,
    addr: SocketAddr,
    sessions: Option<redis_client::Url>,
    limits: http_core::Limits,
) -> Result<SocketAddr, AppError> {
    let shared = sessions.map(|url| {
        log::info!("sessions in {url}");
        RedisSessions::start(event_loop, url)
    });
    let mut app = app_with_sessions(config, shared)?;
    app.limits(limits);
    Ok(app.serve_on(event_loop, addr)?)
}

/// Serves the Task 1 app on a new loop in a new thread (tests, embedding); dropping the
/// [`LoopThread`] stops it.
pub fn spawn(
    config: Config,
    addr: SocketAddr,
    sessions: Option<redis_client::Url>,
) -> Result<(SocketAddr, LoopThread), AppError> {
    let mut event_loop = EventLoop::new(http_core::limits::MAX_CONNECTIONS)?;
    let bound = serve_on(
        &mut event_loop,
        config,
        addr,
        sessions,
        http_core::Limits::default(),
    )?;
    Ok((bound, event_loop.spawn_thread(&format!("backend-{bound}"))?))
}

/// The static root when none is given: `static/` of the workspace this binary was built from,
/// else `./static`.
pub fn default_static_root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("static")
    }
}
