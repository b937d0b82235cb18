//! The data-block part of an SSTable dump: every block named by the index is located, checked
//! (range, checksum, compression, entry framing) and compared with its neighbours and its index
//! key, one by one, so that one damaged block does not hide the others.

use std::cmp::Ordering;
use std::path::Path;

use bytes::Bytes;

use super::{BlockInfo, DataSummary, EntryInfo, SstDump, SstOptions, block_at};
use crate::debug::{ratio, show, show_truncated, shown_value, trailer_parts};
use crate::error::Error;
use crate::format::ValueKind;
use crate::key::{cmp_internal, unpack_trailer};
use crate::sstable::block::BlockView;
use crate::sstable::compress::{Checked, check_block, decompress};
use crate::sstable::index::{BlockHandle, Index};

/// The data blocks of one file and the index that names them.
pub(super) struct DataRegion<'a> {
    /// The whole file.
    pub data: &'a Bytes,
    pub index: &'a Index,
    /// Where the index block starts (problems with index entries are reported there).
    pub index_offset: u64,
    /// End of the data blocks (= start of the filter block).
    pub data_end: u64,
}

/// State carried from one block to the next.
#[derive(Default)]
struct Scan {
    sum: DataSummary,
    /// The previous decoded block's last key.
    prev_last: Option<(Vec<u8>, u64)>,
    /// Where the next block should start: the end of the previous one.
    expected_offset: u64,
}

/// A key as (user key, trailer).
type KeyParts = (Vec<u8>, u64);

/// Checks every data block named by the index; fills `dump.blocks`/`dump.keys` as asked.
pub(super) fn scan_blocks(dump: &mut SstDump, r: &DataRegion<'_>, opts: SstOptions) -> DataSummary {
    let mut scan = Scan::default();
    for i in 0..r.index.len() {
        scan.sum.blocks += 1;
        let handle = match r.index.handle(i) {
            Ok(h) => h,
            Err(e) => {
                dump.note(e, r.index_offset);
                scan.sum.damaged_blocks += 1;
                continue;
            }
        };
        let info = scan_block(dump, r, &mut scan, i, handle, opts);
        if opts.blocks {
            dump.blocks.push(info);
        }
    }
    let end = scan.expected_offset;
    if end != r.data_end && scan.sum.damaged_blocks == 0 {
        dump.problem_at(
            end,
            format!(
                "data blocks end at {end} but the filter starts at {}",
                r.data_end
            ),
        );
    }
    scan.sum.compression_ratio = ratio(scan.sum.on_disk_bytes, scan.sum.uncompressed_bytes);
    scan.sum
}

/// Checks block `i` at `handle`; returns its row.
fn scan_block(
    dump: &mut SstDump,
    r: &DataRegion<'_>,
    scan: &mut Scan,
    i: usize,
    handle: BlockHandle,
    opts: SstOptions,
) -> BlockInfo {
    let mut info = BlockInfo::new(i as u64, handle);
    let index_key = r.index.key(i).map(|(k, t)| (k.to_vec(), t));
    match &index_key {
        Ok((k, t)) => {
            info.last_key = Some(show(k));
            info.last_seqno = Some(trailer_parts(*t).0);
        }
        Err(e) => dump.note(e.clone(), r.index_offset),
    }
    if handle.offset != scan.expected_offset {
        dump.problem_at(
            handle.offset,
            format!(
                "block {i} starts at {} but the previous block ends at {}",
                handle.offset, scan.expected_offset
            ),
        );
    }
    scan.expected_offset = handle.offset.saturating_add(handle.len);
    let contents = match check_data_block(r.data, handle, r.data_end, &mut info) {
        Ok(c) => c,
        Err(e) => {
            dump.note(e, handle.offset);
            scan.sum.damaged_blocks += 1;
            return info;
        }
    };
    scan.sum.on_disk_bytes += handle.len;
    scan.sum.uncompressed_bytes += contents.len() as u64;
    if info.compression == "lz4" {
        scan.sum.lz4_blocks += 1;
    } else {
        scan.sum.raw_blocks += 1;
    }
    match walk_entries(&contents, i as u64, opts, &mut dump.keys) {
        Ok(walk) => {
            info.entries = Some(walk.count);
            info.restarts = Some(walk.restarts);
            scan.sum.entries += walk.count;
            info.ok = check_neighbours(dump, scan, i, handle, index_key.ok().as_ref(), &walk);
            scan.prev_last = Some(walk.last);
        }
        Err(e) => {
            dump.note(e, handle.offset);
            scan.sum.damaged_blocks += 1;
        }
    }
    info
}

/// The block's last key must be its index key, and its first key must follow the previous
/// block's last key. Returns whether both hold.
fn check_neighbours(
    dump: &mut SstDump,
    scan: &Scan,
    i: usize,
    handle: BlockHandle,
    index_key: Option<&KeyParts>,
    walk: &Walk,
) -> bool {
    let mut ok = true;
    if let Some((k, t)) = index_key
        && (walk.last.0.as_slice(), walk.last.1) != (k.as_slice(), *t)
    {
        ok = false;
        dump.problem_at(
            handle.offset,
            format!("block {i}: index key differs from the block's last key"),
        );
    }
    if let Some((pk, pt)) = &scan.prev_last
        && cmp_internal(pk, *pt, &walk.first.0, walk.first.1) != Ordering::Less
    {
        ok = false;
        dump.problem_at(
            handle.offset,
            format!("block {i}: first key is not after the previous block's last key"),
        );
    }
    ok
}

impl BlockInfo {
    /// The row of block `block` at `h`, before anything is known of its contents.
    fn new(block: u64, h: BlockHandle) -> BlockInfo {
        BlockInfo {
            block,
            offset: h.offset,
            on_disk_bytes: h.len,
            compression: "?".into(),
            uncompressed_bytes: None,
            ratio: None,
            entries: None,
            restarts: None,
            last_key: None,
            last_seqno: None,
            ok: false,
        }
    }
}

/// Checks a data block's range, checksum and compression; returns its decoded contents.
/// Offsets in errors are relative to the block start.
fn check_data_block(
    data: &Bytes,
    h: BlockHandle,
    data_end: u64,
    info: &mut BlockInfo,
) -> crate::Result<Bytes> {
    let out_of_range = || Error::corruption(Path::new(""), 0, "data block outside the data region");
    let end = h.offset.checked_add(h.len).ok_or_else(out_of_range)?;
    if end > data_end {
        return Err(out_of_range());
    }
    let blk = block_at(data, h.offset, h.len).ok_or_else(out_of_range)?;
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
    info.ratio = Some(ratio(h.len, contents.len() as u64));
    Ok(contents)
}

struct Walk {
    count: u64,
    restarts: u64,
    first: KeyParts,
    last: KeyParts,
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
        list_entries(&view, block, opts, keys)?;
    }
    Ok(Walk {
        count,
        restarts: view.num_restarts() as u64,
        first: (first.user_key.to_vec(), first.trailer),
        last: (last.user_key.to_vec(), last.trailer),
    })
}

/// Appends a row per entry of `view` to `keys`.
fn list_entries(
    view: &BlockView<'_>,
    block: u64,
    opts: SstOptions,
    keys: &mut Vec<EntryInfo>,
) -> crate::Result<()> {
    let mut off = 0;
    while off < view.entries_end() {
        let e = view.entry_at(off)?;
        let (seqno, kind) = trailer_parts(e.trailer);
        let expiring = unpack_trailer(e.trailer).1 == Some(ValueKind::PutExpiring);
        let (shown, expiry) = shown_value(expiring, e.value);
        if expiring && expiry.is_none() {
            return Err(Error::corruption(
                Path::new(""),
                off as u64,
                "expiring entry's value is shorter than its 8-byte expiry",
            ));
        }
        let (value, value_truncated) = show_truncated(shown, opts.value_preview_bytes);
        keys.push(EntryInfo {
            block,
            key: show(e.user_key),
            seqno,
            kind,
            value_len: shown.len() as u64,
            value,
            value_truncated,
            expires_at: expiry.as_ref().map(|x| x.utc.clone()),
            expires_at_ms: expiry.map(|x| x.millis),
        });
        off = e.next;
    }
    Ok(())
}
