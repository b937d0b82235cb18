//! Optimistic, serializable transactions: [`Transaction`], from [`Db::transaction`].
//!
//! A transaction reads a snapshot taken when it began, overlaid with its own writes
//! (read-your-writes, also in iterators, both directions), and buffers its writes. `commit` writes
//! them atomically as one WAL record (across keyspaces, through the group commit, so concurrent
//! transactions share fsyncs) if no other commit since the snapshot wrote a key or range it read;
//! otherwise it fails with [`Error::Conflict`] and writes nothing. Checking reads, not only writes,
//! makes it serializable: write skew is prevented, not only lost updates. See
//! `db/conflicts.rs` for how the reads are tracked (bounded) and checked.
//!
//! ```
//! # fn main() -> lsmkv::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use lsmkv::{Db, Error, Options};
//! let db = Db::open(dir.path(), Options::default())?;
//! db.put("alice", 100u64.to_le_bytes())?;
//! db.put("bob", 0u64.to_le_bytes())?;
//! let balance = |v: Option<lsmkv::Value>| u64::from_le_bytes(v.unwrap()[..8].try_into().unwrap());
//! // Move 30 from alice to bob, retrying on conflict.
//! loop {
//!     let mut tx = db.transaction();
//!     let a = balance(tx.get("alice")?);
//!     let b = balance(tx.get("bob")?);
//!     tx.put("alice", (a - 30).to_le_bytes());
//!     tx.put("bob", (b + 30).to_le_bytes());
//!     match tx.commit() {
//!         Ok(()) => break,
//!         Err(Error::Conflict) => continue,
//!         Err(e) => return Err(e),
//!     }
//! }
//! assert_eq!(balance(db.get("bob")?), 30);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::sync::Arc;

use crate::batch::WriteBatch;
use crate::db::conflicts::{Check, ReadSet};
use crate::db::{Db, Snapshot};
use crate::error::{Error, Result};
use crate::format::{RangeEnd, ValueKind};
use crate::iter::{Bounds, DbIter};
use crate::db::Keyspace;
use crate::value::{Key, Value};

/// An optimistic transaction (see the module documentation). Dropping it without `commit` rolls
/// it back (nothing was written). Not `Sync`: one thread uses it at a time; `Send`.
pub struct Transaction {
    db: Db,
    snapshot: Snapshot,
    /// Own writes by (keyspace id, key): a value, or `None` for a delete.
    writes: BTreeMap<(u32, Vec<u8>), Option<Vec<u8>>>,
    /// Own range deletes: (keyspace id, start, end). Own writes made before one were removed from
    /// `writes`; those made after it stay there and win over it.
    range_dels: Vec<(u32, Vec<u8>, RangeEnd)>,
    reads: ReadSet,
    /// The first "too large to track" error: `commit` returns it.
    failed: Option<Error>,
    default: Keyspace,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("snapshot", &self.snapshot.seqno())
            .field("writes", &self.writes.len())
            .field("reads", &self.reads.keys.len())
            .field("ranges", &self.reads.ranges.len())
            .finish()
    }
}

impl Db {
    /// Starts an optimistic, serializable transaction over every keyspace (see
    /// [`Transaction`]).
    pub fn transaction(&self) -> Transaction {
        let snapshot = self.begin_transaction();
        Transaction {
            db: self.clone(),
            default: self.default_keyspace(),
            snapshot,
            writes: BTreeMap::new(),
            range_dels: Vec::new(),
            reads: ReadSet::default(),
            failed: None,
        }
    }
}

impl Transaction {
    /// The sequence number of the snapshot this transaction reads.
    pub fn seqno(&self) -> u64 {
        self.snapshot.seqno()
    }

    fn note(&mut self, r: Result<()>) {
        if let Err(e) = r
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
    }

    fn own(&self, ks: u32, key: &[u8]) -> Option<Option<Vec<u8>>> {
        if let Some(w) = self.writes.get(&(ks, key.to_vec())) {
            return Some(w.clone());
        }
        self.range_deleted(ks, key).then_some(None)
    }

    fn range_deleted(&self, ks: u32, key: &[u8]) -> bool {
        self.range_dels
            .iter()
            .any(|(id, start, end)| *id == ks && end.contains(start, key))
    }

    /// Reads `key` of the `default` keyspace: this transaction's own write, else the snapshot.
    ///
    /// # Errors
    /// [`Error::Corruption`] from a damaged block; [`Error::InvalidArgument`] when the
    /// transaction has read too many keys to track.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        let ks = self.default.clone();
        self.get_in(&ks, key)
    }

    /// Reads `key` of keyspace `ks`.
    ///
    /// # Errors
    /// As [`Transaction::get`]; [`Error::KeyspaceNotFound`].
    pub fn get_in(&mut self, ks: &Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        let key = key.as_ref();
        if let Some(own) = self.own(ks.id(), key) {
            return Ok(own.map(Value::from));
        }
        self.reads.add_key(ks.id(), key)?;
        self.snapshot.get_in(ks, key)
    }

    /// Iterates the `default` keyspace's keys in `range`, this transaction's writes included.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&mut self, range: R) -> TxIter {
        let ks = self.default.clone();
        self.range_in(&ks, range)
    }

    /// Iterates the `default` keyspace's keys starting with `prefix`.
    pub fn prefix(&mut self, prefix: impl AsRef<[u8]>) -> TxIter {
        let ks = self.default.clone();
        self.prefix_in(&ks, prefix)
    }

    /// Iterates keyspace `ks`'s keys in `range` (forward, or backward with `.rev()`), this
    /// transaction's writes included. The whole range counts as read.
    pub fn range_in<K: AsRef<[u8]>, R: RangeBounds<K>>(&mut self, ks: &Keyspace, range: R) -> TxIter {
        let bounds = crate::db::to_bounds(&range);
        let inner = self.snapshot.range_in(ks, range);
        self.iter(ks, bounds, inner)
    }

    /// Iterates keyspace `ks`'s keys starting with `prefix`.
    pub fn prefix_in(&mut self, ks: &Keyspace, prefix: impl AsRef<[u8]>) -> TxIter {
        let prefix = prefix.as_ref();
        let bounds = crate::db::prefix_bounds(prefix);
        let inner = self.snapshot.prefix_in(ks, prefix);
        self.iter(ks, bounds, inner)
    }

    fn iter(&mut self, ks: &Keyspace, bounds: Bounds, inner: DbIter) -> TxIter {
        let r = self.reads.add_range(ks.id(), bounds.clone());
        self.note(r);
        let own: Vec<(Vec<u8>, Option<Vec<u8>>)> = self
            .writes
            .range((ks.id(), Vec::new())..)
            .take_while(|((id, _), _)| *id == ks.id())
            .filter(|((_, k), _)| bounds.contains(k))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        let hidden: Vec<(Vec<u8>, RangeEnd)> = self
            .range_dels
            .iter()
            .filter(|(id, _, _)| *id == ks.id())
            .map(|(_, s, e)| (s.clone(), e.clone()))
            .collect();
        TxIter::new(inner, own, hidden)
    }

    /// Writes `key` = `value` in the `default` keyspace (buffered until commit).
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.writes
            .insert((0, key.as_ref().to_vec()), Some(value.as_ref().to_vec()));
    }

    /// Writes `key` = `value` in keyspace `ks`.
    pub fn put_in(&mut self, ks: &Keyspace, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.writes.insert(
            (ks.id(), key.as_ref().to_vec()),
            Some(value.as_ref().to_vec()),
        );
    }

    /// Deletes `key` from the `default` keyspace.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        self.writes.insert((0, key.as_ref().to_vec()), None);
    }

    /// Deletes `key` from keyspace `ks`.
    pub fn delete_in(&mut self, ks: &Keyspace, key: impl AsRef<[u8]>) {
        self.writes.insert((ks.id(), key.as_ref().to_vec()), None);
    }

    /// Deletes every key of the `default` keyspace in `range` (one range tombstone at commit);
    /// later reads of this transaction see them gone, writes made after it are kept.
    pub fn delete_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&mut self, range: R) {
        let ks = self.default.clone();
        self.delete_range_in(&ks, range);
    }

    /// [`Transaction::delete_range`] in keyspace `ks`.
    pub fn delete_range_in<K: AsRef<[u8]>, R: RangeBounds<K>>(&mut self, ks: &Keyspace, range: R) {
        let (lower, upper) = (range.start_bound(), range.end_bound());
        let Some((start, end)) = crate::rangedel::range_to_tombstone(
            lower.map(AsRef::as_ref),
            upper.map(AsRef::as_ref),
        ) else {
            return;
        };
        let id = ks.id();
        self.writes
            .retain(|(k_id, k), _| !(*k_id == id && end.contains(&start, k)));
        self.range_dels.push((id, start, end));
    }

    /// Writes everything this transaction wrote, atomically, unless another commit since its
    /// snapshot wrote something it read. A transaction that wrote nothing commits trivially.
    ///
    /// # Errors
    /// [`Error::Conflict`]: nothing was written; retry with a new transaction.
    /// [`Error::InvalidArgument`] when it read too much to track; the errors of [`Db::write`].
    pub fn commit(mut self) -> Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.writes.is_empty() && self.range_dels.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        // Range deletes first: the point writes left in `writes` were made after them.
        for (ks, start, end) in std::mem::take(&mut self.range_dels) {
            batch.push_range_delete(ks, &start, &end);
        }
        for ((ks, key), value) in std::mem::take(&mut self.writes) {
            match (value, self.db.keyspace_ttl(ks)) {
                (Some(v), Some(ttl)) => batch.push_ttl(ks, &key, &v, ttl),
                (Some(v), None) => batch.push_entry(ks, ValueKind::Put, &key, &[&v]),
                (None, _) => batch.push_entry(ks, ValueKind::Delete, &key, &[]),
            }
        }
        let check = Arc::new(Check {
            snapshot: self.snapshot.seqno(),
            reads: std::mem::take(&mut self.reads),
        });
        self.db.write_transaction(batch, check)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.db.end_transaction(self.snapshot.seqno());
    }
}

/// Iterator of a transaction: the snapshot's entries merged with the transaction's own writes
/// (own writes win; own deletes hide keys), in key order or reversed.
pub struct TxIter {
    inner: DbIter,
    own: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The transaction's own range deletes in this keyspace: snapshot entries inside are hidden.
    hidden: Vec<(Vec<u8>, RangeEnd)>,
    /// Own writes not yet consumed: `own[lo..hi]`.
    lo: usize,
    hi: usize,
    front: Option<Result<(Key, Value)>>,
    back: Option<Result<(Key, Value)>>,
    /// Last key returned from each end; the ends never cross.
    last_front: Option<Vec<u8>>,
    last_back: Option<Vec<u8>>,
    done: bool,
}

impl std::fmt::Debug for TxIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxIter").field("own", &self.own.len()).finish()
    }
}

impl TxIter {
    fn new(
        inner: DbIter,
        own: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        hidden: Vec<(Vec<u8>, RangeEnd)>,
    ) -> TxIter {
        let hi = own.len();
        TxIter {
            inner,
            own,
            hidden,
            lo: 0,
            hi,
            front: None,
            back: None,
            last_front: None,
            last_back: None,
            done: false,
        }
    }

    fn crosses(&self, key: &[u8], forward: bool) -> bool {
        if forward {
            self.last_back.as_deref().is_some_and(|b| key >= b)
        } else {
            self.last_front.as_deref().is_some_and(|f| key <= f)
        }
    }

    fn step(&mut self, forward: bool) -> Option<Result<(Key, Value)>> {
        loop {
            if self.done {
                return None;
            }
            let peeked = self.peek_db(forward);
            if let Some(Err(_)) = peeked {
                self.done = true;
                return self.slot(forward).take();
            }
            let db_key: Option<Vec<u8>> = match peeked {
                Some(Ok((k, _))) => Some(k.to_vec()),
                _ => None,
            };
            let own_idx = (self.lo < self.hi).then(|| if forward { self.lo } else { self.hi - 1 });
            let own_key = own_idx.and_then(|i| self.own.get(i)).map(|(k, _)| k.clone());
            // The next key in this direction; own writes win ties.
            let take_own = match (&db_key, &own_key) {
                (None, None) => {
                    self.done = true;
                    return None;
                }
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(d), Some(o)) => (forward && o <= d) || (!forward && o >= d),
            };
            if !take_own {
                match self.take_db(forward) {
                    Some(item) => return item,
                    None => continue,
                }
            }
            if let Some(item) = self.take_own(own_idx, db_key.as_deref(), forward) {
                return item;
            }
        }
    }

    /// The snapshot's next entry in this direction, read into its slot if not there yet.
    fn peek_db(&mut self, forward: bool) -> Option<&Result<(Key, Value)>> {
        if self.slot(forward).is_none() {
            let next = if forward {
                self.inner.next()
            } else {
                self.inner.next_back()
            };
            *self.slot(forward) = next;
        }
        self.slot(forward).as_ref()
    }

    fn slot(&mut self, forward: bool) -> &mut Option<Result<(Key, Value)>> {
        if forward {
            &mut self.front
        } else {
            &mut self.back
        }
    }

    /// Returns the peeked snapshot entry, unless it crosses the other end; `Some(None)` when
    /// the transaction's own range delete hides it (step again).
    fn take_db(&mut self, forward: bool) -> Option<Option<Result<(Key, Value)>>> {
        let Some(Ok((k, v))) = self.slot(forward).take() else {
            self.done = true;
            return Some(None);
        };
        if self.crosses(&k, forward) {
            self.done = true;
            return Some(None);
        }
        self.remember(&k, forward);
        if self
            .hidden
            .iter()
            .any(|(start, end)| end.contains(start, &k))
        {
            return None;
        }
        Some(Some(Ok((k, v))))
    }

    /// Consumes own write `idx` (shadowing the snapshot's entry of the same key). `None` when it
    /// was a delete (step again); `Some(None)` at the end.
    fn take_own(
        &mut self,
        idx: Option<usize>,
        db_key: Option<&[u8]>,
        forward: bool,
    ) -> Option<Option<Result<(Key, Value)>>> {
        let Some((k, v)) = idx.and_then(|i| self.own.get(i)).cloned() else {
            self.done = true;
            return Some(None);
        };
        if forward {
            self.lo += 1;
        } else {
            self.hi -= 1;
        }
        if db_key == Some(k.as_slice()) {
            *self.slot(forward) = None;
        }
        if self.crosses(&k, forward) {
            self.done = true;
            return Some(None);
        }
        self.remember(&k, forward);
        v.map(|v| Some(Ok((Key::from(k), Value::from(v)))))
    }

    fn remember(&mut self, k: &[u8], forward: bool) {
        if forward {
            self.last_front = Some(k.to_vec());
        } else {
            self.last_back = Some(k.to_vec());
        }
    }
}

impl Iterator for TxIter {
    type Item = Result<(Key, Value)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for TxIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}
