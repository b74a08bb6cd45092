//! A response body sent from an open file in bounded steps, so a file of any size costs the
//! server almost no memory however many clients fetch it.
//!
//! A protocol queues a [`FileBody`] on its connection ([`Cx::send_file`](crate::Cx::send_file));
//! the loop sends it after the output queued before it, as the socket takes it, at most
//! [`FILE_ROUND_BUDGET`] bytes per connection per loop round, so one huge file cannot starve
//! the loop's other connections. How is the protocol's [`Transfer`]:
//!
//! - [`Transfer::Pread`] (the HTTP server's default): `pread` (`read_at`) into the connection's
//!   output buffer, one [`FILE_SLICE`] at a time up to [`FILE_HIGH_WATER`], refilled only once
//!   the socket has taken it;
//! - [`Transfer::Sendfile`]: `sendfile(2)`, straight from the page cache to the socket; where
//!   the kernel refuses that for the file (`EINVAL`, `ENOSYS`, `EOPNOTSUPP`), `pread` as above.
//!
//! Either way one step is a few small reads of the page cache: a cold disk stalls the loop for
//! one step at most.

use bytes::BytesMut;
use log::debug;
use rustix::io::Errno;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Bytes read from the file per `pread` call ([`Transfer::Pread`], or `sendfile` refused).
pub const FILE_SLICE: usize = 64 * 1024;
/// A `pread` refill stops once this much output is queued; the next waits for the socket.
pub const FILE_HIGH_WATER: usize = 256 * 1024;
/// Bytes of file body one connection may send in one loop round before it yields to the
/// others (nginx's `sendfile_max_chunk` is 2 MiB by default); it goes on in the next round.
pub const FILE_ROUND_BUDGET: usize = 2 * 1024 * 1024;

/// `len` bytes of `file` from `offset`: the body of a [`Reply::File`](crate::Reply::File).
///
/// The file is shared (`Arc`), so one open file can serve many requests, and any server on the
/// loop (static files, file-sharing chunks) can answer with a slice of it.
#[derive(Clone, Debug)]
pub struct FileBody {
    /// The open file.
    pub file: Arc<File>,
    /// Where the body starts in the file.
    pub offset: u64,
    /// How many bytes the body holds (the response's `Content-Length`).
    pub len: u64,
}

impl FileBody {
    /// The whole of `file`.
    pub fn whole(file: File) -> io::Result<FileBody> {
        let len = file.metadata()?.len();
        Ok(FileBody {
            file: Arc::new(file),
            offset: 0,
            len,
        })
    }

    /// Appends slices of the body to `out` until it holds [`FILE_HIGH_WATER`] bytes, `max`
    /// bytes were read, or the body is all there; answers how many bytes were read. A file that
    /// shrank under us is an error: the length is already promised.
    fn read_into(&mut self, out: &mut BytesMut, max: usize) -> io::Result<usize> {
        let mut read = 0;
        while self.len > 0 && out.len() < FILE_HIGH_WATER && read < max {
            let want = clamp(self.len, FILE_SLICE.min(max - read));
            let start = out.len();
            out.resize(start + want, 0);
            let n = match self.file.read_at(&mut out[start..], self.offset) {
                Ok(0) => {
                    out.truncate(start);
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            };
            out.truncate(start + n);
            self.consume(n);
            read += n;
        }
        Ok(read)
    }

    /// Marks `n` bytes from the start of the body as gone.
    fn consume(&mut self, n: usize) {
        self.offset += n as u64;
        self.len -= n as u64;
    }
}

/// `len`, or `cap` if that is smaller.
fn clamp(len: u64, cap: usize) -> usize {
    usize::try_from(len).map_or(cap, |len| len.min(cap))
}

/// How a queued file body reaches the socket (see [`Cx::send_file`](crate::Cx::send_file)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// `sendfile(2)`: the kernel copies from the page cache into the socket; where the kernel
    /// refuses it for a file, that body falls back to [`Transfer::Pread`].
    Sendfile,
    /// `pread` through the connection's output buffer, [`FILE_SLICE`] at a time up to
    /// [`FILE_HIGH_WATER`].
    Pread,
}

/// What one [`QueuedFile::advance`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Moved {
    /// This many bytes went from the file into the socket.
    Sent(usize),
    /// This many bytes were read from the file into the output buffer, to be written from it.
    Read(usize),
}

/// A file body queued on a connection, and the output queued after it: the loop sends output
/// in the order it was queued.
#[derive(Debug)]
pub(crate) struct QueuedFile {
    body: FileBody,
    transfer: Transfer,
    /// Output queued after this file; it follows once the file is all sent.
    pub(crate) then: BytesMut,
}

impl QueuedFile {
    pub(crate) fn new(body: FileBody, transfer: Transfer) -> QueuedFile {
        QueuedFile {
            body,
            transfer,
            then: BytesMut::new(),
        }
    }

    /// Body bytes not yet sent or read into the output buffer.
    pub(crate) fn remaining(&self) -> u64 {
        self.body.len
    }

    /// Moves up to `max` (> 0) bytes of the body towards `socket`: straight into it with
    /// `sendfile`, or, where the kernel refuses that, into `out` (which must be empty) for the
    /// caller to write. `WouldBlock` when the socket is full; `UnexpectedEof` when the file is
    /// shorter than the body promised.
    pub(crate) fn advance(
        &mut self,
        socket: impl AsFd,
        out: &mut BytesMut,
        max: usize,
    ) -> io::Result<Moved> {
        if self.transfer == Transfer::Sendfile {
            let count = clamp(self.body.len, max);
            let mut offset = self.body.offset;
            match rustix::fs::sendfile(socket, &*self.body.file, Some(&mut offset), count) {
                // The file ended before the body did: it shrank under us.
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.body.consume(n);
                    return Ok(Moved::Sent(n));
                }
                Err(e) if sendfile_unsupported(e) => {
                    debug!("sendfile refused ({e}): reading the file with pread instead");
                    self.transfer = Transfer::Pread;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.body.read_into(out, max).map(Moved::Read)
    }
}

/// Whether `sendfile` failed because it cannot be used on these descriptors at all (a file
/// system without it, an old kernel), rather than because of this socket or this call.
fn sendfile_unsupported(e: Errno) -> bool {
    matches!(e, Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::thread;

    fn temp_file(tag: &str, bytes: &[u8]) -> File {
        let path = std::env::temp_dir().join(format!(
            "reactor-file-body-{}-{tag}-{}",
            std::process::id(),
            bytes.len()
        ));
        let mut file = File::create(&path).unwrap();
        file.write_all(bytes).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    fn data(len: u32) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// A connected pair on 127.0.0.1: a blocking sender, and a thread reading everything until
    /// EOF.
    fn socket_pair() -> (TcpStream, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut receiver, _) = listener.accept().unwrap();
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            receiver.read_to_end(&mut got).unwrap();
            got
        });
        (sender, reader)
    }

    /// Sends `queued` through a socket the way the loop does; answers the bytes that arrived
    /// and how many steps went through `sendfile`.
    fn send_all(mut queued: QueuedFile, max: usize) -> (Vec<u8>, usize) {
        let (mut sender, reader) = socket_pair();
        let mut out = BytesMut::new();
        let mut sendfile_steps = 0;
        while queued.remaining() > 0 {
            match queued.advance(&sender, &mut out, max).unwrap() {
                Moved::Sent(n) => {
                    assert!(n > 0 && n <= max);
                    sendfile_steps += 1;
                }
                Moved::Read(n) => {
                    assert!(n > 0 && n <= max && out.len() <= FILE_HIGH_WATER);
                    sender.write_all(&out.split()).unwrap();
                }
            }
        }
        drop(sender);
        (reader.join().unwrap(), sendfile_steps)
    }

    #[test]
    fn pread_fills_in_bounded_rounds_and_ends_exactly() {
        let data = data(700_000);
        let mut body = FileBody {
            file: Arc::new(temp_file("fill", &data)),
            offset: 10,
            len: 600_000,
        };
        let mut got = Vec::new();
        let mut out = BytesMut::new();
        while body.len > 0 {
            let n = body.read_into(&mut out, usize::MAX).unwrap();
            assert!(n > 0 && out.len() < FILE_HIGH_WATER + FILE_SLICE);
            got.extend_from_slice(&out.split());
        }
        assert_eq!(got, &data[10..600_010]);
    }

    #[test]
    fn a_file_shorter_than_promised_is_an_error_either_way() {
        let mut body = FileBody {
            file: Arc::new(temp_file("short", b"short")),
            offset: 0,
            len: 100,
        };
        let mut out = BytesMut::new();
        assert!(body.read_into(&mut out, usize::MAX).is_err());
        assert_eq!(&out[..], b"short");

        let (sender, reader) = socket_pair();
        let mut queued = QueuedFile::new(
            FileBody {
                file: Arc::new(temp_file("short-sendfile", b"short")),
                offset: 0,
                len: 100,
            },
            Transfer::Sendfile,
        );
        assert_eq!(
            queued.advance(&sender, &mut out, 1000).unwrap(),
            Moved::Sent(5)
        );
        let e = queued.advance(&sender, &mut out, 1000).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        drop(sender);
        assert_eq!(reader.join().unwrap(), b"short");
    }

    #[test]
    fn sendfile_and_pread_send_the_same_bytes_from_an_offset() {
        let data = data(3_000_000);
        let file = Arc::new(temp_file("offset", &data));
        let body = FileBody {
            file,
            offset: 12_345,
            len: 2_500_000,
        };
        let expected = &data[12_345..2_512_345];

        let (got, sendfile_steps) =
            send_all(QueuedFile::new(body.clone(), Transfer::Sendfile), 300_000);
        assert!(got == expected, "sendfile: {} bytes differ", got.len());
        assert!(sendfile_steps >= 9, "{sendfile_steps} sendfile steps");

        let pread = QueuedFile::new(body, Transfer::Pread);
        let (got, sendfile_steps) = send_all(pread, 300_000);
        assert!(got == expected, "pread: {} bytes differ", got.len());
        assert_eq!(sendfile_steps, 0);
    }

    #[test]
    fn only_refusals_of_sendfile_itself_fall_back_to_pread() {
        let check = |e: Errno, expected: bool| assert_eq!(sendfile_unsupported(e), expected, "{e}");
        check(Errno::INVAL, true);
        check(Errno::NOSYS, true);
        check(Errno::OPNOTSUPP, true);
        check(Errno::AGAIN, false);
        check(Errno::PIPE, false);
        check(Errno::CONNRESET, false);
        check(Errno::IO, false);
    }
}
