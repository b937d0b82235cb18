//! lsmkv through its public API only: `Db::open`, `put`, `get`, `write`, `flush`, `sync`,
//! `compact`, `range`.
//!
//! lsmkv chooses durability per database (`SyncMode`), not per write: a process that runs sync
//! workloads opens with `SyncMode::Always` (every acknowledged write is fdatasync'ed, concurrent
//! writers share one fsync); otherwise with `SyncMode::None` (WAL buffered in the process, no
//! fsync), which is what fjall does by default (RocksDB hands each write to the OS).

use std::path::Path;

use lsmkv::{Compression, Db, Options, SyncMode, WriteBatch};

use super::{Engine, EngineConfig, Reader, Result};

pub struct LsmkvEngine {
    db: Db,
}

impl LsmkvEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let opts = Options {
            sync_mode: if cfg.sync_writes {
                SyncMode::Always
            } else {
                SyncMode::None
            },
            compression: Compression::Lz4,
            block_cache_size_mb: usize::try_from(cfg.cache_bytes >> 20)?,
            memtable_max_size: usize::try_from(cfg.memtable_bytes)?,
            // A standard bloom filter with k bits per key has a false-positive rate of about
            // 0.6185^k: 10 bits/key ~ 0.82 %.
            bloom_false_positive_rate: 0.6185_f64.powf(cfg.bloom_bits_per_key),
            ..Options::default()
        };
        Ok(LsmkvEngine {
            db: Db::open(dir, opts)?,
        })
    }
}

impl Engine for LsmkvEngine {
    fn put(&self, key: &[u8], value: &[u8], _sync: bool) -> Result<()> {
        // Durability comes from the SyncMode chosen at open.
        Ok(self.db.put(key, value)?)
    }

    fn write_batch(&self, items: &[(&[u8], &[u8])], _sync: bool) -> Result<()> {
        let mut b = WriteBatch::new();
        for (k, v) in items {
            b.put(k, v);
        }
        Ok(self.db.write(b)?)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(LsmkvReader { db: &self.db }))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(self.db.sync()?)
    }

    fn compact(&self) -> Result<bool> {
        self.db.compact()?;
        Ok(true)
    }

    fn supports_scan(&self) -> bool {
        true
    }
}

struct LsmkvReader<'a> {
    db: &'a Db,
}

impl Reader for LsmkvReader<'_> {
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
