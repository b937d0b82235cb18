//! A merging cursor over many sorted sources, moving in one direction.
//!
//! A binary heap of child indices, ordered by each child's current internal key (smallest on top
//! going forward, largest going backward). Seqnos are unique, so no two children are ever at the
//! same internal key; ties are broken by child index anyway (lower index = newer source).

use std::cmp::Ordering;

use super::InternalCursor;
use crate::error::Result;
use crate::key::cmp_internal;

pub(crate) struct MergeCursor {
    children: Vec<Box<dyn InternalCursor>>,
    heap: Vec<usize>,
    forward: bool,
}

impl MergeCursor {
    pub fn new(children: Vec<Box<dyn InternalCursor>>, forward: bool) -> Self {
        MergeCursor {
            children,
            heap: Vec::new(),
            forward,
        }
    }

    /// True when `a` should be above `b` in the heap.
    fn before(&self, a: usize, b: usize) -> bool {
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
        let i = *self.heap.first()?;
        self.children.get(i).map(|c| &**c)
    }

    /// Moves one entry in this cursor's direction.
    #[expect(
        clippy::indexing_slicing,
        reason = "hot path: heap positions are < heap.len() and heap entries < children.len()"
    )]
    pub fn advance(&mut self) -> Result<()> {
        let Some(&top) = self.heap.first() else {
            return Ok(());
        };
        let c = &mut self.children[top];
        if self.forward {
            c.next()?;
        } else {
            c.prev()?;
        }
        if !c.valid() {
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
