//! A response body read from an open file in bounded slices, so a file of any size costs the
//! server a few hundred KiB however many clients fetch it.
//!
//! The connection refills its output from the file with `pread` (`read_at`) only when the socket
//! has taken what was queued, one [`FILE_SLICE`] at a time up to [`FILE_HIGH_WATER`]: the file's
//! bytes wait in the page cache, not in our memory, and one refill is a few small reads, so a
//! cold disk stalls the loop for one slice at most.

use bytes::BytesMut;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Bytes read from the file per system call.
pub const FILE_SLICE: usize = 64 * 1024;
/// A refill stops once this much output is queued; the next waits for the socket to take it.
pub const FILE_HIGH_WATER: usize = 256 * 1024;

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

/// How a refill went.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// Some of the body is still to be read.
    More,
    /// The whole body is queued.
    Done,
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

    /// Appends slices of the body to `out` until it holds [`FILE_HIGH_WATER`] bytes or the body
    /// is all there. A file that shrank under us is an error: the length is already promised.
    pub(crate) fn fill(&mut self, out: &mut BytesMut) -> io::Result<Fill> {
        while self.len > 0 && out.len() < FILE_HIGH_WATER {
            let want = usize::try_from(self.len).map_or(FILE_SLICE, |len| len.min(FILE_SLICE));
            let start = out.len();
            out.resize(start + want, 0);
            let read = self.file.read_at(&mut out[start..], self.offset);
            let n = match read {
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
            self.offset += n as u64;
            self.len -= n as u64;
        }
        Ok(if self.len == 0 {
            Fill::Done
        } else {
            Fill::More
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(bytes: &[u8]) -> File {
        let path = std::env::temp_dir().join(format!(
            "reactor-file-body-{}-{}",
            std::process::id(),
            bytes.len()
        ));
        let mut file = File::create(&path).unwrap();
        file.write_all(bytes).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn fills_in_bounded_rounds_and_ends_exactly() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let mut body = FileBody {
            file: Arc::new(temp_file(&data)),
            offset: 10,
            len: 600_000,
        };
        let mut got = Vec::new();
        let mut out = BytesMut::new();
        loop {
            let fill = body.fill(&mut out).unwrap();
            assert!(out.len() < FILE_HIGH_WATER + FILE_SLICE);
            got.extend_from_slice(&out.split());
            if fill == Fill::Done {
                break;
            }
        }
        assert_eq!(got, &data[10..600_010]);
    }

    #[test]
    fn a_file_shorter_than_promised_is_an_error() {
        let mut body = FileBody {
            file: Arc::new(temp_file(b"short")),
            offset: 0,
            len: 100,
        };
        let mut out = BytesMut::new();
        assert!(body.fill(&mut out).is_err());
        assert_eq!(&out[..], b"short");
    }
}
