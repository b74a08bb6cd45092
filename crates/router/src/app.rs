//! [`App`]: the WeApRous micro-framework — routes, hooks, static files, sessions, CORS, error
//! pages — and its [`Service`] implementation for the reactor's HTTP server.

use crate::req::{HttpError, IntoReply, Req};
use crate::session::SessionStore;
use crate::statics::{Served, StaticDir};
use crate::table::{Lookup, RouteError, Table};
use bytes::Bytes;
use http_core::form::normalize_path;
use http_core::{Limits, Method, Request, Response, Status};
use reactor::{EventLoop, Reply, RequestInfo, Running, Service};
use std::borrow::Cow;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

/// A route handler.
pub type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;
/// A hook run before routing; `Some` answers the request without reaching the handler.
pub type BeforeHook = Arc<dyn Fn(&Req) -> Option<Reply> + Send + Sync>;
/// A hook run on every whole response before it is sent (CORS headers, security headers…).
pub type AfterHook = Arc<dyn Fn(&Req, &mut Response) + Send + Sync>;

/// Cross-origin policy. The default allows no other origin (same origin only).
#[derive(Clone, Debug, Default)]
pub struct Cors {
    /// Origins allowed (`*` for any).
    pub allow_origins: Vec<String>,
    /// Request headers allowed in preflight.
    pub allow_headers: Vec<String>,
    /// Whether credentials (cookies) may be sent cross-origin.
    pub allow_credentials: bool,
    /// How long a browser may cache a preflight, in seconds.
    pub max_age: u32,
}

impl Cors {
    fn allowed_origin(&self, origin: &str) -> Option<String> {
        if self.allow_origins.iter().any(|o| o == "*") && !self.allow_credentials {
            return Some("*".to_owned());
        }
        self.allow_origins
            .iter()
            .any(|o| o == origin || o == "*")
            .then(|| origin.to_owned())
    }
}

/// A web application: build it, then [`run`](App::run) it or hand it to a loop as a [`Service`].
///
/// ```no_run
/// use router::{App, Json};
/// let mut app = App::new();
/// app.get("/hello/:name", |req| Json(serde_json::json!({"hi": req.param("name")}))).unwrap();
/// app.run("127.0.0.1:8000").unwrap();
/// ```
pub struct App {
    table: Table<Handler>,
    statics: Vec<StaticDir>,
    before: Vec<BeforeHook>,
    after: Vec<AfterHook>,
    sessions: Arc<SessionStore>,
    cors: Cors,
    pages: Vec<(Status, Bytes)>,
    limits: Limits,
}

impl Default for App {
    fn default() -> App {
        App {
            table: Table::new(),
            statics: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
            sessions: Arc::new(SessionStore::default()),
            cors: Cors::default(),
            pages: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl App {
    /// An empty app with default limits and a fresh session store.
    pub fn new() -> App {
        App::default()
    }

    /// Adds `handler` for each of `methods` on `pattern`; a clash with an existing route is an
    /// error naming it.
    pub fn route<R, F>(
        &mut self,
        pattern: &str,
        methods: &[Method],
        handler: F,
    ) -> Result<&mut App, RouteError>
    where
        R: IntoReply,
        F: Fn(&Req) -> R + Send + Sync + 'static,
    {
        let handler: Handler = Arc::new(move |req: &Req| handler(req).into_reply());
        for method in methods {
            self.table
                .insert(pattern, method.clone(), handler.clone())?;
        }
        Ok(self)
    }

    /// Adds a `GET` route (`HEAD` follows).
    pub fn get<R, F>(&mut self, pattern: &str, handler: F) -> Result<&mut App, RouteError>
    where
        R: IntoReply,
        F: Fn(&Req) -> R + Send + Sync + 'static,
    {
        self.route(pattern, &[Method::Get], handler)
    }

    /// Adds a `POST` route.
    pub fn post<R, F>(&mut self, pattern: &str, handler: F) -> Result<&mut App, RouteError>
    where
        R: IntoReply,
        F: Fn(&Req) -> R + Send + Sync + 'static,
    {
        self.route(pattern, &[Method::Post], handler)
    }

    /// Serves the files of `dir` under URL `prefix` for `GET`/`HEAD` paths no route claims.
    pub fn static_dir(&mut self, prefix: &str, dir: impl AsRef<Path>) -> io::Result<&mut App> {
        self.statics.push(StaticDir::new(prefix, dir)?);
        Ok(self)
    }

    /// Runs `hook` before routing; when it returns `Some`, that is the answer (auth guards).
    pub fn before(
        &mut self,
        hook: impl Fn(&Req) -> Option<Reply> + Send + Sync + 'static,
    ) -> &mut App {
        self.before.push(Arc::new(hook));
        self
    }

    /// Runs `hook` on every whole response before it is sent.
    pub fn after(
        &mut self,
        hook: impl Fn(&Req, &mut Response) + Send + Sync + 'static,
    ) -> &mut App {
        self.after.push(Arc::new(hook));
        self
    }

    /// Sets the cross-origin policy.
    pub fn cors(&mut self, cors: Cors) -> &mut App {
        self.cors = cors;
        self
    }

    /// Uses `html` as the page for `status` when a browser asks (404, 401…).
    pub fn error_page(&mut self, status: Status, html: impl Into<Bytes>) -> &mut App {
        self.pages.retain(|(s, _)| *s != status);
        self.pages.push((status, html.into()));
        self
    }

    /// Sets the HTTP limits of the server (SPEC §2 defaults).
    pub fn limits(&mut self, limits: Limits) -> &mut App {
        self.limits = limits;
        self
    }

    /// Names the session cookie (default `sid`); call before serving.
    pub fn session_cookie(&mut self, name: &str) -> &mut App {
        let store = SessionStore::default().with_cookie_name(name);
        self.sessions = Arc::new(store);
        self
    }

    /// The app's session store (shared with handlers through [`Req::sessions`]).
    pub fn sessions(&self) -> Arc<SessionStore> {
        self.sessions.clone()
    }

    /// The HTML page for `status`, if one was set with [`error_page`](App::error_page).
    pub fn page(&self, status: Status) -> Option<Bytes> {
        self.pages
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, p)| p.clone())
    }

    /// Adds this app to `event_loop`, listening on `addr`; returns the bound address.
    pub fn serve_on(self, event_loop: &mut EventLoop, addr: SocketAddr) -> io::Result<SocketAddr> {
        let limits = self.limits.clone();
        reactor::serve(event_loop, addr, Arc::new(self), limits)
    }

    /// Serves on `addr` until SIGINT/SIGTERM (graceful: in-flight requests finish).
    pub fn run(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addr = first_addr(addr)?;
        let mut event_loop = EventLoop::new(self.limits.max_connections)?;
        event_loop.handle_signals()?;
        let bound = self.serve_on(&mut event_loop, addr)?;
        log::info!("listening on http://{bound}");
        event_loop.run()
    }

    /// Serves on `addr` from a background thread: for tests and embedding.
    pub fn spawn(self, addr: impl ToSocketAddrs) -> io::Result<Running> {
        let addr = first_addr(addr)?;
        let mut event_loop = EventLoop::new(self.limits.max_connections)?;
        let bound = self.serve_on(&mut event_loop, addr)?;
        Running::start(event_loop, "app", bound)
    }

    fn dispatch(&self, mut req: Request, info: &RequestInfo) -> Reply {
        // One spelling of the path for the table, the hooks and the static files alike: were they
        // to read `//index.html`, `/%69ndex.html` or `/index.html/` differently, a guarded route
        // could be reached as a plain file, or a hook's path check stepped around.
        let path = normalize_path(req.path());
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => Cow::Owned(trimmed.to_owned()),
            _ => path,
        };
        if let Cow::Owned(path) = path {
            req.head.target = match req.query() {
                Some(query) => format!("{path}?{query}"),
                None => path,
            };
        }
        let lookup = self.table.lookup(req.method(), req.path());
        let params = match &lookup {
            Lookup::Found { params, .. } => params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            _ => Vec::new(),
        };
        let req = Req::new(req, params, info.clone(), self.sessions.clone());
        let reply = self.answer(&req, lookup);
        match reply {
            Reply::Full(mut response) => {
                self.decorate(&req, &mut response);
                Reply::Full(response)
            }
            Reply::Stream(mut response) => {
                self.decorate(&req, &mut response);
                Reply::Stream(response)
            }
            Reply::File(mut response, body) => {
                self.decorate(&req, &mut response);
                Reply::File(response, body)
            }
            other => other,
        }
    }

    fn answer(&self, req: &Req, lookup: Lookup<'_, Handler>) -> Reply {
        if *req.method() == Method::Options {
            return self.options(req, &lookup);
        }
        for hook in &self.before {
            if let Some(reply) = hook(req) {
                return reply;
            }
        }
        match lookup {
            Lookup::Found { value, .. } => value(req),
            Lookup::MethodNotAllowed { allow } => {
                let allow: Vec<&str> = allow.iter().map(Method::as_str).collect();
                let message = format!("method {} not allowed on {}", req.method(), req.path());
                let mut response =
                    self.error(req, HttpError::new(Status::METHOD_NOT_ALLOWED, message));
                response.headers.insert("Allow", allow.join(", "));
                Reply::Full(response)
            }
            Lookup::NotFound => {
                if matches!(req.method(), Method::Get | Method::Head) {
                    for dir in &self.statics {
                        if let Served::Found(reply) = dir.serve(req.path(), req.headers()) {
                            return reply;
                        }
                    }
                }
                let message = format!("no such path: {}", req.path());
                Reply::Full(self.error(req, HttpError::not_found(message)))
            }
        }
    }

    /// An error answer: the HTML page for browsers when one is set, else `{"error": ...}`.
    pub fn error(&self, req: &Req, error: HttpError) -> Response {
        match self.page(error.status).filter(|_| req.wants_html()) {
            Some(page) => Response::with_body(error.status, "text/html; charset=utf-8", page),
            None => error.into_response(),
        }
    }

    fn options(&self, req: &Req, lookup: &Lookup<'_, Handler>) -> Reply {
        let allow = match lookup {
            Lookup::Found { .. } => "GET, HEAD, POST, PUT, DELETE, OPTIONS".to_owned(),
            Lookup::MethodNotAllowed { allow } => allow
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            Lookup::NotFound if req.path() == "*" => {
                "GET, HEAD, POST, PUT, DELETE, OPTIONS".to_owned()
            }
            Lookup::NotFound => "GET, HEAD, OPTIONS".to_owned(),
        };
        let mut response = Response::new(Status::NO_CONTENT).header("Allow", allow.clone());
        if req
            .header("origin")
            .and_then(|o| self.cors.allowed_origin(o))
            .is_some()
        {
            response
                .headers
                .insert("Access-Control-Allow-Methods", allow);
            let headers = if self.cors.allow_headers.is_empty() {
                "Content-Type, Authorization".to_owned()
            } else {
                self.cors.allow_headers.join(", ")
            };
            response
                .headers
                .insert("Access-Control-Allow-Headers", headers);
            response
                .headers
                .insert("Access-Control-Max-Age", self.cors.max_age.to_string());
        }
        Reply::Full(response)
    }

    fn decorate(&self, req: &Req, response: &mut Response) {
        if let Some(origin) = req
            .header("origin")
            .and_then(|o| self.cors.allowed_origin(o))
        {
            response
                .headers
                .insert("Access-Control-Allow-Origin", origin.clone());
            if origin != "*" {
                response.headers.append("Vary", "Origin");
            }
            if self.cors.allow_credentials {
                response
                    .headers
                    .insert("Access-Control-Allow-Credentials", "true");
            }
        }
        for hook in &self.after {
            hook(req, response);
        }
    }
}

impl Service for App {
    fn call(&self, req: Request, info: &RequestInfo) -> Reply {
        self.dispatch(req, info)
    }
}

fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address to listen on"))
}
