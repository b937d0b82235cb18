//! [`WriteBatch`]: an atomic group of puts and deletes, and its encoding, which is also the payload
//! of a WAL record (`format-spec/wal.md`, "Batch payload").
//!
//! ```text
//! base_seqno u64 LE | count u32 LE | count x entry
//! entry = kind u8 | key_len u32 LE | key | (kind == Put: value_len u32 LE | value)
//! ```
//! Entry `i` gets seqno `base_seqno + i`, so a later entry for the same key wins.

// On-disk integers have fixed widths: outside tests, a narrowing `as` must be a checked
// conversion.
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::codec::Cursor;
use crate::format::{MAX_KEY_SIZE, ValueKind};
use crate::key::SeqNo;

pub use crate::format::wal::BATCH_HEADER_SIZE;

/// A group of writes applied atomically by [`crate::Db::write`]: all or nothing, also across a
/// crash. Within a batch a later entry for the same key wins.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    rep: Vec<u8>,
    count: u32,
    max_key: usize,
    max_value: usize,
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("count", &self.count)
            .field("bytes", &self.rep.len())
            .finish()
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        // 64 bytes in all, header included.
        Self::with_capacity(64usize.saturating_sub(BATCH_HEADER_SIZE))
    }

    /// An empty batch with room for `bytes` of encoded entries (each entry takes 9 bytes plus its
    /// key and value).
    pub fn with_capacity(bytes: usize) -> Self {
        let mut rep = Vec::with_capacity(BATCH_HEADER_SIZE + bytes);
        rep.resize(BATCH_HEADER_SIZE, 0);
        WriteBatch {
            rep,
            count: 0,
            max_key: 0,
            max_value: 0,
        }
    }

    /// Adds a put. Sizes are checked when the batch is written.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.rep.reserve(1 + 4 + key.len() + 4 + value.len());
        self.rep.push(ValueKind::Put as u8);
        push_len(&mut self.rep, key.len());
        self.rep.extend_from_slice(key);
        push_len(&mut self.rep, value.len());
        self.rep.extend_from_slice(value);
        self.bump(key.len(), value.len());
    }

    /// Adds a delete (a tombstone).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        let key = key.as_ref();
        self.rep.push(ValueKind::Delete as u8);
        push_len(&mut self.rep, key.len());
        self.rep.extend_from_slice(key);
        self.bump(key.len(), 0);
    }

    fn bump(&mut self, key_len: usize, value_len: usize) {
        self.count = self.count.saturating_add(1);
        self.max_key = self.max_key.max(key_len);
        self.max_value = self.max_value.max(value_len);
        if let Some(h) = self.rep.get_mut(8..12) {
            h.copy_from_slice(&self.count.to_le_bytes());
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the batch holds no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.rep.truncate(BATCH_HEADER_SIZE);
        self.rep.fill(0);
        self.count = 0;
        self.max_key = 0;
        self.max_value = 0;
    }

    /// Bytes of the encoded batch.
    pub fn encoded_size(&self) -> usize {
        self.rep.len()
    }

    /// Longest key and value in the batch.
    pub(crate) fn max_sizes(&self) -> (usize, usize) {
        (self.max_key, self.max_value)
    }

    /// Stamps the first seqno into the header and returns the encoded batch (the WAL payload).
    pub(crate) fn seal(&mut self, base_seqno: SeqNo) -> &[u8] {
        if let Some(h) = self.rep.get_mut(0..8) {
            h.copy_from_slice(&base_seqno.to_le_bytes());
        }
        &self.rep
    }

    /// Iterates the entries of this (well-formed, self-built) batch.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter {
            cur: Cursor::new(
                self.rep.get(BATCH_HEADER_SIZE..).unwrap_or_default(),
                Path::new("<batch>"),
                BATCH_HEADER_SIZE as u64,
            ),
            left: self.count,
        }
    }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Keys are bounded by MAX_KEY_SIZE and values by MAX_VALUE_SIZE_LIMIT when written; a longer
    // entry is rejected by `Db::write` before the batch is encoded into the WAL, so the clamp only
    // keeps an oversized, never-written batch well-formed.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

/// One entry of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    pub kind: ValueKind,
    pub key: &'a [u8],
    /// Empty for deletes.
    pub value: &'a [u8],
}

/// Iterator over the entries of an encoded batch. Yields an error (once) on malformed input.
pub struct BatchIter<'a> {
    cur: Cursor<'a>,
    left: u32,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            if !self.cur.is_empty() {
                let e = self.cur.error("bytes after the last batch entry");
                self.cur.rest();
                return Some(Err(e));
            }
            return None;
        }
        let r = decode_entry(&mut self.cur);
        if r.is_err() {
            self.left = 0;
            self.cur.rest();
        } else {
            self.left -= 1;
        }
        Some(r)
    }
}

fn decode_entry<'a>(c: &mut Cursor<'a>) -> Result<BatchEntry<'a>> {
    let kind_byte = c.u8()?;
    let kind = ValueKind::from_u8(kind_byte)
        .ok_or_else(|| c.error(format!("unknown entry kind {kind_byte}")))?;
    let key_len = c.u32_le()? as usize;
    if key_len > MAX_KEY_SIZE {
        return Err(c.error(format!("key length {key_len} exceeds {MAX_KEY_SIZE}")));
    }
    let key = c.take(key_len)?;
    let value = match kind {
        ValueKind::Put => {
            let value_len = c.u32_le()? as usize;
            c.take(value_len)?
        }
        ValueKind::Delete => &[],
    };
    Ok(BatchEntry { kind, key, value })
}

/// A decoded batch: its first seqno and its entries.
#[derive(Debug)]
pub struct DecodedBatch<'a> {
    pub base_seqno: SeqNo,
    pub count: u32,
    body: &'a [u8],
    file: &'a Path,
    base_offset: u64,
}

impl<'a> DecodedBatch<'a> {
    /// Iterates entries; each is checked as it is read.
    pub fn iter(&self) -> BatchIter<'a> {
        BatchIter {
            cur: Cursor::new(
                self.body,
                self.file,
                self.base_offset + BATCH_HEADER_SIZE as u64,
            ),
            left: self.count,
        }
    }

    /// Decodes every entry, failing on the first malformed one.
    #[cfg(any(test, feature = "internal"))]
    pub fn entries(&self) -> Result<Vec<BatchEntry<'a>>> {
        self.iter().collect()
    }
}

/// Parses a batch payload read from `file` at `offset` (used in errors). Only the header is checked
/// here; entries are checked as they are iterated. The entry count is bounded by the payload size
/// (every entry takes at least 5 bytes) so a hostile count cannot cause a large allocation.
pub fn decode_batch<'a>(
    payload: &'a [u8],
    file: &'a Path,
    offset: u64,
) -> Result<DecodedBatch<'a>> {
    let mut c = Cursor::new(payload, file, offset);
    let base_seqno = c.u64_le()?;
    let count = c.u32_le()?;
    let body = c.rest();
    if count as usize > body.len() / 5 {
        return Err(Error::corruption(
            file,
            offset + 8,
            format!(
                "batch count {count} exceeds what {} bytes can hold",
                body.len()
            ),
        ));
    }
    if base_seqno
        .checked_add(u64::from(count))
        .is_none_or(|end| end > crate::key::MAX_SEQNO)
    {
        return Err(Error::corruption(file, offset, "batch seqno out of range"));
    }
    Ok(DecodedBatch {
        base_seqno,
        count,
        body,
        file,
        base_offset: offset,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut b = WriteBatch::new();
        b.put(b"a", b"1");
        b.delete(b"b");
        b.put(b"", b"");
        assert_eq!(b.len(), 3);
        let enc = b.seal(42).to_vec();
        let d = decode_batch(&enc, Path::new("w"), 0).unwrap();
        assert_eq!(d.base_seqno, 42);
        let e = d.entries().unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            BatchEntry {
                kind: ValueKind::Put,
                key: b"a",
                value: b"1"
            }
        );
        assert_eq!(e[1].kind, ValueKind::Delete);
        assert_eq!(e[2].key, b"");
        let own: Vec<_> = b.iter().map(|r| r.unwrap()).collect();
        assert_eq!(own, e);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.encoded_size(), BATCH_HEADER_SIZE);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut b = WriteBatch::new();
        b.put(b"key", b"value");
        b.delete(b"gone");
        let enc = b.seal(1).to_vec();
        for cut in 0..enc.len() {
            let r =
                decode_batch(&enc[..cut], Path::new("w"), 0).and_then(|d| d.entries().map(|_| ()));
            assert!(matches!(r, Err(Error::Corruption { .. })), "cut {cut}");
        }
        let mut long = enc.clone();
        long.push(0);
        let d = decode_batch(&long, Path::new("w"), 0).unwrap();
        assert!(d.entries().is_err());
    }

    #[test]
    fn hostile_count_is_rejected() {
        let mut enc = vec![0u8; 12];
        enc[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_batch(&enc, Path::new("w"), 0).is_err());
        let mut enc = vec![0xffu8; 12];
        enc[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode_batch(&enc, Path::new("w"), 0).is_err());
    }
}
