//! Where the adapter keeps what in the database: keyspace names, keys, and value encodings.
//!
//! - `raft.log`: the log; key = the entry's index as 8 big-endian bytes (so key order is index
//!   order), value = the entry as JSON.
//! - `raft.meta`: `vote`, `committed`, `purged` (last purged log id), `generation` (which
//!   generation of state-machine keyspaces is live), all JSON.
//! - `raft.g<N>.sm`: the state machine's metadata of generation `N`: `applied` (last applied log
//!   id), `membership`, `dedup/<client>` (a client's last seq and response), and the last built
//!   snapshot (`snapshot/meta`, `snapshot/data/<chunk as 4 BE bytes>`).
//! - `raft.g<N>.d.<name>`: user keyspace `<name>` of generation `N` (`default` for the user's
//!   default keyspace). User keyspaces live only here, so no user name collides with the adapter's
//!   own keyspaces.
//! - `raft.g<N>.x.<name>`: for each key of `<name>` last written with a TTL, its expiry
//!   (milliseconds since the Unix epoch, 8 big-endian bytes), so that a snapshot carries the
//!   remaining TTL (the engine does not hand out a value's expiry). Created on the first TTL put.
//!
//! A snapshot install writes generation `N + 1` and switches `generation` with one durable batch;
//! keyspaces of any other generation are leftovers of an interrupted install (or of the previous
//! generation) and are dropped.

use lsmkv::{Db, Keyspace};
use openraft::{StorageError, StorageIOError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::NodeId;

pub(crate) const LOG: &str = "raft.log";
pub(crate) const META: &str = "raft.meta";
pub(crate) const GEN_PREFIX: &str = "raft.g";

pub(crate) const VOTE: &[u8] = b"vote";
pub(crate) const COMMITTED: &[u8] = b"committed";
pub(crate) const PURGED: &[u8] = b"purged";
pub(crate) const GENERATION: &[u8] = b"generation";

pub(crate) const APPLIED: &[u8] = b"applied";
pub(crate) const MEMBERSHIP: &[u8] = b"membership";
pub(crate) const DEDUP_PREFIX: &[u8] = b"dedup/";
pub(crate) const SNAPSHOT_META: &[u8] = b"snapshot/meta";
pub(crate) const SNAPSHOT_DATA_PREFIX: &[u8] = b"snapshot/data/";

/// The name of the user's default keyspace inside a generation.
pub(crate) const DEFAULT_USER_KEYSPACE: &str = "default";

/// The longest user keyspace name: lsmkv's 255 bytes less the generation prefix.
pub(crate) const MAX_USER_KEYSPACE_NAME: usize = 200;

/// Log key of `index`.
pub(crate) fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The state-machine metadata keyspace of generation `generation`.
pub(crate) fn sm_keyspace(generation: u64) -> String {
    format!("{GEN_PREFIX}{generation}.sm")
}

/// The prefix of generation `generation`'s user keyspaces.
pub(crate) fn data_prefix(generation: u64) -> String {
    format!("{GEN_PREFIX}{generation}.d.")
}

/// The engine keyspace of user keyspace `user` (`None`: default) in generation `generation`.
pub(crate) fn data_keyspace(generation: u64, user: Option<&str>) -> String {
    format!(
        "{}{}",
        data_prefix(generation),
        user.unwrap_or(DEFAULT_USER_KEYSPACE)
    )
}

/// The expiry keyspace of user keyspace `user` in generation `generation`.
pub(crate) fn expiry_keyspace(generation: u64, user: Option<&str>) -> String {
    format!(
        "{GEN_PREFIX}{generation}.x.{}",
        user.unwrap_or(DEFAULT_USER_KEYSPACE)
    )
}

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The generation a keyspace name belongs to, if it is one of the adapter's generation keyspaces.
pub(crate) fn generation_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(GEN_PREFIX)?;
    let (n, _) = rest.split_once('.')?;
    n.parse().ok()
}

/// Key of `client`'s deduplication record.
pub(crate) fn dedup_key(client: &str) -> Vec<u8> {
    [DEDUP_PREFIX, client.as_bytes()].concat()
}

/// Key of snapshot chunk `i`.
pub(crate) fn snapshot_chunk_key(i: u32) -> Vec<u8> {
    [SNAPSHOT_DATA_PREFIX, &i.to_be_bytes()[..]].concat()
}

/// JSON encoding of a stored value.
pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError<NodeId>> {
    serde_json::to_vec(v).map_err(|e| StorageIOError::<NodeId>::write(&e).into())
}

/// Decodes a stored JSON value (a decoding failure is a read error: damaged or foreign data).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError<NodeId>> {
    serde_json::from_slice(bytes).map_err(|e| StorageIOError::<NodeId>::read(&e).into())
}

/// Reads and decodes `key` of `ks`.
pub(crate) fn read_json<T: DeserializeOwned>(
    ks: &Keyspace,
    key: &[u8],
) -> Result<Option<T>, StorageError<NodeId>> {
    match ks.get(key).map_err(read_err)? {
        Some(v) => decode(&v).map(Some),
        None => Ok(None),
    }
}

/// An engine error on a read path.
pub(crate) fn read_err(e: lsmkv::Error) -> StorageError<NodeId> {
    StorageIOError::<NodeId>::read(&e).into()
}

/// An engine error on a write path.
pub(crate) fn write_err(e: lsmkv::Error) -> StorageError<NodeId> {
    StorageIOError::<NodeId>::write(&e).into()
}

/// The live generation recorded in `raft.meta` (0 before the first snapshot install).
pub(crate) fn live_generation(meta: &Keyspace) -> Result<u64, StorageError<NodeId>> {
    Ok(read_json::<u64>(meta, GENERATION)?.unwrap_or(0))
}

/// Drops every generation keyspace of a generation other than `live` (leftovers of an
/// interrupted install, or the generation an install replaced).
pub(crate) fn drop_other_generations(db: &Db, live: u64) -> Result<(), lsmkv::Error> {
    for name in db.keyspaces()? {
        if generation_of(&name).is_some_and(|g| g != live) {
            db.drop_keyspace(&name)?;
        }
    }
    Ok(())
}
