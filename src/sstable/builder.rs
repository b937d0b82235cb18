//! Writing tables: [`TableBuilder`] streams entries to a file; [`build_table_to_vec`] builds one
//! in memory (tests, fuzzing).
//!
//! Entries must arrive in internal-key order (user key ascending, trailer descending), each
//! internal key once. A data block is cut before an entry would push it past `block_size`; an
//! entry larger than a block gets a block of its own. Range tombstones may be added at any time,
//! in any order; they are kept in memory and written sorted. After the data blocks come the
//! filter, range-tombstone, index and meta blocks (always stored raw) and the footer. Only one
//! data block is held in memory at a time (so a 1 GiB value needs about 2 GiB while its block is
//! written).
//!
//! The table's key range (meta `smallest_key` / `largest_key`) spans its entries and its range
//! tombstones: a tombstone ending past the last entry makes the largest key its end with the
//! sentinel trailer [`LARGEST_EXCLUSIVE_TRAILER`] (or [`LARGEST_UNBOUNDED_TRAILER`] for a
//! tombstone without end), see `format-spec/sstable.md` ("Key range of a table").

use std::cmp::Ordering;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use zerocopy::IntoBytes;

use super::TableOptions;
use super::block::BlockBuilder;
use super::bloom::FilterBuilder;
use super::compress::{Lz4Scratch, block_trailer, encode_block};
use super::footer::{Footer, Handle};
use super::index::{BlockHandle, IndexBuilder};
use super::meta::TableMeta;
use super::range_del;
use crate::error::{Error, Result};
use crate::format::crc::crc32c_append;
use crate::format::sst::{
    COMPRESSION_NONE, LARGEST_EXCLUSIVE_TRAILER, LARGEST_UNBOUNDED_TRAILER,
};
use crate::format::{MAX_KEY_SIZE, MAX_SEQNO, RangeEnd, ValueKind};
use crate::fs::{CreateMode, FileSystem, WritableFile};
use crate::key::{cmp_internal, decode_internal, encode_internal, pack_trailer};
use crate::rangedel::RangeTombstone;

/// What a finished table holds; the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub file_size: u64,
    pub entries: u64,
    pub tombstones: u64,
    /// Encoded internal key (`user_key ++ trailer LE`) of the first entry; empty if no entries.
    pub smallest_key: Vec<u8>,
    /// Encoded internal key of the last entry; empty if no entries.
    pub largest_key: Vec<u8>,
    pub min_seqno: u64,
    pub max_seqno: u64,
}

/// The writer shared by the file and in-memory builders.
struct Core<W: Write> {
    out: W,
    path: PathBuf,
    opts: TableOptions,
    offset: u64,
    block: BlockBuilder,
    index: IndexBuilder,
    filter: FilterBuilder,
    scratch: Lz4Scratch,
    encoded: Vec<u8>,
    last_key: Vec<u8>,
    last_trailer: u64,
    meta: TableMeta,
    range_tombstones: Vec<RangeTombstone>,
}

impl<W: Write> Core<W> {
    fn new(out: W, path: PathBuf, opts: TableOptions) -> Core<W> {
        Core {
            out,
            path,
            block: BlockBuilder::new(opts.restart_interval),
            index: IndexBuilder::new(),
            filter: FilterBuilder::new(opts.bloom_false_positive_rate, opts.expected_entries)
                .with_prefix_len(opts.prefix_bloom_len),
            opts,
            offset: 0,
            scratch: Lz4Scratch::default(),
            encoded: Vec::new(),
            last_key: Vec::new(),
            last_trailer: 0,
            meta: TableMeta::default(),
            range_tombstones: Vec::new(),
        }
    }

    fn add_range_tombstone(&mut self, t: RangeTombstone) -> Result<()> {
        let end_len = match &t.end {
            RangeEnd::Before(e) => e.len(),
            RangeEnd::Unbounded => 0,
        };
        // An end may be one byte longer than a key: `b ++ [0]` ends an inclusive range.
        let too_long = t.start.len().max(end_len.saturating_sub(1));
        if too_long > MAX_KEY_SIZE {
            return Err(Error::KeyTooLarge {
                len: too_long,
                max: MAX_KEY_SIZE,
            });
        }
        if t.seqno > MAX_SEQNO {
            return Err(Error::InvalidArgument(
                "range tombstone seqno exceeds 56 bits".into(),
            ));
        }
        if !t.is_empty() {
            self.range_tombstones.push(t);
        }
        Ok(())
    }

    /// Widens the meta's key and seqno ranges by the range tombstones (sorted by then).
    fn cover_range_tombstones(&mut self) {
        let ts = &self.range_tombstones;
        let m = &mut self.meta;
        let Some(first) = ts.first() else {
            return;
        };
        let points = m.entries > 0;
        // Smallest: the first start (newest first among equal starts) if it sorts first.
        let trailer = pack_trailer(first.seqno, ValueKind::RangeDelete);
        let first_is_smaller = decode_internal(&m.smallest_key)
            .is_none_or(|(k, t)| cmp_internal(&first.start, trailer, k, t).is_lt());
        if !points || first_is_smaller {
            m.smallest_key = encode_internal(&first.start, trailer);
        }
        // Largest: the furthest end, unless the last entry is at or above it.
        let last_point = points.then_some(self.last_key.as_slice());
        let furthest = ts.iter().map(|t| &t.end).max().unwrap_or(&RangeEnd::Unbounded);
        match furthest {
            RangeEnd::Unbounded => {
                // Any user key at or above the smallest will do: the trailer says "no end".
                let starts = ts.iter().map(|t| t.start.as_slice()).max().unwrap_or_default();
                let k = last_point.map_or(starts, |p| p.max(starts));
                m.largest_key = encode_internal(k, LARGEST_UNBOUNDED_TRAILER);
            }
            RangeEnd::Before(e) if last_point.is_none_or(|p| p < e.as_slice()) => {
                m.largest_key = encode_internal(e, LARGEST_EXCLUSIVE_TRAILER);
            }
            RangeEnd::Before(_) => {}
        }
        let tmin = ts.iter().map(|t| t.seqno).min().unwrap_or(0);
        let tmax = ts.iter().map(|t| t.seqno).max().unwrap_or(0);
        if points {
            m.min_seqno = m.min_seqno.min(tmin);
            m.max_seqno = m.max_seqno.max(tmax);
        } else {
            (m.min_seqno, m.max_seqno) = (tmin, tmax);
        }
        m.range_tombstones = ts.len() as u64;
    }

    fn add(&mut self, user_key: &[u8], trailer: u64, value: &[u8]) -> Result<()> {
        if user_key.len() > MAX_KEY_SIZE {
            return Err(Error::KeyTooLarge {
                len: user_key.len(),
                max: MAX_KEY_SIZE,
            });
        }
        let max_value = crate::format::max_stored_value_len(trailer);
        if value.len() > max_value {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max: max_value,
            });
        }
        let first = self.meta.entries == 0;
        let new_user_key = first || self.last_key != user_key;
        if !first {
            let ord = cmp_internal(&self.last_key, self.last_trailer, user_key, trailer);
            debug_assert_eq!(ord, Ordering::Less, "TableBuilder::add out of order");
            if ord != Ordering::Less {
                return Err(Error::InvalidArgument(
                    "SSTable entries must be added in strictly increasing internal-key order"
                        .into(),
                ));
            }
        }
        let entry_size = crate::format::sst::ENTRY_HEADER_SIZE + user_key.len() + value.len();
        if !self.block.is_empty() && self.block.estimated_size() + entry_size > self.opts.block_size
        {
            self.flush_block()?;
        }
        self.block.add(user_key, trailer, value);

        if new_user_key {
            self.filter.add_key(user_key);
            self.meta.distinct_user_keys += 1;
            self.last_key.clear();
            self.last_key.extend_from_slice(user_key);
        }
        self.last_trailer = trailer;
        let seqno = trailer >> 8;
        let m = &mut self.meta;
        if first {
            m.smallest_key = encode_internal(user_key, trailer);
            m.min_seqno = seqno;
            m.max_seqno = seqno;
        }
        m.min_seqno = m.min_seqno.min(seqno);
        m.max_seqno = m.max_seqno.max(seqno);
        m.entries += 1;
        if (trailer & 0xff) as u8 == crate::format::ValueKind::Delete as u8 {
            m.tombstones += 1;
        }
        m.raw_key_bytes += user_key.len() as u64;
        m.raw_value_bytes += value.len() as u64;

        if self.block.estimated_size() >= self.opts.block_size {
            self.flush_block()?;
        }
        Ok(())
    }

    /// Writes `self.encoded` and returns its length.
    fn write_encoded(&mut self) -> Result<u32> {
        let len = u32::try_from(self.encoded.len())
            .map_err(|_| Error::InvalidArgument("SSTable block exceeds 4 GiB".into()))?;
        self.out
            .write_all(&self.encoded)
            .map_err(|e| Error::io("writing SSTable", &self.path, e))?;
        self.offset += u64::from(len);
        Ok(len)
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let offset = self.offset;
        let raw = self.block.finish();
        #[cfg(debug_assertions)]
        {
            let v = super::block::BlockView::new(raw).and_then(|v| v.validate());
            debug_assert!(v.is_ok(), "freshly built block does not validate: {v:?}");
        }
        self.encoded.clear();
        encode_block(
            raw,
            self.opts.compression,
            &mut self.scratch,
            &mut self.encoded,
        );
        self.block.reset();
        let len = self.write_encoded()?;
        self.index
            .add(&self.last_key, self.last_trailer, offset, len);
        self.meta.data_blocks += 1;
        self.meta.data_bytes += u64::from(len);
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("writing SSTable", &self.path, e))
    }

    fn write_raw_block(&mut self, payload: &[u8]) -> Result<Handle> {
        self.write_raw_parts(&[payload])
    }

    /// Writes one raw block whose payload is `parts` one after the other, each straight to the
    /// output (a large filter or index is never copied into one buffer), then its trailer.
    fn write_raw_parts(&mut self, parts: &[&[u8]]) -> Result<Handle> {
        let offset = self.offset;
        let mut crc = 0u32;
        let mut len = 0u64;
        // One pass: each part is checksummed as it is written.
        for part in parts {
            self.write_all(part)?;
            crc = crc32c_append(crc, part);
            len += part.len() as u64;
        }
        let trailer = block_trailer(crc, COMPRESSION_NONE);
        self.write_all(&trailer)?;
        len += trailer.len() as u64;
        self.offset += len;
        let len = u32::try_from(len)
            .map_err(|_| Error::InvalidArgument("SSTable block exceeds 4 GiB".into()))?;
        Ok(Handle::new(offset, len))
    }

    fn finish(mut self) -> Result<(W, TableSummary)> {
        self.flush_block()?;
        if self.meta.entries > 0 {
            self.meta.largest_key = encode_internal(&self.last_key, self.last_trailer);
        }
        range_del::normalize(&mut self.range_tombstones);
        self.cover_range_tombstones();
        self.meta.restart_interval = u32::try_from(self.opts.restart_interval).unwrap_or(u32::MAX);
        self.meta.block_size = u32::try_from(self.opts.block_size).unwrap_or(u32::MAX);
        let filter = self.filter.finish();
        let filter = self.write_raw_block(&filter)?;
        let range_dels = range_del::encode(&self.range_tombstones);
        let range_dels = self.write_raw_block(&range_dels)?;
        self.meta.range_del = Some(BlockHandle::from(&range_dels));
        let index = std::mem::take(&mut self.index);
        let (count, entries, heap) = index.finish();
        let index = self.write_raw_parts(&[&count, entries, heap])?;
        let meta = self.meta.encode();
        let meta = self.write_raw_block(&meta)?;
        let footer = Footer::new(filter, index, meta);
        self.write_all(footer.as_bytes())?;
        self.offset += footer.as_bytes().len() as u64;
        self.out
            .flush()
            .map_err(|e| Error::io("writing SSTable", &self.path, e))?;
        let m = self.meta;
        Ok((
            self.out,
            TableSummary {
                file_size: self.offset,
                entries: m.entries,
                tombstones: m.tombstones,
                smallest_key: m.smallest_key,
                largest_key: m.largest_key,
                min_seqno: m.min_seqno,
                max_seqno: m.max_seqno,
            },
        ))
    }
}

/// Write buffer of a table file: below glibc's 128 KiB mmap threshold, so that it comes from the
/// heap and its free never raises the threshold (see `crate::cache::mapped`).
const TABLE_WRITE_BUFFER: usize = 124 << 10;

/// Streams a table to a file.
pub struct TableBuilder {
    core: Core<BufWriter<Box<dyn WritableFile>>>,
}

impl TableBuilder {
    /// [`TableBuilder::create_with_fs`] on the real file system (tests, benches).
    #[cfg(any(test, feature = "internal"))]
    pub fn create(path: &Path, opts: TableOptions) -> Result<TableBuilder> {
        Self::create_with_fs(&crate::fs::StdFs, path, opts)
    }

    /// Creates (truncating) the file at `path` on the file system `fs`. The caller renames it
    /// into place after [`TableBuilder::finish`] and fsyncs the directory.
    pub fn create_with_fs(
        fs: &dyn FileSystem,
        path: &Path,
        opts: TableOptions,
    ) -> Result<TableBuilder> {
        let file = fs
            .create(path, CreateMode::Truncate)
            .map_err(|e| Error::io("creating SSTable", path, e))?;
        Ok(TableBuilder {
            core: Core::new(
                BufWriter::with_capacity(TABLE_WRITE_BUFFER, file),
                path.to_path_buf(),
                opts,
            ),
        })
    }

    /// Appends an entry. Requires: (user_key, trailer) sorts strictly after the previous entry
    /// (else [`Error::InvalidArgument`]); key <= 64 KiB, value <= 1 GiB.
    pub fn add(&mut self, user_key: &[u8], trailer: u64, value: &[u8]) -> Result<()> {
        self.core.add(user_key, trailer, value)
    }

    /// Adds a range tombstone (any order, any time before [`TableBuilder::finish`]; an empty
    /// one is dropped). The table's key and seqno ranges grow to include it.
    ///
    /// # Errors
    /// [`Error::KeyTooLarge`] for a start over `MAX_KEY_SIZE` or an end over `MAX_KEY_SIZE + 1`
    /// bytes; [`Error::InvalidArgument`] for a seqno over 56 bits.
    pub fn add_range_tombstone(&mut self, t: RangeTombstone) -> Result<()> {
        self.core.add_range_tombstone(t)
    }

    /// Bytes written so far plus the pending block (for cutting output files by size).
    pub fn estimated_size(&self) -> u64 {
        self.core.offset + self.core.block.estimated_size() as u64
    }

    /// Entries added so far.
    #[cfg(any(test, feature = "internal"))]
    pub fn entries(&self) -> u64 {
        self.core.meta.entries
    }

    /// Writes the filter, index, meta blocks and footer, and fsyncs the file.
    pub fn finish(self) -> Result<TableSummary> {
        let path = self.core.path.clone();
        let (out, summary) = self.core.finish()?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io("writing SSTable", &path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io("syncing SSTable", &path, e))?;
        Ok(summary)
    }
}

/// Builds a complete table in memory from sorted `(user_key, trailer, value)` entries.
#[cfg(any(test, feature = "internal"))]
pub fn build_table_to_vec(
    entries: impl IntoIterator<Item = (Vec<u8>, u64, Vec<u8>)>,
    opts: TableOptions,
) -> Result<Vec<u8>> {
    build_table_with_range_dels_to_vec(entries, Vec::new(), opts)
}

/// [`build_table_to_vec`] with range tombstones.
#[cfg(any(test, feature = "internal"))]
pub fn build_table_with_range_dels_to_vec(
    entries: impl IntoIterator<Item = (Vec<u8>, u64, Vec<u8>)>,
    range_tombstones: Vec<RangeTombstone>,
    opts: TableOptions,
) -> Result<Vec<u8>> {
    let mut core = Core::new(Vec::new(), PathBuf::from("<memory>"), opts);
    for (k, t, v) in entries {
        core.add(&k, t, &v)?;
    }
    for t in range_tombstones {
        core.add_range_tombstone(t)?;
    }
    Ok(core.finish()?.0)
}
