//! Keyspaces (column families): named, independent LSM trees inside one database that share its
//! WAL, manifest, block cache and background threads. A [`WriteBatch`] can span keyspaces and
//! stays atomic, also across a crash; a [`crate::Snapshot`] covers all of them.
//!
//! ```
//! # fn main() -> lsmkv::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use lsmkv::{Db, Options, WriteBatch};
//! let db = Db::open(dir.path(), Options::default())?;
//! let users = db.keyspace("users")?;
//! let emails = db.keyspace("emails")?;
//! let mut b = WriteBatch::new();
//! b.put_in(&users, b"u1", b"alice");
//! b.put_in(&emails, b"alice@example.com", b"u1");
//! db.write(b)?; // both or neither
//! assert_eq!(users.get(b"u1")?.as_deref(), Some(&b"alice"[..]));
//! assert_eq!(db.get(b"u1")?, None); // `Db`'s own methods use keyspace "default"
//! let snap = db.snapshot();
//! assert!(snap.get_in(&emails, b"alice@example.com")?.is_some());
//! assert_eq!(db.keyspaces()?, vec!["default", "emails", "users"]);
//! # Ok(()) }
//! ```

use std::ops::RangeBounds;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use crate::options::KeyspaceOptions;

use crate::batch::WriteBatch;
use super::Db;
use super::tree::Tree;
use crate::error::{Error, Result};
use crate::format::ValueKind;
use crate::iter::DbIter;
use crate::value::{Key, Value};

/// A handle on one keyspace of a [`Db`], from [`Db::keyspace`]. Cheap to clone, `Send + Sync`;
/// it keeps the database open. Its methods mirror `Db`'s, acting on this keyspace only. After
/// [`Db::drop_keyspace`], every method fails with [`Error::KeyspaceNotFound`].
#[derive(Clone)]
pub struct Keyspace {
    db: Db,
    tree: Arc<Tree>,
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("name", &self.tree.name)
            .field("id", &self.tree.id)
            .finish()
    }
}

impl Keyspace {
    pub(crate) fn new(db: Db, tree: Arc<Tree>) -> Keyspace {
        Keyspace { db, tree }
    }

    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.tree.name
    }

    /// The keyspace's id (0 for `default`), as stored in WAL entries and the manifest.
    pub fn id(&self) -> u32 {
        self.tree.id
    }

    /// The options the keyspace was declared with.
    pub fn options(&self) -> KeyspaceOptions {
        self.tree.declared()
    }

    /// The database this keyspace belongs to.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn tree_arc(&self) -> Arc<Tree> {
        self.tree.clone()
    }

    /// The tree, if this keyspace is live and belongs to the database of `shared`.
    pub(crate) fn live_tree_of(&self, shared: &super::Shared) -> Result<Arc<Tree>> {
        if !self.db.is_same_database(shared) {
            return Err(Error::InvalidArgument(format!(
                "keyspace {:?} belongs to another database",
                self.tree.name
            )));
        }
        self.check_live()?;
        Ok(self.tree.clone())
    }

    fn check_live(&self) -> Result<()> {
        if self.tree.dropped.load(Ordering::Acquire) {
            return Err(Error::KeyspaceNotFound {
                name: self.tree.name.clone(),
            });
        }
        Ok(())
    }

    /// Inserts or replaces `key` (with the keyspace's TTL, if it has one:
    /// [`KeyspaceOptions::ttl`]).
    ///
    /// # Errors
    /// As [`Db::put`]; [`Error::KeyspaceNotFound`] after the keyspace was dropped.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put_in(self, key, value);
        self.write(b)
    }

    /// Inserts or replaces `key` with a value that expires `ttl` from now (see
    /// [`Db::put_with_ttl`]); it overrides the keyspace's TTL for this write.
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put_with_ttl_in(self, key, value, ttl);
        self.write(b)
    }

    /// Deletes every key of this keyspace in `range` with one range tombstone (see
    /// [`Db::delete_range`]).
    ///
    /// # Errors
    /// As [`Db::delete_range`]; [`Error::KeyspaceNotFound`].
    pub fn delete_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_range_in(self, range);
        self.write(b)
    }

    /// Deletes every key of this keyspace starting with `prefix` with one range tombstone.
    ///
    /// # Errors
    /// As [`Keyspace::delete_range`].
    pub fn delete_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_prefix_in(self, prefix);
        self.write(b)
    }

    /// Deletes `key`.
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_in(self, key);
        self.write(b)
    }

    fn write(&self, b: WriteBatch) -> Result<()> {
        self.check_live()?;
        self.db.write(b)
    }

    /// Reads the newest value of `key`.
    ///
    /// # Errors
    /// [`Error::KeyspaceNotFound`]; [`Error::Corruption`] from a damaged block.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        self.check_live()?;
        self.db.get_in_tree(&self.tree, key.as_ref())
    }

    /// [`Db::get_versioned`] in this keyspace.
    ///
    /// # Errors
    /// As [`Keyspace::get`].
    pub fn get_versioned(&self, key: impl AsRef<[u8]>) -> Result<Option<(Value, u64)>> {
        self.check_live()?;
        self.db.get_versioned_in_tree(&self.tree, key.as_ref())
    }

    /// [`Db::compare_and_swap`] in this keyspace.
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<u64>,
        new_value: impl AsRef<[u8]>,
    ) -> Result<bool> {
        self.check_live()?;
        Ok(self
            .db
            .compare_and_write_in(&self.tree, key.as_ref(), expected, Some(new_value.as_ref()))?
            .is_written())
    }

    /// [`Db::compare_and_write`] in this keyspace.
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn compare_and_write(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<u64>,
        new_value: Option<&[u8]>,
    ) -> Result<crate::CasOutcome> {
        self.check_live()?;
        self.db
            .compare_and_write_in(&self.tree, key.as_ref(), expected, new_value)
    }

    /// [`Db::put_versioned`] in this keyspace: a put (with the keyspace's TTL, if any) that
    /// returns the key's new version. It joins the group commit like any put.
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn put_versioned(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<u64> {
        self.check_live()?;
        let mut b = WriteBatch::new();
        b.put_in(self, key, value);
        self.db.write_versioned(b)
    }

    /// [`Keyspace::put`] that never waits for background work ([`Db::try_write`]).
    ///
    /// # Errors
    /// [`Error::WouldStall`]; otherwise as [`Keyspace::put`].
    pub fn try_put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.try_put_versioned(key, value).map(drop)
    }

    /// [`Keyspace::put_versioned`] that never waits for background work ([`Db::try_write`]).
    ///
    /// # Errors
    /// As [`Keyspace::try_put`].
    pub fn try_put_versioned(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<u64> {
        self.check_live()?;
        let mut b = WriteBatch::new();
        b.put_in(self, key, value);
        self.db.try_write_versioned(b)
    }

    /// [`Keyspace::delete`] that never waits for background work ([`Db::try_write`]).
    ///
    /// # Errors
    /// As [`Keyspace::try_put`].
    pub fn try_delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.check_live()?;
        let mut b = WriteBatch::new();
        b.delete_in(self, key);
        self.db.try_write_versioned(b).map(drop)
    }

    /// [`Db::put_if_absent`] in this keyspace.
    ///
    /// # Errors
    /// As [`Keyspace::put`].
    pub fn put_if_absent(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<bool> {
        self.compare_and_swap(key, None, value)
    }

    /// Iterates the keys in `range` in order (`.rev()` backward), as of now.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIter {
        self.db.snapshot().range_in(self, range)
    }

    /// Iterates the keys starting with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIter {
        self.db.snapshot().prefix_in(self, prefix)
    }

    /// Up to `limit` entries whose key or value contains `needle`, in key order.
    ///
    /// # Errors
    /// [`Error::KeyspaceNotFound`]; [`Error::Corruption`] from a damaged block.
    pub fn search_substring(
        &self,
        needle: impl AsRef<[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Value)>> {
        super::search(self.range::<&[u8], _>(..), needle.as_ref(), limit)
    }

    /// Approximate number of live keys (see [`Db::len_estimate`]).
    pub fn len_estimate(&self) -> u64 {
        super::len_estimate(&self.tree)
    }

    /// Flushes this keyspace's memtable to a table (other keyspaces are not flushed).
    ///
    /// # Errors
    /// As [`Db::flush`].
    pub fn flush(&self) -> Result<()> {
        self.check_live()?;
        self.db.flush_tree(&self.tree)
    }

    /// Compacts this keyspace into one sorted run (see [`Db::compact`]).
    ///
    /// # Errors
    /// As [`Db::compact`].
    pub fn compact(&self) -> Result<()> {
        self.check_live()?;
        self.db
            .compact_tree(&self.tree, &super::everything_bounds())
    }

    /// Compacts this keyspace's tables holding keys in `range` (see [`Db::compact_range`]).
    ///
    /// # Errors
    /// As [`Db::compact`].
    pub fn compact_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        self.check_live()?;
        self.db
            .compact_tree(&self.tree, &super::to_bounds(&range))
    }

    /// The live tables of this keyspace (see [`Db::tables`]).
    pub fn tables(&self) -> Vec<crate::TableInfo> {
        super::tree_tables(&self.tree)
    }
}

impl WriteBatch {
    /// Adds a put of `key` in keyspace `ks` (with its TTL, if it has one).
    pub fn put_in(&mut self, ks: &Keyspace, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        match ks.tree.ttl() {
            Some(ttl) => self.push_ttl(ks.id(), key, value, ttl),
            None => self.push_entry(ks.id(), ValueKind::Put, key, &[value]),
        }
    }

    /// Adds a put of `key` in keyspace `ks` that expires `ttl` after the write (instead of the
    /// keyspace's TTL, if it has one). See [`WriteBatch::put_with_ttl`].
    pub fn put_with_ttl_in(
        &mut self,
        ks: &Keyspace,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) {
        self.push_ttl(ks.id(), key.as_ref(), value.as_ref(), ttl);
    }

    /// Adds a range delete of `range` in keyspace `ks` (see [`WriteBatch::delete_range`]).
    pub fn delete_range_in<K: AsRef<[u8]>, R: RangeBounds<K>>(&mut self, ks: &Keyspace, range: R) {
        let (lower, upper) = (range.start_bound(), range.end_bound());
        if let Some((start, end)) = crate::rangedel::range_to_tombstone(
            lower.map(AsRef::as_ref),
            upper.map(AsRef::as_ref),
        ) {
            self.push_range_delete(ks.id(), &start, &end);
        }
    }

    /// Adds a delete of every key starting with `prefix` in keyspace `ks`.
    pub fn delete_prefix_in(&mut self, ks: &Keyspace, prefix: impl AsRef<[u8]>) {
        let (start, end) = crate::rangedel::prefix_to_tombstone(prefix.as_ref());
        self.push_range_delete(ks.id(), &start, &end);
    }

    /// Adds a delete of `key` in keyspace `ks`.
    pub fn delete_in(&mut self, ks: &Keyspace, key: impl AsRef<[u8]>) {
        self.push_entry(ks.id(), ValueKind::Delete, key.as_ref(), &[]);
    }
}
