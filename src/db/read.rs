//! Range reads and snapshots: `Db::range`, `Db::prefix`, `Db::snapshot`, `search_substring`.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::tree::Tree;
use super::version::{SuperVersion, file_meta, largest_user_key, smallest_user_key};
use super::{Db, Shared};
use crate::error::{Error, Result};
use crate::iter::{Bounds, DbIter, InternalCursor, LevelCursor, MemIter, prefix_upper_bound};
use crate::key::{SeqNo, decode_internal};
use crate::manifest::FileMeta;
use crate::rangedel::TombstoneSet;
use crate::sstable::Table;
use crate::value::{Key, Value};

/// Live snapshots by seqno (with a count each), so that compaction keeps the versions they see.
#[derive(Default)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<SeqNo, usize>>,
}

impl SnapshotList {
    /// The oldest seqno some reader still needs, if any.
    pub fn oldest(&self) -> Option<SeqNo> {
        self.live.lock().keys().next().copied()
    }
}

/// A registration in the snapshot list; unregisters on drop.
pub(crate) struct SnapshotGuard {
    shared: Arc<Shared>,
    seqno: SeqNo,
}

impl SnapshotGuard {
    fn new(shared: Arc<Shared>) -> Self {
        let mut live = shared.snapshots.live.lock();
        // Read the seqno under the list's lock so compaction never misses a snapshot being taken.
        let seqno = shared.visible_seqno.load(Ordering::Acquire);
        *live.entry(seqno).or_insert(0) += 1;
        drop(live);
        SnapshotGuard { shared, seqno }
    }
}

impl Drop for SnapshotGuard {
    fn drop(&mut self) {
        let mut live = self.shared.snapshots.live.lock();
        if let Some(n) = live.get_mut(&self.seqno) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seqno);
            }
        }
    }
}

pub(crate) fn to_bounds<K: AsRef<[u8]>, R: RangeBounds<K>>(range: &R) -> Bounds {
    let own = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    Bounds {
        lower: own(range.start_bound()),
        upper: own(range.end_bound()),
        prefix: None,
    }
}

pub(crate) fn prefix_bounds(prefix: &[u8]) -> Bounds {
    Bounds {
        lower: Bound::Included(prefix.to_vec()),
        upper: prefix_upper_bound(prefix).map_or(Bound::Unbounded, Bound::Excluded),
        prefix: Some(prefix.to_vec()),
    }
}

/// Cursors over every source of `sv` that may hold keys in the bounds: one per memtable, one per
/// L0 table, and one concatenating cursor per deeper level. Tables are skipped by key range, for
/// prefix scans by their prefix filter, and when a range tombstone visible at `snapshot` deletes
/// all they hold.
fn children(
    sv: &SuperVersion,
    b: &Bounds,
    skipped: &std::sync::atomic::AtomicU64,
    (tombstones, snapshot): (&TombstoneSet, SeqNo),
) -> Vec<Box<dyn InternalCursor>> {
    let mut v: Vec<Box<dyn InternalCursor>> = Vec::new();
    v.push(Box::new(MemIter::new(sv.mem.clone())));
    for m in &sv.imms {
        v.push(Box::new(MemIter::new(m.clone())));
    }
    let wanted = |t: &Arc<Table>| {
        if !b.overlaps(smallest_user_key(t), largest_user_key(t)) {
            return false;
        }
        if !tombstones.is_empty()
            && tombstones.covers_table(
                t.smallest_user_key(),
                t.upper_limit(),
                t.meta().max_seqno,
                snapshot,
            )
        {
            return false;
        }
        if let Some(p) = &b.prefix
            && !t.may_contain_prefix(p)
        {
            skipped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    };
    let mut levels = sv.version.levels.iter();
    if let Some(l0) = levels.next() {
        for run in disjoint_runs(l0.iter().filter(|t| wanted(t)).cloned().collect()) {
            push_run(&mut v, run);
        }
    }
    for level in levels {
        let tables: Vec<Arc<Table>> = in_bounds(level, b)
            .iter()
            .filter(|t| wanted(t))
            .cloned()
            .collect();
        push_run(&mut v, tables);
    }
    v
}

/// Adds a cursor over `run` (tables in key order with disjoint ranges) to `v`: none for no table,
/// the table's own cursor for one, a concatenating cursor for more.
fn push_run(v: &mut Vec<Box<dyn InternalCursor>>, mut run: Vec<Arc<Table>>) {
    match run.len() {
        0 => {}
        1 => {
            if let Some(t) = run.pop() {
                v.push(Box::new(t.iter()));
            }
        }
        _ => v.push(Box::new(LevelCursor::new(run))),
    }
}

/// Level-0 tables split into as few sorted runs as their key ranges allow: each run holds tables
/// in key order whose ranges do not overlap, so it reads through one concatenating cursor, and a
/// seek opens one table per run instead of one per table. (Flushes of keys written in order make
/// level-0 tables that never overlap: one run.) Which run a table joins does not matter to the
/// merge: seqnos are unique, so the merged order is the internal-key order whatever the sources.
///
/// Greedy interval partitioning by smallest key, which gives the fewest runs.
fn disjoint_runs(mut tables: Vec<Arc<Table>>) -> Vec<Vec<Arc<Table>>> {
    tables.sort_by(|a, b| a.smallest_user_key().cmp(b.smallest_user_key()));
    let mut runs: Vec<Vec<Arc<Table>>> = Vec::new();
    for t in tables {
        let fits = |run: &Vec<Arc<Table>>| {
            run.last()
                .is_some_and(|last| !last.upper_limit().reaches(t.smallest_user_key()))
        };
        match runs.iter_mut().find(|r| fits(r)) {
            Some(run) => run.push(t),
            None => runs.push(vec![t]),
        }
    }
    runs
}

/// The tables of a sorted level (below L0) whose key ranges may reach into `b`, found by binary
/// search.
fn in_bounds<'a>(level: &'a [Arc<Table>], b: &Bounds) -> &'a [Arc<Table>] {
    let start = level.partition_point(|t| !b.above_lower(largest_user_key(t)));
    let end = level.partition_point(|t| b.below_upper(smallest_user_key(t)));
    level.get(start..end.max(start)).unwrap_or_default()
}

fn iter_at(tree: &Tree, guard: Arc<SnapshotGuard>, bounds: Bounds) -> DbIter {
    let sv = tree.sv.load_full();
    let seqno = guard.seqno;
    let owner = guard.shared.clone();
    let now_millis = owner.now_millis();
    let tombstones = sv.range_tombstones();
    let skip = tombstones.clone();
    DbIter::new(
        Arc::new(move |b: &Bounds| {
            children(&sv, b, &owner.counters.prefix_filter_skips, (&skip, seqno))
        }),
        seqno,
        now_millis,
        bounds,
        Some(guard),
    )
    .with_range_tombstones(tombstones)
}

pub(crate) fn search(it: DbIter, needle: &[u8], limit: usize) -> Result<Vec<(Key, Value)>> {
    let finder = memchr::memmem::Finder::new(needle);
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    for kv in it {
        let (k, v) = kv?;
        if finder.find(&k).is_some() || finder.find(&v).is_some() {
            out.push((k, v));
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

impl Db {
    fn shared_arc(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Iterates the keys in `range` in order; `.rev()` iterates backward. The iterator is a
    /// consistent snapshot: it sees exactly the writes acknowledged before it was created.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIter {
        self.snapshot().range(range)
    }

    /// Iterates the keys starting with `prefix`, forward or (with `.rev()`) backward.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIter {
        self.snapshot().prefix(prefix)
    }

    /// Up to `limit` entries whose key or value contains `needle`, in key order. The scan stops
    /// as soon as `limit` matches are found.
    ///
    /// # Errors
    /// [`crate::Error::Corruption`] from a damaged block on the way.
    pub fn search_substring(
        &self,
        needle: impl AsRef<[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Value)>> {
        self.snapshot().search_substring(needle, limit)
    }

    /// A consistent read-only view of the database as of now.
    pub fn snapshot(&self) -> Snapshot {
        let shared = self.shared_arc().clone();
        Snapshot {
            guard: Arc::new(SnapshotGuard::new(shared)),
        }
    }

    /// Approximate number of live keys, from table metadata and memtable counters: entries minus
    /// tombstones, counting overwritten versions that are not yet compacted away, less about as
    /// many as the range deletes not yet compacted away cover (estimated from the tables' indexes
    /// and a sample of each memtable; no data block is read). `O(files)` without range
    /// tombstones, `O(pieces x (files + memtables))` with them.
    pub fn len_estimate(&self) -> u64 {
        len_estimate(&self.shared_arc().default_tree)
    }
}

/// Iterates `tree` at `seqno` without registering a snapshot. Only for callers that hold the WAL
/// lock (no commit runs, so compaction keeps every version visible at the current seqno).
///
/// Expired values are yielded as live (the iterator's time is 0): its callers maintain secondary
/// indexes, whose entries for an expiring value are written with it (`index::maintain` indexes
/// expiring puts as puts) and must be found, and removed, after the value expired too.
pub(crate) fn tree_iter_at(tree: &Tree, seqno: SeqNo, bounds: Bounds) -> DbIter {
    let sv = tree.sv.load_full();
    let skipped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tombstones = sv.range_tombstones();
    let skip = tombstones.clone();
    DbIter::new(
        Arc::new(move |b: &Bounds| children(&sv, b, &skipped, (&skip, seqno))),
        seqno,
        0,
        bounds,
        None,
    )
    .with_range_tombstones(tombstones)
}

/// [`Db::len_estimate`] of one keyspace: each memtable's and table's entries minus twice its
/// point tombstones (a delete cancels itself and one put), less what range tombstones cover.
pub(crate) fn len_estimate(tree: &Tree) -> u64 {
    let sv = tree.sv.load();
    let mut n: i64 = 0;
    for m in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
        n += m.len() as i64 - 2 * m.tombstones() as i64;
    }
    for level in &sv.version.levels {
        for t in level {
            let meta = t.meta();
            n += meta.entries as i64 - 2 * meta.tombstones as i64;
        }
    }
    let tombstones = sv.range_tombstones();
    if !tombstones.is_empty() {
        n -= range_deleted_estimate(&sv, &tombstones);
    }
    n.max(0) as u64
}

/// About how many of the entries [`len_estimate`] counts the range tombstones delete: for
/// every piece of the tombstones (all sources cut into one set, each piece at its newest
/// seqno) and every memtable and table overlapping it, the source's net count (entries minus
/// twice its point tombstones) times the share of its entries in the piece (skiplist levels,
/// table index: no block is read) times the share of its seqno range below the tombstone's.
/// `O(pieces x sources x log entries)`.
fn range_deleted_estimate(sv: &SuperVersion, tombstones: &TombstoneSet) -> i64 {
    /// The share of a source with seqnos in `[min, max]` that a tombstone at `seqno` is newer
    /// than, assuming its seqnos spread evenly.
    fn older_share(min: SeqNo, max: SeqNo, seqno: SeqNo) -> f64 {
        if max < seqno {
            1.0
        } else if min >= seqno {
            0.0
        } else {
            (seqno - min) as f64 / (max - min + 1) as f64
        }
    }
    /// `net` scaled by `covered` of `entries` and by `older`.
    fn part(net: i64, covered: u64, entries: u64, older: f64) -> f64 {
        if net <= 0 || covered == 0 || entries == 0 {
            return 0.0;
        }
        net as f64 * (covered.min(entries) as f64 / entries as f64) * older
    }
    let pieces = tombstones.merged();
    let mut deleted = 0.0f64;
    for piece in pieces.iter() {
        let Some(&seqno) = piece.seqnos.first() else {
            continue;
        };
        for m in std::iter::once(&sv.mem).chain(sv.imms.iter()) {
            let entries = m.len();
            if entries == 0 {
                continue;
            }
            let net = entries as i64 - 2 * m.tombstones() as i64;
            let covered = m.approximate_entries_in(&piece.start, &piece.end);
            deleted += part(net, covered, entries, older_share(m.min_seqno(), m.max_seqno(), seqno));
        }
        for t in sv.version.levels.iter().flatten() {
            let meta = t.meta();
            if meta.min_seqno >= seqno || !piece.end.is_above(t.smallest_user_key()) {
                continue;
            }
            let net = meta.entries as i64 - 2 * meta.tombstones as i64;
            let covered = t.approximate_entries_in(&piece.start, &piece.end);
            let older = older_share(meta.min_seqno, meta.max_seqno, seqno);
            deleted += part(net, covered, meta.entries, older);
        }
    }
    deleted.round() as i64
}

/// A consistent, read-only view of the database at the moment it was taken. Reads through it see
/// exactly the writes acknowledged before it, whatever happens afterwards. Cheap to clone; while
/// any clone lives, the versions it sees are kept.
#[derive(Clone)]
pub struct Snapshot {
    guard: Arc<SnapshotGuard>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("seqno", &self.guard.seqno)
            .finish()
    }
}

impl Snapshot {
    /// The sequence number this snapshot reads at.
    pub fn seqno(&self) -> SeqNo {
        self.guard.seqno
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.guard.shared
    }

    /// The value of `key` as of the snapshot.
    ///
    /// # Errors
    /// [`crate::Error::Corruption`] when a block on the lookup path is damaged.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        let s = &self.guard.shared;
        s.get_at(&s.default_tree, key.as_ref(), self.guard.seqno)
    }

    /// Keys in `range` as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIter {
        iter_at(
            &self.guard.shared.default_tree,
            self.guard.clone(),
            to_bounds(&range),
        )
    }

    /// Keys starting with `prefix` as of the snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIter {
        iter_at(
            &self.guard.shared.default_tree,
            self.guard.clone(),
            prefix_bounds(prefix.as_ref()),
        )
    }

    /// The value of `key` in keyspace `ks` as of the snapshot (a snapshot covers every keyspace).
    ///
    /// # Errors
    /// [`crate::Error::KeyspaceNotFound`] when `ks` was dropped or belongs to another database;
    /// [`crate::Error::Corruption`] when a block on the lookup path is damaged.
    pub fn get_in(&self, ks: &super::Keyspace, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        let tree = self.keyspace_tree(ks)?;
        self.guard
            .shared
            .get_at(&tree, key.as_ref(), self.guard.seqno)
    }

    /// As [`Snapshot::get_versioned`], in keyspace `ks`.
    ///
    /// # Errors
    /// As [`Snapshot::get_in`].
    pub fn get_versioned_in(
        &self,
        ks: &super::Keyspace,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<(Value, u64)>> {
        let tree = self.keyspace_tree(ks)?;
        self.guard
            .shared
            .get_versioned_at(&tree, key.as_ref(), self.guard.seqno)
    }

    /// Keys of keyspace `ks` in `range`, as of the snapshot. A dropped keyspace iterates nothing
    /// but an error.
    pub fn range_in<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        ks: &super::Keyspace,
        range: R,
    ) -> DbIter {
        match self.keyspace_tree(ks) {
            Ok(tree) => iter_at(&tree, self.guard.clone(), to_bounds(&range)),
            Err(e) => DbIter::failed(e),
        }
    }

    /// Keys of keyspace `ks` starting with `prefix`, as of the snapshot.
    pub fn prefix_in(&self, ks: &super::Keyspace, prefix: impl AsRef<[u8]>) -> DbIter {
        match self.keyspace_tree(ks) {
            Ok(tree) => iter_at(&tree, self.guard.clone(), prefix_bounds(prefix.as_ref())),
            Err(e) => DbIter::failed(e),
        }
    }

    /// The tree of `ks`, checked to be live and of this database.
    fn keyspace_tree(&self, ks: &super::Keyspace) -> Result<Arc<Tree>> {
        ks.live_tree_of(&self.guard.shared)
    }

    /// As [`Db::search_substring`], as of the snapshot.
    ///
    /// # Errors
    /// [`crate::Error::Corruption`] from a damaged block on the way.
    pub fn search_substring(
        &self,
        needle: impl AsRef<[u8]>,
        limit: usize,
    ) -> Result<Vec<(Key, Value)>> {
        search(self.range::<&[u8], _>(..), needle.as_ref(), limit)
    }
}

/// One live SSTable, as reported by [`Db::tables`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableInfo {
    /// The keyspace the table belongs to.
    pub keyspace: String,
    /// Level the table is in.
    pub level: u32,
    /// Table number (the file is `NNNNNN.sst`).
    pub number: u64,
    /// File size in bytes.
    pub file_size: u64,
    /// Entries (versions and tombstones) in the table.
    pub entries: u64,
    /// Tombstones among them.
    pub tombstones: u64,
    /// Range tombstones in the table (besides its entries).
    pub range_tombstones: u64,
    /// Smallest user key.
    pub smallest_key: Vec<u8>,
    /// Largest user key. For a table whose range a range tombstone extends past its last entry,
    /// the tombstone's (exclusive) end, or, for a tombstone without end, the largest key the
    /// table holds (`format-spec/sstable.md`, "Key range of a table").
    pub largest_key: Vec<u8>,
    /// Smallest sequence number.
    pub min_seqno: u64,
    /// Largest sequence number.
    pub max_seqno: u64,
}

impl From<&FileMeta> for TableInfo {
    /// The manifest record's fields, with user keys instead of internal keys (the manifest does
    /// not count range tombstones: `range_tombstones` is 0).
    fn from(m: &FileMeta) -> TableInfo {
        let user = |k: &[u8]| decode_internal(k).map_or(&[][..], |(u, _)| u).to_vec();
        TableInfo {
            keyspace: String::new(),
            level: m.level,
            number: m.number,
            file_size: m.file_size,
            entries: m.entries,
            tombstones: m.tombstones,
            range_tombstones: 0,
            smallest_key: user(&m.smallest_key),
            largest_key: user(&m.largest_key),
            min_seqno: m.min_seqno,
            max_seqno: m.max_seqno,
        }
    }
}

impl Db {
    /// Every live SSTable of every keyspace (`default` first, then by keyspace id), by level
    /// (level 0 newest first, other levels in key order): the shape of the LSM trees.
    pub fn tables(&self) -> Vec<TableInfo> {
        let mut out = Vec::new();
        for tree in self.shared_arc().all_trees() {
            out.extend(tree_tables(&tree));
        }
        out
    }

    /// Checks every checksum of every live table of every keyspace (each block is read and
    /// decoded), then what holds between files: every live table is in the directory, every
    /// level from 1 down is one sorted run (tables in key order, none overlapping), no table
    /// holds a seqno above the last one assigned, every table belongs to a live keyspace.
    /// Returns the first damage found as [`crate::Error::Corruption`] with file and offset.
    ///
    /// # Errors
    /// [`crate::Error::Corruption`].
    pub fn verify(&self) -> Result<()> {
        let shared = self.shared_arc();
        let mut live = Vec::new();
        let mut known = std::collections::BTreeSet::from([0u32]);
        // Held until the directory is listed: a table is deleted once no version holds it.
        let mut held = Vec::new();
        for tree in shared.all_trees() {
            known.insert(tree.id);
            let sv = tree.sv.load_full();
            for (level, tables) in sv.version.levels.iter().enumerate() {
                for t in tables {
                    t.verify()?;
                    live.push(file_meta(t, level as u32, tree.id));
                }
            }
            held.push(sv);
        }
        // Read after the versions: a table's writes were assigned their seqnos before it was
        // flushed, and the counter only grows.
        let last_seqno = shared.last_seqno.load(Ordering::Acquire);
        let on_disk = shared
            .opts
            .file_system
            .list_dir(&shared.dir)
            .map_err(|e| Error::io("listing the database directory", &shared.dir, e))?;
        drop(held);
        let on_disk: std::collections::BTreeSet<String> = on_disk.into_iter().collect();
        let mut problems: Vec<String> = live
            .iter()
            .map(|f| crate::format::files::sst_name(f.number))
            .filter(|name| !on_disk.contains(name))
            .map(|name| format!("live table {name} is missing from the directory"))
            .collect();
        problems.extend(crate::debug::verify::cross_file_problems(
            &live, last_seqno, &known,
        ));
        match problems.into_iter().next() {
            None => Ok(()),
            Some(reason) => Err(Error::corruption(&shared.dir, 0, reason)),
        }
    }
}

/// The live tables of one keyspace, as [`Db::tables`] reports them.
pub(crate) fn tree_tables(tree: &Tree) -> Vec<TableInfo> {
    let sv = tree.sv.load();
    let mut out = Vec::new();
    for (level, tables) in sv.version.levels.iter().enumerate() {
        for t in tables {
            let mut info = TableInfo::from(&file_meta(t, level as u32, tree.id));
            info.keyspace = tree.name.clone();
            info.range_tombstones = t.meta().range_tombstones;
            out.push(info);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::path::PathBuf;

    use bytes::Bytes;

    use super::*;
    use crate::key::{ValueKind, pack_trailer};
    use crate::options::Compression;
    use crate::sstable::{TableOptions, build_table_to_vec};

    /// A table (file number `n`) holding the keys `keys` (one put each).
    fn table(n: u64, keys: &[&str]) -> Arc<Table> {
        let entries: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let t = pack_trailer(n * 100 + i as u64 + 1, ValueKind::Put);
                (k.as_bytes().to_vec(), t, b"v".to_vec())
            })
            .collect();
        let opts = TableOptions {
            block_size: 64,
            restart_interval: 2,
            bloom_false_positive_rate: 0.01,
            compression: Compression::None,
            expected_entries: 10,
            prefix_bloom_len: 0,
        };
        let bytes = build_table_to_vec(entries, opts).unwrap();
        Arc::new(Table::from_bytes(Bytes::from(bytes), PathBuf::from("<t>"), n, None).unwrap())
    }

    fn numbers(runs: &[Vec<Arc<Table>>]) -> Vec<Vec<u64>> {
        runs.iter()
            .map(|r| r.iter().map(|t| t.file_number()).collect())
            .collect()
    }

    #[test]
    fn disjoint_tables_make_one_run_in_key_order() {
        // Newest first, as level 0 lists them: flushes of keys written in order.
        let l0 = vec![table(3, &["g", "h"]), table(2, &["d", "e"]), table(1, &["a", "b"])];
        assert_eq!(numbers(&disjoint_runs(l0)), vec![vec![1, 2, 3]]);
    }

    #[test]
    fn overlapping_tables_go_to_other_runs_and_touching_ranges_overlap() {
        let l0 = vec![
            table(5, &["b", "y"]), // spans everything
            table(4, &["m", "n"]),
            table(3, &["e", "m"]), // ends where table 4 starts: they overlap at "m"
            table(2, &["c", "d"]),
            table(1, &["a"]),
        ];
        let runs = disjoint_runs(l0);
        // Three runs are the fewest: tables 3, 4 and 5 all hold "m".
        assert_eq!(numbers(&runs), vec![vec![1, 5], vec![2, 3], vec![4]]);
        for run in &runs {
            for pair in run.windows(2) {
                assert!(!pair[0].upper_limit().reaches(pair[1].smallest_user_key()));
            }
        }
        assert!(disjoint_runs(Vec::new()).is_empty());
    }
}
