//! `files.json` in the data directory: the files this peer shares whole (published, or fetched
//! to the end), so that a restart with the same data directory shares them again without the
//! user publishing anew.
//!
//! Each entry keeps the file's metadata (chunk digests included), its path, and the length and
//! modification time ([`Stamp`]) it had when it was hashed. At start every entry is checked
//! against the disk before a chunk of it is served: a file gone is dropped; a file whose stamp
//! changed is hashed again and kept only if its content is still the same (same file id), else
//! dropped — each drop logged with its reason, so no stale chunk is ever offered as valid.
//! The list is replaced whole ([`crate::state_file`]), flushed to the disk unless the peer runs
//! with `--fsync never`, after every publish, every completed fetch and the check at start.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use p2p_proto::files::{ChunkSet, FileMeta, parse_digest};
use serde::{Deserialize, Serialize};

use super::disk;
use super::library::{Held, HeldKind, Library, lock_lib};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "files.json";

/// A file's length and modification time when it was hashed: if either differs later, the
/// file may have changed and its chunk digests are not trusted until it is hashed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Its length in bytes.
    pub len: u64,
    /// Its modification time, in nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
}

impl Stamp {
    /// The stamp of a file with this metadata.
    pub fn of(meta: &Metadata) -> Stamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Stamp {
            len: meta.len(),
            mtime_ns,
        }
    }
}

/// One shared file as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    file_id: String,
    name: String,
    size: u64,
    chunk_size: u64,
    chunk_hashes: Vec<String>,
    path: PathBuf,
    kind: HeldKind,
    stamp: Stamp,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    files: Vec<Entry>,
}

/// Writes the list of shared files; one at a time, each with the library as it is then, so the
/// last write always holds the latest state.
pub struct Saver {
    path: PathBuf,
    sync: bool,
    writing: Mutex<()>,
}

impl Saver {
    /// A saver for the data directory `dir`; `sync` flushes each write to the disk.
    pub fn new(dir: &Path, sync: bool) -> Saver {
        Saver {
            path: dir.join(FILE_NAME),
            sync,
            writing: Mutex::new(()),
        }
    }

    /// Where the list lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves what `lib` shares whole (run it on the pool: it may wait for the disk).
    pub fn save(&self, lib: &Mutex<Library>) {
        let _one_at_a_time = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let files = entries(&lock_lib(lib));
        let written = serde_json::to_vec_pretty(&Saved { files })
            .map_err(io::Error::other)
            .and_then(|bytes| crate::state_file::replace(&self.path, &bytes, self.sync));
        if let Err(e) = written {
            log::warn!(
                "cannot save the shared files to {}: {e}",
                self.path.display()
            );
        }
    }
}

/// The entries of the files `lib` holds whole and knows the stamp of.
fn entries(lib: &Library) -> Vec<Entry> {
    let mut files: Vec<Entry> = lib
        .held
        .values()
        .filter(|h| h.kind != HeldKind::Fetching)
        .filter_map(|h| {
            Some(Entry {
                file_id: h.meta.file_id.clone(),
                name: h.meta.name.clone(),
                size: h.meta.size,
                chunk_size: h.meta.chunk_size,
                chunk_hashes: h.meta.hex_digests(),
                path: h.path.clone(),
                kind: h.kind,
                stamp: h.stamp?,
            })
        })
        .collect();
    files.sort_by(|a, b| a.file_id.cmp(&b.file_id));
    files
}

/// The entries saved in `path`; none when it does not exist yet.
pub fn load(path: &Path) -> io::Result<Vec<Entry>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let saved: Saved = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
            Ok(saved.files)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Checks a saved entry against the disk: the file to share again, or why it is not.
pub fn restore(entry: Entry) -> Result<Held, String> {
    let what = format!("{} ({})", entry.name, entry.file_id);
    let digests: Option<Vec<_>> = entry.chunk_hashes.iter().map(|h| parse_digest(h)).collect();
    let meta = digests
        .map(|d| FileMeta::new(&entry.name, entry.size, entry.chunk_size, d))
        .filter(|m| m.is_consistent() && m.file_id == entry.file_id)
        .ok_or_else(|| format!("the saved entry of {what} is damaged"))?;
    let path = entry.path.display();
    let file = File::open(&entry.path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("{what} is gone from {path}"),
        _ => format!("cannot open {path} for {what}: {e}"),
    })?;
    let now = file
        .metadata()
        .map(|m| Stamp::of(&m))
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    let (file, stamp) = if now == entry.stamp {
        (file, now)
    } else {
        // Touched or changed while the peer was down: only its bytes can tell.
        let (again, file, stamp) = disk::hash_file(&entry.path, &entry.name, entry.chunk_size)
            .map_err(|e| format!("cannot read {path} for {what}: {e}"))?;
        if again.file_id != meta.file_id {
            return Err(format!(
                "{what} changed on disk at {path} since it was shared (now {} bytes, id {}); publish it again to share the new content",
                again.size, again.file_id
            ));
        }
        (file, stamp)
    };
    Ok(Held {
        have: ChunkSet::full(meta.chunks()),
        meta: Arc::new(meta),
        file: Arc::new(file),
        path: entry.path,
        kind: entry.kind,
        served: 0,
        stamp: Some(stamp),
    })
}

/// Loads `path` and checks every entry: the files to share again, and a reason for each
/// dropped one (or for the whole list, if it cannot be read).
pub fn restore_all(path: &Path) -> (Vec<Held>, Vec<String>) {
    let entries = match load(path) {
        Ok(entries) => entries,
        Err(e) => {
            return (
                Vec::new(),
                vec![format!("cannot read {}: {e}", path.display())],
            );
        }
    };
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for entry in entries {
        match restore(entry) {
            Ok(held) => kept.push(held),
            Err(why) => dropped.push(why),
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(dir: &Path, kept: usize, dropped: &[&str]) {
        let (got, why) = restore_all(&dir.join(FILE_NAME));
        assert_eq!(got.len(), kept, "{why:?}");
        assert_eq!(why.len(), dropped.len(), "{why:?}");
        for want in dropped {
            assert!(
                why.iter().any(|w| w.contains(want)),
                "{why:?} should say {want:?}"
            );
        }
    }

    #[test]
    fn shared_files_come_back_unless_gone_or_changed() {
        let dir = std::env::temp_dir().join(format!("p2p-saved-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lib = Mutex::new(Library::default());
        for (name, bytes) in [
            ("same", &b"same bytes"[..]),
            ("touched", b"touched"),
            ("changed", b"changed"),
            ("gone", b"gone"),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let (meta, file, stamp) = disk::hash_file(&path, name, 4).unwrap();
            lock_lib(&lib).held.insert(
                meta.file_id.clone(),
                Held {
                    have: ChunkSet::full(meta.chunks()),
                    meta: Arc::new(meta),
                    file: Arc::new(file),
                    path,
                    kind: HeldKind::Published,
                    served: 0,
                    stamp: Some(stamp),
                },
            );
        }
        let saver = Saver::new(&dir, true);
        saver.save(&lib);
        check(&dir, 4, &[]);

        // Same bytes under a new time: hashed again and kept; other bytes or none: dropped.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        let touched = File::options()
            .write(true)
            .open(dir.join("touched"))
            .unwrap();
        touched.set_modified(later).unwrap();
        std::fs::write(dir.join("changed"), b"CHANGED").unwrap();
        File::options()
            .write(true)
            .open(dir.join("changed"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        std::fs::remove_file(dir.join("gone")).unwrap();
        check(&dir, 2, &["changed on disk", "is gone from"]);

        std::fs::write(dir.join(FILE_NAME), b"{not json").unwrap();
        check(&dir, 0, &["cannot read"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
