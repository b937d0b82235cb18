//! `io_countdown`: see `lsmkv_fuzz::io_countdown` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsmkv_fuzz::io_countdown(data));
