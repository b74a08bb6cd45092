//! Runs the llhttp request corpus (`tests/conformance/llhttp-requests.jsonl`, see its README)
//! through `RequestParser`, fed whole and split at every byte, and judges each case (the ids of
//! `tests/conformance/stricter.txt` as errors).

use bytes::BytesMut;
use http_core::{Limits, Method, Request, RequestParser, parse_request_head};
use serde_json::Value;

/// Cases whose fixture carries `"skipBody": true`, a meta the corpus conversion dropped: llhttp's
/// harness told the parser the message has no body (as after a HEAD request). We reproduce that
/// with the head-only API instead of pretending a 123-byte body is absent.
const SKIP_BODY: &[&str] = &["content-length.md:446"];

struct Case {
    id: String,
    raw: Vec<u8>,
    outcome: String,
    messages: usize,
    bodies: Vec<String>,
    error_offset: Option<usize>,
}

/// What the parser made of the bytes.
#[derive(Debug, PartialEq)]
struct Run {
    requests: Vec<Request>,
    error: Option<http_core::ParseError>,
    rest: BytesMut,
    upgraded: bool,
    pending: bool,
}

fn load() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/llhttp-requests.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("the corpus is in the repository");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("a JSON case");
            Case {
                id: v["id"].as_str().expect("id").to_owned(),
                raw: base64_decode(v["raw_b64"].as_str().expect("raw_b64")),
                outcome: judged_outcome(&v),
                messages: v["messages"].as_u64().unwrap_or(0) as usize,
                bodies: v["bodies"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|b| b.as_str().unwrap_or_default().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                error_offset: v["error_offset"].as_u64().map(|n| n as usize),
            }
        })
        .collect()
}

/// The case's outcome, `error` for the ids of `stricter.txt` (refused on purpose, by a must).
fn judged_outcome(case: &Value) -> String {
    let stricter = include_str!("../conformance/stricter.txt");
    let id = case["id"].as_str().expect("id");
    if stricter.lines().any(|line| line.trim() == id) {
        "error".to_owned()
    } else {
        case["outcome"].as_str().expect("outcome").to_owned()
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("not base64: {s:?}: {e}"))
}

/// Feeds `pieces` one after the other, parsing as far as possible after each.
fn feed(pieces: &[&[u8]], skip_body: bool) -> Run {
    let mut parser = RequestParser::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut error = None;
    'pieces: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let next = if skip_body {
                parse_request_head(&mut buf, parser.limits()).map(|o| {
                    o.map(|(head, _)| Request {
                        head,
                        body: Default::default(),
                        trailers: Default::default(),
                    })
                })
            } else {
                parser.parse(&mut buf)
            };
            match next {
                Ok(Some(req)) => requests.push(req),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'pieces;
                }
            }
        }
    }
    Run {
        requests,
        error,
        rest: buf,
        upgraded: parser.is_upgraded(),
        pending: parser.in_progress(),
    }
}

/// Judges one run per the corpus README; `Err` says what is wrong.
fn judge(case: &Case, run: &Run) -> Result<(), String> {
    let bodies: Vec<&[u8]> = run.requests.iter().map(|r| &r.body[..]).collect();
    let expected: Vec<&[u8]> = case.bodies.iter().map(|b| b.as_bytes()).collect();
    let count = run.requests.len();
    match case.outcome.as_str() {
        "ok" if run.error.is_some() => Err(format!("rejected: {:?}", run.error)),
        "ok" if count != case.messages || bodies != expected => {
            Err(format!("{count} messages with bodies {bodies:?}"))
        }
        "ok" => Ok(()),
        "error" if run.error.is_none() => Err(format!("accepted {count} messages, no error")),
        "error" if count > case.messages => Err(format!("accepted the faulty message ({count})")),
        "error" => Ok(()),
        "upgrade" => {
            if let Some(e) = &run.error {
                return Err(format!("rejected: {e:?}"));
            }
            let Some(last) = run.requests.last() else {
                return Err("no head".into());
            };
            let switches = last.head.is_upgrade()
                || matches!(last.head.method, Method::Connect)
                || last.method().as_str() == "PRI";
            if count != 1 || !switches || !run.upgraded {
                return Err(format!("{count} messages, upgraded: {}", run.upgraded));
            }
            if case.messages == 1 && bodies != expected {
                return Err(format!("bodies {bodies:?}"));
            }
            let rest_ok = match (case.messages, case.error_offset) {
                (1, Some(offset)) => run.rest[..] == case.raw[offset..],
                _ => case.raw.ends_with(&run.rest),
            };
            if rest_ok {
                Ok(())
            } else {
                Err(format!("left {:?}", run.rest))
            }
        }
        "incomplete" if run.error.is_some() => Err(format!("rejected: {:?}", run.error)),
        "incomplete" if count != case.messages || (!run.pending && run.rest.is_empty()) => {
            Err(format!("{count} messages, nothing pending"))
        }
        "incomplete" => Ok(()),
        other => Err(format!("unknown outcome {other}")),
    }
}

/// Judges `case` fed whole, then split at every byte (each split must also equal the whole run).
fn check(case: &Case) -> Result<(), String> {
    let skip_body = SKIP_BODY.contains(&case.id.as_str());
    let whole = feed(&[&case.raw], skip_body);
    judge(case, &whole).map_err(|e| format!("whole: {e}"))?;
    for k in 0..=case.raw.len() {
        let split = feed(&[&case.raw[..k], &case.raw[k..]], skip_body);
        judge(case, &split).map_err(|e| format!("split at {k}: {e}"))?;
        // After an error the unread bytes are meaningless: an early error leaves the rest unfed.
        let same = split.requests == whole.requests
            && split.error == whole.error
            && (whole.error.is_some() || split == whole);
        if !same {
            return Err(format!(
                "split at {k} differs from the whole parse: {split:?}"
            ));
        }
    }
    Ok(())
}

#[test]
fn llhttp_request_corpus() {
    let cases = load();
    assert_eq!(cases.len(), 134, "the corpus has 134 cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check(case)
                .err()
                .map(|e| format!("{} ({}): {e}", case.id, case.outcome))
        })
        .collect();
    for failure in &failures {
        println!("FAIL {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
