//! What the shell and the subcommands run against: a [`Backend`] is either a database opened in
//! this process or a [`Client`] of a running `lsmkv-server` (client mode, `--url`). The commands
//! print the same output and return the same exit statuses either way; the few that need the
//! files themselves (`levels`, `flush`, `compact`, a `batch` with deletes) are usage errors in
//! client mode, since the server has no route for them.

use lsmkv::{Db, WriteBatch};
use serde_json::Value as Json;

use crate::failure::Failure;
use crate::parse::BatchOp;
use crate::remote::Client;

/// A local database or a remote server.
#[derive(Clone, Copy)]
pub enum Backend<'a> {
    /// The database, opened by this process.
    Local(&'a Db),
    /// A running server (`--url`).
    Remote(&'a Client),
}

impl<'a> From<&'a Db> for Backend<'a> {
    fn from(db: &'a Db) -> Self {
        Backend::Local(db)
    }
}

impl<'a> From<&'a Client> for Backend<'a> {
    fn from(c: &'a Client) -> Self {
        Backend::Remote(c)
    }
}

impl<'a> Backend<'a> {
    /// The local database, or a usage error naming `command` in client mode.
    ///
    /// # Errors
    /// In client mode.
    pub fn local(self, command: &str) -> Result<&'a Db, Failure> {
        match self {
            Backend::Local(db) => Ok(db),
            Backend::Remote(c) => Err(not_remote(command, c)),
        }
    }

    /// The local database, if this is one (key completion in the shell).
    pub fn db(self) -> Option<&'a Db> {
        match self {
            Backend::Local(db) => Some(db),
            Backend::Remote(_) => None,
        }
    }

    /// The value of `key`.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn get(self, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        match self {
            Backend::Local(db) => Ok(db.get(key)?.map(|v| v.to_vec())),
            Backend::Remote(c) => c.get(key),
        }
    }

    /// Inserts or replaces `key`.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn put(self, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        match self {
            Backend::Local(db) => Ok(db.put(key, value)?),
            Backend::Remote(c) => c.put(key, value),
        }
    }

    /// Deletes `key`.
    ///
    /// # Errors
    /// The engine's or the server's error.
    pub fn delete(self, key: &[u8]) -> Result<(), Failure> {
        match self {
            Backend::Local(db) => Ok(db.delete(key)?),
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
            Backend::Local(db) => {
                let mut b = WriteBatch::new();
                for op in ops {
                    match op {
                        BatchOp::Put(k, v) => b.put(k, v),
                        BatchOp::Delete(k) => b.delete(k),
                    }
                }
                Ok(db.write(b)?)
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
            Backend::Local(db) => Ok(serde_json::to_value(db.stats()).unwrap_or(Json::Null)),
            Backend::Remote(c) => c.engine_stats(),
        }
    }

    /// The exact number of live keys (a full scan) and the estimate. The server has no
    /// estimate to give, so in client mode both are the exact count.
    ///
    /// # Errors
    /// A damaged block on the way, the server's error, or Ctrl-C ([`Failure::interrupted`]).
    pub fn count(self) -> Result<(u64, u64), Failure> {
        match self {
            Backend::Local(db) => Ok((crate::exec::count_keys(db)?, db.len_estimate())),
            Backend::Remote(c) => {
                let mut n = 0u64;
                for kv in c.range(None, None, false)? {
                    kv?;
                    n += 1;
                }
                Ok((n, n))
            }
        }
    }
}

/// The usage error for a command that needs the database's files.
pub fn not_remote(command: &str, c: &Client) -> Failure {
    Failure::usage(format!(
        "{command} is not available in client mode (the server at {} has no route for it); run \
         it without --url on the server's machine, with the server stopped",
        c.url()
    ))
}
