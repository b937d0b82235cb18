//! Engine configuration: [`Options`], with documented defaults, and [`Options::from_env`].
//!
//! Every field can be set from an environment variable of the same name in upper case (listed on
//! each field and in `.env.example`; parsed in `env.rs`). `from_env` uses std only; binaries load
//! `.env` first.

mod env;
mod keyspace;

pub use keyspace::KeyspaceOptions;
#[cfg(any(test, feature = "internal"))]
pub use keyspace::decode_options;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

use crate::compaction_filter::CompactionFilter;
use crate::error::{Error, Result};
use crate::format::{MAX_KEY_SIZE, MAX_VALUE_SIZE_LIMIT};
use crate::fs::FileSystem;
use crate::ttl::Clock;

/// `impl FromStr` for an option enum: case-insensitive names (after trimming) per variant, and
/// an error message listing the accepted spellings.
macro_rules! from_str_by_name {
    ($ty:ident, $expected:literal, { $($($name:literal)|+ => $variant:ident),+ $(,)? }) => {
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($($name)|+ => Ok($ty::$variant),)+
                    _ => Err(concat!("expected one of: ", $expected).into()),
                }
            }
        }
    };
}

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
    /// schedule, only when a [`crate::DurabilityTicket`] is pending (`Db::write_with_ticket`). A process crash can lose the acknowledged writes still in the buffer (what
    /// survives is always a consistent prefix of the commit order); power loss can lose what the
    /// OS had not written back.
    None,
}

from_str_by_name!(SyncMode, "always, async_batch, none", {
    "always" => Always,
    "async_batch" | "async-batch" | "asyncbatch" => AsyncBatch,
    "none" => None,
});

/// What recovery does with a damaged WAL record that is followed by valid ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WalRecoveryMode {
    /// `Db::open` fails with `Error::Corruption` naming the segment and offset. The default:
    /// nothing is ever dropped silently.
    #[default]
    Strict,
    /// In the newest segment only, replay stops at the damaged record and the rest is dropped
    /// with a logged warning; `Db::recovery_report` says what was dropped (file, offset, bytes,
    /// records, reason). Power loss under `async_batch` or `none` (or during an
    /// `always` group commit) can persist a later page of the unsynced tail before an earlier
    /// one; this mode recovers to the last consistent point, losing only writes that were not yet
    /// synced. Older segments were synced when they were closed, so damage there is always an error.
    PointInTime,
}

from_str_by_name!(WalRecoveryMode, "strict, point_in_time", {
    "strict" => Strict,
    "point_in_time" | "point-in-time" => PointInTime,
});

/// Block compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Store blocks raw (they are then served straight from the mapping).
    None,
    /// LZ4 (lz4_flex block format), used for a block only when it saves space.
    Lz4,
}

from_str_by_name!(Compression, "lz4, none", {
    "none" | "off" => None,
    "lz4" => Lz4,
});

/// How an LZ4-compressed data block is read from its table on a block cache miss (`BLOCK_READ`).
/// Raw blocks, indexes and filters are always read in place in the mapping (zero-copy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockRead {
    /// `pread(2)` of the compressed bytes into a pooled buffer, decompressed from there: the
    /// compressed bytes stay in the page cache and out of the process's resident memory, which
    /// holds only the decompressed block cache. The default.
    #[default]
    Pread,
    /// Decompressed straight from the mapping: no syscall per cache miss, but every block ever
    /// read stays resident (file-backed RSS) next to its decompressed copy in the cache.
    Mmap,
}

from_str_by_name!(BlockRead, "pread, mmap", {
    "pread" => Pread,
    "mmap" => Mmap,
});

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

from_str_by_name!(CompactionStrategy, "leveled, tiered, lazy_leveling", {
    "leveled" | "levelled" => Leveled,
    "tiered" | "size_tiered" => Tiered,
    "lazy_leveling" | "lazy-leveling" | "lazy_levelling" => LazyLeveling,
});

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
    /// `BLOCK_CACHE_SIZE_MB`: bytes of decompressed blocks cached, in MiB. Default 64. Ignored
    /// when `memory_budget` is set.
    pub block_cache_size_mb: usize,
    /// `MEMORY_BUDGET`: bytes (suffixes accepted) that memtables, the block cache and the
    /// pinned index and filter memory of open tables share; 0 (the default) sets no budget.
    /// When set, memtables of every keyspace together get half of it (the write buffer): the
    /// largest active memtable is frozen once active memtables pass a quarter, and writers stall
    /// ([`crate::Db::try_write`]: are refused) while memtables hold the whole half and frozen
    /// ones wait for flush. The block cache gets what is left after the write buffer and the
    /// pinned memory, recomputed whenever the tree changes, and `BLOCK_CACHE_SIZE_MB` is
    /// ignored. At least 1 MiB. `stats().memory` reports each part.
    pub memory_budget: u64,
    /// `COMPRESSION` = lz4 | none. Default lz4.
    pub compression: Compression,
    /// `MAX_VALUE_SIZE`: largest value accepted, in bytes. Default 64 MiB; at most 1 GiB.
    pub max_value_size: usize,
    /// `PARANOID_CHECKS`: verify a block's checksum against the file on every read, bypassing
    /// the block cache and the checksum-once record. Default off: a raw block is verified the
    /// first time it is read from its (immutable) mapping, an LZ4 block when it enters the cache.
    pub paranoid_checks: bool,
    /// `BLOCK_READ` = pread | mmap: how an LZ4 data block is read on a block cache miss (see
    /// [`BlockRead`]). Default pread.
    pub block_read: BlockRead,
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
    /// real one (`StdFs`); tests put a fault-injecting or power-loss-recording one
    /// here ([`Options::with_file_system`]). Not an environment variable. Public only so that
    /// `Options { .., ..Options::default() }` works outside the crate.
    #[doc(hidden)]
    #[serde(skip)]
    pub file_system: Arc<dyn FileSystem>,
    /// Decides during compaction whether the newest value of a key is kept, dropped or replaced
    /// (see [`CompactionFilter`]; set with [`Options::with_compaction_filter`]). Not an
    /// environment variable. Default none.
    #[serde(skip)]
    pub compaction_filter: Option<Arc<dyn CompactionFilter>>,
    /// Where every expiry decision reads the time (writing `expires_at`, reads, compaction).
    /// Default the system clock; tests put a manual one here ([`Options::with_clock`]). Not an
    /// environment variable. Public only so that `Options { .., ..Options::default() }` works
    /// outside the crate.
    #[doc(hidden)]
    #[serde(skip)]
    pub clock: Arc<dyn Clock>,
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
            memory_budget: 0,
            compression: Compression::Lz4,
            max_value_size: 64 << 20,
            paranoid_checks: false,
            block_read: BlockRead::Pread,
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
            compaction_filter: None,
            clock: crate::ttl::default_clock(),
        }
    }
}

impl Options {
    /// The write buffer: the bytes all memtables together may hold under `memory_budget`
    /// (half of it); `None` without a budget.
    pub(crate) fn write_buffer_budget(&self) -> Option<u64> {
        (self.memory_budget > 0).then_some(self.memory_budget / 2)
    }

    /// The block cache's capacity when the database opens: `BLOCK_CACHE_SIZE_MB`, or under
    /// `memory_budget` what the write buffer leaves (less once tables pin memory).
    pub(crate) fn initial_cache_bytes(&self) -> usize {
        match self.write_buffer_budget() {
            Some(w) => usize::try_from(self.memory_budget - w).unwrap_or(usize::MAX),
            None => self.block_cache_size_mb.saturating_mul(1 << 20),
        }
    }

    /// These options with `fs` as the file system under the database (fault injection and
    /// power-loss recording in tests; see [`crate::fs`]).
    #[doc(hidden)]
    #[must_use]
    pub fn with_file_system(mut self, fs: Arc<dyn FileSystem>) -> Options {
        self.file_system = fs;
        self
    }

    /// These options with `filter` as the compaction filter (see [`CompactionFilter`]).
    #[must_use]
    pub fn with_compaction_filter(mut self, filter: Arc<dyn CompactionFilter>) -> Options {
        self.compaction_filter = Some(filter);
        self
    }

    /// These options with `clock` as the time source of every expiry decision (a manual clock
    /// in tests, so that they need not sleep).
    #[doc(hidden)]
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Options {
        self.clock = clock;
        self
    }

    /// Checks ranges and relations between fields. Called by `Db::open` too.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first field out of range and what it accepts.
    pub fn validate(&self) -> Result<()> {
        let rules = self.memory_and_table_rules();
        let compaction = self.compaction_rules();
        match rules.iter().chain(&compaction).find(|(broken, _, _)| *broken) {
            Some((_, name, why)) => Err(Error::InvalidArgument(format!("{name}: {why}"))),
            None => Ok(()),
        }
    }

    /// (broken, variable, requirement) for the memtable, WAL, table and value settings.
    fn memory_and_table_rules(&self) -> [(bool, &'static str, &'static str); 10] {
        let fp_rate = self.bloom_false_positive_rate;
        [
            (
                self.memory_budget != 0 && self.memory_budget < (1 << 20),
                "MEMORY_BUDGET",
                "must be 0 (no budget) or at least 1 MiB",
            ),
            (
                self.memtable_max_size < 1024,
                "MEMTABLE_MAX_SIZE",
                "must be at least 1024 bytes",
            ),
            (
                self.block_size < 64 || self.block_size > (256 << 20),
                "BLOCK_SIZE",
                "must be between 64 bytes and 256 MiB",
            ),
            (
                self.sparse_index_interval == 0 || self.sparse_index_interval > 1024,
                "SPARSE_INDEX_INTERVAL",
                "must be between 1 and 1024",
            ),
            (
                !(0.0..1.0).contains(&fp_rate) || fp_rate.is_nan(),
                "BLOOM_FALSE_POSITIVE_RATE",
                "must be in [0, 1) (0 disables bloom filters)",
            ),
            (
                self.prefix_bloom_length > MAX_KEY_SIZE,
                "PREFIX_BLOOM_LENGTH",
                "must be at most 65536 bytes",
            ),
            (
                self.max_value_size > MAX_VALUE_SIZE_LIMIT,
                "MAX_VALUE_SIZE",
                "must be at most 1 GiB",
            ),
            (
                self.max_immutable_memtables == 0,
                "MAX_IMMUTABLE_MEMTABLES",
                "must be at least 1",
            ),
            (
                self.sync_mode == SyncMode::AsyncBatch && self.wal_sync_interval_ms == 0,
                "WAL_SYNC_INTERVAL_MS",
                "must be at least 1 with async_batch",
            ),
            (
                self.max_wal_size < 4096,
                "MAX_WAL_SIZE",
                "must be at least 4096 bytes",
            ),
        ]
    }

    /// (broken, variable, requirement) for the compaction and backpressure settings.
    fn compaction_rules(&self) -> [(bool, &'static str, &'static str); 10] {
        [
            (
                self.compaction_threads == 0 || self.compaction_threads > 64,
                "COMPACTION_THREADS",
                "must be between 1 and 64",
            ),
            (
                self.l0_compaction_trigger < 2,
                "L0_COMPACTION_TRIGGER",
                "must be at least 2",
            ),
            (
                self.l0_slowdown_writes_trigger < self.l0_compaction_trigger,
                "L0_SLOWDOWN_WRITES_TRIGGER",
                "must be at least L0_COMPACTION_TRIGGER",
            ),
            (
                self.l0_stop_writes_trigger <= self.l0_slowdown_writes_trigger,
                "L0_STOP_WRITES_TRIGGER",
                "must be greater than L0_SLOWDOWN_WRITES_TRIGGER",
            ),
            (
                self.level_size_ratio < 2 || self.level_size_ratio > 1000,
                "LEVEL_SIZE_RATIO",
                "must be between 2 and 1000",
            ),
            (
                self.level_base_size < 4096,
                "LEVEL_BASE_SIZE",
                "must be at least 4096 bytes",
            ),
            (
                self.target_file_size < 4096,
                "TARGET_FILE_SIZE",
                "must be at least 4096 bytes",
            ),
            (
                !(2..=16).contains(&self.max_levels),
                "MAX_LEVELS",
                "must be between 2 and 16",
            ),
            (
                self.tiered_min_merge_width < 2 || self.tiered_min_merge_width > 64,
                "TIERED_MIN_MERGE_WIDTH",
                "must be between 2 and 64",
            ),
            (
                self.hard_pending_compaction_bytes < self.soft_pending_compaction_bytes,
                "HARD_PENDING_COMPACTION_BYTES",
                "must be at least SOFT_PENDING_COMPACTION_BYTES",
            ),
        ]
    }
}

