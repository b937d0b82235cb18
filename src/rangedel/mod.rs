//! Range tombstones in memory: the tombstone itself, how a user's range becomes one, the key
//! range of a table that holds some, and the pre-fragmented form reads and compactions query.
//!
//! A range tombstone `[start, end) @ seqno` deletes every version of every key in the range whose
//! seqno is below `seqno`, for readers whose snapshot is at or above `seqno`. It is written as one
//! batch entry ([`crate::format::ValueKind::RangeDelete`]), kept beside the point entries of a
//! memtable (never among them), and stored in an SSTable's range-tombstone block
//! (`format-spec/sstable.md`). A key is deleted for a read at snapshot `s` when some tombstone
//! covering it with seqno `<= s` is newer than the key's newest version visible at `s`.
//!
//! - [`fragments`]: [`Fragments`], tombstones cut into disjoint pieces, each with the seqnos of
//!   every tombstone over it, so one binary search answers "the newest tombstone over this key
//!   visible at `s`". Versions and memtables cache theirs ([`LazyFragments`], the memtable's own).
//! - [`TombstoneSet`]: the fragment lists of every source of one read (memtables and tables).
//! - [`UpperLimit`]: the top of a table's key range, which a tombstone can make exclusive or
//!   unbounded (the sentinel trailers of `format::sst`).

pub mod fragments;

use std::ops::Bound;
use std::sync::{Arc, OnceLock};

pub use fragments::{Fragment, FragmentCursor, Fragments};

use crate::format::{MAX_KEY_SIZE, RangeEnd};
use crate::key::SeqNo;

/// One range tombstone: every key in `[start, end)` is deleted as of `seqno`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RangeTombstone {
    /// Inclusive start.
    pub start: Vec<u8>,
    /// Exclusive end, or no end.
    pub end: RangeEnd,
    pub seqno: SeqNo,
}

impl RangeTombstone {
    /// Whether `key` lies in the range.
    #[cfg(any(test, feature = "internal"))]
    pub fn covers(&self, key: &[u8]) -> bool {
        self.end.contains(&self.start, key)
    }

    /// Whether the range holds no key (`start >= end`).
    pub fn is_empty(&self) -> bool {
        !self.end.is_above(&self.start)
    }

    /// Bytes of keys it holds (for memory accounting).
    pub fn key_bytes(&self) -> usize {
        self.start.len()
            + match &self.end {
                RangeEnd::Before(e) => e.len(),
                RangeEnd::Unbounded => 0,
            }
    }
}

/// The tombstone `[start, end)` that deletes exactly the keys of the user's range `(lower,
/// upper)`, or `None` when that range holds no key. `Excluded(a)` starts at `a ++ [0]` (the
/// next key), except that a key of `MAX_KEY_SIZE` bytes has no longer successor: there the
/// next valid key is [`crate::prefix_upper_bound`]`(a)` (and there is none after all 0xff).
/// `Included(b)` ends before `b ++ [0]`, which may be `MAX_KEY_SIZE + 1` bytes long. Bounds
/// longer than a key may be are kept as they are: the write is then refused as too large.
pub fn range_to_tombstone(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Option<(Vec<u8>, RangeEnd)> {
    let start = match lower {
        Bound::Unbounded => Vec::new(),
        Bound::Included(a) => a.to_vec(),
        Bound::Excluded(a) if a.len() == MAX_KEY_SIZE => crate::key::prefix_upper_bound(a)?,
        Bound::Excluded(a) => successor(a),
    };
    let end = match upper {
        Bound::Unbounded => RangeEnd::Unbounded,
        Bound::Excluded(b) => RangeEnd::Before(b.to_vec()),
        Bound::Included(b) => RangeEnd::Before(successor(b)),
    };
    end.is_above(&start).then_some((start, end))
}

/// The tombstone deleting every key that starts with `prefix`: `[prefix, prefix_upper_bound)`,
/// unbounded when the prefix is empty or all 0xff.
pub fn prefix_to_tombstone(prefix: &[u8]) -> (Vec<u8>, RangeEnd) {
    let end = crate::key::prefix_upper_bound(prefix).map_or(RangeEnd::Unbounded, RangeEnd::Before);
    (prefix.to_vec(), end)
}

/// `k ++ [0]`: the smallest key above `k`.
fn successor(k: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(k.len() + 1);
    v.extend_from_slice(k);
    v.push(0);
    v
}

/// The largest valid user key (`MAX_KEY_SIZE` bytes of 0xff): at or above every key, so a
/// table whose key range has no end reports it as its largest user key to code that compares
/// closed ranges (the compaction picker, overlap checks).
pub static MAX_USER_KEY: [u8; MAX_KEY_SIZE] = [0xff; MAX_KEY_SIZE];

/// The top of a table's key range. A table's largest key is its last entry's (inclusive), or,
/// when it holds range tombstones reaching further, the end of the furthest one: exclusive, or
/// none at all. `format-spec/sstable.md`, "Key range of a table".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpperLimit<'a> {
    /// Keys up to and including this one.
    Inclusive(&'a [u8]),
    /// Keys below this one.
    Exclusive(&'a [u8]),
    /// Every key.
    Unbounded,
}

impl<'a> UpperLimit<'a> {
    /// Whether `key` is at or below the limit.
    pub fn reaches(&self, key: &[u8]) -> bool {
        match self {
            UpperLimit::Inclusive(l) => key <= *l,
            UpperLimit::Exclusive(e) => key < *e,
            UpperLimit::Unbounded => true,
        }
    }

    /// The limit as the top of a closed range (conservative: an exclusive end is included, no end
    /// is [`MAX_USER_KEY`]).
    pub fn closed(&self) -> &'a [u8] {
        match self {
            UpperLimit::Inclusive(k) | UpperLimit::Exclusive(k) => k,
            UpperLimit::Unbounded => &MAX_USER_KEY,
        }
    }

    /// Whether a fragment ending at `end` reaches past the limit (covers everything up to it).
    pub fn is_within(&self, end: &RangeEnd) -> bool {
        match (self, end) {
            (_, RangeEnd::Unbounded) => true,
            (UpperLimit::Unbounded, RangeEnd::Before(_)) => false,
            (UpperLimit::Inclusive(l), RangeEnd::Before(e)) => *l < e.as_slice(),
            (UpperLimit::Exclusive(l), RangeEnd::Before(e)) => *l <= e.as_slice(),
        }
    }
}

/// A cache of the fragments of an immutable set of tombstones (a version's tables), computed on
/// first use. Cloning gives an empty cache: a clone is about to be changed (a new version is
/// built by cloning the old one and editing its levels).
#[derive(Default)]
pub struct LazyFragments(OnceLock<Arc<Fragments>>);

impl Clone for LazyFragments {
    fn clone(&self) -> Self {
        LazyFragments::default()
    }
}

impl LazyFragments {
    /// The fragments, computed by `build` the first time.
    pub fn get_or_build(&self, build: impl FnOnce() -> Fragments) -> &Arc<Fragments> {
        self.0.get_or_init(|| Arc::new(build()))
    }
}

/// The range tombstones one read sees: the fragment lists of its sources (memtables, the
/// tables of a version), each queried on its own. Empty for the common case of no tombstones.
#[derive(Debug, Clone, Default)]
pub struct TombstoneSet {
    lists: Vec<Arc<Fragments>>,
}

impl TombstoneSet {
    /// Adds the fragments of one source (ignored when empty).
    pub fn push(&mut self, f: Arc<Fragments>) {
        if !f.is_empty() {
            self.lists.push(f);
        }
    }

    /// True when no source has a tombstone.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// The newest tombstone over `key` visible at `snapshot`: its seqno, and the piece of that
    /// source's fragments holding `key`, over every key of which the same tombstone stands (so
    /// every version in the piece older than the seqno is deleted at `snapshot`).
    pub fn covering(&self, key: &[u8], snapshot: SeqNo) -> Option<(SeqNo, &Fragment)> {
        let mut best: Option<(SeqNo, &Fragment)> = None;
        for f in &self.lists {
            if let Some(piece) = f.find(key)
                && let Some(s) = piece.newest_at(snapshot)
                && best.is_none_or(|(b, _)| s > b)
            {
                best = Some((s, piece));
            }
        }
        best
    }

    /// Every source's pieces cut into one set of pieces, each listing the newest seqno of every
    /// source's piece over it (what a reader at the newest snapshot sees).
    pub fn merged(&self) -> Fragments {
        if let [one] = self.lists.as_slice() {
            return Fragments::clone(one);
        }
        let newest: Vec<RangeTombstone> = self
            .lists
            .iter()
            .flat_map(|f| f.iter())
            .filter_map(|p| {
                Some(RangeTombstone {
                    start: p.start.clone(),
                    end: p.end.clone(),
                    seqno: *p.seqnos.first()?,
                })
            })
            .collect();
        Fragments::new(&newest)
    }

    /// Whether one source's tombstones, visible at `snapshot` and newer than `max_seqno`, cover
    /// every key from `smallest` up to `upper`: then a table with that range and largest seqno
    /// holds nothing a read at `snapshot` can see.
    pub fn covers_table(
        &self,
        smallest: &[u8],
        upper: UpperLimit<'_>,
        max_seqno: SeqNo,
        snapshot: SeqNo,
    ) -> bool {
        self.lists
            .iter()
            .any(|f| f.covers_range(smallest, upper, max_seqno, snapshot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before(k: &[u8]) -> RangeEnd {
        RangeEnd::Before(k.to_vec())
    }

    #[test]
    fn user_ranges_become_half_open_tombstones() {
        use Bound::*;
        let t = |l: Bound<&[u8]>, u: Bound<&[u8]>| range_to_tombstone(l, u);
        assert_eq!(
            t(Included(b"a"), Excluded(b"c")),
            Some((b"a".to_vec(), before(b"c")))
        );
        assert_eq!(
            t(Excluded(b"a"), Included(b"c")),
            Some((b"a\0".to_vec(), before(b"c\0")))
        );
        assert_eq!(
            t(Unbounded, Unbounded),
            Some((Vec::new(), RangeEnd::Unbounded))
        );
        // Empty ranges write nothing.
        assert_eq!(t(Included(b"c"), Excluded(b"c")), None);
        assert_eq!(t(Included(b"d"), Excluded(b"c")), None);
        assert_eq!(t(Excluded(b"c"), Included(b"c")), None);
        assert_eq!(t(Excluded(b"c"), Excluded(b"c\0")), None);
        assert_eq!(
            t(Included(b"c"), Included(b"c")),
            Some((b"c".to_vec(), before(b"c\0")))
        );
        // A maximal key has no longer successor: the next valid key is the prefix bound.
        let mut max = vec![b'a'; MAX_KEY_SIZE];
        *max.last_mut().unwrap() = 0xff;
        let mut next = vec![b'a'; MAX_KEY_SIZE - 1];
        *next.last_mut().unwrap() = b'b';
        assert_eq!(t(Excluded(&max), Unbounded), Some((next, RangeEnd::Unbounded)));
        assert_eq!(t(Excluded(&MAX_USER_KEY[..]), Unbounded), None);
        assert_eq!(
            t(Unbounded, Included(&MAX_USER_KEY[..])).map(|(_, e)| e),
            Some(RangeEnd::Before([&MAX_USER_KEY[..], &[0]].concat()))
        );
    }

    #[test]
    fn prefixes_become_tombstones() {
        assert_eq!(prefix_to_tombstone(b"ab"), (b"ab".to_vec(), before(b"ac")));
        assert_eq!(prefix_to_tombstone(b"a\xff"), (b"a\xff".to_vec(), before(b"b")));
        assert_eq!(
            prefix_to_tombstone(b"\xff\xff"),
            (b"\xff\xff".to_vec(), RangeEnd::Unbounded)
        );
        assert_eq!(prefix_to_tombstone(b""), (Vec::new(), RangeEnd::Unbounded));
    }

    #[test]
    fn upper_limits() {
        let i = UpperLimit::Inclusive(b"m");
        let e = UpperLimit::Exclusive(b"m");
        assert!(i.reaches(b"m") && !e.reaches(b"m") && e.reaches(b"l"));
        assert!(UpperLimit::Unbounded.reaches(&MAX_USER_KEY));
        assert_eq!(UpperLimit::Unbounded.closed(), &MAX_USER_KEY[..]);
        assert!(i.is_within(&before(b"m\0")) && !i.is_within(&before(b"m")));
        assert!(e.is_within(&before(b"m")) && !e.is_within(&before(b"l")));
        assert!(!UpperLimit::Unbounded.is_within(&before(b"z")));
        assert!(UpperLimit::Unbounded.is_within(&RangeEnd::Unbounded));
    }

    #[test]
    fn a_set_takes_the_newest_visible_tombstone_of_any_source() {
        let ts = |v: &[(&[u8], &[u8], u64)]| {
            let ts: Vec<RangeTombstone> = v
                .iter()
                .map(|(s, e, q)| RangeTombstone {
                    start: s.to_vec(),
                    end: before(e),
                    seqno: *q,
                })
                .collect();
            Arc::new(Fragments::new(&ts))
        };
        let mut set = TombstoneSet::default();
        let max_covering = |set: &TombstoneSet, k: &[u8], s| set.covering(k, s).map(|c| c.0);
        assert!(set.is_empty() && set.covering(b"b", 100).is_none());
        set.push(ts(&[]));
        assert!(set.is_empty());
        set.push(ts(&[(b"a", b"c", 5)]));
        set.push(ts(&[(b"b", b"d", 9)]));
        assert_eq!(max_covering(&set, b"b", 100), Some(9));
        assert_eq!(max_covering(&set, b"b", 8), Some(5));
        assert_eq!(max_covering(&set, b"c", 8), None);
        // The covering piece is the newest source's; at an older snapshot, the older one's.
        let (s, piece) = set.covering(b"b", 100).unwrap();
        assert_eq!((s, &piece.start[..], &piece.end), (9, &b"b"[..], &before(b"d")));
        let (s, piece) = set.covering(b"b", 8).unwrap();
        assert_eq!((s, &piece.start[..], &piece.end), (5, &b"a"[..], &before(b"c")));
        assert!(set.covering(b"c", 8).is_none() && set.covering(b"e", 100).is_none());
        assert!(set.covers_table(b"b", UpperLimit::Exclusive(b"d"), 8, 9));
        assert!(!set.covers_table(b"b", UpperLimit::Inclusive(b"d"), 8, 9));
        assert!(!set.covers_table(b"b", UpperLimit::Exclusive(b"d"), 9, 9));
    }
}
