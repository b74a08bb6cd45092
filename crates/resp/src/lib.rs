//! RESP2, the Redis serialization protocol, without I/O: [`encode`] writes a command (an array
//! of bulk strings, the only form Redis takes from clients) into a buffer, and [`parse`] reads one
//! reply from the front of a buffer, answering [`Status::Partial`] until the whole reply is there.
//!
//! ```
//! use bytes::BytesMut;
//! use resp::{Status, Value, encode, parse};
//!
//! let mut out = BytesMut::new();
//! encode(&[b"GET".as_slice(), b"k"], &mut out);
//! assert_eq!(&out[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
//!
//! assert_eq!(parse(b"$5\r\nhel").unwrap(), Status::Partial);
//! let Status::Complete(value, used) = parse(b"$5\r\nhello\r\n+OK\r\n").unwrap() else {
//!     panic!("complete")
//! };
//! assert_eq!((value, used), (Value::Bulk(b"hello".to_vec()), 11));
//! ```

use bytes::{BufMut, BytesMut};

/// The largest bulk string a reply may carry; a longer one is an error, never a bigger buffer.
pub const MAX_BULK: usize = 16 * 1024 * 1024;
/// The most elements an array reply may have.
pub const MAX_ARRAY: usize = 1024 * 1024;
/// How deeply arrays may nest (Redis's own replies nest two or three deep).
pub const MAX_DEPTH: usize = 8;
/// The longest line (simple string, error, number); Redis's own are short.
pub const MAX_LINE: usize = 64 * 1024;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`.
    Simple(String),
    /// `-ERR message`: Redis refused the command (the connection stays usable).
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$n` then n bytes.
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`: no value.
    Nil,
    /// `*n` then n replies.
    Array(Vec<Value>),
}

impl Value {
    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// A bulk or simple string as UTF-8 text.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// An integer reply, or a string holding one (as `EVAL` may return).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            other => other.as_str()?.parse().ok(),
        }
    }
}

/// How far parsing got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole reply and the bytes it took.
    Complete(T, usize),
    /// More bytes are needed.
    Partial,
}

/// A reply that breaks the protocol; the connection cannot be trusted after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The first byte of a reply is not a RESP2 type.
    #[error("unknown reply type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A length or integer that is not a number.
    #[error("bad number in reply: {0:?}")]
    BadNumber(String),
    /// A bulk string not followed by CRLF.
    #[error("bulk string without its CRLF")]
    MissingCrlf,
    /// A reply larger than the limits above.
    #[error("reply too large: {0}")]
    TooLarge(&'static str),
}

/// Appends one command, `*N` then each argument as a bulk string.
pub fn encode<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    let header = |out: &mut BytesMut, kind: u8, n: usize| {
        out.put_u8(kind);
        out.put_slice(n.to_string().as_bytes());
        out.put_slice(b"\r\n");
    };
    header(out, b'*', args.len());
    for arg in args {
        let arg = arg.as_ref();
        header(out, b'$', arg.len());
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

/// Reads the reply at the front of `buf`.
pub fn parse(buf: &[u8]) -> Result<Status<Value>, Error> {
    Ok(match value(buf, 0, 0)? {
        Some((v, end)) => Status::Complete(v, end),
        None => Status::Partial,
    })
}

/// The reply starting at `at`, and where it ends; `None` when incomplete.
fn value(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Value, usize)>, Error> {
    let Some((line, next)) = line(buf, at)? else {
        return Ok(None);
    };
    let (&kind, rest) = line.split_first().ok_or(Error::UnknownType(b'\r'))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    Ok(Some(match kind {
        b'+' => (Value::Simple(text()), next),
        b'-' => (Value::Error(text()), next),
        b':' => (Value::Int(number(rest)?), next),
        b'$' => {
            let n = number(rest)?;
            if n < 0 {
                return Ok(Some((Value::Nil, next)));
            }
            let n = usize::try_from(n).map_err(|_| Error::TooLarge("bulk string"))?;
            if n > MAX_BULK {
                return Err(Error::TooLarge("bulk string"));
            }
            let end = next + n;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(Error::MissingCrlf);
            }
            (Value::Bulk(buf[next..end].to_vec()), end + 2)
        }
        b'*' => {
            let n = number(rest)?;
            if n < 0 {
                return Ok(Some((Value::Nil, next)));
            }
            let n = usize::try_from(n).map_err(|_| Error::TooLarge("array"))?;
            if n > MAX_ARRAY {
                return Err(Error::TooLarge("array"));
            }
            if depth >= MAX_DEPTH {
                return Err(Error::TooLarge("array nesting"));
            }
            // Capacity grows with what arrived, not with what the length claims.
            let mut items = Vec::with_capacity(n.min(64));
            let mut pos = next;
            for _ in 0..n {
                let Some((item, end)) = value(buf, pos, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                pos = end;
            }
            (Value::Array(items), pos)
        }
        other => return Err(Error::UnknownType(other)),
    }))
}

/// The line at `at` without its CRLF, and where the next one starts.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, Error> {
    let rest = buf.get(at..).unwrap_or_default();
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some((&rest[..end], at + end + 2))),
        None if rest.len() > MAX_LINE => Err(Error::TooLarge("line")),
        None => Ok(None),
    }
}

fn number(digits: &[u8]) -> Result<i64, Error> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::BadNumber(String::from_utf8_lossy(digits).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `input` parses to `expected` whole, and to `Partial` at every split point before its end.
    fn check(input: &[u8], expected: Value) {
        assert_eq!(
            parse(input).unwrap(),
            Status::Complete(expected, input.len()),
            "{}",
            String::from_utf8_lossy(input)
        );
        for cut in 0..input.len() {
            assert_eq!(
                parse(&input[..cut]).unwrap(),
                Status::Partial,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_reply_type_at_every_split_point() {
        check(b"+OK\r\n", Value::Simple("OK".into()));
        check(b"-ERR wrong\r\n", Value::Error("ERR wrong".into()));
        check(b":-42\r\n", Value::Int(-42));
        check(b"$0\r\n\r\n", Value::Bulk(Vec::new()));
        check(b"$4\r\na\r\nb\r\n", Value::Bulk(b"a\r\nb".to_vec()));
        check(b"$-1\r\n", Value::Nil);
        check(b"*-1\r\n", Value::Nil);
        check(b"*0\r\n", Value::Array(Vec::new()));
        check(
            b"*3\r\n:1\r\n$1\r\nx\r\n*1\r\n+y\r\n",
            Value::Array(vec![
                Value::Int(1),
                Value::Bulk(b"x".to_vec()),
                Value::Array(vec![Value::Simple("y".into())]),
            ]),
        );
    }

    #[test]
    fn pipelined_replies_are_read_one_at_a_time() {
        let buf = b"+OK\r\n:7\r\n";
        let Status::Complete(first, used) = parse(buf).unwrap() else {
            panic!("complete");
        };
        assert_eq!((first, used), (Value::Simple("OK".into()), 5));
        assert_eq!(
            parse(&buf[used..]).unwrap(),
            Status::Complete(Value::Int(7), 4)
        );
    }

    #[test]
    fn broken_replies_are_errors() {
        assert_eq!(parse(b"?x\r\n"), Err(Error::UnknownType(b'?')));
        assert!(matches!(parse(b":x\r\n"), Err(Error::BadNumber(_))));
        assert_eq!(parse(b"$1\r\nab\r\n"), Err(Error::MissingCrlf));
        assert!(matches!(
            parse(b"$99999999999\r\n"),
            Err(Error::TooLarge(_))
        ));
        assert!(matches!(parse(b"*99999999\r\n"), Err(Error::TooLarge(_))));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(deep.as_bytes()), Err(Error::TooLarge(_))));
        let long = vec![b'+'; MAX_LINE + 2];
        assert!(matches!(parse(&long), Err(Error::TooLarge(_))));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = BytesMut::new();
        encode(&["SET", "k", "v w"], &mut out);
        encode::<&[u8]>(&[], &mut out);
        assert_eq!(
            &out[..],
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv w\r\n*0\r\n"
        );
    }

    #[test]
    fn accessors() {
        assert_eq!(Value::Bulk(b"12".to_vec()).as_int(), Some(12));
        assert_eq!(Value::Simple("OK".into()).as_str(), Some("OK"));
        assert_eq!(Value::Nil.as_bytes(), None);
    }
}
