//! Engine configuration: [`Options`], with documented defaults, and [`Options::from_env`].
//!
//! Every field can be set from an environment variable of the same name in upper case (listed on
//! each field and in `.env.example`). `from_env` uses std only; binaries load `.env` first.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::{MAX_KEY_SIZE, MAX_VALUE_SIZE_LIMIT};
use crate::fs::FileSystem;

/// When the write-ahead log is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// A write is acknowledged only after its WAL record is fdatasync'ed. Concurrent writers share
    /// one fsync (group commit). Survives power loss.
    Always,
    /// A write is handed to the OS before it is acknowledged (it survives a process crash) and a
    /// background thread fdatasyncs the WAL every `wal_sync_interval_ms`: power loss can lose at
    /// most that window.
    AsyncBatch,
    /// Fastest: WAL records collect in a 64 KiB in-process buffer that is handed to the OS when it
    /// fills, and on `sync()`, memtable rotation and close; the engine never fsyncs on its own
    /// schedule. A process crash can lose the acknowledged writes still in the buffer (what
    /// survives is always a consistent prefix of the commit order); power loss can lose what the
    /// OS had not written back.
    None,
}

impl FromStr for SyncMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "always" => Ok(SyncMode::Always),
            "async_batch" | "async-batch" | "asyncbatch" => Ok(SyncMode::AsyncBatch),
            "none" => Ok(SyncMode::None),
            _ => Err("expected one of: always, async_batch, none".into()),
        }
    }
}

/// What recovery does with a damaged WAL record that is followed by valid ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WalRecoveryMode {
    /// `Db::open` fails with `Error::Corruption` naming the segment and offset. The default:
    /// nothing is ever dropped silently.
    #[default]
    Strict,
    /// In the newest segment only, replay stops at the damaged record and the rest is dropped
    /// with a logged warning. Power loss under `async_batch` or `none` (or during an
    /// `always` group commit) can persist a later page of the unsynced tail before an earlier
    /// one; this mode recovers to the last consistent point, losing only writes that were not yet
    /// synced. Older segments were synced when they were closed, so damage there is always an error.
    PointInTime,
}

impl FromStr for WalRecoveryMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strict" => Ok(WalRecoveryMode::Strict),
            "point_in_time" | "point-in-time" => Ok(WalRecoveryMode::PointInTime),
            _ => Err("expected one of: strict, point_in_time".into()),
        }
    }
}

/// Block compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Store blocks raw (they are then served straight from the mapping).
    None,
    /// LZ4 (lz4_flex block format), used for a block only when it saves space.
    Lz4,
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(Compression::None),
            "lz4" => Ok(Compression::Lz4),
            _ => Err("expected one of: lz4, none".into()),
        }
    }
}

/// How SSTables are merged in the background. See the README's "Compaction" section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompactionStrategy {
    /// One sorted run per level, each level `level_size_ratio` times larger than the one above
    /// (with dynamic level targets). Lowest space and read amplification; highest write
    /// amplification. The default.
    #[default]
    Leveled,
    /// Size-tiered: sorted runs of similar size are merged once `tiered_min_merge_width` of them
    /// accumulate. Lowest write amplification; more space and read amplification.
    Tiered,
    /// Dostoevsky's lazy leveling: tiered at every level but the last, which is one sorted run.
    /// Write amplification close to tiered, space amplification close to leveled.
    LazyLeveling,
}

impl FromStr for CompactionStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "leveled" | "levelled" => Ok(CompactionStrategy::Leveled),
            "tiered" | "size_tiered" => Ok(CompactionStrategy::Tiered),
            "lazy_leveling" | "lazy-leveling" | "lazy_levelling" => {
                Ok(CompactionStrategy::LazyLeveling)
            }
            _ => Err("expected one of: leveled, tiered, lazy_leveling".into()),
        }
    }
}

/// Configuration of a [`crate::Db`]. A plain struct: set the fields you care about on
/// `Options::default()`.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// `DATA_DIR`: where the binaries open the database (the library takes the path as an
    /// argument to `Db::open`). Default `./data`.
    pub data_dir: PathBuf,
    /// `WAL_SYNC_MODE` = always | async_batch | none. Default `async_batch`.
    pub sync_mode: SyncMode,
    /// `WAL_SYNC_INTERVAL_MS`: how often `AsyncBatch` fsyncs the WAL. Default 100 ms.
    pub wal_sync_interval_ms: u64,
    /// `WAL_RECOVERY_MODE` = strict | point_in_time. Default strict.
    pub wal_recovery_mode: WalRecoveryMode,
    /// `MAX_WAL_SIZE`: bytes of WAL after which a flush is forced, bounding recovery time.
    /// Default 256 MiB.
    pub max_wal_size: u64,
    /// `MEMTABLE_MAX_SIZE`: bytes of memtable after which it is frozen and flushed. Default 64 MiB.
    pub memtable_max_size: usize,
    /// `MAX_IMMUTABLE_MEMTABLES`: frozen memtables allowed to wait for flush before writers stall.
    /// Default 2.
    pub max_immutable_memtables: usize,
    /// `BLOCK_SIZE`: target uncompressed size of an SSTable data block. Default 4096 bytes.
    pub block_size: usize,
    /// `SPARSE_INDEX_INTERVAL`: inside a data block, every Nth entry is a restart point that the
    /// block's binary search lands on (the finest level of the sparse index; the table index holds
    /// one entry per block). Default 16.
    pub sparse_index_interval: usize,
    /// `BLOOM_FALSE_POSITIVE_RATE`: target false-positive rate of each table's bloom filter,
    /// in (0, 1). 0 disables filters. Default 0.01.
    pub bloom_false_positive_rate: f64,
    /// `PREFIX_BLOOM_LENGTH`: when > 0, each table's bloom filter also holds the first N bytes
    /// of every key, and `prefix(p)` skips tables that hold no key starting with `p[..N]` (for
    /// prefixes of at least N bytes). Pick N = the length of the prefixes you scan by (e.g. a
    /// fixed-width tenant or table id). Default 0 (off).
    pub prefix_bloom_length: usize,
    /// `BLOCK_CACHE_SIZE_MB`: bytes of decompressed blocks cached, in MiB. Default 64.
    pub block_cache_size_mb: usize,
    /// `COMPRESSION` = lz4 | none. Default lz4.
    pub compression: Compression,
    /// `MAX_VALUE_SIZE`: largest value accepted, in bytes. Default 64 MiB; at most 1 GiB.
    pub max_value_size: usize,
    /// `PARANOID_CHECKS`: verify a block's checksum against the file on every read, bypassing
    /// the block cache and the checksum-once record. Default off: a raw block is verified the
    /// first time it is read from its (immutable) mapping, an LZ4 block when it enters the cache.
    pub paranoid_checks: bool,
    /// `COMPACTION_STRATEGY` = leveled | tiered | lazy_leveling. Default leveled.
    pub compaction_strategy: CompactionStrategy,
    /// `COMPACTION_THREADS`: background compaction threads; compactions of disjoint key ranges
    /// run at once. Default 1.
    pub compaction_threads: usize,
    /// `L0_COMPACTION_TRIGGER`: level-0 files (sorted runs, for tiered) that start a compaction.
    /// Default 4.
    pub l0_compaction_trigger: usize,
    /// `L0_SLOWDOWN_WRITES_TRIGGER`: level-0 files at which writers are slowed down gradually.
    /// Default 20.
    pub l0_slowdown_writes_trigger: usize,
    /// `L0_STOP_WRITES_TRIGGER`: level-0 files at which writers wait for compaction. Default 36.
    pub l0_stop_writes_trigger: usize,
    /// `LEVEL_SIZE_RATIO`: size ratio between adjacent levels (leveled, lazy leveling). Default 10.
    pub level_size_ratio: usize,
    /// `LEVEL_BASE_SIZE`: target size of the first level below L0, in bytes. Default 256 MiB.
    pub level_base_size: u64,
    /// `TARGET_FILE_SIZE`: compaction output files are cut at about this size. Default 64 MiB.
    pub target_file_size: u64,
    /// `MAX_LEVELS`: number of levels including L0 (2 to 16). Default 7.
    pub max_levels: usize,
    /// `TIERED_MIN_MERGE_WIDTH`: sorted runs of similar size merged at once (tiered, lazy
    /// leveling). Default 4.
    pub tiered_min_merge_width: usize,
    /// `COMPACTION_MAX_BYTES_PER_SEC`: rate limit of compaction writes; 0 = unlimited (default).
    pub compaction_max_bytes_per_sec: u64,
    /// `SOFT_PENDING_COMPACTION_BYTES`: estimated bytes awaiting compaction at which writers are
    /// slowed down. Default 64 GiB.
    pub soft_pending_compaction_bytes: u64,
    /// `HARD_PENDING_COMPACTION_BYTES`: ... at which writers wait. Default 256 GiB.
    pub hard_pending_compaction_bytes: u64,
    /// The file system under the database: every file operation goes through it. Default the
    /// real one ([`crate::fs::StdFs`]); tests put a fault-injecting or power-loss-recording one
    /// here ([`Options::with_file_system`]). Not an environment variable. Public only so that
    /// `Options { .., ..Options::default() }` works outside the crate.
    #[doc(hidden)]
    #[serde(skip)]
    pub file_system: Arc<dyn FileSystem>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: PathBuf::from("./data"),
            sync_mode: SyncMode::AsyncBatch,
            wal_sync_interval_ms: 100,
            wal_recovery_mode: WalRecoveryMode::Strict,
            max_wal_size: 256 << 20,
            memtable_max_size: 64 << 20,
            max_immutable_memtables: 2,
            block_size: 4096,
            sparse_index_interval: 16,
            bloom_false_positive_rate: 0.01,
            prefix_bloom_length: 0,
            block_cache_size_mb: 64,
            compression: Compression::Lz4,
            max_value_size: 64 << 20,
            paranoid_checks: false,
            compaction_strategy: CompactionStrategy::Leveled,
            compaction_threads: 1,
            l0_compaction_trigger: 4,
            l0_slowdown_writes_trigger: 20,
            l0_stop_writes_trigger: 36,
            level_size_ratio: 10,
            level_base_size: 256 << 20,
            target_file_size: 64 << 20,
            max_levels: 7,
            tiered_min_merge_width: 4,
            compaction_max_bytes_per_sec: 0,
            soft_pending_compaction_bytes: 64 << 30,
            hard_pending_compaction_bytes: 256 << 30,
            file_system: crate::fs::default_fs(),
        }
    }
}

impl Options {
    /// Parses a byte size as the `*_SIZE` variables take it: a plain number of bytes, or a
    /// number with a K/M/G suffix (`64MiB`, `64M`, `64mb` are all 64 * 2^20). Front ends use it
    /// for their own size settings.
    ///
    /// # Errors
    /// A message saying what was expected, for a malformed size or one that overflows `u64`.
    pub fn parse_size(s: &str) -> Result<u64, String> {
        parse_size(s)
    }
}

/// See [`Options::parse_size`].
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| "expected a byte size such as 4096, 64KiB or 64MiB".to_string())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err("expected a byte size such as 4096, 64KiB or 64MiB".into()),
    };
    n.checked_mul(mult)
        .ok_or_else(|| "byte size overflows".to_string())
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// Reads variable `name` through `lookup` and parses it, naming the variable on error.
fn var<T>(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>> {
    match lookup(name) {
        None => Ok(None),
        Some(raw) => parse(&raw)
            .map(Some)
            .map_err(|why| Error::InvalidArgument(format!("{name}={raw:?}: {why}"))),
    }
}

fn number<T: FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse()
        .map_err(|_| "expected a non-negative whole number".to_string())
}

impl Options {
    /// These options with `fs` as the file system under the database (fault injection and
    /// power-loss recording in tests; see [`crate::fs`]).
    #[doc(hidden)]
    #[must_use]
    pub fn with_file_system(mut self, fs: Arc<dyn FileSystem>) -> Options {
        self.file_system = fs;
        self
    }

    /// Options from the process environment, starting from the defaults. A variable that is set
    /// but invalid is an [`Error::InvalidArgument`] naming it and what it accepts.
    pub fn from_env() -> Result<Options> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Like [`Options::from_env`], reading variables through `lookup` (for tests and for callers
    /// that keep configuration elsewhere).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Options> {
        let mut o = Options::default();
        if let Some(v) = var(lookup, "DATA_DIR", |s| Ok(PathBuf::from(s)))? {
            o.data_dir = v;
        }
        if let Some(v) = var(lookup, "WAL_SYNC_MODE", SyncMode::from_str)? {
            o.sync_mode = v;
        }
        if let Some(v) = var(lookup, "WAL_SYNC_INTERVAL_MS", number)? {
            o.wal_sync_interval_ms = v;
        }
        if let Some(v) = var(lookup, "WAL_RECOVERY_MODE", WalRecoveryMode::from_str)? {
            o.wal_recovery_mode = v;
        }
        if let Some(v) = var(lookup, "MAX_WAL_SIZE", parse_size)? {
            o.max_wal_size = v;
        }
        if let Some(v) = var(lookup, "MEMTABLE_MAX_SIZE", parse_size)? {
            o.memtable_max_size = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = var(lookup, "MAX_IMMUTABLE_MEMTABLES", number)? {
            o.max_immutable_memtables = v;
        }
        if let Some(v) = var(lookup, "BLOCK_SIZE", parse_size)? {
            o.block_size = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = var(lookup, "SPARSE_INDEX_INTERVAL", number)? {
            o.sparse_index_interval = v;
        }
        if let Some(v) = var(lookup, "BLOOM_FALSE_POSITIVE_RATE", |s| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| "expected a number in [0, 1)".to_string())
        })? {
            o.bloom_false_positive_rate = v;
        }
        if let Some(v) = var(lookup, "PREFIX_BLOOM_LENGTH", number)? {
            o.prefix_bloom_length = v;
        }
        if let Some(v) = var(lookup, "BLOCK_CACHE_SIZE_MB", number)? {
            o.block_cache_size_mb = v;
        }
        if let Some(v) = var(lookup, "COMPRESSION", Compression::from_str)? {
            o.compression = v;
        }
        if let Some(v) = var(lookup, "MAX_VALUE_SIZE", parse_size)? {
            o.max_value_size = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = var(lookup, "PARANOID_CHECKS", parse_bool)? {
            o.paranoid_checks = v;
        }
        if let Some(v) = var(lookup, "COMPACTION_STRATEGY", CompactionStrategy::from_str)? {
            o.compaction_strategy = v;
        }
        if let Some(v) = var(lookup, "COMPACTION_THREADS", number)? {
            o.compaction_threads = v;
        }
        if let Some(v) = var(lookup, "L0_COMPACTION_TRIGGER", number)? {
            o.l0_compaction_trigger = v;
        }
        if let Some(v) = var(lookup, "L0_SLOWDOWN_WRITES_TRIGGER", number)? {
            o.l0_slowdown_writes_trigger = v;
        }
        if let Some(v) = var(lookup, "L0_STOP_WRITES_TRIGGER", number)? {
            o.l0_stop_writes_trigger = v;
        }
        if let Some(v) = var(lookup, "LEVEL_SIZE_RATIO", number)? {
            o.level_size_ratio = v;
        }
        if let Some(v) = var(lookup, "LEVEL_BASE_SIZE", parse_size)? {
            o.level_base_size = v;
        }
        if let Some(v) = var(lookup, "TARGET_FILE_SIZE", parse_size)? {
            o.target_file_size = v;
        }
        if let Some(v) = var(lookup, "MAX_LEVELS", number)? {
            o.max_levels = v;
        }
        if let Some(v) = var(lookup, "TIERED_MIN_MERGE_WIDTH", number)? {
            o.tiered_min_merge_width = v;
        }
        if let Some(v) = var(lookup, "COMPACTION_MAX_BYTES_PER_SEC", parse_size)? {
            o.compaction_max_bytes_per_sec = v;
        }
        if let Some(v) = var(lookup, "SOFT_PENDING_COMPACTION_BYTES", parse_size)? {
            o.soft_pending_compaction_bytes = v;
        }
        if let Some(v) = var(lookup, "HARD_PENDING_COMPACTION_BYTES", parse_size)? {
            o.hard_pending_compaction_bytes = v;
        }
        o.validate()?;
        Ok(o)
    }

    /// Checks ranges and relations between fields. Called by `Db::open` too.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, why: &str| Err(Error::InvalidArgument(format!("{name}: {why}")));
        if self.memtable_max_size < 1024 {
            return bad("MEMTABLE_MAX_SIZE", "must be at least 1024 bytes");
        }
        if self.block_size < 64 || self.block_size > (256 << 20) {
            return bad("BLOCK_SIZE", "must be between 64 bytes and 256 MiB");
        }
        if self.sparse_index_interval == 0 || self.sparse_index_interval > 1024 {
            return bad("SPARSE_INDEX_INTERVAL", "must be between 1 and 1024");
        }
        if !(0.0..1.0).contains(&self.bloom_false_positive_rate)
            || self.bloom_false_positive_rate.is_nan()
        {
            return bad(
                "BLOOM_FALSE_POSITIVE_RATE",
                "must be in [0, 1) (0 disables bloom filters)",
            );
        }
        if self.prefix_bloom_length > MAX_KEY_SIZE {
            return bad("PREFIX_BLOOM_LENGTH", "must be at most 65536 bytes");
        }
        if self.max_value_size > MAX_VALUE_SIZE_LIMIT {
            return bad("MAX_VALUE_SIZE", "must be at most 1 GiB");
        }
        if self.max_immutable_memtables == 0 {
            return bad("MAX_IMMUTABLE_MEMTABLES", "must be at least 1");
        }
        if self.sync_mode == SyncMode::AsyncBatch && self.wal_sync_interval_ms == 0 {
            return bad(
                "WAL_SYNC_INTERVAL_MS",
                "must be at least 1 with async_batch",
            );
        }
        if self.max_wal_size < 4096 {
            return bad("MAX_WAL_SIZE", "must be at least 4096 bytes");
        }
        if self.compaction_threads == 0 || self.compaction_threads > 64 {
            return bad("COMPACTION_THREADS", "must be between 1 and 64");
        }
        if self.l0_compaction_trigger < 2 {
            return bad("L0_COMPACTION_TRIGGER", "must be at least 2");
        }
        if self.l0_slowdown_writes_trigger < self.l0_compaction_trigger {
            return bad(
                "L0_SLOWDOWN_WRITES_TRIGGER",
                "must be at least L0_COMPACTION_TRIGGER",
            );
        }
        if self.l0_stop_writes_trigger <= self.l0_slowdown_writes_trigger {
            return bad(
                "L0_STOP_WRITES_TRIGGER",
                "must be greater than L0_SLOWDOWN_WRITES_TRIGGER",
            );
        }
        if self.level_size_ratio < 2 || self.level_size_ratio > 1000 {
            return bad("LEVEL_SIZE_RATIO", "must be between 2 and 1000");
        }
        if self.level_base_size < 4096 {
            return bad("LEVEL_BASE_SIZE", "must be at least 4096 bytes");
        }
        if self.target_file_size < 4096 {
            return bad("TARGET_FILE_SIZE", "must be at least 4096 bytes");
        }
        if !(2..=16).contains(&self.max_levels) {
            return bad("MAX_LEVELS", "must be between 2 and 16");
        }
        if self.tiered_min_merge_width < 2 || self.tiered_min_merge_width > 64 {
            return bad("TIERED_MIN_MERGE_WIDTH", "must be between 2 and 64");
        }
        if self.hard_pending_compaction_bytes < self.soft_pending_compaction_bytes {
            return bad(
                "HARD_PENDING_COMPACTION_BYTES",
                "must be at least SOFT_PENDING_COMPACTION_BYTES",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Options> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::from_lookup(&|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_validate() {
        Options::default().validate().unwrap();
        let o = with(&[]).unwrap();
        assert_eq!(o.memtable_max_size, 64 << 20);
        assert_eq!(o.block_size, 4096);
    }

    #[test]
    fn env_values_are_wired() {
        let o = with(&[
            ("MEMTABLE_MAX_SIZE", "1MiB"),
            ("BLOCK_SIZE", "8192"),
            ("SPARSE_INDEX_INTERVAL", "4"),
            ("BLOOM_FALSE_POSITIVE_RATE", "0.05"),
            ("WAL_SYNC_MODE", "always"),
            ("DATA_DIR", "/tmp/x"),
            ("BLOCK_CACHE_SIZE_MB", "8"),
            ("COMPRESSION", "none"),
            ("MAX_VALUE_SIZE", "1k"),
            ("MAX_WAL_SIZE", "1G"),
            ("WAL_SYNC_INTERVAL_MS", "5"),
            ("MAX_IMMUTABLE_MEMTABLES", "3"),
            ("PARANOID_CHECKS", "true"),
            ("COMPACTION_STRATEGY", "lazy_leveling"),
            ("WAL_RECOVERY_MODE", "point_in_time"),
            ("PREFIX_BLOOM_LENGTH", "6"),
            ("COMPACTION_THREADS", "2"),
            ("L0_COMPACTION_TRIGGER", "3"),
            ("L0_SLOWDOWN_WRITES_TRIGGER", "8"),
            ("L0_STOP_WRITES_TRIGGER", "12"),
            ("LEVEL_SIZE_RATIO", "8"),
            ("LEVEL_BASE_SIZE", "1MiB"),
            ("TARGET_FILE_SIZE", "512KiB"),
            ("MAX_LEVELS", "5"),
            ("TIERED_MIN_MERGE_WIDTH", "3"),
            ("COMPACTION_MAX_BYTES_PER_SEC", "10MiB"),
            ("SOFT_PENDING_COMPACTION_BYTES", "1GiB"),
            ("HARD_PENDING_COMPACTION_BYTES", "2GiB"),
        ])
        .unwrap();
        assert_eq!(o.memtable_max_size, 1 << 20);
        assert_eq!(o.block_size, 8192);
        assert_eq!(o.sparse_index_interval, 4);
        assert_eq!(o.bloom_false_positive_rate, 0.05);
        assert_eq!(o.sync_mode, SyncMode::Always);
        assert_eq!(o.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(o.block_cache_size_mb, 8);
        assert_eq!(o.compression, Compression::None);
        assert_eq!(o.max_value_size, 1024);
        assert_eq!(o.max_wal_size, 1 << 30);
        assert_eq!(o.wal_sync_interval_ms, 5);
        assert_eq!(o.max_immutable_memtables, 3);
        assert!(o.paranoid_checks);
        assert_eq!(o.compaction_strategy, CompactionStrategy::LazyLeveling);
        assert_eq!(o.compaction_threads, 2);
        assert_eq!(o.wal_recovery_mode, WalRecoveryMode::PointInTime);
        assert_eq!(o.prefix_bloom_length, 6);
        assert_eq!(o.l0_compaction_trigger, 3);
        assert_eq!(o.l0_slowdown_writes_trigger, 8);
        assert_eq!(o.l0_stop_writes_trigger, 12);
        assert_eq!(o.level_size_ratio, 8);
        assert_eq!(o.level_base_size, 1 << 20);
        assert_eq!(o.target_file_size, 512 << 10);
        assert_eq!(o.max_levels, 5);
        assert_eq!(o.tiered_min_merge_width, 3);
        assert_eq!(o.compaction_max_bytes_per_sec, 10 << 20);
        assert_eq!(o.soft_pending_compaction_bytes, 1 << 30);
        assert_eq!(o.hard_pending_compaction_bytes, 2 << 30);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = with(&[("WAL_SYNC_MODE", "sometimes")]).unwrap_err();
        assert!(e.to_string().contains("WAL_SYNC_MODE"), "{e}");
        assert!(e.to_string().contains("always"), "{e}");
        let e = with(&[("BLOCK_SIZE", "big")]).unwrap_err();
        assert!(e.to_string().contains("BLOCK_SIZE"), "{e}");
        let e = with(&[("BLOOM_FALSE_POSITIVE_RATE", "2")]).unwrap_err();
        assert!(e.to_string().contains("BLOOM_FALSE_POSITIVE_RATE"), "{e}");
        let e = with(&[("MEMTABLE_MAX_SIZE", "10")]).unwrap_err();
        assert!(e.to_string().contains("MEMTABLE_MAX_SIZE"), "{e}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert!(parse_size("12q").is_err());
        assert!(parse_size("").is_err());
    }
}
