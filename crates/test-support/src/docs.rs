//! The ```` ```http ```` examples of a section of a document (docs/PROTOCOL.md), for the tests
//! that run them as written: request blocks (method, target, headers, blank line, body), each
//! followed by its response block (status line, headers to check, blank line, body), and JSON
//! comparison where an expected `"<...>"` string matches any value.

use http_core::{Method, Request};
use serde_json::Value;

/// One request block and the response block after it.
#[derive(Debug, Clone)]
pub struct Example {
    /// The line of the document where the request block starts.
    pub line: usize,
    /// The request block's text.
    pub request: String,
    /// The response block's text.
    pub response: String,
}

impl Example {
    /// The status code the response block expects (its status line's second word).
    pub fn status(&self) -> u16 {
        self.response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("line {}: no status in the response", self.line))
    }
}

/// The request a request block (as [`Example::request`], after any substitution) describes:
/// its method, target, headers and body as written.
pub fn request(block: &str) -> Request {
    let (head, body) = split(block);
    let mut words = head[0].split_whitespace();
    let method = words.next().expect("a method");
    let target = words.next().expect("a target");
    let mut req = Request::new(Method::from_token(method), target);
    for line in &head[1..] {
        let (name, value) = header(line);
        req.head.headers.append(name.to_owned(), value.to_owned());
    }
    req.body = bytes::Bytes::from(body.to_owned());
    req
}

/// The examples of the section that starts at `heading` (a line such as `## Tracker API`) and
/// ends at the next heading of its level, paired request → response.
pub fn examples(doc: &str, heading: &str) -> Vec<Example> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading} section"));
    let rest = &doc[start..];
    let level = format!("\n{} ", heading.split(' ').next().unwrap_or("##"));
    let section = match rest[heading.len()..].find(&level) {
        Some(end) => &rest[..heading.len() + end],
        None => rest,
    };
    let first_line = doc[..start].lines().count() + 1;
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in section.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```http") => current = Some((first_line + n, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, text)), line) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```http block");
    assert!(blocks.len() % 2 == 0, "every request needs its response");
    blocks
        .chunks(2)
        .map(|pair| {
            let (line, request) = pair[0].clone();
            let (_, response) = pair[1].clone();
            assert!(
                !request.starts_with("HTTP/"),
                "line {line}: a request comes first"
            );
            assert!(
                response.starts_with("HTTP/1.1 "),
                "line {line}: then its response"
            );
            Example {
                line,
                request,
                response,
            }
        })
        .collect()
}

/// Head lines and body of a block.
pub fn split(block: &str) -> (Vec<&str>, &str) {
    match block.split_once("\n\n") {
        Some((head, body)) => (head.lines().collect(), body.trim()),
        None => (block.trim_end().lines().collect(), ""),
    }
}

/// A header line's name and value, trimmed.
pub fn header(line: &str) -> (&str, &str) {
    let (name, value) = line.split_once(':').expect("a header line");
    (name.trim(), value.trim())
}

/// JSON equality where an expected `"<...>"` string matches any value.
pub fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(s), _) if s.starts_with('<') && s.ends_with('>') => true,
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a))
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, e)| a.get(k).is_some_and(|a| matches(e, a)))
        }
        (e, a) => e == a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_end_at_the_next_heading_of_their_level() {
        let doc = "# D\n## A\n### x\n```http\nGET / HTTP/1.1\n```\n```http\nHTTP/1.1 200 OK\n\n{}\n```\n## B\n```http\nGET /b HTTP/1.1\n```\n```http\nHTTP/1.1 404 Not Found\n```\n";
        let a = examples(doc, "## A");
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].line, a[0].request.as_str()), (4, "GET / HTTP/1.1\n"));
        assert_eq!(examples(doc, "## B")[0].request, "GET /b HTTP/1.1\n");
        assert_eq!(
            split("GET / HTTP/1.1\nA: b\n\n{}\n"),
            (vec!["GET / HTTP/1.1", "A: b"], "{}")
        );
        let ex = &examples(doc, "## B")[0];
        assert_eq!(ex.status(), 404);
        let req = request("POST /x?y=1 HTTP/1.1\nContent-Type: text/plain\n\nhi\n");
        assert_eq!(
            (req.head.method, req.head.target.as_str()),
            (Method::Post, "/x?y=1")
        );
        assert_eq!(
            req.head.headers.get("content-type"),
            Some(&b"text/plain"[..])
        );
        assert_eq!(&req.body[..], b"hi");
        let any = serde_json::json!({"a": "<any>", "b": [1]});
        assert!(matches(&any, &serde_json::json!({"a": 5, "b": [1]})));
        assert!(!matches(&any, &serde_json::json!({"a": 5, "b": [2]})));
    }
}
