//! RocksDB 7.8 (Debian's `librocksdb-dev`, linked through the `rocksdb` crate 0.20): LZ4, 10
//! bits/key full bloom filter, 64 MiB LRU block cache, 64 MiB write buffer, WAL on. Writes use
//! `WriteOptions::sync` = the workload's sync flag; reads use `get_pinned` (no copy).
//!
//! With `EngineConfig::keyspaces` it also opens that many column families (`ks0`, ...), each with
//! the same options (and the shared block cache). With `EngineConfig::transactional` it opens an
//! `OptimisticTransactionDB`: a transaction reads with `get_for_update` (which is what makes
//! RocksDB check a key at commit) and a conflict is a `Busy` (or `TryAgain`, when the memtable
//! history is too short to tell) error from `commit`. The crate's single-threaded column family
//! mode hands out handles borrowed from the database, so they are looked up by name per call.

use std::path::Path;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType, ErrorKind,
    OptimisticTransactionDB, Options, Transaction, WriteBatch, WriteBatchWithTransaction,
    WriteOptions,
};

use super::{Engine, EngineConfig, Reader, Result, Tx, TxBody, TxOutcome};

/// The database, plain or optimistic-transactional.
enum Handle {
    Plain(DB),
    Optimistic(OptimisticTransactionDB),
}

/// Runs `$body` with `$db` bound to the database, whichever kind it is (most methods are the
/// same on both, but on two types).
macro_rules! with_db {
    ($handle:expr, $db:ident => $body:expr) => {
        match $handle {
            Handle::Plain($db) => $body,
            Handle::Optimistic($db) => $body,
        }
    };
}

pub struct RocksEngine {
    db: Handle,
    /// Column families of `put_in`.
    spaces: Vec<String>,
    nosync: WriteOptions,
    sync: WriteOptions,
    // Kept alive for as long as the DB uses it.
    _cache: Cache,
}

/// The options of the database and of every column family.
fn tuned(cfg: &EngineConfig, cache: &Cache) -> Result<Options> {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_bloom_filter(cfg.bloom_bits_per_key, false);
    table.set_block_size(4096);
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_block_based_table_factory(&table);
    opts.set_write_buffer_size(usize::try_from(cfg.memtable_bytes)?);
    Ok(opts)
}

impl RocksEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let cache = Cache::new_lru_cache(usize::try_from(cfg.cache_bytes)?)?;
        let mut opts = tuned(cfg, &cache)?;
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.increase_parallelism(2);
        let spaces: Vec<String> = (0..cfg.keyspaces).map(|i| format!("ks{i}")).collect();
        let cfs = spaces
            .iter()
            .map(|n| Ok(ColumnFamilyDescriptor::new(n, tuned(cfg, &cache)?)))
            .collect::<Result<Vec<_>>>()?;
        let db = if cfg.transactional {
            Handle::Optimistic(OptimisticTransactionDB::open_cf_descriptors(
                &opts, dir, cfs,
            )?)
        } else {
            Handle::Plain(DB::open_cf_descriptors(&opts, dir, cfs)?)
        };
        let nosync = WriteOptions::default();
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        Ok(RocksEngine {
            db,
            spaces,
            nosync,
            sync,
            _cache: cache,
        })
    }

    fn wo(&self, sync: bool) -> &WriteOptions {
        if sync { &self.sync } else { &self.nosync }
    }

    fn space_name(&self, ks: usize) -> Result<&str> {
        self.spaces
            .get(ks)
            .map(String::as_str)
            .ok_or_else(|| format!("no keyspace {ks}").into())
    }
}

fn missing_cf(name: &str) -> Box<dyn std::error::Error + Send + Sync> {
    format!("column family {name} is not open").into()
}

impl Engine for RocksEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        with_db!(&self.db, db => db.put_opt(key, value, self.wo(sync))?);
        Ok(())
    }

    fn write_batch(&self, items: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        match &self.db {
            Handle::Plain(db) => {
                let mut b = WriteBatch::default();
                for (k, v) in items {
                    b.put(k, v);
                }
                db.write_opt(b, self.wo(sync))?;
            }
            Handle::Optimistic(db) => {
                let mut b = WriteBatchWithTransaction::<true>::default();
                for (k, v) in items {
                    b.put(k, v);
                }
                db.write_opt(b, self.wo(sync))?;
            }
        }
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(RocksReader { eng: self }))
    }

    fn flush(&self) -> Result<()> {
        with_db!(&self.db, db => {
            db.flush()?;
            for name in &self.spaces {
                db.flush_cf(db.cf_handle(name).ok_or_else(|| missing_cf(name))?)?;
            }
            db.flush_wal(true)?;
        });
        Ok(())
    }

    fn compact(&self) -> Result<bool> {
        with_db!(&self.db, db => {
            db.compact_range(None::<&[u8]>, None::<&[u8]>);
            for name in &self.spaces {
                let cf = db.cf_handle(name).ok_or_else(|| missing_cf(name))?;
                db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
            }
        });
        Ok(true)
    }

    fn delete_prefix(&self, prefix: &[u8]) -> Result<bool> {
        // One range tombstone: `DeleteRange` on the default column family. The crate hands out
        // no handle of the default family for `delete_range_cf`, so it goes through a
        // `WriteBatch` (its `delete_range` is the default family's). The deleterange group opens
        // a plain database (the crate has no range delete on an `OptimisticTransactionDB`).
        let Handle::Plain(db) = &self.db else {
            return Ok(false);
        };
        let end = super::prefix_end(prefix).ok_or("a prefix without an end")?;
        let mut b = WriteBatch::default();
        b.delete_range(prefix, end.as_slice());
        db.write_opt(b, &self.nosync)?;
        Ok(true)
    }

    fn keyspace_count(&self) -> usize {
        self.spaces.len()
    }

    fn put_in(&self, ks: usize, key: &[u8], value: &[u8]) -> Result<()> {
        let name = self.space_name(ks)?;
        with_db!(&self.db, db => {
            let cf = db.cf_handle(name).ok_or_else(|| missing_cf(name))?;
            db.put_cf_opt(cf, key, value, &self.nosync)?;
        });
        Ok(())
    }

    fn write_batch_in(&self, items: &[(usize, &[u8], &[u8])]) -> Result<()> {
        match &self.db {
            Handle::Plain(db) => {
                let mut b = WriteBatch::default();
                for (ks, k, v) in items {
                    let name = self.space_name(*ks)?;
                    b.put_cf(db.cf_handle(name).ok_or_else(|| missing_cf(name))?, k, v);
                }
                db.write_opt(b, &self.nosync)?;
            }
            Handle::Optimistic(db) => {
                let mut b = WriteBatchWithTransaction::<true>::default();
                for (ks, k, v) in items {
                    let name = self.space_name(*ks)?;
                    b.put_cf(db.cf_handle(name).ok_or_else(|| missing_cf(name))?, k, v);
                }
                db.write_opt(b, &self.nosync)?;
            }
        }
        Ok(())
    }

    fn transaction(&self, body: TxBody<'_>) -> Result<TxOutcome> {
        let Handle::Optimistic(db) = &self.db else {
            return Ok(TxOutcome::Unsupported);
        };
        let tx = db.transaction();
        body(&mut RocksTx(&tx))?;
        match tx.commit() {
            Ok(()) => Ok(TxOutcome::Committed),
            Err(e) if matches!(e.kind(), ErrorKind::Busy | ErrorKind::TryAgain) => {
                Ok(TxOutcome::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }
}

struct RocksTx<'a, 'db>(&'a Transaction<'db, OptimisticTransactionDB>);

impl Tx for RocksTx<'_, '_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // `get` alone would not be checked at commit; `get_for_update` is.
        Ok(self.0.get_for_update(key, true)?)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.0.put(key, value)?)
    }
}

struct RocksReader<'a> {
    eng: &'a RocksEngine,
}

impl Reader for RocksReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(with_db!(&self.eng.db, db => db.get_pinned(key)?.map(|v| v.len())))
    }

    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        let n = with_db!(&self.eng.db, db => {
            let mut it = db.raw_iterator();
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
            n
        });
        Ok(Some(n))
    }

    fn get_in(&mut self, ks: usize, key: &[u8]) -> Result<Option<usize>> {
        let name = self.eng.space_name(ks)?;
        Ok(with_db!(&self.eng.db, db => {
            let cf = db.cf_handle(name).ok_or_else(|| missing_cf(name))?;
            db.get_pinned_cf(cf, key)?.map(|v| v.len())
        }))
    }
}
