//! `footer_index`: see `lsmkv_fuzz::footer_index` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsmkv_fuzz::footer_index(data));
