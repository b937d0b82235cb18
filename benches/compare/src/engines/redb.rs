//! redb 4: one table `&[u8] -> &[u8]`, 64 MiB cache. redb is a copy-on-write B-tree without a
//! WAL: every put is its own write transaction, committed with `Durability::None` (no fsync, and
//! not durable at all until a later durable commit) or `Durability::Immediate` for sync writes.
//! A reader reuses one read transaction for `REFRESH_OPS` operations and then begins a new one:
//! amortized like redb's own benchmark (one transaction for many reads), but recent enough that
//! readwhilewriting sees the writer's data and redb can reclaim the pages it frees (a transaction
//! held for the whole workload grew the file to 2.4 GB and read a frozen snapshot).
//!
//! Full compaction is `Database::compact`, which takes `&mut Database` and fails while any
//! transaction is alive: the database sits behind an `RwLock`, taken for reading only to begin a
//! transaction (uncontended: nothing waits on it but `compact`, which runs when nothing else
//! does) and for writing by `compact`. A prefix is deleted in one write transaction by
//! `Table::retain_in` over the prefix's range (redb's bulk delete of a range).
//!
//! With `EngineConfig::keyspaces` the database also has tables `ks0`, `ks1`, ...; each put into
//! one is its own write transaction, like every put. A transaction (`Engine::transaction`) is
//! one write transaction: redb runs one writer at a time (`begin_write` waits for the current
//! one), so its transactions never conflict; they queue.

use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard};

use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Engine, EngineConfig, Reader, Result, Tx, TxBody, TxOutcome};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

/// Operations served by one read transaction before the reader begins a fresh one.
const REFRESH_OPS: u32 = 1000;

type Table<'txn> = redb::Table<'txn, &'static [u8], &'static [u8]>;

pub struct RedbEngine {
    db: RwLock<Database>,
    /// Names of the keyspace tables (`ks0`, ...).
    spaces: Vec<String>,
}

fn space_table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

impl RedbEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = Database::builder()
            .set_cache_size(usize::try_from(cfg.cache_bytes)?)
            .create(dir.join("bench.redb"))?;
        let spaces: Vec<String> = (0..cfg.keyspaces).map(|i| format!("ks{i}")).collect();
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        for name in &spaces {
            tx.open_table(space_table(name))?;
        }
        tx.commit()?;
        Ok(RedbEngine {
            db: RwLock::new(db),
            spaces,
        })
    }

    fn db(&self) -> RwLockReadGuard<'_, Database> {
        // A panic while holding the lock cannot leave the database half-changed: redb's own
        // transactions are the unit of change.
        self.db.read().unwrap_or_else(|e| e.into_inner())
    }

    fn space(&self, ks: usize) -> Result<TableDefinition<'_, &'static [u8], &'static [u8]>> {
        let name = self
            .spaces
            .get(ks)
            .ok_or_else(|| format!("no keyspace {ks}"))?;
        Ok(space_table(name))
    }

    /// One write transaction: `f` gets the transaction, commits it.
    fn write_tx<T>(
        &self,
        sync: bool,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T>,
    ) -> Result<T> {
        let mut tx = self.db().begin_write()?;
        tx.set_durability(if sync {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn commit_with(&self, sync: bool, f: impl FnOnce(&mut Table<'_>) -> Result<()>) -> Result<()> {
        self.write_tx(sync, |tx| f(&mut tx.open_table(TABLE)?))
    }
}

impl Engine for RedbEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        self.commit_with(sync, |t| {
            t.insert(key, value)?;
            Ok(())
        })
    }

    fn write_batch(&self, items: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        self.commit_with(sync, |t| {
            for (k, v) in items {
                t.insert(*k, *v)?;
            }
            Ok(())
        })
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(RedbReader::open(&self.db, &self.spaces)?))
    }

    fn flush(&self) -> Result<()> {
        // An empty durable commit makes every earlier non-durable commit durable.
        self.commit_with(true, |_| Ok(()))
    }

    fn compact(&self) -> Result<bool> {
        // Frees the pages of earlier non-durable commits too (it commits durably first).
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        db.compact()?;
        Ok(true)
    }

    fn delete_prefix(&self, prefix: &[u8]) -> Result<bool> {
        let end = super::prefix_end(prefix);
        self.commit_with(false, |t| {
            match &end {
                Some(end) => t.retain_in::<&[u8], _>(prefix..end.as_slice(), |_, _| false)?,
                None => t.retain_in::<&[u8], _>(prefix.., |_, _| false)?,
            }
            Ok(())
        })?;
        Ok(true)
    }

    fn keyspace_count(&self) -> usize {
        self.spaces.len()
    }

    fn put_in(&self, ks: usize, key: &[u8], value: &[u8]) -> Result<()> {
        let def = self.space(ks)?;
        self.write_tx(false, |tx| {
            tx.open_table(def)?.insert(key, value)?;
            Ok(())
        })
    }

    fn write_batch_in(&self, items: &[(usize, &[u8], &[u8])]) -> Result<()> {
        self.write_tx(false, |tx| {
            let mut tables = self
                .spaces
                .iter()
                .map(|n| tx.open_table(space_table(n)))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            for (ks, k, v) in items {
                tables
                    .get_mut(*ks)
                    .ok_or_else(|| format!("no keyspace {ks}"))?
                    .insert(*k, *v)?;
            }
            Ok(())
        })
    }

    fn transaction(&self, body: TxBody<'_>) -> Result<TxOutcome> {
        self.write_tx(false, |tx| {
            body(&mut RedbTx(&mut tx.open_table(TABLE)?))?;
            Ok(TxOutcome::Committed)
        })
    }
}

struct RedbTx<'a, 'txn>(&'a mut Table<'txn>);

impl Tx for RedbTx<'_, '_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key)?.map(|g| g.value().to_vec()))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.0.insert(key, value)?;
        Ok(())
    }
}

type ReadTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

struct RedbReader<'a> {
    db: &'a RwLock<Database>,
    names: &'a [String],
    table: ReadTable,
    /// The keyspace tables, from the same read transaction as `table`.
    spaces: Vec<ReadTable>,
    ops: u32,
}

impl<'a> RedbReader<'a> {
    /// Opens every table in one new read transaction (the tables keep it alive).
    fn open(db: &'a RwLock<Database>, names: &'a [String]) -> Result<Self> {
        // The read transaction does not borrow the database: the lock is held only to begin it.
        let tx = db.read().unwrap_or_else(|e| e.into_inner()).begin_read()?;
        let spaces = names
            .iter()
            .map(|n| tx.open_table(space_table(n)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RedbReader {
            db,
            names,
            table: tx.open_table(TABLE)?,
            spaces,
            ops: 0,
        })
    }

    fn tick(&mut self) -> Result<()> {
        self.ops += 1;
        if self.ops >= REFRESH_OPS {
            *self = RedbReader::open(self.db, self.names)?;
        }
        Ok(())
    }
}

impl Reader for RedbReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        self.tick()?;
        Ok(self.table.get(key)?.map(|g| g.value().len()))
    }

    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        self.tick()?;
        let mut n = 0u64;
        for item in self.table.range(start..)?.take(limit) {
            let (k, v) = item?;
            std::hint::black_box((k.value().len(), v.value().len()));
            n += 1;
        }
        Ok(Some(n))
    }

    fn get_in(&mut self, ks: usize, key: &[u8]) -> Result<Option<usize>> {
        self.tick()?;
        let t = self
            .spaces
            .get(ks)
            .ok_or_else(|| format!("no keyspace {ks}"))?;
        Ok(t.get(key)?.map(|g| g.value().len()))
    }
}
