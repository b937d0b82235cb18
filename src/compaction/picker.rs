//! Choosing the next compaction. Pure: a description of the tree in, a plan out; no I/O, so every
//! strategy is unit-tested by simulation.
//!
//! Layout of the tree, shared by all strategies: level 0 holds flushed tables, newest first, each
//! its own sorted run; every level `1..max_levels` holds at most one sorted run (non-overlapping
//! tables in key order), and a deeper level holds older data. So a point read can stop at the first
//! hit going down, and a run's position is its age.
//!
//! - **Leveled**: L0 compacts (all of it) into the *base level*; each level `l >= base` has a
//!   target size, the last level's actual size divided by `ratio^(last - l)` (dynamic level
//!   targets), and the level with the highest `size / target` above 1 pushes one table (round robin
//!   by key) into the next level, merging with the tables it overlaps. When no level is over its
//!   target, a table above the last level that is mostly point tombstones is pushed down (all of
//!   L0 when it is in L0), rewritten even when nothing below overlaps it, so that its tombstones
//!   go at the bottom instead of lingering under every scan of their range (RocksDB's
//!   deletion-triggered compaction, with a fixed trigger).
//! - **Tiered**: every run (each L0 table, each non-empty level) is a tier. When at least
//!   `min_merge_width` consecutive runs (by age, from the newest) have similar sizes they merge
//!   into one run placed at the position of the oldest of them (see `pick_tiered`).
//! - **Lazy leveling**: tiered for every run but the last level, which is one sorted run that the
//!   upper runs merge into as a whole once their total size reaches `1 / ratio` of it.

use std::collections::HashSet;

use crate::options::{CompactionStrategy, Options};

/// A table as the picker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableView {
    pub number: u64,
    pub size: u64,
    /// Smallest and largest user keys.
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    /// Entries (every version), and how many of them are point tombstones.
    pub entries: u64,
    pub tombstones: u64,
}

/// The fewest point tombstones that make a table worth compacting for them alone.
pub const TOMBSTONE_TRIGGER_MIN: u64 = 1024;

/// Whether `t` is mostly point tombstones (at least half its entries, and at least
/// [`TOMBSTONE_TRIGGER_MIN`]): until compaction takes them below the data they delete, every scan
/// over its range steps over each of them.
fn tombstone_heavy(t: &TableView) -> bool {
    t.tombstones >= TOMBSTONE_TRIGGER_MIN && t.tombstones.saturating_mul(2) >= t.entries
}

/// What to compact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Input tables as (level, number).
    pub inputs: Vec<(usize, u64)>,
    pub output_level: usize,
    /// Move the single input to `output_level` with a manifest edit, without rewriting it.
    pub trivial_move: bool,
    /// No table outside the inputs, in `output_level` or below, overlaps the inputs' key range:
    /// tombstones can be dropped (when no snapshot needs them).
    pub bottommost: bool,
    /// Why (for logs and tests).
    pub reason: &'static str,
}

/// Parameters of the picker, taken from [`Options`].
#[derive(Debug, Clone)]
pub struct PickerConfig {
    pub strategy: CompactionStrategy,
    pub max_levels: usize,
    pub l0_trigger: usize,
    pub ratio: u64,
    pub level_base_size: u64,
    pub min_merge_width: usize,
}

impl From<&Options> for PickerConfig {
    fn from(o: &Options) -> Self {
        PickerConfig {
            strategy: o.compaction_strategy,
            max_levels: o.max_levels,
            l0_trigger: o.l0_compaction_trigger,
            ratio: o.level_size_ratio as u64,
            level_base_size: o.level_base_size,
            min_merge_width: o.tiered_min_merge_width,
        }
    }
}

fn level_size(level: &[TableView]) -> u64 {
    level.iter().map(|t| t.size).sum()
}

fn overlaps(t: &TableView, smallest: &[u8], largest: &[u8]) -> bool {
    t.smallest.as_slice() <= largest && t.largest.as_slice() >= smallest
}

fn key_range<'a>(tables: impl Iterator<Item = &'a TableView>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut r: Option<(Vec<u8>, Vec<u8>)> = None;
    for t in tables {
        r = Some(match r {
            None => (t.smallest.clone(), t.largest.clone()),
            Some((s, l)) => (s.min(t.smallest.clone()), l.max(t.largest.clone())),
        });
    }
    r
}

/// True when no table outside `inputs` in levels `>= from_level` overlaps `[smallest, largest]`.
fn nothing_below(
    levels: &[Vec<TableView>],
    from_level: usize,
    smallest: &[u8],
    largest: &[u8],
    inputs: &HashSet<u64>,
) -> bool {
    levels.iter().skip(from_level).all(|l| {
        l.iter()
            .all(|t| inputs.contains(&t.number) || !overlaps(t, smallest, largest))
    })
}

/// Target sizes of levels `1..max_levels` (index = level; index 0 unused), and the base level:
/// the first level L0 compacts into.
pub fn level_targets(cfg: &PickerConfig, levels: &[Vec<TableView>]) -> (Vec<u64>, usize) {
    let last = cfg.max_levels - 1;
    let mut targets = vec![0u64; cfg.max_levels];
    let bottom = levels.get(last).map_or(0, |l| level_size(l));
    let mut t = bottom.max(cfg.level_base_size);
    let mut base = last;
    for l in (1..=last).rev() {
        if let Some(slot) = targets.get_mut(l) {
            *slot = t;
        }
        if t >= cfg.level_base_size {
            base = l;
        }
        t /= cfg.ratio.max(2);
    }
    // A level above the base that still holds data (e.g. after the base moved down) stays a
    // compaction source; make the base no lower than the first non-empty level.
    if let Some(first) = (1..=last).find(|&l| levels.get(l).is_some_and(|v| !v.is_empty())) {
        base = base.min(first);
    }
    (targets, base)
}

/// Estimated bytes that compaction must still rewrite to bring every level within its target.
pub fn pending_compaction_bytes(cfg: &PickerConfig, levels: &[Vec<TableView>]) -> u64 {
    let (targets, _) = level_targets(cfg, levels);
    let mut pending = 0u64;
    let l0 = levels.first().map_or(0, |l| level_size(l));
    if levels.first().map_or(0, Vec::len) >= cfg.l0_trigger {
        pending += l0;
    }
    for (l, &target) in targets
        .iter()
        .enumerate()
        .take(cfg.max_levels.saturating_sub(1))
        .skip(1)
    {
        let size = levels.get(l).map_or(0, |v| level_size(v));
        if size > target {
            // The excess is rewritten here and again (ratio times over) in the next level.
            pending += (size - target).saturating_mul(cfg.ratio.max(1));
        }
    }
    pending
}

/// Picks the most urgent compaction, skipping tables in `busy` (being compacted). `cursor` holds,
/// per level, the largest key last compacted out of it (leveled round robin).
pub fn pick(
    cfg: &PickerConfig,
    levels: &[Vec<TableView>],
    busy: &HashSet<u64>,
    cursor: &[Vec<u8>],
) -> Option<Plan> {
    match cfg.strategy {
        CompactionStrategy::Leveled => pick_leveled(cfg, levels, busy, cursor),
        CompactionStrategy::Tiered => {
            if !busy.is_empty() {
                return None;
            }
            pick_tiered(cfg, levels, false)
        }
        CompactionStrategy::LazyLeveling => {
            if !busy.is_empty() {
                return None;
            }
            pick_tiered(cfg, levels, true)
        }
    }
}

fn pick_leveled(
    cfg: &PickerConfig,
    levels: &[Vec<TableView>],
    busy: &HashSet<u64>,
    cursor: &[Vec<u8>],
) -> Option<Plan> {
    let (candidates, base) = leveled_scores(cfg, levels);
    for (score, l) in candidates {
        if score < 1.0 {
            break;
        }
        let plan = if l == 0 {
            pick_level0(levels, busy, base)
        } else {
            pick_round_robin(levels, busy, cursor, l)
        };
        if plan.is_some() {
            return plan;
        }
    }
    pick_tombstones(cfg, levels, busy, base)
}

/// The first table above the last level, from the top, that is [`tombstone_heavy`] and can be
/// compacted now: pushed into the level below (L0: all of L0 into the base level), never moved
/// without a rewrite (the rewrite is what drops the tombstones once nothing below overlaps).
fn pick_tombstones(
    cfg: &PickerConfig,
    levels: &[Vec<TableView>],
    busy: &HashSet<u64>,
    base: usize,
) -> Option<Plan> {
    let last = cfg.max_levels - 1;
    for (l, tables) in levels.iter().enumerate().take(last) {
        for t in tables {
            if !tombstone_heavy(t) || busy.contains(&t.number) {
                continue;
            }
            let plan = if l == 0 {
                pick_level0(levels, busy, base)
            } else {
                push_down(levels, busy, l, t)
            };
            if let Some(mut p) = plan {
                p.trivial_move = false;
                p.reason = "point tombstones";
                return Some(p);
            }
        }
    }
    None
}

/// The tables of level `l` (none beyond the last).
fn level_of(levels: &[Vec<TableView>], l: usize) -> &[TableView] {
    levels.get(l).map_or(&[], Vec::as_slice)
}

/// (score, level) of every level that may need compaction, most urgent first, and the base level
/// (where level 0 compacts to). Level 0 scores by file count, the others by size over target.
fn leveled_scores(cfg: &PickerConfig, levels: &[Vec<TableView>]) -> (Vec<(f64, usize)>, usize) {
    let last = cfg.max_levels - 1;
    let (targets, base) = level_targets(cfg, levels);
    let mut candidates: Vec<(f64, usize)> = Vec::new();
    let l0 = level_of(levels, 0);
    if !l0.is_empty() {
        candidates.push((l0.len() as f64 / cfg.l0_trigger as f64, 0));
    }
    for (l, &target) in targets.iter().enumerate().take(last).skip(1) {
        let size = level_size(level_of(levels, l));
        if size > 0 && target > 0 {
            // Levels above the base hold data only transiently: drain them.
            let s = if l < base {
                2.0 + size as f64
            } else {
                size as f64 / target as f64
            };
            candidates.push((s, l));
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    (candidates, base)
}

/// All of level 0 and what it overlaps in the base level, unless any of those is busy.
fn pick_level0(levels: &[Vec<TableView>], busy: &HashSet<u64>, base: usize) -> Option<Plan> {
    let l0 = level_of(levels, 0);
    if l0.iter().any(|t| busy.contains(&t.number)) {
        return None;
    }
    let (s, e) = key_range(l0.iter())?;
    let out = base;
    let overlapping: Vec<&TableView> = level_of(levels, out)
        .iter()
        .filter(|t| overlaps(t, &s, &e))
        .collect();
    if overlapping.iter().any(|t| busy.contains(&t.number)) {
        return None;
    }
    let mut inputs: Vec<(usize, u64)> = l0.iter().map(|t| (0, t.number)).collect();
    inputs.extend(overlapping.iter().map(|t| (out, t.number)));
    let set: HashSet<u64> = inputs.iter().map(|(_, n)| *n).collect();
    let trivial = l0.len() == 1 && overlapping.is_empty();
    Some(Plan {
        bottommost: nothing_below(levels, out, &s, &e, &set),
        inputs,
        output_level: out,
        trivial_move: trivial,
        reason: "level 0 file count",
    })
}

/// Round robin in level `l >= 1`: the first table after the cursor, not busy, whose overlap in the
/// next level is not busy either.
fn pick_round_robin(
    levels: &[Vec<TableView>],
    busy: &HashSet<u64>,
    cursor: &[Vec<u8>],
    l: usize,
) -> Option<Plan> {
    let tables = level_of(levels, l);
    let after = cursor.get(l).cloned().unwrap_or_default();
    let start = tables.partition_point(|t| t.largest.as_slice() <= after.as_slice());
    let order = (start..tables.len()).chain(0..start);
    for i in order {
        let Some(t) = tables.get(i) else { continue };
        if let Some(plan) = push_down(levels, busy, l, t) {
            return Some(plan);
        }
    }
    None
}

/// Table `t` of level `l >= 1` into level `l + 1`, with the tables it overlaps there (a trivial
/// move when there is none); `None` when `t` or one of those is busy.
fn push_down(
    levels: &[Vec<TableView>],
    busy: &HashSet<u64>,
    l: usize,
    t: &TableView,
) -> Option<Plan> {
    if busy.contains(&t.number) {
        return None;
    }
    let out = l + 1;
    let overlapping: Vec<&TableView> = level_of(levels, out)
        .iter()
        .filter(|o| overlaps(o, &t.smallest, &t.largest))
        .collect();
    if overlapping.iter().any(|o| busy.contains(&o.number)) {
        return None;
    }
    let mut inputs = vec![(l, t.number)];
    inputs.extend(overlapping.iter().map(|o| (out, o.number)));
    let set: HashSet<u64> = inputs.iter().map(|(_, n)| *n).collect();
    let (s, e) =
        key_range(std::iter::once(t).chain(overlapping.iter().copied())).unwrap_or_default();
    Some(Plan {
        bottommost: nothing_below(levels, out, &s, &e, &set),
        trivial_move: overlapping.is_empty(),
        inputs,
        output_level: out,
        reason: "level size over target",
    })
}

/// A sorted run for tiered picking: its tables and where it lives.
struct Run {
    level: usize,
    tables: Vec<(usize, u64)>,
    size: u64,
}

fn runs(levels: &[Vec<TableView>]) -> Vec<Run> {
    let mut out = Vec::new();
    if let Some(l0) = levels.first() {
        for t in l0 {
            out.push(Run {
                level: 0,
                tables: vec![(0, t.number)],
                size: t.size,
            });
        }
    }
    for (l, tables) in levels.iter().enumerate().skip(1) {
        if !tables.is_empty() {
            out.push(Run {
                level: l,
                tables: tables.iter().map(|t| (l, t.number)).collect(),
                size: level_size(tables),
            });
        }
    }
    out
}

/// Tiered and lazy leveling. Runs are ordered newest (L0 front) to oldest (deepest level).
///
/// A window of consecutive runs, starting at the newest, is merged when it holds at least
/// `min_merge_width` runs of similar size: each next run is at most `max(ratio / 2, 2)` times the
/// total of the newer runs in the window (universal compaction's size-ratio rule). When level 0
/// alone reaches `max(l0_trigger, min_merge_width)` runs, its runs merge whatever their sizes.
/// The merged run goes to the deepest free level above the next older run; when there is none it
/// folds into that older run. With `lazy`, the last level is excluded from windows and instead
/// absorbs every upper run once their total reaches `1/ratio` of its size.
fn pick_tiered(cfg: &PickerConfig, levels: &[Vec<TableView>], lazy: bool) -> Option<Plan> {
    let last = cfg.max_levels - 1;
    let all = runs(levels);
    if all.len() < 2 {
        return None;
    }
    let l0_count = levels.first().map_or(0, Vec::len);
    if l0_count == 0 {
        // Runs only change when new ones arrive.
        return None;
    }
    let keep_last = lazy && all.last().is_some_and(|r| r.level == last);
    let n_upper = if keep_last { all.len() - 1 } else { all.len() };
    let similar = (cfg.ratio / 2).max(2);

    if keep_last {
        let upper_size: u64 = all.iter().take(n_upper).map(|r| r.size).sum();
        let last_size = all.last().map_or(0, |r| r.size);
        if n_upper >= cfg.min_merge_width.min(cfg.l0_trigger)
            && upper_size.saturating_mul(cfg.ratio) >= last_size
        {
            return Some(merge_runs(levels, &all, all.len(), last));
        }
    }
    if n_upper < 2 {
        return None;
    }
    let mut total = all.first().map_or(0, |r| r.size);
    let mut end = 1;
    while let Some(next) = all.get(end).filter(|_| end < n_upper)
        && next.size <= total.saturating_mul(similar)
    {
        total += next.size;
        end += 1;
    }
    if end < cfg.min_merge_width {
        if l0_count < cfg.l0_trigger.max(cfg.min_merge_width) {
            return None;
        }
        end = l0_count.min(n_upper).max(2);
    }
    match output_slot(&all, end, last, keep_last) {
        Some(out) => Some(merge_runs(levels, &all, end, out)),
        // No free level above the next older run: fold into it.
        None => all
            .get(end)
            .map(|next| merge_runs(levels, &all, end + 1, next.level)),
    }
}

/// Where the merge of runs `[0, end)` goes: the level of the oldest input when it is a level >= 1,
/// else the deepest free level above the next older run.
fn output_slot(all: &[Run], end: usize, last: usize, keep_last: bool) -> Option<usize> {
    let oldest = all.get(end - 1)?;
    if oldest.level >= 1 {
        return Some(oldest.level);
    }
    let limit = match all.get(end) {
        Some(next) => next.level,
        None if keep_last => last,
        None => last + 1,
    };
    // Deepest free level strictly above `limit`.
    let slot = limit.checked_sub(1)?;
    (slot >= 1).then_some(slot)
}

/// Merges runs `[0, end)` into one run at level `out`.
fn merge_runs(levels: &[Vec<TableView>], all: &[Run], end: usize, out: usize) -> Plan {
    let mut inputs: Vec<(usize, u64)> = Vec::new();
    for r in all.iter().take(end) {
        inputs.extend(r.tables.iter().copied());
    }
    let set: HashSet<u64> = inputs.iter().map(|(_, n)| *n).collect();
    let range =
        key_range(levels.iter().flatten().filter(|t| set.contains(&t.number))).unwrap_or_default();
    Plan {
        bottommost: nothing_below(levels, out, &range.0, &range.1, &set),
        inputs,
        output_level: out,
        trivial_move: false,
        reason: "sorted runs of similar size",
    }
}

#[cfg(test)]
mod tests;
