//! Fuzz target `http_request`: the properties of [`weaprous_fuzz::http::request`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weaprous_fuzz::http::request(data));
