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

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering as AtomicOrdering};

use bytes::Bytes;

use super::block::BlockView;
use super::bloom::Filter;
use super::compress::{Checked, check_block, decompress};
use super::footer::{Footer, Handle, aux_block_end};
use super::index::{BlockHandle, Index};
use super::iter::TableIter;
use super::meta::TableMeta;
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::format::sst::{BLOCK_TRAILER_SIZE, COMPRESSION_LZ4, FOOTER_SIZE};
use crate::fs::{FileSystem, Mapping};
use crate::key::{SeqNo, cmp_internal, decode_internal, seek_trailer};
use crate::value::Value;

/// Owner of a file mapping: the `Bytes` of an opened table point into it. Unlinks the file when
/// dropped after [`Table::mark_obsolete`], i.e. once no table, iterator or value uses it.
struct MappedFile {
    mmap: Mapping,
    /// Unlinks the file (through the database's file system).
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    obsolete: Arc<AtomicBool>,
}

/// The `Bytes` owner of a mapping shared with its [`Table`] (which uses it for readahead hints).
struct SharedMap(Arc<MappedFile>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0.mmap
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if self.obsolete.load(AtomicOrdering::Acquire)
            && let Err(e) = self.fs.remove(&self.path)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not unlink obsolete SSTable");
        }
    }
}

/// The `madvise` hint given to a table's mapping when it is opened.
///
/// `Normal` (the default) keeps the kernel's read-around: a page fault reads up to 128 KiB around
/// the page. Measured with db_bench on 1,000,000 keys (65 MiB of tables) with the page cache
/// dropped, it beat `Random` on every cold workload: 20,000 point reads 112-143 k ops/s (p50
/// 4-6 us) against 19 k ops/s (p50 52-57 us), full scans 5.4-5.8 M entries/s against 4.0-4.2 M
/// (`Random` plus the iterators' own readahead hints) or 0.5-0.7 M (`Random` alone); with a warm
/// page cache the hint makes no measurable difference. `Random` reads less from storage (13 MiB
/// against the whole 65 MiB file for 2,000 cold point reads) and may still win for a database much
/// larger than memory, where read-around evicts useful pages; hence the knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MapAdvice {
    Normal = 0,
    Random = 1,
    Sequential = 2,
}

static OPEN_ADVICE: AtomicU8 = AtomicU8::new(MapAdvice::Normal as u8);

/// Sets the hint for tables opened from now on, process-wide. A benchmarking knob.
#[doc(hidden)]
pub fn set_open_advice(advice: MapAdvice) {
    OPEN_ADVICE.store(advice as u8, AtomicOrdering::Relaxed);
}

fn open_advice() -> MapAdvice {
    match OPEN_ADVICE.load(AtomicOrdering::Relaxed) {
        1 => MapAdvice::Random,
        2 => MapAdvice::Sequential,
        _ => MapAdvice::Normal,
    }
}

/// An open, immutable SSTable. Shared as `Arc<Table>`; `Send + Sync`.
pub struct Table {
    data: Bytes,
    path: PathBuf,
    file_number: u64,
    cache: Option<Arc<BlockCache>>,
    index: Index,
    index_offset: u64,
    /// Dense search keys over the index, so a lookup's binary search touches 8-byte words
    /// instead of index entries and key heap (see [`Fences`]).
    fences: Fences,
    filter: Filter,
    meta: TableMeta,
    /// End of the data block region (= start of the filter block).
    data_end: u64,
    obsolete: Option<Arc<AtomicBool>>,
    /// The mapping (None for [`Table::from_bytes`]); `data` points into it.
    map: Option<Arc<MappedFile>>,
    /// True when iterators should hint readahead (the mapping is advised `Random`).
    hint_scans: bool,
    /// Raw data blocks whose checksum passed (see [`Table::load_block`]).
    raw_verified: BitSet,
    /// `PARANOID_CHECKS`: verify every block's checksum on every read (no checksum-once
    /// shortcut, no cached decompressed blocks).
    paranoid: std::sync::atomic::AtomicBool,
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
        Self::open_with_fs(&crate::fs::default_fs(), path, file_number, cache)
    }

    /// [`Table::open`] on the file system `fs` (which also unlinks the file after
    /// [`Table::mark_obsolete`]).
    pub fn open_with_fs(
        fs: &Arc<dyn FileSystem>,
        path: &Path,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        let mmap = fs
            .map(path)
            .map_err(|e| Error::io("mapping SSTable", path, e))?;
        if mmap.len() < FOOTER_SIZE {
            return Err(Error::corruption(
                path,
                0,
                "file shorter than an SSTable footer",
            ));
        }
        #[cfg(unix)]
        let advice = open_advice();
        {
            let advice = match advice {
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
            fs: Arc::clone(fs),
            path: path.to_path_buf(),
            obsolete: Arc::clone(&obsolete),
        };
        let owner = Arc::new(owner);
        let data = Bytes::from_owner(SharedMap(Arc::clone(&owner)));
        let mut t = Table::parse(data, path.to_path_buf(), file_number, cache, Some(obsolete))?;
        // Only a `Random` mapping needs the scans' own readahead hints; otherwise the kernel's
        // read-around does it (and a hint over resident pages costs a page-cache walk).
        t.map = Some(owner);
        t.hint_scans = advice == MapAdvice::Random;
        Ok(Arc::new(t))
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
            let off = h.offset.get();
            match aux_block_end(off, u64::from(h.len.get()), limit) {
                Some(end) => Ok((off, end)),
                None => Err(Error::corruption(&path, fpos, what)),
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
        let fences = Fences::new(&index).map_err(|e| e.in_file(&path, index_off))?;
        let raw_verified = BitSet::new(index.len());
        Ok(Table {
            data,
            path,
            file_number,
            cache,
            index,
            index_offset: index_off,
            fences,
            filter,
            meta,
            data_end: filter_off,
            obsolete,
            map: None,
            hint_scans: false,
            raw_verified,
            paranoid: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Turns `PARANOID_CHECKS` on for this table: every block read from now on has its checksum
    /// verified against the file, also blocks read before (the block cache and the
    /// checksum-once record are bypassed).
    pub fn set_paranoid_checks(&self, on: bool) {
        self.paranoid
            .store(on, std::sync::atomic::Ordering::Relaxed);
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
        let i = self.find_block(user_key, target)?;
        if i >= self.index.len() {
            return Ok(None);
        }
        let h = self.handle(i)?;
        let found = match self.load_block(i, h, true)? {
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

    /// False only if the table's filter rules out every key starting with `prefix` (a table
    /// written with `PREFIX_BLOOM_LENGTH` n, and a prefix of at least n bytes).
    #[inline]
    pub fn may_contain_prefix(&self, prefix: &[u8]) -> bool {
        self.filter.may_contain_prefix(prefix)
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

    /// Asks the kernel to start reading `[offset, offset + len)` of the file (clipped to the data
    /// blocks) into the page cache, for scans over a mapping advised `Random` (which turns off the
    /// kernel's own readahead); a no-op otherwise. A hint; failures are ignored.
    pub(super) fn readahead(&self, offset: u64, len: u64) {
        let Some(map) = self.map.as_ref().filter(|_| self.hint_scans) else {
            return;
        };
        let end = offset.saturating_add(len).min(self.data_end);
        if end <= offset {
            return;
        }
        if let (Ok(off), Ok(n)) = (usize::try_from(offset), usize::try_from(end - offset)) {
            let _ = map.mmap.advise_range(memmap2::Advice::WillNeed, off, n);
        }
    }

    /// Index of the first data block whose last key is >= (user_key, trailer); `num_blocks()`
    /// if none. Same answer as [`Index::find`], faster.
    #[inline]
    pub(super) fn find_block(&self, user_key: &[u8], trailer: u64) -> Result<usize> {
        self.fences
            .find(&self.index, user_key, trailer)
            .map_err(|e| e.in_file(&self.path, self.index_offset))
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
    pub(super) fn load_block(
        &self,
        i: usize,
        h: BlockHandle,
        fill_cache: bool,
    ) -> Result<BlockData<'_>> {
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
        let paranoid = self.paranoid.load(std::sync::atomic::Ordering::Relaxed);
        if blk.get(kind_at) == Some(&COMPRESSION_LZ4) {
            if paranoid {
                return decode().map(BlockData::Owned);
            }
            // Cached blocks were verified when loaded; the key is (file, block offset).
            return match &self.cache {
                Some(c) if fill_cache => c.get_or_load(self.file_number, h.offset, decode),
                Some(c) => match c.get(self.file_number, h.offset) {
                    Some(b) => Ok(b),
                    None => decode(),
                },
                None => decode(),
            }
            .map(BlockData::Owned);
        }
        // A raw block is read in place. Its checksum is checked on the first read only: the
        // mapped bytes cannot change (mapping contract), so a block that passed once passes
        // again, as a cached block does. The framing is still decoded with bounds checks.
        if !paranoid && self.raw_verified.get(i) {
            let payload_end = blk.len().saturating_sub(BLOCK_TRAILER_SIZE);
            if let Some(p) = blk.get(..payload_end) {
                return Ok(BlockData::InPlace(p));
            }
        }
        match check_block(blk).map_err(|e| e.in_file(&self.path, h.offset))? {
            Checked::Raw(p) => {
                self.raw_verified.set(i);
                Ok(BlockData::InPlace(p))
            }
            Checked::Lz4 { .. } => decode().map(BlockData::Owned),
        }
    }

    /// Block `i`'s contents as `Bytes` (for iterators).
    pub(super) fn block_bytes(&self, i: usize, fill_cache: bool) -> Result<Bytes> {
        let h = self.handle(i)?;
        Ok(match self.load_block(i, h, fill_cache)? {
            BlockData::InPlace(p) => self.data.slice_ref(p),
            BlockData::Owned(b) => b,
        })
    }

    /// The absolute offset of block `i`, for error messages.
    pub(super) fn block_offset(&self, i: usize) -> u64 {
        self.index.handle(i).map_or(0, |h| h.offset)
    }
}

/// A fixed-size set of block numbers, shared by reader threads without locks.
#[derive(Debug)]
struct BitSet {
    words: Vec<std::sync::atomic::AtomicU64>,
}

impl BitSet {
    fn new(bits: usize) -> BitSet {
        BitSet {
            words: (0..bits.div_ceil(64))
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w.load(AtomicOrdering::Relaxed) & (1 << (i % 64)) != 0)
    }

    #[inline]
    fn set(&self, i: usize) {
        if let Some(w) = self.words.get(i / 64) {
            w.fetch_or(1 << (i % 64), AtomicOrdering::Relaxed);
        }
    }
}

/// A search accelerator over the index: the user keys of the blocks' last entries share a prefix
/// (`prefix`, their longest common prefix); `words[i]` holds the 8 bytes of block `i`'s key after
/// that prefix, big-endian, zero-padded. That map is monotone (a <= b implies word(a) <= word(b)),
/// so a binary search over the dense words (8 bytes per block, cache friendly) narrows the answer
/// to the blocks whose word equals the target's, which are then compared in full: usually none or
/// one. Zero-padded decimal keys, the common case, differ within those 8 bytes.
#[derive(Debug, Default)]
struct Fences {
    prefix: Vec<u8>,
    words: Vec<u64>,
}

impl Fences {
    fn new(index: &Index) -> Result<Fences> {
        let n = index.len();
        let Some(last) = n.checked_sub(1) else {
            return Ok(Fences::default());
        };
        // Keys are sorted, so the common prefix of all is the common prefix of first and last.
        let (first, _) = index.key(0)?;
        let (lastk, _) = index.key(last)?;
        let lcp = first.iter().zip(lastk).take_while(|(a, b)| a == b).count();
        let prefix = first.get(..lcp).unwrap_or_default().to_vec();
        let mut words = Vec::with_capacity(n);
        for i in 0..n {
            let (k, _) = index.key(i)?;
            words.push(word_after(k, lcp));
        }
        Ok(Fences { prefix, words })
    }

    fn find(&self, index: &Index, user_key: &[u8], trailer: u64) -> Result<usize> {
        if self.words.len() != index.len() || !user_key.starts_with(&self.prefix) {
            // Outside the prefix (or no blocks): rare, answer from the index itself.
            return index.find(user_key, trailer);
        }
        let w = word_after(user_key, self.prefix.len());
        // Blocks with a smaller word have a smaller key; blocks with a larger word a larger one.
        let lo = self.words.partition_point(|&x| x < w);
        let hi = lo
            + self
                .words
                .get(lo..)
                .map_or(0, |r| r.partition_point(|&x| x == w));
        let (mut lo, mut hi) = (lo, hi);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (k, t) = index.key(mid)?;
            if cmp_internal(k, t, user_key, trailer) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}

/// The 8 bytes of `key` from `at`, big-endian, zero-padded.
#[inline]
fn word_after(key: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    let tail = key.get(at..).unwrap_or_default();
    let n = tail.len().min(8);
    if let (Some(dst), Some(src)) = (b.get_mut(..n), tail.get(..n)) {
        dst.copy_from_slice(src);
    }
    u64::from_be_bytes(b)
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

#[cfg(test)]
mod fence_tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::sstable::index::IndexBuilder;

    fn index_of(keys: &[(&[u8], u64)]) -> Index {
        let mut b = IndexBuilder::new();
        for (i, (k, t)) in keys.iter().enumerate() {
            b.add(k, *t, i as u64 * 100, 100);
        }
        Index::new(Bytes::from(b.finish())).unwrap()
    }

    /// Fences answer exactly as the index's own binary search, for targets inside and outside
    /// the common prefix, between keys, equal to keys with other trailers, and past the end.
    #[test]
    fn fences_agree_with_index_find() {
        let sets: Vec<Vec<Vec<u8>>> = vec![
            (0..300u64)
                .map(|i| format!("{:016}", i * 7).into_bytes())
                .collect(),
            vec![
                b"".to_vec(),
                b"a".to_vec(),
                b"a\x00".to_vec(),
                b"ab".to_vec(),
                b"b".to_vec(),
            ],
            vec![
                b"user:0001".to_vec(),
                b"user:0001\x00\x00".to_vec(),
                b"user:0002".to_vec(),
            ],
            vec![
                b"pppppppppppppppppppp1".to_vec(),
                b"pppppppppppppppppppp1zzzzzzzzzzzz".to_vec(),
                b"pppppppppppppppppppp2".to_vec(),
            ],
            vec![b"same".to_vec()],
            vec![],
        ];
        for keys in sets {
            // Duplicate user keys across blocks happen (versions of one key); trailers descend.
            let mut entries: Vec<(&[u8], u64)> = Vec::new();
            for k in &keys {
                entries.push((k, 9 << 8));
                entries.push((k, 3 << 8));
            }
            let index = index_of(&entries);
            let fences = Fences::new(&index).unwrap();
            let mut targets: Vec<Vec<u8>> = keys.clone();
            for k in &keys {
                let mut a = k.clone();
                a.push(0);
                targets.push(a);
                let mut b = k.clone();
                b.pop();
                targets.push(b);
                let mut c = k.clone();
                if let Some(l) = c.last_mut() {
                    *l = l.wrapping_add(1);
                }
                targets.push(c);
            }
            targets.extend([
                b"".to_vec(),
                b"\xff".to_vec(),
                b"0".to_vec(),
                b"zzzz".to_vec(),
            ]);
            for t in &targets {
                for tr in [u64::MAX, 9 << 8, 5 << 8, 3 << 8, 0] {
                    assert_eq!(
                        fences.find(&index, t, tr).unwrap(),
                        index.find(t, tr).unwrap(),
                        "target {t:?} trailer {tr}"
                    );
                }
            }
        }
    }

    #[test]
    fn word_after_is_monotone() {
        let mut keys: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0, 0], vec![1], vec![0xff; 9]];
        keys.extend((0..50u32).map(|i| i.to_be_bytes().to_vec()));
        keys.sort();
        for w in keys.windows(2) {
            assert!(word_after(&w[0], 0) <= word_after(&w[1], 0), "{w:?}");
        }
    }
}
