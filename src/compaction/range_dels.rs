//! Range tombstones in a compaction: which input (or deeper) tables they delete whole, which point
//! versions they make garbage, and which of them each output table carries.
//!
//! Rules, with `smallest` the oldest seqno a reader may still read at (every snapshot sees every
//! tombstone with seqno `<= smallest`):
//!
//! - A table is deleted whole, without reading it, when tombstones with seqnos in
//!   `(table.max_seqno, smallest]` cover its whole key range: every entry in it is older than a
//!   tombstone every reader sees. Its own range tombstones go too (they lie inside its range and
//!   are older than those covering it). Tables below the output level qualify as well when the
//!   covering tombstones are among the inputs ([`add_covered_tables`]).
//! - A point version `(k, s)` is dropped when a tombstone over `k` with seqno in `(s, smallest]`
//!   exists.
//! - A tombstone is carried to the outputs unless an input-set tombstone over the same keys with
//!   seqno `<= smallest` is newer (then it deletes nothing the newer one does not) or, at the
//!   bottommost level, its seqno is `<= smallest` (everything it deletes was dropped with it).
//!   Each output gets the pieces inside its key range `[lower, upper)` (the user keys at which
//!   outputs were cut), so that outputs of level >= 1 stay disjoint.

use std::collections::HashSet;
use std::sync::Arc;

use crate::format::RangeEnd;
use crate::key::SeqNo;
use crate::rangedel::{FragmentCursor, Fragments, RangeTombstone};
use crate::sstable::Table;

use super::picker::Plan;

/// Whether tombstones of `f` delete all of `t` for every reader.
fn deletes_table(f: &Fragments, t: &Table, smallest: SeqNo) -> bool {
    !f.is_empty()
        && f.covers_range(
            t.smallest_user_key(),
            t.upper_limit(),
            t.meta().max_seqno,
            smallest,
        )
}

/// For each input, whether the inputs' range tombstones delete it whole.
pub(crate) fn covered_inputs(inputs: &[Arc<Table>], smallest: SeqNo) -> Vec<bool> {
    let f = Fragments::new(inputs.iter().flat_map(|t| t.range_tombstones()));
    inputs
        .iter()
        .map(|t| deletes_table(&f, t, smallest))
        .collect()
}

/// Adds to a plan (not a trivial move) every table below its output level, not busy and not
/// already an input, that the inputs' range tombstones delete whole: the job then drops it without
/// reading it, and the plan's manifest edit removes it.
pub(crate) fn add_covered_tables(
    plan: &mut Plan,
    inputs: &mut Vec<Arc<Table>>,
    levels: &[Vec<Arc<Table>>],
    busy: &HashSet<u64>,
    smallest: SeqNo,
) {
    if plan.trivial_move || inputs.iter().all(|t| t.range_tombstones().is_empty()) {
        return;
    }
    let f = Fragments::new(inputs.iter().flat_map(|t| t.range_tombstones()));
    let taken: HashSet<u64> = plan.inputs.iter().map(|(_, n)| *n).collect();
    for (level, tables) in levels.iter().enumerate().skip(plan.output_level + 1) {
        for t in tables {
            let n = t.file_number();
            if !busy.contains(&n) && !taken.contains(&n) && deletes_table(&f, t, smallest) {
                plan.inputs.push((level, n));
                inputs.push(Arc::clone(t));
            }
        }
    }
}

/// The range tombstones of the inputs a job reads.
pub(crate) struct JobRangeDels {
    fragments: Fragments,
    smallest: SeqNo,
    /// The tombstones the outputs carry, pieces of one tombstone joined, sorted by start.
    kept: Vec<RangeTombstone>,
}

impl JobRangeDels {
    /// The tombstones of `inputs` (the tables the job reads).
    pub fn new<'a>(
        inputs: impl IntoIterator<Item = &'a Arc<Table>>,
        smallest: SeqNo,
        bottommost: bool,
    ) -> JobRangeDels {
        let fragments = Fragments::new(inputs.into_iter().flat_map(|t| t.range_tombstones()));
        let mut pieces: Vec<RangeTombstone> = Vec::new();
        for f in fragments.iter() {
            // Newest first: every seqno above `smallest`, then the newest at or below it, which
            // makes every older one redundant (unless at the bottom, where it goes too).
            let visible_to_all = f.seqnos.iter().position(|&s| s <= smallest);
            let keep = match visible_to_all {
                Some(i) if bottommost => i,
                Some(i) => i + 1,
                None => f.seqnos.len(),
            };
            for &seqno in f.seqnos.iter().take(keep) {
                pieces.push(RangeTombstone {
                    start: f.start.clone(),
                    end: f.end.clone(),
                    seqno,
                });
            }
        }
        JobRangeDels {
            kept: join_pieces(pieces),
            fragments,
            smallest,
        }
    }

    /// Whether there are no tombstones at all.
    pub fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }

    /// A cursor answering [`GarbageCursor::deletes`] for keys in ascending order.
    pub fn cursor(&self) -> GarbageCursor<'_> {
        GarbageCursor {
            cursor: self.fragments.cursor(),
            smallest: self.smallest,
        }
    }

    /// The tombstones to write into the output holding the keys in `[lower, upper)` (`None`:
    /// no bound), clipped to it, in block order.
    pub fn for_output(&self, lower: Option<&[u8]>, upper: Option<&[u8]>) -> Vec<RangeTombstone> {
        let mut out: Vec<RangeTombstone> = self
            .kept
            .iter()
            .filter_map(|t| {
                let start = match lower {
                    Some(l) if l > t.start.as_slice() => l.to_vec(),
                    _ => t.start.clone(),
                };
                let end = match upper {
                    Some(u) if !t.end.is_above(u) => t.end.clone(),
                    Some(u) => RangeEnd::Before(u.to_vec()),
                    None => t.end.clone(),
                };
                let clipped = RangeTombstone {
                    start,
                    end,
                    seqno: t.seqno,
                };
                (!clipped.is_empty()).then_some(clipped)
            })
            .collect();
        out.sort_by(crate::sstable::range_del::block_order);
        out
    }
}

/// Decides, for point versions in ascending key order, whether a tombstone every reader sees
/// deletes them.
pub(crate) struct GarbageCursor<'a> {
    cursor: FragmentCursor<'a>,
    smallest: SeqNo,
}

impl GarbageCursor<'_> {
    /// Whether version `seqno` of `key` is deleted for every reader. Requires: keys ascending.
    pub fn deletes(&mut self, key: &[u8], seqno: SeqNo) -> bool {
        self.cursor
            .seek_forward(key)
            .and_then(|f| f.newest_at(self.smallest))
            .is_some_and(|t| t > seqno)
    }
}

/// Joins adjacent pieces of equal seqno (one tombstone cut by fragmenting) and sorts the result
/// by start.
fn join_pieces(mut pieces: Vec<RangeTombstone>) -> Vec<RangeTombstone> {
    pieces.sort_by(|a, b| a.seqno.cmp(&b.seqno).then_with(|| a.start.cmp(&b.start)));
    let mut out: Vec<RangeTombstone> = Vec::with_capacity(pieces.len());
    for p in pieces {
        match out.last_mut() {
            Some(prev) if prev.seqno == p.seqno && prev.end == RangeEnd::Before(p.start.clone()) => {
                prev.end = p.end;
            }
            _ => out.push(p),
        }
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then(b.seqno.cmp(&a.seqno)));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::key::pack_trailer;
    use crate::format::ValueKind;
    use crate::sstable::{TableOptions, build_table_with_range_dels_to_vec};

    fn t(s: &[u8], e: Option<&[u8]>, seqno: u64) -> RangeTombstone {
        RangeTombstone {
            start: s.to_vec(),
            end: e.map_or(RangeEnd::Unbounded, |e| RangeEnd::Before(e.to_vec())),
            seqno,
        }
    }

    fn table(n: u64, points: &[(&[u8], u64)], ts: Vec<RangeTombstone>) -> Arc<Table> {
        let entries = points
            .iter()
            .map(|(k, s)| (k.to_vec(), pack_trailer(*s, ValueKind::Put), b"v".to_vec()));
        let data = build_table_with_range_dels_to_vec(entries, ts, TableOptions::default()).unwrap();
        Arc::new(Table::from_bytes(data.into(), format!("{n}.sst").into(), n, None).unwrap())
    }

    #[test]
    fn whole_tables_under_a_newer_visible_tombstone_are_deleted() {
        let old = table(1, &[(b"b", 1), (b"c", 2)], vec![]);
        let newer = table(2, &[(b"c", 9)], vec![]);
        let tomb = table(3, &[], vec![t(b"a", Some(b"d"), 5)]);
        let inputs = vec![old, newer, tomb];
        assert_eq!(covered_inputs(&inputs, 100), vec![true, false, false]);
        // Not when a snapshot older than the tombstone may still read the table.
        assert_eq!(covered_inputs(&inputs, 4), vec![false, false, false]);
    }

    #[test]
    fn deeper_tables_join_the_plan() {
        let tomb = table(3, &[(b"x", 8)], vec![t(b"a", Some(b"k"), 7)]);
        let deep = table(1, &[(b"b", 1), (b"j", 2)], vec![]);
        let partly = table(2, &[(b"j", 1), (b"m", 2)], vec![]);
        let mut plan = Plan {
            inputs: vec![(0, 3)],
            output_level: 1,
            trivial_move: false,
            bottommost: false,
            reason: "test",
        };
        let mut inputs = vec![tomb];
        let levels = vec![vec![], vec![], vec![deep, partly]];
        add_covered_tables(&mut plan, &mut inputs, &levels, &HashSet::new(), 100);
        assert_eq!(plan.inputs, vec![(0, 3), (2, 1)]);
        assert_eq!(inputs.len(), 2);
        // Busy tables and trivial moves are left alone.
        let mut plan2 = Plan {
            inputs: vec![(0, 3)],
            ..plan.clone()
        };
        let mut inputs2 = vec![inputs[0].clone()];
        add_covered_tables(&mut plan2, &mut inputs2, &levels, &HashSet::from([1]), 100);
        assert_eq!(plan2.inputs, vec![(0, 3)]);
        plan2.trivial_move = true;
        add_covered_tables(&mut plan2, &mut inputs2, &levels, &HashSet::new(), 100);
        assert_eq!(plan2.inputs, vec![(0, 3)]);
    }

    #[test]
    fn garbage_and_carried_tombstones() {
        let a = table(1, &[], vec![t(b"a", Some(b"f"), 5), t(b"c", Some(b"h"), 9)]);
        let b = table(2, &[], vec![t(b"b", Some(b"d"), 3)]);
        let inputs = [a, b];
        // smallest = 6: 9 is above it (kept), 5 is the newest at or below (kept), 3 is redundant
        // where 5 covers it ([b,d) lies in [a,f)).
        let rd = JobRangeDels::new(&inputs, 6, false);
        assert_eq!(
            rd.for_output(None, None),
            vec![t(b"a", Some(b"f"), 5), t(b"c", Some(b"h"), 9)]
        );
        let mut g = rd.cursor();
        assert!(g.deletes(b"b", 4));
        assert!(!g.deletes(b"e", 5), "not older than the tombstone");
        assert!(!g.deletes(b"g", 1), "9 is not visible to every reader");
        // At the bottom, tombstones every reader sees go.
        let rd = JobRangeDels::new(&inputs, 6, true);
        assert_eq!(rd.for_output(None, None), vec![t(b"c", Some(b"h"), 9)]);
        // Clipped to the output's range.
        let rd = JobRangeDels::new(&inputs, 6, false);
        assert_eq!(
            rd.for_output(Some(b"d"), Some(b"g")),
            vec![t(b"d", Some(b"g"), 9), t(b"d", Some(b"f"), 5)]
        );
        assert_eq!(rd.for_output(Some(b"h"), None), vec![]);
    }
}
