//! An owning cursor over a memtable: a [`MemCursor`] that holds an `Arc<Memtable>`, so a user
//! iterator can outlive any borrow. The memtable's nodes never move or change once linked, so
//! the cursor is a node pointer: a step is one load, a key or value a slice of the memtable.
//!
//! It sees entries inserted after it was created. That is safe for snapshot reads: the entries a
//! reader may see (seqno <= its snapshot) were all in the memtable before its snapshot was taken;
//! later inserts carry larger seqnos and are filtered out by the user iterator.

use std::sync::Arc;

use super::InternalCursor;
use crate::error::Result;
use crate::key::SeqNo;
use crate::memtable::{MemCursor, Memtable};
use crate::value::{Key, Value};

pub(crate) struct MemIter {
    cursor: MemCursor<Arc<Memtable>>,
}

impl MemIter {
    pub fn new(mem: Arc<Memtable>) -> Self {
        MemIter {
            cursor: mem.owned_cursor(),
        }
    }
}

impl InternalCursor for MemIter {
    fn valid(&self) -> bool {
        self.cursor.valid()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.cursor.seek_to_first();
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.cursor.seek_to_last();
        Ok(())
    }
    fn seek(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        self.cursor.seek(user_key, trailer);
        Ok(())
    }
    fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        self.cursor.seek_for_prev(user_key, trailer);
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        self.cursor.next();
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.cursor.prev();
        Ok(())
    }
    fn user_key(&self) -> &[u8] {
        self.cursor.user_key()
    }
    fn trailer(&self) -> u64 {
        self.cursor.trailer()
    }
    fn value(&self) -> Value {
        self.cursor.value()
    }
    fn value_slice(&self) -> &[u8] {
        self.cursor.value_slice()
    }
    fn key(&self) -> Key {
        self.cursor.key()
    }
    fn max_seqno(&self) -> SeqNo {
        self.cursor.max_seqno()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ValueKind;
    use crate::key::cmp_internal;

    /// Every walk (forward, backward, direction changes, seeks) matches a sorted vector.
    #[test]
    fn owned_cursor_matches_sorted_entries() {
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
        // Entries inserted behind the cursor's back are seen in order; the cursor outlives
        // every other handle on the memtable.
        m.insert(b"k100", 1000, ValueKind::Put, b"new");
        it.seek(b"k100", u64::MAX).unwrap();
        assert_eq!((it.user_key(), &it.value()[..]), (&b"k100"[..], &b"new"[..]));
        drop(m);
        it.next().unwrap();
        assert_eq!(it.user_key(), b"k100");
        assert_eq!(it.key(), b"k100");
    }
}
