//! SSTable on-disk facts: magic, versions, sizes, compression and filter format bytes, the
//! sentinel trailers of a table's largest key, and the fixed-layout structs (footer, block handle,
//! data block entry header, index entry, meta block and its version-2 extension, range-tombstone
//! header, filter header). Spec: `format-spec/sstable.md`. The encoders and decoders live in
//! `crate::sstable`; `crate::debug::sst` and `fuzz/` decode through the same functions.

use std::mem::{offset_of, size_of};

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Last 8 bytes of every SSTable: the ASCII bytes `LSMKVSST` read as a little-endian u64.
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"LSMKVSST");
/// The SSTable format version this build writes (version 2: the range-tombstone block, and
/// entries may be expiring puts).
pub const TABLE_FORMAT_VERSION: u32 = 2;
/// The oldest SSTable format version this build reads (a version 1 table is a version 2 table
/// without range tombstones or expiring puts).
pub const TABLE_MIN_READ_VERSION: u32 = 1;
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
/// Size of the index block's entry count (u32 LE) in front of the entries.
pub const INDEX_COUNT_SIZE: usize = 4;
/// Size of a block handle (offset u64 + len u32).
pub const HANDLE_SIZE: usize = 12;
/// Size of the footer.
pub const FOOTER_SIZE: usize = 52;
/// Bytes of the footer covered by its crc.
pub const FOOTER_CRC_COVERAGE: usize = 40;
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
/// Most hash functions a filter may claim; more is corruption.
pub const MAX_BLOOM_HASHES: u32 = 64;
/// An LZ4 block never expands data more than ~255x; a stored length claiming more is corrupt.
pub const MAX_LZ4_RATIO: usize = 256;
/// Size of the version-2 extension of the meta block ([`MetaV2`]), after the two keys.
pub const META_V2_SIZE: usize = 20;
/// Size of the range-tombstone block's entry count (u32 LE) in front of its entries.
pub const RANGE_DEL_COUNT_SIZE: usize = 4;
/// Size of the fixed header of one range tombstone ([`RangeTombstoneHeader`]).
pub const RANGE_TOMBSTONE_HEADER_SIZE: usize = 16;
/// Trailer of a table's largest key that marks it as an *exclusive* bound: the table holds user
/// keys below that key only (the end of a range tombstone it holds). It is the largest trailer
/// there is, so the key sorts before every real version of its user key (seqno 2^56 - 1 with
/// the kind byte 0xFF, which is no kind). See `format-spec/sstable.md`, "Key range of a table".
pub const LARGEST_EXCLUSIVE_TRAILER: u64 = u64::MAX;
/// Trailer of a table's largest key that marks the table's key range as unbounded above (it
/// holds a range tombstone without an end): seqno 0 with kind 2 (`RangeDelete`), which no entry
/// ever has (seqnos start at 1, and range tombstones are never point entries).
pub const LARGEST_UNBOUNDED_TRAILER: u64 = 2;

/// Location of a block: offset and on-disk length (trailer included).
/// Spec: `format-spec/sstable.md` ("Footer").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Handle {
    pub offset: U64,
    pub len: U32,
}

const _: () = assert!(size_of::<Handle>() == HANDLE_SIZE);
const _: () = assert!(offset_of!(Handle, offset) == 0);
const _: () = assert!(offset_of!(Handle, len) == 8);

/// The footer, the last [`FOOTER_SIZE`] bytes of a table. Spec: `format-spec/sstable.md`
/// ("Footer"). Encoded and checked by `crate::sstable::footer`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Footer {
    pub filter: Handle,
    pub index: Handle,
    pub meta: Handle,
    pub format_version: U32,
    pub crc: U32,
    pub magic: U64,
}

const _: () = assert!(size_of::<Footer>() == FOOTER_SIZE);
const _: () = assert!(offset_of!(Footer, filter) == 0);
const _: () = assert!(offset_of!(Footer, index) == 12);
const _: () = assert!(offset_of!(Footer, meta) == 24);
const _: () = assert!(offset_of!(Footer, format_version) == 36);
const _: () = assert!(offset_of!(Footer, crc) == FOOTER_CRC_COVERAGE);
const _: () = assert!(offset_of!(Footer, magic) == 44);

/// The fixed header in front of each data block entry. Spec: `format-spec/sstable.md`
/// ("Data block entry").
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct EntryHeader {
    pub key_len: U32,
    pub value_len: U32,
    pub trailer: U64,
}

const _: () = assert!(size_of::<EntryHeader>() == ENTRY_HEADER_SIZE);
const _: () = assert!(offset_of!(EntryHeader, key_len) == 0);
const _: () = assert!(offset_of!(EntryHeader, value_len) == 4);
const _: () = assert!(offset_of!(EntryHeader, trailer) == 8);

/// One index entry. Spec: `format-spec/sstable.md` ("Index entry").
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IndexEntry {
    pub key_offset: U32,
    pub key_len: U32,
    pub block_offset: U64,
    pub block_len: U32,
}

const _: () = assert!(size_of::<IndexEntry>() == INDEX_ENTRY_SIZE);
const _: () = assert!(offset_of!(IndexEntry, key_offset) == 0);
const _: () = assert!(offset_of!(IndexEntry, key_len) == 4);
const _: () = assert!(offset_of!(IndexEntry, block_offset) == 8);
const _: () = assert!(offset_of!(IndexEntry, block_len) == 16);

/// Fixed part of the meta block. Spec: `format-spec/sstable.md` ("Meta block").
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MetaFixed {
    pub entries: U64,
    pub tombstones: U64,
    pub min_seqno: U64,
    pub max_seqno: U64,
    pub data_blocks: U64,
    pub raw_key_bytes: U64,
    pub raw_value_bytes: U64,
    pub data_bytes: U64,
    pub distinct_user_keys: U64,
    pub restart_interval: U32,
    pub block_size: U32,
    pub smallest_key_len: U32,
    pub largest_key_len: U32,
}

const _: () = assert!(size_of::<MetaFixed>() == META_FIXED_SIZE);
const _: () = assert!(offset_of!(MetaFixed, entries) == 0);
const _: () = assert!(offset_of!(MetaFixed, tombstones) == 8);
const _: () = assert!(offset_of!(MetaFixed, min_seqno) == 16);
const _: () = assert!(offset_of!(MetaFixed, max_seqno) == 24);
const _: () = assert!(offset_of!(MetaFixed, data_blocks) == 32);
const _: () = assert!(offset_of!(MetaFixed, raw_key_bytes) == 40);
const _: () = assert!(offset_of!(MetaFixed, raw_value_bytes) == 48);
const _: () = assert!(offset_of!(MetaFixed, data_bytes) == 56);
const _: () = assert!(offset_of!(MetaFixed, distinct_user_keys) == 64);
const _: () = assert!(offset_of!(MetaFixed, restart_interval) == 72);
const _: () = assert!(offset_of!(MetaFixed, block_size) == 76);
const _: () = assert!(offset_of!(MetaFixed, smallest_key_len) == 80);
const _: () = assert!(offset_of!(MetaFixed, largest_key_len) == 84);

/// The version-2 extension of the meta block, right after `largest_key`. Spec:
/// `format-spec/sstable.md` ("Meta block").
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MetaV2 {
    pub range_tombstones: U64,
    pub range_del: Handle,
}

const _: () = assert!(size_of::<MetaV2>() == META_V2_SIZE);
const _: () = assert!(offset_of!(MetaV2, range_tombstones) == 0);
const _: () = assert!(offset_of!(MetaV2, range_del) == 8);

/// The fixed header of one entry of the range-tombstone block, followed by `start_len` bytes of
/// start key and `end_len` bytes of end bound ([`crate::format::RangeEnd`] encoding). Spec:
/// `format-spec/sstable.md` ("Range-tombstone block").
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RangeTombstoneHeader {
    pub seqno: U64,
    pub start_len: U32,
    pub end_len: U32,
}

const _: () = assert!(size_of::<RangeTombstoneHeader>() == RANGE_TOMBSTONE_HEADER_SIZE);
const _: () = assert!(offset_of!(RangeTombstoneHeader, seqno) == 0);
const _: () = assert!(offset_of!(RangeTombstoneHeader, start_len) == 8);
const _: () = assert!(offset_of!(RangeTombstoneHeader, end_len) == 12);

/// Header of a filter payload of format 1 or 2 (after it: for format 2 a `prefix_len` u32 LE,
/// see [`FilterPrefixHeader`], then `num_words` u64 LE words). Spec: `format-spec/sstable.md`
/// ("Filter block"). Decoded by `crate::sstable::bloom::FilterLayout::parse`.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct FilterHeader {
    pub format: u8,
    pub num_hashes: U32,
    pub num_words: U32,
}

const _: () = assert!(size_of::<FilterHeader>() == FILTER_HEADER_SIZE);
const _: () = assert!(offset_of!(FilterHeader, format) == 0);
const _: () = assert!(offset_of!(FilterHeader, num_hashes) == 1);
const _: () = assert!(offset_of!(FilterHeader, num_words) == 5);

/// Header of a format-2 (prefix bloom) filter payload.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct FilterPrefixHeader {
    pub header: FilterHeader,
    pub prefix_len: U32,
}

const _: () = assert!(size_of::<FilterPrefixHeader>() == FILTER_PREFIX_HEADER_SIZE);
const _: () = assert!(offset_of!(FilterPrefixHeader, header) == 0);
const _: () = assert!(offset_of!(FilterPrefixHeader, prefix_len) == 9);
