//! sled 0.34: default tree, 64 MiB cache, no compression (sled's zstd needs a feature and is not
//! LZ4). sled has no per-write WAL sync: sync writes call `flush()` after the write, which is
//! what sled offers for durability.

use std::path::Path;

use super::{Engine, EngineConfig, Reader, Result};

pub struct SledEngine {
    db: sled::Db,
}

impl SledEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cfg.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Ok(SledEngine { db })
    }
}

impl Engine for SledEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        self.db.insert(key, value)?;
        if sync {
            self.db.flush()?;
        }
        Ok(())
    }

    fn write_batch(&self, items: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        let mut b = sled::Batch::default();
        for (k, v) in items {
            b.insert(*k, *v);
        }
        self.db.apply_batch(b)?;
        if sync {
            self.db.flush()?;
        }
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(SledReader { db: &self.db }))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn compact(&self) -> Result<bool> {
        Ok(false)
    }
}

struct SledReader<'a> {
    db: &'a sled::Db,
}

impl Reader for SledReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        let mut n = 0u64;
        for item in self.db.range(start..).take(limit) {
            let (k, v) = item?;
            std::hint::black_box((k.len(), v.len()));
            n += 1;
        }
        Ok(Some(n))
    }
}
