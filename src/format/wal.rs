//! WAL on-disk facts: segment and record magic, version, sizes and the fixed-layout headers.
//! Spec: `format-spec/wal.md`. Framing and checksums are computed in `crate::wal`;
//! `crate::debug::wal` and `fuzz/` read segments through `crate::wal::read_segment`.

use std::mem::{offset_of, size_of};

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// First 8 bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"LSMKVWAL";
/// The WAL format version this build writes.
pub const WAL_FORMAT_VERSION: u32 = 3;
/// The oldest WAL format version this build reads (version 1 batches are a subset of version 2;
/// versions 1 and 2 have no seal).
pub const WAL_MIN_READ_VERSION: u32 = 1;
/// The first WAL format version whose segments end with a seal when a newer segment follows
/// them (`format-spec/wal.md`, "Seal").
pub const WAL_SEAL_VERSION: u32 = 3;
/// Size of [`SegmentHeader`].
pub const SEGMENT_HEADER_SIZE: usize = 24;
/// Bytes of the segment header covered by its crc (magic, format_version, number).
pub const SEGMENT_HEADER_CRC_COVERAGE: usize = 20;
/// First 4 bytes of every record: the resynchronisation marker. Never zero (a zero-filled region
/// is the clean end of the log), and `0xD1 0x57` is not valid UTF-8, so text payloads rarely hold it.
pub const RECORD_MAGIC: [u8; 4] = [0xD1, b'W', b'A', b'L'];
/// Marker of the seal record that ends a finished segment (version 3 on), in place of
/// [`RECORD_MAGIC`]: `0xD1 0x53` is not valid UTF-8 either, and never zero.
pub const SEAL_MAGIC: [u8; 4] = [0xD1, b'S', b'E', b'L'];
/// Size of [`SealPayload`], the payload of a seal record (its `length` field).
pub const SEAL_PAYLOAD_SIZE: usize = 16;
/// Size of a whole seal record: a [`RecordHeader`] and a [`SealPayload`].
pub const SEAL_RECORD_SIZE: usize = RECORD_HEADER_SIZE + SEAL_PAYLOAD_SIZE;
const _: () = assert!(SEAL_RECORD_SIZE == 32);
/// Size of [`RecordHeader`].
pub const RECORD_HEADER_SIZE: usize = 16;
/// Largest payload a record can hold (the length field is a u32).
pub const MAX_RECORD_PAYLOAD: usize = u32::MAX as usize;
/// Size of the write-batch header in a record payload (`base_seqno u64 | count u32`).
pub const BATCH_HEADER_SIZE: usize = 12;

/// The fixed header at offset 0 of a segment (`format-spec/wal.md`, "Segment header").
/// Its layout is frozen for all format versions, so the version can always be read.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SegmentHeader {
    /// [`SEGMENT_MAGIC`].
    pub magic: [u8; 8],
    /// [`WAL_FORMAT_VERSION`].
    pub format_version: U32,
    /// The segment number, equal to the number in the file name.
    pub number: U64,
    /// crc32c of bytes 0..20 (magic, format_version, number).
    pub crc: U32,
}

const _: () = assert!(size_of::<SegmentHeader>() == SEGMENT_HEADER_SIZE);
const _: () = assert!(offset_of!(SegmentHeader, magic) == 0);
const _: () = assert!(offset_of!(SegmentHeader, format_version) == 8);
const _: () = assert!(offset_of!(SegmentHeader, number) == 12);
const _: () = assert!(offset_of!(SegmentHeader, crc) == SEGMENT_HEADER_CRC_COVERAGE);

/// The fixed header in front of every record payload (`format-spec/wal.md`, "Record header").
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RecordHeader {
    /// [`RECORD_MAGIC`].
    pub magic: [u8; 4],
    /// crc32c of: segment number (u64 LE), record offset (u64 LE), header bytes 8..16, payload.
    pub crc: U32,
    /// Payload length in bytes.
    pub length: U32,
    /// crc32c of header bytes 0..4 and 8..12 (magic, length): lets the resync scan reject a false
    /// marker without reading a payload.
    pub header_crc: U32,
}

const _: () = assert!(size_of::<RecordHeader>() == RECORD_HEADER_SIZE);
const _: () = assert!(offset_of!(RecordHeader, magic) == 0);
const _: () = assert!(offset_of!(RecordHeader, crc) == 4);
const _: () = assert!(offset_of!(RecordHeader, length) == 8);
const _: () = assert!(offset_of!(RecordHeader, header_crc) == 12);

/// The payload of a seal record (`format-spec/wal.md`, "Seal"): what the segment held when it was
/// finished, so that a reader can tell a complete segment from one cut at a record boundary.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SealPayload {
    /// Number of (batch) records in the segment before the seal.
    pub records: U64,
    /// The last seqno assigned when the segment was sealed: the last seqno of its last record,
    /// or, for a segment without records, of the log before it.
    pub last_seqno: U64,
}

const _: () = assert!(size_of::<SealPayload>() == SEAL_PAYLOAD_SIZE);
const _: () = assert!(offset_of!(SealPayload, records) == 0);
const _: () = assert!(offset_of!(SealPayload, last_seqno) == 8);
