//! Snapshots: building (a consistent read of the live generation), the byte format streamed to
//! followers, the stored current snapshot, and the atomic install.
//!
//! Format (version 1): the magic `LSKVRSN1`, then records, each a tag byte followed by
//! length-prefixed byte strings (u32 little-endian length, then the bytes):
//! - `1` client, JSON deduplication record;
//! - `2` user keyspace name: the keyspace the following entries belong to;
//! - `3` key, value;
//! - `4` key, value, remaining time to live in milliseconds (8 bytes, little-endian): a value
//!   written with a TTL, which the installing node writes with that TTL;
//! - `0` end (nothing may follow).
//!
//! The applied log id and membership travel in openraft's `SnapshotMeta` beside the data.
//!
//! Install (crash-atomic): the snapshot is written into generation `N + 1` (fresh keyspaces,
//! leftovers of an earlier interrupted install dropped first), the database is synced, and one
//! durable batch switches `raft.meta/generation` to `N + 1`; then generation `N` is dropped. A
//! crash before the switch is durable reopens generation `N` (the partial `N + 1` is dropped at
//! open); after it, generation `N + 1`. Nothing in between is ever live.

use std::io::Cursor;
use std::sync::atomic::Ordering;

use lsmkv::{Db, Keyspace, Snapshot as DbSnapshot, WriteBatch};
use openraft::{
    RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};

use crate::layout::{
    self, APPLIED, DEDUP_PREFIX, GENERATION, MEMBERSHIP, SNAPSHOT_DATA_PREFIX, SNAPSHOT_META,
};
use crate::state_machine::{Generation, Shared};
use crate::types::Dedup;
use crate::{LogId, Node, NodeId, TypeConfig};

const MAGIC: &[u8; 8] = b"LSKVRSN1";
const TAG_END: u8 = 0;
const TAG_DEDUP: u8 = 1;
const TAG_KEYSPACE: u8 = 2;
const TAG_ENTRY: u8 = 3;
const TAG_ENTRY_TTL: u8 = 4;

/// The stored current snapshot is kept in chunks of this size (a value must stay below the
/// engine's value size limit).
const CHUNK: usize = 1 << 20;
/// An install writes the snapshot's entries in batches of about this many bytes.
const INSTALL_BATCH_BYTES: usize = 4 << 20;

/// Builds snapshots of the state machine (openraft's `RaftSnapshotBuilder`).
pub struct SnapshotBuilder {
    pub(crate) shared: std::sync::Arc<Shared>,
}

impl std::fmt::Debug for SnapshotBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotBuilder").finish_non_exhaustive()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        build(&self.shared)
    }
}

/// Reads the live generation at one seqno (data, applied id, membership, dedup table agree),
/// encodes it and stores it as the current snapshot.
pub(crate) fn build(shared: &Shared) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
    // The read lock keeps an install from dropping the keyspaces being read.
    let g = shared.generation.read();
    let snap = shared.db.snapshot();
    let applied: Option<LogId> = snap_json(&snap, &g.sm, APPLIED)?;
    let membership: StoredMembership<NodeId, Node> =
        snap_json(&snap, &g.sm, MEMBERSHIP)?.unwrap_or_default();
    let data = encode_generation(&shared.db, &g, &snap).map_err(read_snapshot_err)?;
    let n = shared.built.fetch_add(1, Ordering::Relaxed);
    let snapshot_id = match &applied {
        Some(id) => format!("{}-{}-{n}", id.leader_id.term, id.index),
        None => format!("0-0-{n}"),
    };
    let meta = SnapshotMeta {
        last_log_id: applied,
        last_membership: membership,
        snapshot_id,
    };
    let mut b = WriteBatch::new();
    store_current(&mut b, &g.sm, &meta, &data)?;
    shared.db.write(b).map_err(write_snapshot_err)?;
    Ok(Snapshot {
        meta,
        snapshot: Box::new(Cursor::new(data)),
    })
}

fn snap_json<T: serde::de::DeserializeOwned>(
    snap: &DbSnapshot,
    ks: &Keyspace,
    key: &[u8],
) -> Result<Option<T>, StorageError<NodeId>> {
    match snap.get_in(ks, key).map_err(read_snapshot_err)? {
        Some(v) => layout::decode(&v).map(Some),
        None => Ok(None),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<(), lsmkv::Error> {
    let len = u32::try_from(b.len())
        .map_err(|_| lsmkv::Error::InvalidArgument("snapshot field over 4 GiB".into()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
    Ok(())
}

/// The live generation as of `snap`, in the snapshot format.
fn encode_generation(db: &Db, g: &Generation, snap: &DbSnapshot) -> Result<Vec<u8>, lsmkv::Error> {
    let mut out = MAGIC.to_vec();
    for item in snap.prefix_in(&g.sm, DEDUP_PREFIX) {
        let (k, v) = item?;
        out.push(TAG_DEDUP);
        put_bytes(&mut out, &k[DEDUP_PREFIX.len()..])?;
        put_bytes(&mut out, &v)?;
    }
    let prefix = layout::data_prefix(g.number);
    let mut names: Vec<String> = db
        .keyspaces()?
        .into_iter()
        .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
        .collect();
    names.sort();
    for name in names {
        let Some(ks) = g.existing_data_keyspace(db, Some(&name))? else {
            continue;
        };
        let expiry = g.expiry_keyspace(db, Some(&name), false)?;
        let now = layout::now_millis();
        out.push(TAG_KEYSPACE);
        put_bytes(&mut out, name.as_bytes())?;
        for item in snap.range_in::<&[u8], _>(&ks, ..) {
            let (k, v) = item?;
            let expires_at = match &expiry {
                Some(x) => snap
                    .get_in(x, &k)?
                    .and_then(|e| e.first_chunk::<8>().copied()),
                None => None,
            };
            match expires_at.map(u64::from_be_bytes) {
                Some(at) => {
                    // Expired since the read's iterator passed it: still sent, expiring at once.
                    out.push(TAG_ENTRY_TTL);
                    put_bytes(&mut out, &k)?;
                    put_bytes(&mut out, &v)?;
                    put_bytes(&mut out, &at.saturating_sub(now).max(1).to_le_bytes())?;
                }
                None => {
                    out.push(TAG_ENTRY);
                    put_bytes(&mut out, &k)?;
                    put_bytes(&mut out, &v)?;
                }
            }
        }
    }
    out.push(TAG_END);
    Ok(out)
}

/// One decoded record.
enum Record<'a> {
    Dedup(&'a [u8], &'a [u8]),
    Keyspace(&'a [u8]),
    Entry(&'a [u8], &'a [u8]),
    EntryTtl(&'a [u8], &'a [u8], u64),
}

/// Reads the records of the snapshot bytes `data`.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Result<Reader<'a>, String> {
        match data.strip_prefix(&MAGIC[..]) {
            Some(rest) => Ok(Reader { rest }),
            None => Err("not an lsmkv-raft snapshot (bad magic)".into()),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let (len, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or("snapshot truncated in a length")?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err("snapshot truncated in a field".into());
        }
        let (b, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(b)
    }

    /// The next record, `None` at the end marker.
    fn next_record(&mut self) -> Result<Option<Record<'a>>, String> {
        let (&tag, rest) = self
            .rest
            .split_first()
            .ok_or("snapshot has no end marker")?;
        self.rest = rest;
        match tag {
            TAG_END if self.rest.is_empty() => Ok(None),
            TAG_END => Err("bytes after the snapshot's end marker".into()),
            TAG_DEDUP => Ok(Some(Record::Dedup(self.bytes()?, self.bytes()?))),
            TAG_KEYSPACE => Ok(Some(Record::Keyspace(self.bytes()?))),
            TAG_ENTRY => Ok(Some(Record::Entry(self.bytes()?, self.bytes()?))),
            TAG_ENTRY_TTL => {
                let (k, v) = (self.bytes()?, self.bytes()?);
                let ttl = self
                    .bytes()?
                    .first_chunk::<8>()
                    .map(|b| u64::from_le_bytes(*b))
                    .ok_or("snapshot TTL field shorter than 8 bytes")?;
                Ok(Some(Record::EntryTtl(k, v, ttl)))
            }
            t => Err(format!("unknown snapshot record tag {t}")),
        }
    }
}

/// Stores `meta` and `data` as the current snapshot in `sm` (replacing the previous one).
fn store_current(
    b: &mut WriteBatch,
    sm: &Keyspace,
    meta: &SnapshotMeta<NodeId, Node>,
    data: &[u8],
) -> Result<(), StorageError<NodeId>> {
    b.delete_prefix_in(sm, SNAPSHOT_DATA_PREFIX);
    for (i, chunk) in (0u32..).zip(data.chunks(CHUNK)) {
        b.put_in(sm, layout::snapshot_chunk_key(i), chunk);
    }
    b.put_in(sm, SNAPSHOT_META, layout::encode(meta)?);
    Ok(())
}

/// The stored current snapshot, if one was built or installed.
pub(crate) fn current(
    shared: &Shared,
) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
    let g = shared.generation.read();
    let snap = shared.db.snapshot();
    let Some(meta) = snap_json::<SnapshotMeta<NodeId, Node>>(&snap, &g.sm, SNAPSHOT_META)? else {
        return Ok(None);
    };
    let mut data = Vec::new();
    for item in snap.prefix_in(&g.sm, SNAPSHOT_DATA_PREFIX) {
        let (_, v) = item.map_err(read_snapshot_err)?;
        data.extend_from_slice(&v);
    }
    Ok(Some(Snapshot {
        meta,
        snapshot: Box::new(Cursor::new(data)),
    }))
}

/// Installs `data` (with `meta`) as the state machine, atomically (see the module docs).
pub(crate) fn install(
    shared: &Shared,
    meta: &SnapshotMeta<NodeId, Node>,
    data: Vec<u8>,
) -> Result<(), StorageError<NodeId>> {
    let signature = Some(meta.signature());
    let err = |e: &dyn std::fmt::Display| -> StorageError<NodeId> {
        StorageIOError::<NodeId>::write_snapshot(signature.clone(), openraft::AnyError::error(e))
            .into()
    };
    let db = &shared.db;
    let mut live = shared.generation.write();
    let next = live.number + 1;
    // Leftovers of an install interrupted before its switch (none after a clean open).
    layout::drop_other_generations(db, live.number).map_err(|e| err(&e))?;
    let fresh = Generation::open(db, next).map_err(|e| err(&e))?;
    write_generation(db, &fresh, meta, &data).map_err(|e| err(&e))?;
    // Everything of generation `next` durable, then the switch, durable too.
    db.sync().map_err(|e| err(&e))?;
    let mut b = WriteBatch::new();
    b.put_in(&shared.meta, GENERATION, layout::encode(&next)?);
    db.write_with_ticket(b)
        .and_then(|t| t.wait())
        .map_err(|e| err(&e))?;
    let old = std::mem::replace(&mut *live, fresh);
    drop(live);
    // The old generation is dead now; a failure to drop it leaves garbage the next open drops.
    if let Err(e) = layout::drop_other_generations(db, next) {
        tracing::warn!(generation = old.number, error = %e, "lsmkv-raft: dropping the replaced generation failed");
    }
    Ok(())
}

/// Writes the snapshot `data` and `meta` into the (fresh) generation `g`.
fn write_generation(
    db: &Db,
    g: &Generation,
    meta: &SnapshotMeta<NodeId, Node>,
    data: &[u8],
) -> Result<(), String> {
    let mut reader = Reader::new(data)?;
    let mut b = WriteBatch::new();
    let mut ks: Option<Keyspace> = None;
    let mut user: Option<String> = None;
    let now = layout::now_millis();
    while let Some(rec) = reader.next_record()? {
        match rec {
            Record::Dedup(client, record) => {
                let _: Dedup = serde_json::from_slice(record).map_err(|e| e.to_string())?;
                b.put_in(&g.sm, [DEDUP_PREFIX, client].concat(), record);
            }
            Record::Keyspace(name) => {
                let name = std::str::from_utf8(name).map_err(|e| e.to_string())?;
                ks = Some(g.data_keyspace(db, Some(name)).map_err(|e| e.to_string())?);
                user = Some(name.to_string());
            }
            Record::Entry(k, v) => {
                let ks = ks.as_ref().ok_or("snapshot entry before any keyspace")?;
                b.put_in(ks, k, v);
            }
            Record::EntryTtl(k, v, ttl) => {
                let ks = ks.as_ref().ok_or("snapshot entry before any keyspace")?;
                let x = g
                    .expiry_keyspace(db, user.as_deref(), true)
                    .map_err(|e| e.to_string())?
                    .ok_or("expiry keyspace not created")?;
                b.put_with_ttl_in(ks, k, v, std::time::Duration::from_millis(ttl));
                b.put_in(&x, k, now.saturating_add(ttl).to_be_bytes());
            }
        }
        if b.encoded_size() >= INSTALL_BATCH_BYTES {
            db.write(std::mem::take(&mut b))
                .map_err(|e| e.to_string())?;
        }
    }
    if let Some(applied) = &meta.last_log_id {
        let applied = serde_json::to_vec(applied).map_err(|e| e.to_string())?;
        b.put_in(&g.sm, APPLIED, applied);
    }
    let membership = serde_json::to_vec(&meta.last_membership).map_err(|e| e.to_string())?;
    b.put_in(&g.sm, MEMBERSHIP, membership);
    store_current(&mut b, &g.sm, meta, data).map_err(|e| e.to_string())?;
    db.write(b).map_err(|e| e.to_string())
}

fn read_snapshot_err(e: lsmkv::Error) -> StorageError<NodeId> {
    StorageIOError::<NodeId>::read_snapshot(None, &e).into()
}

fn write_snapshot_err(e: lsmkv::Error) -> StorageError<NodeId> {
    StorageIOError::<NodeId>::write_snapshot(None, &e).into()
}
