//! File bodies over real sockets, sent by the loop with `pread` and with `sendfile` (each test
//! runs both): byte-identical from an offset, in order with pipelined answers around them to a
//! slow reader, and a file that shrinks mid-send closes the connection instead of hanging it.

use http_core::{Limits, Request, Response, Status};
use reactor::{EventLoop, FileBody, Reply, RequestInfo};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use test_support::{TempDir, tempdir_in_memory};

const MIB: usize = 1024 * 1024;
const WAIT: Duration = Duration::from_secs(20);

/// Distinct bytes per file and position, so a slice from the wrong file or place shows.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed.wrapping_mul((i / 251) as u8 | 1))
        .collect()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A server answering `/a` with all of `a`, `/b` with `b` from `B_OFFSET` for `B_LEN` bytes,
/// and anything else with a small text.
struct FileServer {
    addr: SocketAddr,
    handle: reactor::Handle,
    thread: thread::JoinHandle<std::io::Result<()>>,
}

const B_OFFSET: u64 = 1_234_567;
const B_LEN: u64 = 2 * MIB as u64 + 7;

impl FileServer {
    fn start(a: PathBuf, b: PathBuf, sendfile: bool) -> FileServer {
        let service = move |req: Request, _info: &RequestInfo| {
            let ok = Response::text(Status::OK, "");
            match req.path() {
                "/a" => Reply::File(ok, FileBody::whole(File::open(&a).unwrap()).unwrap()),
                "/b" => Reply::File(
                    ok,
                    FileBody {
                        file: Arc::new(File::open(&b).unwrap()),
                        offset: B_OFFSET,
                        len: B_LEN,
                    },
                ),
                path => Reply::Full(Response::text(Status::OK, format!("small {path}"))),
            }
        };
        let mut event_loop = EventLoop::new(16).unwrap();
        let any = "127.0.0.1:0".parse().unwrap();
        let limits = Limits {
            sendfile,
            ..Limits::default()
        };
        let addr = reactor::serve(&mut event_loop, any, Arc::new(service), limits).unwrap();
        let handle = event_loop.handle();
        let thread = thread::spawn(move || event_loop.run());
        FileServer {
            addr,
            handle,
            thread,
        }
    }

    fn connect(&self, request: &str) -> TcpStream {
        let mut client = TcpStream::connect(self.addr).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        client.write_all(request.as_bytes()).unwrap();
        client
    }

    fn stop(self) {
        self.handle.stop();
        self.thread.join().unwrap().unwrap();
    }
}

/// Reads responses off a stream in small pieces, like a slow reader.
struct SlowReader {
    stream: TcpStream,
    have: Vec<u8>,
    pieces: usize,
}

impl SlowReader {
    /// Reads at most 16 KiB more; false at EOF.
    fn more(&mut self) -> bool {
        let mut piece = [0u8; 16 * 1024];
        let n = self.stream.read(&mut piece).unwrap();
        self.have.extend_from_slice(&piece[..n]);
        self.pieces += 1;
        // The client's behaviour under test: every so often it stops reading for a moment,
        // so the server finds its socket full mid-file.
        if self.pieces.is_multiple_of(64) {
            thread::sleep(Duration::from_millis(2));
        }
        n > 0
    }

    /// The next response's status and body (framed by `Content-Length`).
    fn response(&mut self) -> (u16, Vec<u8>) {
        let end = loop {
            if let Some(i) = self.have.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.more(), "closed before a head");
        };
        let head = String::from_utf8(self.have[..end].to_vec()).unwrap();
        let status = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(str::to_owned)
            })
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        while self.have.len() < end + len {
            assert!(self.more(), "closed mid-body");
        }
        let body = self.have[end..end + len].to_vec();
        self.have.drain(..end + len);
        (status, body)
    }
}

#[test]
fn pipelined_file_bodies_reach_a_slow_reader_byte_identical_and_in_order() {
    for sendfile in [false, true] {
        pipelined_file_bodies(sendfile);
    }
}

fn pipelined_file_bodies(sendfile: bool) {
    let dir: TempDir = tempdir_in_memory("reactor-file-bodies");
    let a = pattern(1, 3 * MIB + 11);
    let b = pattern(2, 4 * MIB);
    let server = FileServer::start(
        write_file(dir.path(), "a", &a),
        write_file(dir.path(), "b", &b),
        sendfile,
    );
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    // All at once: the answers queue behind each file body.
    let pipelined = [
        request("/a"),
        request("/one"),
        request("/b"),
        request("/a"),
        request("/two"),
    ]
    .concat();
    let mut reader = SlowReader {
        stream: server.connect(&pipelined),
        have: Vec::new(),
        pieces: 0,
    };
    let b_slice = &b[B_OFFSET as usize..(B_OFFSET + B_LEN) as usize];
    let expected: [(&str, &[u8]); 5] = [
        ("/a", &a),
        ("/one", b"small /one"),
        ("/b from an offset", b_slice),
        ("/a again", &a),
        ("/two", b"small /two"),
    ];
    for (what, bytes) in expected {
        let (status, body) = reader.response();
        assert_eq!(status, 200, "{what} (sendfile {sendfile})");
        assert!(
            body == bytes,
            "{what} (sendfile {sendfile}): {} bytes, expected {}",
            body.len(),
            bytes.len()
        );
    }
    server.stop();
}

#[test]
fn a_file_that_shrinks_mid_send_closes_the_connection_instead_of_hanging_it() {
    for sendfile in [false, true] {
        a_file_that_shrinks(sendfile);
    }
}

fn a_file_that_shrinks(sendfile: bool) {
    let dir = tempdir_in_memory("reactor-file-shrinks");
    let len = 32 * MIB;
    let a = write_file(dir.path(), "a", &pattern(3, len));
    let b = write_file(dir.path(), "b", &pattern(4, 4 * MIB));
    let server = FileServer::start(a.clone(), b, sendfile);
    let mut client = server.connect("GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    // The answer has begun: the server has promised all 32 MiB, and the socket buffers hold
    // a few MiB of it at most while the client does not read.
    let mut head = [0u8; 12];
    client.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    OpenOptions::new()
        .write(true)
        .open(&a)
        .unwrap()
        .set_len(MIB as u64)
        .unwrap();
    // What was in flight comes, then the end; a hung connection would time the read out.
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = head.len();
    loop {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("after {got} bytes (sendfile {sendfile}): {e}"),
        }
    }
    assert!(
        got < len,
        "{got} bytes of a file cut to 1 MiB (sendfile {sendfile})"
    );
    server.stop();
}
