//! A merging cursor over many sorted sources, moving in one direction.
//!
//! A binary heap of child indices, ordered by each child's current internal key (smallest on top
//! going forward, largest going backward). Seqnos are unique, so no two children are ever at the
//! same internal key; ties are broken by child index anyway (lower index = newer source).
//!
//! Each heap slot caches the first 16 bytes of its child's key, the key's length and the entry's
//! trailer, so comparisons while re-ordering the heap are integer comparisons instead of four
//! calls through the children's vtables and a `memcmp` (the heap was a quarter of a
//! seek-and-scan's instructions); only two keys longer than 16 bytes that share their first 16
//! are compared in full. The same fields tell [`MergeCursor::at_key`] whether the next entry is
//! another version of a key without reading it.

use std::cmp::Ordering;

use super::InternalCursor;
use crate::error::Result;
use crate::format::RangeEnd;
use crate::key::{SeqNo, cmp_internal};

pub(crate) struct MergeCursor {
    children: Vec<Box<dyn InternalCursor>>,
    heap: Vec<Slot>,
    forward: bool,
}

/// A heap entry: a child, and the first 16 bytes of its current user key (big-endian, zero
/// padded; keys whose prefixes differ are ordered as their prefixes, see `before`), that key's
/// length (saturated at `u32::MAX`) and the entry's trailer.
#[derive(Clone, Copy)]
struct Slot {
    prefix: u128,
    trailer: u64,
    len: u32,
    child: u32,
}

/// A user key as the heap compares it: its [`prefix16`] and length (saturated at `u32::MAX`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyMark {
    prefix: u128,
    len: u32,
}

/// Keys up to this long are told apart by their [`prefix16`] and length alone.
const PREFIX_BYTES: u32 = 16;

fn len32(key: &[u8]) -> u32 {
    u32::try_from(key.len()).unwrap_or(u32::MAX)
}

/// The first 16 bytes of `key`, big-endian, zero padded: the order of two keys' prefixes is
/// the order of the keys whenever the prefixes differ.
pub(crate) fn prefix16(key: &[u8]) -> u128 {
    let mut p = [0u8; 16];
    let n = key.len().min(16);
    if let (Some(dst), Some(src)) = (p.get_mut(..n), key.get(..n)) {
        dst.copy_from_slice(src);
    }
    u128::from_be_bytes(p)
}

impl MergeCursor {
    pub fn new(children: Vec<Box<dyn InternalCursor>>, forward: bool) -> Self {
        MergeCursor {
            children,
            heap: Vec::new(),
            forward,
        }
    }

    fn slot(&self, child: usize) -> Slot {
        let (prefix, len, trailer) = self.children.get(child).map_or((0, 0, 0), |c| {
            let k = c.user_key();
            (prefix16(k), len32(k), c.trailer())
        });
        Slot {
            prefix,
            trailer,
            len,
            child: u32::try_from(child).unwrap_or(u32::MAX),
        }
    }

    /// The order of the internal keys of two slots.
    ///
    /// Different prefixes order the keys (at the first differing byte both keys have a byte, or
    /// one has ended, padded with 0, and the other has a byte above 0). With equal prefixes and
    /// one key at most 16 bytes long, that key is a prefix of the other (whose bytes up to 16
    /// are zero): the shorter key is the smaller, and equal lengths mean equal keys. Only two
    /// longer keys are compared in full.
    fn cmp_slots(&self, a: Slot, b: Slot) -> Ordering {
        if a.prefix != b.prefix {
            return a.prefix.cmp(&b.prefix);
        }
        if a.len <= PREFIX_BYTES || b.len <= PREFIX_BYTES {
            return a.len.cmp(&b.len).then(b.trailer.cmp(&a.trailer));
        }
        let key = |s: Slot| {
            self.children
                .get(s.child as usize)
                .map_or(&[][..], |c| c.user_key())
        };
        cmp_internal(key(a), a.trailer, key(b), b.trailer)
    }

    /// True when `a` should be above `b` in the heap (ties, which unique seqnos rule out, go
    /// to the lower child index, the newer source).
    #[inline]
    fn before(&self, a: Slot, b: Slot) -> bool {
        if a.prefix != b.prefix {
            return (a.prefix < b.prefix) == self.forward;
        }
        let o = self.cmp_slots(a, b);
        let o = if self.forward { o } else { o.reverse() };
        match o {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => a.child < b.child,
        }
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "hot path: heap positions are < heap.len() and heap entries < children.len()"
    )]
    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && self.before(self.heap[l], self.heap[best]) {
                best = l;
            }
            if r < n && self.before(self.heap[r], self.heap[best]) {
                best = r;
            }
            if best == i {
                return;
            }
            self.heap.swap(i, best);
            i = best;
        }
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "hot path: heap positions are < heap.len() and heap entries < children.len()"
    )]
    fn rebuild(&mut self) {
        self.heap = (0..self.children.len())
            .filter(|&i| self.children[i].valid())
            .map(|i| self.slot(i))
            .collect();
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
    }

    /// Positions every child at its first entry >= (key, trailer) going forward, or its last
    /// entry <= (key, trailer) going backward; `None` means the start of the direction.
    pub fn seek(&mut self, target: Option<(&[u8], u64)>) -> Result<()> {
        for c in &mut self.children {
            match (target, self.forward) {
                (None, true) => c.seek_to_first()?,
                (None, false) => c.seek_to_last()?,
                (Some((k, t)), true) => c.seek(k, t)?,
                (Some((k, t)), false) => c.seek_for_prev(k, t)?,
            }
        }
        self.rebuild();
        Ok(())
    }

    /// The child at the current position.
    pub fn current(&self) -> Option<&dyn InternalCursor> {
        let i = self.heap.first()?.child;
        self.children.get(i as usize).map(|c| &**c)
    }

    /// The trailer of the entry at the current position (0 when there is none).
    pub fn current_trailer(&self) -> u64 {
        self.heap.first().map_or(0, |s| s.trailer)
    }

    /// Whether the entry at the current position has user key `key`, whose [`prefix16`] is
    /// `prefix`. Reads the key only when it is longer than 16 bytes and its prefix and length
    /// match.
    pub fn at_key(&self, key: &[u8], prefix: u128) -> bool {
        self.at_key_of(KeyMark {
            prefix,
            len: len32(key),
        }, key)
    }

    /// The [`KeyMark`] of the user key at the current position (zero when there is none): what
    /// [`MergeCursor::at_key_of`] needs to recognise the key's other versions, read from the
    /// heap without a call to the child.
    pub fn current_mark(&self) -> KeyMark {
        self.heap.first().map_or(KeyMark::default(), |s| KeyMark {
            prefix: s.prefix,
            len: s.len,
        })
    }

    /// [`MergeCursor::at_key`] for the key marked `mark`; `long_key` is read only when the key is
    /// longer than 16 bytes (it must then be the whole key; it may be empty otherwise).
    pub fn at_key_of(&self, mark: KeyMark, long_key: &[u8]) -> bool {
        let Some(&s) = self.heap.first() else {
            return false;
        };
        if s.prefix != mark.prefix || s.len != mark.len {
            return false;
        }
        s.len <= PREFIX_BYTES
            || self
                .children
                .get(s.child as usize)
                .is_some_and(|c| c.user_key() == long_key)
    }

    /// Whether keys marked `mark` are told apart by their mark alone (at most 16 bytes long).
    pub fn mark_is_whole(mark: KeyMark) -> bool {
        mark.len <= PREFIX_BYTES
    }

    /// Moves one entry in this cursor's direction.
    #[expect(
        clippy::indexing_slicing,
        reason = "hot path: heap positions are < heap.len() and heap entries < children.len()"
    )]
    pub fn advance(&mut self) -> Result<()> {
        let Some(&Slot { child: top, .. }) = self.heap.first() else {
            return Ok(());
        };
        let top = top as usize;
        let c = &mut self.children[top];
        if self.forward {
            c.next()?;
        } else {
            c.prev()?;
        }
        if c.valid() {
            self.heap[0] = self.slot(top);
        } else {
            let last = self.heap.len() - 1;
            self.heap.swap(0, last);
            self.heap.pop();
        }
        // One source left (a scan of a compacted tree): nothing to reorder.
        if self.heap.len() > 1 {
            self.sift_down(0);
        }
        Ok(())
    }

    /// Moves past the piece `[start, end)` of a range tombstone at `seqno` every source whose
    /// entries are all older than it (its `max_seqno` is at most `seqno`, which, seqnos being
    /// unique, no point entry of that source can equal): their entries in the piece are deleted
    /// for any reader that sees the tombstone, so walking them one by one would only discard
    /// them. Going forward a source moves to its first entry at or after `end`; going backward,
    /// to its last entry before `start`. Sources already past the piece, or with newer entries,
    /// stay where they are. Returns how many sources moved.
    pub fn skip_covered(&mut self, start: &[u8], end: &RangeEnd, seqno: SeqNo) -> Result<usize> {
        let mut moved = 0;
        for i in 0..self.heap.len() {
            let Some(c) = self
                .heap
                .get(i)
                .and_then(|s| self.children.get_mut(s.child as usize))
            else {
                continue;
            };
            if c.max_seqno() > seqno {
                continue;
            }
            if self.forward {
                if !end.is_above(c.user_key()) {
                    continue;
                }
                match end {
                    RangeEnd::Before(e) => c.seek(e, u64::MAX)?,
                    RangeEnd::Unbounded => {
                        c.seek_to_last()?;
                        c.next()?;
                    }
                }
            } else {
                if c.user_key() < start {
                    continue;
                }
                // (start, MAX) sorts before every version of `start`.
                c.seek_for_prev(start, u64::MAX)?;
            }
            moved += 1;
        }
        if moved > 0 {
            self.rebuild();
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use bytes::Bytes;

    use super::*;
    use crate::key::{ValueKind, pack_trailer};
    use crate::value::{Key, Value};

    /// A cursor over sorted `(user key, trailer)` pairs in memory.
    struct VecCursor {
        entries: Vec<(Vec<u8>, u64)>,
        pos: Option<usize>,
    }

    impl VecCursor {
        fn at(&mut self, i: Option<usize>) {
            self.pos = i.filter(|&i| i < self.entries.len());
        }
        fn first_where(&self, f: impl Fn(&(Vec<u8>, u64)) -> bool) -> Option<usize> {
            self.entries.iter().position(f)
        }
    }

    impl InternalCursor for VecCursor {
        fn valid(&self) -> bool {
            self.pos.is_some()
        }
        fn seek_to_first(&mut self) -> Result<()> {
            self.at(Some(0));
            Ok(())
        }
        fn seek_to_last(&mut self) -> Result<()> {
            self.at(self.entries.len().checked_sub(1));
            Ok(())
        }
        fn seek(&mut self, k: &[u8], t: u64) -> Result<()> {
            let i = self.first_where(|(ek, et)| cmp_internal(ek, *et, k, t).is_ge());
            self.at(i);
            Ok(())
        }
        fn seek_for_prev(&mut self, k: &[u8], t: u64) -> Result<()> {
            let i = self.entries.iter().rposition(|(ek, et)| cmp_internal(ek, *et, k, t).is_le());
            self.at(i);
            Ok(())
        }
        fn next(&mut self) -> Result<()> {
            self.at(self.pos.map(|p| p + 1));
            Ok(())
        }
        fn prev(&mut self) -> Result<()> {
            self.at(self.pos.and_then(|p| p.checked_sub(1)));
            Ok(())
        }
        fn user_key(&self) -> &[u8] {
            &self.entries[self.pos.unwrap()].0
        }
        fn trailer(&self) -> u64 {
            self.entries[self.pos.unwrap()].1
        }
        fn value(&self) -> Value {
            Value::from_bytes(Bytes::new())
        }
        fn value_slice(&self) -> &[u8] {
            &[]
        }
        fn key(&self) -> Key {
            Key::from_bytes(Bytes::copy_from_slice(self.user_key()))
        }
        fn max_seqno(&self) -> SeqNo {
            self.entries
                .iter()
                .map(|e| crate::key::unpack_trailer(e.1).0)
                .max()
                .unwrap_or(0)
        }
    }

    fn vec_cursor(entries: &[(&[u8], u64)]) -> Box<dyn InternalCursor> {
        Box::new(VecCursor {
            entries: entries
                .iter()
                .map(|(k, s)| (k.to_vec(), pack_trailer(*s, ValueKind::Put)))
                .collect(),
            pos: None,
        })
    }

    /// Merged `(key, seqno)`s from the cursor's position on.
    fn drain(m: &mut MergeCursor) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        while let Some(c) = m.current() {
            out.push((c.user_key().to_vec(), crate::key::unpack_trailer(c.trailer()).0));
            m.advance().unwrap();
        }
        out
    }

    /// A tombstone piece `[b, e) @ 10` moves the sources whose seqnos are all at most 10 past
    /// the piece (forward: to `e`, backward: before `b`); a source with a newer entry, and one
    /// already past the piece, stay where they are.
    #[test]
    fn skip_covered_moves_only_older_sources_past_the_piece() {
        let sources = || {
            vec![
                // Newer than the tombstone: keeps its entries in the piece.
                vec_cursor(&[(b"c", 11), (b"d", 3)]),
                // All older: skipped over the piece.
                vec_cursor(&[(b"a", 1), (b"b", 2), (b"c", 4), (b"d", 5), (b"e", 6), (b"f", 7)]),
                // Holds the tombstone's own seqno at most: skipped too.
                vec_cursor(&[(b"b", 8), (b"d", 9), (b"g", 10)]),
            ]
        };
        let end = RangeEnd::Before(b"e".to_vec());
        let mut m = MergeCursor::new(sources(), true);
        m.seek(Some((b"b", u64::MAX))).unwrap();
        assert_eq!(m.skip_covered(b"b", &end, 10).unwrap(), 2);
        let got = drain(&mut m);
        let want: Vec<(Vec<u8>, u64)> = [(b"c", 11), (b"d", 3), (b"e", 6), (b"f", 7), (b"g", 10)]
            .iter()
            .map(|(k, s)| (k.to_vec(), *s))
            .collect();
        assert_eq!(got, want);

        let mut m = MergeCursor::new(sources(), false);
        m.seek(Some((b"d", 0))).unwrap();
        assert_eq!(m.skip_covered(b"b", &end, 10).unwrap(), 2);
        let got = drain(&mut m);
        let want: Vec<(Vec<u8>, u64)> = [(b"d", 3), (b"c", 11), (b"a", 1)]
            .iter()
            .map(|(k, s)| (k.to_vec(), *s))
            .collect();
        assert_eq!(got, want);

        // No end: the older sources run out; nothing older than the tombstone: nothing moves.
        let mut m = MergeCursor::new(sources(), true);
        m.seek(Some((b"b", u64::MAX))).unwrap();
        assert_eq!(m.skip_covered(b"b", &RangeEnd::Unbounded, 10).unwrap(), 2);
        assert_eq!(drain(&mut m), vec![(b"c".to_vec(), 11), (b"d".to_vec(), 3)]);
        let mut m = MergeCursor::new(sources(), true);
        m.seek(Some((b"b", u64::MAX))).unwrap();
        assert_eq!(m.skip_covered(b"b", &end, 6).unwrap(), 0);
        assert_eq!(drain(&mut m).len(), 10);
    }

    /// Keys that share their first 16 bytes, or end inside them with zero bytes after a common
    /// start ("a" and "a\0" have the same zero-padded prefix), and keys longer than 16 bytes that
    /// differ only past byte 16: the cases the slot comparison decides without reading keys or
    /// has to read them for. Forward and backward merges must give the exact internal-key order,
    /// and `at_key` must say whether the next entry has the same user key.
    #[test]
    fn slots_order_keys_with_equal_prefixes_exactly() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut all: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut children: Vec<Vec<(Vec<u8>, u64)>> = vec![Vec::new(); 4];
        // Beside random keys, keys of 17 and 18 bytes whose first 16 bytes are equal, some of
        // them neighbours of the same length.
        let long = |i: u64| {
            let mut k = b"user:00000000000".to_vec();
            if i.is_multiple_of(4) {
                k.extend_from_slice(b"cd");
            } else {
                k.push([b'a', b'b', 0][(i % 3) as usize]);
            }
            k
        };
        for seq in 1..=800u64 {
            let mut key = b"user:0000000".to_vec();
            key.truncate(rand(13) as usize);
            for _ in 0..rand(10) {
                key.push([0u8, 1, b'z', 0xff][rand(4) as usize]);
            }
            if seq % 4 == 0 {
                key = long(rand(12));
            }
            let t = pack_trailer(seq, ValueKind::Put);
            all.push((key.clone(), t));
            children[rand(4) as usize].push((key, t));
        }
        all.sort_by(|a, b| cmp_internal(&a.0, a.1, &b.0, b.1));
        for c in &mut children {
            c.sort_by(|a, b| cmp_internal(&a.0, a.1, &b.0, b.1));
        }
        for forward in [true, false] {
            let cursors: Vec<Box<dyn InternalCursor>> = children
                .iter()
                .map(|e| {
                    Box::new(VecCursor {
                        entries: e.clone(),
                        pos: None,
                    }) as Box<dyn InternalCursor>
                })
                .collect();
            let mut m = MergeCursor::new(cursors, forward);
            m.seek(None).unwrap();
            let mut got = Vec::new();
            while let Some(c) = m.current() {
                let (key, trailer) = (c.user_key().to_vec(), c.trailer());
                assert_eq!(m.current_trailer(), trailer);
                m.advance().unwrap();
                let same = m.current().is_some_and(|n| n.user_key() == &key[..]);
                assert_eq!(m.at_key(&key, prefix16(&key)), same, "{key:?}");
                got.push((key, trailer));
            }
            let mut want = all.clone();
            if !forward {
                want.reverse();
            }
            assert_eq!(got, want, "forward: {forward}");
        }
    }
}
