//! The memtable: a concurrent ordered map of internal keys (an arena skiplist, see [`skiplist`]),
//! with byte accounting, and beside it the range tombstones written to it (`range_dels`: never
//! point entries, so point reads and cursors of a memtable without them pay nothing).
//!
//! Each entry (node, key and value) is copied into the skiplist's arena of anonymous mappings; the
//! value handed to readers is a zero-copy slice of its chunk. Entries are never removed or
//! replaced (every write has a fresh seqno), so readers need no lock and see inserts as they land;
//! visibility is decided by the reader's snapshot seqno, which the write path publishes only after
//! a whole batch is inserted.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use crate::format::RangeEnd;
use crate::key::{SeqNo, ValueKind, seek_trailer};
use crate::rangedel::{RangeTombstone, TombstoneSet};
use crate::value::{Key, Value};

mod key_filter;
mod range_dels;
mod skiplist;

use key_filter::KeyFilter;

use skiplist::{Pos, Probe, SkipList};

/// Memory counted per range tombstone besides its keys (its entry in the tombstone list and its
/// share of the fragments).
const RANGE_TOMBSTONE_OVERHEAD: usize = 120;

/// Key filter bits per byte of a memtable's size limit (see [`Memtable::with_key_filter`]): one
/// bit per 16 bytes, about 10 bits per entry of a 16-byte key and a 100-byte value (170 bytes in
/// the skiplist), and a filter of 1/128 of the memtable's size.
const KEY_FILTER_BYTES_PER_BIT: usize = 16;

/// One version of a key, as read from a memtable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg(any(test, feature = "internal"))]
pub struct MemEntry {
    pub user_key: Key,
    pub trailer: u64,
    pub value: Value,
}

/// A concurrent, ordered, append-only map of internal keys to values.
pub struct Memtable {
    list: SkipList,
    bytes: AtomicUsize,
    entries: AtomicU64,
    tombstones: AtomicU64,
    max_seqno: AtomicU64,
    /// Smallest seqno of a point entry.
    min_seqno: AtomicU64,
    /// Range tombstones, beside the point entries.
    range_dels: range_dels::MemRangeDels,
    /// The WAL segment that was current when this memtable was created (orders memtables).
    wal_number: u64,
    /// The WAL segment of the first write inserted (0: none yet). Memtables of different
    /// keyspaces share segments, so a memtable may hold writes of several segments from this one
    /// on; the segments below the smallest `first_wal` of all memtables are no longer needed.
    first_wal: AtomicU64,
    /// The user keys of the point entries, so that a read of an absent key skips the search.
    filter: Option<KeyFilter>,
}

impl Memtable {
    /// An empty memtable whose writes are logged in WAL segment `wal_number`.
    pub fn new(wal_number: u64) -> Self {
        Memtable {
            list: SkipList::new(),
            bytes: AtomicUsize::new(0),
            entries: AtomicU64::new(0),
            tombstones: AtomicU64::new(0),
            max_seqno: AtomicU64::new(0),
            min_seqno: AtomicU64::new(u64::MAX),
            range_dels: Default::default(),
            wal_number,
            first_wal: AtomicU64::new(0),
            filter: None,
        }
    }

    /// An empty memtable (as [`Memtable::new`]) with a filter over its keys, sized for a memtable
    /// of up to `max_size` bytes: point reads of keys it does not hold skip the skiplist search.
    /// The filter's bytes count in [`Memtable::approximate_size`].
    pub fn with_key_filter(wal_number: u64, max_size: usize) -> Self {
        let filter = KeyFilter::with_bits(max_size / KEY_FILTER_BYTES_PER_BIT);
        Memtable {
            bytes: AtomicUsize::new(filter.bytes()),
            filter: Some(filter),
            ..Memtable::new(wal_number)
        }
    }

    /// The WAL segment that was current when this memtable was created.
    pub fn wal_number(&self) -> u64 {
        self.wal_number
    }

    /// Records that a write logged in WAL segment `segment` is (about to be) inserted. Called
    /// under the WAL lock, before the insert.
    #[inline]
    pub fn note_wal(&self, segment: u64) {
        // SeqCst, paired with the flush thread's reads (`Tree::oldest_wal`): see
        // `flush::oldest_needed_wal`.
        if self.first_wal.load(AtomicOrdering::Relaxed) == 0 {
            self.first_wal.store(segment, AtomicOrdering::SeqCst);
        }
    }

    /// The oldest WAL segment holding writes of this memtable, `None` while it has none.
    pub fn first_wal(&self) -> Option<u64> {
        match self.first_wal.load(AtomicOrdering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }

    /// Inserts one version. Seqnos are unique, so nothing is ever replaced.
    pub fn insert(&self, user_key: &[u8], seqno: SeqNo, kind: ValueKind, value: &[u8]) {
        self.insert_many(std::iter::once((user_key, seqno, kind, value)));
    }

    /// Inserts versions `(user_key, seqno, kind, value)` (a batch): as [`Memtable::insert`] of
    /// each, but the writer side is locked once and the size counters move once, for all of them.
    /// Readers see each entry as it lands; the write path publishes the batch's seqnos only after
    /// it has returned.
    pub fn insert_many<'a>(&self, entries: impl IntoIterator<Item = (&'a [u8], SeqNo, ValueKind, &'a [u8])>) {
        let (mut bytes, mut count, mut tombstones, mut max_seqno) = (0usize, 0u64, 0u64, 0u64);
        let mut min_seqno = u64::MAX;
        let mut list = self.list.inserter();
        for (user_key, seqno, kind, value) in entries {
            if kind == ValueKind::RangeDelete {
                if let Ok(end) = RangeEnd::decode(value) {
                    self.insert_range_tombstone(RangeTombstone {
                        start: user_key.to_vec(),
                        end,
                        seqno,
                    });
                }
                continue;
            }
            if let Some(f) = &self.filter {
                f.insert(crate::sstable::key_hash(user_key));
            }
            bytes += list.insert(user_key, crate::key::pack_trailer(seqno, kind), value);
            count += 1;
            tombstones += u64::from(kind == ValueKind::Delete);
            max_seqno = max_seqno.max(seqno);
            min_seqno = min_seqno.min(seqno);
        }
        drop(list);
        if count == 0 {
            return;
        }
        self.bytes.fetch_add(bytes, AtomicOrdering::Relaxed);
        self.entries.fetch_add(count, AtomicOrdering::Relaxed);
        if tombstones > 0 {
            self.tombstones
                .fetch_add(tombstones, AtomicOrdering::Relaxed);
        }
        self.max_seqno.fetch_max(max_seqno, AtomicOrdering::Relaxed);
        self.min_seqno.fetch_min(min_seqno, AtomicOrdering::Relaxed);
    }

    /// Adds a range tombstone (ignored when its range is empty).
    pub fn insert_range_tombstone(&self, t: RangeTombstone) {
        if t.is_empty() {
            return;
        }
        let size = t.key_bytes() + RANGE_TOMBSTONE_OVERHEAD;
        let seqno = t.seqno;
        self.range_dels.add(t);
        self.bytes.fetch_add(size, AtomicOrdering::Relaxed);
        self.max_seqno.fetch_max(seqno, AtomicOrdering::Relaxed);
    }

    /// Number of range tombstones.
    pub fn range_tombstone_count(&self) -> u64 {
        self.range_dels.len() as u64
    }

    /// Adds the range tombstones, fragmented for reads (one list per run, see `range_dels`), to
    /// `set`; one atomic load when there are none.
    pub fn push_range_fragments(&self, set: &mut TombstoneSet) {
        if let Some(runs) = self.range_dels.runs() {
            for f in runs.lists() {
                set.push(Arc::clone(f));
            }
        }
    }

    /// The seqno of the newest range tombstone over `key` with seqno <= `snapshot` (one atomic
    /// load when there is none).
    pub fn max_range_tombstone(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        self.range_dels.max_covering(key, snapshot)
    }

    /// A copy of the range tombstones with seqno <= `max_seqno` (to flush them, or to copy them
    /// into another memtable).
    pub fn range_tombstones(&self, max_seqno: SeqNo) -> Vec<RangeTombstone> {
        self.range_dels.snapshot(max_seqno)
    }

    /// The newest version of `user_key` with seqno <= `snapshot`: `(trailer, value)`, tombstones
    /// included (their value is empty).
    #[cfg(any(test, feature = "internal"))]
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Option<(u64, Value)> {
        self.get_hashed(user_key, crate::sstable::key_hash(user_key), snapshot)
    }

    /// [`Memtable::get`] given `hash`, the user key's `sstable::key_hash` (computed once per read
    /// for every memtable and table filter).
    pub fn get_hashed(&self, user_key: &[u8], hash: u64, snapshot: SeqNo) -> Option<(u64, Value)> {
        // An empty memtable (the common case for reads after a flush) answers without touching
        // the filter, whose probe is a cache miss. A batch's entries are counted before the
        // write path publishes its seqnos, so a reader whose snapshot covers them sees the count.
        if self.entries.load(AtomicOrdering::Relaxed) == 0
            || self.filter.as_ref().is_some_and(|f| !f.may_contain(hash))
        {
            return None;
        }
        let n = self
            .list
            .lower_bound(&Probe::new(user_key, seek_trailer(snapshot)));
        if n.is_null() || skiplist::user_key(n) != user_key {
            return None;
        }
        Some((
            skiplist::trailer(n),
            Value::from_bytes(skiplist::value_bytes(n)),
        ))
    }

    /// Approximate bytes held (keys, values and per-entry overhead).
    pub fn approximate_size(&self) -> usize {
        self.bytes.load(AtomicOrdering::Relaxed)
    }

    /// Number of point entries (versions), tombstones included, range tombstones not.
    pub fn len(&self) -> u64 {
        self.entries.load(AtomicOrdering::Relaxed)
    }

    /// True when nothing was inserted (no point entry and no range tombstone).
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.range_dels.len() == 0
    }

    /// Number of tombstones.
    pub fn tombstones(&self) -> u64 {
        self.tombstones.load(AtomicOrdering::Relaxed)
    }

    /// About how many point entries have user keys in `[start, end)`: the memtable's length
    /// times the share of a level of the skiplist in the range (`SkipList::sample_in`, a walk
    /// of at most about 2048 nodes); exact for a memtable of fewer than 2048 entries.
    pub fn approximate_entries_in(&self, start: &[u8], end: &RangeEnd) -> u64 {
        let len = self.len();
        let end = match end {
            RangeEnd::Before(e) => Some(Probe::new(e, u64::MAX)),
            RangeEnd::Unbounded => None,
        };
        let (inside, total) = self
            .list
            .sample_in(&Probe::new(start, u64::MAX), end.as_ref(), len);
        if total == 0 {
            return 0;
        }
        (u128::from(len) * u128::from(inside) / u128::from(total)) as u64
    }

    /// Smallest seqno of a point entry (`u64::MAX` when there is none).
    pub fn min_seqno(&self) -> SeqNo {
        self.min_seqno.load(AtomicOrdering::Relaxed)
    }

    /// Largest seqno inserted (0 when empty).
    pub fn max_seqno(&self) -> SeqNo {
        self.max_seqno.load(AtomicOrdering::Relaxed)
    }

    /// A cursor over every version in internal-key order.
    pub fn cursor(&self) -> MemCursor<&Memtable> {
        MemCursor {
            table: self,
            node: Pos(std::ptr::null()),
        }
    }

    /// A cursor that holds the memtable (for cursors that must outlive a borrow, such as a user
    /// iterator's).
    pub fn owned_cursor(self: &Arc<Self>) -> MemCursor<Arc<Memtable>> {
        MemCursor {
            table: self.clone(),
            node: Pos(std::ptr::null()),
        }
    }
}

/// A bidirectional cursor over a memtable (borrowed, `&Memtable`, or held, `Arc<Memtable>`), in
/// internal-key order. Sees entries inserted after it was created (callers filter by seqno).
pub struct MemCursor<T: Deref<Target = Memtable>> {
    table: T,
    /// The current node; null: not valid.
    node: Pos,
}

impl<T: Deref<Target = Memtable>> MemCursor<T> {
    pub fn valid(&self) -> bool {
        !self.node.0.is_null()
    }
    /// The memtable's largest seqno so far ([`Memtable::max_seqno`]).
    pub fn max_seqno(&self) -> SeqNo {
        self.table.max_seqno()
    }
    pub fn seek_to_first(&mut self) {
        self.node = Pos(self.table.list.first());
    }
    pub fn seek_to_last(&mut self) {
        self.node = Pos(self.table.list.last());
    }
    /// First entry >= (user_key, trailer).
    pub fn seek(&mut self, user_key: &[u8], trailer: u64) {
        self.node = Pos(self.table.list.lower_bound(&Probe::new(user_key, trailer)));
    }
    /// Last entry <= (user_key, trailer).
    pub fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) {
        self.node = Pos(self
            .table
            .list
            .last_before(&Probe::new(user_key, trailer), true));
    }
    pub fn next(&mut self) {
        if self.valid() {
            self.node = Pos(SkipList::next(self.node.0));
        }
    }
    pub fn prev(&mut self) {
        if self.valid() {
            self.node = Pos(self.table.list.prev(self.node.0));
        }
    }
    /// Requires `valid()`; returns empty on an invalid cursor.
    pub fn user_key(&self) -> &[u8] {
        if self.valid() {
            skiplist::user_key(self.node.0)
        } else {
            &[]
        }
    }
    pub fn trailer(&self) -> u64 {
        if self.valid() {
            skiplist::trailer(self.node.0)
        } else {
            0
        }
    }
    pub fn value(&self) -> Value {
        if self.valid() {
            Value::from_bytes(skiplist::value_bytes(self.node.0))
        } else {
            Value::default()
        }
    }
    /// The value as a slice of the memtable (no reference count taken), empty when not valid.
    pub fn value_slice(&self) -> &[u8] {
        if self.valid() {
            skiplist::value(self.node.0)
        } else {
            &[]
        }
    }
    pub fn key(&self) -> Key {
        if self.valid() {
            Key::from_bytes(skiplist::key_bytes(self.node.0))
        } else {
            Key::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The skiplist's estimate of the entries in a range stays near the true count, whatever
    /// the range, and never exceeds the memtable's length.
    #[test]
    fn entries_in_a_range_are_estimated_from_the_levels() {
        let m = Memtable::new(1);
        let key = |i: u64| format!("k{i:05}").into_bytes();
        for i in 0..20_000u64 {
            m.insert(&key(i), i + 1, ValueKind::Put, b"v");
        }
        let before = |k: u64| RangeEnd::Before(key(k));
        for (a, b) in [(0, 20_000), (1000, 7000), (5000, 5100), (19_000, 20_000), (0, 10)] {
            let got = m.approximate_entries_in(&key(a), &before(b));
            let want = b - a;
            assert!(got.abs_diff(want) <= want / 4 + 64, "[{a}, {b}): {got}");
        }
        assert_eq!(m.approximate_entries_in(b"", &RangeEnd::Unbounded), 20_000);
        assert_eq!(m.approximate_entries_in(b"z", &RangeEnd::Unbounded), 0);
        assert_eq!(m.approximate_entries_in(b"a", &RangeEnd::Before(b"b".to_vec())), 0);
    }

    /// A batch through `insert_many` leaves the memtable exactly as one `insert` per entry:
    /// the same entries in the same order, sizes, counts, tombstones, newest seqno and range
    /// tombstones (a malformed range end is skipped in both).
    #[test]
    fn insert_many_equals_one_insert_per_entry() {
        let big = vec![9u8; 5000];
        let mut end = Vec::new();
        RangeEnd::Before(b"m".to_vec()).encode(&mut end);
        let entries: Vec<(Vec<u8>, SeqNo, ValueKind, Vec<u8>)> = vec![
            (b"k3".to_vec(), 7, ValueKind::Put, b"v3".to_vec()),
            (b"k1".to_vec(), 8, ValueKind::Delete, Vec::new()),
            (b"a".to_vec(), 9, ValueKind::RangeDelete, end),
            (b"k1".to_vec(), 10, ValueKind::Put, big),
            (b"x".to_vec(), 11, ValueKind::RangeDelete, b"\x07bad".to_vec()),
            (Vec::new(), 12, ValueKind::Put, Vec::new()),
            (b"k2".to_vec(), 5, ValueKind::PutExpiring, b"v2".to_vec()),
        ];
        let one = Memtable::new(1);
        for (k, s, kind, v) in &entries {
            one.insert(k, *s, *kind, v);
        }
        let many = Memtable::new(1);
        many.insert_many(entries.iter().map(|(k, s, kind, v)| (&k[..], *s, *kind, &v[..])));
        let dump = |m: &Memtable| {
            let mut c = m.cursor();
            c.seek_to_first();
            let mut out = Vec::new();
            while c.valid() {
                out.push((c.user_key().to_vec(), c.trailer(), c.value().to_vec()));
                c.next();
            }
            out
        };
        assert_eq!(dump(&one), dump(&many));
        assert_eq!(dump(&many).len(), 5);
        assert_eq!(one.approximate_size(), many.approximate_size());
        assert_eq!((one.len(), one.tombstones(), one.max_seqno()), (5, 1, 12));
        assert_eq!((many.len(), many.tombstones(), many.max_seqno()), (5, 1, 12));
        assert_eq!(many.range_tombstone_count(), 1);
        assert_eq!(one.range_tombstones(u64::MAX), many.range_tombstones(u64::MAX));
        // An empty batch changes nothing.
        many.insert_many(std::iter::empty());
        assert_eq!((many.len(), many.approximate_size()), (5, one.approximate_size()));
    }

    /// A memtable holding `(user key, seqno, kind, value)` entries.
    fn filled(entries: &[(&[u8], u64, ValueKind, &[u8])]) -> Memtable {
        let m = Memtable::new(1);
        for (key, seq, kind, value) in entries {
            m.insert(key, *seq, *kind, value);
        }
        m
    }

    /// A memtable with a key filter answers every read as one without: present keys at every
    /// snapshot, tombstones, and absent keys (which the filter mostly answers alone).
    #[test]
    fn key_filter_changes_no_answer() {
        let plain = Memtable::new(1);
        let filtered = Memtable::with_key_filter(1, 64 << 10);
        assert_eq!(filtered.approximate_size(), 512, "the filter's bytes are counted");
        let mut seq = 0;
        for round in 0..3u64 {
            for i in (round..600).step_by(3) {
                seq += 1;
                let key = format!("key{i:05}");
                let (kind, value) = if i % 7 == 0 {
                    (ValueKind::Delete, Vec::new())
                } else {
                    (ValueKind::Put, format!("v{round}-{i}").into_bytes())
                };
                for m in [&plain, &filtered] {
                    m.insert(key.as_bytes(), seq, kind, &value);
                }
            }
        }
        for i in 0..1200u64 {
            let key = format!("key{i:05}");
            for snapshot in [0, seq / 3, seq / 2, seq] {
                assert_eq!(
                    filtered.get(key.as_bytes(), snapshot),
                    plain.get(key.as_bytes(), snapshot),
                    "{key} at {snapshot}"
                );
            }
        }
    }

    #[test]
    fn newest_visible_version_wins() {
        let m = filled(&[
            (b"a", 1, ValueKind::Put, b"v1"),
            (b"a", 3, ValueKind::Put, b"v3"),
            (b"a", 5, ValueKind::Delete, b""),
            (b"b", 2, ValueKind::Put, b"b2"),
        ]);
        assert_eq!(m.get(b"a", 0), None);
        assert_eq!(m.get(b"a", 2).unwrap().1, b"v1");
        assert_eq!(m.get(b"a", 4).unwrap().1, b"v3");
        let (t, _) = m.get(b"a", 9).unwrap();
        assert_eq!(crate::key::unpack_trailer(t), (5, Some(ValueKind::Delete)));
        assert_eq!(m.get(b"", 9), None);
        assert_eq!(m.get(b"c", 9), None);
        assert_eq!(m.len(), 4);
        assert_eq!(m.tombstones(), 1);
        assert_eq!(m.max_seqno(), 5);
        assert!(m.approximate_size() > 4 * 32, "node heads are counted");
    }

    #[test]
    fn range_tombstones_sit_beside_the_point_entries() {
        let m = filled(&[(b"a", 1, ValueKind::Put, b"v")]);
        let fragments = |m: &Memtable| {
            let mut set = TombstoneSet::default();
            m.push_range_fragments(&mut set);
            set
        };
        assert!(fragments(&m).is_empty(), "no tombstone: no fragments");
        let mut end = Vec::new();
        RangeEnd::Before(b"m".to_vec()).encode(&mut end);
        m.insert(b"b", 2, ValueKind::RangeDelete, &end);
        m.insert(b"x", 3, ValueKind::RangeDelete, b"\x07bad");
        m.insert(b"z", 4, ValueKind::RangeDelete, &end); // empty: z >= m
        assert_eq!(m.len(), 1, "range tombstones are not point entries");
        assert_eq!(m.range_tombstone_count(), 1);
        assert_eq!(m.max_seqno(), 2);
        assert_eq!(m.get(b"b", 9), None);
        let f = fragments(&m);
        assert_eq!(f.covering(b"c", 9).map(|c| c.0), Some(2));
        assert_eq!(f.covering(b"c", 1), None);
        assert_eq!(m.max_range_tombstone(b"c", 9), Some(2));
        // Fragments are rebuilt once more tombstones arrive.
        m.insert_range_tombstone(RangeTombstone {
            start: b"c".to_vec(),
            end: RangeEnd::Unbounded,
            seqno: 5,
        });
        assert_eq!(m.max_range_tombstone(b"zz", 9), Some(5), "rebuilt on demand");
        assert_eq!(fragments(&m).covering(b"zz", 9).map(|c| c.0), Some(5));
        assert_eq!(m.range_tombstones(4).len(), 1);
        assert_eq!(m.range_tombstones(5).len(), 2);
        let only = Memtable::new(2);
        assert!(only.is_empty());
        only.insert(b"a", 1, ValueKind::RangeDelete, &end);
        assert!(!only.is_empty(), "a memtable holding only a range tombstone must be flushed");
    }

    #[test]
    fn cursor_walks_in_internal_order() {
        let m = filled(&[
            (b"b", 1, ValueKind::Put, b"1"),
            (b"a", 2, ValueKind::Put, b"2"),
            (b"a", 3, ValueKind::Put, b"3"),
            (b"", 4, ValueKind::Put, b""),
        ]);
        let mut c = m.cursor();
        c.seek_to_first();
        let mut seen = vec![];
        while c.valid() {
            seen.push((c.user_key().to_vec(), c.trailer() >> 8));
            c.next();
        }
        assert_eq!(
            seen,
            vec![
                (vec![], 4),
                (b"a".to_vec(), 3),
                (b"a".to_vec(), 2),
                (b"b".to_vec(), 1)
            ]
        );
        c.seek(b"a", seek_trailer(2));
        assert_eq!((c.user_key(), c.trailer() >> 8), (&b"a"[..], 2));
        c.prev();
        assert_eq!(c.trailer() >> 8, 3);
        c.seek_for_prev(b"a", 0);
        assert_eq!(c.trailer() >> 8, 2);
        c.seek_to_last();
        assert_eq!(c.key(), b"b");
        assert_eq!(c.value(), b"1");
    }

    #[test]
    fn concurrent_inserts_and_reads() {
        let m = std::sync::Arc::new(Memtable::new(1));
        let mut hs = vec![];
        for t in 0..4u64 {
            let m = m.clone();
            hs.push(std::thread::spawn(move || {
                for i in 0..1000u64 {
                    let k = format!("k{t}-{i}");
                    m.insert(k.as_bytes(), t * 1000 + i + 1, ValueKind::Put, k.as_bytes());
                    assert_eq!(m.get(k.as_bytes(), u64::MAX >> 8).unwrap().1, k.as_bytes());
                }
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(m.len(), 4000);
    }
}
