//! Dump of one SSTable (`format-spec/sstable.md`): footer, meta block, filter, index and every
//! data block, checked one by one so that one damaged block does not hide the others.
//!
//! Every byte is decoded by the engine's own functions: [`Footer::decode`], [`aux_block_end`],
//! [`TableMeta::decode`], [`FilterLayout::parse`], [`Index::new`], `compress::check_block` /
//! `decompress` and [`BlockView`]. This module only orders the checks so that it can go on past
//! a damaged part, and turns errors into [`Problem`]s; it has no parser of its own.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;

use super::{Problem, ratio, read_file, show, show_truncated, trailer_parts};
use crate::error::Error;
use crate::format::sst::FOOTER_SIZE;
use crate::key::{cmp_internal, decode_internal};
use crate::sstable::block::BlockView;
use crate::sstable::bloom::{FilterKind, FilterLayout};
use crate::sstable::compress::{Checked, check_block, decompress, read_block_owned};
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

/// Location of a block as stored in the footer or index: the engine's [`BlockHandle`].
pub type HandleInfo = BlockHandle;

/// The footer.
#[derive(Debug, Clone, Serialize)]
pub struct FooterInfo {
    /// Where the footer starts (file size - 52).
    pub offset: u64,
    pub format_version: u32,
    pub filter: HandleInfo,
    pub index: HandleInfo,
    pub meta: HandleInfo,
}

/// The meta block: the engine's decoded [`TableMeta`] (serialized flat, as its own fields) plus
/// its smallest and largest internal keys in printable form. Derefs to the [`TableMeta`], so
/// `info.entries` and the like read the engine's fields.
#[derive(Debug, Clone, Serialize)]
pub struct MetaInfo {
    #[serde(flatten)]
    pub table: TableMeta,
    /// Smallest and largest internal keys: user key (escaped) and trailer parts.
    pub smallest_key: Option<String>,
    pub smallest_seqno: Option<u64>,
    pub largest_key: Option<String>,
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
    pub offset: u64,
    pub on_disk_bytes: u64,
    /// Filter format byte: 0 none, 1 fastbloom over xxh3 hashes of keys, 2 the same plus key
    /// prefixes; others are read as "no filter".
    pub format: u8,
    pub format_name: String,
    /// Format 2: length of the key prefixes the filter also holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u32>,
    pub num_hashes: Option<u32>,
    pub bits: Option<u64>,
    /// Filter bits per distinct user key.
    pub bits_per_key: Option<f64>,
}

/// The index block.
#[derive(Debug, Clone, Serialize)]
pub struct IndexInfo {
    pub offset: u64,
    pub on_disk_bytes: u64,
    pub entries: u64,
}

/// Totals over the data blocks that could be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataSummary {
    pub blocks: u64,
    pub lz4_blocks: u64,
    pub raw_blocks: u64,
    /// Sum of on-disk block lengths (trailers included).
    pub on_disk_bytes: u64,
    /// Sum of decoded block lengths.
    pub uncompressed_bytes: u64,
    /// on_disk / uncompressed (smaller is better compression).
    pub compression_ratio: f64,
    /// Entries found in the blocks that decoded.
    pub entries: u64,
    pub damaged_blocks: u64,
}

/// One data block.
#[derive(Debug, Clone, Serialize)]
pub struct BlockInfo {
    /// Position in the index.
    pub block: u64,
    pub offset: u64,
    pub on_disk_bytes: u64,
    pub compression: String,
    pub uncompressed_bytes: Option<u64>,
    /// on_disk / uncompressed.
    pub ratio: Option<f64>,
    pub entries: Option<u64>,
    pub restarts: Option<u64>,
    /// The index's key for the block (its last entry): escaped user key and seqno.
    pub last_key: Option<String>,
    pub last_seqno: Option<u64>,
    /// False when the block is damaged (the problem is in [`SstDump::problems`]).
    pub ok: bool,
}

/// One entry of a data block.
#[derive(Debug, Clone, Serialize)]
pub struct EntryInfo {
    pub block: u64,
    pub key: String,
    pub seqno: u64,
    pub kind: String,
    pub value_len: u64,
    pub value: String,
    pub value_truncated: bool,
}

/// Everything read from one SSTable.
#[derive(Debug, Clone, Serialize)]
pub struct SstDump {
    pub file: PathBuf,
    pub file_size: u64,
    pub footer: Option<FooterInfo>,
    pub meta: Option<MetaInfo>,
    pub filter: Option<FilterInfo>,
    pub index: Option<IndexInfo>,
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

fn dump_bytes(dump: &mut SstDump, data: Bytes, opts: SstOptions) {
    let path = dump.file.clone();
    let path = path.as_path();
    let footer = match Footer::decode(&data, path) {
        Ok(f) => f,
        Err(e) => {
            dump.problems.push(Problem::from_error(path, &e));
            return;
        }
    };
    let footer_start = (data.len() - FOOTER_SIZE) as u64;
    dump.footer = Some(FooterInfo {
        offset: footer_start,
        format_version: footer.format_version.get(),
        filter: HandleInfo::from(&footer.filter),
        index: HandleInfo::from(&footer.index),
        meta: HandleInfo::from(&footer.meta),
    });

    // Meta, index and filter lie in this order before the footer; each must end before the next
    // starts (the same rule `Table::open` applies).
    let meta_h = HandleInfo::from(&footer.meta);
    let index_h = HandleInfo::from(&footer.index);
    let filter_h = HandleInfo::from(&footer.filter);
    let meta = read_aux(dump, &data, meta_h, footer_start, "meta").and_then(|b| {
        TableMeta::decode(&b)
            .map_err(|e| {
                dump.problems
                    .push(Problem::from_error(path, &e.in_file(path, meta_h.offset)))
            })
            .ok()
    });
    let index = read_aux(dump, &data, index_h, meta_h.offset, "index").and_then(|b| {
        Index::new(b)
            .map_err(|e| {
                dump.problems
                    .push(Problem::from_error(path, &e.in_file(path, index_h.offset)))
            })
            .ok()
    });
    let filter_payload = read_aux(dump, &data, filter_h, index_h.offset, "filter");

    if let Some(m) = &meta {
        dump.meta = Some(meta_info(m));
    }
    if let Some(payload) = &filter_payload {
        let distinct = meta.as_ref().map_or(0, |m| m.distinct_user_keys);
        match filter_info(payload, filter_h, distinct) {
            Ok(f) => dump.filter = Some(f),
            Err(e) => dump
                .problems
                .push(Problem::from_error(path, &e.in_file(path, filter_h.offset))),
        }
    }
    let Some(index) = index else { return };
    dump.index = Some(IndexInfo {
        offset: index_h.offset,
        on_disk_bytes: index_h.len,
        entries: index.len() as u64,
    });
    if let Some(m) = &meta
        && m.data_blocks != index.len() as u64
    {
        dump.problems.push(Problem::at(
            path,
            index_h.offset,
            format!(
                "index has {} entries but meta counts {} data blocks",
                index.len(),
                m.data_blocks
            ),
        ));
    }
    let summary = scan_blocks(dump, &data, &index, index_h.offset, filter_h.offset, opts);
    if let Some(m) = &meta {
        if summary.damaged_blocks == 0 && summary.entries != m.entries {
            dump.problems.push(Problem::at(
                path,
                meta_h.offset,
                format!(
                    "meta counts {} entries but the data blocks hold {}",
                    m.entries, summary.entries
                ),
            ));
        }
        if summary.damaged_blocks == 0 && summary.on_disk_bytes != m.data_bytes {
            dump.problems.push(Problem::at(
                path,
                meta_h.offset,
                format!(
                    "meta counts {} data bytes but the blocks take {}",
                    m.data_bytes, summary.on_disk_bytes
                ),
            ));
        }
    }
    dump.data = Some(summary);
}

/// Reads and checks an auxiliary block that must end at or before `limit`.
fn read_aux(
    dump: &mut SstDump,
    data: &[u8],
    h: HandleInfo,
    limit: u64,
    what: &str,
) -> Option<Bytes> {
    let path = dump.file.clone();
    let in_range = aux_block_end(h.offset, h.len, limit).is_some();
    let blk = usize::try_from(h.offset)
        .ok()
        .zip(usize::try_from(h.len).ok())
        .and_then(|(o, l)| data.get(o..o.checked_add(l)?))
        .filter(|_| in_range);
    let Some(blk) = blk else {
        dump.problems.push(Problem::at(
            &path,
            footer_offset(data),
            format!(
                "{what} handle (offset {}, length {}) out of range",
                h.offset, h.len
            ),
        ));
        return None;
    };
    read_block_owned(blk)
        .map_err(|e| {
            dump.problems
                .push(Problem::from_error(&path, &e.in_file(&path, h.offset)));
        })
        .ok()
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

/// Checks every data block named by the index; fills `dump.blocks`/`dump.keys` as asked.
fn scan_blocks(
    dump: &mut SstDump,
    data: &Bytes,
    index: &Index,
    index_offset: u64,
    data_end: u64,
    opts: SstOptions,
) -> DataSummary {
    let path = dump.file.clone();
    let path = path.as_path();
    let mut sum = DataSummary::default();
    let mut prev_last: Option<(Vec<u8>, u64)> = None;
    let mut expected_offset = 0u64;
    for i in 0..index.len() {
        sum.blocks += 1;
        let handle = match index.handle(i) {
            Ok(h) => h,
            Err(e) => {
                dump.problems
                    .push(Problem::from_error(path, &e.in_file(path, index_offset)));
                sum.damaged_blocks += 1;
                continue;
            }
        };
        let index_key = index.key(i).map(|(k, t)| (k.to_vec(), t));
        let mut info = BlockInfo {
            block: i as u64,
            offset: handle.offset,
            on_disk_bytes: handle.len,
            compression: "?".into(),
            uncompressed_bytes: None,
            ratio: None,
            entries: None,
            restarts: None,
            last_key: None,
            last_seqno: None,
            ok: false,
        };
        match &index_key {
            Ok((k, t)) => {
                info.last_key = Some(show(k));
                info.last_seqno = Some(trailer_parts(*t).0);
            }
            Err(e) => dump.problems.push(Problem::from_error(
                path,
                &e.clone().in_file(path, index_offset),
            )),
        }
        if handle.offset != expected_offset {
            dump.problems.push(Problem::at(
                path,
                handle.offset,
                format!(
                    "block {i} starts at {} but the previous block ends at {expected_offset}",
                    handle.offset
                ),
            ));
        }
        expected_offset = handle.offset.saturating_add(handle.len);
        let result = check_data_block(data, handle.offset, handle.len, data_end, &mut info);
        let (contents, block_problem) = match result {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        };
        if let Some(e) = block_problem {
            dump.problems
                .push(Problem::from_error(path, &e.in_file(path, handle.offset)));
            sum.damaged_blocks += 1;
            push_block(dump, opts, info);
            continue;
        }
        let Some(contents) = contents else { continue };
        sum.on_disk_bytes += handle.len;
        sum.uncompressed_bytes += contents.len() as u64;
        if info.compression == "lz4" {
            sum.lz4_blocks += 1;
        } else {
            sum.raw_blocks += 1;
        }
        match walk_entries(&contents, i as u64, opts, &mut dump.keys) {
            Ok(walk) => {
                info.entries = Some(walk.count);
                info.restarts = Some(walk.restarts);
                sum.entries += walk.count;
                info.ok = true;
                if let Ok((k, t)) = &index_key
                    && (walk.last.0.as_slice(), walk.last.1) != (k.as_slice(), *t)
                {
                    info.ok = false;
                    dump.problems.push(Problem::at(
                        path,
                        handle.offset,
                        format!("block {i}: index key differs from the block's last key"),
                    ));
                }
                if let Some((pk, pt)) = &prev_last
                    && cmp_internal(pk, *pt, &walk.first.0, walk.first.1) != Ordering::Less
                {
                    info.ok = false;
                    dump.problems.push(Problem::at(
                        path,
                        handle.offset,
                        format!("block {i}: first key is not after the previous block's last key"),
                    ));
                }
                prev_last = Some(walk.last);
            }
            Err(e) => {
                dump.problems
                    .push(Problem::from_error(path, &e.in_file(path, handle.offset)));
                sum.damaged_blocks += 1;
            }
        }
        push_block(dump, opts, info);
    }
    if expected_offset != data_end && sum.damaged_blocks == 0 {
        dump.problems.push(Problem::at(
            path,
            expected_offset,
            format!("data blocks end at {expected_offset} but the filter starts at {data_end}"),
        ));
    }
    sum.compression_ratio = ratio(sum.on_disk_bytes, sum.uncompressed_bytes);
    sum
}

fn push_block(dump: &mut SstDump, opts: SstOptions, info: BlockInfo) {
    if opts.blocks {
        dump.blocks.push(info);
    }
}

/// Checks a data block's range, checksum and compression; returns its decoded contents.
/// Offsets in errors are relative to the block start.
fn check_data_block(
    data: &Bytes,
    offset: u64,
    len: u64,
    data_end: u64,
    info: &mut BlockInfo,
) -> crate::Result<Bytes> {
    let out_of_range = || Error::corruption(Path::new(""), 0, "data block outside the data region");
    let end = offset.checked_add(len).ok_or_else(out_of_range)?;
    if end > data_end {
        return Err(out_of_range());
    }
    let blk = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(o, e)| data.get(o..e))
        .ok_or_else(out_of_range)?;
    let contents = match check_block(blk)? {
        Checked::Raw(p) => {
            info.compression = "none".into();
            data.slice_ref(p)
        }
        Checked::Lz4 {
            uncompressed_len,
            compressed,
        } => {
            info.compression = "lz4".into();
            decompress(uncompressed_len, compressed)?
        }
    };
    info.uncompressed_bytes = Some(contents.len() as u64);
    info.ratio = Some(ratio(len, contents.len() as u64));
    Ok(contents)
}

struct Walk {
    count: u64,
    restarts: u64,
    first: (Vec<u8>, u64),
    last: (Vec<u8>, u64),
}

/// Validates a block's entries and, with `opts.keys`, lists them.
fn walk_entries(
    contents: &[u8],
    block: u64,
    opts: SstOptions,
    keys: &mut Vec<EntryInfo>,
) -> crate::Result<Walk> {
    let view = BlockView::new(contents)?;
    let count = view.validate()? as u64;
    let first = view.entry_at(0)?;
    let last = view
        .last()?
        .ok_or_else(|| Error::corruption(Path::new(""), 0, "empty data block"))?;
    if opts.keys {
        let mut off = 0;
        while off < view.entries_end() {
            let e = view.entry_at(off)?;
            let (seqno, kind) = trailer_parts(e.trailer);
            let (value, value_truncated) = show_truncated(e.value, opts.value_preview_bytes);
            keys.push(EntryInfo {
                block,
                key: show(e.user_key),
                seqno,
                kind,
                value_len: e.value.len() as u64,
                value,
                value_truncated,
            });
            off = e.next;
        }
    }
    Ok(Walk {
        count,
        restarts: view.num_restarts() as u64,
        first: (first.user_key.to_vec(), first.trailer),
        last: (last.user_key.to_vec(), last.trailer),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::format::ValueKind;
    use crate::key::pack_trailer;
    use crate::sstable::{TableOptions, build_table_to_vec};

    fn table(n: u64, compression: crate::Compression) -> Vec<u8> {
        let opts = TableOptions {
            block_size: 256,
            compression,
            ..TableOptions::default()
        };
        let entries: Vec<(Vec<u8>, u64, Vec<u8>)> = (0..n)
            .map(|i| {
                let kind = if i % 7 == 0 {
                    ValueKind::Delete
                } else {
                    ValueKind::Put
                };
                let v = if kind == ValueKind::Put {
                    format!("value-{i}-{}", "x".repeat(40)).into_bytes()
                } else {
                    Vec::new()
                };
                (
                    format!("key{i:05}").into_bytes(),
                    pack_trailer(i + 1, kind),
                    v,
                )
            })
            .collect();
        build_table_to_vec(entries, opts).unwrap()
    }

    #[test]
    fn healthy_table_has_no_problems() {
        for c in [crate::Compression::None, crate::Compression::Lz4] {
            let data = table(200, c);
            let opts = SstOptions {
                blocks: true,
                keys: true,
                value_preview_bytes: 8,
            };
            let d = dump_sst_bytes(Path::new("t.sst"), Bytes::from(data), opts);
            assert!(d.problems.is_empty(), "{:?}", d.problems);
            let meta = d.meta.as_ref().unwrap();
            assert_eq!(meta.entries, 200);
            assert_eq!(d.keys.len(), 200);
            assert_eq!(d.blocks.len() as u64, meta.data_blocks);
            assert!(d.blocks.len() > 3);
            assert_eq!(d.keys[0].key, "key00000");
            assert_eq!(d.keys[0].kind, "delete");
            assert!(d.keys[1].value_truncated);
            assert!(d.filter.as_ref().unwrap().bits_per_key.unwrap() > 5.0);
        }
    }

    /// Regression: `inspect sst` parsed the filter block with its own copy of the format-1 code
    /// and printed "unknown(2), read as no filter" for prefix-bloom tables. It now uses the
    /// engine's decoder, so format 2 is reported with its prefix length.
    #[test]
    fn prefix_bloom_table_reports_its_prefix_filter() {
        let opts = TableOptions {
            block_size: 256,
            prefix_bloom_len: 4,
            ..TableOptions::default()
        };
        let entries: Vec<(Vec<u8>, u64, Vec<u8>)> = (0..50u64)
            .map(|i| {
                (
                    format!("p{:03}/key", i % 10 * 10 + i / 10).into_bytes(),
                    pack_trailer(i + 1, ValueKind::Put),
                    b"v".to_vec(),
                )
            })
            .collect();
        let mut entries = entries;
        entries.sort();
        let data = build_table_to_vec(entries, opts).unwrap();
        let d = dump_sst_bytes(Path::new("t.sst"), Bytes::from(data), SstOptions::default());
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let f = d.filter.as_ref().unwrap();
        assert_eq!(
            f.format,
            crate::format::sst::FILTER_FORMAT_FASTBLOOM_XXH3_PREFIX
        );
        assert_eq!(f.format_name, "fastbloom-xxh3-prefix(len 4)");
        assert_eq!(f.prefix_len, Some(4));
        assert!(f.num_hashes.unwrap() > 0);
        assert!(f.bits.unwrap() > 0);
        assert!(!f.format_name.contains("unknown"));
    }

    #[test]
    fn every_flipped_byte_is_found_or_harmless_and_never_panics() {
        let good = table(60, crate::Compression::Lz4);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            let d = dump_sst_bytes(Path::new("t.sst"), Bytes::from(bad), SstOptions::default());
            // Every byte of a table is covered by a checksum, so every flip is reported.
            assert!(!d.problems.is_empty(), "flip at {i} not detected");
            assert!(d.problems.iter().all(|p| p.file == Path::new("t.sst")));
        }
    }
}
