//! fjall 3: one keyspace; LZ4 on every level, 10 bits/key bloom on every level, 64 MiB cache.
//!
//! Non-sync writes go to the journal buffer and are flushed to the OS per write (fjall's default,
//! `manual_journal_persist = false`), no fsync; sync writes call `persist(SyncData)`.

use std::path::Path;

use fjall::config::{BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry};
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Engine, EngineConfig, Reader, Result};

pub struct FjallEngine {
    db: Database,
    ks: Keyspace,
}

impl FjallEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = Database::builder(dir).cache_size(cfg.cache_bytes).open()?;
        let bits = cfg.bloom_bits_per_key as f32;
        let memtable = cfg.memtable_bytes;
        let ks = db.keyspace("bench", move || {
            KeyspaceCreateOptions::default()
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
                .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                    BloomConstructionPolicy::BitsPerKey(bits),
                )))
                .max_memtable_size(memtable)
        })?;
        Ok(FjallEngine { db, ks })
    }
}

impl Engine for FjallEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        self.ks.insert(key, value)?;
        if sync {
            self.db.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn write_batch(&self, items: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        let mut b = self.db.batch();
        if sync {
            b = b.durability(Some(PersistMode::SyncData));
        }
        for (k, v) in items {
            b.insert(&self.ks, *k, *v);
        }
        Ok(b.commit()?)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(FjallReader { ks: &self.ks }))
    }

    fn flush(&self) -> Result<()> {
        self.ks.rotate_memtable_and_wait()?;
        Ok(self.db.persist(PersistMode::SyncAll)?)
    }

    fn compact(&self) -> Result<bool> {
        self.ks.major_compact()?;
        Ok(true)
    }
}

struct FjallReader<'a> {
    ks: &'a Keyspace,
}

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.ks.get(key)?.map(|v| v.len()))
    }

    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        let mut n = 0u64;
        for guard in self.ks.range(start..).take(limit) {
            let (k, v) = guard.into_inner()?;
            std::hint::black_box((k.len(), v.len()));
            n += 1;
        }
        Ok(Some(n))
    }
}
