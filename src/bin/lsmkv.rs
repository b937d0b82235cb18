//! The `lsmkv` REPL (in progress).
fn main() {}
