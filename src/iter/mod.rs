//! Iterators: the internal cursor trait, its memtable implementation, the concatenating cursor
//! over a sorted level, the merging cursor over many sources, and the user-facing [`DbIter`]
//! (snapshot visibility, tombstones, bounds, both ends).

mod level;
mod mem;
mod merge;
mod user;

pub use user::DbIter;

pub(crate) use level::LevelCursor;
pub(crate) use mem::MemIter;
pub(crate) use merge::MergeCursor;
pub(crate) use user::Bounds;
pub use user::prefix_upper_bound;

use crate::error::Result;
use crate::key::SeqNo;
use crate::value::{Key, Value};

/// A bidirectional cursor over internal entries (user key asc, trailer desc).
pub(crate) trait InternalCursor: Send {
    fn valid(&self) -> bool;
    fn seek_to_first(&mut self) -> Result<()>;
    fn seek_to_last(&mut self) -> Result<()>;
    /// First entry >= (user_key, trailer).
    fn seek(&mut self, user_key: &[u8], trailer: u64) -> Result<()>;
    /// Last entry <= (user_key, trailer).
    fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) -> Result<()>;
    fn next(&mut self) -> Result<()>;
    fn prev(&mut self) -> Result<()>;
    /// Requires `valid()`.
    fn user_key(&self) -> &[u8];
    fn trailer(&self) -> u64;
    fn value(&self) -> Value;
    /// The value as a slice borrowed from the cursor (no reference count taken).
    fn value_slice(&self) -> &[u8];
    fn key(&self) -> Key;
    /// At least the largest seqno of any entry the cursor can reach (a memtable's may grow while
    /// the cursor lives: entries inserted later carry seqnos above every reader's snapshot).
    /// Lets a merge skip a source's entries that a newer range tombstone deletes.
    fn max_seqno(&self) -> SeqNo;
}

impl InternalCursor for crate::sstable::TableIter {
    fn valid(&self) -> bool {
        crate::sstable::TableIter::valid(self)
    }
    fn seek_to_first(&mut self) -> Result<()> {
        crate::sstable::TableIter::seek_to_first(self)
    }
    fn seek_to_last(&mut self) -> Result<()> {
        crate::sstable::TableIter::seek_to_last(self)
    }
    fn seek(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        crate::sstable::TableIter::seek(self, user_key, trailer)
    }
    fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        crate::sstable::TableIter::seek_for_prev(self, user_key, trailer)
    }
    fn next(&mut self) -> Result<()> {
        crate::sstable::TableIter::next(self)
    }
    fn prev(&mut self) -> Result<()> {
        crate::sstable::TableIter::prev(self)
    }
    fn user_key(&self) -> &[u8] {
        crate::sstable::TableIter::user_key(self)
    }
    fn trailer(&self) -> u64 {
        crate::sstable::TableIter::trailer(self)
    }
    fn value(&self) -> Value {
        crate::sstable::TableIter::value(self)
    }
    fn value_slice(&self) -> &[u8] {
        crate::sstable::TableIter::value_slice(self)
    }
    fn key(&self) -> Key {
        crate::sstable::TableIter::key_bytes(self)
    }
    fn max_seqno(&self) -> SeqNo {
        self.table().meta().max_seqno
    }
}
