//! RocksDB 7.8 (Debian's `librocksdb-dev`, linked through the `rocksdb` crate 0.20): LZ4, 10
//! bits/key full bloom filter, 64 MiB LRU block cache, 64 MiB write buffer, WAL on. Writes use
//! `WriteOptions::sync` = the workload's sync flag; reads use `get_pinned` (no copy).

use std::path::Path;

use rocksdb::{BlockBasedOptions, Cache, DB, DBCompressionType, Options, WriteBatch, WriteOptions};

use super::{Engine, EngineConfig, Reader, Result};

pub struct RocksEngine {
    db: DB,
    nosync: WriteOptions,
    sync: WriteOptions,
    // Kept alive for as long as the DB uses it.
    _cache: Cache,
}

impl RocksEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let cache = Cache::new_lru_cache(usize::try_from(cfg.cache_bytes)?)?;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(cfg.bloom_bits_per_key, false);
        table.set_block_size(4096);
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.set_block_based_table_factory(&table);
        opts.set_write_buffer_size(usize::try_from(cfg.memtable_bytes)?);
        opts.increase_parallelism(2);
        let db = DB::open(&opts, dir)?;
        let nosync = WriteOptions::default();
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        Ok(RocksEngine {
            db,
            nosync,
            sync,
            _cache: cache,
        })
    }

    fn wo(&self, sync: bool) -> &WriteOptions {
        if sync { &self.sync } else { &self.nosync }
    }
}

impl Engine for RocksEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        Ok(self.db.put_opt(key, value, self.wo(sync))?)
    }

    fn write_batch(&self, items: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        let mut b = WriteBatch::default();
        for (k, v) in items {
            b.put(k, v);
        }
        Ok(self.db.write_opt(b, self.wo(sync))?)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(RocksReader { db: &self.db }))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(self.db.flush_wal(true)?)
    }

    fn compact(&self) -> Result<bool> {
        self.db.compact_range(None::<&[u8]>, None::<&[u8]>);
        Ok(true)
    }
}

struct RocksReader<'a> {
    db: &'a DB,
}

impl Reader for RocksReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get_pinned(key)?.map(|v| v.len()))
    }

    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        let mut it = self.db.raw_iterator();
        it.seek(start);
        let mut n = 0u64;
        while n < limit as u64 && it.valid() {
            if let (Some(k), Some(v)) = (it.key(), it.value()) {
                std::hint::black_box((k.len(), v.len()));
            }
            n += 1;
            it.next();
        }
        it.status()?;
        Ok(Some(n))
    }
}
