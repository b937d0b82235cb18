//! An owning cursor over a memtable.
//!
//! It holds an `Arc<Memtable>`; the skiplist's borrowed cursors cannot outlive a borrow, and a user
//! iterator must. So it reads entries in batches: a seek positions a skiplist cursor, copies the
//! next few entries' handles (`Bytes` clones, no byte copies) into a buffer, and drops the cursor;
//! stepping pops from the buffer, and only an empty buffer costs a new seek (past the last entry
//! taken). Batches grow from `MIN_BATCH` to `MAX_BATCH` while a scan goes on, so a seek that reads
//! one entry does not pay for many.
//!
//! Entries inserted after a batch was read are not seen by it. That is safe for snapshot reads:
//! the entries a reader may see (seqno <= its snapshot) were all in the memtable before its
//! snapshot was taken; later inserts carry larger seqnos and are filtered out anyway.

use std::collections::VecDeque;
use std::sync::Arc;

use super::InternalCursor;
use crate::error::Result;
use crate::memtable::{MemCursor, Memtable};
use crate::value::{Key, Value};

const MIN_BATCH: usize = 4;
const MAX_BATCH: usize = 64;

pub(crate) struct MemIter {
    mem: Arc<Memtable>,
    /// The current entry and the next ones in `forward`'s direction.
    buf: VecDeque<(Key, u64, Value)>,
    forward: bool,
    /// Size of the next batch.
    batch: usize,
}

impl MemIter {
    pub fn new(mem: Arc<Memtable>) -> Self {
        MemIter {
            mem,
            buf: VecDeque::new(),
            forward: true,
            batch: MIN_BATCH,
        }
    }

    /// Positions a fresh cursor with `position`, then buffers up to `batch` entries from there in
    /// the given direction.
    fn fill(&mut self, forward: bool, position: impl FnOnce(&mut MemCursor<'_>)) {
        self.buf.clear();
        self.forward = forward;
        let mut c = self.mem.cursor();
        position(&mut c);
        while c.valid() && self.buf.len() < self.batch {
            self.buf.push_back((c.key(), c.trailer(), c.value()));
            if forward {
                c.next();
            } else {
                c.prev();
            }
        }
    }

    fn seek_with(&mut self, forward: bool, position: impl FnOnce(&mut MemCursor<'_>)) {
        self.batch = MIN_BATCH;
        self.fill(forward, position);
    }

    /// Moves one entry in direction `forward`.
    fn step(&mut self, forward: bool) {
        let Some((k, t, _)) = self.buf.pop_front() else {
            return;
        };
        if self.forward == forward && !self.buf.is_empty() {
            return;
        }
        // Buffer used up (or direction changed): continue from the entry just left.
        if self.forward == forward {
            self.batch = (self.batch * 2).min(MAX_BATCH);
        } else {
            self.batch = MIN_BATCH;
        }
        self.fill(forward, |c| {
            if forward {
                c.seek(&k, t);
            } else {
                c.seek_for_prev(&k, t);
            }
            // Positioned on the entry just left (entries are never removed); step past it.
            if c.valid() && c.user_key() == &k[..] && c.trailer() == t {
                if forward {
                    c.next();
                } else {
                    c.prev();
                }
            }
        });
    }
}

impl InternalCursor for MemIter {
    fn valid(&self) -> bool {
        !self.buf.is_empty()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.seek_with(true, |c| c.seek_to_first());
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.seek_with(false, |c| c.seek_to_last());
        Ok(())
    }
    fn seek(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        self.seek_with(true, |c| c.seek(user_key, trailer));
        Ok(())
    }
    fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        self.seek_with(false, |c| c.seek_for_prev(user_key, trailer));
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        self.step(true);
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.step(false);
        Ok(())
    }
    fn user_key(&self) -> &[u8] {
        self.buf.front().map_or(&[], |(k, _, _)| k)
    }
    fn trailer(&self) -> u64 {
        self.buf.front().map_or(0, |(_, t, _)| *t)
    }
    fn value(&self) -> Value {
        self.buf
            .front()
            .map(|(_, _, v)| v.clone())
            .unwrap_or_default()
    }
    fn key(&self) -> Key {
        self.buf
            .front()
            .map(|(k, _, _)| k.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ValueKind;
    use crate::key::cmp_internal;

    /// Every walk (forward, backward, direction changes, seeks) matches a sorted vector.
    #[test]
    fn batched_cursor_matches_sorted_entries() {
        let m = Arc::new(Memtable::new(1));
        let mut all: Vec<(Vec<u8>, u64)> = Vec::new();
        for i in 0..300u64 {
            let k = format!("k{:03}", (i * 37) % 150).into_bytes();
            m.insert(&k, i + 1, ValueKind::Put, b"v");
            all.push((k, crate::key::pack_trailer(i + 1, ValueKind::Put)));
        }
        all.sort_by(|a, b| cmp_internal(&a.0, a.1, &b.0, b.1));
        let cur = |it: &MemIter| (it.user_key().to_vec(), it.trailer());

        let mut it = MemIter::new(m.clone());
        it.seek_to_first().unwrap();
        for e in &all {
            assert_eq!(&cur(&it), e);
            it.next().unwrap();
        }
        assert!(!it.valid());

        it.seek_to_last().unwrap();
        for e in all.iter().rev() {
            assert_eq!(&cur(&it), e);
            it.prev().unwrap();
        }
        assert!(!it.valid());

        // Zig-zag: 7 forward, 3 back, from a seek.
        let mut pos = 10usize;
        it.seek(&all[pos].0, all[pos].1).unwrap();
        for _ in 0..40 {
            for _ in 0..7 {
                it.next().unwrap();
                pos += 1;
                assert_eq!(cur(&it), all[pos]);
            }
            for _ in 0..3 {
                it.prev().unwrap();
                pos -= 1;
                assert_eq!(cur(&it), all[pos]);
            }
        }
        it.seek_for_prev(&all[200].0, all[200].1).unwrap();
        assert_eq!(cur(&it), all[200]);
        it.next().unwrap();
        assert_eq!(cur(&it), all[201]);
    }
}
