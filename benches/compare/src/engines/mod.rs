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
}

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
    /// Full compaction if the engine has one; `Ok(false)` if it has not. Not timed.
    fn compact(&self) -> Result<bool>;
    /// Whether [`Reader::scan`] works.
    fn supports_scan(&self) -> bool {
        true
    }
    /// Write counters and tree shape, where the engine exposes them through its public API.
    fn lsm_stats(&self) -> Option<LsmStats> {
        None
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
