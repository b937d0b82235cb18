//! Reading tables: [`Table`] maps a sealed SSTable file and serves point lookups from it.
//!
//! The whole file is one [`Bytes`] (over the `memmap2` mapping for files, any bytes for
//! [`Table::from_bytes`]). The footer, meta block and filter are decoded once at open; the index
//! is kept as a slice of the mapping and binary-searched in place. A raw data block is read in
//! place (its crc checked on every read) and values are zero-copy slices of the mapping; an LZ4
//! block is decompressed into a pooled buffer and cached in the [`BlockCache`], and values slice
//! into that buffer. Either way a returned [`Value`] keeps its bytes alive on its own.
//!
//! Mapping contract (`format-spec/sstable.md`, "Memory-mapping contract"): only complete,
//! fsynced, renamed-into-place files that are never written again are mapped; the data directory
//! is locked; a table is unlinked only after the last holder of its mapping is gone
//! ([`Table::mark_obsolete`]); empty files are never mapped.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::cmp::Ordering;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering as AtomicOrdering};

use bytes::Bytes;

use super::block::BlockView;
use super::bloom::Filter;
use super::compress::{Checked, check_block, decompress};
use super::consts::{BLOCK_TRAILER_SIZE, COMPRESSION_LZ4, FOOTER_SIZE};
use super::footer::{Footer, Handle};
use super::index::{BlockHandle, Index};
use super::iter::TableIter;
use super::meta::TableMeta;
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::key::{SeqNo, cmp_internal, decode_internal, seek_trailer};
use crate::value::Value;

/// Owner of a file mapping: the `Bytes` of an opened table point into it. Unlinks the file when
/// dropped after [`Table::mark_obsolete`], i.e. once no table, iterator or value uses it.
struct MappedFile {
    mmap: memmap2::Mmap,
    path: PathBuf,
    obsolete: Arc<AtomicBool>,
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        &self.mmap
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if self.obsolete.load(AtomicOrdering::Acquire)
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not unlink obsolete SSTable");
        }
    }
}

/// The `madvise` hint given to a table's mapping when it is opened.
///
/// `Random` (the default) turns off kernel readahead: a point read faults in only the page it
/// needs instead of a 128 KiB window, which is what most table reads are. Measured with db_bench
/// (`--mmap-advice`); see the read-path notes in README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MapAdvice {
    Normal = 0,
    Random = 1,
    Sequential = 2,
}

static OPEN_ADVICE: AtomicU8 = AtomicU8::new(MapAdvice::Random as u8);

/// Sets the hint for tables opened from now on, process-wide. A benchmarking knob.
#[doc(hidden)]
pub fn set_open_advice(advice: MapAdvice) {
    OPEN_ADVICE.store(advice as u8, AtomicOrdering::Relaxed);
}

fn open_advice() -> MapAdvice {
    match OPEN_ADVICE.load(AtomicOrdering::Relaxed) {
        0 => MapAdvice::Normal,
        2 => MapAdvice::Sequential,
        _ => MapAdvice::Random,
    }
}

/// Maps `file` read-only.
#[expect(
    unsafe_code,
    reason = "memory-mapping a file is unsafe in memmap2; SSTables are immutable once sealed"
)]
fn map_file(file: &File, path: &Path) -> Result<memmap2::Mmap> {
    // SAFETY: `Mmap::map` is unsafe because another process (or this one) could truncate or
    // modify the file while it is mapped, which would change bytes behind `&[u8]` references or
    // raise SIGBUS. The engine only opens SSTables that were completely written, fsynced and
    // renamed into place, never opens them for writing again, holds an exclusive lock on the data
    // directory (`LOCK`), and unlinks a table only when the last holder of this mapping has
    // dropped it (`MappedFile::drop`); unlinking does not invalidate a live mapping on POSIX.
    // Modifying the directory behind the engine's back is outside this contract
    // (format-spec/sstable.md, "Memory-mapping contract"): it may crash the process, and every
    // byte read through the mapping is still bounds-checked, so it cannot cause out-of-bounds
    // access.
    unsafe { memmap2::Mmap::map(file) }.map_err(|e| Error::io("mapping SSTable", path, e))
}

/// An open, immutable SSTable. Shared as `Arc<Table>`; `Send + Sync`.
pub struct Table {
    data: Bytes,
    path: PathBuf,
    file_number: u64,
    cache: Option<Arc<BlockCache>>,
    index: Index,
    index_offset: u64,
    filter: Filter,
    meta: TableMeta,
    /// End of the data block region (= start of the filter block).
    data_end: u64,
    obsolete: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.path)
            .field("file_number", &self.file_number)
            .field("file_size", &self.data.len())
            .field("meta", &self.meta)
            .finish()
    }
}

/// A block's contents: in place in the file, or decompressed.
pub(super) enum BlockData<'a> {
    InPlace(&'a [u8]),
    Owned(Bytes),
}

impl Table {
    /// Maps the complete, fsynced table at `path`. An empty file is corruption (never mapped).
    pub fn open(
        path: &Path,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        let file = File::open(path).map_err(|e| Error::io("opening SSTable", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("reading metadata of SSTable", path, e))?
            .len();
        if len < FOOTER_SIZE as u64 {
            return Err(Error::corruption(
                path,
                0,
                "file shorter than an SSTable footer",
            ));
        }
        let mmap = map_file(&file, path)?;
        #[cfg(unix)]
        {
            let advice = match open_advice() {
                MapAdvice::Normal => memmap2::Advice::Normal,
                MapAdvice::Random => memmap2::Advice::Random,
                MapAdvice::Sequential => memmap2::Advice::Sequential,
            };
            if let Err(e) = mmap.advise(advice) {
                tracing::debug!(path = %path.display(), error = %e, ?advice, "madvise failed");
            }
        }
        let obsolete = Arc::new(AtomicBool::new(false));
        let owner = MappedFile {
            mmap,
            path: path.to_path_buf(),
            obsolete: Arc::clone(&obsolete),
        };
        let data = Bytes::from_owner(owner);
        Table::parse(data, path.to_path_buf(), file_number, cache, Some(obsolete)).map(Arc::new)
    }

    /// Opens a table held in any bytes: the fuzzing entry point. `path` is used only in errors;
    /// [`Table::mark_obsolete`] does nothing for such a table.
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
        let footer_start = (data.len() - FOOTER_SIZE) as u64;
        let fpos = footer_start;
        // The three blocks must lie in order, each within the region before the next.
        let check = |h: &Handle, limit: u64, what: &'static str| -> Result<(u64, u64)> {
            let (off, len) = (h.offset.get(), u64::from(h.len.get()));
            match off.checked_add(len) {
                Some(end) if end <= limit && len >= BLOCK_TRAILER_SIZE as u64 => Ok((off, end)),
                _ => Err(Error::corruption(&path, fpos, what)),
            }
        };
        let (meta_off, _) = check(&footer.meta, footer_start, "meta handle out of range")?;
        let (index_off, _) = check(&footer.index, meta_off, "index handle out of range")?;
        let (filter_off, _) = check(&footer.filter, index_off, "filter handle out of range")?;

        let owned = |h: &Handle| -> Result<Bytes> {
            let off = h.offset.get();
            let blk = slice(&data, off, u64::from(h.len.get()))
                .ok_or_else(|| Error::corruption(&path, off, "block out of range"))?;
            match check_block(blk).map_err(|e| e.in_file(&path, off))? {
                Checked::Raw(p) => Ok(data.slice_ref(p)),
                Checked::Lz4 {
                    uncompressed_len,
                    compressed,
                } => decompress(uncompressed_len, compressed).map_err(|e| e.in_file(&path, off)),
            }
        };
        let meta =
            TableMeta::decode(&owned(&footer.meta)?).map_err(|e| e.in_file(&path, meta_off))?;
        let index = Index::new(owned(&footer.index)?).map_err(|e| e.in_file(&path, index_off))?;
        if index.len() as u64 != meta.data_blocks {
            return Err(Error::corruption(
                &path,
                index_off,
                "index and meta disagree on the number of data blocks",
            ));
        }
        let filter =
            Filter::decode(&owned(&footer.filter)?).map_err(|e| e.in_file(&path, filter_off))?;
        Ok(Table {
            data,
            path,
            file_number,
            cache,
            index,
            index_offset: index_off,
            filter,
            meta,
            data_end: filter_off,
            obsolete,
        })
    }

    /// Newest entry for `user_key` with seqno <= `snapshot` (tombstones included), as
    /// `(trailer, value)`. `key_hash` is [`super::key_hash`]`(user_key)`; when the filter rules
    /// the key out, no block is read.
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
        let target = seek_trailer(snapshot);
        let i = self
            .index
            .find(user_key, target)
            .map_err(|e| e.in_file(&self.path, self.index_offset))?;
        if i >= self.index.len() {
            return Ok(None);
        }
        let h = self.handle(i)?;
        let found = match self.load_block(h)? {
            BlockData::InPlace(p) => {
                let e = BlockView::new(p)
                    .and_then(|v| v.seek(user_key, target))
                    .map_err(|e| e.in_file(&self.path, h.offset))?;
                e.filter(|e| e.user_key == user_key)
                    .map(|e| (e.trailer, Value::from_bytes(self.data.slice_ref(e.value))))
            }
            BlockData::Owned(b) => {
                let e = BlockView::new(&b)
                    .and_then(|v| v.seek(user_key, target))
                    .map_err(|e| e.in_file(&self.path, h.offset))?;
                e.filter(|e| e.user_key == user_key)
                    .map(|e| (e.trailer, Value::from_bytes(b.slice_ref(e.value))))
            }
        };
        Ok(found)
    }

    /// False only if the filter rules out the key with hash `key_hash`.
    #[inline]
    pub fn may_contain_hash(&self, key_hash: u64) -> bool {
        self.filter.may_contain_hash(key_hash)
    }

    /// A cursor over the table (unpositioned: call a seek first).
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter::new(Arc::clone(self))
    }

    /// The decoded meta block.
    pub fn meta(&self) -> &TableMeta {
        &self.meta
    }

    pub fn file_number(&self) -> u64 {
        self.file_number
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file_size(&self) -> u64 {
        self.data.len() as u64
    }

    /// True when the table has a usable bloom filter.
    pub fn has_filter(&self) -> bool {
        self.filter.is_present()
    }

    /// Number of data blocks.
    pub fn num_blocks(&self) -> usize {
        self.index.len()
    }

    /// Marks the file obsolete: it is unlinked when the last holder of its mapping (this table,
    /// iterators, values) is dropped. No-op for tables made with [`Table::from_bytes`].
    pub fn mark_obsolete(&self) {
        if let Some(flag) = &self.obsolete {
            flag.store(true, AtomicOrdering::Release);
        }
        if let Some(c) = &self.cache {
            c.evict_file(self.file_number);
        }
    }

    /// Reads every data block (bypassing the cache) and checks checksums, entry framing,
    /// ordering within and across blocks, index keys, and the meta counts.
    pub fn verify(&self) -> Result<()> {
        let mut entries = 0u64;
        let mut prev_last: Option<(Vec<u8>, u64)> = None;
        for i in 0..self.index.len() {
            let h = self.handle(i)?;
            let blk = self.block_slice(h)?;
            let contents = match check_block(blk).map_err(|e| e.in_file(&self.path, h.offset))? {
                Checked::Raw(p) => self.data.slice_ref(p),
                Checked::Lz4 {
                    uncompressed_len,
                    compressed,
                } => decompress(uncompressed_len, compressed)
                    .map_err(|e| e.in_file(&self.path, h.offset))?,
            };
            let in_block = |e: Error| e.in_file(&self.path, h.offset);
            let view = BlockView::new(&contents).map_err(in_block)?;
            let n = view.validate().map_err(in_block)?;
            let first = view.entry_at(0).map_err(in_block)?;
            let last = view
                .last()
                .map_err(in_block)?
                .ok_or_else(|| Error::corruption(&self.path, h.offset, "empty data block"))?;
            let (ik, it) = self
                .index
                .key(i)
                .map_err(|e| e.in_file(&self.path, self.index_offset))?;
            if (ik, it) != (last.user_key, last.trailer) {
                return Err(Error::corruption(
                    &self.path,
                    h.offset,
                    "index key differs from the block's last key",
                ));
            }
            if let Some((pk, pt)) = &prev_last
                && cmp_internal(pk, *pt, first.user_key, first.trailer) != Ordering::Less
            {
                return Err(Error::corruption(
                    &self.path,
                    h.offset,
                    "data blocks out of order",
                ));
            }
            prev_last = Some((last.user_key.to_vec(), last.trailer));
            entries += n as u64;
        }
        if entries != self.meta.entries {
            return Err(Error::corruption(
                &self.path,
                self.index_offset,
                "meta entry count differs from the data blocks",
            ));
        }
        if let Some((k, t)) = &prev_last
            && decode_internal(&self.meta.largest_key) != Some((k.as_slice(), *t))
        {
            return Err(Error::corruption(
                &self.path,
                self.index_offset,
                "meta largest key differs from the last entry",
            ));
        }
        Ok(())
    }

    // ---- crate-internal access for the iterator ----

    pub(super) fn index(&self) -> &Index {
        &self.index
    }

    pub(super) fn path_buf(&self) -> &Path {
        &self.path
    }

    pub(super) fn handle(&self, i: usize) -> Result<BlockHandle> {
        self.index
            .handle(i)
            .map_err(|e| e.in_file(&self.path, self.index_offset))
    }

    /// The on-disk bytes of a data block (payload + trailer), bounded by the data region.
    fn block_slice(&self, h: BlockHandle) -> Result<&[u8]> {
        match h.offset.checked_add(h.len) {
            Some(end) if end <= self.data_end => {}
            _ => {
                return Err(Error::corruption(
                    &self.path,
                    self.index_offset,
                    "index points outside the data blocks",
                ));
            }
        }
        slice(&self.data, h.offset, h.len)
            .ok_or_else(|| Error::corruption(&self.path, h.offset, "data block out of range"))
    }

    /// A data block's contents: checked in place for raw blocks, from the cache or freshly
    /// decompressed for LZ4 blocks.
    #[inline]
    pub(super) fn load_block(&self, h: BlockHandle) -> Result<BlockData<'_>> {
        let blk = self.block_slice(h)?;
        let kind_at = blk.len().saturating_sub(BLOCK_TRAILER_SIZE);
        let decode = || -> Result<Bytes> {
            match check_block(blk).map_err(|e| e.in_file(&self.path, h.offset))? {
                Checked::Raw(p) => Ok(self.data.slice_ref(p)),
                Checked::Lz4 {
                    uncompressed_len,
                    compressed,
                } => decompress(uncompressed_len, compressed)
                    .map_err(|e| e.in_file(&self.path, h.offset)),
            }
        };
        if blk.get(kind_at) == Some(&COMPRESSION_LZ4) {
            // Cached blocks were verified when loaded; the key is (file, block offset).
            return match &self.cache {
                Some(c) => c.get_or_load(self.file_number, h.offset, decode),
                None => decode(),
            }
            .map(BlockData::Owned);
        }
        match check_block(blk).map_err(|e| e.in_file(&self.path, h.offset))? {
            Checked::Raw(p) => Ok(BlockData::InPlace(p)),
            Checked::Lz4 { .. } => decode().map(BlockData::Owned),
        }
    }

    /// Block `i`'s contents as `Bytes` (for iterators).
    pub(super) fn block_bytes(&self, i: usize) -> Result<Bytes> {
        let h = self.handle(i)?;
        Ok(match self.load_block(h)? {
            BlockData::InPlace(p) => self.data.slice_ref(p),
            BlockData::Owned(b) => b,
        })
    }

    /// The absolute offset of block `i`, for error messages.
    pub(super) fn block_offset(&self, i: usize) -> u64 {
        self.index.handle(i).map_or(0, |h| h.offset)
    }
}

fn slice(data: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let off = usize::try_from(off).ok()?;
    let len = usize::try_from(len).ok()?;
    data.get(off..off.checked_add(len)?)
}

// Tables and iterators are shared across reader threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Table>();
    assert_send_sync::<TableIter>();
    assert_send_sync::<BlockCache>();
};
