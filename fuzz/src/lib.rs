//! Bodies of the fuzz targets: each is a function of arbitrary bytes that drives lsmkv's real
//! parsers (or its public API) and panics only when lsmkv misbehaves: a panic inside lsmkv, or a
//! wrong answer where one can be checked. Parsers must return `Err` on bad bytes, never panic.
//!
//! This file is compiled twice: as the library of the `lsmkv-fuzz` package (`fuzz/`, used by the
//! cargo-fuzz targets), and by `tests/fuzz_regressions.rs` via `#[path]`, which replays every file
//! under `fuzz/regressions/` and `fuzz/seeds/` through the same functions in `cargo test`. So it
//! uses only lsmkv, `bytes`, `tempfile` and std.
//!
//! Checksums stop a fuzzer at the first CRC. Most targets therefore read a mode byte first: one
//! mode feeds the bytes as they are, another builds a valid file from the input, damages it, and
//! (for some targets) recomputes the checksums so that the damage reaches the structure parsers.

use std::collections::BTreeMap;
use std::mem::offset_of;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use lsmkv::batch::{KEYSPACE_FLAG, decode_batch};
use lsmkv::format::crc::crc32c;
use lsmkv::format::manifest::{
    FILE_HEADER_CRC_COVERAGE, FILE_HEADER_SIZE, FileHeader, RECORD_HEADER_CRC_COVERAGE,
    RECORD_HEADER_SIZE as MANIFEST_RECORD_HEADER_SIZE, RecordHeader as ManifestRecordHeader,
};
use lsmkv::format::sst::{
    BLOCK_TRAILER_SIZE, COMPRESSION_NONE, FOOTER_CRC_COVERAGE, FOOTER_SIZE, Footer as FooterLayout,
    HANDLE_SIZE, Handle, INDEX_COUNT_SIZE, INDEX_ENTRY_SIZE, IndexEntry, META_FIXED_SIZE,
    MetaFixed, MetaV2,
};
use lsmkv::format::wal::{
    RECORD_HEADER_SIZE as WAL_RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, SEGMENT_MAGIC,
    WAL_FORMAT_VERSION,
};
use lsmkv::format::{MAX_SEQNO as FORMAT_MAX_SEQNO, RangeEnd, ValueKind, split_expiring};
use lsmkv::fs::{FaultFs, default_fs};
use lsmkv::key::{MAX_SEQNO, pack_trailer, unpack_trailer};
use lsmkv::manifest::{ManifestState, VersionEdit, read_manifest};
use lsmkv::rangedel::{Fragments, RangeTombstone};
use lsmkv::sstable::block::{BlockBuilder, BlockView};
use lsmkv::sstable::compress::{Checked, Lz4Scratch, check_block, decompress, encode_block};
use lsmkv::sstable::footer::Footer;
use lsmkv::sstable::index::Index;
use lsmkv::sstable::range_del;
use lsmkv::sstable::{Table, TableOptions, build_table_with_range_dels_to_vec, key_hash};
use lsmkv::ttl::{Clock, ManualClock, live_value};
use lsmkv::wal::{frame_record, read_segment};
use lsmkv::{Compression, Db, Error, Options, SyncMode, WriteBatch};

/// A target body.
pub type Target = fn(&[u8]);

/// Every target by name, for the regression replayer and the seed generator.
pub const TARGETS: &[(&str, Target)] = &[
    ("wal_read", wal_read),
    ("sst_open", sst_open),
    ("block_decode", block_decode),
    ("footer_index", footer_index),
    ("manifest_read", manifest_read),
    ("batch_decode", batch_decode),
    ("roundtrip", roundtrip),
    ("ops_model", ops_model),
    ("range_del_decode", range_del_decode),
    ("io_countdown", io_countdown),
];

/// Reads structured values from fuzz input; past the end every read returns zeros.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = at.checked_add(4).and_then(|end| b.get_mut(at..end)) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// Flips bytes (`xor` with a non-zero value) at input-chosen positions; `n` rounds.
fn damage(buf: &mut [u8], inp: &mut Input<'_>, n: usize) {
    if buf.is_empty() {
        return;
    }
    for _ in 0..n {
        let pos = (inp.u32() as usize) % buf.len();
        let x = inp.u8() | 1;
        if let Some(b) = buf.get_mut(pos) {
            *b ^= x;
        }
    }
}

/// The only acceptable errors from parsing damaged bytes.
fn assert_parse_error(e: &Error) {
    assert!(
        matches!(
            e,
            Error::Corruption { .. } | Error::UnsupportedVersion { .. }
        ),
        "unexpected error kind from a parser: {e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// WAL

/// The segment header, built field by field from the spec (`format-spec/wal.md`).
pub fn wal_segment_header(number: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(SEGMENT_HEADER_SIZE);
    h.extend_from_slice(&SEGMENT_MAGIC);
    h.extend_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&number.to_le_bytes());
    let crc = crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(h.len(), SEGMENT_HEADER_SIZE);
    h
}

/// Parses a segment and decodes every record's batch; checks the reader's own invariants.
fn parse_wal(data: &[u8], name: &str) -> Option<Vec<(u64, Vec<u8>)>> {
    let path = Path::new(name);
    match read_segment(data, path) {
        Ok(seg) => {
            let mut prev_end = 0u64;
            let mut out = Vec::new();
            for r in &seg.records {
                assert!(r.offset >= prev_end, "records overlap");
                prev_end = r.payload_offset() + r.payload.len() as u64;
                assert!(
                    prev_end <= data.len() as u64,
                    "record past the end of the file"
                );
                if let Ok(b) = decode_batch(r.payload, path, r.payload_offset()) {
                    for e in b.iter() {
                        if let Err(e) = e {
                            assert_parse_error(&e);
                            break;
                        }
                    }
                }
                out.push((r.offset, r.payload.to_vec()));
            }
            Some(out)
        }
        Err(e) => {
            assert_parse_error(&e);
            None
        }
    }
}

/// `wal_read`: `lsmkv::wal::read_segment` + `decode_batch` of each record.
///
/// Mode byte even: the rest is a segment file. Odd: a valid segment is framed from input payloads,
/// checked to read back exactly, then damaged (byte flips, truncation, zero fill); what reads
/// back must be a prefix of the records written, or an error.
pub fn wal_read(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    if mode & 1 == 0 {
        parse_wal(inp.rest(), "000007.wal");
        parse_wal(inp.rest(), "fuzz-input");
        return;
    }
    let seg = 7u64;
    let n = inp.u8() % 8;
    let mut file = wal_segment_header(seg);
    let mut written = Vec::new();
    for _ in 0..n {
        let len = inp.u8() as usize;
        let payload = inp.bytes(len).to_vec();
        let offset = file.len() as u64;
        frame_record(&mut file, seg, offset, &payload);
        written.push((offset, payload));
    }
    let clean = parse_wal(&file, "000007.wal").expect("a freshly framed segment must read back");
    assert_eq!(
        clean, written,
        "records read back differ from those written"
    );

    let flips = (mode >> 1) as usize % 4;
    damage(&mut file, &mut inp, flips);
    if mode & 0x10 != 0 && !file.is_empty() {
        let cut = (inp.u32() as usize) % (file.len() + 1);
        file.truncate(cut);
    }
    if mode & 0x20 != 0 {
        let zeros = inp.u8() as usize;
        file.extend(std::iter::repeat_n(0u8, zeros));
    }
    if let Some(got) = parse_wal(&file, "000007.wal") {
        assert!(got.len() <= written.len(), "damage created records");
        assert_eq!(
            got.as_slice(),
            &written[..got.len()],
            "damaged segment returned records that were not written"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SSTable

/// Recomputes the crc of the on-disk block at `off..off+len` in place.
fn fix_block_crc(buf: &mut [u8], off: u64, len: u64) {
    let (Ok(off), Ok(len)) = (usize::try_from(off), usize::try_from(len)) else {
        return;
    };
    let Some(end) = off.checked_add(len) else {
        return;
    };
    let Some(b) = buf.get_mut(off..end) else {
        return;
    };
    // Trailer = compression byte | crc32c of payload and compression byte.
    let Some(p) = len.checked_sub(BLOCK_TRAILER_SIZE) else {
        return;
    };
    let crc = crc32c(b.get(..p + 1).unwrap_or_default());
    put_u32(b, p + 1, crc);
}

/// Makes every checksum of an SSTable (footer, meta, index, filter, raw-indexed data blocks)
/// match the bytes, walking the structures as the spec lays them out, robust to any damage.
pub fn fix_sst_checksums(buf: &mut [u8]) {
    let Some(fstart) = buf.len().checked_sub(FOOTER_SIZE) else {
        return;
    };
    let handle = |buf: &[u8], i: usize| -> (u64, u64) {
        let at = fstart + offset_of!(FooterLayout, filter) + HANDLE_SIZE * i;
        (
            le_u64(buf, at + offset_of!(Handle, offset)).unwrap_or(0),
            u64::from(le_u32(buf, at + offset_of!(Handle, len)).unwrap_or(0)),
        )
    };
    let (filter, index, meta) = (handle(buf, 0), handle(buf, 1), handle(buf, 2));
    // Data blocks, located through a raw index block.
    if let (Ok(ioff), Ok(ilen)) = (usize::try_from(index.0), usize::try_from(index.1))
        && let Some(iend) = ioff.checked_add(ilen)
        && let Some(blk) = buf.get(ioff..iend)
        && let Some(p) = ilen.checked_sub(BLOCK_TRAILER_SIZE)
        && blk.get(p) == Some(&COMPRESSION_NONE)
    {
        let payload = blk.get(..p).unwrap_or_default().to_vec();
        let count = le_u32(&payload, 0).unwrap_or(0) as usize;
        for i in 0..count.min(payload.len() / INDEX_ENTRY_SIZE) {
            let at = INDEX_COUNT_SIZE + INDEX_ENTRY_SIZE * i;
            let off = le_u64(&payload, at + offset_of!(IndexEntry, block_offset)).unwrap_or(0);
            let len =
                u64::from(le_u32(&payload, at + offset_of!(IndexEntry, block_len)).unwrap_or(0));
            fix_block_crc(buf, off, len);
        }
    }
    // Version 2: the range-tombstone block, located through the meta block's last 20 bytes
    // after its keys (fixed before the meta block's own crc).
    if let (Ok(moff), Ok(mlen)) = (usize::try_from(meta.0), usize::try_from(meta.1))
        && mlen >= META_FIXED_SIZE
    {
        let at = |f: usize| moff.saturating_add(f);
        let s_len = le_u32(buf, at(offset_of!(MetaFixed, smallest_key_len))).unwrap_or(0) as usize;
        let l_len = le_u32(buf, at(offset_of!(MetaFixed, largest_key_len))).unwrap_or(0) as usize;
        let ext = at(META_FIXED_SIZE)
            .saturating_add(s_len)
            .saturating_add(l_len)
            .saturating_add(offset_of!(MetaV2, range_del));
        let off = le_u64(buf, ext.saturating_add(offset_of!(Handle, offset))).unwrap_or(0);
        let len = u64::from(le_u32(buf, ext.saturating_add(offset_of!(Handle, len))).unwrap_or(0));
        fix_block_crc(buf, off, len);
    }
    for (off, len) in [filter, index, meta] {
        fix_block_crc(buf, off, len);
    }
    let crc = crc32c(
        buf.get(fstart..fstart + FOOTER_CRC_COVERAGE)
            .unwrap_or_default(),
    );
    put_u32(buf, fstart + offset_of!(FooterLayout, crc), crc);
}

/// Opens `data` as a table and reads everything: verify, forward and backward iteration, point
/// reads of every key found. When `verify` passes, the reads must agree with each other.
fn open_and_read(data: &[u8]) {
    let cache = Arc::new(lsmkv::cache::BlockCache::new(1 << 20));
    let table = match Table::from_bytes(
        Bytes::copy_from_slice(data),
        PathBuf::from("000001.sst"),
        1,
        Some(cache),
    ) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            assert_parse_error(&e);
            return;
        }
    };
    let verified = table.verify();
    if let Err(e) = &verified {
        assert_parse_error(e);
    }
    // The range tombstones decoded at open: in block order, non-empty, inside the key range.
    let ts = table.range_tombstones();
    assert_eq!(ts.len() as u64, table.meta().range_tombstones);
    for w in ts.windows(2) {
        assert!(
            range_del::block_order(&w[0], &w[1]).is_lt(),
            "range tombstones out of order"
        );
    }
    for t in ts {
        assert!(!t.is_empty(), "an empty range tombstone was accepted");
        assert_in_key_range(&table, t);
    }
    let _ = Fragments::new(ts);
    const MAX_STEPS: usize = 1 << 16;
    let mut fwd = Vec::new();
    let mut fwd_ok = true;
    let mut it = table.iter();
    let mut r = it.seek_to_first();
    while r.is_ok() && it.valid() && fwd.len() < MAX_STEPS {
        fwd.push((it.user_key().to_vec(), it.trailer(), it.value().to_vec()));
        r = it.next();
    }
    if let Err(e) = r {
        assert_parse_error(&e);
        fwd_ok = false;
    }
    let mut bwd = Vec::new();
    let mut bwd_ok = true;
    let mut it = table.iter();
    let mut r = it.seek_to_last();
    while r.is_ok() && it.valid() && bwd.len() < MAX_STEPS {
        bwd.push((it.user_key().to_vec(), it.trailer(), it.value().to_vec()));
        r = it.prev();
    }
    if let Err(e) = r {
        assert_parse_error(&e);
        bwd_ok = false;
    }
    // What readers make of each entry: an expiring value too short for its expiry is corruption.
    for (_, trailer, value) in fwd.iter().take(256) {
        for now in [0, u64::MAX] {
            if let Err(e) = live_value(*trailer, Bytes::copy_from_slice(value).into(), now) {
                assert_parse_error(&e);
            }
        }
    }
    for (k, _, _) in fwd.iter().take(256) {
        if let Err(e) = table.get(k, key_hash(k), MAX_SEQNO) {
            assert_parse_error(&e);
        }
        let mut it = table.iter();
        if let Err(e) = it.seek(k, pack_trailer(MAX_SEQNO, ValueKind::Put)) {
            assert_parse_error(&e);
        }
    }
    if verified.is_ok() && fwd_ok && bwd_ok {
        bwd.reverse();
        assert_eq!(
            fwd, bwd,
            "verified table: backward iteration differs from forward"
        );
        assert_eq!(
            fwd.len() as u64,
            table.meta().entries,
            "verified table: entry count differs from the meta block"
        );
    }
}

/// Sorted, unique internal entries derived from fuzz input.
fn entries_from(inp: &mut Input<'_>, max: usize) -> Vec<(Vec<u8>, u64, Vec<u8>)> {
    let n = inp.u8() as usize % (max + 1);
    let mut m: BTreeMap<(Vec<u8>, std::cmp::Reverse<u64>), Vec<u8>> = BTreeMap::new();
    for _ in 0..n {
        if inp.is_empty() {
            break;
        }
        let klen = inp.u8() as usize % 6;
        let key: Vec<u8> = inp.bytes(klen).iter().map(|b| b'a' + b % 8).collect();
        let seqno = u64::from(inp.u16()) + 1;
        let kind = match inp.u8() % 8 {
            0 | 4 => ValueKind::Delete,
            3 => ValueKind::PutExpiring,
            _ => ValueKind::Put,
        };
        let vlen = match inp.u8() {
            255 => 3000,
            b => b as usize % 40,
        };
        let mut value = Vec::new();
        if kind == ValueKind::PutExpiring {
            // The expiry is part of the stored value (`format-spec/sstable.md`).
            value.extend_from_slice(&u64::from(inp.u32()).to_le_bytes());
        }
        if kind.is_put() {
            let seed = inp.u8();
            value.extend((0..vlen).map(|i| seed.wrapping_add(i as u8 % 7)));
        }
        // A user key never holds two entries with one seqno.
        let trailer = pack_trailer(seqno, kind);
        if m.keys()
            .any(|(k, t)| k == &key && unpack_trailer(t.0).0 == seqno)
        {
            continue;
        }
        m.insert((key, std::cmp::Reverse(trailer)), value);
    }
    m.into_iter().map(|((k, t), v)| (k, t.0, v)).collect()
}

/// Range tombstones over the keys `entries_from` makes (any order, empty ones and duplicate
/// seqnos included: the builder must cope).
fn tombstones_from(inp: &mut Input<'_>, max: usize) -> Vec<RangeTombstone> {
    let n = inp.u8() as usize % (max + 1);
    let key = |inp: &mut Input<'_>| -> Vec<u8> {
        let len = inp.u8() as usize % 5;
        inp.bytes(len).iter().map(|b| b'a' + b % 8).collect()
    };
    (0..n)
        .map(|_| {
            let start = key(inp);
            let end = if inp.u8().is_multiple_of(5) {
                RangeEnd::Unbounded
            } else {
                RangeEnd::Before(key(inp))
            };
            let seqno = u64::from(inp.u16()) + 1;
            RangeTombstone { start, end, seqno }
        })
        .collect()
}

fn table_options_from(inp: &mut Input<'_>) -> TableOptions {
    let b = inp.u8();
    TableOptions {
        block_size: 64 + (inp.u16() as usize % 4096),
        restart_interval: 1 + (inp.u8() as usize % 16),
        bloom_false_positive_rate: if b & 1 == 0 { 0.01 } else { 0.0 },
        compression: if b & 2 == 0 {
            Compression::Lz4
        } else {
            Compression::None
        },
        expected_entries: 16,
        // A prefix filter (format 2) for some inputs, so its decoding is fuzzed too.
        prefix_bloom_len: if b & 4 == 0 {
            0
        } else {
            1 + (b as usize >> 3) % 8
        },
    }
}

/// `sst_open`: `Table::from_bytes` + gets + full forward/backward iteration + verify.
///
/// Mode byte even: the rest is a table file. Odd: a valid table is built from the input, damaged,
/// and (mode bit 1) its checksums are recomputed so the damage reaches the block, index, meta and
/// filter parsers.
pub fn sst_open(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    if mode & 1 == 0 {
        open_and_read(inp.rest());
        return;
    }
    let opts = table_options_from(&mut inp);
    let entries = entries_from(&mut inp, 64);
    let tombstones = tombstones_from(&mut inp, 8);
    let Ok(mut file) = build_table_with_range_dels_to_vec(entries, tombstones, opts) else {
        panic!("building a table from valid sorted entries failed");
    };
    let flips = 1 + (mode >> 2) as usize % 4;
    damage(&mut file, &mut inp, flips);
    if mode & 2 != 0 {
        fix_sst_checksums(&mut file);
    }
    open_and_read(&file);
}

// ---------------------------------------------------------------------------------------------
// Blocks

/// Decodes a data block's contents every way the reader does.
fn exercise_block(contents: &[u8], probe: &[u8]) {
    let view = match BlockView::new(contents) {
        Ok(v) => v,
        Err(e) => return assert_parse_error(&e),
    };
    if let Err(e) = view.validate() {
        assert_parse_error(&e);
    }
    for i in 0..view.num_restarts().min(1024) {
        if let Err(e) = view.restart(i) {
            assert_parse_error(&e);
        }
    }
    let mut at = 0usize;
    let mut steps = 0;
    while at < view.entries_end() && steps < 4096 {
        match view.entry_at(at) {
            Ok(e) => {
                assert!(e.next > at, "entry does not advance");
                if let Err(e) = view.prev_of(e.offset) {
                    assert_parse_error(&e);
                }
                at = e.next;
            }
            Err(e) => {
                assert_parse_error(&e);
                break;
            }
        }
        steps += 1;
    }
    for t in [0, u64::MAX, pack_trailer(1, ValueKind::Put)] {
        if let Err(e) = view.seek(probe, t) {
            assert_parse_error(&e);
        }
    }
    if let Err(e) = view.last() {
        assert_parse_error(&e);
    }
}

/// `block_decode`: `compress::check_block` / `decompress` and `block::BlockView`.
///
/// Mode 0: the rest is an on-disk block (payload, compression byte, crc). Mode 1: the rest is a
/// payload, given a valid trailer of an input-chosen compression byte, so LZ4 decoding and block
/// parsing see arbitrary bytes. Mode 2: entries are built into a block and must read back.
pub fn block_decode(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8() % 3;
    let probe_len = inp.u8() as usize % 8;
    let probe = inp.bytes(probe_len).to_vec();
    let decode = |blk: &[u8]| match check_block(blk) {
        Ok(Checked::Raw(p)) => exercise_block(p, &probe),
        Ok(Checked::Lz4 {
            uncompressed_len,
            compressed,
        }) => match decompress(uncompressed_len, compressed) {
            Ok(b) => {
                assert_eq!(b.len(), uncompressed_len, "decompressed length");
                exercise_block(&b, &probe)
            }
            Err(e) => assert_parse_error(&e),
        },
        Err(e) => assert_parse_error(&e),
    };
    match mode {
        0 => decode(inp.rest()),
        1 => {
            let kind = inp.u8() % 3;
            let mut blk = inp.rest().to_vec();
            blk.push(kind);
            let crc = crc32c(&blk);
            blk.extend_from_slice(&crc.to_le_bytes());
            decode(&blk);
        }
        _ => {
            let restart = 1 + inp.u8() as usize % 16;
            let compression = if inp.u8() & 1 == 0 {
                Compression::Lz4
            } else {
                Compression::None
            };
            let entries = entries_from(&mut inp, 64);
            let mut b = BlockBuilder::new(restart);
            for (k, t, v) in &entries {
                b.add(k, *t, v);
            }
            let raw = b.finish().to_vec();
            let view = BlockView::new(&raw).expect("a built block must parse");
            assert_eq!(
                view.validate().expect("a built block must validate"),
                entries.len()
            );
            let mut at = 0;
            for (k, t, v) in &entries {
                let e = view.entry_at(at).expect("entry of a built block");
                assert_eq!((e.user_key, e.trailer, e.value), (&k[..], *t, &v[..]));
                let s = view.seek(k, *t).expect("seek in a built block");
                assert_eq!(s.map(|s| s.offset), Some(at), "seek finds the entry");
                at = e.next;
            }
            let (mut scratch, mut out) = (Lz4Scratch::default(), Vec::new());
            encode_block(&raw, compression, &mut scratch, &mut out);
            let back = match check_block(&out).expect("an encoded block must check") {
                Checked::Raw(p) => p.to_vec(),
                Checked::Lz4 {
                    uncompressed_len,
                    compressed,
                } => decompress(uncompressed_len, compressed)
                    .expect("an encoded block must decompress")
                    .to_vec(),
            };
            assert_eq!(back, raw, "block round trip through encode_block");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Footer and index

/// `footer_index`: `Footer::decode` on the input as a file tail, `Index::new` on it as an index
/// payload, then every key and handle and a binary search. Mode byte odd: the footer crc is fixed
/// up first so the handle checks are reached.
pub fn footer_index(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let probe_len = inp.u8() as usize % 8;
    let probe = inp.bytes(probe_len).to_vec();
    let mut buf = inp.rest().to_vec();
    if mode & 1 == 1 && buf.len() >= FOOTER_SIZE {
        let fstart = buf.len() - FOOTER_SIZE;
        let crc = crc32c(
            buf.get(fstart..fstart + FOOTER_CRC_COVERAGE)
                .unwrap_or_default(),
        );
        put_u32(&mut buf, fstart + offset_of!(FooterLayout, crc), crc);
    }
    if let Err(e) = Footer::decode(&buf, Path::new("000001.sst")) {
        assert_parse_error(&e);
    }
    // The whole table parse after the footer.
    if mode & 2 == 2
        && let Err(e) =
            Table::from_bytes(Bytes::copy_from_slice(&buf), "000001.sst".into(), 1, None)
    {
        assert_parse_error(&e);
    }
    match Index::new(Bytes::from(buf)) {
        Ok(index) => {
            for i in 0..index.len().min(4096) {
                if let Err(e) = index.key(i) {
                    assert_parse_error(&e);
                }
                let _ = index.handle(i);
            }
            match index.find(&probe, pack_trailer(5, ValueKind::Put)) {
                Ok(i) => assert!(i <= index.len(), "find returned {i} of {}", index.len()),
                Err(e) => assert_parse_error(&e),
            }
        }
        Err(e) => assert_parse_error(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// Manifest

/// Makes the manifest's file header crc and every record's checksums match, walking records as
/// the spec lays them out.
pub fn fix_manifest_checksums(buf: &mut [u8]) {
    if buf.len() < FILE_HEADER_SIZE {
        return;
    }
    let crc = crc32c(buf.get(..FILE_HEADER_CRC_COVERAGE).unwrap_or_default());
    put_u32(buf, offset_of!(FileHeader, header_crc), crc);
    let mut pos = FILE_HEADER_SIZE;
    while let Some(len) = le_u32(buf, pos + offset_of!(ManifestRecordHeader, payload_len)) {
        let len = len as usize;
        let Some(start) = pos.checked_add(MANIFEST_RECORD_HEADER_SIZE) else {
            break;
        };
        let Some(end) = start.checked_add(len) else {
            break;
        };
        let Some(payload) = buf.get(start..end) else {
            break;
        };
        let pcrc = crc32c(payload);
        put_u32(
            buf,
            pos + offset_of!(ManifestRecordHeader, payload_crc),
            pcrc,
        );
        let hcrc = crc32c(
            buf.get(pos..pos + RECORD_HEADER_CRC_COVERAGE)
                .unwrap_or_default(),
        );
        put_u32(
            buf,
            pos + offset_of!(ManifestRecordHeader, header_crc),
            hcrc,
        );
        pos = end;
    }
}

/// `manifest_read`: `read_manifest` + `ManifestState::apply` of every edit, and each decoded edit
/// must survive an encode/decode round trip. Mode byte odd: checksums are fixed up first.
pub fn manifest_read(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let mut buf = inp.rest().to_vec();
    if mode & 1 == 1 {
        fix_manifest_checksums(&mut buf);
    }
    let path = Path::new("MANIFEST-000001");
    match read_manifest(&buf, path) {
        Ok(edits) => {
            let mut state = ManifestState::default();
            for e in &edits {
                let mut enc = Vec::new();
                e.encode(&mut enc);
                let back = VersionEdit::decode(&enc, path, 0)
                    .expect("re-encoding a decoded edit must decode");
                assert_eq!(&back, e, "version edit round trip");
                let before = state.clone();
                if let Err(err) = state.apply(e) {
                    assert_parse_error(&err);
                    assert_eq!(state, before, "a failed apply changed the state");
                }
                // Keyspace options are opaque to the manifest and parsed at open.
                for k in &e.keyspaces {
                    match lsmkv::options::decode_options(&k.options) {
                        Ok(o) => {
                            let enc = o.encode_for_fuzz();
                            let again = lsmkv::options::decode_options(&enc)
                                .expect("re-encoded keyspace options must decode");
                            // Compared encoded: a NaN rate is not equal to itself.
                            assert_eq!(again.encode_for_fuzz(), enc, "keyspace options round trip");
                        }
                        Err(err) => assert_parse_error(&err),
                    }
                }
            }
        }
        Err(e) => assert_parse_error(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// Write batch

/// `batch_decode`: `decode_batch` + every entry. A batch that decodes must re-encode (per
/// `format-spec/wal.md`, "Batch payload") to exactly the input bytes.
pub fn batch_decode(data: &[u8]) {
    let path = Path::new("000003.wal");
    // Offset used in errors only: where the first record's payload of a segment starts.
    let payload_offset = (SEGMENT_HEADER_SIZE + WAL_RECORD_HEADER_SIZE) as u64;
    let b = match decode_batch(data, path, payload_offset) {
        Ok(b) => b,
        Err(e) => return assert_parse_error(&e),
    };
    match b.entries() {
        Ok(entries) => {
            assert_eq!(entries.len(), b.count as usize, "entry count");
            let mut enc = Vec::with_capacity(data.len());
            enc.extend_from_slice(&b.base_seqno.to_le_bytes());
            enc.extend_from_slice(&b.count.to_le_bytes());
            let mut wb = WriteBatch::new();
            for e in &entries {
                // The tag as the input spelled it: the keyspace flag may also name keyspace 0.
                let flagged = data.get(enc.len()).is_some_and(|t| t & KEYSPACE_FLAG != 0);
                if flagged {
                    enc.push(e.kind as u8 | KEYSPACE_FLAG);
                    enc.extend_from_slice(&e.keyspace.to_le_bytes());
                } else {
                    assert_eq!(e.keyspace, 0, "an entry without the flag is in keyspace 0");
                    enc.push(e.kind as u8);
                }
                enc.extend_from_slice(&(e.key.len() as u32).to_le_bytes());
                enc.extend_from_slice(e.key);
                if e.kind.has_value() {
                    enc.extend_from_slice(&(e.value.len() as u32).to_le_bytes());
                    enc.extend_from_slice(e.value);
                } else {
                    assert!(e.value.is_empty(), "a delete carries a value");
                }
                if e.kind == ValueKind::PutExpiring {
                    assert!(
                        split_expiring(e.value).is_some(),
                        "a decoded expiring put lacks its expiry"
                    );
                }
                wb.push_encoded_entry(e.keyspace, e.kind, e.key, e.value);
            }
            assert_eq!(enc, data, "a decoded batch does not re-encode to its bytes");
            let again: Vec<_> = wb
                .iter()
                .collect::<lsmkv::Result<Vec<_>>>()
                .expect("own batch");
            assert_eq!(
                again, entries,
                "WriteBatch built from decoded entries differs"
            );
        }
        Err(e) => assert_parse_error(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// Range tombstones

/// `range_del_decode`: `sstable::range_del::decode` (the range-tombstone block of SSTable
/// version 2) and the fragmenting of what it decodes.
///
/// Mode byte even: the rest is a block payload. Odd: tombstones from the input are normalized,
/// encoded and must decode to themselves; then (mode bit 1) bytes of the encoding are flipped and
/// it must decode or fail with corruption. Whatever decodes is fragmented, and the fragments must
/// answer "newest tombstone over this key at this snapshot" as a scan of the tombstones does.
pub fn range_del_decode(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let decoded = if mode & 1 == 0 {
        range_del::decode(inp.rest())
    } else {
        let mut ts = tombstones_from(&mut inp, 16);
        range_del::normalize(&mut ts);
        let mut enc = range_del::encode(&ts);
        assert_eq!(
            range_del::decode(&enc).expect("an encoded block must decode"),
            ts,
            "range tombstone block round trip"
        );
        if mode & 2 != 0 {
            damage(&mut enc, &mut inp, 1 + (mode >> 2) as usize % 4);
        }
        range_del::decode(&enc)
    };
    let ts = match decoded {
        Ok(ts) => ts,
        Err(e) => return assert_parse_error(&e),
    };
    for w in ts.windows(2) {
        assert!(
            range_del::block_order(&w[0], &w[1]).is_lt(),
            "decoded out of order"
        );
    }
    assert!(
        ts.iter()
            .all(|t| !t.is_empty() && t.seqno <= FORMAT_MAX_SEQNO)
    );
    let frags = Fragments::new(&ts);
    // Probes: every start and end, one byte past each, and the empty key.
    let mut probes: Vec<Vec<u8>> = vec![Vec::new()];
    for t in ts.iter().take(64) {
        probes.push(t.start.clone());
        probes.push([t.start.as_slice(), &[0]].concat());
        if let RangeEnd::Before(e) = &t.end {
            probes.push(e.clone());
        }
    }
    probes.sort();
    let mut cursor = frags.cursor();
    for k in &probes {
        for snap in [0, 1, 1000, MAX_SEQNO] {
            let want = ts
                .iter()
                .filter(|t| t.covers(k) && t.seqno <= snap)
                .map(|t| t.seqno)
                .max();
            assert_eq!(
                frags.max_covering(k, snap),
                want,
                "fragments at {k:?} @ {snap}"
            );
        }
        assert_eq!(cursor.seek_forward(k), frags.find(k), "cursor at {k:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Round trip

/// `roundtrip`: arbitrary sorted entries -> `build_table_to_vec` -> `Table::from_bytes` must read
/// back exactly: verify, forward and backward iteration, and point reads at several snapshots
/// (each must return the newest entry at or below the snapshot).
pub fn roundtrip(data: &[u8]) {
    let mut inp = Input::new(data);
    let opts = table_options_from(&mut inp);
    let entries = entries_from(&mut inp, 200);
    let tombstones = tombstones_from(&mut inp, 12);
    let file = build_table_with_range_dels_to_vec(entries.clone(), tombstones.clone(), opts)
        .expect("build from sorted entries");
    let table = Arc::new(
        Table::from_bytes(Bytes::from(file), "000009.sst".into(), 9, None)
            .expect("a freshly built table must open"),
    );
    table.verify().expect("a freshly built table must verify");
    assert_eq!(table.meta().entries, entries.len() as u64);
    check_range_tombstones(&table, &entries, tombstones);
    let mut it = table.iter();
    it.seek_to_first().expect("seek_to_first");
    let mut got = Vec::new();
    while it.valid() {
        got.push((it.user_key().to_vec(), it.trailer(), it.value().to_vec()));
        it.next().expect("next");
    }
    assert_eq!(got, entries, "forward iteration");
    let mut it = table.iter();
    it.seek_to_last().expect("seek_to_last");
    let mut back = Vec::new();
    while it.valid() {
        back.push((it.user_key().to_vec(), it.trailer(), it.value().to_vec()));
        it.prev().expect("prev");
    }
    back.reverse();
    assert_eq!(back, entries, "backward iteration");
    // Point reads: at MAX_SEQNO and at each entry's own seqno, plus a miss below the oldest.
    let mut keys: Vec<&Vec<u8>> = entries.iter().map(|(k, _, _)| k).collect();
    keys.dedup();
    for k in keys {
        let versions: Vec<_> = entries.iter().filter(|(ek, _, _)| ek == k).collect();
        let mut snaps: Vec<u64> = versions
            .iter()
            .map(|(_, t, _)| unpack_trailer(*t).0)
            .collect();
        snaps.push(MAX_SEQNO);
        snaps.push(0);
        for s in snaps {
            let want = versions
                .iter()
                .find(|(_, t, _)| unpack_trailer(*t).0 <= s)
                .map(|(_, t, v)| (*t, v.clone()));
            let have = table
                .get(k, key_hash(k), s)
                .expect("get on a fresh table")
                .map(|(t, v)| (t, v.to_vec()));
            assert_eq!(have, want, "get({k:?}) at snapshot {s}");
        }
    }
    // A key that is absent.
    let absent = b"zzzzzzz";
    assert_eq!(
        table.get(absent, key_hash(absent), MAX_SEQNO).expect("get"),
        None
    );
}

/// The table's range tombstones are the ones given (normalized), its key range spans them and
/// every entry, and its seqno range spans both.
fn check_range_tombstones(
    table: &Table,
    entries: &[(Vec<u8>, u64, Vec<u8>)],
    mut given: Vec<RangeTombstone>,
) {
    range_del::normalize(&mut given);
    assert_eq!(
        table.range_tombstones(),
        given.as_slice(),
        "range tombstones read back"
    );
    let (lo, hi) = (table.smallest_user_key(), table.upper_limit());
    let seqnos = entries
        .iter()
        .map(|(_, t, _)| unpack_trailer(*t).0)
        .chain(given.iter().map(|t| t.seqno));
    if let (Some(min), Some(max)) = (seqnos.clone().min(), seqnos.max()) {
        assert_eq!((table.meta().min_seqno, table.meta().max_seqno), (min, max));
    }
    for (k, _, _) in entries {
        assert!(
            lo <= k.as_slice() && hi.reaches(k),
            "entry {k:?} outside the key range"
        );
    }
    for t in &given {
        assert_in_key_range(table, t);
    }
}

/// `t` lies in the table's key range and seqno range (the reader checks it at open).
fn assert_in_key_range(table: &Table, t: &RangeTombstone) {
    use lsmkv::rangedel::UpperLimit;
    let (lo, hi, m) = (table.smallest_user_key(), table.upper_limit(), table.meta());
    assert!(
        lo <= t.start.as_slice(),
        "tombstone starts below the key range"
    );
    let reaches = match &t.end {
        RangeEnd::Unbounded => hi == UpperLimit::Unbounded,
        RangeEnd::Before(e) => hi == UpperLimit::Unbounded || hi.closed() >= e.as_slice(),
    };
    assert!(reaches, "tombstone ends above the key range");
    assert!(
        (m.min_seqno..=m.max_seqno).contains(&t.seqno),
        "tombstone seqno out of range"
    );
}

// ---------------------------------------------------------------------------------------------
// Differential: the public API against a model

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// The model of `ops_model`: values, and the expiry (ms) of keys last written with a TTL.
#[derive(Clone, Default)]
struct TtlModel {
    values: Model,
    expiry: BTreeMap<Vec<u8>, u64>,
}

impl TtlModel {
    fn put(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.expiry.remove(&k);
        self.values.insert(k, v);
    }

    fn put_expiring(&mut self, k: Vec<u8>, v: Vec<u8>, expires_at: u64) {
        self.expiry.insert(k.clone(), expires_at);
        self.values.insert(k, v);
    }

    fn remove(&mut self, k: &[u8]) {
        self.expiry.remove(k);
        self.values.remove(k);
    }

    /// Keeps the keys `keep` accepts (a range or prefix delete removes the others).
    fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        self.values.retain(|k, _| keep(k));
        self.expiry.retain(|k, _| keep(k));
    }

    /// What a reader sees at `now_ms`: expiry is by time, also for snapshots.
    fn at(&self, now_ms: u64) -> Model {
        let mut m = self.values.clone();
        m.retain(|k, _| self.expiry.get(k).is_none_or(|&at| at > now_ms));
        m
    }
}

/// A TTL from fuzz input: 0 to about 4 s, in milliseconds.
fn model_ttl(inp: &mut Input<'_>) -> std::time::Duration {
    std::time::Duration::from_millis(u64::from(inp.u16()) % 4096)
}

fn model_key(inp: &mut Input<'_>) -> Vec<u8> {
    let len = 1 + inp.u8() as usize % 3;
    (0..len).map(|_| b'a' + inp.u8() % 6).collect()
}

fn model_value(inp: &mut Input<'_>) -> Vec<u8> {
    let b = inp.u8();
    let len = if b == 255 { 5000 } else { b as usize % 24 };
    (0..len).map(|i| b.wrapping_add(i as u8)).collect()
}

fn scan(it: lsmkv::DbIter, rev: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let collect = |kv: lsmkv::Result<(lsmkv::Key, lsmkv::Value)>| {
        let (k, v) = kv.expect("iteration over a healthy database");
        (k.to_vec(), v.to_vec())
    };
    if rev {
        it.rev().map(collect).collect()
    } else {
        it.map(collect).collect()
    }
}

fn model_range(m: &Model, lo: &[u8], hi: &[u8], rev: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    if lo > hi {
        return Vec::new();
    }
    let r = m.range::<[u8], _>((std::ops::Bound::Included(lo), std::ops::Bound::Excluded(hi)));
    let v: Vec<_> = r.map(|(k, v)| (k.clone(), v.clone())).collect();
    if rev {
        v.into_iter().rev().collect()
    } else {
        v
    }
}

fn fuzz_tempdir() -> tempfile::TempDir {
    // tmpfs when there is one: fsync is then nearly free.
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("lsmkv-fuzz")
            .tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("creating a temporary directory")
}

/// `ops_model`: arbitrary put / put with a TTL / clock advance / delete / batch / range delete /
/// prefix delete / flush / compact / reopen / snapshot / range / get on a real `Db` in a temporary
/// directory, checked against a `BTreeMap` (snapshots against a copy of the model taken with
/// them; expiry by the clock's time).
pub fn ops_model(data: &[u8]) {
    let mut inp = Input::new(data);
    let cfg = inp.u8();
    let clock = Arc::new(ManualClock::new(1 << 40));
    let opts = Options {
        sync_mode: SyncMode::None,
        memtable_max_size: 1024 + (inp.u16() as usize % 8192),
        block_size: 64 + (inp.u16() as usize % 2048),
        sparse_index_interval: 1 + (cfg as usize % 8),
        compression: if cfg & 8 == 0 {
            Compression::Lz4
        } else {
            Compression::None
        },
        bloom_false_positive_rate: if cfg & 16 == 0 { 0.01 } else { 0.0 },
        block_cache_size_mb: if cfg & 32 == 0 { 1 } else { 0 },
        ..Options::default()
    }
    .with_clock(clock.clone());
    let dir = fuzz_tempdir();
    let open = || Db::open(dir.path(), opts.clone()).expect("open");
    let mut db = open();
    let mut model = TtlModel::default();
    let mut snaps: Vec<(lsmkv::Snapshot, TtlModel)> = Vec::new();
    let mut ops = 0;
    while !inp.is_empty() && ops < 200 {
        ops += 1;
        let now = clock.now_millis();
        match inp.u8() % 15 {
            12 => {
                let (lo, hi) = (model_key(&mut inp), model_key(&mut inp));
                let inclusive = inp.u8() & 1 == 1;
                if inclusive {
                    db.delete_range(lo.clone()..=hi.clone())
                        .expect("delete_range");
                    model.retain(|k| !(lo.as_slice()..=hi.as_slice()).contains(&k));
                } else {
                    db.delete_range(lo.clone()..hi.clone())
                        .expect("delete_range");
                    model.retain(|k| !(lo.as_slice()..hi.as_slice()).contains(&k));
                }
            }
            13 => {
                let p = model_key(&mut inp);
                let p = p.get(..inp.u8() as usize % 3).unwrap_or_default().to_vec();
                db.delete_prefix(&p).expect("delete_prefix");
                model.retain(|k| !k.starts_with(&p));
            }
            14 => db.compact().expect("compact"),
            0 | 1 => {
                let (k, v) = (model_key(&mut inp), model_value(&mut inp));
                db.put(&k, &v).expect("put");
                model.put(k, v);
            }
            2 => {
                let k = model_key(&mut inp);
                db.delete(&k).expect("delete");
                model.remove(&k);
            }
            3 => {
                let mut b = WriteBatch::new();
                let mut next = model.clone();
                for _ in 0..inp.u8() % 6 {
                    let k = model_key(&mut inp);
                    match inp.u8() % 4 {
                        0 | 1 => {
                            let v = model_value(&mut inp);
                            b.put(&k, &v);
                            next.put(k, v);
                        }
                        2 => {
                            let (v, ttl) = (model_value(&mut inp), model_ttl(&mut inp));
                            b.put_with_ttl(&k, &v, ttl);
                            next.put_expiring(k, v, now + ttl.as_millis() as u64);
                        }
                        _ => {
                            b.delete(&k);
                            next.remove(&k);
                        }
                    }
                }
                db.write(b).expect("write batch");
                model = next;
            }
            4 => {
                if inp.u8() & 1 == 0 {
                    db.flush().expect("flush");
                } else {
                    db.compact().expect("compact");
                }
            }
            5 => {
                // Snapshots and iterators pin the directory lock; drop them first.
                snaps.clear();
                db.close().expect("close");
                db = open();
            }
            6 => {
                if snaps.len() >= 4 {
                    snaps.remove(0);
                }
                snaps.push((db.snapshot(), model.clone()));
            }
            7 => {
                let (lo, hi, rev) = (model_key(&mut inp), model_key(&mut inp), inp.u8() & 1 == 1);
                let which = inp.u8() as usize;
                let (it, m) = match snaps.get(which % (snaps.len() + 1)) {
                    Some((s, m)) => (s.range(lo.clone()..hi.clone()), m.at(now)),
                    None => (db.range(lo.clone()..hi.clone()), model.at(now)),
                };
                assert_eq!(
                    scan(it, rev),
                    model_range(&m, &lo, &hi, rev),
                    "range {lo:?}..{hi:?}"
                );
            }
            8 => {
                let k = model_key(&mut inp);
                let have = db.get(&k).expect("get").map(|v| v.to_vec());
                assert_eq!(have.as_ref(), model.at(now).get(&k), "get {k:?}");
                for (s, m) in &snaps {
                    let have = s.get(&k).expect("snapshot get").map(|v| v.to_vec());
                    assert_eq!(have.as_ref(), m.at(now).get(&k), "snapshot get {k:?}");
                }
            }
            9 => {
                let p = model_key(&mut inp);
                let p = p.get(..1).unwrap_or_default().to_vec();
                let have = scan(db.prefix(&p), false);
                let want: Vec<_> = model
                    .at(now)
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(&p))
                    .collect();
                assert_eq!(have, want, "prefix {p:?}");
            }
            10 => {
                let (k, v, ttl) = (
                    model_key(&mut inp),
                    model_value(&mut inp),
                    model_ttl(&mut inp),
                );
                db.put_with_ttl(&k, &v, ttl).expect("put_with_ttl");
                model.put_expiring(k, v, now + ttl.as_millis() as u64);
            }
            _ => clock.advance(std::time::Duration::from_millis(u64::from(inp.u16()))),
        }
    }
    let now = clock.now_millis();
    let all = scan(db.range::<&[u8], _>(..), false);
    let want: Vec<_> = model.at(now).into_iter().collect();
    assert_eq!(all, want, "full scan at the end");
    for (s, m) in &snaps {
        let all = scan(s.range::<&[u8], _>(..), true);
        let want: Vec<_> = m.at(now).into_iter().rev().collect();
        assert_eq!(all, want, "snapshot full scan at the end");
    }
    db.verify().expect("verify");
    snaps.clear();
    db.close().expect("close");
    // Everything acknowledged survives a reopen.
    let db = open();
    let all = scan(db.range::<&[u8], _>(..), false);
    assert_eq!(all, want, "full scan after the final reopen");
    db.close().expect("close");
}

/// The state the acknowledged (or the failed) writes of `io_countdown` leave: key -> value
/// (`None`: deleted).
type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// An error an injected I/O failure may cause.
fn is_io_failure(e: &Error) -> bool {
    matches!(e, Error::Io { .. } | Error::Poisoned { .. })
}

/// One step of the `io_countdown` workload: its result and the writes it attempted.
fn countdown_step(db: &Db, inp: &mut Input<'_>) -> (lsmkv::Result<()>, Writes) {
    match inp.u8() % 7 {
        0..=2 => {
            let (k, v) = (model_key(inp), model_value(inp));
            (db.put(&k, &v), Writes::from([(k, Some(v))]))
        }
        3 => {
            let k = model_key(inp);
            (db.delete(&k), Writes::from([(k, None)]))
        }
        4 => {
            let mut b = WriteBatch::new();
            let mut w = Writes::new();
            for _ in 0..1 + inp.u8() % 4 {
                let (k, v) = (model_key(inp), model_value(inp));
                b.put(&k, &v);
                w.insert(k, Some(v));
            }
            (db.write(b), w)
        }
        5 => (db.flush(), Writes::new()),
        _ => (db.compact(), Writes::new()),
    }
}

/// After the first failure: every write fails, reads see the acknowledged state.
fn check_read_only(db: &Db, acked: &Writes) {
    let e = db
        .put(b"never", b"x")
        .expect_err("a write after an I/O failure succeeded");
    assert!(is_io_failure(&e), "a write after the failure: {e:?}");
    assert!(
        db.stats().poisoned.is_some(),
        "stats().poisoned after the failure"
    );
    for (k, v) in acked {
        let got = db.get(k).expect("a read after the failure");
        assert_eq!(
            got.as_deref(),
            v.as_deref(),
            "read of {k:?} after the failure"
        );
    }
}

/// I/O-failure countdown over the storage seam (redb's fuzzer style): the N-th file operation
/// (N from the input) fails with EIO, ENOSPC or a short write, while a workload from the rest of
/// the input runs (puts, deletes, batches with `SyncMode::Always`, flushes, compactions). The
/// first error must be an I/O error; from then on writes fail and reads see every acknowledged
/// write. A reopen on the plain file system must hold every acknowledged write (a key whose
/// later write failed: either value), nothing never attempted, and verify.
pub fn io_countdown(data: &[u8]) {
    let mut inp = Input::new(data);
    let n = 1 + u64::from(inp.u16() % 512);
    let kind = inp.u8() % 3;
    let errno = if kind == 0 { 5 } else { 28 };
    let opts = Options {
        sync_mode: SyncMode::Always,
        // Background work only when the workload asks: the same operations for the same input.
        memtable_max_size: 1 << 20,
        l0_compaction_trigger: 8,
        block_cache_size_mb: 0,
        ..Options::default()
    };
    let dir = fuzz_tempdir();
    let fs = FaultFs::new(default_fs());
    let guard = if kind == 2 {
        fs.fail_nth_short(n, errno)
    } else {
        fs.fail_nth(n, errno)
    };
    let (mut acked, mut failed) = (Writes::new(), Writes::new());
    match Db::open(dir.path(), opts.clone().with_file_system(fs.clone())) {
        Err(e) => assert!(is_io_failure(&e), "open: {e:?}"),
        Ok(db) => {
            for _ in 0..64 {
                if inp.is_empty() {
                    break;
                }
                let (r, writes) = countdown_step(&db, &mut inp);
                match r {
                    Ok(()) => acked.extend(writes),
                    Err(e) => {
                        assert!(is_io_failure(&e), "not an I/O error: {e:?}");
                        failed = writes;
                        check_read_only(&db, &acked);
                        break;
                    }
                }
            }
            // A close that fails (its final sync) is one more I/O failure: nothing to check.
            let _ = db.close();
        }
    }
    drop(guard);
    let db = Db::open(dir.path(), opts).expect("reopen after an injected I/O failure");
    for (k, v) in &acked {
        let got = db.get(k).expect("read after reopen");
        let ok = got.as_deref() == v.as_deref()
            || failed
                .get(k)
                .is_some_and(|f| got.as_deref() == f.as_deref());
        assert!(ok, "after reopen {k:?} = {got:?}, acknowledged {v:?}");
    }
    for (k, v) in failed.iter().filter(|(k, _)| !acked.contains_key(*k)) {
        let got = db.get(k).expect("read after reopen");
        assert!(
            got.is_none() || got.as_deref() == v.as_deref(),
            "{k:?} = {got:?}"
        );
    }
    assert_eq!(
        db.get(b"never").expect("read"),
        None,
        "a failed write is present"
    );
    db.verify().expect("verify after reopen");
}
