//! What the shell and the subcommands run against: a [`Backend`] is either a keyspace of a
//! database opened in this process or a [`Client`] of a running `lsmkv-server` (client mode,
//! `--url`), which acts on one keyspace too. The commands print the same output and return the
//! same exit statuses either way; the few that need the files themselves (`levels`, `flush`,
//! `compact`, a `batch` with deletes) are usage errors in client mode, since the server has no
//! route for them.
//!
//! Keyspaces are looked up, never created, by the key commands ([`open_keyspace`]): the engine's
//! `Db::keyspace` would create a misspelled one.

use std::ops::Bound;
use std::time::Duration;

use lsmkv::{Db, Keyspace, KeyspaceOptions, Options, WriteBatch};
use serde_json::{Map, Value as Json};

use crate::failure::Failure;
use crate::parse::BatchOp;
use crate::remote::{Client, DEFAULT_KEYSPACE};

/// A keyspace of a local database, or a remote server's.
#[derive(Clone, Copy)]
pub enum Backend<'a> {
    /// A keyspace of the database opened by this process.
    Local(&'a Keyspace),
    /// A running server (`--url`), acting on its client's keyspace.
    Remote(&'a Client),
}

impl<'a> From<&'a Keyspace> for Backend<'a> {
    fn from(ks: &'a Keyspace) -> Self {
        Backend::Local(ks)
    }
}

impl<'a> From<&'a Client> for Backend<'a> {
    fn from(c: &'a Client) -> Self {
        Backend::Remote(c)
    }
}

/// The keyspace `name` of `db`, if it exists (a usage error otherwise, naming
/// `create-keyspace`).
///
/// # Errors
/// When it does not exist; the engine's error.
pub fn open_keyspace(db: &Db, name: &str) -> Result<Keyspace, Failure> {
    if name != DEFAULT_KEYSPACE && !db.keyspaces()?.iter().any(|n| n == name) {
        return Err(no_such_keyspace(name));
    }
    Ok(db.keyspace(name)?)
}

/// Declares the secondary indexes `lsmkv-server` made in `db` (its `/indexes`), so that writes
/// to their keyspaces are accepted and keep them current, as the server would; returns how many.
/// For databases opened for writing (a read-only handle needs no declaration). A definition
/// whose keyspace is gone is skipped (the server deletes it at its next start).
///
/// # Errors
/// The engine's error, or a definition that cannot be read.
pub fn declare_server_indexes(db: &Db) -> Result<usize, Failure> {
    use crate::server_indexes::{declare, definitions};
    let mut n = 0;
    for def in definitions(db)? {
        match db.existing_keyspace(&def.keyspace) {
            Ok(ks) => {
                declare(db, &def, &ks)?;
                n += 1;
            }
            Err(lsmkv::Error::KeyspaceNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// The usage error for a keyspace that does not exist.
pub fn no_such_keyspace(name: &str) -> Failure {
    Failure::usage(format!(
        "keyspace {} does not exist (create it with create-keyspace)",
        crate::output::quoted(name.as_bytes())
    ))
}

impl<'a> Backend<'a> {
    /// The local keyspace, or a usage error naming `command` in client mode.
    ///
    /// # Errors
    /// In client mode.
    pub fn local(self, command: &str) -> Result<&'a Keyspace, Failure> {
        match self {
            Backend::Local(ks) => Ok(ks),
            Backend::Remote(c) => Err(not_remote(command, c)),
        }
    }

    /// The local database, if this is one (key completion in the shell).
    pub fn db(self) -> Option<&'a Db> {
        match self {
            Backend::Local(ks) => Some(ks.db()),
            Backend::Remote(_) => None,
        }
    }

    /// The name of the keyspace the commands act on.
    pub fn keyspace(self) -> &'a str {
        match self {
            Backend::Local(ks) => ks.name(),
            Backend::Remote(c) => c.keyspace(),
        }
    }

    /// The value of `key`.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn get(self, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        match self {
            Backend::Local(ks) => Ok(ks.get(key)?.map(|v| v.to_vec())),
            Backend::Remote(c) => c.get(key),
        }
    }

    /// Inserts or replaces `key`.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn put(self, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        match self {
            Backend::Local(ks) => Ok(ks.put(key, value)?),
            Backend::Remote(c) => c.put(key, value),
        }
    }

    /// Inserts or replaces `key` with a value that expires `ttl` from now.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn put_with_ttl(self, key: &[u8], value: &[u8], ttl: Duration) -> Result<(), Failure> {
        match self {
            Backend::Local(ks) => Ok(ks.put_with_ttl(key, value, ttl)?),
            Backend::Remote(c) => c.put_with_ttl(key, value, ttl.as_secs()),
        }
    }

    /// Deletes every key in `[start, end)` with one range delete; an empty bound is no bound.
    /// (Confirming that is the caller's business.)
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn delete_range(self, start: &[u8], end: &[u8]) -> Result<(), Failure> {
        match self {
            Backend::Local(ks) => {
                let bound = |b: &[u8], inclusive: bool| match b {
                    [] => Bound::Unbounded,
                    b if inclusive => Bound::Included(b.to_vec()),
                    b => Bound::Excluded(b.to_vec()),
                };
                Ok(ks.delete_range((bound(start, true), bound(end, false)))?)
            }
            Backend::Remote(c) => c.delete_range(start, end),
        }
    }

    /// Deletes every key starting with `prefix` (every key for an empty one) with one range
    /// delete.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn delete_prefix(self, prefix: &[u8]) -> Result<(), Failure> {
        match self {
            Backend::Local(ks) => Ok(ks.delete_prefix(prefix)?),
            Backend::Remote(c) => c.delete_prefix(prefix),
        }
    }

    /// Deletes `key`.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn delete(self, key: &[u8]) -> Result<(), Failure> {
        match self {
            Backend::Local(ks) => Ok(ks.delete(key)?),
            Backend::Remote(c) => c.delete(key),
        }
    }

    /// Applies `ops` atomically. The server's batch route takes puts only, so in client mode a
    /// batch with a delete is a usage error (rather than a batch that is not atomic).
    ///
    /// # Errors
    /// The engine's or the server's error; a delete in client mode.
    pub fn write(self, ops: &[BatchOp]) -> Result<(), Failure> {
        match self {
            Backend::Local(ks) => {
                let mut b = WriteBatch::new();
                for op in ops {
                    match op {
                        BatchOp::Put(k, v) => b.put_in(ks, k, v),
                        BatchOp::Delete(k) => b.delete_in(ks, k),
                    }
                }
                Ok(ks.db().write(b)?)
            }
            Backend::Remote(c) => {
                let mut puts = Vec::with_capacity(ops.len());
                for op in ops {
                    match op {
                        BatchOp::Put(k, v) => puts.push((k.as_slice(), v.as_slice())),
                        BatchOp::Delete(_) => {
                            return Err(Failure::usage(format!(
                                "a batch with delete is not available in client mode (the \
                                 server's POST /keys/batch takes puts only; {} is unchanged)",
                                c.url()
                            )));
                        }
                    }
                }
                if puts.is_empty() {
                    return Ok(());
                }
                c.put_batch(&puts)
            }
        }
    }

    /// The engine's statistics as JSON (the serialized [`lsmkv::Stats`]).
    ///
    /// # Errors
    /// The server's error.
    pub fn stats(self) -> Result<Json, Failure> {
        match self {
            Backend::Local(ks) => Ok(serde_json::to_value(ks.db().stats()).unwrap_or(Json::Null)),
            Backend::Remote(c) => c.engine_stats(),
        }
    }

    /// The statistics of this keyspace (the serialized [`lsmkv::KeyspaceStats`]).
    ///
    /// # Errors
    /// The server's error.
    pub fn keyspace_stats(self) -> Result<Json, Failure> {
        match self {
            Backend::Local(ks) => Ok(ks
                .db()
                .stats()
                .keyspaces
                .iter()
                .find(|k| k.name == ks.name())
                .and_then(|k| serde_json::to_value(k).ok())
                .unwrap_or(Json::Null)),
            Backend::Remote(c) => c.keyspace_stats(c.keyspace()),
        }
    }

    /// The exact number of live keys (a full scan) and the estimate. The server has no
    /// estimate to give, so in client mode both are the exact count.
    ///
    /// # Errors
    /// A damaged block on the way, the server's error, or Ctrl-C ([`Failure::interrupted`]).
    pub fn count(self) -> Result<(u64, u64), Failure> {
        match self {
            Backend::Local(ks) => Ok((crate::exec::count_keys(ks)?, ks.len_estimate())),
            Backend::Remote(c) => {
                let n = c.count()?;
                Ok((n, n))
            }
        }
    }

    /// Every keyspace's name, sorted.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn keyspace_names(self) -> Result<Vec<String>, Failure> {
        match self {
            Backend::Local(ks) => Ok(ks.db().keyspaces()?),
            Backend::Remote(c) => {
                let mut names: Vec<String> = c
                    .keyspaces()?
                    .iter()
                    .filter_map(|k| k.get("name").and_then(Json::as_str).map(str::to_string))
                    .collect();
                names.sort();
                Ok(names)
            }
        }
    }

    /// Creates keyspace `name` with `spec`'s options; a usage error when it exists.
    ///
    /// # Errors
    /// The engine's or the server's error (bad options: a usage error).
    pub fn create_keyspace(self, name: &str, spec: &KeyspaceSpec) -> Result<(), Failure> {
        match self {
            Backend::Local(ks) => {
                let db = ks.db();
                if db.keyspaces()?.iter().any(|n| n == name) {
                    return Err(Failure::usage(format!(
                        "keyspace {} already exists",
                        crate::output::quoted(name.as_bytes())
                    )));
                }
                if spec.is_empty() {
                    db.keyspace(name)?;
                } else {
                    db.keyspace_with(name, spec.options())?;
                }
                Ok(())
            }
            Backend::Remote(c) => c.create_keyspace(name, spec.json()),
        }
    }

    /// Drops keyspace `name` with all its data.
    ///
    /// # Errors
    /// The engine's or the server's error (`default`, or a keyspace that does not exist: usage
    /// errors).
    pub fn drop_keyspace(self, name: &str) -> Result<(), Failure> {
        match self {
            Backend::Local(ks) => {
                let db = ks.db();
                if !db.keyspaces()?.iter().any(|n| n == name) {
                    return Err(no_such_keyspace(name));
                }
                Ok(db.drop_keyspace(name)?)
            }
            Backend::Remote(c) => c.drop_keyspace(name),
        }
    }
}

/// The options of `create-keyspace`, as `NAME=VALUE` words: the fields of the server's keyspace
/// options (`compression`, `block_size`, `bloom_false_positive_rate`, `prefix_bloom_length`,
/// `compaction_strategy`, `ttl_seconds`), checked here so that local and client mode refuse the
/// same words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyspaceSpec {
    pub compression: Option<lsmkv::Compression>,
    pub block_size: Option<usize>,
    pub bloom_false_positive_rate: Option<f64>,
    pub prefix_bloom_length: Option<usize>,
    pub compaction_strategy: Option<lsmkv::CompactionStrategy>,
    pub ttl_seconds: Option<u64>,
}

/// The option names of `create-keyspace`.
pub const KEYSPACE_OPTIONS: &[&str] = &[
    "compression",
    "block_size",
    "bloom_false_positive_rate",
    "prefix_bloom_length",
    "compaction_strategy",
    "ttl_seconds",
];

impl KeyspaceSpec {
    /// Parses `NAME=VALUE` words (sizes take `K`/`M`/`G` suffixes, as in `.env`).
    ///
    /// # Errors
    /// A message naming the bad word.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<KeyspaceSpec, String> {
        use std::str::FromStr as _;
        let mut spec = KeyspaceSpec::default();
        for w in words {
            let w = w.as_ref();
            let Some((name, value)) = w.split_once('=') else {
                return Err(format!(
                    "{w:?}: options are NAME=VALUE, NAME one of {}",
                    KEYSPACE_OPTIONS.join(", ")
                ));
            };
            let size = |v: &str| -> Result<usize, String> {
                Options::parse_size(v)
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| format!("{name}: {v:?} is not a size"))
            };
            match name {
                "compression" => {
                    spec.compression = Some(
                        lsmkv::Compression::from_str(value).map_err(|e| format!("{name}: {e}"))?,
                    );
                }
                "block_size" => spec.block_size = Some(size(value)?),
                "bloom_false_positive_rate" => {
                    spec.bloom_false_positive_rate = Some(
                        value
                            .parse::<f64>()
                            .map_err(|_| format!("{name}: {value:?} is not a number"))?,
                    );
                }
                "prefix_bloom_length" => spec.prefix_bloom_length = Some(size(value)?),
                "compaction_strategy" => {
                    spec.compaction_strategy = Some(
                        lsmkv::CompactionStrategy::from_str(value)
                            .map_err(|e| format!("{name}: {e}"))?,
                    );
                }
                "ttl_seconds" => {
                    let n = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{name}: {value:?} is not a whole number >= 1"))?;
                    spec.ttl_seconds = Some(n);
                }
                _ => {
                    return Err(format!(
                        "unknown option {name:?} (known: {})",
                        KEYSPACE_OPTIONS.join(", ")
                    ));
                }
            }
        }
        Ok(spec)
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == KeyspaceSpec::default()
    }

    /// The engine's options.
    pub fn options(&self) -> KeyspaceOptions {
        let mut o = KeyspaceOptions::default();
        if let Some(c) = self.compression {
            o = o.compression(c);
        }
        if let Some(n) = self.block_size {
            o = o.block_size(n);
        }
        if let Some(r) = self.bloom_false_positive_rate {
            o = o.bloom_false_positive_rate(r);
        }
        if let Some(n) = self.prefix_bloom_length {
            o = o.prefix_bloom_length(n);
        }
        if let Some(s) = self.compaction_strategy {
            o = o.compaction_strategy(s);
        }
        if let Some(t) = self.ttl_seconds {
            o = o.ttl(std::time::Duration::from_secs(t));
        }
        o
    }

    /// The server's JSON form (`POST /keyspaces`).
    pub fn json(&self) -> Map<String, Json> {
        let mut m = Map::new();
        if let Some(c) = self.compression {
            m.insert("compression".into(), serialized(&c));
        }
        if let Some(n) = self.block_size {
            m.insert("block_size".into(), n.into());
        }
        if let Some(r) = self.bloom_false_positive_rate {
            m.insert("bloom_false_positive_rate".into(), r.into());
        }
        if let Some(n) = self.prefix_bloom_length {
            m.insert("prefix_bloom_length".into(), n.into());
        }
        if let Some(s) = self.compaction_strategy {
            m.insert("compaction_strategy".into(), serialized(&s));
        }
        if let Some(t) = self.ttl_seconds {
            m.insert("ttl_seconds".into(), t.into());
        }
        m
    }
}

/// An option's enum by its serialized (snake case) name, as the server takes it.
fn serialized<T: serde::Serialize>(v: &T) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// The usage error for a command that needs the database's files.
pub fn not_remote(command: &str, c: &Client) -> Failure {
    Failure::usage(format!(
        "{command} is not available in client mode (the server at {} has no route for it); run \
         it without --url on the server's machine, with the server stopped",
        c.url()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_options_parse() {
        let s = KeyspaceSpec::parse(&[
            "compression=none",
            "block_size=16K",
            "bloom_false_positive_rate=0.02",
            "prefix_bloom_length=4",
            "compaction_strategy=tiered",
            "ttl_seconds=60",
        ])
        .unwrap();
        assert_eq!(s.block_size, Some(16 << 10));
        assert_eq!(
            Json::Object(s.json()),
            serde_json::json!({
                "compression": "none", "block_size": 16384, "bloom_false_positive_rate": 0.02,
                "prefix_bloom_length": 4, "compaction_strategy": "tiered", "ttl_seconds": 60
            })
        );
        assert!(KeyspaceSpec::parse::<&str>(&[]).unwrap().is_empty());
        for bad in [
            "compression",
            "compression=zstd",
            "size=1",
            "ttl_seconds=0",
            "block_size=x",
        ] {
            assert!(KeyspaceSpec::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
