//! The meta block: table statistics and key range, and (version 2) where the range-tombstone
//! block is.
//!
//! ```text
//! meta payload = MetaFixed (88 bytes) | smallest_key | largest_key | MetaV2 (20 bytes, version 2)
//! ```
//!
//! Keys are encoded internal keys (`user_key ++ trailer u64 LE`), empty for a table without
//! entries and range tombstones. The largest key may carry a sentinel trailer
//! ([`LARGEST_EXCLUSIVE_TRAILER`], [`LARGEST_UNBOUNDED_TRAILER`]) when a range tombstone reaches
//! past the last entry ([`TableMeta::upper_limit`]). Readers require the payload to be at least
//! [`META_FIXED_SIZE`] + key bytes (+ [`META_V2_SIZE`] in version 2); bytes after that are ignored
//! (room for appended fields). See `format-spec/sstable.md` ("Meta block").

use std::mem::offset_of;
use std::path::Path;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use super::index::BlockHandle;
use crate::error::{Error, Result};
use crate::format::TRAILER_SIZE;
use crate::format::sst::{
    Handle, LARGEST_EXCLUSIVE_TRAILER, LARGEST_UNBOUNDED_TRAILER, META_FIXED_SIZE, META_V2_SIZE,
};
use crate::key::decode_internal;
use crate::rangedel::UpperLimit;

pub use crate::format::sst::{MetaFixed, MetaV2};

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
    /// Encoded internal key of the first entry, or of the start of the first range tombstone
    /// when it comes before (empty for an empty table).
    #[serde(skip)]
    pub smallest_key: Vec<u8>,
    /// Encoded internal key of the last entry, or the end of the range tombstone reaching
    /// furthest, with a sentinel trailer (empty for an empty table).
    #[serde(skip)]
    pub largest_key: Vec<u8>,
    /// Range tombstones in the table (version 2; 0 in version 1).
    pub range_tombstones: u64,
    /// Where the range-tombstone block is (version 2).
    pub range_del: Option<BlockHandle>,
}

impl TableMeta {
    /// The top of the table's user-key range: the largest key's user key, inclusive unless its
    /// trailer is a sentinel. Requires: the table is not empty (else the empty key, inclusive).
    pub fn upper_limit(&self) -> UpperLimit<'_> {
        match decode_internal(&self.largest_key) {
            Some((k, LARGEST_EXCLUSIVE_TRAILER)) => UpperLimit::Exclusive(k),
            Some((_, LARGEST_UNBOUNDED_TRAILER)) => UpperLimit::Unbounded,
            Some((k, _)) => UpperLimit::Inclusive(k),
            None => UpperLimit::Inclusive(&[]),
        }
    }

    /// The smallest user key (the empty key for an empty table).
    pub fn smallest_user_key(&self) -> &[u8] {
        decode_internal(&self.smallest_key).map_or(&[], |(k, _)| k)
    }

    /// The meta payload (version 2: with the [`MetaV2`] extension).
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
        let rd = self.range_del.unwrap_or(BlockHandle { offset: 0, len: 0 });
        let v2 = MetaV2 {
            range_tombstones: U64::new(self.range_tombstones),
            range_del: Handle::new(rd.offset, u32::try_from(rd.len).unwrap_or(u32::MAX)),
        };
        let mut out = Vec::with_capacity(
            META_FIXED_SIZE + self.smallest_key.len() + self.largest_key.len() + META_V2_SIZE,
        );
        out.extend_from_slice(fixed.as_bytes());
        out.extend_from_slice(&self.smallest_key);
        out.extend_from_slice(&self.largest_key);
        out.extend_from_slice(v2.as_bytes());
        out
    }

    /// Decodes the meta payload of a table of format `version` (1 or 2); offsets in errors are
    /// relative to the payload.
    pub fn decode(payload: &[u8], version: u32) -> Result<TableMeta> {
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
        let ext_at = META_FIXED_SIZE + s_len + l_len;
        let (range_tombstones, range_del) = if version >= 2 {
            let ext = rest
                .get(s_len + l_len..)
                .and_then(|r| MetaV2::ref_from_prefix(r).ok())
                .map(|(ext, _)| ext)
                .ok_or_else(|| corrupt(ext_at, "meta block lacks its version-2 fields"))?;
            let h = BlockHandle::from(&ext.range_del);
            (ext.range_tombstones.get(), Some(h))
        } else {
            (0, None)
        };
        let entries = f.entries.get();
        // Keys are either both absent (empty table) or both full internal keys.
        let keys_ok = if entries == 0 && range_tombstones == 0 {
            s_len == 0 && l_len == 0
        } else {
            s_len >= TRAILER_SIZE && l_len >= TRAILER_SIZE
        };
        if !keys_ok || f.tombstones.get() > entries || f.min_seqno.get() > f.max_seqno.get() {
            return Err(corrupt(0, "meta block fields are inconsistent"));
        }
        // Only a range tombstone can make the largest key a bound rather than an entry.
        let sentinel = decode_internal(largest).is_some_and(|(_, t)| {
            t == LARGEST_EXCLUSIVE_TRAILER || t == LARGEST_UNBOUNDED_TRAILER
        });
        if sentinel && range_tombstones == 0 {
            return Err(corrupt(
                offset_of!(MetaFixed, largest_key_len),
                "largest key is a range bound but the table has no range tombstone",
            ));
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
            range_tombstones,
            range_del,
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
            range_tombstones: 3,
            range_del: Some(BlockHandle { offset: 77, len: 99 }),
        };
        let e = m.encode();
        assert_eq!(TableMeta::decode(&e, 2).unwrap(), m);
        assert_eq!(m.upper_limit(), UpperLimit::Inclusive(b"zz"));
        for cut in 0..e.len() {
            assert!(TableMeta::decode(&e[..cut], 2).unwrap_err().is_corruption());
        }
        // Version 1 has no extension: the bytes after the keys are ignored.
        let v1 = TableMeta::decode(&e[..e.len() - META_V2_SIZE], 1).unwrap();
        assert_eq!((v1.range_tombstones, v1.range_del), (0, None));
    }

    #[test]
    fn sentinel_largest_keys() {
        let mut m = TableMeta {
            entries: 0,
            range_tombstones: 1,
            smallest_key: crate::key::encode_internal(b"a", 9 << 8 | 2),
            largest_key: crate::key::encode_internal(b"m", LARGEST_EXCLUSIVE_TRAILER),
            range_del: Some(BlockHandle { offset: 0, len: 9 }),
            ..TableMeta::default()
        };
        let d = TableMeta::decode(&m.encode(), 2).unwrap();
        assert_eq!(d.upper_limit(), UpperLimit::Exclusive(b"m"));
        assert_eq!(d.smallest_user_key(), b"a");
        m.largest_key = crate::key::encode_internal(b"a", LARGEST_UNBOUNDED_TRAILER);
        let d = TableMeta::decode(&m.encode(), 2).unwrap();
        assert_eq!(d.upper_limit(), UpperLimit::Unbounded);
        // Without range tombstones a sentinel (or keys at all) is corruption.
        m.range_tombstones = 0;
        assert!(TableMeta::decode(&m.encode(), 2).unwrap_err().is_corruption());
        m.entries = 1;
        assert!(TableMeta::decode(&m.encode(), 2).unwrap_err().is_corruption());
    }
}
