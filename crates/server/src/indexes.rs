//! Secondary indexes on a field of JSON values (`/indexes`): the extractor, the definitions the
//! server keeps, and their declaration at every start.
//!
//! An index of keyspace `ks` on field `f` maps each entry of `ks` whose value is a JSON object
//! with a top-level field `f` to one index key ([`index_key`]): a string's UTF-8 bytes; a number
//! as serde_json prints it (`42`, `-7`, `1.5`, `100.0`); `true` / `false`. Anything else (no such
//! field, `null`, an array or object, a value that is not a JSON object) has no index key, so the
//! entry is not in the index; nor is a field of more than [`MAX_INDEXED_BYTES`] bytes (an index
//! entry is a key of its own, bounded by the engine's key limit). Index keys are bytes, so a
//! range over numbers compares them as text (`"10"` < `"9"`).
//!
//! The extractor is code, so the engine wants every index declared again after each open, and
//! until then refuses writes to the indexed keyspace. The server keeps each definition as
//! `{"keyspace": KS, "field": F, "kind": "json_field"}` under the index's name in the keyspace
//! [`SERVER_INDEXES`] and declares them all in [`Indexes::load`], which runs before the server
//! accepts its first connection.
//!
//! Crash safety: a create writes the definition before it creates the engine's index, a drop
//! drops the engine's index before the definition, so a crash never leaves an engine index
//! without a definition (whose keyspace would refuse writes). A create cut short is finished at
//! the next start (the index is built then); a drop cut short leaves the index in place at the
//! next start (drop it again). Creates and drops are serialised by one mutex.

use std::collections::BTreeMap;

use lsmkv::{Db, Index, Keyspace, MAX_KEY_SIZE};
use parking_lot::{Mutex, RwLock};
use serde_json::{Value as Json, json};

use crate::errors::ApiError;
use crate::layout::{INDEX_PREFIX, SERVER_INDEXES};
use crate::registry::Registry;

/// Longest field value (in bytes) that is indexed.
pub const MAX_INDEXED_BYTES: usize = 1024;

/// Longest index name: the engine's limit (its keyspace is `__index/<name>`).
pub const MAX_INDEX_NAME: usize = 200;

/// The stored `kind` of an index on a top-level field of JSON values.
const KIND: &str = "json_field";

/// What an index is: its name, the keyspace it indexes and the JSON field it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub keyspace: String,
    pub field: String,
}

impl IndexDef {
    /// The stored form.
    fn stored(&self) -> Vec<u8> {
        json!({ "keyspace": self.keyspace, "field": self.field, "kind": KIND })
            .to_string()
            .into_bytes()
    }

    /// Reads a stored definition; `None` when it is not one this server wrote.
    fn parse(name: &[u8], stored: &[u8]) -> Option<IndexDef> {
        let v: Json = serde_json::from_slice(stored).ok()?;
        if v.get("kind")?.as_str()? != KIND {
            return None;
        }
        Some(IndexDef {
            name: String::from_utf8(name.to_vec()).ok()?,
            keyspace: v.get("keyspace")?.as_str()?.to_string(),
            field: v.get("field")?.as_str()?.to_string(),
        })
    }

    /// The engine's keyspace of the index.
    pub fn index_keyspace(&self) -> String {
        format!("{INDEX_PREFIX}{}", self.name)
    }
}

/// The index key of the entry (`primary_key`, `value`) in an index on `field`: see the module
/// documentation. `None`: the entry is not indexed.
pub fn index_key(field: &str, primary_key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    let v: Json = serde_json::from_slice(value).ok()?;
    let key = match v.as_object()?.get(field)? {
        Json::String(s) => s.as_bytes().to_vec(),
        Json::Number(n) => n.to_string().into_bytes(),
        Json::Bool(b) => b.to_string().into_bytes(),
        Json::Null | Json::Array(_) | Json::Object(_) => return None,
    };
    // The engine stores (index key with each 0x00 doubled, 2 bytes, primary key) as one key:
    // it must stay within the engine's key limit, whatever the primary key's length.
    let zeros = key.iter().filter(|b| **b == 0).count();
    let entry = key.len() + zeros + 2 + primary_key.len();
    (key.len() <= MAX_INDEXED_BYTES && entry <= MAX_KEY_SIZE).then_some(key)
}

/// Declares the engine index of `def` on `ks`.
fn declare(db: &Db, def: &IndexDef, ks: &Keyspace) -> lsmkv::Result<Index> {
    let field = def.field.clone();
    db.create_index(&def.name, ks, move |k, v| {
        index_key(&field, k, v).into_iter().collect()
    })
}

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
        if db.keyspace_exists(SERVER_INDEXES) {
            let store = db.existing_keyspace(SERVER_INDEXES)?;
            for kv in store.range::<&[u8], _>(..) {
                let (name, stored) = kv?;
                let Some(def) = IndexDef::parse(&name, &stored) else {
                    return Err(lsmkv::Error::InvalidArgument(format!(
                        "the index definition {:?} in keyspace {SERVER_INDEXES:?} cannot be read",
                        String::from_utf8_lossy(&name)
                    )));
                };
                let ks = match db.existing_keyspace(&def.keyspace) {
                    Ok(ks) => ks,
                    Err(lsmkv::Error::KeyspaceNotFound { .. }) => {
                        tracing::warn!(index = %def.name, keyspace = %def.keyspace,
                            "the keyspace of index definition is gone: definition deleted");
                        store.delete(&name)?;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let index = declare(db, &def, &ks)?;
                tracing::info!(index = %def.name, keyspace = %def.keyspace, field = %def.field,
                    ready = index.is_ready(), "index declared");
                by_name.insert(def.name.clone(), (def, index));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_of_json_values() {
        let k = |v: &str| index_key("email", b"u1", v.as_bytes());
        assert_eq!(k(r#"{"email":"a@x"}"#), Some(b"a@x".to_vec()));
        assert_eq!(k(r#"{"email":42}"#), Some(b"42".to_vec()));
        assert_eq!(k(r#"{"email":-7}"#), Some(b"-7".to_vec()));
        assert_eq!(k(r#"{"email":1.5}"#), Some(b"1.5".to_vec()));
        assert_eq!(k(r#"{"email":true}"#), Some(b"true".to_vec()));
        assert_eq!(k(r#"{"email":""}"#), Some(Vec::new()));
        assert_eq!(k(r#"{"email":"a\u0000b"}"#), Some(b"a\0b".to_vec()));
        for none in [
            r#"{"email":null}"#,
            r#"{"email":["a"]}"#,
            r#"{"email":{"a":1}}"#,
            r#"{"name":"a"}"#,
            r#"{"user":{"email":"a"}}"#,
            r#"["email"]"#,
            r#""email""#,
            "not json",
            "",
        ] {
            assert_eq!(k(none), None, "{none}");
        }
        let long = format!(r#"{{"email":"{}"}}"#, "a".repeat(MAX_INDEXED_BYTES));
        assert!(k(&long).is_some());
        let longer = format!(r#"{{"email":"{}"}}"#, "a".repeat(MAX_INDEXED_BYTES + 1));
        assert_eq!(k(&longer), None);
        // With the longest primary key there is no room left for a long field.
        let pk = vec![b'k'; MAX_KEY_SIZE - 10];
        assert_eq!(
            index_key("f", &pk, br#"{"f":"12345678"}"#),
            Some(b"12345678".to_vec())
        );
        assert_eq!(index_key("f", &pk, br#"{"f":"123456789"}"#), None);
    }

    #[test]
    fn definitions_round_trip() {
        let def = IndexDef {
            name: "by_email".into(),
            keyspace: "users".into(),
            field: "email".into(),
        };
        assert_eq!(
            IndexDef::parse(b"by_email", &def.stored()),
            Some(def.clone())
        );
        assert_eq!(def.index_keyspace(), "__index/by_email");
        assert_eq!(
            IndexDef::parse(b"x", br#"{"keyspace":"a","field":"b"}"#),
            None
        );
        assert_eq!(IndexDef::parse(b"x", b"junk"), None);
    }
}
