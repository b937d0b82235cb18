//! Reading tables: [`Table`] maps a sealed SSTable file and serves point lookups from it.
//!
//! The whole file is one [`Bytes`] (over the mapping for files, see [`super::mapping`]; any bytes
//! for [`Table::from_bytes`]). The footer, meta block, filter and range tombstones (version 2) are
//! decoded once at open; the
//! index is kept as a slice of the mapping and binary-searched in place (through [`Fences`]).
//! Data blocks are loaded by [`DataBlocks`]; either way a returned [`Value`] keeps its bytes
//! alive on its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use bytes::Bytes;

use super::block::BlockView;
use super::blocks::{BlockData, DataBlocks, ReadWindow, slice};
use super::bloom::Filter;
use super::compress::read_block_in;
use super::fences::Fences;
use super::footer::{Footer, Handle, aux_block_end, range_del_block_end};
use super::index::{BlockHandle, Index};
use super::iter::{BlockSource, TableCursor};
use super::mapping::{MapAdvice, MappedFile, map_table};
use super::meta::TableMeta;
use crate::cache::BlockCache;
use crate::rangedel::{RangeTombstone, UpperLimit};
use crate::error::{Error, Result};
use crate::format::sst::FOOTER_SIZE;
use crate::fs::FileSystem;
use crate::key::{SeqNo, seek_trailer};
use crate::value::Value;

/// A bidirectional cursor over a [`Table`] (see [`TableCursor`]).
pub type TableIter = TableCursor<Table>;

/// An open, immutable SSTable. Shared as `Arc<Table>`; `Send + Sync`.
pub struct Table {
    /// The data blocks, the index, and the file they are in.
    blocks: DataBlocks,
    /// Dense search keys over the index, so a lookup's binary search touches 8-byte words
    /// instead of index entries and key heap (see [`Fences`]).
    fences: Fences,
    filter: Filter,
    meta: TableMeta,
    /// The range tombstones (version 2), in block order.
    range_tombstones: Vec<RangeTombstone>,
    obsolete: Option<Arc<AtomicBool>>,
    /// The mapping (None for [`Table::from_bytes`]); the file bytes point into it.
    map: Option<Arc<MappedFile>>,
    /// True when iterators should hint readahead (the mapping is advised `Random`).
    hint_scans: bool,
    /// Where the filter block lies (offset, length): probed in place, its pages are released
    /// from the mapping after the open's checksum read them.
    filter_block: (u64, u64),
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.blocks.path)
            .field("file_number", &self.blocks.file_number)
            .field("file_size", &self.blocks.data.len())
            .field("meta", &self.meta)
            .finish()
    }
}

/// The footer's three auxiliary blocks, located and checked to lie in order.
struct AuxOffsets {
    meta: u64,
    index: u64,
    filter: u64,
}

impl Table {
    /// Maps the complete, fsynced table at `path`. An empty file is corruption (never mapped).
    #[cfg(any(test, feature = "internal"))]
    pub fn open(
        path: &Path,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        Self::open_with_fs(&crate::fs::default_fs(), path, file_number, cache)
    }

    /// Maps the complete, fsynced table at `path` on the file system `fs` (which also unlinks the
    /// file after [`Table::mark_obsolete`]). An empty file is corruption (never mapped).
    pub fn open_with_fs(
        fs: &Arc<dyn FileSystem>,
        path: &Path,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        let m = map_table(fs, path)?;
        let mut t = Table::parse(m.data, path.to_path_buf(), file_number, cache, Some(m.obsolete))?;
        // Only a `Random` mapping needs the scans' own readahead hints; otherwise the kernel's
        // read-around does it (and a hint over resident pages costs a page-cache walk).
        t.blocks.set_file(Arc::clone(&m.owner));
        t.map = Some(m.owner);
        t.hint_scans = m.advice == MapAdvice::Random;
        // Checking the filter's checksum read all of its pages; a table nobody reads need not keep
        // them resident (about 1.2 MiB per million keys). Probes bring back the pages they touch.
        t.release_pages(t.filter_block.0, t.filter_block.1);
        Ok(Arc::new(t))
    }

    /// Opens a table held in any bytes: the fuzzing entry point. `path` is used only in errors;
    /// [`Table::mark_obsolete`] does nothing for such a table.
    #[cfg(any(test, feature = "internal"))]
    pub fn from_bytes(
        data: Bytes,
        path: PathBuf,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Table> {
        Table::parse(data, path, file_number, cache, None)
    }

    fn parse(
        data: Bytes,
        path: PathBuf,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
        obsolete: Option<Arc<AtomicBool>>,
    ) -> Result<Table> {
        let footer = Footer::decode(&data, &path)?;
        let off = aux_offsets(&footer, &data, &path)?;
        let aux = |h: &Handle| -> Result<Bytes> {
            let at = h.offset.get();
            let blk = slice(&data, at, u64::from(h.len.get()))
                .ok_or_else(|| Error::corruption(&path, at, "block out of range"))?;
            read_block_in(&data, blk).map_err(|e| e.in_file(&path, at))
        };
        let version = footer.format_version.get();
        let meta = TableMeta::decode(&aux(&footer.meta)?, version)
            .map_err(|e| e.in_file(&path, off.meta))?;
        let index = Index::new(aux(&footer.index)?).map_err(|e| e.in_file(&path, off.index))?;
        if index.len() as u64 != meta.data_blocks {
            return Err(Error::corruption(
                &path,
                off.index,
                "index and meta disagree on the number of data blocks",
            ));
        }
        let filter =
            Filter::decode(&aux(&footer.filter)?).map_err(|e| e.in_file(&path, off.filter))?;
        let fences = Fences::new(&index).map_err(|e| e.in_file(&path, off.index))?;
        let range_tombstones = match meta.range_del {
            None => Vec::new(),
            Some(h) => {
                let filter_end = off.filter.saturating_add(u64::from(footer.filter.len.get()));
                if range_del_block_end(h.offset, h.len, filter_end, off.index).is_none() {
                    return Err(Error::corruption(&path, off.meta, "range tombstone handle out of range"));
                }
                let blk = slice(&data, h.offset, h.len)
                    .ok_or_else(|| Error::corruption(&path, h.offset, "block out of range"))?;
                let payload = read_block_in(&data, blk).map_err(|e| e.in_file(&path, h.offset))?;
                let ts = super::range_del::decode(&payload)
                    .and_then(|ts| super::range_del::check_within(&ts, &meta).map(|()| ts))
                    .map_err(|e| e.in_file(&path, h.offset))?;
                if ts.len() as u64 != meta.range_tombstones {
                    return Err(Error::corruption(
                        &path,
                        off.meta,
                        "meta and range tombstone block disagree on the number of range tombstones",
                    ));
                }
                ts
            }
        };
        let blocks = DataBlocks::new(data, path, file_number, cache, index, off.index, off.filter);
        Ok(Table {
            blocks,
            fences,
            filter,
            meta,
            range_tombstones,
            obsolete,
            map: None,
            hint_scans: false,
            filter_block: (off.filter, u64::from(footer.filter.len.get())),
        })
    }

    /// Turns `PARANOID_CHECKS` on for this table: every block read from now on has its checksum
    /// verified against the file, also blocks read before (the block cache and the
    /// checksum-once record are bypassed).
    pub fn set_paranoid_checks(&self, on: bool) {
        self.blocks.set_paranoid(on);
    }

    /// `BLOCK_READ` for this table: how a data block not yet known to be raw is read on a block
    /// cache miss (see [`crate::BlockRead`]). Tables start with `Pread`.
    pub fn set_block_read(&self, mode: crate::BlockRead) {
        self.blocks.set_pread(mode == crate::BlockRead::Pread);
    }

    /// Newest entry for `user_key` with seqno <= `snapshot` (tombstones included), as
    /// `(trailer, value)`. `key_hash` is [`super::key_hash`]`(user_key)`; when the filter rules
    /// the key out, no block is read.
    #[cfg(any(test, feature = "internal"))]
    #[inline]
    pub fn get(
        &self,
        user_key: &[u8],
        key_hash: u64,
        snapshot: SeqNo,
    ) -> Result<Option<(u64, Value)>> {
        if !self.filter.may_contain_hash(key_hash) {
            return Ok(None);
        }
        self.get_past_filter(user_key, snapshot)
    }

    /// [`Table::get`] for a caller that has already asked the filter
    /// ([`Table::may_contain_hash`]), so it is not probed twice.
    #[inline]
    pub fn get_past_filter(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(u64, Value)>> {
        let target = seek_trailer(snapshot);
        let i = self.find_block(user_key, target)?;
        if i >= self.blocks.index.len() {
            return Ok(None);
        }
        let h = self.blocks.handle(i)?;
        let path = &self.blocks.path;
        let found = match self.blocks.load(i, h, true)? {
            BlockData::InPlace(p) => {
                let e = BlockView::new(p)
                    .and_then(|v| v.seek(user_key, target))
                    .map_err(|e| e.in_file(path, h.offset))?;
                e.filter(|e| e.user_key == user_key)
                    .map(|e| (e.trailer, Value::from_bytes(self.blocks.data.slice_ref(e.value))))
            }
            BlockData::Owned(b) => {
                let e = BlockView::new(&b)
                    .and_then(|v| v.seek(user_key, target))
                    .map_err(|e| e.in_file(path, h.offset))?;
                e.filter(|e| e.user_key == user_key)
                    .map(|e| (e.trailer, Value::from_bytes(b.slice_ref(e.value))))
            }
        };
        Ok(found)
    }

    /// Whether `user_key` lies in the table's key range (from its smallest key to its
    /// [`Table::upper_limit`]): a table whose range misses the key cannot hold it.
    #[inline]
    pub fn key_in_range(&self, user_key: &[u8]) -> bool {
        self.smallest_user_key() <= user_key && self.upper_limit().reaches(user_key)
    }

    /// False only if the filter rules out the key with hash `key_hash`.
    #[inline]
    pub fn may_contain_hash(&self, key_hash: u64) -> bool {
        self.filter.may_contain_hash(key_hash)
    }

    /// False only if the table's filter rules out every key starting with `prefix` (a table
    /// written with `PREFIX_BLOOM_LENGTH` n, and a prefix of at least n bytes).
    #[inline]
    pub fn may_contain_prefix(&self, prefix: &[u8]) -> bool {
        self.filter.may_contain_prefix(prefix)
    }

    /// A cursor over the table (unpositioned: call a seek first).
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableCursor::new(Arc::clone(self))
    }

    /// About how many of the table's entries have user keys in `[start, end)`: its entry count
    /// times the share of its data blocks the range spans, found in the index without reading a
    /// block (a block the range starts in counts whole, the one it ends in not at all). Every
    /// entry when the range holds the table's; 0 when it misses it, or the index is damaged.
    pub fn approximate_entries_in(&self, start: &[u8], end: &crate::format::RangeEnd) -> u64 {
        let entries = self.meta.entries;
        let upper = self.upper_limit();
        let (lo, hi) = (self.smallest_user_key(), upper.closed());
        if end.is_above(hi) && start <= lo {
            return entries;
        }
        if !end.is_above(lo) || !upper.reaches(start) {
            return 0;
        }
        let index = &self.blocks.index;
        let blocks = index.len() as u64;
        let first = index.find(start, u64::MAX);
        let last = match end {
            crate::format::RangeEnd::Before(e) => index.find(e, u64::MAX),
            crate::format::RangeEnd::Unbounded => Ok(index.len()),
        };
        match (first, last) {
            (Ok(a), Ok(b)) if blocks > 0 => {
                entries.saturating_mul(b.saturating_sub(a) as u64) / blocks
            }
            _ => 0,
        }
    }

    /// The decoded meta block.
    pub fn meta(&self) -> &TableMeta {
        &self.meta
    }

    /// The range tombstones, sorted by start (then newest first). Empty for version-1 tables.
    pub fn range_tombstones(&self) -> &[RangeTombstone] {
        &self.range_tombstones
    }

    /// The smallest user key of the table's range (entries and range tombstones).
    pub fn smallest_user_key(&self) -> &[u8] {
        self.meta.smallest_user_key()
    }

    /// The top of the table's user-key range: inclusive, or exclusive / unbounded when a range
    /// tombstone reaches past the last entry (see [`TableMeta::upper_limit`]).
    pub fn upper_limit(&self) -> UpperLimit<'_> {
        self.meta.upper_limit()
    }

    pub fn file_number(&self) -> u64 {
        self.blocks.file_number
    }

    #[cfg(any(test, feature = "internal"))]
    pub fn path(&self) -> &Path {
        &self.blocks.path
    }

    pub fn file_size(&self) -> u64 {
        self.blocks.data.len() as u64
    }

    /// True when the table has a usable bloom filter.
    #[cfg(any(test, feature = "internal"))]
    pub fn has_filter(&self) -> bool {
        self.filter.is_present()
    }

    /// `pread` calls made for data blocks so far.
    #[cfg(test)]
    pub(super) fn file_reads(&self) -> u64 {
        self.blocks.file_reads.load(AtomicOrdering::Relaxed)
    }

    /// Number of data blocks.
    #[cfg(any(test, feature = "internal"))]
    pub fn num_blocks(&self) -> usize {
        self.blocks.index.len()
    }

    /// Heap bytes this open table keeps for as long as it is open, whatever is read: the fences
    /// over the index, the range tombstones and the checksum-once bit set (the bloom filter, the
    /// index itself and the data blocks are read in place from the mapping).
    pub fn pinned_bytes(&self) -> u64 {
        let tombstones: usize = self
            .range_tombstones
            .iter()
            .map(|t| {
                let end = match &t.end {
                    crate::format::RangeEnd::Before(k) => k.len(),
                    crate::format::RangeEnd::Unbounded => 0,
                };
                t.start.len() + end + 64
            })
            .sum();
        self.fences.heap_bytes()
            + self.blocks.heap_bytes()
            + tombstones as u64
            + std::mem::size_of::<Table>() as u64
    }

    /// Marks the file obsolete: it is unlinked when the last holder of its mapping (this table,
    /// iterators, values) is dropped. No-op for tables made with [`Table::from_bytes`].
    pub fn mark_obsolete(&self) {
        if let Some(flag) = &self.obsolete {
            flag.store(true, AtomicOrdering::Release);
        }
        if let Some(c) = &self.blocks.cache {
            c.evict_file(self.blocks.file_number);
        }
    }

    /// Reads every data block (bypassing the cache) and checks checksums, entry framing,
    /// ordering within and across blocks, index keys, and the meta counts.
    pub fn verify(&self) -> Result<()> {
        self.blocks.verify(&self.meta)
    }

    /// Drops this process's resident pages of `[offset, offset + len)` of the file (they stay in
    /// the page cache; a later read maps them again). For one-pass readers that are done with a
    /// range, such as compaction reading its inputs: otherwise every page of every input stays in
    /// the process's RSS until the table's last holder unmaps it. A no-op for tables without a
    /// mapping.
    pub fn release_pages(&self, offset: u64, len: u64) {
        let Some(map) = self.map.as_ref() else { return };
        if let (Ok(off), Ok(n)) = (usize::try_from(offset), usize::try_from(len)) {
            map.release(off, n);
        }
    }

    /// Asks the kernel to start reading `[offset, offset + len)` of the file (clipped to the data
    /// blocks) into the page cache, for scans over a mapping advised `Random` (which turns off the
    /// kernel's own readahead); a no-op otherwise. A hint; failures are ignored.
    pub(super) fn readahead(&self, offset: u64, len: u64) {
        let Some(map) = self.map.as_ref().filter(|_| self.hint_scans) else {
            return;
        };
        let end = offset.saturating_add(len).min(self.blocks.data_end);
        if end <= offset {
            return;
        }
        if let (Ok(off), Ok(n)) = (usize::try_from(offset), usize::try_from(end - offset)) {
            map.will_need(off, n);
        }
    }

    /// Index of the first data block whose last key is >= (user_key, trailer); `num_blocks()`
    /// if none. Same answer as [`Index::find`], faster.
    #[inline]
    pub(super) fn find_block(&self, user_key: &[u8], trailer: u64) -> Result<usize> {
        self.fences
            .find(&self.blocks.index, user_key, trailer)
            .map_err(|e| e.in_file(&self.blocks.path, self.blocks.index_offset))
    }
}

/// Locates the meta, index and filter blocks of `footer` (in `data`, the whole file): each must
/// lie within the region before the next, and the last before the footer.
fn aux_offsets(footer: &Footer, data: &[u8], path: &Path) -> Result<AuxOffsets> {
    let footer_start = (data.len().saturating_sub(FOOTER_SIZE)) as u64;
    let check = |h: &Handle, limit: u64, what: &'static str| -> Result<u64> {
        let off = h.offset.get();
        match aux_block_end(off, u64::from(h.len.get()), limit) {
            Some(_) => Ok(off),
            None => Err(Error::corruption(path, footer_start, what)),
        }
    };
    let meta = check(&footer.meta, footer_start, "meta handle out of range")?;
    let index = check(&footer.index, meta, "index handle out of range")?;
    let filter = check(&footer.filter, index, "filter handle out of range")?;
    Ok(AuxOffsets {
        meta,
        index,
        filter,
    })
}

impl BlockSource for Table {
    #[inline]
    fn num_blocks(&self) -> usize {
        self.blocks.index.len()
    }

    #[inline]
    fn find_block(&self, user_key: &[u8], trailer: u64) -> Result<usize> {
        Table::find_block(self, user_key, trailer)
    }

    #[inline]
    fn block_handle(&self, i: usize) -> Result<BlockHandle> {
        self.blocks.handle(i)
    }

    #[inline]
    fn block_bytes(&self, i: usize, fill_cache: bool) -> Result<Bytes> {
        self.blocks.bytes(i, fill_cache)
    }

    fn block_bytes_ahead(
        &self,
        i: usize,
        fill_cache: bool,
        window: &mut ReadWindow,
        ahead: u64,
    ) -> Result<Bytes> {
        self.blocks.bytes_with(i, fill_cache, Some((window, ahead)))
    }

    fn readahead(&self, offset: u64, len: u64) {
        Table::readahead(self, offset, len);
    }

    fn release(&self, offset: u64, len: u64) {
        self.release_pages(offset, len);
    }

    fn path(&self) -> &Path {
        self.blocks.path()
    }
}

// Tables and iterators are shared across reader threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Table>();
    assert_send_sync::<TableIter>();
    assert_send_sync::<BlockCache>();
};
