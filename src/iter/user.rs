//! [`DbIter`]: the user-facing iterator over a consistent view of the database.
//!
//! It pins the `SuperVersion` (memtables and tables) and a seqno when it is created, so it sees
//! exactly the writes committed before that moment. For each user key it yields the newest version
//! with seqno <= the snapshot, and skips keys whose newest visible version is a tombstone, a
//! value expired at the time the iterator was created (`ttl::live_value`), or older than a range
//! tombstone over the key visible at the snapshot. Both
//! ends work (`DoubleEndedIterator`): each end has its own merging cursor, created on first use,
//! and the iterator ends when the two meet.

use std::ops::Bound;
use std::sync::Arc;

use super::merge::{KeyMark, prefix16};
use super::{InternalCursor, MergeCursor};
use crate::error::Result;
use crate::key::{SeqNo, ValueKind, unpack_trailer};
use crate::ttl::{is_expiring, live_slice, live_value, split_stored, user_part};
use crate::rangedel::TombstoneSet;
use crate::value::{Key, Value};

/// Key bounds of an iteration, owned.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    pub lower: Bound<Vec<u8>>,
    pub upper: Bound<Vec<u8>>,
    /// Set for prefix scans: every key in bounds starts with it (lets prefix filters skip tables).
    pub prefix: Option<Vec<u8>>,
}

impl Bounds {
    #[cfg(test)]
    pub fn all() -> Self {
        Bounds {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
            prefix: None,
        }
    }

    pub fn above_lower(&self, k: &[u8]) -> bool {
        match &self.lower {
            Bound::Unbounded => true,
            Bound::Included(l) => k >= &l[..],
            Bound::Excluded(l) => k > &l[..],
        }
    }

    pub fn below_upper(&self, k: &[u8]) -> bool {
        match &self.upper {
            Bound::Unbounded => true,
            Bound::Included(u) => k <= &u[..],
            Bound::Excluded(u) => k < &u[..],
        }
    }

    /// True when a source holding user keys in `[smallest, largest]` may hold keys in bounds.
    pub fn overlaps(&self, smallest: &[u8], largest: &[u8]) -> bool {
        self.below_upper(smallest) && self.above_lower(largest)
    }

    /// True when no key can be in bounds.
    pub fn is_empty(&self) -> bool {
        match (&self.lower, &self.upper) {
            (Bound::Included(l), Bound::Included(u)) => l > u,
            (Bound::Included(l), Bound::Excluded(u))
            | (Bound::Excluded(l), Bound::Included(u))
            | (Bound::Excluded(l), Bound::Excluded(u)) => l >= u,
            _ => false,
        }
    }
}

pub use crate::key::prefix_upper_bound;

/// Builds the children of a merging cursor: one cursor per memtable and per table that may hold
/// keys in bounds.
pub(crate) type SourceFactory = dyn Fn(&Bounds) -> Vec<Box<dyn InternalCursor>> + Send + Sync;

/// Iterator over `(Key, Value)` pairs in key order (or reverse with `.rev()`), as of the moment it
/// was created. Items are `Result`s: a damaged block on the way yields `Err(Error::Corruption)`, after
/// which the iterator ends.
pub struct DbIter {
    sources: Arc<SourceFactory>,
    snapshot: SeqNo,
    /// Values expiring at or before this time (milliseconds since the epoch) read as absent.
    now_millis: u64,
    bounds: Bounds,
    front: Option<MergeCursor>,
    back: Option<MergeCursor>,
    /// Set while the front's cursor is still at the entry the front yielded last, whose user
    /// key's mark is `front_mark`: the next step moves past that key's versions first.
    front_held: bool,
    front_mark: KeyMark,
    /// The user key the front is held at when it is longer than a [`KeyMark`] tells apart (a
    /// buffer reused from step to step).
    front_long_key: Vec<u8>,
    /// How far each end has read, for the other end to stop there. Kept only while both ends
    /// are in use (a one-way scan clones no key for it).
    last_front: Mark,
    last_back: Mark,
    done: bool,
    /// An error to yield first (an iterator that could not be set up).
    failed: Option<crate::error::Error>,
    /// The range tombstones of the sources (empty when there are none).
    range_tombstones: TombstoneSet,
    /// Keeps whatever must outlive the iteration (e.g. a snapshot registration).
    _guard: Option<Arc<dyn Send + Sync>>,
}

impl std::fmt::Debug for DbIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbIter")
            .field("snapshot", &self.snapshot)
            .field("bounds", &self.bounds)
            .finish()
    }
}

impl DbIter {
    pub(crate) fn new(
        sources: Arc<SourceFactory>,
        snapshot: SeqNo,
        now_millis: u64,
        bounds: Bounds,
        guard: Option<Arc<dyn Send + Sync>>,
    ) -> Self {
        let done = bounds.is_empty();
        DbIter {
            sources,
            snapshot,
            now_millis,
            bounds,
            front: None,
            back: None,
            front_held: false,
            front_mark: KeyMark::default(),
            front_long_key: Vec::new(),
            last_front: Mark::Unset,
            last_back: Mark::Unset,
            done,
            failed: None,
            range_tombstones: TombstoneSet::default(),
            _guard: guard,
        }
    }

    /// An iterator that yields `err` once and ends.
    pub(crate) fn failed(err: crate::error::Error) -> Self {
        let none: Arc<SourceFactory> = Arc::new(|_b: &Bounds| Vec::new());
        let mut it = DbIter::new(
            none,
            0,
            0,
            Bounds {
                lower: Bound::Unbounded,
                upper: Bound::Unbounded,
                prefix: None,
            },
            None,
        );
        it.failed = Some(err);
        it
    }

    /// Makes the iterator honour `tombstones`, the range tombstones of its sources.
    pub(crate) fn with_range_tombstones(mut self, tombstones: TombstoneSet) -> Self {
        self.range_tombstones = tombstones;
        self
    }

    /// Whether the version `trailer` of `key` is deleted by a range tombstone. When it is, the
    /// cursor of that end (`forward`: the front) also moves its sources that the tombstone's
    /// piece deletes past the piece ([`MergeCursor::skip_covered`]): a scan after a large range
    /// delete seeks over the deleted keys of older sources instead of reading each of them.
    fn skip_range_deleted(&mut self, key: &[u8], trailer: u64, forward: bool) -> Result<bool> {
        if self.range_tombstones.is_empty() {
            return Ok(false);
        }
        let Some((seqno, piece)) = self.range_tombstones.covering(key, self.snapshot) else {
            return Ok(false);
        };
        if seqno <= unpack_trailer(trailer).0 {
            return Ok(false);
        }
        let cursor = if forward {
            self.front.as_mut()
        } else {
            self.back.as_mut()
        };
        if let Some(c) = cursor {
            c.skip_covered(&piece.start, &piece.end, seqno)?;
        }
        Ok(true)
    }

    /// The seqno this iterator reads at.
    pub fn seqno(&self) -> SeqNo {
        self.snapshot
    }

    /// Creates the front's cursor on first use (each step calls this; the creation is out of
    /// line).
    #[inline]
    fn open_front(&mut self) -> Result<()> {
        if self.front.is_none() {
            self.create_front()?;
        }
        Ok(())
    }

    #[cold]
    fn create_front(&mut self) -> Result<()> {
        let mut c = MergeCursor::new((self.sources)(&self.bounds), true);
        match &self.bounds.lower {
            Bound::Unbounded => c.seek(None)?,
            Bound::Included(k) => c.seek(Some((k, u64::MAX)))?,
            // Trailer 0 sorts after every real version of `k` (seqnos start at 1).
            Bound::Excluded(k) => c.seek(Some((k, 0)))?,
        }
        self.last_back = self.back.as_ref().map_or(Mark::Unset, Mark::at_cursor);
        self.front = Some(c);
        Ok(())
    }

    fn back_cursor(&mut self) -> Result<&mut MergeCursor> {
        if self.back.is_none() {
            let mut c = MergeCursor::new((self.sources)(&self.bounds), false);
            match &self.bounds.upper {
                Bound::Unbounded => c.seek(None)?,
                // Last entry <= (k, 0) is the oldest version of `k`, or the key before it.
                Bound::Included(k) => c.seek(Some((k, 0)))?,
                // (k, MAX) sorts before every version of `k`.
                Bound::Excluded(k) => c.seek(Some((k, u64::MAX)))?,
            }
            self.last_front = match &self.front {
                // Held at the key it yielded last: it has dealt with that key too.
                Some(f) if self.front_held => f
                    .current()
                    .map_or(Mark::All, |cur| Mark::Through(cur.key())),
                Some(f) => Mark::at_cursor(f),
                None => Mark::Unset,
            };
            self.back = Some(c);
        }
        match self.back.as_mut() {
            Some(c) => Ok(c),
            None => unreachable!("back cursor was just created"),
        }
    }

    /// Moves the front past the versions of the key it is held at (the one it yielded last),
    /// when it is held there.
    #[inline]
    fn release_front(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.front_held) {
            return Ok(());
        }
        match self.front.as_mut() {
            Some(c) => skip_versions(c, self.front_mark, &self.front_long_key),
            None => Ok(()),
        }
    }

    /// Positions the front at the next entry to yield: the newest version visible at the
    /// snapshot of the next key in bounds that is live (not a tombstone, not expired, not
    /// deleted by a range tombstone), and holds it there until the next step. The entry is read
    /// from the cursor where it is, so an item costs no copy of the key or value and no
    /// reference count unless the caller asks for owned ones. Returns the entry's trailer, or
    /// `None` when the front has reached its end.
    #[inline(always)]
    fn position_front(&mut self) -> Result<Option<u64>> {
        let snapshot = self.snapshot;
        self.release_front()?;
        self.open_front()?;
        let Some(c) = self.front.as_mut() else {
            return Ok(None);
        };
        loop {
            let Some(cur) = c.current() else {
                return Ok(None);
            };
            let trailer = c.current_trailer();
            if unpack_trailer(trailer).0 > snapshot {
                c.advance()?;
                continue;
            }
            let key = cur.user_key();
            if !self.bounds.below_upper(key) {
                return Ok(None);
            }
            if self.last_back.stops(key, std::cmp::Ordering::Greater) {
                return Ok(None);
            }
            if self.back.is_some() {
                self.last_front = Mark::Through(Key::copy_from_slice(key));
            }
            let mark = c.current_mark();
            if !MergeCursor::mark_is_whole(mark) {
                self.front_long_key.clear();
                self.front_long_key.extend_from_slice(key);
            }
            let covered = if self.range_tombstones.is_empty() {
                None
            } else {
                self.range_tombstones
                    .covering(key, snapshot)
                    .filter(|(seqno, _)| *seqno > unpack_trailer(trailer).0)
            };
            if let Some((seqno, piece)) = covered {
                // Deleted: past its versions, then every source the piece deletes past the
                // piece (see `skip_range_deleted`).
                skip_versions(c, mark, &self.front_long_key)?;
                c.skip_covered(&piece.start, &piece.end, seqno)?;
                continue;
            }
            // Only an expiring put's value is read to decide.
            let live = match unpack_trailer(trailer).1 {
                Some(ValueKind::Put) => true,
                Some(ValueKind::PutExpiring) => {
                    live_slice(trailer, cur.value_slice(), self.now_millis)?.is_some()
                }
                _ => false,
            };
            if live {
                self.front_held = true;
                self.front_mark = mark;
                return Ok(Some(trailer));
            }
            skip_versions(c, mark, &self.front_long_key)?;
        }
    }

    /// The entry the front is held at, as [`DbIter::position_front`] left it: its user key and
    /// the user's part of its value, borrowed from the cursor.
    fn front_entry(&self, trailer: u64) -> Option<(&[u8], &[u8])> {
        let cur = self.front.as_ref()?.current()?;
        Some((cur.user_key(), user_part(trailer, cur.value_slice())))
    }

    fn step_front(&mut self) -> Result<Option<(Key, Value)>> {
        let Some(trailer) = self.position_front()? else {
            return Ok(None);
        };
        let Some(cur) = self.front.as_ref().and_then(|c| c.current()) else {
            return Ok(None);
        };
        let (key, value) = (cur.key(), cur.value());
        // Owned items need no hold: move on now, so the loads of the next entry overlap with
        // this one's (criterion `scan/memtable/next`: 1.57 ms when moving at the next step,
        // 1.36 ms this way).
        self.release_front()?;
        let value = if is_expiring(trailer) {
            split_stored(value)?.1
        } else {
            value
        };
        Ok(Some((key, value)))
    }

    /// The next entry from the front, as slices borrowed from the iterator: the key and value
    /// where they lie (a block of the cache or of the file mapping, or the memtable), without
    /// the copy or reference count that [`Iterator::next`] takes to hand out an owned [`Key`]
    /// and [`Value`]. The slices live until the iterator is next used. For scans that look at
    /// each entry and keep few of them:
    ///
    /// ```
    /// # fn main() -> lsmkv::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default())?;
    /// db.put(b"a", b"1")?;
    /// db.put(b"b", b"22")?;
    /// let mut it = db.range::<&[u8], _>(..);
    /// let mut bytes = 0;
    /// while let Some(entry) = it.next_ref() {
    ///     let (key, value) = entry?;
    ///     bytes += key.len() + value.len();
    /// }
    /// assert_eq!(bytes, 5);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// It is the same front as [`Iterator::next`]'s (the two may be mixed), and yields the same
    /// entries in the same order, ending after the last one or the first error.
    pub fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        if let Some(e) = self.failed.take() {
            self.done = true;
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        let trailer = match self.position_front() {
            Ok(Some(t)) => t,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        self.front_entry(trailer).map(Ok)
    }

    fn step_back(&mut self) -> Result<Option<(Key, Value)>> {
        let snapshot = self.snapshot;
        loop {
            let key;
            let mut best: Option<(u64, Value)> = None;
            {
                let c = self.back_cursor()?;
                let Some(cur) = c.current() else {
                    return Ok(None);
                };
                key = cur.key();
                // Going backward, the versions of one key come oldest first.
                let prefix = prefix16(&key);
                while c.at_key(&key, prefix) {
                    let trailer = c.current_trailer();
                    if unpack_trailer(trailer).0 <= snapshot
                        && let Some(cur) = c.current()
                    {
                        best = Some((trailer, cur.value()));
                    }
                    c.advance()?;
                }
            }
            if !self.bounds.above_lower(&key) {
                return Ok(None);
            }
            if self.last_front.stops(&key, std::cmp::Ordering::Less) {
                return Ok(None);
            }
            let Some((trailer, value)) = best else {
                continue;
            };
            if self.front.is_some() {
                self.last_back = Mark::Through(key.clone());
            }
            if self.skip_range_deleted(&key, trailer, false)? {
                continue;
            }
            if let Some(value) = live_value(trailer, value, self.now_millis)? {
                return Ok(Some((key, value)));
            }
        }
    }
}

/// Moves `c` past every version of the user key of the entry it is at, marked `mark`
/// (`long_key`: the whole key, when the mark does not tell it apart).
fn skip_versions(c: &mut MergeCursor, mark: KeyMark, long_key: &[u8]) -> Result<()> {
    c.advance()?;
    while c.at_key_of(mark, long_key) {
        c.advance()?;
    }
    Ok(())
}

/// How far one end of a [`DbIter`] has read, as the other end must see it.
enum Mark {
    /// That end has not read (or the other end is not in use).
    Unset,
    /// That end has yielded or passed over every key up to this one, this one included.
    Through(Key),
    /// That end has dealt with every key before this one (the key its cursor is at), not with
    /// this one: the mark of an end that moved while the other one was not in use yet.
    Before(Key),
    /// That end has dealt with every key: its cursor ran off its end.
    All,
}

impl Mark {
    /// The mark of an end whose cursor is `c` (see [`Mark::Before`]). No key lies strictly
    /// between the last one that end dealt with and its cursor's key, so this stops the other
    /// end exactly where a [`Mark::Through`] of that last key would.
    fn at_cursor(c: &MergeCursor) -> Mark {
        c.current().map_or(Mark::All, |cur| Mark::Before(cur.key()))
    }

    /// Whether an end moving toward `toward` (`Greater`: the front, `Less`: the back) must stop
    /// at `key` because the other end's mark is at or past it.
    fn stops(&self, key: &[u8], toward: std::cmp::Ordering) -> bool {
        match self {
            Mark::Unset => false,
            Mark::All => true,
            Mark::Through(m) => key.cmp(&m[..]) != toward.reverse(),
            Mark::Before(m) => key.cmp(&m[..]) == toward,
        }
    }
}

/// A step function of one end of a [`DbIter`].
type Step = fn(&mut DbIter) -> Result<Option<(Key, Value)>>;

impl DbIter {
    /// One step from either end; the iterator ends after its last item or its first error.
    fn step(&mut self, f: Step) -> Option<Result<(Key, Value)>> {
        if let Some(e) = self.failed.take() {
            self.done = true;
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        let r = f(self).transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

impl Iterator for DbIter {
    type Item = Result<(Key, Value)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(Self::step_front)
    }
}

impl DoubleEndedIterator for DbIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(Self::step_back)
    }
}

impl std::iter::FusedIterator for DbIter {}

/// Children over memtables, for tests of this module.
#[cfg(test)]
fn mem_children(mems: &[Arc<crate::memtable::Memtable>]) -> Vec<Box<dyn InternalCursor>> {
    mems.iter()
        .map(|m| Box::new(super::MemIter::new(m.clone())) as Box<dyn InternalCursor>)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ValueKind;
    use crate::memtable::Memtable;
    use std::collections::BTreeMap;

    fn iter_over(mems: Vec<Arc<Memtable>>, snap: SeqNo, bounds: Bounds) -> DbIter {
        iter_at_time(mems, snap, 0, bounds)
    }

    fn iter_at_time(
        mems: Vec<Arc<Memtable>>,
        snap: SeqNo,
        now_millis: u64,
        bounds: Bounds,
    ) -> DbIter {
        let f: Arc<SourceFactory> = Arc::new(move |_b: &Bounds| mem_children(&mems));
        DbIter::new(f, snap, now_millis, bounds, None)
    }

    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn keys(it: impl Iterator<Item = Result<(Key, Value)>>) -> Pairs {
        it.map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
    }

    /// The keys of `it` read from the front and the back in turns, in key order.
    fn alternate_ends(mut it: DbIter) -> Vec<Vec<u8>> {
        let (mut front, mut back) = (Vec::new(), Vec::new());
        loop {
            match it.next() {
                Some(r) => front.push(r.unwrap().0.to_vec()),
                None => break,
            }
            match it.next_back() {
                Some(r) => back.push(r.unwrap().0.to_vec()),
                None => break,
            }
        }
        back.reverse();
        front.extend(back);
        front
    }

    /// `(key, value)` pairs as the iterator returns them.
    fn pairs(kv: &[(&str, &str)]) -> Pairs {
        kv.iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn versions_tombstones_and_snapshots() {
        let a = Arc::new(Memtable::new(1));
        let b = Arc::new(Memtable::new(2));
        a.insert(b"k1", 1, ValueKind::Put, b"old");
        a.insert(b"k2", 2, ValueKind::Put, b"two");
        b.insert(b"k1", 3, ValueKind::Put, b"new");
        b.insert(b"k2", 4, ValueKind::Delete, b"");
        b.insert(b"k3", 5, ValueKind::Put, b"three");
        let all = Bounds::all();
        let over = |snap: SeqNo| iter_over(vec![b.clone(), a.clone()], snap, all.clone());
        assert_eq!(keys(over(5)), pairs(&[("k1", "new"), ("k3", "three")]));
        assert_eq!(keys(over(5).rev()), pairs(&[("k3", "three"), ("k1", "new")]));
        assert_eq!(keys(over(2)), pairs(&[("k1", "old"), ("k2", "two")]));
        assert_eq!(keys(over(2).rev()), pairs(&[("k2", "two"), ("k1", "old")]));
    }

    /// An expired value hides the key and its older versions, in both directions; the values
    /// yielded are the user's, without the expiry.
    #[test]
    fn expired_values_hide_their_key() {
        let m = Arc::new(Memtable::new(1));
        let exp = |at: u64, v: &[u8]| [&at.to_le_bytes()[..], v].concat();
        m.insert(b"a", 1, ValueKind::Put, b"a-old");
        m.insert(b"a", 2, ValueKind::PutExpiring, &exp(100, b"a-ttl"));
        m.insert(b"b", 3, ValueKind::PutExpiring, &exp(200, b"b-ttl"));
        m.insert(b"c", 4, ValueKind::PutExpiring, &exp(100, b"c-old"));
        m.insert(b"c", 5, ValueKind::Put, b"c-new");
        let at = |snap: SeqNo, now: u64| iter_at_time(vec![m.clone()], snap, now, Bounds::all());
        let early = pairs(&[("a", "a-ttl"), ("b", "b-ttl"), ("c", "c-new")]);
        assert_eq!(keys(at(5, 99)), early);
        assert_eq!(keys(at(5, 99).rev()), reversed(early.clone()));
        let mid = pairs(&[("b", "b-ttl"), ("c", "c-new")]);
        assert_eq!(keys(at(5, 100)), mid);
        assert_eq!(keys(at(5, 100).rev()), reversed(mid.clone()));
        assert_eq!(keys(at(5, 200)), pairs(&[("c", "c-new")]));
        assert_eq!(keys(at(5, 200).rev()), pairs(&[("c", "c-new")]));
        // An older snapshot sees the older versions, also expired by time.
        assert_eq!(keys(at(4, 99)), pairs(&[("a", "a-ttl"), ("b", "b-ttl"), ("c", "c-old")]));
        assert_eq!(keys(at(4, 150).rev()), pairs(&[("b", "b-ttl")]));
        assert_eq!(keys(at(1, 150)), pairs(&[("a", "a-old")]));
        // Borrowed, the same entries and the user's part of each value.
        assert_eq!(lent(at(5, 99)), early);
        assert_eq!(lent(at(5, 100)), mid);
        assert_eq!(lent(at(4, 99)), pairs(&[("a", "a-ttl"), ("b", "b-ttl"), ("c", "c-old")]));
        assert_eq!(lent(at(4, 150)), pairs(&[("b", "b-ttl")]));
    }

    /// What `next_ref` yields, copied.
    fn lent(mut it: DbIter) -> Pairs {
        let mut out = Pairs::new();
        while let Some(r) = it.next_ref() {
            let (k, v) = r.unwrap();
            out.push((k.to_vec(), v.to_vec()));
        }
        out
    }

    fn reversed(mut p: Pairs) -> Pairs {
        p.reverse();
        p
    }

    #[test]
    fn bounds_and_both_ends_against_a_model() {
        let m = Arc::new(Memtable::new(1));
        let mut model = BTreeMap::new();
        let mut seq = 0;
        for i in 0..200u32 {
            let k = format!("{:03}", (i * 37) % 101).into_bytes();
            seq += 1;
            if i % 7 == 3 {
                m.insert(&k, seq, ValueKind::Delete, b"");
                model.remove(&k);
            } else {
                let v = format!("v{i}").into_bytes();
                m.insert(&k, seq, ValueKind::Put, &v);
                model.insert(k, v);
            }
        }
        type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);
        let cases: Vec<Range> = vec![
            (Bound::Unbounded, Bound::Unbounded),
            (
                Bound::Included(b"010".to_vec()),
                Bound::Excluded(b"050".to_vec()),
            ),
            (
                Bound::Excluded(b"010".to_vec()),
                Bound::Included(b"050".to_vec()),
            ),
            (Bound::Included(b"0999".to_vec()), Bound::Unbounded),
            (
                Bound::Included(b"5".to_vec()),
                Bound::Included(b"1".to_vec()),
            ),
        ];
        for (lo, hi) in cases {
            let bounds = Bounds {
                lower: lo.clone(),
                upper: hi.clone(),
                prefix: None,
            };
            let expect: Pairs = if bounds.is_empty() {
                vec![]
            } else {
                model
                    .range((lo.clone(), hi.clone()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            assert_eq!(
                keys(iter_over(vec![m.clone()], seq, bounds.clone())),
                expect
            );
            let mut rev = expect.clone();
            rev.reverse();
            assert_eq!(
                keys(iter_over(vec![m.clone()], seq, bounds.clone()).rev()),
                rev
            );
            // Alternate ends: every item exactly once.
            let ks: Vec<Vec<u8>> = expect.into_iter().map(|(k, _)| k).collect();
            assert_eq!(alternate_ends(iter_over(vec![m.clone()], seq, bounds)), ks);
        }
    }

    /// One end runs for a while alone, then the other starts (and they alternate): the two ends
    /// yield every visible key once between them, whatever the hidden versions, tombstones and
    /// versions newer than the snapshot around the point where they meet.
    #[test]
    fn ends_started_one_after_the_other_meet_exactly() {
        let a = Arc::new(Memtable::new(1));
        let b = Arc::new(Memtable::new(2));
        let seq = std::cell::Cell::new(0);
        let put = |m: &Memtable, k: &str, kind: ValueKind| {
            seq.set(seq.get() + 1);
            m.insert(k.as_bytes(), seq.get(), kind, k.as_bytes());
        };
        for k in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            put(&a, k, ValueKind::Put);
        }
        put(&b, "b", ValueKind::Delete); // b deleted
        put(&b, "d", ValueKind::Put); // d twice
        put(&b, "f", ValueKind::Delete); // f deleted ...
        let snap = seq.get();
        put(&b, "c", ValueKind::Delete); // ... and c deleted after the snapshot: still visible
        put(&b, "i", ValueKind::Put); // a key after the snapshot: invisible
        let want: Vec<Vec<u8>> = ["a", "c", "d", "e", "g", "h"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        let over = || iter_over(vec![b.clone(), a.clone()], snap, Bounds::all());
        for first_front in [true, false] {
            for alone in 0..=want.len() + 1 {
                // `alone` steps from one end, then alternate starting with the other end.
                let mut it = over();
                let (mut front, mut back) = (Vec::new(), Vec::new());
                let mut step = |from_front: bool, it: &mut DbIter| {
                    let r = if from_front { it.next() } else { it.next_back() };
                    match r {
                        Some(kv) => {
                            let k = kv.unwrap().0.to_vec();
                            if from_front { front.push(k) } else { back.push(k) }
                            true
                        }
                        None => false,
                    }
                };
                let mut more = true;
                for _ in 0..alone {
                    more = more && step(first_front, &mut it);
                }
                let mut turn = !first_front;
                while more {
                    more = step(turn, &mut it);
                    turn = !turn;
                }
                back.reverse();
                front.extend(back);
                assert_eq!(front, want, "first_front {first_front}, alone {alone}");
            }
        }
    }

    /// Counts the steps of the cursor it wraps.
    struct Counting(super::super::MemIter, Arc<std::sync::atomic::AtomicUsize>);

    impl InternalCursor for Counting {
        fn valid(&self) -> bool {
            self.0.valid()
        }
        fn seek_to_first(&mut self) -> Result<()> {
            self.0.seek_to_first()
        }
        fn seek_to_last(&mut self) -> Result<()> {
            self.0.seek_to_last()
        }
        fn seek(&mut self, k: &[u8], t: u64) -> Result<()> {
            self.0.seek(k, t)
        }
        fn seek_for_prev(&mut self, k: &[u8], t: u64) -> Result<()> {
            self.0.seek_for_prev(k, t)
        }
        fn next(&mut self) -> Result<()> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.next()
        }
        fn prev(&mut self) -> Result<()> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.prev()
        }
        fn user_key(&self) -> &[u8] {
            self.0.user_key()
        }
        fn trailer(&self) -> u64 {
            self.0.trailer()
        }
        fn value(&self) -> Value {
            self.0.value()
        }
        fn value_slice(&self) -> &[u8] {
            self.0.value_slice()
        }
        fn key(&self) -> Key {
            self.0.key()
        }
        fn max_seqno(&self) -> SeqNo {
            self.0.max_seqno()
        }
    }

    /// 2000 keys in an old memtable, then a tombstone over 1800 of them and two puts inside it
    /// in a new one: a scan from either end, or from both in turns, yields exactly the 202 live
    /// keys, and seeks the old memtable over the deleted ones instead of stepping through them.
    /// At a snapshot before the tombstone every key is there.
    #[test]
    fn scans_seek_over_what_a_range_tombstone_deletes() {
        use crate::format::RangeEnd;
        use crate::rangedel::RangeTombstone;
        let key = |i: usize| format!("k{i:04}").into_bytes();
        let old = Arc::new(Memtable::new(1));
        for i in 0..2000 {
            old.insert(&key(i), i as SeqNo + 1, ValueKind::Put, b"old");
        }
        let new = Arc::new(Memtable::new(2));
        new.insert_range_tombstone(RangeTombstone {
            start: key(100),
            end: RangeEnd::Before(key(1900)),
            seqno: 3000,
        });
        new.insert(&key(500), 3001, ValueKind::Put, b"new");
        new.insert(&key(1000), 3002, ValueKind::Put, b"new");
        let steps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let scan = |snap: SeqNo| {
            let mut set = TombstoneSet::default();
            new.push_range_fragments(&mut set);
            let (old, new, steps) = (old.clone(), new.clone(), steps.clone());
            let f: Arc<SourceFactory> = Arc::new(move |_b: &Bounds| {
                [&new, &old]
                    .into_iter()
                    .map(|m| {
                        Box::new(Counting(super::super::MemIter::new((*m).clone()), steps.clone()))
                            as Box<dyn InternalCursor>
                    })
                    .collect()
            });
            DbIter::new(f, snap, 0, Bounds::all(), None).with_range_tombstones(set)
        };
        let want: Vec<Vec<u8>> = (0..100)
            .chain([500, 1000])
            .chain(1900..2000)
            .map(key)
            .collect();
        let names = |v: Vec<(Key, Value)>| v.into_iter().map(|(k, _)| k.to_vec()).collect::<Vec<_>>();
        let taken = |steps: &std::sync::atomic::AtomicUsize| {
            steps.swap(0, std::sync::atomic::Ordering::Relaxed)
        };

        let fwd: Vec<(Key, Value)> = scan(3002).map(|r| r.unwrap()).collect();
        assert_eq!(names(fwd), want);
        let n = taken(&steps);
        assert!(n < 400, "{n} steps forward");

        let mut back: Vec<Vec<u8>> = names(scan(3002).rev().map(|r| r.unwrap()).collect());
        back.reverse();
        assert_eq!(back, want);
        let n = taken(&steps);
        assert!(n < 400, "{n} steps backward");

        // Both ends in turns meet exactly once.
        assert_eq!(alternate_ends(scan(3002)), want);

        // Before the tombstone, nothing is deleted and nothing is skipped.
        assert_eq!(scan(2999).count(), 2000);
        assert_eq!(scan(2999).rev().count(), 2000);
    }

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_upper_bound(b"\xff\xff"), None);
        assert_eq!(prefix_upper_bound(b""), None);
    }
}
