//! HTTP/1.1 properties: the request parser, the chunked body decoder and the response parser
//! come to the same result whatever the reads, and what they parse re-serialises to itself.

use bytes::BytesMut;
use http_core::write::{write_chunk, write_last_chunk, write_request_head, write_response_head};
use http_core::{
    BodyDecoder, BodyKind, Decoded, Headers, Limits, Method, Request, RequestParser, ResponseHead,
    Version, parse_request_head, parse_response_head,
};

use crate::{Input, describe};

/// Inputs up to this long are also fed one byte at a time (longer ones would make each run slow).
const BYTEWISE_MAX: usize = 512;

/// The request parser: same outcome for the whole input, for the chosen pieces and byte by byte;
/// every request it returns re-serialises to bytes that parse to the same request.
pub fn request(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let whole = feed_requests(&[input.payload]);
    assert_eq!(
        whole,
        feed_requests(&input.pieces()),
        "split changed the result"
    );
    if input.payload.len() <= BYTEWISE_MAX {
        let bytes: Vec<&[u8]> = input.payload.chunks(1).collect();
        assert_eq!(
            whole,
            feed_requests(&bytes),
            "bytewise feed changed the result"
        );
    }
    for request in &whole.requests {
        request_round_trip(request);
    }
}

/// The chunked decoder: same data, trailers and end whatever the reads; a decoded body written
/// again as one chunk decodes to the same data and trailers.
pub fn chunked(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let whole = decode_body(BodyKind::Chunked, &[input.payload]);
    assert_eq!(
        whole,
        decode_body(BodyKind::Chunked, &input.pieces()),
        "split changed the body"
    );
    if input.payload.len() <= BYTEWISE_MAX {
        let bytes: Vec<&[u8]> = input.payload.chunks(1).collect();
        assert_eq!(
            whole,
            decode_body(BodyKind::Chunked, &bytes),
            "bytewise feed changed the body"
        );
    }
    if let BodyEnd::Done { rest } = &whole.end {
        let mut again = BytesMut::new();
        write_chunk(&whole.data, &mut again);
        write_last_chunk(&whole.trailers, &mut again);
        again.extend_from_slice(rest);
        assert_eq!(
            whole,
            decode_body(BodyKind::Chunked, &[&again]),
            "re-encoded body differs"
        );
    }
}

/// The response parser (heads and bodies of responses on one connection, to the request method
/// the choice nibble picks): same outcome whatever the reads; every head re-serialises to itself.
pub fn response(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let method = [Method::Get, Method::Head, Method::Post, Method::Connect]
        [usize::from(input.choice % 4)]
    .clone();
    let whole = feed_responses(&method, &[input.payload]);
    assert_eq!(
        whole,
        feed_responses(&method, &input.pieces()),
        "split changed the responses"
    );
    if input.payload.len() <= BYTEWISE_MAX {
        let bytes: Vec<&[u8]> = input.payload.chunks(1).collect();
        assert_eq!(
            whole,
            feed_responses(&method, &bytes),
            "bytewise feed changed the responses"
        );
    }
    for (head, kind, _) in &whole.responses {
        let mut bytes = BytesMut::new();
        write_response_head(head.version, head.status, &head.headers, &mut bytes);
        let written = bytes.clone();
        let again = parse_response_head(&mut bytes, &Limits::default(), &method);
        let Ok(Some((again_head, again_kind))) = again else {
            panic!("re-serialised head {written:?} of {head:?} does not parse: {again:?}");
        };
        assert_eq!(
            (&again_head, &again_kind),
            (head, kind),
            "re-serialised: {written:?}"
        );
        assert!(
            bytes.is_empty(),
            "bytes left after the re-serialised head {written:?}"
        );
    }
}

/// What the request parser made of a stream.
#[derive(Debug, PartialEq)]
struct RequestRun {
    requests: Vec<Request>,
    error: Option<String>,
    /// The unparsed bytes; only compared when there was no error (after one, where parsing stops
    /// depends on the reads).
    rest: Option<BytesMut>,
    upgraded: bool,
    in_progress: bool,
}

fn feed_requests(pieces: &[&[u8]]) -> RequestRun {
    let mut parser = RequestParser::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut error = None;
    'pieces: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(request)) => requests.push(request),
                Ok(None) => break,
                Err(e) => {
                    error = Some(describe(&e));
                    break 'pieces;
                }
            }
        }
    }
    RequestRun {
        requests,
        rest: error.is_none().then_some(buf),
        error,
        upgraded: parser.is_upgraded(),
        in_progress: parser.in_progress(),
    }
}

/// Writes `request` as a client would (its head as parsed, its body framed as that head says)
/// and checks the parser reads back exactly `request` and nothing more.
fn request_round_trip(request: &Request) {
    let head = &request.head;
    let mut bytes = BytesMut::new();
    write_request_head(
        &head.method,
        &head.target,
        head.version,
        &head.headers,
        &mut bytes,
    );
    let written = bytes.clone();
    let again = parse_request_head(&mut bytes, &Limits::default());
    let Ok(Some((again_head, kind))) = again else {
        // RTSP/1.0 and ICE/1.0 requests are read as HTTP/1.0 (as llhttp reads them), so their
        // own methods (ANNOUNCE, SOURCE…) written back with HTTP/1.0 are refused: the one
        // known way a parsed head does not survive being written back.
        if matches!(head.method, Method::Other(_)) && head.version == Version::Http10 {
            return;
        }
        panic!("re-serialised head {written:?} of {head:?} does not parse: {again:?}");
    };
    assert_eq!(&again_head, head, "re-serialised: {written:?}");
    let mut bytes = written;
    match kind {
        BodyKind::Empty => assert!(request.body.is_empty(), "a body without framing"),
        BodyKind::Length(n) => {
            assert_eq!(
                n,
                request.body.len() as u64,
                "Content-Length and body differ"
            );
            bytes.extend_from_slice(&request.body);
        }
        BodyKind::Chunked => {
            write_chunk(&request.body, &mut bytes);
            write_last_chunk(&request.trailers, &mut bytes);
        }
        BodyKind::CloseDelimited => panic!("a request framed until close: {head:?}"),
    }
    let written = bytes.clone();
    let mut parser = RequestParser::new(Limits::default());
    let again = parser.parse(&mut bytes);
    assert_eq!(
        again.as_ref().ok().and_then(Option::as_ref),
        Some(request),
        "re-serialised: {written:?}"
    );
    assert!(
        bytes.is_empty(),
        "bytes left after the re-serialised request {written:?}"
    );
}

/// What a body decoder made of a stream.
#[derive(Debug, PartialEq)]
struct BodyRun {
    data: Vec<u8>,
    trailers: Headers,
    end: BodyEnd,
}

#[derive(Debug, PartialEq)]
enum BodyEnd {
    /// The body ended; `rest` is what followed it.
    Done {
        rest: Vec<u8>,
    },
    /// The input ran out first (what is left in the buffer then depends on the reads).
    NeedMore,
    Failed(String),
}

fn decode_body(kind: BodyKind, pieces: &[&[u8]]) -> BodyRun {
    let mut decoder = BodyDecoder::new(kind);
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        buf.extend_from_slice(piece);
        match drain_body(&mut decoder, &mut buf, &mut data) {
            Ok(Decoded::NeedMore) => {}
            Ok(_) => {
                for rest in &pieces[i + 1..] {
                    buf.extend_from_slice(rest);
                }
                return BodyRun {
                    data,
                    trailers: decoder.take_trailers(),
                    end: BodyEnd::Done { rest: buf.to_vec() },
                };
            }
            Err(e) => {
                return BodyRun {
                    data,
                    trailers: decoder.take_trailers(),
                    end: BodyEnd::Failed(e),
                };
            }
        }
    }
    BodyRun {
        data,
        trailers: decoder.take_trailers(),
        end: BodyEnd::NeedMore,
    }
}

/// Decodes what `buf` holds: `Done`, or `NeedMore` once it ran dry. Data pieces are never empty.
fn drain_body(
    decoder: &mut BodyDecoder,
    buf: &mut BytesMut,
    data: &mut Vec<u8>,
) -> Result<Decoded, String> {
    loop {
        match decoder.decode(buf).map_err(|e| describe(&e))? {
            Decoded::Data(piece) => {
                assert!(!piece.is_empty(), "an empty Data piece");
                data.extend_from_slice(&piece);
            }
            other => return Ok(other),
        }
    }
}

/// What the response parser made of one connection's bytes.
#[derive(Debug, PartialEq)]
struct ResponseRun {
    /// Each complete response: head, framing and body (chunked framing removed).
    responses: Vec<(ResponseHead, BodyKind, Vec<u8>)>,
    error: Option<String>,
}

fn feed_responses(method: &Method, pieces: &[&[u8]]) -> ResponseRun {
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    let mut responses = Vec::new();
    // The head whose body is being read, with its decoder and the body so far.
    let mut reading: Option<(ResponseHead, BodyKind, BodyDecoder, Vec<u8>)> = None;
    let fail = |responses, e: String| ResponseRun {
        responses,
        error: Some(e),
    };
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            if let Some((_, _, decoder, body)) = &mut reading {
                match drain_body(decoder, &mut buf, body) {
                    Ok(Decoded::NeedMore) => break,
                    Ok(_) => {
                        let (head, kind, _, body) = reading.take().expect("reading a body");
                        responses.push((head, kind, body));
                    }
                    Err(e) => return fail(responses, e),
                }
            }
            match parse_response_head(&mut buf, &limits, method) {
                Ok(Some((head, kind))) => {
                    reading = Some((head, kind, BodyDecoder::new(kind), Vec::new()));
                }
                Ok(None) => break,
                Err(e) => return fail(responses, describe(&e)),
            }
        }
    }
    if let Some((head, kind, mut decoder, body)) = reading {
        if let Err(e) = decoder.finish_on_eof() {
            return fail(responses, describe(&e));
        }
        responses.push((head, kind, body));
    }
    ResponseRun {
        responses,
        error: None,
    }
}
