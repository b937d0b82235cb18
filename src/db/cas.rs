//! Versioned reads and conditional writes: `Db::get_versioned`, `Db::compare_and_swap`,
//! `Db::put_if_absent`, `Db::compare_and_write`.
//!
//! A key's version is the seqno of its newest write (a put; a tombstone, or an expired value,
//! makes it absent).
//! Compaction keeps seqnos as written (it never zeroes them), so a version changes only when the
//! key is written. The check and the write of a conditional write happen under the WAL lock
//! (`write::write_if`), so they are atomic with respect to every other write.

use std::sync::atomic::Ordering;

use super::tree::Tree;
use super::{Db, Shared, Snapshot, write};
use crate::batch::WriteBatch;
use crate::error::Result;
use crate::format::ValueKind;
use crate::key::{SeqNo, unpack_trailer};
use crate::value::Value;

/// What a conditional write ([`Db::compare_and_write`]) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// The key's version was the expected one and the write was applied; `version` is the new
    /// version of the key (the write's seqno; for a delete, the key is now absent).
    Written {
        /// Sequence number of the write.
        version: u64,
    },
    /// The key's version was not the expected one; nothing was written.
    Mismatch {
        /// The key's version at the time of the check (`None`: absent).
        current: Option<u64>,
    },
}

impl CasOutcome {
    /// Whether the write was applied.
    pub fn is_written(&self) -> bool {
        matches!(self, CasOutcome::Written { .. })
    }
}

impl Shared {
    /// The newest value of `key` visible at `snapshot` and its version.
    pub(crate) fn get_versioned_at(
        &self,
        tree: &Tree,
        key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(Value, u64)>> {
        self.counters.gets.fetch_add(1, Ordering::Relaxed);
        let sv = tree.sv.load();
        let out = match self.lookup(&sv, key, snapshot)? {
            Some((trailer, v)) => crate::ttl::live_value_at(trailer, v, || self.now_millis())?
                .map(|v| (v, unpack_trailer(trailer).0)),
            None => None,
        };
        if out.is_some() {
            self.counters.get_hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(out)
    }

    /// The version of `key` at `snapshot` (`None`: absent, also when expired), without counting a
    /// get.
    pub(super) fn version_at(
        &self,
        tree: &Tree,
        key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<u64>> {
        let sv = tree.sv.load();
        Ok(match self.lookup(&sv, key, snapshot)? {
            Some((trailer, v)) => crate::ttl::live_value_at(trailer, v, || self.now_millis())?
                .map(|_| unpack_trailer(trailer).0),
            None => None,
        })
    }
}

impl Db {
    /// Reads the newest value of `key` with its version: the sequence number of the write that
    /// stored it. The version changes only when the key is written (flushes, compactions and
    /// reopening keep it), so it can be passed to [`Db::compare_and_swap`].
    ///
    /// # Errors
    /// [`crate::Error::Corruption`] when a block on the lookup path is damaged.
    pub fn get_versioned(&self, key: impl AsRef<[u8]>) -> Result<Option<(Value, u64)>> {
        let s = self.shared();
        s.get_versioned_at(
            &s.default_tree,
            key.as_ref(),
            s.visible_seqno.load(Ordering::Acquire),
        )
    }

    /// Writes `new_value` to `key` only if the key's current version is `expected` (`None`: only
    /// if the key is absent). The check and the write are atomic: of several concurrent calls
    /// expecting the same version, exactly one returns `true`. Returns `false`, writing nothing,
    /// when the version did not match.
    ///
    /// ```
    /// # fn main() -> lsmkv::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default())?;
    /// // A counter incremented by read + compare-and-swap, retried when someone wrote in between.
    /// let increment = |key: &[u8]| -> lsmkv::Result<u64> {
    ///     loop {
    ///         let (n, version) = match db.get_versioned(key)? {
    ///             Some((v, ver)) => (u64::from_le_bytes(v[..8].try_into().unwrap()), Some(ver)),
    ///             None => (0, None),
    ///         };
    ///         if db.compare_and_swap(key, version, (n + 1).to_le_bytes())? {
    ///             return Ok(n + 1);
    ///         }
    ///     }
    /// };
    /// assert_eq!(increment(b"hits")?, 1);
    /// assert_eq!(increment(b"hits")?, 2);
    /// assert!(db.put_if_absent(b"owner", b"alice")?);
    /// assert!(!db.put_if_absent(b"owner", b"bob")?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<u64>,
        new_value: impl AsRef<[u8]>,
    ) -> Result<bool> {
        Ok(self
            .compare_and_write(key, expected, Some(new_value.as_ref()))?
            .is_written())
    }

    /// Writes `value` to `key` only if the key is absent (never written, or deleted). Returns
    /// whether it wrote. Atomic, as [`Db::compare_and_swap`] with `expected = None`.
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn put_if_absent(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        self.compare_and_swap(key, None, value)
    }

    /// The general conditional write: if the version of `key` is `expected` (`None`: absent),
    /// writes `new_value` (`None`: deletes the key) and returns the new version; otherwise returns
    /// the current version and writes nothing. Atomic as [`Db::compare_and_swap`].
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn compare_and_write(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<u64>,
        new_value: Option<&[u8]>,
    ) -> Result<CasOutcome> {
        let tree = self.shared().default_tree.clone();
        self.compare_and_write_in(&tree, key.as_ref(), expected, new_value)
    }

    /// [`Db::compare_and_write`] in the keyspace of `tree`.
    pub(crate) fn compare_and_write_in(
        &self,
        tree: &Tree,
        key: &[u8],
        expected: Option<u64>,
        new_value: Option<&[u8]>,
    ) -> Result<CasOutcome> {
        self.shared().check_writable()?;
        let mut b = WriteBatch::with_capacity(13 + key.len() + new_value.map_or(0, <[u8]>::len));
        match (new_value, tree.ttl()) {
            (Some(v), Some(ttl)) => b.push_ttl(tree.id, key, v, ttl),
            (Some(v), None) => b.push_entry(tree.id, ValueKind::Put, key, &[v]),
            (None, _) => b.push_entry(tree.id, ValueKind::Delete, key, &[]),
        }
        write::write_if(self.shared(), tree, key, expected, b)
    }

    /// As [`Db::put`], returning the key's new version.
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn put_versioned(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<u64> {
        let (key, value) = (key.as_ref(), value.as_ref());
        let mut b = WriteBatch::with_capacity(9 + key.len() + value.len());
        b.put(key, value);
        self.write_versioned(b)
    }
}

impl Snapshot {
    /// The value of `key` as of the snapshot, with its version (see [`Db::get_versioned`]).
    ///
    /// # Errors
    /// [`crate::Error::Corruption`] when a block on the lookup path is damaged.
    pub fn get_versioned(&self, key: impl AsRef<[u8]>) -> Result<Option<(Value, u64)>> {
        let s = self.shared();
        s.get_versioned_at(&s.default_tree, key.as_ref(), self.seqno())
    }
}
