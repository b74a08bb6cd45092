//! Static files: safe path resolution, MIME types, `ETag`/`Last-Modified` and `304`, single
//! byte ranges (`Range`, `If-Range`, `206`, `416`), and a small in-memory cache so hot small
//! files cost no system call. Larger files are answered as a [`FileBody`]: the server reads them
//! from the open file in bounded slices as the client takes them, so any size costs little memory.
//!
//! Safety: the URL path is percent-decoded once; any decoded segment that is `..`, `.`, empty,
//! or holds `/`, `\` or NUL is refused (so `%2e%2e` and `%2f` cannot climb out), and the final
//! path is canonicalized and must stay under the canonical root (so symlinks cannot leave it).

use crate::range::{ByteRange, parse_range};
use bytes::Bytes;
use http_core::form::percent_decode;
use http_core::write::{http_date, parse_http_date};
use http_core::{Headers, Response, Status, mime};
use reactor::{FileBody, Reply};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Files up to this size are kept in memory; larger ones are read in slices per request.
pub const MAX_CACHED_FILE: u64 = 256 * 1024;
/// Most files kept in memory per directory.
pub const MAX_CACHED_FILES: usize = 1024;
/// A cached file is trusted this long before its metadata is checked again: edits show up
/// within this delay.
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(1);

/// What a file's validators and type say about it.
#[derive(Clone)]
struct Meta {
    content_type: &'static str,
    etag: String,
    last_modified: String,
    modified: SystemTime,
    path: PathBuf,
    len: u64,
}

#[derive(Clone)]
struct Cached {
    meta: Meta,
    body: Bytes,
    checked: Instant,
}

/// Where the bytes of a file come from.
enum Content {
    /// Held in memory (small files, from the cache).
    Memory(Bytes),
    /// Read from the open file as the client takes it.
    File(File),
}

/// One directory served under a URL prefix.
pub struct StaticDir {
    prefix: String,
    root: PathBuf,
    cache: Mutex<HashMap<String, Cached>>,
}

/// The outcome of serving a static path.
pub enum Served {
    /// An answer (200, 206, 304 or 416), the body in memory or read from the file.
    Found(Reply),
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

    /// Serves the file for URL `path` (percent-encoded, no query), honouring conditional and
    /// range headers.
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
            .map(|c| (c.meta.clone(), Content::Memory(c.body.clone())));
        let (meta, content) = match cached {
            Some(hit) => hit,
            None => match self.load(rest, now) {
                Some(loaded) => loaded,
                None => return Served::NotFound,
            },
        };
        Served::Found(respond(&meta, content, headers))
    }

    fn load(&self, rest: &str, now: Instant) -> Option<(Meta, Content)> {
        let relative = safe_relative(rest)?;
        let mut path = self.root.join(&relative);
        if path.is_dir() {
            path.push("index.html");
        }
        let path = fs::canonicalize(&path).ok()?;
        if !path.starts_with(&self.root) {
            return None;
        }
        // Validators come from the open file, so they describe the bytes we send.
        let mut file = File::open(&path).ok()?;
        let stat = file.metadata().ok()?;
        if !stat.is_file() {
            return None;
        }
        let modified = stat.modified().unwrap_or(UNIX_EPOCH);
        let len = stat.len();
        let mut cache = self.cache.lock().expect("static cache");
        if let Some(hit) = cache.get_mut(rest)
            && hit.meta.modified == modified
            && hit.meta.len == len
            && hit.meta.path == path
        {
            hit.checked = now;
            return Some((hit.meta.clone(), Content::Memory(hit.body.clone())));
        }
        drop(cache);
        let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        let meta = Meta {
            content_type: mime::from_path(&path.to_string_lossy()),
            etag: format!("\"{:x}-{:x}\"", len, since_epoch.as_nanos()),
            last_modified: http_date(modified),
            modified,
            len,
            path,
        };
        if len > MAX_CACHED_FILE {
            return Some((meta, Content::File(file)));
        }
        let mut body = Vec::with_capacity(usize::try_from(len).ok()?);
        file.read_to_end(&mut body).ok()?;
        if body.len() as u64 != len {
            // Changed while we read it: the validators would lie, so read it again next time.
            return Some((meta, Content::Memory(Bytes::from(body))));
        }
        let body = Bytes::from(body);
        let mut cache = self.cache.lock().expect("static cache");
        if cache.len() >= MAX_CACHED_FILES {
            cache.clear();
        }
        cache.insert(
            rest.to_owned(),
            Cached {
                meta: meta.clone(),
                body: body.clone(),
                checked: now,
            },
        );
        Some((meta, Content::Memory(body)))
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

/// Whether the client's copy is current (`If-None-Match`, else `If-Modified-Since`).
fn not_modified(meta: &Meta, headers: &Headers) -> bool {
    match headers.get_str("if-none-match") {
        Some(tags) => tags
            .split(',')
            .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == meta.etag),
        None => headers
            .get_str("if-modified-since")
            .and_then(parse_http_date)
            .is_some_and(|since| unix_secs(meta.modified) <= unix_secs(since)),
    }
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// RFC 9110 §13.1.5: a range applies only if `If-Range` (when sent) names the current
/// representation, by strong `ETag` or by the exact `Last-Modified` date.
fn range_applies(meta: &Meta, headers: &Headers) -> bool {
    match headers.get_str("if-range").map(str::trim) {
        None => true,
        Some(tag) if tag.starts_with('"') => tag == meta.etag,
        Some(date) => date == meta.last_modified,
    }
}

fn respond(meta: &Meta, content: Content, headers: &Headers) -> Reply {
    if not_modified(meta, headers) {
        return Reply::Full(with_validators(Response::new(Status::NOT_MODIFIED), meta));
    }
    let range = match headers.get_str("range") {
        Some(spec) if range_applies(meta, headers) => parse_range(spec, meta.len),
        _ => ByteRange::Whole,
    };
    let (status, offset, len) = match range {
        ByteRange::Whole => (Status::OK, 0, meta.len),
        ByteRange::Part { first, last } => (Status::PARTIAL_CONTENT, first, last - first + 1),
        ByteRange::Unsatisfiable => {
            let response = Response::text(
                Status::RANGE_NOT_SATISFIABLE,
                "Range Not Satisfiable: the range is outside the file\n",
            )
            .header("Content-Range", format!("bytes */{}", meta.len));
            return Reply::Full(with_validators(response, meta));
        }
    };
    let mut head = Response::new(status).header("Content-Type", meta.content_type);
    if status == Status::PARTIAL_CONTENT {
        let last = offset + len - 1;
        head.headers.append(
            "Content-Range",
            format!("bytes {offset}-{last}/{}", meta.len),
        );
    }
    let head = with_validators(head, meta);
    match content {
        Content::Memory(body) => {
            let (start, end) = (offset as usize, (offset + len) as usize);
            let mut response = head;
            response.body = body.slice(start.min(body.len())..end.min(body.len()));
            Reply::Full(response)
        }
        Content::File(file) => Reply::File(
            head,
            FileBody {
                file: Arc::new(file),
                offset,
                len,
            },
        ),
    }
}

fn with_validators(mut response: Response, meta: &Meta) -> Response {
    response.headers.append("Accept-Ranges", "bytes");
    response.headers.append("ETag", meta.etag.clone());
    response
        .headers
        .append("Last-Modified", meta.last_modified.clone());
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
