//! Integration tests of http-core: the llhttp request conformance corpus and the RFC 9112 musts.

mod conformance;
mod musts;
