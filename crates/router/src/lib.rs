//! WeApRous in Rust: a small RESTful micro-framework on the reactor's HTTP server.
//!
//! - [`App`]: routes (`route`, `get`, `post`) whose handlers take the app's shared state and the
//!   request, static directories, before/after hooks, CORS, HTML error pages; refused routes are
//!   collected and reported once ([`RouteErrors`], [`StartError`]). It is a reactor
//!   [`Service`](reactor::Service), or runs itself.
//! - [`Table`]: the pure route table (path parameters, 404 vs 405 + `Allow`, HEAD → GET,
//!   trailing-slash equivalence, conflicts named).
//! - [`Req`]: what a handler sees; [`IntoReply`]: what it may return ([`Json`], [`HttpError`],
//!   a [`Response`](http_core::Response), `(Status, String)`, `String`, `Result` of those).
//! - [`SessionStore`]: 128-bit random session ids with expiry; [`auth`]: Basic auth and the
//!   session guard any daemon can use.
//! - [`dialect`]: the course's field spellings, renamed to ours before decoding.
//! - [`StaticDir`]: safe static files with MIME, `ETag`/`Last-Modified`/`304`, single byte
//!   ranges, large files streamed from disk in bounded slices.
//! - [`console`]: aligned tables and timestamps for the daemons' operator consoles.

pub mod app;
pub mod auth;
pub mod console;
pub mod dialect;
pub mod range;
pub mod req;
pub mod session;
pub mod statics;
pub mod table;

pub use app::{App, Cors, StartError};
pub use reactor::Running;
pub use req::{HttpError, IntoReply, Json, Req, SESSION_COOKIE, json_response};
pub use session::{Session, SessionStore};
pub use statics::StaticDir;
pub use table::{Lookup, RouteError, RouteErrors, Table};
