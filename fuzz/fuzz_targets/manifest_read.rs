//! `manifest_read`: see `lsmkv_fuzz::manifest_read` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsmkv_fuzz::manifest_read(data));
