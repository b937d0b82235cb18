//! A cursor over one sorted level: its tables concatenated, one table open at a time.
//!
//! The tables of a level below L0 hold disjoint user-key ranges in order (a user key never spans
//! two tables of a level), so the level reads as one sorted run. A seek finds the one table that
//! can hold the target by binary search over the tables' key ranges and opens only that table; a
//! step past a table's end opens the next one. Against a cursor per table this makes a seek cost
//! one table seek per level instead of one per overlapping table, and keeps the merge heap at one
//! entry per level.

use std::sync::Arc;

use super::InternalCursor;
use crate::error::Result;
use crate::key::SeqNo;
use crate::sstable::{Table, TableIter};
use crate::value::{Key, Value};

pub(crate) struct LevelCursor {
    /// The level's tables the reader may need, in key order.
    tables: Vec<Arc<Table>>,
    /// Index of the table `iter` reads.
    idx: usize,
    /// The open table's cursor; `None` when unpositioned or past either end.
    iter: Option<TableIter>,
    /// The largest seqno in any of the tables.
    max_seqno: SeqNo,
}

impl LevelCursor {
    /// A cursor over `tables`, which must be in key order with disjoint user-key ranges.
    pub fn new(tables: Vec<Arc<Table>>) -> LevelCursor {
        let max_seqno = tables.iter().map(|t| t.meta().max_seqno).max().unwrap_or(0);
        LevelCursor {
            tables,
            idx: 0,
            iter: None,
            max_seqno,
        }
    }

    /// Opens table `i` (reusing the cursor when it is already open on it).
    fn open(&mut self, i: usize) -> Option<&mut TableIter> {
        if self.idx != i || self.iter.is_none() {
            let t = self.tables.get(i)?;
            self.iter = Some(t.iter());
            self.idx = i;
        }
        self.iter.as_mut()
    }

    /// From table `i` forward: positions at the first entry of the first non-empty table.
    fn first_from(&mut self, mut i: usize) -> Result<()> {
        while let Some(it) = self.open(i) {
            it.seek_to_first()?;
            if it.valid() {
                return Ok(());
            }
            i += 1;
        }
        self.iter = None;
        Ok(())
    }

    /// From table `i` backward: positions at the last entry of the first non-empty table.
    fn last_from(&mut self, mut i: Option<usize>) -> Result<()> {
        while let Some(j) = i {
            let Some(it) = self.open(j) else { break };
            it.seek_to_last()?;
            if it.valid() {
                return Ok(());
            }
            i = j.checked_sub(1);
        }
        self.iter = None;
        Ok(())
    }

    fn current(&self) -> Option<&TableIter> {
        self.iter.as_ref().filter(|it| it.valid())
    }
}

impl InternalCursor for LevelCursor {
    fn valid(&self) -> bool {
        self.current().is_some()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.first_from(0)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.last_from(self.tables.len().checked_sub(1))
    }

    fn seek(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        // The first table whose range reaches the key; entries >= the target are in it or later.
        let i = self
            .tables
            .partition_point(|t| !t.upper_limit().reaches(user_key));
        match self.open(i) {
            Some(it) => {
                it.seek(user_key, trailer)?;
                if it.valid() {
                    return Ok(());
                }
                self.first_from(i + 1)
            }
            None => {
                self.iter = None;
                Ok(())
            }
        }
    }

    fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        // The last table starting at or before the key; entries <= the target are in it or
        // earlier.
        let n = self
            .tables
            .partition_point(|t| t.smallest_user_key() <= user_key);
        let Some(i) = n.checked_sub(1) else {
            self.iter = None;
            return Ok(());
        };
        if let Some(it) = self.open(i) {
            it.seek_for_prev(user_key, trailer)?;
            if it.valid() {
                return Ok(());
            }
        }
        self.last_from(i.checked_sub(1))
    }

    fn next(&mut self) -> Result<()> {
        let Some(it) = self.iter.as_mut() else {
            return Ok(());
        };
        it.next()?;
        if it.valid() {
            return Ok(());
        }
        self.first_from(self.idx + 1)
    }

    fn prev(&mut self) -> Result<()> {
        let Some(it) = self.iter.as_mut() else {
            return Ok(());
        };
        it.prev()?;
        if it.valid() {
            return Ok(());
        }
        self.last_from(self.idx.checked_sub(1))
    }

    fn user_key(&self) -> &[u8] {
        self.current().map_or(&[], |it| it.user_key())
    }

    fn trailer(&self) -> u64 {
        self.current().map_or(0, |it| it.trailer())
    }

    fn value(&self) -> Value {
        self.current().map_or_else(Value::default, |it| it.value())
    }

    fn value_slice(&self) -> &[u8] {
        self.current().map_or(&[][..], |it| it.value_slice())
    }

    fn key(&self) -> Key {
        self.current().map_or_else(Key::default, |it| it.key_bytes())
    }

    fn max_seqno(&self) -> SeqNo {
        self.max_seqno
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::cmp::Ordering;
    use std::path::PathBuf;

    use bytes::Bytes;

    use super::*;
    use crate::key::{ValueKind, cmp_internal, pack_trailer};
    use crate::options::Compression;
    use crate::sstable::{TableOptions, build_table_to_vec};

    type Entry = (Vec<u8>, u64, Vec<u8>);

    /// A level of `tables` tables over keys `k0000..`, two versions of every third key, cut so
    /// that both versions of a key stay in one table; plus the model of all its entries in order.
    fn level(tables: usize, per_table: usize) -> (LevelCursor, Vec<Entry>) {
        let mut all = Vec::new();
        let mut out = Vec::new();
        for t in 0..tables {
            let mut entries: Vec<Entry> = Vec::new();
            for i in 0..per_table {
                let n = t * per_table + i;
                let key = format!("k{n:04}").into_bytes();
                if n.is_multiple_of(3) {
                    entries.push((key.clone(), pack_trailer(2 * n as u64 + 2, ValueKind::Put), b"new".to_vec()));
                }
                entries.push((key, pack_trailer(2 * n as u64 + 1, ValueKind::Put), vec![b'v'; n % 7]));
            }
            entries.sort_by(|a, b| cmp_internal(&a.0, a.1, &b.0, b.1));
            let opts = TableOptions {
                block_size: 64,
                restart_interval: 2,
                bloom_false_positive_rate: 0.01,
                compression: Compression::None,
                expected_entries: 100,
                prefix_bloom_len: 0,
            };
            let bytes = build_table_to_vec(entries.clone(), opts).unwrap();
            let table = Table::from_bytes(Bytes::from(bytes), PathBuf::from("<t>"), t as u64, None).unwrap();
            out.push(Arc::new(table));
            all.extend(entries);
        }
        (LevelCursor::new(out), all)
    }

    fn at(c: &LevelCursor) -> Option<(Vec<u8>, u64)> {
        c.valid().then(|| (c.user_key().to_vec(), c.trailer()))
    }

    fn model_at(m: &[Entry], i: Option<usize>) -> Option<(Vec<u8>, u64)> {
        i.and_then(|i| m.get(i)).map(|e| (e.0.clone(), e.1))
    }

    #[test]
    fn seeks_and_steps_match_the_sorted_model_across_tables() {
        let (mut c, m) = level(5, 7);
        // Targets: every key, the gaps before and after every key, and past both ends.
        let mut targets: Vec<(Vec<u8>, u64)> = vec![(b"a".to_vec(), u64::MAX), (b"z".to_vec(), 0)];
        for e in &m {
            targets.push((e.0.clone(), e.1));
            targets.push((e.0.clone(), u64::MAX));
            targets.push((e.0.clone(), 0));
        }
        for (k, t) in &targets {
            let first = m.iter().position(|e| cmp_internal(&e.0, e.1, k, *t) != Ordering::Less);
            c.seek(k, *t).unwrap();
            assert_eq!(at(&c), model_at(&m, first), "seek {k:?}/{t}");
            // Three steps forward, then back to where it started.
            let mut i = first;
            for _ in 0..3 {
                if i.is_none() {
                    break;
                }
                c.next().unwrap();
                i = i.map(|i| i + 1).filter(|&i| i < m.len());
                assert_eq!(at(&c), model_at(&m, i), "next after seek {k:?}");
            }
            let last = m.iter().rposition(|e| cmp_internal(&e.0, e.1, k, *t) != Ordering::Greater);
            c.seek_for_prev(k, *t).unwrap();
            assert_eq!(at(&c), model_at(&m, last), "seek_for_prev {k:?}/{t}");
            let mut i = last;
            for _ in 0..3 {
                if i.is_none() {
                    break;
                }
                c.prev().unwrap();
                i = i.and_then(|i| i.checked_sub(1));
                assert_eq!(at(&c), model_at(&m, i), "prev after seek_for_prev {k:?}");
            }
        }
    }

    #[test]
    fn full_scans_both_ways_and_values() {
        let (mut c, m) = level(4, 5);
        c.seek_to_first().unwrap();
        let mut seen = Vec::new();
        while c.valid() {
            seen.push((c.key().to_vec(), c.trailer(), c.value().to_vec()));
            c.next().unwrap();
        }
        assert_eq!(seen, m);
        c.seek_to_last().unwrap();
        let mut back = Vec::new();
        while c.valid() {
            back.push((c.user_key().to_vec(), c.trailer()));
            c.prev().unwrap();
        }
        back.reverse();
        let keys: Vec<_> = m.iter().map(|e| (e.0.clone(), e.1)).collect();
        assert_eq!(back, keys);
        // An empty level is never valid.
        let mut empty = LevelCursor::new(Vec::new());
        empty.seek_to_first().unwrap();
        assert!(!empty.valid());
        empty.seek(b"k", 0).unwrap();
        assert!(!empty.valid());
        empty.seek_for_prev(b"k", 0).unwrap();
        assert!(!empty.valid());
    }
}
