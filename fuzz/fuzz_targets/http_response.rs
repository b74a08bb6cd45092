//! Fuzz target `http_response`: the properties of [`weaprous_fuzz::http::response`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weaprous_fuzz::http::response(data));
