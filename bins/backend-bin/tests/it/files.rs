//! Static files served from disk by the built binary: any size byte-identical, single ranges
//! and `If-Range`, HEAD, and memory that stays flat while many clients download a large file.

use crate::faults::Daemon;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;
use test_support::{TempDir, tempdir};

const MIB: u64 = 1024 * 1024;
/// The pattern files are made of: 1 MiB blocks, each this block stamped with its index, so a
/// lost, repeated or reordered block shows.
const BLOCK: usize = MIB as usize;

fn pattern() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..BLOCK)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The expected bytes of block `index`.
fn block(pattern: &[u8], index: u64) -> Vec<u8> {
    let mut block = pattern.to_vec();
    block[..8].copy_from_slice(&index.to_le_bytes());
    block
}

/// Writes a file of `mib` pattern blocks.
fn write_pattern_file(path: &Path, mib: u64) {
    let pattern = pattern();
    let mut out = BufWriter::new(File::create(path).unwrap());
    for index in 0..mib {
        out.write_all(&block(&pattern, index)).unwrap();
    }
    out.flush().unwrap();
}

/// A response head read off `stream`: status, header lines (lower-cased names), and the body
/// bytes that came with it.
struct Head {
    status: u16,
    fields: Vec<(String, String)>,
    rest: Vec<u8>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> u64 {
        self.get("content-length").unwrap().parse().unwrap()
    }
}

fn read_head(stream: &mut TcpStream) -> Head {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "closed before the head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8(buf[..end].to_vec()).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let fields = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Head {
        status,
        fields,
        rest: buf[end + 4..].to_vec(),
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
}

/// Sends one request and reads the head of its answer.
fn request(stream: &mut TcpStream, method: &str, path: &str, extra: &str) -> Head {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    read_head(stream)
}

/// Reads `len` body bytes (after those that came with the head) into a vector.
fn read_body(stream: &mut TcpStream, head: Head, len: u64) -> Vec<u8> {
    let mut body = head.rest;
    let missing = usize::try_from(len).unwrap() - body.len();
    let start = body.len();
    body.resize(start + missing, 0);
    stream.read_exact(&mut body[start..]).unwrap();
    body
}

/// Reads a whole pattern file of `mib` blocks as the body and checks every block in place,
/// holding one block at a time.
fn check_pattern_body(stream: &mut TcpStream, head: Head, mib: u64) {
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), mib * MIB);
    let pattern = pattern();
    let mut have = head.rest;
    for index in 0..mib {
        let start = have.len();
        have.resize(BLOCK, 0);
        stream.read_exact(&mut have[start..]).unwrap();
        assert!(have == block(&pattern, index), "block {index} differs");
        have.clear();
    }
}

/// A scratch static root: the site's `login.html` (backend-bin refuses a root without it), and
/// whatever the test writes.
fn site_dir(tag: &str) -> TempDir {
    let dir = tempdir(tag);
    let login = crate::static_root().join("login.html");
    std::fs::copy(&login, dir.path().join("login.html")).unwrap();
    dir
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_200_mib_file_is_served_byte_identical_and_the_connection_stays_usable() {
    let dir = site_dir("big-file");
    write_pattern_file(&dir.path().join("big.bin"), 200);
    std::fs::write(dir.path().join("small.txt"), "after the big one\n").unwrap();
    let daemon = Daemon::serving(dir.path());
    let mut stream = connect(daemon.addr);
    let head = request(&mut stream, "GET", "/big.bin", "");
    assert_eq!(head.get("accept-ranges"), Some("bytes"));
    check_pattern_body(&mut stream, head, 200);
    // Keep-alive after a file body: the framing held.
    let head = request(&mut stream, "GET", "/small.txt", "");
    assert_eq!(head.status, 200);
    let len = head.content_length();
    assert_eq!(read_body(&mut stream, head, len), b"after the big one\n");
}

#[test]
fn ranges_head_and_if_range_on_large_and_small_files() {
    let dir = site_dir("ranges");
    write_pattern_file(&dir.path().join("large.bin"), 2);
    let small: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    std::fs::write(dir.path().join("small.bin"), &small).unwrap();
    let large = {
        let pattern = pattern();
        [block(&pattern, 0), block(&pattern, 1)].concat()
    };
    let daemon = Daemon::serving(dir.path());
    let mut stream = connect(daemon.addr);
    for (path, bytes) in [("/large.bin", &large), ("/small.bin", &small)] {
        let total = bytes.len();
        let head = request(&mut stream, "GET", path, "Range: bytes=100-199\r\n");
        assert_eq!(head.status, 206, "{path}");
        assert_eq!(
            head.get("content-range"),
            Some(format!("bytes 100-199/{total}").as_str())
        );
        assert_eq!(head.content_length(), 100);
        let etag = head.get("etag").unwrap().to_owned();
        let modified = head.get("last-modified").unwrap().to_owned();
        assert_eq!(
            read_body(&mut stream, head, 100),
            &bytes[100..200],
            "{path}"
        );

        let head = request(&mut stream, "GET", path, "Range: bytes=-10\r\n");
        assert_eq!(head.status, 206, "{path}");
        assert_eq!(
            read_body(&mut stream, head, 10),
            &bytes[total - 10..],
            "{path}"
        );

        let head = request(&mut stream, "GET", path, "Range: bytes=99999999-\r\n");
        assert_eq!(head.status, 416, "{path}");
        assert_eq!(
            head.get("content-range"),
            Some(format!("bytes */{total}").as_str())
        );
        let len = head.content_length();
        read_body(&mut stream, head, len);

        // HEAD: the length of the whole file, and no body (the next answer follows at once).
        let head = request(&mut stream, "HEAD", path, "");
        assert_eq!(head.status, 200, "{path}");
        assert_eq!(head.content_length(), total as u64);
        assert!(head.rest.is_empty());

        // If-Range with the current validators: the range; with a stale one: the whole file.
        for current in [&etag, &modified] {
            let field = format!("Range: bytes=0-9\r\nIf-Range: {current}\r\n");
            let head = request(&mut stream, "GET", path, &field);
            assert_eq!(head.status, 206, "{path} If-Range {current}");
            assert_eq!(read_body(&mut stream, head, 10), &bytes[..10]);
        }
        for stale in ["\"0-0\"", "Thu, 01 Jan 1970 00:00:00 GMT"] {
            let field = format!("Range: bytes=0-9\r\nIf-Range: {stale}\r\n");
            let head = request(&mut stream, "GET", path, &field);
            assert_eq!(head.status, 200, "{path} If-Range {stale}");
            assert_eq!(head.content_length(), total as u64);
            assert_eq!(read_body(&mut stream, head, total as u64), *bytes);
        }
    }
}

#[test]
fn sixteen_parallel_downloads_of_60_mib_keep_the_peak_rss_under_64_mib() {
    let dir = site_dir("parallel");
    write_pattern_file(&dir.path().join("sixty.bin"), 60);
    let daemon = Daemon::serving(dir.path());
    let addr = daemon.addr;
    let clients: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = connect(addr);
                let head = request(&mut stream, "GET", "/sixty.bin", "");
                check_pattern_body(&mut stream, head, 60);
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let peak = vm_hwm_kib(daemon.process.child.id());
    assert!(peak < 64 * 1024, "backend-bin peaked at {peak} KiB");
}
