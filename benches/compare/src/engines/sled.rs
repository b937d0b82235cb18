//! sled 0.34: default tree, 64 MiB cache, no compression (sled's zstd needs a feature and is not
//! LZ4). sled has no per-write WAL sync: sync writes call `flush()` after the write, which is
//! what sled offers for durability.
//!
//! Keyspaces are sled trees (`open_tree`). Transactions are not driven: sled's closure API
//! retries conflicts by itself and its transactional trees are a separate API.

use std::path::Path;

use super::{Engine, EngineConfig, Reader, Result};

pub struct SledEngine {
    db: sled::Db,
    /// The trees of `put_in`.
    spaces: Vec<sled::Tree>,
}

impl SledEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cfg.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let spaces = (0..cfg.keyspaces)
            .map(|i| db.open_tree(format!("ks{i}")))
            .collect::<sled::Result<Vec<_>>>()?;
        Ok(SledEngine { db, spaces })
    }

    fn space(&self, ks: usize) -> Result<&sled::Tree> {
        self.spaces
            .get(ks)
            .ok_or_else(|| format!("no keyspace {ks}").into())
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
        Ok(Box::new(SledReader {
            db: &self.db,
            spaces: &self.spaces,
        }))
    }

    fn flush(&self) -> Result<()> {
        // One flush covers every tree of the database.
        self.db.flush()?;
        Ok(())
    }

    fn compact(&self) -> Result<bool> {
        Ok(false)
    }

    fn delete_prefix(&self, prefix: &[u8]) -> Result<bool> {
        // No range delete in sled: scan the prefix and delete its keys in batches.
        let mut b = sled::Batch::default();
        let mut n = 0;
        for item in self.db.scan_prefix(prefix) {
            let (k, _) = item?;
            b.remove(k);
            n += 1;
            if n == super::DELETE_BATCH {
                self.db.apply_batch(std::mem::take(&mut b))?;
                n = 0;
            }
        }
        if n > 0 {
            self.db.apply_batch(b)?;
        }
        Ok(true)
    }

    fn keyspace_count(&self) -> usize {
        self.spaces.len()
    }

    fn put_in(&self, ks: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.space(ks)?.insert(key, value)?;
        Ok(())
    }

    fn write_batch_in(&self, items: &[(usize, &[u8], &[u8])]) -> Result<()> {
        // Atomic across trees only inside a transaction; this is untimed loading, one batch per
        // tree is enough.
        let mut batches = vec![sled::Batch::default(); self.spaces.len()];
        for (ks, k, v) in items {
            batches
                .get_mut(*ks)
                .ok_or_else(|| format!("no keyspace {ks}"))?
                .insert(*k, *v);
        }
        for (tree, b) in self.spaces.iter().zip(batches) {
            tree.apply_batch(b)?;
        }
        Ok(())
    }
}

struct SledReader<'a> {
    db: &'a sled::Db,
    spaces: &'a [sled::Tree],
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

    fn get_in(&mut self, ks: usize, key: &[u8]) -> Result<Option<usize>> {
        let tree = self
            .spaces
            .get(ks)
            .ok_or_else(|| format!("no keyspace {ks}"))?;
        Ok(tree.get(key)?.map(|v| v.len()))
    }
}
