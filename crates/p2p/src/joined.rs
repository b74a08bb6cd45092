//! `channels.json` in the data directory: the channels a peer has joined and their keys, so a
//! restart re-joins what the user joined in the UI or with `/join`, not only the `--channel`
//! ones, and the unread counts of its conversations. Rewritten whole (to a temporary file, then
//! renamed) on every join and leave and at a graceful exit (so a `kill -9` keeps the channels
//! but may lose the latest unread counts); readable by its owner only, since it holds keys.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "channels.json";

/// Channel name → its key (none for an open channel).
pub type Joined = BTreeMap<String, Option<String>>;

/// Channel (group or direct) → its unread messages.
pub type Unread = BTreeMap<String, usize>;

/// What `channels.json` holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The joined channels.
    pub joined: Joined,
    /// The unread counts.
    pub unread: Unread,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct File {
    channels: Vec<Entry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    unread: Unread,
}

/// Where the list lives for data directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The channels saved in `dir`; none when the file does not exist yet. Errors do not name the
/// file: the caller does.
pub fn load(dir: &Path) -> io::Result<Saved> {
    let path = path(dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Saved::default()),
        Err(e) => return Err(e),
    };
    let file: File = serde_json::from_str(&text).map_err(io::Error::other)?;
    Ok(Saved {
        joined: file.channels.into_iter().map(|e| (e.name, e.key)).collect(),
        unread: file.unread,
    })
}

/// Replaces what `dir` holds with `saved`.
pub fn save(dir: &Path, saved: &Saved) -> io::Result<()> {
    let file = File {
        channels: saved
            .joined
            .iter()
            .map(|(name, key)| Entry {
                name: name.clone(),
                key: key.clone(),
            })
            .collect(),
        unread: saved.unread.clone(),
    };
    let text = serde_json::to_string_pretty(&file).map_err(io::Error::other)?;
    crate::state_file::replace(&path(dir), text.as_bytes(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_channels_load_back_and_a_missing_file_is_none() {
        let dir = std::env::temp_dir().join(format!("p2p-joined-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let _ = fs::remove_file(path(&dir));
        assert_eq!(load(&dir).unwrap(), Saved::default());
        let mut saved = Saved::default();
        saved.joined.insert("general".into(), None);
        saved.joined.insert("team".into(), Some("s3cret".into()));
        saved.unread.insert("dm:a+b".into(), 2);
        save(&dir, &saved).unwrap();
        assert_eq!(load(&dir).unwrap(), saved);
        fs::write(path(&dir), "{not json").unwrap();
        assert!(load(&dir).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
