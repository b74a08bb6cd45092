//! Runs every request/response example of the tracker section of docs/PROTOCOL.md, in order,
//! against a fresh tracker, so the document cannot drift from the code.
//!
//! The examples are the ```` ```http ```` blocks of `## Tracker API`: a request block (method,
//! target, headers, blank line, body) followed by its response block (status line, headers to
//! check, blank line, JSON body). `<token of ID>` in a request is replaced by the token the
//! registration of `ID` returned; a `"<...>"` value in an expected body, or `<...>` inside an
//! expected header value, matches anything.

use crate::start_default;
use reactor::client::blocking_request;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use test_support::docs::{self, examples, header, matches, split};

/// Replaces every `<token of ID>` with the token registered for `ID`.
fn substitute(text: &str, tokens: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("<token of ") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('>').expect("a closing >") + at;
        let id = &rest[at + "<token of ".len()..end];
        let token = tokens
            .get(id)
            .unwrap_or_else(|| panic!("no token for {id} yet"));
        out.push_str(token);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `value` matches `pattern` where each `<...>` of the pattern stands for any text.
fn glob(pattern: &str, value: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').map_or(rest.len(), |c| open + c + 1);
        pieces.push(&rest[..open]);
        rest = &rest[close..];
    }
    pieces.push(rest);
    let (first, others) = pieces.split_first().expect("at least one piece");
    let Some(mut value) = value.strip_prefix(first) else {
        return false;
    };
    for (i, piece) in others.iter().enumerate() {
        if i + 1 == others.len() {
            return value.ends_with(piece);
        }
        match value.find(piece) {
            Some(at) => value = &value[at + piece.len()..],
            None => return false,
        }
    }
    value.is_empty()
}

#[test]
fn globs() {
    let check = |pattern: &str, value: &str, expected: bool| {
        assert_eq!(glob(pattern, value), expected, "{pattern} ~ {value}");
    };
    check("sid=<s>; Path=/", "sid=abc; Path=/", true);
    check("sid=<s>; Path=/", "sid=abc; Path=/x", false);
    check("plain", "plain", true);
    check("plain", "plainer", false);
    check("<any>", "", true);
}

#[test]
fn every_example_in_protocol_md_runs_as_written() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("docs/PROTOCOL.md");
    let examples = examples(&doc, "## Tracker API");
    assert!(
        examples.len() >= 20,
        "only {} examples found",
        examples.len()
    );
    let tracker = start_default();
    let mut tokens: HashMap<String, String> = HashMap::new();
    let mut covered = Vec::new();
    for ex in &examples {
        let request = substitute(&ex.request, &tokens);
        let req = docs::request(&request);
        let (method, target) = (&req.head.method, &req.head.target);
        let got = blocking_request(tracker.addr, &req, Duration::from_secs(10)).unwrap();
        let at = format!("PROTOCOL.md line {}: {method} {target}", ex.line);

        let (expected_head, expected_body) = split(&ex.response);
        let status = ex.status();
        let actual: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(got.status.code(), status, "{at} answered {actual}");
        for line in &expected_head[1..] {
            let (name, pattern) = header(line);
            let values: Vec<&[u8]> = got.headers.get_all(name).collect();
            assert!(
                values
                    .iter()
                    .any(|v| glob(pattern, &String::from_utf8_lossy(v))),
                "{at}: no {name} header like {pattern:?} in {:?}",
                got.headers
            );
        }
        let expected: Value = serde_json::from_str(expected_body)
            .unwrap_or_else(|e| panic!("{at}: the example's body is not JSON: {e}"));
        assert!(
            matches(&expected, &actual),
            "{at}:\nexpected {expected}\nactual   {actual}"
        );
        if let (Some(id), Some(token)) = (actual["peer_id"].as_str(), actual["token"].as_str()) {
            tokens.insert(id.to_owned(), token.to_owned());
        }
        covered.push(format!("{method} {}", target.split('?').next().unwrap()));
    }
    // Every endpoint and alias of SPEC §5 and §8 has at least one example, with each method.
    for endpoint in [
        "POST /submit-info",
        "POST /tracker/register",
        "GET /get-list",
        "GET /tracker/peers",
        "POST /tracker/peers",
        "POST /add-list",
        "POST /tracker/channels/join",
        "POST /tracker/channels/leave",
        "GET /channels",
        "POST /heartbeat",
        "POST /tracker/heartbeat",
        "POST /tracker/heartbeat_batch",
        "POST /tracker/update",
        "POST /remove",
        "POST /tracker/peer/remove",
        "POST /leave",
        "POST /connect-peer",
        "GET /status",
        "GET /tracker/stats",
        "GET /tracker/health",
        "POST /login",
        "GET /files",
        "POST /files/publish",
    ] {
        assert!(
            covered.iter().any(|c| c == endpoint),
            "no example for {endpoint}"
        );
    }
    for prefix in ["POST /files/", "GET /files/", "GET /peers/"] {
        assert!(
            covered
                .iter()
                .any(|c| c.starts_with(prefix) && c != "POST /files/publish"),
            "no example under {prefix}"
        );
    }
}
