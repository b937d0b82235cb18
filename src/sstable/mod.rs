//! Sorted string tables: immutable, memory-mapped files of internal-key-ordered entries.
//!
//! Layout (`format-spec/sstable.md`):
//!
//! ```text
//! [data block 0] ... [data block n-1] [filter block] [index block] [meta block] [footer]
//! ```
//!
//! * [`block`]: data block entries (fixed 16-byte header, no prefix compression, so keys and
//!   values are contiguous and served zero-copy) and the restart array.
//! * [`compress`]: the per-block trailer (compression byte + crc32c) and LZ4.
//! * [`bloom`]: the filter block (fastbloom over `xxh3_64(user_key)`).
//! * [`index`]: one fixed-size entry per data block, binary-searched in the mapping.
//! * [`meta`]: table statistics and key range.
//! * [`footer`]: fixed-size trailer locating filter, index and meta.
//! * [`builder`]: [`TableBuilder`] streams a table to a file; [`build_table_to_vec`] in memory.
//! * [`reader`]: [`Table`] (open/mmap, point lookups, verify, obsolete-file unlinking).
//! * [`iter`]: [`TableIter`], a bidirectional cursor.
//!
//! Every parser here treats the file as hostile input: damaged bytes give
//! [`crate::Error::Corruption`] with the file and absolute offset, never a panic.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod block;
pub mod bloom;
pub mod builder;
pub mod compress;
pub mod footer;
pub mod index;
pub mod iter;
pub mod meta;
pub mod reader;

#[cfg(test)]
mod tests;

pub use builder::{TableBuilder, TableSummary, build_table_to_vec};
pub use iter::TableIter;
pub use meta::TableMeta;
pub use reader::Table;

use crate::options::{Compression, Options};

/// On-disk constants of the SSTable format. They belong with the other format constants; they
/// live here until the lead moves them to `crate::format`.
pub mod consts {
    /// Last 8 bytes of every SSTable: the ASCII bytes `LSMKVSST` read as a little-endian u64.
    pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"LSMKVSST");
    /// The SSTable format version this build writes and reads.
    pub const TABLE_FORMAT_VERSION: u32 = 1;
    /// Size of the per-block trailer: compression byte + crc32c.
    pub const BLOCK_TRAILER_SIZE: usize = 5;
    /// Compression byte: payload stored as is.
    pub const COMPRESSION_NONE: u8 = 0;
    /// Compression byte: payload = `uncompressed_len u32 LE | lz4 block`.
    pub const COMPRESSION_LZ4: u8 = 1;
    /// Size of a data block entry header (`key_len u32 | value_len u32 | trailer u64`).
    pub const ENTRY_HEADER_SIZE: usize = 16;
    /// Size of one index entry.
    pub const INDEX_ENTRY_SIZE: usize = 20;
    /// Size of the footer.
    pub const FOOTER_SIZE: usize = 52;
    /// Size of the fixed part of the meta block.
    pub const META_FIXED_SIZE: usize = 88;
    /// Filter format byte: no filter (every key may be present).
    pub const FILTER_FORMAT_NONE: u8 = 0;
    /// Filter format byte: fastbloom 0.17 bit layout, queried with `xxh3_64(user_key)`.
    pub const FILTER_FORMAT_FASTBLOOM_XXH3: u8 = 1;
    /// Size of the filter block header (`format u8 | num_hashes u32 | num_words u32`).
    pub const FILTER_HEADER_SIZE: usize = 9;
    /// Like format 1, and the filter also holds `xxh3_64(key[..prefix_len])` of every key at least
    /// `prefix_len` long, so that prefix scans can skip the table (`PREFIX_BLOOM_LENGTH`).
    pub const FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX: u8 = 2;
    /// Header of a format-2 filter payload: format 1's header plus `prefix_len` (u32 LE).
    pub const FILTER_PREFIX_HEADER_SIZE: usize = 13;
    /// Seed given to fastbloom's builder. Queries go by precomputed hash, so the seed does not
    /// affect the bits today; it is fixed so that it never silently starts to.
    pub const BLOOM_SEED: u128 = 0x6c73_6d6b_765f_626c_6f6f_6d5f_7365_6564;
    /// Most hash functions a filter may claim; more is corruption.
    pub const MAX_BLOOM_HASHES: u32 = 64;
    /// An LZ4 block never expands data more than ~255x; a stored length claiming more is corrupt.
    pub const MAX_LZ4_RATIO: usize = 256;
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
