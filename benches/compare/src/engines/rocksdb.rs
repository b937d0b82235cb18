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
//!
//! With `EngineConfig::tree_shape` (`--deep-tree`) the tree copies lsmkv's shape
//! ([`apply_shape`]). Write amplification and the shape per level come from the MANIFEST
//! ([`super::rocksdb_manifest`]) and the key and value bytes this adapter was given; the level of
//! a key (`readlevels`) from RocksDB's per-level perf context ([`RocksEngine::key_levels`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DB, DBCompressionType, ErrorKind,
    OptimisticTransactionDB, Options, PerfContext, PerfStatsLevel, Transaction, WriteBatch,
    WriteBatchWithTransaction, WriteOptions,
};

use super::{
    Engine, EngineConfig, IN_MEMTABLE, LsmStats, NOT_FOUND, Reader, Result, TreeShape, Tx, TxBody,
    TxOutcome,
};
use crate::workload::LevelShape;

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
    dir: PathBuf,
    cfg: EngineConfig,
    /// Key and value bytes written through this adapter (RocksDB's own count needs statistics
    /// on, which costs every write).
    user_bytes: AtomicU64,
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
    if let Some(shape) = &cfg.tree_shape {
        apply_shape(&mut opts, shape)?;
    }
    Ok(opts)
}

/// lsmkv's tree shape in RocksDB's terms (leveled, dynamic level sizes). lsmkv sizes its levels
/// from the last one down, each `ratio` times smaller, and makes the base level (where level 0
/// compacts to) the highest one whose target is at least `LEVEL_BASE_SIZE`: a base target in
/// [B, ratio x B). RocksDB with `level_compaction_dynamic_level_bytes` does the same from the
/// largest level down but picks the highest level whose size is at most
/// `max_bytes_for_level_base`: (B' / ratio, B']. With B' = ratio x B both pick the same base level
/// for the same data, so they have the same number of levels. (RocksDB then gives no level a
/// target below B', so its base level may hold up to B' where lsmkv's holds its dynamic target.)
pub fn apply_shape(opts: &mut Options, shape: &TreeShape) -> Result<()> {
    let int = |v: u32| std::ffi::c_int::try_from(v);
    opts.set_write_buffer_size(usize::try_from(shape.memtable_bytes)?);
    opts.set_level_compaction_dynamic_level_bytes(true);
    opts.set_max_bytes_for_level_base(shape.level_base_bytes.saturating_mul(shape.ratio));
    opts.set_max_bytes_for_level_multiplier(shape.ratio as f64);
    opts.set_target_file_size_base(shape.target_file_bytes);
    opts.set_num_levels(int(shape.levels)?);
    opts.set_level_zero_file_num_compaction_trigger(int(shape.l0_compaction_trigger)?);
    opts.set_level_zero_slowdown_writes_trigger(int(shape.l0_slowdown_trigger)?);
    opts.set_level_zero_stop_writes_trigger(int(shape.l0_stop_trigger)?);
    Ok(())
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
            dir: dir.to_path_buf(),
            cfg: cfg.clone(),
            user_bytes: AtomicU64::new(0),
            spaces,
            nosync,
            sync,
            _cache: cache,
        })
    }

    fn count(&self, key: &[u8], value: &[u8]) {
        self.user_bytes
            .fetch_add((key.len() + value.len()) as u64, Ordering::Relaxed);
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
        self.count(key, value);
        Ok(())
    }

    fn write_batch(&self, items: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        for (k, v) in items {
            self.count(k, v);
        }
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
        self.count(key, value);
        let name = self.space_name(ks)?;
        with_db!(&self.db, db => {
            let cf = db.cf_handle(name).ok_or_else(|| missing_cf(name))?;
            db.put_cf_opt(cf, key, value, &self.nosync)?;
        });
        Ok(())
    }

    fn write_batch_in(&self, items: &[(usize, &[u8], &[u8])]) -> Result<()> {
        for (_, k, v) in items {
            self.count(k, v);
        }
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

    fn lsm_stats(&self) -> Option<LsmStats> {
        let m = match super::rocksdb_manifest::read(&self.dir) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("  [rocksdb] no level counters: {e}");
                return None;
            }
        };
        let live = m.live_by_level();
        let n = live.len().max(m.written.len());
        let levels = (0..n)
            .map(|l| {
                let (files, bytes) = live.get(l).copied().unwrap_or((0, 0));
                LevelShape {
                    level: l as u32,
                    files,
                    bytes,
                    bytes_written: m.written.get(l).copied().unwrap_or(0),
                }
            })
            .collect();
        let pending = with_db!(&self.db, db => db
            .property_int_value("rocksdb.estimate-pending-compaction-bytes")
            .ok()
            .flatten());
        Some(LsmStats {
            user_bytes: self.user_bytes.load(Ordering::Relaxed),
            table_bytes_written: m.written.iter().sum(),
            levels,
            pending_compaction_bytes: pending.unwrap_or(0),
            stalls: None,
        })
    }

    fn wait_idle(&self, timeout: std::time::Duration) -> Result<()> {
        let start = std::time::Instant::now();
        let mut quiet_before = false;
        loop {
            let busy = with_db!(&self.db, db => {
                let prop = |name: &str| db.property_int_value(name).map(|v| v.unwrap_or(0));
                prop("rocksdb.compaction-pending")?
                    + prop("rocksdb.num-running-compactions")?
                    + prop("rocksdb.num-running-flushes")?
                    + prop("rocksdb.mem-table-flush-pending")?
            });
            // Two quiet looks in a row: a compaction scheduled in between would show.
            if busy == 0 && quiet_before {
                return Ok(());
            }
            quiet_before = busy == 0;
            if start.elapsed() > timeout {
                return Err(format!("compaction still busy after {}s", timeout.as_secs()).into());
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }

    fn key_levels(&self, num: u64) -> Result<Option<Vec<u8>>> {
        // A read-only instance of the same database: its table readers are opened now, each with
        // the level its file is at now. (The writer's readers keep the level a file had when they
        // were opened, which a trivial move since has made stale.)
        let cache = Cache::new_lru_cache(usize::try_from(self.cfg.cache_bytes)?)?;
        let opts = tuned(&self.cfg, &cache)?;
        let ro = DB::open_for_read_only(&opts, &self.dir, false)?;
        let mut out = vec![NOT_FOUND; usize::try_from(num)?];
        let mut ctx = PerfContext::default();
        rocksdb::perf::set_perf_stats(PerfStatsLevel::EnableCount);
        per_level_perf_context(true);
        let res = (|| -> Result<()> {
            for (i, slot) in out.iter_mut().enumerate() {
                ctx.reset();
                if ro
                    .get_pinned(crate::workload::key(i as u64, true))?
                    .is_some()
                {
                    *slot = found_level(&ctx.report(true)).unwrap_or(IN_MEMTABLE);
                }
            }
            Ok(())
        })();
        per_level_perf_context(false);
        rocksdb::perf::set_perf_stats(PerfStatsLevel::Disable);
        res?;
        Ok(Some(out))
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

// RocksDB keeps per-level perf counters only after `PerfContext::EnablePerLevelPerfContext()`,
// which its C API does not wrap; these are the C++ symbols of the thread's perf context and of
// that method (Itanium ABI: `this` is the first argument) in Debian's librocksdb 7.8.
#[expect(
    unsafe_code,
    reason = "RocksDB's per-level perf counters are reachable only through these C++ symbols"
)]
unsafe extern "C" {
    #[link_name = "_ZN7rocksdb16get_perf_contextEv"]
    fn rocksdb_get_perf_context() -> *mut std::ffi::c_void;
    #[link_name = "_ZN7rocksdb11PerfContext25EnablePerLevelPerfContextEv"]
    fn rocksdb_enable_per_level_perf_context(ctx: *mut std::ffi::c_void);
    #[link_name = "_ZN7rocksdb11PerfContext26DisablePerLevelPerfContextEv"]
    fn rocksdb_disable_per_level_perf_context(ctx: *mut std::ffi::c_void);
}

/// Turns the calling thread's per-level perf counters on or off.
#[expect(unsafe_code, reason = "calls the C++ methods declared above")]
fn per_level_perf_context(on: bool) {
    // SAFETY: `get_perf_context` returns the calling thread's perf context, valid for the
    // thread's lifetime; the two methods take no argument but `this` and only set a flag (and,
    // enabling, allocate the per-level map, freed by RocksDB at thread exit).
    unsafe {
        let ctx = rocksdb_get_perf_context();
        if on {
            rocksdb_enable_per_level_perf_context(ctx);
        } else {
            rocksdb_disable_per_level_perf_context(ctx);
        }
    }
}

/// The level whose table returned the key, from a perf context report taken after one get with
/// per-level counters on: `bloom_filter_full_true_positive = 1@level3, ` (a full filter said
/// "maybe" and the table had the key). `None`: no table did (the key came from a memtable, or
/// the get found nothing).
pub fn found_level(report: &str) -> Option<u8> {
    const NAME: &str = "bloom_filter_full_true_positive = ";
    let at = report.find(NAME)? + NAME.len();
    // `N@levelL` items separated by ", " until the next counter's name (an empty counter is
    // followed by the next name at once).
    report[at..]
        .split(", ")
        .map_while(|item| {
            let (count, level) = item.split_once("@level")?;
            Some((count.parse::<u64>().ok()?, level.parse::<u8>().ok()?))
        })
        .find(|&(count, _)| count > 0)
        .map(|(_, level)| level)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny tree with lsmkv's deep-tree shape: fillrandom then readlevels fill every per-level
    /// field, they add up, and the MANIFEST's live files are RocksDB's own.
    #[test]
    fn levels_are_counted_and_read_by_level() {
        let dir = std::env::temp_dir().join(format!("compare-rocks-lv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = EngineConfig::for_group("fill", 8, Vec::new());
        cfg.tree_shape = Some(TreeShape {
            memtable_bytes: 64 << 10,
            level_base_bytes: 16 << 10,
            target_file_bytes: 16 << 10,
            ratio: 10,
            levels: 7,
            l0_compaction_trigger: 4,
            l0_slowdown_trigger: 20,
            l0_stop_trigger: 36,
        });
        let eng = RocksEngine::open(&dir, &cfg).unwrap();
        let mut p = crate::workload::tests::small(8000);
        p.reads = Some(300);
        let ws = ["fillrandom".to_string(), "readlevels".to_string()];
        let rs = crate::workload::run_group("rocksdb", &eng, &dir, &ws, &p);
        let m = super::super::rocksdb_manifest::read(&dir).unwrap();
        let mut live: Vec<(String, i32, usize)> = with_db!(&eng.db, db => db.live_files())
            .unwrap()
            .into_iter()
            .map(|f| (f.name.trim_start_matches('/').to_string(), f.level, f.size))
            .collect();
        drop(eng);
        std::fs::remove_dir_all(&dir).unwrap();
        crate::engines::assert_levels_are_consistent(&rs, 8000);
        let mut from_manifest: Vec<(String, i32, usize)> = m
            .live
            .iter()
            .map(|(n, (l, s))| (format!("{n:06}.sst"), *l as i32, *s as usize))
            .collect();
        live.sort_unstable();
        from_manifest.sort_unstable();
        assert_eq!(from_manifest, live);
    }

    #[test]
    fn the_level_that_returned_the_key_is_read_from_the_report() {
        // Captured from Debian's librocksdb 7.8 (`PerfContext::report(true)` after one get with
        // per-level counters on): a key found in a table of level 0, then one in the memtable.
        let table = "user_key_comparison_count = 10, block_read_count = 1, \
            block_read_byte = 2076, get_read_bytes = 1, bloom_sst_hit_count = 1, \
            bloom_filter_useful = bloom_filter_full_positive = 1@level0, \
            bloom_filter_full_true_positive = 1@level0, block_cache_hit_count = \
            block_cache_miss_count = 1@level0";
        assert_eq!(found_level(table), Some(0));
        let memtable = "user_key_comparison_count = 3, get_read_bytes = 1, \
            get_from_memtable_count = 1, bloom_filter_useful = bloom_filter_full_positive = \
            bloom_filter_full_true_positive = block_cache_hit_count = block_cache_miss_count =";
        assert_eq!(found_level(memtable), None);
        // Deeper levels, several levels counted (a miss in L4 first), zeroes, nothing at all.
        let deep = "bloom_filter_useful = 1@level4, bloom_filter_full_positive = 1@level5, \
            bloom_filter_full_true_positive = 0@level4, 1@level5, block_cache_hit_count = 3@level5";
        assert_eq!(found_level(deep), Some(5));
        assert_eq!(
            found_level("bloom_filter_full_true_positive = block_cache_hit_count = 1@level3"),
            None,
            "another counter's levels are not this one's"
        );
        assert_eq!(
            found_level("bloom_filter_full_true_positive = 0@level2, "),
            None
        );
        assert_eq!(found_level("get_from_memtable_count = 1"), None);
    }
}
