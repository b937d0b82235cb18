//! The in-memory view readers take: the memtables and the live SSTables, swapped atomically.

use std::sync::Arc;

use crate::compaction::picker::TableView;
use crate::key::SeqNo;
use crate::manifest::FileMeta;
use crate::memtable::Memtable;
use crate::rangedel::{Fragments, LazyFragments, TombstoneSet};
use crate::sstable::{Table, TableSummary};

/// The live SSTables, by level. Level 0 is ordered newest first (its tables may overlap); every
/// other level is a sorted run ordered by smallest key.
#[derive(Default, Clone)]
pub(crate) struct Version {
    pub levels: Vec<Vec<Arc<Table>>>,
    /// The range tombstones of every table, fragmented on first use (a clone starts empty).
    range_fragments: LazyFragments,
}

impl Version {
    /// Tables of level `level >= 1` whose key range may hold `user_key` (at most one). A table
    /// whose range ends before an exclusive bound (a range tombstone's end) does not hold that
    /// bound: the next table, which may start at it, does.
    pub fn find_in_level(&self, level: usize, user_key: &[u8]) -> Option<&Arc<Table>> {
        let tables = self.levels.get(level)?;
        // First table whose range reaches user_key.
        let idx = tables.partition_point(|t| !t.upper_limit().reaches(user_key));
        tables.get(idx).filter(|t| t.key_in_range(user_key))
    }

    pub fn table_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Every table's range tombstones, fragmented once per version.
    pub fn range_fragments(&self) -> &Arc<Fragments> {
        self.range_fragments.get_or_build(|| {
            Fragments::new(
                self.levels
                    .iter()
                    .flatten()
                    .flat_map(|t| t.range_tombstones()),
            )
        })
    }
}

pub(crate) fn smallest_user_key(t: &Table) -> &[u8] {
    t.smallest_user_key()
}

/// The top of `t`'s key range as a closed bound: conservative for overlap checks (a range
/// tombstone's exclusive end is included, a range without end reaches the largest possible key).
pub(crate) fn largest_user_key(t: &Table) -> &[u8] {
    t.upper_limit().closed()
}

/// The manifest record of a live table of keyspace `keyspace` at `level`.
pub(crate) fn file_meta(t: &Table, level: u32, keyspace: u32) -> FileMeta {
    let m = t.meta();
    FileMeta {
        number: t.file_number(),
        level,
        keyspace,
        summary: TableSummary {
            file_size: t.file_size(),
            smallest_key: m.smallest_key.clone(),
            largest_key: m.largest_key.clone(),
            min_seqno: m.min_seqno,
            max_seqno: m.max_seqno,
            entries: m.entries,
            tombstones: m.tombstones,
        },
    }
}

/// The picker's view of a version, with at least `max_levels` levels.
pub(crate) fn picker_views(version: &Version, max_levels: usize) -> Vec<Vec<TableView>> {
    let mut levels = vec![Vec::new(); max_levels.max(version.levels.len())];
    for (l, tables) in version.levels.iter().enumerate() {
        if let Some(dst) = levels.get_mut(l) {
            *dst = tables
                .iter()
                .map(|t| TableView {
                    number: t.file_number(),
                    size: t.file_size(),
                    smallest: smallest_user_key(t).to_vec(),
                    largest: largest_user_key(t).to_vec(),
                    entries: t.meta().entries,
                    tombstones: t.meta().tombstones,
                })
                .collect();
        }
    }
    levels
}

/// Everything a read needs, captured at once.
pub(crate) struct SuperVersion {
    /// The memtable taking writes.
    pub mem: Arc<Memtable>,
    /// Frozen memtables waiting for flush, newest first.
    pub imms: Vec<Arc<Memtable>>,
    pub version: Arc<Version>,
}

impl SuperVersion {
    /// The range tombstones of every memtable and table (empty, without allocating, when there
    /// are none).
    pub fn range_tombstones(&self) -> TombstoneSet {
        let mut set = TombstoneSet::default();
        for m in std::iter::once(&self.mem).chain(&self.imms) {
            m.push_range_fragments(&mut set);
        }
        set.push(Arc::clone(self.version.range_fragments()));
        set
    }

    /// `hit`, the newest version of `key` visible at `snapshot` as a point lookup found it,
    /// unless a range tombstone visible at `snapshot` and newer than it covers the key: then a
    /// point tombstone at the range tombstone's seqno, so that callers read the key as absent.
    pub fn apply_range_tombstones(
        &self,
        key: &[u8],
        snapshot: SeqNo,
        hit: Option<(u64, crate::value::Value)>,
    ) -> Option<(u64, crate::value::Value)> {
        let (trailer, _) = hit.as_ref()?;
        let seqno = crate::key::unpack_trailer(*trailer).0;
        let newest = std::iter::once(&self.mem)
            .chain(&self.imms)
            .filter_map(|m| m.max_range_tombstone(key, snapshot))
            .chain(self.version.range_fragments().max_covering(key, snapshot))
            .max();
        match newest {
            Some(t) if t > seqno => Some((
                crate::key::pack_trailer(t, crate::format::ValueKind::Delete),
                crate::value::Value::default(),
            )),
            _ => hit,
        }
    }
}
