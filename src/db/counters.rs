//! Operation counters and the assembly of [`Stats`] from them and the current tree.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Shared;
use super::tree::Tree;
use crate::stats::{IndexStats, KeyspaceStats, LevelStats, StallStats, Stats};

/// Operation counters, reported by `stats()`.
#[derive(Default)]
pub(crate) struct Counters {
    pub puts: AtomicU64,
    pub deletes: AtomicU64,
    pub gets: AtomicU64,
    pub get_hits: AtomicU64,
    pub batches: AtomicU64,
    pub user_bytes_written: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub group_commit_followers: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_bytes_written: AtomicU64,
    pub write_stalls: AtomicU64,
    pub write_stall_micros: AtomicU64,
    pub longest_stall_micros: AtomicU64,
    pub bloom_useful: AtomicU64,
    pub prefix_filter_skips: AtomicU64,
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
    pub compaction_micros: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub compaction_entries_dropped: AtomicU64,
    pub entries_expired: AtomicU64,
    pub entries_filter_dropped: AtomicU64,
    pub entries_filter_replaced: AtomicU64,
    pub range_deletes: AtomicU64,
    pub tables_dropped_by_range_delete: AtomicU64,
    /// Stalls by cause, indexed by [`StallCause`]: (count, microseconds).
    pub stalls: [(AtomicU64, AtomicU64); 5],
    pub peak_l0_files: AtomicU64,
    pub peak_immutable_memtables: AtomicU64,
    pub peak_pending_compaction_bytes: AtomicU64,
}

/// Why a writer was held back (the index into [`Counters::stalls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StallCause {
    /// Frozen memtables waiting for flush (or the memory budget's write buffer full).
    Memtable = 0,
    L0Slowdown = 1,
    L0Stop = 2,
    PendingSlowdown = 3,
    PendingStop = 4,
}

impl Counters {
    /// The counters' values; every other field of the result is left at its default.
    fn to_stats(&self) -> Stats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            puts: r(&self.puts),
            deletes: r(&self.deletes),
            gets: r(&self.gets),
            get_hits: r(&self.get_hits),
            batches: r(&self.batches),
            user_bytes_written: r(&self.user_bytes_written),
            wal_bytes_written: r(&self.wal_bytes_written),
            wal_syncs: r(&self.wal_syncs),
            group_commit_followers: r(&self.group_commit_followers),
            flushes: r(&self.flushes),
            flush_bytes_written: r(&self.flush_bytes_written),
            write_stalls: r(&self.write_stalls),
            write_stall_micros: r(&self.write_stall_micros),
            bloom_useful: r(&self.bloom_useful),
            prefix_filter_skips: r(&self.prefix_filter_skips),
            longest_stall_micros: r(&self.longest_stall_micros),
            compactions: r(&self.compactions),
            trivial_moves: r(&self.trivial_moves),
            compaction_micros: r(&self.compaction_micros),
            compaction_bytes_read: r(&self.compaction_bytes_read),
            compaction_bytes_written: r(&self.compaction_bytes_written),
            compaction_entries_dropped: r(&self.compaction_entries_dropped),
            entries_expired: r(&self.entries_expired),
            entries_filter_dropped: r(&self.entries_filter_dropped),
            entries_filter_replaced: r(&self.entries_filter_replaced),
            range_deletes: r(&self.range_deletes),
            tables_dropped_by_range_delete: r(&self.tables_dropped_by_range_delete),
            stalls: self.stall_stats(),
            ..Stats::default()
        }
    }

    fn stall_stats(&self) -> StallStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let [mem, l0s, l0x, ps, px] = &self.stalls;
        StallStats {
            memtable_waits: r(&mem.0),
            memtable_micros: r(&mem.1),
            l0_slowdowns: r(&l0s.0),
            l0_slowdown_micros: r(&l0s.1),
            l0_stops: r(&l0x.0),
            l0_stop_micros: r(&l0x.1),
            pending_slowdowns: r(&ps.0),
            pending_slowdown_micros: r(&ps.1),
            pending_stops: r(&px.0),
            pending_stop_micros: r(&px.1),
            peak_l0_files: r(&self.peak_l0_files),
            peak_immutable_memtables: r(&self.peak_immutable_memtables),
            peak_pending_compaction_bytes: r(&self.peak_pending_compaction_bytes),
        }
    }

    /// Counts one stall of `us` microseconds, caused by `cause`.
    pub fn count_stall(&self, cause: StallCause, us: u64) {
        if let Some((n, t)) = self.stalls.get(cause as usize) {
            n.fetch_add(1, Ordering::Relaxed);
            t.fetch_add(us, Ordering::Relaxed);
        }
        self.write_stalls.fetch_add(1, Ordering::Relaxed);
        self.write_stall_micros.fetch_add(us, Ordering::Relaxed);
        self.longest_stall_micros.fetch_max(us, Ordering::Relaxed);
    }
}

impl Counters {
    /// Adds what a compaction's expiry and compaction filter did.
    pub fn count_retention(&self, r: &crate::compaction::retention::RetentionStats) {
        self.entries_expired.fetch_add(r.expired, Ordering::Relaxed);
        self.entries_filter_dropped
            .fetch_add(r.filter_dropped, Ordering::Relaxed);
        self.entries_filter_replaced
            .fetch_add(r.filter_replaced, Ordering::Relaxed);
    }
}

impl Shared {
    pub(super) fn stats(&self) -> Stats {
        let mut s = self.counters.to_stats();
        for tree in self.all_trees() {
            let ks = keyspace_stats(&tree);
            for l in &ks.levels {
                while s.levels.len() <= l.level as usize {
                    let level = s.levels.len() as u32;
                    s.levels.push(LevelStats {
                        level,
                        ..LevelStats::default()
                    });
                }
                if let Some(dst) = s.levels.get_mut(l.level as usize) {
                    dst.files += l.files;
                    dst.bytes += l.bytes;
                    dst.range_tombstones += l.range_tombstones;
                    dst.bytes_written += l.bytes_written;
                }
            }
            s.sst_files += ks.sst_files;
            s.sst_bytes += ks.sst_bytes;
            s.sst_range_tombstones += ks.sst_range_tombstones;
            s.memtable_range_tombstones += ks.memtable_range_tombstones;
            s.memtable_bytes += ks.memtable_bytes;
            s.memtable_entries += ks.memtable_entries;
            s.immutable_memtables += ks.immutable_memtables;
            s.immutable_memtable_bytes += ks.immutable_memtable_bytes;
            s.keyspaces.push(ks);
        }
        self.fill_wal(&mut s);
        for def in self.indexes.load().by_name.values() {
            s.indexes.push(IndexStats {
                name: def.name.clone(),
                keyspace: def.primary.name.clone(),
                ready: def.ready.load(Ordering::Acquire),
                built_keys: def.built_keys.load(Ordering::Relaxed),
            });
        }
        if self.poisoned.load(Ordering::Acquire) {
            s.poisoned = Some(
                self.poison_cause
                    .lock()
                    .clone()
                    .unwrap_or_else(|| "unknown".into()),
            );
        }
        let o = &self.opts;
        s.pending_compaction_bytes = self.sched.pending_compaction_bytes();
        s.compaction_strategy = o.compaction_strategy;
        s.l0_compaction_trigger = o.l0_compaction_trigger as u64;
        s.l0_slowdown_writes_trigger = o.l0_slowdown_writes_trigger as u64;
        s.l0_stop_writes_trigger = o.l0_stop_writes_trigger as u64;
        s.soft_pending_compaction_bytes = o.soft_pending_compaction_bytes;
        s.hard_pending_compaction_bytes = o.hard_pending_compaction_bytes;
        if s.user_bytes_written > 0 {
            s.write_amplification = (s.flush_bytes_written + s.compaction_bytes_written) as f64
                / s.user_bytes_written as f64;
        }
        // Space amplification: all table bytes over the bytes of the deepest non-empty level, the
        // usual estimate for leveled trees (live data is mostly at the bottom).
        if let Some(bottom) = s.levels.iter().rev().find(|l| l.bytes > 0) {
            s.space_amplification = s.sst_bytes as f64 / bottom.bytes as f64;
        }
        s.block_cache = self.cache.stats();
        s.memory = self.memory_stats(&s);
        s
    }

    /// The parts `MEMORY_BUDGET` bounds, from the shape in `s`.
    fn memory_stats(&self, s: &Stats) -> crate::stats::MemoryStats {
        let memtable_bytes = s.memtable_bytes + s.immutable_memtable_bytes;
        let pinned = self.sched.pinned_bytes.load(Ordering::Relaxed);
        crate::stats::MemoryStats {
            budget_bytes: self.opts.memory_budget,
            write_buffer_bytes: self.opts.write_buffer_budget().unwrap_or(0),
            memtable_bytes,
            block_cache_bytes: s.block_cache.used_bytes,
            block_cache_capacity_bytes: s.block_cache.capacity_bytes,
            index_filter_pinned_bytes: pinned,
            total_bytes: memtable_bytes + s.block_cache.used_bytes + pinned,
        }
    }

    /// The WAL as it is now.
    fn fill_wal(&self, s: &mut Stats) {
        // A read-only handle writes no WAL.
        let (wal_current_segment, wal_current_bytes) = match self.wal.get() {
            Some(w) => {
                let w = w.lock();
                (w.writer.number(), w.writer.size())
            }
            None => (0, 0),
        };
        let old = self.old_wal_segments.lock();
        s.last_seqno = self.visible_seqno.load(Ordering::Acquire);
        s.wal_segments = u64::from(self.wal.get().is_some()) + old.len() as u64;
        s.wal_bytes = wal_current_bytes + old.iter().map(|x| x.1).sum::<u64>();
        s.wal_current_segment = wal_current_segment;
    }
}

/// One keyspace's shape.
fn keyspace_stats(tree: &Tree) -> KeyspaceStats {
    let sv = tree.sv.load();
    let mut ks = KeyspaceStats {
        name: tree.name.clone(),
        id: tree.id,
        memtable_bytes: sv.mem.approximate_size() as u64,
        memtable_entries: sv.mem.len(),
        memtable_range_tombstones: std::iter::once(&sv.mem)
            .chain(&sv.imms)
            .map(|m| m.range_tombstone_count())
            .sum(),
        immutable_memtables: sv.imms.len() as u64,
        immutable_memtable_bytes: sv.imms.iter().map(|m| m.approximate_size() as u64).sum(),
        pending_compaction_bytes: tree.pending_compaction_bytes.load(Ordering::Relaxed),
        len_estimate: super::read::len_estimate(tree),
        ..KeyspaceStats::default()
    };
    let written = |level: usize| {
        tree.level_bytes_written
            .get(level)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    };
    // Every level that has tables or had bytes written into it.
    let counted = (0..tree.level_bytes_written.len())
        .rev()
        .find(|&l| written(l) > 0)
        .map_or(0, |l| l + 1);
    let empty = Vec::new();
    for i in 0..sv.version.levels.len().max(counted) {
        let l = sv.version.levels.get(i).unwrap_or(&empty);
        let bytes: u64 = l.iter().map(|t| t.file_size()).sum();
        let range_tombstones: u64 = l.iter().map(|t| t.meta().range_tombstones).sum();
        ks.sst_files += l.len() as u64;
        ks.sst_bytes += bytes;
        ks.sst_range_tombstones += range_tombstones;
        ks.levels.push(LevelStats {
            level: i as u32,
            files: l.len() as u64,
            bytes,
            range_tombstones,
            bytes_written: written(i),
        });
    }
    ks
}

#[cfg(test)]
mod tests {
    use crate::{Db, Options};

    /// Every byte a flush or a compaction writes is counted in the level it went to: the levels
    /// sum to the flush and compaction totals, level 0 holds exactly the flushes, and a full
    /// compaction writes into a level below 0.
    #[test]
    fn bytes_written_per_level_sum_to_flushes_and_compactions() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            memtable_max_size: 16 << 10,
            level_base_size: 16 << 10,
            target_file_size: 8 << 10,
            ..Options::default()
        };
        let db = Db::open(dir.path(), opts).unwrap();
        for i in 0..4000u32 {
            db.put(format!("key{:08}", i.wrapping_mul(2_654_435_761) % 100_000), [7u8; 40])
                .unwrap();
        }
        db.flush().unwrap();
        db.compact().unwrap();
        let s = db.stats();
        let per_level: u64 = s.levels.iter().map(|l| l.bytes_written).sum();
        assert_eq!(per_level, s.flush_bytes_written + s.compaction_bytes_written);
        assert!(s.flush_bytes_written > 0 && s.compaction_bytes_written > 0, "{s:?}");
        assert_eq!(s.levels[0].bytes_written, s.flush_bytes_written);
        assert!(s.levels[1..].iter().any(|l| l.bytes_written > 0), "{s:?}");
        // The database-wide levels are the sum of the keyspaces' (one here).
        let ks: u64 = s.keyspaces[0].levels.iter().map(|l| l.bytes_written).sum();
        assert_eq!(ks, per_level);
    }
}
