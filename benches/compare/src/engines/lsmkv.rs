//! lsmkv through its public API: `Db::open`, `put`, `get`, `write`, `flush`, `sync`,
//! `compact`, `range` (read with `DbIter::next_ref`), `delete_prefix` (one range tombstone); `Db::keyspace` (each keyspace takes the database's options: 64 MiB
//! memtable, LZ4, bloom) and `Db::transaction` (optimistic, serializable; `Error::Conflict`).
//! One untimed step reads engine internals (the `internal` feature): `readlevels` finds the level
//! of every key by iterating each live table (`Db::tables` names them, `sstable::Table` reads
//! them).
//!
//! lsmkv chooses durability per database (`SyncMode`), not per write: a process that runs sync
//! workloads opens with `SyncMode::Always` (every acknowledged write is fdatasync'ed, concurrent
//! writers share one fsync); otherwise with `SyncMode::None` (WAL buffered in the process, no
//! fsync), which is what fjall does by default (RocksDB hands each write to the OS).
//!
//! `--lsmkv-opt NAME=VALUE` sets any option by the name of its environment variable (read by
//! `Options::from_lookup`, so the names and value syntax are the engine's own); such an option
//! wins over the tool's settings below. The process environment itself is not read, so a stray
//! `WAL_SYNC_MODE` in the shell cannot change a benchmark unseen.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use lsmkv::{Compression, Db, Keyspace, Options, SyncMode, Transaction, WriteBatch};

use super::{
    Engine, EngineConfig, IN_MEMTABLE, LsmStats, NOT_FOUND, Reader, Result, TreeShape, Tx, TxBody,
    TxOutcome,
};
use crate::workload::{LevelShape, StallCounts};

/// `--deep-tree`: small memtables, levels and tables, so 1M keys make a tree of several levels
/// (with the defaults, 256 MiB base level and 64 MiB memtable, 1M keys fit in L0 and L1). Put
/// before the user's `--lsmkv-opt`s, which may override any of them.
pub const DEEP_TREE: &[&str] = &[
    "MEMTABLE_MAX_SIZE=4MiB",
    "LEVEL_BASE_SIZE=4MiB",
    "TARGET_FILE_SIZE=1MiB",
];

/// The tree shape of lsmkv's options (leveled compaction), for engines that copy it.
pub fn tree_shape(o: &Options) -> TreeShape {
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    TreeShape {
        memtable_bytes: o.memtable_max_size as u64,
        level_base_bytes: o.level_base_size,
        target_file_bytes: o.target_file_size,
        ratio: o.level_size_ratio as u64,
        levels: n(o.max_levels),
        l0_compaction_trigger: n(o.l0_compaction_trigger),
        l0_slowdown_trigger: n(o.l0_slowdown_writes_trigger),
        l0_stop_trigger: n(o.l0_stop_writes_trigger),
    }
}

/// Splits `NAME=VALUE` pairs; a later pair for the same name wins.
pub fn parse_opts(opts: &[String]) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for o in opts {
        let (name, value) = o
            .split_once('=')
            .ok_or_else(|| format!("--lsmkv-opt {o:?}: expected NAME=VALUE"))?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(format!("--lsmkv-opt {o:?}: empty name"));
        }
        out.retain(|(n, _)| *n != name);
        out.push((name, value.trim().to_string()));
    }
    Ok(out)
}

/// The engine's defaults with `overrides` applied by `Options::from_lookup`. Fails on a value
/// the engine rejects and on a name it never asks for (a typo would otherwise be ignored).
fn options_from(overrides: &[(String, String)]) -> std::result::Result<Options, String> {
    let asked = RefCell::new(BTreeSet::new());
    let lookup = |name: &str| {
        asked.borrow_mut().insert(name.to_string());
        overrides
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let opts = Options::from_lookup(&lookup).map_err(|e| format!("--lsmkv-opt: {e}"))?;
    let asked = asked.into_inner();
    let unknown: Vec<&str> = overrides
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !asked.contains(*n))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "--lsmkv-opt: lsmkv has no option {}; known: {}",
            unknown.join(", "),
            asked.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(opts)
}

/// The options the tool opens lsmkv with: its common settings, then the overrides.
pub fn options(cfg: &EngineConfig) -> Result<Options> {
    let overrides = parse_opts(&cfg.lsmkv_opts)?;
    let mut opts = options_from(&overrides)?;
    let given = |name: &str| overrides.iter().any(|(n, _)| n == name);
    if !given("WAL_SYNC_MODE") {
        opts.sync_mode = if cfg.sync_writes {
            SyncMode::Always
        } else {
            SyncMode::None
        };
    }
    if !given("COMPRESSION") {
        opts.compression = Compression::Lz4;
    }
    if !given("BLOCK_CACHE_SIZE_MB") {
        opts.block_cache_size_mb = usize::try_from(cfg.cache_bytes >> 20)?;
    }
    if !given("MEMTABLE_MAX_SIZE") {
        opts.memtable_max_size = usize::try_from(cfg.memtable_bytes)?;
    }
    if !given("BLOOM_FALSE_POSITIVE_RATE") {
        // A standard bloom filter with k bits per key has a false-positive rate of about
        // 0.6185^k: 10 bits/key ~ 0.82 %.
        opts.bloom_false_positive_rate = 0.6185_f64.powf(cfg.bloom_bits_per_key);
    }
    opts.validate()?;
    Ok(opts)
}

pub struct LsmkvEngine {
    db: Db,
    /// `ks0`, `ks1`, ...: the keyspaces of `put_in` (the main one is `default`).
    spaces: Vec<Keyspace>,
}

impl LsmkvEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let db = Db::open(dir, options(cfg)?)?;
        let spaces = (0..cfg.keyspaces)
            .map(|i| db.keyspace(&format!("ks{i}")))
            .collect::<lsmkv::Result<Vec<_>>>()?;
        Ok(LsmkvEngine { db, spaces })
    }

    fn space(&self, ks: usize) -> Result<&Keyspace> {
        self.spaces
            .get(ks)
            .ok_or_else(|| format!("no keyspace {ks}").into())
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
        Ok(Box::new(LsmkvReader {
            db: &self.db,
            spaces: &self.spaces,
        }))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        for ks in &self.spaces {
            ks.flush()?;
        }
        Ok(self.db.sync()?)
    }

    fn compact(&self) -> Result<bool> {
        self.db.compact()?;
        for ks in &self.spaces {
            ks.compact()?;
        }
        Ok(true)
    }

    fn delete_prefix(&self, prefix: &[u8]) -> Result<bool> {
        // One range tombstone, whatever it covers.
        self.db.delete_prefix(prefix)?;
        Ok(true)
    }

    fn keyspace_count(&self) -> usize {
        self.spaces.len()
    }

    fn put_in(&self, ks: usize, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.space(ks)?.put(key, value)?)
    }

    fn write_batch_in(&self, items: &[(usize, &[u8], &[u8])]) -> Result<()> {
        let mut b = WriteBatch::new();
        for (ks, k, v) in items {
            b.put_in(self.space(*ks)?, k, v);
        }
        Ok(self.db.write(b)?)
    }

    fn transaction(&self, body: TxBody<'_>) -> Result<TxOutcome> {
        let mut tx = self.db.transaction();
        body(&mut LsmkvTx(&mut tx))?;
        match tx.commit() {
            Ok(()) => Ok(TxOutcome::Committed),
            Err(lsmkv::Error::Conflict) => Ok(TxOutcome::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    fn supports_scan(&self) -> bool {
        true
    }

    fn lsm_stats(&self) -> Option<LsmStats> {
        let s = self.db.stats();
        Some(LsmStats {
            user_bytes: s.user_bytes_written,
            table_bytes_written: s.flush_bytes_written + s.compaction_bytes_written,
            levels: s
                .levels
                .iter()
                .map(|l| LevelShape {
                    level: l.level,
                    files: l.files,
                    bytes: l.bytes,
                    bytes_written: l.bytes_written,
                })
                .collect(),
            pending_compaction_bytes: s.pending_compaction_bytes,
            stalls: Some(StallCounts {
                stalls: s.write_stalls,
                stall_ms: s.write_stall_micros as f64 / 1e3,
                memtable_ms: s.stalls.memtable_micros as f64 / 1e3,
                l0_slowdown_ms: s.stalls.l0_slowdown_micros as f64 / 1e3,
                l0_stop_ms: s.stalls.l0_stop_micros as f64 / 1e3,
                pending_ms: (s.stalls.pending_slowdown_micros + s.stalls.pending_stop_micros)
                    as f64
                    / 1e3,
                peak_l0_files: s.stalls.peak_l0_files,
                peak_immutable_memtables: s.stalls.peak_immutable_memtables,
                peak_pending_compaction_bytes: s.stalls.peak_pending_compaction_bytes,
                flushes: s.flushes,
                flush_bytes: s.flush_bytes_written,
                compactions: s.compactions,
                compaction_bytes: s.compaction_bytes_written,
            }),
        })
    }

    fn wait_idle(&self, timeout: std::time::Duration) -> Result<()> {
        let start = std::time::Instant::now();
        let trigger = self.db.options().l0_compaction_trigger as u64;
        let mut last = None;
        loop {
            let s = self.db.stats();
            let l0 = s.levels.first().map_or(0, |l| l.files);
            let quiet =
                s.pending_compaction_bytes == 0 && s.immutable_memtables == 0 && l0 < trigger;
            // Quiet, and no compaction finished since the last look (none was running).
            let now = (s.compactions, s.flushes);
            if quiet && last == Some(now) {
                return Ok(());
            }
            last = quiet.then_some(now);
            if start.elapsed() > timeout {
                return Err(format!("compaction still busy after {}s", timeout.as_secs()).into());
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }

    fn key_levels(&self, num: u64) -> Result<Option<Vec<u8>>> {
        let mut out = vec![NOT_FOUND; usize::try_from(num)?];
        // Level 0 newest first, then the levels down: the first table that holds a key holds
        // its newest version.
        for t in self.db.tables().iter().filter(|t| t.keyspace == "default") {
            let level = u8::try_from(t.level)?;
            let path = self
                .db
                .path()
                .join(lsmkv::format::files::sst_name(t.number));
            let table = lsmkv::sstable::Table::open(&path, t.number, None)?;
            let mut it = table.iter();
            it.seek_to_first()?;
            while it.valid() {
                if let Some((i, true)) = crate::workload::key_index(it.user_key())
                    && let Some(slot) = out.get_mut(i as usize)
                    && *slot == NOT_FOUND
                {
                    *slot = level;
                }
                it.next()?;
            }
        }
        // Keys in no table are in a memtable, or nowhere.
        let mut r = self.reader()?;
        for (i, slot) in out.iter_mut().enumerate() {
            if *slot == NOT_FOUND && r.get(&crate::workload::key(i as u64, true))?.is_some() {
                *slot = IN_MEMTABLE;
            }
        }
        Ok(Some(out))
    }
}

struct LsmkvTx<'a>(&'a mut Transaction);

impl Tx for LsmkvTx<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key)?.map(|v| v.to_vec()))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.0.put(key, value);
        Ok(())
    }
}

struct LsmkvReader<'a> {
    db: &'a Db,
    spaces: &'a [Keyspace],
}

impl Reader for LsmkvReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        // Borrowed entries, as RocksDB's raw iterator hands them out.
        let mut n = 0u64;
        let mut it = self.db.range(start..);
        while n < limit as u64
            && let Some(item) = it.next_ref()
        {
            let (k, v) = item?;
            std::hint::black_box((k.len(), v.len()));
            n += 1;
        }
        Ok(Some(n))
    }

    fn get_in(&mut self, ks: usize, key: &[u8]) -> Result<Option<usize>> {
        let space = self
            .spaces
            .get(ks)
            .ok_or_else(|| format!("no keyspace {ks}"))?;
        Ok(space.get(key)?.map(|v| v.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(opts: &[&str]) -> EngineConfig {
        EngineConfig::for_group("", 64, opts.iter().map(|s| (*s).to_string()).collect())
    }

    #[test]
    fn pairs_parse_and_later_wins() {
        let p = parse_opts(&[
            "level_base_size=4MiB".into(),
            "LEVEL_BASE_SIZE = 8MiB".into(),
        ])
        .unwrap();
        assert_eq!(p, vec![("LEVEL_BASE_SIZE".to_string(), "8MiB".to_string())]);
        assert!(parse_opts(&["LEVEL_BASE_SIZE".into()]).is_err());
        assert!(parse_opts(&["=1".into()]).is_err());
    }

    #[test]
    fn tool_settings_without_overrides() {
        let o = options(&cfg(&[])).unwrap();
        assert_eq!(o.sync_mode, SyncMode::None);
        assert_eq!(o.memtable_max_size, 64 << 20);
        assert_eq!(o.level_base_size, Options::default().level_base_size);
    }

    #[test]
    fn deep_tree_overrides_the_tool_and_the_defaults() {
        let mut opts: Vec<&str> = DEEP_TREE.to_vec();
        opts.push("TARGET_FILE_SIZE=2MiB");
        let o = options(&cfg(&opts)).unwrap();
        assert_eq!(o.memtable_max_size, 4 << 20);
        assert_eq!(o.level_base_size, 4 << 20);
        assert_eq!(o.target_file_size, 2 << 20);
        // Settings not overridden stay the tool's.
        assert_eq!(o.sync_mode, SyncMode::None);
    }

    /// The real engine with a tiny tree: the runner reports write amplification and levels.
    #[test]
    fn runner_reports_lsm_counters() {
        let dir = std::env::temp_dir().join(format!("compare-lsmkv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = [
            "MEMTABLE_MAX_SIZE=32KiB",
            "LEVEL_BASE_SIZE=32KiB",
            "TARGET_FILE_SIZE=8KiB",
        ];
        let eng = LsmkvEngine::open(&dir, &cfg(&opts)).unwrap();
        let p = crate::workload::Params {
            num: 5_000,
            reads: Some(1000),
            seeks: None,
            sync_num: None,
            txns: None,
            txn_keys: None,
            seed: 1,
            cache_mib: 8,
            lsmkv_opts: Vec::new(),
            rss_sample_ms: 0,
            deep_tree: false,
        };
        let ws = ["fillrandom".to_string(), "overwrite".to_string()];
        let rs = crate::workload::run_group("lsmkv", &eng, &dir, &ws, &p);
        drop(eng);
        std::fs::remove_dir_all(&dir).unwrap();
        for r in &rs {
            assert_eq!(r.status, "ok", "{r:?}");
            // Every byte is flushed at least once (LZ4 makes it about 0.6 of the user bytes);
            // how much compaction adds depends on how far it got, so no upper bound.
            assert!(r.write_amp.is_some_and(|w| w > 0.3), "{r:?}");
            assert!(r.levels.is_some_and(|l| l >= 1), "{r:?}");
            assert!(r.peak_rss_bytes > 0);
        }
    }

    /// A tiny deep tree: fillrandom then readlevels fill every per-level field, and they add up.
    #[test]
    fn levels_are_counted_and_read_by_level() {
        let dir = std::env::temp_dir().join(format!("compare-lsmkv-lv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = [
            "MEMTABLE_MAX_SIZE=32KiB",
            "LEVEL_BASE_SIZE=16KiB",
            "TARGET_FILE_SIZE=8KiB",
        ];
        let eng = LsmkvEngine::open(&dir, &cfg(&opts)).unwrap();
        let mut p = crate::workload::tests::small(8000);
        p.reads = Some(300);
        let ws = ["fillrandom".to_string(), "readlevels".to_string()];
        let rs = crate::workload::run_group("lsmkv", &eng, &dir, &ws, &p);
        // The levels it found are the levels the engine reports.
        let levels = eng.key_levels(8000).unwrap().unwrap();
        let tables = eng.db.tables();
        drop(eng);
        std::fs::remove_dir_all(&dir).unwrap();
        crate::engines::assert_levels_are_consistent(&rs, 8000);
        for l in levels {
            assert!(tables.iter().any(|t| t.level == u32::from(l)), "{l}");
        }
    }

    #[test]
    fn unknown_names_and_bad_values_fail() {
        let e = options(&cfg(&["LEVEL_BASE_SZE=4MiB"])).err().unwrap();
        assert!(e.to_string().contains("LEVEL_BASE_SZE"), "{e}");
        assert!(e.to_string().contains("LEVEL_BASE_SIZE"), "{e}");
        let e = options(&cfg(&["LEVEL_BASE_SIZE=four"])).err().unwrap();
        assert!(e.to_string().contains("LEVEL_BASE_SIZE"), "{e}");
    }
}
