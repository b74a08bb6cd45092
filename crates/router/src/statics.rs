//! Static files: safe path resolution, MIME types, `ETag`/`Last-Modified` and `304`, and a small
//! in-memory cache so hot files cost no system call.
//!
//! Safety: the URL path is percent-decoded once; any decoded segment that is `..`, `.`, empty,
//! or holds `/`, `\` or NUL is refused (so `%2e%2e` and `%2f` cannot climb out), and the final
//! path is canonicalized and must stay under the canonical root (so symlinks cannot leave it).

use bytes::Bytes;
use http_core::form::percent_decode;
use http_core::write::{http_date, parse_http_date};
use http_core::{Headers, Response, Status, mime};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Files up to this size are kept in memory.
pub const MAX_CACHED_FILE: u64 = 256 * 1024;
/// Most files kept in memory per directory.
pub const MAX_CACHED_FILES: usize = 1024;
/// Largest file served at all (bodies are whole `Bytes` in memory).
pub const MAX_STATIC_FILE: u64 = 64 * 1024 * 1024;
/// A cached file is trusted this long before its metadata is checked again: edits show up
/// within this delay.
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Cached {
    body: Bytes,
    content_type: &'static str,
    etag: String,
    last_modified: String,
    modified: SystemTime,
    checked: Instant,
    path: PathBuf,
    len: u64,
}

/// One directory served under a URL prefix.
pub struct StaticDir {
    prefix: String,
    root: PathBuf,
    cache: Mutex<HashMap<String, Cached>>,
}

/// The outcome of serving a static path.
pub enum Served {
    /// A response (200 or 304).
    Found(Response),
    /// Nothing there (or refused for safety): answer 404.
    NotFound,
}

impl StaticDir {
    /// Serves `root` under `prefix` (e.g. `/` or `/assets`). The root must exist.
    pub fn new(prefix: &str, root: impl AsRef<Path>) -> io::Result<StaticDir> {
        let root = fs::canonicalize(root.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        Ok(StaticDir {
            prefix: prefix.trim_end_matches('/').to_owned(),
            root,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Serves the file for URL `path` (percent-encoded, no query), honouring conditional headers.
    pub fn serve(&self, path: &str, headers: &Headers) -> Served {
        let Some(rest) = path.strip_prefix(self.prefix.as_str()) else {
            return Served::NotFound;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Served::NotFound;
        }
        let now = Instant::now();
        let cached = self
            .cache
            .lock()
            .expect("static cache")
            .get(rest)
            .filter(|c| now.duration_since(c.checked) < REVALIDATE_AFTER)
            .cloned();
        let file = match cached {
            Some(file) => file,
            None => match self.load(rest, now) {
                Some(file) => file,
                None => return Served::NotFound,
            },
        };
        Served::Found(respond(&file, headers))
    }

    fn load(&self, rest: &str, now: Instant) -> Option<Cached> {
        let relative = safe_relative(rest)?;
        let mut path = self.root.join(&relative);
        if path.is_dir() {
            path.push("index.html");
        }
        let path = fs::canonicalize(&path).ok()?;
        if !path.starts_with(&self.root) {
            return None;
        }
        let meta = fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_STATIC_FILE {
            return None;
        }
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let mut cache = self.cache.lock().expect("static cache");
        if let Some(hit) = cache.get_mut(rest)
            && hit.modified == modified
            && hit.len == meta.len()
            && hit.path == path
        {
            hit.checked = now;
            return Some(hit.clone());
        }
        drop(cache);
        let body = Bytes::from(fs::read(&path).ok()?);
        let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        let file = Cached {
            content_type: mime::from_path(&path.to_string_lossy()),
            etag: format!("\"{:x}-{:x}\"", body.len(), since_epoch.as_nanos()),
            last_modified: http_date(modified),
            modified,
            checked: now,
            len: body.len() as u64,
            body,
            path,
        };
        if file.len <= MAX_CACHED_FILE {
            let mut cache = self.cache.lock().expect("static cache");
            if cache.len() >= MAX_CACHED_FILES {
                cache.clear();
            }
            cache.insert(rest.to_owned(), file.clone());
        }
        Some(file)
    }
}

/// Decodes a URL path into a relative file path, or `None` if any segment is unsafe.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let segment = percent_decode(raw)?;
        let unsafe_segment = segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains(['/', '\\', '\0'])
            || segment.contains(':');
        if unsafe_segment {
            return None;
        }
        out.push(segment);
    }
    Some(out)
}

fn respond(file: &Cached, headers: &Headers) -> Response {
    let not_modified = match headers.get_str("if-none-match") {
        Some(tags) => tags
            .split(',')
            .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == file.etag),
        None => headers
            .get_str("if-modified-since")
            .and_then(parse_http_date)
            .is_some_and(|since| {
                let modified = file
                    .modified
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let since = since
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                modified <= since
            }),
    };
    let mut response = if not_modified {
        Response::new(Status::NOT_MODIFIED)
    } else {
        Response::with_body(Status::OK, file.content_type, file.body.clone())
    };
    response.headers.append("ETag", file.etag.clone());
    response
        .headers
        .append("Last-Modified", file.last_modified.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/x",
            "/a/%2F/b",
            "/a%2fb",
            "/./x",
            "/a/..",
            "/%00",
            "/c:x",
            "/%zz",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
        assert_eq!(
            safe_relative("/css/a%20b.css"),
            Some(PathBuf::from("css/a b.css"))
        );
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
    }
}
