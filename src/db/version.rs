//! The in-memory view readers take: the memtables and the live SSTables, swapped atomically.

use std::sync::Arc;

use crate::compaction::picker::TableView;
use crate::key::decode_internal;
use crate::manifest::FileMeta;
use crate::memtable::Memtable;
use crate::sstable::{Table, TableSummary};

/// The live SSTables, by level. Level 0 is ordered newest first (its tables may overlap); every
/// other level is a sorted run ordered by smallest key.
#[derive(Default, Clone)]
pub(crate) struct Version {
    pub levels: Vec<Vec<Arc<Table>>>,
}

impl Version {
    /// Tables of level `level >= 1` whose key range may hold `user_key` (at most one).
    pub fn find_in_level(&self, level: usize, user_key: &[u8]) -> Option<&Arc<Table>> {
        let tables = self.levels.get(level)?;
        // First table whose largest user key >= user_key.
        let idx = tables.partition_point(|t| largest_user_key(t) < user_key);
        let t = tables.get(idx)?;
        (smallest_user_key(t) <= user_key).then_some(t)
    }

    pub fn table_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }
}

pub(crate) fn smallest_user_key(t: &Table) -> &[u8] {
    decode_internal(&t.meta().smallest_key).map_or(&[], |(k, _)| k)
}

pub(crate) fn largest_user_key(t: &Table) -> &[u8] {
    decode_internal(&t.meta().largest_key).map_or(&[], |(k, _)| k)
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
