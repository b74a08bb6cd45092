//! Content types by file extension, for static files.

/// Extensions (lower case) and their content types; text types say UTF-8.
const TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("txt", "text/plain; charset=utf-8"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("ico", "image/x-icon"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("pdf", "application/pdf"),
    ("wasm", "application/wasm"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
];

/// The content type for `path` by its extension (case-insensitive);
/// `application/octet-stream` when unknown.
pub fn from_path(path: &str) -> &'static str {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    name.rsplit_once('.')
        .and_then(|(_, ext)| TYPES.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)))
        .map_or("application/octet-stream", |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_extension() {
        let cases = [
            ("index.html", "text/html; charset=utf-8"),
            ("/static/INDEX.HTM", "text/html; charset=utf-8"),
            ("css/site.css", "text/css; charset=utf-8"),
            ("app.mjs", "text/javascript; charset=utf-8"),
            ("a.b/data.json", "application/json"),
            ("logo.PNG", "image/png"),
            ("photo.jpeg", "image/jpeg"),
            ("font.woff2", "font/woff2"),
            ("archive.tar.gz", "application/gzip"),
            ("static\\img.svg", "image/svg+xml"),
            ("README", "application/octet-stream"),
            ("dir.d/file", "application/octet-stream"),
            ("weird.exe", "application/octet-stream"),
            ("", "application/octet-stream"),
        ];
        for (path, expected) in cases {
            assert_eq!(from_path(path), expected, "{path:?}");
        }
    }
}
