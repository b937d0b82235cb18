//! Conflict detection for optimistic transactions (serializable snapshot isolation).
//!
//! A transaction records what it read: point reads as 64-bit hashes of (keyspace, key), range
//! reads as (keyspace, bounds), both bounded in number ([`ReadSet`]). At commit, under the WAL
//! lock, its reads are checked against every write committed after its snapshot, which the
//! [`CommitLog`] keeps while any transaction is open: a key in the read set (by hash) or inside a
//! read range means another commit changed what the transaction saw, and it fails with
//! `Error::Conflict`. Checking reads, not only writes, prevents write skew.
//!
//! The log holds the keys written by commits newer than the oldest open transaction's snapshot,
//! and nothing at all while no transaction is open (plain writes then pay one atomic load). Its
//! size is bounded: past [`LOG_BUDGET_BYTES`] the oldest entries go and the log's `floor` rises; a
//! transaction whose snapshot is below the floor can no longer be checked and fails with
//! `Error::Conflict` at commit (retrying it takes a fresh snapshot).
//!
//! Registration race: a commit appends its keys after it has published its seqnos, and only if a
//! transaction is registered then (both `SeqCst`). A transaction registers before it reads the
//! visible seqno. So a commit that saw no transaction precedes the registration, and the
//! transaction's snapshot includes the commit: nothing it must be checked against is missed.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::iter::Bounds;
use crate::key::SeqNo;

/// Bytes of keys the commit log may hold before it drops its oldest entries.
pub(crate) const LOG_BUDGET_BYTES: usize = 64 << 20;
/// Most point reads one transaction may track.
pub(crate) const MAX_READ_KEYS: usize = 1 << 20;
/// Most range reads one transaction may track.
pub(crate) const MAX_READ_RANGES: usize = 1 << 14;

/// The 64-bit hash of a key in a keyspace, as read sets and the log compare them.
pub(crate) fn key_hash(keyspace: u32, key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key, u64::from(keyspace))
}

/// What a transaction read.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReadSet {
    pub keys: HashSet<u64>,
    pub ranges: Vec<(u32, Bounds)>,
}

impl ReadSet {
    /// Records a point read.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] once the transaction has read more than [`MAX_READ_KEYS`] keys.
    pub fn add_key(&mut self, keyspace: u32, key: &[u8]) -> Result<()> {
        if self.keys.len() >= MAX_READ_KEYS {
            return Err(Error::InvalidArgument(format!(
                "transaction too large: it read more than {MAX_READ_KEYS} keys; split it"
            )));
        }
        self.keys.insert(key_hash(keyspace, key));
        Ok(())
    }

    /// Records a range read.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] past [`MAX_READ_RANGES`] ranges.
    pub fn add_range(&mut self, keyspace: u32, bounds: Bounds) -> Result<()> {
        if self.ranges.len() >= MAX_READ_RANGES {
            return Err(Error::InvalidArgument(format!(
                "transaction too large: it scanned more than {MAX_READ_RANGES} ranges; split it"
            )));
        }
        self.ranges.push((keyspace, bounds));
        Ok(())
    }

    fn in_ranges(&self, keyspace: u32, key: &[u8]) -> bool {
        self.ranges
            .iter()
            .any(|(ks, b)| *ks == keyspace && b.contains(key))
    }

    /// Whether a write of `w` changes something this read set saw.
    fn conflicts_with(&self, w: &Written) -> bool {
        match &w.what {
            WrittenKey::Key { key, hash } => {
                self.keys.contains(hash) || self.in_ranges(w.keyspace, key)
            }
            // A range delete: the point reads are known by hash only, so any point read in the
            // keyspace counts (a false conflict at worst, never a missed one).
            WrittenKey::Range { start, end } => {
                !self.keys.is_empty()
                    || self.ranges.iter().any(|(ks, b)| {
                        *ks == w.keyspace && b.overlaps_range(start, end.as_deref())
                    })
            }
        }
    }
}

/// What a transaction's commit is checked with.
#[derive(Debug)]
pub(crate) struct Check {
    /// The transaction's snapshot: writes above it are conflicts if they touch `reads`.
    pub snapshot: SeqNo,
    pub reads: ReadSet,
}

/// A key (or range) some commit wrote.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub seqno: SeqNo,
    pub keyspace: u32,
    pub what: WrittenKey,
}

#[derive(Debug, Clone)]
pub(crate) enum WrittenKey {
    Key { key: Vec<u8>, hash: u64 },
    /// `[start, end)`; `None` end: to the end of the keyspace.
    Range { start: Vec<u8>, end: Option<Vec<u8>> },
}

impl Written {
    fn bytes(&self) -> usize {
        48 + match &self.what {
            WrittenKey::Key { key, .. } => key.len(),
            WrittenKey::Range { start, end } => start.len() + end.as_ref().map_or(0, Vec::len),
        }
    }
}

#[derive(Default)]
struct LogInner {
    entries: VecDeque<Written>,
    bytes: usize,
    /// Writes at or below this seqno may have been dropped from the log.
    floor: SeqNo,
}

/// Committed writes newer than the oldest open transaction's snapshot, and the open
/// transactions' snapshots.
#[derive(Default)]
pub(crate) struct CommitLog {
    open: AtomicUsize,
    snapshots: Mutex<BTreeMap<SeqNo, usize>>,
    inner: Mutex<LogInner>,
}

impl CommitLog {
    /// Registers an open transaction; returns its snapshot, read from `visible` after
    /// registering (see the module doc).
    pub fn begin(&self, visible: impl FnOnce() -> SeqNo) -> SeqNo {
        self.open.fetch_add(1, Ordering::SeqCst);
        let mut snaps = self.snapshots.lock();
        let s = visible();
        *snaps.entry(s).or_insert(0) += 1;
        s
    }

    /// Unregisters a transaction of snapshot `s`.
    pub fn end(&self, s: SeqNo) {
        let mut snaps = self.snapshots.lock();
        if let Some(n) = snaps.get_mut(&s) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&s);
            }
        }
        drop(snaps);
        self.open.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether any transaction is open (commits must then log their writes).
    pub fn any_open(&self) -> bool {
        self.open.load(Ordering::SeqCst) > 0
    }

    /// Checks `check` against the log and against `pending` (writes of earlier batches of the
    /// same commit group, not yet logged). Requires the WAL lock.
    ///
    /// # Errors
    /// [`Error::Conflict`].
    pub fn verify(&self, check: &Check, pending: &[Written]) -> Result<()> {
        let inner = self.inner.lock();
        if check.snapshot < inner.floor {
            return Err(Error::Conflict);
        }
        let newer = inner
            .entries
            .iter()
            .rev()
            .take_while(|w| w.seqno > check.snapshot);
        if newer
            .chain(pending.iter())
            .any(|w| check.reads.conflicts_with(w))
        {
            return Err(Error::Conflict);
        }
        Ok(())
    }

    /// Appends committed writes (in seqno order) and drops what no open transaction needs.
    /// Requires the WAL lock.
    pub fn append(&self, writes: Vec<Written>) {
        let oldest = self.snapshots.lock().keys().next().copied();
        let mut inner = self.inner.lock();
        match oldest {
            None => {
                inner.entries.clear();
                inner.bytes = 0;
                return;
            }
            Some(oldest) => {
                while inner.entries.front().is_some_and(|w| w.seqno <= oldest) {
                    drop_front(&mut inner);
                }
            }
        }
        for w in writes {
            inner.bytes += w.bytes();
            inner.entries.push_back(w);
        }
        while inner.bytes > LOG_BUDGET_BYTES {
            drop_front(&mut inner);
        }
    }
}

fn drop_front(inner: &mut LogInner) {
    if let Some(w) = inner.entries.pop_front() {
        inner.bytes -= w.bytes();
        inner.floor = inner.floor.max(w.seqno);
    }
}

impl Bounds {
    /// Whether `key` lies within these bounds (prefix included).
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.above_lower(key)
            && self.below_upper(key)
            && self.prefix.as_ref().is_none_or(|p| key.starts_with(p))
    }

    /// Whether some key of `[start, end)` (`None`: unbounded) lies within these bounds.
    pub(crate) fn overlaps_range(&self, start: &[u8], end: Option<&[u8]>) -> bool {
        let below_upper = self.below_upper(start);
        let above_lower = match (&self.lower, end) {
            (_, None) | (Bound::Unbounded, _) => true,
            (Bound::Included(l) | Bound::Excluded(l), Some(e)) => l.as_slice() < e,
        };
        below_upper && above_lower
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn write(seqno: SeqNo, key: &[u8]) -> Written {
        Written {
            seqno,
            keyspace: 0,
            what: WrittenKey::Key {
                key: key.to_vec(),
                hash: key_hash(0, key),
            },
        }
    }

    #[test]
    fn reads_conflict_with_newer_writes_only() {
        let log = CommitLog::default();
        let s = log.begin(|| 10);
        log.append(vec![write(11, b"a"), write(12, b"m")]);
        let mut reads = ReadSet::default();
        reads.add_key(0, b"a").unwrap();
        assert!(matches!(
            log.verify(&Check { snapshot: s, reads: reads.clone() }, &[]),
            Err(Error::Conflict)
        ));
        // Taken after those writes: no conflict.
        assert!(log.verify(&Check { snapshot: 12, reads }, &[]).is_ok());
        let mut ranges = ReadSet::default();
        ranges
            .add_range(
                0,
                Bounds {
                    lower: Bound::Included(b"k".to_vec()),
                    upper: Bound::Excluded(b"n".to_vec()),
                    prefix: None,
                },
            )
            .unwrap();
        let check = Check { snapshot: s, reads: ranges };
        assert!(log.verify(&check, &[]).is_err(), "m is in [k, n)");
        assert!(log.verify(&Check { snapshot: 12, ..check }, &[write(13, b"z")]).is_ok());
        log.end(s);
        log.append(vec![write(14, b"q")]);
        assert_eq!(log.inner.lock().entries.len(), 0, "no open transaction: nothing kept");
    }

    #[test]
    fn a_range_delete_conflicts_with_overlapping_reads() {
        let b = Bounds {
            lower: Bound::Included(b"b".to_vec()),
            upper: Bound::Excluded(b"d".to_vec()),
            prefix: None,
        };
        assert!(b.overlaps_range(b"a", Some(b"c")));
        assert!(!b.overlaps_range(b"a", Some(b"b")));
        assert!(!b.overlaps_range(b"d", None));
        assert!(b.overlaps_range(b"c", None));
    }
}
