//! Compaction scheduling and installation, write backpressure, and `Db::compact` /
//! `Db::compact_range`.
//!
//! Background threads pick work with [`crate::compaction::picker`] over the current version,
//! marking input tables busy so concurrent compactions never share a table. A finished job is
//! installed by one manifest edit (inputs deleted, outputs added: atomic across a crash), then a new
//! `SuperVersion`; the inputs are marked obsolete and unlinked when their last reader lets go.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Shared;
use super::scheduler;
use super::tree::Tree;
use super::version::{
    SuperVersion, Version, file_meta, largest_user_key, picker_views, smallest_user_key,
};
use crate::compaction::job::{self, JobContext};
use crate::compaction::picker::{self, PickerConfig, Plan};
use crate::compaction::range_dels;
use crate::error::{Error, Result};
use crate::iter::Bounds;
use crate::manifest::{FileMeta, VersionEdit};
use crate::sstable::Table;

/// Body of a background compaction thread.
pub(crate) fn compaction_thread(shared: Arc<Shared>) {
    while let Some((tree, plan, inputs)) = next_plan(&shared) {
        let result = execute(&shared, &tree, &plan, &inputs);
        release_plan(&shared, &tree, &plan, &inputs, result.is_ok());
        match result {
            Ok(()) => {}
            // Cancelled by close: nothing was installed.
            Err(Error::Closed) => return,
            // The keyspace was dropped meanwhile: the outputs were discarded.
            Err(Error::KeyspaceNotFound { .. }) => {}
            Err(e) => {
                shared.poison(&e);
                return;
            }
        }
    }
}

/// Waits for compaction work in any keyspace and claims it: marks its input tables busy and
/// counts it running. Keyspaces are tried in turn, starting after the one picked last, so a busy
/// keyspace does not starve the others. `None` once the database shuts down or is poisoned.
fn next_plan(shared: &Shared) -> Option<(Arc<Tree>, Plan, Vec<Arc<Table>>)> {
    let compaction = &shared.sched.compaction;
    let mut c = compaction.inner.lock();
    loop {
        if shared.shutdown.load(Ordering::Acquire) || shared.poisoned.load(Ordering::Acquire) {
            return None;
        }
        if c.manual == 0 && !shared.sched.is_paused() {
            let trees = shared.all_trees();
            let start = trees.iter().position(|t| t.id > c.last_tree).unwrap_or(0);
            let order = trees.iter().skip(start).chain(trees.iter().take(start));
            for tree in order {
                let opts = tree.opts();
                let cfg = PickerConfig::from(&*opts);
                let sv = tree.sv.load();
                let levels = picker_views(&sv.version, opts.max_levels);
                let cursor = c.cursor.entry(tree.id).or_default();
                if cursor.len() < levels.len() {
                    cursor.resize(levels.len(), Vec::new());
                }
                let cursor = cursor.clone();
                if let Some(mut plan) = picker::pick(&cfg, &levels, &c.busy, &cursor)
                    && let Some(mut inputs) = resolve(&sv.version, &plan)
                {
                    let (levels, snap) = (&sv.version.levels, smallest_snapshot(shared));
                    range_dels::add_covered_tables(&mut plan, &mut inputs, levels, &c.busy, snap);
                    for (_, n) in &plan.inputs {
                        c.busy.insert(*n);
                    }
                    c.running += 1;
                    c.dirty = false;
                    c.last_tree = tree.id;
                    return Some((tree.clone(), plan, inputs));
                }
            }
        }
        c.dirty = false;
        // Timed wait: a missed signal only delays work, never loses it.
        compaction.cv.wait_for(&mut c, Duration::from_millis(200));
    }
}

/// Releases a claimed plan's inputs; after success, moves the level's round-robin cursor past
/// them. Wakes the other compaction threads and waiting writers.
fn release_plan(
    shared: &Shared,
    tree: &Tree,
    plan: &Plan,
    inputs: &[Arc<Table>],
    succeeded: bool,
) {
    {
        let mut c = shared.sched.compaction.inner.lock();
        for (_, n) in &plan.inputs {
            c.busy.remove(n);
        }
        c.running -= 1;
        if succeeded
            && let Some((l, _)) = plan.inputs.first()
            && *l > 0
            && let Some(last) = inputs.iter().map(|t| largest_user_key(t)).max()
            && let Some(cur) = c.cursor.entry(tree.id).or_default().get_mut(*l)
        {
            *cur = last.to_vec();
        }
    }
    shared.sched.compaction.cv.notify_all();
}

/// The tables a plan names, or `None` if the version no longer has them all.
fn resolve(version: &Version, plan: &Plan) -> Option<Vec<Arc<Table>>> {
    plan.inputs
        .iter()
        .map(|(l, n)| {
            version
                .levels
                .get(*l)?
                .iter()
                .find(|t| t.file_number() == *n)
                .cloned()
        })
        .collect()
}

/// The oldest seqno some reader may still read at.
fn smallest_snapshot(shared: &Shared) -> u64 {
    let visible = shared.visible_seqno.load(Ordering::Acquire);
    shared
        .snapshots
        .oldest()
        .map_or(visible, |s| s.min(visible))
}

/// Runs and installs one plan of `tree`.
fn execute(shared: &Shared, tree: &Tree, plan: &Plan, inputs: &[Arc<Table>]) -> Result<()> {
    let start = Instant::now();
    let out_level = u32::try_from(plan.output_level)
        .map_err(|_| Error::InvalidArgument("output level out of range".into()))?;
    let outputs = if plan.trivial_move {
        inputs
            .iter()
            .map(|t| (file_meta(t, out_level, tree.id), t.clone()))
            .collect()
    } else {
        merge_inputs(shared, tree, plan, inputs, out_level)?
    };
    log_edit(shared, tree, plan, &outputs)?;
    install(shared, tree, plan, &outputs);
    if !plan.trivial_move {
        for t in inputs {
            t.mark_obsolete();
        }
    }
    let c = &shared.counters;
    c.compactions.fetch_add(1, Ordering::Relaxed);
    c.compaction_micros
        .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    if plan.trivial_move {
        c.trivial_moves.fetch_add(1, Ordering::Relaxed);
    } else {
        shared.sched.record_job(true, start.elapsed());
    }
    tracing::debug!(
        reason = plan.reason,
        inputs = plan.inputs.len(),
        outputs = outputs.len(),
        level = plan.output_level,
        "compaction done"
    );
    Ok(())
}

/// Runs the compaction job of a plan that is not a trivial move: its new tables.
fn merge_inputs(
    shared: &Shared,
    tree: &Tree,
    plan: &Plan,
    inputs: &[Arc<Table>],
    out_level: u32,
) -> Result<Vec<(FileMeta, Arc<Table>)>> {
    let new_file_number = || shared.manifest.lock().new_file_number();
    let opts = tree.opts();
    let ctx = JobContext {
        dir: &shared.dir,
        opts: &opts,
        cache: &shared.cache,
        limiter: &shared.compaction_limiter,
        new_file_number: &new_file_number,
        cancel: &shared.shutdown,
    };
    let out = job::run(
        &ctx,
        inputs,
        out_level,
        plan.bottommost,
        smallest_snapshot(shared),
    )?;
    let c = &shared.counters;
    let mut out = out;
    for (meta, _) in &mut out.tables {
        meta.keyspace = tree.id;
    }
    c.compaction_bytes_read
        .fetch_add(out.bytes_read, Ordering::Relaxed);
    c.compaction_bytes_written
        .fetch_add(out.bytes_written, Ordering::Relaxed);
    tree.count_written(out_level as usize, out.bytes_written);
    c.compaction_entries_dropped
        .fetch_add(out.entries_dropped, Ordering::Relaxed);
    c.count_retention(&out.retention);
    c.tables_dropped_by_range_delete
        .fetch_add(out.tables_dropped, Ordering::Relaxed);
    Ok(out.tables)
}

/// Records the plan's inputs as deleted and `outputs` as added in one manifest edit. A keyspace
/// dropped meanwhile (checked under the manifest lock, which the drop holds while it sets the
/// flag) gets no edit: [`Error::KeyspaceNotFound`], and the outputs are discarded.
fn log_edit(
    shared: &Shared,
    tree: &Tree,
    plan: &Plan,
    outputs: &[(FileMeta, Arc<Table>)],
) -> Result<()> {
    let mut edit = VersionEdit::default();
    for (l, n) in &plan.inputs {
        edit.deleted.push((*l as u32, *n));
    }
    for (meta, _) in outputs {
        edit.added.push(meta.clone());
    }
    let logged = {
        let mut m = shared.manifest.lock();
        if tree.is_dropped() {
            Err(Error::KeyspaceNotFound {
                name: tree.name.clone(),
            })
        } else {
            m.log_edit(edit)
        }
    };
    if let Err(e) = &logged {
        // After an I/O error the edit may be durable anyway (written, then the fsync failed), so
        // its outputs stay; a reopen deletes them if the manifest does not name them.
        if !plan.trivial_move && !matches!(e, Error::Io { .. }) {
            for (_, t) in outputs {
                t.mark_obsolete();
            }
        }
    }
    logged
}

/// Swaps the inputs of `plan` for `outputs` in a new `SuperVersion` of `tree`.
fn install(shared: &Shared, tree: &Tree, plan: &Plan, outputs: &[(FileMeta, Arc<Table>)]) {
    {
        let _g = tree.sv_lock.lock();
        let cur = tree.sv.load();
        let gone: HashSet<u64> = plan.inputs.iter().map(|(_, n)| *n).collect();
        let mut version = Version::clone(&cur.version);
        for l in version.levels.iter_mut() {
            l.retain(|t| !gone.contains(&t.file_number()));
        }
        while version.levels.len() <= plan.output_level {
            version.levels.push(Vec::new());
        }
        if let Some(level) = version.levels.get_mut(plan.output_level) {
            level.extend(outputs.iter().map(|(_, t)| t.clone()));
            level.sort_by(|a, b| smallest_user_key(a).cmp(smallest_user_key(b)));
        }
        tree.sv.store(Arc::new(SuperVersion {
            mem: cur.mem.clone(),
            imms: cur.imms.clone(),
            version: Arc::new(version),
        }));
    }
    scheduler::tree_changed(shared);
    shared.sched.flush_progressed();
}

/// Takes exclusive access from the background compactions.
struct ManualGuard<'a> {
    shared: &'a Shared,
}

impl<'a> ManualGuard<'a> {
    fn acquire(shared: &'a Shared) -> Result<Self> {
        let mut c = shared.sched.compaction.inner.lock();
        c.manual += 1;
        while c.running > 0 {
            if shared.poisoned.load(Ordering::Acquire) {
                c.manual -= 1;
                drop(c);
                return Err(shared.check_poisoned().err().unwrap_or(Error::Closed));
            }
            shared
                .sched
                .compaction
                .cv
                .wait_for(&mut c, Duration::from_millis(50));
        }
        Ok(ManualGuard { shared })
    }
}

impl Drop for ManualGuard<'_> {
    fn drop(&mut self) {
        let mut c = self.shared.sched.compaction.inner.lock();
        c.manual -= 1;
        c.dirty = true;
        drop(c);
        self.shared.sched.compaction.cv.notify_all();
    }
}

/// `Db::compact_range` after its flush: merge every table that may hold keys in `bounds` (and every
/// level-0 table, and whatever overlaps those, transitively) into the last level.
///
/// Requires: the caller flushed first (`Db::compact_range` does).
pub(crate) fn compact_range(shared: &Shared, tree: &Tree, bounds: &Bounds) -> Result<()> {
    let _guard = ManualGuard::acquire(shared)?;
    shared.check_poisoned()?;
    let sv = tree.sv.load_full();
    let inputs = manual_inputs(&sv.version, bounds);
    if inputs.is_empty() {
        return Ok(());
    }
    let plan = Plan {
        inputs: inputs.iter().map(|(l, t)| (*l, t.file_number())).collect(),
        output_level: tree.opts().max_levels - 1,
        trivial_move: false,
        bottommost: true,
        reason: "manual compaction",
    };
    let tables: Vec<Arc<Table>> = inputs.into_iter().map(|(_, t)| t).collect();
    let r = execute(shared, tree, &plan, &tables);
    if let Err(e) = &r
        && !matches!(e, Error::Closed | Error::KeyspaceNotFound { .. })
    {
        shared.poison(e);
    }
    r
}

/// The inputs of a manual compaction, with their levels, and the user-key range they span.
#[derive(Default)]
struct ManualInputs {
    tables: Vec<(usize, Arc<Table>)>,
    taken: HashSet<u64>,
    range: Option<(Vec<u8>, Vec<u8>)>,
}

impl ManualInputs {
    /// Adds `t` (at `level`) unless already taken; returns whether it was new.
    fn add(&mut self, level: usize, t: &Arc<Table>) -> bool {
        if !self.taken.insert(t.file_number()) {
            return false;
        }
        let (s, e) = (smallest_user_key(t).to_vec(), largest_user_key(t).to_vec());
        self.range = Some(match self.range.take() {
            None => (s, e),
            Some((a, b)) => (a.min(s), b.max(e)),
        });
        self.tables.push((level, t.clone()));
        true
    }
}

/// Every level-0 table, every deeper table overlapping `bounds`, and then whatever overlaps the
/// range of those, until nothing left outside overlaps it.
fn manual_inputs(version: &Version, bounds: &Bounds) -> Vec<(usize, Arc<Table>)> {
    let mut set = ManualInputs::default();
    // Level 0 always goes whole: a newer L0 table left above older output would be fine, but an
    // older one left above newer output would shadow it.
    if let Some(l0) = version.levels.first() {
        for t in l0 {
            set.add(0, t);
        }
    }
    for (l, tables) in version.levels.iter().enumerate().skip(1) {
        for t in tables {
            if bounds.overlaps(smallest_user_key(t), largest_user_key(t)) {
                set.add(l, t);
            }
        }
    }
    // Expand to a fixpoint: nothing left outside may overlap the merged range.
    while let Some((s, e)) = set.range.clone() {
        let mut grew = false;
        for (l, tables) in version.levels.iter().enumerate().skip(1) {
            for t in tables {
                let overlaps =
                    smallest_user_key(t) <= e.as_slice() && largest_user_key(t) >= s.as_slice();
                if overlaps && set.add(l, t) {
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
    set.tables
}

/// Bounds for a full compaction.
pub(crate) fn everything() -> Bounds {
    Bounds {
        lower: Bound::Unbounded,
        upper: Bound::Unbounded,
        prefix: None,
    }
}
