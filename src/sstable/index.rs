//! The index block: one fixed-size entry per data block, binary-searched in place.
//!
//! ```text
//! index payload = num_entries u32 LE | IndexEntry * num_entries | key heap
//! IndexEntry    = key_offset u32 | key_len u32 | block_offset u64 | block_len u32   (20 bytes)
//! ```
//!
//! An entry's key (at `key_offset` from the start of the key heap) is the encoded internal key
//! (`user_key ++ trailer u64 LE`) of the LAST entry of its data block; `block_offset`/`block_len`
//! locate the data block on disk, trailer included. Lookups never deserialise the index: they
//! binary-search the entry array and read keys out of the heap, checking every range.
//! See `format-spec/sstable.md` ("Index block").

use std::cmp::Ordering;
use std::path::Path;

use bytes::Bytes;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::cache::mapped::MappedBuf;
use crate::error::{Error, Result};
use crate::format::TRAILER_SIZE;
use crate::format::sst::{INDEX_COUNT_SIZE, INDEX_ENTRY_SIZE};
use crate::key::{cmp_internal, decode_internal};

pub use crate::format::sst::IndexEntry;

fn corrupt(offset: usize, reason: &'static str) -> Error {
    Error::corruption(Path::new(""), offset as u64, reason)
}

/// Builds the index payload. Entries and keys are kept in [`MappedBuf`]s, out of the malloc heap
/// (a large table's index is hundreds of KiB, built and dropped by every flush and compaction).
#[derive(Debug, Default)]
pub struct IndexBuilder {
    /// The [`IndexEntry`]s, as their bytes.
    entries: MappedBuf,
    count: usize,
    heap: MappedBuf,
}

impl IndexBuilder {
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Records a data block whose last entry is (`user_key`, `trailer`).
    pub fn add(&mut self, user_key: &[u8], trailer: u64, block_offset: u64, block_len: u32) {
        let entry = IndexEntry {
            key_offset: U32::new(crate::format::len_u32(self.heap.len())),
            key_len: U32::new(crate::format::len_u32(user_key.len() + TRAILER_SIZE)),
            block_offset: U64::new(block_offset),
            block_len: U32::new(block_len),
        };
        self.entries.extend_from_slice(entry.as_bytes());
        self.count += 1;
        self.heap.extend_from_slice(user_key);
        self.heap.extend_from_slice(&trailer.to_le_bytes());
    }

    /// Number of blocks recorded.
    #[cfg(any(test, feature = "internal"))]
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no block was recorded.
    #[cfg(any(test, feature = "internal"))]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The index payload, as its three consecutive parts: the entry count, the entries, the key
    /// heap (written one after the other, never joined in memory).
    pub fn finish(&self) -> ([u8; INDEX_COUNT_SIZE], &[u8], &[u8]) {
        (
            crate::format::len_u32(self.count).to_le_bytes(),
            self.entries.as_slice(),
            self.heap.as_slice(),
        )
    }

    /// The index payload in one `Vec` (tests and tools).
    #[cfg(any(test, feature = "internal"))]
    pub fn finish_vec(&self) -> Vec<u8> {
        let (count, entries, heap) = self.finish();
        [&count[..], entries, heap].concat()
    }
}

/// A checked view of an index payload, kept as `Bytes` (usually a slice of the mapping).
#[derive(Debug, Clone)]
pub struct Index {
    data: Bytes,
    len: usize,
    /// Offset of the key heap in `data`.
    heap_start: usize,
}

/// A block location read from the index or the footer: offset and on-disk length (the 5-byte
/// block trailer included). Also what `lsmkv::debug::sst` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BlockHandle {
    /// File offset of the block.
    pub offset: u64,
    /// On-disk length of the block, its 5-byte trailer included.
    pub len: u64,
}

impl From<&crate::format::sst::Handle> for BlockHandle {
    fn from(h: &crate::format::sst::Handle) -> Self {
        BlockHandle {
            offset: h.offset.get(),
            len: u64::from(h.len.get()),
        }
    }
}

impl Index {
    /// Validates the framing; entries are checked when used. Offsets are relative to the payload.
    pub fn new(data: Bytes) -> Result<Index> {
        let (count, rest) = U32::read_from_prefix(&data)
            .map_err(|_| corrupt(0, "index block shorter than its entry count"))?;
        let len = count.get() as usize;
        // Bound the count by the bytes present before multiplying (no overflow, no huge cast).
        if len > rest.len() / INDEX_ENTRY_SIZE {
            return Err(corrupt(0, "index entry count exceeds the block"));
        }
        Ok(Index {
            heap_start: INDEX_COUNT_SIZE + len * INDEX_ENTRY_SIZE,
            data,
            len,
        })
    }

    /// Number of data blocks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table has no data block.
    #[cfg(any(test, feature = "internal"))]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn entry(&self, i: usize) -> Result<&IndexEntry> {
        let at = INDEX_COUNT_SIZE + i * INDEX_ENTRY_SIZE;
        self.data
            .get(at..)
            .and_then(|b| IndexEntry::ref_from_prefix(b).ok())
            .filter(|_| i < self.len)
            .map(|(e, _)| e)
            .ok_or_else(|| corrupt(at, "index entry out of range"))
    }

    /// The encoded internal key of block `i`'s last entry, split into (user key, trailer).
    pub fn key(&self, i: usize) -> Result<(&[u8], u64)> {
        let e = self.entry(i)?;
        let at = INDEX_COUNT_SIZE + i * INDEX_ENTRY_SIZE;
        let start = self.heap_start.checked_add(e.key_offset.get() as usize);
        let end = start.and_then(|s| s.checked_add(e.key_len.get() as usize));
        let encoded = start
            .zip(end)
            .and_then(|(s, end)| self.data.get(s..end))
            .ok_or_else(|| corrupt(at, "index key outside the key heap"))?;
        decode_internal(encoded).ok_or_else(|| corrupt(at, "index key shorter than a trailer"))
    }

    /// Where block `i` is on disk.
    pub fn handle(&self, i: usize) -> Result<BlockHandle> {
        let e = self.entry(i)?;
        Ok(BlockHandle {
            offset: e.block_offset.get(),
            len: u64::from(e.block_len.get()),
        })
    }

    /// Index of the first block whose last key is >= (user_key, trailer); `len()` if none.
    #[inline]
    pub fn find(&self, user_key: &[u8], trailer: u64) -> Result<usize> {
        self.find_between(0, self.len, user_key, trailer)
    }

    /// [`Index::find`] when the answer is known to lie in `lo..=hi` (`hi <= len()`).
    #[inline]
    pub fn find_between(
        &self,
        mut lo: usize,
        mut hi: usize,
        user_key: &[u8],
        trailer: u64,
    ) -> Result<usize> {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, t) = self.key(mid)?;
            if cmp_internal(k, t, user_key, trailer) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn round_trip_and_find() {
        let mut b = IndexBuilder::new();
        for i in 0..20u64 {
            b.add(format!("k{i:02}").as_bytes(), 5 << 8, i * 100, 100);
        }
        let idx = Index::new(Bytes::from(b.finish_vec())).unwrap();
        assert_eq!(idx.len(), 20);
        for i in 0..20usize {
            assert_eq!(idx.key(i).unwrap(), (format!("k{i:02}").as_bytes(), 5 << 8));
            assert_eq!(idx.handle(i).unwrap().offset, i as u64 * 100);
            assert_eq!(idx.find(format!("k{i:02}").as_bytes(), 9 << 8).unwrap(), i);
            assert_eq!(
                idx.find(format!("k{i:02}").as_bytes(), 1 << 8).unwrap(),
                i + 1
            );
        }
        assert_eq!(idx.find(b"", 0).unwrap(), 0);
        assert_eq!(idx.find(b"z", 0).unwrap(), 20);
        assert!(idx.key(20).is_err());
    }

    #[test]
    fn damage_never_panics() {
        let mut b = IndexBuilder::new();
        for i in 0..4u64 {
            b.add(format!("key{i}").as_bytes(), 1, i * 10, 10);
        }
        let data = b.finish_vec();
        for cut in 0..data.len() {
            if let Ok(idx) = Index::new(Bytes::copy_from_slice(&data[..cut])) {
                let _ = idx.find(b"key2", 0);
                for i in 0..idx.len() {
                    let _ = idx.key(i);
                }
            }
        }
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0xff;
            if let Ok(idx) = Index::new(Bytes::from(d)) {
                let _ = idx.find(b"key2", 0);
            }
        }
    }
}
