//! `messages.jsonl`: the append-only message log of a peer, one JSON message a line, each
//! with its author's signature; and `peer.key`, the peer's Ed25519 secret key (mode 0600).
//!
//! A line is written whole (one `write` of the line and its newline) before the message is
//! acknowledged. An append that fails (a full disk, say) is cut back to the end of the last
//! complete line before the error is returned, so the file never holds half a line that the
//! next append would glue onto. After a crash only the last line can be incomplete: opening the
//! log cuts that torn tail off (with a warning), and skips any other unreadable line (naming its
//! number), keeping the rest.
//!
//! When the bytes reach the disk is the [`Fsync`] policy's choice: after every append
//! (`always`: nothing acknowledged is lost even by a power cut, at the cost of a disk flush per
//! message on the loop), at most [`BATCH_INTERVAL`] after it (`batch`, the default: a power cut
//! may lose that last interval, a process crash nothing), or when the OS decides (`never`).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use p2p_proto::Identity;
use p2p_proto::identity::SECRET_LEN;

use crate::error::Result;
use crate::message::Message;

/// Name of the log file inside a peer's data directory.
pub const FILE_NAME: &str = "messages.jsonl";
/// Name of the secret key file inside a peer's data directory.
pub const KEY_FILE: &str = "peer.key";

/// The peer's key pair from `dir/peer.key`, made (mode 0600, readable by its owner only) on
/// first start. A key file others can read is made private again, with a warning.
pub fn load_or_create_identity(dir: &Path) -> Result<Identity> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    fs::create_dir_all(dir)?;
    let path = dir.join(KEY_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let secret: [u8; SECRET_LEN] = bytes.try_into().map_err(|b: Vec<u8>| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} holds {} bytes, not {SECRET_LEN}",
                        path.display(),
                        b.len()
                    ),
                )
            })?;
            let mode = fs::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                log::warn!(
                    "{} was readable by others (mode {:o}); made 0600",
                    path.display(),
                    mode & 0o777
                );
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
            }
            Ok(Identity::from_secret(&secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = Identity::generate();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            file.write_all(&identity.secret())?;
            log::info!("new peer key in {}", path.display());
            Ok(identity)
        }
        Err(e) => Err(e.into()),
    }
}

/// Longest a `batch` log keeps acknowledged lines only in the OS's cache.
pub const BATCH_INTERVAL: Duration = Duration::from_secs(1);

/// When appended lines are flushed to the disk (`--fsync`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fsync {
    /// After every append, before it is acknowledged.
    Always,
    /// By [`Store::sync_pending`], which the peer calls every [`BATCH_INTERVAL`].
    #[default]
    Batch,
    /// Never asked for; the OS writes back when it likes.
    Never,
}

impl FromStr for Fsync {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Fsync, String> {
        match s {
            "always" => Ok(Fsync::Always),
            "batch" => Ok(Fsync::Batch),
            "never" => Ok(Fsync::Never),
            other => Err(format!("{other:?} is not always, batch or never")),
        }
    }
}

/// A line of the log that was skipped while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong with it.
    pub reason: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{FILE_NAME} line {}: {}", self.line, self.reason)
    }
}

/// One message as a log line, newline included.
pub fn encode_line(msg: &Message) -> Vec<u8> {
    let mut line = serde_json::to_vec(msg).expect("a message is plain data with string keys");
    line.push(b'\n');
    line
}

/// Reads a log: the messages of every good line, and a warning for every line skipped.
pub fn load(bytes: &[u8]) -> (Vec<Message>, Vec<Warning>) {
    let (messages, warnings, _) = load_with_end(bytes);
    (messages, warnings)
}

/// [`load`], plus the length of the log up to the end of its last complete line, which is
/// where the next append must start so it does not glue onto a torn line.
fn load_with_end(bytes: &[u8]) -> (Vec<Message>, Vec<Warning>, usize) {
    let mut messages = Vec::new();
    let mut warnings = Vec::new();
    let mut rest = bytes;
    let mut line_no = 0;
    while !rest.is_empty() {
        line_no += 1;
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            // Written only up to here when the process died: never acknowledged, so dropped.
            warnings.push(Warning {
                line: line_no,
                reason: format!("torn last line ({} bytes, no newline) skipped", rest.len()),
            });
            return (messages, warnings, bytes.len() - rest.len());
        };
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Message>(line) {
            Ok(m) => match m.validate() {
                Ok(()) => messages.push(m),
                Err(e) => warnings.push(Warning {
                    line: line_no,
                    reason: format!("invalid message skipped: {e}"),
                }),
            },
            Err(e) => warnings.push(Warning {
                line: line_no,
                reason: format!("unreadable line skipped: {e}"),
            }),
        }
    }
    (messages, warnings, bytes.len())
}

/// The open log of one peer.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    file: File,
    /// Length of the file up to the end of its last complete line.
    len: u64,
    fsync: Fsync,
    /// Appended since the last flush to the disk.
    unsynced: bool,
}

impl Store {
    /// Opens (creating if needed) `dir/messages.jsonl` and reads it back. A torn last line is
    /// cut off the file so later appends start on a fresh line.
    pub fn open(dir: &Path, fsync: Fsync) -> Result<(Store, Vec<Message>, Vec<Warning>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let (messages, warnings, end) = load_with_end(&bytes);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if end < bytes.len() {
            file.set_len(end as u64)?;
            file.sync_all()?;
        }
        let store = Store {
            path,
            file,
            len: end as u64,
            fsync,
            unsynced: false,
        };
        Ok((store, messages, warnings))
    }

    /// Appends one message. When this returns `Ok` the line is in the OS's hands (and on the
    /// disk with [`Fsync::Always`]); when it fails, the file is as it was before.
    pub fn append(&mut self, msg: &Message) -> Result<()> {
        let line = encode_line(msg);
        let written = self.file.write_all(&line).and_then(|()| match self.fsync {
            Fsync::Always => self.file.sync_data(),
            Fsync::Batch | Fsync::Never => Ok(()),
        });
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                self.unsynced = self.fsync == Fsync::Batch;
                Ok(())
            }
            Err(e) => {
                // Part of the line may be in the file: cut it off, so the next append starts
                // on a fresh line. If even that fails, opening the log again cuts it.
                if let Err(cut) = self.file.set_len(self.len) {
                    log::error!("{}: cannot cut a failed append: {cut}", self.path.display());
                }
                Err(e.into())
            }
        }
    }

    /// With [`Fsync::Batch`], flushes what was appended since the last call to the disk.
    pub fn sync_pending(&mut self) -> Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2p_proto::testing::msg;

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "p2p-store-{tag}-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        assert!(!dir.exists());
        dir
    }

    fn check(bytes: &[u8], expected_ids: &[&str], expected_warning_lines: &[usize]) {
        let (messages, warnings) = load(bytes);
        let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, expected_ids);
        let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, expected_warning_lines, "{warnings:?}");
    }

    #[test]
    fn key_file_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempdir("key");
        let first = load_or_create_identity(&dir).unwrap();
        let path = dir.join(KEY_FILE);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = load_or_create_identity(&dir).unwrap();
        assert_eq!(first.public(), again.public());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create_identity(&dir).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(&path, b"short").unwrap();
        assert!(load_or_create_identity(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn load_cases() {
        let a = encode_line(&msg("a", "g", 1, 1, "one"));
        let b = encode_line(&msg("a", "g", 2, 2, "two"));
        let cat = |parts: &[&[u8]]| parts.concat();
        check(b"", &[], &[]);
        check(&cat(&[&a, &b]), &["a/g/1", "a/g/2"], &[]);
        check(&cat(&[&a, b"\n", &b]), &["a/g/1", "a/g/2"], &[]);
        // Torn last line: cut anywhere inside it, including just before its newline.
        for cut in 1..b.len() {
            check(&cat(&[&a, &b[..cut]]), &["a/g/1"], &[2]);
        }
        // A bad line in the middle loses only itself.
        check(&cat(&[&a, b"{garbage\n", &b]), &["a/g/1", "a/g/2"], &[2]);
        let bad_id = br#"{"id":"x","channel":"g","from":"a","name":"A","seq":3,"lamport":3,"ts":0,"text":"t"}"#;
        check(&cat(&[bad_id, b"\n", &a]), &["a/g/1"], &[1]);
    }

    #[test]
    fn warnings_name_the_line() {
        let (_, w) = load(b"{oops\n");
        assert_eq!(w.len(), 1);
        assert!(
            w[0].to_string()
                .starts_with("messages.jsonl line 1: unreadable line")
        );
    }

    #[test]
    fn append_and_reopen() {
        let dir = tempdir("reopen");
        let (mut store, messages, warnings) = Store::open(&dir, Fsync::Batch).unwrap();
        assert!(messages.is_empty() && warnings.is_empty());
        let m1 = msg("a", "g", 1, 1, "one");
        let m2 = msg("b", "g", 1, 2, "two");
        store.append(&m1).unwrap();
        store.append(&m2).unwrap();
        drop(store);
        let (_, messages, warnings) = Store::open(&dir, Fsync::Batch).unwrap();
        assert_eq!(messages, [m1, m2]);
        assert!(warnings.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn torn_tail_is_cut_before_appending() {
        let dir = tempdir("torn");
        let m1 = msg("a", "g", 1, 1, "one");
        let m2 = msg("a", "g", 2, 2, "two");
        let m3 = msg("a", "g", 3, 3, "three");
        let mut bytes = encode_line(&m1);
        bytes.extend_from_slice(&encode_line(&m2)[..10]);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(FILE_NAME), &bytes).unwrap();

        let (mut store, messages, warnings) = Store::open(&dir, Fsync::Batch).unwrap();
        assert_eq!(messages, std::slice::from_ref(&m1));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].reason.contains("torn"));
        store.append(&m3).unwrap();
        drop(store);

        let (store, messages, warnings) = Store::open(&dir, Fsync::Batch).unwrap();
        assert_eq!(
            messages,
            [m1, m3],
            "the new line must not glue onto the torn one"
        );
        assert!(warnings.is_empty());
        assert_eq!(store.path(), dir.join(FILE_NAME));
        fs::remove_dir_all(&dir).unwrap();
    }
}
