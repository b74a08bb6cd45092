//! Inputs the fuzz targets (`fuzz/`, `cargo xtask fuzz`) found breaking a property, kept here so
//! the normal test suite guards them. Each test names the property and the target that found it.

use bytes::BytesMut;
use http_core::{Limits, Method, ParseError, Request, RequestParser, parse_response_head};

/// Requests and the error, if any, of `input` fed in `pieces`.
fn requests(pieces: &[&[u8]]) -> (Vec<Request>, Option<ParseError>) {
    let mut parser = RequestParser::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut done = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(request)) => done.push(request),
                Ok(None) => break,
                Err(e) => return (done, Some(e)),
            }
        }
    }
    (done, None)
}

/// The response head parser's verdict on `input` fed in `pieces` (`None`: still incomplete).
fn response_head(pieces: &[&[u8]]) -> Option<Result<u16, ParseError>> {
    let mut buf = BytesMut::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        match parse_response_head(&mut buf, &Limits::default(), &Method::Get) {
            Ok(Some((head, _))) => return Some(Ok(head.status.code())),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
    }
    None
}

/// `input` gives the same outcome fed whole, cut in two at every point, and byte by byte.
fn check_every_split<T: PartialEq + std::fmt::Debug>(input: &[u8], run: fn(&[&[u8]]) -> T) {
    let whole = run(&[input]);
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(
            run(&[a, b]),
            whole,
            "cut at {cut} of {:?}",
            input.escape_ascii().to_string()
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run(&bytes),
        whole,
        "bytewise {:?}",
        input.escape_ascii().to_string()
    );
}

/// http_request found `POST / HTTP/2.1\x80…` answered 505 when a read ended right after
/// `HTTP/2.1` and 400 when the whole line came at once: a version is judged once it ends.
#[test]
fn version_token_is_judged_when_complete() {
    for input in [
        &b"POST / HTTP/2.1\x80\x03POST / HTTP/2.1\r\nCo: x\r\n\r\n"[..],
        b"GET / HTTP/2.0x\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.10\r\n\r\n",
    ] {
        check_every_split(input, requests);
    }
    for input in [
        &b"HTTP/2.0x 200 OK\r\n\r\n"[..],
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.10 200 OK\r\n\r\n",
    ] {
        check_every_split(input, response_head);
    }
}
