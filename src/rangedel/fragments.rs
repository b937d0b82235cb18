//! [`Fragments`]: a set of range tombstones cut at every start and end into disjoint, sorted
//! pieces, each listing the seqnos of every tombstone over it (newest first).
//!
//! Overlapping tombstones `[a, d) @ 5` and `[b, f) @ 9` become `[a, b) {5}`, `[b, d) {9, 5}`,
//! `[d, f) {9}`. "The newest tombstone over `k` visible at `s`" is then a binary search for the
//! piece holding `k` and one for the first seqno `<= s` in its list; a compaction walks the pieces
//! in key order with a [`FragmentCursor`]. Neighbouring pieces with equal seqno lists are merged,
//! so one tombstone alone stays one piece. Building costs `O(n log n)` plus the output size
//! (quadratic only for deeply nested tombstones, inherent in listing every seqno of every piece).

use crate::format::RangeEnd;
use crate::key::SeqNo;

use super::{RangeTombstone, UpperLimit};

/// One piece: `[start, end)` and the seqnos of the tombstones over it, newest first, distinct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub start: Vec<u8>,
    pub end: RangeEnd,
    pub seqnos: Vec<SeqNo>,
}

impl Fragment {
    /// Whether `key` lies in the piece.
    pub fn covers(&self, key: &[u8]) -> bool {
        self.start.as_slice() <= key && self.end.is_above(key)
    }

    /// The newest seqno `<= snapshot`.
    pub fn newest_at(&self, snapshot: SeqNo) -> Option<SeqNo> {
        let i = self.seqnos.partition_point(|&s| s > snapshot);
        self.seqnos.get(i).copied()
    }
}

/// Disjoint tombstone pieces in key order. Immutable once built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragments {
    frags: Vec<Fragment>,
}

impl Fragments {
    /// Fragments `tombstones` (any order; empty ones are ignored).
    pub fn new<'a>(tombstones: impl IntoIterator<Item = &'a RangeTombstone>) -> Fragments {
        let mut ts: Vec<&RangeTombstone> = tombstones
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect();
        ts.sort_by(|a, b| a.start.cmp(&b.start));
        // Every start and every end is a boundary; pieces run from one boundary to the next.
        let mut bounds: Vec<&[u8]> = Vec::with_capacity(ts.len() * 2);
        for t in &ts {
            bounds.push(&t.start);
            if let RangeEnd::Before(e) = &t.end {
                bounds.push(e);
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        let mut frags: Vec<Fragment> = Vec::new();
        let mut active: Vec<&RangeTombstone> = Vec::new();
        let mut next_t = ts.iter().peekable();
        for (i, &b) in bounds.iter().enumerate() {
            while let Some(t) = next_t.next_if(|t| t.start.as_slice() <= b) {
                active.push(t);
            }
            active.retain(|t| t.end.is_above(b));
            if active.is_empty() {
                continue;
            }
            let end = bounds
                .get(i + 1)
                .map_or(RangeEnd::Unbounded, |n| RangeEnd::Before(n.to_vec()));
            let mut seqnos: Vec<SeqNo> = active.iter().map(|t| t.seqno).collect();
            seqnos.sort_unstable_by(|a, b| b.cmp(a));
            seqnos.dedup();
            match frags.last_mut() {
                Some(prev) if prev.seqnos == seqnos && prev.end == RangeEnd::Before(b.to_vec()) => {
                    prev.end = end;
                }
                _ => frags.push(Fragment {
                    start: b.to_vec(),
                    end,
                    seqnos,
                }),
            }
        }
        Fragments { frags }
    }

    /// No tombstone at all.
    pub fn is_empty(&self) -> bool {
        self.frags.is_empty()
    }

    /// The pieces, in key order.
    pub fn iter(&self) -> std::slice::Iter<'_, Fragment> {
        self.frags.iter()
    }

    /// Index of the piece holding `key`, if any.
    fn position(&self, key: &[u8]) -> Option<usize> {
        let i = self
            .frags
            .partition_point(|f| f.start.as_slice() <= key)
            .checked_sub(1)?;
        self.frags.get(i).filter(|f| f.end.is_above(key)).map(|_| i)
    }

    /// The piece holding `key`, if any.
    pub fn find(&self, key: &[u8]) -> Option<&Fragment> {
        self.frags.get(self.position(key)?)
    }

    /// The seqno of the newest tombstone over `key` with seqno `<= snapshot`.
    pub fn max_covering(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        if self.frags.is_empty() {
            return None;
        }
        self.find(key)?.newest_at(snapshot)
    }

    /// Whether tombstones with seqnos in `(above, at_most]` cover every key from `lower` up to
    /// `upper`, without a gap.
    pub fn covers_range(
        &self,
        lower: &[u8],
        upper: UpperLimit<'_>,
        above: SeqNo,
        at_most: SeqNo,
    ) -> bool {
        let Some(first) = self.position(lower) else {
            return false;
        };
        let mut expected_start: Option<&[u8]> = None;
        for f in self.frags.iter().skip(first) {
            if expected_start.is_some_and(|s| s != f.start.as_slice()) {
                return false; // a gap
            }
            if !f.seqnos.iter().any(|&s| s > above && s <= at_most) {
                return false;
            }
            if upper.is_within(&f.end) {
                return true;
            }
            match &f.end {
                RangeEnd::Before(e) => expected_start = Some(e),
                RangeEnd::Unbounded => return true,
            }
        }
        false
    }

    /// A cursor for keys visited in ascending order.
    pub fn cursor(&self) -> FragmentCursor<'_> {
        FragmentCursor { frags: self, i: 0 }
    }
}

/// Finds the pieces over keys given in ascending order, in amortized constant time.
#[derive(Debug, Clone)]
pub struct FragmentCursor<'a> {
    frags: &'a Fragments,
    i: usize,
}

impl<'a> FragmentCursor<'a> {
    /// The piece holding `key`. Requires: `key` is at or above every key asked before.
    pub fn seek_forward(&mut self, key: &[u8]) -> Option<&'a Fragment> {
        while let Some(f) = self.frags.frags.get(self.i) {
            if f.end.is_above(key) {
                return f.covers(key).then_some(f);
            }
            self.i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &[u8], e: Option<&[u8]>, seqno: u64) -> RangeTombstone {
        RangeTombstone {
            start: s.to_vec(),
            end: e.map_or(RangeEnd::Unbounded, |e| RangeEnd::Before(e.to_vec())),
            seqno,
        }
    }

    fn pieces(f: &Fragments) -> Vec<(String, String, Vec<u64>)> {
        f.iter()
            .map(|p| {
                let end = match &p.end {
                    RangeEnd::Before(e) => String::from_utf8_lossy(e).into_owned(),
                    RangeEnd::Unbounded => "inf".into(),
                };
                (String::from_utf8_lossy(&p.start).into_owned(), end, p.seqnos.clone())
            })
            .collect()
    }

    fn s(a: &str, b: &str, q: &[u64]) -> (String, String, Vec<u64>) {
        (a.into(), b.into(), q.to_vec())
    }

    #[test]
    fn overlapping_tombstones_are_cut_at_every_boundary() {
        let f = Fragments::new(&[
            t(b"b", Some(b"f"), 9),
            t(b"a", Some(b"d"), 5),
            t(b"x", None, 3),
            t(b"q", Some(b"q"), 7), // empty
        ]);
        assert_eq!(
            pieces(&f),
            vec![
                s("a", "b", &[5]),
                s("b", "d", &[9, 5]),
                s("d", "f", &[9]),
                s("x", "inf", &[3])
            ]
        );
        assert_eq!(f.max_covering(b"c", 100), Some(9));
        assert_eq!(f.max_covering(b"c", 8), Some(5));
        assert_eq!(f.max_covering(b"c", 4), None);
        assert_eq!(f.max_covering(b"f", 100), None);
        assert_eq!(f.max_covering(b"zzz", 100), Some(3));
        assert_eq!(f.max_covering(b"", 100), None);
    }

    #[test]
    fn equal_neighbours_merge_and_duplicates_collapse() {
        let f = Fragments::new(&[
            t(b"a", Some(b"c"), 4),
            t(b"c", Some(b"e"), 4),
            t(b"a", Some(b"e"), 4),
        ]);
        assert_eq!(pieces(&f), vec![s("a", "e", &[4])]);
    }

    #[test]
    fn range_coverage() {
        let f = Fragments::new(&[
            t(b"a", Some(b"d"), 5),
            t(b"d", Some(b"g"), 8),
            t(b"h", None, 9),
        ]);
        let inc = UpperLimit::Inclusive;
        let exc = UpperLimit::Exclusive;
        assert!(f.covers_range(b"a", inc(b"f"), 4, 100));
        assert!(f.covers_range(b"b", exc(b"g"), 4, 100));
        assert!(!f.covers_range(b"b", inc(b"g"), 4, 100), "g is not covered");
        assert!(!f.covers_range(b"a", inc(b"f"), 5, 100), "piece [a,d) is not newer than 5");
        assert!(!f.covers_range(b"a", inc(b"f"), 4, 7), "piece [d,g) is not visible at 7");
        assert!(f.covers_range(b"h", UpperLimit::Unbounded, 0, 9));
        assert!(f.covers_range(b"i", inc(&super::super::MAX_USER_KEY), 0, 9));
        assert!(!f.covers_range(b"f", inc(b"h"), 0, 100), "gap [g,h)");
        assert!(!f.covers_range(b"\0", inc(b"b"), 0, 100), "below every piece");
    }

    #[test]
    fn cursor_walks_ascending_keys() {
        let f = Fragments::new(&[t(b"b", Some(b"d"), 5), t(b"f", Some(b"g"), 6)]);
        let mut c = f.cursor();
        let seen: Vec<Option<u64>> = [&b"a"[..], b"b", b"c", b"d", b"e", b"f", b"g", b"z"]
            .iter()
            .map(|k| c.seek_forward(k).map(|p| p.seqnos[0]))
            .collect();
        assert_eq!(
            seen,
            vec![None, Some(5), Some(5), None, None, Some(6), None, None]
        );
    }

    proptest! {
        /// Fragments answer every (key, snapshot) as a scan of the raw tombstones does, and the
        /// cursor agrees with `find`.
        #[test]
        fn fragments_match_brute_force(
            raw in prop::collection::vec((0u8..8, prop::option::of(0u8..9), 1u64..20), 0..12),
            snapshot in 0u64..22,
        ) {
            let key = |b: u8| vec![b'a' + b];
            let ts: Vec<RangeTombstone> = raw
                .iter()
                .map(|(s, e, q)| RangeTombstone {
                    start: key(*s),
                    end: e.map_or(RangeEnd::Unbounded, |e| RangeEnd::Before(key(e))),
                    seqno: *q,
                })
                .collect();
            let f = Fragments::new(&ts);
            let mut c = f.cursor();
            for b in 0u8..10 {
                for k in [key(b), [key(b), vec![0]].concat()] {
                    let want = ts
                        .iter()
                        .filter(|t| t.covers(&k) && t.seqno <= snapshot)
                        .map(|t| t.seqno)
                        .max();
                    prop_assert_eq!(f.max_covering(&k, snapshot), want);
                    prop_assert_eq!(c.seek_forward(&k), f.find(&k));
                }
            }
            // Pieces are sorted, disjoint and non-empty.
            for w in f.iter().collect::<Vec<_>>().windows(2) {
                prop_assert!(!w[0].end.is_above(&w[1].start));
            }
            for p in f.iter() {
                prop_assert!(p.end.is_above(&p.start));
            }
        }
    }
}
