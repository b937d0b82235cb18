//! Data blocks: entries in internal-key order followed by a restart array.
//!
//! ```text
//! entry    = key_len u32 LE | value_len u32 LE | trailer u64 LE | key | value
//! block    = entry* | restart u32 LE * num_restarts | num_restarts u32 LE
//! ```
//!
//! There is no prefix compression: every entry's key and value are contiguous bytes of the block,
//! so a value from a raw block is a zero-copy slice of the file mapping. Restart points (offsets
//! of every `restart_interval`-th entry, starting with entry 0) let a lookup binary-search the
//! block instead of scanning it. See `format-spec/sstable.md` ("Data block").
//!
//! Decoding never trusts the block: every offset and length is checked against the entry area,
//! and errors are reported relative to the block start (the table re-labels them with the file
//! and the block's offset via [`crate::Error::in_file`]).

use std::cmp::Ordering;
use std::path::Path;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{Error, Result};
use crate::format::sst::ENTRY_HEADER_SIZE;
use crate::key::cmp_internal;

pub use crate::format::sst::EntryHeader;

fn corrupt(offset: usize, reason: &'static str) -> Error {
    Error::corruption(Path::new(""), offset as u64, reason)
}

/// Accumulates entries of one data block.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    entries: usize,
}

impl BlockBuilder {
    /// Requires: `restart_interval >= 1` (0 is treated as 1).
    pub fn new(restart_interval: usize) -> BlockBuilder {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            entries: 0,
        }
    }

    /// Appends an entry. Requires: key and value lengths fit in u32, and the block stays below
    /// 4 GiB (the table builder cuts blocks long before).
    pub fn add(&mut self, user_key: &[u8], trailer: u64, value: &[u8]) {
        if self.entries.is_multiple_of(self.restart_interval) {
            self.restarts.push(crate::format::len_u32(self.buf.len()));
        }
        let h = EntryHeader {
            key_len: U32::new(crate::format::len_u32(user_key.len())),
            value_len: U32::new(crate::format::len_u32(value.len())),
            trailer: U64::new(trailer),
        };
        self.buf
            .reserve(ENTRY_HEADER_SIZE + user_key.len() + value.len());
        self.buf.extend_from_slice(h.as_bytes());
        self.buf.extend_from_slice(user_key);
        self.buf.extend_from_slice(value);
        self.entries += 1;
    }

    /// Number of entries added since the last `finish`.
    #[cfg(any(test, feature = "internal"))]
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// True when no entry was added.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Size of the finished block if finished now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Appends the restart array and returns the block contents; the builder is reset (its
    /// allocation is reused).
    pub fn finish(&mut self) -> &[u8] {
        for r in &self.restarts {
            self.buf.extend_from_slice(&r.to_le_bytes());
        }
        self.buf
            .extend_from_slice(&crate::format::len_u32(self.restarts.len()).to_le_bytes());
        self.restarts.clear();
        self.entries = 0;
        &self.buf
    }

    /// Clears the block after the caller consumed `finish`'s output.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.entries = 0;
    }
}

/// One decoded entry; slices borrow the block.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub user_key: &'a [u8],
    pub trailer: u64,
    pub value: &'a [u8],
    /// Offset of this entry in the block.
    pub offset: usize,
    /// Offset of the next entry (== the entry area's end after the last entry).
    pub next: usize,
}

/// A checked view of a block's contents (without the block trailer).
#[derive(Debug, Clone, Copy)]
pub struct BlockView<'a> {
    data: &'a [u8],
    /// Length of the entry area = offset of the restart array.
    entries_end: usize,
    num_restarts: usize,
}

impl<'a> BlockView<'a> {
    /// Validates the restart array's framing. Entries are checked as they are decoded.
    pub fn new(data: &'a [u8]) -> Result<BlockView<'a>> {
        let len = data.len();
        let count_at = len
            .checked_sub(4)
            .ok_or_else(|| corrupt(0, "data block shorter than its restart count"))?;
        let (_, count) = U32::ref_from_suffix(data)
            .map_err(|_| corrupt(0, "data block shorter than its restart count"))?;
        let num_restarts = count.get() as usize;
        // num_restarts <= count_at / 4 bounds the multiplication below.
        if num_restarts > count_at / 4 {
            return Err(corrupt(count_at, "restart count exceeds the block"));
        }
        let entries_end = count_at - num_restarts * 4;
        if num_restarts == 0 && entries_end != 0 {
            return Err(corrupt(count_at, "block has entries but no restart points"));
        }
        Ok(BlockView {
            data,
            entries_end,
            num_restarts,
        })
    }

    /// The layout [`BlockView::new`] found: entry-area end and restart count, to rebuild the view
    /// of the same bytes with [`BlockView::with_layout`] without parsing the trailer again.
    pub(crate) fn layout(&self) -> (usize, usize) {
        (self.entries_end, self.num_restarts)
    }

    /// The view of `data` with a layout an earlier [`BlockView::new`] of the same bytes returned
    /// (every accessor still bounds-checks, so a wrong layout gives errors, never a panic).
    #[inline]
    pub(crate) fn with_layout(data: &'a [u8], (entries_end, num_restarts): (usize, usize)) -> Self {
        BlockView {
            data,
            entries_end,
            num_restarts,
        }
    }

    /// The whole block's bytes.
    #[cfg(any(test, feature = "internal"))]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Offset where the entries end.
    pub fn entries_end(&self) -> usize {
        self.entries_end
    }

    /// Number of restart points.
    pub fn num_restarts(&self) -> usize {
        self.num_restarts
    }

    /// Offset of restart point `i` (checked to lie inside the entry area).
    pub fn restart(&self, i: usize) -> Result<usize> {
        if i >= self.num_restarts {
            return Err(corrupt(self.entries_end, "restart index out of range"));
        }
        let at = self.entries_end + 4 * i;
        let raw = self
            .data
            .get(at..at + 4)
            .and_then(|b| U32::ref_from_bytes(b).ok())
            .ok_or_else(|| corrupt(at, "restart index out of range"))?;
        let off = raw.get() as usize;
        if off >= self.entries_end {
            return Err(corrupt(at, "restart point outside the entry area"));
        }
        Ok(off)
    }

    /// Decodes the entry at `offset`. Requires: `offset < entries_end`.
    #[inline]
    pub fn entry_at(&self, offset: usize) -> Result<Entry<'a>> {
        let area = self
            .data
            .get(offset..self.entries_end)
            .ok_or_else(|| corrupt(offset, "entry offset outside the entry area"))?;
        let (h, rest) = EntryHeader::ref_from_prefix(area)
            .map_err(|_| corrupt(offset, "truncated entry header"))?;
        let key_len = h.key_len.get() as usize;
        let value_len = h.value_len.get() as usize;
        // Both lengths are < 2^32, so the sum cannot overflow a 64-bit usize; on 32-bit targets
        // checked_add catches it.
        let body = key_len
            .checked_add(value_len)
            .filter(|&n| n <= rest.len())
            .ok_or_else(|| corrupt(offset, "entry length exceeds the block"))?;
        let (user_key, rest) = rest.split_at(key_len);
        let value = rest.get(..value_len).unwrap_or_default();
        Ok(Entry {
            user_key,
            trailer: h.trailer.get(),
            value,
            offset,
            next: offset + ENTRY_HEADER_SIZE + body,
        })
    }

    /// Key of the entry at restart point `i`.
    fn restart_key(&self, i: usize) -> Result<Entry<'a>> {
        self.entry_at(self.restart(i)?)
    }

    /// Index of the last restart point whose key is < target, or 0.
    fn restart_before(&self, user_key: &[u8], trailer: u64) -> Result<usize> {
        let (mut lo, mut hi) = (0usize, self.num_restarts);
        // Invariant: restarts < lo have key < target; restarts >= hi have key >= target.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.restart_key(mid)?;
            if cmp_internal(e.user_key, e.trailer, user_key, trailer) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.saturating_sub(1))
    }

    /// The first entry >= (user_key, trailer), or `None` if every entry is smaller.
    pub fn seek(&self, user_key: &[u8], trailer: u64) -> Result<Option<Entry<'a>>> {
        if self.num_restarts == 0 {
            return Ok(None);
        }
        let mut off = self.restart(self.restart_before(user_key, trailer)?)?;
        while off < self.entries_end {
            let e = self.entry_at(off)?;
            if cmp_internal(e.user_key, e.trailer, user_key, trailer) != Ordering::Less {
                return Ok(Some(e));
            }
            off = e.next;
        }
        Ok(None)
    }

    /// The entry preceding the one at `offset` (`None` when `offset` is the first entry).
    /// Scans forward from the restart point before `offset`.
    pub fn prev_of(&self, offset: usize) -> Result<Option<Entry<'a>>> {
        if offset == 0 || self.num_restarts == 0 {
            return Ok(None);
        }
        // Last restart strictly before `offset`.
        let (mut lo, mut hi) = (0usize, self.num_restarts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.restart(mid)? < offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let Some(r) = lo.checked_sub(1) else {
            return Err(corrupt(offset, "entry precedes the first restart point"));
        };
        let mut e = self.entry_at(self.restart(r)?)?;
        loop {
            if e.next == offset {
                return Ok(Some(e));
            }
            if e.next > offset || e.next >= self.entries_end {
                return Err(corrupt(offset, "entry boundaries do not line up"));
            }
            e = self.entry_at(e.next)?;
        }
    }

    /// The last entry, or `None` for an empty block.
    pub fn last(&self) -> Result<Option<Entry<'a>>> {
        if self.entries_end == 0 {
            return Ok(None);
        }
        let mut e = self.entry_at(self.restart(self.num_restarts.saturating_sub(1))?)?;
        while e.next < self.entries_end {
            e = self.entry_at(e.next)?;
        }
        Ok(Some(e))
    }

    /// Checks that every entry parses, entries are strictly ordered, the restart points land
    /// on entry boundaries and the entry area is fully used.
    pub fn validate(&self) -> Result<usize> {
        let mut off = 0;
        let mut count = 0usize;
        let mut next_restart = 0usize;
        let mut prev: Option<Entry<'a>> = None;
        while off < self.entries_end {
            let e = self.entry_at(off)?;
            if next_restart < self.num_restarts && self.restart(next_restart)? == off {
                next_restart += 1;
            }
            if let Some(p) = prev
                && cmp_internal(p.user_key, p.trailer, e.user_key, e.trailer) != Ordering::Less
            {
                return Err(corrupt(off, "entries out of order"));
            }
            prev = Some(e);
            off = e.next;
            count += 1;
        }
        if next_restart != self.num_restarts {
            return Err(corrupt(
                self.entries_end,
                "restart point not on an entry boundary",
            ));
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn build(entries: &[(&[u8], u64, &[u8])], interval: usize) -> Vec<u8> {
        let mut b = BlockBuilder::new(interval);
        for (k, t, v) in entries {
            b.add(k, *t, v);
        }
        b.finish().to_vec()
    }

    fn sample() -> Vec<(Vec<u8>, u64, Vec<u8>)> {
        let mut v = Vec::new();
        for i in 0..50u32 {
            let k = format!("key{i:03}").into_bytes();
            v.push((
                k.clone(),
                (100 - u64::from(i)) << 8 | 1,
                vec![i as u8; i as usize],
            ));
            v.push((k, 10 << 8, Vec::new()));
        }
        v
    }

    #[test]
    fn round_trip_seek_prev() {
        for interval in [1, 2, 3, 16, 1000] {
            let s = sample();
            let refs: Vec<(&[u8], u64, &[u8])> =
                s.iter().map(|(k, t, v)| (&k[..], *t, &v[..])).collect();
            let data = build(&refs, interval);
            let view = BlockView::new(&data).unwrap();
            assert_eq!(view.validate().unwrap(), s.len());
            // Forward scan.
            let mut off = 0;
            let mut offs = Vec::new();
            for (k, t, v) in &s {
                let e = view.entry_at(off).unwrap();
                assert_eq!((e.user_key, e.trailer, e.value), (&k[..], *t, &v[..]));
                offs.push(off);
                off = e.next;
            }
            assert_eq!(off, view.entries_end());
            // Backward.
            for i in (1..offs.len()).rev() {
                assert_eq!(view.prev_of(offs[i]).unwrap().unwrap().offset, offs[i - 1]);
            }
            assert!(view.prev_of(0).unwrap().is_none());
            assert_eq!(view.last().unwrap().unwrap().offset, *offs.last().unwrap());
            // Seek to each key and between keys.
            for (i, (k, t, _)) in s.iter().enumerate() {
                assert_eq!(view.seek(k, *t).unwrap().unwrap().offset, offs[i]);
            }
            assert_eq!(view.seek(b"", u64::MAX).unwrap().unwrap().offset, 0);
            assert!(view.seek(b"zzz", 0).unwrap().is_none());
            let e = view.seek(b"key010", 50 << 8).unwrap().unwrap();
            assert_eq!((e.user_key, e.trailer), (&b"key010"[..], 10 << 8));
        }
    }

    #[test]
    fn empty_block() {
        let mut b = BlockBuilder::new(4);
        let data = b.finish().to_vec();
        assert_eq!(data, [0, 0, 0, 0]);
        let v = BlockView::new(&data).unwrap();
        assert!(v.seek(b"a", 0).unwrap().is_none());
        assert!(v.last().unwrap().is_none());
        assert_eq!(v.validate().unwrap(), 0);
    }

    #[test]
    fn damage_never_panics() {
        let s = sample();
        let refs: Vec<(&[u8], u64, &[u8])> = s
            .iter()
            .take(12)
            .map(|(k, t, v)| (&k[..], *t, &v[..]))
            .collect();
        let data = build(&refs, 3);
        let exercise = |d: &[u8]| -> Result<()> {
            let v = BlockView::new(d)?;
            v.validate()?;
            v.seek(b"key003", 0)?;
            if let Some(l) = v.last()? {
                v.prev_of(l.offset)?;
            }
            Ok(())
        };
        exercise(&data).unwrap();
        for cut in 0..data.len() {
            let _ = exercise(&data[..cut]);
        }
        for i in 0..data.len() {
            for bit in [0x01u8, 0x80, 0xff] {
                let mut d = data.clone();
                d[i] ^= bit;
                let _ = exercise(&d);
            }
        }
    }
}
