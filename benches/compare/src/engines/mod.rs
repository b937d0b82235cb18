//! The `Engine` trait every store is driven through, and one adapter per engine (one file each).
//!
//! The driver only ever talks to `dyn Engine` / `dyn Reader`, so every engine pays the same
//! indirection. Settings shared by all engines come in [`EngineConfig`]; each adapter maps them
//! onto its own knobs as closely as the engine allows (see README.md, "Settings").

use std::path::Path;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

mod fjall;
pub mod lsmkv;
mod redb;
#[cfg(feature = "rocksdb")]
mod rocksdb;
// Pure parsing: tested without the feature too.
#[cfg(any(test, feature = "rocksdb"))]
pub mod rocksdb_manifest;
mod sled;

/// Settings applied to every engine, as far as it has a matching knob.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Block/page cache budget (the issue asks for about 64 MiB).
    pub cache_bytes: u64,
    /// Bloom filter bits per key (10).
    pub bloom_bits_per_key: f64,
    /// Memtable / write buffer size.
    pub memtable_bytes: u64,
    /// The process runs sync workloads: engines whose durability is chosen per database rather
    /// than per write (lsmkv) open in their fsync-every-write mode.
    pub sync_writes: bool,
    /// lsmkv options as `NAME=VALUE` (environment variable names), applied last; other engines
    /// ignore them.
    pub lsmkv_opts: Vec<String>,
    /// Named keyspaces to open besides the engine's main one (keyspaces, column families, fjall
    /// partitions, redb tables), for [`Engine::put_in`] and [`Reader::get_in`]; 0 outside the
    /// keyspaces group.
    pub keyspaces: usize,
    /// The process runs transactions: engines that need a transactional handle at open (fjall's
    /// `OptimisticTxDatabase`, RocksDB's `OptimisticTransactionDB`) open one.
    pub transactional: bool,
    /// `--deep-tree`: the LSM shape lsmkv runs with (from its options in force), which RocksDB
    /// copies; `None`: RocksDB keeps its own shape.
    pub tree_shape: Option<TreeShape>,
}

/// The shape of a leveled LSM tree, as lsmkv's options give it ([`lsmkv::tree_shape`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeShape {
    /// Memtable (write buffer) size.
    pub memtable_bytes: u64,
    /// lsmkv `LEVEL_BASE_SIZE`: the base level is the highest level whose dynamic target is at
    /// least this.
    pub level_base_bytes: u64,
    pub target_file_bytes: u64,
    /// Size ratio between adjacent levels.
    pub ratio: u64,
    /// Levels, level 0 included.
    pub levels: u32,
    pub l0_compaction_trigger: u32,
    pub l0_slowdown_trigger: u32,
    pub l0_stop_trigger: u32,
}

impl EngineConfig {
    /// The tool's common settings for a process running workloads of `group`.
    pub fn for_group(group: &str, cache_mib: u64, lsmkv_opts: Vec<String>) -> EngineConfig {
        EngineConfig {
            tree_shape: None,
            cache_bytes: cache_mib << 20,
            bloom_bits_per_key: 10.0,
            memtable_bytes: 64 << 20,
            sync_writes: group == "sync",
            lsmkv_opts,
            keyspaces: if group == "keyspaces" {
                crate::workload::KEYSPACES
            } else {
                0
            },
            transactional: group == "txn",
        }
    }
}

/// How one transaction attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxOutcome {
    /// Its writes are in.
    Committed,
    /// Another commit got in the way; nothing was written. Retry.
    Conflict,
    /// The engine (as opened) has no transactions.
    Unsupported,
}

/// Reads and writes inside one transaction ([`Engine::transaction`]): reads see the
/// transaction's snapshot and its own writes; writes are applied at commit.
pub trait Tx {
    /// The value of `key` (copied out: a transaction's reads are few).
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
}

/// The body of a transaction. It may run again after a conflict (a new transaction each time).
pub type TxBody<'a> = &'a mut dyn FnMut(&mut dyn Tx) -> Result<()>;

/// Deletes per batch where an engine without range deletes deletes a prefix key by key.
pub const DELETE_BATCH: usize = 1000;

/// The smallest key after every key that starts with `prefix` (the exclusive end of the
/// prefix's range); `None` if there is none (the prefix is empty or all 0xff).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn no_keyspaces() -> Box<dyn std::error::Error + Send + Sync> {
    "the engine was not opened with keyspaces".into()
}

/// Counters of an LSM engine that exposes them (lsmkv), for write amplification and the tree's
/// shape. Byte counters are cumulative since open.
#[derive(Debug, Clone, Default)]
pub struct LsmStats {
    /// Key and value bytes written by users.
    pub user_bytes: u64,
    /// Bytes written to tables by memtable flushes and compactions.
    pub table_bytes_written: u64,
    /// Every level, empty ones included.
    pub levels: Vec<crate::workload::LevelShape>,
    /// Bytes compaction still has to rewrite to bring levels within their targets.
    pub pending_compaction_bytes: u64,
    /// Write stalls by cause and background work, cumulative since open (peaks: the most since
    /// open); `None` where the engine does not count them.
    pub stalls: Option<crate::workload::StallCounts>,
}

/// Where [`Engine::key_levels`] found the newest version of a key: a level number, or one of
/// these.
pub const IN_MEMTABLE: u8 = 254;
pub const NOT_FOUND: u8 = 255;

/// A store under test. One instance per child process; shared by all worker threads.
pub trait Engine: Send + Sync {
    /// Inserts or replaces; with `sync` the write is durable (fsync'ed) when this returns.
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()>;
    /// Applies all pairs atomically (one batch / transaction).
    fn write_batch(&self, items: &[(&[u8], &[u8])], sync: bool) -> Result<()>;
    /// A per-thread read handle (redb: one read transaction for the handle's lifetime).
    fn reader(&self) -> Result<Box<dyn Reader + '_>>;
    /// Moves buffered writes to their on-disk structure and makes them durable. Not timed.
    fn flush(&self) -> Result<()>;
    /// Full compaction if the engine has one; `Ok(false)` if it has not. Not timed, except in
    /// `deleterange` (where it is the space reclamation step). Called only while no
    /// [`Reader`] is alive.
    fn compact(&self) -> Result<bool>;
    /// Deletes every key that starts with `prefix` from the main keyspace, not durable, the
    /// engine's own best way: one range tombstone where it has range deletes (lsmkv
    /// `delete_prefix`, RocksDB `DeleteRange`), else a scan of the prefix and deletes in
    /// batches of [`DELETE_BATCH`] (fjall, sled) or in one write transaction (redb `retain_in`).
    /// `Ok(false)`: the engine cannot (nothing was deleted). Timed by `deleterange`.
    fn delete_prefix(&self, _prefix: &[u8]) -> Result<bool> {
        Ok(false)
    }
    /// Whether [`Reader::scan`] works.
    fn supports_scan(&self) -> bool {
        true
    }
    /// Write counters and tree shape, where the engine exposes them (`LevelShape::bytes_written`
    /// cumulative since open).
    fn lsm_stats(&self) -> Option<LsmStats> {
        None
    }
    /// Waits (up to `timeout`) until no flush or compaction is running or owed, so that the tree
    /// holds still for [`Engine::key_levels`] and the reads after it. Not timed.
    fn wait_idle(&self, _timeout: std::time::Duration) -> Result<()> {
        Ok(())
    }
    /// For every key `crate::workload::key(i, true)`, i in 0..num: the level that holds its
    /// newest version, [`IN_MEMTABLE`] or [`NOT_FOUND`]. `Ok(None)`: the engine cannot tell.
    /// Not timed; call after [`Engine::wait_idle`].
    fn key_levels(&self, _num: u64) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// Keyspaces opened besides the main one ([`EngineConfig::keyspaces`]); 0: none (not asked
    /// for, or the engine has no such thing). [`Engine::flush`] and [`Engine::compact`] cover
    /// them too.
    fn keyspace_count(&self) -> usize {
        0
    }
    /// Inserts or replaces `key` in keyspace `ks` (< [`Engine::keyspace_count`]), not durable.
    fn put_in(&self, _ks: usize, _key: &[u8], _value: &[u8]) -> Result<()> {
        Err(no_keyspaces())
    }
    /// Applies all (keyspace, key, value) atomically, not durable. Used to load, not timed.
    fn write_batch_in(&self, _items: &[(usize, &[u8], &[u8])]) -> Result<()> {
        Err(no_keyspaces())
    }
    /// Runs `body` in one new transaction and commits it (not durable: the non-sync workloads'
    /// durability). An error from `body` abandons the transaction and is returned.
    fn transaction(&self, _body: TxBody<'_>) -> Result<TxOutcome> {
        Ok(TxOutcome::Unsupported)
    }
}

/// Reads through one engine from one thread.
pub trait Reader {
    /// The value length if `key` is present. The value is looked at, not copied out, where the
    /// engine allows (RocksDB `get_pinned`, zero-copy handles elsewhere).
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>>;
    /// Visits up to `limit` entries from the first key >= `start`, in order; returns the number of
    /// entries visited (`None`: the engine cannot iterate).
    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>>;
    /// [`Reader::get`] in keyspace `ks` (< [`Engine::keyspace_count`]).
    fn get_in(&mut self, _ks: usize, _key: &[u8]) -> Result<Option<usize>> {
        Err(no_keyspaces())
    }
}

/// Engine names, in table order (lsmkv first, then the peers).
pub fn all_names() -> Vec<&'static str> {
    let mut v = vec!["lsmkv", "fjall"];
    if cfg!(feature = "rocksdb") {
        v.push("rocksdb");
    }
    v.extend(["redb", "sled"]);
    v
}

/// Opens (creating) engine `name` in the empty directory `dir`.
pub fn open(name: &str, dir: &Path, cfg: &EngineConfig) -> Result<Box<dyn Engine>> {
    Ok(match name {
        "lsmkv" => Box::new(lsmkv::LsmkvEngine::open(dir, cfg)?),
        "fjall" => Box::new(fjall::FjallEngine::open(dir, cfg)?),
        "redb" => Box::new(redb::RedbEngine::open(dir, cfg)?),
        "sled" => Box::new(sled::SledEngine::open(dir, cfg)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(rocksdb::RocksEngine::open(dir, cfg)?),
        #[cfg(not(feature = "rocksdb"))]
        "rocksdb" => return Err("built without the `rocksdb` feature (see README.md)".into()),
        other => return Err(format!("unknown engine {other:?}").into()),
    })
}

/// Checks of a real engine's fillrandom + readlevels results (shared by the engines' tests).
#[cfg(test)]
pub fn assert_levels_are_consistent(rs: &[crate::workload::WorkloadResult], num: u64) {
    let [fill, reads] = rs else {
        panic!("fillrandom and readlevels: {rs:?}")
    };
    for r in rs {
        assert_eq!(r.status, "ok", "{r:?}");
    }
    // Every byte the workload wrote into a level is in the per-level counts, and they add up
    // to the write amplification.
    let user = fill.user_bytes.expect("user bytes") as f64;
    assert_eq!(user, (num * 116) as f64);
    let written: u64 = fill.level_shape.iter().map(|l| l.bytes_written).sum();
    let wamp = fill.write_amp.expect("w-amp");
    assert!((written as f64 / user - wamp).abs() < 1e-9, "{fill:?}");
    assert!(wamp > 0.3, "every key is flushed at least once: {wamp}");
    let l0 = fill.level_shape.iter().find(|l| l.level == 0).expect("L0");
    assert!(l0.bytes_written > 0, "flushes write into level 0");
    assert!(
        fill.level_shape
            .iter()
            .any(|l| l.level > 0 && l.bytes_written > 0),
        "compactions write below level 0: {:?}",
        fill.level_shape
    );
    assert!(fill.levels.is_some_and(|n| n >= 2), "{fill:?}");
    // After the settling every key is in exactly one place, and the places are levels of the
    // tree the reads ran on.
    let lr = reads.level_reads.as_ref().expect("level reads");
    let keys: u64 = lr.rows.iter().map(|x| x.keys).sum();
    assert_eq!(keys, num, "{lr:?}");
    assert_eq!(
        reads.pending_compaction_bytes,
        Some(0),
        "settled: {reads:?}"
    );
    let absent = lr.rows.last().expect("rows");
    assert_eq!(absent.place, "absent");
    for row in &lr.rows {
        assert!(
            row.gets > 0 && row.p50_us > 0.0 && row.p99_us >= row.p50_us,
            "{row:?}"
        );
        if let Some(l) = row.place.strip_prefix('L') {
            let l: u32 = l.parse().expect("level");
            let shape = reads.level_shape.iter().find(|s| s.level == l);
            assert!(
                shape.is_some_and(|s| s.files > 0),
                "{} has keys: {reads:?}",
                row.place
            );
        }
    }
    assert!(lr.rows.len() >= 3, "two levels or more, and absent: {lr:?}");
    assert_eq!(reads.ops, lr.rows.iter().map(|x| x.gets).sum::<u64>());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Params, run_group};

    /// Every real engine (as built) through the keyspace, transaction and range-delete workloads
    /// at a small size, with 20 hot counters so that optimistic engines do meet conflicts: each
    /// workload's own check (every read hits; the counters add up; the deleted prefix is gone
    /// and the rest is there, before and after compaction) must pass.
    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"p/").as_deref(), Some(&b"p0"[..]));
        assert_eq!(prefix_end(b"a\xff\xff").as_deref(), Some(&b"b"[..]));
        assert_eq!(prefix_end(b"\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn real_engines_pass_the_keyspace_transaction_and_range_delete_checks() {
        let p = Params {
            num: 3000,
            reads: Some(1000),
            seeks: None,
            sync_num: None,
            txns: Some(400),
            txn_keys: Some(20),
            seed: 3,
            cache_mib: 8,
            lsmkv_opts: Vec::new(),
            rss_sample_ms: 0,
            deep_tree: false,
        };
        let groups: [(&str, &[&str]); 3] = [
            ("keyspaces", &["keyspaces4", "keyspaces4read"]),
            ("txn", &["txn", "txn4"]),
            ("deleterange", &["deleterange"]),
        ];
        for name in all_names() {
            for (group, ws) in &groups {
                let dir = std::env::temp_dir().join(format!(
                    "compare-engines-{}-{name}-{group}",
                    std::process::id()
                ));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                let eng = open(name, &dir, &EngineConfig::for_group(group, 8, Vec::new())).unwrap();
                let ws: Vec<String> = ws.iter().map(|w| (*w).to_string()).collect();
                let rs = run_group(name, eng.as_ref(), &dir, &ws, &p);
                drop(eng);
                std::fs::remove_dir_all(&dir).unwrap();
                for r in rs {
                    if name == "sled" && *group == "txn" {
                        assert_eq!(r.status, "unsupported", "{r:?}");
                        continue;
                    }
                    assert_eq!(r.status, "ok", "{name}: {r:?}");
                    assert!(r.verified.is_some(), "{name}: {r:?}");
                    if *group == "txn" {
                        assert_eq!(r.ops, 400, "{name}: {r:?}");
                        if name == "redb" {
                            assert_eq!(r.conflicts, Some(0), "redb's writers queue");
                        }
                    }
                    if *group == "deleterange" {
                        let info = r.deleterange.as_ref().unwrap();
                        assert_eq!((r.ops, info.kept_keys), (3000, 300), "{name}");
                        // Every engine here but sled has a full compaction.
                        assert_eq!(info.compact_secs.is_some(), name != "sled", "{name}");
                        assert!(info.disk_before_bytes > 0, "{name}: {info:?}");
                    }
                }
            }
        }
    }
}
