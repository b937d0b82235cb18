//! `roundtrip`: see `lsmkv_fuzz::roundtrip` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsmkv_fuzz::roundtrip(data));
