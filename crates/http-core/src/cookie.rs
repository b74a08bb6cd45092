//! Cookies: reading the `Cookie` request header and building `Set-Cookie` values (RFC 6265).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::write::http_date;

/// The `name=value` pairs of a `Cookie` header value, in order.
///
/// Names and values are trimmed, pairs without `=` are skipped, and a value in double quotes
/// loses them.
///
/// ```
/// # use http_core::cookie::parse_cookie_header;
/// let pairs: Vec<_> = parse_cookie_header("a=b; junk; c=\"d\"").collect();
/// assert_eq!(pairs, [("a", "b"), ("c", "d")]);
/// ```
pub fn parse_cookie_header(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!name.is_empty()).then_some((name, value))
    })
}

/// The `SameSite` attribute of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Also sent on top-level cross-site navigations.
    Lax,
    /// Sent on every request; browsers require `Secure` with it.
    None,
}

/// A `Set-Cookie` header value, built attribute by attribute; `Display` gives the header value.
///
/// ```
/// # use http_core::cookie::{SameSite, SetCookie};
/// let c = SetCookie::new("sid", "ab").path("/").http_only().same_site(SameSite::Lax);
/// assert_eq!(c.to_string(), "sid=ab; Path=/; HttpOnly; SameSite=Lax");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    name: String,
    value: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<i64>,
    expires: Option<SystemTime>,
    http_only: bool,
    secure: bool,
    same_site: Option<SameSite>,
}

impl SetCookie {
    /// A session cookie `name=value` without attributes.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> SetCookie {
        SetCookie {
            name: name.into(),
            value: value.into(),
            path: None,
            domain: None,
            max_age: None,
            expires: None,
            http_only: false,
            secure: false,
            same_site: None,
        }
    }

    /// Sets `Path`.
    pub fn path(mut self, path: &str) -> SetCookie {
        self.path = Some(path.to_owned());
        self
    }

    /// Sets `Domain`.
    pub fn domain(mut self, domain: &str) -> SetCookie {
        self.domain = Some(domain.to_owned());
        self
    }

    /// Sets `Max-Age` in seconds (0 or less deletes the cookie).
    pub fn max_age(mut self, seconds: i64) -> SetCookie {
        self.max_age = Some(seconds);
        self
    }

    /// Sets `Expires`.
    pub fn expires(mut self, at: SystemTime) -> SetCookie {
        self.expires = Some(at);
        self
    }

    /// Adds `HttpOnly`: scripts cannot read the cookie.
    pub fn http_only(mut self) -> SetCookie {
        self.http_only = true;
        self
    }

    /// Adds `Secure`: sent over HTTPS only.
    pub fn secure(mut self) -> SetCookie {
        self.secure = true;
        self
    }

    /// Sets `SameSite`.
    pub fn same_site(mut self, same_site: SameSite) -> SetCookie {
        self.same_site = Some(same_site);
        self
    }

    /// Makes this a deletion: `Max-Age=0` and an `Expires` in 1970 (for old clients).
    pub fn expired(mut self) -> SetCookie {
        self.max_age = Some(0);
        self.expires = Some(UNIX_EPOCH);
        self
    }
}

/// Drops what would end the attribute or the header line (`;`, controls), so a value taken from
/// user input cannot inject attributes or header fields.
fn clean(s: &str) -> impl fmt::Display + '_ {
    struct Clean<'a>(&'a str);
    impl fmt::Display for Clean<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for part in self.0.split(|c: char| c == ';' || c.is_control()) {
                f.write_str(part)?;
            }
            Ok(())
        }
    }
    Clean(s)
}

impl fmt::Display for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", clean(&self.name), clean(&self.value))?;
        if let Some(path) = &self.path {
            write!(f, "; Path={}", clean(path))?;
        }
        if let Some(domain) = &self.domain {
            write!(f, "; Domain={}", clean(domain))?;
        }
        if let Some(max_age) = self.max_age {
            write!(f, "; Max-Age={max_age}")?;
        }
        if let Some(expires) = self.expires {
            write!(f, "; Expires={}", http_date(expires))?;
        }
        if self.http_only {
            f.write_str("; HttpOnly")?;
        }
        if self.secure {
            f.write_str("; Secure")?;
        }
        match self.same_site {
            Some(SameSite::Strict) => f.write_str("; SameSite=Strict"),
            Some(SameSite::Lax) => f.write_str("; SameSite=Lax"),
            Some(SameSite::None) => f.write_str("; SameSite=None"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(header: &str, expected: &[(&str, &str)]) {
        let got: Vec<_> = parse_cookie_header(header).collect();
        assert_eq!(got, expected, "{header:?}");
    }

    #[test]
    fn parses_cookie_headers() {
        check("", &[]);
        check("a=b", &[("a", "b")]);
        check("a=b; c=d", &[("a", "b"), ("c", "d")]);
        check("  a = b ;c=d;", &[("a", "b"), ("c", "d")]);
        check("flag; a=b", &[("a", "b")]);
        check("a=\"quoted\"", &[("a", "quoted")]);
        check("a=\"", &[("a", "\"")]);
        check("a=", &[("a", "")]);
        check("=x; b=c=d", &[("b", "c=d")]);
    }

    #[test]
    fn formats_set_cookie() {
        let cases = [
            (SetCookie::new("a", "b"), "a=b"),
            (
                SetCookie::new("sid", "ab")
                    .path("/")
                    .http_only()
                    .same_site(SameSite::Lax),
                "sid=ab; Path=/; HttpOnly; SameSite=Lax",
            ),
            (
                SetCookie::new("x", "1")
                    .domain("example.com")
                    .max_age(60)
                    .expires(UNIX_EPOCH + Duration::from_secs(784_111_777))
                    .secure()
                    .same_site(SameSite::None),
                "x=1; Domain=example.com; Max-Age=60; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; SameSite=None",
            ),
            (
                SetCookie::new("auth", "").path("/").expired(),
                "auth=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ),
            (
                SetCookie::new("a", "b; Domain=evil\r\nX: y").same_site(SameSite::Strict),
                "a=b Domain=evilX: y; SameSite=Strict",
            ),
        ];
        for (cookie, expected) in cases {
            assert_eq!(cookie.to_string(), expected);
        }
    }
}
