//! Fuzz target `chunked_body`: the properties of [`weaprous_fuzz::http::chunked`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weaprous_fuzz::http::chunked(data));
