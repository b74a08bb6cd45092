//! Fuzz target `proxy_conf`: the properties of [`weaprous_fuzz::proxy_conf::proxy_conf`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weaprous_fuzz::proxy_conf::proxy_conf(data));
