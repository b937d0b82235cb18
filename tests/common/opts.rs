//! `Options` for tests: no fsync, and tiny sizes so that flushes, multi-block tables and
//! compactions happen within a few operations. Tests adjust them with struct update syntax:
//! `Options { block_size: 512, ..opts::tiny() }`. [`with_manual_clock`] gives a database a clock
//! that tests move by hand.

use std::sync::Arc;

use lsmkv::ttl::ManualClock;
use lsmkv::{CompactionStrategy, Options, SyncMode};

/// A fixed, recent start time for manual clocks (2026-12-06T00:00:00Z), in milliseconds.
pub const CLOCK_START_MS: u64 = 1_796_515_200_000;

/// `o` with a [`ManualClock`] at [`CLOCK_START_MS`] as the database clock, and that clock: tests
/// of expiry move time with it instead of sleeping.
pub fn with_manual_clock(o: Options) -> (Options, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(CLOCK_START_MS));
    (o.with_clock(clock.clone()), clock)
}

/// The defaults without fsync (`SyncMode::None`).
pub fn no_sync() -> Options {
    Options {
        sync_mode: SyncMode::None,
        ..Options::default()
    }
}

/// `always` sync, a 1 MiB memtable and high level-0 triggers: nothing runs in the background
/// unless the workload asks (flushes and compactions run when called), so the same workload
/// makes the same file operations in the same order every time (the I/O-error loop and its
/// campaign fail the N-th one).
pub fn deterministic_always() -> Options {
    Options {
        sync_mode: SyncMode::Always,
        memtable_max_size: 1 << 20,
        l0_compaction_trigger: 8,
        l0_slowdown_writes_trigger: 16,
        l0_stop_writes_trigger: 24,
        block_cache_size_mb: 1,
        ..Options::default()
    }
}

/// A tiny tree: a 4 KiB memtable (automatic flushes every few writes), 256-byte blocks with an
/// index entry every 4 keys, no fsync.
pub fn tiny() -> Options {
    Options {
        memtable_max_size: 4096,
        block_size: 256,
        sparse_index_interval: 4,
        ..no_sync()
    }
}

/// A small tree: a `memtable_max_size` memtable, 512-byte blocks, a 1 MiB block cache, no fsync.
pub fn small(memtable_max_size: usize) -> Options {
    Options {
        memtable_max_size,
        block_size: 512,
        block_cache_size_mb: 1,
        ..no_sync()
    }
}

/// Tiny memtables, tables and levels under `strategy`: flushes and compactions (two threads) run
/// all the time; L0 stalls writes at 6 tables and stops them at 10.
pub fn compaction_heavy(strategy: CompactionStrategy) -> Options {
    Options {
        memtable_max_size: 8 << 10,
        block_size: 512,
        target_file_size: 8 << 10,
        level_base_size: 32 << 10,
        l0_compaction_trigger: 2,
        l0_slowdown_writes_trigger: 6,
        l0_stop_writes_trigger: 10,
        max_levels: 4,
        tiered_min_merge_width: 2,
        level_size_ratio: 4,
        compaction_threads: 2,
        compaction_strategy: strategy,
        ..no_sync()
    }
}
