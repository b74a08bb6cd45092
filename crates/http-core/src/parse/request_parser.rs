//! [`RequestParser`]: whole requests (head, body, trailers) out of a connection's input buffer.

use bytes::{Bytes, BytesMut};

use super::{Malformed, ParseError, parse_request_head};
use crate::body::{BodyDecoder, Decoded};
use crate::limits::Limits;
use crate::types::{Method, Request, RequestHead};

/// Reads whole requests from a connection's input, one after another (pipelining).
///
/// Call [`parse`](RequestParser::parse) whenever bytes arrive; it returns each complete request
/// and leaves the bytes of the next one in the buffer. After an error the parser is poisoned: the
/// framing is lost, so it keeps returning that error. After a request that ends the connection
/// (`Connection: close`, HTTP/1.0 without keep-alive) further bytes are an error. After a CONNECT,
/// PRI or `Upgrade` request it stops: what follows belongs to another protocol and is left in the
/// buffer untouched.
///
/// ```
/// # use bytes::BytesMut;
/// # use http_core::{Limits, RequestParser};
/// let mut parser = RequestParser::new(Limits::default());
/// let mut buf = BytesMut::from(&b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HT"[..]);
/// assert_eq!(parser.parse(&mut buf).unwrap().unwrap().target(), "/a");
/// assert!(parser.parse(&mut buf).unwrap().is_none());
/// buf.extend_from_slice(b"TP/1.1\r\nHost: x\r\n\r\n");
/// assert_eq!(parser.parse(&mut buf).unwrap().unwrap().target(), "/b");
/// ```
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Waiting for (the rest of) a head; nothing of it is consumed yet.
    Head,
    /// The head is parsed; its body is arriving.
    Body(Box<Pending>),
    /// The last request ended the connection; no more bytes may follow.
    Closed,
    /// The last request switched protocols; the rest of the input is not ours.
    Upgraded,
    /// Framing is lost.
    Failed(ParseError),
}

#[derive(Debug)]
struct Pending {
    head: RequestHead,
    decoder: BodyDecoder,
    body: Body,
}

/// The body so far: a single piece stays zero-copy, several are joined.
#[derive(Debug)]
enum Body {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::One(b) => b.len(),
            Body::Many(b) => b.len(),
        }
    }

    fn push(&mut self, data: Bytes) {
        *self = match std::mem::replace(self, Body::Empty) {
            Body::Empty => Body::One(data),
            Body::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                Body::Many(joined)
            }
            Body::Many(mut joined) => {
                joined.extend_from_slice(&data);
                Body::Many(joined)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Body::Empty => Bytes::new(),
            Body::One(b) => b,
            Body::Many(b) => b.freeze(),
        }
    }
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            limits,
            state: State::Head,
        }
    }

    /// The next complete request at the front of `buf`, or `Ok(None)` if more bytes are needed.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ParseError> {
        let result = self.step(buf);
        if let Err(e) = &result {
            self.state = State::Failed(*e);
        }
        result
    }

    /// The head of the request whose body is still arriving (lets a server send `100 Continue`).
    pub fn awaiting_body(&self) -> Option<&RequestHead> {
        match &self.state {
            State::Body(pending) => Some(&pending.head),
            _ => None,
        }
    }

    /// Whether part of a message has been consumed from the buffer (a head whose body is still
    /// arriving). Bytes of an incomplete head stay in the caller's buffer until the head is whole.
    pub fn in_progress(&self) -> bool {
        matches!(self.state, State::Body(_))
    }

    /// Whether the last request switched protocols (CONNECT, PRI, `Upgrade`): the parser reads no
    /// further and the rest of the input belongs to the new protocol.
    pub fn is_upgraded(&self) -> bool {
        matches!(self.state, State::Upgraded)
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ParseError> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(*e),
                State::Upgraded => return Ok(None),
                State::Closed if buf.is_empty() => return Ok(None),
                State::Closed => {
                    return Err(ParseError::BadRequest(Malformed::DataAfterClose));
                }
                State::Head => {
                    let Some((head, kind)) = parse_request_head(buf, &self.limits)? else {
                        return Ok(None);
                    };
                    let max = u64::try_from(self.limits.max_body_bytes).unwrap_or(u64::MAX);
                    if matches!(kind, crate::BodyKind::Length(n) if n > max) {
                        return Err(ParseError::BodyTooLarge);
                    }
                    self.state = State::Body(Box::new(Pending {
                        head,
                        decoder: BodyDecoder::new(kind),
                        body: Body::Empty,
                    }));
                }
                State::Body(pending) => match pending.decoder.decode(buf)? {
                    Decoded::Data(data) => {
                        if pending.body.len() + data.len() > self.limits.max_body_bytes {
                            return Err(ParseError::BodyTooLarge);
                        }
                        pending.body.push(data);
                    }
                    Decoded::NeedMore => return Ok(None),
                    Decoded::Done => return Ok(Some(self.finish())),
                },
            }
        }
    }

    /// Hands out the request whose body just completed and decides what may follow it.
    fn finish(&mut self) -> Request {
        let State::Body(pending) = std::mem::replace(&mut self.state, State::Head) else {
            unreachable!("finish is called with a complete body");
        };
        let Pending {
            head,
            mut decoder,
            body,
        } = *pending;
        let switches =
            head.is_upgrade() || head.method == Method::Connect || head.method.as_str() == "PRI";
        self.state = if switches {
            State::Upgraded
        } else if !head.keep_alive() {
            State::Closed
        } else {
            State::Head
        };
        Request {
            head,
            body: body.into_bytes(),
            trailers: decoder.take_trailers(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Version;

    /// Feeds `input` whole; returns (target, body) of each request and the error, if any.
    fn run(parser: &mut RequestParser, buf: &mut BytesMut) -> (Vec<Request>, Option<ParseError>) {
        let mut out = Vec::new();
        loop {
            match parser.parse(buf) {
                Ok(Some(req)) => out.push(req),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    fn parse_all(input: &[u8], limits: Limits) -> (Vec<Request>, Option<ParseError>, BytesMut) {
        let mut parser = RequestParser::new(limits);
        let mut buf = BytesMut::from(input);
        let (reqs, err) = run(&mut parser, &mut buf);
        (reqs, err, buf)
    }

    /// Feeds `input[..k]`, then the rest, for every `k`; each run must equal the whole-buffer run.
    fn check_every_split(input: &[u8]) {
        let (whole, whole_err, whole_rest) = parse_all(input, Limits::default());
        for k in 0..=input.len() {
            let mut parser = RequestParser::new(Limits::default());
            let mut buf = BytesMut::from(&input[..k]);
            let (mut reqs, mut err) = run(&mut parser, &mut buf);
            if err.is_none() {
                buf.extend_from_slice(&input[k..]);
                let (more, e) = run(&mut parser, &mut buf);
                reqs.extend(more);
                err = e;
            }
            assert_eq!(
                reqs,
                whole,
                "split at {k} of {:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(err, whole_err, "split at {k}");
            if err.is_none() {
                assert_eq!(buf, whole_rest, "split at {k}");
            }
        }
    }

    #[test]
    fn pipelined_requests_in_one_buffer() {
        let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
            PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n\
            GET /d HTTP/1.1\r\nHo";
        let (reqs, err, rest) = parse_all(input, Limits::default());
        assert_eq!(err, None);
        let got: Vec<_> = reqs.iter().map(|r| (r.target(), &r.body[..])).collect();
        assert_eq!(got, [("/a", &b""[..]), ("/b", b"hello"), ("/c", b"abcde")]);
        assert_eq!(reqs[2].trailers.get("x-t"), Some(&b"1"[..]));
        assert_eq!(&rest[..], b"GET /d HTTP/1.1\r\nHo");
    }

    #[test]
    fn every_split_point_matches_the_whole_parse() {
        let cases: &[&[u8]] = &[
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"\r\nPUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=\"a;b\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
            b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
        ];
        for input in cases {
            check_every_split(input);
        }
    }

    #[test]
    fn body_over_the_limit_fails_at_the_head() {
        let limits = Limits {
            max_body_bytes: 4,
            ..Limits::default()
        };
        let (_, err, _) = parse_all(
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            limits.clone(),
        );
        assert_eq!(err, Some(ParseError::BodyTooLarge));
        let (reqs, err, _) = parse_all(
            b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd",
            limits.clone(),
        );
        assert_eq!((reqs.len(), err), (1, None));
        let chunked =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n";
        let (_, err, _) = parse_all(chunked, limits);
        assert_eq!(err, Some(ParseError::BodyTooLarge));
    }

    #[test]
    fn errors_poison_the_parser() {
        let mut parser = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nA : b\r\n\r\n"[..]);
        let first = parser.parse(&mut buf);
        assert!(matches!(first, Err(ParseError::BadRequest(_))));
        let mut fresh = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert_eq!(parser.parse(&mut fresh), first);
    }

    #[test]
    fn data_after_close_is_an_error() {
        let (reqs, err, _) = parse_all(
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            Limits::default(),
        );
        assert_eq!(reqs.len(), 1);
        assert_eq!(err, Some(ParseError::BadRequest(Malformed::DataAfterClose)));
        let (reqs, err, _) = parse_all(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
            Limits::default(),
        );
        assert_eq!((reqs.len(), err), (2, None));
        assert_eq!(reqs[1].head.version, Version::Http10);
    }

    #[test]
    fn upgrade_and_connect_leave_the_rest_untouched() {
        let (reqs, err, rest) = parse_all(
            b"POST /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: ws\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\n\r\n",
            Limits::default(),
        );
        assert_eq!((reqs.len(), err), (1, None));
        assert_eq!(&reqs[0].body[..], b"hi");
        assert_eq!(&rest[..], b"GET / HTTP/1.1\r\n\r\n");
        let (reqs, _, rest) = parse_all(
            b"CONNECT a:443 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            Limits::default(),
        );
        assert_eq!(reqs[0].body.len(), 0);
        assert_eq!(&rest[..], b"abc");
    }

    #[test]
    fn progress_is_reported() {
        let mut parser = RequestParser::new(Limits::default());
        let mut buf = BytesMut::from(
            &b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"[..],
        );
        assert_eq!(parser.parse(&mut buf), Ok(None));
        assert!(parser.in_progress());
        assert_eq!(parser.awaiting_body().map(|h| h.target.as_str()), Some("/"));
        buf.extend_from_slice(b"abc");
        assert!(parser.parse(&mut buf).unwrap().is_some());
        assert!(!parser.in_progress());
        assert!(parser.awaiting_body().is_none());
        assert_eq!(parser.limits(), &Limits::default());
    }
}
