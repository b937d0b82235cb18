//! # lsmkv
//!
//! An embedded key-value store built on a log-structured merge tree: a write-ahead log with group
//! commit, a concurrent memtable, memory-mapped SSTables read in place (zero-copy where blocks are
//! stored raw), bloom filters, a block cache, and a manifest that swaps versions atomically.
//!
//! ```no_run
//! use lsmkv::{Db, Options, SyncMode, WriteBatch};
//! # fn main() -> lsmkv::Result<()> {
//! let mut opts = Options::default();
//! opts.sync_mode = SyncMode::Always;
//! let db = Db::open("my-db", opts)?;
//! db.put(b"k", b"v")?;
//! assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
//! let mut b = WriteBatch::new();
//! b.put(b"a", b"1");
//! b.delete(b"k");
//! db.write(b)?;
//! # Ok(()) }
//! ```
//!
//! The on-disk format is specified byte by byte in `format-spec/`.

#![deny(unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod batch;
pub mod cache;
pub mod compaction;
mod db;
pub mod debug;
pub mod error;
pub mod format;
#[doc(hidden)]
pub mod fs;
mod iter;
pub mod key;
pub mod manifest;
pub mod memtable;
pub mod options;
#[cfg(feature = "cli")]
pub mod repl;
#[cfg(feature = "server")]
pub mod server;
pub mod sstable;
mod stats;
pub mod value;
pub mod wal;

pub use batch::WriteBatch;
pub use db::{Db, Snapshot, TableInfo};
pub use error::{Error, Result};
pub use iter::DbIter;
pub use options::{CompactionStrategy, Compression, Options, SyncMode, WalRecoveryMode};
pub use stats::Stats;
pub use value::{Key, Value};
