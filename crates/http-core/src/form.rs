//! Percent-encoding (RFC 3986) and `application/x-www-form-urlencoded` query and form bodies.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Decodes `%XX` escapes; `None` on a malformed escape or if the result is not UTF-8.
/// `+` stays `+` (it means space only in forms: see [`form_decode`]).
pub fn percent_decode(s: &str) -> Option<String> {
    String::from_utf8(percent_decode_bytes(s.as_bytes())?).ok()
}

/// Decodes `%XX` escapes into bytes; `None` on a malformed escape. Stricter than the
/// `percent-encoding` crate it uses, which keeps a malformed escape as it is: a path segment
/// that does not decode is refused rather than guessed at.
pub fn percent_decode_bytes(s: &[u8]) -> Option<Vec<u8>> {
    let well_formed = s.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || s.get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed.then(|| percent_encoding::percent_decode(s).collect())
}

/// The canonical form of a URL path, so that every reader of a path (route table, hooks, static
/// files) agrees on what it names: runs of `/` become one, and a `%XX` escape of a printable
/// ASCII character other than `/ ? # %` is decoded (`/%69ndex%2Ehtml` is `/index.html`).
///
/// Escapes that would change the path's structure (`%2F`), its meaning (`%25`, `%3F`, `%23`) or
/// that stand for controls, spaces or non-ASCII bytes stay encoded, upper-cased; a malformed
/// escape stays as it is. Dot segments are kept: deciding what `..` may reach is the job of the
/// code that maps the path onto something (a directory refuses them).
///
/// ```
/// # use http_core::form::normalize_path;
/// assert_eq!(normalize_path("//%69ndex%2ehtml"), "/index.html");
/// assert_eq!(normalize_path("/a%2fb/%20x"), "/a%2Fb/%20x");
/// ```
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    if !path.contains('%') && !path.contains("//") {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'/' if out.ends_with('/') => i += 1,
            b'%' => {
                let escape = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| Some(hex_value(hex[0])? << 4 | hex_value(hex[1])?));
                match escape {
                    Some(c) if c.is_ascii_graphic() && !b"/?#%".contains(&c) => out.push(c as char),
                    Some(c) => out.push_str(&format!("%{c:02X}")),
                    None => out.push('%'),
                }
                i += if escape.is_some() { 3 } else { 1 };
            }
            _ => {
                // Copy the run up to the next byte of interest whole, keeping UTF-8 intact.
                let end = bytes[i..]
                    .iter()
                    .position(|&c| c == b'/' || c == b'%')
                    .map_or(bytes.len(), |n| i + n.max(1));
                out.push_str(&path[i..end]);
                i = end;
            }
        }
    }
    Cow::Owned(out)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes an `application/x-www-form-urlencoded` string (a query or form body) into pairs,
/// by the WHATWG URL standard's rules (the `form_urlencoded` crate).
///
/// `+` is a space; a key without `=` gets the value `""`; a malformed escape is kept as it is,
/// and bytes that are not UTF-8 become U+FFFD.
///
/// ```
/// # use http_core::form::form_decode;
/// let pairs = form_decode("name=Ada+L%C3%B6w&flag&bad=%zz");
/// assert_eq!(
///     pairs,
///     [("name".into(), "Ada Löw".into()), ("flag".into(), "".into()), ("bad".into(), "%zz".into())]
/// );
/// ```
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// The value of the first pair called `key`.
pub fn form_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Every byte but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything except the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`).
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RESERVED).to_string()
}

/// Encodes pairs as `application/x-www-form-urlencoded` (`a=1&b=x+y`).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        let cases = [
            ("", Some("")),
            ("abc", Some("abc")),
            ("a%20b", Some("a b")),
            ("a+b", Some("a+b")),
            ("%C3%A9", Some("é")),
            ("%c3%a9", Some("é")),
            ("%", None),
            ("%4", None),
            ("%zz", None),
            ("%FF", None),
            ("100%", None),
        ];
        for (input, expected) in cases {
            assert_eq!(percent_decode(input).as_deref(), expected, "{input:?}");
        }
        assert_eq!(percent_decode_bytes(b"%FF%00"), Some(vec![0xff, 0]));
    }

    #[test]
    fn path_normalization() {
        let cases = [
            ("/", "/"),
            ("", ""),
            ("//", "/"),
            ("/index.html", "/index.html"),
            ("//index.html", "/index.html"),
            ("/%69ndex.html", "/index.html"),
            ("/index%2Ehtml", "/index.html"),
            ("/a//b///c/", "/a/b/c/"),
            ("/%2e%2e/etc/passwd", "/../etc/passwd"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%20b", "/a%20b"),
            ("/%25%3f%23", "/%25%3F%23"),
            ("/%c3%a9", "/%C3%A9"),
            ("/é/%7e", "/é/~"),
            ("/100%", "/100%"),
            ("/%zz%4", "/%zz%4"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_path(input), expected, "{input:?}");
            assert_eq!(
                normalize_path(expected),
                expected,
                "idempotent on {expected:?}"
            );
        }
    }

    fn check_form(input: &str, expected: &[(&str, &str)]) {
        let got = form_decode(input);
        let got: Vec<_> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expected, "{input:?}");
    }

    #[test]
    fn form_decoding() {
        check_form("", &[]);
        check_form("a=1&b=2", &[("a", "1"), ("b", "2")]);
        check_form("a=x+y%2By&&c", &[("a", "x y+y"), ("c", "")]);
        check_form("a=%zz&b=ok", &[("a", "%zz"), ("b", "ok")]);
        check_form("k=v=w", &[("k", "v=w")]);
        check_form("%61=1", &[("a", "1")]);
        let pairs = form_decode("a=1&a=2");
        assert_eq!(form_value(&pairs, "a"), Some("1"));
        assert_eq!(form_value(&pairs, "b"), None);
    }

    #[test]
    fn encoding_round_trips() {
        assert_eq!(percent_encode("a b/é~"), "a%20b%2F%C3%A9~");
        assert_eq!(form_encode(&[("q", "a b&c"), ("x", "")]), "q=a+b%26c&x=");
        let text = "Grüße, world! 100% & more+";
        assert_eq!(percent_decode(&percent_encode(text)).as_deref(), Some(text));
        let decoded = form_decode(&form_encode(&[("k", text)]));
        assert_eq!(form_value(&decoded, "k"), Some(text));
    }
}
