//! An owning cursor over a memtable.
//!
//! It holds an `Arc<Memtable>` and remembers its position as a key, re-seeking the skiplist on each
//! step: the skiplist's borrowed cursors cannot outlive a borrow, and a user iterator must.

use std::sync::Arc;

use super::InternalCursor;
use crate::error::Result;
use crate::memtable::Memtable;
use crate::value::{Key, Value};

pub(crate) struct MemIter {
    mem: Arc<Memtable>,
    cur: Option<(Key, u64, Value)>,
}

impl MemIter {
    pub fn new(mem: Arc<Memtable>) -> Self {
        MemIter { mem, cur: None }
    }

    fn load(&mut self, f: impl FnOnce(&mut crate::memtable::MemCursor<'_>)) {
        let mut c = self.mem.cursor();
        f(&mut c);
        self.cur = c.valid().then(|| (c.key(), c.trailer(), c.value()));
    }
}

impl InternalCursor for MemIter {
    fn valid(&self) -> bool {
        self.cur.is_some()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.load(|c| c.seek_to_first());
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.load(|c| c.seek_to_last());
        Ok(())
    }
    fn seek(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        self.load(|c| c.seek(user_key, trailer));
        Ok(())
    }
    fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        self.load(|c| c.seek_for_prev(user_key, trailer));
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        if let Some((k, t, _)) = self.cur.take() {
            self.load(|c| {
                c.seek(&k, t);
                // Positioned on the current entry (entries are never removed); step past it.
                if c.valid() && c.user_key() == &k[..] && c.trailer() == t {
                    c.next();
                }
            });
        }
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        if let Some((k, t, _)) = self.cur.take() {
            self.load(|c| {
                c.seek_for_prev(&k, t);
                if c.valid() && c.user_key() == &k[..] && c.trailer() == t {
                    c.prev();
                }
            });
        }
        Ok(())
    }
    fn user_key(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[], |(k, _, _)| k)
    }
    fn trailer(&self) -> u64 {
        self.cur.as_ref().map_or(0, |(_, t, _)| *t)
    }
    fn value(&self) -> Value {
        self.cur
            .as_ref()
            .map(|(_, _, v)| v.clone())
            .unwrap_or_default()
    }
    fn key(&self) -> Key {
        self.cur
            .as_ref()
            .map(|(k, _, _)| k.clone())
            .unwrap_or_default()
    }
}
