//! [`StateMachineStore`]: openraft's state machine on the generation keyspaces, and
//! [`ReplicatedData`], the read side the server serves from.

use std::collections::HashMap;
use std::sync::Arc;

use lsmkv::{Db, Keyspace, WriteBatch};
use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, LogId, OptionalSend, Snapshot, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use parking_lot::{Mutex, RwLock};

use crate::layout::{self, APPLIED, MAX_USER_KEYSPACE_NAME, MEMBERSHIP, META, write_err};
use crate::snapshot::SnapshotBuilder;
use crate::types::{Dedup, Op, Request, Response};
use crate::{Entry, Node, NodeId, TypeConfig};

/// The last applied log id and membership.
pub type AppliedState = (Option<LogId<NodeId>>, StoredMembership<NodeId, Node>);

/// The live generation: its number and its keyspaces, opened as used.
pub(crate) struct Generation {
    pub number: u64,
    pub sm: Keyspace,
    /// User keyspace name (`None`: default) -> engine keyspace.
    pub data: Mutex<HashMap<Option<String>, Keyspace>>,
    /// Expiry keyspaces opened so far, by engine name.
    pub expiry: Mutex<HashMap<String, Keyspace>>,
}

impl Generation {
    pub(crate) fn open(db: &Db, number: u64) -> Result<Generation, lsmkv::Error> {
        Ok(Generation {
            number,
            sm: db.keyspace(&layout::sm_keyspace(number))?,
            data: Mutex::new(HashMap::new()),
            expiry: Mutex::new(HashMap::new()),
        })
    }

    /// The engine keyspace of user keyspace `user`, created if needed.
    pub(crate) fn data_keyspace(
        &self,
        db: &Db,
        user: Option<&str>,
    ) -> Result<Keyspace, lsmkv::Error> {
        let name = user.map(str::to_string);
        let mut data = self.data.lock();
        if let Some(ks) = data.get(&name) {
            return Ok(ks.clone());
        }
        let ks = db.keyspace(&layout::data_keyspace(self.number, user))?;
        data.insert(name, ks.clone());
        Ok(ks)
    }

    /// The expiry keyspace of user keyspace `user`: created when `create`, else `None` if absent.
    pub(crate) fn expiry_keyspace(
        &self,
        db: &Db,
        user: Option<&str>,
        create: bool,
    ) -> Result<Option<Keyspace>, lsmkv::Error> {
        let name = layout::expiry_keyspace(self.number, user);
        let mut expiry = self.expiry.lock();
        if let Some(ks) = expiry.get(&name) {
            return Ok(Some(ks.clone()));
        }
        if !create && !db.keyspace_exists(&name) {
            return Ok(None);
        }
        let ks = db.keyspace(&name)?;
        expiry.insert(name, ks.clone());
        Ok(Some(ks))
    }

    /// The engine keyspace of user keyspace `user` if it exists.
    pub(crate) fn existing_data_keyspace(
        &self,
        db: &Db,
        user: Option<&str>,
    ) -> Result<Option<Keyspace>, lsmkv::Error> {
        if let Some(ks) = self.data.lock().get(&user.map(str::to_string)) {
            return Ok(Some(ks.clone()));
        }
        let full = layout::data_keyspace(self.number, user);
        if !db.keyspace_exists(&full) {
            return Ok(None);
        }
        db.existing_keyspace(&full).map(Some)
    }
}

/// What the state machine, its snapshot builders and [`ReplicatedData`] share.
pub(crate) struct Shared {
    pub db: Db,
    pub meta: Keyspace,
    /// Read-locked by appliers, readers and snapshot builds; write-locked by a snapshot install
    /// while it switches generations.
    pub generation: RwLock<Generation>,
    /// Snapshots built by this process, for unique snapshot ids.
    pub built: std::sync::atomic::AtomicU64,
}

/// The replicated state machine of one node, in its lsmkv database: the user data, the last
/// applied log id, the membership and the deduplication table of a live *generation* of
/// keyspaces. Every applied batch of entries is one atomic lsmkv write holding the data, the new
/// applied log id and membership and the deduplication records, so after any crash the data and
/// the applied id agree. Cheap to clone.
#[derive(Clone)]
pub struct StateMachineStore {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for StateMachineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachineStore")
            .field("generation", &self.shared.generation.read().number)
            .finish()
    }
}

impl StateMachineStore {
    /// Opens the state machine of `db`: the live generation (dropping keyspaces an interrupted
    /// snapshot install left behind).
    ///
    /// # Errors
    /// The engine's error; [`lsmkv::Error::Corruption`]-like decoding failures come back as
    /// [`lsmkv::Error::InvalidArgument`].
    pub fn open(db: &Db) -> Result<StateMachineStore, lsmkv::Error> {
        let meta = db.keyspace(META)?;
        let number = layout::live_generation(&meta)
            .map_err(|e| lsmkv::Error::InvalidArgument(format!("raft.meta generation: {e}")))?;
        layout::drop_other_generations(db, number)?;
        let generation = Generation::open(db, number)?;
        Ok(StateMachineStore {
            shared: Arc::new(Shared {
                db: db.clone(),
                meta,
                generation: RwLock::new(generation),
                built: Default::default(),
            }),
        })
    }

    /// The read side of the replicated data, for serving reads.
    pub fn data(&self) -> ReplicatedData {
        ReplicatedData {
            shared: self.shared.clone(),
        }
    }

    /// The last applied log id and membership (as openraft's `applied_state`).
    pub(crate) fn applied(&self) -> Result<AppliedState, StorageError<NodeId>> {
        let g = self.shared.generation.read();
        let applied = layout::read_json(&g.sm, APPLIED)?;
        let membership = layout::read_json(&g.sm, MEMBERSHIP)?.unwrap_or_default();
        Ok((applied, membership))
    }

    /// Applies `entries` in one atomic write.
    fn apply_entries(&self, entries: Vec<Entry>) -> Result<Vec<Response>, StorageError<NodeId>> {
        let db = &self.shared.db;
        let g = self.shared.generation.read();
        let mut batch = WriteBatch::new();
        let mut responses = Vec::with_capacity(entries.len());
        // Records written by earlier entries of this call (not yet in the database).
        let mut dedup: HashMap<String, Dedup> = HashMap::new();
        let mut last = None;
        let mut membership = None;
        for entry in entries {
            let index = entry.log_id.index;
            last = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => Response {
                    log_index: index,
                    ..Response::default()
                },
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), m));
                    Response {
                        log_index: index,
                        ..Response::default()
                    }
                }
                EntryPayload::Normal(req) => {
                    let mut r = apply_request(db, &g, &mut batch, &mut dedup, index, &req)?;
                    for sub in &req.batch {
                        let s = apply_request(db, &g, &mut batch, &mut dedup, index, sub)?;
                        r.batch.push(s);
                    }
                    r
                }
            };
            responses.push(response);
        }
        let Some(last) = last else {
            return Ok(responses);
        };
        let sm = g.sm.clone();
        batch.put_in(&sm, APPLIED, layout::encode(&last)?);
        if let Some(m) = membership {
            batch.put_in(&sm, MEMBERSHIP, layout::encode(&m)?);
        }
        for (client, d) in &dedup {
            batch.put_in(&sm, layout::dedup_key(client), layout::encode(d)?);
        }
        db.write(batch)
            .map_err(|e| StorageIOError::<NodeId>::apply(last, &e))?;
        Ok(responses)
    }
}

/// Adds `req` (the entry at `index`) to `batch` unless it is a duplicate or invalid; returns its
/// response and records it in `dedup`.
fn apply_request(
    db: &Db,
    g: &Generation,
    batch: &mut WriteBatch,
    dedup: &mut HashMap<String, Dedup>,
    index: u64,
    req: &Request,
) -> Result<Response, StorageError<NodeId>> {
    if !req.client.is_empty() {
        let prev = match dedup.get(&req.client) {
            Some(d) => Some(d.clone()),
            None => layout::read_json::<Dedup>(&g.sm, &layout::dedup_key(&req.client))?,
        };
        if let Some(prev) = prev {
            if prev.seq == req.seq {
                return Ok(prev.response);
            }
            if req.seq < prev.seq {
                return Ok(Response {
                    log_index: index,
                    error: Some(format!(
                        "stale request: client {:?} sequence {} is below its last applied {}",
                        req.client, req.seq, prev.seq
                    )),
                    ..Response::default()
                });
            }
        }
    }
    let error = match check_ops(db, &req.ops) {
        Err(msg) => Some(msg),
        Ok(()) => {
            add_ops(db, g, batch, &req.ops).map_err(write_err)?;
            None
        }
    };
    let response = Response {
        log_index: index,
        error,
        batch: Vec::new(),
    };
    if !req.client.is_empty() {
        dedup.insert(
            req.client.clone(),
            Dedup {
                seq: req.seq,
                response: response.clone(),
            },
        );
    }
    Ok(response)
}

/// Refuses ops the engine would refuse, so that one bad request does not fail the whole batch
/// (the same check gives the same answer on every node).
fn check_ops(db: &Db, ops: &[Op]) -> Result<(), String> {
    let max_value = db.options().max_value_size;
    for op in ops {
        if let Some(name) = op.keyspace()
            && (name.is_empty() || name.len() > MAX_USER_KEYSPACE_NAME)
        {
            return Err(format!(
                "a keyspace name has 1 to {MAX_USER_KEYSPACE_NAME} bytes, not {}",
                name.len()
            ));
        }
        let (key_len, value_len) = match op {
            Op::Put { key, value, .. } => (key.len(), value.len()),
            Op::Delete { key, .. } => (key.len(), 0),
            Op::DeleteRange { start, end, .. } => {
                (start.len().max(end.as_ref().map_or(0, Vec::len)), 0)
            }
            Op::DeletePrefix { prefix, .. } => (prefix.len(), 0),
        };
        if key_len > lsmkv::MAX_KEY_SIZE {
            return Err(format!(
                "key of {key_len} bytes exceeds the limit of {}",
                lsmkv::MAX_KEY_SIZE
            ));
        }
        if value_len > max_value {
            return Err(format!(
                "value of {value_len} bytes exceeds the limit of {max_value}"
            ));
        }
    }
    Ok(())
}

fn add_ops(
    db: &Db,
    g: &Generation,
    batch: &mut WriteBatch,
    ops: &[Op],
) -> Result<(), lsmkv::Error> {
    let now = layout::now_millis();
    for op in ops {
        let user = op.keyspace();
        let ks = g.data_keyspace(db, user)?;
        let ttl = match op {
            Op::Put { ttl_ms, .. } => *ttl_ms,
            _ => None,
        };
        // The key's expiry record follows every write of the key.
        let expiry = g.expiry_keyspace(db, user, ttl.is_some())?;
        match op {
            Op::Put { key, value, .. } => match (ttl, &expiry) {
                (Some(ms), Some(x)) => {
                    batch.put_with_ttl_in(&ks, key, value, std::time::Duration::from_millis(ms));
                    batch.put_in(x, key, now.saturating_add(ms).to_be_bytes());
                }
                _ => {
                    batch.put_in(&ks, key, value);
                    if let Some(x) = &expiry {
                        batch.delete_in(x, key);
                    }
                }
            },
            Op::Delete { key, .. } => {
                batch.delete_in(&ks, key);
                if let Some(x) = &expiry {
                    batch.delete_in(x, key);
                }
            }
            Op::DeleteRange { start, end, .. } => {
                for k in std::iter::once(&ks).chain(&expiry) {
                    match end {
                        Some(end) => batch.delete_range_in(k, &start[..]..&end[..]),
                        None => batch.delete_range_in(k, &start[..]..),
                    }
                }
            }
            Op::DeletePrefix { prefix, .. } => {
                for k in std::iter::once(&ks).chain(&expiry) {
                    batch.delete_prefix_in(k, prefix);
                }
            }
        }
    }
    Ok(())
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<AppliedState, StorageError<NodeId>> {
        self.applied()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.apply_entries(entries.into_iter().collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<std::io::Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(std::io::Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<std::io::Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        crate::snapshot::install(&self.shared, meta, snapshot.into_inner())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        crate::snapshot::current(&self.shared)
    }
}

/// Reads of the replicated data (the live generation's user keyspaces). Cheap to clone.
///
/// A keyspace handle from [`ReplicatedData::keyspace`] reads the generation that was live when it
/// was taken; a snapshot install replaces the generation and drops its keyspaces, after which
/// reads through an old handle fail with [`lsmkv::Error::KeyspaceNotFound`]: take a new handle
/// (and retry) then. Do not write through these handles: every write goes through Raft.
#[derive(Clone)]
pub struct ReplicatedData {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReplicatedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedData").finish_non_exhaustive()
    }
}

impl ReplicatedData {
    /// The engine keyspace holding user keyspace `name` (`None`: default), or `None` when nothing
    /// was ever written to it.
    ///
    /// # Errors
    /// The engine's error opening the keyspace.
    pub fn keyspace(&self, name: Option<&str>) -> Result<Option<Keyspace>, lsmkv::Error> {
        let g = self.shared.generation.read();
        g.existing_data_keyspace(&self.shared.db, name)
    }

    /// The value of `key` in user keyspace `keyspace` (`None`: default).
    ///
    /// # Errors
    /// The engine's read error.
    pub fn get(
        &self,
        keyspace: Option<&str>,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<lsmkv::Value>, lsmkv::Error> {
        match self.keyspace(keyspace)? {
            Some(ks) => ks.get(key),
            None => Ok(None),
        }
    }

    /// The user keyspaces that hold (or held) data, `"default"` included once written.
    ///
    /// # Errors
    /// The engine's error listing keyspaces.
    pub fn keyspaces(&self) -> Result<Vec<String>, lsmkv::Error> {
        let prefix = layout::data_prefix(self.shared.generation.read().number);
        Ok(self
            .shared
            .db
            .keyspaces()?
            .into_iter()
            .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }

    /// The last applied log id.
    ///
    /// # Errors
    /// A storage read error.
    pub fn applied(&self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        let g = self.shared.generation.read();
        layout::read_json(&g.sm, APPLIED)
    }

    /// The underlying database.
    pub fn db(&self) -> &Db {
        &self.shared.db
    }
}
