//! A memtable's range tombstones, kept beside its skiplist of point entries.
//!
//! Tombstones are appended (by the one write leader, in seqno order) to a list under a mutex;
//! readers never take that mutex on the common path. `count` says how many there are, so a read of
//! a memtable without tombstones costs one atomic load.
//!
//! Readers query fragmented copies ([`Fragments`]) of the list, made lazily and published through
//! an `ArcSwapOption` so concurrent reads share them. The list is cut into runs of sizes that are
//! the powers of two of its length (13 tombstones: runs of 8, 4 and 1, oldest first), each
//! fragmented on its own ([`Runs`]); when tombstones were added since, only the runs whose bounds
//! changed are rebuilt, as in a binary counter. A workload that adds a tombstone before every read
//! then rebuilds `O(log n)` tombstones' worth per tombstone on average instead of all `n`, and a
//! read asks at most `log2 n + 1` runs.
//!
//! Visibility: a tombstone is appended, and `count` raised (release), before the write path
//! publishes its seqno; a reader that sees the seqno (acquire) therefore sees a `count` that
//! includes it, and rebuilds the runs if the cached ones were made from fewer.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;

use crate::key::SeqNo;
use crate::rangedel::{Fragments, RangeTombstone};

#[derive(Default)]
pub(super) struct MemRangeDels {
    list: Mutex<Vec<RangeTombstone>>,
    count: AtomicUsize,
    runs: ArcSwapOption<Runs>,
}

/// The first `sources` tombstones of a memtable, fragmented run by run: `lists[i]` holds the
/// tombstones `bounds[i]`, whose lengths are the powers of two of `sources`, largest first.
#[derive(Debug, Default)]
pub struct Runs {
    bounds: Vec<Range<usize>>,
    lists: Vec<Arc<Fragments>>,
    sources: usize,
}

impl Runs {
    /// The fragment lists, one per run (each answers for its own tombstones only: a read takes
    /// the newest answer of all of them).
    pub fn lists(&self) -> &[Arc<Fragments>] {
        &self.lists
    }

    /// The seqno of the newest tombstone over `key` with seqno `<= snapshot`.
    pub fn max_covering(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        self.lists
            .iter()
            .filter_map(|f| f.max_covering(key, snapshot))
            .max()
    }

    /// The runs of `list`, reusing those of `old` whose bounds did not change.
    fn build(list: &[RangeTombstone], old: Option<&Runs>) -> Runs {
        let n = list.len();
        let mut bounds = Vec::new();
        let mut start = 0;
        for bit in (0..usize::BITS).rev() {
            let size = 1usize << bit;
            if n & size != 0 {
                bounds.push(start..start + size);
                start += size;
            }
        }
        let lists = bounds
            .iter()
            .map(|r| {
                let reused = old.and_then(|o| {
                    let i = o.bounds.iter().position(|b| b == r)?;
                    o.lists.get(i).cloned()
                });
                reused.unwrap_or_else(|| {
                    Arc::new(Fragments::new(list.get(r.clone()).unwrap_or_default()))
                })
            })
            .collect();
        Runs {
            bounds,
            lists,
            sources: n,
        }
    }
}

impl MemRangeDels {
    /// Appends one tombstone.
    pub fn add(&self, t: RangeTombstone) {
        let mut list = self.list.lock();
        list.push(t);
        self.count.store(list.len(), Ordering::Release);
    }

    /// Number of tombstones.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// The runs of every tombstone added so far; `None` when there is none.
    pub fn runs(&self) -> Option<Arc<Runs>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let current = self.runs.load_full();
        if let Some(r) = &current
            && r.sources >= n
        {
            return current;
        }
        let list = self.list.lock();
        let r = Arc::new(Runs::build(&list, current.as_deref()));
        // Publish unless someone published runs of more tombstones meanwhile.
        self.runs.rcu(|cur| match cur {
            Some(c) if c.sources >= r.sources => Some(Arc::clone(c)),
            _ => Some(Arc::clone(&r)),
        });
        Some(r)
    }

    /// The seqno of the newest tombstone over `key` with seqno `<= snapshot`, without taking a
    /// reference count on the shared runs when they are current (the point-read path).
    pub fn max_covering(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        {
            let current = self.runs.load();
            if let Some(r) = current.as_ref()
                && r.sources >= n
            {
                return r.max_covering(key, snapshot);
            }
        }
        self.runs()?.max_covering(key, snapshot)
    }

    /// A copy of the tombstones with seqno `<= max_seqno`, in the order they were added.
    pub fn snapshot(&self, max_seqno: SeqNo) -> Vec<RangeTombstone> {
        if self.len() == 0 {
            return Vec::new();
        }
        self.list
            .lock()
            .iter()
            .filter(|t| t.seqno <= max_seqno)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::RangeEnd;

    fn t(start: u32, end: u32, seqno: SeqNo) -> RangeTombstone {
        RangeTombstone {
            start: format!("k{start:05}").into_bytes(),
            end: RangeEnd::Before(format!("k{end:05}").into_bytes()),
            seqno,
        }
    }

    /// Runs follow the binary digits of the count, reuse what did not move, and answer as one
    /// fragment list of every tombstone would, read after every added tombstone.
    #[test]
    fn runs_grow_like_a_binary_counter_and_answer_as_one_list() {
        let d = MemRangeDels::default();
        assert!(d.runs().is_none() && d.max_covering(b"k00001", 100).is_none());
        let mut all = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in 0..100u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let start = (x % 900) as u32;
            let tomb = t(start, start + 1 + (x >> 20) as u32 % 100, i + 1);
            all.push(tomb.clone());
            let before = d.runs();
            d.add(tomb);
            let runs = d.runs().unwrap();
            let n = all.len();
            assert_eq!(runs.sources, n);
            assert_eq!(runs.lists().len(), n.count_ones() as usize);
            // The largest run of the old count is reused whenever its bounds stay.
            if let Some(b) = before
                && let (Some(old), Some(new)) = (b.bounds.first(), runs.bounds.first())
                && old == new
            {
                assert!(Arc::ptr_eq(&b.lists[0], &runs.lists[0]));
            }
            let whole = Fragments::new(&all);
            for k in (0..1000).step_by(7) {
                let key = format!("k{k:05}").into_bytes();
                for snap in [i / 2, i + 1] {
                    assert_eq!(
                        d.max_covering(&key, snap),
                        whole.max_covering(&key, snap),
                        "key {k}, snapshot {snap}, {n} tombstones"
                    );
                }
            }
        }
    }
}
