//! The keep-alive pool: requests share connections, and a request the server dropped on a
//! reused connection before answering is sent once more on a fresh one.

use http_core::{Limits, Method, Request, Response, Status};
use reactor::client::ClientReply;
use reactor::pool::{Pool, PoolConfig, PoolEvent};
use reactor::{Addr, Cx, EventLoop, Protocol, Reply, RequestInfo, Session};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

/// Answers each request with the client's port: one port per connection.
fn port_of(_req: Request, info: &RequestInfo) -> Reply {
    Reply::Full(Response::text(Status::OK, info.peer.port().to_string()))
}

enum Msg {
    Send(u64),
    Pool(PoolEvent),
}

/// Sends `GET /n` for each number it is told, and reports each reply's tag and body.
struct Client {
    pool: Pool<Client>,
    target: SocketAddr,
    report: mpsc::Sender<(u64, Result<String, String>)>,
}

impl Protocol for Client {
    type Message = Msg;

    fn on_read(&mut self, _cx: &mut Cx<'_>) {}

    fn on_message(&mut self, cx: &mut Cx<'_>, msg: Msg) {
        match msg {
            Msg::Send(n) => {
                let req = Request::new(Method::Get, format!("/{n}"));
                self.pool.request(cx, self.target, &req, n);
            }
            Msg::Pool(event) => {
                if let Some(ClientReply { tag, result }) = self.pool.on_event(cx, event) {
                    let body = result
                        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                        .map_err(|e| e.to_string());
                    let _ = self.report.send((tag, body));
                }
            }
        }
    }
}

type Report = mpsc::Receiver<(u64, Result<String, String>)>;

fn client(event_loop: &mut EventLoop, target: SocketAddr, max: usize) -> (Addr<Client>, Report) {
    let (tx, rx) = mpsc::channel();
    let config = PoolConfig {
        max_per_origin: max,
        ..PoolConfig::default()
    };
    let mut addr = None;
    event_loop.spawn(Session::with_addr(|me: Addr<Client>| {
        addr = Some(me.clone());
        Client {
            pool: Pool::new(me, Msg::Pool, config),
            target,
            report: tx,
        }
    }));
    (addr.unwrap(), rx)
}

fn next(rx: &Report) -> (u64, Result<String, String>) {
    rx.recv_timeout(Duration::from_secs(10)).expect("a reply")
}

#[test]
fn requests_share_keep_alive_connections_up_to_the_cap() {
    let mut event_loop = EventLoop::new(100).unwrap();
    let server = reactor::serve(
        &mut event_loop,
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(port_of),
        Limits::default(),
    )
    .unwrap();
    let (me, rx) = client(&mut event_loop, server, 2);
    let handle = event_loop.handle();
    let thread = thread::spawn(move || event_loop.run());

    let mut ports = BTreeSet::new();
    for n in 0..5 {
        handle.send(&me, Msg::Send(n));
        let (tag, body) = next(&rx);
        assert_eq!(tag, n);
        ports.insert(body.unwrap());
    }
    assert_eq!(
        ports.len(),
        1,
        "one after another, the requests share one connection"
    );

    for n in 5..25 {
        handle.send(&me, Msg::Send(n));
    }
    let mut tags = BTreeSet::new();
    for _ in 5..25 {
        let (tag, body) = next(&rx);
        tags.insert(tag);
        ports.insert(body.unwrap());
    }
    assert_eq!(tags, (5..25).collect());
    assert!(ports.len() <= 2, "at most two connections: {ports:?}");
    handle.stop();
    thread.join().unwrap().unwrap();
}

/// Reads one request head (these requests have no body); `false` at EOF.
fn read_request(reader: &mut BufReader<std::net::TcpStream>) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        if line == "\r\n" {
            return true;
        }
    }
}

#[test]
fn a_request_dropped_unanswered_on_a_reused_connection_is_sent_again_on_a_fresh_one() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let (seen_tx, seen) = mpsc::channel();
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let peer = thread::spawn(move || {
        // The first connection answers one request, then drops the next one unanswered, as a
        // server closing an idle connection while a request is on its way does.
        let (first, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(first.try_clone().unwrap());
        assert!(read_request(&mut reader));
        (&first).write_all(answer).unwrap();
        assert!(read_request(&mut reader));
        seen_tx.send("dropped").unwrap();
        drop((reader, first));
        let (second, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(second.try_clone().unwrap());
        assert!(read_request(&mut reader));
        (&second).write_all(answer).unwrap();
        seen_tx.send("answered").unwrap();
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
    });

    let mut event_loop = EventLoop::new(100).unwrap();
    let (me, rx) = client(&mut event_loop, server, 1);
    let handle = event_loop.handle();
    let thread = thread::spawn(move || event_loop.run());
    handle.send(&me, Msg::Send(1));
    assert_eq!(next(&rx), (1, Ok("ok".into())));
    handle.send(&me, Msg::Send(2));
    assert_eq!(next(&rx), (2, Ok("ok".into())));
    let order: Vec<_> = seen.try_iter().collect();
    assert_eq!(order, ["dropped", "answered"]);
    handle.stop();
    thread.join().unwrap().unwrap();
    peer.join().unwrap();
}
