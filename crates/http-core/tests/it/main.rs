//! Integration tests of http-core: the llhttp request conformance corpus, and the inputs fuzzing
//! found.

mod conformance;
mod fuzz_regressions;
