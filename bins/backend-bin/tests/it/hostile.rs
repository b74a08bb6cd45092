//! Bad input over raw sockets: each case gets a clear status and, where framing is lost, a closed
//! connection; files outside the static root are never served.

use crate::{raw, read_to_eof, start, statuses};
use backend::{AuthMode, Config};
use http_core::Limits;
use router::auth::{Credentials, base64_decode};
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

/// Sends `bytes` and expects exactly one response with `status`, then a connection the server
/// closed by itself (the client keeps its side open).
fn check(request: &[u8], status: u16) {
    let server = start(AuthMode::Session);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(request).unwrap();
    let (text, closed) = read_to_eof(&mut stream, WAIT);
    assert_eq!(
        statuses(&text),
        vec![status],
        "{:?} →\n{text}",
        String::from_utf8_lossy(request)
    );
    assert!(text.contains("Connection: close"), "{text}");
    assert!(closed, "the server closed the connection after {status}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(!body.trim().is_empty(), "the body says what was wrong");
}

#[test]
fn malformed_request_line() {
    check(b"GET\r\n\r\n", 400);
    check(b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400);
    check(b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}

#[test]
fn bad_header() {
    check(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400);
    check(b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400);
    check(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
}

#[test]
fn missing_host_on_http11() {
    check(b"GET / HTTP/1.1\r\n\r\n", 400);
}

#[test]
fn smuggling_attempts() {
    check(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    check(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        400,
    );
    check(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
        400,
    );
    check(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400);
    check(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 400);
    check(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
        400,
    );
    check(b"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400);
}

#[test]
fn oversized_heads_and_bodies() {
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    check(&big, 431);

    let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..150 {
        many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    check(&many, 431);

    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 9 * 1024));
    long.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    check(&long, 414);

    check(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",
        413,
    );
}

#[test]
fn slow_header_gets_408_after_the_timeout() {
    let mut credentials = Credentials::new();
    credentials.add("admin", "password");
    let config = Config {
        static_root: crate::static_root(),
        credentials,
        auth_mode: AuthMode::Session,
        cors_origins: Vec::new(),
    };
    let mut app = backend::app(config).unwrap();
    app.limits(Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let server = app.spawn("127.0.0.1:0").unwrap();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let started = Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let text = read_to_eof(&mut stream, WAIT).0;
    assert_eq!(statuses(&text), vec![408], "{text}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn traversal_never_leaves_the_root() {
    let server = start(AuthMode::Session);
    for path in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E/%2E%2E/Cargo.toml",
        "/css/..%2f..%2fCargo.toml",
        "/..%2f..%2fCargo.toml",
        "/css/%2e%2e/%2e%2e/Cargo.toml",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/..\\..\\Cargo.toml",
        "/css/../../Cargo.toml",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let text = raw(server.addr, req.as_bytes(), WAIT);
        assert_eq!(statuses(&text), vec![404], "{path}: {text}");
        assert!(
            !text.contains("[workspace]") && !text.contains("root:"),
            "{path} leaked a file"
        );
    }
}

/// Regression: the route table read the raw path while the static files decoded it, so other
/// spellings of `/index.html` skipped the guarded route and were served as a plain file.
#[test]
fn no_spelling_of_the_index_skips_the_guard() {
    let server = start(AuthMode::Session);
    for path in [
        "//index.html",
        "/%69ndex.html",
        "/index%2Ehtml",
        "/index%2ehtml/",
        "///",
        "/%2F",
        "//?x=1",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let text = raw(server.addr, req.as_bytes(), WAIT);
        let status = statuses(&text);
        assert!(
            status == [401] || status == [404],
            "{path} answered {status:?} without a session"
        );
        assert!(
            !text.contains("<title>Welcome"),
            "{path} leaked the index: {text}"
        );
    }
}

#[test]
fn symlinks_leaving_the_root_are_refused() {
    let dir = std::env::temp_dir().join(format!("backend-symlink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::write(dir.join("secret.txt"), "secret").unwrap();
    std::fs::write(dir.join("root/ok.txt"), "ok").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("root/link.txt")).unwrap();
    let mut app = router::App::new();
    app.static_dir("/", dir.join("root")).unwrap();
    let server = app.spawn("127.0.0.1:0").unwrap();
    let ok = raw(
        server.addr,
        b"GET /ok.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    );
    assert_eq!(statuses(&ok), vec![200]);
    let link = raw(
        server.addr,
        b"GET /link.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    );
    assert_eq!(statuses(&link), vec![404], "{link}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_request_split_at_every_byte_is_answered_the_same() {
    let server = start(AuthMode::Session);
    let request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n[1,2,3]";
    let whole = raw(
        server.addr,
        &[
            &request[..],
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        WAIT,
    );
    let expected_body = r#"{"received":[1,2,3]}"#;
    assert!(whole.contains(expected_body));
    for split in 1..request.len() {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(&request[..split]).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1));
        stream.write_all(&request[split..]).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let text = read_to_eof(&mut stream, WAIT).0;
        assert_eq!(statuses(&text), vec![200], "split at {split}: {text}");
        assert!(text.ends_with(expected_body), "split at {split}: {text}");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = start(AuthMode::Session);
    let text = raw(
        server.addr,
        b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /login HTTP/1.1\r\nHost: x\r\n\r\nDELETE /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        WAIT,
    );
    assert_eq!(statuses(&text), vec![404, 200, 405]);
}

#[test]
fn http10_closes_unless_keep_alive() {
    let server = start(AuthMode::Session);
    let text = raw(server.addr, b"GET /login HTTP/1.0\r\n\r\n", WAIT);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(
            b"GET /login HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /nope HTTP/1.0\r\n\r\n",
        )
        .unwrap();
    let text = read_to_eof(&mut stream, WAIT).0;
    assert_eq!(statuses(&text), vec![200, 404]);
}

/// One case of the llhttp-derived corpus.
struct Case {
    id: String,
    outcome: String,
    messages: usize,
    raw: Vec<u8>,
}

fn corpus() -> Vec<Case> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/http-core/tests/conformance/llhttp-requests.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stricter = std::fs::read_to_string(path.with_file_name("stricter.txt")).unwrap();
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Case {
                id: v["id"].as_str().unwrap().to_owned(),
                // Cases we refuse on purpose, by an RFC 9112 must, are judged as errors.
                outcome: if stricter.lines().any(|l| l.trim() == v["id"]) {
                    "error".to_owned()
                } else {
                    v["outcome"].as_str().unwrap().to_owned()
                },
                messages: v["messages"].as_u64().unwrap_or(0) as usize,
                raw: base64_decode(v["raw_b64"].as_str().unwrap()).unwrap(),
            }
        })
        .collect()
}

#[test]
fn conformance_corpus_against_the_daemon() {
    let server = start(AuthMode::Session);
    let cases = corpus();
    assert_eq!(cases.len(), 134);
    let mut failures = Vec::new();
    for case in &cases {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(&case.raw).unwrap();
        // A faulty message must make the server close by itself: keep our side open for those.
        if case.outcome != "error" {
            let _ = stream.shutdown(Shutdown::Write);
        }
        let (text, closed) = read_to_eof(&mut stream, WAIT);
        let got = statuses(&text);
        let ok = match case.outcome.as_str() {
            // Messages before the faulty one may be answered; the faulty one gets the last answer,
            // a 4xx (or 501/505 for an unknown method or version, never a 500), and the connection
            // is closed after it.
            "error" => {
                closed
                    && got.len() <= case.messages + 1
                    && got
                        .last()
                        .is_some_and(|s| (400..500).contains(s) || [501, 505].contains(s))
                    && text
                        .rsplit("HTTP/1.1 ")
                        .next()
                        .is_some_and(|last| last.contains("Connection: close"))
            }
            // Every message answered in order, no 5xx; a missing Host may end it with 400.
            "ok" => {
                got.iter().all(|s| *s < 500)
                    && (got.len() == case.messages
                        || got.last() == Some(&400) && got.len() <= case.messages)
            }
            "upgrade" => !got.is_empty() && got.iter().all(|s| *s < 500),
            // Nothing may be answered for an incomplete request, unless the head is already bad.
            _ => got.is_empty() || got == [400],
        };
        if !ok {
            failures.push(format!("{} ({}): {got:?}", case.id, case.outcome));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
