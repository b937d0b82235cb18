//! `block_decode`: see `lsmkv_fuzz::block_decode` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsmkv_fuzz::block_decode(data));
