//! Sticky routing without shared state: nginx's `sticky cookie NAME [expires=TIME]
//! [domain=DOMAIN] [path=PATH] [httponly] [secure]`.
//!
//! The proxy names the upstream that answered a client in a cookie of its own, and routes the
//! client's later requests to that upstream while it is up. The cookie's value is a route id, a
//! hash of the upstream's address (as nginx does), so it tells the client nothing of the network,
//! survives a proxy restart and a reordered config, and needs no table. When the named upstream
//! is down, or a connect to it fails, the request goes where the policy sends it and the answer
//! carries a cookie naming the new upstream: the client fails over once and stays there.
//!
//! This is what keeps session mode working behind several backends when the sessions are not in
//! a shared store: the login and every later request land on the backend that holds the session.
//!
//! ```
//! use proxy::sticky::Sticky;
//!
//! let sticky = Sticky::from_args(&["cookie", "srv", "path=/", "httponly"]).unwrap();
//! assert_eq!(sticky.cookie, "srv");
//! assert!(Sticky::from_args(&["route", "$x"]).is_err());
//! ```

use std::time::Duration;

use http_core::Headers;
use http_core::cookie::{SetCookie, parse_cookie_header};
use sha2::{Digest, Sha256};

use crate::config::Upstream;

/// A block's `sticky cookie` directive, with the route id of each of its upstreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sticky {
    /// The cookie's name.
    pub cookie: String,
    /// `expires=`: a persistent cookie living this long; a session cookie when `None`.
    pub expires: Option<Duration>,
    /// `domain=`.
    pub domain: Option<String>,
    /// `path=`, `/` when absent.
    pub path: String,
    /// `httponly`.
    pub http_only: bool,
    /// `secure`.
    pub secure: bool,
    /// The route id of each upstream of the block, in config order (filled in when the block is
    /// complete, see [`Sticky::set_routes`]).
    routes: Vec<String>,
}

impl Sticky {
    /// The directive from its arguments after `sticky`; on error, the index of the argument at
    /// fault (or of the last one, for a missing argument) and a message.
    pub fn from_args(args: &[&str]) -> Result<Sticky, (usize, String)> {
        match args.first() {
            Some(&"cookie") => {}
            Some(other) => {
                return Err((
                    0,
                    format!("only `sticky cookie NAME` is supported, not `sticky {other}`"),
                ));
            }
            None => return Err((0, "`sticky` needs `cookie NAME`".to_owned())),
        }
        let Some(&name) = args.get(1) else {
            return Err((0, "`sticky cookie` needs a cookie name".to_owned()));
        };
        if name.is_empty() || !name.bytes().all(crate::parse::is_tchar) {
            return Err((1, format!("bad cookie name `{name}`")));
        }
        let mut sticky = Sticky {
            cookie: name.to_owned(),
            expires: None,
            domain: None,
            path: "/".to_owned(),
            http_only: false,
            secure: false,
            routes: Vec::new(),
        };
        for (i, &arg) in args.iter().enumerate().skip(2) {
            let bad = |what: &str| (i, format!("bad {what} `{arg}`"));
            match arg.split_once('=') {
                Some(("expires", v)) => {
                    sticky.expires = Some(crate::parse::duration(v).ok_or_else(|| {
                        (
                            i,
                            format!("bad expires `{v}` (expected e.g. 1h, 30m, 3600s)"),
                        )
                    })?);
                }
                Some(("domain", v)) if cookie_attr(v) => sticky.domain = Some(v.to_owned()),
                Some(("domain", _)) => return Err(bad("domain")),
                Some(("path", v)) if v.starts_with('/') && cookie_attr(v) => {
                    sticky.path = v.to_owned();
                }
                Some(("path", _)) => return Err(bad("path")),
                None if arg == "httponly" => sticky.http_only = true,
                None if arg == "secure" => sticky.secure = true,
                _ => {
                    return Err((
                        i,
                        format!(
                            "unknown `sticky cookie` parameter `{arg}` (expected expires=, \
                             domain=, path=, httponly or secure)"
                        ),
                    ));
                }
            }
        }
        Ok(sticky)
    }

    /// Records the block's upstreams, whose route ids the cookie carries.
    pub fn set_routes(&mut self, upstreams: &[Upstream]) {
        self.routes = upstreams.iter().map(route_id).collect();
    }

    /// The upstream a request's cookie names, if it names one of this block's.
    pub fn requested(&self, headers: &Headers) -> Option<usize> {
        headers
            .get_all("cookie")
            .filter_map(|value| std::str::from_utf8(value).ok())
            .flat_map(parse_cookie_header)
            .filter(|(name, _)| *name == self.cookie)
            .find_map(|(_, value)| self.routes.iter().position(|r| r == value))
    }

    /// The `Set-Cookie` value that sends a client to upstream `backend` from now on.
    pub fn set_cookie(&self, backend: usize) -> String {
        let route = self.routes.get(backend).map_or("", String::as_str);
        let mut cookie = SetCookie::new(self.cookie.as_str(), route).path(&self.path);
        if let Some(domain) = &self.domain {
            cookie = cookie.domain(domain);
        }
        if let Some(expires) = self.expires {
            cookie = cookie.max_age(i64::try_from(expires.as_secs()).unwrap_or(i64::MAX));
        }
        if self.http_only {
            cookie = cookie.http_only();
        }
        if self.secure {
            cookie = cookie.secure();
        }
        cookie.to_string()
    }
}

/// An attribute value that cannot end the attribute or the header.
fn cookie_attr(v: &str) -> bool {
    !v.is_empty()
        && !v
            .chars()
            .any(|c| c == ';' || c.is_whitespace() || c.is_control())
}

/// The route id of an upstream: 16 hex digits of the SHA-256 of its URL.
pub fn route_id(upstream: &Upstream) -> String {
    let digest = Sha256::digest(upstream.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(port: u16) -> Upstream {
        Upstream {
            host: "127.0.0.1".to_owned(),
            port,
            path: String::new(),
        }
    }

    fn sticky(args: &[&str]) -> Sticky {
        let mut s = Sticky::from_args(args).unwrap();
        s.set_routes(&[upstream(9000), upstream(9001)]);
        s
    }

    fn check(cookie_headers: &[&str], expected: Option<usize>) {
        let s = sticky(&["cookie", "srv"]);
        let mut headers = Headers::new();
        for value in cookie_headers {
            headers.append("Cookie", value.to_string());
        }
        assert_eq!(s.requested(&headers), expected, "{cookie_headers:?}");
    }

    #[test]
    fn the_cookie_names_an_upstream_of_the_block() {
        let r1 = route_id(&upstream(9001));
        check(&[], None);
        check(&[&format!("srv={r1}")], Some(1));
        check(&[&format!("a=b; srv={r1}; c=d")], Some(1));
        check(&["a=b", &format!("srv={r1}")], Some(1));
        check(&["srv=0000000000000000"], None);
        check(&[&format!("other={r1}")], None);
        // A stale cookie, then a good one: the good one counts.
        check(
            &[&format!("srv=zz; srv={}", route_id(&upstream(9000)))],
            Some(0),
        );
    }

    #[test]
    fn route_ids_are_stable_and_distinct() {
        assert_eq!(route_id(&upstream(9000)), route_id(&upstream(9000)));
        assert_ne!(route_id(&upstream(9000)), route_id(&upstream(9001)));
        assert_eq!(route_id(&upstream(9000)).len(), 16);
    }

    #[test]
    fn set_cookie_carries_the_attributes() {
        let s = sticky(&[
            "cookie",
            "srv",
            "expires=1h",
            "domain=.example.com",
            "path=/app",
            "httponly",
            "secure",
        ]);
        assert_eq!(
            s.set_cookie(1),
            format!(
                "srv={}; Path=/app; Domain=.example.com; Max-Age=3600; HttpOnly; Secure",
                route_id(&upstream(9001))
            )
        );
        assert_eq!(
            sticky(&["cookie", "srv"]).set_cookie(0),
            format!("srv={}; Path=/", route_id(&upstream(9000)))
        );
    }

    #[test]
    fn bad_directives_name_the_argument() {
        let err = |args: &[&str]| Sticky::from_args(args).unwrap_err();
        assert_eq!(err(&[]).0, 0);
        assert_eq!(err(&["cookie"]).0, 0);
        assert_eq!(err(&["learn", "x"]).0, 0);
        assert_eq!(err(&["cookie", "a;b"]).0, 1);
        assert_eq!(err(&["cookie", "srv", "expires=soon"]).0, 2);
        assert_eq!(err(&["cookie", "srv", "path=x"]).0, 2);
        assert_eq!(err(&["cookie", "srv", "httponly", "max_age=3"]).0, 3);
    }
}
