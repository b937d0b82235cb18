//! [`WriteBatch`]: an atomic group of puts and deletes, and its encoding, which is also the payload
//! of a WAL record (`format-spec/wal.md`, "Batch payload").
//!
//! ```text
//! base_seqno u64 LE | count u32 LE | count x entry
//! entry = tag u8 | (tag & 0x80: keyspace u32 LE) | key_len u32 LE | key
//!         | (kind != Delete: value_len u32 LE | value)
//! ```
//! The low 7 bits of `tag` are the [`ValueKind`]; an entry without the keyspace flag belongs to
//! keyspace 0 (`default`). Entry `i` gets seqno `base_seqno + i`, so a later entry for the same
//! key wins.

// On-disk integers have fixed widths: outside tests, a narrowing `as` must be a checked
// conversion.
#![cfg_attr(not(test), warn(clippy::cast_possible_truncation))]

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::codec::Cursor;
use crate::format::{EXPIRY_SIZE, MAX_KEY_SIZE, ValueKind};
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
    /// Offsets in `rep` of the `expires_at` fields of the entries added with a time to live that
    /// have not been given a time yet: each holds the TTL in milliseconds until
    /// [`WriteBatch::stamp_expiry`] adds the write's time to it.
    ttl_fields: Vec<usize>,
    /// Some entry names a keyspace other than `default`.
    foreign: bool,
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
            ttl_fields: Vec::new(),
            foreign: false,
        }
    }

    /// Adds a put. Sizes are checked when the batch is written.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.push_entry(0, ValueKind::Put, key.as_ref(), &[value.as_ref()]);
    }

    /// Adds a put that expires `ttl` after the batch is written: its expiry is the database
    /// clock's time when [`crate::Db::write`] is called plus `ttl` (in whole milliseconds, rounded
    /// up). From then on the key reads as absent, as if deleted: older versions do not reappear.
    /// The expiry belongs to this entry only; a later plain put of the key has none. Size limits
    /// apply to `value` (the 8-byte expiry stored with it is not counted). See
    /// [`crate::Db::put_with_ttl`].
    pub fn put_with_ttl(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, ttl: Duration) {
        self.push_ttl(0, key.as_ref(), value.as_ref(), ttl);
    }

    /// [`WriteBatch::put_with_ttl`] in keyspace `keyspace`.
    pub(crate) fn push_ttl(&mut self, keyspace: u32, key: &[u8], value: &[u8], ttl: Duration) {
        let ttl_millis = crate::ttl::duration_millis(ttl);
        self.push_entry(
            keyspace,
            ValueKind::PutExpiring,
            key,
            &[&ttl_millis.to_le_bytes(), value],
        );
        // The expiry field lies just before the value, which ends the encoding.
        let field = self.rep.len().saturating_sub(value.len() + EXPIRY_SIZE);
        self.ttl_fields.push(field);
    }

    /// Turns the time to live of every entry added by [`WriteBatch::put_with_ttl`] since the last
    /// call into its expiry: `now_millis + ttl` (saturating). Called by `Db::write` with the
    /// database clock's time, once per batch written.
    pub(crate) fn stamp_expiry(&mut self, now_millis: u64) {
        for at in self.ttl_fields.drain(..) {
            let field = self
                .rep
                .get_mut(at..)
                .and_then(|rest| rest.first_chunk_mut::<EXPIRY_SIZE>());
            if let Some(field) = field {
                let ttl_millis = u64::from_le_bytes(*field);
                *field = crate::ttl::expires_at(now_millis, ttl_millis).to_le_bytes();
            }
        }
    }

    /// Adds a delete (a tombstone).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.push_entry(0, ValueKind::Delete, key.as_ref(), &[]);
    }

    /// Appends an entry exactly as it is encoded: any kind and keyspace, and for an expiring put
    /// the stored value (`expires_at` first). For tests and fuzz targets that rebuild decoded
    /// batches; not API.
    #[cfg(any(test, feature = "internal"))]
    #[doc(hidden)]
    pub fn push_encoded_entry(&mut self, keyspace: u32, kind: ValueKind, key: &[u8], value: &[u8]) {
        self.push_entry(keyspace, kind, key, &[value]);
    }

    /// Appends one entry of `kind` for `key` in keyspace `keyspace`; the value is the
    /// concatenation of `value_parts` (ignored for a delete).
    pub(crate) fn push_entry(
        &mut self,
        keyspace: u32,
        kind: ValueKind,
        key: &[u8],
        value_parts: &[&[u8]],
    ) {
        let value_len: usize = value_parts.iter().map(|p| p.len()).sum();
        self.rep.reserve(1 + 4 + 4 + key.len() + 4 + value_len);
        if keyspace == 0 {
            self.rep.push(kind as u8);
        } else {
            self.foreign = true;
            self.rep.push(kind as u8 | KEYSPACE_FLAG);
            self.rep.extend_from_slice(&keyspace.to_le_bytes());
        }
        push_len(&mut self.rep, key.len());
        self.rep.extend_from_slice(key);
        if kind.has_value() {
            push_len(&mut self.rep, value_len);
            for p in value_parts {
                self.rep.extend_from_slice(p);
            }
        }
        // A range delete's "value" is its end bound, not a user value: it is checked against the
        // key limit when the batch is written.
        let user_value = match kind {
            ValueKind::PutExpiring => value_len.saturating_sub(crate::format::EXPIRY_SIZE),
            ValueKind::RangeDelete => 0,
            _ => value_len,
        };
        self.bump(key.len(), user_value);
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
        self.ttl_fields.clear();
        self.foreign = false;
    }

    /// Bytes of the encoded batch.
    pub fn encoded_size(&self) -> usize {
        self.rep.len()
    }

    /// Whether some entry names a keyspace other than `default`.
    pub(crate) fn has_keyspaces(&self) -> bool {
        self.foreign
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

/// Tag bit of a batch entry that names its keyspace (a u32 follows the tag).
pub const KEYSPACE_FLAG: u8 = 0x80;

/// One entry of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    /// The keyspace id (0: `default`).
    pub keyspace: u32,
    pub kind: ValueKind,
    pub key: &'a [u8],
    /// Empty for deletes; the encoded end bound for a range delete; `expires_at` plus the value
    /// for an expiring put.
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
    let tag = c.u8()?;
    let kind = ValueKind::from_u8(tag & !KEYSPACE_FLAG)
        .ok_or_else(|| c.error(format!("unknown entry kind {}", tag & !KEYSPACE_FLAG)))?;
    let keyspace = if tag & KEYSPACE_FLAG != 0 {
        c.u32_le()?
    } else {
        0
    };
    let key_len = c.u32_le()? as usize;
    if key_len > MAX_KEY_SIZE {
        return Err(c.error(format!("key length {key_len} exceeds {MAX_KEY_SIZE}")));
    }
    let key = c.take(key_len)?;
    let value = if kind.has_value() {
        let value_len = c.u32_le()? as usize;
        let at = c.clone();
        let v = c.take(value_len)?;
        let bad = match kind {
            ValueKind::PutExpiring if v.len() < crate::format::EXPIRY_SIZE => {
                Some("expiring value shorter than its 8-byte expiry")
            }
            ValueKind::RangeDelete => crate::format::RangeEnd::decode(v).err(),
            _ => None,
        };
        if let Some(why) = bad {
            return Err(at.error(why));
        }
        v
    } else {
        &[]
    };
    Ok(BatchEntry {
        keyspace,
        kind,
        key,
        value,
    })
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
                keyspace: 0,
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
    fn ttls_become_expiries_when_stamped() {
        let mut b = WriteBatch::new();
        b.put_with_ttl(b"k", b"value", std::time::Duration::from_millis(250));
        b.put(b"p", b"plain");
        b.put_with_ttl(b"", b"", std::time::Duration::from_micros(1));
        // The user value counts against the size limits, not the expiry.
        assert_eq!(b.max_sizes(), (1, 5));
        b.stamp_expiry(1_000);
        // A second stamp (a batch written twice) changes nothing.
        b.stamp_expiry(5_000);
        let e: Vec<_> = b.iter().map(|e| e.unwrap()).collect();
        assert_eq!(e[0].kind, ValueKind::PutExpiring);
        assert_eq!(
            crate::format::split_expiring(e[0].value).unwrap(),
            (1_250, &b"value"[..])
        );
        assert_eq!((e[1].kind, e[1].value), (ValueKind::Put, &b"plain"[..]));
        assert_eq!(
            crate::format::split_expiring(e[2].value).unwrap(),
            (1_001, &b""[..])
        );
        // What the WAL gets decodes to the same entries.
        let owned: Vec<(ValueKind, Vec<u8>)> = e.iter().map(|e| (e.kind, e.value.to_vec())).collect();
        let enc = b.seal(9).to_vec();
        let d = decode_batch(&enc, Path::new("w"), 0).unwrap();
        let again: Vec<_> = d
            .entries()
            .unwrap()
            .iter()
            .map(|e| (e.kind, e.value.to_vec()))
            .collect();
        assert_eq!(again, owned);
        // `clear` forgets pending TTLs with the entries.
        let mut c = WriteBatch::new();
        c.put_with_ttl(b"k", b"v", std::time::Duration::from_secs(1));
        c.clear();
        c.put(b"k", b"12345678");
        c.stamp_expiry(7);
        assert_eq!(c.iter().next().unwrap().unwrap().value, b"12345678");
    }

    #[test]
    fn keyspaces_range_deletes_and_expiring_puts_round_trip() {
        use crate::format::RangeEnd;
        let mut b = WriteBatch::new();
        b.push_entry(7, ValueKind::Put, b"a", &[b"1"]);
        let mut end = Vec::new();
        RangeEnd::Before(b"m".to_vec()).encode(&mut end);
        b.push_entry(0, ValueKind::RangeDelete, b"c", &[&end]);
        b.push_entry(3, ValueKind::PutExpiring, b"k", &[&99u64.to_le_bytes(), b"val"]);
        let enc = b.seal(5).to_vec();
        let d = decode_batch(&enc, Path::new("w"), 0).unwrap();
        let e = d.entries().unwrap();
        assert_eq!((e[0].keyspace, e[0].kind, e[0].value), (7, ValueKind::Put, &b"1"[..]));
        assert_eq!((e[1].keyspace, e[1].kind), (0, ValueKind::RangeDelete));
        assert_eq!(
            RangeEnd::decode(e[1].value).unwrap(),
            RangeEnd::Before(b"m".to_vec())
        );
        assert_eq!(
            crate::format::split_expiring(e[2].value).unwrap(),
            (99, &b"val"[..])
        );
        assert_eq!(e[2].keyspace, 3);
        // The expiry prefix is not counted as user value size.
        assert_eq!(b.max_sizes(), (1, 3));
        for cut in 0..enc.len() {
            let r =
                decode_batch(&enc[..cut], Path::new("w"), 0).and_then(|d| d.entries().map(|_| ()));
            assert!(matches!(r, Err(Error::Corruption { .. })), "cut {cut}");
        }
    }

    #[test]
    fn malformed_range_end_and_short_expiry_are_corruption() {
        for (kind, value) in [
            (ValueKind::RangeDelete, &b""[..]),
            (ValueKind::RangeDelete, &b"\x07x"[..]),
            (ValueKind::RangeDelete, &b"\x01x"[..]),
            (ValueKind::PutExpiring, &b"1234567"[..]),
        ] {
            let mut b = WriteBatch::new();
            b.push_entry(0, kind, b"k", &[value]);
            let enc = b.seal(1).to_vec();
            let d = decode_batch(&enc, Path::new("w"), 0).unwrap();
            assert!(d.entries().unwrap_err().is_corruption(), "{kind:?} {value:?}");
        }
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
