//! The serializer: status and request lines, heads, whole responses, chunks, and HTTP dates.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;

use crate::types::{Headers, Method, Response, Status, Version};

/// Writes a status line, `headers` exactly as given, and the blank line. Nothing is added.
pub fn write_response_head(
    version: Version,
    status: Status,
    headers: &Headers,
    dst: &mut BytesMut,
) {
    status_line(version, status, dst);
    write_fields(headers, dst);
    dst.extend_from_slice(b"\r\n");
}

/// Writes a whole HTTP/1.1 response.
///
/// Adds `Date: <date>` unless the response has one, and `Content-Length` unless it has
/// `Content-Length` or `Transfer-Encoding` or its status forbids a body (1xx, 204, 304). The body
/// is left out for `head_only` (a HEAD request; the length still describes it) and for statuses
/// that forbid one.
pub fn write_response(resp: &Response, head_only: bool, date: &str, dst: &mut BytesMut) {
    let allows_body = resp.status.allows_body();
    dst.reserve(128 + resp.body.len());
    status_line(Version::Http11, resp.status, dst);
    if !resp.headers.contains("date") {
        dst.extend_from_slice(b"Date: ");
        dst.extend_from_slice(date.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    write_fields(&resp.headers, dst);
    let framed =
        resp.headers.contains("content-length") || resp.headers.contains("transfer-encoding");
    if allows_body && !framed {
        dst.extend_from_slice(b"Content-Length: ");
        write_decimal(resp.body.len() as u64, dst);
        dst.extend_from_slice(b"\r\n");
    }
    dst.extend_from_slice(b"\r\n");
    if allows_body && !head_only {
        dst.extend_from_slice(&resp.body);
    }
}

/// Writes a request line, `headers` exactly as given, and the blank line.
pub fn write_request_head(
    method: &Method,
    target: &str,
    version: Version,
    headers: &Headers,
    dst: &mut BytesMut,
) {
    dst.extend_from_slice(method.as_str().as_bytes());
    dst.extend_from_slice(b" ");
    dst.extend_from_slice(target.as_bytes());
    dst.extend_from_slice(b" ");
    dst.extend_from_slice(version.as_str().as_bytes());
    dst.extend_from_slice(b"\r\n");
    write_fields(headers, dst);
    dst.extend_from_slice(b"\r\n");
}

/// Writes one chunk of a chunked body; nothing for empty data (a zero-size chunk would end it).
pub fn write_chunk(data: &[u8], dst: &mut BytesMut) {
    if data.is_empty() {
        return;
    }
    dst.reserve(data.len() + 20);
    write_hex(data.len() as u64, dst);
    dst.extend_from_slice(b"\r\n");
    dst.extend_from_slice(data);
    dst.extend_from_slice(b"\r\n");
}

/// Writes the last chunk of a chunked body, with its trailer fields.
pub fn write_last_chunk(trailers: &Headers, dst: &mut BytesMut) {
    dst.extend_from_slice(b"0\r\n");
    write_fields(trailers, dst);
    dst.extend_from_slice(b"\r\n");
}

fn status_line(version: Version, status: Status, dst: &mut BytesMut) {
    dst.extend_from_slice(version.as_str().as_bytes());
    dst.extend_from_slice(b" ");
    write_decimal(u64::from(status.code()), dst);
    dst.extend_from_slice(b" ");
    dst.extend_from_slice(status.reason().as_bytes());
    dst.extend_from_slice(b"\r\n");
}

fn write_fields(headers: &Headers, dst: &mut BytesMut) {
    for (name, value) in headers.iter() {
        dst.extend_from_slice(name);
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value);
        dst.extend_from_slice(b"\r\n");
    }
}

/// Appends `n` in decimal without going through `fmt`.
fn write_decimal(mut n: u64, dst: &mut BytesMut) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.extend_from_slice(&digits[i..]);
}

/// Appends `n` in lower-case hex (chunk sizes).
fn write_hex(mut n: u64, dst: &mut BytesMut) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n % 16) as usize];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    dst.extend_from_slice(&digits[i..]);
}

/// Formats `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).
/// Times before 1970 are written as the epoch.
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t.max(UNIX_EPOCH))
}

/// Parses an HTTP date: IMF-fixdate, or the obsolete RFC 850 and asctime forms.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// The `Date` header value, reformatted only when the second changes.
#[derive(Debug, Default)]
pub struct DateCache {
    second: Option<u64>,
    text: String,
}

impl DateCache {
    /// The IMF-fixdate of `now`.
    pub fn get(&mut self, now: SystemTime) -> &str {
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.second != Some(second) {
            self.second = Some(second);
            self.text = http_date(now);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn formats_http_dates() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
            (4_102_444_799, "Thu, 31 Dec 2099 23:59:59 GMT"),
        ];
        for (secs, text) in cases {
            assert_eq!(http_date(at(secs)), text);
            assert_eq!(parse_http_date(text), Some(at(secs)), "{text}");
        }
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(5)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    fn check_date(input: &str, expected: Option<u64>) {
        assert_eq!(parse_http_date(input), expected.map(at), "{input:?}");
    }

    #[test]
    fn parses_the_three_date_forms() {
        check_date("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777));
        check_date("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777));
        check_date("Sun Nov  6 08:49:37 1994", Some(784_111_777));
        check_date("Thu Dec 31 23:59:59 2099", Some(4_102_444_799));
        check_date("Sun, 06 Nov 1994 08:49:37 UTC", None);
        check_date("Sun, 6 Nov 1994 08:49:37 GMT", None);
        check_date("Sun, 31 Feb 1994 08:49:37 GMT", None);
        check_date("Sun, 06 Nov 1994 24:00:00 GMT", None);
        check_date("Sun, 06 Foo 1994 08:49:37 GMT", None);
        check_date("yesterday", None);
        check_date("", None);
    }

    #[test]
    fn date_cache_reformats_only_on_a_new_second() {
        let mut cache = DateCache::default();
        assert_eq!(cache.get(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            cache.get(at(0) + Duration::from_millis(999)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(cache.get(at(1)), "Thu, 01 Jan 1970 00:00:01 GMT");
    }

    fn written(f: impl FnOnce(&mut BytesMut)) -> String {
        let mut dst = BytesMut::new();
        f(&mut dst);
        String::from_utf8(dst.to_vec()).unwrap()
    }

    #[test]
    fn writes_responses() {
        let date = "Thu, 01 Jan 1970 00:00:00 GMT";
        let ok = Response::text(Status::OK, "hello");
        let cases = [
            (
                ok.clone(),
                false,
                "HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello",
            ),
            (
                ok.clone(),
                true,
                "HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n",
            ),
            (
                Response::new(Status::NO_CONTENT).header("Date", "x"),
                false,
                "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n",
            ),
            (
                Response::new(Status::NOT_MODIFIED).header("ETag", "\"a\""),
                false,
                "HTTP/1.1 304 Not Modified\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nETag: \"a\"\r\n\r\n",
            ),
            (
                Response::new(Status(299)).header("Transfer-Encoding", "chunked"),
                false,
                "HTTP/1.1 299 \r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            (
                Response::new(Status::OK),
                false,
                "HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
            ),
        ];
        for (resp, head_only, expected) in cases {
            assert_eq!(
                written(|d| write_response(&resp, head_only, date, d)),
                expected
            );
        }
    }

    #[test]
    fn writes_heads_and_chunks() {
        let mut headers = Headers::new();
        headers.append("Host", "example.com");
        assert_eq!(
            written(|d| write_request_head(&Method::Get, "/a?b", Version::Http11, &headers, d)),
            "GET /a?b HTTP/1.1\r\nHost: example.com\r\n\r\n"
        );
        assert_eq!(
            written(|d| write_response_head(Version::Http10, Status::NOT_FOUND, &headers, d)),
            "HTTP/1.0 404 Not Found\r\nHost: example.com\r\n\r\n"
        );
        assert_eq!(written(|d| write_chunk(b"", d)), "");
        assert_eq!(
            written(|d| write_chunk(&[b'x'; 26], d)),
            format!("1a\r\n{}\r\n", "x".repeat(26))
        );
        assert_eq!(
            written(|d| write_last_chunk(&Headers::new(), d)),
            "0\r\n\r\n"
        );
        let mut trailers = Headers::new();
        trailers.append(Bytes::from_static(b"X-Sum"), Bytes::from_static(b"1"));
        assert_eq!(
            written(|d| write_last_chunk(&trailers, d)),
            "0\r\nX-Sum: 1\r\n\r\n"
        );
    }

    #[test]
    fn integer_helpers() {
        for n in [0, 7, 10, 99, 100, 65_535, u64::MAX] {
            assert_eq!(written(|d| write_decimal(n, d)), n.to_string());
            assert_eq!(written(|d| write_hex(n, d)), format!("{n:x}"));
        }
    }
}
