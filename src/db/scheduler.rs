//! Background-work scheduling: the signals the write path, the flush thread and the compaction
//! threads report to and wait on, so that none of `write.rs`, `flush.rs` and `compact.rs` calls
//! another.
//!
//! - Flush: writers that froze a memtable signal `flush.work`; the flush thread signals
//!   `flush.done` after each flush (and compaction installs signal it too, since writers stalled on
//!   level 0 wait there).
//! - Compaction: a changed tree sets `dirty` and signals `compaction.cv`; compaction threads and
//!   manual compactions coordinate through [`CompactionInner`].
//! - Backpressure: `pending_compaction_bytes` (refreshed whenever the tree changes) and the level-0
//!   table count decide when [`throttle`] slows writers down or stops them; every stall is counted.
//!
//! Every wait is timed where a missed signal could otherwise leave a thread asleep: a lost wake-up
//! only delays work, never loses it. Poisoning and shutdown wake every waiter ([`Scheduler::wake_all`]).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Shared;
use super::version::picker_views;
use crate::compaction::picker::{self, PickerConfig};
use crate::error::{Error, Result};

/// Flush coordination: the flush thread sleeps on `work`, writers and `flush()` wait on `done`.
#[derive(Default)]
pub(crate) struct FlushSignal {
    pub lock: Mutex<()>,
    pub work: Condvar,
    pub done: Condvar,
}

/// Scheduling state of compactions.
#[derive(Default)]
pub(crate) struct CompactionState {
    pub inner: Mutex<CompactionInner>,
    /// Signalled when a compaction ends or new work may exist.
    pub cv: Condvar,
}

#[derive(Default)]
pub(crate) struct CompactionInner {
    /// Tables being compacted.
    pub busy: HashSet<u64>,
    pub running: usize,
    /// A manual compaction is waiting for or holding exclusive access.
    pub manual: usize,
    /// Per keyspace, per level round-robin cursor (largest key last compacted out of the level).
    pub cursor: std::collections::HashMap<u32, Vec<Vec<u8>>>,
    /// The keyspace a plan was picked for last (the next pick starts after it).
    pub last_tree: u32,
    /// Set when a flush or compaction changed the tree since the last pick.
    pub dirty: bool,
}

/// The signals and backpressure state of background work, one per database.
#[derive(Default)]
pub(crate) struct Scheduler {
    pub flush: FlushSignal,
    pub compaction: CompactionState,
    /// Estimated bytes compaction still has to rewrite; refreshed when the tree changes.
    pub pending_compaction_bytes: AtomicU64,
}

impl Scheduler {
    /// A memtable was frozen (or a writer waits for one to go): wake the flush thread.
    pub fn request_flush(&self) {
        let _g = self.flush.lock.lock();
        self.flush.work.notify_all();
    }

    /// A flush or compaction finished: wake writers and `flush()` callers waiting for progress.
    pub fn flush_progressed(&self) {
        let _g = self.flush.lock.lock();
        self.flush.done.notify_all();
    }

    /// New compaction work may exist: wake the compaction threads.
    pub fn request_compaction(&self) {
        let mut c = self.compaction.inner.lock();
        c.dirty = true;
        drop(c);
        self.compaction.cv.notify_all();
    }

    /// Wakes every thread waiting on background work (poisoning, shutdown), so that none waits for
    /// a thread that has stopped.
    pub fn wake_all(&self) {
        {
            let _g = self.flush.lock.lock();
            self.flush.done.notify_all();
            self.flush.work.notify_all();
        }
        self.compaction.cv.notify_all();
    }

    pub fn pending_compaction_bytes(&self) -> u64 {
        self.pending_compaction_bytes.load(Ordering::Relaxed)
    }
}

/// The tree changed (a flush or a compaction was installed): recompute the backpressure inputs
/// and wake the compaction threads.
pub(crate) fn tree_changed(shared: &Shared) {
    refresh_pressure(shared);
    shared.sched.request_compaction();
}

/// Recomputes the backpressure inputs after a tree changed: each keyspace's pending compaction
/// bytes, and their sum for the database.
pub(crate) fn refresh_pressure(shared: &Shared) {
    let mut total = 0u64;
    for tree in shared.all_trees() {
        let opts = tree.opts();
        let sv = tree.sv.load();
        let cfg = PickerConfig::from(&*opts);
        let levels = picker_views(&sv.version, opts.max_levels);
        let pending = picker::pending_compaction_bytes(&cfg, &levels);
        tree.pending_compaction_bytes
            .store(pending, Ordering::Relaxed);
        total = total.saturating_add(pending);
    }
    shared
        .sched
        .pending_compaction_bytes
        .store(total, Ordering::Relaxed);
}

/// The worst backpressure inputs over every keyspace: the most level-0 tables and the most
/// pending compaction bytes of any one keyspace (each keyspace compacts on its own).
fn worst_pressure(shared: &Shared) -> (usize, u64) {
    let l0 = shared
        .default_tree
        .sv
        .load()
        .version
        .levels
        .first()
        .map_or(0, Vec::len);
    let pending = shared
        .default_tree
        .pending_compaction_bytes
        .load(Ordering::Relaxed);
    let trees = shared.trees.load();
    if trees.by_id.len() <= 1 {
        return (l0, pending);
    }
    trees.iter().fold((l0, pending), |(l0, p), t| {
        let tl0 = t.sv.load().version.levels.first().map_or(0, Vec::len);
        (
            l0.max(tl0),
            p.max(t.pending_compaction_bytes.load(Ordering::Relaxed)),
        )
    })
}

/// Write backpressure, called by writers before they queue. Slows writers down gradually between
/// the soft and hard thresholds and makes them wait at the hard ones.
pub(crate) fn throttle(shared: &Shared, bytes: u64) -> Result<()> {
    let o = &shared.opts;
    let sched = &shared.sched;
    let mut stalled: Option<Instant> = None;
    loop {
        let (l0, pending) = worst_pressure(shared);
        if l0 >= o.l0_stop_writes_trigger || pending >= o.hard_pending_compaction_bytes {
            stalled.get_or_insert_with(Instant::now);
            shared.check_poisoned()?;
            if shared.shutdown.load(Ordering::Acquire) {
                return Err(Error::Closed);
            }
            let mut c = sched.compaction.inner.lock();
            c.dirty = true;
            sched.compaction.cv.notify_all();
            sched
                .compaction
                .cv
                .wait_for(&mut c, Duration::from_millis(10));
            continue;
        }
        if l0 >= o.l0_slowdown_writes_trigger || pending >= o.soft_pending_compaction_bytes {
            // Between the thresholds writes are limited to a rate that falls linearly from
            // 64 MiB/s to 1 MiB/s as L0 approaches the stop trigger.
            let span = (o.l0_stop_writes_trigger - o.l0_slowdown_writes_trigger).max(1) as f64;
            let over = l0.saturating_sub(o.l0_slowdown_writes_trigger) as f64 / span;
            let rate = (64.0 * (1.0 - over)).max(1.0) * 1048576.0;
            let wait = Duration::from_secs_f64(bytes as f64 / rate);
            let t = Instant::now();
            std::thread::sleep(wait);
            record_stall(shared, t.elapsed());
        }
        break;
    }
    if let Some(t) = stalled {
        record_stall(shared, t.elapsed());
    }
    Ok(())
}

/// Counts one write stall of length `d`.
pub(crate) fn record_stall(shared: &Shared, d: Duration) {
    let us = d.as_micros() as u64;
    let c = &shared.counters;
    c.write_stalls.fetch_add(1, Ordering::Relaxed);
    c.write_stall_micros.fetch_add(us, Ordering::Relaxed);
    c.longest_stall_micros.fetch_max(us, Ordering::Relaxed);
}

/// Waits (up to 50 ms) for the flush thread to make progress, waking it first.
///
/// # Errors
/// [`Error::Poisoned`] or [`Error::Closed`] when the flush thread will make no more progress.
pub(crate) fn wait_for_flush(shared: &Shared) -> Result<()> {
    let flush = &shared.sched.flush;
    let mut g = flush.lock.lock();
    shared.check_poisoned()?;
    if shared.shutdown.load(Ordering::Acquire) {
        return Err(Error::Closed);
    }
    flush.work.notify_all();
    flush.done.wait_for(&mut g, Duration::from_millis(50));
    drop(g);
    shared.check_poisoned()
}

/// Stalls a writer while too many frozen memtables wait for the flush thread; counts the stall.
///
/// # Errors
/// [`Error::Poisoned`] or [`Error::Closed`] when the flush thread will make no more progress.
pub(crate) fn stall_for_flush(shared: &Shared) -> Result<()> {
    let start = Instant::now();
    {
        let flush = &shared.sched.flush;
        let mut g = flush.lock.lock();
        let max = shared.opts.max_immutable_memtables;
        while shared
            .all_trees()
            .iter()
            .any(|t| t.sv.load().imms.len() >= max)
            && !shared.poisoned.load(Ordering::Acquire)
            && !shared.shutdown.load(Ordering::Acquire)
        {
            flush.work.notify_all();
            flush.done.wait_for(&mut g, Duration::from_millis(100));
        }
    }
    record_stall(shared, start.elapsed());
    shared.check_poisoned()?;
    if shared.shutdown.load(Ordering::Acquire) {
        return Err(Error::Closed);
    }
    Ok(())
}
