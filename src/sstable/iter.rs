//! [`TableCursor`]: a bidirectional cursor over one table in internal-key order.
//!
//! The cursor reads blocks through the [`BlockSource`] trait, which [`super::Table`] implements
//! ([`super::TableIter`] is the cursor over a `Table`); the cursor is generic over it, so a block
//! load is a static call and this module does not depend on the reader. It holds an `Arc` of the
//! source and the current block as `Bytes` (a slice of the mapping or a decompressed buffer), so
//! keys and values it hands out are zero-copy and stay valid after the cursor moves on. Any error
//! leaves the cursor invalid.

use std::cmp::Ordering;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::block::{BlockView, Entry};
use super::blocks::ReadWindow;
use super::index::BlockHandle;
use crate::error::{Error, Result};
use crate::format::sst::ENTRY_HEADER_SIZE;
use crate::key::cmp_internal;
use crate::value::{Key, Value};

/// The blocks of one table, as a [`TableCursor`] reads them. Implemented by [`super::Table`].
pub trait BlockSource {
    /// Number of data blocks.
    fn num_blocks(&self) -> usize;
    /// Index of the first data block whose last key is >= (user_key, trailer); `num_blocks()` if
    /// none.
    fn find_block(&self, user_key: &[u8], trailer: u64) -> Result<usize>;
    /// Where data block `i` lies in the file.
    fn block_handle(&self, i: usize) -> Result<BlockHandle>;
    /// Data block `i`'s contents (checked); `fill_cache` false keeps a freshly decompressed
    /// block out of the block cache.
    fn block_bytes(&self, i: usize, fill_cache: bool) -> Result<Bytes>;
    /// [`BlockSource::block_bytes`] for a cursor stepping forward: a block read from the file is
    /// taken from `window`, which is refilled with `ahead` bytes from the block on when it does
    /// not hold the block (one read for the blocks that follow). By default the window is not
    /// used.
    fn block_bytes_ahead(
        &self,
        i: usize,
        fill_cache: bool,
        _window: &mut ReadWindow,
        _ahead: u64,
    ) -> Result<Bytes> {
        self.block_bytes(i, fill_cache)
    }
    /// Hints that `[offset, offset + len)` of the file will be read soon (may do nothing).
    fn readahead(&self, offset: u64, len: u64);
    /// Hints that this reader is done with `[offset, offset + len)` of the file: its pages may
    /// leave the process's memory (may do nothing).
    fn release(&self, _offset: u64, _len: u64) {}
    /// The file, for error messages.
    fn path(&self) -> &Path;
}

/// Position inside the current block.
#[derive(Debug, Clone)]
struct Cursor {
    offset: usize,
    next: usize,
    key: Range<usize>,
    value: Range<usize>,
    trailer: u64,
}

impl Cursor {
    fn from_entry(e: &Entry<'_>) -> Cursor {
        let key_start = e.offset + ENTRY_HEADER_SIZE;
        let key_end = key_start + e.user_key.len();
        Cursor {
            offset: e.offset,
            next: e.next,
            key: key_start..key_end,
            value: key_end..key_end + e.value.len(),
            trailer: e.trailer,
        }
    }
}

/// Bidirectional cursor over the blocks of `S`. Created by [`super::Table::iter`]; unpositioned
/// until a seek.
pub struct TableCursor<S> {
    table: Arc<S>,
    block_idx: usize,
    block: Bytes,
    /// `block`'s layout, checked once when it was loaded ([`BlockView::layout`]).
    layout: (usize, usize),
    cur: Option<Cursor>,
    /// Blocks loaded in a row in one direction (readahead starts after a few).
    run: u32,
    /// File range already hinted for readahead.
    ahead: (u64, u64),
    /// Whether blocks this iterator decompresses go into the block cache.
    fill_cache: bool,
    /// One-pass forward reading ([`TableCursor::release_behind`]): the file offset below which
    /// pages were released, or `None` when this cursor releases nothing.
    released: Option<u64>,
    /// The file bytes read ahead for a forward scan ([`BlockSource::block_bytes_ahead`]).
    window: ReadWindow,
}

/// A forward scan that has loaded [`WINDOW_AFTER_BLOCKS`] blocks in a row reads the blocks after
/// them a window at a time: [`WINDOW_BYTES_PER_BLOCK`] times the blocks read in a row so far (what
/// the scan has shown it reads), up to [`WINDOW_MAX_BYTES`] (one system call per about 30
/// compressed 4 KiB blocks). A seek followed by a few steps reads block by block: there a window
/// cost more than the calls it saved (`db_bench seekrandom`: a seek and 100 steps read about 4
/// blocks, and reading 64 KiB for the last of them made seeks 20% slower).
const WINDOW_AFTER_BLOCKS: u32 = 8;
const WINDOW_BYTES_PER_BLOCK: u64 = 2 << 10;
const WINDOW_MAX_BYTES: u64 = 64 << 10;

/// A cursor that releases pages behind it does so in steps of this many bytes (one `madvise`
/// per step), and releases the rest of the file when it runs off its end.
const RELEASE_STEP_BYTES: u64 = 256 << 10;
/// What Linux's fault-around maps at most around a faulting address (`fault_around_bytes`).
const FAULT_AROUND_BYTES: u64 = 64 << 10;

/// Readahead window for scans over a mapping advised `Random` (see [`BlockSource::readahead`]): starts at `READAHEAD_MIN_BYTES` once `READAHEAD_AFTER_BLOCKS`
/// blocks were read in a row, doubles with the run, up to `READAHEAD_MAX_BYTES`. Short scans
/// (seek + a few nexts) never trigger it.
const READAHEAD_AFTER_BLOCKS: u32 = 3;
const READAHEAD_MIN_BYTES: u64 = 64 << 10;
const READAHEAD_MAX_BYTES: u64 = 1 << 20;

impl<S: BlockSource> std::fmt::Debug for TableCursor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCursor")
            .field("table", &self.table.path())
            .field("block_idx", &self.block_idx)
            .field("valid", &self.valid())
            .finish()
    }
}

impl<S: BlockSource> TableCursor<S> {
    pub(super) fn new(table: Arc<S>) -> TableCursor<S> {
        TableCursor {
            table,
            block_idx: 0,
            block: Bytes::new(),
            layout: (0, 0),
            cur: None,
            run: 0,
            ahead: (0, 0),
            fill_cache: true,
            released: None,
            window: ReadWindow::default(),
        }
    }

    /// For a one-pass forward reader (compaction): as the cursor moves forward, the file pages
    /// of the blocks behind it are released from the process's memory, 1 MiB at a time (see
    /// [`BlockSource::release`]). Moving backward or seeking does not release anything.
    pub fn release_behind(mut self) -> TableCursor<S> {
        self.released = Some(0);
        self
    }

    /// Blocks this iterator decompresses are not inserted into the block cache (blocks already
    /// cached are still used). For one-pass readers such as compaction, whose blocks would only
    /// push out the blocks that reads need.
    pub fn without_cache_fill(mut self) -> TableCursor<S> {
        self.fill_cache = false;
        self
    }

    /// Bytes allocated for reading ahead.
    #[cfg(test)]
    pub(super) fn window_capacity(&self) -> usize {
        self.window.capacity()
    }

    fn err_ctx(&self, e: Error) -> Error {
        let offset = self
            .table
            .block_handle(self.block_idx)
            .map_or(0, |h| h.offset);
        e.in_file(self.table.path(), offset)
    }

    /// Runs `f`; on error the iterator becomes invalid.
    fn guard(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let r = f(self);
        if r.is_err() {
            self.cur = None;
            self.block = Bytes::new();
            self.layout = (0, 0);
        }
        r
    }

    fn load(&mut self, i: usize) -> Result<()> {
        let sequential =
            !self.block.is_empty() && (i == self.block_idx + 1 || i + 1 == self.block_idx);
        self.run = if sequential {
            self.run.saturating_add(1)
        } else {
            0
        };
        if self.run >= READAHEAD_AFTER_BLOCKS {
            self.hint_readahead(i, i > self.block_idx);
        }
        if let Some(done) = self.released
            && i == self.block_idx + 1
            && let Ok(h) = self.table.block_handle(i)
            && h.offset >= done.saturating_add(RELEASE_STEP_BYTES)
        {
            // Every block before block `i` (which starts at `h.offset`) has been read. The
            // range starts a little before the last one ended: the kernel's fault-around maps
            // up to 64 KiB of cached pages around each fault, behind the reader too.
            let from = done.saturating_sub(FAULT_AROUND_BYTES);
            self.table.release(from, h.offset - from);
            self.released = Some(h.offset);
        }
        let forward = sequential && i == self.block_idx + 1;
        self.block_idx = i;
        self.block = if forward && self.run >= WINDOW_AFTER_BLOCKS {
            let w = &mut self.window;
            let bytes = (WINDOW_BYTES_PER_BLOCK * u64::from(self.run)).min(WINDOW_MAX_BYTES);
            self.table.block_bytes_ahead(i, self.fill_cache, w, bytes)?
        } else {
            self.table.block_bytes(i, self.fill_cache)?
        };
        self.layout = match BlockView::new(&self.block) {
            Ok(v) => v.layout(),
            Err(e) => return Err(self.err_ctx(e)),
        };
        Ok(())
    }

    /// Hints the next window past block `i` in the scan's direction, once per window.
    fn hint_readahead(&mut self, i: usize, forward: bool) {
        let Ok(h) = self.table.block_handle(i) else { return };
        let (lo, hi) = self.ahead;
        let block_end = h.offset.saturating_add(h.len);
        if h.offset >= lo && block_end <= hi {
            return;
        }
        let shift = (self.run - READAHEAD_AFTER_BLOCKS).min(8);
        let window = (READAHEAD_MIN_BYTES << shift).min(READAHEAD_MAX_BYTES);
        let (start, end) = if forward {
            (h.offset, block_end.saturating_add(window))
        } else {
            (h.offset.saturating_sub(window), block_end)
        };
        self.table.readahead(start, end - start);
        self.ahead = (start, end);
    }

    /// Applies `f` to a view of the current block and stores the entry it returns.
    fn set(&mut self, f: impl FnOnce(&BlockView<'_>) -> Result<Option<Cursor>>) -> Result<()> {
        let r = f(&BlockView::with_layout(&self.block, self.layout));
        self.cur = r.map_err(|e| self.err_ctx(e))?;
        Ok(())
    }

    /// Positions at the first entry of block `i` or a later non-empty block.
    fn first_from(&mut self, mut i: usize) -> Result<()> {
        self.cur = None;
        while i < self.table.num_blocks() {
            self.load(i)?;
            self.set(|v| {
                if v.entries_end() == 0 {
                    return Ok(None);
                }
                v.entry_at(0).map(|e| Some(Cursor::from_entry(&e)))
            })?;
            if self.cur.is_some() {
                return Ok(());
            }
            i += 1;
        }
        // Ran off the end: the read-ahead buffer goes (a compaction keeps every input's cursor
        // until it is done, and most of them sit at their end); a one-pass reader is done with
        // the whole file.
        self.window = ReadWindow::default();
        if self.released.is_some_and(|d| d < u64::MAX) {
            self.block = Bytes::new();
            self.table.release(0, u64::MAX);
            self.released = Some(u64::MAX);
        }
        Ok(())
    }

    /// Positions at the last entry of block `i` or an earlier non-empty block.
    fn last_from(&mut self, i: Option<usize>) -> Result<()> {
        self.cur = None;
        let mut i = i;
        while let Some(b) = i {
            self.load(b)?;
            self.set(|v| Ok(v.last()?.map(|e| Cursor::from_entry(&e))))?;
            if self.cur.is_some() {
                return Ok(());
            }
            i = b.checked_sub(1);
        }
        Ok(())
    }

    pub fn seek_to_first(&mut self) -> Result<()> {
        self.guard(|it| it.first_from(0))
    }

    pub fn seek_to_last(&mut self) -> Result<()> {
        self.guard(|it| {
            let n = it.table.num_blocks();
            it.last_from(n.checked_sub(1))
        })
    }

    /// Positions at the first entry >= (user_key, trailer).
    pub fn seek(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        self.guard(|it| {
            it.cur = None;
            let i = it.table.find_block(user_key, trailer)?;
            if i >= it.table.num_blocks() {
                return Ok(());
            }
            it.load(i)?;
            it.set(|v| Ok(v.seek(user_key, trailer)?.map(|e| Cursor::from_entry(&e))))?;
            if it.cur.is_none() {
                // Only possible if the index key overstates the block; be robust anyway.
                it.first_from(i + 1)?;
            }
            Ok(())
        })
    }

    /// Positions at the last entry <= (user_key, trailer).
    pub fn seek_for_prev(&mut self, user_key: &[u8], trailer: u64) -> Result<()> {
        self.seek(user_key, trailer)?;
        if !self.valid() {
            return self.seek_to_last();
        }
        if cmp_internal(self.user_key(), self.trailer(), user_key, trailer) == Ordering::Equal {
            return Ok(());
        }
        self.prev()
    }

    /// Moves to the next entry. Requires: `valid()`.
    // Not `Iterator::next`: moving can fail, and the cursor also moves backwards and seeks.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<()> {
        // The common case, the next entry in the same block, without the general path's
        // closures and moves of `Result`s (a tenth of a scan's instructions per entry).
        if let Some(c) = &self.cur
            && c.next < self.layout.0
            && let Ok(e) = BlockView::with_layout(&self.block, self.layout).entry_at(c.next)
        {
            self.cur = Some(Cursor::from_entry(&e));
            return Ok(());
        }
        self.guard(|it| {
            let Some(c) = it.cur.take() else {
                return Ok(());
            };
            it.set(|v| {
                if c.next >= v.entries_end() {
                    return Ok(None);
                }
                v.entry_at(c.next).map(|e| Some(Cursor::from_entry(&e)))
            })?;
            if it.cur.is_none() {
                it.first_from(it.block_idx + 1)?;
            }
            Ok(())
        })
    }

    /// Moves to the previous entry. Requires: `valid()`.
    pub fn prev(&mut self) -> Result<()> {
        self.guard(|it| {
            let Some(c) = it.cur.take() else {
                return Ok(());
            };
            it.set(|v| Ok(v.prev_of(c.offset)?.map(|e| Cursor::from_entry(&e))))?;
            if it.cur.is_none() {
                it.last_from(it.block_idx.checked_sub(1))?;
            }
            Ok(())
        })
    }

    /// True when positioned at an entry.
    pub fn valid(&self) -> bool {
        self.cur.is_some()
    }

    /// User key of the current entry (empty when invalid).
    pub fn user_key(&self) -> &[u8] {
        self.cur
            .as_ref()
            .and_then(|c| self.block.get(c.key.clone()))
            .unwrap_or_default()
    }

    /// Trailer of the current entry (0 when invalid).
    pub fn trailer(&self) -> u64 {
        self.cur.as_ref().map_or(0, |c| c.trailer)
    }

    fn sub(&self, r: Option<Range<usize>>) -> Bytes {
        match r {
            Some(r) if r.start <= r.end && r.end <= self.block.len() => self.block.slice(r),
            _ => Bytes::new(),
        }
    }

    /// Value of the current entry as a slice of the block (no reference count taken; empty when
    /// invalid).
    pub fn value_slice(&self) -> &[u8] {
        self.cur
            .as_ref()
            .and_then(|c| self.block.get(c.value.clone()))
            .unwrap_or_default()
    }

    /// Value of the current entry: a zero-copy handle (empty when invalid).
    pub fn value(&self) -> Value {
        Value::from_bytes(self.sub(self.cur.as_ref().map(|c| c.value.clone())))
    }

    /// User key of the current entry as a zero-copy handle (empty when invalid).
    pub fn key_bytes(&self) -> Key {
        Key::from_bytes(self.sub(self.cur.as_ref().map(|c| c.key.clone())))
    }

    /// The table this cursor reads.
    pub fn table(&self) -> &Arc<S> {
        &self.table
    }
}
