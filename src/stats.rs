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
    /// Range tombstones in the active and the frozen memtables.
    pub memtable_range_tombstones: u64,
    /// Frozen memtables waiting to be flushed.
    pub immutable_memtables: u64,
    /// Bytes held by frozen memtables.
    pub immutable_memtable_bytes: u64,
    /// Live WAL segments.
    pub wal_segments: u64,
    /// Bytes in live WAL segments.
    pub wal_bytes: u64,
    /// Number of the WAL segment being appended to.
    pub wal_current_segment: u64,
    /// Per-level SSTable shape.
    pub levels: Vec<LevelStats>,
    /// Live SSTable files.
    pub sst_files: u64,
    /// Bytes in live SSTable files.
    pub sst_bytes: u64,
    /// Range tombstones in live SSTable files.
    pub sst_range_tombstones: u64,
    /// Puts since open (batch entries included).
    pub puts: u64,
    /// Deletes since open (batch entries included).
    pub deletes: u64,
    /// Range deletes (`delete_range`, `delete_prefix`) since open (batch entries included).
    pub range_deletes: u64,
    /// Point lookups since open.
    pub gets: u64,
    /// Point lookups that found a value.
    pub get_hits: u64,
    /// Batches written since open.
    pub batches: u64,
    /// Bytes of keys and values written by users since open.
    pub user_bytes_written: u64,
    /// WAL bytes written since open.
    pub wal_bytes_written: u64,
    /// WAL fsyncs issued since open.
    pub wal_syncs: u64,
    /// Number of writers whose batches were committed by another thread's group commit.
    pub group_commit_followers: u64,
    /// Memtable flushes since open.
    pub flushes: u64,
    /// Bytes written by memtable flushes since open.
    pub flush_bytes_written: u64,
    /// Times a writer waited because too many memtables were waiting to be flushed (or level 0
    /// or pending compaction bytes reached a limit).
    pub write_stalls: u64,
    /// Total time writers spent in those waits.
    pub write_stall_micros: u64,
    /// Longest single write stall.
    pub longest_stall_micros: u64,
    /// The write stalls above by cause, and the peaks of what causes them.
    pub stalls: StallStats,
    /// Point lookups answered "absent" by a bloom filter without reading a block.
    pub bloom_useful: u64,
    /// Tables a prefix scan skipped because their prefix filter ruled the prefix out.
    pub prefix_filter_skips: u64,
    /// Compactions run since open (trivial moves included).
    pub compactions: u64,
    /// Compactions that only moved a table to the next level.
    pub trivial_moves: u64,
    /// Time spent in compactions.
    pub compaction_micros: u64,
    /// Bytes compactions read.
    pub compaction_bytes_read: u64,
    /// Bytes compactions wrote.
    pub compaction_bytes_written: u64,
    /// Versions and tombstones compactions dropped as garbage.
    pub compaction_entries_dropped: u64,
    /// Values written with a time to live that compactions found expired and turned into
    /// tombstones (or removed, at the bottom of the tree).
    pub entries_expired: u64,
    /// Values the compaction filter dropped.
    pub entries_filter_dropped: u64,
    /// Values the compaction filter replaced.
    pub entries_filter_replaced: u64,
    /// Tables compactions deleted whole, without reading them, because a range tombstone visible
    /// to every reader covered all of them.
    pub tables_dropped_by_range_delete: u64,
    /// Estimated bytes compaction must still rewrite to bring levels within their targets.
    pub pending_compaction_bytes: u64,
    /// (Bytes flushed + bytes written by compaction) / bytes written by users, since open.
    pub write_amplification: f64,
    /// Table bytes / bytes of the deepest non-empty level.
    pub space_amplification: f64,
    /// The compaction strategy in force.
    pub compaction_strategy: crate::options::CompactionStrategy,
    /// Level-0 tables that trigger a compaction (`L0_COMPACTION_TRIGGER`).
    pub l0_compaction_trigger: u64,
    /// Level-0 tables at which writes slow down (`L0_SLOWDOWN_WRITES_TRIGGER`).
    pub l0_slowdown_writes_trigger: u64,
    /// Level-0 tables at which writes stop until compaction catches up (`L0_STOP_WRITES_TRIGGER`).
    pub l0_stop_writes_trigger: u64,
    /// Pending compaction bytes at which writes slow down (`SOFT_PENDING_COMPACTION_BYTES`).
    pub soft_pending_compaction_bytes: u64,
    /// Pending compaction bytes at which writes stop (`HARD_PENDING_COMPACTION_BYTES`).
    pub hard_pending_compaction_bytes: u64,
    /// Block cache.
    pub block_cache: CacheStats,
    /// What the memory budget (`MEMORY_BUDGET`) covers, part by part.
    pub memory: MemoryStats,
    /// Every keyspace's own shape (`default` first, then by id). The database-wide fields above
    /// sum over keyspaces (`levels`: files and bytes of that level in every keyspace).
    pub keyspaces: Vec<KeyspaceStats>,
    /// Declared secondary indexes and their build progress.
    pub indexes: Vec<IndexStats>,
    /// `Some(cause)` once the database is read-only after a fatal failure (a failed write or
    /// fsync, a full disk, a panic in a background thread): every write returns
    /// [`crate::Error::Poisoned`] with this cause until the database is reopened; reads go on.
    pub poisoned: Option<String>,
}

/// Write stalls by cause (each also counted in `write_stalls` and `write_stall_micros`), and the
/// peaks since open of the inputs that cause them: what tells a writer held back by flushes from
/// one held back by compaction.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct StallStats {
    /// Waits because a memtable was full while `MAX_IMMUTABLE_MEMTABLES` frozen ones waited for
    /// the flush thread (or the memory budget's write buffer was full).
    pub memtable_waits: u64,
    /// Time writers spent in those waits.
    pub memtable_micros: u64,
    /// Writes slowed down because level 0 held `L0_SLOWDOWN_WRITES_TRIGGER` tables or more.
    pub l0_slowdowns: u64,
    /// Time writers slept in those slowdowns.
    pub l0_slowdown_micros: u64,
    /// Writes stopped because level 0 held `L0_STOP_WRITES_TRIGGER` tables or more.
    pub l0_stops: u64,
    /// Time writers waited in those stops.
    pub l0_stop_micros: u64,
    /// Writes slowed down because pending compaction bytes reached
    /// `SOFT_PENDING_COMPACTION_BYTES`.
    pub pending_slowdowns: u64,
    /// Time writers slept in those slowdowns.
    pub pending_slowdown_micros: u64,
    /// Writes stopped because pending compaction bytes reached `HARD_PENDING_COMPACTION_BYTES`.
    pub pending_stops: u64,
    /// Time writers waited in those stops.
    pub pending_stop_micros: u64,
    /// Most level-0 tables any keyspace had at once since open.
    pub peak_l0_files: u64,
    /// Most frozen memtables any keyspace had waiting for flush at once since open.
    pub peak_immutable_memtables: u64,
    /// Most pending compaction bytes of any keyspace at once since open.
    pub peak_pending_compaction_bytes: u64,
}

/// One secondary index.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct IndexStats {
    /// The index's name.
    pub name: String,
    /// The keyspace it indexes.
    pub keyspace: String,
    /// Whether it covers all existing data (queries work).
    pub ready: bool,
    /// Primary keys indexed so far by the background build in this process.
    pub built_keys: u64,
}

/// The shape of one keyspace's tree.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct KeyspaceStats {
    /// The keyspace's name.
    pub name: String,
    /// Its id (0 for `default`).
    pub id: u32,
    /// Bytes held by its active memtable.
    pub memtable_bytes: u64,
    /// Entries in its active memtable.
    pub memtable_entries: u64,
    /// Its frozen memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Bytes of those.
    pub immutable_memtable_bytes: u64,
    /// Its levels.
    pub levels: Vec<LevelStats>,
    /// Range tombstones in its memtables.
    pub memtable_range_tombstones: u64,
    /// Range tombstones in its SSTables.
    pub sst_range_tombstones: u64,
    /// Its SSTables.
    pub sst_files: u64,
    /// Bytes of its SSTables.
    pub sst_bytes: u64,
    /// Estimated bytes compaction still has to rewrite in it.
    pub pending_compaction_bytes: u64,
    /// Approximate number of live keys (entries minus tombstones).
    pub len_estimate: u64,
}

/// The memory `MEMORY_BUDGET` bounds, part by part (reported also without a budget).
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct MemoryStats {
    /// `MEMORY_BUDGET` (0: none).
    pub budget_bytes: u64,
    /// The memtables' share of the budget (half of it; 0 without a budget).
    pub write_buffer_bytes: u64,
    /// Bytes held by every keyspace's active and frozen memtables.
    pub memtable_bytes: u64,
    /// Bytes of blocks in the block cache.
    pub block_cache_bytes: u64,
    /// The block cache's capacity now (under a budget: what memtables' share and the pinned
    /// memory leave).
    pub block_cache_capacity_bytes: u64,
    /// Heap bytes open tables keep whatever is read: index fences, range tombstones (the bloom
    /// filters, the index and the data blocks are read from the mapping).
    pub index_filter_pinned_bytes: u64,
    /// `memtable_bytes + block_cache_bytes + index_filter_pinned_bytes`.
    pub total_bytes: u64,
}

/// One level of the LSM tree.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LevelStats {
    /// Level number (0 is the newest).
    pub level: u32,
    /// SSTables in the level.
    pub files: u64,
    /// Bytes of those tables.
    pub bytes: u64,
    /// Range tombstones in those tables.
    pub range_tombstones: u64,
    /// Bytes of new tables written into the level since open: by memtable flushes (level 0)
    /// and by compactions whose output level it is (a trivial move writes nothing). Over all
    /// levels they sum to `flush_bytes_written + compaction_bytes_written` (of the keyspaces open
    /// now); divided by `user_bytes_written`, each is that level's share of the write
    /// amplification.
    pub bytes_written: u64,
}

/// Block cache counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheStats {
    /// Configured capacity (`BLOCK_CACHE_SIZE_MB`).
    pub capacity_bytes: u64,
    /// Bytes of blocks held now.
    pub used_bytes: u64,
    /// Blocks held now.
    pub entries: u64,
    /// Block reads served from the cache since open.
    pub hits: u64,
    /// Block reads that missed the cache since open.
    pub misses: u64,
}
