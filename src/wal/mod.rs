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
//! durable before the first record is written; a segment is sealed ([`WalWriter::seal`]: a seal
//! record with its record count, synced) before the next segment is created, so every segment
//! but the newest proves it is complete; every record's checksum is salted with the segment
//! number and the record's own offset, so a record copied into a payload, or a stale record from
//! another segment, never validates at the wrong place.

// On-disk integers have fixed widths: outside tests, a narrowing `as` must be a checked
// conversion.
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]

mod reader;
mod writer;

#[cfg(test)]
mod tests;

use zerocopy::IntoBytes;
use zerocopy::little_endian::{U32, U64};

use crate::format::crc::{crc32c, crc32c_append};

#[cfg(any(test, feature = "internal"))]
pub use reader::replay;
pub use reader::{Record, Tail, WalReader, dropped_region, header_version, scan_segment};
#[cfg(any(test, feature = "internal"))]
pub use reader::{Segment, read_segment};
pub use writer::WalWriter;
#[cfg(any(test, feature = "internal"))]
pub use writer::{frame_record, frame_seal};

pub use crate::format::wal::{
    MAX_RECORD_PAYLOAD, RECORD_HEADER_SIZE, RECORD_MAGIC, RecordHeader, SEAL_MAGIC,
    SEAL_PAYLOAD_SIZE, SEGMENT_HEADER_SIZE, SEGMENT_MAGIC, SealPayload,
    SegmentHeader, WAL_FORMAT_VERSION, WAL_SEAL_VERSION,
};

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
