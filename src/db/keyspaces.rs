//! Creating, listing and dropping keyspaces.
//!
//! Creation logs one manifest edit (the keyspace's id, name and options, and the raised id
//! counter) before the tree becomes visible. A drop logs one edit that removes the keyspace and
//! all its tables together, so a crash leaves it either present (with all its data) or gone. The
//! tables' files are unlinked when the last reader lets go; WAL entries of a dropped keyspace are
//! skipped by replay (its id is never reused). A flush or compaction of the keyspace that is
//! running during the drop finds it dropped when it logs its edit and discards its output.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::tree::{Tree, Trees};
use super::version::Version;
use super::{Db, Shared};
use crate::error::{Error, Result};
use crate::format::manifest::{DEFAULT_KEYSPACE, MAX_KEYSPACE_NAME};
use super::keyspace::Keyspace;
use crate::options::KeyspaceOptions;
use crate::manifest::{KeyspaceDef, VersionEdit};


fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_KEYSPACE_NAME {
        return Err(Error::InvalidArgument(format!(
            "a keyspace name has 1 to {MAX_KEYSPACE_NAME} bytes, not {}",
            name.len()
        )));
    }
    Ok(())
}

impl Db {
    /// Opens the keyspace `name`, creating it (with default [`KeyspaceOptions`]) if it does not
    /// exist. `"default"` is the keyspace `Db`'s own methods act on.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty name or one over 255 bytes;
    /// [`Error::KeyspaceNotFound`] on a read-only handle when it does not exist;
    /// [`Error::Io`] or [`Error::Poisoned`] when the creation cannot be logged.
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        self.check_not_reserved(name)?;
        self.open_keyspace(name, None)
    }

    /// [`Db::keyspace`] without the reserved-name check (index keyspaces).
    pub(crate) fn keyspace_internal(&self, name: &str) -> Result<Keyspace> {
        self.open_keyspace(name, None)
    }

    /// Opens or creates the keyspace `name` with `opts`. For an existing keyspace whose options
    /// differ, the new options are logged and apply from now on (to new tables and new writes).
    ///
    /// # Errors
    /// As [`Db::keyspace`]; [`Error::InvalidArgument`] for invalid options or for `"default"`
    /// (whose options are the database's [`crate::Options`]).
    pub fn keyspace_with(&self, name: &str, opts: KeyspaceOptions) -> Result<Keyspace> {
        self.check_not_reserved(name)?;
        self.open_keyspace(name, Some(opts))
    }

    /// Whether the keyspace `name` exists.
    pub fn keyspace_exists(&self, name: &str) -> bool {
        self.shared().trees.load().by_name(name).is_some()
    }

    /// The existing keyspace `name`, never creating it (also on a read-only handle).
    ///
    /// # Errors
    /// [`Error::KeyspaceNotFound`] when it does not exist.
    pub fn existing_keyspace(&self, name: &str) -> Result<Keyspace> {
        match self.shared().trees.load().by_name(name) {
            Some(tree) => Ok(Keyspace::new(self.clone(), tree.clone())),
            None => Err(Error::KeyspaceNotFound { name: name.into() }),
        }
    }

    /// The names of every keyspace, `default` included, sorted.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for a store that must read to answer.
    pub fn keyspaces(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .shared()
            .all_trees()
            .iter()
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Drops the keyspace `name` and all its data. Handles on it fail from now on with
    /// [`Error::KeyspaceNotFound`]; iterators and snapshots already reading it keep their files
    /// until they are dropped.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `"default"`; [`Error::KeyspaceNotFound`];
    /// [`Error::ReadOnly`]; [`Error::Io`] or [`Error::Poisoned`] when the drop cannot be logged.
    pub fn drop_keyspace(&self, name: &str) -> Result<()> {
        let s = self.shared();
        if name == DEFAULT_KEYSPACE {
            return Err(Error::InvalidArgument(
                "the default keyspace cannot be dropped".into(),
            ));
        }
        s.check_writable()?;
        s.check_poisoned()?;
        let _g = s.ks_lock.lock();
        let trees = s.trees.load_full();
        let tree = trees
            .by_name(name)
            .cloned()
            .ok_or_else(|| Error::KeyspaceNotFound { name: name.into() })?;
        let set = s.indexes.load();
        let indexed = set.by_primary.get(&tree.id).map(|d| d.len()).unwrap_or(0)
            + set.undeclared.get(&tree.id).map(Vec::len).unwrap_or(0);
        if indexed > 0 {
            return Err(Error::InvalidArgument(format!(
                "keyspace {name:?} has indexes: drop them first (Db::drop_index)"
            )));
        }
        {
            let mut m = s.manifest.lock();
            let deleted = m
                .state()
                .files
                .values()
                .filter(|f| f.keyspace == tree.id)
                .map(|f| (f.level, f.number))
                .collect();
            m.log_edit(VersionEdit {
                dropped_keyspaces: vec![tree.id],
                deleted,
                ..VersionEdit::default()
            })?;
            // Under the manifest lock: a flush or compaction of this tree checks the flag under
            // the same lock before it logs its edit.
            tree.dropped.store(true, Ordering::Release);
        }
        let mut next = Trees::clone(&trees);
        next.by_id.remove(&tree.id);
        s.trees.store(Arc::new(next));
        s.feed.keyspace_dropped(tree.id);
        let sv = tree.sv.load();
        for t in sv.version.levels.iter().flatten() {
            t.mark_obsolete();
        }
        s.sched.flush_progressed();
        tracing::info!(keyspace = name, "keyspace dropped");
        Ok(())
    }

    /// Names under `__index/` belong to secondary indexes: only [`Db::create_index`] creates
    /// them. Opening an existing one by name is allowed (inspection).
    fn check_not_reserved(&self, name: &str) -> Result<()> {
        let reserved = name.starts_with(super::index::INDEX_KEYSPACE_PREFIX);
        if reserved && self.shared().trees.load().by_name(name).is_none() {
            return Err(Error::InvalidArgument(format!(
                "keyspace names starting with {:?} are reserved for indexes",
                super::index::INDEX_KEYSPACE_PREFIX
            )));
        }
        Ok(())
    }

    fn open_keyspace(&self, name: &str, opts: Option<KeyspaceOptions>) -> Result<Keyspace> {
        check_name(name)?;
        let s = self.shared();
        if name == DEFAULT_KEYSPACE {
            if opts.is_some() {
                return Err(Error::InvalidArgument(
                    "the default keyspace takes its options from the database's Options".into(),
                ));
            }
            return Ok(Keyspace::new(self.clone(), s.default_tree.clone()));
        }
        if let Some(o) = &opts {
            o.validate(&s.opts)?;
        }
        if let Some(tree) = s.trees.load().by_name(name)
            && opts.as_ref().is_none_or(|o| *o == tree.declared())
        {
            return Ok(Keyspace::new(self.clone(), tree.clone()));
        }
        let _g = s.ks_lock.lock();
        let existing = s.trees.load().by_name(name).cloned();
        let tree = match existing {
            Some(tree) => {
                if let Some(o) = opts
                    && o != tree.declared()
                {
                    set_options(s, &tree, o)?;
                }
                tree
            }
            None => create(s, name, opts.unwrap_or_default())?,
        };
        Ok(Keyspace::new(self.clone(), tree))
    }
}

/// Logs and applies new options of the live keyspace `tree`.
fn set_options(s: &Shared, tree: &Tree, opts: KeyspaceOptions) -> Result<()> {
    s.check_writable()?;
    s.check_poisoned()?;
    s.manifest.lock().log_edit(VersionEdit {
        keyspaces: vec![KeyspaceDef {
            id: tree.id,
            name: tree.name.clone(),
            options: opts.encode(),
        }],
        ..VersionEdit::default()
    })?;
    tree.set_declared(&s.opts, opts);
    Ok(())
}

/// Creates keyspace `name`. Requires `ks_lock`.
fn create(s: &Shared, name: &str, opts: KeyspaceOptions) -> Result<Arc<Tree>> {
    if s.read_only {
        return Err(Error::KeyspaceNotFound { name: name.into() });
    }
    s.check_poisoned()?;
    let id = {
        let mut m = s.manifest.lock();
        let id = m.state().next_keyspace_id.max(1);
        let next = id.checked_add(1).ok_or_else(|| {
            Error::InvalidArgument("every keyspace id has been used".into())
        })?;
        m.log_edit(VersionEdit {
            keyspaces: vec![KeyspaceDef {
                id,
                name: name.into(),
                options: opts.encode(),
            }],
            next_keyspace_id: Some(next),
            ..VersionEdit::default()
        })?;
        id
    };
    let tree = Arc::new(Tree::new(
        id,
        name.into(),
        &s.opts,
        opts,
        Version::default(),
        s.current_wal.load(Ordering::SeqCst),
    ));
    let mut next = Trees::clone(&s.trees.load());
    next.by_id.insert(id, tree.clone());
    s.trees.store(Arc::new(next));
    tracing::info!(keyspace = name, id, "keyspace created");
    Ok(tree)
}
