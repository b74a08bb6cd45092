//! Cross-site request refusal for the local user's API (issue 10).
//!
//! SameSite=Lax cookies do not separate two ports of one host (they are the same *site*), so a
//! page served by any local process could otherwise drive the API with the user's session.
//! A request authenticated by its session cookie (not by `Authorization: Bearer`, which a
//! browser never adds cross-origin) is therefore refused when:
//! - its `Origin` is not this peer's own (`http://` + its `Host`): cross-origin reads and
//!   writes alike, including `text/plain` and form POSTs, which need no CORS preflight;
//! - its `Sec-Fetch-Site` says another site or origin sent it;
//! - it changes state and carries neither an `Origin` nor [`CSRF_HEADER`] (a custom header
//!   that a cross-origin page cannot send without a preflight this peer never grants).

use http_core::Method;
use router::Req;

/// The custom header the web UI sends on every call; any value.
pub const CSRF_HEADER: &str = "X-WeApRous";

/// Why a cookie-authenticated request looks cross-site, or `None` if it is the peer's own.
pub fn cross_site(req: &Req) -> Option<&'static str> {
    let origin = req.header("origin");
    if let Some(origin) = origin {
        let own = req
            .header("host")
            .is_some_and(|host| same_origin(origin, host));
        if !own {
            return Some("cross-origin request refused");
        }
    }
    match req.header("sec-fetch-site") {
        None | Some("same-origin" | "none") => {}
        Some(_) => return Some("cross-site request refused"),
    }
    let reads = matches!(req.method(), Method::Get | Method::Head | Method::Options);
    if !reads && origin.is_none() && req.header(CSRF_HEADER).is_none() {
        return Some("send an Origin or X-WeApRous header with the session cookie");
    }
    None
}

/// Whether `origin` (`scheme://host[:port]`) is the origin of a page served at `host`.
fn same_origin(origin: &str, host: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(same_origin("http://127.0.0.1:5002", "127.0.0.1:5002"));
        assert!(same_origin("http://LOCALHOST:5002", "localhost:5002"));
        assert!(!same_origin("http://127.0.0.1:5003", "127.0.0.1:5002"));
        assert!(!same_origin("null", "127.0.0.1:5002"));
        assert!(!same_origin("http://127.0.0.1:5002.evil", "127.0.0.1:5002"));
    }
}
