//! A merging cursor over many sorted sources, moving in one direction.
//!
//! A binary heap of child indices, ordered by each child's current internal key (smallest on top
//! going forward, largest going backward). Seqnos are unique, so no two children are ever at the
//! same internal key; ties are broken by child index anyway (lower index = newer source).
//!
//! Each heap slot caches the first 16 bytes of its child's key, so most comparisons while
//! re-ordering the heap are one integer comparison instead of four calls through the children's
//! vtables and a `memcmp` (the heap was a quarter of a seek-and-scan's instructions).

use std::cmp::Ordering;

use super::InternalCursor;
use crate::error::Result;
use crate::key::cmp_internal;

pub(crate) struct MergeCursor {
    children: Vec<Box<dyn InternalCursor>>,
    heap: Vec<Slot>,
    forward: bool,
}

/// A heap entry: a child and the first 16 bytes of its current user key (big-endian, zero
/// padded; keys whose prefixes differ are ordered as their prefixes, see `before`).
#[derive(Clone, Copy)]
struct Slot {
    prefix: u128,
    child: usize,
}

fn prefix16(key: &[u8]) -> u128 {
    let mut p = [0u8; 16];
    let n = key.len().min(16);
    if let (Some(dst), Some(src)) = (p.get_mut(..n), key.get(..n)) {
        dst.copy_from_slice(src);
    }
    u128::from_be_bytes(p)
}

impl MergeCursor {
    pub fn new(children: Vec<Box<dyn InternalCursor>>, forward: bool) -> Self {
        MergeCursor {
            children,
            heap: Vec::new(),
            forward,
        }
    }

    fn slot(&self, child: usize) -> Slot {
        let prefix = self.children.get(child).map_or(0, |c| prefix16(c.user_key()));
        Slot { prefix, child }
    }

    /// True when `a` should be above `b` in the heap. Different prefixes order the keys (at the
    /// first differing byte both keys have a byte, or one has ended, padded with 0, and the other
    /// has a byte above 0); equal ones say nothing past a short key's end, so compare in full.
    fn before(&self, a: Slot, b: Slot) -> bool {
        if a.prefix != b.prefix {
            return (a.prefix < b.prefix) == self.forward;
        }
        let (a, b) = (a.child, b.child);
        let (Some(ca), Some(cb)) = (self.children.get(a), self.children.get(b)) else {
            return false;
        };
        let o = cmp_internal(ca.user_key(), ca.trailer(), cb.user_key(), cb.trailer());
        let o = if self.forward { o } else { o.reverse() };
        match o {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => a < b,
        }
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "hot path: heap positions are < heap.len() and heap entries < children.len()"
    )]
    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && self.before(self.heap[l], self.heap[best]) {
                best = l;
            }
            if r < n && self.before(self.heap[r], self.heap[best]) {
                best = r;
            }
            if best == i {
                return;
            }
            self.heap.swap(i, best);
            i = best;
        }
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "hot path: heap positions are < heap.len() and heap entries < children.len()"
    )]
    fn rebuild(&mut self) {
        self.heap = (0..self.children.len())
            .filter(|&i| self.children[i].valid())
            .map(|i| self.slot(i))
            .collect();
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
    }

    /// Positions every child at its first entry >= (key, trailer) going forward, or its last
    /// entry <= (key, trailer) going backward; `None` means the start of the direction.
    pub fn seek(&mut self, target: Option<(&[u8], u64)>) -> Result<()> {
        for c in &mut self.children {
            match (target, self.forward) {
                (None, true) => c.seek_to_first()?,
                (None, false) => c.seek_to_last()?,
                (Some((k, t)), true) => c.seek(k, t)?,
                (Some((k, t)), false) => c.seek_for_prev(k, t)?,
            }
        }
        self.rebuild();
        Ok(())
    }

    /// The child at the current position.
    pub fn current(&self) -> Option<&dyn InternalCursor> {
        let i = self.heap.first()?.child;
        self.children.get(i).map(|c| &**c)
    }

    /// Moves one entry in this cursor's direction.
    #[expect(
        clippy::indexing_slicing,
        reason = "hot path: heap positions are < heap.len() and heap entries < children.len()"
    )]
    pub fn advance(&mut self) -> Result<()> {
        let Some(&Slot { child: top, .. }) = self.heap.first() else {
            return Ok(());
        };
        let c = &mut self.children[top];
        if self.forward {
            c.next()?;
        } else {
            c.prev()?;
        }
        if c.valid() {
            self.heap[0] = self.slot(top);
        } else {
            let last = self.heap.len() - 1;
            self.heap.swap(0, last);
            self.heap.pop();
        }
        // One source left (a scan of a compacted tree): nothing to reorder.
        if self.heap.len() > 1 {
            self.sift_down(0);
        }
        Ok(())
    }
}
