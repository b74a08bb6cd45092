//! Fuzz target `p2p_frame`: the properties of [`weaprous_fuzz::frame::frames`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| weaprous_fuzz::frame::frames(data));
