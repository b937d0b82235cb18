//! The database: write path, group commit, background flush, recovery, reads.
//! (Skeleton: being implemented; the signatures are final.)

use std::path::Path;

use crate::batch::WriteBatch;
use crate::error::Result;
use crate::options::Options;
use crate::stats::Stats;
use crate::value::Value;

/// An open database. Cheap to clone; every clone is the same database. `Send + Sync`.
#[derive(Clone)]
pub struct Db {
    _p: (),
}

#[allow(unused_variables, clippy::missing_errors_doc)]
impl Db {
    /// Opens (creating if needed) the database in `path`, locking the directory.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        todo!()
    }
    /// Inserts or replaces `key`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        todo!()
    }
    /// Deletes `key` (writes a tombstone). Deleting an absent key is not an error.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        todo!()
    }
    /// Reads the newest value of `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        todo!()
    }
    /// Applies a batch atomically.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        todo!()
    }
    /// Flushes the memtable to an SSTable and waits until it is durable.
    pub fn flush(&self) -> Result<()> {
        todo!()
    }
    /// Makes every acknowledged write durable (fdatasync of the WAL).
    pub fn sync(&self) -> Result<()> {
        todo!()
    }
    /// Current statistics.
    pub fn stats(&self) -> Stats {
        todo!()
    }
    /// The options the database was opened with.
    pub fn options(&self) -> &Options {
        todo!()
    }
    /// The database directory.
    pub fn path(&self) -> &Path {
        todo!()
    }
    /// Syncs the WAL, stops background threads and releases the directory lock once every clone
    /// is closed or dropped. Dropping the last clone does the same, ignoring errors.
    pub fn close(self) -> Result<()> {
        todo!()
    }
}
