//! [`LogStore`]: openraft's log storage (and its reader) on the `raft.log` and `raft.meta`
//! keyspaces.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use lsmkv::{Db, Keyspace, WriteBatch};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{LogId, OptionalSend, RaftLogReader, StorageError, Vote};

use crate::layout::{self, COMMITTED, LOG, META, PURGED, VOTE, log_key, read_err, write_err};
use crate::{Entry, NodeId, TypeConfig};

/// The Raft log and vote of one node, in its lsmkv database. Cheap to clone (every clone is the
/// same store; openraft takes one as its log storage and clones it as its log reader).
///
/// Durability: [`RaftLogStorage::save_vote`] returns after the vote is fsynced;
/// [`RaftLogStorage::append`] returns once the entries are written and visible and calls
/// openraft's flush callback from the engine's durability thread when the fsync covering them is
/// done ([`lsmkv::Db::write_with_ticket`]); an fsync failure reaches the callback as an error.
/// `truncate` and `purge` are single range deletes (`purge` with the new purged mark in the same
/// batch); they need no fsync of their own: the WAL keeps commit order, so a later durable write
/// (an append, a vote) makes them durable too, and losing them in a crash is what openraft
/// expects of an unflushed `truncate`/`purge`.
#[derive(Clone, Debug)]
pub struct LogStore {
    db: Db,
    log: Keyspace,
    meta: Keyspace,
}

impl LogStore {
    /// Opens (creating if needed) the log keyspaces of `db`.
    ///
    /// # Errors
    /// The engine's error creating or opening a keyspace.
    pub fn open(db: &Db) -> Result<LogStore, lsmkv::Error> {
        Ok(LogStore {
            db: db.clone(),
            log: db.keyspace(LOG)?,
            meta: db.keyspace(META)?,
        })
    }

    /// Whether this node has any Raft state (a vote, a log entry or a purged mark): `false` on a
    /// fresh database, where the server may initialise the cluster's membership.
    ///
    /// # Errors
    /// The engine's read error.
    pub fn has_state(&self) -> Result<bool, lsmkv::Error> {
        Ok(self.meta.get(VOTE)?.is_some()
            || self.meta.get(PURGED)?.is_some()
            || self.log.range::<&[u8], _>(..).next().is_some())
    }

    fn read_vote_sync(&self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        layout::read_json(&self.meta, VOTE)
    }

    fn last_purged(&self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        layout::read_json(&self.meta, PURGED)
    }

    /// The entries with index in `range`, in order.
    fn entries(&self, range: impl RangeBounds<u64>) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let start = match range.start_bound() {
            Bound::Included(i) => Bound::Included(log_key(*i)),
            Bound::Excluded(i) => Bound::Excluded(log_key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(log_key(*i)),
            Bound::Excluded(i) => Bound::Excluded(log_key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in self.log.range((start, end)) {
            let (_, v) = item.map_err(read_err)?;
            out.push(layout::decode(&v)?);
        }
        Ok(out)
    }

    fn last_entry_id(&self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        match self.log.range::<&[u8], _>(..).next_back() {
            Some(item) => {
                let (_, v) = item.map_err(read_err)?;
                let e: Entry = layout::decode(&v)?;
                Ok(Some(e.log_id))
            }
            None => Ok(None),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        self.entries(range)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id = self.last_purged()?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut b = WriteBatch::new();
        b.put_in(&self.meta, VOTE, layout::encode(vote)?);
        let ticket = self.db.write_with_ticket(b).map_err(vote_err)?;
        ticket.wait().map_err(vote_err)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.read_vote_sync()
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        match committed {
            Some(c) => self.meta.put(COMMITTED, layout::encode(&c)?),
            None => self.meta.delete(COMMITTED),
        }
        .map_err(write_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        layout::read_json(&self.meta, COMMITTED)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut b = WriteBatch::new();
        for e in entries {
            b.put_in(&self.log, log_key(e.log_id.index), layout::encode(&e)?);
        }
        let ticket = self.db.write_with_ticket(b).map_err(logs_err)?;
        ticket.on_durable(move |r| callback.log_io_completed(r.map_err(std::io::Error::other)));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.log
            .delete_range(&log_key(log_id.index)[..]..)
            .map_err(logs_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut b = WriteBatch::new();
        b.put_in(&self.meta, PURGED, layout::encode(&log_id)?);
        b.delete_range_in(&self.log, ..=&log_key(log_id.index)[..]);
        self.db.write(b).map_err(logs_err)
    }
}

fn vote_err(e: lsmkv::Error) -> StorageError<NodeId> {
    openraft::StorageIOError::<NodeId>::write_vote(&e).into()
}

fn logs_err(e: lsmkv::Error) -> StorageError<NodeId> {
    openraft::StorageIOError::<NodeId>::write_logs(&e).into()
}
