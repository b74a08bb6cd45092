//! The RFC 9112 "must"s of issue 12, fed as raw bytes: each request, the status a server answers
//! and the typed error behind it.

use bytes::BytesMut;
use http_core::{BodyDecoder, BodyKind, Limits, Malformed, ParseError, parse_request_head};

/// Parses `raw` as a request head and then its body, as a server does.
fn parse(raw: &str) -> Result<(), ParseError> {
    let mut buf = BytesMut::from(raw.as_bytes());
    let (_, kind) = parse_request_head(&mut buf, &Limits::default())?.expect("a complete head");
    let mut body = BodyDecoder::new(kind);
    while !body.is_done() {
        if body.decode(&mut buf)? == http_core::Decoded::NeedMore {
            break;
        }
    }
    Ok(())
}

#[test]
fn rfc9112_musts() {
    use Malformed::*;
    use ParseError::*;
    let bad = BadRequest;
    let cases: &[(&str, &str, Result<(), ParseError>, u16)] = &[
        (
            "§3.2 two Host fields",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            Err(bad(DuplicateHost)),
            400,
        ),
        (
            "§6.1 gzip before chunked is not decoded",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            Err(UnsupportedTransferCoding),
            501,
        ),
        (
            "§6.1 an unknown coding",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n",
            Err(UnsupportedTransferCoding),
            501,
        ),
        (
            "§6.3 chunked not last",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Err(bad(ChunkedNotLast)),
            400,
        ),
        (
            "§6.3 no chunked at all",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            Err(bad(NotChunkedLast)),
            400,
        ),
        (
            "§6.1 HTTP/1.0 with Transfer-Encoding",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Err(bad(TransferEncodingOnHttp10)),
            400,
        ),
        (
            "§2.3 the HTTP/0.9 form",
            "GET /\r\n\r\n",
            Err(bad(MissingVersion)),
            400,
        ),
        (
            "§3.2 a target in no form",
            "GET a HTTP/1.1\r\nHost: a\r\n\r\n",
            Err(bad(Target)),
            400,
        ),
        (
            "§3.2 a target starting with userinfo",
            "GET @evil.com/x HTTP/1.1\r\nHost: a\r\n\r\n",
            Err(bad(Target)),
            400,
        ),
        (
            "§3.2.3 authority-form outside CONNECT",
            "GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n",
            Err(bad(Target)),
            400,
        ),
        (
            "§3.2.4 asterisk-form outside OPTIONS",
            "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
            Err(bad(Target)),
            400,
        ),
        (
            "§7.1 a chunk size beyond the limit, before its data",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\n",
            Err(bad(ChunkTooLarge)),
            400,
        ),
        (
            "§7.1 a chunk-size line beyond the limit",
            &format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a={}",
                "b".repeat(http_core::limits::MAX_CHUNK_LINE_BYTES)
            ),
            Err(bad(ChunkLineTooLong)),
            400,
        ),
        (
            "origin-form",
            "GET /x?y HTTP/1.1\r\nHost: a\r\n\r\n",
            Ok(()),
            200,
        ),
        (
            "absolute-form",
            "GET http://h/x HTTP/1.1\r\nHost: a\r\n\r\n",
            Ok(()),
            200,
        ),
        (
            "authority-form",
            "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
            Ok(()),
            200,
        ),
        (
            "asterisk-form",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            Ok(()),
            200,
        ),
    ];
    for (name, raw, expected, status) in cases {
        let got = parse(raw);
        assert_eq!(&got, expected, "{name}");
        let code = got.err().map_or(200, |e| e.status().code());
        assert_eq!(code, *status, "{name}");
    }
}

#[test]
fn absolute_form_names_the_host() {
    let mut buf = BytesMut::from(&b"GET http://b.example:8080/x?q HTTP/1.1\r\nHost: a\r\n\r\n"[..]);
    let (head, kind) = parse_request_head(&mut buf, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(kind, BodyKind::Empty);
    assert_eq!(head.host(), Some("b.example:8080"));
    assert_eq!(head.origin_form(), "/x?q");
    assert_eq!(head.path(), "/x");
    let mut buf = BytesMut::from(&b"GET http://b.example HTTP/1.1\r\nHost: a\r\n\r\n"[..]);
    let (head, _) = parse_request_head(&mut buf, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        (head.host(), &*head.origin_form()),
        (Some("b.example"), "/")
    );
    let mut buf = BytesMut::from(&b"GET http://u:p@b.example?q HTTP/1.1\r\nHost: a\r\n\r\n"[..]);
    let (head, _) = parse_request_head(&mut buf, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        (head.host(), &*head.origin_form()),
        (Some("b.example"), "/?q")
    );
}
