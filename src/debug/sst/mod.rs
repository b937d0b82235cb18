//! Dump of one SSTable (`format-spec/sstable.md`): footer, meta block, filter, index and every
//! data block, checked one by one so that one damaged block does not hide the others.
//!
//! Every byte is decoded by the engine's own functions: `Footer::decode`, `aux_block_end`,
//! `TableMeta::decode`, `FilterLayout::parse`, `Index::new`, `compress::check_block` /
//! `decompress` and `BlockView`. This module only orders the checks so that it can go on past
//! a damaged part, and turns errors into [`Problem`]s; it has no parser of its own.

mod blocks;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;

use self::blocks::{DataRegion, scan_blocks};
use super::{Problem, ratio, read_file, show, trailer_parts};
use crate::error::Error;
use crate::format::sst::FOOTER_SIZE;
use crate::key::decode_internal;
use crate::sstable::bloom::{FilterKind, FilterLayout};
use crate::sstable::compress::read_block_owned;
use crate::sstable::footer::{Footer, aux_block_end};
use crate::sstable::index::{BlockHandle, Index};
use crate::sstable::meta::TableMeta;

/// What to include besides the summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct SstOptions {
    /// One row per data block.
    pub blocks: bool,
    /// Every entry (key, seqno, kind, value preview).
    pub keys: bool,
    /// Longest value preview, in bytes, when `keys` is set.
    pub value_preview_bytes: usize,
}

/// Location of a block as stored in the footer or index (the engine's own `BlockHandle`): its
/// file `offset` and on-disk `len`, trailer included.
pub type HandleInfo = BlockHandle;

/// The footer.
#[derive(Debug, Clone, Serialize)]
pub struct FooterInfo {
    /// Where the footer starts (file size - 52).
    pub offset: u64,
    /// The table format version the footer records.
    pub format_version: u32,
    /// Location of the filter block.
    pub filter: HandleInfo,
    /// Location of the index block.
    pub index: HandleInfo,
    /// Location of the meta block.
    pub meta: HandleInfo,
}

/// The meta block: the engine's decoded `TableMeta` (serialized flat, as its own fields) plus
/// its smallest and largest internal keys in printable form. Derefs to the `TableMeta`, so
/// `info.entries` and the like read the engine's fields (the counts of entries, tombstones,
/// distinct user keys, data blocks and bytes, the seqno range and the writer settings).
#[derive(Debug, Clone, Serialize)]
pub struct MetaInfo {
    /// The decoded meta block.
    #[serde(flatten)]
    pub table: TableMeta,
    /// Smallest user key, escaped.
    pub smallest_key: Option<String>,
    /// Sequence number of the smallest internal key.
    pub smallest_seqno: Option<u64>,
    /// Largest user key, escaped.
    pub largest_key: Option<String>,
    /// Sequence number of the largest internal key.
    pub largest_seqno: Option<u64>,
}

impl std::ops::Deref for MetaInfo {
    type Target = TableMeta;
    fn deref(&self) -> &TableMeta {
        &self.table
    }
}

/// The bloom filter block.
#[derive(Debug, Clone, Serialize)]
pub struct FilterInfo {
    /// File offset of the filter block.
    pub offset: u64,
    /// On-disk length of the filter block (trailer included).
    pub on_disk_bytes: u64,
    /// Filter format byte: 0 none, 1 fastbloom over xxh3 hashes of keys, 2 the same plus key
    /// prefixes; others are read as "no filter".
    pub format: u8,
    /// Readable name of `format`.
    pub format_name: String,
    /// Format 2: length of the key prefixes the filter also holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u32>,
    /// Number of hash functions, when there is a bloom filter.
    pub num_hashes: Option<u32>,
    /// Number of filter bits, when there is a bloom filter.
    pub bits: Option<u64>,
    /// Filter bits per distinct user key.
    pub bits_per_key: Option<f64>,
}

/// The index block.
#[derive(Debug, Clone, Serialize)]
pub struct IndexInfo {
    /// File offset of the index block.
    pub offset: u64,
    /// On-disk length of the index block (trailer included).
    pub on_disk_bytes: u64,
    /// Number of index entries (one per data block).
    pub entries: u64,
}

/// Totals over the data blocks that could be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataSummary {
    /// Number of data blocks the index names.
    pub blocks: u64,
    /// Blocks stored LZ4-compressed.
    pub lz4_blocks: u64,
    /// Blocks stored uncompressed.
    pub raw_blocks: u64,
    /// Sum of on-disk block lengths (trailers included).
    pub on_disk_bytes: u64,
    /// Sum of decoded block lengths.
    pub uncompressed_bytes: u64,
    /// on_disk / uncompressed (smaller is better compression).
    pub compression_ratio: f64,
    /// Entries found in the blocks that decoded.
    pub entries: u64,
    /// Blocks that could not be read or decoded.
    pub damaged_blocks: u64,
}

/// One data block.
#[derive(Debug, Clone, Serialize)]
pub struct BlockInfo {
    /// Position in the index.
    pub block: u64,
    /// File offset of the block.
    pub offset: u64,
    /// On-disk length, trailer included.
    pub on_disk_bytes: u64,
    /// `none`, `lz4`, or `?` when the trailer could not be read.
    pub compression: String,
    /// Decoded length, when the block decoded.
    pub uncompressed_bytes: Option<u64>,
    /// on_disk / uncompressed.
    pub ratio: Option<f64>,
    /// Number of entries, when the entries decoded.
    pub entries: Option<u64>,
    /// Number of restart points, when the entries decoded.
    pub restarts: Option<u64>,
    /// The index's key for the block (its last entry): escaped user key and seqno.
    pub last_key: Option<String>,
    /// Sequence number of the index key.
    pub last_seqno: Option<u64>,
    /// False when the block is damaged (the problem is in [`SstDump::problems`]).
    pub ok: bool,
}

/// One entry of a data block.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    /// The data block the entry is in.
    pub block: u64,
    /// User key, escaped.
    pub key: String,
    /// Sequence number.
    pub seqno: u64,
    /// `put`, `delete`, `put-expiring` or `unknown(N)`.
    pub kind: String,
    /// Value length in bytes (for `put-expiring`, the user's value, without the 8-byte expiry).
    pub value_len: u64,
    /// Value preview, escaped, cut after [`SstOptions::value_preview_bytes`].
    pub value: String,
    /// Whether the preview was cut.
    pub value_truncated: bool,
    /// `put-expiring`: when the value expires, as an RFC 3339 UTC time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `put-expiring`: when the value expires, in milliseconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// Everything read from one SSTable.
#[derive(Debug, Clone, Serialize)]
pub struct SstDump {
    /// The file read.
    pub file: PathBuf,
    /// File size in bytes (0 when it could not be read).
    pub file_size: u64,
    /// The footer, when it decoded.
    pub footer: Option<FooterInfo>,
    /// The meta block, when it decoded.
    pub meta: Option<MetaInfo>,
    /// The filter block, when it decoded.
    pub filter: Option<FilterInfo>,
    /// The index block, when it decoded.
    pub index: Option<IndexInfo>,
    /// Totals over the data blocks, when the index decoded.
    pub data: Option<DataSummary>,
    /// Filled with [`SstOptions::blocks`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<BlockInfo>,
    /// Filled with [`SstOptions::keys`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<EntryInfo>,
    /// Every problem found; empty for a healthy table.
    pub problems: Vec<Problem>,
}

impl SstDump {
    fn new(file: &Path) -> SstDump {
        SstDump {
            file: file.to_path_buf(),
            file_size: 0,
            footer: None,
            meta: None,
            filter: None,
            index: None,
            data: None,
            blocks: Vec::new(),
            keys: Vec::new(),
            problems: Vec::new(),
        }
    }
}

/// Reads and checks the SSTable at `path`. Never fails: an unreadable or damaged file gives a dump
/// with what could be read and the problems found.
pub fn dump_sst(path: &Path, opts: SstOptions) -> SstDump {
    let mut dump = SstDump::new(path);
    let data = match read_file(path) {
        Ok(d) => d,
        Err(p) => {
            dump.problems.push(p);
            return dump;
        }
    };
    dump.file_size = data.len() as u64;
    dump_bytes(&mut dump, Bytes::from(data), opts);
    dump
}

/// Checks an SSTable held in memory (the file name is only used in problems).
pub fn dump_sst_bytes(path: &Path, data: Bytes, opts: SstOptions) -> SstDump {
    let mut dump = SstDump::new(path);
    dump.file_size = data.len() as u64;
    dump_bytes(&mut dump, data, opts);
    dump
}

/// The footer's three auxiliary blocks as far as they could be read and decoded.
struct Aux {
    meta: Option<TableMeta>,
    index: Option<Index>,
    filter_payload: Option<Bytes>,
    meta_h: HandleInfo,
    index_h: HandleInfo,
    filter_h: HandleInfo,
}

fn dump_bytes(dump: &mut SstDump, data: Bytes, opts: SstOptions) {
    let Some(footer) = read_footer(dump, &data) else {
        return;
    };
    let aux = read_aux_blocks(dump, &data, &footer);
    if let Some(m) = &aux.meta {
        dump.meta = Some(meta_info(m));
    }
    if let Some(payload) = &aux.filter_payload {
        let distinct = aux.meta.as_ref().map_or(0, |m| m.distinct_user_keys);
        match filter_info(payload, aux.filter_h, distinct) {
            Ok(f) => dump.filter = Some(f),
            Err(e) => dump.note(e, aux.filter_h.offset),
        }
    }
    let Some(index) = &aux.index else { return };
    dump.index = Some(IndexInfo {
        offset: aux.index_h.offset,
        on_disk_bytes: aux.index_h.len,
        entries: index.len() as u64,
    });
    check_block_count(dump, aux.meta.as_ref(), index, aux.index_h.offset);
    let region = DataRegion {
        data: &data,
        index,
        index_offset: aux.index_h.offset,
        data_end: aux.filter_h.offset,
    };
    let summary = scan_blocks(dump, &region, opts);
    if let Some(m) = &aux.meta {
        check_meta_totals(dump, m, &summary, aux.meta_h.offset);
    }
    dump.data = Some(summary);
}

impl SstDump {
    /// Records the engine error `e`, detected in the block at `offset`, as a problem.
    fn note(&mut self, e: Error, offset: u64) {
        let p = Problem::from_error(&self.file, &e.in_file(&self.file, offset));
        self.problems.push(p);
    }

    /// Records a problem at `offset` of this file.
    fn problem_at(&mut self, offset: u64, reason: String) {
        let p = Problem::at(&self.file, offset, reason);
        self.problems.push(p);
    }
}

/// Decodes the footer into `dump.footer`; `None` (with a problem) when it is damaged.
fn read_footer(dump: &mut SstDump, data: &[u8]) -> Option<Footer> {
    let footer = match Footer::decode(data, &dump.file) {
        Ok(f) => f,
        Err(e) => {
            let p = Problem::from_error(&dump.file, &e);
            dump.problems.push(p);
            return None;
        }
    };
    dump.footer = Some(FooterInfo {
        offset: footer_offset(data),
        format_version: footer.format_version.get(),
        filter: HandleInfo::from(&footer.filter),
        index: HandleInfo::from(&footer.index),
        meta: HandleInfo::from(&footer.meta),
    });
    Some(footer)
}

/// Reads and decodes the meta, index and filter blocks named by `footer`.
fn read_aux_blocks(dump: &mut SstDump, data: &Bytes, footer: &Footer) -> Aux {
    // Meta, index and filter lie in this order before the footer; each must end before the next
    // starts (the same rule `Table::open_with_fs` applies).
    let meta_h = HandleInfo::from(&footer.meta);
    let index_h = HandleInfo::from(&footer.index);
    let filter_h = HandleInfo::from(&footer.filter);
    let meta = read_aux(dump, data, meta_h, footer_offset(data), "meta")
        .and_then(|b| decoded(dump, TableMeta::decode(&b), meta_h.offset));
    let index = read_aux(dump, data, index_h, meta_h.offset, "index")
        .and_then(|b| decoded(dump, Index::new(b), index_h.offset));
    let filter_payload = read_aux(dump, data, filter_h, index_h.offset, "filter");
    Aux {
        meta,
        index,
        filter_payload,
        meta_h,
        index_h,
        filter_h,
    }
}

/// The value of `r`, or `None` with its error recorded at `offset`.
fn decoded<T>(dump: &mut SstDump, r: crate::Result<T>, offset: u64) -> Option<T> {
    r.map_err(|e| dump.note(e, offset)).ok()
}

/// The index must have one entry per data block that meta counts.
fn check_block_count(dump: &mut SstDump, meta: Option<&TableMeta>, index: &Index, at: u64) {
    if let Some(m) = meta
        && m.data_blocks != index.len() as u64
    {
        dump.problem_at(
            at,
            format!(
                "index has {} entries but meta counts {} data blocks",
                index.len(),
                m.data_blocks
            ),
        );
    }
}

/// Meta's entry and byte counts must match the data blocks (checked only when all decoded).
fn check_meta_totals(dump: &mut SstDump, m: &TableMeta, summary: &DataSummary, at: u64) {
    if summary.damaged_blocks == 0 && summary.entries != m.entries {
        dump.problem_at(
            at,
            format!(
                "meta counts {} entries but the data blocks hold {}",
                m.entries, summary.entries
            ),
        );
    }
    if summary.damaged_blocks == 0 && summary.on_disk_bytes != m.data_bytes {
        dump.problem_at(
            at,
            format!(
                "meta counts {} data bytes but the blocks take {}",
                m.data_bytes, summary.on_disk_bytes
            ),
        );
    }
}

/// Reads and checks an auxiliary block that must end at or before `limit`.
fn read_aux(
    dump: &mut SstDump,
    data: &[u8],
    h: HandleInfo,
    limit: u64,
    what: &str,
) -> Option<Bytes> {
    let in_range = aux_block_end(h.offset, h.len, limit).is_some();
    let Some(blk) = block_at(data, h.offset, h.len).filter(|_| in_range) else {
        dump.problem_at(
            footer_offset(data),
            format!(
                "{what} handle (offset {}, length {}) out of range",
                h.offset, h.len
            ),
        );
        return None;
    };
    read_block_owned(blk)
        .map_err(|e| dump.note(e, h.offset))
        .ok()
}

/// The `len` bytes of `data` at `offset`, if they are all there.
fn block_at(data: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let o = usize::try_from(offset).ok()?;
    let l = usize::try_from(len).ok()?;
    data.get(o..o.checked_add(l)?)
}

fn footer_offset(data: &[u8]) -> u64 {
    data.len().saturating_sub(FOOTER_SIZE) as u64
}

fn meta_info(m: &TableMeta) -> MetaInfo {
    let key = |k: &[u8]| decode_internal(k).map(|(u, t)| (show(u), trailer_parts(t).0));
    let (smallest_key, smallest_seqno) = key(&m.smallest_key).unzip();
    let (largest_key, largest_seqno) = key(&m.largest_key).unzip();
    MetaInfo {
        table: m.clone(),
        smallest_key,
        smallest_seqno,
        largest_key,
        largest_seqno,
    }
}

/// Describes a filter payload, parsed by the engine's own decoder ([`FilterLayout::parse`]).
fn filter_info(payload: &[u8], h: HandleInfo, distinct_keys: u64) -> crate::Result<FilterInfo> {
    let layout = FilterLayout::parse(payload)?;
    let format_name = match layout.kind {
        FilterKind::None => "none".to_string(),
        FilterKind::Keys => "fastbloom-xxh3".to_string(),
        FilterKind::KeysAndPrefixes { prefix_len } => {
            format!("fastbloom-xxh3-prefix(len {prefix_len})")
        }
        FilterKind::Unknown(other) => format!("unknown({other}), read as no filter"),
    };
    let bits = layout.bloom.map(|b| b.bits());
    Ok(FilterInfo {
        offset: h.offset,
        on_disk_bytes: h.len,
        format: layout.format(),
        format_name,
        prefix_len: layout
            .prefix_len()
            .map(|p| u32::try_from(p).unwrap_or(u32::MAX)),
        num_hashes: layout.bloom.map(|b| b.num_hashes),
        bits,
        bits_per_key: bits
            .filter(|_| distinct_keys > 0)
            .map(|b| ratio(b, distinct_keys)),
    })
}

#[cfg(test)]
mod tests;
