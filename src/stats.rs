//! Engine statistics, returned by [`crate::Db::stats`].

use serde::Serialize;

/// A point-in-time snapshot of the engine's counters and shape. Serializable for `/stats` and the
/// REPL's `stats` command.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Last sequence number assigned.
    pub last_seqno: u64,
    /// Bytes held by the active memtable.
    pub memtable_bytes: u64,
    /// Entries in the active memtable.
    pub memtable_entries: u64,
    /// Frozen memtables waiting to be flushed.
    pub immutable_memtables: u64,
    /// Bytes held by frozen memtables.
    pub immutable_memtable_bytes: u64,
    /// Live WAL segments and their bytes.
    pub wal_segments: u64,
    pub wal_bytes: u64,
    /// Number of the WAL segment being appended to.
    pub wal_current_segment: u64,
    /// Per-level SSTable shape.
    pub levels: Vec<LevelStats>,
    /// Total SSTable files and bytes.
    pub sst_files: u64,
    pub sst_bytes: u64,
    /// Operation counters since open.
    pub puts: u64,
    pub deletes: u64,
    pub gets: u64,
    pub get_hits: u64,
    pub batches: u64,
    /// Bytes of keys and values written by users since open.
    pub user_bytes_written: u64,
    /// WAL bytes written and fsyncs issued since open.
    pub wal_bytes_written: u64,
    pub wal_syncs: u64,
    /// Number of writers whose batches were committed by another thread's group commit.
    pub group_commit_followers: u64,
    /// Memtable flushes since open and bytes they wrote.
    pub flushes: u64,
    pub flush_bytes_written: u64,
    /// Times a writer waited because too many memtables were waiting to be flushed, and the total
    /// time spent waiting.
    pub write_stalls: u64,
    pub write_stall_micros: u64,
    /// Longest single write stall.
    pub longest_stall_micros: u64,
    /// Point lookups answered "absent" by a bloom filter without reading a block.
    pub bloom_useful: u64,
    /// Tables a prefix scan skipped because their prefix filter ruled the prefix out.
    pub prefix_filter_skips: u64,
    /// Compactions run since open (trivial moves included), and those that only moved a table.
    pub compactions: u64,
    pub trivial_moves: u64,
    /// Time spent in compactions, and bytes they read and wrote.
    pub compaction_micros: u64,
    pub compaction_bytes_read: u64,
    pub compaction_bytes_written: u64,
    /// Versions and tombstones compactions dropped as garbage.
    pub compaction_entries_dropped: u64,
    /// Estimated bytes compaction must still rewrite to bring levels within their targets.
    pub pending_compaction_bytes: u64,
    /// (Bytes flushed + bytes written by compaction) / bytes written by users, since open.
    pub write_amplification: f64,
    /// Table bytes / bytes of the deepest non-empty level.
    pub space_amplification: f64,
    /// Compaction configuration and backpressure thresholds in force.
    pub compaction_strategy: crate::options::CompactionStrategy,
    pub l0_compaction_trigger: u64,
    pub l0_slowdown_writes_trigger: u64,
    pub l0_stop_writes_trigger: u64,
    pub soft_pending_compaction_bytes: u64,
    pub hard_pending_compaction_bytes: u64,
    /// Block cache.
    pub block_cache: CacheStats,
}

/// One level of the LSM tree.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LevelStats {
    pub level: u32,
    pub files: u64,
    pub bytes: u64,
}

/// Block cache counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheStats {
    pub capacity_bytes: u64,
    pub used_bytes: u64,
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
}
