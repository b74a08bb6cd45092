//! Task 1 of the course as a router [`App`]: login, cookie access control, logout, `/user`,
//! `/echo` and the static site. The binary only parses arguments and runs it.

use http_core::cookie::SetCookie;
use http_core::{Response, Status};
use router::auth::{Credentials, authenticated_user};
use router::{App, Cors, HttpError, Json, Req};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Default port of backend-bin (SPEC §1).
pub const DEFAULT_PORT: u16 = 9000;
/// The course's cookie flag.
pub const AUTH_COOKIE: &str = "auth";

/// How `GET /` decides that a client is logged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// A live session (`sid` cookie) or Basic credentials; `auth=true` alone is refused because
    /// anyone can forge it.
    Session,
    /// The course's literal rule: `Cookie: auth=true` suffices.
    Flag,
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

struct Site {
    root: PathBuf,
    credentials: Credentials,
    auth_mode: AuthMode,
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

    /// The protected index page: never cached, so Back after logout cannot show it.
    fn protected(&self, status: Status, name: &str) -> Response {
        self.html(status, name).header("Cache-Control", "no-store")
    }

    fn user(&self, req: &Req) -> Option<String> {
        if let Some(user) = authenticated_user(req, &self.credentials) {
            return Some(user);
        }
        let flag = req.cookie(AUTH_COOKIE) == Some("true");
        (self.auth_mode == AuthMode::Flag && flag).then(|| "guest".to_owned())
    }

    fn index(&self, req: &Req) -> Response {
        match self.user(req) {
            Some(_) => self.protected(Status::OK, "index.html"),
            None => self.protected(Status::UNAUTHORIZED, "401.html"),
        }
    }

    fn login(&self, req: &Req) -> Result<Response, HttpError> {
        let check = |user: &str, password: &str| {
            self.credentials
                .check(user, password)
                .then(|| user.to_owned())
        };
        let Some(session) = router::auth::login(req, check)? else {
            return Ok(self.protected(Status::UNAUTHORIZED, "401.html"));
        };
        let flag = SetCookie::new(AUTH_COOKIE, "true").path("/");
        let sid = req.sessions().cookie(&session);
        let mut response = self.protected(Status::OK, "index.html");
        response.headers.append("Set-Cookie", flag.to_string());
        response.headers.append("Set-Cookie", sid.to_string());
        Ok(response)
    }

    fn logout(&self, req: &Req) -> Response {
        req.end_session();
        let mut response = if req.wants_html() {
            Response::new(Status::SEE_OTHER).header("Location", "/login")
        } else {
            router::json_response(Status::OK, &serde_json::json!({"status": "logged out"}))
        };
        response.headers.insert("Cache-Control", "no-store");
        let flag = SetCookie::new(AUTH_COOKIE, "").path("/").expired();
        response.headers.append("Set-Cookie", flag.to_string());
        response
            .headers
            .append("Set-Cookie", req.sessions().expired_cookie().to_string());
        response
    }
}

/// Why the Task 1 app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A route was rejected (a bug in this file, reported as such rather than as an I/O error).
    #[error(transparent)]
    Route(#[from] router::RouteError),
    /// The static root could not be opened.
    #[error("static root: {0}")]
    StaticRoot(#[from] io::Error),
}

/// Builds the Task 1 app.
pub fn app(config: Config) -> Result<App, AppError> {
    let site = Arc::new(Site {
        root: config.static_root.clone(),
        credentials: config.credentials,
        auth_mode: config.auth_mode,
    });
    let mut app = App::new();
    let s = site.clone();
    app.get("/login", move |_req: &Req| s.html(Status::OK, "login.html"))?;
    let s = site.clone();
    app.get("/login.html", move |_req: &Req| {
        s.html(Status::OK, "login.html")
    })?;
    let s = site.clone();
    app.post("/login", move |req: &Req| s.login(req))?;
    let s = site.clone();
    app.get("/", move |req: &Req| s.index(req))?;
    let s = site.clone();
    app.get("/index.html", move |req: &Req| s.index(req))?;
    let s = site.clone();
    app.post("/logout", move |req: &Req| s.logout(req))?;
    let s = site.clone();
    app.get("/user", move |req: &Req| match s.user(req) {
        Some(user) => Ok(Json(serde_json::json!({ "user": user }))),
        None => Err(HttpError::unauthorized("not logged in")),
    })?;
    app.post("/echo", |req: &Req| {
        req.json::<serde_json::Value>()
            .map(|value| Json(serde_json::json!({ "received": value })))
    })?;

    app.static_dir("/", &config.static_root)?;
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
