//! [`DataBlocks`]: loading a table's data blocks, checked, from the file or the block cache.
//!
//! A raw data block is read in place (its crc checked on its first read, or on every read with
//! `PARANOID_CHECKS`) and values are zero-copy slices of the file; an LZ4 block is decompressed
//! into a pooled buffer and cached in the [`BlockCache`], and values slice into that buffer.
//!
//! On a cache miss an LZ4 block's compressed bytes are read with `pread` into a pooled buffer
//! (`BLOCK_READ=pread`, the default) rather than through the mapping, so that the process's
//! resident memory holds the decompressed block cache and not also every compressed block ever
//! read (those stay in the page cache). Which blocks are raw is not known before a block's
//! trailer is read, and reading it through the mapping would fault its pages in; so a block's
//! first read goes the pread way, and a block found raw is recorded (with its verified checksum)
//! and served in place from then on.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use bytes::Bytes;

use super::block::BlockView;
use super::compress::{Checked, check_block, decompress, read_block_in};
use super::index::{BlockHandle, Index};
use super::mapping::MappedFile;
use crate::cache::pool::BufferPool;
use super::meta::TableMeta;
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::format::sst::{BLOCK_TRAILER_SIZE, COMPRESSION_LZ4};
use crate::key::{cmp_internal, decode_internal};

/// A block's contents: in place in the file, or decompressed.
pub(super) enum BlockData<'a> {
    InPlace(&'a [u8]),
    Owned(Bytes),
}

/// What [`DataBlocks::pread_block`] found: an LZ4 block, decompressed, or a raw block (verified;
/// its bytes are read from the mapping).
enum Preread {
    Lz4(Bytes),
    Raw,
}

/// A stretch of a table's file read with one `pread`, from which a cursor moving forward block
/// by block takes the blocks that follow (see [`DataBlocks::bytes_with`]): a scan makes one
/// system call per window instead of one per block. Owned by one cursor over one table; the
/// buffer is reused from window to window.
#[derive(Debug, Default)]
pub struct ReadWindow {
    /// File offset of `buf[0]`.
    start: u64,
    /// Bytes read; `buf` may be longer (kept from a larger window).
    len: usize,
    buf: Vec<u8>,
}

impl ReadWindow {
    /// Bytes the window holds allocated.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The `len` bytes at file offset `offset`, when the window holds all of them.
    fn get(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let from = usize::try_from(offset.checked_sub(self.start)?).ok()?;
        let to = from.checked_add(len).filter(|&to| to <= self.len)?;
        self.buf.get(from..to)
    }
}

/// The data block region of one table file and its index.
pub(super) struct DataBlocks {
    /// The whole file.
    pub data: Bytes,
    pub path: PathBuf,
    pub file_number: u64,
    pub cache: Option<Arc<BlockCache>>,
    pub index: Index,
    pub index_offset: u64,
    /// End of the data block region (= start of the filter block).
    pub data_end: u64,
    /// Raw data blocks whose checksum passed (see [`DataBlocks::load`]).
    raw_verified: BitSet,
    /// `PARANOID_CHECKS`: verify every block's checksum on every read (no checksum-once
    /// shortcut, no cached decompressed blocks).
    paranoid: AtomicBool,
    /// The file behind `data` for `pread` (None for a table held in plain bytes).
    file: Option<Arc<MappedFile>>,
    /// `BLOCK_READ=pread`: blocks not yet known to be raw are read with `pread` from `file`.
    pread: AtomicBool,
    /// `pread` calls made (tests count the calls a scan makes).
    #[cfg(test)]
    pub(super) file_reads: AtomicU64,
}

impl DataBlocks {
    /// Heap bytes held beside the mapping (the checksum-once bit set).
    pub fn heap_bytes(&self) -> u64 {
        (self.raw_verified.words.capacity() * 8) as u64
    }

    pub(super) fn new(
        data: Bytes,
        path: PathBuf,
        file_number: u64,
        cache: Option<Arc<BlockCache>>,
        index: Index,
        index_offset: u64,
        data_end: u64,
    ) -> DataBlocks {
        let raw_verified = BitSet::new(index.len());
        DataBlocks {
            data,
            path,
            file_number,
            cache,
            index,
            index_offset,
            data_end,
            raw_verified,
            paranoid: AtomicBool::new(false),
            file: None,
            pread: AtomicBool::new(true),
            #[cfg(test)]
            file_reads: AtomicU64::new(0),
        }
    }

    pub(super) fn set_paranoid(&self, on: bool) {
        self.paranoid.store(on, AtomicOrdering::Relaxed);
    }

    /// Gives the blocks the file to `pread` from.
    pub(super) fn set_file(&mut self, file: Arc<MappedFile>) {
        self.file = Some(file);
    }

    /// `BLOCK_READ`: `true` reads blocks not yet known to be raw with `pread`, `false` through
    /// the mapping.
    pub(super) fn set_pread(&self, on: bool) {
        self.pread.store(on, AtomicOrdering::Relaxed);
    }

    /// The file to `pread` a block from, when that is the way blocks are read.
    #[inline]
    fn pread_file(&self) -> Option<&MappedFile> {
        self.file
            .as_deref()
            .filter(|_| self.pread.load(AtomicOrdering::Relaxed))
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

    /// Checks and decodes the block at `h` into `Bytes` (no cache, no checksum-once record).
    fn decode(&self, h: BlockHandle, blk: &[u8]) -> Result<Bytes> {
        read_block_in(&self.data, blk).map_err(|e| e.in_file(&self.path, h.offset))
    }

    /// A data block's contents: checked in place for raw blocks, from the cache or freshly
    /// decompressed for LZ4 blocks.
    #[inline]
    pub(super) fn load(&self, i: usize, h: BlockHandle, fill_cache: bool) -> Result<BlockData<'_>> {
        self.load_with(i, h, fill_cache, None)
    }

    /// [`DataBlocks::load`], reading a block not in the cache through `window` when given
    /// (`(window, bytes)`: refilled with `bytes` from the block on when it does not hold it).
    #[inline]
    fn load_with(
        &self,
        i: usize,
        h: BlockHandle,
        fill_cache: bool,
        window: Option<(&mut ReadWindow, u64)>,
    ) -> Result<BlockData<'_>> {
        // Taking the slice touches no byte of the mapping; reading one would fault it in.
        let blk = self.block_slice(h)?;
        let paranoid = self.paranoid.load(AtomicOrdering::Relaxed);
        // A raw block is read in place. Its checksum is checked on the first read only: the
        // mapped bytes cannot change (mapping contract), so a block that passed once passes
        // again, as a cached block does. The framing is still decoded with bounds checks.
        if !paranoid && self.raw_verified.get(i) {
            let payload_end = blk.len().saturating_sub(BLOCK_TRAILER_SIZE);
            if let Some(p) = blk.get(..payload_end) {
                return Ok(BlockData::InPlace(p));
            }
        }
        if let Some(file) = self.pread_file() {
            return self.load_pread(file, (i, h), blk, fill_cache, paranoid, window);
        }
        let kind_at = blk.len().saturating_sub(BLOCK_TRAILER_SIZE);
        if blk.get(kind_at) == Some(&COMPRESSION_LZ4) {
            return self.load_lz4(h, blk, fill_cache, paranoid).map(BlockData::Owned);
        }
        match check_block(blk).map_err(|e| e.in_file(&self.path, h.offset))? {
            Checked::Raw(p) => {
                self.raw_verified.set(i);
                Ok(BlockData::InPlace(p))
            }
            Checked::Lz4 { .. } => self.decode(h, blk).map(BlockData::Owned),
        }
    }

    /// `BLOCK_READ=pread`: a block not known to be raw, from the cache or read with `pread`
    /// ([`DataBlocks::pread_block`]); an LZ4 block is cached when `fill_cache`, a raw one is
    /// recorded as verified and served in place.
    fn load_pread<'a>(
        &self,
        file: &MappedFile,
        (i, h): (usize, BlockHandle),
        blk: &'a [u8],
        fill_cache: bool,
        paranoid: bool,
        mut window: Option<(&mut ReadWindow, u64)>,
    ) -> Result<BlockData<'a>> {
        let mut read = || match window.as_mut() {
            Some((w, bytes)) => self.pread_block_via(file, h, blk.len(), w, *bytes),
            None => self.pread_block(file, h, blk.len()),
        };
        let found = match self.cache.as_ref().filter(|_| !paranoid) {
            // A raw block is not cached: the loader gives it back as `Err(None)`.
            Some(c) if fill_cache => match c.get_or_load(self.file_number, h.offset, || {
                match read() {
                    Ok(Preread::Lz4(b)) => Ok(b),
                    Ok(Preread::Raw) => Err(None),
                    Err(e) => Err(Some(e)),
                }
            }) {
                Ok(b) => Preread::Lz4(b),
                Err(None) => Preread::Raw,
                Err(Some(e)) => return Err(e),
            },
            Some(c) => match c.get(self.file_number, h.offset) {
                Some(b) => Preread::Lz4(b),
                None => read()?,
            },
            None => read()?,
        };
        match found {
            Preread::Lz4(b) => Ok(BlockData::Owned(b)),
            Preread::Raw => {
                let payload_end = blk.len().saturating_sub(BLOCK_TRAILER_SIZE);
                let payload = blk.get(..payload_end).ok_or_else(|| {
                    Error::corruption(&self.path, h.offset, "data block out of range")
                })?;
                self.raw_verified.set(i);
                Ok(BlockData::InPlace(payload))
            }
        }
    }

    /// Reads the `len` on-disk bytes of the block at `h` with `pread` into a pooled buffer and
    /// checks them there: an LZ4 block is decompressed from the buffer (its compressed bytes
    /// never enter the process's resident memory through the mapping); a raw one is only
    /// reported, to be served from the mapping.
    fn pread_block(&self, file: &MappedFile, h: BlockHandle, len: usize) -> Result<Preread> {
        let mut buf = BufferPool::global().take(len);
        #[cfg(test)]
        self.file_reads.fetch_add(1, AtomicOrdering::Relaxed);
        file.read_at(h.offset, buf.as_mut_slice())
            .map_err(|e| Error::io("reading an SSTable block", &self.path, e))?;
        self.check_read(h, buf.as_ref())
    }

    /// [`DataBlocks::pread_block`] through `window`: the block's bytes are taken from the
    /// window, which is first refilled from the block on (`bytes` of the file, at least the
    /// block, never past the data blocks) when it does not hold them.
    fn pread_block_via(
        &self,
        file: &MappedFile,
        h: BlockHandle,
        len: usize,
        window: &mut ReadWindow,
        bytes: u64,
    ) -> Result<Preread> {
        if window.get(h.offset, len).is_none() {
            // `block_slice` checked that the block ends within the data blocks.
            let room = self.data_end.saturating_sub(h.offset);
            let want = usize::try_from(bytes.min(room)).unwrap_or(len).max(len);
            window.len = 0;
            if window.buf.len() < want {
                window.buf.resize(want, 0);
            }
            let dst = window.buf.get_mut(..want).unwrap_or_default();
            #[cfg(test)]
            self.file_reads.fetch_add(1, AtomicOrdering::Relaxed);
            file.read_at(h.offset, dst)
                .map_err(|e| Error::io("reading SSTable blocks", &self.path, e))?;
            window.start = h.offset;
            window.len = want;
        }
        let blk = window
            .get(h.offset, len)
            .ok_or_else(|| Error::corruption(&self.path, h.offset, "data block out of range"))?;
        self.check_read(h, blk)
    }

    /// Checks the on-disk bytes of the block at `h`, read into memory, and decompresses them
    /// (an LZ4 block) or reports them raw.
    fn check_read(&self, h: BlockHandle, blk: &[u8]) -> Result<Preread> {
        let in_block = |e: Error| e.in_file(&self.path, h.offset);
        match check_block(blk).map_err(in_block)? {
            Checked::Raw(_) => Ok(Preread::Raw),
            Checked::Lz4 {
                uncompressed_len,
                compressed,
            } => decompress(uncompressed_len, compressed)
                .map(Preread::Lz4)
                .map_err(in_block),
        }
    }

    /// An LZ4 block: from the cache, or decompressed (and cached when `fill_cache`).
    fn load_lz4(&self, h: BlockHandle, blk: &[u8], fill_cache: bool, paranoid: bool) -> Result<Bytes> {
        let decode = || self.decode(h, blk);
        if paranoid {
            return decode();
        }
        // Cached blocks were verified when loaded; the key is (file, block offset).
        match &self.cache {
            Some(c) if fill_cache => c.get_or_load(self.file_number, h.offset, decode),
            Some(c) => match c.get(self.file_number, h.offset) {
                Some(b) => Ok(b),
                None => decode(),
            },
            None => decode(),
        }
    }

    /// Block `i`'s contents as `Bytes` (for iterators).
    pub(super) fn bytes(&self, i: usize, fill_cache: bool) -> Result<Bytes> {
        self.bytes_with(i, fill_cache, None)
    }

    /// [`DataBlocks::bytes`], for a cursor reading forward when `window` is given (`(window,
    /// ahead)`): a block that must be read from the file comes from the window, refilled with
    /// `ahead` bytes from the block on when it does not hold the block (see [`ReadWindow`]).
    pub(super) fn bytes_with(
        &self,
        i: usize,
        fill_cache: bool,
        window: Option<(&mut ReadWindow, u64)>,
    ) -> Result<Bytes> {
        let h = self.handle(i)?;
        Ok(match self.load_with(i, h, fill_cache, window)? {
            BlockData::InPlace(p) => self.data.slice_ref(p),
            BlockData::Owned(b) => b,
        })
    }

    /// Reads every data block (bypassing the cache) and checks checksums, entry framing,
    /// ordering within and across blocks, index keys, and the counts in `meta`.
    pub(super) fn verify(&self, meta: &TableMeta) -> Result<()> {
        let mut entries = 0u64;
        let mut prev_last: Option<(Vec<u8>, u64)> = None;
        for i in 0..self.index.len() {
            let (n, last) = self.verify_block(i, prev_last.as_ref())?;
            prev_last = Some(last);
            entries += n as u64;
        }
        if entries != meta.entries {
            return Err(self.corrupt_meta("meta entry count differs from the data blocks"));
        }
        // Range tombstones may widen the key range past the last entry.
        if let Some((k, t)) = &prev_last
            && meta.range_tombstones == 0
            && decode_internal(&meta.largest_key) != Some((k.as_slice(), *t))
        {
            return Err(self.corrupt_meta("meta largest key differs from the last entry"));
        }
        if let Some((k, _)) = &prev_last
            && !meta.upper_limit().reaches(k)
        {
            return Err(self.corrupt_meta("the last entry lies beyond the meta largest key"));
        }
        Ok(())
    }

    fn corrupt_meta(&self, reason: &'static str) -> Error {
        Error::corruption(&self.path, self.index_offset, reason)
    }

    /// Checks block `i` (after the block whose last key is `prev_last`); returns its entry count
    /// and last key.
    fn verify_block(
        &self,
        i: usize,
        prev_last: Option<&(Vec<u8>, u64)>,
    ) -> Result<(usize, (Vec<u8>, u64))> {
        let h = self.handle(i)?;
        let contents = self.decode(h, self.block_slice(h)?)?;
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
        if let Some((pk, pt)) = prev_last
            && cmp_internal(pk, *pt, first.user_key, first.trailer) != Ordering::Less
        {
            return Err(Error::corruption(
                &self.path,
                h.offset,
                "data blocks out of order",
            ));
        }
        Ok((n, (last.user_key.to_vec(), last.trailer)))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

/// `len` bytes of `data` from `off`, if they are all there.
pub(super) fn slice(data: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let off = usize::try_from(off).ok()?;
    let len = usize::try_from(len).ok()?;
    data.get(off..off.checked_add(len)?)
}

/// A fixed-size set of block numbers, shared by reader threads without locks.
#[derive(Debug)]
struct BitSet {
    words: Vec<AtomicU64>,
}

impl BitSet {
    fn new(bits: usize) -> BitSet {
        BitSet {
            words: (0..bits.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
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
