//! Integration tests of http-core: the llhttp request conformance corpus, the RFC 9112 musts, and
//! the inputs fuzzing found.

mod conformance;
mod fuzz_regressions;
mod musts;
