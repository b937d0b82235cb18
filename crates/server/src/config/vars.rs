//! The engine's variables as a table: name, flag, `--help` group, default and meaning of each,
//! and the names of `--help`'s five groups.

/// `--help` groups of the engine's variables.
pub(super) const ENGINE: &str = "LSM engine";
pub(super) const COMPACTION: &str = "Compaction";
/// `--help` groups of the server's own variables ("Advanced tuning" holds one of each kind).
pub(super) const ADVANCED: &str = "Advanced tuning";
pub(super) const HTTP: &str = "Server HTTP";
pub(super) const MONITORING: &str = "Monitoring";
/// `--help` group of the replicated mode's variables.
pub(super) const REPLICATION: &str = "Replication";

/// One engine variable: name (also the clap id), flag, `--help` group, default, meaning.
pub struct EngineVar {
    pub name: &'static str,
    pub flag: &'static str,
    pub group: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

macro_rules! ev {
    ($name:literal, $flag:literal, $group:expr, $default:literal, $help:literal) => {
        EngineVar {
            name: $name,
            flag: $flag,
            group: $group,
            default: $default,
            help: $help,
        }
    };
}

/// Every variable that [`lsmkv::Options::from_lookup`] reads, as listed in `.env.example`.
pub const ENGINE_VARS: &[EngineVar] = &[
    ev!(
        "DATA_DIR",
        "data-dir",
        ENGINE,
        "./data",
        "Directory of the database"
    ),
    ev!(
        "MEMTABLE_MAX_SIZE",
        "memtable-max-size",
        ENGINE,
        "64MiB",
        "Memtable bytes before it is flushed to an SSTable"
    ),
    ev!(
        "BLOCK_SIZE",
        "block-size",
        ENGINE,
        "4096",
        "Target uncompressed size of an SSTable data block"
    ),
    ev!(
        "PREFIX_BLOOM_LENGTH",
        "prefix-bloom-length",
        ENGINE,
        "0",
        "Bloom filters also hold each key's first N bytes, for prefix scans (0 = off)"
    ),
    ev!(
        "BLOCK_CACHE_SIZE_MB",
        "block-cache-size-mb",
        ENGINE,
        "64",
        "Block cache capacity in MiB"
    ),
    ev!(
        "MEMORY_BUDGET",
        "memory-budget",
        ENGINE,
        "0",
        "Bytes shared by memtables, block cache and pinned table memory (0 = no budget)"
    ),
    ev!(
        "SPARSE_INDEX_INTERVAL",
        "sparse-index-interval",
        ENGINE,
        "16",
        "Every Nth block entry is a restart point (1-1024)"
    ),
    ev!(
        "BLOOM_FALSE_POSITIVE_RATE",
        "bloom-false-positive-rate",
        ENGINE,
        "0.01",
        "Bloom filter false-positive rate in [0, 1); 0 disables"
    ),
    ev!(
        "WAL_SYNC_MODE",
        "wal-sync-mode",
        ENGINE,
        "async_batch",
        "always | async_batch | none"
    ),
    ev!(
        "WAL_SYNC_INTERVAL_MS",
        "wal-sync-interval-ms",
        ENGINE,
        "100",
        "How often async_batch fsyncs the WAL"
    ),
    ev!(
        "WAL_RECOVERY_MODE",
        "wal-recovery-mode",
        ENGINE,
        "strict",
        "strict | point_in_time: what recovery does with damage in the WAL"
    ),
    ev!(
        "MAX_WAL_SIZE",
        "max-wal-size",
        ENGINE,
        "256MiB",
        "WAL bytes after which a flush is forced"
    ),
    ev!(
        "MAX_IMMUTABLE_MEMTABLES",
        "max-immutable-memtables",
        ENGINE,
        "2",
        "Frozen memtables before writers stall"
    ),
    ev!(
        "COMPRESSION",
        "compression",
        ENGINE,
        "lz4",
        "Block compression: lz4 | none"
    ),
    ev!(
        "MAX_VALUE_SIZE",
        "max-value-size",
        ENGINE,
        "64MiB",
        "Largest value accepted (at most 1GiB)"
    ),
    ev!(
        "COMPACTION_STRATEGY",
        "compaction-strategy",
        COMPACTION,
        "leveled",
        "leveled | tiered | lazy_leveling"
    ),
    ev!(
        "COMPACTION_THREADS",
        "compaction-threads",
        COMPACTION,
        "1",
        "Background compaction threads (1-64)"
    ),
    ev!(
        "L0_COMPACTION_TRIGGER",
        "l0-compaction-trigger",
        COMPACTION,
        "4",
        "Level-0 files that start a compaction"
    ),
    ev!(
        "L0_SLOWDOWN_WRITES_TRIGGER",
        "l0-slowdown-writes-trigger",
        COMPACTION,
        "20",
        "Level-0 files at which writes slow down"
    ),
    ev!(
        "L0_STOP_WRITES_TRIGGER",
        "l0-stop-writes-trigger",
        COMPACTION,
        "36",
        "Level-0 files at which writes wait"
    ),
    ev!(
        "LEVEL_SIZE_RATIO",
        "level-size-ratio",
        COMPACTION,
        "10",
        "Size ratio between adjacent levels (2-1000)"
    ),
    ev!(
        "LEVEL_BASE_SIZE",
        "level-base-size",
        COMPACTION,
        "256MiB",
        "Target size of the first level below L0"
    ),
    ev!(
        "TARGET_FILE_SIZE",
        "target-file-size",
        COMPACTION,
        "64MiB",
        "Compaction output file size"
    ),
    ev!(
        "MAX_LEVELS",
        "max-levels",
        COMPACTION,
        "7",
        "Number of levels including L0 (2-16)"
    ),
    ev!(
        "TIERED_MIN_MERGE_WIDTH",
        "tiered-min-merge-width",
        COMPACTION,
        "4",
        "Sorted runs merged at once (tiered, lazy leveling)"
    ),
    ev!(
        "COMPACTION_MAX_BYTES_PER_SEC",
        "compaction-max-bytes-per-sec",
        COMPACTION,
        "0",
        "Compaction write rate limit; 0 = unlimited"
    ),
    ev!(
        "SOFT_PENDING_COMPACTION_BYTES",
        "soft-pending-compaction-bytes",
        COMPACTION,
        "64GiB",
        "Pending compaction bytes that slow writes"
    ),
    ev!(
        "HARD_PENDING_COMPACTION_BYTES",
        "hard-pending-compaction-bytes",
        COMPACTION,
        "256GiB",
        "Pending compaction bytes that stop writes"
    ),
    ev!(
        "PARANOID_CHECKS",
        "paranoid-checks",
        ADVANCED,
        "false",
        "Verify block checksums on every read, cached blocks too"
    ),
    ev!(
        "BLOCK_READ",
        "block-read",
        ADVANCED,
        "pread",
        "How an LZ4 block is read on a cache miss: pread (keeps it out of RSS) | mmap"
    ),
];
