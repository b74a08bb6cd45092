//! Small state files of the data directory (`channels.json`, `files.json`), replaced whole so
//! that a crash leaves the old version or the new one, never half of one: the bytes go to
//! `NAME.tmp` (readable by the owner only), are flushed to the disk unless told not to, and the
//! temporary file is renamed over the old one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Replaces the file at `path` with `bytes`; `sync` flushes them to the disk before the rename
/// (without it a power cut may leave an empty file; a crashed process never does).
pub fn replace(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let tmp = tmp_path(path);
    write_private(&tmp, bytes, sync)?;
    fs::rename(&tmp, path)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    if sync { f.sync_all() } else { Ok(()) }
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    fs::write(path, bytes)?;
    if sync {
        fs::File::open(path)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_holds_the_new_bytes_and_no_temporary_is_left() {
        let dir = std::env::temp_dir().join(format!("p2p-state-file-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        replace(&path, b"old", true).unwrap();
        replace(&path, b"new", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!tmp_path(&path).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
