//! The range-tombstone block (SSTable version 2): every range tombstone of a table, sorted.
//!
//! ```text
//! payload = count u32 | count x (RangeTombstoneHeader | start | end)
//! RangeTombstoneHeader = seqno u64 | start_len u32 | end_len u32
//! end = 00 ++ exclusive end key | 01 (no end)      (format::RangeEnd encoding)
//! ```
//!
//! Entries are in strictly increasing `(start ascending, seqno descending)` order and each range is
//! non-empty (`start < end`). The block is decoded once, when the table is opened, through the
//! checked [`Cursor`]: every failure is [`crate::Error::Corruption`] at an offset relative to the
//! payload. See `format-spec/sstable.md` ("Range-tombstone block").

use std::cmp::Ordering;
use std::path::Path;

use zerocopy::IntoBytes;
use zerocopy::little_endian::{U32, U64};

use crate::error::Result;
use crate::format::codec::Cursor;
use crate::format::sst::{RANGE_DEL_COUNT_SIZE, RANGE_TOMBSTONE_HEADER_SIZE, RangeTombstoneHeader};
use crate::format::{MAX_KEY_SIZE, MAX_SEQNO, RangeEnd, len_u32};
use crate::rangedel::{RangeTombstone, UpperLimit};

use super::meta::TableMeta;

/// The block order: start ascending, then seqno descending (newest first).
pub fn block_order(a: &RangeTombstone, b: &RangeTombstone) -> Ordering {
    a.start.cmp(&b.start).then(b.seqno.cmp(&a.seqno))
}

/// Sorts `tombstones` into block order, drops empty ones, and merges entries with the same start
/// and seqno (pieces of one tombstone) into the longest.
pub fn normalize(tombstones: &mut Vec<RangeTombstone>) {
    tombstones.retain(|t| !t.is_empty());
    tombstones.sort_by(|a, b| block_order(a, b).then_with(|| b.end.cmp(&a.end)));
    // Longest end first among equal (start, seqno): keep the first.
    tombstones.dedup_by(|later, kept| block_order(later, kept) == Ordering::Equal);
}

/// The block payload. Requires: `tombstones` normalized ([`normalize`]), starts at most
/// `MAX_KEY_SIZE` bytes and ends at most `MAX_KEY_SIZE + 1`.
pub fn encode(tombstones: &[RangeTombstone]) -> Vec<u8> {
    let size: usize = tombstones
        .iter()
        .map(|t| RANGE_TOMBSTONE_HEADER_SIZE + t.key_bytes() + 1)
        .sum();
    let mut out = Vec::with_capacity(RANGE_DEL_COUNT_SIZE + size);
    out.extend_from_slice(&len_u32(tombstones.len()).to_le_bytes());
    let mut end = Vec::new();
    for t in tombstones {
        end.clear();
        t.end.encode(&mut end);
        let h = RangeTombstoneHeader {
            seqno: U64::new(t.seqno),
            start_len: U32::new(len_u32(t.start.len())),
            end_len: U32::new(len_u32(end.len())),
        };
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&t.start);
        out.extend_from_slice(&end);
    }
    out
}

/// Decodes and checks a block payload (any bytes: the fuzzing entry point).
pub fn decode(payload: &[u8]) -> Result<Vec<RangeTombstone>> {
    let mut c = Cursor::new(payload, Path::new(""), 0);
    let count = c.u32_le()? as usize;
    // Each entry takes at least its header and a one-byte end: bound the count before allocating.
    if count > c.remaining() / (RANGE_TOMBSTONE_HEADER_SIZE + 1) {
        return Err(c.error("range tombstone count exceeds the block"));
    }
    let mut out: Vec<RangeTombstone> = Vec::with_capacity(count);
    for _ in 0..count {
        let at = c.clone();
        let seqno = c.u64_le()?;
        let start_len = c.u32_le()? as usize;
        let end_len = c.u32_le()? as usize;
        if seqno > MAX_SEQNO {
            return Err(at.error("range tombstone seqno exceeds 56 bits"));
        }
        if start_len > MAX_KEY_SIZE {
            return Err(at.error("range tombstone start longer than a key"));
        }
        let start = c.take(start_len)?.to_vec();
        let end_at = c.clone();
        let end = RangeEnd::decode(c.take(end_len)?).map_err(|why| end_at.error(why))?;
        let t = RangeTombstone { start, end, seqno };
        if t.is_empty() {
            return Err(at.error("range tombstone is empty (start >= end)"));
        }
        if out
            .last()
            .is_some_and(|prev| block_order(prev, &t) != Ordering::Less)
        {
            return Err(at.error("range tombstones out of order"));
        }
        out.push(t);
    }
    if !c.is_empty() {
        return Err(c.error("bytes after the last range tombstone"));
    }
    Ok(out)
}

/// Checks that every tombstone lies in the table's key and seqno range as the meta block states
/// them (the builder makes it so; a reader must not trust it): a table is chosen for a key by that
/// range, so a tombstone outside it would be missed.
pub fn check_within(tombstones: &[RangeTombstone], meta: &TableMeta) -> Result<()> {
    let (lo, hi) = (meta.smallest_user_key(), meta.upper_limit());
    for t in tombstones {
        let within = lo <= t.start.as_slice()
            && match &t.end {
                RangeEnd::Unbounded => hi == UpperLimit::Unbounded,
                RangeEnd::Before(e) => hi == UpperLimit::Unbounded || hi.closed() >= e.as_slice(),
            }
            && (meta.min_seqno..=meta.max_seqno).contains(&t.seqno);
        if !within {
            return Err(crate::error::Error::corruption(
                Path::new(""),
                0,
                "a range tombstone lies outside the table's key or seqno range",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn t(s: &[u8], e: Option<&[u8]>, seqno: u64) -> RangeTombstone {
        RangeTombstone {
            start: s.to_vec(),
            end: e.map_or(RangeEnd::Unbounded, |e| RangeEnd::Before(e.to_vec())),
            seqno,
        }
    }

    #[test]
    fn round_trip_and_every_truncation() {
        let mut ts = vec![
            t(b"m", None, 3),
            t(b"a", Some(b"c"), 4),
            t(b"a", Some(b"b"), 9),
            t(b"a", Some(b"bb"), 4),
            t(b"q", Some(b"q"), 5),
            t(b"", Some(b"\0"), 1),
        ];
        normalize(&mut ts);
        assert_eq!(
            ts,
            vec![
                t(b"", Some(b"\0"), 1),
                t(b"a", Some(b"b"), 9),
                t(b"a", Some(b"c"), 4),
                t(b"m", None, 3)
            ]
        );
        let enc = encode(&ts);
        assert_eq!(decode(&enc).unwrap(), ts);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).unwrap_err().is_corruption(), "cut {cut}");
        }
        let mut longer = enc.clone();
        longer.push(0);
        assert!(decode(&longer).unwrap_err().is_corruption());
    }

    #[test]
    fn bad_entries_are_corruption() {
        let bad = |ts: &[RangeTombstone]| decode(&encode(ts)).unwrap_err().is_corruption();
        assert!(bad(&[t(b"b", Some(b"a"), 1)]), "empty range");
        assert!(bad(&[t(b"b", Some(b"c"), 1), t(b"a", Some(b"c"), 1)]), "start order");
        assert!(bad(&[t(b"a", Some(b"c"), 1), t(b"a", Some(b"c"), 2)]), "seqno order");
        assert!(bad(&[t(b"a", Some(b"c"), 1 << 56)]), "seqno too large");
        // Damage to the header fields.
        let enc = encode(&[t(b"a", Some(b"c"), 1)]);
        for (at, v) in [(0, 9u32), (12, 1 << 20), (16, 0), (16, 100)] {
            let mut d = enc.clone();
            d[at..at + 4].copy_from_slice(&v.to_le_bytes());
            assert!(decode(&d).unwrap_err().is_corruption(), "{at} = {v}");
        }
        let mut d = enc.clone();
        d[RANGE_DEL_COUNT_SIZE + RANGE_TOMBSTONE_HEADER_SIZE + 1] = 7; // end tag
        assert!(decode(&d).unwrap_err().is_corruption());
    }
}
