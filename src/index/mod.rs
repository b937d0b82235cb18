//! Secondary indexes: [`Db::create_index`], [`Db::index`], [`Index`].
//!
//! An index maps each entry of a keyspace, through an extractor function, to zero or more index
//! keys, and is kept in the same atomic batch as every write to that keyspace (plain writes,
//! batches, transactions, conditional writes, deletes and range deletes). Queries return the
//! primary entries, read at one snapshot together with the index.
//!
//! The extractor is code, so indexes are declared again after every open; until an existing index
//! is declared, writes to its keyspace fail with [`Error::InvalidArgument`] naming it (rather than
//! let it go stale). See `db/index.rs` for the storage layout and the build.
//!
//! ```
//! # fn main() -> lsmkv::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! use lsmkv::{Db, Options};
//! let db = Db::open(dir.path(), Options::default())?;
//! let users = db.keyspace("users")?;
//! users.put("u1", "alice@example.com|Alice")?;
//! // Index users by the e-mail before the '|'.
//! let by_email = db.create_index("by_email", &users, |_key, value| {
//!     vec![value.split(|b| *b == b'|').next().unwrap_or_default().to_vec()]
//! })?;
//! by_email.wait_ready()?; // existing data is indexed in the background
//! users.put("u2", "bob@example.com|Bob")?;
//! let hits = by_email.get("bob@example.com")?;
//! assert_eq!(hits.len(), 1);
//! assert_eq!(&hits[0].0[..], b"u2");
//! # Ok(()) }
//! ```

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::db::index::{
    INDEX_KEYSPACE_PREFIX, IndexDef, entry_key, escape, meta_value, parse_meta, split_entry,
};
use crate::db::{Db, Snapshot};
use crate::error::{Error, Result};
use crate::iter::DbIter;
use crate::db::Keyspace;
use crate::value::{Key, Value};

/// A secondary index handle (from [`Db::create_index`] or [`Db::index`]). Cheap to clone.
#[derive(Clone)]
pub struct Index {
    db: Db,
    def: Arc<IndexDef>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("name", &self.def.name)
            .field("keyspace", &self.def.primary.name)
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl Db {
    /// Declares the index `name` over keyspace `ks`, computed by `extractor` (primary key and
    /// value to zero or more index keys). A new index is built over the existing data in the
    /// background ([`Index::is_ready`], `stats().indexes`); queries fail with
    /// [`Error::InvalidArgument`] until it is ready, while writes keep it up to date from the
    /// start. Declaring an existing index again (after a reopen) attaches the extractor; it must
    /// compute the same keys as before.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad name, or a name already used for another keyspace's
    /// index; [`Error::KeyspaceNotFound`]; [`Error::ReadOnly`]; write errors.
    pub fn create_index<F>(&self, name: &str, ks: &Keyspace, extractor: F) -> Result<Index>
    where
        F: Fn(&[u8], &[u8]) -> Vec<Vec<u8>> + Send + Sync + 'static,
    {
        if name.is_empty() || name.len() > 200 {
            return Err(Error::InvalidArgument(
                "an index name has 1 to 200 bytes".into(),
            ));
        }
        if ks.name().starts_with(INDEX_KEYSPACE_PREFIX) {
            return Err(Error::InvalidArgument(
                "an index keyspace cannot itself be indexed".into(),
            ));
        }
        let primary = ks.live_tree_of(self.shared_ref())?;
        let _g = self.index_lock();
        if let Some(def) = self.index_set().by_name.get(name)
            && def.primary.id != primary.id
        {
            return Err(Error::InvalidArgument(format!(
                "index {name:?} already indexes keyspace {:?}",
                def.primary.name
            )));
        }
        let index_ks = self.keyspace_internal(&format!("{INDEX_KEYSPACE_PREFIX}{name}"))?;
        let built = match index_ks.get(b"")? {
            Some(meta) => {
                let (of, built) = parse_meta(&meta).ok_or_else(|| {
                    Error::InvalidArgument(format!("index {name:?} has unreadable metadata"))
                })?;
                if of != ks.name() {
                    return Err(Error::InvalidArgument(format!(
                        "index {name:?} indexes keyspace {of:?}, not {:?}",
                        ks.name()
                    )));
                }
                built
            }
            None => {
                index_ks.put(b"", meta_value(ks.name(), false))?;
                false
            }
        };
        let def = Arc::new(IndexDef {
            name: name.to_string(),
            primary,
            tree: index_ks.tree_arc(),
            extractor: Arc::new(extractor),
            ready: std::sync::atomic::AtomicBool::new(built),
            built_keys: std::sync::atomic::AtomicU64::new(0),
        });
        self.register_index(def.clone());
        if !built {
            self.spawn_index_build(def.clone())?;
        }
        Ok(Index {
            db: self.clone(),
            def,
        })
    }

    /// The declared index `name`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when no index of that name was declared in this process.
    pub fn index(&self, name: &str) -> Result<Index> {
        match self.index_set().by_name.get(name) {
            Some(def) => Ok(Index {
                db: self.clone(),
                def: def.clone(),
            }),
            None => Err(Error::InvalidArgument(format!(
                "no index {name:?} is declared (declare it with Db::create_index after open)"
            ))),
        }
    }

    /// Drops the index `name` and its data.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when it does not exist; the errors of [`Db::drop_keyspace`].
    pub fn drop_index(&self, name: &str) -> Result<()> {
        let _g = self.index_lock();
        let ks_name = format!("{INDEX_KEYSPACE_PREFIX}{name}");
        if !self.keyspaces()?.contains(&ks_name) {
            return Err(Error::InvalidArgument(format!("no index {name:?}")));
        }
        self.unregister_index(name);
        self.drop_keyspace(&ks_name)
    }
}

impl Index {
    /// The index's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Whether the index covers all existing data (queries work).
    pub fn is_ready(&self) -> bool {
        self.def.ready.load(Ordering::Acquire)
    }

    /// Waits until the background build is done.
    ///
    /// # Errors
    /// [`Error::Poisoned`] or [`Error::Closed`] when the build cannot finish.
    pub fn wait_ready(&self) -> Result<()> {
        while !self.is_ready() {
            self.db.check_open()?;
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    }

    fn check_ready(&self) -> Result<()> {
        if !self.is_ready() {
            return Err(Error::InvalidArgument(format!(
                "index {:?} is still being built ({} keys so far)",
                self.def.name,
                self.def.built_keys.load(Ordering::Relaxed)
            )));
        }
        Ok(())
    }

    /// The primary entries whose index keys include `ix_key`, in primary-key order.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] while the index is being built; read errors.
    pub fn get(&self, ix_key: impl AsRef<[u8]>) -> Result<Vec<(Key, Value)>> {
        self.check_ready()?;
        let mut p = escape(ix_key.as_ref());
        p.extend_from_slice(&[0, 0]);
        self.iter_entries(Bound::Included(p.clone()), upper_of_prefix(&p))
            .collect()
    }

    /// The primary entries whose index key is in `range`, in (index key, primary key) order
    /// (`.rev()` for the reverse). Items are errors while the index is being built.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> IndexIter {
        if let Err(e) = self.check_ready() {
            return IndexIter::failed(self.db.snapshot(), e);
        }
        let lower = match range.start_bound() {
            Bound::Included(a) => Bound::Included(entry_key(a.as_ref(), b"")),
            Bound::Excluded(a) => {
                let mut k = escape(a.as_ref());
                k.extend_from_slice(&[0, 1]);
                Bound::Included(k)
            }
            Bound::Unbounded => Bound::Excluded(Vec::new()),
        };
        let upper = match range.end_bound() {
            Bound::Included(b) => {
                let mut k = escape(b.as_ref());
                k.extend_from_slice(&[0, 1]);
                Bound::Excluded(k)
            }
            Bound::Excluded(b) => Bound::Excluded(entry_key(b.as_ref(), b"")),
            Bound::Unbounded => Bound::Unbounded,
        };
        self.iter_entries(lower, upper)
    }

    /// The primary entries whose index key starts with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> IndexIter {
        if let Err(e) = self.check_ready() {
            return IndexIter::failed(self.db.snapshot(), e);
        }
        let p = escape(prefix.as_ref());
        let lower = if p.is_empty() {
            Bound::Excluded(Vec::new())
        } else {
            Bound::Included(p.clone())
        };
        self.iter_entries(lower, upper_of_prefix(&p))
    }

    fn iter_entries(&self, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> IndexIter {
        let snap = self.db.snapshot();
        let ix = Keyspace::new(self.db.clone(), self.def.tree.clone());
        let inner = snap.range_in(&ix, (lower, upper));
        IndexIter {
            primary: Some(Keyspace::new(self.db.clone(), self.def.primary.clone())),
            snap,
            inner: Some(inner),
            failed: None,
        }
    }
}

/// The exclusive upper bound of keys starting with `p` (unbounded for an empty or all-0xff `p`).
fn upper_of_prefix(p: &[u8]) -> Bound<Vec<u8>> {
    crate::iter::prefix_upper_bound(p).map_or(Bound::Unbounded, Bound::Excluded)
}

/// Primary entries found through an index, read at one snapshot.
pub struct IndexIter {
    /// `None` for an iterator that only reports `failed`.
    primary: Option<Keyspace>,
    snap: Snapshot,
    inner: Option<DbIter>,
    failed: Option<Error>,
}

impl std::fmt::Debug for IndexIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexIter")
            .field("keyspace", &self.primary.as_ref().map(Keyspace::name))
            .finish()
    }
}

/// What one index entry resolves to.
enum Resolved {
    Hit((Key, Value)),
    /// The primary expired (TTL) or is gone at the snapshot: not a hit.
    Skip,
    Failed(Error),
}

impl IndexIter {
    fn failed(snap: Snapshot, e: Error) -> IndexIter {
        IndexIter {
            primary: None,
            inner: None,
            snap,
            failed: Some(e),
        }
    }

    fn resolve(&self, entry: Result<(Key, Value)>) -> Resolved {
        let entry = match entry {
            Ok((k, _)) => k,
            Err(e) => return Resolved::Failed(e),
        };
        let (Some((_, pk)), Some(primary)) = (split_entry(&entry), self.primary.as_ref()) else {
            return Resolved::Failed(Error::InvalidArgument("malformed index entry".into()));
        };
        match self.snap.get_in(primary, pk) {
            Ok(Some(v)) => Resolved::Hit((Key::from(pk), v)),
            Ok(None) => Resolved::Skip,
            Err(e) => Resolved::Failed(e),
        }
    }

    fn step(&mut self, forward: bool) -> Option<Result<(Key, Value)>> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        loop {
            let inner = self.inner.as_mut()?;
            let entry = if forward {
                inner.next()?
            } else {
                inner.next_back()?
            };
            match self.resolve(entry) {
                Resolved::Hit(kv) => return Some(Ok(kv)),
                Resolved::Skip => continue,
                Resolved::Failed(e) => {
                    self.inner = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Iterator for IndexIter {
    type Item = Result<(Key, Value)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for IndexIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}
