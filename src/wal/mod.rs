//! The write-ahead log: segment files `NNNNNN.wal` holding checksummed records, each the encoding
//! of one [`crate::WriteBatch`]. Byte layout: `format-spec/wal.md`.
//!
//! - [`WalWriter`] (`writer.rs`) appends records: [`WalWriter::add_record`] frames into a buffer,
//!   [`WalWriter::flush`] hands the buffer to the OS in one `write(2)`, [`WalWriter::sync`] adds an
//!   `fdatasync` (group commit = several `add_record` calls, one `sync`).
//! - [`read_segment`] / [`WalReader`] / [`replay`] (`reader.rs`) parse a segment and tell a torn
//!   tail (an incomplete last write: [`Tail::Torn`], recovery continues) from damage in the middle
//!   of the log (a bad record followed by a valid one: [`crate::Error::Corruption`]).
//!
//! Invariants: a segment is created once (`create_new`) and only appended to; its header is
//! durable before the first record is written; every record's checksum is salted with the segment
//! number and the record's own offset, so a record copied into a payload, or a stale record from
//! another segment, never validates at the wrong place.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod reader;
mod writer;

#[cfg(test)]
mod tests;

use std::mem::{offset_of, size_of};

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::format::crc::{crc32c, crc32c_append};

pub use reader::{Record, Segment, Tail, WalReader, read_segment, replay, scan_segment};
pub use writer::{WalWriter, frame_record};

/// First 8 bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"LSMKVWAL";
/// The WAL format version this build writes and reads.
pub const WAL_FORMAT_VERSION: u32 = 1;
/// Size of [`SegmentHeader`].
pub const SEGMENT_HEADER_SIZE: usize = 24;
/// First 4 bytes of every record: the resynchronisation marker. Never zero (a zero-filled region
/// is the clean end of the log), and `0xD1 0x57` is not valid UTF-8, so text payloads rarely hold it.
pub const RECORD_MAGIC: [u8; 4] = [0xD1, b'W', b'A', b'L'];
/// Size of [`RecordHeader`].
pub const RECORD_HEADER_SIZE: usize = 16;
/// Largest payload a record can hold (the length field is a u32).
pub const MAX_RECORD_PAYLOAD: usize = u32::MAX as usize;

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
const _: () = assert!(offset_of!(SegmentHeader, crc) == 20);

impl SegmentHeader {
    /// The header of segment `number` in the current format version.
    pub fn new(number: u64) -> Self {
        let mut h = SegmentHeader {
            magic: SEGMENT_MAGIC,
            format_version: U32::new(WAL_FORMAT_VERSION),
            number: U64::new(number),
            crc: U32::new(0),
        };
        h.crc = U32::new(h.compute_crc());
        h
    }

    /// crc32c over every field before `crc`.
    pub fn compute_crc(&self) -> u32 {
        let c = crc32c(&self.magic);
        let c = crc32c_append(c, self.format_version.as_bytes());
        crc32c_append(c, self.number.as_bytes())
    }
}

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

/// `header_crc` of a record with this magic and length.
fn record_header_crc(magic: &[u8; 4], length: U32) -> u32 {
    crc32c_append(crc32c(magic), length.as_bytes())
}

/// `crc` of a record of segment `segment` at file offset `offset`.
fn record_crc(segment: u64, offset: u64, length: U32, header_crc: U32, payload: &[u8]) -> u32 {
    let c = crc32c(&segment.to_le_bytes());
    let c = crc32c_append(c, &offset.to_le_bytes());
    let c = crc32c_append(c, length.as_bytes());
    let c = crc32c_append(c, header_crc.as_bytes());
    crc32c_append(c, payload)
}
