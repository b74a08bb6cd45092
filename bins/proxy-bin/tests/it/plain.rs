//! A small blocking HTTP/1.1 server written for the tests (a thread per connection), for the
//! upstream behaviours backend-bin does not have: slow answers, SSE, upgrades, huge bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A request head as the plain server read it.
pub struct Head {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Content-Length, 0 when absent.
    pub fn content_length(&self) -> u64 {
        self.header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// Handles one request: reads its body from `reader` if it has one, writes the answer to
/// `stream`, and says whether to keep the connection for another request.
pub type Handler = dyn Fn(&Head, &mut BufReader<TcpStream>, &mut TcpStream) -> bool + Send + Sync;

/// Starts a plain server on an ephemeral port; it lives until the test process ends.
pub fn serve(
    handler: impl Fn(&Head, &mut BufReader<TcpStream>, &mut TcpStream) -> bool + Send + Sync + 'static,
) -> SocketAddr {
    serve_at("127.0.0.1:0".parse().unwrap(), handler).addr
}

/// A plain server started by [`serve_at`]: where it listens and how many connections it took.
pub struct Served {
    /// The bound address.
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
}

/// Starts a plain server on `addr` (e.g. the address of an upstream brought back), counting the
/// connections it accepts; it lives until the test process ends.
pub fn serve_at(
    addr: SocketAddr,
    handler: impl Fn(&Head, &mut BufReader<TcpStream>, &mut TcpStream) -> bool + Send + Sync + 'static,
) -> Served {
    let listener = TcpListener::bind(addr).unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: Arc<Handler> = Arc::new(handler);
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            std::thread::spawn(move || connection(stream, &*handler));
        }
    });
    Served { addr, accepted }
}

fn connection(stream: TcpStream, handler: &Handler) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(head) = read_head(&mut reader) {
        if !handler(&head, &mut reader, &mut writer) {
            break;
        }
    }
}

fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let _method = parts.next()?;
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Some(Head { path, headers })
}

/// Reads and drops a Content-Length body; returns how many bytes came.
pub fn drain_body(head: &Head, reader: &mut BufReader<TcpStream>) -> u64 {
    let mut body = reader.take(head.content_length());
    std::io::copy(&mut body, &mut std::io::sink()).unwrap()
}

/// Writes a whole `200` answer with `body`.
pub fn respond(stream: &mut TcpStream, body: &str) -> bool {
    respond_status(stream, "200 OK", body)
}

/// Writes a whole answer with `status` (code and reason, e.g. `503 Service Unavailable`) and
/// `body`.
pub fn respond_status(stream: &mut TcpStream, status: &str, body: &str) -> bool {
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes()).is_ok()
}
