//! Bodies that must stream: 100 MiB up, and down with and without a Content-Length, with flat
//! memory; Server-Sent Events, a chunked upload, and an Upgrade tunnel.

use crate::plain::{self, drain_body, respond};
use crate::{ProxyProcess, catch_all, start_proxy};
use bytes::BytesMut;
use http_core::{BodyDecoder, BodyKind, Decoded, Limits, Method, parse_response_head};
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

const HUNDRED_MIB: u64 = 100 * 1024 * 1024;
/// What the proxy may add to its resident memory while moving 100 MiB: its buffers are capped
/// (64 KiB reads, 256 KiB of unsent output per direction), so the growth is the allocator's
/// working set, not the body. Measured here at 0.8–2.5 MiB (debug build); a body held whole
/// would be ≥ 100 MiB.
const MAX_GROWTH_KIB: u64 = 8 * 1024;
static PIECE: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// Runs `transfer` against the proxy process and returns how far its resident memory rose above
/// what it was before: the highest of VmRSS sampled during the run and VmHWM read at the end
/// (which catches a peak between samples).
fn memory_growth_kib(proxy: &Arc<ProxyProcess>, transfer: impl FnOnce()) -> u64 {
    let before = proxy.rss_kib();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let (proxy, done) = (proxy.clone(), done.clone());
        move || {
            let mut peak = proxy.rss_kib();
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(proxy.rss_kib());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        }
    });
    transfer();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap().max(proxy.hwm_kib());
    let growth = peak.saturating_sub(before);
    eprintln!("proxy memory: {before} KiB before, peak {peak} KiB, growth {growth} KiB");
    growth
}

/// A client connection with a read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// One response as a client read it, its body counted rather than kept.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The decoded body length.
    pub len: u64,
    /// The body's first 64 bytes.
    pub first: Vec<u8>,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

/// Reads one response from `stream`.
pub fn read_response(stream: &mut TcpStream) -> Answer {
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (head, kind) = loop {
        if let Some(parsed) =
            parse_response_head(&mut buf, &Limits::default(), &Method::Get).unwrap()
        {
            break parsed;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut answer = Answer {
        status: head.status.code(),
        len: 0,
        first: Vec::new(),
        chunked: kind == BodyKind::Chunked,
    };
    let mut decoder = BodyDecoder::new(kind);
    loop {
        match decoder.decode(&mut buf).unwrap() {
            Decoded::Data(data) => {
                if answer.first.len() < 64 {
                    let room = 64 - answer.first.len();
                    answer
                        .first
                        .extend_from_slice(&data[..data.len().min(room)]);
                }
                answer.len += data.len() as u64;
            }
            Decoded::Done => return answer,
            Decoded::NeedMore => {
                let n = stream.read(&mut chunk).unwrap();
                if n == 0 {
                    decoder.finish_on_eof().unwrap();
                    return answer;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

#[test]
fn hundred_mib_upload_streams_with_flat_memory() {
    let upstream = plain::serve(|head, reader, stream| {
        let got = drain_body(head, reader);
        respond(stream, &format!("got {got}"))
    });
    let proxy = Arc::new(ProxyProcess::start(&catch_all(&[upstream], "round-robin")));
    let mut answer = (0, Vec::new());
    let growth = memory_growth_kib(&proxy, || {
        let mut stream = connect(proxy.addr);
        let head = format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {HUNDRED_MIB}\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        for _ in 0..HUNDRED_MIB / PIECE.len() as u64 {
            stream.write_all(&PIECE).unwrap();
        }
        let got = read_response(&mut stream);
        answer = (got.status, got.first);
    });
    assert_eq!(answer.0, 200);
    assert_eq!(
        String::from_utf8_lossy(&answer.1),
        format!("got {HUNDRED_MIB}")
    );
    assert!(growth <= MAX_GROWTH_KIB, "memory grew by {growth} KiB");
}

/// An upstream answering every request with a 100 MiB body; `framed` says whether it sends a
/// Content-Length or delimits the body by closing.
fn hundred_mib_upstream(framed: bool) -> SocketAddr {
    plain::serve(move |_head, _reader, stream| {
        let length = if framed {
            format!("Content-Length: {HUNDRED_MIB}\r\n")
        } else {
            String::new()
        };
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n{length}\r\n");
        if stream.write_all(head.as_bytes()).is_err() {
            return false;
        }
        for _ in 0..HUNDRED_MIB / PIECE.len() as u64 {
            if stream.write_all(&PIECE).is_err() {
                return false;
            }
        }
        framed
    })
}

/// Downloads 100 MiB through a proxy process in front of `upstream`; returns the status, the
/// body length, whether the answer came chunked, and the memory growth.
fn hundred_mib_download(upstream: SocketAddr) -> (u16, u64, bool, u64) {
    let proxy = Arc::new(ProxyProcess::start(&catch_all(&[upstream], "round-robin")));
    let mut answer = (0, 0, false);
    let growth = memory_growth_kib(&proxy, || {
        let mut stream = connect(proxy.addr);
        stream
            .write_all(b"GET /down HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let got = read_response(&mut stream);
        answer = (got.status, got.len, got.chunked);
    });
    (answer.0, answer.1, answer.2, growth)
}

#[test]
fn hundred_mib_content_length_download_streams_with_flat_memory() {
    let (status, len, chunked, growth) = hundred_mib_download(hundred_mib_upstream(true));
    assert_eq!((status, len), (200, HUNDRED_MIB));
    assert!(!chunked, "a Content-Length body keeps its length");
    assert!(growth <= MAX_GROWTH_KIB, "memory grew by {growth} KiB");
}

#[test]
fn hundred_mib_close_delimited_download_streams_chunked_with_flat_memory() {
    let (status, len, chunked, growth) = hundred_mib_download(hundred_mib_upstream(false));
    assert_eq!((status, len), (200, HUNDRED_MIB));
    assert!(
        chunked,
        "a close-delimited body is re-framed chunked for keep-alive"
    );
    assert!(growth <= MAX_GROWTH_KIB, "memory grew by {growth} KiB");
}

#[test]
fn chunked_upload_is_reencoded() {
    let upstream = plain::serve(|head, reader, stream| {
        assert_eq!(head.header("transfer-encoding"), Some("chunked"));
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut data = vec![0u8; n + 2];
            reader.read_exact(&mut data).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&data[..n]);
        }
        respond(stream, &String::from_utf8(body).unwrap())
    });
    let proxy = start_proxy(&catch_all(&[upstream], "round-robin"));
    let mut stream = connect(proxy.addr);
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
        )
        .unwrap();
    let got = read_response(&mut stream);
    assert_eq!((got.status, got.first), (200, b"hello world".to_vec()));
}

#[test]
fn first_sse_event_arrives_while_the_upstream_is_open() {
    let (release_tx, release) = mpsc::channel::<()>();
    let release = Arc::new(std::sync::Mutex::new(release));
    let still_open = Arc::new(AtomicU64::new(0));
    let open = still_open.clone();
    let upstream = plain::serve(move |_head, _reader, stream| {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        // Marked before the write: the client may see the event before this thread runs on.
        open.store(1, Ordering::Relaxed);
        stream.write_all(b"data: first\n\n").unwrap();
        let _ = release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20));
        let _ = stream.write_all(b"data: last\n\n");
        open.store(2, Ordering::Relaxed);
        false
    });
    let proxy = start_proxy(&catch_all(&[upstream], "round-robin"));
    let mut stream = connect(proxy.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: first") {
        let n = stream.read(&mut buf).expect("the first event within 5 s");
        assert!(n > 0, "closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(still_open.load(Ordering::Relaxed), 1, "upstream still open");
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
    release_tx.send(()).unwrap();
}

#[test]
fn upgrade_becomes_a_two_way_tunnel() {
    let upstream = plain::serve(|head, reader, stream| {
        assert_eq!(head.header("upgrade"), Some("echo"));
        stream
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
            )
            .unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    let mut reply = b"echo:".to_vec();
                    reply.extend_from_slice(&buf[..n]);
                    if stream.write_all(&reply).is_err() {
                        return false;
                    }
                }
            }
        }
    });
    let proxy = start_proxy(&catch_all(&[upstream], "round-robin"));
    let mut stream = connect(proxy.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&seen).into_owned();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("Upgrade: echo"), "{head}");
    for word in ["ping", "second"] {
        stream.write_all(word.as_bytes()).unwrap();
        let want = format!("echo:{word}");
        let mut got = Vec::new();
        while got.len() < want.len() {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "tunnel closed");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(String::from_utf8_lossy(&got), want);
    }
}

/// Guards the tunnel hand-over: bytes the upstream sends in the same write as its `101` are
/// read by the upstream's tunnel half before the client's half has taken over its connection,
/// and must wait for it rather than be lost.
#[test]
fn bytes_right_after_the_101_reach_the_client() {
    let upstream = plain::serve(|_head, reader, stream| {
        let greeting =
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello";
        if stream.write_all(greeting).is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        // Hold the tunnel until the client closes it.
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        false
    });
    let proxy = start_proxy(&catch_all(&[upstream], "round-robin"));
    let mut stream = connect(proxy.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.ends_with(b"hello") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
}
