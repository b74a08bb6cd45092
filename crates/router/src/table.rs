//! The route table: method + path pattern → a value, with path parameters. Pure and generic, so
//! it is tested without sockets and reused by any daemon.
//!
//! Patterns are `/`-separated segments: literals, `:name` (one segment) and a final `*name` (the
//! rest of the path). A trailing slash is insignificant (`/get-list` and `/get-list/` are one
//! route). Literal segments win over parameters, parameters over a wildcard.

use http_core::Method;

/// Why a route could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The pattern is not well formed.
    #[error("invalid route pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The offending pattern.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Another route already answers this method on an equivalent pattern.
    #[error("route {method} {pattern} conflicts with {existing}")]
    Conflict {
        /// The method being added.
        method: String,
        /// The pattern being added.
        pattern: String,
        /// The existing pattern it clashes with.
        existing: String,
    },
}

/// Every route an app refused, reported together so that one start-up names them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} route(s) refused: {}", .0.len(), list(.0))]
pub struct RouteErrors(Vec<RouteError>);

impl RouteErrors {
    /// The refusals, in the order the routes were added.
    pub fn new(errors: Vec<RouteError>) -> RouteErrors {
        RouteErrors(errors)
    }

    /// Each refusal.
    pub fn errors(&self) -> &[RouteError] {
        &self.0
    }
}

fn list(errors: &[RouteError]) -> String {
    let each: Vec<String> = errors.iter().map(ToString::to_string).collect();
    each.join("; ")
}

/// The outcome of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a, T> {
    /// A route matched.
    Found {
        /// The stored value.
        value: &'a T,
        /// Path parameters, in pattern order, still percent-encoded.
        params: Vec<(&'a str, String)>,
    },
    /// The path is known but not for this method; `allow` lists the methods that are.
    MethodNotAllowed {
        /// Methods the path answers (with HEAD when GET is there, and OPTIONS).
        allow: Vec<Method>,
    },
    /// No route has this path.
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

impl Segment {
    /// Two segments are equivalent when they match the same paths.
    fn same_shape(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Param(_), Segment::Param(_)) | (Segment::Rest(_), Segment::Rest(_)) => true,
            _ => false,
        }
    }
}

struct Route<T> {
    pattern: String,
    segments: Vec<Segment>,
    methods: Vec<(Method, T)>,
}

/// A route table generic over what it stores (handlers, in the router).
pub struct Table<T> {
    routes: Vec<Route<T>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table { routes: Vec::new() }
    }
}

fn parse_pattern(pattern: &str) -> Result<Vec<Segment>, RouteError> {
    let invalid = |reason| RouteError::InvalidPattern {
        pattern: pattern.to_owned(),
        reason,
    };
    if !pattern.starts_with('/') {
        return Err(invalid("a pattern starts with '/'"));
    }
    let parts: Vec<&str> = split_path(pattern).collect();
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let segment = if let Some(name) = part.strip_prefix(':') {
            if name.is_empty() {
                return Err(invalid("a parameter needs a name"));
            }
            Segment::Param(name.to_owned())
        } else if let Some(name) = part.strip_prefix('*') {
            if i + 1 != parts.len() {
                return Err(invalid("a wildcard must be the last segment"));
            }
            Segment::Rest(name.to_owned())
        } else if part.is_empty() {
            return Err(invalid("empty segment"));
        } else {
            Segment::Literal((*part).to_owned())
        };
        segments.push(segment);
    }
    Ok(segments)
}

/// The segments of a path, ignoring the leading and one trailing slash.
fn split_path(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    trimmed.split('/').filter(move |_| !trimmed.is_empty())
}

/// How specific a match is: literals beat parameters, which beat a wildcard.
fn score(segments: &[Segment]) -> (usize, usize) {
    let literals = segments
        .iter()
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count();
    let params = segments
        .iter()
        .filter(|s| matches!(s, Segment::Param(_)))
        .count();
    (literals, params)
}

/// Path parameters of a match: names borrowed from the pattern, values from the path.
type Params<'r> = Vec<(&'r str, String)>;

fn matches<'r>(segments: &'r [Segment], path: &str) -> Option<Params<'r>> {
    let mut params = Vec::new();
    let mut parts = split_path(path);
    for segment in segments {
        match segment {
            Segment::Rest(name) => {
                let rest: Vec<&str> = parts.collect();
                params.push((name.as_str(), rest.join("/")));
                return Some(params);
            }
            Segment::Literal(lit) => {
                if parts.next()? != lit {
                    return None;
                }
            }
            Segment::Param(name) => params.push((name.as_str(), parts.next()?.to_owned())),
        }
    }
    parts.next().is_none().then_some(params)
}

impl<T> Table<T> {
    /// An empty table.
    pub fn new() -> Table<T> {
        Table::default()
    }

    /// Adds `value` for `method` on `pattern`; a method already answered on an equivalent
    /// pattern is an error naming the existing route.
    pub fn insert(&mut self, pattern: &str, method: Method, value: T) -> Result<(), RouteError> {
        let segments = parse_pattern(pattern)?;
        let same = self.routes.iter_mut().find(|r| {
            r.segments.len() == segments.len()
                && r.segments
                    .iter()
                    .zip(&segments)
                    .all(|(a, b)| a.same_shape(b))
        });
        match same {
            Some(route) => {
                if route.methods.iter().any(|(m, _)| *m == method) {
                    return Err(RouteError::Conflict {
                        method: method.to_string(),
                        pattern: pattern.to_owned(),
                        existing: route.pattern.clone(),
                    });
                }
                route.methods.push((method, value));
            }
            None => self.routes.push(Route {
                pattern: pattern.to_owned(),
                segments,
                methods: vec![(method, value)],
            }),
        }
        Ok(())
    }

    /// Finds the most specific route for `path` (percent-encoded, without query) and `method`.
    /// `HEAD` falls back to `GET`.
    pub fn lookup<'a>(&'a self, method: &Method, path: &str) -> Lookup<'a, T> {
        let mut best: Option<(&Route<T>, Params<'_>)> = None;
        for route in &self.routes {
            if let Some(params) = matches(&route.segments, path) {
                let better = best
                    .as_ref()
                    .is_none_or(|(b, _)| score(&route.segments) > score(&b.segments));
                if better {
                    best = Some((route, params));
                }
            }
        }
        let Some((route, params)) = best else {
            return Lookup::NotFound;
        };
        let found = route.methods.iter().find(|(m, _)| m == method).or_else(|| {
            (*method == Method::Head)
                .then(|| route.methods.iter().find(|(m, _)| *m == Method::Get))
                .flatten()
        });
        match found {
            Some((_, value)) => Lookup::Found { value, params },
            None => {
                let mut allow: Vec<Method> = route.methods.iter().map(|(m, _)| m.clone()).collect();
                if allow.contains(&Method::Get) && !allow.contains(&Method::Head) {
                    allow.push(Method::Head);
                }
                if !allow.contains(&Method::Options) {
                    allow.push(Method::Options);
                }
                Lookup::MethodNotAllowed { allow }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table<&'static str> {
        let mut t = Table::new();
        t.insert("/", Method::Get, "root").unwrap();
        t.insert("/get-list", Method::Get, "list").unwrap();
        t.insert("/get-list/", Method::Post, "list-post").unwrap();
        t.insert("/files/:id", Method::Get, "file").unwrap();
        t.insert("/files/:id/chunks/:n", Method::Get, "chunk")
            .unwrap();
        t.insert("/files/latest", Method::Get, "latest").unwrap();
        t.insert("/static/*rest", Method::Get, "static").unwrap();
        t
    }

    fn check(method: Method, path: &str, expected: &str) {
        let t = table();
        let got = match t.lookup(&method, path) {
            Lookup::Found { value, params } => {
                let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{value} {}", params.join(","))
            }
            Lookup::MethodNotAllowed { allow } => {
                let allow: Vec<&str> = allow.iter().map(|m| m.as_str()).collect();
                format!("405 {}", allow.join(","))
            }
            Lookup::NotFound => "404".to_owned(),
        };
        assert_eq!(got.trim_end(), expected, "{method} {path}");
    }

    #[test]
    fn lookups() {
        check(Method::Get, "/", "root");
        check(Method::Get, "/get-list", "list");
        check(Method::Get, "/get-list/", "list");
        check(Method::Post, "/get-list", "list-post");
        check(Method::Head, "/get-list", "list");
        check(Method::Delete, "/get-list", "405 GET,POST,HEAD,OPTIONS");
        check(Method::Get, "/files/abc", "file id=abc");
        check(Method::Get, "/files/latest", "latest");
        check(Method::Get, "/files/abc/chunks/7", "chunk id=abc,n=7");
        check(Method::Get, "/files/abc/chunks", "404");
        check(Method::Get, "/static/css/a.css", "static rest=css/a.css");
        check(Method::Get, "/nope", "404");
        check(Method::Post, "/", "405 GET,HEAD,OPTIONS");
    }

    #[test]
    fn conflicts_name_the_existing_route() {
        let mut t = table();
        let err = t.insert("/files/:other", Method::Get, "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "route GET /files/:other conflicts with /files/:id"
        );
        let err = t.insert("/get-list/", Method::Get, "x").unwrap_err();
        assert!(err.to_string().contains("conflicts with /get-list"));
        t.insert("/files/:other", Method::Put, "ok").unwrap();
    }

    #[test]
    fn bad_patterns_are_rejected() {
        let mut t: Table<()> = Table::new();
        assert!(t.insert("nope", Method::Get, ()).is_err());
        assert!(t.insert("/a/:", Method::Get, ()).is_err());
        assert!(t.insert("/a/*rest/b", Method::Get, ()).is_err());
        assert!(t.insert("/a//b", Method::Get, ()).is_err());
    }
}
