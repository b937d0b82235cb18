//! redb 4: one table `&[u8] -> &[u8]`, 64 MiB cache. redb is a copy-on-write B-tree without a
//! WAL: every put is its own write transaction, committed with `Durability::None` (no fsync, and
//! not durable at all until a later durable commit) or `Durability::Immediate` for sync writes.
//! A reader reuses one read transaction for `REFRESH_OPS` operations and then begins a new one:
//! amortized like redb's own benchmark (one transaction for many reads), but recent enough that
//! readwhilewriting sees the writer's data and redb can reclaim the pages it frees (a transaction
//! held for the whole workload grew the file to 2.4 GB and read a frozen snapshot).

use std::path::Path;

use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, TableDefinition};

use super::{Engine, EngineConfig, Reader, Result};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

/// Operations served by one read transaction before the reader begins a fresh one.
const REFRESH_OPS: u32 = 1000;

pub struct RedbEngine {
    db: Database,
}

impl RedbEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = Database::builder()
            .set_cache_size(usize::try_from(cfg.cache_bytes)?)
            .create(dir.join("bench.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        Ok(RedbEngine { db })
    }

    fn commit_with(
        &self,
        sync: bool,
        f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<()>,
    ) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(if sync {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        {
            let mut t = tx.open_table(TABLE)?;
            f(&mut t)?;
        }
        tx.commit()?;
        Ok(())
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
        Ok(Box::new(RedbReader {
            db: &self.db,
            table: open_read(&self.db)?,
            ops: 0,
        }))
    }

    fn flush(&self) -> Result<()> {
        // An empty durable commit makes every earlier non-durable commit durable.
        self.commit_with(true, |_| Ok(()))
    }

    fn compact(&self) -> Result<bool> {
        // `Database::compact` needs `&mut self` and no live transactions; the engine is shared.
        Ok(false)
    }
}

fn open_read(db: &Database) -> Result<ReadOnlyTable<&'static [u8], &'static [u8]>> {
    Ok(db.begin_read()?.open_table(TABLE)?)
}

struct RedbReader<'a> {
    db: &'a Database,
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
    ops: u32,
}

impl RedbReader<'_> {
    fn tick(&mut self) -> Result<()> {
        self.ops += 1;
        if self.ops >= REFRESH_OPS {
            self.ops = 0;
            self.table = open_read(self.db)?;
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
}
