//! The meta block: table statistics and key range.
//!
//! ```text
//! meta payload = MetaFixed (88 bytes) | smallest_key | largest_key
//! ```
//!
//! Keys are encoded internal keys (`user_key ++ trailer u64 LE`), empty for an empty table.
//! Readers require the payload to be at least [`META_FIXED_SIZE`] + key bytes; bytes after the
//! keys are ignored (room for fields added by a later minor revision). See
//! `format-spec/sstable.md` ("Meta block").

use std::mem::offset_of;
use std::path::Path;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{Error, Result};
use crate::format::TRAILER_SIZE;
use crate::format::sst::META_FIXED_SIZE;

pub use crate::format::sst::MetaFixed;

/// Decoded meta block. Serialized (without the raw keys) by `lsmkv::debug::sst`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableMeta {
    /// Entries (all versions, tombstones included).
    pub entries: u64,
    /// Entries of kind `Delete`.
    pub tombstones: u64,
    /// Smallest seqno of any entry (0 for an empty table).
    pub min_seqno: u64,
    /// Largest seqno of any entry (0 for an empty table).
    pub max_seqno: u64,
    /// Number of data blocks.
    pub data_blocks: u64,
    /// Sum of user key lengths over all entries.
    pub raw_key_bytes: u64,
    /// Sum of value lengths over all entries.
    pub raw_value_bytes: u64,
    /// Bytes of the data block region on disk (trailers included).
    pub data_bytes: u64,
    /// Number of distinct user keys (the items in the bloom filter).
    pub distinct_user_keys: u64,
    /// The writer's restart interval (entries between restart points).
    pub restart_interval: u32,
    /// The writer's target data block size, in bytes.
    pub block_size: u32,
    /// Encoded internal key of the first entry (empty for an empty table).
    #[serde(skip)]
    pub smallest_key: Vec<u8>,
    /// Encoded internal key of the last entry (empty for an empty table).
    #[serde(skip)]
    pub largest_key: Vec<u8>,
}

impl TableMeta {
    /// The meta payload.
    pub fn encode(&self) -> Vec<u8> {
        let fixed = MetaFixed {
            entries: U64::new(self.entries),
            tombstones: U64::new(self.tombstones),
            min_seqno: U64::new(self.min_seqno),
            max_seqno: U64::new(self.max_seqno),
            data_blocks: U64::new(self.data_blocks),
            raw_key_bytes: U64::new(self.raw_key_bytes),
            raw_value_bytes: U64::new(self.raw_value_bytes),
            data_bytes: U64::new(self.data_bytes),
            distinct_user_keys: U64::new(self.distinct_user_keys),
            restart_interval: U32::new(self.restart_interval),
            block_size: U32::new(self.block_size),
            smallest_key_len: U32::new(crate::format::len_u32(self.smallest_key.len())),
            largest_key_len: U32::new(crate::format::len_u32(self.largest_key.len())),
        };
        let mut out =
            Vec::with_capacity(META_FIXED_SIZE + self.smallest_key.len() + self.largest_key.len());
        out.extend_from_slice(fixed.as_bytes());
        out.extend_from_slice(&self.smallest_key);
        out.extend_from_slice(&self.largest_key);
        out
    }

    /// Decodes a meta payload; offsets in errors are relative to the payload.
    pub fn decode(payload: &[u8]) -> Result<TableMeta> {
        let corrupt =
            |off: usize, why: &'static str| Error::corruption(Path::new(""), off as u64, why);
        let (f, rest) = MetaFixed::ref_from_prefix(payload)
            .map_err(|_| corrupt(0, "meta block shorter than its fixed part"))?;
        let s_len = f.smallest_key_len.get() as usize;
        let l_len = f.largest_key_len.get() as usize;
        let smallest = rest.get(..s_len).ok_or_else(|| {
            corrupt(
                offset_of!(MetaFixed, smallest_key_len),
                "smallest key exceeds the meta block",
            )
        })?;
        let largest = rest
            .get(s_len..)
            .and_then(|r| r.get(..l_len))
            .ok_or_else(|| {
                corrupt(
                    offset_of!(MetaFixed, largest_key_len),
                    "largest key exceeds the meta block",
                )
            })?;
        let entries = f.entries.get();
        // Keys are either both absent (empty table) or both full internal keys.
        let keys_ok = if entries == 0 {
            s_len == 0 && l_len == 0
        } else {
            s_len >= TRAILER_SIZE && l_len >= TRAILER_SIZE
        };
        if !keys_ok || f.tombstones.get() > entries || f.min_seqno.get() > f.max_seqno.get() {
            return Err(corrupt(0, "meta block fields are inconsistent"));
        }
        Ok(TableMeta {
            entries,
            tombstones: f.tombstones.get(),
            min_seqno: f.min_seqno.get(),
            max_seqno: f.max_seqno.get(),
            data_blocks: f.data_blocks.get(),
            raw_key_bytes: f.raw_key_bytes.get(),
            raw_value_bytes: f.raw_value_bytes.get(),
            data_bytes: f.data_bytes.get(),
            distinct_user_keys: f.distinct_user_keys.get(),
            restart_interval: f.restart_interval.get(),
            block_size: f.block_size.get(),
            smallest_key: smallest.to_vec(),
            largest_key: largest.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let m = TableMeta {
            entries: 10,
            tombstones: 2,
            min_seqno: 1,
            max_seqno: 9,
            data_blocks: 3,
            raw_key_bytes: 40,
            raw_value_bytes: 500,
            data_bytes: 700,
            distinct_user_keys: 8,
            restart_interval: 16,
            block_size: 4096,
            smallest_key: crate::key::encode_internal(b"a", 9 << 8 | 1),
            largest_key: crate::key::encode_internal(b"zz", 1 << 8),
        };
        let e = m.encode();
        assert_eq!(TableMeta::decode(&e).unwrap(), m);
        for cut in 0..e.len() {
            assert!(TableMeta::decode(&e[..cut]).unwrap_err().is_corruption());
        }
    }
}
