//! The proxy.conf grammar: host blocks and their directives, checked as they are read.
//!
//! ```text
//! config    = { host-block }
//! host-block = "host" NAME "{" { directive } "}"
//! directive = WORD { ARG } ( ";" | end of line | before "}" )
//! ```
//!
//! Line ends separate directives, so the `;` is optional everywhere; `{` may sit on the line after
//! the host name.

use std::time::Duration;

use crate::config::{
    Config, ConfigError, DEFAULT_SEND_TIMEOUT, DEFAULT_TIMEOUT, HeaderTemplate, HostBlock,
    HostPattern, Policy, SetHeader, Upstream,
};
use crate::lexer::{Pos, Tok, Token, tokenize};
use crate::sticky::Sticky;

/// Parses the text of a proxy.conf; `file` is only used to name it in errors.
///
/// ```
/// let conf = proxy::parse("host \"app.local\" {\n  proxy_pass http://127.0.0.1:9000;\n}\n", "p.conf")?;
/// assert_eq!(conf.hosts[0].upstreams[0].authority(), "127.0.0.1:9000");
///
/// let err = proxy::parse("host \"app.local\" {\n  proxy_pas http://127.0.0.1:9000;\n}\n", "p.conf");
/// assert_eq!(err.unwrap_err().to_string(), "p.conf:2:3: unknown directive `proxy_pas`");
/// # Ok::<(), proxy::ConfigError>(())
/// ```
pub fn parse(src: &str, file: &str) -> Result<Config, ConfigError> {
    let error = |pos: Pos, message: String| ConfigError {
        file: file.to_owned(),
        line: pos.line,
        col: pos.col,
        message,
    };
    let tokens = tokenize(src).map_err(|(pos, message)| error(pos, message))?;
    Parser { tokens, next: 0 }
        .config()
        .map_err(|(pos, message)| error(pos, message))
}

/// A parse failure before the file name is attached.
type Failure = (Pos, String);

/// Directives allowed inside a host block, for a clearer message when one appears outside.
const BLOCK_DIRECTIVES: [&str; 8] = [
    "proxy_pass",
    "proxy_set_header",
    "dist_policy",
    "proxy_read_timeout",
    "proxy_timeout",
    "proxy_send_timeout",
    "health_check",
    "sticky",
];

struct Parser {
    tokens: Vec<Token>,
    next: usize,
}

/// A directive's words after its name.
struct Directive {
    name: String,
    pos: Pos,
    args: Vec<(String, Pos)>,
}

impl Directive {
    /// The arguments, if there are exactly `N`; otherwise an error at the directive (too few) or
    /// at the first extra argument (too many).
    fn args<const N: usize>(&self) -> Result<[(&str, Pos); N], Failure> {
        if self.args.len() != N {
            let pos = self.args.get(N).map_or(self.pos, |arg| arg.1);
            let plural = if N == 1 { "" } else { "s" };
            return Err((
                pos,
                format!(
                    "`{}` takes {N} argument{plural}, found {}",
                    self.name,
                    self.args.len()
                ),
            ));
        }
        Ok(std::array::from_fn(|i| {
            (self.args[i].0.as_str(), self.args[i].1)
        }))
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        // `tokenize` always ends with Eof, and `bump` never moves past it.
        &self.tokens[self.next]
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.next].clone();
        if token.tok != Tok::Eof {
            self.next += 1;
        }
        token
    }

    fn skip_newlines(&mut self) {
        while self.peek().tok == Tok::Newline {
            self.bump();
        }
    }

    fn config(mut self) -> Result<Config, Failure> {
        let mut hosts: Vec<HostBlock> = Vec::new();
        loop {
            self.skip_newlines();
            let Token { tok, pos } = self.bump();
            match tok {
                Tok::Eof => return Ok(Config { hosts }),
                Tok::Word(word) if word == "host" => {
                    let block = self.host_block(pos, &hosts)?;
                    hosts.push(block);
                }
                Tok::Word(word) if BLOCK_DIRECTIVES.contains(&word.as_str()) => {
                    return Err((pos, format!("`{word}` must be inside a host block")));
                }
                Tok::Word(word) => return Err((pos, format!("unknown directive `{word}`"))),
                other => return Err((pos, format!("expected `host`, found {other}"))),
            }
        }
    }

    /// Reads a block after its `host` keyword at `start`; `earlier` are the blocks before it.
    fn host_block(&mut self, start: Pos, earlier: &[HostBlock]) -> Result<HostBlock, Failure> {
        let Token { tok, pos } = self.bump();
        let name = match tok {
            Tok::Word(name) | Tok::Str(name) => name,
            other => {
                return Err((
                    pos,
                    format!("expected a host name after `host`, found {other}"),
                ));
            }
        };
        let host = host_pattern(&name).map_err(|message| (pos, message))?;
        if let Some(first) = earlier.iter().find(|block| block.host == host) {
            let what = match &host {
                HostPattern::CatchAll => "catch-all host".to_owned(),
                HostPattern::Exact(name) => format!("host \"{name}\""),
            };
            return Err((
                pos,
                format!("duplicate {what} (first defined at line {})", first.line),
            ));
        }
        self.skip_newlines();
        let open = self.bump();
        if open.tok != Tok::Open {
            return Err((
                open.pos,
                format!("expected `{{` after host name, found {}", open.tok),
            ));
        }

        let mut block = HostBlock {
            host,
            upstreams: Vec::new(),
            headers: Vec::new(),
            policy: Policy::default(),
            timeout: DEFAULT_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            health_check: None,
            sticky: None,
            line: start.line,
        };
        let mut seen = Seen::default();
        loop {
            let Token { tok, pos } = self.bump();
            match tok {
                Tok::Newline | Tok::Semi => {}
                Tok::Close => break,
                Tok::Eof => {
                    return Err((
                        pos,
                        format!(
                            "missing `}}`: host block opened at line {} is not closed",
                            start.line
                        ),
                    ));
                }
                Tok::Word(word) if word == "host" => {
                    return Err((
                        pos,
                        format!(
                            "missing `}}` before `host`: host block opened at line {} is not closed",
                            start.line
                        ),
                    ));
                }
                Tok::Word(name) => {
                    let directive = self.directive(name, pos)?;
                    apply(&mut block, &mut seen, &directive)?;
                }
                other => return Err((pos, format!("expected a directive, found {other}"))),
            }
        }
        if block.upstreams.is_empty() {
            return Err((
                start,
                format!("host \"{}\" has no `proxy_pass`", block.host),
            ));
        }
        if let Some(sticky) = &mut block.sticky {
            sticky.set_routes(&block.upstreams);
        }
        Ok(block)
    }

    /// Collects the arguments of directive `name`, leaving a closing `}` for the block.
    fn directive(&mut self, name: String, pos: Pos) -> Result<Directive, Failure> {
        let mut args = Vec::new();
        loop {
            match &self.peek().tok {
                Tok::Semi | Tok::Newline => {
                    self.bump();
                    break;
                }
                Tok::Close | Tok::Eof => break,
                Tok::Open => return Err((self.peek().pos, "unexpected `{`".to_owned())),
                Tok::Word(_) | Tok::Str(_) => {
                    let Token { tok, pos } = self.bump();
                    if let Tok::Word(arg) | Tok::Str(arg) = tok {
                        args.push((arg, pos));
                    }
                }
            }
        }
        Ok(Directive { name, pos, args })
    }
}

/// Which once-only directives a block has had, and where.
#[derive(Default)]
struct Seen {
    policy: Option<Pos>,
    timeout: Option<Pos>,
    send_timeout: Option<Pos>,
    health_check: Option<Pos>,
    sticky: Option<Pos>,
}

fn once(slot: &mut Option<Pos>, d: &Directive) -> Result<(), Failure> {
    if let Some(first) = slot {
        return Err((
            d.pos,
            format!("duplicate `{}` (first at line {})", d.name, first.line),
        ));
    }
    *slot = Some(d.pos);
    Ok(())
}

/// The one duration argument of a timeout directive.
fn timeout_arg(d: &Directive) -> Result<Duration, Failure> {
    let [(timeout, pos)] = d.args()?;
    duration(timeout).ok_or_else(|| {
        (
            pos,
            format!("bad {} `{timeout}` (expected e.g. 30s, 500ms, 2m)", d.name),
        )
    })
}

fn apply(block: &mut HostBlock, seen: &mut Seen, d: &Directive) -> Result<(), Failure> {
    match d.name.as_str() {
        "proxy_pass" => {
            let [(url, pos)] = d.args()?;
            let upstream = upstream_url(url).map_err(|m| (pos, m))?;
            block.upstreams.push(upstream);
        }
        "proxy_set_header" => {
            let [(name, name_pos), (value, value_pos)] = d.args()?;
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err((name_pos, format!("bad header name `{name}`")));
            }
            if block
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(name))
            {
                return Err((name_pos, format!("duplicate `proxy_set_header {name}`")));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err((value_pos, format!("control character in value of {name}")));
            }
            let value = HeaderTemplate::parse(value).map_err(|m| (value_pos, m))?;
            block.headers.push(SetHeader {
                name: name.to_owned(),
                value,
            });
        }
        "dist_policy" => {
            once(&mut seen.policy, d)?;
            let [(policy, pos)] = d.args()?;
            block.policy = policy.parse().map_err(|m| (pos, m))?;
        }
        // nginx's name, and the course's older one for the same setting.
        "proxy_read_timeout" | "proxy_timeout" => {
            once(&mut seen.timeout, d)?;
            block.timeout = timeout_arg(d)?;
        }
        "proxy_send_timeout" => {
            once(&mut seen.send_timeout, d)?;
            block.send_timeout = timeout_arg(d)?;
        }
        "health_check" => {
            once(&mut seen.health_check, d)?;
            let [(path, pos)] = d.args()?;
            if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err((
                    pos,
                    format!("bad health_check path `{path}` (expected e.g. /health)"),
                ));
            }
            block.health_check = Some(path.to_owned());
        }
        "sticky" => {
            once(&mut seen.sticky, d)?;
            let args: Vec<&str> = d.args.iter().map(|(a, _)| a.as_str()).collect();
            let sticky = Sticky::from_args(&args).map_err(|(i, message)| {
                let pos = d.args.get(i).map_or(d.pos, |arg| arg.1);
                (pos, message)
            })?;
            block.sticky = Some(sticky);
        }
        other => return Err((d.pos, format!("unknown directive `{other}`"))),
    }
    Ok(())
}

/// The name after `host`: `*` and `default` are the catch-all, anything else a host with an
/// optional port.
fn host_pattern(name: &str) -> Result<HostPattern, String> {
    if name == "*" || name.eq_ignore_ascii_case("default") {
        return Ok(HostPattern::CatchAll);
    }
    if name.is_empty() {
        return Err("empty host name".to_owned());
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | '?' | '#'))
    {
        return Err(format!("bad host name \"{name}\""));
    }
    let bare = crate::config::strip_port(name);
    if let Some(port) = name[bare.len()..].strip_prefix(':') {
        port_number(port).ok_or_else(|| format!("bad port `{port}` in host name \"{name}\""))?;
    }
    Ok(HostPattern::Exact(name.to_ascii_lowercase()))
}

/// `http://HOST[:PORT][/path]`, the only form `proxy_pass` takes.
fn upstream_url(url: &str) -> Result<Upstream, String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "unsupported scheme `{scheme}` in `{url}` (only http upstreams)"
            ));
        }
        None => {
            return Err(format!(
                "bad upstream url `{url}` (expected http://HOST:PORT)"
            ));
        }
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains(['@', '?', '#']) {
        return Err(format!(
            "bad upstream url `{url}` (expected http://HOST:PORT)"
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("unclosed `[` in upstream url `{url}`"))?;
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("bad IPv6 address in upstream url `{url}`"));
        }
        let port = match after {
            "" => None,
            // `[::1]9000` is not `[::1]:9000`: only a `:` may follow the `]`.
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("expected `:` after `]` in upstream url `{url}`"))?,
            ),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("missing host in upstream url `{url}`"));
    }
    let host_ok = authority.starts_with('[')
        || host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !host_ok {
        return Err(format!("bad host `{host}` in upstream url `{url}`"));
    }
    let port = match port {
        None => 80,
        Some(port) => {
            port_number(port).ok_or_else(|| format!("bad port `{port}` in upstream url `{url}`"))?
        }
    };
    Ok(Upstream {
        host: host.to_ascii_lowercase(),
        port,
        path: path.to_owned(),
    })
}

/// A TCP port: 1 to 65535, digits only.
fn port_number(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&p| p != 0)
}

/// `30s`, `500ms`, `2m`, `1h`, or bare seconds; zero is refused because it would time out at once.
pub(crate) fn duration(s: &str) -> Option<Duration> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    let n: u64 = number.parse().ok()?;
    let millis = match unit {
        "ms" => n,
        "" | "s" => n.checked_mul(1_000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    (millis > 0).then(|| Duration::from_millis(millis))
}

/// RFC 9110 `tchar`, the characters allowed in a header name.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line per block: `host policy timeout health [upstreams] [headers]`.
    fn summary(conf: &Config) -> Vec<String> {
        conf.hosts
            .iter()
            .map(|b| {
                let ups: Vec<String> = b.upstreams.iter().map(|u| u.to_string()).collect();
                let hdrs: Vec<String> = b
                    .headers
                    .iter()
                    .map(|h| format!("{}={}", h.name, h.value.render("H", "R")))
                    .collect();
                format!(
                    "{} {} {}ms {} {:?} {:?}",
                    b.host,
                    b.policy,
                    b.timeout.as_millis(),
                    b.health_check.as_deref().unwrap_or("tcp"),
                    ups,
                    hdrs
                )
            })
            .collect()
    }

    fn check(src: &str, expected: &[&str]) {
        let conf = parse(src, "t.conf").unwrap_or_else(|e| panic!("{e}\nin:\n{src}"));
        assert_eq!(summary(&conf), expected, "in:\n{src}");
    }

    fn check_err(src: &str, expected: &str) {
        match parse(src, "t.conf") {
            Ok(conf) => panic!("accepted {src:?} as {:?}", summary(&conf)),
            Err(e) => assert_eq!(e.to_string(), expected, "in:\n{src}"),
        }
    }

    #[test]
    fn read_and_send_timeouts() {
        let timeouts = |src: &str| {
            let conf = parse(src, "t.conf").unwrap_or_else(|e| panic!("{e}\nin:\n{src}"));
            (conf.hosts[0].timeout, conf.hosts[0].send_timeout)
        };
        let secs = Duration::from_secs;
        assert_eq!(
            timeouts("host a { proxy_pass http://a; }"),
            (DEFAULT_TIMEOUT, DEFAULT_SEND_TIMEOUT)
        );
        assert_eq!(
            timeouts(
                "host a { proxy_pass http://a; proxy_read_timeout 5s; proxy_send_timeout 7s }"
            ),
            (secs(5), secs(7))
        );
        assert_eq!(
            timeouts("host a { proxy_pass http://a; proxy_timeout 4s }"),
            (secs(4), DEFAULT_SEND_TIMEOUT)
        );
        check_err(
            "host a {\n  proxy_timeout 1s;\n  proxy_read_timeout 2s;\n}",
            "t.conf:3:3: duplicate `proxy_read_timeout` (first at line 2)",
        );
        check_err(
            "host a {\n  proxy_send_timeout soon;\n}",
            "t.conf:2:22: bad proxy_send_timeout `soon` (expected e.g. 30s, 500ms, 2m)",
        );
    }

    #[test]
    fn good_configs() {
        check("", &[]);
        check("# nothing but comments\n\n   # here\n", &[]);
        check(
            "host \"a\" { proxy_pass http://127.0.0.1:9000; }",
            &[r#"a round-robin 30000ms tcp ["http://127.0.0.1:9000"] []"#],
        );
        // No `;` anywhere, `{` on its own line, CRLF, a bare name.
        check(
            "host a.local\r\n{\r\n  proxy_pass http://localhost:9000\r\n  dist_policy random\r\n}\r\n",
            &[r#"a.local random 30000ms tcp ["http://localhost:9000"] []"#],
        );
        check(
            "host default {\n\tproxy_pass http://10.0.0.1:1/api # trailing\n}\nhost '*.x' { proxy_pass http://b:2 }",
            &[
                r#"* round-robin 30000ms tcp ["http://10.0.0.1:1/api"] []"#,
                r#"*.x round-robin 30000ms tcp ["http://b:2"] []"#,
            ],
        );
        check(
            "host \"App.Local:8080\" {\n  proxy_set_header X-Real-IP $remote_addr;\n  proxy_set_header Via \"proxy $host\";\n  proxy_pass http://A:1;;\n  proxy_pass http://b;\n  proxy_timeout 1500ms;\n  health_check /health;\n  dist_policy least-conn;\n}",
            &[
                r#"app.local:8080 least-conn 1500ms /health ["http://a:1", "http://b:80"] ["X-Real-IP=R", "Via=proxy H"]"#,
            ],
        );
        check(
            "host \"*\" { proxy_pass http://[::1]:9000; proxy_timeout 2m }",
            &[r#"* round-robin 120000ms tcp ["http://[::1]:9000"] []"#],
        );
        check(
            "host x { proxy_pass http://a:1; proxy_timeout 45 }",
            &[r#"x round-robin 45000ms tcp ["http://a:1"] []"#],
        );
    }

    #[test]
    fn structure_errors() {
        check_err(
            "proxy_pass http://a:1;",
            "t.conf:1:1: `proxy_pass` must be inside a host block",
        );
        check_err("server {\n}", "t.conf:1:1: unknown directive `server`");
        check_err("}", "t.conf:1:1: expected `host`, found `}`");
        check_err("\n\"x\"", "t.conf:2:1: expected `host`, found \"x\"");
        check_err(
            "host",
            "t.conf:1:5: expected a host name after `host`, found end of file",
        );
        check_err(
            "host {",
            "t.conf:1:6: expected a host name after `host`, found `{`",
        );
        check_err(
            "host \"a\"\n    proxy_pass http://a:1;\n}",
            "t.conf:2:5: expected `{` after host name, found `proxy_pass`",
        );
        check_err(
            "host a",
            "t.conf:1:7: expected `{` after host name, found end of file",
        );
        check_err(
            "host a {\n  proxy_pass http://a:1;\n",
            "t.conf:3:1: missing `}`: host block opened at line 1 is not closed",
        );
        check_err(
            "host a {\n  proxy_pass http://a:1;\nhost b {\n  proxy_pass http://b:1;\n}",
            "t.conf:3:1: missing `}` before `host`: host block opened at line 1 is not closed",
        );
        check_err(
            "host a { proxy_pass http://a:1; }\n}",
            "t.conf:2:1: expected `host`, found `}`",
        );
        check_err(
            "host a {\n  proxy_pass http://a:1 {\n}",
            "t.conf:2:25: unexpected `{`",
        );
        check_err(
            "host a {\n  \"x\"\n}",
            "t.conf:2:3: expected a directive, found \"x\"",
        );
        check_err("host a { {", "t.conf:1:10: expected a directive, found `{`");
        check_err("host \"a", "t.conf:1:6: unterminated string");
    }

    #[test]
    fn directive_errors() {
        check_err(
            "host a {\n    proxy_pas http://a:1;\n}",
            "t.conf:2:5: unknown directive `proxy_pas`",
        );
        check_err("host a {\n}", "t.conf:1:1: host \"a\" has no `proxy_pass`");
        check_err(
            "\n  host default {\n  dist_policy random\n}",
            "t.conf:2:3: host \"*\" has no `proxy_pass`",
        );
        check_err(
            "host a {\n  proxy_pass;\n}",
            "t.conf:2:3: `proxy_pass` takes 1 argument, found 0",
        );
        check_err(
            "host a {\n  proxy_pass http://a:1 http://b:1;\n}",
            "t.conf:2:25: `proxy_pass` takes 1 argument, found 2",
        );
        check_err(
            // Without `;` the next directive on the same line becomes arguments.
            "host a { proxy_pass http://a:1 dist_policy random }",
            "t.conf:1:32: `proxy_pass` takes 1 argument, found 3",
        );
        check_err(
            "host a {\n  proxy_set_header Host;\n  proxy_pass http://a:1;\n}",
            "t.conf:2:3: `proxy_set_header` takes 2 arguments, found 1",
        );
        check_err(
            "host a {\n  proxy_set_header Bad:Name x;\n}",
            "t.conf:2:20: bad header name `Bad:Name`",
        );
        check_err(
            "host a {\n  proxy_set_header Host $host;\n  proxy_set_header host x;\n}",
            "t.conf:3:20: duplicate `proxy_set_header host`",
        );
        check_err(
            "host a {\n  proxy_set_header X-F $forwarded;\n}",
            "t.conf:2:24: unknown variable `$forwarded` (supported: $host, $remote_addr)",
        );
        check_err(
            "host a {\n  proxy_pass http://a:1;\n  dist_policy fastest\n}",
            "t.conf:3:15: unknown dist_policy `fastest` (expected round-robin, least-conn or random)",
        );
        check_err(
            "host a {\n  proxy_pass http://a:1;\n  dist_policy random;\n  dist_policy random;\n}",
            "t.conf:4:3: duplicate `dist_policy` (first at line 3)",
        );
        check_err(
            "host a {\n  proxy_timeout 0s;\n}",
            "t.conf:2:17: bad proxy_timeout `0s` (expected e.g. 30s, 500ms, 2m)",
        );
        check_err(
            "host a {\n  proxy_timeout 30sec;\n}",
            "t.conf:2:17: bad proxy_timeout `30sec` (expected e.g. 30s, 500ms, 2m)",
        );
        check_err(
            "host a {\n  health_check health;\n}",
            "t.conf:2:16: bad health_check path `health` (expected e.g. /health)",
        );
        check_err(
            "host a {\n  health_check /a;\n  health_check /b;\n}",
            "t.conf:3:3: duplicate `health_check` (first at line 2)",
        );
    }

    #[test]
    fn url_errors() {
        let cases = [
            (
                "192.168.56.103:9000",
                "bad upstream url `192.168.56.103:9000` (expected http://HOST:PORT)",
            ),
            (
                "https://a:443",
                "unsupported scheme `https` in `https://a:443` (only http upstreams)",
            ),
            (
                "http://:9000",
                "missing host in upstream url `http://:9000`",
            ),
            ("http://", "missing host in upstream url `http://`"),
            ("http://a:", "bad port `` in upstream url `http://a:`"),
            ("http://a:0", "bad port `0` in upstream url `http://a:0`"),
            (
                "http://a:65536",
                "bad port `65536` in upstream url `http://a:65536`",
            ),
            (
                "http://a:90x",
                "bad port `90x` in upstream url `http://a:90x`",
            ),
            (
                "http://a:+80",
                "bad port `+80` in upstream url `http://a:+80`",
            ),
            (
                "http://a:1:2",
                "bad port `1:2` in upstream url `http://a:1:2`",
            ),
            (
                "http://u@a:1",
                "bad upstream url `http://u@a:1` (expected http://HOST:PORT)",
            ),
            (
                "http://a b:1",
                "bad host `a b` in upstream url `http://a b:1`",
            ),
            (
                "http://[::1:9000",
                "unclosed `[` in upstream url `http://[::1:9000`",
            ),
            (
                "http://[zz]:1",
                "bad IPv6 address in upstream url `http://[zz]:1`",
            ),
            (
                "http://[::1]x",
                "expected `:` after `]` in upstream url `http://[::1]x`",
            ),
            (
                "http://[::1]9000",
                "expected `:` after `]` in upstream url `http://[::1]9000`",
            ),
            (
                "http://[::1]:x",
                "bad port `x` in upstream url `http://[::1]:x`",
            ),
        ];
        for (url, message) in cases {
            check_err(
                &format!("host a {{\n  proxy_pass \"{url}\";\n}}"),
                &format!("t.conf:2:14: {message}"),
            );
        }
    }

    #[test]
    fn host_name_errors() {
        check_err(
            "host a { proxy_pass http://a:1; }\nhost \"A\" { proxy_pass http://b:1; }",
            "t.conf:2:6: duplicate host \"a\" (first defined at line 1)",
        );
        check_err(
            "host \"*\" { proxy_pass http://a:1; }\n\nhost default { proxy_pass http://b:1; }",
            "t.conf:3:6: duplicate catch-all host (first defined at line 1)",
        );
        check_err("host \"\" {", "t.conf:1:6: empty host name");
        check_err("host \"a b\" {", "t.conf:1:6: bad host name \"a b\"");
        check_err("host a/b {", "t.conf:1:6: bad host name \"a/b\"");
        check_err(
            "host a:http {",
            "t.conf:1:6: bad port `http` in host name \"a:http\"",
        );
        check_err(
            "host \"a:\" {",
            "t.conf:1:6: bad port `` in host name \"a:\"",
        );
    }

    #[test]
    fn durations() {
        for (input, ms) in [
            ("30s", Some(30_000)),
            ("30", Some(30_000)),
            ("250ms", Some(250)),
            ("2m", Some(120_000)),
            ("1h", Some(3_600_000)),
            ("0", None),
            ("s", None),
            ("-1s", None),
            ("1.5s", None),
            ("99999999999999999999s", None),
        ] {
            assert_eq!(duration(input).map(|d| d.as_millis()), ms, "{input}");
        }
    }
}
