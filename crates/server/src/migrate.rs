//! The one-time migration, at start-up, of a database written by a server that kept user keys
//! and feature flags in one key space under prefix bytes (`b"k" ++ KEY`, `b"f" ++ ID`; servers
//! up to commit `0b5c300`) to the keyspace layout of [`crate::layout`].
//!
//! # When it runs
//!
//! Which keyspaces exist decides, so that the rule is applied once per database and never again,
//! whatever keys users write later:
//!
//! - the staging keyspace [`STAGING`] exists: a migration was interrupted; it resumes where it
//!   stopped, as the marker ([`MARKER`] in `flags`) says (each step is made of atomic batches,
//!   see below).
//! - `flags` exists (and no staging keyspace): the data is in the current layout; nothing to do.
//!   A server that starts on a database creates `flags` at once, so this holds from then on.
//! - neither (a database no keyspace-aware server started on): the `default` keyspace is read
//!   once. If it is empty, or holds any key the old server could not have written, `flags` is
//!   created and nothing moves. The old server could have written it only if every key is `b"k"`
//!   or `b"f"` followed by at least one byte, every `f` key's id is UTF-8 and every `f` key's
//!   value is a flag object `{"enabled": bool, "version": N}`. Only then is it migrated.
//!
//! The one case this cannot tell apart is a database written by other means (the library or the
//! shell) whose every key happens to start with `k` or `f`, with the `f` keys holding flag
//! objects; the first server to start on it would move it as an old server's data.
//!
//! # How it moves the data (crash-safe, rerunnable)
//!
//! Moving `k` ++ K to K inside `default` in place could not be resumed after a crash: a moved
//! key may itself start with `k` or `f` and would look unmoved. So it goes in two steps through
//! [`STAGING`], each step made of atomic batches that only ever take entries out of the keyspace
//! being read, so what is left there is always exactly what is left to do:
//!
//! 0. [`STAGING`] is created, then `flags`, then the marker `migrating:1` is written (a crash
//!    before the marker leaves `default` untouched, and step 1 starts over).
//! 1. (`migrating:1`) each `k` ++ K of `default` is put into staging as K, each `f` ++ ID into
//!    `flags` as ID, and deleted from `default`, in the same batch. When `default` is empty, the
//!    marker becomes `migrating:2`.
//! 2. (`migrating:2`) each key of staging is put into `default` and deleted from staging, in the
//!    same batch. When staging is empty the marker becomes `done`, staging is dropped, then the
//!    marker is deleted (a crash in between: the next start finishes these two).
//!
//! A batch holds at most [`BATCH_ENTRIES`] entries or about [`BATCH_BYTES`] of keys and values.
//! Values (flag objects included, so flag versions) are kept as they are; keys get new engine
//! versions (`ETag`s), as any write does.

use lsmkv::{Db, Keyspace, WriteBatch};

use crate::layout::{DEFAULT, FLAGS, MARKER, OLD_FLAG, OLD_USER};

/// The staging keyspace of step 1 (dropped at the end).
pub const STAGING: &str = "lsmkv-server-migration";
/// Marker of step 1.
const MOVING_OUT: &[u8] = b"migrating:1";
/// Marker of step 2.
const MOVING_BACK: &[u8] = b"migrating:2";
/// Marker of a finished migration whose staging keyspace may still exist.
const DONE: &[u8] = b"done";
/// Most entries moved by one batch.
pub const BATCH_ENTRIES: usize = 1000;
/// A batch is cut once its keys and values reach this many bytes.
pub const BATCH_BYTES: usize = 4 << 20;

/// What start-up found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The data is in the current layout (`flags` exists).
    Current,
    /// A database without data: `flags` created.
    Fresh,
    /// Data the old server could not have written (the first such key, escaped): `flags`
    /// created, nothing moved.
    NotOldLayout(String),
    /// Migrated (or a migration finished): user keys moved into `default` and flags moved into
    /// `flags` by this run.
    Migrated { user_keys: u64, flags: u64 },
}

/// What `default` holds when neither `flags` nor staging exists.
enum Found {
    Empty,
    NotOld(Vec<u8>),
    Old { user_keys: u64, flags: u64 },
}

/// Brings the database to the current layout (see the module documentation) and logs what it
/// did. Runs before the server accepts connections.
///
/// # Errors
/// The engine's error, or a marker this server does not know (as
/// [`lsmkv::Error::InvalidArgument`]).
pub fn run(db: &Db) -> lsmkv::Result<Outcome> {
    let names = db.keyspaces()?;
    let has = |n: &str| names.iter().any(|x| x == n);
    let marker = if has(FLAGS) {
        db.keyspace(FLAGS)?.get(MARKER)?.map(|v| v.to_vec())
    } else {
        None
    };
    let outcome = match (has(STAGING), has(FLAGS), marker.as_deref()) {
        (true, _, Some(DONE)) => {
            finish(db)?;
            Outcome::Current
        }
        (true, _, None | Some(MOVING_OUT)) => {
            tracing::warn!("resuming an interrupted migration of the key layout (step 1 of 2)");
            migrate(db)?
        }
        (true, _, Some(MOVING_BACK)) => {
            tracing::warn!("resuming an interrupted migration of the key layout (step 2 of 2)");
            Outcome::Migrated {
                user_keys: move_back(db)?,
                flags: 0,
            }
        }
        (false, true, None) => Outcome::Current,
        (false, true, Some(DONE)) => {
            db.keyspace(FLAGS)?.delete(MARKER)?;
            Outcome::Current
        }
        (_, _, Some(other)) => {
            return Err(lsmkv::Error::InvalidArgument(format!(
                "unknown or inconsistent server data layout marker {:?} (written by a newer \
                 lsmkv-server?)",
                lsmkv::debug::escape_bytes(other)
            )));
        }
        (false, false, None) => match inspect(&db.keyspace(DEFAULT)?)? {
            Found::Empty => {
                db.keyspace(FLAGS)?;
                Outcome::Fresh
            }
            Found::NotOld(key) => {
                db.keyspace(FLAGS)?;
                Outcome::NotOldLayout(lsmkv::debug::escape_bytes(&key))
            }
            Found::Old { user_keys, flags } => {
                tracing::warn!(
                    user_keys,
                    flags,
                    "the database is in the old single-key-space layout (k/f prefix bytes): \
                     moving user keys to keyspace {DEFAULT:?} and flags to keyspace {FLAGS:?}"
                );
                migrate(db)?
            }
        },
    };
    match &outcome {
        Outcome::Current | Outcome::Fresh => {}
        Outcome::NotOldLayout(key) => tracing::info!(
            first_key = %key,
            "the data is not in the old single-key-space layout: nothing to migrate"
        ),
        Outcome::Migrated { user_keys, flags } => tracing::warn!(
            user_keys,
            flags,
            "migration of the key layout done: user keys are in keyspace {DEFAULT:?}, flags in \
             keyspace {FLAGS:?}"
        ),
    }
    Ok(outcome)
}

/// Steps 0 to 2 (step 0 again when resumed before its marker).
fn migrate(db: &Db) -> lsmkv::Result<Outcome> {
    db.keyspace(STAGING)?;
    set_marker(db, MOVING_OUT)?;
    let (_, flags) = move_out(db)?;
    Ok(Outcome::Migrated {
        user_keys: move_back(db)?,
        flags,
    })
}

/// The end of step 2: drops the (empty) staging keyspace, then deletes the marker.
fn finish(db: &Db) -> lsmkv::Result<()> {
    if db.keyspaces()?.iter().any(|n| n == STAGING) {
        db.drop_keyspace(STAGING)?;
    }
    db.keyspace(FLAGS)?.delete(MARKER)
}

/// Sets the layout marker (creating the `flags` keyspace when needed).
fn set_marker(db: &Db, value: &[u8]) -> lsmkv::Result<()> {
    db.keyspace(FLAGS)?.put(MARKER, value)
}

/// Whether `v` is a flag as the old server stored it.
fn is_flag_value(v: &[u8]) -> bool {
    let Ok(j) = serde_json::from_slice::<serde_json::Value>(v) else {
        return false;
    };
    j.get("enabled").is_some_and(serde_json::Value::is_boolean)
        && j.get("version").is_some_and(serde_json::Value::is_u64)
}

/// Reads all of `default` (a database with no marker) to decide whether it is in the old layout.
fn inspect(default: &Keyspace) -> lsmkv::Result<Found> {
    let (mut user_keys, mut flags) = (0u64, 0u64);
    for kv in default.range::<&[u8], _>(..) {
        let (k, v) = kv?;
        match k.split_first() {
            Some((&OLD_USER, rest)) if !rest.is_empty() => user_keys += 1,
            Some((&OLD_FLAG, rest))
                if !rest.is_empty() && std::str::from_utf8(rest).is_ok() && is_flag_value(&v) =>
            {
                flags += 1;
            }
            _ => return Ok(Found::NotOld(k.to_vec())),
        }
    }
    Ok(if user_keys + flags == 0 {
        Found::Empty
    } else {
        Found::Old { user_keys, flags }
    })
}

/// A batch being filled, with its size.
struct Filling {
    batch: WriteBatch,
    entries: usize,
    bytes: usize,
}

impl Filling {
    fn new() -> Filling {
        Filling {
            batch: WriteBatch::new(),
            entries: 0,
            bytes: 0,
        }
    }
    fn full(&self) -> bool {
        self.entries >= BATCH_ENTRIES || self.bytes >= BATCH_BYTES
    }
    fn count(&mut self, k: &[u8], v: &[u8]) {
        self.entries += 1;
        self.bytes += k.len() + v.len();
    }
}

/// Step 1: old entries of `default` to staging (user keys) and `flags` (flags), then the marker
/// of step 2. Returns the user keys and flags moved.
fn move_out(db: &Db) -> lsmkv::Result<(u64, u64)> {
    let default = db.keyspace(DEFAULT)?;
    let staging = db.keyspace(STAGING)?;
    let flags_ks = db.keyspace(FLAGS)?;
    let (mut users, mut flags) = (0u64, 0u64);
    // Entries before this key were moved by this run or are left in place (see below).
    let mut after: Option<Vec<u8>> = None;
    loop {
        let mut b = Filling::new();
        let it = match &after {
            None => default.range::<&[u8], _>(..),
            Some(a) => default.range::<&[u8], _>((
                std::ops::Bound::Excluded(a.as_slice()),
                std::ops::Bound::Unbounded,
            )),
        };
        for kv in it {
            let (k, v) = kv?;
            after = Some(k.to_vec());
            match k.split_first() {
                Some((&OLD_USER, rest)) if !rest.is_empty() => {
                    b.batch.put_in(&staging, rest, &v);
                    users += 1;
                }
                Some((&OLD_FLAG, rest)) if !rest.is_empty() => {
                    b.batch.put_in(&flags_ks, rest, &v);
                    flags += 1;
                }
                // Not written by the old server (and not there when the migration started,
                // since nothing else writes before the server listens): left where it is.
                _ => {
                    tracing::warn!(
                        key = %lsmkv::debug::escape_bytes(&k),
                        "layout migration: leaving a key without the old prefix in place"
                    );
                    continue;
                }
            }
            b.batch.delete_in(&default, &k);
            b.count(&k, &v);
            if b.full() {
                break;
            }
        }
        if b.entries == 0 {
            break;
        }
        db.write(b.batch)?;
        tracing::debug!(users, flags, "layout migration: step 1 batch written");
    }
    set_marker(db, MOVING_BACK)?;
    Ok((users, flags))
}

/// Step 2: staging back into `default`, then the marker `done`, the drop of staging and the
/// marker's deletion. Returns
/// the user keys moved.
fn move_back(db: &Db) -> lsmkv::Result<u64> {
    let default = db.keyspace(DEFAULT)?;
    let staging = db.keyspace(STAGING)?;
    let mut moved = 0u64;
    loop {
        let mut b = Filling::new();
        for kv in staging.range::<&[u8], _>(..) {
            let (k, v) = kv?;
            b.batch.put_in(&default, &k, &v);
            b.batch.delete_in(&staging, &k);
            b.count(&k, &v);
            moved += 1;
            if b.full() {
                break;
            }
        }
        if b.entries == 0 {
            break;
        }
        db.write(b.batch)?;
        tracing::debug!(moved, "layout migration: step 2 batch written");
    }
    set_marker(db, DONE)?;
    finish(db)?;
    Ok(moved)
}

#[cfg(test)]
/// Writes `entries` the way the old server stored user keys and flags (for tests of the
/// migration): user keys `(key, value)` as `b"k" ++ key`, flags `(id, enabled, version)` as
/// `b"f" ++ id`.
///
/// # Errors
/// The engine's error.
pub fn write_old_layout(
    db: &Db,
    user_keys: &[(&[u8], &[u8])],
    flags: &[(&str, bool, u64)],
) -> lsmkv::Result<()> {
    let mut b = WriteBatch::new();
    for (k, v) in user_keys {
        let mut key = vec![OLD_USER];
        key.extend_from_slice(k);
        b.put(key, v);
    }
    for (id, enabled, version) in flags {
        let mut key = vec![OLD_FLAG];
        key.extend_from_slice(id.as_bytes());
        let v = serde_json::json!({ "enabled": enabled, "version": version });
        b.put(key, v.to_string());
    }
    db.write(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Db {
        Db::open(dir, lsmkv::Options::default()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn keys(ks: &Keyspace) -> Vec<(Vec<u8>, Vec<u8>)> {
        ks.range::<&[u8], _>(..)
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<lsmkv::Result<_>>()
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn a_fresh_database_is_marked_and_never_migrated_later() {
        let d = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let db = open(d.path());
        assert_eq!(run(&db).ok(), Some(Outcome::Fresh));
        // User data that looks like the old layout, written after the marker.
        db.put("kitten", "meow")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(run(&db).ok(), Some(Outcome::Current));
        assert!(db.get("kitten").ok().flatten().is_some());
    }

    #[test]
    fn data_the_old_server_could_not_write_is_left_alone() {
        for key in [&b"user:1"[..], b"k", b"f\xff", b"fid"] {
            let d = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
            let db = open(d.path());
            db.put("kx", "v").unwrap_or_else(|e| unreachable!("{e}"));
            // `fid` holds no flag object.
            db.put(key, "v").unwrap_or_else(|e| unreachable!("{e}"));
            assert!(matches!(run(&db), Ok(Outcome::NotOldLayout(_))), "{key:?}");
            assert!(db.get("kx").ok().flatten().is_some());
        }
    }

    #[test]
    fn migrates_in_batches_and_resumes_after_each_step() {
        let d = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let db = open(d.path());
        let n = BATCH_ENTRIES * 2 + 7;
        let users: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
            .map(|i| {
                (
                    format!("k{i:05}").into_bytes(),
                    format!("v{i}").into_bytes(),
                )
            })
            .collect();
        let refs: Vec<(&[u8], &[u8])> = users
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        write_old_layout(&db, &refs, &[("f1", true, 3)]).unwrap_or_else(|e| unreachable!("{e}"));
        // Interrupted after step 0 created staging, before its marker: the run resumes it.
        db.keyspace(STAGING).unwrap_or_else(|e| unreachable!("{e}"));
        db.keyspace(FLAGS).unwrap_or_else(|e| unreachable!("{e}"));
        let out = run(&db).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            out,
            Outcome::Migrated {
                user_keys: n as u64,
                flags: 1
            }
        );
        let default = db.keyspace(DEFAULT).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(keys(&default), users);
        let flags = db.keyspace(FLAGS).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            flags.get("f1").ok().flatten().as_deref(),
            Some(&br#"{"enabled":true,"version":3}"#[..])
        );
        assert!(
            !db.keyspaces()
                .unwrap_or_default()
                .contains(&STAGING.to_string())
        );
        assert_eq!(flags.get(MARKER).ok().flatten(), None);
        assert_eq!(run(&db).ok(), Some(Outcome::Current));
        assert_eq!(keys(&default), users);
    }

    #[test]
    fn step_two_and_the_end_resume() {
        let d = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let db = open(d.path());
        // Step 2 interrupted: staging holds the keys (already without their prefix; one of them
        // starts with `k`), one key is back in `default` already.
        let staging = db.keyspace(STAGING).unwrap_or_else(|e| unreachable!("{e}"));
        staging
            .put("kite", "1")
            .unwrap_or_else(|e| unreachable!("{e}"));
        db.put("fox", "2").unwrap_or_else(|e| unreachable!("{e}"));
        set_marker(&db, MOVING_BACK).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            run(&db).ok(),
            Some(Outcome::Migrated {
                user_keys: 1,
                flags: 0
            })
        );
        let default = db.keyspace(DEFAULT).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            keys(&default),
            vec![
                (b"fox".to_vec(), b"2".to_vec()),
                (b"kite".to_vec(), b"1".to_vec())
            ]
        );
        // Done, but staging not dropped yet.
        db.keyspace(STAGING).unwrap_or_else(|e| unreachable!("{e}"));
        set_marker(&db, DONE).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(run(&db).ok(), Some(Outcome::Current));
        assert_eq!(
            db.keyspaces().unwrap_or_default(),
            vec![DEFAULT.to_string(), FLAGS.to_string()]
        );
        assert_eq!(keys(&default).len(), 2);
    }

    #[test]
    fn an_unknown_marker_stops_the_server() {
        let d = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let db = open(d.path());
        set_marker(&db, b"9").unwrap_or_else(|e| unreachable!("{e}"));
        assert!(run(&db).is_err());
    }
}
