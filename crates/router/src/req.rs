//! What a handler sees ([`Req`]) and what it may return ([`IntoReply`], [`Json`], [`HttpError`]).

use crate::session::{Session, SessionStore};
use bytes::Bytes;
use http_core::form::{form_decode, percent_decode};
use http_core::{Headers, Method, Request, Response, Status};
use reactor::{Reply, RequestInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;

/// Default name of the session cookie (see [`SessionStore::with_cookie_name`]).
pub const SESSION_COOKIE: &str = "sid";

/// A request as a handler sees it: the HTTP request, path parameters, the client's address and
/// the app's sessions.
pub struct Req {
    request: Request,
    params: Vec<(String, String)>,
    info: RequestInfo,
    sessions: Arc<SessionStore>,
}

impl Req {
    pub(crate) fn new(
        request: Request,
        params: Vec<(String, String)>,
        info: RequestInfo,
        sessions: Arc<SessionStore>,
    ) -> Req {
        Req {
            request,
            params,
            info,
            sessions,
        }
    }

    /// The underlying HTTP request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The method.
    pub fn method(&self) -> &Method {
        self.request.method()
    }

    /// The path, still percent-encoded, without the query.
    pub fn path(&self) -> &str {
        self.request.path()
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        self.request.headers()
    }

    /// The first value of header `name`, if UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.headers().get_str(name)
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.request.cookie(name)
    }

    /// Path parameter `name` (`:name` or `*name` in the pattern), percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| percent_decode(v))
    }

    /// Every query pair, form-decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.request.query().map(form_decode).unwrap_or_default()
    }

    /// Query parameter `name`, form-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.request.body
    }

    /// Whether the body is JSON: the one body-reading rule of every daemon. JSON is read
    /// whatever its Content-Type, since `curl -d '{...}'` labels it as a form and no form body
    /// starts with `{` or `[`; a body declared as JSON is JSON whatever its shape; anything else
    /// is a form.
    pub fn is_json(&self) -> bool {
        let declared = self
            .header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        declared
            || self
                .request
                .body
                .trim_ascii_start()
                .first()
                .is_some_and(|b| matches!(b, b'{' | b'['))
    }

    /// The body parsed as JSON into `T`; a clear 400 otherwise.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.request.body)
            .map_err(|e| HttpError::bad_request(format!("invalid JSON: {e}")))
    }

    /// The body decoded as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        std::str::from_utf8(&self.request.body)
            .map(form_decode)
            .unwrap_or_default()
    }

    /// The body as a JSON object whether it came as JSON or as a form (form values become strings).
    pub fn fields(&self) -> Result<serde_json::Map<String, serde_json::Value>, HttpError> {
        if self.is_json() {
            match self.json::<serde_json::Value>()? {
                serde_json::Value::Object(map) => Ok(map),
                _ => Err(HttpError::bad_request("expected a JSON object")),
            }
        } else {
            Ok(self.form_fields())
        }
    }

    /// The form fields as a JSON object of strings.
    pub fn form_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        self.form()
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect()
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.info.peer
    }

    /// Connection details and the means to answer later or stream ([`RequestInfo`]).
    pub fn info(&self) -> &RequestInfo {
        &self.info
    }

    /// The app's session store.
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// The live session named by the session cookie, if any.
    pub fn session(&self) -> Option<Session> {
        self.cookie(self.sessions.cookie_name())
            .and_then(|sid| self.sessions.get(sid))
    }

    /// Ends the session named by the session cookie, if any; returns whether there was one.
    pub fn end_session(&self) -> bool {
        self.cookie(self.sessions.cookie_name())
            .is_some_and(|sid| self.sessions.remove(sid))
    }

    /// Whether the client prefers HTML (a browser) over JSON or text.
    pub fn wants_html(&self) -> bool {
        self.header("accept")
            .is_some_and(|a| a.contains("text/html"))
    }
}

/// An error answer: a status and a message, sent as `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct HttpError {
    /// The status code.
    pub status: Status,
    /// What was wrong, for the client.
    pub message: String,
}

impl HttpError {
    /// An error with any status.
    pub fn new(status: Status, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// The answer: `{"error": message}` with the status.
    pub fn into_response(self) -> Response {
        json_response(self.status, &serde_json::json!({ "error": self.message }))
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(Status::BAD_REQUEST, message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> HttpError {
        HttpError::new(Status::UNAUTHORIZED, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> HttpError {
        HttpError::new(Status::FORBIDDEN, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> HttpError {
        HttpError::new(Status::NOT_FOUND, message)
    }
}

/// A JSON answer with status 200 (or the one given with [`Json::with_status`]).
pub struct Json<T>(pub T);

impl<T: Serialize> Json<T> {
    /// The same value with another status.
    pub fn with_status(self, status: Status) -> (Status, Json<T>) {
        (status, self)
    }
}

/// Anything a handler may return.
pub trait IntoReply {
    /// Converts into the reactor's [`Reply`].
    fn into_reply(self) -> Reply;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl IntoReply for Response {
    fn into_reply(self) -> Reply {
        Reply::Full(self)
    }
}

/// Builds a JSON response from any serializable value.
pub fn json_response<T: Serialize + ?Sized>(status: Status, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::with_body(status, "application/json", body),
        Err(e) => Response::text(
            Status::INTERNAL_SERVER_ERROR,
            format!("cannot encode JSON: {e}\n"),
        ),
    }
}

impl<T: Serialize> IntoReply for Json<T> {
    fn into_reply(self) -> Reply {
        Reply::Full(json_response(Status::OK, &self.0))
    }
}

impl<T: Serialize> IntoReply for (Status, Json<T>) {
    fn into_reply(self) -> Reply {
        Reply::Full(json_response(self.0, &self.1.0))
    }
}

impl IntoReply for HttpError {
    fn into_reply(self) -> Reply {
        Reply::Full(self.into_response())
    }
}

impl IntoReply for (Status, String) {
    fn into_reply(self) -> Reply {
        Reply::Full(Response::text(self.0, self.1))
    }
}

impl IntoReply for (Status, &'static str) {
    fn into_reply(self) -> Reply {
        Reply::Full(Response::text(self.0, self.1))
    }
}

impl IntoReply for String {
    fn into_reply(self) -> Reply {
        Reply::Full(Response::text(Status::OK, self))
    }
}

impl IntoReply for &'static str {
    fn into_reply(self) -> Reply {
        Reply::Full(Response::text(Status::OK, self))
    }
}

impl<T: IntoReply, E: IntoReply> IntoReply for Result<T, E> {
    fn into_reply(self) -> Reply {
        match self {
            Ok(ok) => ok.into_reply(),
            Err(err) => err.into_reply(),
        }
    }
}
