//! A client that reads nothing is dropped after the send timeout, with its unsent output; one
//! that reads slowly, taking some output every period, is served to the end. Both for a body in
//! memory and for a file body (sent with `pread`, the default, and with `sendfile`).

use http_core::{Limits, Request, Response, Status};
use reactor::{BodySender, EventLoop, FileBody, Reply, RequestInfo};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};
use test_support::{TempDir, tempdir_in_memory, wait_for};

/// Far more than the kernel's socket buffers hold, so most of it stays in the server.
const BODY: usize = 32 * 1024 * 1024;
const SEND_TIMEOUT: Duration = Duration::from_secs(1);
const WAIT: Duration = Duration::from_secs(20);

/// Where the [`BODY`] bytes of every answer come from.
#[derive(Clone, Copy, Debug)]
enum Body {
    Memory,
    /// Read with `pread` (the default).
    File,
    /// Sent with `sendfile`.
    Sendfile,
}

/// A server answering every request with [`BODY`] bytes. It hands out a [`BodySender`] per
/// request only to watch the connection close (`is_closed`).
struct BigServer {
    addr: SocketAddr,
    requests: mpsc::Receiver<BodySender>,
    handle: reactor::Handle,
    thread: thread::JoinHandle<std::io::Result<()>>,
    _dir: TempDir,
}

impl BigServer {
    fn start(from: Body) -> BigServer {
        let (tx, requests) = mpsc::channel();
        let tx = Mutex::new(tx);
        let body = bytes::Bytes::from(vec![b'x'; BODY]);
        let dir = tempdir_in_memory("reactor-send-timeout");
        let path = dir.path().join("big");
        std::fs::write(&path, &body).unwrap();
        let service = move |_req: Request, info: &RequestInfo| {
            let _ = tx.lock().unwrap().send(info.body_sender());
            let response = Response::text(Status::OK, "");
            match from {
                Body::Memory => Reply::Full(Response {
                    body: body.clone(),
                    ..response
                }),
                Body::File | Body::Sendfile => {
                    let file = std::fs::File::open(&path).unwrap();
                    Reply::File(response, FileBody::whole(file).unwrap())
                }
            }
        };
        let mut event_loop = EventLoop::new(16).unwrap();
        let limits = Limits {
            send_timeout: SEND_TIMEOUT,
            sendfile: matches!(from, Body::Sendfile),
            ..Limits::default()
        };
        let any = "127.0.0.1:0".parse().unwrap();
        let addr = reactor::serve(&mut event_loop, any, Arc::new(service), limits).unwrap();
        let handle = event_loop.handle();
        let thread = thread::spawn(move || event_loop.run());
        BigServer {
            addr,
            requests,
            handle,
            thread,
            _dir: dir,
        }
    }

    /// Sends `request` on a new connection; answers it and the watch on its server side.
    fn ask(&self, request: &[u8]) -> (TcpStream, BodySender) {
        let mut client = TcpStream::connect(self.addr).unwrap();
        client.write_all(request).unwrap();
        (client, self.requests.recv_timeout(WAIT).unwrap())
    }

    fn stop(self) {
        self.handle.stop();
        self.thread.join().unwrap().unwrap();
    }
}

/// Reads until EOF or a reset; answers how many bytes came.
fn read_rest(stream: &mut TcpStream) -> usize {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("after {total} bytes: {e}"),
        }
    }
}

#[test]
fn a_client_that_reads_nothing_is_dropped_after_the_send_timeout() {
    for from in [Body::Memory, Body::File, Body::Sendfile] {
        a_client_that_reads_nothing_is_dropped(from);
    }
}

fn a_client_that_reads_nothing_is_dropped(from: Body) {
    let server = BigServer::start(from);
    let (mut client, watch) = server.ask(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    let started = Instant::now();
    wait_for("the server to drop the connection", WAIT, || {
        watch.is_closed()
    });
    assert!(started.elapsed() >= SEND_TIMEOUT - Duration::from_millis(50));
    // What the kernel had taken comes, then the end: far from the whole answer.
    let got = read_rest(&mut client);
    assert!(got < BODY / 2, "{from:?}: {got} bytes of {BODY}");
    server.stop();
}

#[test]
fn a_slow_reader_that_keeps_taking_output_is_served_to_the_end() {
    for from in [Body::Memory, Body::File, Body::Sendfile] {
        a_slow_reader_is_served_to_the_end(from);
    }
}

fn a_slow_reader_is_served_to_the_end(from: Body) {
    let server = BigServer::start(from);
    let (mut client, watch) =
        server.ask(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    // Pauses of a quarter of a send timeout between reads (room for a busy machine to oversleep
    // them), several times over: never dropped. The pauses are the client's behaviour under
    // test, not a wait for the server.
    let mut buf = vec![0u8; 4 * 1024 * 1024];
    let mut got = 0;
    for _ in 0..4 {
        thread::sleep(SEND_TIMEOUT / 4);
        got += client.read(&mut buf).unwrap();
        assert!(!watch.is_closed(), "{from:?}: dropped after {got} bytes");
    }
    got += read_rest(&mut client);
    assert!(
        got > BODY,
        "{from:?}: {got} bytes: the whole answer with its head"
    );
    server.stop();
}
