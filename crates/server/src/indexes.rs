//! The server's secondary indexes (`/indexes`): their definitions (see [`crate::index_def`]:
//! the JSON-field extractor and the stored form, shared with the shell) and their declaration at
//! every start.
//!
//! The extractor is code, so the engine wants every index declared again after each open, and
//! until then refuses writes to the indexed keyspace. The server keeps each definition under the
//! index's name in the keyspace [`SERVER_INDEXES`] and declares them all in [`Indexes::load`],
//! which runs before the server accepts its first connection.
//!
//! Crash safety: a create writes the definition before it creates the engine's index, a drop
//! drops the engine's index before the definition, so a crash never leaves an engine index
//! without a definition (whose keyspace would refuse writes). A create cut short is finished at
//! the next start (the index is built then); a drop cut short leaves the index in place at the
//! next start (drop it again). Creates and drops are serialised by one mutex.

use std::collections::BTreeMap;

use lsmkv::{Db, Index, Keyspace};
use parking_lot::{Mutex, RwLock};

use crate::errors::ApiError;
use crate::index_def::{IndexDef, declare, definitions};
use crate::layout::{INDEX_PREFIX, SERVER_INDEXES};
use crate::registry::Registry;

/// The server's indexes: definitions and engine handles, by name.
pub struct Indexes {
    db: Db,
    /// Serialises creates and drops.
    lock: Mutex<()>,
    by_name: RwLock<BTreeMap<String, (IndexDef, Index)>>,
}

impl Indexes {
    /// Declares every index defined in [`SERVER_INDEXES`] (building those whose build a crash
    /// cut short). A definition whose keyspace no longer exists is deleted (a create cut short
    /// before the engine index existed, the keyspace dropped since). Blocking.
    ///
    /// # Errors
    /// The engine's error; a definition that cannot be read.
    pub fn load(db: &Db) -> lsmkv::Result<Indexes> {
        let mut by_name = BTreeMap::new();
        for def in definitions(db)? {
            let ks = match db.existing_keyspace(&def.keyspace) {
                Ok(ks) => ks,
                Err(lsmkv::Error::KeyspaceNotFound { .. }) => {
                    tracing::warn!(index = %def.name, keyspace = %def.keyspace,
                        "the keyspace of an index definition is gone: definition deleted");
                    db.existing_keyspace(SERVER_INDEXES)?.delete(&def.name)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let index = declare(db, &def, &ks)?;
            tracing::info!(index = %def.name, keyspace = %def.keyspace, field = %def.field,
                ready = index.is_ready(), "index declared");
            by_name.insert(def.name.clone(), (def, index));
        }
        let indexes = Indexes {
            db: db.clone(),
            lock: Mutex::new(()),
            by_name: RwLock::new(by_name),
        };
        for name in indexes.undeclared()? {
            tracing::warn!(index = %name,
                "an index exists that the server has no definition of (made through the library?): \
                 writes to its keyspace fail until it is dropped (DELETE /indexes/{name})");
        }
        Ok(indexes)
    }

    /// The index `name`, with its definition.
    pub fn get(&self, name: &str) -> Option<(IndexDef, Index)> {
        self.by_name.read().get(name).cloned()
    }

    /// Every definition, by name.
    pub fn defs(&self) -> Vec<IndexDef> {
        self.by_name
            .read()
            .values()
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// Engine indexes the server has no definition of (their keyspaces refuse writes).
    ///
    /// # Errors
    /// The engine's error.
    pub fn undeclared(&self) -> lsmkv::Result<Vec<String>> {
        let known = self.by_name.read();
        Ok(self
            .db
            .keyspaces()?
            .into_iter()
            .filter_map(|k| k.strip_prefix(INDEX_PREFIX).map(str::to_string))
            .filter(|n| !known.contains_key(n))
            .collect())
    }

    /// Creates index `def` on `ks` (the keyspace `def.keyspace`): its definition, then the
    /// engine's index, which builds over the existing data in the background. Blocking.
    ///
    /// # Errors
    /// 409 `index_exists` when an index of that name exists; the engine's error.
    pub fn create(
        &self,
        def: IndexDef,
        ks: &Keyspace,
        registry: &Registry,
    ) -> Result<Index, ApiError> {
        let _serialised = self.lock.lock();
        if self.by_name.read().contains_key(&def.name)
            || self.db.keyspace_exists(&def.index_keyspace())
        {
            return Err(ApiError::new(
                hyper::StatusCode::CONFLICT,
                format!("index {:?} already exists", def.name),
            )
            .with_code("index_exists"));
        }
        let store = match registry.get(SERVER_INDEXES) {
            Some(s) => s,
            None => {
                let s = self.db.keyspace(SERVER_INDEXES)?;
                registry.adopt(s.clone());
                s
            }
        };
        store.put(&def.name, def.stored())?;
        let index = match declare(&self.db, &def, ks) {
            Ok(index) => index,
            Err(e) => {
                // Nothing of the index exists: take the definition back.
                store.delete(&def.name)?;
                return Err(e.into());
            }
        };
        if let Ok(ix_ks) = self.db.existing_keyspace(&def.index_keyspace()) {
            registry.adopt(ix_ks);
        }
        tracing::info!(index = %def.name, keyspace = %def.keyspace, field = %def.field,
            "index created through the API");
        self.by_name
            .write()
            .insert(def.name.clone(), (def, index.clone()));
        Ok(index)
    }

    /// Drops index `name` (also one the server has no definition of): the engine's index, then
    /// the definition. Blocking.
    ///
    /// # Errors
    /// 404 `index_not_found`; the engine's error.
    pub fn drop_index(&self, name: &str, registry: &Registry) -> Result<(), ApiError> {
        let _serialised = self.lock.lock();
        let ix_ks = format!("{INDEX_PREFIX}{name}");
        let defined = self.by_name.read().contains_key(name);
        if !defined && !self.db.keyspace_exists(&ix_ks) {
            return Err(ApiError::index_not_found(name));
        }
        if self.db.keyspace_exists(&ix_ks) {
            self.db.drop_index(name)?;
        }
        registry.forget(&ix_ks);
        if defined {
            if let Some(store) = registry.get(SERVER_INDEXES) {
                store.delete(name)?;
            }
            self.by_name.write().remove(name);
        }
        tracing::info!(index = %name, "index dropped through the API");
        Ok(())
    }

    /// The names of the indexes of keyspace `keyspace` (declared by the server or not).
    pub fn of_keyspace(&self, keyspace: &str) -> Vec<String> {
        self.db
            .stats()
            .indexes
            .into_iter()
            .filter(|i| i.keyspace == keyspace)
            .map(|i| i.name)
            .collect()
    }
}
