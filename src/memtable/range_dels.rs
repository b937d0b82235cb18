//! A memtable's range tombstones, kept beside its skiplist of point entries.
//!
//! Tombstones are appended (by the one write leader, in seqno order) to a list under a mutex;
//! readers never take that mutex on the common path. `count` says how many there are, so a read of
//! a memtable without tombstones costs one atomic load. Readers use a fragmented copy
//! ([`Fragments`]) rebuilt lazily when tombstones were added since it was made, and published
//! through an `ArcSwapOption`, so concurrent reads share it.
//!
//! Visibility: a tombstone is appended, and `count` raised (release), before the write path
//! publishes its seqno; a reader that sees the seqno (acquire) therefore sees a `count` that
//! includes it, and rebuilds the fragments if the cached ones were made from fewer.

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
    fragments: ArcSwapOption<Fragments>,
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

    /// The fragments of every tombstone added so far; `None` when there is none.
    pub fn fragments(&self) -> Option<Arc<Fragments>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        if let Some(f) = self.fragments.load_full()
            && f.sources() >= n
        {
            return Some(f);
        }
        let list = self.list.lock();
        let f = Arc::new(Fragments::new(list.iter()));
        // Publish unless someone published fragments of more tombstones meanwhile.
        self.fragments.rcu(|cur| match cur {
            Some(c) if c.sources() >= f.sources() => Some(Arc::clone(c)),
            _ => Some(Arc::clone(&f)),
        });
        Some(f)
    }

    /// The seqno of the newest tombstone over `key` with seqno `<= snapshot`, without taking a
    /// reference count on the shared fragments when they are current (the point-read path).
    pub fn max_covering(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        {
            let current = self.fragments.load();
            if let Some(f) = current.as_ref()
                && f.sources() >= n
            {
                return f.max_covering(key, snapshot);
            }
        }
        self.fragments()?.max_covering(key, snapshot)
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
