//! Integration tests of http-core: the llhttp request conformance corpus.

mod conformance;
