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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Shared;
use super::counters::StallCause;
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
    /// Heap bytes the live tables pin (bloom filters, fences, ...); refreshed with
    /// `pending_compaction_bytes`.
    pub pinned_bytes: AtomicU64,
    /// Set by `Db::pause_background_work`: the flush and compaction threads start no new job.
    pub paused: AtomicBool,
    /// How long the last flush took, in microseconds (0: none yet): `retry_after` of a write
    /// refused because memtables wait for flush.
    pub last_flush_micros: AtomicU64,
    /// How long the last compaction that rewrote tables took, in microseconds (0: none yet):
    /// `retry_after` of a write refused because of level 0 or pending compaction bytes.
    pub last_compaction_micros: AtomicU64,
    /// Between the slowdown and stop thresholds, the earliest time the next non-blocking write
    /// may go (the blocking path sleeps instead; both keep to the same rate).
    pub slowdown_next: Mutex<Option<Instant>>,
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

    /// True while background work is paused (`Db::pause_background_work`).
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Pauses or resumes the flush and compaction threads; resuming wakes them.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
        if !paused {
            self.request_flush();
            self.request_compaction();
        }
    }

    /// Records how long a flush (`compaction` false) or a compaction took.
    pub fn record_job(&self, compaction: bool, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let slot = if compaction {
            &self.last_compaction_micros
        } else {
            &self.last_flush_micros
        };
        slot.store(us, Ordering::Relaxed);
    }
}

/// Bounds of every `retry_after` estimate: never 0 (a caller retrying at once would spin), never
/// more than 10 s (one slow job must not park a caller for long).
const RETRY_MIN: Duration = Duration::from_millis(1);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// Estimates before the first flush or compaction finished: the blocking path's poll intervals.
const FIRST_FLUSH_GUESS: Duration = Duration::from_millis(50);
const FIRST_COMPACTION_GUESS: Duration = Duration::from_millis(100);

fn estimate(last_micros: &AtomicU64, guess: Duration) -> Duration {
    let us = last_micros.load(Ordering::Relaxed);
    let d = if us == 0 {
        guess
    } else {
        Duration::from_micros(us)
    };
    d.clamp(RETRY_MIN, RETRY_MAX)
}

/// [`Error::WouldStall`] for a write that needs a frozen memtable flushed: retry after about as
/// long as the last flush took.
pub(crate) fn would_stall_for_flush(shared: &Shared) -> Error {
    shared.sched.request_flush();
    Error::WouldStall {
        retry_after: estimate(&shared.sched.last_flush_micros, FIRST_FLUSH_GUESS),
    }
}

/// How hard writers are held back now, and why.
enum Pressure {
    None,
    /// Between the slowdown and stop thresholds: writes limited to this many bytes per second.
    Slow(f64, StallCause),
    /// At a stop threshold: writes wait for compaction.
    Stop(StallCause),
}

fn pressure(shared: &Shared) -> Pressure {
    let o = &shared.opts;
    let (l0, pending) = worst_pressure(shared);
    if l0 >= o.l0_stop_writes_trigger {
        return Pressure::Stop(StallCause::L0Stop);
    }
    if pending >= o.hard_pending_compaction_bytes {
        return Pressure::Stop(StallCause::PendingStop);
    }
    if l0 >= o.l0_slowdown_writes_trigger || pending >= o.soft_pending_compaction_bytes {
        // Between the thresholds writes are limited to a rate that falls linearly from
        // 64 MiB/s to 1 MiB/s as L0 approaches the stop trigger.
        let span = (o.l0_stop_writes_trigger - o.l0_slowdown_writes_trigger).max(1) as f64;
        let over = l0.saturating_sub(o.l0_slowdown_writes_trigger) as f64 / span;
        let cause = if l0 >= o.l0_slowdown_writes_trigger {
            StallCause::L0Slowdown
        } else {
            StallCause::PendingSlowdown
        };
        return Pressure::Slow((64.0 * (1.0 - over)).max(1.0) * 1048576.0, cause);
    }
    Pressure::None
}

/// [`throttle`] without waiting: `Ok` when a write of `bytes` may go now, else
/// [`Error::WouldStall`]. At a stop threshold `retry_after` is how long the last compaction
/// took; between the thresholds non-blocking writes share one slot sequence at the slowdown rate
/// (a write of `bytes` takes the next slot and moves it `bytes / rate` later) and `retry_after`
/// is the time until the next slot.
pub(crate) fn try_throttle(shared: &Shared, bytes: u64) -> Result<()> {
    let sched = &shared.sched;
    match pressure(shared) {
        Pressure::None => Ok(()),
        Pressure::Stop(_) => {
            sched.request_compaction();
            Err(Error::WouldStall {
                retry_after: estimate(&sched.last_compaction_micros, FIRST_COMPACTION_GUESS),
            })
        }
        Pressure::Slow(rate, _) => {
            let mut next = sched.slowdown_next.lock();
            take_slot(&mut next, Instant::now(), bytes, rate)
                .map_err(|retry_after| Error::WouldStall { retry_after })
        }
    }
}

/// The slot sequence of [`try_throttle`]: a write of `bytes` at `now` goes when the next slot
/// (`next`) is not in the future, and moves it `bytes / rate` seconds past `now`; otherwise the
/// time until that slot (within the `retry_after` bounds).
fn take_slot(next: &mut Option<Instant>, now: Instant, bytes: u64, rate: f64) -> Result<(), Duration> {
    match *next {
        Some(t) if t > now => Err((t - now).clamp(RETRY_MIN, RETRY_MAX)),
        _ => {
            *next = Some(now + Duration::from_secs_f64(bytes as f64 / rate));
            Ok(())
        }
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
    let mut pinned = 0u64;
    let c = &shared.counters;
    for tree in shared.all_trees() {
        let opts = tree.opts();
        let sv = tree.sv.load();
        let l0 = sv.version.levels.first().map_or(0, Vec::len) as u64;
        c.peak_l0_files.fetch_max(l0, Ordering::Relaxed);
        pinned += sv
            .version
            .levels
            .iter()
            .flatten()
            .map(|t| t.pinned_bytes())
            .sum::<u64>();
        let cfg = PickerConfig::from(&*opts);
        let levels = picker_views(&sv.version, opts.max_levels);
        let pending = picker::pending_compaction_bytes(&cfg, &levels);
        tree.pending_compaction_bytes
            .store(pending, Ordering::Relaxed);
        c.peak_pending_compaction_bytes
            .fetch_max(pending, Ordering::Relaxed);
        total = total.saturating_add(pending);
    }
    shared
        .sched
        .pending_compaction_bytes
        .store(total, Ordering::Relaxed);
    shared.sched.pinned_bytes.store(pinned, Ordering::Relaxed);
    // Under a memory budget the block cache gets what the write buffer and the pinned memory
    // leave.
    let o = &shared.opts;
    if let Some(write_buffer) = o.write_buffer_budget() {
        let left = o.memory_budget - write_buffer;
        shared.cache.set_capacity(left.saturating_sub(pinned));
    }
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
    let sched = &shared.sched;
    let mut stalled: Option<(Instant, StallCause)> = None;
    loop {
        match pressure(shared) {
            Pressure::Stop(cause) => {
                stalled.get_or_insert_with(|| (Instant::now(), cause));
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
            Pressure::Slow(rate, cause) => {
                let wait = Duration::from_secs_f64(bytes as f64 / rate);
                let t = Instant::now();
                std::thread::sleep(wait);
                record_stall(shared, cause, t.elapsed());
            }
            Pressure::None => {}
        }
        break;
    }
    if let Some((t, cause)) = stalled {
        record_stall(shared, cause, t.elapsed());
    }
    Ok(())
}

/// Counts one write stall of length `d`, caused by `cause`.
pub(crate) fn record_stall(shared: &Shared, cause: StallCause, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    shared.counters.count_stall(cause, us);
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

/// Stalls a writer while `blocked` (too many frozen memtables wait for the flush thread, or the
/// memory budget's write buffer is full); counts the stall.
///
/// # Errors
/// [`Error::Poisoned`] or [`Error::Closed`] when the flush thread will make no more progress.
pub(crate) fn stall_for_flush(shared: &Shared, blocked: &dyn Fn() -> bool) -> Result<()> {
    let start = Instant::now();
    {
        let flush = &shared.sched.flush;
        let mut g = flush.lock.lock();
        while blocked()
            && !shared.poisoned.load(Ordering::Acquire)
            && !shared.shutdown.load(Ordering::Acquire)
        {
            flush.work.notify_all();
            flush.done.wait_for(&mut g, Duration::from_millis(100));
        }
    }
    record_stall(shared, StallCause::Memtable, start.elapsed());
    shared.check_poisoned()?;
    if shared.shutdown.load(Ordering::Acquire) {
        return Err(Error::Closed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowdown_slots_admit_at_the_rate_and_say_when() {
        let t0 = Instant::now();
        let mut next = None;
        // 1 MiB at 1 MiB/s: admitted, and the next slot is one second later.
        assert_eq!(take_slot(&mut next, t0, 1 << 20, 1048576.0), Ok(()));
        let half = t0 + Duration::from_millis(500);
        assert_eq!(
            take_slot(&mut next, half, 10, 1048576.0),
            Err(Duration::from_millis(500))
        );
        // At the slot the next write goes, and moves the slot again.
        let at = t0 + Duration::from_secs(1);
        assert_eq!(take_slot(&mut next, at, 1 << 19, 1048576.0), Ok(()));
        assert_eq!(next, Some(at + Duration::from_millis(500)));
        // retry_after stays within its bounds.
        let mut far = Some(t0 + Duration::from_secs(3600));
        assert_eq!(take_slot(&mut far, t0, 1, 1.0), Err(RETRY_MAX));
        let mut near = Some(t0 + Duration::from_nanos(10));
        assert_eq!(take_slot(&mut near, t0, 1, 1.0), Err(RETRY_MIN));
    }

    #[test]
    fn estimates_use_the_last_job_within_bounds() {
        let last = AtomicU64::new(0);
        assert_eq!(estimate(&last, FIRST_FLUSH_GUESS), FIRST_FLUSH_GUESS);
        last.store(2_500, Ordering::Relaxed);
        assert_eq!(estimate(&last, FIRST_FLUSH_GUESS), Duration::from_micros(2_500));
        last.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(estimate(&last, FIRST_FLUSH_GUESS), RETRY_MAX);
    }
}
