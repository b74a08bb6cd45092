//! [`App`]: the WeApRous micro-framework — routes over one shared state, hooks, static files,
//! sessions, CORS, error pages — and its [`Service`] implementation for the reactor's HTTP server.

use crate::req::{HttpError, IntoReply, Req};
use crate::session::SessionStore;
use crate::statics::{Served, StaticDir};
use crate::table::{Lookup, RouteError, RouteErrors, Table};
use bytes::Bytes;
use http_core::form::normalize_path;
use http_core::{Limits, Method, Request, Response, Status};
use reactor::{EventLoop, Reply, RequestInfo, Running, Service};
use std::borrow::Cow;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

/// A route handler: the app's state and the request.
pub type Handler<S> = Arc<dyn Fn(&S, &Req) -> Reply + Send + Sync>;
/// A hook run before routing; `Some` answers the request without reaching the handler.
pub type BeforeHook<S> = Arc<dyn Fn(&S, &Req) -> Option<Reply> + Send + Sync>;
/// A hook run on every whole response before it is sent (CORS headers, security headers…).
pub type AfterHook<S> = Arc<dyn Fn(&S, &Req, &mut Response) + Send + Sync>;

/// Why an app could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Routes were rejected while the app was built; every one of them is named.
    #[error(transparent)]
    Routes(#[from] RouteErrors),
    /// The listener or the loop could not be set up.
    #[error(transparent)]
    Io(#[from] io::Error),
}

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

/// A web application over a shared state `S`: every handler and hook is given `&S` with the
/// request, as axum's `with_state` does, so a daemon keeps its state in one struct instead of
/// cloning it into each closure. Build it, then [`run`](App::run) it or hand it to a loop as a
/// [`Service`].
///
/// Registering never fails on the spot: a route that clashes with an earlier one, or a
/// malformed pattern, is recorded, and [`check`](App::check) (which [`serve_on`](App::serve_on),
/// [`run`](App::run) and [`spawn`](App::spawn) call) reports them all at once.
///
/// ```no_run
/// use router::{App, Json, Req};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(Default)]
/// struct Hits(AtomicU64);
///
/// let mut app = App::with_state(Hits::default());
/// app.get("/hello/:name", |hits: &Hits, req: &Req| {
///     let n = hits.0.fetch_add(1, Ordering::Relaxed);
///     Json(serde_json::json!({"hi": req.param("name"), "before": n}))
/// })
/// .post("/reset", |hits: &Hits, _req: &Req| {
///     hits.0.store(0, Ordering::Relaxed);
///     "reset"
/// });
/// app.run("127.0.0.1:8000").unwrap();
/// ```
pub struct App<S = ()> {
    state: S,
    table: Table<Handler<S>>,
    /// Routes refused while registering, reported together by [`App::check`].
    rejected: Vec<RouteError>,
    statics: Vec<StaticDir>,
    before: Vec<BeforeHook<S>>,
    after: Vec<AfterHook<S>>,
    sessions: Arc<SessionStore>,
    cors: Cors,
    pages: Vec<(Status, Bytes)>,
    limits: Limits,
}

impl Default for App {
    fn default() -> App {
        App::with_state(())
    }
}

impl App {
    /// An empty app without state (handlers take `&()`), with default limits and a fresh
    /// session store.
    pub fn new() -> App {
        App::default()
    }
}

impl<S: Send + Sync + 'static> App<S> {
    /// An empty app whose handlers and hooks are given `&state`, with default limits and a
    /// fresh session store.
    pub fn with_state(state: S) -> App<S> {
        App {
            state,
            table: Table::new(),
            rejected: Vec::new(),
            statics: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
            sessions: Arc::new(SessionStore::default()),
            cors: Cors::default(),
            pages: Vec::new(),
            limits: Limits::default(),
        }
    }

    /// The state handlers are given.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Adds `handler` for each of `methods` on `pattern`. A clash with an existing route, or a
    /// malformed pattern, is recorded and reported by [`check`](App::check) with the others.
    pub fn route<R, F>(&mut self, pattern: &str, methods: &[Method], handler: F) -> &mut Self
    where
        R: IntoReply,
        F: Fn(&S, &Req) -> R + Send + Sync + 'static,
    {
        let handler: Handler<S> =
            Arc::new(move |state: &S, req: &Req| handler(state, req).into_reply());
        for method in methods {
            if let Err(e) = self.table.insert(pattern, method.clone(), handler.clone())
                && !self.rejected.contains(&e)
            {
                self.rejected.push(e);
            }
        }
        self
    }

    /// Adds a `GET` route (`HEAD` follows).
    pub fn get<R, F>(&mut self, pattern: &str, handler: F) -> &mut Self
    where
        R: IntoReply,
        F: Fn(&S, &Req) -> R + Send + Sync + 'static,
    {
        self.route(pattern, &[Method::Get], handler)
    }

    /// Adds a `POST` route.
    pub fn post<R, F>(&mut self, pattern: &str, handler: F) -> &mut Self
    where
        R: IntoReply,
        F: Fn(&S, &Req) -> R + Send + Sync + 'static,
    {
        self.route(pattern, &[Method::Post], handler)
    }

    /// Every route refused so far (clashes and malformed patterns), as one error; `Ok` when all
    /// were taken. Serving calls it first, so an app with a bad route never starts.
    pub fn check(&self) -> Result<(), RouteErrors> {
        if self.rejected.is_empty() {
            Ok(())
        } else {
            Err(RouteErrors::new(self.rejected.clone()))
        }
    }

    /// Serves the files of `dir` under URL `prefix` for `GET`/`HEAD` paths no route claims.
    pub fn static_dir(&mut self, prefix: &str, dir: impl AsRef<Path>) -> io::Result<&mut Self> {
        self.statics.push(StaticDir::new(prefix, dir)?);
        Ok(self)
    }

    /// Runs `hook` before routing; when it returns `Some`, that is the answer (auth guards).
    pub fn before(
        &mut self,
        hook: impl Fn(&S, &Req) -> Option<Reply> + Send + Sync + 'static,
    ) -> &mut Self {
        self.before.push(Arc::new(hook));
        self
    }

    /// Runs `hook` on every whole response before it is sent.
    pub fn after(
        &mut self,
        hook: impl Fn(&S, &Req, &mut Response) + Send + Sync + 'static,
    ) -> &mut Self {
        self.after.push(Arc::new(hook));
        self
    }

    /// Sets the cross-origin policy.
    pub fn cors(&mut self, cors: Cors) -> &mut Self {
        self.cors = cors;
        self
    }

    /// Uses `html` as the page for `status` when a browser asks (404, 401…).
    pub fn error_page(&mut self, status: Status, html: impl Into<Bytes>) -> &mut Self {
        self.pages.retain(|(s, _)| *s != status);
        self.pages.push((status, html.into()));
        self
    }

    /// Sets the HTTP limits of the server (SPEC §2 defaults).
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// Names the session cookie (default `sid`); call before serving.
    pub fn session_cookie(&mut self, name: &str) -> &mut Self {
        let store = SessionStore::default().with_cookie_name(name);
        self.sessions = Arc::new(store);
        self
    }

    /// Uses `store` for the app's sessions: for a state that holds the store itself, built
    /// before the app.
    pub fn session_store(&mut self, store: Arc<SessionStore>) -> &mut Self {
        self.sessions = store;
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

    /// Adds this app to `event_loop`, listening on `addr`; returns the bound address. Refused
    /// routes ([`check`](App::check)) are reported before anything is bound.
    pub fn serve_on(
        self,
        event_loop: &mut EventLoop,
        addr: SocketAddr,
    ) -> Result<SocketAddr, StartError> {
        self.check()?;
        let limits = self.limits.clone();
        Ok(reactor::serve(event_loop, addr, Arc::new(self), limits)?)
    }

    /// Serves on `addr` until SIGINT/SIGTERM (graceful: in-flight requests finish).
    pub fn run(self, addr: impl ToSocketAddrs) -> Result<(), StartError> {
        let addr = first_addr(addr)?;
        let mut event_loop = EventLoop::new(self.limits.max_connections)?;
        event_loop.handle_signals()?;
        let bound = self.serve_on(&mut event_loop, addr)?;
        log::info!("listening on http://{bound}");
        Ok(event_loop.run()?)
    }

    /// Serves on `addr` from a background thread: for tests and embedding.
    pub fn spawn(self, addr: impl ToSocketAddrs) -> Result<Running, StartError> {
        let addr = first_addr(addr)?;
        let mut event_loop = EventLoop::new(self.limits.max_connections)?;
        let bound = self.serve_on(&mut event_loop, addr)?;
        Ok(Running::start(event_loop, "app", bound)?)
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

    fn answer(&self, req: &Req, lookup: Lookup<'_, Handler<S>>) -> Reply {
        if *req.method() == Method::Options {
            return self.options(req, &lookup);
        }
        for hook in &self.before {
            if let Some(reply) = hook(&self.state, req) {
                return reply;
            }
        }
        match lookup {
            Lookup::Found { value, .. } => value(&self.state, req),
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

    fn options(&self, req: &Req, lookup: &Lookup<'_, Handler<S>>) -> Reply {
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
            hook(&self.state, req, response);
        }
    }
}

impl<S: Send + Sync + 'static> Service for App<S> {
    fn call(&self, req: Request, info: &RequestInfo) -> Reply {
        self.dispatch(req, info)
    }
}

fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address to listen on"))
}
