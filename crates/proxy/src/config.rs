//! The parsed proxy.conf: host blocks, upstreams, header templates, policies, and host routing.
//!
//! The grammar lives in `parse.rs`; this file holds what it produces and how a request's `Host`
//! header picks a block.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::sticky::Sticky;

/// How long an upstream may stay silent while the proxy waits on it (`proxy_read_timeout`, alias
/// `proxy_timeout`): before the response head that is a 504; mid-body the connection is cut.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take none of the response the proxy has for it (`proxy_send_timeout`)
/// before the proxy drops it, as nginx's `send_timeout`.
pub const DEFAULT_SEND_TIMEOUT: Duration = http_core::limits::SEND_TIMEOUT;

/// A whole proxy.conf: its host blocks in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The `host … { … }` blocks, in the order they appear.
    pub hosts: Vec<HostBlock>,
}

/// One `host NAME { … }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBlock {
    /// Which `Host` headers this block serves.
    pub host: HostPattern,
    /// The `proxy_pass` targets, in file order; never empty.
    pub upstreams: Vec<Upstream>,
    /// The `proxy_set_header` directives, in file order.
    pub headers: Vec<SetHeader>,
    /// The `dist_policy`, [`Policy::RoundRobin`] when absent.
    pub policy: Policy,
    /// The `proxy_read_timeout` (or `proxy_timeout`), [`DEFAULT_TIMEOUT`] when absent. It runs
    /// only while the proxy waits on the upstream, never while the client is slow to read.
    pub timeout: Duration,
    /// The `proxy_send_timeout`, [`DEFAULT_SEND_TIMEOUT`] when absent.
    pub send_timeout: Duration,
    /// The `health_check` path to `GET` when probing a down upstream; `None` probes by TCP connect.
    pub health_check: Option<String>,
    /// The `sticky cookie` directive: keep a client on the upstream that first answered it.
    pub sticky: Option<Sticky>,
    /// The line of the `host` keyword, for log messages.
    pub line: usize,
}

/// The name after `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `host "*"` or `host default`: serves every `Host` no other block matches.
    CatchAll,
    /// A host name, with or without `:port`, stored lower-case.
    Exact(String),
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::CatchAll => f.write_str("*"),
            HostPattern::Exact(name) => f.write_str(name),
        }
    }
}

/// One `proxy_pass http://HOST[:PORT][/path]` target.
///
/// The host is kept as written (lower-cased) and resolved by the forwarder, so names such as
/// `localhost` work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upstream {
    /// The host name or IP address, without brackets for IPv6.
    pub host: String,
    /// The port, 80 when the URL gives none.
    pub port: u16,
    /// The path after the authority (`""` when none), to be prefixed to forwarded request paths.
    pub path: String,
}

impl Upstream {
    /// `host:port` as used to connect, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

/// A `proxy_set_header NAME VALUE` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetHeader {
    /// The header name as written.
    pub name: String,
    /// The value, with its variables still to be filled in per request.
    pub value: HeaderTemplate,
}

/// A header value with `$host` and `$remote_addr` left to be filled in per request.
///
/// ```
/// use proxy::config::HeaderTemplate;
///
/// let t = HeaderTemplate::parse("$remote_addr via $host").unwrap();
/// assert_eq!(t.render("app.local", "10.0.0.7"), "10.0.0.7 via app.local");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTemplate {
    parts: Vec<TemplatePart>,
}

/// A piece of a [`HeaderTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Text copied as is.
    Literal(String),
    /// `$host`: the request's host.
    Host,
    /// `$remote_addr`: the client's IP address.
    RemoteAddr,
}

impl HeaderTemplate {
    /// Splits `value` into literal text and variables.
    ///
    /// A `$` followed by a name (a letter or `_`, then letters, digits, `_`) must name a supported
    /// variable; a `$` followed by anything else, as in `$5`, is literal text.
    pub fn parse(value: &str) -> Result<HeaderTemplate, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = value;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            let name_len = if after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len())
            } else {
                0
            };
            let part = match &after[..name_len] {
                "" => {
                    literal.push('$');
                    rest = after;
                    continue;
                }
                "host" => TemplatePart::Host,
                "remote_addr" => TemplatePart::RemoteAddr,
                other => {
                    return Err(format!(
                        "unknown variable `${other}` (supported: $host, $remote_addr)"
                    ));
                }
            };
            if !literal.is_empty() {
                parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            rest = &after[name_len..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(TemplatePart::Literal(literal));
        }
        Ok(HeaderTemplate { parts })
    }

    /// The pieces in order.
    pub fn parts(&self) -> &[TemplatePart] {
        &self.parts
    }

    /// The value for one request.
    pub fn render(&self, host: &str, remote_addr: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            out.push_str(match part {
                TemplatePart::Literal(text) => text,
                TemplatePart::Host => host,
                TemplatePart::RemoteAddr => remote_addr,
            });
        }
        out
    }
}

/// How a block spreads requests over its upstreams (`dist_policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Each upstream in turn.
    #[default]
    RoundRobin,
    /// The upstream with the fewest active connections, in turn among equals.
    LeastConn,
    /// An upstream chosen uniformly at random.
    Random,
}

impl Policy {
    /// The name used in proxy.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::RoundRobin => "round-robin",
            Policy::LeastConn => "least-conn",
            Policy::Random => "random",
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Policy, String> {
        match s {
            "round-robin" => Ok(Policy::RoundRobin),
            "least-conn" => Ok(Policy::LeastConn),
            "random" => Ok(Policy::Random),
            other => Err(format!(
                "unknown dist_policy `{other}` (expected round-robin, least-conn or random)"
            )),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a proxy.conf was rejected; displays as `file:line:col: message`, or `file: message` when
/// the problem is the whole file (it could not be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file name as given to [`parse`](crate::parse) or [`Config::load`].
    pub file: String,
    /// 1-based line, or 0 when the error is not at a place in the file.
    pub line: usize,
    /// 1-based column in characters (a tab is one column), or 0 with `line`.
    pub col: usize,
    /// What is wrong, lower-case.
    pub message: String,
}

impl ConfigError {
    fn render(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.message)
        } else {
            format!("{}:{}:{}: {}", self.file, self.line, self.col, self.message)
        }
    }
}

impl Config {
    /// Reads and parses the file at `path`; read errors name the file too.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(src) => crate::parse(&src, &file),
            Err(e) => Err(ConfigError {
                file,
                line: 0,
                col: 0,
                message: format!("cannot read config: {e}"),
            }),
        }
    }

    /// The index of the block serving a request with this `Host` header.
    ///
    /// Tries, case-insensitively, an exact match including the port, then a match with the port
    /// stripped from both sides (first block in file order wins), then the catch-all. A missing
    /// or empty `Host` goes straight to the catch-all.
    ///
    /// ```
    /// let conf = proxy::parse("host \"a.local:8080\" { proxy_pass http://127.0.0.1:1; }\n\
    ///                          host default { proxy_pass http://127.0.0.1:2; }", "t.conf").unwrap();
    /// assert_eq!(conf.route(Some("A.LOCAL:8080")), Some(0));
    /// assert_eq!(conf.route(Some("a.local")), Some(0));
    /// assert_eq!(conf.route(Some("b.local")), Some(1));
    /// ```
    pub fn route(&self, host_header: Option<&str>) -> Option<usize> {
        let wanted = host_header.map(str::trim).filter(|h| !h.is_empty());
        if let Some(wanted) = wanted {
            let exact = self.position(|name| name.eq_ignore_ascii_case(wanted));
            if exact.is_some() {
                return exact;
            }
            let bare = strip_port(wanted);
            let by_name = self.position(|name| strip_port(name).eq_ignore_ascii_case(bare));
            if by_name.is_some() {
                return by_name;
            }
        }
        self.hosts
            .iter()
            .position(|block| block.host == HostPattern::CatchAll)
    }

    fn position(&self, matches: impl Fn(&str) -> bool) -> Option<usize> {
        self.hosts.iter().position(|block| match &block.host {
            HostPattern::Exact(name) => matches(name),
            HostPattern::CatchAll => false,
        })
    }
}

/// `host` without a trailing `:port`; `[v6]:port` keeps its brackets, and a bare IPv6 address
/// (several colons, no brackets) has no port to strip.
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(names: &[&str]) -> Config {
        let src: String = names
            .iter()
            .map(|n| format!("host \"{n}\" {{ proxy_pass http://127.0.0.1:1; }}\n"))
            .collect();
        crate::parse(&src, "t.conf").unwrap()
    }

    fn check(names: &[&str], host: Option<&str>, expected: Option<usize>) {
        assert_eq!(
            conf(names).route(host),
            expected,
            "route({host:?}) over {names:?}"
        );
    }

    #[test]
    fn route_exact_then_bare_then_catch_all() {
        let names = ["a.local:8080", "a.local:9090", "b.local", "*"];
        check(&names, Some("a.local:8080"), Some(0));
        check(&names, Some("a.local:9090"), Some(1));
        check(&names, Some("A.Local:9090"), Some(1));
        // No exact match: the first block with that name, whatever its port.
        check(&names, Some("a.local"), Some(0));
        check(&names, Some("a.local:1234"), Some(0));
        check(&names, Some("b.local:8080"), Some(2));
        check(&names, Some(" b.local "), Some(2));
        check(&names, Some("c.local"), Some(3));
        check(&names, None, Some(3));
        check(&names, Some(""), Some(3));
    }

    #[test]
    fn route_without_catch_all() {
        let names = ["localhost:8080", "127.0.0.1:8080", "tracker.localhost"];
        check(&names, Some("localhost:8080"), Some(0));
        check(&names, Some("127.0.0.1:8080"), Some(1));
        check(&names, Some("127.0.0.1"), Some(1));
        check(&names, Some("tracker.localhost:8080"), Some(2));
        check(&names, Some("alice.localhost:8080"), None);
        check(&names, None, None);
    }

    #[test]
    fn route_catch_all_position_does_not_matter() {
        check(&["default", "a.local"], Some("a.local"), Some(1));
        check(&["default", "a.local"], Some("z"), Some(0));
    }

    #[test]
    fn route_ipv6() {
        let names = ["[::1]:8080", "[::2]"];
        check(&names, Some("[::1]:8080"), Some(0));
        check(&names, Some("[::1]"), Some(0));
        check(&names, Some("[::2]:80"), Some(1));
        check(&names, Some("[::3]:80"), None);
    }

    #[test]
    fn strip_port_cases() {
        for (input, expected) in [
            ("a.local:8080", "a.local"),
            ("a.local", "a.local"),
            ("[::1]:80", "[::1]"),
            ("[::1]", "[::1]"),
            ("::1", "::1"),
            ("a:", "a"),
        ] {
            assert_eq!(strip_port(input), expected, "{input}");
        }
    }

    #[test]
    fn templates() {
        let check = |value: &str, expected: Result<&str, &str>| {
            let got = HeaderTemplate::parse(value).map(|t| t.render("h.local", "10.0.0.1"));
            assert_eq!(
                got.as_deref(),
                expected.map_err(|e| e.to_owned()).as_deref(),
                "{value}"
            );
        };
        check("$host", Ok("h.local"));
        check("$remote_addr", Ok("10.0.0.1"));
        check(
            "for=$remote_addr;host=$host",
            Ok("for=10.0.0.1;host=h.local"),
        );
        check("plain", Ok("plain"));
        check("", Ok(""));
        check("cost $5", Ok("cost $5"));
        check("$ alone $", Ok("$ alone $"));
        check("$host-x", Ok("h.local-x"));
        check(
            "$hostname",
            Err("unknown variable `$hostname` (supported: $host, $remote_addr)"),
        );
        check(
            "$proxy_add_x_forwarded_for",
            Err("unknown variable `$proxy_add_x_forwarded_for` (supported: $host, $remote_addr)"),
        );
    }

    #[test]
    fn template_parts() {
        let t = HeaderTemplate::parse("a$host$remote_addr").unwrap();
        assert_eq!(
            t.parts(),
            [
                TemplatePart::Literal("a".to_owned()),
                TemplatePart::Host,
                TemplatePart::RemoteAddr
            ]
        );
    }

    #[test]
    fn error_display() {
        let mut e = ConfigError {
            file: "p.conf".to_owned(),
            line: 3,
            col: 7,
            message: "unknown directive `x`".to_owned(),
        };
        assert_eq!(e.to_string(), "p.conf:3:7: unknown directive `x`");
        e.line = 0;
        e.col = 0;
        assert_eq!(e.to_string(), "p.conf: unknown directive `x`");
    }

    #[test]
    fn load_names_the_file() {
        let e = Config::load("/nonexistent/proxy.conf").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("/nonexistent/proxy.conf", 0));
        assert!(
            e.to_string()
                .starts_with("/nonexistent/proxy.conf: cannot read config: "),
            "{e}"
        );
    }
}
