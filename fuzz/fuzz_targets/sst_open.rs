//! `sst_open`: see `lsmkv_fuzz::sst_open` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsmkv_fuzz::sst_open(data));
