//! Secondary indexes on a field of JSON values: the extractor and the stored definition. One
//! source file for the server (`crate::indexes`, `/indexes`) and the shell (`lsmkv`, which
//! includes it by path), because both must compute exactly the same index keys: the shell
//! declares the server's indexes when it writes to the server's database.
//!
//! An index of keyspace `ks` on field `f` maps each entry of `ks` whose value is a JSON object
//! with a top-level field `f` to one index key ([`index_key`]): a string's UTF-8 bytes; a number
//! as serde_json prints it (`42`, `-7`, `1.5`, `100.0`); `true` / `false`. Anything else (no such
//! field, `null`, an array or object, a value that is not a JSON object) has no index key, so the
//! entry is not in the index; nor is a field of more than [`MAX_INDEXED_BYTES`] bytes (an index
//! entry is a key of its own, bounded by the engine's key limit). Index keys are bytes, so a
//! range over numbers compares them as text (`"10"` < `"9"`).
//!
//! Definitions are stored as `{"keyspace": KS, "field": F, "kind": "json_field"}` under the
//! index's name in the keyspace [`DEFINITIONS`].

use lsmkv::{Db, Index, Keyspace, MAX_KEY_SIZE};
use serde_json::{Value as Json, json};

/// The keyspace of the server's index definitions.
pub const DEFINITIONS: &str = "__server/indexes";

/// Names of the engine's index keyspaces start with this (the engine's own reservation).
pub const INDEX_KEYSPACE_PREFIX: &str = "__index/";

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
    pub fn stored(&self) -> Vec<u8> {
        json!({ "keyspace": self.keyspace, "field": self.field, "kind": KIND })
            .to_string()
            .into_bytes()
    }

    /// Reads a stored definition; `None` when it is not one the server wrote.
    pub fn parse(name: &[u8], stored: &[u8]) -> Option<IndexDef> {
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
        format!("{INDEX_KEYSPACE_PREFIX}{}", self.name)
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

/// Declares the engine index of `def` on `ks` (creating it, or attaching to the stored one).
///
/// # Errors
/// The engine's.
pub fn declare(db: &Db, def: &IndexDef, ks: &Keyspace) -> lsmkv::Result<Index> {
    let field = def.field.clone();
    db.create_index(&def.name, ks, move |k, v| {
        index_key(&field, k, v).into_iter().collect()
    })
}

/// Every definition stored in [`DEFINITIONS`] (none when that keyspace does not exist).
///
/// # Errors
/// The engine's; [`lsmkv::Error::InvalidArgument`] for a definition that cannot be read.
pub fn definitions(db: &Db) -> lsmkv::Result<Vec<IndexDef>> {
    if !db.keyspace_exists(DEFINITIONS) {
        return Ok(Vec::new());
    }
    let store = db.existing_keyspace(DEFINITIONS)?;
    let mut out = Vec::new();
    for kv in store.range::<&[u8], _>(..) {
        let (name, stored) = kv?;
        let def = IndexDef::parse(&name, &stored).ok_or_else(|| {
            lsmkv::Error::InvalidArgument(format!(
                "the index definition {:?} in keyspace {DEFINITIONS:?} cannot be read",
                String::from_utf8_lossy(&name)
            ))
        })?;
        out.push(def);
    }
    Ok(out)
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
