//! Sans-IO HTTP/1.1 for the WeApRous stack.
//!
//! This crate does no I/O. It turns bytes into messages and messages into bytes:
//!
//! - [`types`]: methods, versions, status codes, [`Headers`], [`Request`], [`Response`];
//! - [`parse`]: the incremental request/response head parser on top of httparse, with the
//!   RFC 9112 checks httparse leaves to us (framing headers, smuggling defences, limits);
//! - [`body`]: body framing ([`BodyKind`]) and the streaming [`BodyDecoder`] (Content-Length,
//!   chunked with trailers, close-delimited);
//! - [`RequestParser`]: head + whole body, for servers that buffer small API bodies;
//! - [`write`](mod@write): the serializer (heads, chunks, HTTP dates);
//! - [`cookie`], [`form`], [`mime`]: cookies and `Set-Cookie`, query/form decoding, types by extension;
//! - [`secret`]: 128-bit tokens ([`secret::Secret128`]) and the constant-time compare.
//!
//! Every limit of SPEC §2 is a named constant in [`limits`].

pub mod body;
pub mod cookie;
pub mod form;
pub mod limits;
pub mod mime;
pub mod parse;
pub mod secret;
pub mod types;
pub mod write;

pub use body::{BodyDecoder, BodyKind, Decoded};
pub use limits::Limits;
pub use parse::{Malformed, ParseError, RequestParser, parse_request_head, parse_response_head};
pub use types::{Headers, Method, Request, RequestHead, Response, ResponseHead, Status, Version};
