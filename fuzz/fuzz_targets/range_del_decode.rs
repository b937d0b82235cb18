//! `range_del_decode`: see `lsmkv_fuzz::range_del_decode` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsmkv_fuzz::range_del_decode(data));
