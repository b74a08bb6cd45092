//! The disk work of file sharing, run on the [`Pool`](super::Pool)'s workers: hashing a file to
//! publish it, re-hashing a `.part` to resume, verifying and writing a fetched chunk. Each streams one
//! chunk at a time: memory per job is one chunk.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use p2p_proto::files::{ChunkSet, Digest, FileMeta, chunk_digest};

use super::saved::Stamp;

/// Hashes the file at `path` in chunks of `chunk_size`, reading it once, front to back;
/// answers its metadata, the open file, and its [`Stamp`] from before the first read (so a
/// change made while hashing shows as a changed stamp later).
pub fn hash_file(path: &Path, name: &str, chunk_size: u64) -> io::Result<(FileMeta, File, Stamp)> {
    let mut file = File::open(path)?;
    let stamp = Stamp::of(&file.metadata()?);
    let size = stamp.len;
    let mut buf = vec![0u8; chunk_size as usize];
    let mut digests: Vec<Digest> = Vec::with_capacity(size.div_ceil(chunk_size) as usize);
    let mut left = size;
    while left > 0 {
        let len = left.min(chunk_size) as usize;
        file.read_exact(&mut buf[..len])?;
        digests.push(chunk_digest(&buf[..len]));
        left -= len as u64;
    }
    Ok((FileMeta::new(name, size, chunk_size, digests), file, stamp))
}

/// Opens (or creates) the `.part` file of `meta` and finds which of its chunks are already
/// right. A `.part` of another size is started afresh.
pub fn open_part(path: &Path, meta: &FileMeta) -> io::Result<(File, ChunkSet)> {
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let mut have = ChunkSet::empty(meta.chunks());
    if file.metadata()?.len() != meta.size {
        file.set_len(0)?;
        file.set_len(meta.size)?;
        return Ok((file, have));
    }
    let mut buf = vec![0u8; meta.chunk_size as usize];
    for chunk in 0..meta.chunks() {
        let (offset, len) = meta.chunk_range(chunk).expect("chunk in range");
        file.read_exact_at(&mut buf[..len], offset)?;
        if meta.verify(chunk, &buf[..len]) {
            have.insert(chunk);
        }
    }
    Ok((file, have))
}

/// What became of a fetched chunk.
#[derive(Debug)]
pub enum Written {
    /// Verified and written at its offset.
    Ok,
    /// Its digest did not match: not written.
    Bad,
    /// Verified, but writing failed.
    Failed(io::Error),
}

/// Verifies `data`, whose digest (taken as it arrived) is `digest`, as chunk `chunk` of `meta`
/// and, if right, writes it at its offset.
pub fn verify_and_write(
    file: &File,
    meta: &FileMeta,
    chunk: usize,
    data: &[u8],
    digest: &Digest,
) -> Written {
    if !meta.verify_digest(chunk, data.len(), digest) {
        return Written::Bad;
    }
    let (offset, _) = meta
        .chunk_range(chunk)
        .expect("verified chunks are in range");
    match file.write_all_at(data, offset) {
        Ok(()) => Written::Ok,
        Err(e) => Written::Failed(e),
    }
}

/// A user's words for a failed write to `path`.
pub fn write_error(path: &Path, e: &io::Error) -> String {
    let resume = "the .part file is kept: fetch again to resume";
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            format!(
                "disk full writing {}; {resume} once there is room",
                path.display()
            )
        }
        _ => format!("cannot write {}: {e}; {resume}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_file_resumes_from_its_right_chunks() {
        let dir = std::env::temp_dir().join(format!("p2p-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("src");
        std::fs::write(&src, b"hello world\n").unwrap();
        let (meta, _, _) = hash_file(&src, "hello.txt", 8).unwrap();
        assert_eq!(meta.chunks(), 2);
        let part = dir.join("hello.txt.part");
        let _ = std::fs::remove_file(&part);
        let (file, have) = open_part(&part, &meta).unwrap();
        assert_eq!(have.count(), 0);
        assert!(matches!(
            verify_and_write(&file, &meta, 1, b"rlD\n", &chunk_digest(b"rlD\n")),
            Written::Bad
        ));
        assert!(matches!(
            verify_and_write(&file, &meta, 1, b"rld\n", &chunk_digest(b"rld\n")),
            Written::Ok
        ));
        drop(file);
        let (file, have) = open_part(&part, &meta).unwrap();
        assert_eq!(have.iter().collect::<Vec<_>>(), [1]);
        let mut buf = [0u8; 4];
        file.read_exact_at(&mut buf, 8).unwrap();
        assert_eq!(&buf, b"rld\n");
        let full = std::io::Error::from(io::ErrorKind::StorageFull);
        assert!(write_error(&part, &full).starts_with("disk full"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
