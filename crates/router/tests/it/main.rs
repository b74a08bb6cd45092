//! The router over real sockets: panics, hooks, streaming, deferred replies, upgrades, shared
//! state, refused routes.

use bytes::Bytes;
use http_core::{Method, Request, Response, Status};
use reactor::client::blocking_request;
use reactor::{Cx, Protocol, Reply};
use router::{App, HttpError, Json, Req};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn get(addr: SocketAddr, path: &str) -> reactor::client::ClientResponse {
    blocking_request(
        addr,
        &Request::new(Method::Get, path),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn read_until(stream: &mut TcpStream, needle: &str, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {needle:?}; got {:?}",
            String::from_utf8_lossy(&out)
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
    let mut app = App::new();
    app.get("/boom", |_, _req: &Req| -> String {
        panic!("handler exploded")
    });
    app.get("/ok", |_, _req: &Req| "fine");
    let server = app.spawn("127.0.0.1:0").unwrap();
    assert_eq!(
        get(server.addr, "/boom").status,
        Status::INTERNAL_SERVER_ERROR
    );
    let ok = get(server.addr, "/ok");
    assert_eq!(ok.status, Status::OK);
    assert_eq!(&ok.body[..], b"fine");
    // Same connection: the panic did not poison it.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let text = read_until(&mut stream, "fine", Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 500"), "{text}");
}

#[test]
fn params_queries_json_and_errors() {
    let mut app = App::new();
    app.get("/files/:id/chunks/:n", |_, req: &Req| {
        Json(serde_json::json!({"id": req.param("id"), "n": req.param("n"), "q": req.query("q")}))
    });
    app.get("/deny", |_, _req: &Req| {
        Err::<String, _>(HttpError::forbidden("no way"))
    });
    let server = app.spawn("127.0.0.1:0").unwrap();
    let resp = get(server.addr, "/files/a%20b/chunks/3?q=x+y");
    assert_eq!(&resp.body[..], br#"{"id":"a b","n":"3","q":"x y"}"#);
    let deny = get(server.addr, "/deny");
    assert_eq!(deny.status, Status::FORBIDDEN);
    assert_eq!(&deny.body[..], br#"{"error":"no way"}"#);
    let missing = get(server.addr, "/nothing");
    assert_eq!(missing.status, Status::NOT_FOUND);
    assert!(String::from_utf8_lossy(&missing.body).contains("/nothing"));
}

#[test]
fn before_hooks_guard_and_after_hooks_decorate() {
    let mut app = App::new();
    app.get("/open", |_, _req: &Req| "open");
    app.get("/secret", |_, _req: &Req| "secret");
    app.before(|_, req: &Req| {
        (req.path() == "/secret" && req.header("x-key") != Some("k"))
            .then(|| Reply::Full(HttpError::unauthorized("key required").into_response()))
    });
    app.after(|_, _req: &Req, resp: &mut Response| resp.headers.insert("X-Frame-Options", "DENY"));
    let server = app.spawn("127.0.0.1:0").unwrap();
    assert_eq!(get(server.addr, "/open").status, Status::OK);
    let denied = get(server.addr, "/secret");
    assert_eq!(denied.status, Status::UNAUTHORIZED);
    assert_eq!(denied.headers.get_str("x-frame-options"), Some("DENY"));
    // Regression: the hook and the table must read the same path, whatever its spelling.
    for spelling in ["//secret", "/%73ecret", "/secre%74", "/%73ecret/"] {
        assert_eq!(
            get(server.addr, spelling).status,
            Status::UNAUTHORIZED,
            "{spelling}"
        );
    }
    let mut req = Request::new(Method::Get, "/secret");
    req.head.headers.append("X-Key", "k");
    assert_eq!(
        blocking_request(server.addr, &req, Duration::from_secs(5))
            .unwrap()
            .status,
        Status::OK
    );
}

#[test]
fn streamed_bodies_arrive_while_the_stream_is_open() {
    // The second event (and the end of the stream) waits until the client has read the first:
    // a server that held the body back until the stream ended would never deliver it.
    let first_read = Arc::new(Barrier::new(2));
    let mut app = App::new();
    let gate = first_read.clone();
    app.get("/events", move |_, req: &Req| {
        let sender = req.info().body_sender();
        let gate = gate.clone();
        std::thread::spawn(move || {
            sender.send("data: one\n\n");
            gate.wait();
            sender.send("data: two\n\n");
        });
        Reply::Stream(Response::with_body(
            Status::OK,
            "text/event-stream",
            Bytes::new(),
        ))
    });
    let server = app.spawn("127.0.0.1:0").unwrap();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let first = read_until(&mut stream, "data: one", Duration::from_secs(5));
    assert!(first.contains("Transfer-Encoding: chunked"), "{first}");
    first_read.wait();
    let rest = read_until(&mut stream, "\r\n0\r\n\r\n", Duration::from_secs(5));
    assert!(rest.contains("data: two"), "{rest}");
}

#[test]
fn deferred_replies_keep_pipelined_order() {
    // /slow answers only once the client has sent /fast behind it, so /fast is waiting in the
    // pipeline while /slow is deferred.
    let both_sent = Arc::new(Barrier::new(2));
    let mut app = App::new();
    let gate = both_sent.clone();
    app.get("/slow", move |_, req: &Req| {
        let responder = req.info().responder();
        let gate = gate.clone();
        std::thread::spawn(move || {
            gate.wait();
            responder.respond(Response::text(Status::OK, "slow"));
        });
        Reply::Deferred
    });
    app.get("/fast", |_, _req: &Req| "fast");
    let server = app.spawn("127.0.0.1:0").unwrap();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    both_sent.wait();
    let text = read_until(&mut stream, "fast", Duration::from_secs(5));
    let slow = text.find("slow").unwrap();
    let fast = text.find("fast").unwrap();
    assert!(slow < fast, "{text}");
}

/// Echoes every byte back: the protocol after the upgrade.
struct Echo;

impl Protocol for Echo {
    type Message = std::convert::Infallible;

    fn on_read(&mut self, cx: &mut Cx<'_>) {
        let data = cx.input().split();
        cx.write(&data);
    }
}

#[test]
fn upgrade_hands_the_connection_to_another_protocol() {
    let mut app = App::new();
    app.get("/echo", |_, req: &Req| {
        if !req.request().head.is_upgrade() {
            return Reply::Full(HttpError::bad_request("upgrade required").into_response());
        }
        let response = Response::new(Status::SWITCHING_PROTOCOLS)
            .header("Upgrade", "echo")
            .header("Connection", "Upgrade");
        Reply::Upgrade(response, Echo.into())
    });
    let server = app.spawn("127.0.0.1:0").unwrap();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    // Bytes right after the head belong to the new protocol.
    stream
        .write_all(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello",
        )
        .unwrap();
    let text = read_until(&mut stream, "hello", Duration::from_secs(5));
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    stream.write_all(b" again").unwrap();
    read_until(&mut stream, " again", Duration::from_secs(5));
}

fn options(addr: SocketAddr, origin: &str) -> reactor::client::ClientResponse {
    let mut req = Request::new(Method::Options, "/data");
    req.head.headers.append("Origin", origin.to_owned());
    req.head
        .headers
        .append("Access-Control-Request-Method", "POST");
    blocking_request(addr, &req, Duration::from_secs(5)).unwrap()
}

#[test]
fn cors_is_same_origin_by_default_and_configurable() {
    let build = || {
        let mut app = App::new();
        app.post("/data", |_, _req: &Req| "ok");
        app
    };
    let closed = build().spawn("127.0.0.1:0").unwrap();
    let preflight = options(closed.addr, "http://evil.example");
    assert_eq!(preflight.status, Status::NO_CONTENT);
    assert!(
        preflight
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );

    let mut open = build();
    open.cors(router::Cors {
        allow_origins: vec!["http://ui.example".to_owned()],
        ..router::Cors::default()
    });
    let open = open.spawn("127.0.0.1:0").unwrap();
    let preflight = options(open.addr, "http://ui.example");
    assert_eq!(
        preflight.headers.get_str("access-control-allow-origin"),
        Some("http://ui.example")
    );
    assert!(
        preflight
            .headers
            .get_str("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        options(open.addr, "http://evil.example")
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// The one body-reading rule: JSON whatever its Content-Type (sniffed by its first byte), a
/// body declared as JSON is JSON, anything else is a form.
#[test]
fn bodies_are_json_by_shape_or_type_and_forms_otherwise() {
    let mut app = App::new();
    app.post("/fields", |_, req: &Req| {
        req.fields().map(|f| Json(serde_json::Value::Object(f)))
    });
    let server = app.spawn("127.0.0.1:0").unwrap();
    let check = |content_type: Option<&str>, body: &str, status: Status, expected: &str| {
        let mut req = Request::new(Method::Post, "/fields");
        if let Some(ct) = content_type {
            req.head.headers.append("Content-Type", ct.to_string());
        }
        req.body = Bytes::copy_from_slice(body.as_bytes());
        let resp = blocking_request(server.addr, &req, Duration::from_secs(5)).unwrap();
        let text = String::from_utf8_lossy(&resp.body);
        assert_eq!(resp.status, status, "{content_type:?} {body:?}: {text}");
        assert!(text.contains(expected), "{content_type:?} {body:?}: {text}");
    };
    let form = Some("application/x-www-form-urlencoded");
    check(
        Some("application/json"),
        r#"{"a":"1"}"#,
        Status::OK,
        r#"{"a":"1"}"#,
    );
    check(form, r#" {"a":"1"}"#, Status::OK, r#"{"a":"1"}"#);
    check(None, r#"{"a":"1"}"#, Status::OK, r#"{"a":"1"}"#);
    check(form, "a=1&b=x+y", Status::OK, r#"{"a":"1","b":"x y"}"#);
    check(None, "a=1", Status::OK, r#"{"a":"1"}"#);
    check(
        Some("application/json"),
        "a=1",
        Status::BAD_REQUEST,
        "invalid JSON",
    );
    check(form, "[1]", Status::BAD_REQUEST, "expected a JSON object");
}

/// The state every handler and hook is given: one struct, no per-closure clones.
#[derive(Default)]
struct Counter {
    seen: std::sync::atomic::AtomicU64,
}

#[test]
fn handlers_and_hooks_share_the_apps_state() {
    use std::sync::atomic::Ordering;
    let mut app = App::with_state(Counter::default());
    app.before(|counter: &Counter, _req: &Req| {
        counter.seen.fetch_add(1, Ordering::Relaxed);
        None
    })
    .get("/seen", |counter: &Counter, _req: &Req| {
        counter.seen.load(Ordering::Relaxed).to_string()
    })
    .after(|counter: &Counter, _req: &Req, resp: &mut Response| {
        let seen = counter.seen.load(Ordering::Relaxed);
        resp.headers.insert("X-Seen", seen.to_string());
    });
    assert_eq!(app.state().seen.load(Ordering::Relaxed), 0);
    let server = app.spawn("127.0.0.1:0").unwrap();
    assert_eq!(&get(server.addr, "/seen").body[..], b"1");
    let second = get(server.addr, "/seen");
    assert_eq!(&second.body[..], b"2");
    assert_eq!(second.headers.get_str("x-seen"), Some("2"));
}

#[test]
fn every_refused_route_is_reported_once_and_the_app_does_not_start() {
    let mut app = App::new();
    app.get("/a/:id", |_, _req: &Req| "a")
        .post("/b", |_, _req: &Req| "b")
        // Three refusals: a clash on a differently named parameter, a clash on a trailing-slash
        // spelling, and a malformed pattern; the route after them is still taken.
        .get("/a/:other", |_, _req: &Req| "clash")
        .route("/b/", &[Method::Get, Method::Post], |_, _req: &Req| "clash")
        .get("no-slash", |_, _req: &Req| "bad")
        .get("/c", |_, _req: &Req| "c");
    let refused = app.check().unwrap_err();
    let errors = refused.errors();
    assert_eq!(errors.len(), 3, "{refused}");
    let text = refused.to_string();
    for named in [
        "GET /a/:other conflicts with /a/:id",
        "POST /b/ conflicts with /b",
        "\"no-slash\"",
    ] {
        assert!(text.contains(named), "{named} missing from {text}");
    }
    match app.spawn("127.0.0.1:0") {
        Err(router::StartError::Routes(at_start)) => assert_eq!(at_start, refused),
        Err(other) => panic!("expected the refused routes, got {other}"),
        Ok(running) => panic!("an app with refused routes started on {}", running.addr),
    }
}

#[test]
fn a_clean_app_checks_and_starts() {
    let mut app = App::new();
    app.get("/a/:id", |_, req: &Req| req.param("id").unwrap_or_default())
        .route(
            "/a/:id",
            &[Method::Post, Method::Put],
            |_, _req: &Req| "written",
        );
    assert_eq!(app.check(), Ok(()));
    let server = app.spawn("127.0.0.1:0").unwrap();
    assert_eq!(&get(server.addr, "/a/x").body[..], b"x");
}
