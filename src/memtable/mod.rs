//! The memtable: a concurrent ordered map of internal keys (crossbeam-skiplist), with byte
//! accounting, and beside it the range tombstones written to it (`range_dels`: never point
//! entries, so point reads and cursors of a memtable without them pay nothing).
//!
//! Each entry's `user_key ++ value` is copied into an arena of large chunks (see [`Arena`]) rather
//! than an allocation of its own; the value handed to readers is a zero-copy slice of its chunk. Entries are never removed or replaced (every write has a fresh seqno), so
//! readers need no lock and see inserts as they land; visibility is decided by the reader's
//! snapshot seqno, which the write path publishes only after a whole batch is inserted.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use bytes::Bytes;
use crossbeam_skiplist::SkipMap;

use crate::format::RangeEnd;
use crate::key::{SeqNo, ValueKind, seek_trailer};
use crate::rangedel::{Fragments, RangeTombstone};
use crate::value::{Key, Value};

mod range_dels;

/// Per-entry memory besides the key and value bytes, counted in [`Memtable::approximate_size`] so
/// that the memtable limit bounds real memory: the skiplist node (its tower, the 64-byte inline
/// key with its prefix) and the allocator's rounding of the node come to about 100 bytes
/// (measured with 16-byte keys and 100-byte values, 1,000,000 entries: 229 bytes of anonymous
/// memory per entry when each entry had its own `key ++ value` allocation, 217 with the arena).
/// Counting 120 keeps the count above the real memory, which `MEMORY_BUDGET` relies on.
const ENTRY_OVERHEAD: usize = 120;

/// The first arena chunk of a memtable; each next one is twice the last, up to
/// [`ARENA_MAX_CHUNK`], so that the many tiny memtables of small configurations stay small.
const ARENA_FIRST_CHUNK: usize = 4 << 10;
const ARENA_MAX_CHUNK: usize = 1 << 20;

/// Where a memtable's `key ++ value` bytes live: chunks filled front to back, each entry a
/// [`Bytes`] slice of its chunk (one allocation per chunk instead of one per entry; a chunk is
/// freed once its memtable and every value read out of it are gone). Entries larger than a
/// quarter of the current chunk size get an allocation of their own. Only the write leader
/// inserts (under the WAL lock), so the mutex is uncontended.
struct Arena {
    chunk: parking_lot::Mutex<(bytes::BytesMut, usize)>,
}

impl Arena {
    fn new() -> Arena {
        Arena {
            chunk: parking_lot::Mutex::new((bytes::BytesMut::new(), ARENA_FIRST_CHUNK / 2)),
        }
    }

    /// `a ++ b`, copied into the arena.
    #[cfg(test)]
    fn copy(&self, a: &[u8], b: &[u8]) -> Bytes {
        arena_copy(&mut self.chunk.lock(), a, b)
    }
}

/// `a ++ b`, copied into the arena's current chunk `g` (locked by the caller, once for many
/// entries).
fn arena_copy(g: &mut (bytes::BytesMut, usize), a: &[u8], b: &[u8]) -> Bytes {
    let need = a.len() + b.len();
    let (chunk, size) = g;
    if need > *size / 4 && need > ARENA_FIRST_CHUNK / 4 {
        let mut own = Vec::with_capacity(need);
        own.extend_from_slice(a);
        own.extend_from_slice(b);
        return Bytes::from(own);
    }
    if chunk.capacity() - chunk.len() < need {
        *size = (*size * 2).min(ARENA_MAX_CHUNK);
        *chunk = bytes::BytesMut::with_capacity(*size);
    }
    chunk.extend_from_slice(a);
    chunk.extend_from_slice(b);
    chunk.split().freeze()
}

/// Bytes of each key kept inline in the skiplist node, so that most comparisons while searching
/// resolve without following a pointer to the key's allocation (a cache miss per node visited).
const PREFIX: usize = 16;

fn make_prefix(key: &[u8]) -> [u8; PREFIX] {
    let mut p = [0u8; PREFIX];
    let n = key.len().min(PREFIX);
    if let (Some(dst), Some(src)) = (p.get_mut(..n), key.get(..n)) {
        dst.copy_from_slice(src);
    }
    p
}

/// An internal key as the skiplist stores it.
struct MemKey {
    /// The first `PREFIX` bytes of the user key, zero padded.
    prefix: [u8; PREFIX],
    /// `user_key ++ value`.
    data: Bytes,
    key_len: usize,
    trailer: u64,
}

impl MemKey {
    fn user_key(&self) -> &[u8] {
        self.data.get(..self.key_len).unwrap_or_default()
    }
}

/// What the skiplist is searched with: anything that can present a (user key, trailer).
trait KeyView {
    fn prefix(&self) -> &[u8; PREFIX];
    fn key_len(&self) -> usize;
    fn user_key(&self) -> &[u8];
    fn trailer(&self) -> u64;
}

impl KeyView for MemKey {
    fn prefix(&self) -> &[u8; PREFIX] {
        &self.prefix
    }
    fn key_len(&self) -> usize {
        self.key_len
    }
    fn user_key(&self) -> &[u8] {
        MemKey::user_key(self)
    }
    fn trailer(&self) -> u64 {
        self.trailer
    }
}

/// A search key.
struct Probe<'a> {
    prefix: [u8; PREFIX],
    key: &'a [u8],
    trailer: u64,
}

impl<'a> Probe<'a> {
    fn new(key: &'a [u8], trailer: u64) -> Self {
        Probe {
            prefix: make_prefix(key),
            key,
            trailer,
        }
    }
}

impl KeyView for Probe<'_> {
    fn prefix(&self) -> &[u8; PREFIX] {
        &self.prefix
    }
    fn key_len(&self) -> usize {
        self.key.len()
    }
    fn user_key(&self) -> &[u8] {
        self.key
    }
    fn trailer(&self) -> u64 {
        self.trailer
    }
}

/// Internal-key order (user key ascending, trailer descending), comparing the inline prefixes
/// first and the rest of the keys only when the prefixes tie.
fn cmp_views<A: KeyView + ?Sized, B: KeyView + ?Sized>(a: &A, b: &B) -> Ordering {
    let (al, bl) = (a.key_len(), b.key_len());
    let by_key = if al >= PREFIX && bl >= PREFIX {
        match u128::from_be_bytes(*a.prefix()).cmp(&u128::from_be_bytes(*b.prefix())) {
            Ordering::Equal if al == PREFIX && bl == PREFIX => Ordering::Equal,
            Ordering::Equal => {
                let ar = a.user_key().get(PREFIX..).unwrap_or_default();
                let br = b.user_key().get(PREFIX..).unwrap_or_default();
                ar.cmp(br)
            }
            o => o,
        }
    } else {
        // One key is shorter than the prefix, so it lies wholly inside it.
        let n = al.min(bl);
        let ap = a.prefix().get(..n).unwrap_or_default();
        let bp = b.prefix().get(..n).unwrap_or_default();
        ap.cmp(bp).then(al.cmp(&bl))
    };
    by_key.then_with(|| b.trailer().cmp(&a.trailer()))
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for dyn KeyView + '_ {}
impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_views(self, other)
    }
}

impl PartialEq for MemKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for MemKey {}
impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_views(self, other)
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for MemKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

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
    map: SkipMap<MemKey, ()>,
    arena: Arena,
    bytes: AtomicUsize,
    entries: AtomicU64,
    tombstones: AtomicU64,
    max_seqno: AtomicU64,
    /// Range tombstones, beside the point entries.
    range_dels: range_dels::MemRangeDels,
    /// The WAL segment that was current when this memtable was created (orders memtables).
    wal_number: u64,
    /// The WAL segment of the first write inserted (0: none yet). Memtables of different
    /// keyspaces share segments, so a memtable may hold writes of several segments from this one
    /// on; the segments below the smallest `first_wal` of all memtables are no longer needed.
    first_wal: AtomicU64,
}

impl Memtable {
    /// An empty memtable whose writes are logged in WAL segment `wal_number`.
    pub fn new(wal_number: u64) -> Self {
        Memtable {
            map: SkipMap::new(),
            arena: Arena::new(),
            bytes: AtomicUsize::new(0),
            entries: AtomicU64::new(0),
            tombstones: AtomicU64::new(0),
            max_seqno: AtomicU64::new(0),
            range_dels: Default::default(),
            wal_number,
            first_wal: AtomicU64::new(0),
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
    /// each, but the arena is locked once and the size counters move once, for all of them.
    /// Readers see each entry as it lands; the write path publishes the batch's seqnos only after
    /// it has returned.
    pub fn insert_many<'a>(&self, entries: impl IntoIterator<Item = (&'a [u8], SeqNo, ValueKind, &'a [u8])>) {
        let (mut bytes, mut count, mut tombstones, mut max_seqno) = (0usize, 0u64, 0u64, 0u64);
        let mut arena = self.arena.chunk.lock();
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
            let data = arena_copy(&mut arena, user_key, value);
            bytes += data.len() + ENTRY_OVERHEAD;
            self.map.insert(
                MemKey {
                    prefix: make_prefix(user_key),
                    data,
                    key_len: user_key.len(),
                    trailer: crate::key::pack_trailer(seqno, kind),
                },
                (),
            );
            count += 1;
            tombstones += u64::from(kind == ValueKind::Delete);
            max_seqno = max_seqno.max(seqno);
        }
        drop(arena);
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
    }

    /// Adds a range tombstone (ignored when its range is empty).
    pub fn insert_range_tombstone(&self, t: RangeTombstone) {
        if t.is_empty() {
            return;
        }
        let size = t.key_bytes() + ENTRY_OVERHEAD;
        let seqno = t.seqno;
        self.range_dels.add(t);
        self.bytes.fetch_add(size, AtomicOrdering::Relaxed);
        self.max_seqno.fetch_max(seqno, AtomicOrdering::Relaxed);
    }

    /// Number of range tombstones.
    pub fn range_tombstone_count(&self) -> u64 {
        self.range_dels.len() as u64
    }

    /// The range tombstones, fragmented for reads; `None` (one atomic load) when there are none.
    pub fn range_fragments(&self) -> Option<Arc<Fragments>> {
        self.range_dels.fragments()
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
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Option<(u64, Value)> {
        let probe = Probe::new(user_key, seek_trailer(snapshot));
        let entry = self
            .map
            .lower_bound(Bound::Included(&probe as &dyn KeyView))?;
        let k = entry.key();
        if k.user_key() != user_key {
            return None;
        }
        Some((k.trailer, Value::from_bytes(k.data.slice(k.key_len..))))
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
        self.map.is_empty() && self.range_dels.len() == 0
    }

    /// Number of tombstones.
    pub fn tombstones(&self) -> u64 {
        self.tombstones.load(AtomicOrdering::Relaxed)
    }

    /// Largest seqno inserted (0 when empty).
    pub fn max_seqno(&self) -> SeqNo {
        self.max_seqno.load(AtomicOrdering::Relaxed)
    }

    /// A cursor over every version in internal-key order.
    pub fn cursor(&self) -> MemCursor<'_> {
        MemCursor {
            table: self,
            entry: None,
        }
    }
}

/// A bidirectional cursor over a memtable, in internal-key order. Sees entries inserted after it
/// was created (callers filter by seqno).
pub struct MemCursor<'a> {
    table: &'a Memtable,
    entry: Option<crossbeam_skiplist::map::Entry<'a, MemKey, ()>>,
}

impl MemCursor<'_> {
    pub fn valid(&self) -> bool {
        self.entry.is_some()
    }
    pub fn seek_to_first(&mut self) {
        self.entry = self.table.map.front();
    }
    pub fn seek_to_last(&mut self) {
        self.entry = self.table.map.back();
    }
    /// First entry >= (user_key, trailer).
    pub fn seek(&mut self, user_key: &[u8], trailer: u64) {
        let probe = Probe::new(user_key, trailer);
        self.entry = self
            .table
            .map
            .lower_bound(Bound::Included(&probe as &dyn KeyView));
    }
    /// Last entry <= (user_key, trailer).
    pub fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) {
        let probe = Probe::new(user_key, trailer);
        self.entry = self
            .table
            .map
            .upper_bound(Bound::Included(&probe as &dyn KeyView));
    }
    pub fn next(&mut self) {
        self.entry = self.entry.as_ref().and_then(|e| e.next());
    }
    pub fn prev(&mut self) {
        self.entry = self.entry.as_ref().and_then(|e| e.prev());
    }
    /// Requires `valid()`; returns empty on an invalid cursor.
    pub fn user_key(&self) -> &[u8] {
        self.entry.as_ref().map_or(&[], |e| e.key().user_key())
    }
    pub fn trailer(&self) -> u64 {
        self.entry.as_ref().map_or(0, |e| e.key().trailer)
    }
    pub fn value(&self) -> Value {
        self.entry.as_ref().map_or_else(Value::default, |e| {
            let k = e.key();
            Value::from_bytes(k.data.slice(k.key_len..))
        })
    }
    pub fn key(&self) -> Key {
        self.entry.as_ref().map_or_else(Key::default, |e| {
            let k = e.key();
            Key::from_bytes(k.data.slice(..k.key_len))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn arena_copies_share_chunks_and_stay_intact() {
        let arena = Arena::new();
        let mut copies = Vec::new();
        // Small entries fill chunks of growing size; large ones get their own allocation.
        for i in 0..20_000usize {
            let key = format!("key{i:06}");
            let value = vec![(i % 251) as u8; if i % 997 == 0 { 300_000 } else { i % 200 }];
            copies.push((arena.copy(key.as_bytes(), &value), key, value));
        }
        for (c, key, value) in &copies {
            assert_eq!(&c[..key.len()], key.as_bytes());
            assert_eq!(&c[key.len()..], &value[..]);
        }
        // Neighbours in a chunk are adjacent slices of one allocation.
        let (a, b) = (&copies[1].0, &copies[2].0);
        assert_eq!(a.as_ptr() as usize + a.len(), b.as_ptr() as usize);
        assert_eq!(arena.chunk.lock().1, ARENA_MAX_CHUNK);
        // An empty entry is fine too.
        assert!(arena.copy(b"", b"").is_empty());
    }

    /// A memtable holding `(user key, seqno, kind, value)` entries.
    fn filled(entries: &[(&[u8], u64, ValueKind, &[u8])]) -> Memtable {
        let m = Memtable::new(1);
        for (key, seq, kind, value) in entries {
            m.insert(key, *seq, *kind, value);
        }
        m
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
        assert!(m.approximate_size() > 4 * ENTRY_OVERHEAD);
    }

    #[test]
    fn range_tombstones_sit_beside_the_point_entries() {
        let m = filled(&[(b"a", 1, ValueKind::Put, b"v")]);
        assert!(m.range_fragments().is_none(), "no tombstone: no fragments");
        let mut end = Vec::new();
        RangeEnd::Before(b"m".to_vec()).encode(&mut end);
        m.insert(b"b", 2, ValueKind::RangeDelete, &end);
        m.insert(b"x", 3, ValueKind::RangeDelete, b"\x07bad");
        m.insert(b"z", 4, ValueKind::RangeDelete, &end); // empty: z >= m
        assert_eq!(m.len(), 1, "range tombstones are not point entries");
        assert_eq!(m.range_tombstone_count(), 1);
        assert_eq!(m.max_seqno(), 2);
        assert_eq!(m.get(b"b", 9), None);
        let f = m.range_fragments().unwrap();
        assert_eq!(f.max_covering(b"c", 9), Some(2));
        assert_eq!(f.max_covering(b"c", 1), None);
        assert_eq!(m.max_range_tombstone(b"c", 9), Some(2));
        // Fragments are rebuilt once more tombstones arrive.
        m.insert_range_tombstone(RangeTombstone {
            start: b"c".to_vec(),
            end: RangeEnd::Unbounded,
            seqno: 5,
        });
        assert_eq!(m.max_range_tombstone(b"zz", 9), Some(5), "rebuilt on demand");
        assert_eq!(m.range_fragments().unwrap().max_covering(b"zz", 9), Some(5));
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

#[cfg(test)]
mod order_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The prefix comparison agrees with plain internal-key order.
        #[test]
        fn prefix_order_matches_internal_order(
            a in proptest::collection::vec(0u8..4, 0..40),
            b in proptest::collection::vec(0u8..4, 0..40),
            ta in 0u64..4, tb in 0u64..4,
        ) {
            let pa = Probe::new(&a, ta);
            let pb = Probe::new(&b, tb);
            prop_assert_eq!(
                cmp_views(&pa, &pb),
                crate::key::cmp_internal(&a, ta, &b, tb)
            );
        }
    }
}
