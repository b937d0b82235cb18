//! Sorted string tables: immutable, memory-mapped files of internal-key-ordered entries.
//!
//! Layout (`format-spec/sstable.md`):
//!
//! ```text
//! [data block 0] ... [data block n-1] [filter] [range tombstones] [index] [meta] [footer]
//! ```
//!
//! * [`block`]: data block entries (fixed 16-byte header, no prefix compression, so keys and
//!   values are contiguous and served zero-copy) and the restart array.
//! * [`compress`]: the per-block trailer (compression byte + crc32c) and LZ4.
//! * [`bloom`]: the filter block (fastbloom over `xxh3_64(user_key)`).
//! * [`index`]: one fixed-size entry per data block, binary-searched in the mapping.
//! * [`meta`]: table statistics and key range (which range tombstones widen).
//! * [`range_del`]: the range-tombstone block (version 2).
//! * [`footer`]: fixed-size trailer locating filter, index and meta.
//! * [`builder`]: [`TableBuilder`] streams a table to a file; [`build_table_to_vec`] in memory.
//! * [`reader`]: [`Table`] (open, point lookups, verify, obsolete-file unlinking).
//! * [`mapping`]: the file mapping under a table, its `madvise` hint, unlinking when unused.
//! * [`blocks`]: loading data blocks, checked, in place or through the block cache.
//! * [`fences`]: the dense search keys over the index that point lookups binary-search.
//! * [`iter`]: [`TableCursor`], a bidirectional cursor over any [`iter::BlockSource`];
//!   [`TableIter`] is the one over a [`Table`].
//!
//! Every parser here treats the file as hostile input: damaged bytes give
//! [`crate::Error::Corruption`] with the file and absolute offset, never a panic.

// On-disk integers have fixed widths: outside tests, a narrowing `as` must be a checked
// conversion.
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]

pub mod block;
pub mod blocks;
pub mod bloom;
pub mod builder;
pub mod compress;
pub mod fences;
pub mod footer;
pub mod index;
pub mod iter;
pub mod mapping;
pub mod meta;
pub mod range_del;
pub mod reader;

#[cfg(test)]
mod tests;

pub use builder::{TableBuilder, TableSummary};
#[cfg(any(test, feature = "internal"))]
pub use builder::{build_table_to_vec, build_table_with_range_dels_to_vec};
#[cfg(any(test, feature = "internal"))]
pub use iter::TableCursor;
#[cfg(any(test, feature = "internal"))]
pub use meta::TableMeta;
pub use reader::{Table, TableIter};

use crate::options::{Compression, Options};

/// The SSTable constants, re-exported from their owner [`crate::format::sst`] for code that still
/// names them by this path.
#[cfg(any(test, feature = "internal"))]
pub mod consts {
    pub use crate::format::sst::*;
}

/// How a table is written.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Target uncompressed size of a data block, in bytes.
    pub block_size: usize,
    /// Every `restart_interval`-th entry of a data block is a restart point.
    pub restart_interval: usize,
    /// Bloom filter false-positive rate in (0, 1); 0 writes no filter.
    pub bloom_false_positive_rate: f64,
    /// Block compression.
    pub compression: Compression,
    /// Expected number of entries (only pre-sizes buffers).
    pub expected_entries: usize,
    /// When > 0, the filter also holds the first `prefix_bloom_len` bytes of every key (format 2),
    /// for [`Table::may_contain_prefix`].
    pub prefix_bloom_len: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions::from(&Options::default())
    }
}

impl From<&Options> for TableOptions {
    fn from(o: &Options) -> Self {
        TableOptions {
            block_size: o.block_size,
            restart_interval: o.sparse_index_interval,
            bloom_false_positive_rate: o.bloom_false_positive_rate,
            compression: o.compression,
            // A memtable of small entries: the estimate only sizes the bloom hash buffer.
            expected_entries: (o.memtable_max_size / 64).min(1 << 24),
            prefix_bloom_len: o.prefix_bloom_length,
        }
    }
}

/// `xxh3_64(user_key)`: the hash the bloom filters are queried with. Compute it once per lookup
/// and pass it to every [`Table::get`].
#[inline]
pub fn key_hash(user_key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(user_key)
}
