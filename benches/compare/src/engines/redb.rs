//! redb 4: one table `&[u8] -> &[u8]`, 64 MiB cache. redb is a copy-on-write B-tree without a
//! WAL: every put is its own write transaction, committed with `Durability::None` (no fsync, and
//! not durable at all until a later durable commit) or `Durability::Immediate` for sync writes.
//! Readers hold one read transaction per thread and workload (as redb's own benchmark does).

use std::path::Path;

use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, TableDefinition};

use super::{Engine, EngineConfig, Reader, Result};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

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
        let tx = self.db.begin_read()?;
        Ok(Box::new(RedbReader {
            table: tx.open_table(TABLE)?,
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

struct RedbReader {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Reader for RedbReader {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.table.get(key)?.map(|g| g.value().len()))
    }

    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        let mut n = 0u64;
        for item in self.table.range(start..)?.take(limit) {
            let (k, v) = item?;
            std::hint::black_box((k.value().len(), v.value().len()));
            n += 1;
        }
        Ok(Some(n))
    }
}
