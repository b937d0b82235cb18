//! Manifest and CURRENT on-disk facts: magic, version, limits, the fixed-layout file and record
//! headers, and the edit field tags. Spec: `format-spec/manifest.md`. Encoded and decoded in
//! `crate::manifest`; `crate::debug::manifest` and `fuzz/` read through
//! `crate::manifest::read_manifest_records` / `read_manifest`.

use std::mem::{offset_of, size_of};

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// First 8 bytes of every manifest file.
pub const MANIFEST_MAGIC: [u8; 8] = *b"LSMKVMAN";
/// Manifest format version written by this build.
pub const MANIFEST_FORMAT_VERSION: u32 = 2;
/// The oldest manifest format version this build reads (version 2 added keyspace fields only).
pub const MANIFEST_MIN_READ_VERSION: u32 = 1;
/// Name of keyspace 0, which every database has and which is never recorded.
pub const DEFAULT_KEYSPACE: &str = "default";
/// Largest keyspace name, in bytes.
pub const MAX_KEYSPACE_NAME: usize = 255;
/// Largest payload of one manifest record.
pub const MAX_RECORD_SIZE: u32 = 1 << 30;
/// Levels are numbered 0..MAX_LEVELS; anything else in a manifest is corruption.
pub const MAX_LEVELS: u32 = 16;
/// Number of the manifest a new database starts with.
pub const FIRST_MANIFEST_NUMBER: u64 = 1;
/// Temporary name used while replacing CURRENT.
pub const CURRENT_TMP: &str = "CURRENT.tmp";
/// Longest CURRENT file accepted ("MANIFEST-" + up to 20 digits + "\n").
pub const MAX_CURRENT_LEN: usize = 64;
/// Bytes of the file header covered by its `header_crc` (magic, format_version).
pub const FILE_HEADER_CRC_COVERAGE: usize = 12;
/// Bytes of a record header covered by its `header_crc` (payload_len, payload_crc).
pub const RECORD_HEADER_CRC_COVERAGE: usize = 8;
/// Size of [`FileHeader`].
pub const FILE_HEADER_SIZE: usize = 16;
/// Size of [`RecordHeader`].
pub const RECORD_HEADER_SIZE: usize = 12;

/// Field tags of an edit. On disk: never renumber, never reuse a retired value.
pub mod tag {
    /// Body: varint. The next unallocated file number.
    pub const NEXT_FILE_NUMBER: u64 = 1;
    /// Body: varint. The largest sequence number whose data is durable in tables or WAL.
    pub const LAST_SEQNO: u64 = 2;
    /// Body: varint. WAL segments numbered below this are no longer needed.
    pub const LOG_NUMBER: u64 = 3;
    /// Body: a table's metadata (see `format-spec/manifest.md`, "Added file").
    pub const ADDED_FILE: u64 = 4;
    /// Body: level varint, number varint.
    pub const DELETED_FILE: u64 = 5;
    /// Reserved for a comparator name; not written by format version 1.
    #[cfg(any(test, feature = "internal"))]
    pub const RESERVED_COMPARATOR: u64 = 6;
    /// Reserved for a compaction-strategy record; not written by format version 1.
    #[cfg(any(test, feature = "internal"))]
    pub const RESERVED_COMPACTION_STRATEGY: u64 = 7;
    /// Body: id varint, name (varint length + UTF-8), options (varint length + bytes). Defines
    /// keyspace `id`: creates it, or replaces the options of the live keyspace of that id and name.
    pub const KEYSPACE: u64 = 8;
    /// Body: id varint. The keyspace stops existing; its tables are deleted by the same edit.
    pub const DROP_KEYSPACE: u64 = 9;
    /// Body: id varint, seqno varint. Raises the keyspace's flushed seqno: its WAL entries at or
    /// below it are in tables and are skipped by replay.
    pub const FLUSHED_SEQNO: u64 = 10;
    /// Body: keyspace id varint, then an added-file body. A table of a keyspace other than 0.
    pub const ADDED_FILE_IN_KEYSPACE: u64 = 11;
    /// Body: varint. Raises the next unallocated keyspace id (ids are never reused).
    pub const NEXT_KEYSPACE_ID: u64 = 12;
    /// A field whose tag has this bit set may be skipped by a reader that does not know it.
    pub const SKIPPABLE_BIT: u64 = 0x40;
}

/// The first 16 bytes of a manifest file (`format-spec/manifest.md`, "File header").
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct FileHeader {
    /// [`MANIFEST_MAGIC`].
    pub magic: [u8; 8],
    /// [`MANIFEST_FORMAT_VERSION`].
    pub format_version: U32,
    /// crc32c of bytes 0..12.
    pub header_crc: U32,
}

const _: () = assert!(size_of::<FileHeader>() == FILE_HEADER_SIZE);
const _: () = assert!(offset_of!(FileHeader, magic) == 0);
const _: () = assert!(offset_of!(FileHeader, format_version) == 8);
const _: () = assert!(offset_of!(FileHeader, header_crc) == FILE_HEADER_CRC_COVERAGE);

/// The header before each record's payload (`format-spec/manifest.md`, "Record").
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RecordHeader {
    /// Payload length in bytes, at most [`MAX_RECORD_SIZE`].
    pub payload_len: U32,
    /// crc32c of the payload.
    pub payload_crc: U32,
    /// crc32c of bytes 0..8 of this header, so the length is trusted before it is used.
    pub header_crc: U32,
}

const _: () = assert!(size_of::<RecordHeader>() == RECORD_HEADER_SIZE);
const _: () = assert!(offset_of!(RecordHeader, payload_len) == 0);
const _: () = assert!(offset_of!(RecordHeader, payload_crc) == 4);
const _: () = assert!(offset_of!(RecordHeader, header_crc) == RECORD_HEADER_CRC_COVERAGE);
