//! The keyspaces the server serves: one engine handle per keyspace, looked up by name for every
//! request on `/keyspaces/{ks}/...` (and `default` for `/keys`).
//!
//! The engine's `Db::keyspace(name)` creates a keyspace that does not exist, so requests never
//! call it: they look the name up here, and an unknown name is a 404 (`keyspace_not_found`).
//! Creating and dropping go through here too, under the write lock, so a request cannot revive a
//! keyspace being dropped. The server is the only writer of its database (it holds the lock),
//! so this map and the engine's list agree.

use std::collections::BTreeMap;

use lsmkv::{Db, Keyspace, KeyspaceOptions};
use parking_lot::RwLock;

use crate::errors::ApiError;
use crate::layout::DEFAULT;

/// Live keyspaces by name.
pub struct Registry {
    db: Db,
    handles: RwLock<BTreeMap<String, Keyspace>>,
}

/// Whether a create made a new keyspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existed,
}

impl Registry {
    /// Every keyspace of `db`.
    ///
    /// # Errors
    /// The engine's error.
    pub fn load(db: &Db) -> lsmkv::Result<Registry> {
        let mut handles = BTreeMap::new();
        for name in db.keyspaces()? {
            let ks = db.keyspace(&name)?;
            handles.insert(name, ks);
        }
        Ok(Registry {
            db: db.clone(),
            handles: RwLock::new(handles),
        })
    }

    /// The handle of keyspace `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Keyspace> {
        self.handles.read().get(name).cloned()
    }

    /// The `default` keyspace.
    pub fn default_keyspace(&self) -> Result<Keyspace, ApiError> {
        self.get(DEFAULT)
            .ok_or_else(|| ApiError::keyspace_not_found(DEFAULT))
    }

    /// Every keyspace, by name.
    pub fn all(&self) -> Vec<Keyspace> {
        self.handles.read().values().cloned().collect()
    }

    /// Creates keyspace `name` (with `opts`, or the database's defaults), or for an existing one
    /// sets `opts` when given (the engine's `Db::keyspace_with`). With `must_be_new`, an existing
    /// keyspace is left alone and reported as [`Created::Existed`]. Blocking (a manifest write).
    ///
    /// # Errors
    /// The engine's error (a bad name or bad options: 400).
    pub fn create(
        &self,
        name: &str,
        opts: Option<KeyspaceOptions>,
        must_be_new: bool,
    ) -> Result<(Keyspace, Created), ApiError> {
        let mut handles = self.handles.write();
        let existed = handles.get(name).cloned();
        let ks = match (existed, opts) {
            (Some(ks), _) if must_be_new => return Ok((ks, Created::Existed)),
            (Some(ks), None) => return Ok((ks, Created::Existed)),
            (_, Some(o)) => self.db.keyspace_with(name, o)?,
            (None, None) => self.db.keyspace(name)?,
        };
        let created = if handles.insert(name.to_string(), ks.clone()).is_some() {
            Created::Existed
        } else {
            Created::New
        };
        Ok((ks, created))
    }

    /// Serves `ks`, a keyspace the server created for itself (an index's, or its index
    /// definitions').
    pub fn adopt(&self, ks: Keyspace) {
        self.handles.write().insert(ks.name().to_string(), ks);
    }

    /// Stops serving keyspace `name`, which the engine dropped (an index's).
    pub fn forget(&self, name: &str) {
        self.handles.write().remove(name);
    }

    /// Drops keyspace `name` and all its data. Blocking (a manifest write).
    ///
    /// # Errors
    /// 404 when it does not exist; the engine's error.
    pub fn drop_keyspace(&self, name: &str) -> Result<(), ApiError> {
        let mut handles = self.handles.write();
        if !handles.contains_key(name) {
            return Err(ApiError::keyspace_not_found(name));
        }
        self.db.drop_keyspace(name)?;
        handles.remove(name);
        Ok(())
    }
}
