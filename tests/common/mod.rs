//! The integration tests' one test kit: `mod common;` at the top of a test file, then
//! `common::model`, `common::crash`, `common::rng`, `common::dir`, `common::opts`.
//!
//! - [`model`]: a versioned `BTreeMap` model (writes at increasing seqnos, the state at any
//!   snapshot seqno, range/prefix/reverse views) and readers to compare a `Db`, `Snapshot` or
//!   `DbIter` with it.
//! - [`crash`]: re-executes the test binary as a child that writes and reports acknowledged
//!   writes on stdout; the parent SIGKILLs it after a chosen number of acks.
//! - [`rng`]: the seed (`LSMKV_SEED`, printed at the start and on failure) and one small PRNG.
//! - [`dir`]: temporary directories and listing a database directory's files.
//! - [`opts`]: `Options` for tiny trees (small memtables, blocks and levels, no fsync), and a
//!   manual clock for expiry tests.
//!
//! `tests/testkit.rs` checks the kit itself.

// Each test binary compiles the whole kit and uses a part of it: what one binary leaves unused
// would warn as dead code there.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod crash;
pub mod dir;
pub mod model;
pub mod opts;
pub mod rng;
