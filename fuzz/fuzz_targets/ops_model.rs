//! `ops_model`: see `lsmkv_fuzz::ops_model` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsmkv_fuzz::ops_model(data));
