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

#![warn(missing_docs)]
// Every byte the engine reads from disk is hostile input: no indexing that can panic, no panics,
// no unwrap. (The unsafe lints are workspace-wide, in Cargo.toml.)
#![deny(
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

// The public API is the re-exports below plus `debug`. Every other module is crate-private; the
// `internal` feature (used only by this crate's own tests, benches, the fuzz targets and the
// format-spec test) makes them reachable as `#[doc(hidden)]` modules. Nothing behind it is API.

/// Declares an engine module: private, or `pub` + `#[doc(hidden)]` with the `internal` feature.
macro_rules! internal_mod {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internal")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internal"))]
        mod $name;
    )*};
}

internal_mod!(
    batch, cache, compaction, db, error, format, fs, index, iter, key, manifest, memtable, options,
    rangedel, recovery, sstable, stats, txn, value, wal,
);
internal_mod!(compaction_filter, ttl);

pub mod debug;

pub use batch::WriteBatch;
pub use compaction_filter::{CompactionFilter, FilterDecision};
pub use db::Keyspace;
pub use db::{
    CasOutcome, Change, DEFAULT_FEED_CAPACITY, Db, DurabilityTicket, Event, Snapshot, Subscription,
    TableInfo,
};
pub use error::{Error, Result};
pub use format::{MAX_KEY_SIZE, MAX_VALUE_SIZE_LIMIT};
pub use index::{Index, IndexIter};
pub use iter::{DbIter, prefix_upper_bound};
pub use options::KeyspaceOptions;
pub use options::{BlockRead, CompactionStrategy, Compression, Options, SyncMode, WalRecoveryMode};
pub use recovery::{RecoveryReport, WalDrop};
pub use stats::{
    CacheStats, IndexStats, KeyspaceStats, LevelStats, MemoryStats, StallStats, Stats,
};
pub use txn::{Transaction, TxIter};
pub use value::{Key, Value};
